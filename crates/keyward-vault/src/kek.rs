//! Key-encryption key ids and their text form (base64 of 32 bytes).

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use crate::crypto::{random, KEY_LEN};
use crate::error::RingError;

/// The longest key-encryption key id.
pub const MAX_KEK_ID_LEN: usize = 40;

/// Whether `id` is 1..=40 characters of `[A-Za-z0-9_.-]`.
pub fn is_valid_kek_id(id: &str) -> bool {
    (1..=MAX_KEK_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `Ok` for a valid id, else the error, which repeats the id only when it is short
/// enough to be one (a long string in that place may be a pasted key).
pub(crate) fn check_id(id: &str, origin: &str) -> Result<(), RingError> {
    if is_valid_kek_id(id) {
        return Ok(());
    }
    let shown = if id.is_empty() {
        "an empty string".to_string()
    } else if id.chars().count() <= MAX_KEK_ID_LEN {
        format!("{id:?}")
    } else {
        format!("a string of {} characters", id.chars().count())
    };
    Err(RingError::InvalidId {
        shown,
        origin: origin.to_string(),
    })
}

/// A fresh id `kek-YYYYMMDD-xxxx` (the date of `now`, 4 random hex digits).
pub fn generate_kek_id(now: DateTime<Utc>) -> String {
    let mut r = [0u8; 2];
    random(&mut r);
    format!("kek-{}-{}", now.format("%Y%m%d"), hex::encode(r))
}

/// 32 fresh random bytes.
pub fn generate_kek() -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    random(&mut k);
    k
}

/// Standard base64 with padding.
pub fn encode_kek(bytes: &[u8; KEY_LEN]) -> String {
    STANDARD.encode(bytes)
}

const INDIFFERENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_ANY: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, INDIFFERENT);
const URL_SAFE_ANY: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, INDIFFERENT);

/// Decodes standard or url-safe base64, padded or not, of exactly 32 bytes; the error
/// names `id` and `origin`, never the text.
pub fn decode_kek(
    id: &str,
    text: &str,
    origin: &str,
) -> Result<Zeroizing<[u8; KEY_LEN]>, RingError> {
    let text = text.trim();
    let bad = || RingError::BadKey {
        id: id.to_string(),
        origin: origin.to_string(),
    };
    let bytes = Zeroizing::new(
        STANDARD_ANY
            .decode(text)
            .or_else(|_| URL_SAFE_ANY.decode(text))
            .map_err(|_| bad())?,
    );
    if bytes.len() != KEY_LEN {
        return Err(bad());
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(&bytes);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_valid_kek_id("kek-20261201-ab12"));
        assert!(is_valid_kek_id("A.b_c-9"));
        assert!(is_valid_kek_id(&"x".repeat(40)));
        assert!(!is_valid_kek_id(&"x".repeat(41)));
        assert!(!is_valid_kek_id(""));
        assert!(!is_valid_kek_id("a b"));
        assert!(!is_valid_kek_id("a/b"));
        assert!(!is_valid_kek_id("é"));
        let long = encode_kek(&[9u8; 32]);
        let msg = check_id(&long, "KEYWARD_KEKS").unwrap_err().to_string();
        assert!(!msg.contains(&long[..20]), "{msg}");
        assert!(
            msg.contains("44 characters") && msg.contains("KEYWARD_KEKS"),
            "{msg}"
        );
        let msg = check_id("a b", "x").unwrap_err().to_string();
        assert!(msg.contains("\"a b\""), "{msg}");
    }

    #[test]
    fn generated_id_shape() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .to_utc();
        let id = generate_kek_id(now);
        assert!(id.starts_with("kek-20261201-"), "{id}");
        assert_eq!(id.len(), "kek-20261201-ab12".len());
        assert!(id[13..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(is_valid_kek_id(&id));
    }

    #[test]
    fn base64_forms() {
        let k: [u8; 32] = std::array::from_fn(|i| (i * 37 + 250) as u8);
        let std_padded = encode_kek(&k);
        assert!(std_padded.ends_with('='));
        let url = std_padded.replace('+', "-").replace('/', "_");
        for text in [
            std_padded.clone(),
            std_padded.trim_end_matches('=').to_string(),
            url.clone(),
            url.trim_end_matches('=').to_string(),
            format!("  {std_padded}\n"),
        ] {
            assert_eq!(*decode_kek("k", &text, "here").unwrap(), k, "{text}");
        }
        for text in ["", "not base64!", &encode_kek(&[1; 32])[..40], "AAAA"] {
            let msg = decode_kek("kek-1", text, "KEYWARD_KEKS")
                .unwrap_err()
                .to_string();
            assert!(
                msg.contains("kek-1") && msg.contains("KEYWARD_KEKS"),
                "{msg}"
            );
        }
        assert_ne!(generate_kek(), generate_kek());
    }
}
