//! People's passwords (console sign-in, issue 14): argon2id hashes in PHC strings, made
//! and checked off the async runtime, and the rules a new password meets.
//!
//! Parameters are OWASP's first recommendation for argon2id (19 MiB, 2 passes, one
//! lane): tens of milliseconds per hash, so hashing runs on tokio's blocking pool and a
//! burst of sign-ins cannot stall request handling. A stored hash carries its own
//! parameters, so they can be raised later and old hashes still verify
//! ([`Verified::needs_rehash`]). Sign-in with an unknown email checks the password
//! against [`dummy_hash`], so both failures take the same time and get the same answer.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// Shortest password accepted (NIST SP 800-63B asks for at least 8; we ask for more,
/// as nothing else protects a console account yet).
pub const MIN_CHARS: usize = 12;
/// Longest (bytes): hashing cost does not depend on it, but a bound keeps bodies small.
pub const MAX_BYTES: usize = 1024;

const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// A password as a person typed it: zeroed on drop, never shown by `Debug`.
pub struct Password(Zeroizing<String>);

impl Password {
    pub fn new(raw: impl Into<String>) -> Self {
        Self(Zeroizing::new(raw.into()))
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// Why a new password is refused; the message is for the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRule {
    #[error("use at least {MIN_CHARS} characters")]
    TooShort,
    #[error("use at most {MAX_BYTES} bytes")]
    TooLong,
    #[error("do not use your email address as your password")]
    IsEmail,
    #[error("use something other than one character repeated")]
    Repeated,
}

/// Checks the rules a new password meets (length; not the email; not one character
/// repeated). Deliberately no composition rules (NIST SP 800-63B §3.1.1.2).
pub fn check_new(password: &Password, email: &str) -> Result<(), PasswordRule> {
    let text: &str = &password.0;
    if text.len() > MAX_BYTES {
        return Err(PasswordRule::TooLong);
    }
    if text.chars().count() < MIN_CHARS {
        return Err(PasswordRule::TooShort);
    }
    if text.trim().eq_ignore_ascii_case(email.trim()) {
        return Err(PasswordRule::IsEmail);
    }
    let mut chars = text.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Err(PasswordRule::Repeated);
    }
    Ok(())
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of `password` with a fresh salt,
/// computed on the blocking pool.
pub async fn hash(password: Password) -> anyhow::Result<String> {
    let _permit = hashing().acquire().await?;
    tokio::task::spawn_blocking(move || hash_now(&password)).await?
}

/// At most two argon2 computations per CPU at once: each holds 19 MiB, so a flood of
/// sign-ins waits here instead of filling memory through the blocking pool.
fn hashing() -> &'static tokio::sync::Semaphore {
    static PERMITS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(2 * cpus)
    })
}

fn hash_now(password: &Password) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    hasher()
        .hash_password(password.bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Why a new password typed twice was not taken.
#[derive(Debug, thiserror::Error)]
pub enum NotChosen {
    #[error("The two passwords are not the same.")]
    Mismatch,
    #[error("Choose another password: {0}.")]
    Rule(PasswordRule),
    /// Hashing failed: the server's fault, logged here, never shown.
    #[error("the password could not be hashed")]
    Hashing,
}

/// A new password as a person typed it twice, for `email`: its argon2id hash, or what
/// to tell them (every page that sets a password asks the same way).
pub async fn choose(password: String, repeat: &str, email: &str) -> Result<String, NotChosen> {
    if password != repeat {
        return Err(NotChosen::Mismatch);
    }
    let new = Password::new(password);
    check_new(&new, email).map_err(NotChosen::Rule)?;
    hash(new).await.map_err(|e| {
        tracing::error!(error = %e, "hashing a password");
        NotChosen::Hashing
    })
}

/// What checking a password found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    Wrong,
    /// Right; `needs_rehash` when the stored hash used other parameters than today's.
    Right {
        needs_rehash: bool,
    },
}

/// Checks `password` against a stored PHC string on the blocking pool, in constant time
/// for the hash comparison. `None` (no such person, or no password set yet) checks
/// against [`dummy_hash`] and answers `Wrong`, taking as long as a real check.
pub async fn verify(stored: Option<String>, password: Password) -> Verified {
    let Ok(_permit) = hashing().acquire().await else {
        return Verified::Wrong;
    };
    tokio::task::spawn_blocking(move || verify_now(stored.as_deref(), &password))
        .await
        .unwrap_or(Verified::Wrong)
}

fn verify_now(stored: Option<&str>, password: &Password) -> Verified {
    let (phc, real) = match stored {
        Some(phc) => (phc, true),
        None => (dummy_hash(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return Verified::Wrong;
    };
    let ok = hasher().verify_password(password.bytes(), &parsed).is_ok();
    if !(ok && real) {
        return Verified::Wrong;
    }
    let current = Params::try_from(&parsed).ok();
    let needs_rehash = parsed.algorithm.as_str() != "argon2id"
        || current
            .is_none_or(|p| (p.m_cost(), p.t_cost(), p.p_cost()) != (MEMORY_KIB, PASSES, LANES));
    Verified::Right { needs_rehash }
}

/// A hash of a random password with today's parameters, made once per process: what an
/// unknown email's sign-in is checked against.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = Password::new(keyward_core::base62::random(32));
        hash_now(&random).expect("hashing a random password")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let phc = hash(Password::new("correct horse battery")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert_eq!(
            verify(Some(phc.clone()), Password::new("correct horse battery")).await,
            Verified::Right {
                needs_rehash: false
            }
        );
        assert_eq!(
            verify(Some(phc.clone()), Password::new("correct horse batterx")).await,
            Verified::Wrong
        );
        // Two hashes of one password differ (fresh salts).
        let again = hash(Password::new("correct horse battery")).await.unwrap();
        assert_ne!(phc, again);
    }

    #[tokio::test]
    async fn unknown_people_and_garbage_hashes_are_wrong_never_an_error() {
        // The dummy hash's password is random: nobody knows it, and `None` is never
        // Right even if they did.
        assert_eq!(
            verify(None, Password::new("anything at all")).await,
            Verified::Wrong
        );
        assert_eq!(
            verify(Some("not a hash".into()), Password::new("x")).await,
            Verified::Wrong
        );
        assert!(dummy_hash().starts_with("$argon2id$"));
    }

    #[tokio::test]
    async fn weaker_stored_parameters_ask_for_a_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        );
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let phc = weak
            .hash_password(b"an old password!", &salt)
            .unwrap()
            .to_string();
        assert_eq!(
            verify(Some(phc), Password::new("an old password!")).await,
            Verified::Right { needs_rehash: true }
        );
    }

    #[test]
    fn new_passwords_follow_the_rules() {
        let email = "ada@company.com";
        #[rustfmt::skip]
        let cases = [
            ("short pass", Err(PasswordRule::TooShort)),
            ("ADA@company.com", Err(PasswordRule::IsEmail)),
            ("aaaaaaaaaaaaaaaa", Err(PasswordRule::Repeated)),
            ("ééééééééééé", Err(PasswordRule::TooShort)), // 11 characters, 22 bytes
            ("a reasonable passphrase", Ok(())),
        ];
        for (password, expected) in cases {
            assert_eq!(
                check_new(&Password::new(password), email),
                expected,
                "{password}"
            );
        }
        assert_eq!(
            check_new(&Password::new("x".repeat(MAX_BYTES + 1)), email),
            Err(PasswordRule::TooLong)
        );
        assert_eq!(
            format!("{:?}", Password::new("hunter2")),
            "Password([REDACTED])"
        );
    }
}
