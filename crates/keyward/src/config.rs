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
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    Ok(format!(
        "sqlite://{}",
        data_dir.join("keyward.db").display()
    ))
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
