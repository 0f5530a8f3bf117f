//! Settings → Webhooks: the endpoints and their forms for the owner, a new endpoint's
//! signing secret shown once on the 201 page (and neither it nor the provider's secret
//! typed in ever again), disabling, deleting, rotating, the delivery log, and a member
//! who only reads.

use super::{owner, person, Page};
use crate::common::TestApp;
use reqwest::StatusCode;

const PAGE: &str = "/console/settings/webhooks";
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// The row of the endpoint named `name` (from its name's link to the end of the row).
fn row<'a>(page: &'a Page, name: &str) -> &'a str {
    let cell = format!(">{name}</a>");
    let start = page
        .body
        .find(&cell)
        .unwrap_or_else(|| panic!("no row of {name}: {}", page.body));
    let end = page.body[start..].find("</tr>").unwrap() + start;
    &page.body[start..end]
}

/// The value of the first input whose value starts with `prefix`.
fn value_starting(page: &Page, prefix: &str) -> String {
    let needle = format!("value=\"{prefix}");
    let start = page
        .body
        .find(&needle)
        .unwrap_or_else(|| panic!("no value {prefix}…: {}", page.body))
        + "value=\"".len();
    let end = page.body[start..].find('"').unwrap() + start;
    page.body[start..end].to_owned()
}

/// The endpoints the API lists, as JSON.
async fn endpoints(app: &TestApp) -> Vec<serde_json::Value> {
    let r = app.get("/v1/webhook-endpoints", &app.owner_token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

/// Creates a Slack endpoint through the page: the 201 page.
async fn create_slack(b: &super::Browser, name: &str) -> Page {
    b.get(PAGE).await;
    b.post(
        PAGE,
        &[
            ("provider", "slack"),
            ("name", name),
            ("destination", "https://app.example.com/hooks/slack"),
            ("secret", SLACK_SECRET),
            ("verify_token", ""),
            ("workspace", ""),
        ],
    )
    .await
}

#[tokio::test]
async fn the_page_renders_for_the_owner_with_the_create_form() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let page = b.get(PAGE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<h1>Webhooks</h1>"), "{}", page.body);
    assert!(page.body.contains("No webhook endpoints yet."));
    assert!(page
        .body
        .contains(r#"href="/console/settings/webhooks" aria-current="page""#));
    assert!(page.body.contains(r#"action="/console/settings/webhooks""#));
    for p in ["whatsapp", "slack", "telegram", "discord", "standard"] {
        assert!(
            page.body.contains(&format!(r#"<option value="{p}""#)),
            "{p}: {}",
            page.body
        );
    }
    assert!(page.body.contains(r#"type="password" name="secret""#));
    assert!(page.body.contains("Slack signing secret"));
    assert!(page.body.contains(r#"name="verify_token""#));
}

#[tokio::test]
async fn a_new_endpoints_signing_secret_is_shown_once() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let created = create_slack(&b, "support").await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.location().is_none());
    let secret = value_starting(&created, "whsec_");
    assert!(secret.len() > "whsec_".len() + 20, "{secret}");
    assert_eq!(created.body.matches(&secret).count(), 1, "{}", created.body);
    assert!(created.body.contains("will not be shown again"));
    assert!(created.body.contains(r#"data-copy="new-secret-0""#));
    assert!(!created.body.contains(SLACK_SECRET), "{}", created.body);

    let listed = endpoints(&app).await;
    assert_eq!(listed.len(), 1);
    let ingress = listed[0]["ingress_url"].as_str().unwrap().to_owned();

    let page = b.get(PAGE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(!page.body.contains(&secret), "{}", page.body);
    assert!(!page.body.contains(SLACK_SECRET), "{}", page.body);
    assert!(!page.body.contains(r#"value="whsec_"#), "{}", page.body);
    let r = row(&page, "support");
    assert!(r.contains("Slack"), "{r}");
    assert!(
        r.contains(r#"<span class="status active">enabled</span>"#),
        "{r}"
    );
    assert!(r.contains(&ingress), "{r}");
    assert!(r.contains("https://app.example.com/hooks/slack"), "{r}");
    assert!(r.contains("Copy the ingress URL of support"), "{r}");
}

#[tokio::test]
async fn a_wrong_create_form_comes_back_without_its_secret() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    b.get(PAGE).await;
    let back = b
        .post(
            PAGE,
            &[
                ("provider", "whatsapp"),
                ("name", "meta"),
                ("destination", "https://app.example.com/hooks/wa"),
                ("secret", SLACK_SECRET),
            ],
        )
        .await;
    assert_eq!(
        back.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        back.body
    );
    assert!(back.body.contains("verify_token"), "{}", back.body);
    assert!(back.body.contains(r#"value="meta""#), "{}", back.body);
    assert!(!back.body.contains(SLACK_SECRET), "{}", back.body);
    assert!(endpoints(&app).await.is_empty());
}

#[tokio::test]
async fn disable_enable_rotate_and_delete_through_the_page() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let first = create_slack(&b, "support").await;
    let first_secret = value_starting(&first, "whsec_");
    let id = endpoints(&app).await[0]["id"].as_str().unwrap().to_owned();
    let base = format!("{PAGE}/{id}");

    let page = b.get(PAGE).await;
    assert!(row(&page, "support").contains("Disable support"));
    let off = b
        .post(&format!("{base}/enabled"), &[("enabled", "false")])
        .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.body);
    let page = b.get(off.location().unwrap()).await;
    let r = row(&page, "support");
    assert!(
        r.contains(r#"<span class="status disabled">disabled</span>"#),
        "{r}"
    );
    assert!(r.contains("Enable support"), "{r}");
    assert_eq!(endpoints(&app).await[0]["status"], "disabled");

    let on = b
        .post(&format!("{base}/enabled"), &[("enabled", "true")])
        .await;
    assert_eq!(on.status, StatusCode::SEE_OTHER, "{}", on.body);
    assert_eq!(endpoints(&app).await[0]["status"], "enabled");

    // Rotating shows the new secret once, and the old one keeps signing beside it.
    b.get(PAGE).await;
    let rotated = b.post(&format!("{base}/rotate"), &[]).await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.body);
    let second = value_starting(&rotated, "whsec_");
    assert_ne!(second, first_secret);
    assert!(!rotated.body.contains(&first_secret));
    assert_eq!(
        endpoints(&app).await[0]["signing_secrets"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let page = b.get(PAGE).await;
    assert!(!page.body.contains(&second));

    let gone = b.post(&format!("{base}/delete"), &[]).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.body);
    let page = b.get(gone.location().unwrap()).await;
    assert!(
        page.body.contains("The endpoint is deleted"),
        "{}",
        page.body
    );
    assert!(page.body.contains("No webhook endpoints yet."));
    assert!(endpoints(&app).await.is_empty());
}

#[tokio::test]
async fn the_delivery_page_renders_with_its_replay_form() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    create_slack(&b, "support").await;
    let id = endpoints(&app).await[0]["id"].as_str().unwrap().to_owned();
    let page = b.get(&format!("{PAGE}/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Deliveries of support"), "{}", page.body);
    assert!(page.body.contains("No deliveries yet."));
    assert!(page.body.contains(r#"type="datetime-local" name="since""#));
    assert!(page
        .body
        .contains(r#"href="/console/settings/webhooks" aria-current="page""#));
    // Nothing failed since yesterday: nothing is replayed.
    let since = (app.clock.now() - chrono::Duration::days(1))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let r = b
        .post(&format!("{PAGE}/{id}/replay"), &[("since", &since)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        r.location(),
        Some(format!("{PAGE}/{id}?replayed=0").as_str())
    );
    let bad = b
        .post(&format!("{PAGE}/{id}/replay"), &[("since", "yesterday")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let missing = b.get(&format!("{PAGE}/wh_nope")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
}

#[tokio::test]
async fn a_member_reads_without_forms_and_is_refused() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    create_slack(&b, "support").await;
    let id = endpoints(&app).await[0]["id"].as_str().unwrap().to_owned();
    let (m, _, _) = person(&app, "dev@company.com", "member").await;
    let page = m.get(PAGE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(">support</a>"), "{}", page.body);
    assert!(!page.body.contains("New endpoint"), "{}", page.body);
    assert!(!page.body.contains(r#"name="provider""#), "no create form");
    assert!(!page.body.contains("Disable support"));
    assert!(!page.body.contains("Delete support"));
    assert!(!page.body.contains("Rotate the signing secret"));
    let log = m.get(&format!("{PAGE}/{id}")).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    assert!(!log.body.contains(r#"name="since""#), "{}", log.body);
    // Their forms, with their own valid token, are refused by the API.
    for (path, fields) in [
        (format!("{PAGE}/{id}/enabled"), vec![("enabled", "false")]),
        (format!("{PAGE}/{id}/delete"), vec![]),
        (format!("{PAGE}/{id}/rotate"), vec![]),
    ] {
        let r = m.post(&path, &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
        assert!(!r.body.contains("csrf_failed"), "{}", r.body);
    }
    let r = m
        .post(
            PAGE,
            &[
                ("provider", "slack"),
                ("name", "mine"),
                ("destination", "https://app.example.com/x"),
                ("secret", SLACK_SECRET),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let listed = endpoints(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "enabled");
}

#[tokio::test]
async fn every_form_needs_its_token() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    b.get(PAGE).await;
    let r = b
        .post_raw(
            PAGE,
            &[
                ("provider", "slack"),
                ("name", "support"),
                ("destination", "https://app.example.com/hooks/slack"),
                ("secret", SLACK_SECRET),
            ],
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(endpoints(&app).await.is_empty());
}

use keyward_core::Clock as _;
