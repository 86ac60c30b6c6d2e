//! The server-id rules: pure functions from an address or a hostname to a
//! MySQL/MariaDB `server_id`. No I/O here, so every edge is unit-tested.
//!
//! A valid id is in 1..=4294967295: 0 means "replication disabled" to the
//! server, so a rule that yields 0 is an error, never a silent fallback.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use anyhow::{anyhow, bail, Result};

/// How the id is derived when no explicit `REPLIKIT_SERVER_ID` is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The whole IPv4 address as a 32-bit number (low 32 bits for IPv6).
    Ip,
    /// The legacy scripts' `octet3 * 256 + octet4` (last two bytes for IPv6).
    Octets,
    /// `offset + N` from a hostname ending in `-N` (StatefulSet pods).
    Ordinal,
}

impl Rule {
    pub const NAMES: &'static str = "ip, octets, ordinal";
}

impl FromStr for Rule {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ip" => Ok(Rule::Ip),
            "octets" => Ok(Rule::Octets),
            "ordinal" => Ok(Rule::Ordinal),
            other => bail!("unknown rule {other:?}: use one of {}", Rule::NAMES),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::Ip => "ip",
            Rule::Octets => "octets",
            Rule::Ordinal => "ordinal",
        })
    }
}

/// Parses an explicit id: digits only, 1..=4294967295.
pub fn parse_explicit(text: &str) -> Result<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        bail!("{text:?} is not a whole number in 1..=4294967295");
    }
    let id: u32 = text
        .parse()
        .map_err(|_| anyhow!("{text} is larger than 4294967295, the largest server-id"))?;
    if id == 0 {
        bail!("0 disables replication on the server; use a number in 1..=4294967295");
    }
    Ok(id)
}

/// `ip` rule. IPv4: the address as a number, which is unique per address.
/// IPv6: the low 32 bits, unique among hosts of one subnet of /96 or longer
/// (Docker and Kubernetes hand out IPv6 addresses within one such prefix).
pub fn from_ip(addr: IpAddr) -> Result<u32> {
    let id = match addr {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(v6) => u128::from(v6) as u32,
    };
    if id == 0 {
        bail!("address {addr} gives server-id 0 under rule ip; set REPLIKIT_SERVER_ID");
    }
    Ok(id)
}

/// `octets` rule, as the legacy add-server-id.sh computed it.
pub fn from_octets(addr: IpAddr) -> Result<u32> {
    let (hi, lo) = match addr {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            (o[2], o[3])
        }
        IpAddr::V6(v6) => {
            let o = v6.octets();
            (o[14], o[15])
        }
    };
    let id = u32::from(hi) * 256 + u32::from(lo);
    if id == 0 {
        bail!("address {addr} gives server-id 0 under rule octets; use rule ip");
    }
    Ok(id)
}

/// `ordinal` rule: `offset + N` where the hostname's first label ends in `-N`.
pub fn from_ordinal(hostname: &str, offset: u32) -> Result<u32> {
    let label = hostname.split('.').next().unwrap_or_default();
    let ordinal = label
        .rsplit_once('-')
        .map(|(_, n)| n)
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            anyhow!(
                "hostname {hostname:?} does not end in -N (like mysql-0), which rule ordinal needs"
            )
        })?;
    let ordinal: u32 = ordinal
        .parse()
        .map_err(|_| anyhow!("ordinal in hostname {hostname:?} is larger than 4294967295"))?;
    let id = offset.checked_add(ordinal).ok_or_else(|| {
        anyhow!("offset {offset} + ordinal {ordinal} from {hostname:?} exceeds 4294967295")
    })?;
    if id == 0 {
        bail!("offset 0 + ordinal 0 from {hostname:?} gives server-id 0; raise REPLIKIT_ORDINAL_OFFSET");
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn explicit_accepts_the_full_range() {
        assert_eq!(parse_explicit("1").unwrap(), 1);
        assert_eq!(parse_explicit("4294967295").unwrap(), u32::MAX);
        assert_eq!(parse_explicit("007").unwrap(), 7);
    }

    #[test]
    fn explicit_rejects_bad_values() {
        for bad in [
            "",
            "0",
            "-1",
            "4294967296",
            "abc",
            " 5",
            "5 ",
            "+5",
            "1e3",
            "99999999999999999999",
        ] {
            assert!(parse_explicit(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn ip_rule_table() {
        let cases = [
            ("0.0.0.1", Some(1)),
            ("10.0.0.5", Some(167_772_165)),
            ("10.1.1.5", Some(167_837_957)),
            ("10.0.1.5", Some(167_772_421)),
            ("172.18.0.0", Some(2_886_860_800)),
            ("255.255.255.255", Some(u32::MAX)),
            ("0.0.0.0", None),
        ];
        for (addr, want) in cases {
            assert_eq!(from_ip(v4(addr)).ok(), want, "{addr}");
        }
    }

    #[test]
    fn octets_rule_matches_the_seed_and_rejects_zero() {
        let cases = [
            ("10.0.1.5", Some(261)),
            ("10.1.1.5", Some(261)),
            ("172.18.0.2", Some(2)),
            ("1.2.255.255", Some(65_535)),
            ("10.0.0.0", None),
            ("192.168.0.0", None),
        ];
        for (addr, want) in cases {
            assert_eq!(from_octets(v4(addr)).ok(), want, "{addr}");
        }
    }

    #[test]
    fn ipv6_rules_use_the_low_bits() {
        let a: IpAddr = "fd00::1:2".parse().unwrap();
        assert_eq!(from_ip(a).unwrap(), 0x0001_0002);
        assert_eq!(from_octets(a).unwrap(), 2);
        let b: IpAddr = "fd00:dead:beef::ffff:ffff".parse().unwrap();
        assert_eq!(from_ip(b).unwrap(), u32::MAX);
        let zero: IpAddr = "fd00::1:0:0".parse().unwrap();
        assert!(from_ip(zero).is_err());
        assert!(from_octets(zero).is_err());
        assert!(from_ip(IpAddr::V6(Ipv6Addr::UNSPECIFIED)).is_err());
    }

    #[test]
    fn ordinal_rule_table() {
        let cases = [
            ("mysql-0", 100, Some(100)),
            ("mysql-7", 100, Some(107)),
            ("db-primary-12", 0, Some(12)),
            ("mysql-0.mysql.default.svc.cluster.local", 1, Some(1)),
            ("mysql-0", 0, None),
            ("mysql", 100, None),
            ("mysql-", 100, None),
            ("mysql-a", 100, None),
            ("", 100, None),
            ("mysql-4294967295", 1, None),
            ("mysql-4294967296", 0, None),
            ("mysql-4294967295", 0, Some(u32::MAX)),
        ];
        for (host, offset, want) in cases {
            assert_eq!(from_ordinal(host, offset).ok(), want, "{host} + {offset}");
        }
    }

    #[test]
    fn rule_names_round_trip() {
        for rule in [Rule::Ip, Rule::Octets, Rule::Ordinal] {
            assert_eq!(rule.to_string().parse::<Rule>().unwrap(), rule);
        }
        assert!("IP".parse::<Rule>().is_err());
        assert!("random".parse::<Rule>().is_err());
    }

    proptest! {
        #[test]
        fn ip_rule_is_injective_and_never_zero(a: u32, b: u32) {
            let (ia, ib) = (IpAddr::V4(Ipv4Addr::from(a)), IpAddr::V4(Ipv4Addr::from(b)));
            match (from_ip(ia), from_ip(ib)) {
                (Ok(x), Ok(y)) => { prop_assert!(x != 0); prop_assert_eq!(x == y, a == b); }
                (Err(_), _) => prop_assert_eq!(a, 0),
                (_, Err(_)) => prop_assert_eq!(b, 0),
            }
        }

        #[test]
        fn explicit_round_trips(n in 1u32..) {
            prop_assert_eq!(parse_explicit(&n.to_string()).unwrap(), n);
        }
    }
}
