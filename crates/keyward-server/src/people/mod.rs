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
    /// Reverse proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`):
    /// without them, every visitor behind a proxy has the proxy's address, for the
    /// sign-in throttle and the sessions list alike.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Settings {
    /// The client's address: the peer's, or, when the peer is a trusted proxy, the
    /// nearest address in `X-Forwarded-For` that is not one of them.
    pub fn client_ip(
        &self,
        peer: Option<std::net::IpAddr>,
        headers: &axum::http::HeaderMap,
    ) -> Option<std::net::IpAddr> {
        let peer = peer?;
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in forwarded.iter().rev() {
            match hop.parse::<std::net::IpAddr>() {
                Ok(ip) if self.trusted_proxies.contains(&ip) => continue,
                Ok(ip) => return Some(ip),
                Err(_) => break,
            }
        }
        Some(peer)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            timeouts: session::Timeouts::default(),
            public_url: None,
            link_lifetime: chrono::Duration::hours(24),
            trusted_proxies: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_trusted_proxy_may_name_the_client() {
        let proxy: std::net::IpAddr = "10.0.0.2".parse().unwrap();
        let settings = Settings {
            trusted_proxies: vec![proxy],
            ..Settings::default()
        };
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7".parse().unwrap());
        assert_eq!(
            settings.client_ip(Some(proxy), &h),
            Some("203.0.113.7".parse().unwrap()),
            "the nearest hop the proxy saw, not what the client claimed before it"
        );
        let stranger: std::net::IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(settings.client_ip(Some(stranger), &h), Some(stranger));
        assert_eq!(
            Settings::default().client_ip(Some(proxy), &h),
            Some(proxy),
            "no trusted proxies: the header is ignored"
        );
    }
}
