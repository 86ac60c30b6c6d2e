//! REPLIKIT_DCS and REPLIKIT_DCS_TTL: the consensus store that decides
//! which node may take writes (etcd v3), and the leader lease's length
//! (pure).

use std::time::Duration;

use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use rustls::ClientConfig;

use crate::config::peers::{self, Peer};

/// Where the store is and how long a leader's lease lasts.
#[derive(Debug, Clone)]
pub struct DcsSettings {
    pub endpoints: Vec<Peer>,
    pub ttl: Duration,
    /// etcds://: TLS to every member, checked against REPLIKIT_DCS_CA.
    pub tls: Option<Arc<ClientConfig>>,
    /// REPLIKIT_DCS_USER and its password, where etcd has accounts.
    pub login: Option<EtcdLogin>,
}

/// An etcd user and its password.
#[derive(Clone, PartialEq, Eq)]
pub struct EtcdLogin {
    pub user: String,
    pub password: String,
}

/// Never the password.
impl std::fmt::Debug for EtcdLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EtcdLogin {{ user: {:?}, password: <hidden> }}",
            self.user
        )
    }
}

/// The etcd log-in from REPLIKIT_DCS_USER and REPLIKIT_DCS_PASSWORD: both
/// or neither; an error naming the one missing.
pub fn login(user: Option<String>, password: Option<String>) -> Result<Option<EtcdLogin>> {
    match (user, password) {
        (None, None) => Ok(None),
        (Some(user), Some(password)) if !user.is_empty() && !password.is_empty() => {
            Ok(Some(EtcdLogin { user, password }))
        }
        (Some(user), _) if user.is_empty() => bail!("REPLIKIT_DCS_USER is empty; give the etcd user's name, or unset it"),
        (Some(_), _) => bail!("REPLIKIT_DCS_USER is set but REPLIKIT_DCS_PASSWORD is not (or is empty); give the etcd user's password in REPLIKIT_DCS_PASSWORD_FILE"),
        (None, Some(_)) => bail!("REPLIKIT_DCS_PASSWORD is set but REPLIKIT_DCS_USER is not; give the etcd user's name"),
    }
}

/// Settings compare by what was set; two TLS configurations from the
/// same file are the same.
impl PartialEq for DcsSettings {
    fn eq(&self, other: &DcsSettings) -> bool {
        self.endpoints == other.endpoints
            && self.ttl == other.ttl
            && self.tls.is_some() == other.tls.is_some()
            && self.login == other.login
    }
}

impl Eq for DcsSettings {}

/// `etcd://HOST[:PORT],HOST[:PORT],...` (port 2379 unless given), or
/// `etcds://...` for TLS (true).
pub fn parse_endpoints(text: &str) -> Result<(Vec<Peer>, bool)> {
    let (list, tls) = match (text.strip_prefix("etcd://"), text.strip_prefix("etcds://")) {
        (Some(list), _) => (list, false),
        (_, Some(list)) => (list, true),
        _ => bail!("{text:?} is not an etcd address list; give etcd://HOST:PORT,HOST:PORT,... (etcds:// for TLS)"),
    };
    Ok((peers::parse_list(list.trim_end_matches('/'), 2379)?, tls))
}

/// The TLS configuration for etcds://, from REPLIKIT_DCS_CA (`ca`): an
/// error naming what is missing or wrong.
pub fn tls(tls: bool, ca: Option<&str>) -> Result<Option<Arc<ClientConfig>>> {
    match (tls, ca) {
        (false, None) => Ok(None),
        (false, Some(_)) => bail!("REPLIKIT_DCS_CA is set but REPLIKIT_DCS is etcd://, without TLS; write etcds:// to use it"),
        (true, None) => bail!("REPLIKIT_DCS is etcds:// but REPLIKIT_DCS_CA is not set; point it at the PEM file of the CA that signed etcd's certificates"),
        (true, Some(ca)) => Ok(Some(crate::db::wire::tls::verifying_config(ca, "REPLIKIT_DCS_CA")?)),
    }
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
    fn the_etcd_login_needs_both_halves_and_hides_the_password() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(login(None, None).unwrap(), None);
        let both = login(s("replikit"), s("Etcd-pw!")).unwrap().unwrap();
        assert_eq!(both.user, "replikit");
        assert!(!format!("{both:?}").contains("Etcd-pw!"));
        for (user, password, names) in [
            (s("replikit"), None, "REPLIKIT_DCS_PASSWORD"),
            (s("replikit"), s(""), "REPLIKIT_DCS_PASSWORD"),
            (None, s("Etcd-pw!"), "REPLIKIT_DCS_USER"),
            (s(""), s("Etcd-pw!"), "REPLIKIT_DCS_USER is empty"),
        ] {
            let e = login(user, password).unwrap_err().to_string();
            assert!(e.contains(names) && !e.contains("Etcd-pw!"), "{e}");
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
            assert_eq!(
                &parse_endpoints(text).unwrap(),
                &(want.clone(), false),
                "{text}"
            );
        }
        assert_eq!(
            parse_endpoints("etcds://etcd1,etcd2:2381").unwrap(),
            (vec![endpoint("etcd1", 2379), endpoint("etcd2", 2381)], true)
        );
    }

    #[test]
    fn tls_needs_its_ca_and_the_ca_needs_tls() {
        assert!(tls(false, None).unwrap().is_none());
        let e = tls(true, None).unwrap_err().to_string();
        assert!(e.contains("REPLIKIT_DCS_CA is not set"), "{e}");
        let e = tls(false, Some("/ca.pem")).unwrap_err().to_string();
        assert!(e.contains("etcds://"), "{e}");
        let e = format!("{:#}", tls(true, Some("/nonexistent/ca.pem")).unwrap_err());
        assert!(
            e.starts_with("REPLIKIT_DCS_CA: cannot read /nonexistent/ca.pem"),
            "{e}"
        );
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
        let e = parse_endpoints("https://etcd1").unwrap_err().to_string();
        assert!(e.contains("etcds:// for TLS"), "{e}");
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
