//! The client commands, end to end: the real binary against a real server on loopback.

#[path = "../support/mod.rs"]
mod support;

use support::{create_key, create_org, invite_and_accept, mode, run, Server, User};

#[test]
fn whoami_prints_the_exact_line_for_a_personal_token() {
    let server = Server::start();
    let user = User::new();
    user.login(&server, &server.token);
    let out = run(user.cmd(&["auth", "whoami"])).ok();
    assert_eq!(
        out.stdout,
        "Authenticated as: team@company.com (org: my-org)\n"
    );
    // `keyward login --token` is the same as `keyward auth login --token`.
    let other = User::new();
    run(other.cmd(&["login", "--token", &server.token, "--server", &server.url])).ok();
    let out = run(other.cmd(&["auth", "whoami"])).ok();
    assert_eq!(
        out.stdout,
        "Authenticated as: team@company.com (org: my-org)\n"
    );
    // An API key (no person behind it) is named with its kind.
    let (api_key, _) = create_key(&user, &server, &["--name", "billing", "--kind", "api"]);
    let out = run(user.cmd(&["auth", "whoami", "--token", &api_key])).ok();
    assert_eq!(
        out.stdout,
        "Authenticated as: billing (API key, org: my-org)\n"
    );
}

/// At a terminal, `auth login` asks for the key at its hidden prompt. (That the typing
/// is not echoed cannot be seen here: `script` feeds the answer before the prompt turns
/// echo off, so the terminal echoes it on arrival.)
#[test]
fn login_at_a_terminal_reads_the_key_from_the_prompt() {
    let server = Server::start();
    let user = User::new();
    let out = user.at_terminal(
        &["auth", "login", "--server", &server.url],
        &format!("{}\n", server.token),
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("input is hidden"), "{}", out.stdout);
    let whoami = run(user.cmd(&["auth", "whoami"])).ok();
    assert!(
        whoami.stdout.starts_with("Authenticated as:"),
        "{}",
        whoami.stdout
    );
}

#[test]
fn login_checks_the_key_stores_it_0600_and_logout_forgets_it() {
    let server = Server::start();
    // No KEYWARD_CONFIG_DIR: the user's config directory under HOME.
    let user = User::with_home_only();
    let path = user.credentials_path();
    // A key with a bad checksum is refused before anything is stored.
    let mut bad = server.token.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == 'a' { 'b' } else { 'a' });
    let out = run(user.cmd(&["auth", "login", "--token", &bad, "--server", &server.url]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("checksum"), "{}", out.stderr);
    assert!(!path.exists());

    user.login(&server, &server.token);
    assert_eq!(mode(&path), 0o600);
    let stored = std::fs::read_to_string(&path).unwrap();
    assert!(stored.contains(&server.url) && stored.contains(&server.token));
    let status = run(user.cmd(&["auth", "status"])).ok();
    assert!(
        status.stdout.contains("Source:") && status.stdout.contains("stored login"),
        "{}",
        status.stdout
    );
    // Logged in, the server comes from the stored login too.
    assert!(status.stdout.contains(&server.url), "{}", status.stdout);

    run(user.cmd(&["auth", "logout"])).ok();
    assert!(!path.exists());
    let out = run(user.cmd(&["auth", "whoami"]));
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains("not logged in") && out.stderr.contains("keyward auth login"),
        "{}",
        out.stderr
    );

    // The key can also be piped on stdin.
    let out = user
        .cmd(&["auth", "login", "--server", &server.url])
        .write_stdin(format!("{}\n", server.token))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&path), 0o600);
    // Nothing on stdin and no --token: a usage error.
    let out = run(User::new().cmd(&["auth", "login", "--server", &server.url]));
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn credentials_come_from_flag_then_env_then_dotenv_then_stored_login() {
    let server = Server::start();
    let user = User::new();
    let (stored, _) = create_key(&user, &server, &["--name", "from-stored"]);
    let (dotenv, _) = create_key(&user, &server, &["--name", "from-dotenv"]);
    let (env, _) = create_key(&user, &server, &["--name", "from-env"]);
    let (flag, _) = create_key(&user, &server, &["--name", "from-flag"]);
    user.login(&server, &stored);
    user.write_dotenv(&format!("KEYWARD_API_KEY={dotenv}\n"));

    let status = |with_flag: bool, with_env: bool| {
        let mut args = vec!["auth", "status", "--json"];
        if with_flag {
            args.extend(["--token", flag.as_str()]);
        }
        let mut cmd = user.cmd(&args);
        if with_env {
            cmd.env("KEYWARD_API_KEY", &env);
        }
        let json = run(cmd).ok().json();
        (
            json["source"]["type"].as_str().unwrap().to_owned(),
            json["key"]["name"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(status(true, true), ("flag".into(), "from-flag".into()));
    assert_eq!(status(false, true), ("env".into(), "from-env".into()));
    assert_eq!(
        status(false, false),
        ("dot_env".into(), "from-dotenv".into())
    );
    user.remove_dotenv();
    assert_eq!(
        status(false, false),
        ("stored_login".into(), "from-stored".into())
    );

    // The stored key goes only to its own server: a KEYWARD_SERVER from elsewhere
    // (here a .env) does not receive it.
    user.write_dotenv("KEYWARD_SERVER=http://127.0.0.1:1\n");
    let out = run(user.cmd(&["auth", "status"]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("the stored login is for"),
        "{}",
        out.stderr
    );
    user.remove_dotenv();

    // People read the source in plain words.
    let mut cmd = user.cmd(&["auth", "status"]);
    cmd.env("KEYWARD_API_KEY", &env);
    let out = run(cmd).ok();
    let source_line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("Source:"))
        .unwrap();
    assert!(
        source_line.ends_with(" the environment variable KEYWARD_API_KEY"),
        "{}",
        out.stdout
    );

    // With no stored login, .env can name the server too (and it stays out of the
    // process environment: the report says .env, not the environment).
    let fresh = User::new();
    fresh.write_dotenv(&format!(
        "KEYWARD_API_KEY={dotenv}\nKEYWARD_SERVER={}\n",
        server.url
    ));
    let json = run(fresh.cmd(&["auth", "status", "--json"])).ok().json();
    assert_eq!(json["source"]["type"], "dot_env");
    assert_eq!(json["server_source"]["type"], "dot_env");
    let out = run(fresh.cmd(&["auth", "status"])).ok();
    assert!(out.stdout.contains("KEYWARD_API_KEY in "), "{}", out.stdout);
    assert!(out.stdout.contains(".env"), "{}", out.stdout);
}

#[test]
fn every_command_has_json_output_that_parses() {
    let server = Server::start();
    let user = User::new();
    let login = run(user.cmd(&[
        "auth",
        "login",
        "--json",
        "--token",
        &server.token,
        "--server",
        &server.url,
    ]))
    .ok()
    .json();
    assert_eq!(login["me"]["org"]["name"], "my-org");
    let who = run(user.cmd(&["auth", "whoami", "--json"])).ok().json();
    assert_eq!(who["email"], "team@company.com");
    let status = run(user.cmd(&["auth", "status", "--json"])).ok().json();
    assert_eq!(status["key"]["kind"], "personal");
    assert!(status["warnings"].as_array().unwrap().is_empty());

    let created = run(user.cmd(&[
        "keys",
        "create",
        "--json",
        "--name",
        "ci",
        "--expires",
        "90d",
        "--read-only",
        "--metadata",
        "team=infra",
    ]))
    .ok()
    .json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(created["key"].as_str().unwrap().starts_with("kw_pat_"));
    assert_eq!(created["permissions"][0], "*:read");
    assert_eq!(created["metadata"]["team"], "infra");

    let list = run(user.cmd(&["keys", "list", "--json"])).ok().json();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let page = run(user.cmd(&["keys", "list", "--json", "--limit", "1"]))
        .ok()
        .json();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string());

    let shown = run(user.cmd(&["keys", "show", &id, "--json"])).ok().json();
    assert_eq!(shown["name"], "ci");
    // By name and by prefix too.
    let by_name = run(user.cmd(&["keys", "show", "ci", "--json"])).ok().json();
    assert_eq!(by_name["id"], id.as_str());
    let prefix = shown["prefix"].as_str().unwrap().to_owned();
    let by_prefix = run(user.cmd(&["keys", "show", &prefix, "--json"]))
        .ok()
        .json();
    assert_eq!(by_prefix["id"], id.as_str());

    let edited = run(user.cmd(&["keys", "edit", &id, "--name", "ci-old", "--json"]))
        .ok()
        .json();
    assert_eq!(edited["name"], "ci-old");

    let rotated = run(user.cmd(&["keys", "rotate", &id, "--grace", "1h", "--json"]))
        .ok()
        .json();
    assert_eq!(rotated["previous"]["id"], id.as_str());
    assert!(rotated["key"].as_str().unwrap().starts_with("kw_pat_"));
    let new_id = rotated["id"].as_str().unwrap().to_owned();

    let revoked = run(user.cmd(&["keys", "revoke", &new_id, "--yes", "--json"]))
        .ok()
        .json();
    assert_eq!(revoked["status"], "revoked");

    let audit = run(user.cmd(&["audit", "--json", "--limit", "3"]))
        .ok()
        .json();
    let events = audit["data"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["action"], "key.revoke");
    assert!(audit["next_cursor"].is_string());
    let all = run(user.cmd(&["audit", "--json", "--all"])).ok().json();
    assert!(all["data"].as_array().unwrap().len() > 3);

    let logout = run(user.cmd(&["auth", "logout", "--json"])).ok().json();
    assert_eq!(logout["logged_out"], true);

    // Errors are JSON on stderr with --json.
    let out = run(user.cmd(&["auth", "whoami", "--json"]));
    assert_eq!(out.code, 3);
    let err: serde_json::Value = serde_json::from_str(out.stderr.trim()).unwrap();
    assert_eq!(err["error"]["code"], "not_logged_in");
}

#[test]
fn revoke_asks_for_confirmation_unless_yes() {
    let server = Server::start();
    let user = User::new();
    user.login(&server, &server.token);
    let (key, id) = create_key(&user, &server, &["--name", "laptop"]);

    // stdin is not a terminal and there is no --yes: refuse, change nothing.
    let out = run(user.cmd(&["keys", "revoke", &id]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    let shown = run(user.cmd(&["keys", "show", &id, "--json"])).ok().json();
    assert_eq!(shown["status"], "active");

    // At a terminal: the prompt names the key; "n" keeps it, exit 1 `cancelled`.
    let out = user.at_terminal(&["keys", "revoke", &id], "n\n");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("Revoke \"laptop\""), "{}", out.stdout);
    assert!(out.stdout.contains("[y/N]"), "{}", out.stdout);
    assert!(out.stdout.contains("not revoked"), "{}", out.stdout);
    let shown = run(user.cmd(&["keys", "show", &id, "--json"])).ok().json();
    assert_eq!(shown["status"], "active");

    // "yes" revokes.
    let out = user.at_terminal(&["keys", "revoke", &id], "yes\n");
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("Revoked \"laptop\""), "{}", out.stdout);
    let shown = run(user.cmd(&["keys", "show", &id, "--json"])).ok().json();
    assert_eq!(shown["status"], "revoked");

    // --yes does not ask.
    let (_, other) = create_key(&user, &server, &["--name", "ci"]);
    let out = run(user.cmd(&["keys", "revoke", &other, "--yes"])).ok();
    assert!(out.stdout.contains("Revoked \"ci\""), "{}", out.stdout);

    // The revoked key is refused with its own message and a hint.
    let out = run(user.cmd(&["auth", "whoami", "--token", &key]));
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains("revoked") && out.stderr.contains("[token_revoked]"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
}

#[test]
fn exit_codes_are_0_1_2_3() {
    let server = Server::start();
    let user = User::new();
    user.login(&server, &server.token);
    // 0
    assert_eq!(run(user.cmd(&["auth", "whoami"])).code, 0);
    // 1: a server error that is not about authentication.
    let out = run(user.cmd(&["keys", "show", "key_AAAAAAAAAAAAAAAAAAAA"]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("[not_found]"), "{}", out.stderr);
    // 1: the server cannot be reached.
    let out = run(user.cmd(&[
        "auth",
        "whoami",
        "--server",
        "http://127.0.0.1:1",
        "--token",
        &server.token,
    ]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("cannot reach"), "{}", out.stderr);
    // 2: usage errors, found before anything is sent.
    assert_eq!(run(user.cmd(&["keys", "create"])).code, 2);
    let out = run(user.cmd(&["keys", "create", "--name", "x", "--expires", "soon"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("7d, 30d"), "{}", out.stderr);
    let out = run(user.cmd(&["keys", "create", "--name", "x", "--permission", "Keys"]));
    assert_eq!(out.code, 2);
    assert_eq!(run(user.cmd(&["keys", "frobnicate"])).code, 2);
    // A full key where an id belongs is refused without sending it.
    let out = run(user.cmd(&["keys", "show", &server.token]));
    assert_eq!(out.code, 2);
    assert!(!out.stderr.contains(&server.token), "{}", out.stderr);
    // 3: not logged in, a key that is not a Keyward key, and forbidden.
    assert_eq!(run(User::new().cmd(&["keys", "list"])).code, 3);
    let mut cmd = user.cmd(&["keys", "list"]);
    cmd.env("KEYWARD_API_KEY", "ghp_not_a_keyward_key");
    let out = run(cmd);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("KEYWARD_API_KEY") && out.stderr.contains("was not sent"),
        "{}",
        out.stderr
    );
    let (read_only, _) = create_key(&user, &server, &["--name", "ro", "--read-only"]);
    let out = run(user.cmd(&["keys", "create", "--name", "x", "--token", &read_only]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("lacks the permission keys:write")
            && out.stderr.contains("[forbidden]"),
        "{}",
        out.stderr
    );
}

#[test]
fn create_and_rotate_print_only_the_key_when_piped() {
    let server = Server::start();
    let user = User::new();
    user.login(&server, &server.token);
    let out = run(user.cmd(&["keys", "create", "--name", "deploy", "--expires", "30d"])).ok();
    let key = out.stdout.trim_end_matches('\n');
    assert!(
        !key.contains('\n') && !key.contains(' '),
        "{:?}",
        out.stdout
    );
    keyward_client::offline_check(key).expect("stdout is exactly one valid key");
    assert!(
        out.stderr.contains("will not be shown again"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(key), "the key is printed once");
    // The printed key works.
    let who = run(user.cmd(&["auth", "whoami", "--token", key])).ok();
    assert!(who.stdout.starts_with("Authenticated as: team@company.com"));

    let out = run(user.cmd(&["keys", "rotate", "deploy"])).ok();
    let new_key = out.stdout.trim_end_matches('\n');
    keyward_client::offline_check(new_key).expect("stdout is exactly one valid key");
    assert_ne!(new_key, key);
    assert!(out.stderr.contains("will not be shown again"));
    assert!(out.stderr.contains("was revoked"), "{}", out.stderr);
    // Grace 0: the old key stopped working.
    assert_eq!(run(user.cmd(&["auth", "whoami", "--token", key])).code, 3);
}

#[test]
fn expired_and_expiring_keys_get_a_hint() {
    let server = Server::start();
    let user = User::new();
    let deadline = chrono::Utc::now() + chrono::Duration::seconds(3);
    let soon = deadline.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (expiring, _) = create_key(&user, &server, &["--name", "short", "--expires", &soon]);
    let in_3_days = (chrono::Utc::now() + chrono::Duration::days(3) + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (three_days, _) = create_key(&user, &server, &["--name", "3d", "--expires", &in_3_days]);

    let url = server.url.as_str();
    let out = run(user.cmd(&["auth", "status", "--token", &three_days, "--server", url])).ok();
    assert!(
        out.stderr.contains("warning:") && out.stderr.contains("expires in 3 days"),
        "{}",
        out.stderr
    );
    let json = run(user.cmd(&[
        "auth",
        "status",
        "--json",
        "--token",
        &three_days,
        "--server",
        url,
    ]))
    .ok()
    .json();
    assert_eq!(json["warnings"].as_array().unwrap().len(), 1);

    // Wait until the key has expired (at most about 3 seconds).
    let left = deadline - chrono::Utc::now() + chrono::Duration::milliseconds(300);
    std::thread::sleep(left.to_std().unwrap_or_default());
    let mut cmd = user.cmd(&["auth", "status"]);
    cmd.env("KEYWARD_API_KEY", &expiring)
        .env("KEYWARD_SERVER", &server.url);
    let out = run(cmd);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(
        lines[0].starts_with(
            "error: the API key from the environment variable KEYWARD_API_KEY expired"
        ) && lines[0].contains("UTC")
            && lines[0].ends_with("[token_expired]"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("hint:") && lines[1].contains("KEYWARD_API_KEY"),
        "{}",
        lines[1]
    );
    // From the stored login, the hint is to log in again.
    let stored = User::new();
    stored.login(&server, &three_days);
    std::fs::write(
        stored.credentials_path(),
        std::fs::read_to_string(stored.credentials_path())
            .unwrap()
            .replace(&three_days, &expiring),
    )
    .unwrap();
    let out = run(stored.cmd(&["auth", "whoami"]));
    assert_eq!(out.code, 3);
    assert!(out.stderr.contains("keyward auth login"), "{}", out.stderr);
}

#[test]
fn completions_and_examples_in_help() {
    let user = User::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = run(user.cmd(&["completions", shell])).ok();
        assert!(out.stdout.contains("keyward"), "{shell}");
        assert!(out.stdout.contains("rotate"), "{shell}");
    }
    for cmd in [
        &["auth"][..],
        &["auth", "login"],
        &["auth", "logout"],
        &["auth", "whoami"],
        &["auth", "status"],
        &["login"],
        &["keys"],
        &["keys", "create"],
        &["keys", "list"],
        &["keys", "show"],
        &["keys", "edit"],
        &["keys", "revoke"],
        &["keys", "rotate"],
        &["audit"],
        &["service-accounts"],
        &["service-accounts", "create"],
        &["service-accounts", "list"],
        &["service-accounts", "show"],
        &["service-accounts", "rename"],
        &["service-accounts", "delete"],
        &["service-accounts", "create-key"],
        &["workspaces"],
        &["workspaces", "create"],
        &["workspaces", "list"],
        &["workspaces", "show"],
        &["workspaces", "rename"],
        &["workspaces", "delete"],
        &["agents"],
        &["agents", "create"],
        &["channels"],
        &["channels", "list"],
        &["channels", "create"],
        &["channels", "show"],
        &["channels", "update"],
        &["channels", "delete"],
        &["members"],
        &["members", "list"],
        &["members", "add"],
        &["members", "invite"],
        &["members", "invitations"],
        &["members", "revoke-invitation"],
        &["auth", "accept-invite"],
        &["members", "show"],
        &["members", "update"],
        &["members", "remove"],
        &["completions"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = run(user.cmd(&args)).ok();
        assert!(
            out.stdout.contains("Example"),
            "{cmd:?} --help has no example"
        );
        // The server's options are no business of the client commands.
        assert!(!out.stdout.contains("--data-dir"), "{cmd:?}");
    }
    let serve = run(user.cmd(&["serve", "--help"])).ok();
    assert!(serve.stdout.contains("--data-dir"));
    // The operator's break-glass commands work on the database: they take its options.
    for cmd in [
        &["admin"][..],
        &["admin", "orgs"],
        &["admin", "mint-owner-token"],
        &["admin", "clear-owner-limits"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = run(user.cmd(&args)).ok();
        assert!(
            out.stdout.contains("Example"),
            "{cmd:?} --help has no example"
        );
        assert!(out.stdout.contains("--data-dir"), "{cmd:?}");
    }
    let mint = run(user.cmd(&["admin", "mint-owner-token", "--help"])).ok();
    assert!(mint.stdout.contains("24h"), "{}", mint.stdout);
    let clear = run(user.cmd(&["admin", "clear-owner-limits", "--help"])).ok();
    assert!(clear.stdout.contains("within 5 s"), "{}", clear.stdout);
}

#[test]
fn organization_commands_work_end_to_end() {
    let server = Server::start();
    let user = User::new();
    user.login(&server, &server.token);
    let ws = run(user.cmd(&["workspaces", "create", "production", "--json"]))
        .ok()
        .json();
    let ws_id = ws["id"].as_str().unwrap().to_owned();
    run(user.cmd(&["agents", "create", "support-bot"])).ok();
    let channel = run(user.cmd(&[
        "channels",
        "create",
        "--agent",
        "support-bot",
        "--name",
        "whatsapp",
        "--json",
    ]))
    .ok()
    .json();
    assert!(channel["hook_id"].is_string());
    assert!(channel["agent_id"].as_str().unwrap().starts_with("agt_"));

    // A service account's key: only the key on stdout when piped.
    let out = run(user.cmd(&[
        "service-accounts",
        "create",
        "--name",
        "production-bot",
        "--scopes",
        "integrations:read,integrations:write,skills:execute",
    ]))
    .ok();
    let sa_key = out.stdout.trim_end().to_owned();
    assert!(sa_key.starts_with("kw_sa_"), "{}", out.stdout);
    keyward_client::offline_check(&sa_key).unwrap();
    assert!(
        out.stderr.contains("cannot be retrieved again"),
        "{}",
        out.stderr
    );
    let who = run(user.cmd(&["auth", "whoami", "--token", &sa_key])).ok();
    assert_eq!(
        who.stdout,
        "Authenticated as: production-bot (service account, org: my-org)\n"
    );
    let accounts = run(user.cmd(&["service-accounts", "list", "--json"]))
        .ok()
        .json();
    assert_eq!(accounts["data"][0]["scopes"].as_array().unwrap().len(), 3);

    // Scopes by name, edited permissions.
    let scoped = run(user.cmd(&[
        "keys",
        "create",
        "--name",
        "scoped",
        "--workspaces",
        "production",
        "--read-only",
        "--json",
    ]))
    .ok()
    .json();
    assert_eq!(scoped["scope"]["type"], "workspaces");
    assert_eq!(scoped["scope"]["workspaces"][0], ws_id.as_str());
    let edited = run(user.cmd(&[
        "keys",
        "edit",
        "scoped",
        "--permission",
        "keys:read",
        "--json",
    ]))
    .ok()
    .json();
    assert_eq!(edited["permissions"], serde_json::json!(["keys:read"]));
    assert_eq!(run(user.cmd(&["keys", "edit", "scoped"])).code, 2);

    // Members join by invitation: the inviter gets a code, the member their own token.
    let invited = run(user.cmd(&[
        "members",
        "invite",
        "--email",
        "alice@company.com",
        "--role",
        "member",
        "--json",
    ]))
    .ok()
    .json();
    assert_eq!(invited["invitation"]["role"], "member");
    assert_eq!(invited["invitation"]["status"], "pending");
    let code = invited["code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("kw_inv_"), "{code}");
    let alice_machine = User::new();
    let accepted = run(alice_machine.cmd(&[
        "auth",
        "accept-invite",
        &code,
        "--server",
        &server.url,
        "--json",
    ]))
    .ok()
    .json();
    assert_eq!(accepted["member"]["role"], "member");
    assert_eq!(accepted["organization"]["name"], "my-org");
    let alice = accepted["token"]["key"].as_str().unwrap().to_owned();
    let who = run(user.cmd(&["auth", "whoami", "--token", &alice])).ok();
    assert_eq!(
        who.stdout,
        "Authenticated as: alice@company.com (org: my-org)\n"
    );
    // Removal asks for confirmation and revokes their keys.
    assert_eq!(
        run(user.cmd(&["members", "remove", "alice@company.com"])).code,
        2
    );
    run(user.cmd(&["members", "remove", "alice@company.com", "--yes"])).ok();
    assert_eq!(
        run(user.cmd(&["auth", "whoami", "--token", &alice])).code,
        3
    );

    // Deleting a service account revokes its keys.
    run(user.cmd(&["service-accounts", "delete", "production-bot", "--yes"])).ok();
    assert_eq!(
        run(user.cmd(&["auth", "whoami", "--token", &sa_key])).code,
        3
    );

    // An agent with a channel cannot go: exit 1 with the server's code.
    let out = run(user.cmd(&["agents", "delete", "support-bot", "--yes"]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("[resource_in_use]"), "{}", out.stderr);
    let lists = [
        &["workspaces", "list", "--json"][..],
        &["agents", "list", "--json"],
        &["channels", "list", "--json"],
        &["members", "list", "--json"],
        &["members", "invitations", "--json"],
    ];
    for args in lists {
        let json = run(user.cmd(args)).ok().json();
        assert!(json["data"].is_array(), "{args:?}");
    }
}

#[test]
fn legacy_workspace_tokens_are_warned_about() {
    let server = Server::start();
    let user = User::new();
    user.login(&server, &server.token);
    let status = run(user.cmd(&["auth", "status", "--json"])).ok().json();
    let org = status["org"]["id"].as_str().unwrap().to_owned();
    // Legacy tokens can be created only where the organization allows it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .patch(format!("{}/v1/organizations/{org}", server.url))
            .bearer_auth(&server.token)
            .json(&serde_json::json!({ "settings": { "allow_legacy_tokens": true } }))
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{response:?}");
    });
    run(user.cmd(&["workspaces", "create", "production"])).ok();
    let (legacy, _) = create_key(
        &user,
        &server,
        &[
            "--name",
            "old",
            "--kind",
            "legacy-workspace",
            "--workspace",
            "production",
        ],
    );
    assert!(legacy.starts_with("kw_ws_"));
    let out = run(user.cmd(&["auth", "status", "--token", &legacy])).ok();
    assert!(
        out.stderr.contains("warning:") && out.stderr.contains("deprecated"),
        "{}",
        out.stderr
    );
    let json = run(user.cmd(&["auth", "status", "--json", "--token", &legacy]))
        .ok()
        .json();
    assert!(json["warnings"][0].as_str().unwrap().contains("deprecated"));
    // Every command warns, from the Deprecation header.
    let out = run(user.cmd(&["auth", "whoami", "--token", &legacy])).ok();
    assert!(out.stderr.contains("deprecated"), "{}", out.stderr);
}

#[test]
fn invitations_hand_over_a_code_and_only_the_invited_person_gets_a_token() {
    let server = Server::start();
    let owner = User::new();
    owner.login(&server, &server.token);

    // Piped: only the code on stdout; what to do with it on stderr; no token anywhere.
    let out = run(owner.cmd(&[
        "members",
        "invite",
        "--email",
        "alice@company.com",
        "--role",
        "member",
    ]))
    .ok();
    let code = out.stdout.trim_end_matches('\n').to_owned();
    assert!(!code.contains('\n'), "{:?}", out.stdout);
    keyward_client::InvitationCode::parse(code.as_str()).expect("stdout is exactly one code");
    assert!(
        !out.stdout.contains("kw_pat_") && !out.stderr.contains("kw_pat_"),
        "the inviter gets no token: {}{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr
            .contains("Give this code to alice@company.com over a channel you trust; they run:")
            && out.stderr.contains(&format!(
                "keyward auth accept-invite <code> --server {}",
                server.url
            )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("It expires in 1 day"), "{}", out.stderr);
    assert!(!out.stderr.contains(&code), "the code is printed once");
    let list = run(owner.cmd(&["members", "invitations", "--json"]))
        .ok()
        .json();
    assert_eq!(list["data"][0]["email"], "alice@company.com");
    assert_eq!(list["data"][0]["status"], "pending");
    let table = run(owner.cmd(&["members", "invitations"])).ok().stdout;
    assert!(
        table.contains("alice@company.com") && table.contains("pending"),
        "{table}"
    );

    // A mistyped code is refused before it is sent.
    let alice = User::new();
    let mut typo = code.clone();
    let i = "kw_inv_".len() + 2;
    let swapped = if &typo[i..=i] == "a" { "b" } else { "a" };
    typo.replace_range(i..=i, swapped);
    let out = run(alice.cmd(&["auth", "accept-invite", &typo, "--server", &server.url]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("not a valid invitation code"),
        "{}",
        out.stderr
    );

    // The invited person redeems it (no key needed: new to Keyward) and gets a token that
    // works; piped, only the token is on stdout.
    let out = run(alice.cmd(&["auth", "accept-invite", &code, "--server", &server.url])).ok();
    let token = out.stdout.trim_end_matches('\n').to_owned();
    assert!(token.starts_with("kw_pat_"), "{}", out.stdout);
    keyward_client::offline_check(&token).expect("stdout is exactly one key");
    assert!(
        out.stderr.contains("Joined \"my-org\" as member"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("will not be shown again"),
        "{}",
        out.stderr
    );
    let who = run(owner.cmd(&["auth", "whoami", "--token", &token])).ok();
    assert_eq!(
        who.stdout,
        "Authenticated as: alice@company.com (org: my-org)\n"
    );

    // A code works once: a clear message and exit code 1.
    let again = run(alice.cmd(&["auth", "accept-invite", &code, "--server", &server.url]));
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(
        again.stderr.contains("already redeemed") && again.stderr.contains("[invitation_used]"),
        "{}",
        again.stderr
    );
    let list = run(owner.cmd(&["members", "invitations", "--json"]))
        .ok()
        .json();
    assert_eq!(list["data"], serde_json::json!([]));

    // From stdin with `-`, and --login stores the new token for the server.
    let code = run(owner.cmd(&[
        "members",
        "invite",
        "--email",
        "bob@company.com",
        "--role",
        "member",
    ]))
    .ok()
    .stdout;
    let bob = User::new();
    let out = bob
        .cmd(&[
            "auth",
            "accept-invite",
            "-",
            "--server",
            &server.url,
            "--login",
        ])
        .write_stdin(code.clone())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        support::text(&out.stderr).contains("Logged in to"),
        "{out:?}"
    );
    let who = run(bob.cmd(&["auth", "whoami"])).ok();
    assert_eq!(
        who.stdout,
        "Authenticated as: bob@company.com (org: my-org)\n"
    );
    assert_eq!(mode(&bob.credentials_path()), 0o600);

    // A revoked invitation's code stops working; revoking asks for confirmation.
    let code = run(owner.cmd(&[
        "members",
        "invite",
        "--email",
        "carol@company.com",
        "--role",
        "member",
    ]))
    .ok()
    .stdout;
    let out = run(owner.cmd(&["members", "revoke-invitation", "carol@company.com"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = run(owner.cmd(&["members", "revoke-invitation", "carol@company.com", "--yes"])).ok();
    assert!(out
        .stdout
        .contains("Revoked the invitation of carol@company.com"));
    let out = run(User::new().cmd(&[
        "auth",
        "accept-invite",
        code.trim(),
        "--server",
        &server.url,
    ]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("[invitation_expired]"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_existing_persons_invitation_needs_their_own_token() {
    let server = Server::start();
    let alice_in_my_org = invite_and_accept(&server, &server.token, "alice@company.com", "member");
    // A second organization, whose owner invites alice, who has an account already.
    let other_org = create_org(&server, &server.token, "other-org");
    let owner = User::new();
    let code = run(owner.cmd(&[
        "members",
        "invite",
        "--email",
        "alice@company.com",
        "--role",
        "org-admin",
        "--token",
        &other_org,
        "--server",
        &server.url,
    ]))
    .ok()
    .stdout
    .trim()
    .to_owned();

    // Without a key of hers: told what to do, exit 3.
    let alice = User::new();
    let out = run(alice.cmd(&["auth", "accept-invite", &code, "--server", &server.url]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("already has a Keyward account")
            && out.stderr.contains("keyward auth login")
            && out.stderr.contains("[identity_required]"),
        "{}",
        out.stderr
    );
    // With someone else's key: refused, and named.
    let out = run(alice.cmd(&[
        "auth",
        "accept-invite",
        &code,
        "--server",
        &server.url,
        "--token",
        &server.token,
    ]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the API key from the --token flag is not one of that person's"),
        "{}",
        out.stderr
    );
    // Her key in KEYWARD_API_KEY is not sent to a server that asks for one unless
    // KEYWARD_SERVER (in the environment, not a .env) names that server.
    let mut with_env = alice.cmd(&["auth", "accept-invite", &code, "--server", &server.url]);
    with_env.env("KEYWARD_API_KEY", &alice_in_my_org);
    let out = run(with_env);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("[identity_required]"), "{}", out.stderr);
    // A stored login for another server URL is not sent.
    alice.login(&server, &alice_in_my_org);
    let elsewhere = server.url.replace("127.0.0.1", "localhost");
    let out = run(alice.cmd(&["auth", "accept-invite", &code, "--server", &elsewhere]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("[identity_required]")
            && out.stderr.contains("the stored login is for"),
        "{}",
        out.stderr
    );
    // The failed attempts did not spend the code; her stored login for this server
    // proves who she is.
    let accepted = run(alice.cmd(&[
        "auth",
        "accept-invite",
        &code,
        "--server",
        &server.url,
        "--json",
    ]))
    .ok()
    .json();
    assert_eq!(accepted["organization"]["name"], "other-org");
    assert_eq!(accepted["member"]["role"], "org_admin");
    let token = accepted["token"]["key"].as_str().unwrap();
    let who = run(alice.cmd(&["auth", "whoami", "--token", token])).ok();
    assert_eq!(
        who.stdout,
        "Authenticated as: alice@company.com (org: other-org)\n"
    );
}
