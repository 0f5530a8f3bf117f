//! Why a webhook delivery (or Meta's handshake) was refused.

/// A refusal. Messages name headers and parameters, never a secret, a token or a MAC.
///
/// [`Refused::code`] gives a stable string for problem+json bodies and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header is present but not in the provider's format.
    #[error("malformed header {0}")]
    MalformedHeader(&'static str),
    /// A required query parameter is absent (Meta's handshake).
    #[error("missing parameter {0}")]
    MissingParameter(&'static str),
    /// The signature does not match the body (or no signature of a known version).
    #[error("signature does not match")]
    BadSignature,
    /// The signed timestamp is more than 300 s before or after now.
    #[error("timestamp outside the 300 s tolerance")]
    StaleTimestamp,
    /// A shared token (Meta's verify token, Telegram's secret token) does not match.
    #[error("wrong token")]
    WrongToken,
    /// Meta's handshake with `hub.mode` other than `subscribe`.
    #[error("hub.mode is not subscribe")]
    NotSubscribe,
    /// The configured verification key is unusable (Discord: not a valid Ed25519 point).
    #[error("invalid verification key")]
    InvalidKey,
}

impl Refused {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Refused::MissingHeader(_) => "missing_header",
            Refused::MalformedHeader(_) => "malformed_header",
            Refused::MissingParameter(_) => "missing_parameter",
            Refused::BadSignature => "bad_signature",
            Refused::StaleTimestamp => "stale_timestamp",
            Refused::WrongToken => "wrong_token",
            Refused::NotSubscribe => "not_subscribe",
            Refused::InvalidKey => "invalid_key",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages_are_stable() {
        let all = [
            (
                Refused::MissingHeader("webhook-id"),
                "missing_header",
                "missing header webhook-id",
            ),
            (
                Refused::MalformedHeader("X-Slack-Signature"),
                "malformed_header",
                "malformed header X-Slack-Signature",
            ),
            (
                Refused::MissingParameter("hub.mode"),
                "missing_parameter",
                "missing parameter hub.mode",
            ),
            (
                Refused::BadSignature,
                "bad_signature",
                "signature does not match",
            ),
            (
                Refused::StaleTimestamp,
                "stale_timestamp",
                "timestamp outside the 300 s tolerance",
            ),
            (Refused::WrongToken, "wrong_token", "wrong token"),
            (
                Refused::NotSubscribe,
                "not_subscribe",
                "hub.mode is not subscribe",
            ),
            (
                Refused::InvalidKey,
                "invalid_key",
                "invalid verification key",
            ),
        ];
        for (refused, code, message) in all {
            assert_eq!(refused.code(), code);
            assert_eq!(refused.to_string(), message);
        }
    }
}
