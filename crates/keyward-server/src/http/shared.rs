//! What the feature modules share: listings' pages and the audit event of a change.
//! A leaf: it uses no feature module, and `http/mod.rs` only routes into them.

use crate::auth::Principal;
use crate::errors::{ApiError, Result};
use chrono::{DateTime, Utc};
use keyward_store::{NewAuditEvent, PageRequest};

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 100;

use keyward_api::ListQuery;

/// The store's page request for a listing's query (`ListQuery` is keyward-api's).
pub trait PageRequestExt {
    fn page_request(&self) -> Result<PageRequest>;
}

impl PageRequestExt for ListQuery {
    fn page_request(&self) -> Result<PageRequest> {
        Ok(PageRequest {
            limit: page_limit(self.limit)?,
            cursor: self.cursor.clone(),
        })
    }
}

/// A listing's `limit`: 1 to [`MAX_PAGE`], default [`DEFAULT_PAGE`].
pub fn page_limit(limit: Option<u32>) -> Result<u32> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::validation(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    Ok(limit)
}

/// The target a record of `workspace` is: that workspace, or the whole organization.
pub fn workspace_target(workspace: Option<&str>) -> crate::authz::Target<'_> {
    match workspace {
        Some(w) => crate::authz::Target::Workspace(w),
        None => crate::authz::Target::Organization,
    }
}

/// The workspaces a listing keeps for the caller's key: `None` for a key of the whole
/// organization, its workspaces for a workspace key, none for any other scope.
pub fn workspaces_within(principal: &Principal) -> Option<Vec<String>> {
    match &principal.key.scope {
        keyward_core::Scope::Organization => None,
        keyward_core::Scope::Workspaces { workspaces } => Some(workspaces.clone()),
        _ => Some(vec![]),
    }
}

pub fn actor_event(
    principal: &Principal,
    at: DateTime<Utc>,
    action: &str,
    target_type: &str,
    target_id: &str,
    details: serde_json::Value,
) -> NewAuditEvent {
    NewAuditEvent {
        org_id: principal.org_id().to_owned(),
        at,
        actor: principal.actor(),
        action: action.to_owned(),
        target_type: target_type.to_owned(),
        target_id: target_id.to_owned(),
        source_ip: principal.source.map(|a| a.ip().to_string()),
        details,
    }
}

/// The address people reach this server at, for the links it hands out: the operator's
/// `public_url`, else `http://` and the request's `Host` (when it is a plain host and
/// port), else `http://localhost`. The link goes back to whoever asked, so a forged
/// `Host` misleads only its sender.
pub fn public_base(state: &crate::state::AppState, headers: &axum::http::HeaderMap) -> String {
    if let Some(url) = &state.policy.console.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        });
    // With secure cookies the server is reached over HTTPS: a one-time code must not
    // travel in the clear on its first click.
    let scheme = if state.policy.console.secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{}", host.unwrap_or("localhost"))
}

/// A store error as the API answers it, with `NotFound` as `code` (what is not found:
/// a webhook endpoint, a delivery, a worker) and `detail`.
pub fn or_missing(
    code: keyward_api::ErrorCode,
    detail: &'static str,
) -> impl Fn(keyward_store::StoreError) -> ApiError {
    move |e| match e {
        keyward_store::StoreError::NotFound => ApiError::Refused(code.clone(), detail.into()),
        other => other.into(),
    }
}
