//! Where outbound calls may go: a deny list of IP networks, and an allow list of networks that
//! are exempt from it.
//!
//! The policy is enforced on the addresses a call actually connects to, after DNS resolution
//! (see [`crate::Http`]), so a connector URL whose name later resolves elsewhere (DNS rebinding)
//! is held to the same rule as an IP literal.
//!
//! The default deny list holds what no identity provider lives on and what a server-side request
//! forgery is after: link-local networks (the cloud metadata services at 169.254.169.254 and
//! `fe80::/10`), the other metadata and platform addresses of the big clouds, "this network"
//! (`0.0.0.0/8`, `::`), multicast and broadcast. Loopback and private networks are allowed by
//! default: tests and many deployments run their identity provider there. An operator adds
//! networks to the deny list (`10.0.0.0/8`, `127.0.0.0/8`, ...) and exempts what is really
//! needed through the allow list; an allowed network wins over a denied one.
//!
//! IPv4 addresses written in IPv6 form are checked as the IPv4 address: IPv4-mapped
//! (`::ffff:169.254.169.254`), IPv4-compatible (`::169.254.169.254`, except `::` and `::1`)
//! and the NAT64 well-known prefix (`64:ff9b::169.254.169.254`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP network in CIDR notation (`10.0.0.0/8`, `fe80::/10`); a bare address is a network of
/// that one address (`/32` or `/128`). The host bits must be zero. An IPv4-mapped IPv6 network
/// (`::ffff:10.0.0.0/104`) is kept as the IPv4 network it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

/// Why a text is not an [`IpNetwork`]; the text names the offending entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{entry}` is not an IP address or CIDR network: {reason}")]
pub struct InvalidNetwork {
    entry: String,
    reason: String,
}

impl InvalidNetwork {
    fn new(entry: &str, reason: impl Into<String>) -> Self {
        // Operator input from a configuration file: short and printable in the message.
        InvalidNetwork {
            entry: crate::error::sanitize(entry, 60),
            reason: reason.into(),
        }
    }
}

impl IpNetwork {
    /// The network of `addr` with `prefix` leading bits. `None` when the prefix is longer than
    /// the address or the host bits are not zero.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let net = IpNetwork { addr, prefix };
        (prefix <= max_prefix(addr) && net.first() == addr).then(|| net.unmapped())
    }

    /// The network's first address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The number of leading bits that name the network.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is inside the network, as written (no IPv4-in-IPv6 unwrapping; the policy
    /// does that).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask_v4(self.prefix);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask_v6(self.prefix);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// A comma-separated list (`10.0.0.0/8, 192.0.2.7, fd00::/8`); blanks around entries and
    /// empty entries are ignored.
    pub fn parse_list(text: &str) -> Result<Vec<IpNetwork>, InvalidNetwork> {
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(str::parse)
            .collect()
    }

    fn first(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask_v4(self.prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask_v6(self.prefix))),
        }
    }

    /// `::ffff:a.b.c.d/n` (n ≥ 96) as `a.b.c.d/(n - 96)`: addresses are checked in that form.
    fn unmapped(self) -> Self {
        match self.addr {
            IpAddr::V6(a) if self.prefix >= 96 => match a.to_ipv4_mapped() {
                Some(v4) => IpNetwork {
                    addr: IpAddr::V4(v4),
                    prefix: self.prefix - 96,
                },
                None => self,
            },
            _ => self,
        }
    }

    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Self {
        IpNetwork {
            addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    const fn v6(segments: [u16; 8], prefix: u8) -> Self {
        let [a, b, c, d, e, f, g, h] = segments;
        IpNetwork {
            addr: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
            prefix,
        }
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for IpNetwork {
    type Err = InvalidNetwork;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let entry = text.trim();
        let (addr_text, prefix_text) = match entry.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (entry, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| InvalidNetwork::new(entry, "expected an address such as 10.0.0.0/8"))?;
        let max = max_prefix(addr);
        let prefix = match prefix_text {
            None => max,
            Some(p) => {
                // Digits only: `u8::from_str` would also take "+8".
                let digits = !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
                match p.parse::<u8>() {
                    Ok(n) if digits && n <= max => n,
                    _ => {
                        return Err(InvalidNetwork::new(
                            entry,
                            format!("the prefix length must be a number from 0 to {max}"),
                        ));
                    }
                }
            }
        };
        let net = IpNetwork { addr, prefix };
        if net.first() != addr {
            return Err(InvalidNetwork::new(
                entry,
                format!(
                    "the host bits are set (the network is {}/{prefix})",
                    net.first()
                ),
            ));
        }
        Ok(net.unmapped())
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The networks denied by default; see the [module documentation](self).
const DEFAULT_DENY: [IpNetwork; 11] = [
    // "This network"; 0.0.0.0 connects to the local host on Linux.
    IpNetwork::v4(0, 0, 0, 0, 8),
    // IPv4 link-local, with the AWS, GCP, Azure, OpenStack and Oracle metadata service at
    // 169.254.169.254 and ECS task metadata at 169.254.170.2.
    IpNetwork::v4(169, 254, 0, 0, 16),
    // Alibaba Cloud's metadata service.
    IpNetwork::v4(100, 100, 100, 200, 32),
    // Azure's wireserver (platform and extension configuration).
    IpNetwork::v4(168, 63, 129, 16, 32),
    // Multicast.
    IpNetwork::v4(224, 0, 0, 0, 4),
    // Limited broadcast.
    IpNetwork::v4(255, 255, 255, 255, 32),
    // The unspecified IPv6 address (connects to the local host).
    IpNetwork::v6([0, 0, 0, 0, 0, 0, 0, 0], 128),
    // IPv6 link-local.
    IpNetwork::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
    // AWS's IPv6 metadata service (Nitro).
    IpNetwork::v6([0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254], 128),
    // IPv6 multicast.
    IpNetwork::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
    // Deprecated site-local, link-local's older sibling.
    IpNetwork::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
];

/// The NAT64 well-known prefix `64:ff9b::/96` (RFC 6052).
const NAT64: IpNetwork = IpNetwork::v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);

/// Which destinations outbound calls may reach: see the [module documentation](self).
/// `Default` is the default deny list and an empty allow list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPolicy {
    deny: Vec<IpNetwork>,
    allow: Vec<IpNetwork>,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        EgressPolicy {
            deny: DEFAULT_DENY.to_vec(),
            allow: Vec::new(),
        }
    }
}

impl EgressPolicy {
    /// The networks denied when nothing is configured.
    pub fn default_denied() -> &'static [IpNetwork] {
        &DEFAULT_DENY
    }

    /// Adds networks to the deny list.
    #[must_use]
    pub fn deny(mut self, networks: impl IntoIterator<Item = IpNetwork>) -> Self {
        self.deny.extend(networks);
        self
    }

    /// Adds networks to the allow list: their addresses pass even when a denied network
    /// contains them.
    #[must_use]
    pub fn allow(mut self, networks: impl IntoIterator<Item = IpNetwork>) -> Self {
        self.allow.extend(networks);
        self
    }

    /// The deny list (the defaults first).
    pub fn denied(&self) -> &[IpNetwork] {
        &self.deny
    }

    /// The allow list.
    pub fn allowed(&self) -> &[IpNetwork] {
        &self.allow
    }

    /// Whether a call may connect to `ip`; the refusal says which network denied it.
    pub fn check(&self, ip: IpAddr) -> Result<(), EgressRefusal> {
        let checked_as = canonical(ip);
        if self.allow.iter().any(|n| n.contains(checked_as)) {
            return Ok(());
        }
        match self.deny.iter().find(|n| n.contains(checked_as)) {
            Some(network) => Err(EgressRefusal {
                address: ip,
                checked_as,
                network: *network,
            }),
            None => Ok(()),
        }
    }
}

/// An IPv4 address in one of its IPv6 disguises, as the IPv4 address; anything else unchanged.
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let bits = u128::from(v6);
    let low = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    // IPv4-compatible `::a.b.c.d`; `::` and `::1` are IPv6's own unspecified and loopback.
    if bits >> 32 == 0 && bits > 1 {
        return IpAddr::V4(low);
    }
    if NAT64.contains(ip) {
        return IpAddr::V4(low);
    }
    ip
}

/// A destination the [`EgressPolicy`] refuses. `Display` says which address and which network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRefusal {
    address: IpAddr,
    checked_as: IpAddr,
    network: IpNetwork,
}

impl EgressRefusal {
    /// The refused address, as resolved or written.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The denied network that contains it.
    pub fn network(&self) -> IpNetwork {
        self.network
    }
}

impl fmt::Display for EgressRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.address)?;
        if self.checked_as != self.address {
            write!(f, " (checked as {})", self.checked_as)?;
        }
        write!(f, " is in the denied network {}", self.network)
    }
}

impl std::error::Error for EgressRefusal {}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNetwork {
        match text.parse() {
            Ok(n) => n,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    fn ip(text: &str) -> IpAddr {
        match text.parse() {
            Ok(a) => a,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    #[test]
    fn parses_cidr_and_bare_addresses() {
        let n = net("10.0.0.0/8");
        assert_eq!((n.addr(), n.prefix()), (ip("10.0.0.0"), 8));
        assert_eq!(net(" 192.0.2.7 ").to_string(), "192.0.2.7/32");
        assert_eq!(net("fe80::/10").to_string(), "fe80::/10");
        assert_eq!(net("::1").to_string(), "::1/128");
        assert_eq!(net("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(net("::/0").to_string(), "::/0");
        assert_eq!(net("10.0.0.0/08").prefix(), 8);
        // IPv4-mapped networks become the IPv4 network.
        assert_eq!(net("::ffff:169.254.0.0/112").to_string(), "169.254.0.0/16");
        assert_eq!(net("::ffff:10.1.2.3").to_string(), "10.1.2.3/32");
    }

    #[test]
    fn rejects_malformed_networks() {
        for bad in [
            "",
            "/8",
            "10.0.0.0/",
            "10.0.0.0/33",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/8/8",
            "10.0.0.0 /8",
            "fe80::/129",
            "10.0.0",
            "010.0.0.1",
            "256.0.0.0/8",
            "example.com",
            "[::1]",
            "10.0.0.0/8,",
        ] {
            assert!(bad.parse::<IpNetwork>().is_err(), "{bad:?} was accepted");
        }
        let e = "10.1.0.0/8".parse::<IpNetwork>().expect_err("host bits");
        assert!(e.to_string().contains("10.0.0.0/8"), "{e}");
        assert!(e.to_string().contains("`10.1.0.0/8`"), "{e}");
        let e = "fe80::1/10".parse::<IpNetwork>().expect_err("host bits");
        assert!(e.to_string().contains("fe80::/10"), "{e}");
        assert_eq!(IpNetwork::new(ip("10.1.0.0"), 8), None);
        assert_eq!(IpNetwork::new(ip("10.0.0.0"), 33), None);
        assert_eq!(IpNetwork::new(ip("10.0.0.0"), 8), Some(net("10.0.0.0/8")));
    }

    #[test]
    fn parses_lists() {
        assert_eq!(
            IpNetwork::parse_list(" 10.0.0.0/8, 192.0.2.7 ,,fd00::/8, ").expect("list"),
            vec![net("10.0.0.0/8"), net("192.0.2.7/32"), net("fd00::/8")]
        );
        assert_eq!(IpNetwork::parse_list("  ").expect("empty"), vec![]);
        let e = IpNetwork::parse_list("10.0.0.0/8, nonsense").expect_err("bad entry");
        assert!(e.to_string().starts_with("`nonsense`"), "{e}");
    }

    #[test]
    fn contains_respects_the_prefix() {
        let n = net("172.16.0.0/12");
        assert!(n.contains(ip("172.16.0.0")));
        assert!(n.contains(ip("172.31.255.255")));
        assert!(!n.contains(ip("172.32.0.0")));
        assert!(!n.contains(ip("172.15.255.255")));
        assert!(
            !n.contains(ip("::ffff:172.16.0.1")),
            "as written, no unwrapping"
        );
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!net("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(net("::/0").contains(ip("2001:db8::1")));
        let n = net("fe80::/10");
        assert!(n.contains(ip("fe80::1")));
        assert!(n.contains(ip("febf:ffff::1")));
        assert!(!n.contains(ip("fec0::1")));
        assert!(net("192.0.2.7").contains(ip("192.0.2.7")));
        assert!(!net("192.0.2.7").contains(ip("192.0.2.8")));
    }

    #[test]
    fn default_policy_denies_metadata_link_local_and_unspecified() {
        let policy = EgressPolicy::default();
        for denied in [
            "169.254.169.254",
            "169.254.170.2",
            "169.254.0.1",
            "100.100.100.200",
            "168.63.129.16",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "::",
            "fe80::1",
            "fe80::a9fe:a9fe",
            "fd00:ec2::254",
            "ff02::1",
            "fec0::1",
        ] {
            assert!(policy.check(ip(denied)).is_err(), "{denied} was allowed");
        }
        for allowed in [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "100.100.100.201",
            "168.63.129.17",
            "169.253.255.255",
            "169.255.0.0",
            "8.8.8.8",
            "2001:4860:4860::8888",
            "fd00:ec2::253",
            "fd12:3456::1",
        ] {
            assert_eq!(policy.check(ip(allowed)), Ok(()), "{allowed} was denied");
        }
    }

    #[test]
    fn ipv4_in_ipv6_is_checked_as_ipv4() {
        let policy = EgressPolicy::default();
        for disguised in [
            "::ffff:169.254.169.254",
            "::ffff:a9fe:a9fe",
            "::169.254.169.254",
            "64:ff9b::169.254.169.254",
            "::ffff:0.0.0.0",
            "::ffff:100.100.100.200",
        ] {
            let refusal = policy.check(ip(disguised)).expect_err(disguised);
            assert_eq!(refusal.address(), ip(disguised));
            assert!(
                refusal.to_string().contains("checked as "),
                "{disguised}: {refusal}"
            );
        }
        let refusal = policy
            .check(ip("::ffff:169.254.169.254"))
            .expect_err("mapped");
        assert_eq!(refusal.network(), net("169.254.0.0/16"));
        assert_eq!(
            refusal.to_string(),
            "::ffff:169.254.169.254 (checked as 169.254.169.254) is in the denied network 169.254.0.0/16"
        );
        // `::1` stays IPv6 loopback, not the IPv4-compatible 0.0.0.1.
        assert_eq!(policy.check(ip("::1")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:127.0.0.1")), Ok(()));

        let strict = EgressPolicy::default().deny([net("10.0.0.0/8"), net("127.0.0.0/8")]);
        for denied in [
            "10.9.8.7",
            "::ffff:10.9.8.7",
            "::10.9.8.7",
            "64:ff9b::a09:807",
            "::ffff:127.0.0.1",
        ] {
            assert!(strict.check(ip(denied)).is_err(), "{denied} was allowed");
        }
        // A denied network written in mapped form denies the IPv4 address too.
        let mapped = EgressPolicy::default().deny([net("::ffff:192.0.2.0/120")]);
        assert!(mapped.check(ip("192.0.2.9")).is_err());
        assert!(mapped.check(ip("::ffff:192.0.2.9")).is_err());
    }

    #[test]
    fn extended_deny_list_and_allow_list() {
        let policy = EgressPolicy::default()
            .deny(IpNetwork::parse_list("10.0.0.0/8, 127.0.0.0/8, ::1").expect("deny"))
            .allow(IpNetwork::parse_list("10.20.0.0/16, 169.254.169.254").expect("allow"));
        assert_eq!(
            policy.denied().len(),
            EgressPolicy::default_denied().len() + 3
        );
        assert_eq!(policy.allowed().len(), 2);

        let refusal = policy.check(ip("10.1.2.3")).expect_err("denied");
        assert_eq!(refusal.network(), net("10.0.0.0/8"));
        assert_eq!(
            refusal.to_string(),
            "10.1.2.3 is in the denied network 10.0.0.0/8"
        );
        assert!(policy.check(ip("127.0.0.1")).is_err());
        assert!(policy.check(ip("::1")).is_err());
        // The allow list wins over both the added and the default deny list...
        assert_eq!(policy.check(ip("10.20.30.40")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:10.20.30.40")), Ok(()));
        assert_eq!(policy.check(ip("169.254.169.254")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:169.254.169.254")), Ok(()));
        // ...for exactly the allowed networks.
        assert!(policy.check(ip("10.21.0.1")).is_err());
        assert!(policy.check(ip("169.254.169.253")).is_err());
        // Addresses no deny entry covers stay allowed.
        assert_eq!(policy.check(ip("192.168.1.1")), Ok(()));
    }
}
