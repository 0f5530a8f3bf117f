//! Settings → Workers: the empty state with the commands to run, workers with their
//! status badge, the filters, one worker's troubleshooting table, Remove (confirmed,
//! CSRF-checked, audited like the API's), and a member who reads without the form.

use super::{owner, person};
use crate::common::TestApp;
use crate::workers::{register, worker_key, workspace};
use chrono::Duration;
use reqwest::StatusCode;

const PAGE: &str = "/console/settings/workers";

#[tokio::test]
async fn the_empty_page_says_what_to_run() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let page = b.get(PAGE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<h1>Workers</h1>"), "{}", page.body);
    assert!(page
        .body
        .contains(r#"href="/console/settings/workers" aria-current="page""#));
    assert!(page.body.contains("No workers yet."), "{}", page.body);
    assert!(
        page.body
            .contains("keyward login --token &lt;worker key&gt;\nkeyward worker"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn workers_are_listed_filtered_shown_and_removed() {
    let app = TestApp::spawn().await;
    let ws1 = workspace(&app, "production").await;
    let ws2 = workspace(&app, "staging").await;
    let (_, k1) = worker_key(&app, &ws1, "prod-worker").await;
    let (_, k2) = worker_key(&app, &ws2, "staging-worker").await;
    let prod = register(&app, &ws1, &k1, "prod-box", &["gpu"]).await;
    let _staging = register(&app, &ws2, &k2, "staging<box>", &[]).await;
    let b = owner(&app).await;

    let page = b.get(PAGE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(">prod-box</a>"), "{}", page.body);
    assert!(
        page.body.contains("staging&lt;box&gt;"),
        "escaped: {}",
        page.body
    );
    assert!(!page.body.contains("staging<box>"));
    assert!(page
        .body
        .contains(r#"<span class="status active">online</span>"#));
    assert!(page.body.contains("<code>gpu</code>"));
    assert!(page.body.contains("prod-box.local"));
    let only_prod = b.get(&format!("{PAGE}?workspace={ws1}&status=")).await;
    assert!(only_prod.body.contains(">prod-box</a>"));
    assert!(!only_prod.body.contains("staging&lt;box&gt;"));
    app.clock.advance(Duration::seconds(40));
    let stale = b.get(&format!("{PAGE}?status=stale")).await;
    assert!(
        stale
            .body
            .contains(r#"<span class="status pending">stale</span>"#),
        "{}",
        stale.body
    );
    let online = b.get(&format!("{PAGE}?status=online")).await;
    assert!(
        online.body.contains("No workers match these filters."),
        "{}",
        online.body
    );

    let detail = b.get(&format!("{PAGE}/{prod}")).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert!(
        detail.body.contains("<h1>Worker prod-box</h1>"),
        "{}",
        detail.body
    );
    assert!(detail.body.contains("What Keyward sees"));
    assert!(detail.body.contains("Worker was connected and stopped"));
    assert!(
        detail.body.contains("No heartbeat for 40 s (2 missed)"),
        "{}",
        detail.body
    );
    assert!(detail.body.contains("1 of 25 active worker keys"));
    assert!(detail
        .body
        .contains(&format!(r#"action="{PAGE}/{prod}/remove""#)));

    // Without the CSRF token: refused before anything runs.
    let forged = b.post_raw(&format!("{PAGE}/{prod}/remove"), &[], &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert_eq!(
        app.get("/v1/workers", &app.owner_token).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let removed = b.post(&format!("{PAGE}/{prod}/remove"), &[]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    assert_eq!(
        removed.location(),
        Some("/console/settings/workers?done=removed")
    );
    let page = b.get(removed.location().unwrap()).await;
    assert!(page.body.contains("The worker is removed"), "{}", page.body);
    assert!(!page.body.contains(">prod-box</a>"));
    let audit = app
        .get("/v1/audit-log?action=worker.remove", &app.owner_token)
        .await;
    assert!(audit.body.to_string().contains(&prod), "{}", audit.body);
    let gone = b.get(&format!("{PAGE}/{prod}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_member_reads_without_the_remove_form_and_is_refused() {
    let app = TestApp::spawn().await;
    let ws = workspace(&app, "production").await;
    let (_, key) = worker_key(&app, &ws, "prod-worker").await;
    let id = register(&app, &ws, &key, "prod-box", &[]).await;
    let (m, _, _) = person(&app, "dev@company.com", "member").await;
    let page = m.get(PAGE).await;
    assert!(page.body.contains(">prod-box</a>"), "{}", page.body);
    let detail = m.get(&format!("{PAGE}/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert!(!detail.body.contains("Remove prod-box"), "{}", detail.body);
    let r = m.post(&format!("{PAGE}/{id}/remove"), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(!r.body.contains("csrf_failed"), "{}", r.body);
    assert_eq!(
        app.get("/v1/workers", &app.owner_token).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
