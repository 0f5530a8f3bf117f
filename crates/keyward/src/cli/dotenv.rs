//! `.env` as its own configuration layer.
//!
//! The server's settings (`KEYWARD_LISTEN`, `KEYWARD_DATA_DIR`, …) are loaded from `.env`
//! into the process environment as before, unless already set. The client's credential
//! variables are not: the client reads them from `./.env` itself, so that `keyward auth
//! status` can tell a key from the real environment apart from one in a `.env` file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const API_KEY: &str = "KEYWARD_API_KEY";
pub const SERVER: &str = "KEYWARD_SERVER";
pub const ORG: &str = "KEYWARD_ORG";

/// The variables that form the client's own `.env` layer.
pub const CLIENT_VARS: &[&str] = &[API_KEY, SERVER, ORG];

/// Replaces `dotenvy::dotenv()` for the server: loads `.env` (found in the current or
/// a parent directory) into the environment, except the client's variables.
pub fn load_server_settings() {
    let Ok(iter) = dotenvy::dotenv_iter() else {
        return;
    };
    for item in iter {
        let Ok((name, value)) = item else {
            // As before: a malformed line stops loading, silently for the server.
            return;
        };
        if CLIENT_VARS.contains(&name.as_str()) || std::env::var_os(&name).is_some() {
            continue;
        }
        std::env::set_var(name, value);
    }
}

/// The client's variables from `./.env` (the current directory only). `Debug` shows
/// which variables were found, never their values.
#[derive(Default)]
pub struct DotEnv {
    pub path: Option<PathBuf>,
    values: HashMap<String, String>,
    /// Why the file could not be read, to warn about it.
    pub problem: Option<String>,
}

impl std::fmt::Debug for DotEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.values.keys().collect();
        names.sort();
        f.debug_struct("DotEnv")
            .field("path", &self.path)
            .field("variables", &names)
            .field("problem", &self.problem)
            .finish()
    }
}

impl DotEnv {
    pub fn read_current_dir() -> Self {
        let path = std::env::current_dir()
            .map(|d| d.join(".env"))
            .unwrap_or_else(|_| PathBuf::from(".env"));
        Self::read(&path)
    }

    pub fn read(path: &Path) -> Self {
        let iter = match dotenvy::from_path_iter(path) {
            Ok(iter) => iter,
            Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Self::default()
            }
            Err(e) => {
                return Self {
                    path: Some(path.to_owned()),
                    values: HashMap::new(),
                    problem: Some(describe(&e)),
                }
            }
        };
        let mut values = HashMap::new();
        let mut problem = None;
        for item in iter {
            match item {
                Ok((name, value)) => {
                    if CLIENT_VARS.contains(&name.as_str()) {
                        values.insert(name, value);
                    }
                }
                Err(e) => {
                    problem = Some(describe(&e));
                    break;
                }
            }
        }
        Self {
            path: Some(path.to_owned()),
            values,
            problem,
        }
    }

    /// A non-empty value of one of the client's variables.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// dotenvy's parse errors quote the offending line, which may hold a secret: say only
/// where the problem is.
fn describe(e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(_, index) => {
            format!("it cannot be parsed near character {index}")
        }
        dotenvy::Error::Io(io) => io.to_string(),
        _ => "it cannot be read".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_client_variables_are_kept_and_parse_errors_hide_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "KEYWARD_API_KEY=kw_pat_x\nKEYWARD_SERVER=\"http://h:1\"\nOTHER=1\nKEYWARD_ORG=\n",
        )
        .unwrap();
        let env = DotEnv::read(&path);
        assert_eq!(env.get(API_KEY), Some("kw_pat_x"));
        assert!(!format!("{env:?}").contains("kw_pat_x"));
        assert_eq!(env.get(SERVER), Some("http://h:1"));
        assert_eq!(env.get(ORG), None);
        assert_eq!(env.get("OTHER"), None);
        assert!(env.problem.is_none());

        std::fs::write(&path, "KEYWARD_API_KEY='kw_pat_secret\n").unwrap();
        let env = DotEnv::read(&path);
        let problem = env.problem.unwrap();
        assert!(!problem.contains("secret"), "{problem}");

        assert!(DotEnv::read(&dir.path().join("missing")).path.is_none());
    }
}
