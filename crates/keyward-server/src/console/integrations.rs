//! Settings → Integrations: the OAuth integrations this server is configured for and the
//! organization's connections, through `http/integrations.rs`. Connecting starts the
//! authorization with Keyward's hosted callback (no `redirect_uri`: the callback
//! exchanges the code and says "connected") and sends the browser to the provider;
//! disconnecting revokes the tokens at the provider and erases them here. Everyone who
//! may read integrations sees the list; only those the API lets manage connections
//! (owners and org admins) get the forms. No token is ever on this page: the API's
//! `ConnectionView` holds none.

use super::failure::{Failure, PageResult};
use super::guard::CSP;
use super::layout::{
    alert, api_request, confirm, csrf_field, form_problem, may, maybe_time, notice, page,
    path_segment, time,
};
use super::visitor::Signed;
use crate::authz::{Action, Target};
use crate::extract::{ApiJson, ApiQuery};
use crate::http::{integrations as api, resources};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::Form;
use keyward_api::{
    AuthorizeRequest, ConnectionQuery, ConnectionStatus, ConnectionView, Disconnected, Integration,
    Resource,
};
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::HashMap;

/// The most connections one page lists (the API's largest page).
const PAGE: u32 = 100;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    done: Option<String>,
    /// A connection to connect again: its provider's form is filled with it.
    reconnect: Option<String>,
    /// The next page of connections (`next_cursor`).
    cursor: Option<String>,
}

/// The Connect form of one integration.
#[derive(Deserialize, Default, Clone)]
pub struct ConnectForm {
    #[serde(default)]
    connection_id: String,
    /// Short scope names, one checkbox each.
    #[serde(default)]
    scopes: Vec<String>,
    /// A workspace id, or empty for the whole organization.
    #[serde(default)]
    workspace: String,
}

/// A Connect form to show filled in: after a problem, or to reconnect.
struct Again {
    provider: String,
    form: ConnectForm,
    problem: Option<String>,
}

/// What the page says above everything else.
enum Said {
    Nothing,
    Done(String),
    Disconnected(Box<Disconnected>),
}

/// The status as a badge: text people read and a class for its colour.
fn badge(status: ConnectionStatus) -> Markup {
    let (class, text) = match status {
        ConnectionStatus::Active => ("status active", "active"),
        ConnectionStatus::RefreshFailing => ("status failing", "refresh failing"),
        ConnectionStatus::NeedsReauth => ("status reauth", "needs re-auth"),
        ConnectionStatus::Pending => ("status pending", "pending"),
        ConnectionStatus::Revoked => ("status revoked", "revoked"),
    };
    html! { span class=(class) { (text) } }
}

/// The console's CSP with the providers' authorization servers as places a form may
/// lead: Connect answers with a redirect there, and browsers apply `form-action` to a
/// form's redirect too.
fn csp(state: &AppState) -> String {
    let mut origins: Vec<String> = state
        .vault
        .providers()
        .iter()
        .map(|p| p.authorize_url.origin())
        .filter(|o| o.is_tuple())
        .map(|o| o.ascii_serialization())
        .collect();
    origins.sort();
    origins.dedup();
    if origins.is_empty() {
        return CSP.to_owned();
    }
    CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' {}", origins.join(" ")),
    )
}

/// The short names of `integration`'s scopes that `scopes` (short names or the
/// provider's full scopes) hold.
fn short_names(integration: &Integration, scopes: &[String]) -> Vec<String> {
    integration
        .scopes
        .iter()
        .filter(|s| scopes.iter().any(|x| *x == s.name || *x == s.scope))
        .map(|s| s.name.clone())
        .collect()
}

/// Whether the person may manage connections of `workspace` (none: the whole
/// organization): the request `integrations:write` of the API, as `authz` answers it.
async fn writes(state: &AppState, signed: &Signed, workspace: Option<&str>) -> bool {
    let target = match workspace {
        Some(w) => Target::Workspace(w),
        None => Target::Organization,
    };
    may(state, signed, "integrations:write", Action::Write, target).await
}

async fn render(
    state: &AppState,
    signed: &Signed,
    query: &ListQuery,
    again: Option<&Again>,
    said: Said,
) -> PageResult {
    let integrations = api::list_integrations(State(state.clone()), signed.principal.clone())
        .await?
        .0;
    let listed = api::list_connections(
        State(state.clone()),
        signed.principal.clone(),
        ApiQuery(ConnectionQuery {
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
    // Where a connection may be made or managed: the whole organization, and each
    // workspace (the same request the API authorizes).
    let manages_org = writes(state, signed, None).await;
    let mut writable_ws = Vec::new();
    for w in &workspaces {
        if writes(state, signed, Some(&w.id)).await {
            writable_ws.push(w);
        }
    }
    let mut manages = HashMap::new();
    for c in &listed.data {
        let ok = match &c.workspace {
            Some(w) => writes(state, signed, Some(w)).await,
            None => manages_org,
        };
        manages.insert(c.id.as_str(), ok);
    }
    let connects = manages_org || !writable_ws.is_empty();
    let ws_names: HashMap<&str, &str> = workspaces
        .iter()
        .map(|w| (w.id.as_str(), w.name.as_str()))
        .collect();
    let by_name: HashMap<&str, &Integration> =
        integrations.iter().map(|i| (i.name.as_str(), i)).collect();

    // The form to fill: one that came back, or the connection to reconnect.
    let reconnect = query.reconnect.as_deref().and_then(|id| {
        let c = listed.data.iter().find(|c| c.id == id)?;
        let integration = by_name.get(c.provider.as_str())?;
        Some(Again {
            provider: c.provider.clone(),
            form: ConnectForm {
                connection_id: c.id.clone(),
                scopes: short_names(integration, &c.scopes),
                workspace: c.workspace.clone().unwrap_or_default(),
            },
            problem: None,
        })
    });
    let filled = again.or(reconnect.as_ref());

    let body = html! {
        h1 { "Integrations" }
        @match &said {
            Said::Done(d) => {
                @if d == "deleted" {
                    (notice("The connection is deleted: its tokens were revoked and erased, and its record is gone."))
                }
            },
            Said::Disconnected(d) => (disconnected(d, &by_name)),
            Said::Nothing => {}
        }
        p {
            "OAuth connections whose tokens Keyward keeps encrypted and refreshes. Apps read a connection's current access token from "
            code { "GET /v1/connections/{id}/tokens" } "; no token is ever shown here."
        }
        @if integrations.is_empty() {
            (empty_state())
        }
        section aria-labelledby="connections-title" {
            h2 id="connections-title" { "Connections" }
            @if listed.data.is_empty() {
                p class="muted" { "No connections yet." }
            } @else {
                div class="table-wrap" {
                    table class="connections" {
                        thead { tr {
                            th scope="col" { "ID" } th scope="col" { "Integration" } th scope="col" { "Workspace" }
                            th scope="col" { "Status" } th scope="col" { "Authenticated" } th scope="col" { "Scopes" }
                            th scope="col" { "Expires" } th scope="col" { "Last refreshed" } th scope="col" { "Last error" }
                            th scope="col" { span class="visually-hidden" { "Actions" } }
                        } }
                        tbody {
                            @for c in &listed.data {
                                (row(signed, c, &by_name, &ws_names, manages.get(c.id.as_str()).copied().unwrap_or(false)))
                            }
                        }
                    }
                }
                @if let Some(next) = &listed.next_cursor {
                    p { a href={ "/console/integrations?cursor=" (path_segment(next)) } { "More connections" } }
                }
            }
        }
        @for i in &integrations {
            (integration(signed, i, connects.then_some((manages_org, writable_ws.as_slice())), filled.filter(|a| a.provider == i.name)))
        }
    };
    let status = if again.is_some_and(|a| a.problem.is_some()) {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        [(header::CONTENT_SECURITY_POLICY, csp(state))],
        page(signed, "Integrations", body),
    )
        .into_response())
}

fn empty_state() -> Markup {
    html! {
        section aria-labelledby="none-title" {
            h2 id="none-title" { "No integration is configured" }
            p {
                "The server's operator adds integrations in " code { "keyward.yaml" }
                " and restarts Keyward. Gmail, for example, with the OAuth client's credentials from environment variables:"
            }
            pre class="config" { code {
                "integrations:\n  gmail:\n    enabled: true\n    credentials:\n      client_id: ${GMAIL_CLIENT_ID}\n      client_secret: ${GMAIL_CLIENT_SECRET}"
            } }
            p class="hint" {
                "Built in: " code { "gmail" } ", " code { "google_calendar" } ", " code { "google_drive" } " and " code { "notion" }
                "; any other OAuth 2.0 provider can be described with its own endpoints and scopes. Register "
                code { "/v1/oauth/callback" } " on this server's address as the OAuth client's redirect URI."
            }
        }
    }
}

/// What a disconnect did, including whether the provider confirmed the revocation.
fn disconnected(d: &Disconnected, by_name: &HashMap<&str, &Integration>) -> Markup {
    let c = &d.connection;
    let provider = by_name
        .get(c.provider.as_str())
        .map_or(c.provider.as_str(), |i| i.display_name.as_str());
    let text = if d.revoked_at_provider {
        format!("{} is disconnected: {provider} confirmed the revocation, and the tokens are erased here.", c.id)
    } else {
        match &d.provider_error {
            Some(e) => format!("{} is disconnected and its tokens are erased here, but {provider} did not confirm the revocation: {e}", c.id),
            None => format!("{} is disconnected; it held no tokens to revoke at {provider}.", c.id),
        }
    };
    notice(&text)
}

fn row(
    signed: &Signed,
    c: &ConnectionView,
    by_name: &HashMap<&str, &Integration>,
    ws_names: &HashMap<&str, &str>,
    manages: bool,
) -> Markup {
    let integration = by_name.get(c.provider.as_str());
    let provider = integration.map_or(c.provider.as_str(), |i| i.display_name.as_str());
    let base = format!("/console/integrations/connections/{}", path_segment(&c.id));
    let scopes = match integration {
        Some(i) => {
            let short = short_names(i, &c.scopes);
            // A scope without a short name is shown as the provider's.
            let mut shown = short.clone();
            shown.extend(
                c.scopes
                    .iter()
                    .filter(|s| {
                        !i.scopes
                            .iter()
                            .any(|x| x.scope == **s && short.contains(&x.name))
                    })
                    .cloned(),
            );
            shown
        }
        None => c.scopes.clone(),
    };
    let reconnects = matches!(
        c.status,
        ConnectionStatus::NeedsReauth | ConnectionStatus::Revoked
    ) && integration.is_some();
    html! {
        tr {
            td { code { (c.id) } }
            td { (provider) }
            td {
                @match &c.workspace {
                    Some(w) => (ws_names.get(w.as_str()).copied().unwrap_or(w.as_str())),
                    None => span class="muted" { "whole organization" },
                }
            }
            td { (badge(c.status)) }
            td { (if c.authenticated { "yes" } else { "no" }) }
            td {
                @if scopes.is_empty() { span class="muted" { "none" } }
                @else { @for (n, s) in scopes.iter().enumerate() { @if n > 0 { ", " } code { (s) } } }
            }
            td { (maybe_time(c.expires_at, "—")) }
            td { (maybe_time(c.last_refreshed_at, "never")) }
            td {
                @match &c.last_error {
                    Some(e) => {
                        (e.message) " "
                        span class="hint" { "(" code { (e.code) } ", " (time(e.at)) ")" }
                    }
                    None => span class="muted" { "none" },
                }
            }
            td {
                @if manages {
                    div class="actions" {
                        @if reconnects {
                            a class="button secondary" href={ "/console/integrations?reconnect=" (path_segment(&c.id)) "#connect-" (c.provider) }
                                aria-label={ "Reconnect " (c.id) } { "Reconnect" }
                        }
                        @if c.status != ConnectionStatus::Revoked {
                            (confirm(
                                signed,
                                "Disconnect…",
                                &format!("Disconnect {}…", c.id),
                                &format!("{base}/disconnect"),
                                html! { p { "Its tokens are revoked at " (provider) " and erased here; apps reading them get an error until it is connected again." } },
                                &format!("Disconnect {}", c.id),
                            ))
                        }
                        (confirm(
                            signed,
                            "Delete…",
                            &format!("Delete {}…", c.id),
                            &format!("{base}/delete"),
                            html! { p { "Its tokens are revoked and erased, and the connection is gone for good." } },
                            &format!("Delete {}", c.id),
                        ))
                    }
                }
            }
        }
    }
}

/// One integration: what it is and, for those who may connect, its Connect form
/// (`writable`: whether the whole organization may be chosen, and which workspaces).
fn integration(
    signed: &Signed,
    i: &Integration,
    writable: Option<(bool, &[&Resource])>,
    filled: Option<&Again>,
) -> Markup {
    let id = |what: &str| format!("connect-{}-{what}", i.name);
    let heading = format!("integration-{}", i.name);
    let default_form = ConnectForm {
        scopes: short_names(i, &i.default_scopes),
        ..Default::default()
    };
    let form = filled.map_or(&default_form, |a| &a.form);
    html! {
        section aria-labelledby=(heading) {
            h2 id=(heading) { (i.display_name) " " span class="hint" { code { (i.name) } } }
            p class="hint" {
                "OAuth 2.0" @if i.pkce { " with PKCE" } ". "
                @if i.default_scopes.is_empty() { "No scopes by default." }
                @else { "Default scopes: " (i.default_scopes.join(", ")) "." }
            }
            @if let Some((org, workspaces)) = writable {
                form id={ "connect-" (i.name) } class="stack" method="post" action={ "/console/integrations/" (path_segment(&i.name)) "/connect" } {
                    (csrf_field(signed))
                    @if let Some(p) = filled.and_then(|a| a.problem.as_deref()) { (alert(p)) }
                    div class="field" {
                        label for=(id("id")) { "Connection id" }
                        span class="hint" id=(id("id-hint")) {
                            "Your id for it (e.g. your end user's): letters, digits and - _ . @ :. Connecting an existing id again replaces its tokens."
                        }
                        input id=(id("id")) type="text" name="connection_id" value=(form.connection_id)
                            required maxlength="128" aria-describedby=(id("id-hint"));
                    }
                    @if !i.scopes.is_empty() {
                        fieldset {
                            legend { "Scopes" }
                            @for s in &i.scopes {
                                label class="choice" title=(s.scope) {
                                    input type="checkbox" name="scopes" value=(s.name) checked[form.scopes.contains(&s.name)];
                                    code { (s.name) }
                                }
                            }
                            p class="hint" { "None checked: the default scopes." }
                        }
                    }
                    @if !workspaces.is_empty() {
                        div class="field" {
                            label for=(id("workspace")) { "Workspace" }
                            select id=(id("workspace")) name="workspace" {
                                @if org { option value="" selected[form.workspace.is_empty()] { "Whole organization" } }
                                @for w in workspaces {
                                    option value=(w.id) selected[form.workspace == w.id] { (w.name) }
                                }
                            }
                        }
                    }
                    div { button type="submit" { "Connect " (i.display_name) } }
                    p class="hint" { "You go to " (i.display_name) " to approve; Keyward's callback then stores the tokens." }
                }
            }
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let said = match &query.done {
        Some(d) => Said::Done(d.clone()),
        None => Said::Nothing,
    };
    render(&state, &signed, &query, None, said).await
}

/// Starts connecting through `POST /v1/integrations/{provider}/authorize` with Keyward's
/// hosted callback, and sends the browser to the provider.
pub async fn connect(
    State(state): State<AppState>,
    signed: Signed,
    Path(provider): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ConnectForm>,
) -> PageResult {
    let mut body = serde_json::json!({
        "connection_id": form.connection_id,
        "scopes": form.scopes,
    });
    if !form.workspace.is_empty() {
        body["workspace"] = form.workspace.clone().into();
    }
    let started = match api_request::<AuthorizeRequest>(body) {
        Ok(req) => {
            api::authorize_integration(
                State(state.clone()),
                signed.principal.clone(),
                Path(provider.clone()),
                headers,
                ApiJson(req),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match started {
        Ok(answer) => Ok(Redirect::to(&answer.0.url).into_response()),
        Err(e) => {
            let problem = form_problem(e)?;
            let again = Again {
                provider,
                form,
                problem: Some(problem),
            };
            render(
                &state,
                &signed,
                &ListQuery::default(),
                Some(&again),
                Said::Nothing,
            )
            .await
        }
    }
}

/// Disconnects through `DELETE /v1/connections/{id}/tokens` and says what the provider
/// answered (the page itself, not a redirect: the provider's message is not put in a
/// URL for anyone to forge).
pub async fn disconnect(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    let done = api::revoke_tokens(State(state.clone()), signed.principal.clone(), Path(id))
        .await
        .map_err(Failure)?
        .0;
    render(
        &state,
        &signed,
        &ListQuery::default(),
        None,
        Said::Disconnected(Box::new(done)),
    )
    .await
}

/// Deletes through `DELETE /v1/connections/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    api::delete_connection(State(state), signed.principal.clone(), Path(id)).await?;
    Ok(Redirect::to("/console/integrations?done=deleted").into_response())
}
