//! One-time codes: `<prefix><32 random base62><6-char base62 CRC32 checksum>`.
//!
//! A one-time code is a secret for one person, redeemed once: an invitation
//! (`kw_inv_`, redeemed for a membership and a first token), a password link
//! (`kw_pwl_`, redeemed to set or reset a console password) or a CLI login's code
//! (`kw_cli_`, exchanged with its PKCE verifier for a personal access token); a console session's
//! cookie value (`kw_ses_`) is made the same way, though it is used until it expires. Like a key it has a typed
//! prefix (so scanners find a leaked one) and a checksum (so a mistyped one is refused
//! without a lookup), and only its SHA-256 is stored. Each kind redacts in `Debug`, is
//! neither `Display` nor `Serialize`, and zeroes its memory on drop.

use crate::base62;
use crate::key::{KeyHash, CHECKSUM_LEN, RANDOM_LEN};
use std::fmt;
use zeroize::Zeroizing;

/// The prefix of every invitation code; never changes once shipped.
pub const PREFIX: &str = "kw_inv_";
/// The prefix of every password link's code; never changes once shipped.
pub const PASSWORD_LINK_PREFIX: &str = "kw_pwl_";
/// The prefix of every console session's cookie value; never changes once shipped.
pub const SESSION_PREFIX: &str = "kw_ses_";
/// The prefix of every CLI login's one-time code (`keyward auth login --web`); never
/// changes once shipped.
pub const CLI_LOGIN_PREFIX: &str = "kw_cli_";

/// Declares a one-time code type `$code` with prefix `$prefix` and its error `$error`,
/// whose messages name it as `$a_name` / `$the_name`.
macro_rules! one_time_code {
    ($code:ident, $error:ident, $prefix:expr, $a_name:literal, $the_name:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $error {
            Prefix,
            Shape,
            Checksum,
        }

        impl fmt::Display for $error {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $error::Prefix => write!(f, "{} starts with {}", $a_name, $prefix),
                    $error::Shape => {
                        write!(f, "{} has the wrong length or characters", $the_name)
                    }
                    $error::Checksum => write!(
                        f,
                        "{}'s checksum does not match: it was mistyped or truncated",
                        $the_name
                    ),
                }
            }
        }

        impl std::error::Error for $error {}

        pub struct $code(Zeroizing<String>);

        impl $code {
            /// A fresh code from the OS CSPRNG.
            pub fn generate() -> Self {
                Self(generate($prefix))
            }

            /// Checks the prefix, shape and checksum (surrounding whitespace is ignored).
            pub fn parse(raw: &str) -> Result<Self, $error> {
                check($prefix, raw.trim())
                    .map(|()| Self(Zeroizing::new(raw.trim().to_owned())))
                    .map_err(|e| match e {
                        Fault::Prefix => $error::Prefix,
                        Fault::Shape => $error::Shape,
                        Fault::Checksum => $error::Checksum,
                    })
            }

            /// The code itself. Call only to put it in the one response that shows it.
            pub fn expose_secret(&self) -> &str {
                &self.0
            }

            /// What the database stores.
            pub fn hash(&self) -> KeyHash {
                KeyHash::of(&self.0)
            }
        }

        impl fmt::Debug for $code {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({}[REDACTED])", stringify!($code), $prefix)
            }
        }
    };
}

one_time_code!(
    InviteCode,
    InviteCodeError,
    PREFIX,
    "an invitation code",
    "the invitation code"
);
one_time_code!(
    PasswordLinkCode,
    PasswordLinkCodeError,
    PASSWORD_LINK_PREFIX,
    "a password link",
    "the password link"
);
one_time_code!(
    CliLoginCode,
    CliLoginCodeError,
    CLI_LOGIN_PREFIX,
    "a CLI login code",
    "the CLI login code"
);
one_time_code!(
    SessionToken,
    SessionTokenError,
    SESSION_PREFIX,
    "a session token",
    "the session token"
);

enum Fault {
    Prefix,
    Shape,
    Checksum,
}

fn generate(prefix: &str) -> Zeroizing<String> {
    let mut code = Zeroizing::new(String::with_capacity(
        prefix.len() + RANDOM_LEN + CHECKSUM_LEN,
    ));
    code.push_str(prefix);
    code.push_str(&Zeroizing::new(base62::random(RANDOM_LEN)));
    let checksum = base62::encode_u32_fixed6(crc32fast::hash(code.as_bytes()));
    code.push_str(std::str::from_utf8(&checksum).expect("base62 is ascii"));
    code
}

fn check(prefix: &str, raw: &str) -> Result<(), Fault> {
    let body = raw.strip_prefix(prefix).ok_or(Fault::Prefix)?;
    if body.len() != RANDOM_LEN + CHECKSUM_LEN || !base62::is_base62(body.as_bytes()) {
        return Err(Fault::Shape);
    }
    let (signed, checksum) = raw.as_bytes().split_at(raw.len() - CHECKSUM_LEN);
    if base62::encode_u32_fixed6(crc32fast::hash(signed)) != checksum {
        return Err(Fault::Checksum);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefixes_are_pinned() {
        assert_eq!(PREFIX, "kw_inv_");
        assert_eq!(PASSWORD_LINK_PREFIX, "kw_pwl_");
        assert_eq!(SESSION_PREFIX, "kw_ses_");
        assert_eq!(CLI_LOGIN_PREFIX, "kw_cli_");
    }

    #[test]
    fn errors_name_their_kind() {
        assert_eq!(
            InviteCodeError::Prefix.to_string(),
            "an invitation code starts with kw_inv_"
        );
        assert_eq!(
            InviteCodeError::Checksum.to_string(),
            "the invitation code's checksum does not match: it was mistyped or truncated"
        );
        assert_eq!(
            PasswordLinkCodeError::Shape.to_string(),
            "the password link has the wrong length or characters"
        );
    }

    #[test]
    fn kinds_do_not_parse_as_each_other() {
        let link = PasswordLinkCode::generate();
        assert!(link.expose_secret().starts_with("kw_pwl_"));
        assert_eq!(
            PasswordLinkCode::parse(link.expose_secret())
                .unwrap()
                .hash(),
            link.hash()
        );
        assert_eq!(
            InviteCode::parse(link.expose_secret()).unwrap_err(),
            InviteCodeError::Prefix
        );
        assert_eq!(format!("{link:?}"), "PasswordLinkCode(kw_pwl_[REDACTED])");
        let cli = CliLoginCode::generate();
        assert!(cli.expose_secret().starts_with("kw_cli_"));
        assert_eq!(
            CliLoginCode::parse(cli.expose_secret()).unwrap().hash(),
            cli.hash()
        );
        assert_eq!(
            PasswordLinkCode::parse(cli.expose_secret()).unwrap_err(),
            PasswordLinkCodeError::Prefix
        );
        assert_eq!(format!("{cli:?}"), "CliLoginCode(kw_cli_[REDACTED])");
    }

    #[test]
    fn a_generated_code_parses_and_hashes_the_same() {
        let code = InviteCode::generate();
        assert!(code.expose_secret().starts_with("kw_inv_"));
        assert_eq!(code.expose_secret().len(), PREFIX.len() + 38);
        let parsed = InviteCode::parse(&format!(" {} \n", code.expose_secret())).unwrap();
        assert_eq!(parsed.hash(), code.hash());
        assert!(!format!("{code:?}").contains(&code.expose_secret()[7..]));
    }

    #[test]
    fn mistyped_codes_are_refused_offline() {
        let code = InviteCode::generate();
        let raw = code.expose_secret();
        let mut typo = raw.to_owned().into_bytes();
        let i = PREFIX.len() + 3;
        typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        assert_eq!(
            InviteCode::parse(&typo).unwrap_err(),
            InviteCodeError::Checksum
        );
        assert_eq!(
            InviteCode::parse(&raw[..raw.len() - 1]).unwrap_err(),
            InviteCodeError::Shape
        );
        assert_eq!(
            InviteCode::parse(&raw.replace("kw_inv_", "kw_pat_")).unwrap_err(),
            InviteCodeError::Prefix
        );
        assert_eq!(
            InviteCode::parse("kw_inv_!!").unwrap_err(),
            InviteCodeError::Shape
        );
    }
}
