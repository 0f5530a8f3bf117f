//! Slack: `X-Slack-Signature: v0=<hex>` over `v0:{timestamp}:{raw body}`, and the Events
//! API `url_verification` challenge.

use crate::error::Refused;
use crate::headers::{fresh, required, unix_seconds, Headers};
use crate::mac;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";
/// The timestamp header (unix seconds).
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";

/// Verifies a Slack request: the timestamp must be within 300 s of `now` (unix seconds)
/// and the signature the HMAC-SHA256, keyed with the signing secret's bytes as given (not
/// hex-decoded), of `v0:` + timestamp + `:` + raw body.
pub fn verify<H: Headers + ?Sized>(
    headers: &H,
    body: &[u8],
    signing_secret: &[u8],
    now: i64,
) -> Result<(), Refused> {
    let ts_raw = required(headers, TIMESTAMP_HEADER)?;
    let sig = required(headers, SIGNATURE_HEADER)?;
    let ts = unix_seconds(ts_raw, TIMESTAMP_HEADER)?;
    let tag = sig
        .strip_prefix(b"v0=")
        .and_then(mac::hex_exact::<32>)
        .ok_or(Refused::MalformedHeader(SIGNATURE_HEADER))?;
    fresh(ts, now)?;
    if mac::verify(signing_secret, &[b"v0:", ts_raw, b":", body], &tag) {
        Ok(())
    } else {
        Err(Refused::BadSignature)
    }
}

/// The challenge of an Events API `{"type":"url_verification","challenge":…}` body, to be
/// answered 200 `text/plain` (after [`verify`]); `None` for any other body.
pub fn url_verification(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    if value.get("type")?.as_str()? != "url_verification" {
        return None;
    }
    Some(value.get("challenge")?.as_str()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked example of Slack's "Verifying requests from Slack" page.
    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const NOW: i64 = 1_531_420_618;

    fn headers<'a>(ts: &'a str, sig: &'a str) -> [(&'a str, &'a str); 2] {
        [
            ("X-Slack-Request-Timestamp", ts),
            ("X-Slack-Signature", sig),
        ]
    }

    #[test]
    fn slack_published_example() {
        assert_eq!(
            verify(&headers(TS, SIG), BODY.as_bytes(), SECRET, NOW),
            Ok(())
        );
        assert_eq!(
            verify(&headers(TS, SIG), b"token=other", SECRET, NOW),
            Err(Refused::BadSignature)
        );
        assert_eq!(
            verify(&headers(TS, SIG), BODY.as_bytes(), b"wrong", NOW),
            Err(Refused::BadSignature)
        );
    }

    #[test]
    fn header_case_and_uppercase_hex() {
        let upper = format!("v0={}", SIG[3..].to_ascii_uppercase());
        let h = [
            ("x-slack-request-timestamp", TS),
            ("X-SLACK-SIGNATURE", upper.as_str()),
        ];
        assert_eq!(verify(&h, BODY.as_bytes(), SECRET, NOW), Ok(()));
        let map: std::collections::HashMap<String, String> = [
            ("x-Slack-Request-Timestamp".to_owned(), TS.to_owned()),
            ("x-slack-signature".to_owned(), SIG.to_owned()),
        ]
        .into();
        assert_eq!(verify(&map, BODY.as_bytes(), SECRET, NOW), Ok(()));
    }

    #[test]
    fn window_300_and_301() {
        let h = headers(TS, SIG);
        assert_eq!(verify(&h, BODY.as_bytes(), SECRET, NOW + 300), Ok(()));
        assert_eq!(verify(&h, BODY.as_bytes(), SECRET, NOW - 300), Ok(()));
        assert_eq!(
            verify(&h, BODY.as_bytes(), SECRET, NOW + 301),
            Err(Refused::StaleTimestamp)
        );
        assert_eq!(
            verify(&h, BODY.as_bytes(), SECRET, NOW - 301),
            Err(Refused::StaleTimestamp)
        );
    }

    #[test]
    fn missing_and_malformed() {
        assert_eq!(
            verify(&[("X-Slack-Signature", SIG)], BODY.as_bytes(), SECRET, NOW),
            Err(Refused::MissingHeader(TIMESTAMP_HEADER))
        );
        assert_eq!(
            verify(
                &[("X-Slack-Request-Timestamp", TS)],
                BODY.as_bytes(),
                SECRET,
                NOW
            ),
            Err(Refused::MissingHeader(SIGNATURE_HEADER))
        );
        for ts in [
            "",
            "abc",
            "+1531420618",
            " 1531420618",
            "-5",
            "99999999999999999999",
        ] {
            assert_eq!(
                verify(&headers(ts, SIG), BODY.as_bytes(), SECRET, NOW),
                Err(Refused::MalformedHeader(TIMESTAMP_HEADER)),
                "{ts:?}"
            );
        }
        for sig in [
            "a2114d57",
            "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            "v0=",
        ] {
            assert_eq!(
                verify(&headers(TS, sig), BODY.as_bytes(), SECRET, NOW),
                Err(Refused::MalformedHeader(SIGNATURE_HEADER)),
                "{sig:?}"
            );
        }
    }

    #[test]
    fn url_verification_challenge() {
        let body = br#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        assert_eq!(
            url_verification(body).as_deref(),
            Some("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
        );
        assert_eq!(
            url_verification(br#"{"type":"event_callback","challenge":"c"}"#),
            None
        );
        assert_eq!(url_verification(br#"{"type":"url_verification"}"#), None);
        assert_eq!(url_verification(b"token=x"), None);
    }
}
