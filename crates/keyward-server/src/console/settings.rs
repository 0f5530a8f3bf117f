//! Organization settings: the name, the key limits (`max_keys`, `max_worker_keys`), the
//! legacy-token switch, the default rate limit and quota of new keys, and the rate
//! limits shared by all keys of one owner — through `http/orgs.rs` and `http/usage.rs`.
//! Everyone may read the settings; only owners and org admins see a form.

use super::failure::{Failure, PageResult};
use super::layout::{
    alert, api_request, csrf_field, form_problem, may, notice, page, path_segment,
};
use super::visitor::Signed;
use crate::authz::{Action, Target};
use crate::errors::ApiError;
use crate::extract::ApiJson;
use crate::http::{members, orgs, usage};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use keyward_api::{Member, OrgSettings, OwnerLimit, Quota, RateLimit, Refill};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

/// Periods offered for rate limits: (as the API writes them, label).
const PERIODS: &[(&str, &str)] = &[
    ("1s", "per second"),
    ("1m", "per minute"),
    ("1h", "per hour"),
    ("1d", "per day"),
];

pub fn ratelimit_text(r: &RateLimit) -> String {
    format!("{} per {}", r.limit, r.period_text())
}

pub fn quota_text(q: &Quota) -> String {
    let refill = match q.refill {
        Some(Refill::Daily) => ", refilled daily",
        Some(Refill::Monthly) => ", refilled monthly",
        None => " in total",
    };
    format!("{} credits{refill}", q.limit)
}

/// The settings form's fields, as the form sends them (all text).
#[derive(Deserialize, Default, Clone)]
pub struct SettingsForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    max_keys: String,
    #[serde(default)]
    max_worker_keys: String,
    /// A checkbox: sent only when ticked.
    #[serde(default)]
    allow_legacy_tokens: Option<String>,
    #[serde(default)]
    rate_limit: String,
    #[serde(default)]
    rate_period: String,
    #[serde(default)]
    quota_limit: String,
    #[serde(default)]
    quota_refill: String,
}

impl SettingsForm {
    fn of(name: &str, s: &OrgSettings) -> Self {
        Self {
            name: name.to_owned(),
            max_keys: s.max_keys.to_string(),
            max_worker_keys: s.max_worker_keys.to_string(),
            allow_legacy_tokens: s.allow_legacy_tokens.then(|| "on".into()),
            rate_limit: s
                .default_ratelimit
                .map(|r| r.limit.to_string())
                .unwrap_or_default(),
            rate_period: s
                .default_ratelimit
                .map(|r| r.period_text())
                .unwrap_or_else(|| "1m".into()),
            quota_limit: s
                .default_quota
                .map(|q| q.limit.to_string())
                .unwrap_or_default(),
            quota_refill: match s.default_quota.and_then(|q| q.refill) {
                Some(Refill::Daily) => "daily".into(),
                Some(Refill::Monthly) => "monthly".into(),
                None => String::new(),
            },
        }
    }

    /// The `PATCH /v1/organizations/{id}` body: blank limits remove the default.
    fn request(&self) -> Value {
        let rate = match self.rate_limit.trim() {
            "" => Value::Null,
            n => json!({ "limit": number(n), "period": self.rate_period.trim() }),
        };
        let quota = match (self.quota_limit.trim(), self.quota_refill.trim()) {
            ("", _) => Value::Null,
            (n, "") => json!({ "limit": number(n) }),
            (n, refill) => json!({ "limit": number(n), "refill": refill }),
        };
        json!({
            "name": self.name.trim(),
            "settings": {
                "max_keys": number(&self.max_keys),
                "max_worker_keys": number(&self.max_worker_keys),
                "allow_legacy_tokens": self.allow_legacy_tokens.is_some(),
                "default_ratelimit": rate,
                "default_quota": quota,
            },
        })
    }
}

/// A form's number as JSON: the number, or the text as typed, which the API then
/// refuses naming the field.
fn number(raw: &str) -> Value {
    let raw = raw.trim();
    raw.parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::String(raw.to_owned()))
}

fn period_select(id: &str, name: &str, chosen: &str) -> Markup {
    let known = PERIODS.iter().any(|(p, _)| *p == chosen);
    html! {
        select id=(id) name=(name) {
            @if !known && !chosen.is_empty() {
                option value=(chosen) selected { "per " (chosen) }
            }
            @for (value, label) in PERIODS {
                option value=(value) selected[*value == chosen] { (label) }
            }
        }
    }
}

/// The owner-limit form's fields.
#[derive(Deserialize, Default)]
pub struct OwnerLimitForm {
    #[serde(default)]
    owner_type: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    rate_limit: String,
    #[serde(default)]
    rate_period: String,
}

/// What came back to be fixed: the settings form or the owner-limit form.
enum Again<'a> {
    Settings(&'a SettingsForm, &'a str),
    OwnerLimit(&'a OwnerLimitForm, &'a str),
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

async fn render(
    state: &AppState,
    signed: &Signed,
    again: Option<Again<'_>>,
    done: Option<&str>,
) -> Result<Response, Failure> {
    let org = orgs::get_org(
        State(state.clone()),
        signed.principal.clone(),
        Path(signed.org_id.clone()),
    )
    .await?
    .0;
    let writes = may(
        state,
        signed,
        "organizations:write",
        Action::Write,
        Target::Organization,
    )
    .await;
    let reads_limits = may(
        state,
        signed,
        "limits:read",
        Action::Read,
        Target::AdminRecords,
    )
    .await;
    let (limits, people) = if reads_limits {
        let limits = usage::list_owner_limits(State(state.clone()), signed.principal.clone())
            .await?
            .0;
        let people = members::list_members(State(state.clone()), signed.principal.clone())
            .await?
            .0;
        (Some(limits), people)
    } else {
        (None, vec![])
    };
    let current = SettingsForm::of(&org.name, &org.settings);
    let (form, problem) = match &again {
        Some(Again::Settings(f, p)) => (*f, Some(*p)),
        _ => (&current, None),
    };
    let s = &org.settings;
    let body = html! {
        h1 { "Organization settings" }
        @match done {
            Some("saved") => (notice("The settings are saved.")),
            Some("limit") => (notice("The owner's rate limit is set; it applies to all their keys at once.")),
            Some("unlimited") => (notice("The owner's rate limit is removed.")),
            _ => {}
        }
        @if writes {
            @if let Some(p) = problem { (alert(p)) }
            (settings_form(signed, form))
        } @else {
            dl class="facts" {
                dt { "Name" } dd { (org.name) }
                dt { "Keys per organization" } dd { (s.max_keys) }
                dt { "Active worker keys per person per workspace" } dd { (s.max_worker_keys) }
                dt { "New legacy workspace tokens" } dd { (if s.allow_legacy_tokens { "allowed" } else { "not allowed" }) }
                dt { "Default rate limit of new keys" } dd { (s.default_ratelimit.as_ref().map(ratelimit_text).unwrap_or_else(|| "none".into())) }
                dt { "Default quota of new keys" } dd { (s.default_quota.as_ref().map(quota_text).unwrap_or_else(|| "none".into())) }
            }
            p class="hint" { "Owners and org admins change these." }
        }
        @if let Some(limits) = &limits {
            (owner_limits(signed, limits, &people, match &again { Some(Again::OwnerLimit(f, p)) => Some((*f, *p)), _ => None }))
        }
    };
    let status = if again.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, page(signed, "Organization settings", body)).into_response())
}

fn settings_form(signed: &Signed, f: &SettingsForm) -> Markup {
    html! {
        form class="stack" method="post" action="/console/settings" {
            (csrf_field(signed))
            div class="field" {
                label for="org-name" { "Name" }
                input id="org-name" type="text" name="name" value=(f.name) required maxlength="100";
            }
            fieldset {
                legend { "Key limits" }
                div class="field" {
                    label for="max-keys" { "Keys per organization" span class="hint" { " (every kind but worker keys and channel tokens; revoked keys free their slot)" } }
                    input id="max-keys" type="number" name="max_keys" value=(f.max_keys) min="1" max="1000000" required;
                }
                div class="field" {
                    label for="max-worker-keys" { "Active worker keys per person per workspace" }
                    input id="max-worker-keys" type="number" name="max_worker_keys" value=(f.max_worker_keys) min="1" max="1000000" required;
                }
            }
            fieldset {
                legend { "Legacy workspace tokens" }
                label class="choice" for="allow-legacy" {
                    input id="allow-legacy" type="checkbox" name="allow_legacy_tokens" checked[f.allow_legacy_tokens.is_some()];
                    "Allow new legacy workspace tokens (deprecated; for migrations only)"
                }
            }
            fieldset {
                legend { "Defaults for new keys created without limits of their own" }
                div class="field-row" {
                    div class="field" {
                        label for="rate-limit" { "Rate limit (requests)" }
                        input id="rate-limit" type="number" name="rate_limit" value=(f.rate_limit) min="1" placeholder="none";
                    }
                    div class="field" {
                        label for="rate-period" { "Period" }
                        (period_select("rate-period", "rate_period", &f.rate_period))
                    }
                }
                div class="field-row" {
                    div class="field" {
                        label for="quota-limit" { "Quota (credits)" }
                        input id="quota-limit" type="number" name="quota_limit" value=(f.quota_limit) min="1" placeholder="none";
                    }
                    div class="field" {
                        label for="quota-refill" { "Refill" }
                        select id="quota-refill" name="quota_refill" {
                            option value="" selected[f.quota_refill.is_empty()] { "never (a total)" }
                            option value="daily" selected[f.quota_refill == "daily"] { "daily" }
                            option value="monthly" selected[f.quota_refill == "monthly"] { "monthly" }
                        }
                    }
                }
                p class="hint" { "Leave a limit empty for none." }
            }
            div { button type="submit" { "Save settings" } }
        }
    }
}

fn owner_label(l: &OwnerLimit, people: &[Member]) -> String {
    match l.owner_type.as_str() {
        "user" => people
            .iter()
            .find(|m| m.user_id == l.owner_id)
            .map(|m| m.email.clone())
            .unwrap_or_else(|| l.owner_id.clone()),
        "service_account" => format!("service account {}", l.owner_id),
        _ => format!("customer {}", l.owner_id),
    }
}

fn owner_limits(
    signed: &Signed,
    limits: &[OwnerLimit],
    people: &[Member],
    again: Option<(&OwnerLimitForm, &str)>,
) -> Markup {
    let empty = OwnerLimitForm::default();
    let (f, problem) = match again {
        Some((f, p)) => (f, Some(p)),
        None => (&empty, None),
    };
    let period = if f.rate_period.is_empty() {
        "1m"
    } else {
        f.rate_period.as_str()
    };
    html! {
        section aria-labelledby="owner-limits" {
            h2 id="owner-limits" { "Rate limits per owner" }
            p class="hint" { "One limit shared by all keys of a person, a service account or one of your customers, so more keys do not buy more traffic." }
            @if limits.is_empty() {
                p class="muted" { "No owner has a shared limit." }
            } @else {
                div class="table-wrap" {
                    table {
                        thead { tr { th scope="col" { "Owner" } th scope="col" { "Limit" } th scope="col" { span class="visually-hidden" { "Actions" } } } }
                        tbody {
                            @for l in limits {
                                @let who = owner_label(l, people);
                                tr {
                                    td { (who) }
                                    td { (ratelimit_text(&l.ratelimit)) }
                                    td {
                                        form method="post" action={ "/console/settings/owner-limits/" (path_segment(&l.owner_type)) "/" (path_segment(&l.owner_id)) "/delete" } {
                                            (csrf_field(signed))
                                            button type="submit" class="secondary" aria-label={ "Remove the limit of " (who) } { "Remove" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h3 { "Set an owner's limit" }
            @if let Some(p) = problem { (alert(p)) }
            form class="stack" method="post" action="/console/settings/owner-limits" {
                (csrf_field(signed))
                div class="field" {
                    label for="owner-type" { "Owner is" }
                    select id="owner-type" name="owner_type" {
                        option value="user" selected[f.owner_type == "user"] { "a person" }
                        option value="service_account" selected[f.owner_type == "service_account"] { "a service account" }
                        option value="external" selected[f.owner_type == "external" || f.owner_type.is_empty()] { "a customer" }
                    }
                }
                div class="field" {
                    label for="owner-id" { "Owner" span class="hint" { " (a person's email or user id, a service account's id, or your customer's id)" } }
                    input id="owner-id" type="text" name="owner" value=(f.owner) required maxlength="200";
                }
                div class="field-row" {
                    div class="field" {
                        label for="owner-rate" { "Requests" }
                        input id="owner-rate" type="number" name="rate_limit" value=(f.rate_limit) min="1" required;
                    }
                    div class="field" {
                        label for="owner-period" { "Period" }
                        (period_select("owner-period", "rate_period", period))
                    }
                }
                div { button type="submit" { "Set limit" } }
            }
        }
    }
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Query(done): Query<Done>,
) -> PageResult {
    render(&state, &signed, None, done.done.as_deref()).await
}

/// Saves through `PATCH /v1/organizations/{id}`.
pub async fn save(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<SettingsForm>,
) -> PageResult {
    let saved = match api_request(form.request()) {
        Ok(req) => orgs::update_org(
            State(state.clone()),
            signed.principal.clone(),
            Path(signed.org_id.clone()),
            ApiJson(req),
        )
        .await
        .map(drop),
        Err(e) => Err(e),
    };
    match saved {
        Ok(()) => Ok(Redirect::to("/console/settings?done=saved").into_response()),
        Err(e) => {
            let problem = form_problem(e)?;
            render(
                &state,
                &signed,
                Some(Again::Settings(&form, &problem)),
                None,
            )
            .await
        }
    }
}

/// Sets an owner's shared limit through `PUT /v1/owner-limits/{type}/{id}`; a person is
/// named by email or id.
pub async fn set_owner_limit(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<OwnerLimitForm>,
) -> PageResult {
    // A customer's id is taken as typed (the API refuses surrounding spaces rather than
    // trimming them); a person may be named by email.
    let mut owner = form.owner.clone();
    if form.owner_type != "external" {
        owner = owner.trim().to_owned();
    }
    if form.owner_type == "user" && owner.contains('@') {
        let people = members::list_members(State(state.clone()), signed.principal.clone())
            .await?
            .0;
        if let Some(m) = people.iter().find(|m| m.email.eq_ignore_ascii_case(&owner)) {
            owner = m.user_id.clone();
        }
    }
    let body = json!({ "ratelimit": { "limit": number(&form.rate_limit), "period": form.rate_period.trim() } });
    let set = match api_request(body) {
        Ok(req) => usage::set_owner_limit(
            State(state.clone()),
            signed.principal.clone(),
            Path((form.owner_type.clone(), owner)),
            ApiJson(req),
        )
        .await
        .map(drop),
        Err(e) => Err(e),
    };
    match set {
        Ok(()) => Ok(Redirect::to("/console/settings?done=limit").into_response()),
        Err(ApiError::NotFound(what)) => {
            let problem = format!("No such {what} in this organization.");
            render(
                &state,
                &signed,
                Some(Again::OwnerLimit(&form, &problem)),
                None,
            )
            .await
        }
        Err(e) => {
            let problem = form_problem(e)?;
            render(
                &state,
                &signed,
                Some(Again::OwnerLimit(&form, &problem)),
                None,
            )
            .await
        }
    }
}

/// Removes an owner's shared limit through `DELETE /v1/owner-limits/{type}/{id}`.
pub async fn delete_owner_limit(
    State(state): State<AppState>,
    signed: Signed,
    Path((owner_type, owner_id)): Path<(String, String)>,
) -> PageResult {
    usage::delete_owner_limit(
        State(state),
        signed.principal.clone(),
        Path((owner_type, owner_id)),
    )
    .await?;
    Ok(Redirect::to("/console/settings?done=unlimited").into_response())
}
