//! The stored login: one server URL and key in `credentials.json` in the user's config
//! directory (`$KEYWARD_CONFIG_DIR`, else e.g. `~/.config/keyward/`), mode 0600.
//!
//! The file is written to a temporary file created 0600 and renamed into place, so it
//! is never readable by others, not even for a moment, and never half-written.

use anyhow::Context;
use chrono::{DateTime, Utc};
use keyward_client::ApiKey;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const CONFIG_DIR_VAR: &str = "KEYWARD_CONFIG_DIR";
const FILE_NAME: &str = "credentials.json";

#[derive(Serialize, Deserialize)]
pub struct StoredLogin {
    pub server: String,
    token: String,
    /// Who the key belonged to when it was stored, for messages.
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    pub org: Option<String>,
    #[serde(default)]
    pub saved_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for StoredLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredLogin")
            .field("server", &self.server)
            .field("token", &"[REDACTED]")
            .field("identity", &self.identity)
            .finish()
    }
}

impl StoredLogin {
    pub fn new(server: String, key: &ApiKey, identity: String, org: String) -> Self {
        Self {
            server,
            token: key.expose_secret().to_owned(),
            identity: Some(identity),
            org: Some(org),
            saved_at: Some(Utc::now()),
        }
    }

    pub fn key(&self) -> ApiKey {
        ApiKey::new(self.token.clone())
    }
}

impl Drop for StoredLogin {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.token);
    }
}

/// The directory of the stored login.
pub fn config_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(CONFIG_DIR_VAR).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::config_dir()
        .map(|d| d.join("keyward"))
        .with_context(|| format!("cannot find your config directory: set HOME or {CONFIG_DIR_VAR}"))
}

pub fn path() -> anyhow::Result<PathBuf> {
    Ok(config_dir()?.join(FILE_NAME))
}

/// The stored login, if there is one.
pub fn load(path: &Path) -> anyhow::Result<Option<StoredLogin>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    // serde_json's messages quote no input, only positions: safe to show.
    serde_json::from_str(&text).map(Some).with_context(|| {
        format!(
            "the stored login {} is damaged; run `keyward auth login` again",
            path.display()
        )
    })
}

pub fn save(path: &Path, login: &StoredLogin) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .context("the credentials path has no directory")?;
    create_private_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| -> std::io::Result<()> {
        let mut file = private_file(&tmp)?;
        let mut json = zeroize::Zeroizing::new(
            serde_json::to_vec_pretty(login).map_err(std::io::Error::other)?,
        );
        json.push(b'\n');
        file.write_all(&json)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// Forgets the stored login; false if there was none.
pub fn remove(path: &Path) -> anyhow::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

/// The file's permission bits when others than the owner may read or write it.
pub fn loose_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_logins_round_trip_privately_and_debug_hides_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join(FILE_NAME);
        let key = ApiKey::new("kw_pat_secretsecret");
        let login = StoredLogin::new("http://h/".into(), &key, "me@x".into(), "org".into());
        assert!(!format!("{login:?}").contains("secretsecret"));
        save(&path, &login).unwrap();
        save(&path, &login).unwrap();
        assert_eq!(loose_mode(&path), None);
        let back = load(&path).unwrap().unwrap();
        assert_eq!(back.key(), key);
        assert_eq!(back.server, "http://h/");
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
        assert!(remove(&path).unwrap());
        assert!(!remove(&path).unwrap());
        assert!(load(&path).unwrap().is_none());
        std::fs::write(&path, "{").unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("damaged"));
    }
}
