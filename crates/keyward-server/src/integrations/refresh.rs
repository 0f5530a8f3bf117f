//! Tokens that are always fresh, refreshed once at a time.
//!
//! [`tokens`] is getTokens: it answers the stored access token while it is more than
//! the margin away from expiring, and otherwise refreshes it first. A refresh is done by
//! whoever takes the connection's lease in the database (one conditional `UPDATE`, so
//! of any number of callers on any number of nodes, one wins); the others wait — on
//! this node behind a per-connection mutex, on other nodes by polling the row — and
//! answer the token the winner wrote. The winner writes the new access token, and the
//! new refresh token when the provider rotated it, in the transaction that ends its
//! lease; an answer without a refresh token keeps the old one.
//!
//! Failures: `invalid_grant` makes the connection `needs_reauth` at once (no retry).
//! An unavailable provider (5xx, `temporarily_unavailable`, network) is retried within
//! the refresh ([`super::Config::retry_delays`]), then the connection is
//! `refresh_failing` with the error kept and a next attempt after a backoff that grows
//! with each failure; the background refresher ([`run`]) tries again then, and a
//! success makes it `active`. Every outcome is written with its audit event.

use super::seal::{open_tokens, seal_tokens, Opened};
use super::Vault;
use crate::errors::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use keyward_api::ErrorCode;
use keyward_oauth::{TokenAnswer, TokenError};
use keyward_store::{
    Actor, Connection, ConnectionError, ConnectionStatus, NewAuditEvent, RefreshOutcome, StoreError,
};
use std::sync::Arc;
use std::time::Duration;

/// How long a refresh may hold its lease: longer than its attempts can take (each
/// request times out after 10 s), so a lease ends early only with its holder's death.
pub const LEASE: Duration = Duration::from_secs(90);
/// How often a caller waiting for another node's refresh reads the row again.
const POLL: Duration = Duration::from_millis(50);

/// Why a refresh happens, as the audit log says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// getTokens found the token about to expire.
    Read,
    /// `POST /v1/connections/{id}/refresh`: refresh now, whatever the expiry.
    Forced,
    /// The background refresher.
    Background,
}

impl Why {
    fn as_str(self) -> &'static str {
        match self {
            Why::Read => "get_tokens",
            Why::Forced => "forced",
            Why::Background => "background",
        }
    }
}

fn refused(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::Refused(code, message.into())
}

pub fn not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => {
            refused(ErrorCode::ConnectionNotFound, "no connection with this id")
        }
        other => other.into(),
    }
}

fn sealed_error(e: keyward_vault::VaultError) -> ApiError {
    // Names the KEK id at most; never key material.
    tracing::error!(error = %e, "cannot open a connection's tokens");
    ApiError::Internal
}

/// The refresher's actor in the audit log.
pub fn refresher() -> Actor {
    Actor {
        actor_type: "system".into(),
        id: None,
        name: "vault refresher".into(),
        key_id: None,
        authority: None,
    }
}

/// Backoff before the refresher tries a failing connection again: 30 s, doubling with
/// each failure in a row, at most 15 minutes.
pub fn backoff(failures: i64) -> chrono::Duration {
    let exp = failures.clamp(1, 6) - 1;
    chrono::Duration::seconds((30i64 << exp).min(900))
}

/// Whether `c` answers getTokens as it is at `now`: its token is further from expiring
/// than the margin, or than half its lifetime when that is shorter (a token that lives
/// five minutes is not refreshed on every read because the margin is five minutes).
fn fresh(vault: &Vault, c: &Connection, now: DateTime<Utc>) -> bool {
    let mut margin = chrono::Duration::from_std(vault.config.refresh_margin).unwrap_or_default();
    let expires = c.tokens.as_ref().and_then(|t| t.expires_at);
    if let (Some(expires), Some(since)) = (expires, c.last_refreshed_at) {
        margin = margin.min((expires - since) / 2);
    }
    !c.expires_before(now + margin)
}

/// When a token given `expires_in` seconds at `now` expires: at most a year ahead, and
/// never in the past, whatever a provider says.
pub fn expiry(now: DateTime<Utc>, expires_in: Option<i64>) -> Option<DateTime<Utc>> {
    let seconds = expires_in?.clamp(0, 366 * 24 * 3600);
    now.checked_add_signed(chrono::Duration::seconds(seconds))
}

/// Revokes, as best it can, tokens a provider issued that nobody will hold (their
/// write was refused); failures are logged, never secrets.
pub async fn discard(state: &AppState, provider: &keyward_oauth::Provider, answer: &TokenAnswer) {
    let mut tokens = vec![(&answer.access_token, "access_token")];
    if let Some(r) = &answer.refresh_token {
        tokens.insert(0, (r, "refresh_token"));
    }
    for (token, hint) in tokens {
        if let Err(e) = state.vault.client.revoke(provider, token, hint).await {
            tracing::warn!(provider = %provider.name, error = %e, "could not revoke tokens that were not kept");
        }
    }
}

/// Takes the connection's refresh lease for a change that replaces its tokens (a
/// disconnect), waiting while a refresh holds it; returns the connection as it is
/// then. The change ends the lease. After a lease's lifetime it goes on regardless.
pub async fn hold(state: &AppState, c: &Connection) -> Result<Connection, ApiError> {
    if c.tokens.is_none() {
        return Ok(c.clone());
    }
    let owner = format!("{}:{}", state.vault.node, keyward_core::base62::random(12));
    let deadline = tokio::time::Instant::now() + LEASE + Duration::from_secs(5);
    loop {
        let now = state.clock.now();
        let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        if let Some(held) = state
            .store
            .lease_connection(&c.uid, &owner, now, until)
            .await?
        {
            return Ok(held);
        }
        if tokio::time::Instant::now() > deadline {
            return state
                .store
                .get_connection(&c.org_id, &c.id)
                .await
                .map_err(not_found);
        }
        tokio::time::sleep(POLL).await;
    }
}

fn check_usable(c: &Connection) -> Result<(), ApiError> {
    match c.status {
        ConnectionStatus::Active | ConnectionStatus::RefreshFailing => Ok(()),
        ConnectionStatus::NeedsReauth => Err(refused(
            ErrorCode::ConnectionNeedsReauth,
            format!(
                "the provider refused this connection's refresh token ({}); connect it again",
                c.last_error
                    .as_ref()
                    .map(|e| e.code.as_str())
                    .unwrap_or("invalid_grant")
            ),
        )),
        ConnectionStatus::Pending => Err(refused(
            ErrorCode::ConnectionNotActive,
            "this connection has no tokens yet: its authorization has not completed",
        )),
        ConnectionStatus::Revoked => Err(refused(
            ErrorCode::ConnectionNotActive,
            "this connection was disconnected: its tokens were revoked and erased",
        )),
    }
}

/// The connection as it is now, if it has tokens to answer with.
async fn usable(state: &AppState, org_id: &str, id: &str) -> Result<Connection, ApiError> {
    let c = state
        .store
        .get_connection(org_id, id)
        .await
        .map_err(not_found)?;
    check_usable(&c)?;
    Ok(c)
}

fn failing(c: &Connection) -> ApiError {
    let why = c
        .last_error
        .as_ref()
        .map(|e| format!(" ({}: {})", e.code, e.message))
        .unwrap_or_default();
    let next = c
        .retry_at
        .map(|t| format!("; Keyward tries again at {}", t.to_rfc3339()))
        .unwrap_or_default();
    refused(
        ErrorCode::ConnectionRefreshFailing,
        format!("the access token expired and refreshing it failed{why}{next}"),
    )
}

fn open(state: &AppState, c: Connection) -> Result<(Connection, Opened), ApiError> {
    let opened = open_tokens(state.vault.ring(), &c)
        .map_err(sealed_error)?
        .ok_or_else(|| {
            refused(
                ErrorCode::ConnectionNotActive,
                "this connection has no tokens",
            )
        })?;
    Ok((c, opened))
}

/// getTokens (`why` Read or Background) or a forced refresh: the connection with its
/// tokens in the clear, refreshed first when needed.
pub async fn tokens(
    state: &AppState,
    org_id: &str,
    id: &str,
    why: Why,
) -> Result<(Connection, Opened), ApiError> {
    let started = state.clock.now();
    let c = usable(state, org_id, id).await?;
    if why != Why::Forced && fresh(&state.vault, &c, started) {
        return open(state, c);
    }
    // Every write of tokens counts: once it moved past what was read here (a refresh by
    // another caller, another node), that write is the answer.
    let read = c.generation;
    // Callers on this node queue here; the first does (or waits for) the refresh.
    let lock = state.vault.local.entry(c.uid.clone()).or_default().clone();
    let _forget = Forget(&state.vault, &c.uid);
    let _turn = lock.lock().await;
    let owner = format!("{}:{}", state.vault.node, keyward_core::base62::random(12));
    let deadline = tokio::time::Instant::now() + LEASE + Duration::from_secs(5);
    loop {
        let now = state.clock.now();
        let c = usable(state, org_id, id).await?;
        let done = c.generation != read || (why != Why::Forced && fresh(&state.vault, &c, now));
        if done {
            return open(state, c);
        }
        if !c.has_refresh_token() {
            if why != Why::Forced && !c.expires_before(now) {
                return open(state, c);
            }
            return Err(refused(
                ErrorCode::ConnectionNeedsReauth,
                "the provider gave this connection no refresh token; connect it again to renew its access",
            ));
        }
        if why != Why::Forced && c.retry_at.is_some_and(|t| t > now) {
            // Backing off after failures: the current token while it lasts.
            return if c.expires_before(now) {
                Err(failing(&c))
            } else {
                open(state, c)
            };
        }
        let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        if let Some(leased) = state
            .store
            .lease_connection(&c.uid, &owner, now, until)
            .await?
        {
            // On a task of its own: a caller that goes away (a client's timeout) must not
            // cancel a refresh between the provider's answer and its write, which would
            // lose a rotated refresh token and hold the lease until it expires.
            let task = tokio::spawn({
                let state = state.clone();
                async move { refresh_leased(&state, leased, &owner, why, read).await }
            });
            return task.await.map_err(|_| ApiError::Internal)?;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(refused(
                ErrorCode::ProviderUnavailable,
                "another refresh of this connection is taking too long; retry shortly",
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Refreshes a connection whose lease `owner` holds, and writes the outcome.
async fn refresh_leased(
    state: &AppState,
    c: Connection,
    owner: &str,
    why: Why,
    read: i64,
) -> Result<(Connection, Opened), ApiError> {
    // Someone may have refreshed between our read and our lease.
    let done =
        c.generation != read || (why != Why::Forced && fresh(&state.vault, &c, state.clock.now()));
    if done {
        state.store.release_lease(&c.uid, owner).await?;
        return open(state, c);
    }
    let result = attempt(state, &c).await;
    let now = state.clock.now();
    let before = c.status;
    let mut issued = None;
    let (outcome, action) = match result {
        Ok(Attempted::Tokens(outcome, answer)) => {
            issued = Some(answer);
            (outcome, "connection.refresh")
        }
        Ok(Attempted::Unreadable) => {
            // This node's ring cannot open what another wrote: its configuration is
            // wrong, not the connection. Nothing is changed.
            state.store.release_lease(&c.uid, owner).await?;
            return Err(ApiError::Internal);
        }
        Ok(Attempted::Unconfigured) => {
            state.store.release_lease(&c.uid, owner).await?;
            return Err(refused(
                ErrorCode::IntegrationNotFound,
                format!(
                    "the integration {} is no longer configured on this server",
                    c.provider
                ),
            ));
        }
        Err(e) if e.is_invalid_grant() => (
            RefreshOutcome::Refused(problem(&e, now)),
            "connection.needs_reauth",
        ),
        Err(e) => (
            RefreshOutcome::Failed {
                error: problem(&e, now),
                retry_at: now + backoff(c.failures + 1),
            },
            "connection.refresh_failed",
        ),
    };
    let details = match &outcome {
        RefreshOutcome::Refreshed { tokens, .. } => serde_json::json!({
            "provider": c.provider, "via": why.as_str(), "status_before": before.as_str(),
            "expires_at": tokens.expires_at,
        }),
        RefreshOutcome::Refused(e) | RefreshOutcome::Failed { error: e, .. } => {
            serde_json::json!({
                "provider": c.provider, "via": why.as_str(), "status_before": before.as_str(),
                "error": e.code, "message": e.message,
            })
        }
    };
    let audit = NewAuditEvent {
        org_id: c.org_id.clone(),
        at: now,
        actor: refresher(),
        action: action.into(),
        target_type: "connection".into(),
        target_id: c.id.clone(),
        source_ip: None,
        details,
    };
    let written = match state
        .store
        .finish_refresh(&c.uid, owner, outcome, audit)
        .await
    {
        Ok(w) => w,
        Err(e) => {
            // Deleted or disconnected meanwhile: the new tokens are nobody's, revoke them.
            // Not when the connection was connected again (a new grant of the same person
            // may share the provider's grant: Google revokes all of it).
            let now_row = state.store.get_connection(&c.org_id, &c.id).await;
            let orphaned = match &now_row {
                Err(StoreError::NotFound) => true,
                Ok(row) => row.uid != c.uid || row.tokens.is_none(),
                Err(_) => false,
            };
            if let (true, Some(answer), Some(provider)) =
                (orphaned, &issued, state.vault.providers().get(&c.provider))
            {
                discard(state, &provider, answer).await;
            }
            tracing::warn!(connection = %c.uid, error = %e, "a refresh's outcome was not written");
            return Err(not_found(e));
        }
    };
    tracing::info!(connection = %c.uid, provider = %c.provider, status = written.status.as_str(), via = why.as_str(), "connection refresh");
    match written.status {
        ConnectionStatus::Active => open(state, written),
        ConnectionStatus::RefreshFailing if why != Why::Forced && !written.expires_before(now) => {
            open(state, written)
        }
        ConnectionStatus::RefreshFailing => Err(failing(&written)),
        _ => {
            check_usable(&written)?;
            Err(failing(&written))
        }
    }
}

enum Attempted {
    Tokens(RefreshOutcome, Box<TokenAnswer>),
    Unconfigured,
    /// The stored tokens do not open with this node's ring.
    Unreadable,
}

/// Drops this node's mutex of a connection once no caller holds it (the map would
/// otherwise keep one per connection ever read).
struct Forget<'a>(&'a Vault, &'a str);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0
            .local
            .remove_if(self.1, |_, lock| Arc::strong_count(lock) <= 2);
    }
}

/// Calls the provider, retrying while it is unavailable.
async fn attempt(state: &AppState, c: &Connection) -> Result<Attempted, TokenError> {
    let Some(provider) = state.vault.providers().get(&c.provider) else {
        return Ok(Attempted::Unconfigured);
    };
    let opened = match open_tokens(state.vault.ring(), c) {
        Ok(Some(o)) => o,
        Ok(None) | Err(_) => {
            tracing::error!(connection = %c.uid, "cannot open a connection's refresh token with this node's key-encryption keys");
            return Ok(Attempted::Unreadable);
        }
    };
    let Some(refresh_token) = opened.refresh_token else {
        return Err(TokenError::Provider {
            status: 400,
            code: "invalid_grant".into(),
            description: Some("no refresh token".into()),
        });
    };
    let delays = &state.vault.config.retry_delays;
    let mut tries = 0;
    let answer = loop {
        match state.vault.client.refresh(&provider, &refresh_token).await {
            Ok(a) => break a,
            Err(e) if e.is_retryable() && tries < delays.len() => {
                tracing::warn!(connection = %c.uid, provider = %c.provider, error = %e, "refresh failed; retrying");
                tokio::time::sleep(delays[tries]).await;
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    };
    let now = state.clock.now();
    let expires_at = expiry(now, answer.expires_in);
    // An answer without a refresh token keeps the old one.
    let refresh = answer.refresh_token.as_ref().unwrap_or(&refresh_token);
    let tokens = seal_tokens(
        state.vault.ring(),
        &c.uid,
        &answer.access_token,
        Some(refresh),
        &answer.token_type,
        expires_at,
    );
    let scopes = answer.scope.as_deref().map(split_scopes);
    Ok(Attempted::Tokens(
        RefreshOutcome::Refreshed { tokens, scopes },
        Box::new(answer),
    ))
}

/// The scopes of a token answer (space-separated, RFC 6749 §3.3; commas tolerated).
/// Only RFC 6749's scope-token characters are kept (a provider's answer is printed by
/// the CLI and shown in the console), at most 100 scopes of 256 characters.
pub fn split_scopes(scope: &str) -> Vec<String> {
    let token = |c: char| c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c);
    scope
        .split([' ', ','])
        .filter(|s| !s.is_empty() && s.len() <= 256 && s.chars().all(token))
        .take(100)
        .map(str::to_owned)
        .collect()
}

pub fn problem(e: &TokenError, at: DateTime<Utc>) -> ConnectionError {
    ConnectionError {
        code: e.code().to_owned(),
        message: e.to_string(),
        at,
        during: "refresh".into(),
    }
}

/// The background refresher: every `refresh_interval`, renews the tokens that expire
/// within the margin (a few at a time), and drops authorization states past their age.
pub async fn run(state: AppState) {
    let interval = state.vault.config.refresh_interval;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let parallel = Arc::new(tokio::sync::Semaphore::new(4));
    loop {
        tick.tick().await;
        if let Err(e) = pass(&state, &parallel).await {
            tracing::warn!(error = %e, "the vault refresher could not read due connections; will retry");
        }
    }
}

/// One pass of the refresher; returns how many connections it tried.
pub async fn pass(
    state: &AppState,
    parallel: &Arc<tokio::sync::Semaphore>,
) -> keyward_store::Result<usize> {
    let now = state.clock.now();
    let margin = chrono::Duration::from_std(state.vault.config.refresh_margin).unwrap_or_default();
    let providers: Vec<String> = state
        .vault
        .providers()
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let due = state
        .store
        .connections_due(&providers, now + margin, now, 100)
        .await?;
    let n = due.len();
    let mut tasks = tokio::task::JoinSet::new();
    for c in due {
        let state = state.clone();
        let permit = parallel.clone().acquire_owned().await;
        tasks.spawn(async move {
            let _permit = permit;
            if let Err(e) = tokens(&state, &c.org_id, &c.id, Why::Background).await {
                tracing::info!(connection = %c.uid, error = %e, "background refresh did not renew the token");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let purged = state
        .store
        .purge_oauth_states(now - chrono::Duration::hours(1))
        .await?;
    if purged > 0 {
        tracing::debug!(purged, "expired authorization states deleted");
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_keep_only_scope_token_characters() {
        assert_eq!(
            split_scopes("read write,mail.read"),
            ["read", "write", "mail.read"]
        );
        // A provider's answer reaches terminals and pages: nothing else gets through.
        assert_eq!(split_scopes("ok \u{1b}[31mred bad\u{202e}x"), ["ok"]);
        assert_eq!(split_scopes(&"a ".repeat(500)).len(), 100);
        assert!(split_scopes(&"x".repeat(300)).is_empty());
    }

    #[test]
    fn expiries_are_clamped_and_never_overflow() {
        let now = DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(expiry(now, None), None);
        assert_eq!(expiry(now, Some(-5)), Some(now));
        assert_eq!(
            expiry(now, Some(3600)),
            Some(now + chrono::Duration::hours(1))
        );
        assert_eq!(
            expiry(now, Some(i64::MAX)),
            Some(now + chrono::Duration::days(366))
        );
    }

    #[test]
    fn backoff_doubles_up_to_fifteen_minutes() {
        let secs: Vec<i64> = (1..=8).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 900, 900, 900]);
    }
}
