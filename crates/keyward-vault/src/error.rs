//! The two error types. No message ever holds key material or plaintext: they name key
//! ids, files, environment variables and line numbers only.

use std::path::PathBuf;

/// Decrypting failed.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The wrapped data key names a key-encryption key the ring does not hold (it was
    /// retired too early, or the ring is loaded from the wrong place).
    #[error("the key-encryption key {0} is not in the ring")]
    UnknownKek(String),
    /// Authentication failed: wrong key, tampered bytes, or a ciphertext sealed for
    /// another record or field.
    #[error("cannot decrypt: the data was changed, moved to another record or field, or made with another key")]
    Corrupt,
}

/// Building or loading the ring of key-encryption keys failed, or maintaining a key file.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    /// An id outside 1..=40 characters of `[A-Za-z0-9_.-]`. `shown` is the id when it is
    /// short enough to be one; a longer string may be a pasted key and is not repeated.
    #[error("{shown} is not a valid key-encryption key id (use 1 to 40 characters of A-Z, a-z, 0-9, '_', '.' and '-'){}", where_(.origin))]
    InvalidId { shown: String, origin: String },
    #[error("the key-encryption key {id} is listed twice{}", where_(.origin))]
    DuplicateId { id: String, origin: String },
    #[error("the active key-encryption key {active} is not among the keys{} (there: {known})", where_(.origin))]
    ActiveNotInRing {
        active: String,
        known: String,
        origin: String,
    },
    #[error("no key-encryption keys{}", where_(.origin))]
    Empty { origin: String },
    #[error("several key-encryption keys and none is marked active{}: set {hint}", where_(.origin))]
    ActiveRequired { origin: String, hint: String },
    /// A key that is not base64 (standard or url-safe) of exactly 32 bytes.
    #[error("the key-encryption key {id}{} is not base64 of exactly 32 bytes", where_(.origin))]
    BadKey { id: String, origin: String },
    /// A line or entry that cannot be read; the text itself is not repeated.
    #[error("{origin}: {what}")]
    Syntax { origin: String, what: String },
    /// A setting that only makes sense together with another.
    #[error("{0}")]
    Inconsistent(String),
    #[error("the key file {} can be read by group or others (mode {mode:03o}): run `chmod 600 {}`", .path.display(), .path.display())]
    InsecureFile { path: PathBuf, mode: u32 },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no key-encryption keys configured (secrets.keks in keyward.yaml, KEYWARD_KEKS, secrets.kek_file or KEYWARD_KEK_FILE) and no key file {}", .0.display())]
    NotConfigured(PathBuf),
    #[error("the key-encryption key {id} is not in the key file {}", .path.display())]
    NotInFile { id: String, path: PathBuf },
    #[error("the key-encryption key {id} is the active one: make another key active before retiring it ({})", .path.display())]
    RetireActive { id: String, path: PathBuf },
}

fn where_(origin: &str) -> String {
    if origin.is_empty() {
        String::new()
    } else {
        format!(" in {origin}")
    }
}

impl RingError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> RingError {
        RingError::Io {
            path: path.into(),
            source,
        }
    }
}
