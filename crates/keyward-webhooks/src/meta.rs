//! WhatsApp Cloud API (Meta): the GET subscription handshake and `X-Hub-Signature-256`.
//!
//! The handshake answers 200 `text/plain` with the challenge on success and 403 otherwise;
//! a POST whose signature fails is answered 401. The legacy SHA-1 `X-Hub-Signature` is
//! ignored.

use subtle::ConstantTimeEq;

use crate::error::Refused;
use crate::headers::{required, Headers};
use crate::mac;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

fn param<'q>(query: &[(&str, &'q str)], name: &'static str) -> Result<&'q str, Refused> {
    query
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .ok_or(Refused::MissingParameter(name))
}

/// Meta's GET handshake: `query` holds the decoded query parameters (`hub.mode`,
/// `hub.verify_token`, `hub.challenge`). Returns the challenge exactly as sent (to be
/// answered 200 `text/plain`) when the mode is `subscribe` and the verify token matches,
/// compared in constant time.
pub fn handshake(query: &[(&str, &str)], verify_token: &str) -> Result<String, Refused> {
    let mode = param(query, "hub.mode")?;
    let token = param(query, "hub.verify_token")?;
    let challenge = param(query, "hub.challenge")?;
    if mode != "subscribe" {
        return Err(Refused::NotSubscribe);
    }
    if verify_token.is_empty() || !bool::from(token.as_bytes().ct_eq(verify_token.as_bytes())) {
        return Err(Refused::WrongToken);
    }
    Ok(challenge.to_owned())
}

/// Verifies `X-Hub-Signature-256: sha256=<64 hex>`, the HMAC-SHA256 of the raw body keyed
/// with the app secret's bytes.
pub fn verify<H: Headers + ?Sized>(
    headers: &H,
    body: &[u8],
    app_secret: &[u8],
) -> Result<(), Refused> {
    let value = required(headers, SIGNATURE_HEADER)?;
    let tag = value
        .strip_prefix(b"sha256=")
        .and_then(mac::hex_exact::<32>)
        .ok_or(Refused::MalformedHeader(SIGNATURE_HEADER))?;
    if mac::verify(app_secret, &[body], &tag) {
        Ok(())
    } else {
        Err(Refused::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str =
        r#"{"object":"whatsapp_business_account","entry":[{"id":"0","changes":[]}]}"#;
    const SIG: &str = "sha256=a37fa64f5d8354b552710ad1f2231eabc431936f4cb824b5dc6390568a05dede";

    #[test]
    fn spec_vector_whatsapp_body() {
        let headers = [("X-Hub-Signature-256", SIG)];
        assert_eq!(
            verify(&headers, BODY.as_bytes(), b"test_app_secret"),
            Ok(())
        );
        assert_eq!(
            verify(&headers, b"{}", b"test_app_secret"),
            Err(Refused::BadSignature)
        );
        assert_eq!(
            verify(&headers, BODY.as_bytes(), b"other_secret"),
            Err(Refused::BadSignature)
        );
    }

    #[test]
    fn spec_vector_secret_test() {
        let sig = "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914";
        assert_eq!(
            verify(&[("x-hub-signature-256", sig)], b"test", b"secret"),
            Ok(())
        );
    }

    #[test]
    fn header_name_case_and_uppercase_hex() {
        let upper = format!("sha256={}", SIG["sha256=".len()..].to_ascii_uppercase());
        let headers = [("X-HUB-SIGNATURE-256", upper.as_str())];
        assert_eq!(
            verify(&headers, BODY.as_bytes(), b"test_app_secret"),
            Ok(())
        );
    }

    #[test]
    fn missing_and_malformed() {
        let legacy = [(
            "X-Hub-Signature",
            "sha1=0000000000000000000000000000000000000000",
        )];
        assert_eq!(
            verify(&legacy, BODY.as_bytes(), b"test_app_secret"),
            Err(Refused::MissingHeader(SIGNATURE_HEADER))
        );
        for bad in [
            "a37fa64f5d8354b552710ad1f2231eabc431936f4cb824b5dc6390568a05dede",
            "sha1=a37fa64f5d8354b552710ad1f2231eabc431936f4cb824b5dc6390568a05dede",
            "sha256=a37fa64f",
            "sha256=zz7fa64f5d8354b552710ad1f2231eabc431936f4cb824b5dc6390568a05dede",
            "sha256=",
        ] {
            assert_eq!(
                verify(
                    &[("X-Hub-Signature-256", bad)],
                    BODY.as_bytes(),
                    b"test_app_secret"
                ),
                Err(Refused::MalformedHeader(SIGNATURE_HEADER)),
                "{bad}"
            );
        }
    }

    #[test]
    fn handshake_rules() {
        let q = [
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "T"),
            ("hub.challenge", "0123456789"),
        ];
        assert_eq!(handshake(&q, "T").as_deref(), Ok("0123456789"));
        assert_eq!(handshake(&q, "U"), Err(Refused::WrongToken));
        assert_eq!(handshake(&q, ""), Err(Refused::WrongToken));
        let q = [
            ("hub.mode", "unsubscribe"),
            ("hub.verify_token", "T"),
            ("hub.challenge", "C"),
        ];
        assert_eq!(handshake(&q, "T"), Err(Refused::NotSubscribe));
        let q = [("hub.mode", "subscribe"), ("hub.verify_token", "T")];
        assert_eq!(
            handshake(&q, "T"),
            Err(Refused::MissingParameter("hub.challenge"))
        );
        // The dot is part of the name.
        let q = [
            ("mode", "subscribe"),
            ("verify_token", "T"),
            ("challenge", "C"),
        ];
        assert_eq!(
            handshake(&q, "T"),
            Err(Refused::MissingParameter("hub.mode"))
        );
    }
}
