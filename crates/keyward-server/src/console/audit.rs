//! Audit Log: who did what, newest first, filtered by actor, action, target and time,
//! a page at a time ("Older" / "Newer"). Read through `GET /v1/audit-log`'s handler, so
//! owners and admins see every event and others the events about the keys they manage.

use super::failure::PageResult;
use super::layout::{alert, form_problem, page, time};
use super::visitor::Signed;
use crate::extract::ApiQuery;
use crate::http::audit::{list_audit, AuditQuery};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use keyward_api::AuditEvent;
use maud::{html, Markup};
use serde::Deserialize;

const PAGE: u32 = 50;

/// Actions people look for most, offered as suggestions.
const ACTIONS: &[&str] = &[
    "key.*",
    "key.create",
    "key.update",
    "key.rotate",
    "key.revoke",
    "member.*",
    "member.invite",
    "member.add",
    "member.update",
    "member.remove",
    "password.*",
    "channel.*",
    "workspace.*",
    "agent.*",
    "service_account.*",
    "owner_limit.*",
    "org.update",
];

/// The page's query string: the filters as the form sends them, and where the page is.
#[derive(Deserialize, Default, Clone)]
pub struct AuditForm {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    cursor: Option<String>,
    after: Option<String>,
}

/// A `datetime-local` value (`2030-01-02T10:00`, read as UTC) as RFC 3339; anything else
/// (a date, `24h`, RFC 3339) as typed, for the API to read or refuse.
fn instant(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let local =
        raw.len() >= 16 && raw.as_bytes().get(10) == Some(&b'T') && !raw.contains(['Z', '+']);
    Some(match (local, raw.len()) {
        (true, 16) => format!("{raw}:00Z"),
        (true, 19) => format!("{raw}Z"),
        _ => raw.to_owned(),
    })
}

fn blank_to_none(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl AuditForm {
    fn query(&self) -> AuditQuery {
        AuditQuery {
            limit: Some(PAGE),
            cursor: self.cursor.clone().filter(|c| !c.is_empty()),
            after: self.after.clone().filter(|c| !c.is_empty()),
            actor: blank_to_none(&self.actor),
            action: blank_to_none(&self.action),
            target: blank_to_none(&self.target),
            from: instant(&self.from),
            to: instant(&self.to),
        }
    }

    fn filtered(&self) -> bool {
        [
            &self.actor,
            &self.action,
            &self.target,
            &self.from,
            &self.to,
        ]
        .iter()
        .any(|f| !f.trim().is_empty())
    }

    /// This page's filters with another position (`cursor` or `after`).
    fn link(&self, position: (&str, &str)) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("target", &self.target),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.trim().is_empty() {
                q.append_pair(k, v);
            }
        }
        q.append_pair(position.0, position.1);
        format!("/console/audit?{}", q.finish())
    }
}

fn filters(f: &AuditForm) -> Markup {
    html! {
        form class="filters" method="get" action="/console/audit" role="search" aria-label="Filter the audit log" {
            div class="field" {
                label for="f-actor" { "Actor" }
                input id="f-actor" type="text" name="actor" value=(f.actor) placeholder="email or id";
            }
            div class="field" {
                label for="f-action" { "Action" }
                input id="f-action" type="text" name="action" value=(f.action) list="actions" placeholder="key.revoke or key.*";
                datalist id="actions" { @for a in ACTIONS { option value=(a) {} } }
            }
            div class="field" {
                label for="f-target" { "Target" }
                input id="f-target" type="text" name="target" value=(f.target) placeholder="an id, or key, user, channel…";
            }
            div class="field" {
                label for="f-from" { "From (UTC)" }
                input id="f-from" type="datetime-local" name="from" value=(f.from);
            }
            div class="field" {
                label for="f-to" { "To (UTC)" }
                input id="f-to" type="datetime-local" name="to" value=(f.to);
            }
            div class="filter-buttons" {
                button type="submit" { "Filter" }
                @if f.filtered() { a class="button secondary" href="/console/audit" { "Clear filters" } }
            }
        }
    }
}

fn event_row(e: &AuditEvent) -> Markup {
    html! {
        tr {
            td { (time(e.at)) }
            td {
                (e.actor.name)
                @if e.actor.actor_type != "user" { " " span class="muted" { "(" (e.actor.actor_type) ")" } }
            }
            td { code { (e.action) } }
            td { span class="muted" { (e.target.target_type) } " " @if !e.target.id.is_empty() { code { (e.target.id) } } }
            td { (e.source_ip.as_deref().unwrap_or("—")) }
            td {
                @if e.details.as_object().is_some_and(|o| !o.is_empty()) {
                    details {
                        summary aria-label={ "Details of event " (e.id) } { "Details" }
                        pre class="mono" { (serde_json::to_string_pretty(&e.details).unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(form): Query<AuditForm>,
) -> PageResult {
    let result = list_audit(
        State(state.clone()),
        signed.principal.clone(),
        ApiQuery(form.query()),
    )
    .await;
    let (events, next, problem) = match result {
        Ok(page) => (page.0.data, page.0.next_cursor, None),
        Err(e) => (vec![], None, Some(form_problem(e)?)),
    };
    let via_after = form.after.as_deref().is_some_and(|a| !a.is_empty());
    let via_cursor = form.cursor.as_deref().is_some_and(|c| !c.is_empty());
    let older = match (via_after, events.last()) {
        (true, Some(last)) => Some(form.link(("cursor", &last.id.to_string()))),
        _ => next
            .as_deref()
            .filter(|_| !via_after)
            .map(|c| form.link(("cursor", c))),
    };
    let newer = match (via_after, via_cursor) {
        (true, _) => next.as_deref().map(|c| form.link(("after", c))),
        (false, true) => events
            .first()
            .map(|first| form.link(("after", &first.id.to_string()))),
        _ => None,
    };
    let body = html! {
        h1 { "Audit Log" }
        (filters(&form))
        @if let Some(p) = &problem { (alert(p)) }
        @if events.is_empty() && problem.is_none() {
            p class="muted" { (if form.filtered() { "No event matches these filters." } else { "No events here." }) }
        } @else if !events.is_empty() {
            div class="table-wrap" {
                table class="events" {
                    caption class="visually-hidden" { "Audit events, newest first" }
                    thead { tr {
                        th scope="col" { "Time" } th scope="col" { "Actor" } th scope="col" { "Action" }
                        th scope="col" { "Target" } th scope="col" { "Address" } th scope="col" { "Details" }
                    } }
                    tbody { @for e in &events { (event_row(e)) } }
                }
            }
        }
        @if newer.is_some() || older.is_some() {
            nav class="pager" aria-label="Audit log pages" {
                @if let Some(href) = &newer { a href=(href) rel="prev" { "← Newer" } }
                @if let Some(href) = &older { a href=(href) rel="next" { "Older →" } }
            }
        }
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, page(&signed, "Audit Log", body)).into_response())
}
