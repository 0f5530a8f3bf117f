//! `POST /v1/keys/verify`: the question other services ask, answered with 200 and a
//! `code` whatever the key's state, so callers branch on one field.

use crate::auth::Principal;
use crate::errors::{ApiError, Result};
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::usage::{Outcome, QuotaInfo, RateInfo};
use crate::verify::{CachedKey, Verdict};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use keyward_core::{KeyKind, Owner, Permission, PermissionSet, Scope};
use keyward_store::{KeyRecord, ResourceKind};
use serde::Serialize;

pub use keyward_api::{VerifyCode, VerifyRequest};

#[derive(Debug, Serialize)]
pub struct OrgRefView<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

/// The answer to a verification, as the hot path writes it: the same JSON as
/// `keyward_api::VerifyResponse` (tested below), but borrowing from the cached key
/// record, so nothing is copied to build it.
#[derive(Debug, Serialize)]
pub struct VerifyResponse<'a> {
    pub valid: bool,
    pub code: VerifyCode,
    /// Why the key is not valid, for people.
    pub message: Option<String>,
    pub key_id: Option<&'a str>,
    pub name: Option<&'a str>,
    pub owner: Option<&'a Owner>,
    pub org: Option<OrgRefView<'a>>,
    pub scope: Option<&'a Scope>,
    pub permissions: Option<&'a PermissionSet>,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Option<&'a serde_json::Value>,
    /// The key's (or its owner's) rate limit after this request, if it has one.
    pub ratelimit: Option<RateInfo>,
    /// The key's quota after this request, if it has one.
    pub quota: Option<QuotaInfo>,
}

impl<'a> VerifyResponse<'a> {
    fn about(code: VerifyCode, key: Option<&'a KeyRecord>, message: Option<String>) -> Self {
        Self {
            valid: code == VerifyCode::Valid,
            code,
            message,
            key_id: key.map(|k| k.id.as_str()),
            name: key.map(|k| k.name.as_str()),
            owner: key.and_then(|k| k.owner.as_ref()),
            org: key.map(|k| OrgRefView {
                id: &k.org_id,
                name: &k.org_name,
            }),
            scope: key.map(|k| &k.scope),
            permissions: key.map(|k| &k.permissions),
            expires_at: key.and_then(|k| k.expires_at),
            metadata: key.and_then(|k| k.metadata.as_ref()),
            ratelimit: None,
            quota: None,
        }
    }
}

/// JSON into a buffer sized for a typical answer, instead of growing from 128 bytes.
fn json_body(value: &impl Serialize) -> Response {
    let mut buf = Vec::with_capacity(768);
    match serde_json::to_writer(&mut buf, value) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            buf,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not serialize a verify answer");
            ApiError::Internal.into_response()
        }
    }
}

/// A VALID answer: the part that depends only on the key record is serialized once per
/// cached record (`CachedKey::valid_answer_head`); each request appends its own
/// `ratelimit` and `quota`. The bytes are exactly what serializing the whole
/// [`VerifyResponse`] gives (tested below).
fn valid_answer(k: &CachedKey, ratelimit: Option<RateInfo>, quota: Option<QuotaInfo>) -> Response {
    let head = k.valid_answer_head.get_or_init(|| valid_head(k));
    let mut buf = Vec::with_capacity(head.len() + 96);
    buf.extend_from_slice(head);
    let tail = serde_json::to_writer(&mut buf, &ratelimit)
        .and_then(|()| {
            buf.extend_from_slice(br#","quota":"#);
            serde_json::to_writer(&mut buf, &quota)
        })
        .map(|()| buf.push(b'}'));
    if head.is_empty() || tail.is_err() {
        return json_body(&VerifyResponse {
            ratelimit,
            quota,
            ..VerifyResponse::about(VerifyCode::Valid, Some(k), None)
        });
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        buf,
    )
        .into_response()
}

/// `{"valid":true,…,"ratelimit":` for this record; empty if it cannot be serialized (then
/// every answer takes the general path).
fn valid_head(k: &KeyRecord) -> Box<[u8]> {
    const TAIL: &[u8] = br#"null,"quota":null}"#;
    match serde_json::to_vec(&VerifyResponse::about(VerifyCode::Valid, Some(k), None)) {
        Ok(full) if full.ends_with(TAIL) => full[..full.len() - TAIL.len()].into(),
        _ => Box::default(),
    }
}

/// Is this key valid, and may it do X? Always 200; read `code`.
#[utoipa::path(post, path = "/v1/keys/verify", tag = "verify", request_body = VerifyRequest,
    responses((status = 200, body = keyward_api::VerifyResponse), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["keys:verify"])))]
pub async fn verify_key(
    State(state): State<AppState>,
    principal: Principal,
    headers: axum::http::HeaderMap,
    ApiJson(mut req): ApiJson<VerifyRequest<'static>>,
) -> Result<Response> {
    principal.require("keys:verify")?;
    req.channel = crate::extract::named_hook(
        &headers,
        &[
            ("channel", req.channel.as_deref()),
            ("hookId", req.hook_id.as_deref()),
        ],
    )?;
    let wanted = req
        .permission
        .as_deref()
        .map(Permission::split)
        .transpose()
        .map_err(|e| ApiError::validation("permission", e))?;
    let cost = req.cost.unwrap_or(1);
    if !(0..=1_000_000).contains(&cost) {
        return Err(ApiError::validation(
            "cost",
            "must be between 0 and 1000000",
        ));
    }
    let now = state.clock.now();
    let verdict = state
        .check_at(&req.key, Some(principal.org_id()), now)
        .await?;
    let response = match &verdict {
        Verdict::Malformed(e) => {
            VerifyResponse::about(VerifyCode::Malformed, None, Some(e.to_string()))
        }
        Verdict::NotFound => {
            VerifyResponse::about(VerifyCode::NotFound, None, Some("no such key".into()))
        }
        Verdict::Revoked(k) => refused(&state, k, now, VerifyCode::Revoked, "the key was revoked"),
        Verdict::Expired(k) => refused(&state, k, now, VerifyCode::Expired, "the key has expired"),
        Verdict::Disabled(k) => {
            refused(&state, k, now, VerifyCode::Disabled, "the key is disabled")
        }
        Verdict::Valid(k) => {
            let (mut code, mut message) = decide(&state, k, &req, wanted).await?;
            // Only requests the key may make count against its limits and spend credits.
            let mut ratelimit = None;
            let mut quota = None;
            if code == VerifyCode::Valid {
                ratelimit = state
                    .limits
                    .admit(state.store.as_ref(), k, &k.limiter, now)
                    .await?;
                if ratelimit.is_some_and(|r| !r.allowed) {
                    code = VerifyCode::RateLimited;
                    message = Some("rate limit exceeded; retry after `ratelimit.reset`".into());
                } else {
                    quota = state
                        .limits
                        .spend(state.store.as_ref(), k, cost, now)
                        .await?;
                    if quota.is_some_and(|q| !q.allowed) {
                        code = VerifyCode::QuotaExceeded;
                        message = Some("the key's quota is used up".into());
                    }
                }
            }
            let outcome = if code == VerifyCode::Valid {
                Outcome::Valid
            } else {
                Outcome::Denied
            };
            state.usage.record(&k.id, now, outcome);
            if code == VerifyCode::Valid {
                return Ok(valid_answer(k, ratelimit, quota));
            }
            VerifyResponse {
                ratelimit,
                quota,
                ..VerifyResponse::about(code, Some(&**k), message)
            }
        }
    };
    Ok(json_body(&response))
}

/// A key that exists but may not be used now: counted as denied, answered with its
/// details so the caller can tell which key it was.
fn refused<'a>(
    state: &AppState,
    k: &'a KeyRecord,
    now: DateTime<Utc>,
    code: VerifyCode,
    message: &str,
) -> VerifyResponse<'a> {
    state.usage.record(&k.id, now, Outcome::Denied);
    VerifyResponse::about(code, Some(k), Some(message.to_owned()))
}

/// Channel, then scope, then grants: the first that fails gives the code. Workspaces,
/// agents and channels are looked up in the in-memory index (`verify::index`): no
/// database read on this path.
async fn decide(
    state: &AppState,
    k: &KeyRecord,
    req: &VerifyRequest<'_>,
    wanted: Option<(&str, &str)>,
) -> Result<(VerifyCode, Option<String>)> {
    if let Some(hook_id) = req.channel.as_deref() {
        let channel = state.index.hook(hook_id);
        let Some(channel) = channel.filter(|c| c.enabled && c.org_id == k.org_id) else {
            return Ok((
                VerifyCode::ChannelNotFound,
                Some("Channel not found".into()),
            ));
        };
        if k.kind == KeyKind::Channel
            && k.channel_id.as_deref() != Some(channel.channel_id.as_str())
        {
            return Ok((
                VerifyCode::Forbidden,
                Some("the key is another channel's token".into()),
            ));
        }
        if !k.scope.reaches_agent(&channel.agent_id) {
            return Ok((
                VerifyCode::Forbidden,
                Some("the channel's agent is outside the key's scope".into()),
            ));
        }
    }
    if let Some(ws) = req.workspace.as_deref() {
        if !state.index.belongs(ResourceKind::Workspace, ws, &k.org_id) {
            return Ok((
                VerifyCode::Forbidden,
                Some(format!(
                    "workspace {ws} is not one of the key's organization"
                )),
            ));
        }
        if !k.scope.reaches_workspace(ws) {
            return Ok((
                VerifyCode::Forbidden,
                Some(format!("workspace {ws} is outside the key's scope")),
            ));
        }
    }
    if let Some(agent) = req.agent.as_deref() {
        if !state.index.belongs(ResourceKind::Agent, agent, &k.org_id) {
            return Ok((
                VerifyCode::Forbidden,
                Some(format!(
                    "agent {agent} is not one of the key's organization"
                )),
            ));
        }
        if !k.scope.reaches_agent(agent) {
            return Ok((
                VerifyCode::Forbidden,
                Some(format!("agent {agent} is outside the key's scope")),
            ));
        }
    }
    if let Some((resource, action)) = wanted {
        if !k.permissions.allows(resource, action) {
            return Ok((
                VerifyCode::InsufficientPermissions,
                Some(format!("the key lacks {resource}:{action}")),
            ));
        }
    }
    Ok((VerifyCode::Valid, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::key::Environment;
    use keyward_core::KeyHash;

    fn record(owner: Option<Owner>, metadata: Option<serde_json::Value>) -> KeyRecord {
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        KeyRecord {
            id: "key_1".into(),
            org_id: "org_1".into(),
            org_name: "Acme \"quoted\" \u{e9}".into(),
            kind: KeyKind::Api,
            environment: Environment::Live,
            name: "name with \\ and \n".into(),
            prefix: "kw_live_abcd".into(),
            hash: KeyHash::of("kw_live_not_a_real_key"),
            owner,
            permissions: PermissionSet::parse_list(&["keys:read", "skills:execute"]).unwrap(),
            scope: Scope::Workspaces {
                workspaces: vec!["ws_1".into(), "ws_2".into()],
            },
            metadata,
            created_at: at,
            created_by: "test".into(),
            expires_at: Some(at),
            last_used_at: None,
            revoked_at: None,
            revoked_by: None,
            rotated_from: None,
            rotated_to: None,
            enabled: true,
            workspace_id: None,
            channel_id: None,
            ratelimit: None,
            quota: None,
            disabled_by: None,
            limits_by: None,
        }
    }

    async fn body(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap()
            .to_vec()
    }

    /// The cached head plus the per-request tail is byte for byte what serializing the
    /// whole answer gives, whatever the record holds and whether limits are set.
    #[tokio::test]
    async fn valid_answer_from_the_cached_head_equals_the_serialized_answer() {
        let records = [
            record(None, None),
            record(
                Some(Owner::External { id: "c\"1".into() }),
                Some(serde_json::json!({"plan": "pro", "nested": {"a": [1, 2.5, null]}})),
            ),
        ];
        let rate = RateInfo {
            limit: 10,
            remaining: 3,
            reset: 1_790_000_000_123,
            allowed: true,
            retry_after: std::time::Duration::ZERO,
            reset_after: std::time::Duration::from_secs(7),
        };
        let quota = QuotaInfo {
            limit: 100,
            remaining: 42,
            allowed: true,
        };
        for r in records {
            let k = CachedKey::new(r);
            for (ratelimit, quota) in [
                (None, None),
                (Some(rate), None),
                (None, Some(quota)),
                (Some(rate), Some(quota)),
            ] {
                let expected = serde_json::to_vec(&VerifyResponse {
                    ratelimit,
                    quota,
                    ..VerifyResponse::about(VerifyCode::Valid, Some(&k), None)
                })
                .unwrap();
                let got = body(valid_answer(&k, ratelimit, quota)).await;
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    String::from_utf8(expected).unwrap()
                );
                assert!(!k.valid_answer_head.get().unwrap().is_empty());
            }
        }
    }

    /// The shared answer type, built from the record on its own (not from the borrowing
    /// answer), so the two are compared rather than derived from each other.
    fn shared(
        code: VerifyCode,
        k: Option<&KeyRecord>,
        message: Option<&str>,
        ratelimit: Option<RateInfo>,
        quota: Option<QuotaInfo>,
    ) -> keyward_api::VerifyResponse {
        keyward_api::VerifyResponse {
            valid: code == VerifyCode::Valid,
            code: code.as_str().to_owned(),
            message: message.map(str::to_owned),
            key_id: k.map(|k| k.id.clone()),
            name: k.map(|k| k.name.clone()),
            owner: k.and_then(|k| k.owner.clone()),
            org: k.map(|k| keyward_api::OrgRef {
                id: k.org_id.clone(),
                name: k.org_name.clone(),
            }),
            scope: k.map(|k| k.scope.clone()),
            permissions: k.map(|k| k.permissions.to_strings()),
            expires_at: k.and_then(|k| k.expires_at),
            metadata: k.and_then(|k| k.metadata.clone()),
            ratelimit: ratelimit.map(|r| keyward_api::RateInfo {
                limit: r.limit,
                remaining: r.remaining,
                reset: r.reset,
            }),
            quota: quota.map(|q| keyward_api::QuotaInfo {
                limit: q.limit,
                remaining: q.remaining,
            }),
        }
    }

    /// What the hot path writes, for every verdict, is byte for byte what serializing
    /// `keyward_api::VerifyResponse` gives, and decodes back into it: the SDK reads
    /// exactly what the server writes.
    #[tokio::test]
    async fn every_answer_is_the_shared_type_byte_for_byte() {
        let rate = RateInfo {
            limit: 10,
            remaining: 0,
            reset: 1_790_000_000_123,
            allowed: false,
            retry_after: std::time::Duration::from_millis(1500),
            reset_after: std::time::Duration::from_secs(7),
        };
        let quota = QuotaInfo {
            limit: 100,
            remaining: 0,
            allowed: false,
        };
        let rich = CachedKey::new(record(
            Some(Owner::External {
                id: "cust_1".into(),
            }),
            Some(serde_json::json!({"plan": "pro", "seats": 3, "tags": ["a", "é"]})),
        ));
        let bare = CachedKey::new(record(None, None));
        let check = |got: Vec<u8>, expected: keyward_api::VerifyResponse| {
            let want = serde_json::to_vec(&expected).unwrap();
            assert_eq!(
                String::from_utf8(got.clone()).unwrap(),
                String::from_utf8(want).unwrap()
            );
            let decoded: keyward_api::VerifyResponse = serde_json::from_slice(&got).unwrap();
            assert_eq!(decoded, expected);
            assert_eq!(
                decoded.verify_code().map(VerifyCode::as_str),
                Some(&*decoded.code)
            );
        };
        // VALID, from the cached head, with and without limits.
        for k in [&rich, &bare] {
            for (r, q) in [(None, None), (Some(rate), Some(quota))] {
                let got = body(valid_answer(k, r, q)).await;
                check(got, shared(VerifyCode::Valid, Some(k), None, r, q));
            }
        }
        // Keys that do not exist.
        for (code, message) in [
            (VerifyCode::Malformed, "the key has the wrong length"),
            (VerifyCode::NotFound, "no such key"),
        ] {
            let got = body(json_body(&VerifyResponse::about(
                code,
                None,
                Some(message.into()),
            )))
            .await;
            check(got, shared(code, None, Some(message), None, None));
        }
        // Every refusal of a key that exists, with the limits it carries.
        for (code, r, q) in [
            (VerifyCode::Revoked, None, None),
            (VerifyCode::Expired, None, None),
            (VerifyCode::Disabled, None, None),
            (VerifyCode::Forbidden, None, None),
            (VerifyCode::ChannelNotFound, None, None),
            (VerifyCode::InsufficientPermissions, None, None),
            (VerifyCode::RateLimited, Some(rate), None),
            (VerifyCode::QuotaExceeded, Some(rate), Some(quota)),
        ] {
            let message = format!("refused: {}", code.as_str());
            let got = body(json_body(&VerifyResponse {
                ratelimit: r,
                quota: q,
                ..VerifyResponse::about(code, Some(&rich), Some(message.clone()))
            }))
            .await;
            check(got, shared(code, Some(&rich), Some(&message), r, q));
        }
        // Every code the server answers was checked above.
        assert_eq!(VerifyCode::ALL.len(), 11);
    }
}
