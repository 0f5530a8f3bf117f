//! Configuration, layered once at start: defaults → `keyward.yaml` (with `${VAR}` and
//! `${VAR:-default}` taken from the environment and `.env`) → `KEYWARD_*` environment
//! variables → command-line flags. Clap merges the last two; this module adds the file.

use anyhow::{bail, Context};
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG: &str = "keyward.yaml";
pub const DEFAULT_DATA_DIR: &str = "keyward-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub log: Option<String>,
    /// How many key records the verify cache keeps at most.
    pub cache_max_keys: Option<usize>,
    pub bootstrap: Option<BootstrapConfig>,
    /// Who may create organizations through the API.
    pub organizations: Option<OrganizationsConfig>,
    /// The web console's sessions and links.
    pub console: Option<ConsoleConfig>,
    /// The key-encryption keys of the vault (else `KEYWARD_KEKS`, else the key file).
    pub secrets: Option<keyward_vault::SecretsConfig>,
    /// Third-party integrations (the seed's shape: `gmail: {enabled, credentials}`).
    pub integrations: Option<keyward_oauth::IntegrationsConfig>,
    /// How the vault refreshes OAuth tokens.
    pub oauth: Option<OAuthConfig>,
    /// Webhook ingress: body limit, retry schedule, timeouts (`crate::hooks`).
    pub webhooks: Option<WebhooksConfig>,
    /// Workers: retention, forward timeout (`crate::hooks::workers`).
    pub workers: Option<WorkersConfig>,
}

/// `workers:` (read by `crate::hooks::workers`).
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkersConfig {
    /// Workers not heard from for this long are removed (`14d`).
    pub retention: Option<String>,
    /// How long a worker may take to forward one event (`10s`).
    pub forward_timeout: Option<String>,
    /// Events one worker forwards at once, each of another endpoint (4).
    pub max_in_flight: Option<usize>,
}

/// `webhooks:`: body limit, retry schedule, timeouts (read by `crate::hooks`).
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    pub body_limit: Option<usize>,
    pub schedule: Option<Vec<String>>,
    pub disable_after: Option<String>,
    pub timeout: Option<String>,
    pub retention: Option<String>,
    pub poll_interval: Option<String>,
    pub concurrency: Option<usize>,
    /// Destinations on loopback or private addresses (default false).
    pub allow_private_destinations: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// Renew an access token this long before it expires (`5m`).
    pub refresh_margin: Option<String>,
    /// How often the background refresher looks for tokens to renew (`30s`).
    pub refresh_interval: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// The address people reach the server at, e.g. `https://keys.example.com`.
    pub public_url: Option<String>,
    /// Mark cookies Secure (HTTPS, directly or behind a proxy that terminates it).
    pub secure_cookies: Option<bool>,
    /// A session ends after this long without a request (`30m`, `24h`).
    pub session_idle_timeout: Option<String>,
    /// A session ends this long after sign-in in any case (`14d`).
    pub session_max_age: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Option<Vec<std::net::IpAddr>>,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OrganizationsConfig {
    /// `false` stops people creating organizations (`POST /v1/organizations`).
    pub allow_create: Option<bool>,
    /// Organizations one person may have created.
    pub max_per_person: Option<u32>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BootstrapConfig {
    pub org: Option<String>,
    pub email: Option<String>,
}

/// Reads `path`; a missing file is fine only when it was not asked for explicitly.
pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let (path, explicit) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from(DEFAULT_CONFIG), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(FileConfig::default())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    parse(&text, |name| std::env::var(name).ok()).with_context(|| format!("in {}", path.display()))
}

pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<FileConfig> {
    let expanded = interpolate(text, env)?;
    if expanded.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    Ok(serde_yaml::from_str(&expanded)?)
}

/// Replaces `${NAME}` and `${NAME:-default}`; an unset `${NAME}` is an error that
/// names it, so a typo does not silently become an empty value.
pub fn interpolate(text: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            bail!("unclosed ${{ in configuration")
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("${{{inner}}} is not a valid variable reference");
        }
        match (env(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                bail!("${{{name}}} is used but the environment variable {name} is not set")
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The database URL: explicit URL, else a SQLite file in the data directory.
pub fn database_url(url: Option<String>, data_dir: &Path) -> anyhow::Result<String> {
    if let Some(url) = url {
        return Ok(url);
    }
    create_data_dir(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    Ok(format!(
        "sqlite://{}",
        data_dir.join("keyward.db").display()
    ))
}

/// The files Keyward keeps in its data directory.
#[cfg(unix)]
const DATA_FILES: [&str; 4] = [
    "keyward.db",
    "keyward.db-wal",
    "keyward.db-shm",
    "keyward.db-journal",
];

/// Creates the data directory 0700 whatever the umask (missing parents as usual), and
/// takes group and other access away from one an older Keyward created 0755. Only the
/// directory itself is changed, and only if it holds nothing but Keyward's database: one
/// that holds other files too (`--data-dir .`, `/tmp`) is someone else's and is left
/// as it is, with a warning (the database files in it are 0600 in any case).
fn create_data_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(e),
        }
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o7777;
        if mode & 0o077 == 0 {
            return Ok(());
        }
        if !holds_only_keyward_files(dir).unwrap_or(false) {
            tracing::warn!(
                path = %dir.display(),
                mode = %format_args!("{mode:04o}"),
                "the data directory is open to other users and holds other files than \
                 Keyward's; its permissions are left as they are"
            );
            return Ok(());
        }
        let new = mode & !0o077;
        match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(new)) {
            Ok(()) => tracing::warn!(
                path = %dir.display(),
                old_mode = %format_args!("{mode:04o}"),
                new_mode = %format_args!("{new:04o}"),
                "data directory was accessible to other users; now only its owner may enter it"
            ),
            Err(e) => tracing::warn!(
                path = %dir.display(),
                mode = %format_args!("{mode:04o}"),
                error = %e,
                "data directory is accessible to other users and its mode cannot be changed"
            ),
        }
        Ok(())
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn holds_only_keyward_files(dir: &Path) -> std::io::Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        if !DATA_FILES.iter().any(|f| name == *f) {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("9000".into()),
            "DIR" => Some("/srv/kw".into()),
            _ => None,
        }
    }

    #[test]
    fn variables_are_interpolated() {
        let c = parse(
            "listen: 127.0.0.1:${PORT}\ndata_dir: ${DIR}\nlog: ${LEVEL:-debug}\n",
            env,
        )
        .unwrap();
        assert_eq!(c.listen.as_deref(), Some("127.0.0.1:9000"));
        assert_eq!(c.data_dir, Some(PathBuf::from("/srv/kw")));
        assert_eq!(c.log.as_deref(), Some("debug"));
    }

    #[test]
    fn unset_variables_and_unknown_keys_are_errors() {
        let err = parse("listen: ${NOPE}\n", env).unwrap_err().to_string();
        assert!(err.contains("NOPE"), "{err}");
        assert!(parse("listne: x\n", env).is_err());
        assert!(interpolate("${", env).is_err());
        assert!(interpolate("${a b}", env).is_err());
        assert_eq!(parse("", env).unwrap(), FileConfig::default());
    }
}
