//! Webhook ingress through the real binary: `keyward bootstrap` and `keyward serve` on a
//! loopback port (the `support` harness), then `keyward webhooks …` as a person and a
//! script run them: an endpoint created with its provider's secret from a file or stdin,
//! its signing secret printed once and never again, edited, disabled and enabled,
//! its signing secret rotated, its (empty) deliveries, deleted; and a key that may only
//! read webhooks.

mod support;

use support::{create_key, run, Run, Server, User};

/// A Slack signing secret (32 hex), as Slack shows one.
const SLACK_SECRET: &str = "8f14e45fceea167a5a36dedd4bea2543";
/// A Standard Webhooks secret, for a sender that signs with one.
const STANDARD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const DESTINATION: &str = "https://app.example.com/hooks/slack";

fn start() -> (Server, User) {
    let server = Server::start();
    let user = User::new();
    user.login(&server, &server.token);
    (server, user)
}

fn cli(user: &User, args: &[&str]) -> Run {
    run(user.cmd(args))
}

/// `keyward ARGS` with `input` on stdin (not a terminal).
fn cli_with_stdin(user: &User, args: &[&str], input: &str) -> Run {
    let out = user.cmd(args).write_stdin(input).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: support::text(&out.stdout),
        stderr: support::text(&out.stderr),
    }
}

fn occurrences(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The one endpoint named `name`, as `webhooks list --json` gives it.
fn endpoint_named(user: &User, name: &str) -> serde_json::Value {
    let list = cli(user, &["webhooks", "list", "--json"]).ok().json();
    let found: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == name)
        .cloned()
        .collect();
    assert_eq!(found.len(), 1, "{list}");
    found.into_iter().next().unwrap()
}

#[test]
fn create_list_show_edit_disable_rotate_and_delete_an_endpoint() {
    let (_server, user) = start();
    let secret_file = user.cwd.path().join("slack-signing-secret.txt");
    std::fs::write(&secret_file, format!("{SLACK_SECRET}\n")).unwrap();
    let secret_path = secret_file.to_str().unwrap();

    // Created from a file; stdout is not a terminal: the signing secret alone on stdout,
    // the details (the ingress URL) and the notice on stderr.
    let created = cli(
        &user,
        &[
            "webhooks",
            "create",
            "--provider",
            "slack",
            "--name",
            "support-bot",
            "--destination",
            DESTINATION,
            "--secret-file",
            secret_path,
        ],
    )
    .ok();
    let signing = created.stdout.trim().to_owned();
    assert_eq!(created.stdout, format!("{signing}\n"));
    assert!(signing.starts_with("whsec_"), "{}", created.stdout);
    let said = format!("{}{}", created.stdout, created.stderr);
    assert_eq!(occurrences(&said, &signing), 1, "{said}");
    assert!(!said.contains(SLACK_SECRET), "{said}");
    assert!(
        created.stderr.contains("will not be shown again"),
        "{}",
        created.stderr
    );
    let endpoint = endpoint_named(&user, "support-bot");
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let ingress = endpoint["ingress_url"].as_str().unwrap().to_owned();
    assert!(ingress.ends_with(&format!("/hooks/{id}")), "{ingress}");
    assert!(
        created.stderr.contains(&ingress) && created.stderr.contains(&id),
        "{}",
        created.stderr
    );
    assert_eq!(endpoint["provider"], "slack");
    assert_eq!(endpoint["status"], "enabled");
    assert_eq!(endpoint["destination"], DESTINATION);

    // Neither secret ever shows again: listings and details carry prefixes only.
    let list = cli(&user, &["webhooks", "list"]).ok();
    let show = cli(&user, &["webhooks", "show", &id]).ok();
    let show_json = cli(&user, &["webhooks", "show", &id, "--json"]).ok();
    let list_json = cli(&user, &["webhooks", "list", "--json"]).ok();
    for out in [&list, &show, &show_json, &list_json] {
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(!all.contains(&signing), "{all}");
        assert!(!all.contains(SLACK_SECRET), "{all}");
    }
    assert!(
        list.stdout.contains(&id)
            && list.stdout.contains("support-bot")
            && list.stdout.contains("enabled"),
        "{}",
        list.stdout
    );
    for want in [
        "Status:",
        "enabled",
        "Destination:",
        DESTINATION,
        "Ingress URL:",
        ingress.as_str(),
        "Provider secrets:",
        "Signing secret:",
        "(current)",
    ] {
        assert!(show.stdout.contains(want), "{want}: {}", show.stdout);
    }
    let details = show_json.json();
    assert_eq!(details["secrets"].as_array().unwrap().len(), 1, "{details}");
    assert!(
        details["secrets"][0]["prefix"]
            .as_str()
            .unwrap()
            .starts_with(&SLACK_SECRET[..4]),
        "{details}"
    );
    assert_eq!(details["signing_secrets"].as_array().unwrap().len(), 1);

    // Renamed.
    let edited = cli(
        &user,
        &["webhooks", "edit", &id, "--name", "support-bot-eu"],
    )
    .ok();
    assert!(
        edited.stdout.contains("support-bot-eu"),
        "{}",
        edited.stdout
    );
    let details = cli(&user, &["webhooks", "show", &id, "--json"]).ok().json();
    assert_eq!(details["name"], "support-bot-eu");
    let nothing = cli(&user, &["webhooks", "edit", &id]);
    assert_eq!(nothing.code, 2, "{}", nothing.stderr);

    // Disabled, then enabled again.
    let disabled = cli(&user, &["webhooks", "disable", &id]).ok();
    assert!(disabled.stdout.contains("Disabled"), "{}", disabled.stdout);
    let details = cli(&user, &["webhooks", "show", &id, "--json"]).ok().json();
    assert_eq!(details["status"], "disabled");
    let show = cli(&user, &["webhooks", "show", &id]).ok();
    assert!(show.stdout.contains("Disabled reason:"), "{}", show.stdout);
    let enabled = cli(&user, &["webhooks", "enable", &id, "--json"])
        .ok()
        .json();
    assert_eq!(enabled["status"], "enabled");

    // A new signing secret, printed once; the old one still signs during the overlap.
    let rotated = cli(
        &user,
        &["webhooks", "rotate-secret", &id, "--overlap", "1h"],
    )
    .ok();
    let newer = rotated.stdout.trim().to_owned();
    assert!(newer.starts_with("whsec_"), "{}", rotated.stdout);
    assert_ne!(newer, signing);
    assert!(
        rotated.stderr.contains("will not be shown again"),
        "{}",
        rotated.stderr
    );
    let details = cli(&user, &["webhooks", "show", &id, "--json"]).ok().json();
    let signing_secrets = details["signing_secrets"].as_array().unwrap();
    assert_eq!(signing_secrets.len(), 2, "{details}");
    assert_eq!(
        signing_secrets
            .iter()
            .filter(|s| s["expires_at"].is_string())
            .count(),
        1,
        "{details}"
    );
    let show = cli(&user, &["webhooks", "show", &id]).ok();
    assert!(
        show.stdout.contains("(current)")
            && show.stdout.contains("Replaced secret:")
            && show.stdout.contains("signs until"),
        "{}",
        show.stdout
    );
    assert!(!show.stdout.contains(&newer), "{}", show.stdout);
    let too_long = cli(
        &user,
        &["webhooks", "rotate-secret", &id, "--overlap", "8d"],
    );
    assert_eq!(too_long.code, 2, "{}", too_long.stderr);

    // Nothing has arrived yet.
    let deliveries = cli(&user, &["webhooks", "deliveries", &id]).ok();
    assert!(
        deliveries.stdout.contains("No deliveries"),
        "{}",
        deliveries.stdout
    );
    let deliveries = cli(&user, &["webhooks", "deliveries", &id, "--json"])
        .ok()
        .json();
    assert_eq!(
        deliveries["data"].as_array().unwrap().len(),
        0,
        "{deliveries}"
    );
    let failed = cli(
        &user,
        &[
            "webhooks",
            "deliveries",
            &id,
            "--status",
            "failed",
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(failed["data"].as_array().unwrap().len(), 0, "{failed}");
    let replayed = cli(
        &user,
        &["webhooks", "replay", &id, "--since", "2h", "--json"],
    )
    .ok()
    .json();
    assert_eq!(replayed["replayed"], 0, "{replayed}");
    let missing = cli(&user, &["webhooks", "delivery", &id, "msg_nope"]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("delivery_not_found"),
        "{}",
        missing.stderr
    );

    // Deleting asks first: without a terminal and without --yes it refuses.
    let refused = cli(&user, &["webhooks", "delete", &id]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    cli(&user, &["webhooks", "show", &id]).ok();
    let deleted = cli(&user, &["webhooks", "delete", &id, "--yes"]).ok();
    assert!(deleted.stdout.contains("Deleted"), "{}", deleted.stdout);
    let gone = cli(&user, &["webhooks", "show", &id]);
    assert_eq!(gone.code, 1, "{}", gone.stderr);
    assert!(
        gone.stderr.contains("webhook_endpoint_not_found")
            && gone.stderr.contains("keyward webhooks list"),
        "{}",
        gone.stderr
    );
    let gone = cli(&user, &["webhooks", "show", &id, "--json"]);
    assert_eq!(gone.code, 1);
    let error: serde_json::Value = serde_json::from_str(gone.stderr.trim()).unwrap();
    assert_eq!(error["error"]["code"], "webhook_endpoint_not_found");
}

#[test]
fn secrets_come_from_stdin_and_telegram_tokens_need_somewhere_to_go() {
    let (_server, user) = start();

    // `--secret -`: from stdin; --json prints the endpoint and the signing secret.
    let created = cli_with_stdin(
        &user,
        &[
            "webhooks",
            "create",
            "--provider",
            "standard",
            "--name",
            "svix",
            "--destination",
            "https://app.example.com/hooks/svix",
            "--secret",
            "-",
            "--json",
        ],
        &format!("{STANDARD_SECRET}\n"),
    )
    .ok();
    let created = created.json();
    assert!(created["signing_secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    assert_ne!(created["signing_secret"], STANDARD_SECRET);
    assert_eq!(created["endpoint"]["provider"], "standard");
    assert!(!created.to_string().contains(&STANDARD_SECRET[6..]));
    let nothing = cli(
        &user,
        &[
            "webhooks",
            "create",
            "--provider",
            "standard",
            "--name",
            "empty",
            "--destination",
            "https://app.example.com/x",
            "--secret",
            "-",
        ],
    );
    assert_eq!(nothing.code, 2, "{}", nothing.stderr);

    // Slack without its secret is refused before anything is sent.
    let no_secret = cli(
        &user,
        &[
            "webhooks",
            "create",
            "--provider",
            "slack",
            "--name",
            "x",
            "--destination",
            DESTINATION,
        ],
    );
    assert_eq!(no_secret.code, 2, "{}", no_secret.stderr);
    assert!(
        no_secret.stderr.contains("Slack signing secret"),
        "{}",
        no_secret.stderr
    );

    // Telegram without a secret: Keyward generates the secret token. Piped without
    // --json there is nowhere to print it beside the signing secret: refused, nothing
    // created; with --json both are there, once.
    let telegram = [
        "webhooks",
        "create",
        "--provider",
        "telegram",
        "--name",
        "tg",
        "--destination",
        "https://app.example.com/hooks/tg",
    ];
    let refused = cli(&user, &telegram);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--json"), "{}", refused.stderr);
    let list = cli(
        &user,
        &["webhooks", "list", "--provider", "telegram", "--json"],
    )
    .ok()
    .json();
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");
    let mut with_json = telegram.to_vec();
    with_json.push("--json");
    let created = cli(&user, &with_json).ok().json();
    let token = created["generated_secret"].as_str().unwrap().to_owned();
    assert!(!token.is_empty());
    assert!(created["signing_secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    let id = created["endpoint"]["id"].as_str().unwrap();
    let show = cli(&user, &["webhooks", "show", id]).ok();
    assert!(!show.stdout.contains(&token), "{}", show.stdout);
}

#[test]
fn a_key_without_webhooks_write_reads_but_cannot_change() {
    let (server, user) = start();
    let secret_file = user.cwd.path().join("secret.txt");
    std::fs::write(&secret_file, SLACK_SECRET).unwrap();
    let secret_path = secret_file.to_str().unwrap();
    let create = |token: &str| {
        cli(
            &user,
            &[
                "webhooks",
                "create",
                "--provider",
                "slack",
                "--name",
                "support-bot",
                "--destination",
                DESTINATION,
                "--secret-file",
                secret_path,
                "--token",
                token,
            ],
        )
    };
    create(&server.token).ok();
    let (reader, _) = create_key(
        &user,
        &server,
        &["--name", "reader", "--permission", "webhooks:read"],
    );
    let listed = cli(&user, &["webhooks", "list", "--token", &reader]).ok();
    assert!(listed.stdout.contains("support-bot"), "{}", listed.stdout);
    let refused = create(&reader);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("webhooks:write") && refused.stderr.contains("[forbidden]"),
        "{}",
        refused.stderr
    );
    let id = endpoint_named(&user, "support-bot")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = cli(
        &user,
        &["webhooks", "rotate-secret", &id, "--token", &reader],
    );
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("webhooks:write"),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);

    // A key without any webhooks permission cannot even list them.
    let (other, _) = create_key(
        &user,
        &server,
        &["--name", "keys-only", "--permission", "keys:read"],
    );
    let refused = cli(&user, &["webhooks", "list", "--token", &other]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("webhooks:read"),
        "{}",
        refused.stderr
    );
}
