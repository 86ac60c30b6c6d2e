//! Choosing this node's address among its interfaces (pure).
//!
//! Swarm tasks have overlay, ingress and gwbridge addresses, so "the" address
//! must be chosen by a rule that gives the same answer on every start:
//! 1. the first interface address inside `REPLIKIT_SUBNET`, if given;
//! 2. else the first address the hostname maps to in /etc/hosts that is on a
//!    local interface (what `hostname -i` prints in a container);
//! 3. else the first non-loopback, non-link-local IPv4 address;
//! 4. else the first such IPv6 address (IPv6-only containers).
//!
//! "First" is the kernel's interface order, which is stable for a container.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use anyhow::{anyhow, bail, Result};

/// One address of one network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddr {
    pub interface: String,
    pub addr: IpAddr,
}

/// An IPv4 or IPv6 network in CIDR notation, such as `10.0.1.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn is_ipv6(&self) -> bool {
        self.network.is_ipv6()
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| anyhow!("{s:?} is not in CIDR form like 10.0.1.0/24"))?;
        let network: IpAddr = addr
            .parse()
            .map_err(|_| anyhow!("{addr:?} in {s:?} is not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max && !prefix.starts_with('+'))
            .ok_or_else(|| anyhow!("prefix length {prefix:?} in {s:?} must be 0..={max}"))?;
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Why an address was chosen; logged so operators can follow the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Subnet(Cidr),
    Hostname(String),
    FirstIpv4,
    FirstIpv6,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Subnet(c) => write!(f, "first interface address in REPLIKIT_SUBNET {c}"),
            Reason::Hostname(h) => write!(f, "hostname {h} maps to it in the hosts file"),
            Reason::FirstIpv4 => f.write_str("first non-loopback, non-link-local IPv4 address"),
            Reason::FirstIpv6 => f.write_str("no usable IPv4; first global IPv6 address"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub addr: IpAddr,
    pub interface: String,
    pub reason: Reason,
}

/// Neither loopback, link-local nor unspecified.
pub fn is_usable(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => !a.is_loopback() && !a.is_link_local() && !a.is_unspecified(),
        // fe80::/10 is link-local; is_unicast_link_local is not stable on our MSRV.
        IpAddr::V6(a) => {
            !a.is_loopback() && !a.is_unspecified() && (a.segments()[0] & 0xffc0) != 0xfe80
        }
    }
}

/// Chooses the node's address. `hostname_addrs` are the hosts-file entries
/// for this hostname, in file order.
pub fn choose(
    interfaces: &[InterfaceAddr],
    subnet: Option<&Cidr>,
    hostname: &str,
    hostname_addrs: &[IpAddr],
) -> Result<Chosen> {
    let pick = |i: &InterfaceAddr, reason: Reason| Chosen {
        addr: i.addr,
        interface: i.interface.clone(),
        reason,
    };
    if let Some(net) = subnet {
        return interfaces
            .iter()
            .find(|i| net.contains(i.addr))
            .map(|i| pick(i, Reason::Subnet(*net)))
            .ok_or_else(|| {
                anyhow!(
                    "REPLIKIT_SUBNET {net} matches no interface address (have: {}); set it to the network of the interface to use",
                    list(interfaces)
                )
            });
    }
    for addr in hostname_addrs.iter().filter(|a| is_usable(**a)) {
        if let Some(i) = interfaces.iter().find(|i| i.addr == *addr) {
            return Ok(pick(i, Reason::Hostname(hostname.to_string())));
        }
    }
    if let Some(i) = interfaces
        .iter()
        .find(|i| i.addr.is_ipv4() && is_usable(i.addr))
    {
        return Ok(pick(i, Reason::FirstIpv4));
    }
    if let Some(i) = interfaces
        .iter()
        .find(|i| i.addr.is_ipv6() && is_usable(i.addr))
    {
        return Ok(pick(i, Reason::FirstIpv6));
    }
    bail!(
        "no usable network address (have: {}); attach a network or set REPLIKIT_SERVER_ID",
        list(interfaces)
    )
}

fn list(interfaces: &[InterfaceAddr]) -> String {
    if interfaces.is_empty() {
        return "none".into();
    }
    interfaces
        .iter()
        .map(|i| format!("{}={}", i.interface, i.addr))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifs(list: &[(&str, &str)]) -> Vec<InterfaceAddr> {
        list.iter()
            .map(|(n, a)| InterfaceAddr {
                interface: n.to_string(),
                addr: a.parse().unwrap(),
            })
            .collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A Swarm task: loopback, overlay, ingress-less gwbridge, in kernel order.
    fn swarm() -> Vec<InterfaceAddr> {
        ifs(&[
            ("lo", "127.0.0.1"),
            ("eth0", "10.0.1.5"),
            ("eth1", "172.18.0.3"),
            ("lo", "::1"),
            ("eth0", "fe80::42:aff:fe00:105"),
        ])
    }

    #[test]
    fn subnet_wins_over_everything() {
        let net: Cidr = "172.18.0.0/16".parse().unwrap();
        let c = choose(&swarm(), Some(&net), "abc", &[ip("10.0.1.5")]).unwrap();
        assert_eq!((c.addr, c.interface.as_str()), (ip("172.18.0.3"), "eth1"));
        assert_eq!(c.reason, Reason::Subnet(net));
    }

    #[test]
    fn subnet_that_matches_nothing_is_an_error_listing_addresses() {
        let net: Cidr = "192.168.0.0/24".parse().unwrap();
        let err = choose(&swarm(), Some(&net), "abc", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("REPLIKIT_SUBNET 192.168.0.0/24"), "{err}");
        assert!(err.contains("eth0=10.0.1.5"), "{err}");
    }

    #[test]
    fn hostname_entry_on_a_local_interface_wins_over_order() {
        let c = choose(&swarm(), None, "abc", &[ip("172.18.0.3")]).unwrap();
        assert_eq!(c.addr, ip("172.18.0.3"));
        assert_eq!(c.reason, Reason::Hostname("abc".into()));
    }

    #[test]
    fn hostname_entries_not_on_an_interface_or_loopback_are_skipped() {
        let c = choose(&swarm(), None, "abc", &[ip("127.0.1.1"), ip("10.9.9.9")]).unwrap();
        assert_eq!((c.addr, c.reason), (ip("10.0.1.5"), Reason::FirstIpv4));
    }

    #[test]
    fn first_ipv4_skips_loopback_and_link_local() {
        let list = ifs(&[
            ("lo", "127.0.0.1"),
            ("eth0", "169.254.3.4"),
            ("eth1", "10.2.0.9"),
            ("eth2", "10.1.0.1"),
        ]);
        let c = choose(&list, None, "x", &[]).unwrap();
        assert_eq!((c.addr, c.interface.as_str()), (ip("10.2.0.9"), "eth1"));
    }

    #[test]
    fn ipv6_only_container_uses_first_global_ipv6() {
        let list = ifs(&[("lo", "::1"), ("eth0", "fe80::1"), ("eth0", "fd00:1::7")]);
        let c = choose(&list, None, "x", &[]).unwrap();
        assert_eq!((c.addr, c.reason), (ip("fd00:1::7"), Reason::FirstIpv6));
    }

    #[test]
    fn ipv4_is_preferred_even_when_ipv6_comes_first() {
        let list = ifs(&[("eth0", "fd00::7"), ("eth0", "10.0.0.7")]);
        assert_eq!(choose(&list, None, "x", &[]).unwrap().addr, ip("10.0.0.7"));
    }

    #[test]
    fn no_usable_address_is_an_error() {
        let list = ifs(&[("lo", "127.0.0.1"), ("lo", "::1")]);
        let err = choose(&list, None, "x", &[]).unwrap_err().to_string();
        assert!(err.contains("no usable network address"), "{err}");
        assert!(choose(&[], None, "x", &[])
            .unwrap_err()
            .to_string()
            .contains("none"));
    }

    #[test]
    fn choice_is_deterministic_for_the_same_input() {
        let a = choose(&swarm(), None, "abc", &[]).unwrap();
        for _ in 0..10 {
            assert_eq!(choose(&swarm(), None, "abc", &[]).unwrap(), a);
        }
    }

    #[test]
    fn cidr_parsing_and_membership() {
        let net: Cidr = "10.0.1.0/24".parse().unwrap();
        assert!(net.contains(ip("10.0.1.255")));
        assert!(!net.contains(ip("10.0.2.0")));
        assert!(!net.contains(ip("fd00::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("1.2.3.4")));
        let host: Cidr = "10.0.0.1/32".parse().unwrap();
        assert!(host.contains(ip("10.0.0.1")) && !host.contains(ip("10.0.0.2")));
        let v6: Cidr = "fd00:1::/64".parse().unwrap();
        assert!(v6.contains(ip("fd00:1::9")) && !v6.contains(ip("fd00:2::9")));
        assert!("::/0".parse::<Cidr>().unwrap().contains(ip("fd00::1")));
        for bad in [
            "",
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/24",
            "fd00::/129",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "x/8",
            "10.0.0.0/",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
    }
}
