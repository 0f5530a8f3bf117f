//! Where deliveries may go. Never to link-local addresses (169.254.0.0/16 with the
//! clouds' metadata services, fe80::/10), unspecified, multicast or broadcast ones;
//! and, unless the operator allows it (`webhooks.allow_private_destinations`), not to
//! loopback, private (RFC 1918, fc00::/7) or shared (100.64.0.0/10) ones either: with
//! organizations open to anyone, a destination would otherwise let a tenant's admin
//! reach the server's own network. Checked on the URL when an endpoint is written, and
//! on every address a name resolves to when a delivery connects (so a name that
//! resolves elsewhere later, DNS rebinding, is caught too).

use std::net::{IpAddr, SocketAddr};

/// Why `ip` is not a destination, if it is not.
pub fn forbidden(ip: IpAddr, allow_private: bool) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            if a.is_unspecified() || a.is_broadcast() || a.is_multicast() || o[0] == 0 {
                Some("an unspecified, broadcast or multicast address")
            } else if a.is_link_local() {
                Some("a link-local address (cloud metadata services live there)")
            } else if !allow_private
                && (a.is_loopback() || a.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64))
            {
                Some("a loopback or private address (allowed by webhooks.allow_private_destinations)")
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return forbidden(IpAddr::V4(v4), allow_private);
            }
            let s = a.segments();
            // AWS's IPv6 metadata service sits in fc00::/7.
            if a == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
                return Some("a cloud metadata address");
            }
            if a.is_unspecified() || a.is_multicast() {
                Some("an unspecified or multicast address")
            } else if (s[0] & 0xffc0) == 0xfe80 {
                Some("a link-local address (cloud metadata services live there)")
            } else if !allow_private && (a.is_loopback() || (s[0] & 0xfe00) == 0xfc00) {
                Some("a loopback or private address (allowed by webhooks.allow_private_destinations)")
            } else {
                None
            }
        }
    }
}

/// Why the URL's host is not a destination, for an address given literally (names are
/// checked when they resolve). `localhost` counts as loopback.
pub fn check_host(url: &url::Url, allow_private: bool) -> Result<(), &'static str> {
    match url.host() {
        Some(url::Host::Ipv4(a)) => forbidden(IpAddr::V4(a), allow_private).map_or(Ok(()), Err),
        Some(url::Host::Ipv6(a)) => forbidden(IpAddr::V6(a), allow_private).map_or(Ok(()), Err),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if !allow_private && (d == "localhost" || d.ends_with(".localhost")) {
                Err("a loopback or private address (allowed by webhooks.allow_private_destinations)")
            } else {
                Ok(())
            }
        }
        None => Err("a URL without a host"),
    }
}

/// The resolver of the delivery client: the system's, keeping only allowed addresses.
pub struct GuardedResolver {
    pub allow_private: bool,
}

/// What a refused resolution says (found again in the error chain by the deliverer).
pub const REFUSED: &str = "the destination resolves to no allowed address";

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found
                .filter(|a| forbidden(a.ip(), allow_private).is_none())
                .collect();
            if allowed.is_empty() {
                return Err(REFUSED.into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn metadata_and_link_local_are_never_destinations() {
        for a in [
            "169.254.169.254",
            "fe80::1",
            "fd00:ec2::254",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(forbidden(ip(a), true).is_some(), "{a}");
        }
    }

    #[test]
    fn private_ones_only_when_allowed() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.0.1",
            "100.64.0.1",
            "::1",
            "fd12::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(forbidden(ip(a), false).is_some(), "{a}");
            assert!(forbidden(ip(a), true).is_none(), "{a}");
        }
        for a in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(forbidden(ip(a), false).is_none(), "{a}");
        }
        let local = url::Url::parse("http://localhost:3000/h").unwrap();
        assert!(check_host(&local, false).is_err());
        assert!(check_host(&local, true).is_ok());
        let metadata = url::Url::parse("http://[fe80::1]/").unwrap();
        assert!(check_host(&metadata, true).is_err());
    }
}
