//! Proof Key for Code Exchange (RFC 7636, method `S256`) and the `state` of a loopback
//! redirect (RFC 8252), for `keyward auth login --web`.
//!
//! The CLI makes a random [`CodeVerifier`], sends only its [`CodeChallenge`]
//! (`BASE64URL(SHA-256(verifier))`) through the browser, and later proves it started
//! the login by sending the verifier itself with the one-time code. Someone who sees the
//! redirect (another local process, a browser extension, the history) learns the code
//! and the challenge, never the verifier, so the code alone is worth nothing.
//!
//! [`LoginState`] is the CLI's own anti-forgery value: the console echoes it back on the
//! redirect, and the CLI ignores a callback whose state is not the one it made.
//!
//! The verifier is a secret: it redacts in `Debug`, is neither `Display` nor
//! `Serialize`, and zeroes its memory on drop. The challenge and the state are not
//! secrets (both travel through the browser) and print as they are.

use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The shortest and longest verifier RFC 7636 allows (§4.1).
pub const VERIFIER_LEN: std::ops::RangeInclusive<usize> = 43..=128;
/// An S256 challenge is 32 bytes in unpadded base64url: always 43 characters.
pub const CHALLENGE_LEN: usize = 43;
/// How long a state may be: 16 (96 bits) to 128 characters.
pub const STATE_LEN: std::ops::RangeInclusive<usize> = 16..=128;

/// What is wrong with a verifier, challenge or state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    #[error("must be 43 to 128 characters")]
    VerifierLength,
    #[error("may hold only letters, digits and - . _ ~ (RFC 7636)")]
    VerifierCharacters,
    #[error("must be 43 characters of base64url (an S256 challenge)")]
    Challenge,
    #[error("must be 16 to 128 characters of letters, digits and - . _ ~")]
    State,
}

/// RFC 3986 unreserved characters: what verifiers and states are made of.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn base64url_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')
}

/// Unpadded base64url (RFC 4648 §5) of `bytes`.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// 32 bytes from the OS CSPRNG, in base64url (43 characters, 256 bits).
fn random_43() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::getrandom(bytes.as_mut()).expect("the OS random number generator is unavailable");
    Zeroizing::new(base64url(bytes.as_ref()))
}

/// A PKCE code verifier: the secret half, kept by the CLI until it exchanges the code.
pub struct CodeVerifier(Zeroizing<String>);

impl CodeVerifier {
    /// A fresh verifier of 256 random bits (43 characters), as RFC 7636 §7.1 advises.
    pub fn generate() -> Self {
        Self(random_43())
    }

    /// 43 to 128 characters of `A-Z a-z 0-9 - . _ ~` (RFC 7636 §4.1), taken as given.
    pub fn parse(raw: &str) -> Result<Self, PkceError> {
        if !VERIFIER_LEN.contains(&raw.len()) {
            return Err(PkceError::VerifierLength);
        }
        if !raw.bytes().all(unreserved) {
            return Err(PkceError::VerifierCharacters);
        }
        Ok(Self(Zeroizing::new(raw.to_owned())))
    }

    /// The verifier itself. Call only to send it in the code exchange.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Its S256 challenge: `BASE64URL(SHA-256(ASCII(verifier)))`.
    pub fn challenge(&self) -> CodeChallenge {
        CodeChallenge(base64url(&Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier([REDACTED])")
    }
}

/// An S256 code challenge: the public half, sent through the browser and stored with
/// the login it belongs to.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Exactly 43 characters of base64url: what S256 makes. (A `plain` challenge, which
    /// RFC 7636 also allows, is not accepted: it would send the verifier through the
    /// browser.)
    pub fn parse(raw: &str) -> Result<Self, PkceError> {
        if raw.len() != CHALLENGE_LEN || !raw.bytes().all(base64url_char) {
            return Err(PkceError::Challenge);
        }
        // The last character carries 2 unused bits, which a canonical encoding leaves 0.
        let last = raw.as_bytes()[CHALLENGE_LEN - 1];
        let index = match last {
            b'A'..=b'Z' => last - b'A',
            b'a'..=b'z' => last - b'a' + 26,
            b'0'..=b'9' => last - b'0' + 52,
            b'-' => 62,
            _ => 63,
        };
        if index & 3 != 0 {
            return Err(PkceError::Challenge);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` is the one this challenge was made from, compared in constant
    /// time.
    pub fn is_met_by(&self, verifier: &CodeVerifier) -> bool {
        self.same_as(&verifier.challenge())
    }

    /// Whether two challenges are equal, compared in constant time (one of them is
    /// usually made from a presented verifier).
    pub fn same_as(&self, other: &CodeChallenge) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeChallenge({})", self.0)
    }
}

/// The `state` of a loopback redirect: chosen by the CLI, carried through the console
/// and back unchanged, so the CLI can tell its own callback from a forged one.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginState(String);

impl LoginState {
    /// 256 random bits (43 characters).
    pub fn generate() -> Self {
        Self(random_43().to_string())
    }

    /// 16 to 128 characters of `A-Z a-z 0-9 - . _ ~`: safe in a URL as it is.
    pub fn parse(raw: &str) -> Result<Self, PkceError> {
        if !STATE_LEN.contains(&raw.len()) || !raw.bytes().all(unreserved) {
            return Err(PkceError::State);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this state, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl fmt::Debug for LoginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LoginState({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636, Appendix B.
    #[test]
    fn the_rfc_example_verifier_gives_the_rfc_example_challenge() {
        let verifier = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert_eq!(
            verifier.challenge().as_str(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let challenge =
            CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").unwrap();
        assert!(challenge.is_met_by(&verifier));
        assert!(!challenge.is_met_by(&CodeVerifier::generate()));
    }

    #[test]
    fn base64url_matches_rfc_4648_without_padding() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn generated_values_parse_and_differ() {
        let v = CodeVerifier::generate();
        assert_eq!(v.expose_secret().len(), 43);
        assert!(CodeVerifier::parse(v.expose_secret()).is_ok());
        assert!(CodeChallenge::parse(v.challenge().as_str()).is_ok());
        assert_ne!(v.expose_secret(), CodeVerifier::generate().expose_secret());
        let s = LoginState::generate();
        assert_eq!(LoginState::parse(s.as_str()).unwrap(), s);
        assert!(s.matches(s.as_str()));
        assert!(!s.matches(LoginState::generate().as_str()));
        assert!(!s.matches(""));
    }

    #[test]
    fn malformed_values_are_refused() {
        assert_eq!(
            CodeVerifier::parse(&"a".repeat(42)).unwrap_err(),
            PkceError::VerifierLength
        );
        assert_eq!(
            CodeVerifier::parse(&"a".repeat(129)).unwrap_err(),
            PkceError::VerifierLength
        );
        assert!(CodeVerifier::parse(&"a~.-_".repeat(20)).is_ok());
        assert_eq!(
            CodeVerifier::parse(&format!("{}+", "a".repeat(43))).unwrap_err(),
            PkceError::VerifierCharacters
        );
        for bad in [
            "a".repeat(42),
            "a".repeat(44),
            format!("{}=", "a".repeat(42)),
            format!("{}.", "a".repeat(42)),
            // Not canonical: the last character's two unused bits are set.
            format!("{}B", "a".repeat(42)),
        ] {
            assert_eq!(
                CodeChallenge::parse(&bad),
                Err(PkceError::Challenge),
                "{bad}"
            );
        }
        assert!(CodeChallenge::parse(&format!("{}E", "a".repeat(42))).is_ok());
        assert_eq!(LoginState::parse("short").unwrap_err(), PkceError::State);
        assert_eq!(
            LoginState::parse("abcdefghijklmnop&x=1").unwrap_err(),
            PkceError::State
        );
        assert!(LoginState::parse("abcdefghijklmnop").is_ok());
    }

    #[test]
    fn the_verifier_never_shows_in_debug() {
        let v = CodeVerifier::generate();
        assert_eq!(format!("{v:?}"), "CodeVerifier([REDACTED])");
    }
}
