//! Authorize the Keyward CLI: the page `keyward auth login --web` opens.
//!
//! `GET /console/cli-login?port=&state=&challenge=&machine=` names the machine, the
//! person, the organization, and what the token will be (the person's role's
//! permissions, all or read only; an expiry, 90 days unless chosen otherwise). Approving
//! stores a login (`cli_logins`: the SHA-256 of a new one-time `kw_cli_` code, the PKCE
//! challenge, what the token will be) and sends the browser to
//! `http://127.0.0.1:<port>/callback?code=…&state=…`; cancelling sends it there with
//! `error=access_denied`. The CLI then exchanges the code with its verifier
//! (`http/cli_login.rs`): the browser never holds the token.
//!
//! The redirect's host is always 127.0.0.1, never anything the request names, so the
//! page cannot be made to send a code elsewhere (RFC 8252 §7.3, §8.3); only the port is
//! the CLI's. The page's CSP lets its form lead there (`form-action`), and nowhere else.
//!
//! Approving is the person signing in on another machine, not a key minting a key: the
//! token is theirs, for the whole organization, as their first token from an invitation
//! was, with no more than their session's grants, and its lifetime is not bounded by
//! the session's. The store checks the membership inside the change, and again at
//! redemption.

use super::failure::{Failure, PageResult};
use super::guard::CSP;
use super::layout::{csrf_field, page};
use super::visitor::Signed;
use crate::errors::ApiError;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::Form;
use chrono::Duration;
use keyward_api::{
    CliCallback, CliLoginQuery, ACCESS_DENIED, CLI_CALLBACK_PATH, CLI_MACHINE_MAX_CHARS,
};
use keyward_core::expiry::{Expiry, PRESETS};
use keyward_core::invite::CliLoginCode;
use keyward_core::pkce::{CodeChallenge, LoginState};
use keyward_core::{ids, Name, PermissionSet};
use keyward_store::{NewCliLogin, StoreError};
use maud::{html, Markup};
use serde::Deserialize;

/// How long the code works after approval: enough for the CLI, which is waiting.
const CODE_LIFETIME: Duration = Duration::minutes(5);
/// The token's lifetime unless the person chooses another.
const DEFAULT_EXPIRY: &str = "90d";
/// The lowest port a CLI may listen on (below are the system's).
const MIN_PORT: u16 = 1024;

/// What a CLI asks for, checked.
struct CliRequest {
    port: u16,
    state: LoginState,
    challenge: CodeChallenge,
    machine: Name,
}

impl CliRequest {
    fn parse(q: &CliLoginQuery) -> Result<Self, ApiError> {
        if q.port < MIN_PORT {
            return Err(ApiError::validation(
                "port",
                format!("must be between {MIN_PORT} and 65535"),
            ));
        }
        let machine = Name::parse(&q.machine).map_err(|e| ApiError::validation("machine", e))?;
        // A host name's characters only: the name is the CLI's claim, shown to the
        // person, and must not be able to pass for the page's own words
        // ("laptop (this computer)", right-to-left marks).
        if !machine
            .as_str()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' '))
        {
            return Err(ApiError::validation(
                "machine",
                "may hold only letters, digits, dots, dashes, underscores and spaces",
            ));
        }
        if machine.as_str().chars().count() > CLI_MACHINE_MAX_CHARS {
            return Err(ApiError::validation(
                "machine",
                format!("must be at most {CLI_MACHINE_MAX_CHARS} characters"),
            ));
        }
        Ok(Self {
            port: q.port,
            state: LoginState::parse(&q.state).map_err(|e| ApiError::validation("state", e))?,
            challenge: CodeChallenge::parse(&q.challenge)
                .map_err(|e| ApiError::validation("challenge", e))?,
            machine,
        })
    }

    /// Where the browser goes back to the CLI: always 127.0.0.1.
    fn callback(&self, code: Option<&CliLoginCode>, error: Option<&str>) -> String {
        let query = CliCallback {
            code: code.map(|c| c.expose_secret().to_owned()),
            state: Some(self.state.as_str().to_owned()),
            error: error.map(str::to_owned),
        };
        let query = serde_urlencoded::to_string(&query).expect("a query of strings");
        format!("http://127.0.0.1:{}{CLI_CALLBACK_PATH}?{query}", self.port)
    }

    /// The strict CSP of every console page, with the CLI's loopback as a second place
    /// the page's form may lead (browsers apply `form-action` to the redirect too).
    fn csp(&self) -> String {
        CSP.replace(
            "form-action 'self'",
            &format!("form-action 'self' http://127.0.0.1:{}", self.port),
        )
    }
}

fn damaged() -> Failure {
    Failure(ApiError::BadRequest(
        "this sign-in link is incomplete or damaged; run keyward auth login --web again and open the link it prints".into(),
    ))
}

pub async fn show(signed: Signed, RawQuery(query): RawQuery) -> PageResult {
    let query: CliLoginQuery =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).map_err(|_| damaged())?;
    let request = CliRequest::parse(&query)?;
    let csp = request.csp();
    let body = approve_page(&signed, &request);
    Ok((
        [(header::CONTENT_SECURITY_POLICY, csp)],
        page(&signed, "Authorize the Keyward CLI", body),
    )
        .into_response())
}

fn approve_page(signed: &Signed, r: &CliRequest) -> Markup {
    let machine = r.machine.as_str();
    html! {
        h1 { "Authorize the Keyward CLI" }
        p class="warning" {
            strong { "Authorize only if you just ran " code { "keyward auth login --web" } " yourself." }
            " Someone who sent you this link could otherwise receive a token of yours."
        }
        p {
            "A keyward CLI that calls itself " strong { (machine) } " (listening on port "
            (r.port) " of your computer) asks to sign in as "
            strong { (signed.email) } " in the organization " strong { (signed.org_name) } ". "
            "It gets a new personal access token, “keyward CLI on " (machine)
            "”, which you can revoke at any time."
        }
        @if signed.orgs.len() > 1 {
            p class="hint" {
                "For another of your organizations, switch organization at the top, then open the CLI's link again."
            }
        }
        form class="stack" method="post" action="/console/cli-login" {
            (csrf_field(signed))
            input type="hidden" name="port" value=(r.port);
            input type="hidden" name="state" value=(r.state.as_str());
            input type="hidden" name="challenge" value=(r.challenge.as_str());
            input type="hidden" name="machine" value=(machine);
            fieldset {
                legend { "Permissions" }
                label class="choice" {
                    input type="radio" name="permissions" value="all" checked;
                    "All: everything your role (" (signed.role.as_str()) ") may do"
                }
                label class="choice" {
                    input type="radio" name="permissions" value="read_only";
                    "Read only: what your role may read, nothing it may change"
                }
            }
            div class="field" {
                label for="expires" { "Expires" }
                select id="expires" name="expires" {
                    @for (preset, days) in PRESETS {
                        option value=(preset) selected[*preset == DEFAULT_EXPIRY] {
                            @if *days == 365 { "in 1 year" } @else { "in " (days) " days" }
                        }
                    }
                    option value="never" { "never" }
                }
            }
            div class="toolbar" {
                button type="submit" name="decision" value="approve" { "Authorize" }
                button type="submit" name="decision" value="cancel" class="secondary" { "Cancel" }
            }
        }
        p class="hint" {
            "Your browser then goes back to the CLI at " code { "127.0.0.1:" (r.port) } " on this computer."
        }
    }
}

/// The approve form: what the page was opened with, and the person's choices.
#[derive(Deserialize)]
pub struct Decision {
    port: u16,
    state: String,
    challenge: String,
    machine: String,
    #[serde(default)]
    permissions: Option<String>,
    #[serde(default)]
    expires: Option<String>,
    decision: String,
}

pub async fn decide(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<Decision>,
) -> PageResult {
    let request = CliRequest::parse(&CliLoginQuery {
        port: form.port,
        state: form.state,
        challenge: form.challenge,
        machine: form.machine,
    })?;
    match form.decision.as_str() {
        "approve" => {}
        "cancel" => {
            return Ok(Redirect::to(&request.callback(None, Some(ACCESS_DENIED))).into_response())
        }
        _ => return Err(ApiError::validation("decision", "must be approve or cancel").into()),
    }
    let permissions = match form.permissions.as_deref().unwrap_or("all") {
        "all" => PermissionSet::all(),
        "read_only" => PermissionSet::read_only(),
        _ => return Err(ApiError::validation("permissions", "must be all or read_only").into()),
    };
    let principal = &signed.principal;
    // The token is one the person could make with `POST /v1/keys`: the same decision
    // (an agent admin, who makes only agent-level keys, gets none here). The role goes
    // into the change's actor, so a demotion or removal committing meanwhile stops it.
    let owner = keyward_core::Owner::User {
        id: signed.user_id.clone(),
        name: signed.email.clone(),
    };
    principal
        .authorize(
            &state,
            "keys:write",
            crate::authz::Action::Create,
            crate::authz::Target::Key(crate::authz::KeyTarget {
                kind: keyward_core::KeyKind::Personal,
                owner: Some(&owner),
                scope: &keyward_core::Scope::Organization,
            }),
        )
        .await?;
    if !principal.key.permissions.covers(&permissions) {
        return Err(
            ApiError::CannotGrant(principal.key.permissions.missing_from(&permissions)).into(),
        );
    }
    let expires = form.expires.as_deref().unwrap_or(DEFAULT_EXPIRY);
    let token_lifetime = match Expiry::parse(expires) {
        Ok(Expiry::Never) => None,
        Ok(Expiry::After(lifetime)) => Some(lifetime),
        _ => {
            return Err(ApiError::validation(
                "expires",
                "must be one of 7d, 30d, 60d, 90d, 180d, 1y or never",
            )
            .into())
        }
    };
    let now = state.clock.now();
    let code = CliLoginCode::generate();
    let login = NewCliLogin {
        id: ids::new_id("cli"),
        org_id: signed.org_id.clone(),
        user_id: signed.user_id.clone(),
        code_hash: code.hash(),
        code_challenge: request.challenge.clone(),
        machine: request.machine.as_str().to_owned(),
        permissions,
        token_lifetime,
        created_at: now,
        expires_at: now + CODE_LIFETIME,
    };
    let audit = crate::http::actor_event(
        principal,
        now,
        "cli_login.approve",
        "cli_login",
        &login.id,
        serde_json::json!({
            "machine": login.machine, "permissions": login.permissions, "expires": expires,
            "code_expires_at": login.expires_at,
        }),
    );
    state
        .store
        .create_cli_login(login, audit)
        .await
        .map_err(|e| match e {
            StoreError::Gone(_) => ApiError::TokenWithdrawn,
            other => other.into(),
        })?;
    Ok(Redirect::to(&request.callback(Some(&code), None)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::pkce::CodeVerifier;

    fn query(port: u16, machine: &str) -> CliLoginQuery {
        CliLoginQuery {
            port,
            state: LoginState::generate().as_str().to_owned(),
            challenge: CodeVerifier::generate().challenge().as_str().to_owned(),
            machine: machine.to_owned(),
        }
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let field = |q: CliLoginQuery| match CliRequest::parse(&q) {
            Err(ApiError::Validation { field, .. }) => field,
            other => panic!("{:?}", other.map(|_| ())),
        };
        assert_eq!(field(query(80, "box")), "port");
        assert_eq!(field(query(1023, "box")), "port");
        assert!(CliRequest::parse(&query(1024, "box")).is_ok());
        assert!(CliRequest::parse(&query(65535, "box")).is_ok());
        assert_eq!(field(query(4000, "")), "machine");
        assert_eq!(field(query(4000, "a\u{202e}b")), "machine");
        assert_eq!(field(query(4000, &"m".repeat(65))), "machine");
        assert!(CliRequest::parse(&query(4000, &"m".repeat(64))).is_ok());
        assert_eq!(
            field(CliLoginQuery {
                state: "x".into(),
                ..query(4000, "box")
            }),
            "state"
        );
        let plain = CliLoginQuery {
            challenge: "E9Melhoa2Owv".into(),
            ..query(4000, "box")
        };
        assert_eq!(field(plain), "challenge");
    }

    /// The browser goes back to 127.0.0.1 on the CLI's port, whatever the request says.
    #[test]
    fn the_callback_is_always_the_loopback() {
        let r = CliRequest::parse(&query(49152, "box")).unwrap();
        let code = CliLoginCode::generate();
        let url = r.callback(Some(&code), None);
        let expected = format!(
            "http://127.0.0.1:49152/callback?code={}&state={}",
            code.expose_secret(),
            r.state.as_str()
        );
        assert_eq!(url, expected);
        let cancelled = r.callback(None, Some(ACCESS_DENIED));
        assert_eq!(
            cancelled,
            format!(
                "http://127.0.0.1:49152/callback?state={}&error=access_denied",
                r.state.as_str()
            )
        );
        assert!(
            r.csp()
                .contains("form-action 'self' http://127.0.0.1:49152;"),
            "{}",
            r.csp()
        );
        assert!(r.csp().contains("frame-ancestors 'none'"));
    }
}
