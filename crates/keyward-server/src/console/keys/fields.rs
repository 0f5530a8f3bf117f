//! The parts of a key form as markup: name, kind, expiry, permissions, scope, the
//! workspace or channel of bound keys, rate limit and quota. Each part shows what was
//! typed and, next to it, what is wrong with it (`role="alert"`). Parts that belong to
//! one choice (`data-when`) are shown only while it is chosen, by `console.js`; without
//! it every part shows.

use super::context::Context;
use super::form::{filled, KeyForm, Part, Problem};
use chrono::{DateTime, Utc};
use keyward_core::expiry::PRESETS;
use keyward_core::permission::{NAMED_ACTIONS, RESOURCES};
use keyward_core::KeyKind;
use maud::{html, Markup};

/// The message of `problem` if it belongs to `part`, as an alert with the id the part's
/// input points at (`aria-describedby`).
fn error(problem: Option<&Problem>, part: Part, id: &str) -> (Markup, Option<String>) {
    match problem.and_then(|p| p.at(part)) {
        Some(message) => {
            let err = format!("{id}-error");
            (
                html! { p class="alert field-error" role="alert" id=(err) { (message) } },
                Some(err),
            )
        }
        None => (html! {}, None),
    }
}

/// A problem that belongs to no part: above the form.
pub fn top_problem(problem: Option<&Problem>) -> Markup {
    error(problem, Part::Top, "form").0
}

pub fn name(form: &KeyForm, problem: Option<&Problem>, hint: &str) -> Markup {
    let (alert, described) = error(problem, Part::Name, "name");
    html! {
        div class="field" {
            label for="name" { "Name" }
            span class="hint" id="name-hint" { (hint) }
            (alert)
            input id="name" type="text" name="name" value=(form.name) required maxlength="100"
                autocomplete="off" aria-invalid=[described.as_ref().map(|_| "true")]
                aria-describedby=(described.unwrap_or_else(|| "name-hint".into()));
        }
    }
}

/// What a kind offered on a page is, and why it cannot be made now, if it cannot.
pub struct Offer {
    pub kind: KeyKind,
    pub label: &'static str,
    pub hint: String,
    pub unavailable: Option<String>,
}

/// The kinds a page offers: radio buttons, or a hidden field when there is one.
pub fn kind(offers: &[Offer], chosen: KeyKind, problem: Option<&Problem>) -> Markup {
    let (alert, _) = error(problem, Part::Kind, "kind");
    html! {
        @if let [only] = offers {
            input type="hidden" name="kind" value=(only.kind.as_str());
            (alert)
        } @else {
            fieldset {
                legend { "Kind of key" }
                (alert)
                @for o in offers {
                    div class="choice-block" {
                        label class="choice" {
                            input type="radio" name="kind" value=(o.kind.as_str()) data-shows
                                checked[o.kind == chosen] disabled[o.unavailable.is_some()];
                            (o.label)
                        }
                        span class="hint" {
                            (o.hint)
                            @if let Some(why) = &o.unavailable { " " strong { (why) } }
                        }
                    }
                }
            }
        }
    }
}

pub fn expiry(form: &KeyForm, problem: Option<&Problem>, now: DateTime<Utc>) -> Markup {
    let (alert, described) = error(problem, Part::Expires, "expires");
    let chosen = filled(&form.expires).unwrap_or("never");
    let label = |preset: &str| match preset {
        "1y" => "1 year".to_owned(),
        p => format!("{} days", p.trim_end_matches('d')),
    };
    let tomorrow = (now + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    html! {
        div class="field" {
            label for="expires" { "Expiration" }
            (alert)
            select id="expires" name="expires" data-shows aria-invalid=[described.as_ref().map(|_| "true")]
                aria-describedby=[described.clone()] {
                option value="never" selected[chosen == "never"] { "No expiration" }
                @for (preset, _) in PRESETS {
                    option value=(preset) selected[chosen == *preset] { (label(preset)) }
                }
                option value="custom" selected[chosen == "custom"] { "Custom date…" }
            }
        }
        div class="field" data-when="expires=custom" {
            label for="expires_on" { "Expires on (00:00 UTC)" }
            input id="expires_on" type="date" name="expires_on" min=(tomorrow)
                value=(filled(&form.expires_on).unwrap_or_default());
        }
    }
}

/// All / Read only / Restricted, with a level per resource and the named actions.
pub fn permissions(form: &KeyForm, problem: Option<&Problem>, legend: &str, hint: &str) -> Markup {
    let (alert, _) = error(problem, Part::Permissions, "permissions");
    let chosen = filled(&form.permissions).unwrap_or("all");
    let granted = |g: &str| form.grant.iter().any(|x| x == g);
    html! {
        fieldset class="permissions" {
            legend { (legend) }
            span class="hint" { (hint) }
            (alert)
            @for (value, label, what) in [
                ("all", "All", "every action, as far as your own access goes"),
                ("read_only", "Read only", "read actions only: list, get, query"),
                ("restricted", "Restricted", "choose per resource"),
            ] {
                label class="choice" {
                    input type="radio" name="permissions" value=(value) data-shows checked[chosen == value];
                    (label) span class="hint" { " — " (what) }
                }
            }
            div class="restricted" data-when="permissions=restricted" {
                div class="table-wrap" {
                    table {
                        caption class="visually-hidden" { "Access per resource" }
                        thead { tr { th scope="col" { "Resource" } th scope="col" { "Access" } } }
                        tbody {
                            @for (resource, what) in RESOURCES {
                                @let id = format!("grant-{resource}");
                                @let read = format!("{resource}:read");
                                @let write = format!("{resource}:write");
                                tr {
                                    td { label for=(id) { (what) } br; code { (resource) } }
                                    td {
                                        select id=(id) name="grant" {
                                            option value="" { "No access" }
                                            option value=(read) selected[granted(&read)] { "Read" }
                                            option value=(write) selected[granted(&write)] { "Read and write" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                fieldset {
                    legend { "Named actions" }
                    @for (action, what) in NAMED_ACTIONS {
                        label class="choice" {
                            input type="checkbox" name="grant" value=(action) checked[granted(action)];
                            (what) " " code { (action) }
                        }
                    }
                }
                div class="field" {
                    label for="other_grants" { "Other grants" }
                    span class="hint" id="other-hint" { "resource:action, separated by commas (e.g. contacts:read)" }
                    input id="other_grants" type="text" name="other_grants" aria-describedby="other-hint"
                        value=(filled(&form.other_grants).unwrap_or_default());
                }
            }
        }
    }
}

/// All workspaces, chosen workspaces, or one agent. Agent admins are offered their
/// agents only (the API refuses the rest).
pub fn scope(
    form: &KeyForm,
    problem: Option<&Problem>,
    ctx: &Context,
    when: Option<&str>,
) -> Markup {
    let (alert, _) = error(problem, Part::Scope, "scope");
    let agents = ctx.own_agents();
    let agent_only = ctx.is_agent_admin();
    let chosen = match filled(&form.scope) {
        Some(s) => s,
        None if agent_only => "agent",
        None => "organization",
    };
    let picked_agent = filled(&form.agent);
    html! {
        fieldset data-when=[when] {
            legend { "Scope" }
            (alert)
            @if !agent_only {
                label class="choice" {
                    input type="radio" name="scope" value="organization" data-shows checked[chosen == "organization"];
                    "All workspaces" span class="hint" { " — the whole organization" }
                }
                label class="choice" {
                    input type="radio" name="scope" value="workspaces" data-shows checked[chosen == "workspaces"]
                        disabled[ctx.workspaces.is_empty()];
                    "Chosen workspaces"
                    @if ctx.workspaces.is_empty() { span class="hint" { " — there are no workspaces yet" } }
                }
                div class="indent" data-when="scope=workspaces" {
                    @for w in &ctx.workspaces {
                        label class="choice" {
                            input type="checkbox" name="workspaces" value=(w.id) checked[form.workspaces.contains(&w.id)];
                            (w.name)
                        }
                    }
                }
            }
            label class="choice" {
                input type="radio" name="scope" value="agent" data-shows checked[chosen == "agent"]
                    disabled[agents.is_empty()];
                "One agent"
                @if agents.is_empty() { span class="hint" { " — there are no agents yet" } }
            }
            div class="field indent" data-when="scope=agent" {
                label for="agent" { "Agent" }
                select id="agent" name="agent" {
                    @for a in &agents {
                        option value=(a.id) selected[picked_agent == Some(a.id.as_str())] { (a.name) }
                    }
                }
            }
        }
    }
}

/// The workspace a worker (or legacy) key is bound to; workspaces where the person has
/// all their worker keys already are offered but marked full.
pub fn workspace(
    form: &KeyForm,
    problem: Option<&Problem>,
    ctx: &Context,
    kind: KeyKind,
) -> Markup {
    let (alert, described) = error(problem, Part::Workspace, "workspace");
    let picked = filled(&form.workspace);
    let max = ctx.settings.max_worker_keys;
    html! {
        div class="field" data-when={ "kind=" (kind.as_str()) } {
            label for="workspace" { "Workspace" }
            @if kind == KeyKind::Worker {
                span class="hint" id="workspace-hint" { "Your active worker keys per workspace, of " (max) " allowed." }
            }
            (alert)
            select id="workspace" name="workspace" aria-describedby=[described.or_else(|| (kind == KeyKind::Worker).then(|| "workspace-hint".to_owned()))] {
                @for w in &ctx.workspaces {
                    @let full = kind == KeyKind::Worker && !ctx.worker_room_in(&w.id);
                    option value=(w.id) selected[picked == Some(w.id.as_str())] disabled[full] {
                        (w.name)
                        @if kind == KeyKind::Worker { " (" (ctx.worker_keys_in(&w.id)) " of " (max) @if full { ", full" } ")" }
                    }
                }
            }
        }
    }
}

pub fn channel(form: &KeyForm, problem: Option<&Problem>, ctx: &Context) -> Markup {
    let (alert, described) = error(problem, Part::Channel, "channel");
    let picked = filled(&form.channel);
    html! {
        div class="field" data-when="kind=channel" {
            label for="channel" { "Channel" }
            (alert)
            select id="channel" name="channel" aria-describedby=[described] {
                @for c in ctx.own_channels() {
                    option value=(c.id) selected[picked == Some(c.id.as_str())] {
                        (c.name) " — agent " (ctx.name(&c.agent_id))
                    }
                }
            }
        }
    }
}

/// An api key's environment and customer.
pub fn customer(form: &KeyForm, problem: Option<&Problem>) -> Markup {
    let (env_alert, _) = error(problem, Part::Environment, "environment");
    let (alert, described) = error(problem, Part::Customer, "customer");
    let test = filled(&form.environment) == Some("test");
    html! {
        div class="group" data-when="kind=api" {
            fieldset {
                legend { "Environment" }
                (env_alert)
                label class="choice" { input type="radio" name="environment" value="live" checked[!test]; "Live" code { "kw_live_…" } }
                label class="choice" { input type="radio" name="environment" value="test" checked[test]; "Test" code { "kw_test_…" } }
            }
            div class="field" {
                label for="customer" { "Customer id (optional)" }
                span class="hint" id="customer-hint" { "Your own identifier of the customer this key is for, e.g. cus_42." }
                (alert)
                input id="customer" type="text" name="customer" maxlength="255"
                    value=(filled(&form.customer).unwrap_or_default())
                    aria-describedby=(described.unwrap_or_else(|| "customer-hint".into()));
            }
        }
    }
}

/// Rate limit and quota; empty leaves the organization's defaults (on creation) or
/// removes the limit (when editing).
pub fn limits(form: &KeyForm, problem: Option<&Problem>, empty_means: &str) -> Markup {
    let (rate_alert, rate_err) = error(problem, Part::RateLimit, "rate");
    let (quota_alert, quota_err) = error(problem, Part::Quota, "quota");
    let period = filled(&form.rate_period).unwrap_or("1m");
    let refill = filled(&form.quota_refill).unwrap_or("");
    html! {
        fieldset {
            legend { "Rate limit and quota" }
            span class="hint" { (empty_means) }
            (rate_alert)
            div class="inline" {
                div class="field" {
                    label for="rate_limit" { "Requests" }
                    input id="rate_limit" type="number" name="rate_limit" min="1" inputmode="numeric"
                        value=(filled(&form.rate_limit).unwrap_or_default()) aria-describedby=[rate_err];
                }
                div class="field" {
                    label for="rate_period" { "per" }
                    select id="rate_period" name="rate_period" {
                        @for (value, label) in [("1s", "second"), ("1m", "minute"), ("1h", "hour"), ("1d", "day")] {
                            option value=(value) selected[period == value] { (label) }
                        }
                    }
                }
            }
            (quota_alert)
            div class="inline" {
                div class="field" {
                    label for="quota_limit" { "Quota (credits)" }
                    input id="quota_limit" type="number" name="quota_limit" min="1" inputmode="numeric"
                        value=(filled(&form.quota_limit).unwrap_or_default()) aria-describedby=[quota_err];
                }
                div class="field" {
                    label for="quota_refill" { "Refill" }
                    select id="quota_refill" name="quota_refill" {
                        @for (value, label) in [("", "never"), ("daily", "every day"), ("monthly", "every month")] {
                            option value=(value) selected[refill == value] { (label) }
                        }
                    }
                }
            }
        }
    }
}
