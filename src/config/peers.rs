//! The cluster's members (REPLIKIT_PEERS) and the admin account that
//! switchover, failover and rejoin use to reach them (pure).

use anyhow::{anyhow, bail, Result};

use crate::config::role::Credentials;
use crate::identity::hosts::is_host_text;

/// The account replikit creates on every node for changing the topology
/// across the network; its password is REPLIKIT_ADMIN_PASSWORD.
pub const ADMIN_USER: &str = "replikit_admin";

/// One entry of REPLIKIT_PEERS: a name (which may stand for several
/// nodes) or an address, and the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// What the high-availability commands need: whom to reach, as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaSettings {
    pub peers: Vec<Peer>,
    pub admin: Credentials,
    /// The consensus store, when REPLIKIT_DCS is set.
    pub dcs: Option<crate::config::dcs::DcsSettings>,
}

/// `db1,db2:3307 [fd00::5]:3306 tasks.mysql`: entries separated by commas
/// or white space, each `HOST`, `HOST:PORT` or `[IPV6]:PORT`.
pub fn parse(text: &str) -> Result<Vec<Peer>> {
    parse_list(text, 3306)
}

/// As `parse`, with another port for entries that give none.
pub fn parse_list(text: &str, default_port: u16) -> Result<Vec<Peer>> {
    let peers = text
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .map(|word| parse_one(word, default_port))
        .collect::<Result<Vec<_>>>()?;
    if peers.is_empty() {
        bail!("no peer given; list the members as HOST[:PORT], separated by commas");
    }
    Ok(peers)
}

fn parse_one(word: &str, default_port: u16) -> Result<Peer> {
    let (host, port) = if let Some(rest) = word.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| anyhow!("{word:?}: an IPv6 address needs its closing ]"))?;
        host.parse::<std::net::Ipv6Addr>()
            .map_err(|_| anyhow!("{word:?}: {host:?} is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| anyhow!("{word:?}: give the port as [ADDRESS]:PORT"))?,
            ),
        };
        (host, port)
    } else {
        match word.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (word, None),
        }
    };
    if !is_host_text(host, b":", 253) {
        bail!("{word:?} is not a host name or address (letters, digits, . - _ only)");
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| anyhow!("{word:?}: {p:?} is not a port; use 1..=65535"))?,
    };
    Ok(Peer {
        host: host.to_string(),
        port,
    })
}

/// The admin account from its password, when high availability is asked
/// for (`peers` given); an error when one is given without the other.
pub fn ha_settings(
    peers: Option<Vec<Peer>>,
    admin_password: Option<String>,
) -> Result<Option<HaSettings>> {
    match (peers, admin_password) {
        (None, _) => Ok(None),
        (Some(_), None) => bail!(
            "REPLIKIT_PEERS is set but REPLIKIT_ADMIN_PASSWORD is not: switchover, failover and rejoin log in to the other members as {ADMIN_USER}; give its password (REPLIKIT_ADMIN_PASSWORD_FILE), the same on every node"
        ),
        (Some(_), Some(p)) if p.is_empty() => {
            bail!("REPLIKIT_ADMIN_PASSWORD is empty; give {ADMIN_USER} a password")
        }
        (Some(peers), Some(password)) => Ok(Some(HaSettings {
            peers,
            admin: Credentials {
                user: ADMIN_USER.to_string(),
                password,
            },
            dcs: None,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(host: &str, port: u16) -> Peer {
        Peer {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn peers_parse() {
        let cases: &[(&str, Vec<Peer>)] = &[
            ("db1", vec![peer("db1", 3306)]),
            ("db1,db2:3307", vec![peer("db1", 3306), peer("db2", 3307)]),
            (
                " db1 , tasks.mysql\n10.0.0.5:3310 ",
                vec![
                    peer("db1", 3306),
                    peer("tasks.mysql", 3306),
                    peer("10.0.0.5", 3310),
                ],
            ),
            (
                "[fd00::5]:3307,[::1]",
                vec![peer("fd00::5", 3307), peer("::1", 3306)],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn bad_peers_are_named() {
        for bad in [
            "",
            " , ",
            "db1:0",
            "db1:x",
            "db1:70000",
            "a b'c",
            "[fd00::5",
            "[nope]:1",
            "[::1]3306",
            "db;1",
            "db1:",
        ] {
            let e = parse(bad).map(|_| ()).unwrap_err().to_string();
            assert!(!e.is_empty(), "{bad}");
        }
    }

    #[test]
    fn peers_need_the_admin_password() {
        assert_eq!(ha_settings(None, Some("x".into())).unwrap(), None);
        let e = ha_settings(Some(vec![peer("a", 1)]), None).unwrap_err();
        assert!(e.to_string().contains("REPLIKIT_ADMIN_PASSWORD"), "{e}");
        assert!(ha_settings(Some(vec![peer("a", 1)]), Some(String::new())).is_err());
        let ha = ha_settings(Some(vec![peer("a", 1)]), Some("pw".into()))
            .unwrap()
            .unwrap();
        assert_eq!(ha.admin.user, ADMIN_USER);
        assert!(!format!("{ha:?}").contains("pw\""));
    }
}
