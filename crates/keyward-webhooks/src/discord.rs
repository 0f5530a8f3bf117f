//! Discord interactions: Ed25519 `X-Signature-Ed25519` over timestamp ‖ raw body, and the
//! PING/PONG exchange.
//!
//! Discord sends deliberately bad signatures to check that they are refused with 401.

use ed25519_dalek::{Signature, VerifyingKey};

use crate::error::Refused;
use crate::headers::{fresh, required, unix_seconds, Headers};
use crate::mac::hex_exact;

/// The signature header (128 hex digits, a 64-byte Ed25519 signature).
pub const SIGNATURE_HEADER: &str = "X-Signature-Ed25519";
/// The timestamp header, signed together with the body.
pub const TIMESTAMP_HEADER: &str = "X-Signature-Timestamp";

/// The answer to a PING, sent 200 `application/json` after verification.
pub const PONG: &str = "{\"type\":1}";

/// The application's public key as shown by Discord (64 hex digits).
pub fn parse_public_key(hex: &str) -> Option<[u8; 32]> {
    hex_exact::<32>(hex.as_bytes())
}

/// Whether 32 bytes are an Ed25519 public key that signatures can be checked against
/// (a point on the curve, not of small order: what `verify_strict` needs).
pub fn valid_public_key(public_key: &[u8; 32]) -> bool {
    VerifyingKey::from_bytes(public_key).is_ok_and(|k| !k.is_weak())
}

/// Verifies an interaction with `ed25519_dalek::VerifyingKey::verify_strict`; the message
/// is the timestamp header's bytes followed by the raw body, no separator.
pub fn verify<H: Headers + ?Sized>(
    headers: &H,
    body: &[u8],
    public_key: &[u8; 32],
) -> Result<(), Refused> {
    let sig = required(headers, SIGNATURE_HEADER)?;
    let ts = required(headers, TIMESTAMP_HEADER)?;
    let sig = hex_exact::<64>(sig).ok_or(Refused::MalformedHeader(SIGNATURE_HEADER))?;
    if ts.is_empty() {
        return Err(Refused::MalformedHeader(TIMESTAMP_HEADER));
    }
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| Refused::InvalidKey)?;
    let signature = Signature::from_bytes(&sig);
    let mut message = Vec::with_capacity(ts.len() + body.len());
    message.extend_from_slice(ts);
    message.extend_from_slice(body);
    key.verify_strict(&message, &signature)
        .map_err(|_| Refused::BadSignature)
}

/// As [`verify`], and the timestamp (unix seconds, which Discord sends) must be within
/// 300 s of `now`, so a captured interaction cannot be replayed later. Discord does not
/// require receivers to check it; Keyward's ingress does.
pub fn verify_fresh<H: Headers + ?Sized>(
    headers: &H,
    body: &[u8],
    public_key: &[u8; 32],
    now: i64,
) -> Result<(), Refused> {
    required(headers, SIGNATURE_HEADER)?;
    let ts = unix_seconds(required(headers, TIMESTAMP_HEADER)?, TIMESTAMP_HEADER)?;
    fresh(ts, now)?;
    verify(headers, body, public_key)
}

/// Whether the (verified) body is a PING, `{"type":1,…}`.
pub fn is_ping(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("type").and_then(serde_json::Value::as_u64))
        == Some(1)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    // RFC 8032 §7.1 TEST 1.
    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const TS: &str = "1700000000";
    const SIG: &str = "1695961a47c91a1ec033b819b7e87e3dbc583dd0cee6d1fd0216f58ac87b6228ae531ddbf91fb7bc28d7edf7f08604da16f54624f38a6bc0614e4dc13cd47f0f";

    fn public() -> [u8; 32] {
        parse_public_key(PUBLIC).unwrap()
    }

    #[test]
    fn rfc8032_key_pair_signs_the_spec_vector() {
        let seed: [u8; 32] = hex::decode(SEED).unwrap().try_into().unwrap();
        let signing = SigningKey::from_bytes(&seed);
        assert_eq!(signing.verifying_key().to_bytes(), public());
        let sig = signing.sign(format!("{TS}{{\"type\":1}}").as_bytes());
        assert_eq!(hex::encode(sig.to_bytes()), SIG);
    }

    #[test]
    fn spec_vector_verifies_and_tampered_body_fails() {
        let h = [("X-Signature-Ed25519", SIG), ("X-Signature-Timestamp", TS)];
        assert_eq!(verify(&h, b"{\"type\":1}", &public()), Ok(()));
        assert_eq!(
            verify(&h, b"{\"type\":2}", &public()),
            Err(Refused::BadSignature)
        );
        let h = [
            ("X-Signature-Ed25519", SIG),
            ("X-Signature-Timestamp", "1700000001"),
        ];
        assert_eq!(
            verify(&h, b"{\"type\":1}", &public()),
            Err(Refused::BadSignature)
        );
    }

    #[test]
    fn header_case_and_uppercase_hex() {
        let upper = SIG.to_ascii_uppercase();
        let h = [
            ("x-signature-ed25519", upper.as_str()),
            ("X-SIGNATURE-TIMESTAMP", TS),
        ];
        assert_eq!(verify(&h, b"{\"type\":1}", &public()), Ok(()));
    }

    #[test]
    fn missing_and_malformed() {
        let body = b"{\"type\":1}";
        assert_eq!(
            verify(&[("X-Signature-Timestamp", TS)], body, &public()),
            Err(Refused::MissingHeader(SIGNATURE_HEADER))
        );
        assert_eq!(
            verify(&[("X-Signature-Ed25519", SIG)], body, &public()),
            Err(Refused::MissingHeader(TIMESTAMP_HEADER))
        );
        assert_eq!(
            verify(
                &[
                    ("X-Signature-Ed25519", &SIG[..126]),
                    ("X-Signature-Timestamp", TS)
                ],
                body,
                &public()
            ),
            Err(Refused::MalformedHeader(SIGNATURE_HEADER))
        );
        assert_eq!(
            verify(
                &[("X-Signature-Ed25519", SIG), ("X-Signature-Timestamp", "")],
                body,
                &public()
            ),
            Err(Refused::MalformedHeader(TIMESTAMP_HEADER))
        );
    }

    #[test]
    fn ping_and_pong() {
        assert!(is_ping(b"{\"type\":1}"));
        assert!(is_ping(br#"{"application_id":"1","type":1,"version":1}"#));
        assert!(!is_ping(b"{\"type\":2}"));
        assert!(!is_ping(b"{\"type\":\"1\"}"));
        assert!(!is_ping(b"not json"));
        assert!(is_ping(PONG.as_bytes()));
    }

    #[test]
    fn a_stale_or_future_timestamp_is_refused_by_verify_fresh() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let public = key.verifying_key().to_bytes();
        let sign = |ts: &str| hex::encode(key.sign(format!("{ts}{{}}").as_bytes()).to_bytes());
        for (ts, now, ok) in [
            ("1700000000", 1_700_000_100, true),
            ("1700000000", 1_700_000_301, false),
            ("1700000400", 1_700_000_000, false),
        ] {
            let sig = sign(ts);
            let headers = [(SIGNATURE_HEADER, sig.as_str()), (TIMESTAMP_HEADER, ts)];
            let got = verify_fresh(&headers, b"{}", &public, now);
            assert_eq!(got.is_ok(), ok, "{ts} at {now}: {got:?}");
            if !ok {
                assert_eq!(got, Err(Refused::StaleTimestamp));
            }
        }
    }
}
