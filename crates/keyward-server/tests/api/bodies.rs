//! The success body of every operation, pinned: each one is decoded into its
//! `keyward_api` type (what the SDK reads) and kept as an insta snapshot with ids, times,
//! raw keys, codes and other random values redacted. Like `authorization.rs`, the list
//! of operations comes from the served OpenAPI document, so a new endpoint without a case
//! here fails the test.

mod pins;

use keyward_api as api;
use keyward_core::Clock;
use pins::Pins;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::BTreeSet;

#[tokio::test]
async fn every_operation_has_a_pinned_success_body() {
    // A server with a provider (the local authorization server) configured, so the
    // vault's operations have bodies too.
    let Some(crate::integrations::Vault { app, provider, .. }) =
        crate::integrations::Vault::start().await
    else {
        return;
    };
    let token = app.owner_token.clone();
    let mut p = Pins {
        app,
        token,
        covered: BTreeSet::new(),
    };
    use Method as M;
    use StatusCode as S;

    // Who am I, and my organization.
    p.pin_as::<api::Health>(
        "healthz",
        M::GET,
        "/healthz",
        "/healthz",
        None,
        S::OK,
        &[],
        Some(None),
    )
    .await;
    let (me, _) = p
        .pin::<api::Me>("me", M::GET, "/v1/me", "/v1/me", None, S::OK, &[])
        .await;
    let org = me.org.id.clone();
    let org_path = format!("/v1/organizations/{org}");
    let tpl = "/v1/organizations/{id}";
    p.pin::<Vec<api::MyOrganization>>(
        "my_organizations",
        M::GET,
        "/v1/me/organizations",
        "/v1/me/organizations",
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::Organization>("get_org", M::GET, tpl, &org_path, None, S::OK, &[])
        .await;
    let settings =
        json!({"settings": {"max_keys": 20, "default_quota": {"limit": 500, "refill": "daily"}}});
    p.pin::<api::Organization>(
        "update_org",
        M::PATCH,
        tpl,
        &org_path,
        Some(settings),
        S::OK,
        &[],
    )
    .await;

    // Workspaces and agents.
    let mut made = vec![];
    for (kind, base) in [("workspace", "/v1/workspaces"), ("agent", "/v1/agents")] {
        let item = format!("{base}/{{id}}");
        let (r, _) = p
            .pin::<api::Resource>(
                &format!("create_{kind}"),
                M::POST,
                base,
                base,
                Some(json!({"name": kind})),
                S::CREATED,
                &[],
            )
            .await;
        let path = format!("{base}/{}", r.id);
        p.pin::<Vec<api::Resource>>(
            &format!("list_{kind}s"),
            M::GET,
            base,
            base,
            None,
            S::OK,
            &[],
        )
        .await;
        p.pin::<api::Resource>(
            &format!("get_{kind}"),
            M::GET,
            &item,
            &path,
            None,
            S::OK,
            &[],
        )
        .await;
        p.pin::<api::Resource>(
            &format!("rename_{kind}"),
            M::PATCH,
            &item,
            &path,
            Some(json!({"name": format!("{kind} 2")})),
            S::OK,
            &[],
        )
        .await;
        made.push(r.id);
    }
    let (ws, agent) = (made[0].clone(), made[1].clone());

    // Channels, and a channel's context (read by its hook id).
    let (ch, _) = p
        .pin::<api::Channel>(
            "create_channel",
            M::POST,
            "/v1/channels",
            "/v1/channels",
            Some(json!({"agent": agent, "name": "support"})),
            S::CREATED,
            &[],
        )
        .await;
    let ch_path = format!("/v1/channels/{}", ch.id);
    let ch_tpl = "/v1/channels/{id}";
    p.pin::<Vec<api::Channel>>(
        "list_channels",
        M::GET,
        "/v1/channels",
        "/v1/channels",
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::Channel>("get_channel", M::GET, ch_tpl, &ch_path, None, S::OK, &[])
        .await;
    p.pin::<api::Channel>(
        "update_channel",
        M::PATCH,
        ch_tpl,
        &ch_path,
        Some(json!({"name": "help"})),
        S::OK,
        &[],
    )
    .await;
    let hook = format!("/v1/channel?hookId={}", ch.hook_id);
    p.pin::<api::ChannelContext>(
        "channel_context_get",
        M::GET,
        "/v1/channel",
        &hook,
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::ChannelContext>(
        "channel_context_post",
        M::POST,
        "/v1/channel",
        "/v1/channel",
        Some(json!({"hookId": ch.hook_id})),
        S::OK,
        &[],
    )
    .await;

    // Keys: create, list, show, change, verify, usage, rotate, revoke.
    let create = json!({
        "name": "ci", "kind": "api", "expires": "30d", "permissions": ["keys:read", "skills:execute"],
        "scope": {"type": "workspaces", "workspaces": [ws]}, "owner": "cust_1",
        "ratelimit": {"limit": 100, "period": "1m"}, "quota": {"limit": 1000, "refill": "monthly"},
        "metadata": {"plan": "pro"},
    });
    let (created, _) = p
        .pin::<api::CreatedKey>(
            "create_key",
            M::POST,
            "/v1/keys",
            "/v1/keys",
            Some(create),
            S::CREATED,
            &[".key"],
        )
        .await;
    let key_path = format!("/v1/keys/{}", created.details.id);
    let key_tpl = "/v1/keys/{id}";
    p.pin::<api::ListResponse<api::KeyView>>(
        "list_keys",
        M::GET,
        "/v1/keys",
        "/v1/keys?limit=1",
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::KeyView>("get_key", M::GET, key_tpl, &key_path, None, S::OK, &[])
        .await;
    p.pin::<api::ListResponse<api::KeyView>>(
        "list_my_keys",
        M::GET,
        "/v1/me/keys",
        "/v1/me/keys?limit=1",
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::KeyView>(
        "update_key",
        M::PATCH,
        key_tpl,
        &key_path,
        Some(json!({"name": "ci 2", "enabled": true})),
        S::OK,
        &[],
    )
    .await;
    let verify =
        json!({"key": created.key.expose_secret(), "permission": "keys:read", "workspace": ws});
    let (answer, _) = p
        .pin::<api::VerifyResponse>(
            "verify_key",
            M::POST,
            "/v1/keys/verify",
            "/v1/keys/verify",
            Some(verify),
            S::OK,
            &[],
        )
        .await;
    assert_eq!(answer.verify_code(), Some(api::VerifyCode::Valid));
    p.pin::<api::UsageReport>(
        "key_usage",
        M::GET,
        "/v1/keys/{id}/usage",
        &format!("{key_path}/usage?from=2h&granularity=hour"),
        None,
        S::OK,
        &[],
    )
    .await;
    let (rotated, _) = p
        .pin::<api::RotatedKey>(
            "rotate_key",
            M::POST,
            "/v1/keys/{id}/rotate",
            &format!("{key_path}/rotate"),
            Some(json!({"grace": "1h"})),
            S::CREATED,
            &[".key"],
        )
        .await;
    let new_path = format!("/v1/keys/{}", rotated.details.id);
    p.pin::<api::KeyView>(
        "revoke_key",
        M::DELETE,
        key_tpl,
        &new_path,
        None,
        S::OK,
        &[],
    )
    .await;

    // Rate limits shared by an owner's keys.
    let limit_tpl = "/v1/owner-limits/{owner_type}/{owner_id}";
    let limit_path = "/v1/owner-limits/external/cust_1";
    let body = json!({"ratelimit": {"limit": 50, "period": "1h"}});
    p.pin::<api::OwnerLimit>(
        "set_owner_limit",
        M::PUT,
        limit_tpl,
        limit_path,
        Some(body),
        S::OK,
        &[],
    )
    .await;
    p.pin::<Vec<api::OwnerLimit>>(
        "list_owner_limits",
        M::GET,
        "/v1/owner-limits",
        "/v1/owner-limits",
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<()>(
        "delete_owner_limit",
        M::DELETE,
        limit_tpl,
        limit_path,
        None,
        S::NO_CONTENT,
        &[],
    )
    .await;

    // `keyward auth login --web`: a CLI login approved in the console, exchanged.
    let owner_id = me.owner.as_ref().map(|o| o.id().to_owned()).unwrap();
    let (code, verifier) = p.app.approve_cli_login(&owner_id, "build-box").await;
    p.pin_as::<api::CreatedKey>(
        "exchange_cli_code",
        M::POST,
        "/v1/auth/cli/token",
        "/v1/auth/cli/token",
        Some(json!({"code": code, "code_verifier": verifier})),
        S::CREATED,
        &[".key"],
        Some(None),
    )
    .await;

    // Invitations and members.
    let invite = json!({"email": "dev@example.com", "role": "agent_admin", "agents": [agent]});
    let (invited, _) = p
        .pin::<api::CreatedInvitation>(
            "create_invitation",
            M::POST,
            "/v1/invitations",
            "/v1/invitations",
            Some(invite),
            S::CREATED,
            &[".code", ".link"],
        )
        .await;
    p.pin::<Vec<api::InvitationView>>(
        "list_invitations",
        M::GET,
        "/v1/invitations",
        "/v1/invitations",
        None,
        S::OK,
        &[],
    )
    .await;
    let code = json!({"code": invited.code.expose_secret()});
    let (accepted, _) = p
        .pin_as::<api::AcceptedInvitation>(
            "accept_invitation",
            M::POST,
            "/v1/invitations/accept",
            "/v1/invitations/accept",
            Some(code),
            S::CREATED,
            &[".token.key"],
            Some(None),
        )
        .await;
    let other = json!({"email": "later@example.com", "role": "member"});
    let (later, _) = p
        .pin::<api::CreatedInvitation>(
            "create_invitation_member",
            M::POST,
            "/v1/invitations",
            "/v1/invitations",
            Some(other),
            S::CREATED,
            &[".code", ".link"],
        )
        .await;
    let inv_path = format!("/v1/invitations/{}", later.invitation.id);
    p.pin::<()>(
        "revoke_invitation",
        M::DELETE,
        "/v1/invitations/{id}",
        &inv_path,
        None,
        S::NO_CONTENT,
        &[],
    )
    .await;
    let member_tpl = "/v1/members/{user_id}";
    let member_path = format!("/v1/members/{}", accepted.member.user_id);
    p.pin::<Vec<api::Member>>(
        "list_members",
        M::GET,
        "/v1/members",
        "/v1/members",
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::Member>(
        "get_member",
        M::GET,
        member_tpl,
        &member_path,
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::Member>(
        "update_member",
        M::PATCH,
        member_tpl,
        &member_path,
        Some(json!({"role": "member"})),
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::CreatedPasswordLink>(
        "create_password_link",
        M::POST,
        "/v1/members/{user_id}/password-link",
        &format!("{member_path}/password-link"),
        None,
        S::CREATED,
        &[".link"],
    )
    .await;
    p.pin::<()>(
        "remove_member",
        M::DELETE,
        member_tpl,
        &member_path,
        None,
        S::NO_CONTENT,
        &[],
    )
    .await;

    // Service accounts and their keys.
    let sa = json!({"name": "bot", "scopes": "keys:read,skills:execute"});
    let (account, _) = p
        .pin::<api::CreatedServiceAccount>(
            "create_service_account",
            M::POST,
            "/v1/service-accounts",
            "/v1/service-accounts",
            Some(sa),
            S::CREATED,
            &[".key.key"],
        )
        .await;
    let sa_tpl = "/v1/service-accounts/{id}";
    let sa_path = format!("/v1/service-accounts/{}", account.account.id);
    p.pin::<Vec<api::ServiceAccount>>(
        "list_service_accounts",
        M::GET,
        "/v1/service-accounts",
        "/v1/service-accounts",
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::ServiceAccount>(
        "get_service_account",
        M::GET,
        sa_tpl,
        &sa_path,
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::ServiceAccount>(
        "update_service_account",
        M::PATCH,
        sa_tpl,
        &sa_path,
        Some(json!({"name": "bot 2"})),
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::CreatedKey>(
        "create_service_account_key",
        M::POST,
        "/v1/service-accounts/{id}/keys",
        &format!("{sa_path}/keys"),
        Some(json!({"name": "second", "expires": "90d"})),
        S::CREATED,
        &[".key"],
    )
    .await;
    p.pin::<api::ListResponse<api::KeyView>>(
        "list_service_account_keys",
        M::GET,
        "/v1/service-accounts/{id}/keys",
        &format!("{sa_path}/keys?limit=1"),
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<()>(
        "delete_service_account",
        M::DELETE,
        sa_tpl,
        &sa_path,
        None,
        S::NO_CONTENT,
        &[],
    )
    .await;

    // The audit log, then deletions of what is no longer used.
    p.pin::<api::ListResponse<api::AuditEvent>>(
        "list_audit",
        M::GET,
        "/v1/audit-log",
        "/v1/audit-log?limit=2",
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::ListResponse<api::AuditEvent>>(
        "key_audit",
        M::GET,
        "/v1/keys/{id}/audit-log",
        &format!("{key_path}/audit-log?limit=2"),
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<()>(
        "delete_channel",
        M::DELETE,
        ch_tpl,
        &ch_path,
        None,
        S::NO_CONTENT,
        &[],
    )
    .await;
    for (kind, base) in [("workspace", "/v1/workspaces"), ("agent", "/v1/agents")] {
        let r = p
            .app
            .post(base, &p.token, json!({"name": format!("spare {kind}")}))
            .await
            .expect::<api::Resource>(S::CREATED);
        let path = format!("{base}/{}", r.id);
        p.pin::<()>(
            &format!("delete_{kind}"),
            M::DELETE,
            &format!("{base}/{{id}}"),
            &path,
            None,
            S::NO_CONTENT,
            &[],
        )
        .await;
    }

    // The integrations vault.
    p.pin::<Vec<api::Integration>>(
        "list_integrations",
        M::GET,
        "/v1/integrations",
        "/v1/integrations",
        None,
        S::OK,
        &[],
    )
    .await;
    let authorize_tpl = "/v1/integrations/{provider}/authorize";
    let authorize_path = "/v1/integrations/acme/authorize";
    let callback = crate::integrations::APP_CALLBACK;
    let (started, _) = p
        .pin::<api::AuthorizeResponse>(
            "authorize_integration",
            M::POST,
            authorize_tpl,
            authorize_path,
            Some(json!({"connection_id": "user-42", "redirect_uri": callback, "scopes": ["read"]})),
            S::OK,
            &[".url", ".state"],
        )
        .await;
    let back = provider.authorize(&started.url, callback).await;
    let code = url::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    p.pin::<api::ConnectionView>(
        "exchange_code",
        M::POST,
        "/v1/integrations/{provider}/exchange",
        "/v1/integrations/acme/exchange",
        Some(json!({"code": code, "state": started.state, "redirect_uri": callback})),
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::ListResponse<api::ConnectionView>>(
        "list_connections",
        M::GET,
        "/v1/connections",
        "/v1/connections",
        None,
        S::OK,
        &[],
    )
    .await;
    let con_tpl = "/v1/connections/{id}";
    p.pin::<api::ConnectionView>(
        "get_connection",
        M::GET,
        con_tpl,
        "/v1/connections/user-42",
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::ConnectionTokens>(
        "get_tokens",
        M::GET,
        "/v1/connections/{id}/tokens",
        "/v1/connections/user-42/tokens",
        None,
        S::OK,
        &[".access_token"],
    )
    .await;
    p.pin::<api::ConnectionView>(
        "refresh_connection",
        M::POST,
        "/v1/connections/{id}/refresh",
        "/v1/connections/user-42/refresh",
        None,
        S::OK,
        &[],
    )
    .await;
    // Keyward's hosted callback answers the person's browser with a page.
    let hosted = format!("{}{}", p.app.base, api::OAUTH_CALLBACK_PATH);
    let started = p
        .app
        .post(authorize_path, &p.token, json!({"connection_id": "desk"}))
        .await
        .expect::<api::AuthorizeResponse>(S::OK);
    let back = provider.authorize(&started.url, &hosted).await;
    let query = back.split_once('?').map(|(_, q)| q).unwrap().to_owned();
    p.pin_as::<String>(
        "oauth_callback",
        M::GET,
        api::OAUTH_CALLBACK_PATH,
        &format!("{}?{query}", api::OAUTH_CALLBACK_PATH),
        None,
        S::OK,
        &[],
        Some(None),
    )
    .await;
    p.pin::<api::Disconnected>(
        "revoke_tokens",
        M::DELETE,
        "/v1/connections/{id}/tokens",
        "/v1/connections/user-42/tokens",
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<()>(
        "delete_connection",
        M::DELETE,
        con_tpl,
        "/v1/connections/desk",
        None,
        S::NO_CONTENT,
        &[],
    )
    .await;

    // Webhook endpoints. Made disabled, so that what arrives is kept as a failed delivery
    // (to replay) instead of being sent to a destination that does not exist.
    let incoming = keyward_webhooks::standard::Secret::generate();
    let (created, _) = p
        .pin::<api::WebhookEndpointCreated>(
            "create_webhook_endpoint",
            M::POST,
            "/v1/webhook-endpoints",
            "/v1/webhook-endpoints",
            Some(json!({
                "provider": "standard", "name": "Billing events",
                "destination": "http://127.0.0.1:9/hooks/billing",
                "secrets": [incoming.expose_whsec().as_str()], "enabled": false,
            })),
            S::CREATED,
            &[".signing_secret"],
        )
        .await;
    let wh_tpl = "/v1/webhook-endpoints/{id}";
    let wh_path = format!("/v1/webhook-endpoints/{}", created.endpoint.id);
    p.pin::<api::ListResponse<api::WebhookEndpoint>>(
        "list_webhook_endpoints",
        M::GET,
        "/v1/webhook-endpoints",
        "/v1/webhook-endpoints",
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::WebhookEndpoint>(
        "get_webhook_endpoint",
        M::GET,
        wh_tpl,
        &wh_path,
        None,
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::WebhookEndpoint>(
        "update_webhook_endpoint",
        M::PATCH,
        wh_tpl,
        &wh_path,
        Some(json!({"name": "Billing"})),
        S::OK,
        &[],
    )
    .await;
    p.pin::<api::SigningSecretRotated>(
        "rotate_webhook_secret",
        M::POST,
        "/v1/webhook-endpoints/{id}/rotate-secret",
        &format!("{wh_path}/rotate-secret"),
        Some(json!({"overlap_secs": 3600})),
        S::OK,
        &[".signing_secret"],
    )
    .await;
    let body = br#"{"type":"invoice.paid"}"#;
    let now = p.app.clock.now().timestamp();
    let sent = p
        .app
        .client
        .post(&created.endpoint.ingress_url)
        .headers(crate::webhooks::standard_headers(
            &incoming,
            "msg_pinned",
            now,
            body,
        ))
        .body(&body[..])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), S::OK);
    let (log, _) = p
        .pin::<api::ListResponse<api::WebhookDelivery>>(
            "list_webhook_deliveries",
            M::GET,
            "/v1/webhook-endpoints/{id}/deliveries",
            &format!("{wh_path}/deliveries"),
            None,
            S::OK,
            // The endpoint's id (not a secret; redacted as one since `.endpoint` is also
            // the object of other answers).
            &[".data[].endpoint"],
        )
        .await;
    let delivery_tpl = "/v1/webhook-endpoints/{id}/deliveries/{delivery_id}";
    let delivery_path = format!("{wh_path}/deliveries/{}", log.data[0].id);
    p.pin::<api::WebhookDelivery>(
        "get_webhook_delivery",
        M::GET,
        delivery_tpl,
        &delivery_path,
        None,
        S::OK,
        &[".endpoint"],
    )
    .await;
    // Replays wait for the endpoint to be enabled; its destination now answers 200.
    let app_at = crate::webhooks::answering_200().await;
    p.app
        .patch(
            &wh_path,
            &p.token,
            json!({"enabled": true, "destination": app_at}),
        )
        .await
        .expect::<api::WebhookEndpoint>(S::OK);
    p.pin::<api::Replayed>(
        "replay_failed_webhook_deliveries",
        M::POST,
        "/v1/webhook-endpoints/{id}/replay",
        &format!("{wh_path}/replay"),
        Some(json!({"since": "2000-01-01T00:00:00Z"})),
        S::OK,
        &[],
    )
    .await;
    for _ in 0..500 {
        let d = p.app.get(&delivery_path, &p.token).await.body;
        if d["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    p.pin::<api::WebhookDelivery>(
        "replay_webhook_delivery",
        M::POST,
        &format!("{delivery_tpl}/replay"),
        &format!("{delivery_path}/replay"),
        None,
        S::OK,
        &[".endpoint"],
    )
    .await;
    p.pin::<()>(
        "delete_webhook_endpoint",
        M::DELETE,
        wh_tpl,
        &wh_path,
        None,
        S::NO_CONTENT,
        &[],
    )
    .await;

    // Workers: one registered as its daemon does, with a worker key of a workspace.
    let worker_ws = p
        .app
        .post("/v1/workspaces", &p.token, json!({"name": "fleet"}))
        .await
        .expect::<api::Resource>(S::CREATED)
        .id;
    let (worker_raw, _) =
        crate::workers::worker_key(&p.app, &worker_ws, "alice-macbook-worker").await;
    let (registered, _) = p
        .pin_as::<api::WorkerRegistration>(
            "register_worker",
            M::POST,
            "/v1/workers/register",
            "/v1/workers/register",
            Some(crate::workers::registration("alice-macbook")),
            S::CREATED,
            &[],
            Some(Some(&worker_raw)),
        )
        .await;
    let worker = registered.worker.id.clone();
    p.pin::<api::ListResponse<api::Worker>>(
        "list_workers",
        M::GET,
        "/v1/workers",
        "/v1/workers",
        None,
        S::OK,
        &[],
    )
    .await;
    let worker_tpl = "/v1/workers/{id}";
    let worker_path = format!("/v1/workers/{worker}");
    // The findings name the key's random prefix and the times.

    p.pin::<api::WorkerDetail>(
        "get_worker",
        M::GET,
        worker_tpl,
        &worker_path,
        None,
        S::OK,
        &[".troubleshooting[].finding"],
    )
    .await;
    p.pin::<()>(
        "remove_worker",
        M::DELETE,
        worker_tpl,
        &worker_path,
        None,
        S::NO_CONTENT,
        &[],
    )
    .await;

    // A second organization: made, then deleted with its own first token.
    let (second, _) = p
        .pin::<api::CreatedOrg>(
            "create_org",
            M::POST,
            "/v1/organizations",
            "/v1/organizations",
            Some(json!({"name": "second"})),
            S::CREATED,
            &[".token.key"],
        )
        .await;
    let second_path = format!("/v1/organizations/{}", second.organization.id);
    let second_token = second.token.key.expose_secret().to_owned();
    p.pin_as::<()>(
        "delete_org",
        M::DELETE,
        tpl,
        &second_path,
        None,
        S::NO_CONTENT,
        &[],
        Some(Some(&second_token)),
    )
    .await;

    // Every documented operation has a case above, and every case is documented.
    let doc = p.app.get("/openapi.json", &p.token).await.body;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert_eq!(
        documented.difference(&p.covered).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "operations without a pinned success body: add a case above"
    );
    assert_eq!(
        p.covered.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "cases for operations the document does not have"
    );
}
