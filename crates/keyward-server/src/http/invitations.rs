//! Invitations: how people join an organization.
//!
//! An admin invites an email with a role and gets a one-time code (`kw_inv_…`, shown
//! once, stored as SHA-256, expiring) to pass to that person. The invited person redeems
//! it for their membership and first personal access token (`keyward auth accept-invite`).
//! The inviter never holds a credential of the invited person: the token is made only at
//! redemption and shown only to whoever redeems. A person who already has a Keyward
//! account (the email is known) must redeem with one of their own tokens, so an
//! invitation cannot be used to get a credential of an existing person either.

use super::keys::{CreatedKey, KeyView, KeyViewExt as _};
use super::members::{check_agents, member_not_found};
use super::shared::actor_event;
use super::wire::IntoApi;
use crate::auth::Principal;
use crate::authz::{Action, Target};
use crate::errors::{ApiError, Result};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
pub use keyward_api::{
    AcceptRequest, AcceptedInvitation, CreatedInvitation, InvitationView, InviteRequest,
};
use keyward_api::{ApiKey, InvitationCode, OneTimeLink, OrgRef};
use keyward_core::expiry::parse_duration;
use keyward_core::invite::InviteCode;
use keyward_core::key::Environment;
use keyward_core::{ids, KeyKind, Owner, PlainKey};
use keyward_store::{
    Acceptance, Accepted, Actor, Invitation, InvitationStatus, Invitee, NewAuditEvent,
    NewInvitation, NewKey,
};
use std::net::SocketAddr;

const DEFAULT_EXPIRY: &str = "24h";
const MAX_EXPIRY: &str = "30d";

/// An invitation record as the API shows it, with where it stands at `now`.
trait InvitationViewExt {
    fn new(invitation: Invitation, now: DateTime<Utc>) -> Self;
}

impl InvitationViewExt for InvitationView {
    fn new(invitation: Invitation, now: DateTime<Utc>) -> Self {
        Self {
            status: invitation.status_at(now).into_api(),
            invitation: invitation.into_api(),
        }
    }
}

/// The caller's address, when the server knows it (for the audit log).
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// Invite a person by email; the answer holds the one-time code for them.
#[utoipa::path(post, path = "/v1/invitations", tag = "members", request_body = InviteRequest,
    responses((status = 201, body = CreatedInvitation), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["members:write"])))]
pub async fn create_invitation(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<InviteRequest>,
) -> Result<(StatusCode, Json<CreatedInvitation>)> {
    // Handing out a role is acting on a person of that role: only owners invite owners
    // and org admins.
    principal
        .authorize(
            &state,
            "members:write",
            Action::Create,
            Target::Person(req.role),
        )
        .await?;
    let email = req.email.to_string();
    // Inviting again replaces a pending invitation of the same email, which is revoking
    // it: only for someone who could revoke it.
    let now = state.clock.now();
    let pending = state.store.list_invitations(principal.org_id()).await?;
    for pending in pending
        .into_iter()
        .filter(|i| i.status_at(now) == InvitationStatus::Pending)
    {
        let in_reach = principal
            .authorize(
                &state,
                "members:write",
                Action::Write,
                Target::Person(pending.role),
            )
            .await
            .is_ok();
        if pending.email == email && !in_reach {
            return Err(ApiError::Conflict(
                keyward_api::ErrorCode::InvitationPending,
                format!(
                    "{email} has a pending invitation as {} that only an owner may replace",
                    pending.role.as_str()
                ),
            ));
        }
    }
    check_agents(&state, principal.org_id(), req.role, &req.agents).await?;
    let lifetime = parse_duration(
        req.expires.as_deref().unwrap_or(DEFAULT_EXPIRY),
        Duration::days(30),
        MAX_EXPIRY,
    )
    .map_err(|e| ApiError::validation("expires", e))?;
    if lifetime < Duration::hours(1) {
        return Err(ApiError::validation("expires", "must be at least 1h"));
    }
    let code = InviteCode::generate();
    let invitation = NewInvitation {
        id: ids::new_id("inv"),
        org_id: principal.org_id().to_owned(),
        email: email.clone(),
        role: req.role,
        agents: req.agents,
        // The first token holds what the inviting key may hand on, never more.
        permissions: principal.key.permissions.clone(),
        code_hash: code.hash(),
        created_at: now,
        created_by: principal.actor().name,
        created_by_key: Some(principal.key.id.clone()),
        expires_at: now + lifetime,
    };
    let audit = actor_event(
        &principal,
        now,
        "member.invite",
        "invitation",
        &invitation.id,
        serde_json::json!({
            "email": email, "role": invitation.role, "agents": invitation.agents,
            "expires_at": invitation.expires_at,
        }),
    );
    let stored = state
        .store
        .create_invitation(&invitation, audit)
        .await
        .map_err(member_not_found)?;
    let link = crate::people::links::join_url(&super::shared::public_base(&state, &headers), &code);
    Ok((
        StatusCode::CREATED,
        Json(CreatedInvitation {
            invitation: InvitationView::new(stored, now),
            code: InvitationCode::new(code.expose_secret()),
            link: OneTimeLink::new(link),
        }),
    ))
}

/// Invitations not yet accepted (pending or expired), newest first.
#[utoipa::path(get, path = "/v1/invitations", tag = "members",
    responses((status = 200, body = Vec<InvitationView>), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["members:read"])))]
pub async fn list_invitations(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<InvitationView>>> {
    principal
        .authorize(&state, "members:read", Action::Read, Target::AdminRecords)
        .await?;
    let now = state.clock.now();
    Ok(Json(
        state
            .store
            .list_invitations(principal.org_id())
            .await?
            .into_iter()
            .map(|i| InvitationView::new(i, now))
            .collect(),
    ))
}

/// Revoke an invitation: its code stops working.
#[utoipa::path(delete, path = "/v1/invitations/{id}", tag = "members", params(("id" = String, Path)),
    responses((status = 204), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["members:write"])))]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    principal.require("members:write")?;
    let invitation = state
        .store
        .get_invitation(principal.org_id(), &id)
        .await
        .map_err(|_| ApiError::NotFound("invitation"))?;
    principal
        .authorize(
            &state,
            "members:write",
            Action::Write,
            Target::Person(invitation.role),
        )
        .await?;
    let now = state.clock.now();
    let audit = actor_event(
        &principal,
        now,
        "member.invite_revoke",
        "invitation",
        &id,
        serde_json::json!({ "email": invitation.email }),
    );
    state
        .store
        .revoke_invitation(principal.org_id(), &id, now, audit)
        .await
        .map_err(|_| ApiError::NotFound("invitation"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// The invitation of `code` if it can be redeemed now: 404 for no such code, 409
/// `invitation_used`, 410 `invitation_expired` (also for a revoked one).
pub async fn pending_invitation(
    state: &AppState,
    code: &InviteCode,
    now: DateTime<Utc>,
) -> Result<Invitation> {
    let invitation = state
        .store
        .find_invitation(&code.hash())
        .await?
        .ok_or(ApiError::NotFound("invitation"))?;
    match invitation.status_at(now) {
        InvitationStatus::Pending => Ok(invitation),
        InvitationStatus::Accepted => {
            Err(keyward_store::StoreError::Conflict(keyward_store::Conflict::InvitationUsed).into())
        }
        InvitationStatus::Revoked | InvitationStatus::Expired => Err(
            keyward_store::StoreError::Conflict(keyward_store::Conflict::InvitationExpired).into(),
        ),
    }
}

/// What redeeming an invitation gives the person besides the membership.
pub enum FirstCredential {
    /// A first personal access token (the API and the CLI).
    Token,
    /// This password (an argon2id PHC string), for a person new here or returning: the
    /// console's join page, which then signs them in.
    Password(String),
    /// Nothing: a person with an account accepting with their console session.
    Nothing,
}

/// Redeems `code` for the membership and `first`: the one way in, for the API and the
/// console alike. A known email redeems only with a personal token or session of that
/// person (`principal`), or alone when the person is a member nowhere any more.
pub async fn redeem(
    state: &AppState,
    principal: Option<&Principal>,
    peer: Option<SocketAddr>,
    code: &InviteCode,
    first: FirstCredential,
) -> Result<(Accepted, Option<PlainKey>)> {
    let now = state.clock.now();
    let invitation = pending_invitation(state, code, now).await?;
    let existing = state.store.find_user_by_email(&invitation.email).await?;
    let (invitee, actor) = match existing {
        None => (
            Invitee::New {
                user_id: ids::new_id("usr"),
            },
            Actor {
                actor_type: "user".into(),
                id: None,
                name: invitation.email.clone(),
                key_id: None,
                authority: None,
            },
        ),
        Some(user_id) => {
            let proven = principal.is_some_and(|p| {
                p.key.kind == KeyKind::Personal
                    && matches!(&p.key.owner, Some(Owner::User { id, .. }) if *id == user_id)
            });
            match principal.filter(|_| proven) {
                Some(p) => (Invitee::Existing { user_id }, p.actor()),
                // Without proof the person may only come back if they are a member
                // nowhere (the store decides, in the accepting transaction).
                None => {
                    let actor = Actor {
                        actor_type: "user".into(),
                        id: Some(user_id.clone()),
                        name: invitation.email.clone(),
                        key_id: None,
                        authority: None,
                    };
                    (Invitee::Returning { user_id }, actor)
                }
            }
        }
    };
    let (plain, password_hash) = match first {
        FirstCredential::Token => (
            Some(PlainKey::generate(KeyKind::Personal, Environment::Live)),
            None,
        ),
        FirstCredential::Password(phc) => (None, Some(phc)),
        FirstCredential::Nothing => (None, None),
    };
    // An existing person proving who they are with an expiring key gets a first token
    // that expires no later (the store also bounds it by the inviting key).
    let key = plain.as_ref().map(|plain| NewKey {
        expires_at: match &invitee {
            Invitee::Existing { .. } => principal.and_then(|p| p.key.expires_at),
            _ => None,
        },
        permissions: invitation.permissions.clone(),
        ..NewKey::for_plain(
            plain,
            &invitation.org_id,
            format!("{} first token", invitation.email),
            now,
            format!("invitation by {}", invitation.created_by),
        )
    });
    let audit = NewAuditEvent {
        org_id: invitation.org_id.clone(),
        at: now,
        actor,
        action: "member.add".into(),
        target_type: "user".into(),
        target_id: String::new(),
        source_ip: principal
            .and_then(|p| p.source)
            .or(peer)
            .map(|a| a.ip().to_string()),
        details: serde_json::json!({
            "email": invitation.email, "role": invitation.role, "agents": invitation.agents,
            "invitation": invitation.id, "key": key.as_ref().map(|k| &k.id),
        }),
    };
    let accepted = state
        .store
        .accept_invitation(Acceptance {
            code_hash: code.hash(),
            at: now,
            invitee,
            key,
            password_hash,
            audit,
        })
        .await
        .map_err(|e| match e {
            keyward_store::StoreError::NotFound => ApiError::NotFound("invitation"),
            keyward_store::StoreError::Conflict(keyward_store::Conflict::IdentityRequired) => {
                ApiError::Conflict(
                    keyward_api::ErrorCode::IdentityRequired,
                    "this invitation is for someone who already has a Keyward account: accept it with one of their own personal access tokens (keyward auth login, then keyward auth accept-invite) or signed in to the console as them".into(),
                )
            }
            other => member_not_found(other),
        })?;
    Ok((accepted, plain))
}

/// Redeem an invitation for membership and a first personal access token. No key is
/// needed for a person new to Keyward; a person who already has an account sends one of
/// their own personal access tokens (of any organization) to prove it.
#[utoipa::path(post, path = "/v1/invitations/accept", tag = "members", request_body = AcceptRequest,
    responses((status = 201, body = AcceptedInvitation), (status = "4XX", body = crate::errors::Problem)),
    security((), ("bearer" = [])))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    principal: Option<Principal>,
    Peer(peer): Peer,
    ApiJson(req): ApiJson<AcceptRequest>,
) -> Result<(StatusCode, Json<AcceptedInvitation>)> {
    let code = InviteCode::parse(&req.code).map_err(|e| ApiError::validation("code", e))?;
    let (Accepted { member, key }, plain) = redeem(
        &state,
        principal.as_ref(),
        peer,
        &code,
        FirstCredential::Token,
    )
    .await?;
    let (Some(record), Some(plain)) = (key, plain) else {
        tracing::error!("an invitation accepted with a first token returned none");
        return Err(ApiError::Internal);
    };
    Ok((
        StatusCode::CREATED,
        Json(AcceptedInvitation {
            organization: OrgRef {
                id: record.org_id.clone(),
                name: record.org_name.clone(),
            },
            member: member.into_api(),
            token: CreatedKey {
                key: ApiKey::new(plain.expose_secret()),
                details: KeyView::new(&state, &record),
            },
        }),
    ))
}
