//! Settings → Integrations against the real authorization server of the vault's tests
//! (`crate::integrations::Vault`): connecting through the page and Keyward's hosted
//! callback, disconnecting, deleting, reconnecting one that needs it, the CSRF token on
//! every form, and a member who only reads.

use super::{owner, person, Page};
use crate::common::TestApp;
use crate::integrations::{param, Vault, PROVIDER};
use reqwest::StatusCode;
use serde_json::json;

const PAGE: &str = "/console/integrations";

fn query(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The row of connection `id` in the page (from its id cell to the end of the row).
fn row<'a>(page: &'a Page, id: &str) -> &'a str {
    let cell = format!("<td><code>{id}</code></td>");
    let start = page
        .body
        .find(&cell)
        .unwrap_or_else(|| panic!("no row of {id}: {}", page.body));
    let end = page.body[start..].find("</tr>").unwrap() + start;
    &page.body[start..end]
}

/// Connect through the page, play the person at the provider, and open Keyward's hosted
/// callback as their browser would.
async fn connect_through_page(v: &Vault, b: &super::Browser, fields: &[(&str, &str)]) {
    let hosted = format!("{}/v1/oauth/callback", v.app.base);
    let started = b.post(&format!("{PAGE}/{PROVIDER}/connect"), fields).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let to = started.location().unwrap().to_owned();
    assert!(to.starts_with(&v.provider.authorize_url), "{to}");
    let q = query(&to);
    assert!(param(&q, "state").is_some_and(|s| s.len() >= 43), "{to}");
    assert_eq!(param(&q, "code_challenge").map(|c| c.len()), Some(43));
    assert_eq!(param(&q, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param(&q, "redirect_uri").as_deref(), Some(hosted.as_str()));
    let back = v.provider.authorize(&to, &hosted).await;
    let done = b.get(&back).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body.contains("Acme Mail is connected"),
        "{}",
        done.body
    );
}

#[tokio::test]
async fn connect_and_disconnect_through_the_page() {
    let Some(v) = Vault::start().await else {
        return;
    };
    let b = owner(&v.app).await;
    let page = b.get(PAGE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Acme Mail"), "{}", page.body);
    assert!(page.body.contains("No connections yet."));
    assert!(page
        .body
        .contains(r#"href="/console/integrations" aria-current="page""#));
    // The scopes by their short names, the default one checked.
    assert!(page.body.contains(r#"name="scopes" value="read" checked"#));
    assert!(page.body.contains(r#"name="scopes" value="mail.read">"#));
    // Connect answers with a redirect to the provider, which the page's CSP lets the
    // form follow.
    let origin = url::Url::parse(&v.provider.authorize_url)
        .unwrap()
        .origin()
        .ascii_serialization();
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!("form-action 'self' {origin};")),
        "{csp}"
    );

    connect_through_page(
        &v,
        &b,
        &[
            ("connection_id", "desk@acme"),
            ("scopes", "read"),
            ("scopes", "mail.read"),
            ("workspace", ""),
        ],
    )
    .await;
    let c = v.connection("desk@acme").await;
    assert_eq!(c["status"], "active");
    assert_eq!(c["scopes"], json!(["read", "mail.read"]));

    let page = b.get(PAGE).await;
    let r = row(&page, "desk@acme");
    assert!(
        r.contains(r#"<span class="status active">active</span>"#),
        "{r}"
    );
    assert!(r.contains("<td>yes</td>"), "{r}");
    assert!(r.contains("<code>mail.read</code>"), "{r}");
    assert!(r.contains("Disconnect desk@acme"), "{r}");
    // No token is on the page.
    let t = v.tokens("desk@acme").await;
    let access = t.body["access_token"].as_str().unwrap();
    assert!(!page.body.contains(access));

    // Disconnect: revoked at the provider and here, and the page says the provider
    // confirmed.
    let out = b
        .post(&format!("{PAGE}/connections/desk%40acme/disconnect"), &[])
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert!(
        out.body
            .contains("desk@acme is disconnected: Acme Mail confirmed the revocation"),
        "{}",
        out.body
    );
    let r = row(&out, "desk@acme");
    assert!(
        r.contains(r#"<span class="status revoked">revoked</span>"#),
        "{r}"
    );
    assert!(r.contains("Reconnect"), "{r}");
    assert!(!r.contains("Disconnect desk@acme"), "{r}");
    assert_eq!(v.connection("desk@acme").await["status"], "revoked");
    let seen = v
        .provider
        .introspect(
            crate::integrations::CLIENT_ID,
            &v.client_secret,
            "client_secret_basic",
            access,
        )
        .await;
    assert_eq!(seen["active"], false, "{seen}");

    // Delete.
    let gone = b
        .post(&format!("{PAGE}/connections/desk%40acme/delete"), &[])
        .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.body);
    assert_eq!(gone.location(), Some("/console/integrations?done=deleted"));
    let page = b.get(gone.location().unwrap()).await;
    assert!(
        page.body.contains("The connection is deleted"),
        "{}",
        page.body
    );
    assert!(page.body.contains("No connections yet."));
    let r = v.app.get("/v1/connections/desk@acme", v.token()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_wrong_connect_form_comes_back_and_every_form_needs_its_token() {
    let Some(v) = Vault::start().await else {
        return;
    };
    let b = owner(&v.app).await;
    b.get(PAGE).await;
    let bad = b
        .post(
            &format!("{PAGE}/{PROVIDER}/connect"),
            &[("connection_id", "has spaces"), ("scopes", "write")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains(r#"role="alert""#), "{}", bad.body);
    assert!(bad.body.contains("letters, digits"), "{}", bad.body);
    assert!(bad.body.contains(r#"value="has spaces""#));
    assert!(bad.body.contains(r#"name="scopes" value="write" checked"#));
    let unknown = b
        .post(
            &format!("{PAGE}/{PROVIDER}/connect"),
            &[("connection_id", "x"), ("scopes", "admin")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    let nowhere = b
        .post(&format!("{PAGE}/slack/connect"), &[("connection_id", "x")])
        .await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND, "{}", nowhere.body);
    assert!(nowhere.body.contains("integration_not_found"));

    // Without `_csrf`, nothing is started, disconnected or deleted.
    assert_eq!(v.connect("kept").await.status, StatusCode::OK);
    for (path, fields) in [
        (
            format!("{PAGE}/{PROVIDER}/connect"),
            vec![("connection_id", "sneaky")],
        ),
        (format!("{PAGE}/connections/kept/disconnect"), vec![]),
        (format!("{PAGE}/connections/kept/delete"), vec![]),
    ] {
        let r = b.post_raw(&path, &fields, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
        assert!(r.body.contains("csrf_failed"), "{}", r.body);
    }
    assert_eq!(v.connection("kept").await["status"], "active");
    let r = v.app.get("/v1/connections/sneaky", v.token()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_connection_that_needs_reauth_is_reconnected_from_its_row() {
    let Some(v) = Vault::start().await else {
        return;
    };
    assert_eq!(v.connect("u").await.status, StatusCode::OK);
    v.provider.revoke_all().await;
    let r = v
        .app
        .post("/v1/connections/u/refresh", v.token(), json!({}))
        .await;
    assert_eq!(r.code(), "connection_needs_reauth", "{}", r.body);

    let b = owner(&v.app).await;
    let page = b.get(PAGE).await;
    let r = row(&page, "u");
    assert!(
        r.contains(r#"<span class="status reauth">needs re-auth</span>"#),
        "{r}"
    );
    assert!(r.contains("<td>no</td>"), "{r}");
    assert!(r.contains("invalid_grant"), "the last error: {r}");
    let link = "/console/integrations?reconnect=u#connect-acme";
    assert!(r.contains(link), "{r}");
    // The link fills the form with the connection's id and scopes.
    let page = b.get(link).await;
    assert!(page.body.contains(r#"name="connection_id" value="u""#));
    assert!(page.body.contains(r#"name="scopes" value="read" checked"#));
    assert!(page.body.contains(r#"name="scopes" value="write" checked"#));
    assert!(!page
        .body
        .contains(r#"name="scopes" value="mail.read" checked"#));

    connect_through_page(
        &v,
        &b,
        &[
            ("connection_id", "u"),
            ("scopes", "read"),
            ("scopes", "write"),
        ],
    )
    .await;
    let page = b.get(PAGE).await;
    let r = row(&page, "u");
    assert!(
        r.contains(r#"<span class="status active">active</span>"#),
        "{r}"
    );
    assert!(!r.contains("Reconnect"), "{r}");
}

#[tokio::test]
async fn a_member_sees_connections_without_forms_and_is_refused() {
    let Some(v) = Vault::start().await else {
        return;
    };
    assert_eq!(v.connect("shared").await.status, StatusCode::OK);
    let (m, _, _) = person(&v.app, "dev@company.com", "member").await;
    let page = m.get(PAGE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let r = row(&page, "shared");
    assert!(r.contains("status active"), "{r}");
    assert!(!page.body.contains("Disconnect"), "{}", page.body);
    assert!(!page.body.contains("Delete shared"));
    assert!(!page.body.contains("/connect\""), "no Connect form");
    assert!(page.body.contains("Acme Mail"));
    // Their forms, with their own valid token, are refused by the API.
    for path in [
        format!("{PAGE}/connections/shared/disconnect"),
        format!("{PAGE}/connections/shared/delete"),
    ] {
        let r = m.post(&path, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
        assert!(!r.body.contains("csrf_failed"), "{}", r.body);
    }
    let r = m
        .post(
            &format!("{PAGE}/{PROVIDER}/connect"),
            &[("connection_id", "mine")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(v.connection("shared").await["status"], "active");
}

#[tokio::test]
async fn without_integrations_the_page_says_how_to_configure_one() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let page = b.get(PAGE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("No integration is configured"));
    assert!(
        page.body.contains("client_id: ${GMAIL_CLIENT_ID}"),
        "{}",
        page.body
    );
    assert!(page.body.contains("enabled: true"));
    assert!(page.body.contains("No connections yet."));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self';"), "{csp}");
}
