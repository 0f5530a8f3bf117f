//! `keyward admin …`, the operator's break-glass commands, through the real binary on
//! the database of a real server: on SQLite (a data directory) and on PostgreSQL (a
//! schema of the test's own, when `KEYWARD_TEST_DATABASE_URL` names a server; with
//! `CI=true` a missing one fails the tests instead of skipping them).

mod support;

use std::time::{Duration, Instant};
use support::{get_me, invite_and_accept, run, Server, User};

/// The PostgreSQL server to test on; `None` (skip) only outside CI.
fn postgres_url() -> Option<String> {
    let url = keyward_store::testing::postgres_url();
    if url.is_none() && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but {} is not set: the PostgreSQL tests must run in CI",
            keyward_store::testing::DATABASE_URL_VAR
        );
    }
    if url.is_none() {
        eprintln!(
            "skipped: {} is not set",
            keyward_store::testing::DATABASE_URL_VAR
        );
    }
    url
}

/// Runs `check` against a server on SQLite.
fn on_sqlite(check: fn(&mut Server)) {
    let mut server = Server::start();
    check(&mut server);
}

/// Runs `check` against a server on a fresh PostgreSQL schema (dropped afterwards).
fn on_postgres(check: fn(&mut Server)) {
    let Some(base) = postgres_url() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let schema = rt
        .block_on(keyward_store::testing::PgScratch::create(&base))
        .unwrap();
    // Declared after the schema: the server stops before the schema is dropped.
    let mut server = Server::start_on(schema.url());
    check(&mut server);
    drop(server);
    drop(schema);
}

/// `keyward ARGS --token TOKEN --server URL` (the URL changes when the server restarts).
fn as_owner(server: &Server, token: &str, args: &[&str]) -> support::Run {
    let mut all = args.to_vec();
    all.extend(["--token", token, "--server", &server.url]);
    run(User::new().cmd(&all))
}

/// The audit events of `action` whose actor is the operator.
fn operator_events(server: &Server, token: &str, action: &str) -> Vec<serde_json::Value> {
    let audit = as_owner(server, token, &["audit", "--json", "--all"])
        .ok()
        .json();
    audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action && e["actor"]["type"] == "operator")
        .cloned()
        .collect()
}

fn mint_owner_token(server: &mut Server) {
    let orgs = run(server.on_database(&["admin", "orgs", "--json"]))
        .ok()
        .json();
    assert_eq!(orgs["data"][0]["name"], "my-org");
    assert_eq!(orgs["data"][0]["owners"][0]["email"], "team@company.com");
    let table = run(server.on_database(&["admin", "orgs"])).ok().stdout;
    assert!(
        table.contains("my-org") && table.contains("team@company.com"),
        "{table}"
    );

    // The organization is at its key limit: the bootstrap token is its one key.
    let owner = server.token.clone();
    as_owner(server, &owner, &["orgs", "settings", "--max-keys", "1"]).ok();
    let full = as_owner(server, &owner, &["keys", "create", "--name", "one-more"]);
    assert_eq!(full.code, 1, "{}", full.stderr);
    assert!(
        full.stderr.contains("[key_limit_reached]"),
        "{}",
        full.stderr
    );

    // While the server runs: only the token on stdout, and it works at once.
    let out = run(server.on_database(&["admin", "mint-owner-token", "--org", "my-org"])).ok();
    let token = out.stdout.trim_end_matches('\n').to_owned();
    assert!(token.starts_with("kw_pat_"), "{}", out.stdout);
    keyward_client::offline_check(&token).expect("stdout is exactly one key");
    assert!(
        out.stderr.contains("exempt from the key limits") && out.stderr.contains("in 1 day"),
        "{}",
        out.stderr
    );
    let (status, me) = get_me(server, &token);
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], "team@company.com");
    assert_eq!(me["key"]["permissions"], serde_json::json!(["*:*"]));
    assert!(me["key"]["expires_at"].is_string(), "{me}");
    // It can do what an owner does, e.g. read the audit log, where it is an operator's.
    let minted = operator_events(server, &token, "key.create");
    assert_eq!(minted.len(), 1, "{minted:?}");
    let event = &minted[0];
    assert_eq!(event["target"]["id"], me["key"]["id"]);
    assert_eq!(event["actor"]["key_id"], serde_json::Value::Null);
    assert_eq!(event["details"]["break_glass"], true);
    let actor = event["actor"]["name"].as_str().unwrap();
    assert!(
        actor.starts_with("operator ")
            && actor.contains('@')
            && actor.ends_with(" (keyward admin)"),
        "{actor}"
    );

    // While the server is stopped, for a named owner, without expiry.
    server.stop();
    let out = run(server.on_database(&[
        "admin",
        "mint-owner-token",
        "--org",
        "my-org",
        "--email",
        "team@company.com",
        "--expires",
        "never",
        "--name",
        "recovery",
        "--json",
    ]))
    .ok()
    .json();
    server.serve();
    let token = out["token"].as_str().unwrap();
    assert_eq!(out["expires_at"], serde_json::Value::Null);
    assert_eq!(out["owner"]["email"], "team@company.com");
    let (status, me) = get_me(server, token);
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["key"]["name"], "recovery");
    assert_eq!(me["key"]["expires_at"], serde_json::Value::Null);
    assert_eq!(operator_events(server, token, "key.create").len(), 2);

    // Refused, with what is wrong: an unknown organization, a person who is not an owner.
    let out = run(server.on_database(&["admin", "mint-owner-token", "--org", "nope"]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("no organization has the id or name \"nope\""),
        "{}",
        out.stderr
    );
    let out = run(server.on_database(&[
        "admin",
        "mint-owner-token",
        "--org",
        "my-org",
        "--email",
        "someone@company.com",
    ]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("is not an owner"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "no token: {}", out.stdout);
}

fn clear_owner_limits(server: &mut Server) {
    let owner = server.token.clone();
    let admin = invite_and_accept(server, &owner, "admin@company.com", "org-admin");
    // An org admin may not limit an owner.
    let out = as_owner(
        server,
        &admin,
        &[
            "owner-limits",
            "set",
            "user",
            "team@company.com",
            "--ratelimit",
            "1/30d",
        ],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("[role_forbidden]"), "{}", out.stderr);

    // --user and --all take only what they name.
    for (owner_type, id) in [("user", "admin@company.com"), ("external", "cus_1")] {
        as_owner(
            server,
            &owner,
            &[
                "owner-limits",
                "set",
                owner_type,
                id,
                "--ratelimit",
                "100/1m",
            ],
        )
        .ok();
    }
    let out = run(server.on_database(&[
        "admin",
        "clear-owner-limits",
        "--org",
        "my-org",
        "--user",
        "admin@company.com",
    ]))
    .ok();
    assert!(
        out.stdout
            .contains("Removed the shared rate limit 100/1m of user admin@company.com"),
        "{}",
        out.stdout
    );
    let left = as_owner(server, &owner, &["owner-limits", "list", "--json"])
        .ok()
        .json();
    assert_eq!(left["data"].as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left["data"][0]["owner_id"], "cus_1");

    // The owner limits themselves to 1 request in 30 days, and is locked out.
    as_owner(
        server,
        &owner,
        &[
            "owner-limits",
            "set",
            "user",
            "team@company.com",
            "--ratelimit",
            "1/30d",
        ],
    )
    .ok();
    let mut status = 0;
    for _ in 0..3 {
        status = get_me(server, &owner).0;
        if status == 429 {
            break;
        }
    }
    assert_eq!(status, 429, "the owner is rate limited");
    let out = as_owner(server, &owner, &["owner-limits", "list"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("[rate_limited]"), "{}", out.stderr);

    // Break glass: the owners' limits go (by default only theirs), and within the
    // server's owner-limit cache (5 s on SQLite; at once on PostgreSQL) the owner's
    // calls work again.
    let out = run(server.on_database(&["admin", "clear-owner-limits", "--org", "my-org"])).ok();
    assert!(
        out.stdout
            .contains("Removed the shared rate limit 1/30d of user team@company.com"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("within 5 s"), "{}", out.stderr);
    let start = Instant::now();
    loop {
        let (status, body) = get_me(server, &owner);
        if status == 200 {
            break;
        }
        assert_eq!(status, 429, "{body}");
        assert!(
            start.elapsed() < Duration::from_secs(7),
            "still locked out after {:?}",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let removed = operator_events(server, &owner, "owner_limit.delete");
    assert_eq!(removed.len(), 2, "{removed:?}");
    assert!(removed.iter().all(|e| e["details"]["break_glass"] == true
        && e["actor"]["key_id"].is_null()
        && e["target"]["type"] == "user"));
    // Nothing of the owners' is left; the customer's limit stays until --all.
    let out = run(server.on_database(&["admin", "clear-owner-limits", "--org", "my-org"])).ok();
    assert!(
        out.stdout.contains("No shared owner rate limits"),
        "{}",
        out.stdout
    );
    let out = run(server.on_database(&[
        "admin",
        "clear-owner-limits",
        "--org",
        "my-org",
        "--all",
        "--json",
    ]))
    .ok()
    .json();
    assert_eq!(out["removed"][0]["owner_id"], "cus_1", "{out}");
    let left = as_owner(server, &owner, &["owner-limits", "list", "--json"])
        .ok()
        .json();
    assert_eq!(left["data"], serde_json::json!([]));
    // An unknown organization is refused.
    let out = run(server.on_database(&["admin", "clear-owner-limits", "--org", "nope"]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("no organization"), "{}", out.stderr);
}

#[test]
fn sqlite_mint_owner_token_on_a_running_and_a_stopped_server() {
    on_sqlite(mint_owner_token);
}

#[test]
fn sqlite_clear_owner_limits_ends_an_owner_lockout() {
    on_sqlite(clear_owner_limits);
}

#[test]
fn postgres_mint_owner_token_on_a_running_and_a_stopped_server() {
    on_postgres(mint_owner_token);
}

#[test]
fn postgres_clear_owner_limits_ends_an_owner_lockout() {
    on_postgres(clear_owner_limits);
}

#[test]
fn admin_refuses_a_database_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let out = run({
        let mut cmd = assert_cmd::Command::new(support::BIN);
        cmd.env_clear()
            .current_dir(dir.path())
            .args(["admin", "orgs", "--data-dir"])
            .arg(&missing);
        cmd
    });
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("there is no database"),
        "{}",
        out.stderr
    );
    assert!(!missing.exists(), "no empty database was created");
}
