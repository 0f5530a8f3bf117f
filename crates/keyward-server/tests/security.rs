//! Regression tests for the holes a hostile review found: races with deletions,
//! invitations that handed out credentials, admins locking owners out, the audit log,
//! chained rotations and organization creation. Each runs on SQLite, and on PostgreSQL
//! with `KEYWARD_TEST_BACKEND=postgres` (`.ci/run` runs both).

mod common;

use common::TestApp;
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
    let created = Arc::new(AtomicUsize::new(0));
    let tasks = (0..clients)
        .map(|i| {
            let (app, token, stop) = (app.clone(), token.to_owned(), stop.clone());
            let created = created.clone();
            tokio::spawn(async move {
                let mut made = vec![];
                for n in 0..1000 {
                    if stop.load(Ordering::SeqCst) && n > 0 {
                        break;
                    }
                    let r = app
                        .post(
                            "/v1/keys",
                            &token,
                            json!({"name": format!("racer {i}.{n}")}),
                        )
                        .await;
                    match r.status {
                        StatusCode::CREATED => {
                            created.fetch_add(1, Ordering::SeqCst);
                            made.push(r.body["key"].as_str().unwrap().to_owned())
                        }
                        StatusCode::UNAUTHORIZED => break,
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
