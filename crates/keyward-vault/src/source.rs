//! Where the ring comes from: `keyward.yaml`, the environment, a key file, or a key file
//! created on first start.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use zeroize::{Zeroize, Zeroizing};

use crate::error::RingError;
use crate::kek::{check_id, decode_kek};
use crate::keyfile::{create_key_file, load_key_file};
use crate::ring::Ring;

/// The `secrets` section of `keyward.yaml`.
#[derive(Debug, Default, Clone, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// The id of the key in `keks` that new data keys are wrapped by; may be left out
    /// when `keks` holds one key. Only used together with `keks`.
    pub active_kek: Option<String>,
    /// Key-encryption keys by id, each base64 of 32 bytes.
    pub keks: Option<BTreeMap<String, KekText>>,
    /// A key file to read (when `keks` is not set). A relative path is taken as it is,
    /// from the working directory.
    pub kek_file: Option<PathBuf>,
}

/// The base64 text of a key-encryption key as written in the config. Its `Debug` shows
/// nothing of it, and it is wiped on drop.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct KekText(String);

impl KekText {
    /// The base64 text.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl From<String> for KekText {
    fn from(s: String) -> KekText {
        KekText(s)
    }
}

impl From<&str> for KekText {
    fn from(s: &str) -> KekText {
        KekText(s.to_string())
    }
}

impl fmt::Debug for KekText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KekText(<redacted>)")
    }
}

impl Drop for KekText {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// What [`load_ring`] looks at.
pub struct Sources<'a> {
    /// The `secrets` section of `keyward.yaml`, if there is one.
    pub config: Option<&'a SecretsConfig>,
    /// Reads an environment variable (`|name| std::env::var(name).ok()`, or a map in tests).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Where the default key file `keks` lives.
    pub data_dir: &'a Path,
    /// Dates the id of a key created on first start.
    pub now: DateTime<Utc>,
    /// Create `<data_dir>/keks` when no keys are configured anywhere.
    pub create_if_missing: bool,
}

/// Where the ring was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingOrigin {
    /// `secrets.keks` in `keyward.yaml`.
    Config,
    /// `KEYWARD_KEKS`.
    Environment,
    /// An existing key file.
    File(PathBuf),
    /// A key file just created, with one fresh key.
    Created(PathBuf),
}

impl fmt::Display for RingOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingOrigin::Config => f.write_str("secrets.keks in keyward.yaml"),
            RingOrigin::Environment => f.write_str("KEYWARD_KEKS"),
            RingOrigin::File(p) => write!(f, "the key file {}", p.display()),
            RingOrigin::Created(p) => write!(f, "the new key file {}", p.display()),
        }
    }
}

/// The environment variable holding `id=BASE64` entries.
pub const ENV_KEKS: &str = "KEYWARD_KEKS";
/// The environment variable naming the active key of [`ENV_KEKS`].
pub const ENV_ACTIVE_KEK: &str = "KEYWARD_ACTIVE_KEK";
/// The environment variable naming a key file.
pub const ENV_KEK_FILE: &str = "KEYWARD_KEK_FILE";
/// The name of the default key file in the data directory.
pub const DEFAULT_KEY_FILE: &str = "keks";

/// Loads the ring from the first of: `secrets.keks` in the config; `KEYWARD_KEKS` (and
/// `KEYWARD_ACTIVE_KEK`); the key file `secrets.kek_file`, else `KEYWARD_KEK_FILE`,
/// else `<data_dir>/keks` if it exists; else, if `create_if_missing`, a new
/// `<data_dir>/keks` with one fresh key.
pub fn load_ring(s: Sources<'_>) -> Result<(Ring, RingOrigin), RingError> {
    let default = SecretsConfig::default();
    let config = s.config.unwrap_or(&default);
    if let Some(keks) = &config.keks {
        return Ok((
            from_config(keks, config.active_kek.as_deref())?,
            RingOrigin::Config,
        ));
    }
    if config.active_kek.is_some() {
        return Err(RingError::Inconsistent(
            "secrets.active_kek is set in keyward.yaml but secrets.keks is not (with keys from KEYWARD_KEKS or a key file, the active key is chosen there)".into(),
        ));
    }
    let env = |name: &str| {
        (s.env)(name)
            .map(Zeroizing::new)
            .filter(|v| !v.trim().is_empty())
    };
    if let Some(text) = env(ENV_KEKS) {
        let active = env(ENV_ACTIVE_KEK);
        return Ok((
            from_env(&text, active.as_deref().map(|a| a.trim()))?,
            RingOrigin::Environment,
        ));
    }
    if env(ENV_ACTIVE_KEK).is_some() {
        return Err(RingError::Inconsistent(format!(
            "{ENV_ACTIVE_KEK} is set but {ENV_KEKS} is not (a key file names its active key itself)"
        )));
    }
    let explicit = config
        .kek_file
        .clone()
        .or_else(|| env(ENV_KEK_FILE).map(|p| PathBuf::from(p.trim())));
    if let Some(path) = explicit {
        return Ok((load_key_file(&path)?, RingOrigin::File(path)));
    }
    let path = s.data_dir.join(DEFAULT_KEY_FILE);
    let exists = path.try_exists().map_err(|e| RingError::io(&path, e))?;
    if exists {
        return Ok((load_key_file(&path)?, RingOrigin::File(path)));
    }
    if !s.create_if_missing {
        return Err(RingError::NotConfigured(path));
    }
    match create_key_file(&path, s.now) {
        Ok(ring) => Ok((ring, RingOrigin::Created(path))),
        // Another process created it first: use that one.
        Err(RingError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok((load_key_file(&path)?, RingOrigin::File(path)))
        }
        Err(e) => Err(e),
    }
}

const CONFIG_ORIGIN: &str = "secrets.keks in keyward.yaml";

fn from_config(keks: &BTreeMap<String, KekText>, active: Option<&str>) -> Result<Ring, RingError> {
    let mut ring = Vec::with_capacity(keks.len());
    for (id, text) in keks {
        check_id(id, CONFIG_ORIGIN)?;
        ring.push((
            id.clone(),
            decode_kek(id, text.expose_secret(), CONFIG_ORIGIN)?,
        ));
    }
    let active = match (active, keks.len()) {
        (Some(a), _) => a.to_string(),
        (None, 1) => keks.keys().next().cloned().unwrap_or_default(),
        (None, 0) => String::new(),
        (None, _) => {
            return Err(RingError::ActiveRequired {
                origin: CONFIG_ORIGIN.into(),
                hint: "secrets.active_kek".into(),
            })
        }
    };
    Ring::from_zeroizing(ring, &active, CONFIG_ORIGIN)
}

/// `id1=BASE64,id2=BASE64` (commas or newlines); the active key is `active`, else the
/// first listed.
fn from_env(text: &str, active: Option<&str>) -> Result<Ring, RingError> {
    let mut ring = Vec::new();
    let entries = text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty());
    for (i, entry) in entries.enumerate() {
        let Some((id, key)) = entry.split_once('=') else {
            return Err(RingError::Syntax {
                origin: ENV_KEKS.into(),
                what: format!("entry {} is not `id=BASE64`", i + 1),
            });
        };
        let id = id.trim();
        check_id(id, ENV_KEKS)?;
        ring.push((id.to_string(), decode_kek(id, key, ENV_KEKS)?));
    }
    let active = active
        .map(str::to_string)
        .or_else(|| ring.first().map(|(id, _)| id.clone()));
    Ring::from_zeroizing(ring, &active.unwrap_or_default(), ENV_KEKS)
}

#[cfg(test)]
mod tests;
