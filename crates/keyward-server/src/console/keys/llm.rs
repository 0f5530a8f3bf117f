//! "Copy for LLM": a key's setup as plain text for asking an assistant for help —
//! organization, name, visible prefix, status, scope, permissions, expiry, limits and
//! the key's recent audit events — and never a secret. It is built only from what the
//! API shows (`KeyView` has no key and no hash) and the key's audit events, whose
//! details (free-form JSON) are left out.

use super::super::failure::PageResult;
use super::super::layout::page;
use super::super::visitor::Signed;
use super::actions::{key_for, BackQuery};
use super::context::Context;
use super::view::{self, Back};
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use keyward_api::{AuditEvent, KeyView, ListQuery};
use maud::html;
use std::fmt::Write as _;

/// How many of the key's latest events the summary lists.
const EVENTS: u32 = 10;

fn when(at: Option<chrono::DateTime<chrono::Utc>>, none: &str) -> String {
    at.map_or_else(
        || none.to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// The summary's text.
pub fn summary(
    signed: &Signed,
    ctx: &Context,
    k: &KeyView,
    events: Option<&[AuditEvent]>,
) -> String {
    let mut s = String::new();
    let mut line = |label: &str, value: &str| {
        let _ = writeln!(s, "{label}: {value}");
    };
    line("Service", "Keyward (self-hosted API keys)");
    line(
        "Organization",
        &format!("{} ({})", signed.org_name, signed.org_id),
    );
    line("Key name", &k.name);
    line("Key id", &k.id);
    line(
        "Visible prefix",
        &format!(
            "{}… (the rest of the key is secret and not included)",
            k.prefix
        ),
    );
    line("Kind", view::kind_label(k.kind, k.environment));
    line("Belongs to", &view::owner_text(k));
    line("Status", view::status_label(k.status));
    line("Scope", &view::reach_text(ctx, k));
    line("Permissions", &view::permissions_text(&k.permissions));
    line(
        "Created",
        &format!("{} by {}", when(Some(k.created_at), ""), k.created_by),
    );
    line("Expires", &when(k.expires_at, "never"));
    line("Last used", &when(k.last_used_at, "never"));
    if let Some(r) = k.ratelimit {
        line(
            "Rate limit",
            &format!("{} requests per {}", r.limit, r.period_text()),
        );
    }
    if let Some(q) = k.quota {
        let refill = match q.refill {
            Some(keyward_core::Refill::Daily) => ", refilled daily",
            Some(keyward_core::Refill::Monthly) => ", refilled monthly",
            None => "",
        };
        line("Quota", &format!("{} credits{refill}", q.limit));
    }
    if let Some(r) = k.revoked_at {
        line("Revoked", &when(Some(r), ""));
    }
    if let Some(to) = &k.rotated_to {
        line("Rotated to", to);
    }
    if let Some(from) = &k.rotated_from {
        line("Rotated from", from);
    }
    let _ = writeln!(s, "Recent events (newest first):");
    match events {
        Some([]) => {
            let _ = writeln!(s, "- none");
        }
        Some(events) => {
            for e in events {
                let _ = writeln!(
                    s,
                    "- {} {} by {}",
                    when(Some(e.at), ""),
                    e.action,
                    e.actor.name
                );
            }
        }
        None => {
            let _ = writeln!(s, "- not shown (your role does not read this key's events)");
        }
    }
    let _ = writeln!(
        s,
        "Verify answers a code: VALID, MALFORMED, NOT_FOUND, REVOKED, EXPIRED, DISABLED, FORBIDDEN, \
         INSUFFICIENT_PERMISSIONS, CHANNEL_NOT_FOUND, RATE_LIMITED or QUOTA_EXCEEDED."
    );
    s
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<BackQuery>,
) -> PageResult {
    let back = Back::parse(q.back.as_deref());
    let (k, ctx) = tokio::try_join!(
        key_for(&state, &signed, &id),
        Context::load(&state, &signed)
    )?;
    // A person who may not read the key's events still gets the rest.
    let events = crate::http::audit::key_audit(
        State(state.clone()),
        signed.principal.clone(),
        Path(id),
        ApiQuery(ListQuery {
            limit: Some(EVENTS),
            cursor: None,
        }),
    )
    .await
    .ok()
    .map(|page| page.0.data);
    let text = summary(&signed, &ctx, &k, events.as_deref());
    // Long lines wrap: a few rows more than lines, so that it all shows at once.
    let rows = (text.lines().count() + 4).clamp(8, 40);
    let body = html! {
        p { a href=(back.path()) { "← " (back.label()) } }
        h1 { "Copy for LLM: " (k.name) }
        p { "This key's setup as plain text, to paste into an assistant when you ask for help. It holds no secret: not the key, not its hash — only the visible prefix. Add the command you ran and the error you saw; remove secrets from terminal output before sharing it." }
        div class="field" {
            label for="llm-text" { "Summary" }
            textarea id="llm-text" class="llm" readonly rows=(rows) spellcheck="false" { (text) }
        }
        p class="actions" {
            button type="button" data-copy="llm-text" hidden { "Copy" }
            a class="button secondary" href=(back.path()) { "Back" }
        }
    };
    Ok(page(&signed, &format!("Copy for LLM: {}", k.name), body).into_response())
}
