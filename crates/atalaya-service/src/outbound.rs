//! Where pipeline `http` steps may connect: allow-list entries with their ports, and no
//! loopback, private, link-local or metadata address unless the host is listed in
//! `pipelines.http_private_hosts` (an internal API the operator vouches for).
//!
//! The check is made where the connection is made: the HTTP client resolves names through
//! [`PublicOnly`], so a name that resolves to an internal address (or is re-pointed there
//! between a check and the connection, DNS rebinding) cannot be reached. Redirects are not
//! followed.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `entry` (`host`, `host:port` or `*.domain`) allows `host` on `port`. An entry
/// without a port allows the scheme's default port only.
pub fn entry_allows(entry: &str, host: &str, port: u16, default_port: u16) -> bool {
    let (name, entry_port) = split_port(entry);
    let port_ok = match entry_port {
        Some(p) => p == port,
        None => port == default_port,
    };
    port_ok && name_matches(name, host)
}

/// `host` is `name`, or a subdomain of `*.domain`.
fn name_matches(name: &str, host: &str) -> bool {
    match name.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
        None => name.eq_ignore_ascii_case(host),
    }
}

/// `host[:port]`, IPv6 literals in brackets.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((ip, tail)) = rest.split_once(']') {
            return (ip, tail.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(p) => (h, Some(p)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

/// Whether `host` is one of `entries` by name (any port; the resolver does not know the port,
/// which the allow-list check has enforced already): may it resolve to internal addresses.
pub fn private_allowed(entries: &[String], host: &str) -> bool {
    entries.iter().any(|e| name_matches(split_port(e).0, host))
}

/// A public unicast address: not loopback, private (RFC 1918, unique-local), shared (CGNAT),
/// link-local (cloud metadata lives there: 169.254.169.254, fd00:ec2::254 is unique-local),
/// unspecified, broadcast, multicast, documentation or benchmarking space. IPv4-mapped and
/// -compatible IPv6 addresses are judged as their IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped().or_else(|| compatible_v4(v6)) {
                return public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b)) // NAT64 to IPv4, which may be internal
        }
    }
}

/// `::a.b.c.d` (deprecated IPv4-compatible form), not `::` or `::1`.
fn compatible_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    (s[..6].iter().all(|&x| x == 0) && (s[6] != 0 || s[7] > 1)).then(|| {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    })
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// The message when a host leads only to internal addresses.
pub fn refused(host: &str) -> String {
    format!(
        "host '{host}' resolves to a loopback, private, link-local or metadata address; http steps may reach it only if it is listed in pipelines.http_private_hosts"
    )
}

/// A resolver that drops internal addresses unless the name is a private-allowed host.
pub struct PublicOnly {
    pub private_hosts: Arc<Vec<String>>,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let internal_ok = private_allowed(&self.private_hosts, &host);
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let addrs: Vec<SocketAddr> =
                found.filter(|a| internal_ok || is_public(a.ip())).collect();
            if addrs.is_empty() {
                return Err(refused(&host).into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(
                !is_public(ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))),
                "{ip}"
            );
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(
                is_public(ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))),
                "{ip}"
            );
        }
    }

    #[test]
    fn entries_name_their_ports() {
        assert!(entry_allows("api.example.com", "api.example.com", 443, 443));
        assert!(!entry_allows(
            "api.example.com",
            "api.example.com",
            8443,
            443
        ));
        assert!(entry_allows(
            "api.example.com:8443",
            "api.example.com",
            8443,
            443
        ));
        assert!(!entry_allows(
            "api.example.com:8443",
            "api.example.com",
            443,
            443
        ));
        assert!(entry_allows("*.example.com", "crm.example.com", 443, 443));
        assert!(!entry_allows("*.example.com", "example.com", 443, 443));
        assert!(!entry_allows("*.example.com", "evilexample.com", 443, 443));
        assert!(!entry_allows("*.example.com", "crm.example.com", 22, 443));
        assert!(entry_allows("127.0.0.1:9000", "127.0.0.1", 9000, 80));
        assert!(entry_allows("[::1]:9000", "::1", 9000, 80));
        assert!(private_allowed(
            &["orders.internal:8443".into()],
            "orders.internal"
        ));
        assert!(!private_allowed(
            &["orders.internal".into()],
            "other.internal"
        ));
    }
}
