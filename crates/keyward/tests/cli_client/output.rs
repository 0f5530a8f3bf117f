//! How commands answer: JSON, confirmation, exit codes, pipes, hints, completions, help.

use super::*;

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
