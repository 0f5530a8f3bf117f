//! Which key and which server a command uses, and where each came from.
//!
//! Key: `--token` > `KEYWARD_API_KEY` in the environment > `KEYWARD_API_KEY` in
//! `./.env` > the stored login. Server: `--server` > `KEYWARD_SERVER` (environment, then
//! `.env`) > the stored login's server > `http://127.0.0.1:8080`.

use super::credentials::{self, StoredLogin};
use super::dotenv::{self, DotEnv};
use super::failure::{Failure, EXIT_AUTH};
use super::output;
use super::resolved::{Resolved, Source};
use keyward_client::{ApiKey, Client, DEFAULT_SERVER};
use std::cell::{Cell, RefCell};
use std::path::PathBuf;

/// What to tell someone whose key the server marked deprecated.
pub fn deprecation_message(d: &keyward_client::Deprecation) -> String {
    let mut message = "the server marked this key as deprecated (legacy token)".to_owned();
    // `Warning: 299 keyward "…"`: the quoted text says what to use instead.
    if let Some(text) = d
        .warning
        .as_deref()
        .and_then(|w| w.split_once('"'))
        .map(|(_, rest)| rest.trim_end_matches('"'))
    {
        message = format!("{message}: {text}");
    }
    if let Some(sunset) = &d.sunset {
        message.push_str(&format!("; it stops working after {sunset}"));
    }
    message.push_str(": create a personal access token or a service-account key and log in with it (`keyward auth login`)");
    if let Some(link) = &d.link {
        message.push_str(&format!(" — see {link}"));
    }
    message
}

/// The options every client command takes.
#[derive(Clone, Default, clap::Args)]
pub struct ConnArgs {
    /// API key for this command; overrides KEYWARD_API_KEY, .env and the stored login
    #[arg(long, global = true, value_name = "KEY")]
    pub token: Option<String>,
    /// Keyward server URL [default: KEYWARD_SERVER, the stored login's, or http://127.0.0.1:8080]
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Print JSON instead of text, for scripts
    #[arg(long, global = true)]
    pub json: bool,
}

impl std::fmt::Debug for ConnArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnArgs")
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("server", &self.server)
            .field("json", &self.json)
            .finish()
    }
}

/// Everything a command needs to know before it talks to the server.
pub struct Context {
    pub conn: ConnArgs,
    pub dotenv: DotEnv,
    pub stored_path: Option<PathBuf>,
    stored: Option<StoredLogin>,
    /// Why the stored login could not be read, if it could not.
    pub stored_problem: Option<String>,
    /// The clients this command made, to report deprecation signals once at the end.
    clients: RefCell<Vec<Client>>,
    deprecation_reported: Cell<bool>,
}

/// A connected command: the context, what it resolved to, and a client for it. Each
/// command module adds its own lookups in its own `impl Session`.
pub struct Session<'a> {
    pub ctx: &'a Context,
    pub resolved: Resolved,
    pub client: Client,
}

impl<'a> Session<'a> {
    pub fn open(ctx: &'a Context) -> Result<Self, Failure> {
        let (resolved, client) = ctx.connect()?;
        Ok(Self {
            ctx,
            resolved,
            client,
        })
    }

    /// An API failure, with hints that name the key and server in use.
    pub fn fail(&self, e: keyward_client::Error) -> Failure {
        Failure::client(&e, &self.resolved)
    }

    pub fn json(&self) -> bool {
        self.ctx.json()
    }
}

/// Whether two server URLs name the same server (after normalising).
fn same_server(a: &str, b: &str) -> bool {
    match (
        keyward_client::parse_server_url(a),
        keyward_client::parse_server_url(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl Context {
    pub fn new(conn: ConnArgs, dotenv: DotEnv) -> Self {
        let (stored_path, stored, stored_problem) = match credentials::path() {
            Ok(path) => match credentials::load(&path) {
                Ok(stored) => (Some(path), stored, None),
                Err(e) => (Some(path), None, Some(format!("{e:#}"))),
            },
            Err(e) => (None, None, Some(format!("{e:#}"))),
        };
        Self {
            conn,
            dotenv,
            stored_path,
            stored,
            stored_problem,
            clients: RefCell::default(),
            deprecation_reported: Cell::new(false),
        }
    }

    /// The key, server and a client for them.
    pub fn connect(&self) -> Result<(Resolved, Client), Failure> {
        let resolved = self.resolve()?;
        // A mistyped key, or another service's secret in KEYWARD_API_KEY, is caught
        // by the checksum here and never sent.
        if let Err(e) = keyward_client::offline_check(resolved.key.expose_secret()) {
            return Err(Failure::new(
                EXIT_AUTH,
                "malformed_token",
                format!(
                    "the API key from {} is not a Keyward key ({e}); it was not sent",
                    resolved.source.describe()
                ),
            )
            .with_hint(resolved.source.replace_hint()));
        }
        let client = self.client_for(&resolved)?;
        Ok((resolved, client))
    }

    pub fn client_for(&self, resolved: &Resolved) -> Result<Client, Failure> {
        let client = Client::new(&resolved.server, resolved.key.clone())
            .map_err(|e| Failure::client(&e, resolved))?;
        self.clients.borrow_mut().push(client.clone());
        Ok(client)
    }

    /// Call when the command already told the user about a deprecation.
    pub fn deprecation_reported(&self) {
        self.deprecation_reported.set(true);
    }

    /// Warns on stderr if any response carried a `Deprecation` header.
    pub fn warn_deprecation(&self) {
        if self.deprecation_reported.get() {
            return;
        }
        if let Some(d) = self.clients.borrow().iter().find_map(Client::deprecation) {
            output::warn(&deprecation_message(&d));
        }
    }

    /// A stored login is used only when no key comes from the environment or `.env`.
    pub fn warn_if_login_overridden(&self) {
        let overridden = [
            std::env::var(dotenv::API_KEY)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|_| format!("the environment variable {}", dotenv::API_KEY)),
            self.dotenv
                .get(dotenv::API_KEY)
                .and(self.dotenv.path.as_ref())
                .map(|p| format!("{} in {}", dotenv::API_KEY, p.display())),
        ];
        if let Some(over) = overridden.into_iter().flatten().next() {
            output::warn(&format!(
                "{over} is set and takes precedence over this login; unset it to use the stored key"
            ));
        }
    }

    pub fn json(&self) -> bool {
        self.conn.json
    }

    pub fn stored(&self) -> Option<&StoredLogin> {
        self.stored.as_ref()
    }

    fn dotenv_source(&self, var: &'static str) -> Source {
        Source::DotEnv {
            var,
            path: self.dotenv.path.clone().unwrap_or_else(|| ".env".into()),
        }
    }

    /// The server to talk to, ignoring the stored login (for `auth login`).
    pub fn explicit_server(&self) -> Option<(String, Source)> {
        if let Some(s) = &self.conn.server {
            return Some((s.clone(), Source::Flag { flag: "--server" }));
        }
        if let Some(s) = env_var(dotenv::SERVER) {
            return Some((
                s,
                Source::Env {
                    var: dotenv::SERVER,
                },
            ));
        }
        self.dotenv
            .get(dotenv::SERVER)
            .map(|s| (s.to_owned(), self.dotenv_source(dotenv::SERVER)))
    }

    pub fn server(&self) -> (String, Source) {
        if let Some(found) = self.explicit_server() {
            return found;
        }
        if let (Some(stored), Some(path)) = (&self.stored, &self.stored_path) {
            return (
                stored.server.clone(),
                Source::StoredLogin { path: path.clone() },
            );
        }
        (DEFAULT_SERVER.to_owned(), Source::Default)
    }

    /// The organization the user expects (`KEYWARD_ORG`), if set.
    pub fn org(&self) -> Option<(String, Source)> {
        if let Some(o) = env_var(dotenv::ORG) {
            return Some((o, Source::Env { var: dotenv::ORG }));
        }
        self.dotenv
            .get(dotenv::ORG)
            .map(|o| (o.to_owned(), self.dotenv_source(dotenv::ORG)))
    }

    /// A key that is unmistakably meant for `server`, for when a server asks for one
    /// (accepting an invitation): `--token` on this command line, `KEYWARD_API_KEY` with
    /// `KEYWARD_SERVER` naming this server in the environment, or the stored login for
    /// this server. Never a key from a `.env` file, nor an environment key meant for
    /// another server: a code's `--server` comes from whoever sent the code, and a
    /// server that answers "identity required" must not collect the user's key.
    pub fn key_bound_to(&self, server: &str) -> Result<Resolved, Failure> {
        let found = if let Some(t) = self.conn.token.as_deref().map(str::trim) {
            if t.is_empty() {
                return Err(Failure::usage("--token is empty"));
            }
            Some((ApiKey::new(t), Source::Flag { flag: "--token" }))
        } else if let (Some(t), Some(s)) = (env_var(dotenv::API_KEY), env_var(dotenv::SERVER)) {
            same_server(&s, server).then(|| {
                (
                    ApiKey::new(t),
                    Source::Env {
                        var: dotenv::API_KEY,
                    },
                )
            })
        } else {
            None
        };
        let found = found.or_else(|| match (&self.stored, &self.stored_path) {
            (Some(stored), Some(path)) if same_server(&stored.server, server) => {
                Some((stored.key(), Source::StoredLogin { path: path.clone() }))
            }
            _ => None,
        });
        let Some((key, source)) = found else {
            let elsewhere = match &self.stored {
                Some(stored) => format!("; the stored login is for {}", stored.server),
                None => String::new(),
            };
            return Err(Failure::new(
                EXIT_AUTH,
                "not_logged_in",
                format!(
                    "no key for {server} was given on the command line or stored for it{elsewhere}"
                ),
            ));
        };
        if let Err(e) = keyward_client::offline_check(key.expose_secret()) {
            return Err(Failure::new(
                EXIT_AUTH,
                "malformed_token",
                format!(
                    "the API key from {} is not a Keyward key ({e}); it was not sent",
                    source.describe()
                ),
            ));
        }
        Ok(Resolved {
            key,
            source,
            server: server.to_owned(),
            server_source: Source::Flag { flag: "--server" },
            org: None,
        })
    }

    /// The key to use, by precedence, or the "not logged in" failure.
    pub fn resolve(&self) -> Result<Resolved, Failure> {
        let (key, source) = if let Some(t) = self.conn.token.as_deref().map(str::trim) {
            if t.is_empty() {
                return Err(Failure::usage("--token is empty"));
            }
            (ApiKey::new(t), Source::Flag { flag: "--token" })
        } else if let Some(t) = env_var(dotenv::API_KEY) {
            (
                ApiKey::new(t),
                Source::Env {
                    var: dotenv::API_KEY,
                },
            )
        } else if let Some(t) = self.dotenv.get(dotenv::API_KEY) {
            (ApiKey::new(t), self.dotenv_source(dotenv::API_KEY))
        } else if let (Some(stored), Some(path)) = (&self.stored, &self.stored_path) {
            // Like gh's per-host tokens: the stored key goes only to the server it was
            // stored for, so a stray KEYWARD_SERVER (say, in a cloned repo's .env)
            // cannot send it elsewhere.
            let (server, server_source) = self.server();
            if !same_server(&server, &stored.server) {
                return Err(Failure::new(
                    EXIT_AUTH,
                    "not_logged_in",
                    format!(
                        "not logged in to {server}: the stored login is for {}",
                        stored.server
                    ),
                )
                .with_hint(format!(
                    "the server came from {}; log in to it with `keyward auth login --server {server}`, or pass --token",
                    server_source.describe()
                )));
            }
            (stored.key(), Source::StoredLogin { path: path.clone() })
        } else {
            return Err(Failure::not_logged_in(self.stored_problem.as_deref()));
        };
        let (server, server_source) = self.server();
        Ok(Resolved {
            key,
            source,
            server,
            server_source,
            org: self.org(),
        })
    }
}
