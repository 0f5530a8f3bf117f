//! One-time password links: issued for a new owner (first start, `keyward bootstrap`),
//! by an admin for a member who forgot theirs, and redeemed on the console's password
//! page. The link holds a random `kw_pwl_` code; only its SHA-256 is stored.

use chrono::{DateTime, Duration, Utc};
use keyward_core::ids;
use keyward_core::invite::{InviteCode, PasswordLinkCode};
use keyward_store::{Actor, NewAuditEvent, NewPasswordLink, PasswordPurpose, Store};

/// The console path that redeems a link (`?code=` follows).
pub const PATH: &str = "/console/password";

/// The URL of a link on the server at `base` (`http://127.0.0.1:8080`).
pub fn url(base: &str, code: &PasswordLinkCode) -> String {
    format!(
        "{}{PATH}?code={}",
        base.trim_end_matches('/'),
        code.expose_secret()
    )
}

/// The console path where an invited person joins (`?code=kw_inv_…` follows).
pub const JOIN_PATH: &str = "/console/join";

/// The link of an invitation on the server at `base`: the same one-time code as a link
/// to the console's join page.
pub fn join_url(base: &str, code: &InviteCode) -> String {
    format!(
        "{}{JOIN_PATH}?code={}",
        base.trim_end_matches('/'),
        code.expose_secret()
    )
}

/// What a new link is for and who asks for it.
pub struct Issue<'a> {
    pub user_id: &'a str,
    pub org_id: &'a str,
    pub purpose: PasswordPurpose,
    pub at: DateTime<Utc>,
    pub lifetime: Duration,
    /// Who asks: the admin's actor, or the system for a first start.
    pub actor: Actor,
    pub source_ip: Option<String>,
}

/// Stores a new link (older unused links of the purpose stop working) and returns its
/// code, to be shown once.
pub async fn issue(store: &dyn Store, i: Issue<'_>) -> keyward_store::Result<PasswordLinkCode> {
    let code = PasswordLinkCode::generate();
    let created_by = i.actor.id.clone().unwrap_or_else(|| i.actor.name.clone());
    let link = NewPasswordLink {
        id: ids::new_id("pwl"),
        user_id: i.user_id.to_owned(),
        org_id: i.org_id.to_owned(),
        purpose: i.purpose,
        token_hash: code.hash(),
        created_at: i.at,
        expires_at: i.at + i.lifetime,
        created_by,
    };
    let audit = NewAuditEvent {
        org_id: i.org_id.to_owned(),
        at: i.at,
        actor: i.actor,
        action: "password.link".into(),
        target_type: "user".into(),
        target_id: i.user_id.to_owned(),
        source_ip: i.source_ip,
        details: serde_json::json!({ "purpose": i.purpose.as_str(), "link": link.id, "expires_at": link.expires_at }),
    };
    store.create_password_link(link, audit).await?;
    Ok(code)
}

/// The actor of links the server issues on its own (the first owner's).
pub fn system_actor() -> Actor {
    Actor {
        actor_type: "system".into(),
        id: None,
        name: "system".into(),
        key_id: None,
        authority: None,
    }
}
