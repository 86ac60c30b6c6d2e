//! This node's identity: its server-id, the address it came from and the
//! report_host. `gather` reads the machine; `decide` is pure. Beneath:
//! the id rules (`server_id`), choosing the address (`address`, from
//! `interfaces` and `hosts`), and handing the id to the server through
//! its option file (`option_file`: `mycnf` edits, `atomic_file` writes).

pub mod address;
pub mod atomic_file;
pub mod hosts;
pub mod interfaces;
pub mod mycnf;
pub mod option_file;
pub mod server_id;

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, Result};

use crate::config::settings::IdentitySettings;
use crate::exit_code::{self, Fatal, OrExit};
use address::{Chosen, InterfaceAddr};
use server_id::Rule;

/// What the machine tells us, gathered in one place so `decide` stays pure.
#[derive(Debug, Clone)]
pub struct HostFacts {
    pub hostname: String,
    pub interfaces: Vec<InterfaceAddr>,
    pub hosts_addrs: Vec<IpAddr>,
}

/// This node's identity from its settings and the machine, with the exit
/// code each kind of failure deserves.
pub fn identify(s: &IdentitySettings) -> Result<Identity, Fatal> {
    let facts = gather(s).or_exit(exit_code::OS_ERROR)?;
    decide(s, &facts).or_exit(exit_code::USAGE)
}

pub fn gather(s: &IdentitySettings) -> Result<HostFacts> {
    let hosts_file: &Path = &s.hosts_file;
    let subnet_is_ipv6 = s.subnet.is_some_and(|n| n.is_ipv6());
    let hostname = nix::unistd::gethostname()
        .context("cannot read the hostname")?
        .to_string_lossy()
        .into_owned();
    let mut interfaces = interfaces::ipv4()?;
    let hosts_addrs = match atomic_file::read_optional(hosts_file) {
        Ok(Some(bytes)) => hosts::addresses_of(&String::from_utf8_lossy(&bytes), &hostname),
        Ok(None) => Vec::new(),
        Err(e) => {
            log::warn!("{e:#}; choosing the address without it");
            Vec::new()
        }
    };
    // IPv6 matters only for an IPv6 subnet, an IPv6 hosts entry, or a host
    // without a usable IPv4 address; reading it costs a /proc file.
    let wants_ipv6 = subnet_is_ipv6
        || hosts_addrs.iter().any(IpAddr::is_ipv6)
        || !interfaces.iter().any(|i| address::is_usable(i.addr));
    if wants_ipv6 {
        interfaces.extend(interfaces::ipv6());
    }
    Ok(HostFacts {
        hostname,
        interfaces,
        hosts_addrs,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdSource {
    Explicit,
    Rule(Rule),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub server_id: u32,
    pub source: IdSource,
    pub address: Option<Chosen>,
    pub report_host: String,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server-id={}", self.server_id)?;
        match &self.address {
            Some(a) => write!(f, " address={} interface={}", a.addr, a.interface)?,
            None => write!(f, " address=none")?,
        }
        match self.source {
            IdSource::Explicit => write!(f, " rule=explicit")?,
            IdSource::Rule(r) => write!(f, " rule={r}")?,
        }
        write!(f, " report-host={}", self.report_host)?;
        if let Some(a) = &self.address {
            write!(f, " (address: {})", a.reason)?;
        }
        Ok(())
    }
}

pub fn decide(s: &IdentitySettings, facts: &HostFacts) -> Result<Identity> {
    let choice = || {
        address::choose(
            &facts.interfaces,
            s.subnet.as_ref(),
            &facts.hostname,
            &facts.hosts_addrs,
        )
    };
    let needs_address = s.explicit_id.is_none() && s.rule != Rule::Ordinal;
    // An explicit subnet that matches nothing is a mistake even when the id
    // does not depend on the address.
    let address = if needs_address || s.subnet.is_some() {
        Some(choice()?)
    } else {
        choice().ok()
    };
    let (server_id, source) = match (s.explicit_id, s.rule, &address) {
        (Some(id), _, _) => (id, IdSource::Explicit),
        (None, Rule::Ordinal, _) => (
            server_id::from_ordinal(&facts.hostname, s.ordinal_offset)
                .context("REPLIKIT_SERVER_ID_RULE=ordinal")?,
            IdSource::Rule(Rule::Ordinal),
        ),
        (None, rule, Some(a)) => {
            let id = match rule {
                Rule::Octets => server_id::from_octets(a.addr),
                _ => server_id::from_ip(a.addr),
            };
            (
                id.with_context(|| format!("REPLIKIT_SERVER_ID_RULE={rule}"))?,
                IdSource::Rule(rule),
            )
        }
        (None, _, None) => unreachable!("address is required for rules ip and octets"),
    };
    let report_host = s
        .report_host
        .clone()
        .or_else(|| address.as_ref().map(|a| a.addr.to_string()))
        .unwrap_or_else(|| facts.hostname.clone());
    Ok(Identity {
        server_id,
        source,
        address,
        report_host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::address::Reason;
    use std::path::PathBuf;

    fn facts(hostname: &str, ifs: &[(&str, &str)], hosts: &[&str]) -> HostFacts {
        HostFacts {
            hostname: hostname.into(),
            interfaces: ifs
                .iter()
                .map(|(n, a)| InterfaceAddr {
                    interface: n.to_string(),
                    addr: a.parse().unwrap(),
                })
                .collect(),
            hosts_addrs: hosts.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    fn settings() -> IdentitySettings {
        IdentitySettings {
            explicit_id: None,
            rule: Rule::Ip,
            ordinal_offset: 100,
            subnet: None,
            report_host: None,
            hosts_file: PathBuf::from("/etc/hosts"),
        }
    }

    #[test]
    fn ip_rule_uses_the_hostname_address() {
        let f = facts(
            "c1",
            &[
                ("lo", "127.0.0.1"),
                ("eth0", "10.0.1.5"),
                ("eth1", "172.18.0.3"),
            ],
            &["172.18.0.3"],
        );
        let id = decide(&settings(), &f).unwrap();
        assert_eq!(id.server_id, 2_886_860_803);
        assert_eq!(id.report_host, "172.18.0.3");
        assert_eq!(id.address.unwrap().reason, Reason::Hostname("c1".into()));
    }

    #[test]
    fn octets_rule_on_x_y_0_0_is_an_error_naming_the_rule() {
        let f = facts("c1", &[("eth0", "10.1.0.0")], &[]);
        let s = IdentitySettings {
            rule: Rule::Octets,
            ..settings()
        };
        let err = format!("{:#}", decide(&s, &f).unwrap_err());
        assert!(err.starts_with("REPLIKIT_SERVER_ID_RULE=octets"), "{err}");
    }

    #[test]
    fn explicit_id_wins_and_needs_no_address() {
        let f = facts("c1", &[("lo", "127.0.0.1")], &[]);
        let s = IdentitySettings {
            explicit_id: Some(7),
            ..settings()
        };
        let id = decide(&s, &f).unwrap();
        assert_eq!(
            (id.server_id, id.source, id.report_host.as_str()),
            (7, IdSource::Explicit, "c1")
        );
    }

    #[test]
    fn ordinal_rule_uses_the_hostname() {
        let f = facts("mysql-3", &[("eth0", "10.244.1.9")], &[]);
        let s = IdentitySettings {
            rule: Rule::Ordinal,
            ..settings()
        };
        let id = decide(&s, &f).unwrap();
        assert_eq!((id.server_id, id.report_host.as_str()), (103, "10.244.1.9"));
        let bad = facts("mysql", &[("eth0", "10.244.1.9")], &[]);
        assert!(format!("{:#}", decide(&s, &bad).unwrap_err())
            .contains("REPLIKIT_SERVER_ID_RULE=ordinal"));
    }

    #[test]
    fn a_subnet_that_matches_nothing_fails_even_with_an_explicit_id() {
        let f = facts("c1", &[("eth0", "10.0.0.2")], &[]);
        let s = IdentitySettings {
            explicit_id: Some(7),
            subnet: Some("192.168.1.0/24".parse().unwrap()),
            ..settings()
        };
        assert!(decide(&s, &f)
            .unwrap_err()
            .to_string()
            .contains("REPLIKIT_SUBNET"));
    }

    #[test]
    fn report_host_setting_wins() {
        let f = facts("c1", &[("eth0", "10.0.0.2")], &[]);
        let s = IdentitySettings {
            report_host: Some("db-a".into()),
            ..settings()
        };
        let id = decide(&s, &f).unwrap();
        assert_eq!(id.report_host, "db-a");
        assert_eq!(
            id.to_string(),
            "server-id=167772162 address=10.0.0.2 interface=eth0 rule=ip report-host=db-a \
             (address: first non-loopback, non-link-local IPv4 address)"
        );
    }
}
