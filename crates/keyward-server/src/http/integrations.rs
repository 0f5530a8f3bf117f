//! The integrations vault over HTTP: the seed's `getOAuthUrl` (authorize),
//! `exchangeCode` (exchange, or Keyward's hosted callback), `getTokens`,
//! `refreshTokens`, `revokeTokens` and `isAuthenticated` (a connection's status).
//!
//! Who may do what: `integrations:read` shows integrations and connections;
//! `integrations:write` starts, completes, refreshes and disconnects them. Reading a
//! connection's access token needs `integrations:read` *and* the standing of someone
//! who manages the organization (an owner's or admin's token, or a service account's
//! key): it is a credential of someone else. A connection of a workspace is reached by
//! keys scoped to that workspace; one of the whole organization only by keys of the
//! whole organization. Every change and every token read is in the audit log.

use super::shared::{actor_event, page_limit, public_base, workspace_target, workspaces_within};
use crate::auth::Principal;
use crate::authz::{Action, Target};
use crate::errors::{ApiError, Result};
use crate::extract::{ApiJson, ApiJsonOrEmpty, ApiQuery};
use crate::integrations::refresh::{self, not_found, problem, split_scopes, Why};
use crate::integrations::seal::{self, open_tokens, seal_tokens};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use keyward_api::{
    AuthorizeRequest, AuthorizeResponse, ConnectionProblem, ConnectionQuery, ConnectionTokens,
    ConnectionView, Disconnected, ErrorCode, ExchangeRequest, Integration, IntegrationScope,
    ListResponse, OAuthCallbackQuery, ProviderToken, RefreshRequest, OAUTH_CALLBACK_PATH,
};
use keyward_core::pkce::{CodeVerifier, LoginState};
use keyward_core::{ids, KeyHash};
use keyward_oauth::{Provider, Revocation, TokenError};
use keyward_store::{
    self as store, Actor, Connection, ConnectionFilter, ConnectionGrant, ConnectionStatus,
    NewAuditEvent, NewOAuthState, OAuthState, ResourceKind, Sealed, StoreError,
    OAUTH_STATE_MAX_AGE_MINUTES,
};
use secrecy::ExposeSecret;
use std::sync::Arc;

fn refused(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::Refused(code, message.into())
}

fn provider(state: &AppState, name: &str) -> Result<Arc<Provider>> {
    state.vault.providers().get(name).ok_or_else(|| {
        refused(
            ErrorCode::IntegrationNotFound,
            format!("no integration named {name:?} is configured on this server (keyward.yaml, integrations:)"),
        )
    })
}

async fn authorize(
    state: &AppState,
    principal: &Principal,
    permission: &str,
    action: Action,
    workspace: Option<&str>,
) -> Result<()> {
    principal
        .authorize(state, permission, action, workspace_target(workspace))
        .await
        .map(drop)
}

/// A connection the caller may see, or not found (whether it exists elsewhere is none
/// of their business).
async fn visible(
    state: &AppState,
    principal: &Principal,
    id: &str,
    permission: &str,
    action: Action,
) -> Result<Connection> {
    principal.require(permission)?;
    let c = state
        .store
        .get_connection(principal.org_id(), id)
        .await
        .map_err(not_found)?;
    authorize(
        state,
        principal,
        permission,
        action,
        c.workspace_id.as_deref(),
    )
    .await?;
    Ok(c)
}

pub fn view(c: &Connection, now: DateTime<Utc>) -> ConnectionView {
    let expires_at = c.tokens.as_ref().and_then(|t| t.expires_at);
    ConnectionView {
        id: c.id.clone(),
        provider: c.provider.clone(),
        workspace: c.workspace_id.clone(),
        status: match c.status {
            ConnectionStatus::Pending => keyward_api::ConnectionStatus::Pending,
            ConnectionStatus::Active => keyward_api::ConnectionStatus::Active,
            ConnectionStatus::RefreshFailing => keyward_api::ConnectionStatus::RefreshFailing,
            ConnectionStatus::NeedsReauth => keyward_api::ConnectionStatus::NeedsReauth,
            ConnectionStatus::Revoked => keyward_api::ConnectionStatus::Revoked,
        },
        authenticated: c.status == ConnectionStatus::Active
            && c.tokens.is_some()
            && expires_at.is_none_or(|e| e > now),
        scopes: c.scopes.clone(),
        has_refresh_token: c.has_refresh_token(),
        created_at: c.created_at,
        updated_at: c.updated_at,
        last_refreshed_at: c.last_refreshed_at,
        connected_at: c.connected_at,
        expires_at,
        last_error: c.last_error.as_ref().map(|e| ConnectionProblem {
            code: e.code.clone(),
            message: e.message.clone(),
            at: e.at,
            during: e.during.clone(),
        }),
    }
}

fn store_status(s: keyward_api::ConnectionStatus) -> ConnectionStatus {
    match s {
        keyward_api::ConnectionStatus::Pending => ConnectionStatus::Pending,
        keyward_api::ConnectionStatus::Active => ConnectionStatus::Active,
        keyward_api::ConnectionStatus::RefreshFailing => ConnectionStatus::RefreshFailing,
        keyward_api::ConnectionStatus::NeedsReauth => ConnectionStatus::NeedsReauth,
        keyward_api::ConnectionStatus::Revoked => ConnectionStatus::Revoked,
    }
}

/// A caller's id for a connection: 1 to 128 of letters, digits and `- _ . @ :`.
fn check_connection_id(id: &str) -> Result<()> {
    let ok = (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(
            "connection_id",
            "must be 1 to 128 characters of letters, digits and - _ . @ :",
        ))
    }
}

/// An absolute http(s) URL without a fragment (RFC 6749 §3.1.2).
fn check_redirect_uri(raw: &str) -> Result<()> {
    let bad = |m: &str| ApiError::validation("redirect_uri", m);
    if raw.len() > 2000 {
        return Err(bad("must be at most 2000 characters"));
    }
    let url = url::Url::parse(raw).map_err(|_| bad("must be an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("must be an http or https URL with a host"));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a fragment (#…)"));
    }
    Ok(())
}

/// The integrations this server is configured for.
#[utoipa::path(get, path = "/v1/integrations", tag = "integrations",
    responses((status = 200, body = Vec<Integration>), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["integrations:read"])))]
pub async fn list_integrations(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<Integration>>> {
    principal
        .authorize(&state, "integrations:read", Action::Read, Target::Listing)
        .await?;
    Ok(Json(
        state
            .vault
            .providers()
            .iter()
            .map(|p| Integration {
                name: p.name.clone(),
                display_name: p.display_name.clone(),
                kind: "oauth2".into(),
                pkce: p.pkce,
                scopes: p
                    .scopes
                    .iter()
                    .map(|(name, scope)| IntegrationScope {
                        name: name.clone(),
                        scope: scope.clone(),
                    })
                    .collect(),
                default_scopes: p.default_scopes.clone(),
            })
            .collect(),
    ))
}

/// Start connecting (the seed's `getOAuthUrl`): the URL to send the person to, with a
/// one-time state (ten minutes) and, for providers that take it, PKCE (S256).
#[utoipa::path(post, path = "/v1/integrations/{provider}/authorize", tag = "integrations",
    params(("provider" = String, Path)), request_body = AuthorizeRequest,
    responses((status = 200, body = AuthorizeResponse), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["integrations:write"])))]
pub async fn authorize_integration(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<AuthorizeRequest>,
) -> Result<Json<AuthorizeResponse>> {
    principal.require("integrations:write")?;
    let provider = provider(&state, &name)?;
    check_connection_id(&req.connection_id)?;
    if let Some(w) = &req.workspace {
        state
            .store
            .get_resource(ResourceKind::Workspace, principal.org_id(), w)
            .await
            .map_err(|_| {
                ApiError::validation("workspace", "no such workspace in this organization")
            })?;
    }
    authorize(
        &state,
        &principal,
        "integrations:write",
        Action::Write,
        req.workspace.as_deref(),
    )
    .await?;
    // Connecting an existing connection again acts on it: the caller must reach its
    // workspace, and it stays there (the store checks again in the change).
    match state
        .store
        .get_connection(principal.org_id(), &req.connection_id)
        .await
    {
        Ok(existing) => {
            authorize(
                &state,
                &principal,
                "integrations:write",
                Action::Write,
                existing.workspace_id.as_deref(),
            )
            .await?;
            if existing.workspace_id != req.workspace {
                return Err(StoreError::Conflict(store::Conflict::ConnectionWorkspace).into());
            }
        }
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let scopes = provider
        .full_scopes(&req.scopes)
        .map_err(|e| ApiError::validation("scopes", e))?;
    let (redirect_uri, hosted) = match &req.redirect_uri {
        Some(uri) => {
            check_redirect_uri(uri)?;
            (uri.clone(), false)
        }
        None => (
            format!("{}{OAUTH_CALLBACK_PATH}", public_base(&state, &headers)),
            true,
        ),
    };
    let now = state.clock.now();
    let oauth_state = LoginState::generate();
    let verifier = provider.pkce.then(CodeVerifier::generate);
    let id = ids::new_id("ost");
    let (dek, wrapped) = state.vault.ring().new_data_key();
    let sealed_verifier = verifier
        .as_ref()
        .map(|v| Sealed(dek.seal(&id, seal::VERIFIER, v.expose_secret().as_bytes())));
    let expires_at = now + chrono::Duration::minutes(OAUTH_STATE_MAX_AGE_MINUTES);
    let audit = actor_event(
        &principal,
        now,
        "connection.authorize",
        "connection",
        &req.connection_id,
        serde_json::json!({
            "provider": provider.name, "scopes": scopes, "redirect_uri": redirect_uri,
            "hosted": hosted, "workspace": req.workspace,
        }),
    );
    let connection = state
        .store
        .create_oauth_state(
            NewOAuthState {
                id,
                state_hash: KeyHash::of(oauth_state.as_str()),
                org_id: principal.org_id().to_owned(),
                provider: provider.name.clone(),
                connection_id: req.connection_id.clone(),
                connection_uid: ids::new_id("con"),
                workspace_id: req.workspace.clone(),
                redirect_uri: redirect_uri.clone(),
                hosted,
                scopes: scopes.clone(),
                dek: seal::to_store(wrapped),
                verifier: sealed_verifier,
                actor: principal.actor(),
                created_at: now,
                expires_at,
            },
            audit,
        )
        .await?;
    let challenge = verifier.as_ref().map(CodeVerifier::challenge);
    let url = provider.authorization_url(
        &redirect_uri,
        &scopes,
        oauth_state.as_str(),
        challenge.as_ref(),
    );
    Ok(Json(AuthorizeResponse {
        url: url.to_string(),
        state: oauth_state.as_str().to_owned(),
        redirect_uri,
        expires_at,
        connection: view(&connection, now),
    }))
}

fn state_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => refused(
            ErrorCode::OAuthStateInvalid,
            "this state was not issued by this server for this organization (or it was deleted); nothing was exchanged",
        ),
        other => other.into(),
    }
}

/// The provider's refusal or unavailability, as an API error (nothing secret in it).
fn provider_failure(provider: &str, e: &TokenError) -> ApiError {
    if e.is_retryable() {
        refused(
            ErrorCode::ProviderUnavailable,
            format!("{provider} is unavailable ({e}); retry later"),
        )
    } else {
        refused(ErrorCode::ProviderError, format!("{provider} refused: {e}"))
    }
}

/// [`complete`] on a task of its own: the state is spent and the code about to be, so a
/// caller that goes away must not cancel the exchange between the provider's answer and
/// the write of its tokens.
async fn detached(
    state: &AppState,
    st: OAuthState,
    provider: Arc<Provider>,
    code: String,
    actor: Actor,
    source_ip: Option<String>,
) -> Result<Connection> {
    let state = state.clone();
    tokio::spawn(async move { complete(&state, &st, &provider, &code, actor, source_ip).await })
        .await
        .map_err(|_| ApiError::Internal)?
}

/// Exchanges a code for a taken state, and writes the tokens (acted by `actor`).
async fn complete(
    state: &AppState,
    st: &OAuthState,
    provider: &Provider,
    code: &str,
    actor: Actor,
    source_ip: Option<String>,
) -> Result<Connection> {
    let verifier = match &st.verifier {
        None => None,
        Some(sealed) => {
            let plain = state
                .vault
                .ring()
                .open(
                    &seal::from_store(&st.dek),
                    &st.id,
                    seal::VERIFIER,
                    &sealed.0,
                )
                .map_err(|e| {
                    tracing::error!(error = %e, "cannot open an authorization's verifier");
                    ApiError::Internal
                })?;
            Some(CodeVerifier::parse(plain.expose_secret()).map_err(|_| ApiError::Internal)?)
        }
    };
    let event = |at, action: &str, details| NewAuditEvent {
        org_id: st.org_id.clone(),
        at,
        actor: actor.clone(),
        action: action.to_owned(),
        target_type: "connection".into(),
        target_id: st.connection_id.clone(),
        source_ip: source_ip.clone(),
        details,
    };
    let answer = match state
        .vault
        .client
        .exchange_code(provider, code, &st.redirect_uri, verifier.as_ref())
        .await
    {
        Ok(a) => a,
        Err(e) => {
            let now = state.clock.now();
            let details = serde_json::json!({"provider": provider.name, "error": e.code(), "message": e.to_string()});
            let audit = event(now, "connection.exchange_failed", details);
            let noted = state
                .store
                .note_connection_error(
                    &st.org_id,
                    &st.connection_id,
                    store::ConnectionError {
                        during: "authorization".into(),
                        ..problem(&e, now)
                    },
                    audit,
                )
                .await;
            if let Err(n) = noted {
                tracing::warn!(error = %n, "could not record a failed code exchange");
            }
            return Err(provider_failure(&provider.name, &e));
        }
    };
    let now = state.clock.now();
    let uid = st.connection_uid.clone();
    let expires_at = refresh::expiry(now, answer.expires_in);
    let tokens = seal_tokens(
        state.vault.ring(),
        &uid,
        &answer.access_token,
        answer.refresh_token.as_ref(),
        &answer.token_type,
        expires_at,
    );
    let scopes = answer
        .scope
        .as_deref()
        .map(split_scopes)
        .unwrap_or_else(|| st.scopes.clone());
    let details = serde_json::json!({
        "provider": provider.name, "scopes": scopes, "expires_at": expires_at,
        "refresh_token": answer.refresh_token.is_some(), "workspace": st.workspace_id,
    });
    let grant = ConnectionGrant {
        state_id: st.id.clone(),
        uid,
        org_id: st.org_id.clone(),
        id: st.connection_id.clone(),
        provider: provider.name.clone(),
        workspace_id: st.workspace_id.clone(),
        scopes,
        tokens,
        at: now,
    };
    let connection = match state
        .store
        .grant_connection(grant, event(now, "connection.connect", details))
        .await
    {
        Ok(c) => c,
        Err(StoreError::Gone(_)) => {
            // Deleted or disconnected while the code was exchanged: the provider issued
            // tokens nobody will hold; revoke them.
            refresh::discard(state, provider, &answer).await;
            return Err(refused(
                ErrorCode::ConnectionNotFound,
                "the connection was disconnected or deleted after this authorization started; nothing was kept",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(connection = %connection.uid, provider = %provider.name, "connection authorized");
    Ok(connection)
}

/// Exchange the code your callback received (the seed's `exchangeCode`). The state
/// works once, only with the exact `redirect_uri` it was issued for.
#[utoipa::path(post, path = "/v1/integrations/{provider}/exchange", tag = "integrations",
    params(("provider" = String, Path)), request_body = ExchangeRequest,
    responses((status = 200, body = ConnectionView), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["integrations:write"])))]
pub async fn exchange_code(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<ExchangeRequest>,
) -> Result<Json<ConnectionView>> {
    principal.require("integrations:write")?;
    let provider = provider(&state, &name)?;
    if req.code.is_empty() || req.code.len() > 4096 {
        return Err(ApiError::validation("code", "must be 1 to 4096 characters"));
    }
    if req.state.is_empty() || req.state.len() > 256 {
        return Err(ApiError::validation("state", "must be 1 to 256 characters"));
    }
    // Checked before it is spent: whoever merely saw a state cannot burn it.
    let hash = KeyHash::of(&req.state);
    let st = state
        .store
        .find_oauth_state(&hash, Some(principal.org_id()))
        .await
        .map_err(state_error)?;
    if st.provider != provider.name {
        return Err(refused(
            ErrorCode::OAuthStateInvalid,
            format!(
                "this state was issued for {}, not {}; nothing was exchanged",
                st.provider, provider.name
            ),
        ));
    }
    authorize(
        &state,
        &principal,
        "integrations:write",
        Action::Write,
        st.workspace_id.as_deref(),
    )
    .await?;
    if st.redirect_uri != req.redirect_uri {
        return Err(refused(
            ErrorCode::RedirectUriMismatch,
            "redirect_uri is not the one the authorization was started with; nothing was exchanged",
        ));
    }
    let st = state
        .store
        .take_oauth_state(&hash, Some(principal.org_id()), state.clock.now())
        .await
        .map_err(state_error)?;
    let source = principal.source.map(|a| a.ip().to_string());
    let c = detached(&state, st, provider, req.code, principal.actor(), source).await?;
    Ok(Json(view(&c, state.clock.now())))
}

/// A small page for the person's browser: no scripts, no referrer (the address holds
/// a code), nothing cached.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = maud::html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Keyward" }
                style { "body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1a1a1a}h1{font-size:1.4rem}" }
            }
            body {
                main {
                    h1 { (title) }
                    p { (body) }
                }
            }
        }
    };
    let mut response = (status, html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn error_page(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.code().status()).unwrap_or(StatusCode::BAD_REQUEST);
    page(
        status,
        "The connection was not made",
        &format!("{} ({})", e, e.code().as_str()),
    )
}

/// Keyward's hosted OAuth callback: the provider sends the person here; Keyward
/// exchanges the code and shows a page saying the connection is ready.
#[utoipa::path(get, path = "/v1/oauth/callback", tag = "integrations", params(OAuthCallbackQuery),
    responses((status = 200, description = "An HTML page: the connection is ready", content_type = "text/html"),
        (status = "4XX", description = "An HTML page saying what went wrong", content_type = "text/html")),
    security(()))]
pub async fn oauth_callback(
    State(state): State<AppState>,
    super::invitations::Peer(peer): super::invitations::Peer,
    ApiQuery(q): ApiQuery<OAuthCallbackQuery>,
) -> Response {
    match callback(&state, q, peer.map(|a| a.ip().to_string())).await {
        Ok(c) => page(
            StatusCode::OK,
            "Connected",
            &format!(
                "{} is connected ({}). You can close this window.",
                state
                    .vault
                    .providers()
                    .get(&c.provider)
                    .map(|p| p.display_name.clone())
                    .unwrap_or(c.provider.clone()),
                c.id
            ),
        ),
        Err(e) => error_page(&e),
    }
}

async fn callback(
    state: &AppState,
    q: OAuthCallbackQuery,
    source_ip: Option<String>,
) -> Result<Connection> {
    let raw_state = q
        .state
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .ok_or_else(|| ApiError::validation("state", "the provider sent no state back"))?;
    let hash = KeyHash::of(&raw_state);
    let st = state
        .store
        .find_oauth_state(&hash, None)
        .await
        .map_err(state_error)?;
    if !st.hosted {
        return Err(refused(
            ErrorCode::OAuthStateInvalid,
            "this authorization was started for your app's own callback, which must complete it",
        ));
    }
    let st = state
        .store
        .take_oauth_state(&hash, None, state.clock.now())
        .await
        .map_err(state_error)?;
    let provider = provider(state, &st.provider)?;
    if let Some(error) = q.error {
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        let description: Option<String> = q
            .error_description
            .map(|d| d.chars().filter(|c| !c.is_control()).take(200).collect());
        let message = match &description {
            Some(d) => format!("{error}: {d}"),
            None => error.clone(),
        };
        let now = state.clock.now();
        let audit = NewAuditEvent {
            org_id: st.org_id.clone(),
            at: now,
            actor: st.actor.clone(),
            action: "connection.authorize_failed".into(),
            target_type: "connection".into(),
            target_id: st.connection_id.clone(),
            source_ip,
            details: serde_json::json!({"provider": provider.name, "error": error, "message": message}),
        };
        let problem = store::ConnectionError {
            code: error.clone(),
            message: message.clone(),
            at: now,
            during: "authorization".into(),
        };
        state
            .store
            .note_connection_error(&st.org_id, &st.connection_id, problem, audit)
            .await
            .ok();
        return Err(refused(
            ErrorCode::AuthorizationDenied,
            format!(
                "{} did not authorize the connection: {message}",
                provider.display_name
            ),
        ));
    }
    let code = q
        .code
        .filter(|c| !c.is_empty() && c.len() <= 4096)
        .ok_or_else(|| ApiError::validation("code", "the provider sent no code back"))?;
    let actor = st.actor.clone();
    detached(state, st, provider, code, actor, source_ip).await
}

/// Connections of the organization (those the key's scope reaches), by id.
#[utoipa::path(get, path = "/v1/connections", tag = "integrations", params(ConnectionQuery),
    responses((status = 200, body = ListResponse<ConnectionView>), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["integrations:read"])))]
pub async fn list_connections(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ConnectionQuery>,
) -> Result<Json<ListResponse<ConnectionView>>> {
    principal
        .authorize(&state, "integrations:read", Action::Read, Target::Listing)
        .await?;
    let limit = page_limit(q.limit)?;
    let within = workspaces_within(&principal);
    let items = state
        .store
        .list_connections(
            principal.org_id(),
            ConnectionFilter {
                provider: q.provider,
                status: q.status.map(store_status),
                workspace_id: q.workspace,
                within_workspaces: within,
                after: q.cursor,
                limit: limit + 1,
            },
        )
        .await?;
    let now = state.clock.now();
    let more = items.len() > limit as usize;
    let data: Vec<ConnectionView> = items
        .iter()
        .take(limit as usize)
        .map(|c| view(c, now))
        .collect();
    let next_cursor = more.then(|| data.last().map(|c| c.id.clone())).flatten();
    Ok(Json(ListResponse { data, next_cursor }))
}

/// A connection's status (the seed's `isAuthenticated`: `authenticated`).
#[utoipa::path(get, path = "/v1/connections/{id}", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = ConnectionView), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["integrations:read"])))]
pub async fn get_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>> {
    let c = visible(&state, &principal, &id, "integrations:read", Action::Read).await?;
    Ok(Json(view(&c, state.clock.now())))
}

/// The connection's current access token (the seed's `getTokens`), refreshed first
/// when it is within the refresh margin of expiring. Audited.
#[utoipa::path(get, path = "/v1/connections/{id}/tokens", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = ConnectionTokens), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["integrations:read"])))]
pub async fn get_tokens(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response> {
    // A token of someone else is a credential: only those who manage the organization.
    let c = visible(&state, &principal, &id, "integrations:read", Action::Write).await?;
    let (c, opened) = refresh::tokens(&state, principal.org_id(), &c.id, Why::Read).await?;
    let now = state.clock.now();
    let audit = actor_event(
        &principal,
        now,
        "connection.tokens.read",
        "connection",
        &c.id,
        serde_json::json!({"provider": c.provider}),
    );
    state.store.record_event(audit).await?;
    let t = c.tokens.as_ref().ok_or(ApiError::Internal)?;
    let body = ConnectionTokens {
        access_token: ProviderToken::new(opened.access_token.expose_secret()),
        token_type: t.token_type.clone(),
        expires_at: t.expires_at,
        scopes: c.scopes.clone(),
        connection: view(&c, now),
    };
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Refresh now (the seed's `refreshTokens`), whatever the expiry. Callers racing it
/// wait for this one refresh.
#[utoipa::path(post, path = "/v1/connections/{id}/refresh", tag = "integrations", params(("id" = String, Path)),
    request_body = Option<RefreshRequest>,
    responses((status = 200, body = ConnectionView), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["integrations:write"])))]
pub async fn refresh_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJsonOrEmpty(RefreshRequest {}): ApiJsonOrEmpty<RefreshRequest>,
) -> Result<Json<ConnectionView>> {
    let c = visible(&state, &principal, &id, "integrations:write", Action::Write).await?;
    let (c, _) = refresh::tokens(&state, principal.org_id(), &c.id, Why::Forced).await?;
    Ok(Json(view(&c, state.clock.now())))
}

/// Revokes the tokens at the provider (RFC 7009; refresh token first), whatever
/// comes of it. Returns whether the provider confirmed, and its error.
async fn revoke_at_provider(state: &AppState, c: &Connection) -> (bool, Option<String>) {
    let Some(provider) = state.vault.providers().get(&c.provider) else {
        return (
            false,
            Some("the integration is no longer configured".into()),
        );
    };
    let opened = match open_tokens(state.vault.ring(), c) {
        Ok(Some(o)) => o,
        Ok(None) => return (false, None),
        Err(e) => {
            tracing::error!(error = %e, connection = %c.uid, "cannot open tokens to revoke them");
            return (false, Some("the stored tokens could not be opened".into()));
        }
    };
    let mut tokens = vec![];
    if let Some(r) = &opened.refresh_token {
        tokens.push((r, "refresh_token"));
    }
    tokens.push((&opened.access_token, "access_token"));
    let mut confirmed = true;
    let mut error = None;
    for (token, hint) in tokens {
        match state.vault.client.revoke(&provider, token, hint).await {
            Ok(Revocation::Revoked) => {}
            Ok(Revocation::NotSupported) => {
                confirmed = false;
                error = Some(format!(
                    "{} has no revocation endpoint",
                    provider.display_name
                ));
                break;
            }
            Err(e) => {
                confirmed = false;
                error = Some(e.to_string());
            }
        }
    }
    (confirmed, error)
}

async fn disconnect(
    state: &AppState,
    principal: &Principal,
    c: &Connection,
) -> Result<Disconnected> {
    // A refresh running now would rotate the tokens about to be revoked: wait for it
    // (take its lease) and revoke what it wrote. Erasing ends the lease.
    let c = refresh::hold(state, c).await?;
    let (revoked_at_provider, provider_error) = if c.tokens.is_some() {
        revoke_at_provider(state, &c).await
    } else {
        (false, None)
    };
    let now = state.clock.now();
    let audit = actor_event(
        principal,
        now,
        "connection.disconnect",
        "connection",
        &c.id,
        serde_json::json!({
            "provider": c.provider, "revoked_at_provider": revoked_at_provider,
            "provider_error": provider_error,
        }),
    );
    let erased = state
        .store
        .revoke_connection(principal.org_id(), &c.id, audit)
        .await
        .map_err(not_found)?;
    Ok(Disconnected {
        revoked_at_provider,
        provider_error,
        connection: view(&erased, now),
    })
}

/// Disconnect (the seed's `revokeTokens`): revoke the tokens at the provider (RFC 7009),
/// then erase them here. The connection stays, `revoked`, until deleted or connected
/// again.
#[utoipa::path(delete, path = "/v1/connections/{id}/tokens", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = Disconnected), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["integrations:write"])))]
pub async fn revoke_tokens(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Disconnected>> {
    let c = visible(&state, &principal, &id, "integrations:write", Action::Write).await?;
    Ok(Json(disconnect(&state, &principal, &c).await?))
}

/// Delete a connection: as a disconnect, then the record is gone too.
#[utoipa::path(delete, path = "/v1/connections/{id}", tag = "integrations", params(("id" = String, Path)),
    responses((status = 204), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["integrations:write"])))]
pub async fn delete_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let c = visible(&state, &principal, &id, "integrations:write", Action::Write).await?;
    if c.tokens.is_some() {
        disconnect(&state, &principal, &c).await?;
    }
    let audit = actor_event(
        &principal,
        state.clock.now(),
        "connection.delete",
        "connection",
        &c.id,
        serde_json::json!({"provider": c.provider}),
    );
    state
        .store
        .delete_connection(principal.org_id(), &c.id, audit)
        .await
        .map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}
