//! `POST /v1/auth/cli/token`: the end of `keyward auth login --web`.
//!
//! The CLI opened the console's approve page (`console/cli_login.rs`) with a PKCE
//! challenge (RFC 7636, S256) and a loopback port; the person approved there, and the
//! console redirected their browser to `http://127.0.0.1:<port>/callback` with a
//! one-time `kw_cli_` code. The browser never holds the token: the CLI exchanges the
//! code here, with the verifier only it knows, for a new personal access token of the
//! person, named after the machine (as OAuth native apps do, RFC 8252).
//!
//! No key is needed: the code and the verifier are the credentials. One wrong verifier
//! does not spend the code, but a few end it (`keyward_store::CLI_LOGIN_MAX_FAILED_ATTEMPTS`),
//! which stops guessing at another client's weak verifier: someone who saw the redirect
//! can thus deny the CLI its token (never take it), and the person runs the login again.

use super::invitations::Peer;
use super::keys::{CreatedKey, KeyView, KeyViewExt as _};
use crate::errors::{ApiError, Result};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use keyward_api::{ApiKey, CliTokenRequest, ErrorCode};
use keyward_core::invite::CliLoginCode;
use keyward_core::key::Environment;
use keyward_core::pkce::CodeVerifier;
use keyward_core::{KeyKind, PlainKey};
use keyward_store::{CliRedemption, FreshKey, StoreError};

/// Exchange a CLI login's one-time code, with the PKCE verifier of the CLI that asked
/// for it, for a new personal access token (shown only in this answer).
#[utoipa::path(post, path = "/v1/auth/cli/token", tag = "account", request_body = CliTokenRequest,
    responses((status = 201, body = CreatedKey), (status = "4XX", body = crate::errors::Problem)),
    security(()))]
pub async fn exchange_cli_code(
    State(state): State<AppState>,
    Peer(peer): Peer,
    ApiJson(req): ApiJson<CliTokenRequest>,
) -> Result<(StatusCode, Json<CreatedKey>)> {
    let code = CliLoginCode::parse(&req.code).map_err(|e| ApiError::validation("code", e))?;
    let verifier = CodeVerifier::parse(&req.code_verifier)
        .map_err(|e| ApiError::validation("code_verifier", e))?;
    let plain = PlainKey::generate(KeyKind::Personal, Environment::Live);
    let redemption = CliRedemption {
        code_hash: code.hash(),
        presented: verifier.challenge(),
        at: state.clock.now(),
        token: FreshKey::of(&plain),
        source_ip: peer.map(|a| a.ip().to_string()),
    };
    let redeemed = state
        .store
        .redeem_cli_login(redemption)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound("CLI login code"),
            StoreError::Gone(what) => ApiError::Gone(
                ErrorCode::LoginCodeExpired,
                format!(
                    "this login can no longer make a token: the {what} it was approved for is gone; run keyward auth login --web again"
                ),
            ),
            other => other.into(),
        })?;
    tracing::info!(key_id = %redeemed.key.id, cli_login = %redeemed.login.id, "CLI login redeemed");
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: ApiKey::new(plain.expose_secret()),
            details: KeyView::new(&state, &redeemed.key),
        }),
    ))
}
