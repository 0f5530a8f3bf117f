//! Where deliveries may go. Never to link-local addresses (169.254.0.0/16 with the
//! clouds' metadata services, fe80::/10), unspecified, multicast or broadcast ones;
//! and, unless the operator allows it (`webhooks.allow_private_destinations`), not to
//! loopback, private (RFC 1918, fc00::/7) or shared (100.64.0.0/10) ones either: with
//! organizations open to anyone, a destination would otherwise let a tenant's admin
//! reach the server's own network. Checked on the URL when an endpoint is written, and
//! on every address a name resolves to when a delivery connects (so a name that
//! resolves elsewhere later, DNS rebinding, is caught too).

use std::net::{IpAddr, SocketAddr};

/// Metadata services that answer outside link-local ranges: Alibaba's (in 100.64/10),
/// Azure's WireServer, AWS's IPv6 one (in fc00::/7).
const METADATA: [IpAddr; 3] = [
    IpAddr::V4(std::net::Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V4(std::net::Ipv4Addr::new(168, 63, 129, 16)),
    IpAddr::V6(std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];

const PRIVATE: &str =
    "a loopback or private address (allowed by webhooks.allow_private_destinations)";

/// The IPv4 address an IPv6 one carries: mapped (`::ffff:a.b.c.d`), compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) or 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_v4(a: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = a.segments();
    let tail =
        || std::net::Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = a.to_ipv4_mapped() {
        Some(v4)
    } else if (s[..6] == [0, 0, 0, 0, 0, 0] && !(s[6] == 0 && s[7] <= 1))
        || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
    {
        Some(tail())
    } else if s[0] == 0x2002 {
        Some(std::net::Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ))
    } else {
        None
    }
}

/// Why `ip` is not a destination, if it is not.
pub fn forbidden(ip: IpAddr, allow_private: bool) -> Option<&'static str> {
    if METADATA.contains(&ip) {
        return Some("a cloud metadata address");
    }
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            if a.is_unspecified() || a.is_broadcast() || a.is_multicast() || o[0] == 0 {
                Some("an unspecified, broadcast or multicast address")
            } else if a.is_link_local() {
                Some("a link-local address (cloud metadata services live there)")
            } else if !allow_private
                && (a.is_loopback()
                    || a.is_private()
                    // shared (CGNAT), IETF protocol assignments, benchmarking, reserved
                    || (o[0] == 100 && (o[1] & 0xc0) == 64)
                    || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                    || (o[0] == 198 && (o[1] & 0xfe) == 18)
                    || o[0] >= 240)
            {
                Some(PRIVATE)
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            if let Some(v4) = embedded_v4(a) {
                return forbidden(IpAddr::V4(v4), allow_private);
            }
            let s = a.segments();
            if a.is_unspecified() || a.is_multicast() {
                Some("an unspecified or multicast address")
            } else if (s[0] & 0xffc0) == 0xfe80 {
                Some("a link-local address (cloud metadata services live there)")
            } else if !allow_private
                && (a.is_loopback()
                    || (s[0] & 0xfe00) == 0xfc00
                    // NAT64 for local use (RFC 8215)
                    || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1))
            {
                Some(PRIVATE)
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
                Err(PRIVATE)
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
