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
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::validation(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        Ok(PageRequest {
            limit,
            cursor: self.cursor.clone(),
        })
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
