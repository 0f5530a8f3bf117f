//! Regression tests for the holes a hostile review found: races with deletions,
//! invitations that handed out credentials, admins locking owners out, the audit log,
//! chained rotations and organization creation. Each runs on SQLite, and on PostgreSQL
//! with `KEYWARD_TEST_BACKEND=postgres` (`.ci/run` runs both).

use crate::common;

use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Creates keys with `token` from `clients` tasks until `stop` is set or the token is
/// refused; each task returns the raw keys it created. Returns once the tasks together
/// have created a few, so the deletion that follows races creates in flight.
async fn create_until_stopped(
    app: &Arc<TestApp>,
    token: &str,
    clients: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    create_at_until_stopped(app, token, "/v1/keys", json!({}), clients, stop).await
}

/// As [`create_until_stopped`], posting `body` (plus a fresh name) to `path`; a 404
/// (what the keys belong to is gone) ends a task like a 401.
async fn create_at_until_stopped(
    app: &Arc<TestApp>,
    token: &str,
    path: &str,
    body: serde_json::Value,
    clients: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    let created = Arc::new(AtomicUsize::new(0));
    let tasks = (0..clients)
        .map(|i| {
            let (app, token, stop) = (app.clone(), token.to_owned(), stop.clone());
            let (path, body) = (path.to_owned(), body.clone());
            let created = created.clone();
            tokio::spawn(async move {
                let mut made = vec![];
                for n in 0..1000 {
                    if stop.load(Ordering::SeqCst) && n > 0 {
                        break;
                    }
                    let mut body = body.clone();
                    body["name"] = json!(format!("racer {i}.{n}"));
                    let r = app.post(&path, &token, body).await;
                    match r.status {
                        StatusCode::CREATED => {
                            created.fetch_add(1, Ordering::SeqCst);
                            made.push(r.body["key"].as_str().unwrap().to_owned())
                        }
                        StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND => break,
                        other => panic!("unexpected {other}: {}", r.body),
                    }
                }
                made
            })
        })
        .collect();
    for _ in 0..2000 {
        if created.load(Ordering::SeqCst) >= clients {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tasks
}

/// 50 clients create keys with a member's token while an admin removes the member:
/// once the removal has returned, none of the keys works, wherever it was created in
/// the race, and the member's token can create nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_created_while_their_member_is_removed_stop_working() {
    let app = Arc::new(TestApp::spawn().await);
    for round in 0..3 {
        let (member, member_id) = app
            .join(&format!("racer{round}@company.com"), "member", &[])
            .await;
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = create_until_stopped(&app, &member, 50, &stop).await;
        let r = app
            .delete(&format!("/v1/members/{member_id}"), &app.owner_token)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        stop.store(true, Ordering::SeqCst);
        let mut made = vec![];
        for t in tasks {
            made.extend(t.await.unwrap());
        }
        assert!(!made.is_empty(), "round {round}: the race created no key");
        let mut valid = 0;
        for key in &made {
            if app.verify_code(key).await == "VALID" {
                valid += 1;
            }
        }
        assert_eq!(
            valid,
            0,
            "round {round}: {valid} of {} keys survived",
            made.len()
        );
        let r = app.post("/v1/keys", &member, json!({"name": "late"})).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
}

/// Keys of a service account, and tokens of a channel, created by 50 clients while an
/// admin deletes the account or the channel: none of them works afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn service_account_keys_and_channel_tokens_do_not_outlive_their_deletion() {
    let app = Arc::new(TestApp::spawn().await);
    let t = app.owner_token.clone();
    let sa = app
        .post(
            "/v1/service-accounts",
            &t,
            json!({"name": "bot", "scopes": "keys:read"}),
        )
        .await;
    let sa_id = sa.body["id"].as_str().unwrap().to_owned();
    let agent = app
        .post("/v1/agents", &t, json!({"name": "bot"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let channel = app
        .post("/v1/channels", &t, json!({"agent": agent, "name": "c"}))
        .await;
    let channel_id = channel.body["id"].as_str().unwrap().to_owned();
    for (path, body, delete) in [
        (
            format!("/v1/service-accounts/{sa_id}/keys"),
            json!({}),
            format!("/v1/service-accounts/{sa_id}"),
        ),
        (
            "/v1/keys".to_owned(),
            json!({"kind": "channel", "channel": channel_id}),
            format!("/v1/channels/{channel_id}"),
        ),
    ] {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = create_at_until_stopped(&app, &t, &path, body, 50, &stop).await;
        let r = app.delete(&delete, &t).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        stop.store(true, Ordering::SeqCst);
        let mut made = vec![];
        for task in tasks {
            made.extend(task.await.unwrap());
        }
        assert!(!made.is_empty(), "{path}: the race created nothing");
        for key in &made {
            assert_ne!(
                app.verify_code(key).await,
                "VALID",
                "{path}: a key survived"
            );
        }
    }
}

/// Keys of an organization created while it is deleted die with it; the survivors that
/// once created workspaces and new owners cannot act any more, and the organization is
/// gone for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_created_while_their_organization_is_deleted_stop_working() {
    let app = Arc::new(TestApp::spawn().await);
    let created = app
        .post(
            "/v1/organizations",
            &app.owner_token,
            json!({"name": "doomed"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let token = created.body["token"]["key"].as_str().unwrap().to_owned();
    let org_id = created.body["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch(
            &format!("/v1/organizations/{org_id}"),
            &token,
            json!({"settings": {"max_keys": 1000000}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = create_until_stopped(&app, &token, 50, &stop).await;
    let r = app
        .delete(&format!("/v1/organizations/{org_id}"), &token)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    stop.store(true, Ordering::SeqCst);
    let mut made = vec![];
    for t in tasks {
        made.extend(t.await.unwrap());
    }
    assert!(!made.is_empty());
    for key in &made {
        let me = app.get("/v1/me", key).await;
        assert_eq!(
            me.status,
            StatusCode::UNAUTHORIZED,
            "a key survived: {}",
            me.body
        );
        let ws = app.post("/v1/workspaces", key, json!({"name": "x"})).await;
        assert_eq!(ws.status, StatusCode::UNAUTHORIZED);
    }
}

/// An invitation hands the inviter a one-time code, never a token of the invited person;
/// a person who already has an account redeems only with their own token, once.
#[tokio::test]
async fn invitations_never_hand_the_inviter_a_credential() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    // A victim who belongs to another organization.
    let other = app
        .post("/v1/organizations", t, json!({"name": "victim-co"}))
        .await;
    let victim_owner = other.body["token"]["key"].as_str().unwrap().to_owned();
    let victim_org = other.body["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            "/v1/invitations",
            &victim_owner,
            json!({"email": "victim@company.com", "role": "member"}),
        )
        .await;
    let code = r.body["code"].as_str().unwrap().to_owned();
    assert!(r.body.get("token").is_none(), "{}", r.body);
    let accepted = app.accept(&code, None).await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.body);
    let victim = accepted.body["token"]["key"].as_str().unwrap().to_owned();
    assert_eq!(app.accept(&code, None).await.code(), "invitation_used");

    // The attacker (an admin of acme) invites the victim's email.
    let (attacker, _) = app.join("mallory@company.com", "org_admin", &[]).await;
    let r = app
        .post(
            "/v1/invitations",
            &attacker,
            json!({"email": "Victim@Company.com", "role": "member"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let text = r.body.to_string();
    assert!(
        !text.contains("kw_pat_"),
        "the invitation holds a token: {text}"
    );
    let code = r.body["code"].as_str().unwrap().to_owned();
    // Redeeming it without the victim's own token, or with someone else's, is refused.
    for token in [None, Some(attacker.as_str())] {
        let r = app.accept(&code, token).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "identity_required"),
            "{}",
            r.body
        );
    }
    // The victim accepts with their own token; their new token sees only acme.
    let r = app.accept(&code, Some(&victim)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let in_acme = r.body["token"]["key"].as_str().unwrap().to_owned();
    let orgs = app.get("/v1/me/organizations", &in_acme).await;
    assert_eq!(orgs.body.as_array().unwrap().len(), 1, "{}", orgs.body);
    assert_eq!(orgs.body[0]["name"], "acme");
    let orgs = app.get("/v1/me/organizations", &victim).await;
    let names: Vec<_> = orgs
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].clone())
        .collect();
    assert_eq!(names, vec![json!(victim_org)]);

    // Codes expire, can be revoked, and are refused when mistyped.
    let code = app
        .invite(
            t,
            json!({"email": "late@company.com", "role": "member", "expires": "1h"}),
        )
        .await;
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(app.accept(&code, None).await.code(), "invitation_expired");
    let r = app
        .post(
            "/v1/invitations",
            t,
            json!({"email": "maybe@company.com", "role": "member"}),
        )
        .await;
    let (code, id) = (
        r.body["code"].as_str().unwrap().to_owned(),
        r.body["invitation"]["id"].as_str().unwrap().to_owned(),
    );
    let listed = app.get("/v1/invitations", t).await;
    assert!(listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["id"] == id));
    assert!(!listed.body.to_string().contains(&code));
    assert_eq!(
        app.delete(&format!("/v1/invitations/{id}"), t).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.accept(&code, None).await.code(), "invitation_expired");
    let mut typo = code.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    let r = app.accept(&String::from_utf8(typo).unwrap(), None).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("code"))
    );
}

/// Two redemptions of one code at once: exactly one person joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invitation_is_redeemed_once_under_concurrency() {
    let app = Arc::new(TestApp::spawn().await);
    let code = app
        .invite(
            &app.owner_token,
            json!({"email": "once@company.com", "role": "member"}),
        )
        .await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (app, code) = (app.clone(), code.clone());
            tokio::spawn(async move { app.accept(&code, None).await.status })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::CREATED {
            created += 1;
        }
    }
    assert_eq!(created, 1);
}

/// An org admin cannot throttle, switch off or revoke owners (or other admins); an
/// owner can limit an admin.
#[tokio::test]
async fn admins_cannot_lock_owners_out() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let owner_id = app.get("/v1/me", t).await.body["owner"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (admin, admin_id) = app.join("admin@company.com", "org_admin", &[]).await;
    let (other_admin, _) = app.join("admin2@company.com", "org_admin", &[]).await;
    let (_, member_id) = app.join("dev@company.com", "member", &[]).await;
    let limit = json!({"ratelimit": {"limit": 1, "period": "30d"}});
    for target in [&owner_id, &admin_id] {
        let r = app
            .send(
                reqwest::Method::PUT,
                &format!("/v1/owner-limits/user/{target}"),
                Some(&other_admin),
                Some(limit.clone()),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "role_forbidden"),
            "{}",
            r.body
        );
    }
    for _ in 0..3 {
        assert_eq!(app.get("/v1/me", t).await.status, StatusCode::OK);
    }
    let owner_key = app.get("/v1/me", t).await.body["key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, body) in [
        (reqwest::Method::PATCH, Some(json!({"enabled": false}))),
        (reqwest::Method::PATCH, Some(limit.clone())),
        (reqwest::Method::DELETE, None),
        (reqwest::Method::POST, None),
    ] {
        let path = if method == reqwest::Method::POST {
            format!("/v1/keys/{owner_key}/rotate")
        } else {
            format!("/v1/keys/{owner_key}")
        };
        let r = app.send(method.clone(), &path, Some(&admin), body).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.body
        );
    }
    assert_eq!(app.get("/v1/me", t).await.status, StatusCode::OK);
    // Below their rank, admins do limit.
    let r = app
        .send(
            reqwest::Method::PUT,
            &format!("/v1/owner-limits/user/{member_id}"),
            Some(&admin),
            Some(limit.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Owners limit admins, and admins are then limited.
    let r = app
        .send(
            reqwest::Method::PUT,
            &format!("/v1/owner-limits/user/{admin_id}"),
            Some(t),
            Some(limit),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.clock.advance(chrono::Duration::seconds(10));
    assert_eq!(app.get("/v1/me", &admin).await.status, StatusCode::OK);
    assert_eq!(app.get("/v1/me", &admin).await.code(), "rate_limited");
    // An admin can neither make nor unmake an admin, nor remove one.
    let r = app
        .patch(
            &format!("/v1/members/{member_id}"),
            &other_admin,
            json!({"role": "org_admin"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .delete(&format!("/v1/members/{admin_id}"), &other_admin)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

/// The audit log is for owners and admins; a member sees events about their own keys
/// only (no other actors, no source addresses of others).
#[tokio::test]
async fn members_read_only_the_audit_events_of_their_own_keys() {
    let app = TestApp::spawn().await;
    let (member, _) = app.join("dev@company.com", "member", &[]).await;
    let (admin, _) = app.join("admin@company.com", "org_admin", &[]).await;
    let mine = app.post("/v1/keys", &member, json!({"name": "mine"})).await;
    let mine_id = mine.body["id"].as_str().unwrap().to_owned();
    app.create_key(json!({"name": "someone else's"})).await;
    app.post("/v1/workspaces", &app.owner_token, json!({"name": "prod"}))
        .await;
    let seen = app.get("/v1/audit-log", &member).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    let events = seen.body["data"].as_array().unwrap();
    assert!(!events.is_empty());
    for e in events {
        assert_eq!(e["target"]["type"], "key", "{e}");
        assert!(
            e["target"]["id"] == mine_id
                || e["details"]["name"]
                    .as_str()
                    .is_some_and(|n| n.contains("first token")),
            "a member saw {e}"
        );
    }
    assert!(events.iter().any(|e| e["target"]["id"] == mine_id));
    let all = app.get("/v1/audit-log", &admin).await;
    let all = all.body["data"].as_array().unwrap();
    assert!(all.iter().any(|e| e["action"] == "workspace.create"));
    assert!(all.len() > events.len());
}

/// Rotating a replacement while its predecessor is in grace ends that grace at once, so
/// chained rotations cannot multiply working keys past the organization's limit.
#[tokio::test]
async fn chained_rotations_keep_one_key_in_grace() {
    let app = TestApp::spawn().await;
    let org = app.org_id().await;
    let r = app
        .patch(
            &format!("/v1/organizations/{org}"),
            &app.owner_token,
            json!({"settings": {"max_keys": 10}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let existing = app.get("/v1/keys", &app.owner_token).await.body["data"]
        .as_array()
        .unwrap()
        .len();
    let mut raws = vec![app.owner_token.clone()];
    let mut last = String::new();
    for i in existing..10 {
        let (raw, id) = app
            .create_key(json!({"name": format!("k{i}"), "kind": "api"}))
            .await;
        raws.push(raw);
        last = id;
    }
    for _ in 0..20 {
        let r = app
            .post(
                &format!("/v1/keys/{last}/rotate"),
                &app.owner_token,
                json!({"grace": "30d"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        raws.push(r.body["key"].as_str().unwrap().to_owned());
        last = r.body["id"].as_str().unwrap().to_owned();
    }
    let mut valid = 0;
    for raw in &raws {
        if app.verify_code(raw).await == "VALID" {
            valid += 1;
        }
    }
    // Ten keys, plus the one predecessor of the rotated key still in its grace period.
    assert_eq!(valid, 11);
}

/// A narrow key creates an organization whose first token is no wider than it; the
/// server can forbid creating organizations and caps them per person.
#[tokio::test]
async fn new_organizations_grant_no_more_than_their_creator() {
    let app = TestApp::spawn().await;
    let (narrow, _) = app
        .create_key(json!({"name": "narrow", "permissions": ["organizations:write"]}))
        .await;
    let r = app
        .post("/v1/organizations", &narrow, json!({"name": "sneaky"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["token"]["permissions"],
        json!(["organizations:write"])
    );
    let token = r.body["token"]["key"].as_str().unwrap().to_owned();
    let r = app.post("/v1/keys", &token, json!({"name": "all"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // The per-person cap (default 10) counts the organizations this person created.
    let mut last = StatusCode::CREATED;
    for i in 0..10 {
        last = app
            .post(
                "/v1/organizations",
                &app.owner_token,
                json!({"name": format!("org {i}")}),
            )
            .await
            .status;
    }
    assert_eq!(last, StatusCode::CONFLICT);
    let r = app
        .post(
            "/v1/organizations",
            &app.owner_token,
            json!({"name": "one more"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "org_limit_reached")
    );
}

#[tokio::test]
async fn a_server_can_forbid_creating_organizations() {
    let app = TestApp::spawn_with_settings(|s| s.policy.allow_org_creation = false).await;
    let r = app
        .post("/v1/organizations", &app.owner_token, json!({"name": "x"}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "org_creation_disabled")
    );
}

/// Verify answers FORBIDDEN for a workspace or agent that is not the key's
/// organization's (another tenant's, or none at all), and honours the channel however
/// it is named: `channel`, `hookId` or `X-Hook-Id`, refusing two that differ.
#[tokio::test]
async fn verify_checks_that_workspaces_agents_and_channels_are_the_keys() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let ws = app
        .post("/v1/workspaces", t, json!({"name": "prod"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let agent = app.post("/v1/agents", t, json!({"name": "bot"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let hook = app
        .post("/v1/channels", t, json!({"agent": agent, "name": "c"}))
        .await
        .body["hook_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app
        .post("/v1/organizations", t, json!({"name": "tenant-b"}))
        .await;
    let b = other.body["token"]["key"].as_str().unwrap().to_owned();
    let b_ws = app
        .post("/v1/workspaces", &b, json!({"name": "theirs"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_agent = app
        .post("/v1/agents", &b, json!({"name": "theirs"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (key, _) = app
        .create_key(json!({"name": "org-wide", "kind": "api"}))
        .await;
    let verify = |body: serde_json::Value| async {
        let mut body = body;
        body["key"] = json!(key);
        app.post("/v1/keys/verify", t, body).await
    };
    for (field, id) in [
        ("workspace", b_ws.as_str()),
        ("workspace", "ws_doesnotexist"),
        ("agent", b_agent.as_str()),
        ("agent", "agt_doesnotexist"),
        ("workspace", agent.as_str()),
    ] {
        let r = verify(json!({ field: id })).await;
        assert_eq!(r.body["code"], "FORBIDDEN", "{field} {id}: {}", r.body);
    }
    assert_eq!(verify(json!({"workspace": ws})).await.body["code"], "VALID");
    assert_eq!(verify(json!({"agent": agent})).await.body["code"], "VALID");
    for body in [json!({"channel": hook}), json!({"hookId": hook})] {
        assert_eq!(verify(body).await.body["code"], "VALID");
    }
    assert_eq!(
        verify(json!({"hookId": "no-such-hook"})).await.body["code"],
        "CHANNEL_NOT_FOUND"
    );
    let with_header = |value: &str, body: serde_json::Value| {
        let mut body = body;
        body["key"] = json!(key);
        app.client
            .post(format!("{}/v1/keys/verify", app.base))
            .bearer_auth(t)
            .header("x-hook-id", value)
            .json(&body)
    };
    let r: serde_json::Value = with_header("no-such-hook", json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], "CHANNEL_NOT_FOUND");
    let r = with_header(&hook, json!({})).send().await.unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "VALID"
    );
    let r = with_header(&hook, json!({"hookId": "other"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "bad_request");
    let r = verify(json!({"channel": hook, "hookId": "x"})).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    // Deleting the channel takes it out of the index at once.
    let channels = app.get("/v1/channels", t).await;
    let id = channels.body[0]["id"].as_str().unwrap().to_owned();
    app.delete(&format!("/v1/channels/{id}"), t).await;
    assert_eq!(
        verify(json!({"channel": hook})).await.body["code"],
        "CHANNEL_NOT_FOUND"
    );
}

/// Rotating hands over the new secret: only a token's own person rotates it. An admin,
/// an agent admin, a service account or a legacy token that could (they reach the key)
/// would otherwise hold a working credential of someone else.
#[tokio::test]
async fn only_its_person_rotates_a_personal_token() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let org = app.org_id().await;
    app.patch(
        &format!("/v1/organizations/{org}"),
        t,
        json!({"settings": {"allow_legacy_tokens": true}}),
    )
    .await;
    let agent = app.post("/v1/agents", t, json!({"name": "bot"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ws = app
        .post("/v1/workspaces", t, json!({"name": "prod"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (admin, _) = app.join("admin@company.com", "org_admin", &[]).await;
    let (agent_admin, _) = app
        .join("agents@company.com", "agent_admin", &[&agent])
        .await;
    let (member, _) = app.join("dev@company.com", "member", &[]).await;
    let sa = app
        .post(
            "/v1/service-accounts",
            t,
            json!({"name": "ops", "scopes": ["keys:write", "keys:read"]}),
        )
        .await;
    let sa_key = sa.body["key"]["key"].as_str().unwrap().to_owned();
    let (legacy, _) = app
        .create_key(json!({"name": "legacy", "kind": "legacy_workspace", "workspace": ws}))
        .await;
    let theirs = app
        .post(
            "/v1/keys",
            &member,
            json!({"name": "agent pat", "scope": {"type": "agent", "agent": agent}}),
        )
        .await;
    let theirs = theirs.body["id"].as_str().unwrap().to_owned();
    for (who, token) in [
        ("an org admin", admin.as_str()),
        ("the agent's admin", agent_admin.as_str()),
        ("a service account", sa_key.as_str()),
        ("the owner", t.as_str()),
    ] {
        let r = app
            .post(&format!("/v1/keys/{theirs}/rotate"), token, json!({}))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {}", r.body);
        assert!(!r.body.to_string().contains("kw_pat_"), "{who}");
    }
    let r = app
        .post(&format!("/v1/keys/{theirs}/rotate"), &legacy, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "legacy: {}", r.body);
    // Revoking or switching it off stays possible; the person rotates their own.
    let r = app
        .patch(
            &format!("/v1/keys/{theirs}"),
            &admin,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post(&format!("/v1/keys/{theirs}/rotate"), &member, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

/// Someone removed from every organization (or whose organizations were deleted) has no
/// token left to prove who they are: an invitation alone brings them back.
#[tokio::test]
async fn a_removed_person_can_be_invited_back() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let (member, user_id) = app.join("back@company.com", "member", &[]).await;
    assert_eq!(
        app.delete(&format!("/v1/members/{user_id}"), t)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/v1/me", &member).await.status,
        StatusCode::UNAUTHORIZED
    );
    let code = app
        .invite(t, json!({"email": "back@company.com", "role": "member"}))
        .await;
    let r = app.accept(&code, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["member"]["user_id"],
        user_id.as_str(),
        "the same person"
    );
    let token = r.body["token"]["key"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/v1/me", &token).await.status, StatusCode::OK);
}

/// An admin's writes racing their demotion: once the demotion committed, none of their
/// admin writes is committed after it (the audit log is the order of commits).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_authorized_before_a_demotion_do_not_commit_after_it() {
    let app = Arc::new(TestApp::spawn().await);
    let (admin, admin_id) = app.join("demoted@company.com", "org_admin", &[]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (app, admin, stop) = (app.clone(), admin.clone(), stop.clone());
            tokio::spawn(async move {
                for n in 0..500 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let r = app
                        .post(
                            "/v1/workspaces",
                            &admin,
                            json!({"name": format!("ws {i}.{n}")}),
                        )
                        .await;
                    assert!(
                        r.status.is_success()
                            || r.status == StatusCode::FORBIDDEN
                            || r.code() == "authorization_changed",
                        "{}: {}",
                        r.status,
                        r.body
                    );
                }
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let r = app
        .patch(
            &format!("/v1/members/{admin_id}"),
            &app.owner_token,
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let mut events = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/audit-log?limit=100&cursor={c}"),
            None => "/v1/audit-log?limit=100".to_owned(),
        };
        let page = app.get(&path, &app.owner_token).await.body;
        events.extend(page["data"].as_array().unwrap().clone());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    events.reverse();
    let demotion = events
        .iter()
        .position(|e| e["action"] == "member.update" && e["target"]["id"] == admin_id.as_str())
        .expect("the demotion is audited");
    let late: Vec<_> = events[demotion..]
        .iter()
        .filter(|e| e["action"] == "workspace.create" && e["actor"]["id"] == admin_id.as_str())
        .collect();
    assert!(
        late.is_empty(),
        "{} admin writes committed after the demotion",
        late.len()
    );
    assert!(
        events[..demotion]
            .iter()
            .any(|e| e["action"] == "workspace.create"),
        "the race created nothing before the demotion"
    );
}

/// An invitation is only as good as its inviter now: demoting or narrowing the inviter
/// ends it, rotating the inviter's key does not; and an admin cannot replace an owner's
/// pending invitation by inviting the same email again.
#[tokio::test]
async fn invitations_follow_their_inviter() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let (admin, admin_id) = app.join("inviter@company.com", "org_admin", &[]).await;
    let admin_key = app.get("/v1/me", &admin).await.body["key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = app
        .invite(&admin, json!({"email": "b@company.com", "role": "member"}))
        .await;
    // Rotating the inviter's key carries its invitations over.
    let r = app
        .post(&format!("/v1/keys/{admin_key}/rotate"), &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let admin = r.body["key"].as_str().unwrap().to_owned();
    let rotated_code = app
        .invite(&admin, json!({"email": "c@company.com", "role": "member"}))
        .await;
    let r = app.accept(&code, None).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "after a rotation: {}",
        r.body
    );
    // Demoting the inviter ends what they handed out.
    let r = app
        .patch(
            &format!("/v1/members/{admin_id}"),
            t,
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        app.accept(&rotated_code, None).await.code(),
        "invitation_expired"
    );

    // Narrowing the inviter's key ends invitations it could no longer hand out.
    let (narrowable, narrowable_id) = app.create_key(json!({"name": "inviter key"})).await;
    let code = app
        .invite(
            &narrowable,
            json!({"email": "d@company.com", "role": "member"}),
        )
        .await;
    let r = app
        .patch(
            &format!("/v1/keys/{narrowable_id}"),
            t,
            json!({"permissions": ["members:read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.accept(&code, None).await.code(), "invitation_expired");

    // An owner's pending invitation is not an admin's to replace.
    app.invite(t, json!({"email": "boss@company.com", "role": "owner"}))
        .await;
    let (other_admin, _) = app.join("admin2@company.com", "org_admin", &[]).await;
    let r = app
        .post(
            "/v1/invitations",
            &other_admin,
            json!({"email": "boss@company.com", "role": "member"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "invitation_pending"),
        "{}",
        r.body
    );
}

/// What an admin imposes on a person's key (switching it off, limits, the
/// organization's default limits) the person cannot undo; what they did themselves,
/// they can.
#[tokio::test]
async fn people_cannot_undo_restrictions_others_put_on_their_keys() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let (member, _) = app.join("dev@company.com", "member", &[]).await;
    let (admin, _) = app.join("admin@company.com", "org_admin", &[]).await;
    let made = app.post("/v1/keys", &member, json!({"name": "mine"})).await;
    let id = made.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/keys/{id}");
    assert_eq!(
        app.patch(&path, &admin, json!({"enabled": false}))
            .await
            .status,
        StatusCode::OK
    );
    let r = app.patch(&path, &member, json!({"enabled": true})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        app.patch(&path, &admin, json!({"enabled": true}))
            .await
            .status,
        StatusCode::OK
    );
    // Their own switch they may flip back.
    assert_eq!(
        app.patch(&path, &member, json!({"enabled": false}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.patch(&path, &member, json!({"enabled": true}))
            .await
            .status,
        StatusCode::OK
    );
    // Switched off by its person, then by an admin: the admin's switch is the one that
    // holds.
    for (who, body) in [
        (&member, json!({"enabled": false})),
        (&admin, json!({"enabled": false})),
    ] {
        assert_eq!(app.patch(&path, who, body).await.status, StatusCode::OK);
    }
    let r = app.patch(&path, &member, json!({"enabled": true})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        app.get(&path, &admin).await.body["disabled_by"]
            .as_str()
            .map(|s| s.starts_with("usr_")),
        Some(true)
    );
    assert_eq!(
        app.patch(&path, &admin, json!({"enabled": true}))
            .await
            .status,
        StatusCode::OK
    );
    // Limits set by an admin stay.
    let limit = json!({"ratelimit": {"limit": 10, "period": "1m"}});
    assert_eq!(
        app.patch(&path, &admin, limit.clone()).await.status,
        StatusCode::OK
    );
    let r = app.patch(&path, &member, json!({"ratelimit": null})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // The organization's defaults are defaults, not a cap: a person may change them on
    // their own key, as they could by creating the key with limits of their own.
    let org = app.org_id().await;
    app.patch(
        &format!("/v1/organizations/{org}"),
        t,
        json!({"settings": {"default_ratelimit": {"limit": 100, "period": "1m"}}}),
    )
    .await;
    let made = app
        .post("/v1/keys", &member, json!({"name": "defaulted"}))
        .await;
    let id = made.body["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("/v1/keys/{id}"),
            &member,
            json!({"ratelimit": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Limits a person put on their own key they may change.
    let made = app
        .post(
            "/v1/keys",
            &member,
            json!({"name": "self-limited", "ratelimit": {"limit": 5, "period": "1m"}}),
        )
        .await;
    let id = made.body["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("/v1/keys/{id}"),
            &member,
            json!({"ratelimit": {"limit": 50, "period": "1m"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// A key never outlives the key that makes it: a 20-minute key cannot mint, rotate into
/// or found anything that lasts longer.
#[tokio::test]
async fn keys_never_outlive_the_key_that_made_them() {
    let app = TestApp::spawn().await;
    let (short, short_id) = app
        .create_key(json!({"name": "short", "expires": chrono::DateTime::parse_from_rfc3339(common::START).unwrap().checked_add_signed(chrono::Duration::minutes(20)).unwrap().to_rfc3339()}))
        .await;
    let ends = app.get(&format!("/v1/keys/{short_id}"), &short).await.body["expires_at"].clone();
    let r = app
        .post(
            "/v1/keys",
            &short,
            json!({"name": "forever", "expires": "never"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("expires")),
        "{}",
        r.body
    );
    let r = app
        .post("/v1/keys", &short, json!({"name": "default"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["expires_at"], ends,
        "a key without expiry inherits its creator's"
    );
    let r = app
        .post(
            &format!("/v1/keys/{short_id}/rotate"),
            &short,
            json!({"expires": "never"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = app
        .post("/v1/organizations", &short, json!({"name": "lasting"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["token"]["expires_at"], ends);
    let sa = app
        .post(
            "/v1/service-accounts",
            &short,
            json!({"name": "bot", "scopes": "keys:read", "expires": "1y"}),
        )
        .await;
    assert_eq!(sa.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", sa.body);
}

/// Deleting an agent while channels are created for it: each create either lands before
/// (and the agent is then in use) or finds the agent gone (404); never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn creates_racing_an_agents_deletion_never_fail_with_500() {
    let app = Arc::new(TestApp::spawn().await);
    for round in 0..5 {
        let agent = app
            .post(
                "/v1/agents",
                &app.owner_token,
                json!({"name": format!("bot {round}")}),
            )
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let (app, agent) = (app.clone(), agent.clone());
                tokio::spawn(async move {
                    app.post(
                        "/v1/channels",
                        &app.owner_token,
                        json!({"agent": agent, "name": format!("c{i}")}),
                    )
                    .await
                })
            })
            .collect();
        let deleted = app
            .delete(&format!("/v1/agents/{agent}"), &app.owner_token)
            .await;
        assert!(!deleted.status.is_server_error(), "{}", deleted.body);
        for t in tasks {
            let r = t.await.unwrap();
            assert!(
                !r.status.is_server_error(),
                "round {round}: {} {}",
                r.status,
                r.body
            );
        }
    }
}

/// A person racing an admin who switches their key off cannot win: the rule that
/// someone else's switch sticks is checked inside the change, so once the admin's
/// disable returned, the key stays off.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admins_switch_off_wins_a_race_with_its_person() {
    let app = Arc::new(TestApp::spawn().await);
    let (member, _) = app.join("racer@company.com", "member", &[]).await;
    let (admin, _) = app.join("admin@company.com", "org_admin", &[]).await;
    for round in 0..5 {
        let made = app
            .post("/v1/keys", &member, json!({"name": format!("k{round}")}))
            .await;
        let path = format!("/v1/keys/{}", made.body["id"].as_str().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (app, member, path, stop) =
                    (app.clone(), member.clone(), path.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        let r = app.patch(&path, &member, json!({"enabled": true})).await;
                        assert!(!r.status.is_server_error(), "{}", r.body);
                    }
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let r = app.patch(&path, &admin, json!({"enabled": false})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            t.await.unwrap();
        }
        let now = app.get(&path, &admin).await;
        assert_eq!(now.body["enabled"], false, "round {round}: {}", now.body);
    }
}

/// A key renews itself by rotation for its own lifetime at a time, never longer; a key in
/// its rotation grace period mints nothing (it cannot take over its own replacement);
/// and another key rotating it says so rather than shortening its life silently.
#[tokio::test]
async fn rotation_renews_within_the_keys_lifetime_and_grace_keys_mint_nothing() {
    let app = TestApp::spawn().await;
    let (member, _) = app.join("dev@company.com", "member", &[]).await;
    let made = app
        .post(
            "/v1/keys",
            &member,
            json!({"name": "leaked", "expires": "7d"}),
        )
        .await;
    let (leaked, leaked_id) = (
        made.body["key"].as_str().unwrap().to_owned(),
        made.body["id"].as_str().unwrap().to_owned(),
    );
    app.clock.advance(chrono::Duration::days(1));
    // Rotating itself for longer than its lifetime: refused; for its lifetime: renewed.
    let r = app
        .post(
            &format!("/v1/keys/{leaked_id}/rotate"),
            &leaked,
            json!({"grace": "1h", "expires": "30d"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = app
        .post(
            &format!("/v1/keys/{leaked_id}/rotate"),
            &leaked,
            json!({"grace": "1h"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let renewed = (common::start_time() + chrono::Duration::days(8))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(r.body["expires_at"], renewed.as_str(), "{}", r.body);
    let successor = r.body["id"].as_str().unwrap().to_owned();
    // In grace, the old key creates and rotates nothing, its successor included.
    let r = app
        .post(&format!("/v1/keys/{successor}/rotate"), &leaked, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .post("/v1/keys", &leaked, json!({"name": "spare"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        app.get("/v1/me", &leaked).await.status,
        StatusCode::OK,
        "it still works"
    );
}

/// Another key rotating a key keeps the key's lifetime, which may not outlive the
/// rotating key: it is refused with a clear message rather than shortened silently.
#[tokio::test]
async fn rotating_with_a_shorter_lived_key_is_refused_not_shortened() {
    let app = TestApp::spawn().await;
    let (short, _) = app
        .create_key(json!({"name": "short", "expires": "7d"}))
        .await;
    let (_, bot) = app.create_key(json!({"name": "bot", "kind": "api"})).await;
    let r = app
        .post(&format!("/v1/keys/{bot}/rotate"), &short, json!({}))
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("expires")),
        "{}",
        r.body
    );
    let r = app
        .post(
            &format!("/v1/keys/{bot}/rotate"),
            &short,
            json!({"expires": "7d"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

/// An invitation issued by a key that is later rotated (grace period) gives a first token
/// that follows the replacement, not the ending grace.
#[tokio::test]
async fn an_invitation_follows_its_inviting_key_through_a_rotation() {
    let app = TestApp::spawn().await;
    let (inviter, inviter_id) = app.create_key(json!({"name": "inviter"})).await;
    let code = app
        .invite(
            &inviter,
            json!({"email": "new@company.com", "role": "member"}),
        )
        .await;
    let r = app
        .post(
            &format!("/v1/keys/{inviter_id}/rotate"),
            &app.owner_token,
            json!({"grace": "2h"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app.accept(&code, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["token"]["expires_at"],
        serde_json::Value::Null,
        "{}",
        r.body
    );
}

/// An invitation issued with a short-lived key gives a first token that expires with it.
#[tokio::test]
async fn an_invitations_first_token_does_not_outlive_the_inviting_key() {
    let app = TestApp::spawn().await;
    let made = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "short", "expires": "7d"}),
        )
        .await;
    let short = made.body["key"].as_str().unwrap().to_owned();
    let code = app
        .invite(
            &short,
            json!({"email": "new@company.com", "role": "org_admin"}),
        )
        .await;
    let r = app.accept(&code, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["token"]["expires_at"], made.body["expires_at"]);
}

/// An admin acting on a person's token while an owner promotes that person: the rank
/// rule is checked inside the change, so no admin change of the token commits after the
/// promotion (audit order).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_cannot_act_on_a_token_of_someone_promoted_meanwhile() {
    let app = Arc::new(TestApp::spawn().await);
    let (admin, admin_id) = app.join("admin@company.com", "org_admin", &[]).await;
    let (member, member_id) = app.join("rising@company.com", "member", &[]).await;
    let key = app.get("/v1/me", &member).await.body["key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (app, admin, key, stop) = (app.clone(), admin.clone(), key.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let r = app
                        .patch(
                            &format!("/v1/keys/{key}"),
                            &admin,
                            json!({"name": format!("t{i}.{n}")}),
                        )
                        .await;
                    assert!(!r.status.is_server_error(), "{}", r.body);
                }
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let r = app
        .patch(
            &format!("/v1/members/{member_id}"),
            &app.owner_token,
            json!({"role": "org_admin"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let log = app
        .get("/v1/audit-log?limit=100", &app.owner_token)
        .await
        .body;
    let mut events: Vec<_> = log["data"].as_array().unwrap().clone();
    events.reverse();
    let promoted = events
        .iter()
        .position(|e| e["action"] == "member.update" && e["target"]["id"] == member_id.as_str())
        .unwrap();
    assert!(
        !events[promoted..]
            .iter()
            .any(|e| e["action"] == "key.update"
                && e["target"]["id"] == key.as_str()
                && e["actor"]["id"] == admin_id.as_str()),
        "an admin changed an admin's token after the promotion"
    );
}

/// A service account's key holds at most the account's scopes, whoever edits it.
#[tokio::test]
async fn a_service_account_key_cannot_be_widened_past_its_scopes() {
    let app = TestApp::spawn().await;
    let sa = app
        .post(
            "/v1/service-accounts",
            &app.owner_token,
            json!({"name": "ro", "scopes": "keys:read"}),
        )
        .await;
    let key_id = sa.body["key"]["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("/v1/keys/{key_id}"),
            &app.owner_token,
            json!({"permissions": "all"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("permissions")),
        "{}",
        r.body
    );
}
