//! `keys verify` and its exit codes, `keys disable|enable`, and `keys usage` reports.

use super::*;

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
