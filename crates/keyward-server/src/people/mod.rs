//! People who sign in to the console (issue 14): their passwords, their sessions'
//! lifetimes, cookies and CSRF tokens, sign-in throttling, and the one-time links that
//! set a password. The console's routes (`crate::console`) build on this.

pub mod links;
pub mod password;
pub mod session;
pub mod throttle;

/// How the console treats people's sessions, set by the operator (`keyward serve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Cookies marked `Secure` with the `__Host-` name: when the console is served over
    /// HTTPS, directly or behind a proxy that terminates it.
    pub secure_cookies: bool,
    pub timeouts: session::Timeouts,
    /// The address people reach this server at (`https://keys.example.com`), for the
    /// links it prints and hands out; `None` uses the address of the request, or the
    /// listen address.
    pub public_url: Option<String>,
    /// How long a password link works.
    pub link_lifetime: chrono::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            timeouts: session::Timeouts::default(),
            public_url: None,
            link_lifetime: chrono::Duration::hours(24),
        }
    }
}
