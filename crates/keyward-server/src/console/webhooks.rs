//! Settings → Webhooks: the organization's webhook endpoints (a provider's webhooks
//! verified at `/hooks/{id}` and delivered to the app, re-signed with Standard
//! Webhooks) and each one's delivery log, through `http/webhooks.rs`. Everyone who may
//! read webhooks sees the endpoints and their logs; only those the API lets write
//! (`webhooks:write` for the endpoint's workspace, or the whole organization) get the
//! forms. Keyward's signing secret (and a Telegram secret token Keyward generates) is
//! shown once, in the 201 page that made it, never in a URL; the provider's secrets
//! typed in are never shown again (the API's `WebhookEndpoint` holds their first
//! characters only).

use super::failure::PageResult;
use super::layout::{
    alert, api_request, confirm, copyable, csrf_field, form_problem, may, maybe_time, notice, page,
    path_segment, time,
};
use super::visitor::Signed;
use crate::authz::{Action, Target};
use crate::extract::{ApiJson, ApiJsonOrEmpty, ApiQuery};
use crate::http::{resources, webhooks as api};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::Form;
use chrono::{DateTime, NaiveDateTime, Utc};
use keyward_api::{
    CreateWebhookEndpointRequest, DeliveryQuery, DeliveryStatus, ReplayDeliveryRequest,
    ReplayFailedRequest, Resource, RotateSigningSecretRequest, SecretHint,
    UpdateWebhookEndpointRequest, WebhookDelivery, WebhookEndpoint, WebhookEndpointQuery,
    WebhookEndpointStatus, WebhookProvider,
};
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::HashMap;

/// The page's address.
pub const PATH: &str = "/console/settings/webhooks";
/// The most endpoints or deliveries one page lists (the API's largest page).
const PAGE: u32 = 100;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    done: Option<String>,
    /// The next page (`next_cursor`).
    cursor: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct DeliveriesQuery {
    done: Option<String>,
    /// How many deliveries "Replay every failed delivery since" queued again.
    replayed: Option<u64>,
    cursor: Option<String>,
}

/// The create form, as it arrives (and as it is shown again after a problem: without
/// the secrets, which are never put back in a page).
#[derive(Deserialize, Default, Clone)]
pub struct CreateForm {
    #[serde(default)]
    provider: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    destination: String,
    /// The provider's secret (empty for Telegram: Keyward generates one).
    #[serde(default)]
    secret: String,
    /// WhatsApp only.
    #[serde(default)]
    verify_token: String,
    /// A workspace id, or empty for the whole organization.
    #[serde(default)]
    workspace: String,
}

impl CreateForm {
    /// The API's request, decoded as the API decodes JSON (errors name the field).
    fn request(&self) -> Result<CreateWebhookEndpointRequest, crate::errors::ApiError> {
        let mut body = serde_json::json!({
            "provider": self.provider,
            "name": self.name,
            "destination": self.destination,
        });
        if !self.secret.is_empty() {
            body["secrets"] = serde_json::json!([self.secret]);
        }
        if !self.verify_token.is_empty() {
            body["verify_token"] = self.verify_token.clone().into();
        }
        if !self.workspace.is_empty() {
            body["workspace"] = self.workspace.clone().into();
        }
        api_request(body)
    }
}

#[derive(Deserialize)]
pub struct EnabledForm {
    enabled: bool,
}

#[derive(Deserialize, Default)]
pub struct ReplayFailedForm {
    /// A `datetime-local` value, read as UTC.
    #[serde(default)]
    since: String,
}

/// A secret shown the one time it is: what it is, and the value.
pub struct Shown {
    pub label: &'static str,
    pub value: String,
}

/// What the list page says above everything else.
enum Said {
    Nothing,
    Done(String),
    /// Secrets shown once (a new endpoint, a rotated signing secret), of the endpoint named.
    Reveal {
        heading: &'static str,
        name: String,
        secrets: Vec<Shown>,
    },
}

fn target(workspace: Option<&str>) -> Target<'_> {
    match workspace {
        Some(w) => Target::Workspace(w),
        None => Target::Organization,
    }
}

/// Whether the person may change endpoints of `workspace` (none: the whole
/// organization): the request `webhooks:write` of the API, as `authz` answers it.
async fn writes(state: &AppState, signed: &Signed, workspace: Option<&str>) -> bool {
    may(
        state,
        signed,
        "webhooks:write",
        Action::Write,
        target(workspace),
    )
    .await
}

/// The provider as people read it.
pub fn provider_name(p: WebhookProvider) -> &'static str {
    match p {
        WebhookProvider::Whatsapp => "WhatsApp",
        WebhookProvider::Slack => "Slack",
        WebhookProvider::Telegram => "Telegram",
        WebhookProvider::Discord => "Discord",
        WebhookProvider::Standard => "Standard Webhooks",
    }
}

/// The endpoint's status as a badge, with why it is disabled.
pub fn status_badge(e: &WebhookEndpoint) -> Markup {
    html! {
        @match e.status {
            WebhookEndpointStatus::Enabled => span class="status active" { "enabled" },
            WebhookEndpointStatus::Disabled => {
                span class="status disabled" { "disabled" }
                @if let Some(r) = &e.disabled_reason { " " span class="hint" { (r) } }
            }
        }
    }
}

/// A delivery's status as a badge.
pub fn delivery_badge(s: DeliveryStatus) -> Markup {
    let (class, text) = match s {
        DeliveryStatus::Pending => ("status pending", "pending"),
        DeliveryStatus::Delivered => ("status active", "delivered"),
        DeliveryStatus::Failed => ("status revoked", "failed"),
        DeliveryStatus::Refused => ("status disabled", "refused"),
    };
    html! { span class=(class) { (text) } }
}

/// Secrets by their first characters; a replaced signing secret with the time it stops.
pub fn hints(secrets: &[SecretHint]) -> Markup {
    html! {
        @if secrets.is_empty() { span class="muted" { "none" } }
        @else {
            @for (n, s) in secrets.iter().enumerate() {
                @if n > 0 { ", " }
                code { (s.prefix) }
                @if let Some(until) = s.expires_at { " " span class="hint" { "(until " (time(until)) ")" } }
            }
        }
    }
}

/// A `datetime-local` value (minutes, or seconds) as a UTC instant.
pub fn parse_local(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
    .map(|t| t.and_utc())
}

/// The dialog that shows secrets the one time they are shown, as the API keys page
/// shows a new key: rendered open so that it shows without JavaScript; `console.js`
/// makes it modal, shows the Copy buttons, and removes the secrets from the page when
/// the dialog closes.
pub fn reveal(heading: &str, name: &str, secrets: &[Shown], done: &str) -> Markup {
    html! {
        dialog class="reveal" data-secret data-open-on-load open aria-labelledby="reveal-title" aria-describedby="reveal-warning" {
            h2 id="reveal-title" { (heading) }
            p { "Endpoint " strong { (name) } ":" }
            @for (n, s) in secrets.iter().enumerate() {
                @let id = format!("new-secret-{n}");
                label for=(id) { (s.label) }
                div class="secret" {
                    input id=(id) type="text" readonly value=(s.value) data-secret-value autocomplete="off" spellcheck="false";
                    button type="button" data-copy=(id) hidden { "Copy" }
                }
            }
            p id="reveal-warning" class="warning" {
                strong { "Copy it now: it will not be shown again." }
                " Keyward keeps it sealed and never shows it again. If you lose the signing secret, rotate it."
            }
            p { a class="button" href=(done) data-close-dialog { "Done" } }
        }
    }
}

async fn render(
    state: &AppState,
    signed: &Signed,
    headers: &HeaderMap,
    query: &ListQuery,
    again: Option<(&CreateForm, &str)>,
    said: Said,
) -> PageResult {
    let listed = api::list_endpoints(
        State(state.clone()),
        signed.principal.clone(),
        headers.clone(),
        ApiQuery(WebhookEndpointQuery {
            limit: Some(PAGE),
            cursor: query.cursor.clone(),
            ..Default::default()
        }),
    )
    .await?
    .0;
    let workspaces: Vec<Resource> =
        resources::list_workspaces(State(state.clone()), signed.principal.clone())
            .await?
            .0;
    let writes_org = writes(state, signed, None).await;
    let mut writable_ws = Vec::new();
    for w in &workspaces {
        if writes(state, signed, Some(&w.id)).await {
            writable_ws.push(w);
        }
    }
    let mut manages = HashMap::new();
    for e in &listed.data {
        let ok = match &e.workspace {
            Some(w) => writes(state, signed, Some(w)).await,
            None => writes_org,
        };
        manages.insert(e.id.as_str(), ok);
    }
    let creates = writes_org || !writable_ws.is_empty();
    let ws_names: HashMap<&str, &str> = workspaces
        .iter()
        .map(|w| (w.id.as_str(), w.name.as_str()))
        .collect();
    let default_form = CreateForm::default();
    let (form, problem) = match again {
        Some((f, p)) => (f, Some(p)),
        None => (&default_form, None),
    };

    let body = html! {
        @match &said {
            Said::Reveal { heading, name, secrets } => (reveal(heading, name, secrets, PATH)),
            Said::Done(d) => (done_notice(d)),
            Said::Nothing => {}
        }
        h1 { "Webhooks" }
        p {
            "Endpoints that receive a provider's webhooks at their ingress URL, check the provider's signature, keep each event and deliver it to your app, re-signed with "
            a href="https://www.standardwebhooks.com/" { "Standard Webhooks" } " and Keyward's signing secret."
        }
        section aria-labelledby="endpoints-title" {
            h2 id="endpoints-title" { "Endpoints" }
            @if listed.data.is_empty() {
                p class="muted" { "No webhook endpoints yet." }
            } @else {
                div class="table-wrap" {
                    table class="webhooks" {
                        thead { tr {
                            th scope="col" { "Name" } th scope="col" { "Provider" } th scope="col" { "Status" }
                            th scope="col" { "Destination" } th scope="col" { "Ingress URL" }
                            th scope="col" { "Provider's secrets" } th scope="col" { "Signing secrets" }
                            th scope="col" { "Failing since" }
                            th scope="col" { span class="visually-hidden" { "Actions" } }
                        } }
                        tbody {
                            @for e in &listed.data {
                                (row(signed, e, &ws_names, manages.get(e.id.as_str()).copied().unwrap_or(false)))
                            }
                        }
                    }
                }
                @if let Some(next) = &listed.next_cursor {
                    p { a href={ (PATH) "?cursor=" (path_segment(next)) } { "More endpoints" } }
                }
            }
        }
        @if creates {
            (create_form(signed, form, problem, writes_org, &writable_ws))
        }
    };
    let status = match (&said, problem) {
        (_, Some(_)) => StatusCode::UNPROCESSABLE_ENTITY,
        (Said::Reveal { .. }, None) => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    Ok((status, page(signed, "Webhooks", body)).into_response())
}

fn done_notice(done: &str) -> Markup {
    let text = match done {
        "disabled" => "The endpoint is disabled: it still verifies and keeps what arrives, as failed deliveries to replay, and delivers nothing.",
        "enabled" => "The endpoint is enabled again: it delivers what arrives from now on.",
        "deleted" => "The endpoint is deleted with its delivery log; its ingress URL no longer answers.",
        _ => return html! {},
    };
    notice(text)
}

fn row(
    signed: &Signed,
    e: &WebhookEndpoint,
    ws_names: &HashMap<&str, &str>,
    manages: bool,
) -> Markup {
    let base = format!("{PATH}/{}", path_segment(&e.id));
    let from_config = e.managed_by == "config";
    let enabled = e.status == WebhookEndpointStatus::Enabled;
    html! {
        tr {
            td {
                a href=(base) { (e.name) } br;
                span class="hint" {
                    code { (e.id) } " · "
                    @match &e.workspace {
                        Some(w) => (ws_names.get(w.as_str()).copied().unwrap_or(w.as_str())),
                        None => "whole organization",
                    }
                    @if from_config { " · from keyward.yaml" }
                }
            }
            td { (provider_name(e.provider)) }
            td { (status_badge(e)) }
            td { code { (e.destination) } }
            td { (copyable(&format!("ingress-{}", e.id), &e.ingress_url, &format!("Copy the ingress URL of {}", e.name))) }
            td { (hints(&e.secrets)) }
            td { (hints(&e.signing_secrets)) }
            td { (maybe_time(e.failing_since, "—")) }
            td {
                div class="actions" {
                    a class="button secondary" href=(base) aria-label={ "Deliveries of " (e.name) } { "Deliveries" }
                    @if manages {
                        @if !from_config {
                            form method="post" action={ (base) "/enabled" } {
                                (csrf_field(signed))
                                input type="hidden" name="enabled" value=(if enabled { "false" } else { "true" });
                                button type="submit" class="secondary" aria-label={ (if enabled { "Disable " } else { "Enable " }) (e.name) } {
                                    (if enabled { "Disable" } else { "Enable" })
                                }
                            }
                        }
                        (confirm(
                            signed,
                            "Rotate signing secret…",
                            &format!("Rotate the signing secret of {}…", e.name),
                            &format!("{base}/rotate"),
                            html! { p { "A new signing secret is shown once; the current one keeps signing deliveries beside it for a day, so your app can switch without a gap." } },
                            &format!("Rotate the signing secret of {}", e.name),
                        ))
                        @if !from_config {
                            (confirm(
                                signed,
                                "Delete…",
                                &format!("Delete {}…", e.name),
                                &format!("{base}/delete"),
                                html! { p { "Its ingress URL stops answering and its delivery log is erased, for good." } },
                                &format!("Delete {}", e.name),
                            ))
                        }
                    }
                }
            }
        }
    }
}

/// The hint of the secret field: what each provider's secret is called.
fn secret_hint() -> String {
    let names: Vec<String> = WebhookProvider::ALL
        .iter()
        .map(|p| format!("{}: the {}", provider_name(*p), p.secret_name()))
        .collect();
    format!(
        "{}. Telegram: leave it empty and Keyward generates one, shown once. Never shown again here.",
        names.join("; ")
    )
}

fn create_form(
    signed: &Signed,
    form: &CreateForm,
    problem: Option<&str>,
    org: bool,
    workspaces: &[&Resource],
) -> Markup {
    let selected = WebhookProvider::parse(&form.provider);
    let secret_label = selected.map_or("The provider's secret", WebhookProvider::secret_name);
    html! {
        section aria-labelledby="new-webhook" {
            h2 id="new-webhook" { "New endpoint" }
            form id="new-webhook-form" class="stack" method="post" action=(PATH) {
                (csrf_field(signed))
                @if let Some(p) = problem { (alert(p)) }
                div class="field" {
                    label for="webhook-provider" { "Provider" }
                    select id="webhook-provider" name="provider" required {
                        @for p in WebhookProvider::ALL {
                            option value=(p.as_str()) selected[selected == Some(p)] { (provider_name(p)) }
                        }
                    }
                }
                div class="field" {
                    label for="webhook-name" { "Name" }
                    input id="webhook-name" type="text" name="name" value=(form.name) required maxlength="100";
                }
                div class="field" {
                    label for="webhook-destination" { "Destination" }
                    span class="hint" id="webhook-destination-hint" { "Your app's URL (http or https) that receives each event, re-signed with Standard Webhooks; or workers (workers:LABEL for those with a label) to have this workspace's workers forward it (keyward worker --forward-to URL)." }
                    input id="webhook-destination" type="text" name="destination" value=(form.destination)
                        required placeholder="https://app.example.com/hooks/slack" aria-describedby="webhook-destination-hint";
                }
                div class="field" {
                    label for="webhook-secret" { (secret_label) }
                    span class="hint" id="webhook-secret-hint" { (secret_hint()) }
                    input id="webhook-secret" type="password" name="secret" autocomplete="off" aria-describedby="webhook-secret-hint";
                }
                div class="field" {
                    label for="webhook-verify-token" { "Verify token" }
                    span class="hint" id="webhook-verify-token-hint" { "WhatsApp only, required there: the verify token of Meta's GET handshake. Leave it empty for the other providers." }
                    input id="webhook-verify-token" type="password" name="verify_token" autocomplete="off" aria-describedby="webhook-verify-token-hint";
                }
                @if !workspaces.is_empty() {
                    div class="field" {
                        label for="webhook-workspace" { "Workspace" }
                        select id="webhook-workspace" name="workspace" {
                            @if org { option value="" selected[form.workspace.is_empty()] { "Whole organization" } }
                            @for w in workspaces {
                                option value=(w.id) selected[form.workspace == w.id] { (w.name) }
                            }
                        }
                    }
                }
                div { button type="submit" { "Create endpoint" } }
                p class="hint" { "Keyward's signing secret, which your app verifies deliveries with, is shown once after creating." }
            }
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let said = match &query.done {
        Some(d) => Said::Done(d.clone()),
        None => Said::Nothing,
    };
    render(&state, &signed, &headers, &query, None, said).await
}

/// A new endpoint through `POST /v1/webhook-endpoints`, answered 201 with the page itself
/// and the signing secret in its dialog (never a redirect: a secret is not put in a URL).
pub async fn create(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> PageResult {
    let created = match form.request() {
        Ok(req) => {
            api::create_endpoint(
                State(state.clone()),
                signed.principal.clone(),
                headers.clone(),
                ApiJson(req),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok((_, axum::Json(c))) => {
            let mut secrets = vec![Shown {
                label: "Signing secret (your app verifies deliveries with it)",
                value: c.signing_secret.expose_secret().to_owned(),
            }];
            if let Some(g) = &c.generated_secret {
                secrets.push(Shown {
                    label: "Telegram secret token (pass it to setWebhook as secret_token)",
                    value: g.expose_secret().to_owned(),
                });
            }
            let said = Said::Reveal {
                heading: "Your new webhook endpoint",
                name: c.endpoint.name.clone(),
                secrets,
            };
            render(&state, &signed, &headers, &ListQuery::default(), None, said).await
        }
        Err(e) => {
            let problem = form_problem(e)?;
            let kept = CreateForm {
                secret: String::new(),
                verify_token: String::new(),
                ..form
            };
            render(
                &state,
                &signed,
                &headers,
                &ListQuery::default(),
                Some((&kept, &problem)),
                Said::Nothing,
            )
            .await
        }
    }
}

/// Enables or disables through `PATCH /v1/webhook-endpoints/{id}`.
pub async fn set_enabled(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<EnabledForm>,
) -> PageResult {
    let req = UpdateWebhookEndpointRequest {
        enabled: Some(form.enabled),
        ..Default::default()
    };
    api::update_endpoint(
        State(state),
        signed.principal.clone(),
        headers,
        Path(id),
        ApiJson(req),
    )
    .await
    .map(drop)?;
    let done = if form.enabled { "enabled" } else { "disabled" };
    Ok(Redirect::to(&format!("{PATH}?done={done}")).into_response())
}

/// Deletes through `DELETE /v1/webhook-endpoints/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    api::delete_endpoint(State(state), signed.principal.clone(), Path(id)).await?;
    Ok(Redirect::to(&format!("{PATH}?done=deleted")).into_response())
}

/// A new signing secret through `POST /v1/webhook-endpoints/{id}/rotate-secret` (a day
/// of overlap), answered 201 with the page and the secret in its dialog.
pub async fn rotate(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let rotated = api::rotate_secret(
        State(state.clone()),
        signed.principal.clone(),
        headers.clone(),
        Path(id),
        ApiJsonOrEmpty(RotateSigningSecretRequest::default()),
    )
    .await?
    .0;
    let said = Said::Reveal {
        heading: "The new signing secret",
        name: rotated.endpoint.name.clone(),
        secrets: vec![Shown {
            label: "Signing secret (the replaced one keeps signing for a day)",
            value: rotated.signing_secret.expose_secret().to_owned(),
        }],
    };
    render(&state, &signed, &headers, &ListQuery::default(), None, said).await
}

// ---- One endpoint's delivery log ----

async fn render_deliveries(
    state: &AppState,
    signed: &Signed,
    headers: &HeaderMap,
    id: &str,
    query: &DeliveriesQuery,
    problem: Option<&str>,
) -> PageResult {
    let endpoint = api::get_endpoint(
        State(state.clone()),
        signed.principal.clone(),
        headers.clone(),
        Path(id.to_owned()),
    )
    .await?
    .0;
    let listed = api::list_deliveries(
        State(state.clone()),
        signed.principal.clone(),
        Path(id.to_owned()),
        ApiQuery(DeliveryQuery {
            limit: Some(PAGE),
            cursor: query.cursor.clone(),
            ..Default::default()
        }),
    )
    .await?
    .0;
    let manages = writes(state, signed, endpoint.workspace.as_deref()).await;
    let base = format!("{PATH}/{}", path_segment(&endpoint.id));
    let day_ago = (state.clock.now() - chrono::Duration::days(1))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let body = html! {
        p { a href=(PATH) { "← Webhooks" } }
        h1 { "Deliveries of " (endpoint.name) }
        @if let Some(p) = problem { (alert(p)) }
        @match (query.done.as_deref(), query.replayed) {
            (_, Some(n)) => (notice(&format!("{n} failed {} queued again.", if n == 1 { "delivery is" } else { "deliveries are" }))),
            (Some("replayed"), None) => (notice("The delivery is queued again; it is delivered with the same webhook-id.")),
            _ => {}
        }
        p {
            (provider_name(endpoint.provider)) " · " (status_badge(&endpoint)) " · "
            (copyable("ingress-url", &endpoint.ingress_url, "Copy the ingress URL"))
        }
        p class="hint" { "Newest first: every event received and every refused request (why it was refused, never its body)." }
        @if listed.data.is_empty() {
            p class="muted" { "No deliveries yet." }
        } @else {
            div class="table-wrap" {
                table class="deliveries" {
                    thead { tr {
                        th scope="col" { "ID" } th scope="col" { "Status" } th scope="col" { "Received" }
                        th scope="col" { "Attempts" } th scope="col" { "Last status code" } th scope="col" { "Next attempt" }
                        th scope="col" { "Last error" }
                        th scope="col" { span class="visually-hidden" { "Actions" } }
                    } }
                    tbody {
                        @for d in &listed.data { (delivery_row(signed, &base, d, manages)) }
                    }
                }
            }
            @if let Some(next) = &listed.next_cursor {
                p { a href={ (base) "?cursor=" (path_segment(next)) } { "Older deliveries" } }
            }
        }
        @if manages {
            section aria-labelledby="replay-failed" {
                h2 id="replay-failed" { "Replay failed deliveries" }
                form class="stack" method="post" action={ (base) "/replay" } {
                    (csrf_field(signed))
                    div class="field" {
                        label for="replay-since" { "Replay every failed delivery since" }
                        span class="hint" id="replay-since-hint" { "In UTC. Each is delivered again now, with its own webhook-id." }
                        input id="replay-since" type="datetime-local" name="since" value=(day_ago) required aria-describedby="replay-since-hint";
                    }
                    div { button type="submit" { "Replay failed deliveries" } }
                }
            }
        }
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        page(signed, &format!("Deliveries of {}", endpoint.name), body),
    )
        .into_response())
}

/// Whether a delivery may be replayed (the API refuses pending and refused ones).
pub fn replayable(s: DeliveryStatus) -> bool {
    matches!(s, DeliveryStatus::Failed | DeliveryStatus::Delivered)
}

fn delivery_row(signed: &Signed, base: &str, d: &WebhookDelivery, manages: bool) -> Markup {
    html! {
        tr {
            td { code { (d.id) } }
            td { (delivery_badge(d.status)) }
            td { (time(d.received_at)) }
            td { (d.attempts) }
            td {
                @match d.last_status_code {
                    Some(c) => (c),
                    None => span class="muted" { "—" },
                }
            }
            td { (maybe_time(d.next_attempt_at, "—")) }
            td {
                @match (&d.refusal, &d.last_error) {
                    (Some(code), _) => code { (code) },
                    (None, Some(e)) => (e),
                    (None, None) => span class="muted" { "none" },
                }
            }
            td {
                @if manages && replayable(d.status) {
                    form method="post" action={ (base) "/deliveries/" (path_segment(&d.id)) "/replay" } {
                        (csrf_field(signed))
                        button type="submit" class="secondary" aria-label={ "Replay " (d.id) } { "Replay" }
                    }
                }
            }
        }
    }
}

pub async fn deliveries(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<DeliveriesQuery>,
) -> PageResult {
    render_deliveries(&state, &signed, &headers, &id, &query, None).await
}

/// Replays one delivery through `POST /v1/webhook-endpoints/{id}/deliveries/{d}/replay`.
pub async fn replay_one(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path((id, delivery)): Path<(String, String)>,
) -> PageResult {
    let replayed = api::replay_delivery(
        State(state.clone()),
        signed.principal.clone(),
        Path((id.clone(), delivery)),
        ApiJsonOrEmpty(ReplayDeliveryRequest {}),
    )
    .await;
    match replayed {
        Ok(_) => Ok(
            Redirect::to(&format!("{PATH}/{}?done=replayed", path_segment(&id))).into_response(),
        ),
        Err(e) => {
            let problem = form_problem(e)?;
            render_deliveries(
                &state,
                &signed,
                &headers,
                &id,
                &DeliveriesQuery::default(),
                Some(&problem),
            )
            .await
        }
    }
}

/// Replays every failed delivery since a time through `POST /v1/webhook-endpoints/{id}/replay`.
pub async fn replay_failed(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ReplayFailedForm>,
) -> PageResult {
    let again = |problem: String| {
        let (state, signed, headers, id) = (&state, &signed, &headers, &id);
        async move {
            render_deliveries(
                state,
                signed,
                headers,
                id,
                &DeliveriesQuery::default(),
                Some(&problem),
            )
            .await
        }
    };
    let Some(since) = parse_local(&form.since) else {
        return again("since: give a date and time (UTC)".to_owned()).await;
    };
    let done = api::replay_failed(
        State(state.clone()),
        signed.principal.clone(),
        Path(id.clone()),
        ApiJson(ReplayFailedRequest { since }),
    )
    .await;
    match done {
        Ok(axum::Json(r)) => Ok(Redirect::to(&format!(
            "{PATH}/{}?replayed={}",
            path_segment(&id),
            r.replayed
        ))
        .into_response()),
        Err(e) => again(form_problem(e)?).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(status: WebhookEndpointStatus) -> WebhookEndpoint {
        let at = "2025-01-02T03:04:05Z".parse().unwrap();
        WebhookEndpoint {
            id: "wh_1".into(),
            name: "support".into(),
            provider: WebhookProvider::Slack,
            workspace: None,
            destination: "https://app.example.com/hooks".into(),
            status,
            disabled_reason: (status == WebhookEndpointStatus::Disabled)
                .then(|| "disabled by team@company.com".into()),
            ingress_url: "https://keyward.example.com/hooks/wh_1".into(),
            secrets: vec![SecretHint {
                prefix: "8f1e…".into(),
                expires_at: None,
            }],
            has_verify_token: false,
            signing_secrets: vec![],
            managed_by: "api".into(),
            failing_since: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn the_status_badge_says_why_it_is_disabled() {
        let on = status_badge(&endpoint(WebhookEndpointStatus::Enabled)).into_string();
        assert_eq!(on, r#"<span class="status active">enabled</span>"#);
        let off = status_badge(&endpoint(WebhookEndpointStatus::Disabled)).into_string();
        assert!(
            off.contains(r#"<span class="status disabled">disabled</span>"#),
            "{off}"
        );
        assert!(off.contains("disabled by team@company.com"), "{off}");
    }

    #[test]
    fn secrets_are_shown_by_their_prefixes_and_replaced_ones_with_their_end() {
        assert_eq!(
            hints(&[]).into_string(),
            r#"<span class="muted">none</span>"#
        );
        let until = "2025-01-03T00:00:00Z".parse().unwrap();
        let h = hints(&[
            SecretHint {
                prefix: "ab12…".into(),
                expires_at: None,
            },
            SecretHint {
                prefix: "cd34…".into(),
                expires_at: Some(until),
            },
        ])
        .into_string();
        assert!(
            h.starts_with("<code>ab12…</code>, <code>cd34…</code>"),
            "{h}"
        );
        assert!(h.contains("2025-01-03 00:00 UTC"), "{h}");
    }

    #[test]
    fn the_reveal_dialog_shows_each_secret_once_with_copy_and_the_warning() {
        let d = reveal(
            "Your new webhook endpoint",
            "support <inbox>",
            &[
                Shown {
                    label: "Signing secret",
                    value: "whsec_abc".into(),
                },
                Shown {
                    label: "Telegram secret token",
                    value: "tg\"token".into(),
                },
            ],
            PATH,
        )
        .into_string();
        assert!(d.contains("data-open-on-load open"), "{d}");
        assert_eq!(d.matches("whsec_abc").count(), 1, "{d}");
        assert!(d.contains("tg&quot;token"), "{d}");
        assert!(d.contains("support &lt;inbox&gt;"), "{d}");
        assert!(d.contains(r#"data-copy="new-secret-0""#), "{d}");
        assert!(d.contains(r#"data-copy="new-secret-1""#), "{d}");
        assert!(d.contains("will not be shown again"), "{d}");
        assert!(d.contains(r#"href="/console/settings/webhooks" data-close-dialog"#));
    }

    #[test]
    fn datetime_local_values_are_read_as_utc() {
        let t = parse_local("2025-03-04T05:06").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-03-04T05:06:00+00:00");
        let t = parse_local("2025-03-04T05:06:07").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-03-04T05:06:07+00:00");
        assert!(parse_local("").is_none());
        assert!(parse_local("yesterday").is_none());
    }

    #[test]
    fn the_create_form_becomes_the_apis_request() {
        let form = CreateForm {
            provider: "slack".into(),
            name: "support".into(),
            destination: "https://app.example.com/hooks".into(),
            secret: "8f1e2d".into(),
            ..Default::default()
        };
        let req = form.request().unwrap();
        assert_eq!(req.provider, WebhookProvider::Slack);
        assert_eq!(req.secrets.len(), 1);
        assert_eq!(req.secrets[0].expose_secret(), "8f1e2d");
        assert!(req.verify_token.is_none());
        assert!(req.workspace.is_none());
        // Telegram without a secret: none is sent (Keyward generates one).
        let tg = CreateForm {
            provider: "telegram".into(),
            ..form.clone()
        };
        let tg = CreateForm {
            secret: String::new(),
            ..tg
        };
        assert!(tg.request().unwrap().secrets.is_empty());
        let bad = CreateForm {
            provider: "carrier-pigeon".into(),
            ..form
        };
        assert!(bad.request().is_err());
    }

    #[test]
    fn only_failed_and_delivered_deliveries_are_replayed() {
        assert!(replayable(DeliveryStatus::Failed));
        assert!(replayable(DeliveryStatus::Delivered));
        assert!(!replayable(DeliveryStatus::Pending));
        assert!(!replayable(DeliveryStatus::Refused));
        assert!(delivery_badge(DeliveryStatus::Failed)
            .into_string()
            .contains("failed"));
    }

    #[test]
    fn the_secret_hint_names_every_providers_secret() {
        let h = secret_hint();
        for p in WebhookProvider::ALL {
            assert!(h.contains(p.secret_name()), "{h}");
        }
    }
}
