//! Validated settings: the one place where raw option strings become typed
//! values. Every error names the variable (and flag) at fault and what to do.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::address::Cidr;
use crate::cli::{Options, DEFAULT_COMMAND, DEFAULT_HOSTS_FILE};
use crate::db::flavor::Tls;
use crate::hosts::is_host_text;
use crate::prehook;
use crate::server_id::{self, Rule};

/// Where the computed server-id is handed to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Written to the option file (default).
    File,
    /// Appended to the command as `--server-id=N --report-host=H`, for
    /// read-only root filesystems.
    Arg,
    /// Not managed by replikit at all (hooks and supervision only).
    Off,
}

impl FromStr for Via {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "file" => Ok(Via::File),
            "arg" => Ok(Via::Arg),
            "off" => Ok(Via::Off),
            other => bail!("unknown value {other:?}: use file, arg or off"),
        }
    }
}

/// How the server-id is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySettings {
    pub explicit_id: Option<u32>,
    pub rule: Rule,
    pub ordinal_offset: u32,
    pub subnet: Option<Cidr>,
    pub report_host: Option<String>,
    pub hosts_file: PathBuf,
}

/// Where replication set-up finds the local server and whom it lets in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationSettings {
    pub socket: PathBuf,
    pub repl_host: Option<String>,
    pub tls: Tls,
    pub seed: crate::seed::Method,
    /// HAProxy's agent check, when REPLIKIT_AGENT_PORT is set.
    pub agent: Option<AgentSettings>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentSettings {
    pub port: u16,
    pub max_lag: u64,
}

impl FromStr for Tls {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "off" => Ok(Tls::Off),
            "on" => Ok(Tls::On),
            path if path.starts_with('/') && !path.contains('\n') => {
                Ok(Tls::Verify { ca: path.into() })
            }
            other => bail!(
                "unknown value {other:?}: use off, on, or the absolute path of the CA file that signed the source's certificate"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub identity: IdentitySettings,
    pub replication: ReplicationSettings,
    pub via: Via,
    pub cnf: PathBuf,
    pub grace: Duration,
    pub hooks: Vec<Vec<String>>,
    pub command: Vec<OsString>,
}

fn named(env: &str, flag: &str) -> String {
    format!("{env} (--{flag})")
}

impl Settings {
    /// `command`: what followed `--`, or None for the default command.
    pub fn from_options(o: &Options, command: Option<Vec<OsString>>) -> Result<Settings> {
        let explicit_id = o
            .server_id
            .as_deref()
            .map(server_id::parse_explicit)
            .transpose()
            .with_context(|| named("REPLIKIT_SERVER_ID", "server-id"))?;
        let rule = o
            .server_id_rule
            .parse()
            .with_context(|| named("REPLIKIT_SERVER_ID_RULE", "server-id-rule"))?;
        let ordinal_offset = parse_u32(&o.ordinal_offset)
            .with_context(|| named("REPLIKIT_ORDINAL_OFFSET", "ordinal-offset"))?;
        let subnet = o
            .subnet
            .as_deref()
            .map(str::parse)
            .transpose()
            .with_context(|| named("REPLIKIT_SUBNET", "subnet"))?;
        let report_host = o
            .report_host
            .as_deref()
            .map(check_report_host)
            .transpose()
            .with_context(|| named("REPLIKIT_REPORT_HOST", "report-host"))?;
        let via = o
            .server_id_via
            .parse()
            .with_context(|| named("REPLIKIT_SERVER_ID_VIA", "server-id-via"))?;
        let cnf = PathBuf::from(&o.cnf);
        if cnf.file_name().is_none() {
            bail!(
                "{}: {:?} is not a file path; give a path like /etc/mysql/conf.d/replikit.cnf",
                named("REPLIKIT_CNF", "cnf"),
                o.cnf
            );
        }
        let grace = parse_duration(&o.grace).with_context(|| named("REPLIKIT_GRACE", "grace"))?;
        let tls = o
            .repl_ssl
            .parse()
            .with_context(|| named("REPLIKIT_REPL_SSL", "repl-ssl"))?;
        let seed = o
            .seed
            .parse()
            .with_context(|| named("REPLIKIT_SEED", "seed"))?;
        let agent = match &o.agent_port {
            None => None,
            Some(port) => Some(AgentSettings {
                port: port.parse().ok().filter(|p| *p != 0).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: {port:?} is not a port; use 1..=65535",
                        named("REPLIKIT_AGENT_PORT", "agent-port")
                    )
                })?,
                max_lag: o.agent_max_lag.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "{}: {:?} is not a number of seconds; give one like 30",
                        named("REPLIKIT_AGENT_MAX_LAG", "agent-max-lag"),
                        o.agent_max_lag
                    )
                })?,
            }),
        };
        let hooks = o
            .pre
            .iter()
            .map(|t| prehook::split_words(t))
            .collect::<Result<_>>()
            .with_context(|| named("REPLIKIT_PRE", "pre"))?;
        let command = match command {
            None => DEFAULT_COMMAND.iter().map(OsString::from).collect(),
            Some(c) if c.is_empty() => {
                bail!("no command after --: give one (replikit -- docker-entrypoint.sh mysqld) or drop the --")
            }
            Some(c) => c,
        };
        Ok(Settings {
            identity: IdentitySettings {
                explicit_id,
                rule,
                ordinal_offset,
                subnet,
                report_host,
                hosts_file: check_hosts_file(&o.hosts_file)
                    .with_context(|| named("REPLIKIT_HOSTS_FILE", "hosts-file"))?,
            },
            replication: ReplicationSettings {
                socket: PathBuf::from(&o.socket),
                repl_host: o
                    .repl_host
                    .as_deref()
                    .map(check_account_host)
                    .transpose()
                    .with_context(|| named("REPLIKIT_REPL_HOST", "repl-host"))?,
                tls,
                seed,
                agent,
            },
            via,
            cnf,
            grace,
            hooks,
            command,
        })
    }
}

fn parse_u32(text: &str) -> Result<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        bail!("{text:?} is not a whole number in 0..=4294967295");
    }
    text.parse()
        .map_err(|_| anyhow!("{text} is larger than 4294967295"))
}

/// A report_host goes into an option file and into SHOW REPLICAS: keep it to
/// hostname and address characters so it can never break the file.
fn check_report_host(host: &str) -> Result<String> {
    if !is_host_text(host, b":", 255) {
        bail!("{host:?} is not a host name or address (letters, digits, . - _ : only, up to 255)");
    }
    Ok(host.to_string())
}

/// A hosts file given on purpose must be there: a typo would otherwise
/// go unnoticed, and the address be chosen without the file.
fn check_hosts_file(path: &OsStr) -> Result<PathBuf> {
    let path = PathBuf::from(path);
    if path != Path::new(DEFAULT_HOSTS_FILE) && !path.exists() {
        bail!(
            "{} does not exist; point it at a hosts file, or unset it to use {DEFAULT_HOSTS_FILE}",
            path.display()
        );
    }
    Ok(path)
}

/// The host part of the replication account ('10.0.%.%', a name, an
/// address with a netmask) goes into CREATE USER: a pattern's characters
/// only, so that it is never something else.
fn check_account_host(host: &str) -> Result<String> {
    if !is_host_text(host, b":%/", 255) {
        bail!("{host:?} is not an account host pattern (letters, digits, . - _ : % / only, as in 10.0.%.%)");
    }
    Ok(host.to_string())
}

/// Seconds, optionally with a unit: `5`, `2.5`, `5s`, `500ms`. At most a day.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else {
        (text, 1.0)
    };
    let valid = !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && number.bytes().filter(|b| *b == b'.').count() <= 1
        && number != ".";
    let seconds = number
        .parse::<f64>()
        .ok()
        .filter(|_| valid)
        .map(|n| n * scale)
        .ok_or_else(|| anyhow!("{text:?} is not a duration like 5, 2.5s or 500ms"))?;
    if seconds > 86_400.0 {
        bail!("{text:?} is longer than a day");
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    #[test]
    fn an_account_host_is_a_pattern_and_nothing_else() {
        for good in [
            "10.0.%.%",
            "%",
            "db.example",
            "10.0.0.0/255.255.0.0",
            "fd00::%",
        ] {
            assert_eq!(check_account_host(good).unwrap(), good);
        }
        for bad in ["", "a b", "10.0.%.%'", "x;y", "a\"b"] {
            assert!(check_account_host(bad).is_err(), "{bad}");
        }
    }

    fn options(args: &[&str]) -> Options {
        let mut argv = vec!["replikit"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap().options
    }

    fn settings(args: &[&str]) -> Result<Settings> {
        Settings::from_options(&options(args), None)
    }

    fn error(args: &[&str]) -> String {
        format!("{:#}", settings(args).unwrap_err())
    }

    #[test]
    fn defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.identity.rule, Rule::Ip);
        assert_eq!(s.identity.explicit_id, None);
        assert_eq!(s.identity.ordinal_offset, 100);
        assert_eq!(s.via, Via::File);
        assert_eq!(s.cnf, PathBuf::from("/etc/mysql/conf.d/replikit.cnf"));
        assert_eq!(s.grace, Duration::from_secs(5));
        assert_eq!(s.command, ["docker-entrypoint.sh", "mysqld"]);
        assert!(s.hooks.is_empty());
        assert_eq!(s.replication.tls, Tls::Off);
        let on = settings(&["--repl-ssl", "on"]).unwrap();
        assert_eq!(on.replication.tls, Tls::On);
        let ca = settings(&["--repl-ssl", "/etc/mysql/ca.pem"]).unwrap();
        assert_eq!(
            ca.replication.tls,
            Tls::Verify {
                ca: "/etc/mysql/ca.pem".into()
            }
        );
    }

    #[test]
    fn every_bad_value_names_its_setting() {
        let cases: &[(&[&str], &str)] = &[
            (&["--server-id", "0"], "REPLIKIT_SERVER_ID"),
            (&["--server-id=-1"], "REPLIKIT_SERVER_ID"),
            (&["--server-id", "4294967296"], "REPLIKIT_SERVER_ID"),
            (&["--server-id", "abc"], "REPLIKIT_SERVER_ID"),
            (&["--server-id-rule", "random"], "REPLIKIT_SERVER_ID_RULE"),
            (&["--ordinal-offset=-5"], "REPLIKIT_ORDINAL_OFFSET"),
            (&["--subnet", "10.0.0.0"], "REPLIKIT_SUBNET"),
            (&["--subnet", "10.0.0.0/40"], "REPLIKIT_SUBNET"),
            (&["--report-host", "a b"], "REPLIKIT_REPORT_HOST"),
            (&["--report-host", "a#b"], "REPLIKIT_REPORT_HOST"),
            (&["--server-id-via", "env"], "REPLIKIT_SERVER_ID_VIA"),
            (&["--cnf", "/"], "REPLIKIT_CNF"),
            (&["--grace", "soon"], "REPLIKIT_GRACE"),
            (&["--grace=-1"], "REPLIKIT_GRACE"),
            (&["--pre", "echo 'open"], "REPLIKIT_PRE"),
            (&["--repl-ssl", "yes"], "REPLIKIT_REPL_SSL"),
            (&["--repl-ssl", "ca.pem"], "REPLIKIT_REPL_SSL"),
            (&["--repl-ssl", ""], "REPLIKIT_REPL_SSL"),
        ];
        for (args, var) in cases {
            let msg = error(args);
            assert!(msg.starts_with(var), "{args:?}: {msg}");
            assert!(!msg.contains('\n'), "{args:?}: {msg}");
        }
    }

    #[test]
    fn explicit_id_and_hooks_are_parsed() {
        let s = settings(&[
            "--server-id",
            "4294967295",
            "--pre",
            "echo 'a b'",
            "--pre",
            "true",
        ])
        .unwrap();
        assert_eq!(s.identity.explicit_id, Some(u32::MAX));
        assert_eq!(
            s.hooks,
            vec![vec!["echo".to_string(), "a b".into()], vec!["true".into()]]
        );
    }

    #[test]
    fn empty_command_after_dashes_is_an_error() {
        let err = Settings::from_options(&options(&[]), Some(vec![])).unwrap_err();
        assert!(err.to_string().contains("no command after --"), "{err}");
        let s = Settings::from_options(&options(&[]), Some(vec!["sh".into()])).unwrap();
        assert_eq!(s.command, ["sh"]);
    }

    #[test]
    fn durations() {
        let ok = [
            ("5", 5000),
            ("0", 0),
            ("2.5", 2500),
            ("2.5s", 2500),
            ("500ms", 500),
            ("0.1", 100),
            ("86400", 86_400_000),
        ];
        for (text, ms) in ok {
            assert_eq!(
                parse_duration(text).unwrap(),
                Duration::from_millis(ms),
                "{text}"
            );
        }
        for bad in [
            "", "s", "ms", ".", "-1", "1.2.3", "5m", "1e3", "nan", "inf", "86401", " 5",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
