//! Telegram Bot API: the `secret_token` given to `setWebhook`, echoed in
//! `X-Telegram-Bot-Api-Secret-Token` on every delivery.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::error::Refused;
use crate::headers::{required, Headers};

/// The header carrying the secret token.
pub const SECRET_TOKEN_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// Whether Telegram accepts `token` as a `secret_token`: `^[A-Za-z0-9_-]{1,256}$`.
pub fn valid_secret_token(token: &str) -> bool {
    (1..=256).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A new secret token: 32 random bytes from the OS, base64url without padding (43
/// characters).
pub fn generate_secret_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the operating system's random number generator");
    let token = URL_SAFE_NO_PAD.encode(bytes);
    bytes.zeroize();
    token
}

/// Verifies that the delivery's header equals `secret_token`, in constant time. A
/// configured token Telegram would not accept (for instance empty) refuses everything.
pub fn verify<H: Headers + ?Sized>(headers: &H, secret_token: &str) -> Result<(), Refused> {
    let got = required(headers, SECRET_TOKEN_HEADER)?;
    if got.is_empty() || got.len() > 256 {
        return Err(Refused::MalformedHeader(SECRET_TOKEN_HEADER));
    }
    if valid_secret_token(secret_token) && bool::from(got.ct_eq(secret_token.as_bytes())) {
        Ok(())
    } else {
        Err(Refused::WrongToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_token_cases() {
        assert!(valid_secret_token("abc_DEF-123"));
        assert!(valid_secret_token(&"a".repeat(256)));
        assert!(!valid_secret_token(""));
        assert!(!valid_secret_token(&"a".repeat(257)));
        assert!(!valid_secret_token("a.b"));
        assert!(!valid_secret_token("bad token"));
        assert!(!valid_secret_token("é"));
    }

    #[test]
    fn generated_tokens_are_valid_and_distinct() {
        let a = generate_secret_token();
        let b = generate_secret_token();
        assert_eq!(a.len(), 43);
        assert!(valid_secret_token(&a), "{a}");
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn verify_token() {
        let token = "abc_DEF-123";
        assert_eq!(verify(&[(SECRET_TOKEN_HEADER, token)], token), Ok(()));
        assert_eq!(
            verify(&[("x-telegram-bot-api-secret-token", token)], token),
            Ok(())
        );
        assert_eq!(
            verify(&[(SECRET_TOKEN_HEADER, "abc_DEF-124")], token),
            Err(Refused::WrongToken)
        );
        assert_eq!(
            verify(&[(SECRET_TOKEN_HEADER, "abc_DEF-12")], token),
            Err(Refused::WrongToken)
        );
        assert_eq!(
            verify(&[(SECRET_TOKEN_HEADER, "")], token),
            Err(Refused::MalformedHeader(SECRET_TOKEN_HEADER))
        );
        assert_eq!(
            verify(&[("X-Other", token)], token),
            Err(Refused::MissingHeader(SECRET_TOKEN_HEADER))
        );
        // A misconfigured (empty) token never matches.
        assert_eq!(
            verify(&[(SECRET_TOKEN_HEADER, "x")], ""),
            Err(Refused::WrongToken)
        );
    }
}
