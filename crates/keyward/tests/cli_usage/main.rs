//! Usage, rate limits and quotas from the command line, end to end: the real binary
//! against a real server on loopback (`keys create|edit --ratelimit/--quota`, `keys
//! verify`, `keys usage`, `owner-limits`, `orgs`).

#[path = "../support/mod.rs"]
mod support;

use serde_json::{json, Value};
use support::{create_key, run, Run, Server, User};

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

fn assert_no_key(out: &Run, key: &str) {
    // The secret part of the key (after the visible prefix) is never printed.
    let secret = &key[12..];
    assert!(
        !out.stdout.contains(secret) && !out.stderr.contains(secret),
        "the raw key was echoed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
}

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
fn verify_exits_0_for_valid_and_1_with_the_code_otherwise() {
    let server = Server::start();
    let user = owner(&server);
    let (key, id) = create_key(
        &user,
        &server,
        &["--name", "reader", "--permission", "keys:read"],
    );
    let out = verify(&user, &key, &[]).ok();
    assert!(out.stdout.starts_with("✓ VALID"), "{}", out.stdout);
    assert!(out.stdout.contains(&id) && out.stdout.contains("keys:read"));
    assert_no_key(&out, &key);
    let out = verify(&user, &key, &["--json"]).ok();
    let body = out.json();
    assert_eq!(
        (body["valid"].clone(), body["code"].clone()),
        (json!(true), json!("VALID"))
    );
    assert_eq!(body["key_id"], id.as_str());
    assert_no_key(&out, &key);

    // Another permission: INSUFFICIENT_PERMISSIONS, one line, exit 1, no error line.
    let out = verify(&user, &key, &["--permission", "keys:write"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("INSUFFICIENT_PERMISSIONS") && out.stdout.contains("keys:write"),
        "{}",
        out.stdout
    );
    assert_eq!(out.stderr, "");
    assert_no_key(&out, &key);
    let out = verify(&user, &key, &["--permission", "keys:write", "--json"]);
    assert_eq!(out.code, 1);
    assert_eq!(out.json()["code"], "INSUFFICIENT_PERMISSIONS");

    // A mistyped key: MALFORMED; an unknown one: NOT_FOUND; a revoked one: REVOKED.
    let mut typo = key.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == 'a' { 'b' } else { 'a' });
    let out = verify(&user, &typo, &[]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("MALFORMED"), "{}", out.stdout);
    assert_no_key(&out, &typo);
    run(user.cmd(&["keys", "revoke", &id, "--yes"])).ok();
    let out = verify(&user, &key, &["--json"]);
    assert_eq!(
        (out.code, out.json()["code"].clone()),
        (1, json!("REVOKED"))
    );

    // The key can be an argument too (stdin is for keeping it out of shell history).
    let (other, _) = create_key(&user, &server, &["--name", "plain"]);
    let out = run(user.cmd(&["keys", "verify", &other])).ok();
    assert!(out.stdout.starts_with("✓ VALID"));
    assert_no_key(&out, &other);
    // `-` with nothing on stdin is a usage error.
    let out = run(user.cmd(&["keys", "verify", "-"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
}

/// `keys disable` switches a key off (verify DISABLED, the key cannot log in) and
/// `keys enable` back on.
#[test]
fn disable_and_enable_switch_a_key_off_and_on() {
    let server = Server::start();
    let user = owner(&server);
    let (key, id) = create_key(
        &user,
        &server,
        &["--name", "paused", "--permission", "keys:write"],
    );

    // The key switches itself off: the command says so, and warns it was its own key.
    let out = run(user.cmd(&["keys", "disable", &id, "--token", &key])).ok();
    assert!(
        out.stdout.contains("Disabled") && out.stdout.contains("\"paused\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("that was the key this command used"),
        "{}",
        out.stderr
    );
    let shown = run(user.cmd(&["keys", "show", &id, "--json"])).ok().json();
    assert_eq!(
        (&shown["status"], &shown["enabled"]),
        (&json!("disabled"), &json!(false))
    );
    let listed = run(user.cmd(&["keys", "list"])).ok();
    assert!(listed.stdout.contains("disabled"), "{}", listed.stdout);
    let out = verify(&user, &key, &[]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("DISABLED"), "{}", out.stdout);
    let out = run(user.cmd(&["auth", "whoami", "--token", &key]));
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains("[token_disabled]") && out.stderr.contains("keys enable"),
        "{}",
        out.stderr
    );
    let again = run(user.cmd(&["keys", "disable", &id])).ok();
    assert!(
        again.stdout.contains("Already disabled"),
        "{}",
        again.stdout
    );

    let out = run(user.cmd(&["keys", "enable", &id])).ok();
    assert!(out.stdout.contains("Enabled"), "{}", out.stdout);
    assert_eq!(verify(&user, &key, &[]).code, 0);
    let shown = run(user.cmd(&["keys", "show", &id, "--json"])).ok().json();
    assert_eq!(shown["status"], "active");

    // `keys create --disabled` creates it switched off.
    let (later, later_id) = create_key(&user, &server, &["--name", "later", "--disabled"]);
    let shown = run(user.cmd(&["keys", "show", &later_id, "--json"]))
        .ok()
        .json();
    assert_eq!(shown["status"], "disabled");
    assert_eq!(verify(&user, &later, &[]).code, 1);
}

#[test]
fn verify_reports_rate_limited_and_quota_exceeded() {
    let server = Server::start();
    let user = owner(&server);
    let (limited, _) = create_key(
        &user,
        &server,
        &["--name", "limited", "--ratelimit", "2/1m"],
    );
    for remaining in [1, 0] {
        let body = verify(&user, &limited, &["--json"]).ok().json();
        assert_eq!(body["ratelimit"]["remaining"], remaining);
        assert_eq!(body["ratelimit"]["limit"], 2);
    }
    let out = verify(&user, &limited, &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("✗ RATE_LIMITED") && out.stdout.contains("full again in"),
        "{}",
        out.stdout
    );
    let out = verify(&user, &limited, &["--json"]);
    assert_eq!(out.code, 1);
    let body = out.json();
    assert_eq!(
        (body["valid"].clone(), body["code"].clone()),
        (json!(false), json!("RATE_LIMITED"))
    );
    assert!(body["ratelimit"]["reset"].as_i64().unwrap() > 0);

    let (metered, _) = create_key(&user, &server, &["--name", "metered", "--quota", "2"]);
    // Cost 0 checks without spending.
    let body = verify(&user, &metered, &["--cost", "0", "--json"])
        .ok()
        .json();
    assert_eq!(body["quota"], json!({"limit": 2, "remaining": 2}));
    verify(&user, &metered, &[]).ok();
    let out = verify(&user, &metered, &[]).ok();
    assert!(out.stdout.contains("0 of 2 credits left"), "{}", out.stdout);
    let out = verify(&user, &metered, &[]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.starts_with("✗ QUOTA_EXCEEDED") && out.stdout.contains("0 of 2 credits left"),
        "{}",
        out.stdout
    );
    let out = verify(&user, &metered, &["--json"]);
    assert_eq!(
        (out.code, out.json()["code"].clone()),
        (1, json!("QUOTA_EXCEEDED"))
    );
}

#[test]
fn usage_reports_totals_a_bar_chart_and_utilization() {
    let server = Server::start();
    let user = owner(&server);
    let (key, id) = create_key(
        &user,
        &server,
        &[
            "--name",
            "counted",
            "--permission",
            "orders:read",
            "--ratelimit",
            "100/1h",
            "--quota",
            "10/monthly",
        ],
    );
    for _ in 0..3 {
        verify(&user, &key, &["--permission", "orders:read"]).ok();
    }
    assert_eq!(
        verify(&user, &key, &["--permission", "orders:write"]).code,
        1
    );

    let report = run(user.cmd(&["keys", "usage", &id, "--json"])).ok().json();
    assert_eq!(report["key_id"], id.as_str());
    assert_eq!(report["granularity"], "hour");
    assert_eq!(report["totals"], json!({"valid": 3, "denied": 1, "api": 0}));
    let series = report["series"].as_array().unwrap();
    let sum: i64 = series.iter().map(|b| b["valid"].as_i64().unwrap()).sum();
    assert_eq!(sum, 3);
    assert_eq!(report["ratelimit"]["limit"], 100);
    assert_eq!(report["ratelimit"]["used_in_last_period"], 3);
    assert_eq!(
        report["quota"],
        json!({"limit": 10, "refill": "monthly", "remaining": 7, "used": 3, "utilization": 0.3})
    );
    assert_eq!(report["owner_ratelimit"], Value::Null);

    // By minute over the last hour, named by the key's name.
    let report = run(user.cmd(&[
        "keys",
        "usage",
        "counted",
        "--from",
        "1h",
        "--granularity",
        "minute",
        "--json",
    ]))
    .ok()
    .json();
    assert_eq!(report["granularity"], "minute");
    assert!(report["series"].as_array().unwrap().len() >= 60);
    assert_eq!(report["totals"]["valid"], 3);

    // By day (the default is by hour), so that all requests share one bucket.
    let out = run(user.cmd(&["keys", "usage", "counted", "--granularity", "day"])).ok();
    let text = &out.stdout;
    // Chart rows start with the bucket's time; the legend line starts with a bar.
    let bars: Vec<&str> = text
        .lines()
        .filter(|l| l.contains('█') && !l.starts_with('█'))
        .collect();
    assert_eq!(bars.len(), 1, "one busy day:\n{text}");
    // The busiest bucket gets the whole width: 3 valid and 1 denied in 40 cells.
    assert_eq!(bars[0].matches('█').count(), 30, "{text}");
    assert_eq!(bars[0].matches('░').count(), 10, "{text}");
    assert!(
        text.contains("3 valid and 1 denied verifications"),
        "{text}"
    );
    assert!(
        text.contains("Rate limit 100/1h: 3% now (3 in the last 1h), peak 3%"),
        "{text}"
    );
    assert!(
        text.contains("Quota 10/monthly: 3 used, 7 left (30%)"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colours without a terminal");

    // A range in RFC 3339 with nothing in it; --from after --to is refused.
    let empty = run(user.cmd(&[
        "keys",
        "usage",
        &id,
        "--from",
        "2020-01-01T00:00:00Z",
        "--to",
        "2020-01-02T00:00:00Z",
        "--granularity",
        "day",
    ]))
    .ok();
    assert!(
        !empty.stdout.contains('█'),
        "no bars, no legend:\n{}",
        empty.stdout
    );
    assert!(
        empty.stdout.contains("0 valid and 0 denied"),
        "{}",
        empty.stdout
    );
    let out = run(user.cmd(&["keys", "usage", &id, "--from", "1h", "--to", "2h"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    // The server's range check comes back as the flag's error.
    let out = run(user.cmd(&[
        "keys",
        "usage",
        &id,
        "--from",
        "30d",
        "--granularity",
        "minute",
    ]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("--granularity"), "{}", out.stderr);
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
