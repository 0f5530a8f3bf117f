//! The problem document every error answer carries, and its stable codes.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Declares [`ErrorCode`] and its one table from a single list, so a code cannot be
/// declared without its string, status and title, nor be missing from
/// [`ErrorCode::ALL`] and [`ErrorCode::TABLE`].
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => ($code:literal, $status:literal, $title:literal),)*) => {
        /// The stable error codes of the Keyward API: clients branch on them, so a code is never
        /// renamed once shipped. Each has one HTTP status and one title ([`ErrorCode::status`],
        /// [`ErrorCode::title`]), given by one exhaustive `match`
        /// made, with the enum, from one list (`error_codes!`).
        ///
        /// Serialized as its snake_case string. A code this build does not know (a newer server)
        /// is read as [`ErrorCode::Other`], never as a decoding failure: the SDK keeps working
        /// against servers that added codes. The server never answers `Other`.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code this build does not know, as the server sent it. The SDK also uses
            /// `http_<status>` for an error answer that was not a problem document.
            Other(String),
        }

        impl ErrorCode {
            /// Every code the server answers (all but [`ErrorCode::Other`]).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// `(code, status, title)` of a known code.
            const fn known(&self) -> Option<(&'static str, u16, &'static str)> {
                Some(match self {
                    $(ErrorCode::$variant => ($code, $status, $title),)*
                    ErrorCode::Other(_) => return None,
                })
            }
        }
    };
}

error_codes! {
    MissingToken => ("missing_token", 401, "Authentication required"),
    /// The Authorization header is malformed (RFC 6750 `invalid_request`).
    InvalidRequest => ("invalid_request", 400, "Invalid authentication request"),
    MalformedToken => ("malformed_token", 401, "Malformed API key"),
    BadChecksum => ("bad_checksum", 401, "API key checksum mismatch"),
    UnknownToken => ("unknown_token", 401, "Unknown API key"),
    TokenRevoked => ("token_revoked", 401, "API key revoked"),
    TokenExpired => ("token_expired", 401, "API key expired"),
    TokenDisabled => ("token_disabled", 401, "API key disabled"),
    /// The key stopped working while the request ran (revoked, switched off, or its
    /// owner removed); nothing was changed.
    TokenWithdrawn => ("token_withdrawn", 401, "API key stopped working during the request"),
    Forbidden => ("forbidden", 403, "Permission denied"),
    CannotGrant => ("cannot_grant", 403, "Cannot grant permissions you do not hold"),
    /// The caller's role or key scope does not reach the target (e.g. an org admin
    /// acting on an owner).
    RoleForbidden => ("role_forbidden", 403, "Not allowed for your role or key scope"),
    KeyKindNotAllowed => ("key_kind_not_allowed", 403, "Key kind not allowed here"),
    LegacyTokensDisabled => ("legacy_tokens_disabled", 403, "Legacy workspace tokens are disabled"),
    ChannelNotFound => ("channel_not_found", 404, "Channel not found"),
    KeyLimitReached => ("key_limit_reached", 409, "Key limit reached"),
    /// A person created as many organizations as the server allows.
    OrgLimitReached => ("org_limit_reached", 409, "Organization limit reached"),
    ResourceInUse => ("resource_in_use", 409, "Resource in use"),
    LastOwner => ("last_owner", 409, "Last owner"),
    RateLimited => ("rate_limited", 429, "Rate limit exceeded"),
    InvalidJson => ("invalid_json", 400, "Invalid JSON"),
    /// The request contradicts itself (e.g. two different hook ids).
    BadRequest => ("bad_request", 400, "Bad request"),
    ValidationFailed => ("validation_failed", 422, "Invalid request field"),
    UnsupportedMediaType => ("unsupported_media_type", 415, "Unsupported media type"),
    PayloadTooLarge => ("payload_too_large", 413, "Request body too large"),
    NotFound => ("not_found", 404, "Not found"),
    MethodNotAllowed => ("method_not_allowed", 405, "Method not allowed"),
    AlreadyBootstrapped => ("already_bootstrapped", 409, "Already bootstrapped"),
    KeyRevoked => ("key_revoked", 409, "Key is revoked"),
    KeyAlreadyRotated => ("key_already_rotated", 409, "Key already rotated"),
    Conflict => ("conflict", 409, "Conflict"),
    /// The invited person is already a member of the organization.
    AlreadyMember => ("already_member", 409, "Already a member"),
    /// What the request acted on changed while it ran (a member's role, a key being
    /// rotated); nothing was changed.
    ChangedMeanwhile => ("changed_meanwhile", 409, "Changed during the request"),
    /// The caller's role, or its key's permissions or scope, changed while the request
    /// ran; nothing was changed.
    AuthorizationChanged => ("authorization_changed", 409, "Authorization changed during the request"),
    /// The invitation's code was already redeemed.
    InvitationUsed => ("invitation_used", 409, "Invitation already accepted"),
    /// The email has a pending invitation that only someone ranked higher may replace.
    InvitationPending => ("invitation_pending", 409, "A pending invitation exists"),
    /// The invitation expired or was revoked.
    InvitationExpired => ("invitation_expired", 410, "Invitation expired or revoked"),
    /// A console form came without its CSRF token, with a wrong one, or from another
    /// site.
    CsrfFailed => ("csrf_failed", 403, "Form token missing or wrong"),
    /// Too many failed sign-ins for this account or address; try again later.
    SignInThrottled => ("sign_in_throttled", 429, "Too many sign-in attempts"),
    /// The password link was already used, or a newer one replaced it.
    PasswordLinkUsed => ("password_link_used", 409, "Password link already used"),
    /// The password link is past its expiry.
    PasswordLinkExpired => ("password_link_expired", 410, "Password link expired"),
    /// The invited email already has an account: accept with one of its own personal
    /// access tokens.
    IdentityRequired => ("identity_required", 403, "Accept with your own token"),
    /// The CLI login's code was already exchanged for a token.
    LoginCodeUsed => ("login_code_used", 409, "CLI login code already used"),
    /// The CLI login's code expired, was ended by wrong verifiers, or can no longer
    /// make a token (the person left the organization).
    LoginCodeExpired => ("login_code_expired", 410, "CLI login code expired"),
    /// The PKCE verifier does not match the challenge the CLI login was approved with.
    LoginVerifierMismatch => ("login_verifier_mismatch", 400, "Code verifier does not match"),
    /// No integration of that name is configured on this server.
    IntegrationNotFound => ("integration_not_found", 404, "Integration not configured"),
    ConnectionNotFound => ("connection_not_found", 404, "Connection not found"),
    /// A connection with this id exists for another provider.
    ConnectionProviderMismatch => ("connection_provider_mismatch", 409, "Connection belongs to another provider"),
    /// A connection with this id belongs to another workspace (or to the whole
    /// organization): it is connected again only where it is.
    ConnectionWorkspaceMismatch => ("connection_workspace_mismatch", 409, "Connection belongs to another workspace"),
    /// The `state` is not one this server issued (or not for this organization or
    /// provider): nothing was exchanged.
    OAuthStateInvalid => ("oauth_state_invalid", 400, "Unknown authorization state"),
    OAuthStateUsed => ("oauth_state_used", 409, "Authorization state already used"),
    OAuthStateExpired => ("oauth_state_expired", 410, "Authorization state expired"),
    /// The exchange's `redirect_uri` is not exactly the authorization's.
    RedirectUriMismatch => ("redirect_uri_mismatch", 400, "Redirect URI does not match"),
    /// The provider sent the person back with an error (`access_denied`, …).
    AuthorizationDenied => ("authorization_denied", 400, "Authorization refused at the provider"),
    /// The provider refused a token request (the code was invalid, the client's
    /// credentials wrong, …); the detail names its OAuth error.
    ProviderError => ("provider_error", 502, "The provider refused the request"),
    /// The provider could not be reached or answered 5xx; retry later.
    ProviderUnavailable => ("provider_unavailable", 503, "The provider is unavailable"),
    /// The provider refused the refresh token: the connection must be authorized again.
    ConnectionNeedsReauth => ("connection_needs_reauth", 409, "Connection needs to be authorized again"),
    /// The connection has no tokens (pending or revoked).
    ConnectionNotActive => ("connection_not_active", 409, "Connection is not active"),
    /// Refreshing has failed for a while and the access token expired; Keyward keeps
    /// retrying.
    ConnectionRefreshFailing => ("connection_refresh_failing", 503, "Connection cannot be refreshed right now"),
        WebhookEndpointNotFound => ("webhook_endpoint_not_found", 404, "Webhook endpoint not found"),
    /// The organization has as many webhook endpoints as it may (100): delete one.
    WebhookEndpointLimitReached => ("webhook_endpoint_limit_reached", 409, "Webhook endpoint limit reached"),
    /// The endpoint is defined in keyward.yaml: change it there.
    WebhookEndpointManaged => ("webhook_endpoint_managed_by_config", 409, "Webhook endpoint is managed by keyward.yaml"),
        DeliveryNotFound => ("delivery_not_found", 404, "Delivery not found"),
    /// A refused request (it did not verify) is in the log but has nothing to deliver.
    DeliveryRefused => ("delivery_refused", 409, "A refused request is not replayed"),
    /// Replays wait for the endpoint to be enabled again.
    WebhookEndpointDisabled => ("webhook_endpoint_disabled", 409, "Webhook endpoint is disabled"),
    /// Only a failed (or delivered) delivery is replayed; a pending one is on its way.
    DeliveryPending => ("delivery_pending", 409, "Delivery is still pending"),
    /// The request carries no signature header (or no timestamp) of its provider.
    WebhookSignatureMissing => ("webhook_signature_missing", 401, "Webhook signature missing"),
    /// The signature does not match the body with any of the endpoint's secrets.
    WebhookSignatureInvalid => ("webhook_signature_invalid", 401, "Webhook signature invalid"),
    /// The signed timestamp is more than 5 minutes away from now.
    WebhookTimestampStale => ("webhook_timestamp_stale", 401, "Webhook timestamp outside the tolerance"),
    /// Meta's `GET` handshake did not carry the endpoint's verify token.
    WebhookVerifyTokenInvalid => ("webhook_verify_token_invalid", 403, "Webhook verify token invalid"),
        /// The request carries Keyward's own delivery headers: an endpoint's destination is
    /// a Keyward ingress, which would deliver in a loop.
    WebhookLoop => ("webhook_loop_detected", 508, "Webhook delivery loop"),
    /// The body is larger than the server's webhook body limit.
    WebhookBodyTooLarge => ("webhook_body_too_large", 413, "Webhook body too large"),
    WorkerNotFound => ("worker_not_found", 404, "Worker not found"),
    /// Only a worker key (`kw_wk_`) registers and connects a worker.
    WorkerKeyRequired => ("worker_key_required", 403, "A worker key is required"),
    /// Another instance holds this name in the workspace and is connected: give this one
    /// another name (`keyward worker --name`), or stop the other.
    WorkerNameInUse => ("worker_name_in_use", 409, "Worker name in use"),
    /// The worker key connects only the workers it registered.
    /// A worker key registers at most 50 workers, a workspace holds at most 1000:
    /// remove some (they are also removed after 14 days without a heartbeat).
    WorkerLimitReached => ("worker_limit_reached", 409, "Worker limit reached"),
    WorkerNotYours => ("worker_not_yours", 403, "This worker was registered with another key"),
    /// The server does not let people create organizations.
    OrgCreationDisabled => ("org_creation_disabled", 403, "Creating organizations is disabled"),
    InternalError => ("internal_error", 500, "Internal server error"),
}

impl ErrorCode {
    fn entry(&self) -> (&str, u16, &'static str) {
        match (self, self.known()) {
            (_, Some(entry)) => entry,
            (ErrorCode::Other(code), None) => (code, 500, "Unknown error"),
            (_, None) => unreachable!("only Other is unknown"),
        }
    }

    /// `(code, status, title)` of every code the server answers, in [`ErrorCode::ALL`]'s
    /// order, made from the same `match`.
    pub const TABLE: &'static [(&'static str, u16, &'static str)] = &{
        let mut table = [("", 0, ""); Self::ALL.len()];
        let mut i = 0;
        while i < table.len() {
            table[i] = match Self::ALL[i].known() {
                Some(entry) => entry,
                None => panic!("ErrorCode::ALL holds only known codes"),
            };
            i += 1;
        }
        table
    };

    /// The snake_case string, e.g. `token_expired`.
    pub fn as_str(&self) -> &str {
        self.entry().0
    }

    /// The HTTP status the server answers with this code. For [`ErrorCode::Other`] it is
    /// not known from the code (500 here): read the response's status instead.
    pub fn status(&self) -> u16 {
        self.entry().1
    }

    /// A short, fixed summary for people (the problem's `title`).
    pub fn title(&self) -> &'static str {
        self.entry().2
    }

    /// The code named by `code`; [`ErrorCode::Other`] if this build does not know it.
    pub fn parse(code: &str) -> Self {
        Self::ALL
            .iter()
            .find(|c| c.as_str() == code)
            .cloned()
            .unwrap_or_else(|| ErrorCode::Other(code.to_owned()))
    }

    /// Whether this build knows the code (it is not [`ErrorCode::Other`]).
    pub fn is_known(&self) -> bool {
        !matches!(self, ErrorCode::Other(_))
    }
}

impl FromStr for ErrorCode {
    type Err = std::convert::Infallible;

    /// Never fails: unknown codes become [`ErrorCode::Other`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(s))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Self::parse(&raw))
    }
}

/// An RFC 9457 problem document with Keyward's stable `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Stable, machine-readable error code.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub code: ErrorCode,
    /// For `validation_failed`: the request field at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `key_limit_reached`: which limit, its value and the current count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitInfo>,
    /// For `forbidden`: the permission the request needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_permission: Option<String>,
}

impl Problem {
    /// A problem of `code` with its status, title and `type`, and nothing else set.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Problem {
            problem_type: format!("/problems/{code}"),
            title: code.title().to_owned(),
            status: code.status(),
            detail: detail.into(),
            instance: None,
            code,
            field: None,
            limit: None,
            required_permission: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LimitInfo {
    pub name: String,
    pub max: u32,
    pub current: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_string_and_has_a_title() {
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(code.is_known(), "{s}");
            assert_eq!(&ErrorCode::parse(s), code);
            assert_eq!(&s.parse::<ErrorCode>().unwrap(), code);
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(&serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            assert!(!code.title().is_empty(), "{s}");
            assert!((400..600).contains(&code.status()), "{s}");
            assert!(
                s.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{s} is not snake_case"
            );
        }
        for (entry, code) in ErrorCode::TABLE.iter().zip(ErrorCode::ALL) {
            assert_eq!(*entry, (code.as_str(), code.status(), code.title()));
        }
        let mut seen: Vec<&str> = ErrorCode::ALL.iter().map(ErrorCode::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(
            seen.len(),
            ErrorCode::ALL.len(),
            "a code string is used twice"
        );
    }

    #[test]
    fn unknown_codes_survive() {
        let code: ErrorCode = serde_json::from_str("\"brand_new_code\"").unwrap();
        assert_eq!(code, ErrorCode::Other("brand_new_code".into()));
        assert_eq!(code.as_str(), "brand_new_code");
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"brand_new_code\"");
        assert!(!code.is_known());
    }

    #[test]
    fn problems_skip_what_is_not_set() {
        let p = Problem::new(ErrorCode::TokenExpired, "gone");
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"type":"/problems/token_expired","title":"API key expired","status":401,"detail":"gone","code":"token_expired"}"#
        );
        assert_eq!(
            serde_json::from_str::<Problem>(&serde_json::to_string(&p).unwrap()).unwrap(),
            p
        );
    }
}
