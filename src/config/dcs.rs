//! REPLIKIT_DCS and REPLIKIT_DCS_TTL: the consensus store that decides
//! which node may take writes (etcd v3), and the leader lease's length
//! (pure).

use std::time::Duration;

use anyhow::{anyhow, bail, Result};

use crate::config::peers::{self, Peer};

/// Where the store is and how long a leader's lease lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcsSettings {
    pub endpoints: Vec<Peer>,
    pub ttl: Duration,
}

/// `etcd://HOST[:PORT],HOST[:PORT],...` (port 2379 unless given).
pub fn parse_endpoints(text: &str) -> Result<Vec<Peer>> {
    let Some(list) = text.strip_prefix("etcd://") else {
        if text.starts_with("etcds://") || text.starts_with("https://") {
            bail!("{text:?}: TLS to etcd is not supported yet; give etcd://HOST:PORT,... on a private network");
        }
        bail!("{text:?} is not an etcd address list; give etcd://HOST:PORT,HOST:PORT,...");
    };
    peers::parse_list(list.trim_end_matches('/'), 2379)
}

/// Whole seconds, from 3 (a renewal every second) up to an hour.
pub fn parse_ttl(text: &str) -> Result<Duration> {
    let seconds: u64 = text
        .parse()
        .ok()
        .filter(|s| (3..=3600).contains(s))
        .ok_or_else(|| anyhow!("{text:?} is not a number of seconds from 3 to 3600"))?;
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(host: &str, port: u16) -> Peer {
        Peer {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn endpoints_with_and_without_ports() {
        let cases: &[(&str, Vec<Peer>)] = &[
            ("etcd://etcd1", vec![endpoint("etcd1", 2379)]),
            (
                "etcd://etcd1:2379,etcd2:22379,10.0.0.3",
                vec![
                    endpoint("etcd1", 2379),
                    endpoint("etcd2", 22379),
                    endpoint("10.0.0.3", 2379),
                ],
            ),
            ("etcd://[fd00::5]:2380/", vec![endpoint("fd00::5", 2380)]),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_endpoints(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn bad_endpoints_say_what_to_give() {
        for bad in [
            "etcd1:2379",
            "http://etcd1",
            "etcd://",
            "etcd://etcd1:0",
            "etcd://a b:x",
        ] {
            let e = format!("{:#}", parse_endpoints(bad).unwrap_err());
            assert!(!e.contains('\n'), "{bad}: {e}");
        }
        let e = parse_endpoints("etcds://etcd1").unwrap_err().to_string();
        assert!(e.contains("not supported"), "{e}");
    }

    #[test]
    fn ttl_bounds() {
        assert_eq!(parse_ttl("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_ttl("3").unwrap(), Duration::from_secs(3));
        for bad in ["2", "0", "3601", "10s", "", "-5"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }
}
