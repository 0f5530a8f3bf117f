//! `GET /v1/me`: who the bearer is.

use crate::auth::Principal;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use keyward_api::OrgRef;
pub use keyward_api::{Me, MeKey};
use keyward_core::expiry::KeyStatus;
use keyward_core::Owner;

/// Who am I? Any valid key may ask.
#[utoipa::path(get, path = "/v1/me", tag = "account",
    responses((status = 200, body = Me), (status = 401, body = crate::errors::Problem)),
    security(("bearer" = [])))]
pub async fn me(State(_state): State<AppState>, principal: Principal) -> Json<Me> {
    let k = &principal.key;
    let email = match &k.owner {
        Some(Owner::User { name, .. }) => Some(name.clone()),
        _ => None,
    };
    Json(Me {
        name: k
            .owner
            .as_ref()
            .map(|o| o.label().to_owned())
            .unwrap_or_else(|| k.name.clone()),
        email,
        owner: k.owner.clone(),
        org: OrgRef {
            id: k.org_id.clone(),
            name: k.org_name.clone(),
        },
        key: MeKey {
            id: k.id.clone(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            kind: k.kind,
            scope: k.scope.clone(),
            permissions: k.permissions.to_strings(),
            created_at: k.created_at,
            expires_at: k.expires_at,
            status: KeyStatus::Active,
        },
    })
}
