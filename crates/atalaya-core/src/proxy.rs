//! The client's address behind trusted reverse proxies (`server.trusted_proxies`). A request
//! from a trusted proxy is attributed to the right-most address of `X-Forwarded-For` that is
//! not itself a trusted proxy; from anyone else, the header is ignored (it is the client's to
//! forge).

use std::net::IpAddr;

/// Addresses and networks (`10.0.0.0/8`, `::1`) whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => (u128::from(u32::from(v4)), 32),
            None => (u128::from(v6), 128),
        },
    }
}

impl TrustedProxies {
    /// Parses entries; the error names the entry's index and the problem.
    pub fn parse(entries: &[String]) -> Result<Self, (usize, String)> {
        let mut nets = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let (addr, len) = match e.split_once('/') {
                Some((a, l)) => (a, Some(l)),
                None => (e.as_str(), None),
            };
            let ip: IpAddr = addr.trim().parse().map_err(|_| {
                (
                    i,
                    format!("'{e}' is not an IP address or network like 10.0.0.0/8"),
                )
            })?;
            let max = bits(ip).1;
            let len = match len {
                None => max,
                Some(l) => l
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| (i, format!("'{e}': the prefix length must be 0 to {max}")))?,
            };
            nets.push((ip, len));
        }
        Ok(TrustedProxies(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (b, width) = bits(ip);
        self.0.iter().any(|&(net, len)| {
            let (n, w) = bits(net);
            if w != width {
                return false;
            }
            let shift = u32::from(w - len);
            shift >= 128 || (b >> shift) == (n >> shift)
        })
    }

    /// The client of a request from `peer` carrying these `X-Forwarded-For` values.
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = forwarded_for
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|h| h.trim().parse().ok())
            .collect();
        // Right to left: the first hop not ours is the client; all ours = the left-most.
        hops.iter()
            .rev()
            .find(|ip| !self.contains(**ip))
            .or_else(|| hops.first())
            .copied()
            .unwrap_or(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_matches_networks() {
        let p = t(&["10.0.0.0/8", "::1", "192.168.1.7"]);
        assert!(p.contains(ip("10.200.3.4")));
        assert!(!p.contains(ip("11.0.0.1")));
        assert!(p.contains(ip("::1")));
        assert!(p.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped");
        assert!(p.contains(ip("192.168.1.7")) && !p.contains(ip("192.168.1.8")));
        assert!(t(&["0.0.0.0/0"]).contains(ip("8.8.8.8")));
        let bad = TrustedProxies::parse(&["10.0.0.0/33".into()]).unwrap_err();
        assert_eq!(bad.0, 0);
        assert!(TrustedProxies::parse(&["proxy.local".into()]).is_err());
    }

    #[test]
    fn client_is_the_first_untrusted_hop_from_the_right() {
        let p = t(&["10.0.0.0/8"]);
        // Behind our proxy: the forged left-most entry is not believed.
        assert_eq!(
            p.client(ip("10.0.0.2"), &["6.6.6.6, 203.0.113.9, 10.0.0.5"]),
            ip("203.0.113.9")
        );
        // Several headers are one list.
        assert_eq!(
            p.client(ip("10.0.0.2"), &["6.6.6.6", "203.0.113.9"]),
            ip("203.0.113.9")
        );
        // Straight from a client: the header is ignored.
        assert_eq!(
            p.client(ip("198.51.100.1"), &["203.0.113.9"]),
            ip("198.51.100.1")
        );
        // No header, or garbage: the proxy itself.
        assert_eq!(p.client(ip("10.0.0.2"), &["nonsense"]), ip("10.0.0.2"));
        assert_eq!(p.client(ip("10.0.0.2"), &[]), ip("10.0.0.2"));
    }
}
