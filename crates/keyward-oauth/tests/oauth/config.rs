//! What the integrations section may and may not say.

use keyward_oauth::{providers, ConfigError, IntegrationsConfig, Providers};

fn parse(yaml: &str) -> Result<Providers, ConfigError> {
    providers(&serde_yaml::from_str::<IntegrationsConfig>(yaml).unwrap())
}

fn problem(yaml: &str) -> String {
    parse(yaml).unwrap_err().to_string()
}

#[test]
fn missing_credentials_are_named() {
    assert_eq!(
        problem("gmail:\n  credentials: {client_id: i}\n"),
        "integrations.gmail: credentials.client_secret is missing"
    );
    assert_eq!(
        problem("notion:\n  enabled: true\n"),
        "integrations.notion: credentials.client_id is missing"
    );
    assert_eq!(
        problem("google_drive:\n  credentials: {client_id: '', client_secret: s}\n"),
        "integrations.google_drive: credentials.client_id is missing"
    );
}

#[test]
fn disabled_and_webhook_only_entries_are_left_out() {
    let p = parse(
        "gmail:\n  enabled: false\n\
         whatsapp:\n  credentials: {phone_number_id: '1', access_token: t}\n  settings: {webhook_verify_token: v}\n\
         slack: {}\ntelegram: {}\ndiscord: {}\nstandard: {}\n",
    )
    .unwrap();
    assert!(p.is_empty());
    assert!(Providers::empty().is_empty());
    // A webhook name with an oauth block is an OAuth provider like any other.
    let p = parse(
        "slack:\n  credentials: {client_id: i, client_secret: s}\n  oauth: {authorize_url: 'https://slack.com/oauth/v2/authorize', token_url: 'https://slack.com/api/oauth.v2.access'}\n\
         gmail:\n  credentials: {client_id: i, client_secret: s}\n",
    )
    .unwrap();
    let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["gmail", "slack"]);
    assert!(p.get("notion").is_none());
}

#[test]
fn unknown_providers_need_their_endpoints() {
    assert_eq!(
        problem("acme:\n  credentials: {client_id: i, client_secret: s}\n"),
        "integrations.acme: oauth.authorize_url is required for a provider Keyward does not know"
    );
    assert_eq!(
        problem("acme:\n  credentials: {client_id: i, client_secret: s}\n  oauth: {authorize_url: 'https://a.example/x'}\n"),
        "integrations.acme: oauth.token_url is required for a provider Keyward does not know"
    );
}

#[test]
fn endpoints_are_https_or_loopback_http() {
    let with = |url: &str| {
        parse(&format!(
            "acme:\n  credentials: {{client_id: i, client_secret: s}}\n  oauth: {{authorize_url: 'https://a.example/x', token_url: '{url}'}}\n"
        ))
    };
    for ok in [
        "https://a.example/t",
        "http://127.0.0.1:8080/t",
        "http://localhost/t",
        "http://[::1]:9/t",
    ] {
        assert!(with(ok).is_ok(), "{ok}");
    }
    for bad in [
        "http://a.example/t",
        "http://10.0.0.1/t",
        "ftp://a.example/t",
        "not a url",
        "https://u:p@a.example/t",
    ] {
        let err = with(bad).unwrap_err();
        assert_eq!(err.integration, "acme");
        assert!(err.problem.starts_with("oauth.token_url"), "{bad}: {err}");
        assert!(!err.to_string().contains("u:p"), "{err}");
    }
    // A built-in's override is checked too.
    assert!(problem(
        "gmail:\n  credentials: {client_id: i, client_secret: s}\n  oauth: {token_url: 'http://evil.example/token'}\n"
    )
    .contains("must be https"));
}

#[test]
fn names_are_lowercase_words() {
    for bad in ["Gmail", "my-crm", "a b", &"x".repeat(41)] {
        let err = problem(&format!(
            "'{bad}':\n  credentials: {{client_id: i, client_secret: s}}\n  oauth: {{authorize_url: 'https://a.example/x', token_url: 'https://a.example/t'}}\n"
        ));
        assert!(err.contains("1 to 40 of a-z, 0-9 and _"), "{bad}: {err}");
    }
    assert!(parse(&format!(
        "{}:\n  credentials: {{client_id: i, client_secret: s}}\n  oauth: {{authorize_url: 'https://a.example/x', token_url: 'https://a.example/t'}}\n",
        "a_1".repeat(13)
    ))
    .is_ok());
}

#[test]
fn unknown_scopes_are_refused_by_name() {
    assert_eq!(
        problem("gmail:\n  credentials: {client_id: i, client_secret: s}\n  oauth: {default_scopes: [gmail.everything]}\n"),
        "integrations.gmail: oauth.default_scopes: gmail has no scope named `gmail.everything` (known: gmail.compose, gmail.labels, gmail.modify, gmail.readonly, gmail.send)"
    );
    let p = parse(
        "gmail:\n  credentials: {client_id: i, client_secret: s}\n  oauth: {scopes: {openid: openid}, default_scopes: [openid, gmail.send]}\n",
    )
    .unwrap()
    .get("gmail")
    .unwrap();
    assert_eq!(
        p.full_scopes(&[]).unwrap(),
        ["openid", "https://www.googleapis.com/auth/gmail.send"]
    );
    let err = p
        .full_scopes(&["drive".to_owned()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("`drive`"), "{err}");
}

#[test]
fn bad_headers_are_refused() {
    assert!(problem(
        "notion:\n  credentials: {client_id: i, client_secret: s}\n  oauth: {token_headers: {'Bad Header': x}}\n"
    )
    .contains("token_headers"));
}
