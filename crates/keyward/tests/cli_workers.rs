//! Workers through the real binary: `keyward bootstrap` and `keyward serve` on a loopback
//! port (the `support` harness), then `keyward workers …` as a person and a script run
//! them: the empty list says how to start a worker, names that match nothing, flags
//! that are wrong, a removal that cannot be confirmed, and a key without `workers:read`.
//!
//! `show` and `remove` act on a worker registered as its daemon registers, with
//! `POST /v1/workers/register` and a worker key (`tests/workers/` runs real daemons).

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
    let label = cli(&user, &["workers", "list", "--label=-bad"]);
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

/// Registers the worker `name` with the worker key `key`, as `keyward worker` does.
fn register(server: &Server, key: &str, name: &str) -> serde_json::Value {
    let body = serde_json::json!({
        "name": name, "host": format!("{name}.local"), "os": "linux x86_64",
        "version": "0.1.0", "labels": ["gpu"], "instance": format!("cli-{name}"),
    });
    let url = format!("{}/v1/workers/register", server.url);
    let key = key.to_owned();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            r.json().await.unwrap()
        })
}

#[test]
fn a_registered_worker_is_listed_shown_with_its_checks_and_removed() {
    let (server, user) = start();
    for ws in ["production", "staging"] {
        cli(&user, &["workspaces", "create", ws]).ok();
    }
    let (prod_key, _) = create_key(
        &user,
        &server,
        &[
            "--name",
            "prod-worker",
            "--kind",
            "worker",
            "--workspace",
            "production",
        ],
    );
    let (staging_key, _) = create_key(
        &user,
        &server,
        &[
            "--name",
            "staging-worker",
            "--kind",
            "worker",
            "--workspace",
            "staging",
        ],
    );
    let prod = register(&server, &prod_key, "build-box");
    let id = prod["worker"]["id"].as_str().unwrap().to_owned();
    register(&server, &staging_key, "build-box");

    let list = cli(&user, &["workers", "list"]).ok();
    assert!(list.stdout.contains("NAME"), "{}", list.stdout);
    assert!(list.stdout.contains(&id), "{}", list.stdout);
    assert!(list.stdout.contains("online"), "{}", list.stdout);
    assert!(list.stdout.contains("kw_wk_"), "{}", list.stdout);
    assert!(list.stdout.contains("gpu"), "{}", list.stdout);
    let json = cli(
        &user,
        &["workers", "list", "--workspace", "production", "--json"],
    )
    .ok()
    .json();
    assert_eq!(json["data"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["data"][0]["id"], id.as_str());

    // The name is in two workspaces: ambiguous without --workspace.
    let ambiguous = cli(&user, &["workers", "show", "build-box"]);
    assert_eq!(ambiguous.code, 1, "{}", ambiguous.stderr);
    assert!(
        ambiguous.stderr.contains("--workspace"),
        "{}",
        ambiguous.stderr
    );
    let show = cli(
        &user,
        &["workers", "show", "build-box", "--workspace", "production"],
    )
    .ok();
    for text in [
        "build-box.local",
        "linux x86_64",
        "Last heartbeat",
        "prod-worker (kw_wk_",
        "SYMPTOM",
        "Worker was connected and stopped",
        "Heartbeats arrive",
        "1 of 25 active worker keys",
        "✓",
    ] {
        assert!(show.stdout.contains(text), "{text}: {}", show.stdout);
    }
    let detail = cli(&user, &["workers", "show", &id, "--json"]).ok().json();
    assert_eq!(detail["troubleshooting"].as_array().unwrap().len(), 5);
    assert_eq!(detail["worker_key_limit"], 25);

    // Without --yes and without a terminal to ask on: refused, nothing removed.
    let kept = cli(
        &user,
        &[
            "workers",
            "remove",
            "build-box",
            "--workspace",
            "production",
        ],
    );
    assert_eq!(kept.code, 2, "{}", kept.stderr);
    assert_eq!(
        cli(&user, &["workers", "list", "--json"]).ok().json()["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let removed = cli(&user, &["workers", "remove", &id, "--yes"]).ok();
    assert!(
        removed.stdout.contains("Removed worker") || removed.stderr.contains("Removed worker"),
        "{}{}",
        removed.stdout,
        removed.stderr
    );
    let after = cli(&user, &["workers", "list", "--json"]).ok().json();
    assert_eq!(after["data"].as_array().unwrap().len(), 1, "{after}");
    let gone = cli(&user, &["workers", "show", &id]);
    assert_eq!(gone.code, 1, "{}", gone.stderr);
    assert!(
        gone.stderr.contains("keyward workers list"),
        "{}",
        gone.stderr
    );
}
