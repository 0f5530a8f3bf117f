//! Workers through the real binary: `keyward bootstrap` and `keyward serve` on a loopback
//! port (the `support` harness), then `keyward workers …` as a person and a script run
//! them: the empty list says how to start a worker, names that match nothing, flags
//! that are wrong, a removal that cannot be confirmed, and a key without `workers:read`.
//!
//! (Workers registered by a daemon — `show` and `remove` of a real one — need the
//! worker's own endpoint, `POST /v1/workers/register`; the server's API tests cover
//! them on workers registered through the store.)

mod support;

use support::{create_key, run, Run, Server, User};

fn start() -> (Server, User) {
    let server = Server::start();
    let user = User::new();
    user.login(&server, &server.token);
    (server, user)
}

fn cli(user: &User, args: &[&str]) -> Run {
    run(user.cmd(args))
}

#[test]
fn an_empty_list_says_how_to_start_a_worker() {
    let (_server, user) = start();
    let list = cli(&user, &["workers", "list"]).ok();
    let said = format!("{}{}", list.stdout, list.stderr);
    assert!(
        said.contains(
            "No workers yet. On the machine: keyward login --token <worker key>, then keyward worker"
        ),
        "{said}"
    );
    let json = cli(&user, &["workers", "list", "--json"]).ok().json();
    assert_eq!(json, serde_json::json!({"data": [], "next_cursor": null}));
    // Filters reach the server and still find none.
    cli(
        &user,
        &["workers", "list", "--status", "stale", "--label", "GPU"],
    )
    .ok();
}

#[test]
fn wrong_names_flags_and_unconfirmed_removals_are_refused() {
    let (_server, user) = start();
    let unknown = cli(&user, &["workers", "show", "alice-macbook"]);
    assert_eq!(unknown.code, 1, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("no worker has the id or name"),
        "{}",
        unknown.stderr
    );
    assert!(
        unknown.stderr.contains("keyward workers list"),
        "{}",
        unknown.stderr
    );
    let by_id = cli(&user, &["workers", "show", "wkr_nothing", "--json"]);
    assert_eq!(by_id.code, 1, "{}", by_id.stderr);
    assert!(
        by_id.stdout.contains("worker_not_found") || by_id.stderr.contains("worker_not_found"),
        "{}{}",
        by_id.stdout,
        by_id.stderr
    );
    let status = cli(&user, &["workers", "list", "--status", "asleep"]);
    assert_eq!(status.code, 2, "{}", status.stderr);
    let label = cli(&user, &["workers", "list", "--label", "-bad"]);
    assert_ne!(label.code, 0, "{}", label.stderr);
    assert!(label.stderr.contains("label"), "{}", label.stderr);
    let workspace = cli(&user, &["workers", "list", "--workspace", "nowhere"]);
    assert_eq!(workspace.code, 1, "{}", workspace.stderr);
    // stdin is not a terminal: nothing to ask on, nothing sent.
    let remove = cli(&user, &["workers", "remove", "wkr_nothing"]);
    assert_eq!(remove.code, 2, "{}", remove.stderr);
    assert!(remove.stderr.contains("--yes"), "{}", remove.stderr);
    let removed = cli(&user, &["workers", "remove", "wkr_nothing", "--yes"]);
    assert_eq!(removed.code, 1, "{}", removed.stderr);
}

#[test]
fn a_key_without_workers_read_is_refused() {
    let (server, user) = start();
    let (webhooks_only, _) = create_key(
        &user,
        &server,
        &["--name", "hooks", "--permission", "webhooks:read"],
    );
    let refused = cli(&user, &["workers", "list", "--token", &webhooks_only]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("workers:read"),
        "{}",
        refused.stderr
    );
    let (reader, _) = create_key(
        &user,
        &server,
        &["--name", "reader", "--permission", "workers:read"],
    );
    cli(&user, &["workers", "list", "--token", &reader]).ok();
}
