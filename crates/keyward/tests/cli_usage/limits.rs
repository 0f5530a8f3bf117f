//! Rate limits and quotas on keys, owner limits and the organization's settings.

use super::*;

#[test]
fn create_and_edit_set_show_and_remove_rate_limits_and_quotas() {
    let server = Server::start();
    let user = owner(&server);
    let (_, id) = create_key(
        &user,
        &server,
        &[
            "--name",
            "gateway",
            "--ratelimit",
            "100/1m",
            "--quota",
            "10000/monthly",
        ],
    );
    let shown = run(user.cmd(&["keys", "show", &id, "--json"])).ok().json();
    assert_eq!(shown["ratelimit"], json!({"limit": 100, "period": "1m"}));
    assert_eq!(shown["quota"], json!({"limit": 10000, "refill": "monthly"}));
    let text = run(user.cmd(&["keys", "show", "gateway"])).ok().stdout;
    assert!(
        text.contains("Rate limit:") && text.contains("100/1m"),
        "{text}"
    );
    assert!(
        text.contains("Quota:") && text.contains("10000/monthly"),
        "{text}"
    );
    let list = run(user.cmd(&["keys", "list"])).ok().stdout;
    assert!(
        list.contains("LIMITS") && list.contains("100/1m, quota 10000/monthly"),
        "{list}"
    );

    // A quota without refill; then remove the quota and change the rate limit.
    let edited = run(user.cmd(&["keys", "edit", &id, "--quota", "50", "--json"]))
        .ok()
        .json();
    assert_eq!(edited["quota"], json!({"limit": 50}));
    let out = run(user.cmd(&[
        "keys",
        "edit",
        "gateway",
        "--no-quota",
        "--ratelimit",
        "5/1s",
    ]))
    .ok();
    assert!(
        out.stdout.contains("rate limit 100/1m → 5/1s") && out.stdout.contains("→ none"),
        "{}",
        out.stdout
    );
    let shown = run(user.cmd(&["keys", "show", &id, "--json"])).ok().json();
    assert_eq!(shown["quota"], Value::Null);
    assert_eq!(shown["ratelimit"], json!({"limit": 5, "period": "1s"}));
    run(user.cmd(&["keys", "edit", &id, "--no-ratelimit"])).ok();
    let shown = run(user.cmd(&["keys", "show", &id, "--json"])).ok().json();
    assert_eq!(shown["ratelimit"], Value::Null);
}

#[test]
fn bad_limit_values_are_usage_errors_that_say_what_is_wrong() {
    let server = Server::start();
    let user = owner(&server);
    for (args, says) in [
        (
            vec!["keys", "create", "--name", "x", "--ratelimit", "0/1m"],
            "limit must be at least 1",
        ),
        (
            vec!["keys", "create", "--name", "x", "--ratelimit", "100"],
            "LIMIT/PERIOD",
        ),
        (
            vec!["keys", "create", "--name", "x", "--ratelimit", "10/1w"],
            "not a period",
        ),
        (
            vec!["keys", "create", "--name", "x", "--ratelimit", "10/31d"],
            "at most 30d",
        ),
        (
            vec!["keys", "create", "--name", "x", "--quota", "abc"],
            "not a whole number",
        ),
        (
            vec!["keys", "create", "--name", "x", "--quota", "10/hourly"],
            "daily or monthly",
        ),
        (
            vec!["keys", "edit", "x", "--ratelimit", "1/1m", "--no-ratelimit"],
            "cannot be used with",
        ),
        (
            vec!["keys", "usage", "x", "--from", "yesterday"],
            "not a time",
        ),
        (
            vec!["keys", "usage", "x", "--granularity", "week"],
            "invalid value",
        ),
        (vec!["keys", "verify", "-", "--cost=-1"], "invalid value"),
        (
            vec!["owner-limits", "set", "robot", "x", "--ratelimit", "1/1m"],
            "invalid value",
        ),
        (vec!["orgs", "settings", "--max-keys", "0"], "invalid value"),
        (vec!["orgs", "settings"], "required"),
    ] {
        let out = run(user.cmd(&args));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
    // Nothing was created.
    let keys = run(user.cmd(&["keys", "list", "--json"])).ok().json();
    assert_eq!(keys["data"].as_array().unwrap().len(), 1);
}

#[test]
fn owner_limits_set_list_and_remove() {
    let server = Server::start();
    let user = owner(&server);
    let out = run(user.cmd(&["owner-limits", "list"])).ok();
    assert!(out.stdout.contains("No owner limits"), "{}", out.stdout);
    let set = run(user.cmd(&[
        "owner-limits",
        "set",
        "external",
        "cus_42",
        "--ratelimit",
        "1000/1h",
        "--json",
    ]))
    .ok()
    .json();
    assert_eq!(
        set,
        json!({"owner_type": "external", "owner_id": "cus_42", "ratelimit": {"limit": 1000, "period": "1h"}})
    );
    // A person by email, a service account by name.
    run(user.cmd(&[
        "owner-limits",
        "set",
        "user",
        "team@company.com",
        "--ratelimit",
        "100/1m",
    ]))
    .ok();
    run(user.cmd(&[
        "service-accounts",
        "create",
        "--name",
        "bot",
        "--scopes",
        "keys:read",
    ]))
    .ok();
    run(user.cmd(&[
        "owner-limits",
        "set",
        "service_account",
        "bot",
        "--ratelimit",
        "5/1s",
    ]))
    .ok();
    let list = run(user.cmd(&["owner-limits", "list", "--json"]))
        .ok()
        .json();
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 3, "{list}");
    let user_limit = data.iter().find(|l| l["owner_type"] == "user").unwrap();
    assert!(user_limit["owner_id"].as_str().unwrap().starts_with("usr_"));
    let sa_limit = data
        .iter()
        .find(|l| l["owner_type"] == "service_account")
        .unwrap();
    assert!(sa_limit["owner_id"].as_str().unwrap().starts_with("sa_"));
    let table = run(user.cmd(&["owner-limits", "list"])).ok().stdout;
    assert!(
        table.contains("external") && table.contains("cus_42") && table.contains("1000/1h"),
        "{table}"
    );

    // The owner's shared limit shows in a key's usage report.
    let (_, id) = create_key(
        &user,
        &server,
        &["--name", "customer", "--kind", "api", "--owner", "cus_42"],
    );
    let out = run(user.cmd(&["keys", "usage", &id])).ok();
    assert!(
        out.stdout
            .contains("Owner's shared rate limit 1000/1h: 0% now"),
        "{}",
        out.stdout
    );

    run(user.cmd(&["owner-limits", "remove", "external", "cus_42"])).ok();
    let list = run(user.cmd(&["owner-limits", "list", "--json"]))
        .ok()
        .json();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains("cus_42"));
    // Unknown people are refused before anything is sent.
    let out = run(user.cmd(&[
        "owner-limits",
        "set",
        "user",
        "nobody@company.com",
        "--ratelimit",
        "1/1m",
    ]));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("[not_found]"), "{}", out.stderr);
}

#[test]
fn org_settings_round_trip_and_give_new_keys_defaults() {
    let server = Server::start();
    let user = owner(&server);
    let list = run(user.cmd(&["orgs", "list", "--json"])).ok().json();
    assert_eq!(list["data"][0]["name"], "my-org");
    assert_eq!(list["data"][0]["role"], "owner");
    let table = run(user.cmd(&["orgs", "list"])).ok().stdout;
    assert!(
        table.contains("my-org") && table.contains("owner"),
        "{table}"
    );

    let before = run(user.cmd(&["orgs", "show", "--json"])).ok().json();
    assert_eq!(before["settings"]["default_ratelimit"], Value::Null);
    let after = run(user.cmd(&[
        "orgs",
        "settings",
        "--max-keys",
        "50",
        "--max-worker-keys",
        "7",
        "--allow-legacy-tokens",
        "true",
        "--default-ratelimit",
        "100/1m",
        "--default-quota",
        "10000/monthly",
        "--json",
    ]))
    .ok()
    .json();
    assert_eq!(after["id"], before["id"]);
    assert_eq!(
        after["settings"],
        json!({
            "max_keys": 50,
            "max_worker_keys": 7,
            "allow_legacy_tokens": true,
            "default_ratelimit": {"limit": 100, "period": "1m"},
            "default_quota": {"limit": 10000, "refill": "monthly"}
        })
    );
    assert_eq!(
        run(user.cmd(&["orgs", "show", "--json"])).ok().json(),
        after
    );
    let shown = run(user.cmd(&["orgs", "show"])).ok().stdout;
    assert!(
        shown.contains("Default rate limit:") && shown.contains("100/1m"),
        "{shown}"
    );
    assert!(
        shown.contains("10000/monthly") && shown.contains("50"),
        "{shown}"
    );

    // New keys get the defaults.
    let (_, id) = create_key(&user, &server, &["--name", "defaulted"]);
    let key = run(user.cmd(&["keys", "show", &id, "--json"])).ok().json();
    assert_eq!(key["ratelimit"], json!({"limit": 100, "period": "1m"}));
    assert_eq!(key["quota"], json!({"limit": 10000, "refill": "monthly"}));

    // Removing one default leaves the rest alone.
    let out = run(user.cmd(&[
        "orgs",
        "settings",
        "--no-default-quota",
        "--allow-legacy-tokens",
        "false",
    ]))
    .ok();
    assert!(out.stdout.contains("Default quota:"), "{}", out.stdout);
    let now = run(user.cmd(&["orgs", "show", "--json"])).ok().json();
    assert_eq!(now["settings"]["default_quota"], Value::Null);
    assert_eq!(now["settings"]["allow_legacy_tokens"], false);
    assert_eq!(
        now["settings"]["default_ratelimit"],
        json!({"limit": 100, "period": "1m"})
    );
    assert_eq!(now["settings"]["max_keys"], 50);

    // A read-only key may look but not change.
    let (reader, _) = create_key(&user, &server, &["--name", "reader", "--read-only"]);
    run(user.cmd(&["orgs", "show", "--token", &reader])).ok();
    let out = run(user.cmd(&["orgs", "settings", "--max-keys", "5", "--token", &reader]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("organizations:write"), "{}", out.stderr);
}
