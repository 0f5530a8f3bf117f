//! Usage, rate limits and quotas from the command line, end to end: the real binary
//! against a real server on loopback (`keys create|edit --ratelimit/--quota`, `keys
//! verify`, `keys usage`, `owner-limits`, `orgs`).

#[path = "../support/mod.rs"]
mod support;

use serde_json::{json, Value};
use support::{create_key, run, Run, Server, User};

mod limits;
mod verifying;

/// A user logged in with the owner's token.
fn owner(server: &Server) -> User {
    let user = User::new();
    user.login(server, &server.token);
    user
}

/// `keyward keys verify -` with the key on stdin.
fn verify(user: &User, key: &str, extra: &[&str]) -> Run {
    let mut args = vec!["keys", "verify", "-"];
    args.extend_from_slice(extra);
    let out = user
        .cmd(&args)
        .write_stdin(format!("{key}\n"))
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: support::text(&out.stdout),
        stderr: support::text(&out.stderr),
    }
}
