//! Standard Webhooks (standardwebhooks.com, as used by Svix): signing what Keyward
//! forwards and verifying it, so a downstream app checks one scheme whatever the provider.
//!
//! Headers `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature`, a
//! space-separated list of `v1,<base64>`; the signed content is `{id}.{timestamp}.{body}`
//! and the MAC HMAC-SHA256 keyed with the decoded `whsec_` secret. Receivers should
//! deduplicate on the returned id.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::Refused;
use crate::headers::{fresh, required, unix_seconds, Headers};
use crate::mac;

/// The message id header.
pub const ID_HEADER: &str = "webhook-id";
/// The timestamp header (unix seconds).
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The signature list header.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

const PREFIX: &str = "whsec_";

/// A signing secret, `whsec_<base64>` when written down. The key bytes are zeroized on
/// drop and never shown by `Debug`.
#[derive(Clone)]
pub struct Secret {
    key: Zeroizing<Vec<u8>>,
}

/// Why a `whsec_` secret could not be read. Never contains the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSecret {
    /// The text does not start with `whsec_`.
    #[error("a webhook secret starts with whsec_")]
    MissingPrefix,
    /// What follows `whsec_` is not standard base64.
    #[error("a webhook secret is whsec_ followed by standard base64")]
    NotBase64,
    /// The decoded key is empty.
    #[error("a webhook secret cannot be empty")]
    Empty,
}

impl Secret {
    /// Reads `whsec_<base64, standard alphabet>` (padded or not).
    pub fn parse(text: &str) -> Result<Secret, InvalidSecret> {
        let encoded = text
            .strip_prefix(PREFIX)
            .ok_or(InvalidSecret::MissingPrefix)?;
        let key = STANDARD
            .decode(encoded)
            .or_else(|_| STANDARD_NO_PAD.decode(encoded))
            .map_err(|_| InvalidSecret::NotBase64)?;
        let key = Zeroizing::new(key);
        if key.is_empty() {
            return Err(InvalidSecret::Empty);
        }
        Ok(Secret { key })
    }

    /// A new secret of 32 random bytes from the operating system.
    pub fn generate() -> Secret {
        let mut key = Zeroizing::new(vec![0u8; 32]);
        getrandom::getrandom(&mut key).expect("the operating system's random number generator");
        Secret { key }
    }

    /// A secret from raw key bytes.
    pub fn from_bytes(key: &[u8]) -> Secret {
        Secret {
            key: Zeroizing::new(key.to_vec()),
        }
    }

    /// The secret written as `whsec_<base64>`, to hand to the app that verifies. The caller
    /// is responsible for where this goes.
    pub fn expose_whsec(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{PREFIX}{}", STANDARD.encode(&*self.key)))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(whsec_<redacted>)")
    }
}

/// A delivery that verified: its id (for deduplication) and signed timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`, unix seconds.
    pub timestamp: i64,
}

fn tag(secret: &Secret, msg_id: &[u8], timestamp: &[u8], body: &[u8]) -> [u8; 32] {
    mac::sign(&secret.key, &[msg_id, b".", timestamp, b".", body])
}

/// The `webhook-signature` value for a message: `v1,` + base64 (standard, padded) of
/// HMAC-SHA256 over `{msg_id}.{timestamp}.{body}`.
pub fn sign(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    format!(
        "v1,{}",
        STANDARD.encode(tag(secret, msg_id.as_bytes(), ts.as_bytes(), body))
    )
}

/// The three headers of an outgoing delivery, in the order `webhook-id`,
/// `webhook-timestamp`, `webhook-signature`.
pub fn headers(
    secret: &Secret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    [
        (ID_HEADER, msg_id.to_owned()),
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (SIGNATURE_HEADER, sign(secret, msg_id, timestamp, body)),
    ]
}

/// Verifies a delivery against any of `secrets` (several during a rotation): the
/// timestamp must be within 300 s of `now`, either way, and any `v1` signature of the list
/// must match for any secret. Signatures of other versions are ignored; a `v1` entry that
/// is not base64 of 32 bytes makes the header malformed.
pub fn verify<H: Headers + ?Sized>(
    headers: &H,
    body: &[u8],
    secrets: &[Secret],
    now: i64,
) -> Result<Verified, Refused> {
    let id_raw = required(headers, ID_HEADER)?;
    let ts_raw = required(headers, TIMESTAMP_HEADER)?;
    let sig_raw = required(headers, SIGNATURE_HEADER)?;

    let id = std::str::from_utf8(id_raw)
        .ok()
        .filter(|id| !id.is_empty())
        .ok_or(Refused::MalformedHeader(ID_HEADER))?;
    let timestamp = unix_seconds(ts_raw, TIMESTAMP_HEADER)?;

    let mut v1 = Vec::new();
    let mut entries = 0;
    for entry in sig_raw.split(|&b| b == b' ').filter(|e| !e.is_empty()) {
        entries += 1;
        let comma = entry
            .iter()
            .position(|&b| b == b',')
            .ok_or(Refused::MalformedHeader(SIGNATURE_HEADER))?;
        let (version, value) = (&entry[..comma], &entry[comma + 1..]);
        if version != b"v1" {
            continue;
        }
        let decoded = STANDARD
            .decode(value)
            .ok()
            .filter(|d| d.len() == 32)
            .ok_or(Refused::MalformedHeader(SIGNATURE_HEADER))?;
        v1.push(decoded);
    }
    if entries == 0 {
        return Err(Refused::MalformedHeader(SIGNATURE_HEADER));
    }

    fresh(timestamp, now)?;

    let mut matched = subtle::Choice::from(0);
    for secret in secrets {
        let expected = tag(secret, id_raw, ts_raw, body);
        for candidate in &v1 {
            matched |= expected.as_slice().ct_eq(candidate);
        }
    }
    if bool::from(matched) {
        Ok(Verified {
            id: id.to_owned(),
            timestamp,
        })
    } else {
        Err(Refused::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: i64 = 1_649_367_553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn secret() -> Secret {
        Secret::parse(SECRET).unwrap()
    }

    fn h(sig: &str) -> [(&str, &str); 3] {
        [
            ("webhook-id", ID),
            ("webhook-timestamp", "1649367553"),
            ("webhook-signature", sig),
        ]
    }

    fn ok() -> Result<Verified, Refused> {
        Ok(Verified {
            id: ID.to_owned(),
            timestamp: TS,
        })
    }

    #[test]
    fn spec_vector_signs_and_verifies() {
        assert_eq!(sign(&secret(), ID, TS, BODY), SIG);
        assert_eq!(verify(&h(SIG), BODY, &[secret()], TS), ok());
        assert_eq!(
            verify(&h(SIG), b"{}", &[secret()], TS),
            Err(Refused::BadSignature)
        );
    }

    #[test]
    fn outgoing_headers_verify() {
        let s = Secret::generate();
        let hs = headers(&s, "msg_1", 1_700_000_000, b"hello");
        assert_eq!(hs[0], ("webhook-id", "msg_1".to_owned()));
        assert_eq!(hs[1], ("webhook-timestamp", "1700000000".to_owned()));
        let borrowed: Vec<(&str, &str)> = hs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_eq!(
            verify(&borrowed[..], b"hello", &[s], 1_700_000_000),
            Ok(Verified {
                id: "msg_1".to_owned(),
                timestamp: 1_700_000_000
            })
        );
    }

    #[test]
    fn header_name_case() {
        let map: std::collections::HashMap<String, String> = [
            ("Webhook-Id".to_owned(), ID.to_owned()),
            ("WEBHOOK-TIMESTAMP".to_owned(), TS.to_string()),
            ("Webhook-Signature".to_owned(), SIG.to_owned()),
        ]
        .into();
        assert_eq!(verify(&map, BODY, &[secret()], TS), ok());
    }

    #[test]
    fn window_300_and_301_both_ways() {
        assert_eq!(verify(&h(SIG), BODY, &[secret()], TS + 300), ok());
        assert_eq!(verify(&h(SIG), BODY, &[secret()], TS - 300), ok());
        assert_eq!(
            verify(&h(SIG), BODY, &[secret()], TS + 301),
            Err(Refused::StaleTimestamp)
        );
        assert_eq!(
            verify(&h(SIG), BODY, &[secret()], TS - 301),
            Err(Refused::StaleTimestamp)
        );
    }

    #[test]
    fn several_signatures_one_valid_and_unknown_versions_ignored() {
        let other = sign(&Secret::generate(), ID, TS, BODY);
        let list = format!("{other} v2,abc {SIG}");
        assert_eq!(verify(&h(&list), BODY, &[secret()], TS), ok());
        let list = format!("v2,{} {other}", &SIG[3..]);
        assert_eq!(
            verify(&h(&list), BODY, &[secret()], TS),
            Err(Refused::BadSignature)
        );
        // Only an unknown version: nothing to check, nothing matches.
        let list = format!("v1a,{}", &SIG[3..]);
        assert_eq!(
            verify(&h(&list), BODY, &[secret()], TS),
            Err(Refused::BadSignature)
        );
    }

    #[test]
    fn rotation_any_secret_matches() {
        let old = Secret::generate();
        assert_eq!(verify(&h(SIG), BODY, &[old.clone(), secret()], TS), ok());
        assert_eq!(
            verify(&h(SIG), BODY, &[old], TS),
            Err(Refused::BadSignature)
        );
        assert_eq!(verify(&h(SIG), BODY, &[], TS), Err(Refused::BadSignature));
    }

    #[test]
    fn missing_and_malformed() {
        let all = h(SIG);
        for skip in 0..3 {
            let partial: Vec<(&str, &str)> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, p)| *p)
                .collect();
            assert_eq!(
                verify(&partial[..], BODY, &[secret()], TS),
                Err(Refused::MissingHeader(
                    [ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER][skip]
                ))
            );
        }
        for sig in [
            "",
            "   ",
            "tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            "v1,!!!",
            "v1,AAAA",
        ] {
            assert_eq!(
                verify(&h(sig), BODY, &[secret()], TS),
                Err(Refused::MalformedHeader(SIGNATURE_HEADER)),
                "{sig:?}"
            );
        }
        let bad_ts = [
            ("webhook-id", ID),
            ("webhook-timestamp", "1649367553.0"),
            ("webhook-signature", SIG),
        ];
        assert_eq!(
            verify(&bad_ts, BODY, &[secret()], TS),
            Err(Refused::MalformedHeader(TIMESTAMP_HEADER))
        );
        let empty_id = [
            ("webhook-id", ""),
            ("webhook-timestamp", "1649367553"),
            ("webhook-signature", SIG),
        ];
        assert_eq!(
            verify(&empty_id, BODY, &[secret()], TS),
            Err(Refused::MalformedHeader(ID_HEADER))
        );
    }

    #[test]
    fn secrets_parse_generate_and_redact() {
        assert_eq!(
            Secret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap_err(),
            InvalidSecret::MissingPrefix
        );
        assert_eq!(
            Secret::parse("whsec_***").unwrap_err(),
            InvalidSecret::NotBase64
        );
        assert_eq!(Secret::parse("whsec_").unwrap_err(), InvalidSecret::Empty);
        assert_eq!(secret().expose_whsec().as_str(), SECRET);
        let generated = Secret::generate();
        let text = generated.expose_whsec();
        let reparsed = Secret::parse(&text).unwrap();
        assert_eq!(
            sign(&reparsed, ID, TS, BODY),
            sign(&generated, ID, TS, BODY)
        );
        assert_ne!(
            sign(&generated, ID, TS, BODY),
            sign(&Secret::generate(), ID, TS, BODY)
        );
        let debug = format!("{:?}", secret());
        assert_eq!(debug, "Secret(whsec_<redacted>)");
        assert!(!debug.contains("C2FV"));
        assert!(!format!("{:?}", [secret()]).contains("C2FV"));
    }
}
