//! A key and a server for a command, and where each came from (a flag, the
//! environment, `.env`, the stored login): what [`super::context`] resolves and what
//! [`super::failure`] names in its hints. A leaf: it uses no other CLI module.

use keyward_client::ApiKey;
use serde::Serialize;
use std::path::PathBuf;

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Source {
    Flag {
        flag: &'static str,
    },
    Env {
        var: &'static str,
    },
    DotEnv {
        var: &'static str,
        path: PathBuf,
    },
    StoredLogin {
        path: PathBuf,
    },
    /// Typed at the prompt or piped on stdin (`auth login`).
    Input,
    /// Made for this machine when its person approved the login in the browser
    /// (`auth login --web`).
    WebLogin,
    Default,
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Flag { flag } => format!("the {flag} flag"),
            Source::Env { var } => format!("the environment variable {var}"),
            Source::DotEnv { var, path } => format!("{var} in {}", path.display()),
            Source::StoredLogin { path } => format!("the stored login ({})", path.display()),
            Source::Input => "your input".to_owned(),
            Source::WebLogin => "the browser sign-in".to_owned(),
            Source::Default => "the default".to_owned(),
        }
    }

    /// A few words, for the server line of `auth status`.
    pub fn short(&self) -> String {
        match self {
            Source::Flag { flag } => format!("{flag} flag"),
            Source::Env { var } => format!("environment variable {var}"),
            Source::DotEnv { var, .. } => format!("{var} in .env"),
            Source::StoredLogin { .. } => "stored login".to_owned(),
            Source::Input => "input".to_owned(),
            Source::WebLogin => "browser sign-in".to_owned(),
            Source::Default => "default".to_owned(),
        }
    }

    /// What to do about a key from here that no longer works.
    pub fn replace_hint(&self) -> String {
        match self {
            Source::Flag { .. } => "pass a valid key with --token".to_owned(),
            Source::Input => "check the key and try again".to_owned(),
            Source::WebLogin => "run `keyward auth login --web` again".to_owned(),
            Source::Env { var } => {
                format!("set {var} to a valid key, or unset it to use your stored login")
            }
            Source::DotEnv { var, path } => format!(
                "put a valid key in {var} in {}, or remove that line to use your stored login",
                path.display()
            ),
            Source::StoredLogin { .. } | Source::Default => {
                "log in again with `keyward auth login`".to_owned()
            }
        }
    }
}

/// A key, a server, and where they came from.
pub struct Resolved {
    pub key: ApiKey,
    pub source: Source,
    pub server: String,
    pub server_source: Source,
    pub org: Option<(String, Source)>,
}
