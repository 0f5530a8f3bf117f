//! `POST /v1/keys/verify`: the question other services ask, answered with 200 and a
//! `code` whatever the key's state, so callers branch on one field.

use crate::auth::Principal;
use crate::errors::{ApiError, Result};
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::verify::Verdict;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use keyward_core::{Owner, Permission, Scope};
use keyward_store::KeyRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The key to check, as presented to your service.
    pub key: String,
    /// A permission the key must hold, e.g. `keys:read`.
    pub permission: Option<String>,
}

#[derive(Debug, Serialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerifyCode {
    Valid,
    Malformed,
    NotFound,
    Revoked,
    Expired,
    InsufficientPermissions,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResponse {
    pub valid: bool,
    pub code: VerifyCode,
    /// Why the key is not valid, for people.
    pub message: Option<String>,
    pub key_id: Option<String>,
    pub name: Option<String>,
    pub owner: Option<Owner>,
    pub org: Option<OrgRef>,
    pub scope: Option<Scope>,
    pub permissions: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

impl VerifyResponse {
    fn about(code: VerifyCode, key: Option<&KeyRecord>, message: Option<String>) -> Self {
        Self {
            valid: code == VerifyCode::Valid,
            code,
            message,
            key_id: key.map(|k| k.id.clone()),
            name: key.map(|k| k.name.clone()),
            owner: key.and_then(|k| k.owner.clone()),
            org: key.map(|k| OrgRef {
                id: k.org_id.clone(),
                name: k.org_name.clone(),
            }),
            scope: key.map(|k| k.scope.clone()),
            permissions: key.map(|k| k.permissions.to_strings()),
            expires_at: key.and_then(|k| k.expires_at),
            metadata: key.and_then(|k| k.metadata.clone()),
        }
    }
}

/// Is this key valid, and may it do X? Always 200; read `code`.
#[utoipa::path(post, path = "/v1/keys/verify", tag = "verify", request_body = VerifyRequest,
    responses((status = 200, body = VerifyResponse), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["keys:verify"])))]
pub async fn verify_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<Json<VerifyResponse>> {
    principal.require("keys:verify")?;
    let wanted = req
        .permission
        .as_deref()
        .map(Permission::parse)
        .transpose()
        .map_err(|e| ApiError::validation("permission", e))?;
    let verdict = state.check_key_in_org(&req.key, principal.org_id()).await?;
    let response = match verdict {
        Verdict::Malformed(e) => {
            VerifyResponse::about(VerifyCode::Malformed, None, Some(e.to_string()))
        }
        Verdict::NotFound => {
            VerifyResponse::about(VerifyCode::NotFound, None, Some("no such key".into()))
        }
        Verdict::Revoked(k) => VerifyResponse::about(
            VerifyCode::Revoked,
            Some(&k),
            Some("the key was revoked".into()),
        ),
        Verdict::Expired(k) => VerifyResponse::about(
            VerifyCode::Expired,
            Some(&k),
            Some("the key has expired".into()),
        ),
        Verdict::Valid(k) => match wanted {
            Some(p) if !k.permissions.allows(p.resource(), p.action()) => VerifyResponse::about(
                VerifyCode::InsufficientPermissions,
                Some(&k),
                Some(format!("the key lacks {p}")),
            ),
            _ => VerifyResponse::about(VerifyCode::Valid, Some(&k), None),
        },
    };
    Ok(Json(response))
}
