//! Members, invitations and service accounts.

use crate::keys::CreatedKey;
use crate::secret::{expose, InvitationCode, OneTimeLink};
use crate::verify::OrgRef;
use chrono::{DateTime, Utc};
use keyward_core::Role;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    /// For agent admins: the agents they administer.
    pub agents: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<Vec<String>>,
}

/// An invitation to join an organization, redeemed once with its code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// For `agent_admin`: the agents they will administer.
    pub agents: Vec<String>,
    /// What the invited person's first token will hold.
    pub permissions: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Where an invitation stands at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
    // A status this build does not know yet (a newer server); the server never sends it.
    #[serde(other, skip_serializing)]
    Unknown,
}

impl InvitationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Revoked => "revoked",
            InvitationStatus::Expired => "expired",
            InvitationStatus::Unknown => "unknown",
        }
    }
}

// An invitation and where it stands. Its fields read through (`view.email`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitationView {
    #[serde(flatten)]
    pub invitation: Invitation,
    pub status: InvitationStatus,
}

impl std::ops::Deref for InvitationView {
    type Target = Invitation;

    fn deref(&self) -> &Invitation {
        &self.invitation
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    #[serde(deserialize_with = "crate::wire::email")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "dev@company.com"))]
    pub email: String,
    pub role: Role,
    /// For `agent_admin`: the agents they will administer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
    /// How long the code works: `1h` to `30d`, default `24h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "24h"))]
    pub expires: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedInvitation {
    pub invitation: InvitationView,
    /// The one-time code (shown only here): give it to the invited person, who runs
    /// `keyward auth accept-invite <code>`. It is not a credential of theirs.
    #[serde(serialize_with = "expose")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub code: InvitationCode,
    /// The same code as a link to the console's join page (shown only here), where the
    /// invited person sets a password or, with an account already, accepts signed in.
    #[serde(serialize_with = "expose")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "https://keys.example.com/console/join?code=kw_inv_…"))]
    pub link: OneTimeLink,
}

/// `POST /v1/members/{user_id}/password-link`'s optional body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordLinkRequest {
    /// How long the link works: `1h` to `7d`; the server's link lifetime (24h) by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "4h"))]
    pub expires: Option<String>,
}

/// A one-time link that sets a member's console password, for an admin to hand over
/// (`POST /v1/members/{user_id}/password-link`). Using it signs out the person's
/// sessions; a newer link replaces it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedPasswordLink {
    pub user_id: String,
    /// The link (shown only here).
    #[serde(serialize_with = "expose")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "https://keys.example.com/console/password?code=kw_pwl_…"))]
    pub link: OneTimeLink,
    pub expires_at: DateTime<Utc>,
}

// `Debug` is written by hand: the code is a secret.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The `kw_inv_…` code of the invitation.
    pub code: String,
}

impl std::fmt::Debug for AcceptRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptRequest")
            .field("code", &crate::InvitationCode::new(self.code.clone()))
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptedInvitation {
    pub organization: OrgRef,
    pub member: Member,
    /// The invited person's first personal access token (shown once).
    pub token: CreatedKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceAccount {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// `"integrations:read,integrations:write,skills:execute"` or a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum ScopesInput {
    Csv(String),
    List(Vec<String>),
}

impl From<Vec<String>> for ScopesInput {
    fn from(list: Vec<String>) -> Self {
        ScopesInput::List(list)
    }
}

impl Default for ScopesInput {
    fn default() -> Self {
        ScopesInput::List(Vec::new())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccountRequest {
    #[serde(deserialize_with = "crate::wire::name")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "production-bot"))]
    pub name: String,
    pub scopes: ScopesInput,
    /// Expiry of the first key; `never` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccountKeyRequest {
    #[serde(
        default,
        deserialize_with = "crate::wire::opt_name",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateServiceAccountRequest {
    #[serde(deserialize_with = "crate::wire::name")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedServiceAccount {
    #[serde(flatten)]
    pub account: ServiceAccount,
    /// The account's key (shown once).
    pub key: CreatedKey,
}
