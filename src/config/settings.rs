//! Validated settings: the one place where raw option strings become typed
//! values. Every error names the variable (and flag) at fault and what to do.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::config::cli::Raw;
use crate::config::dcs::{self, DcsSettings};
use crate::config::defs::{self, Def, DEFAULT_CNF, DEFAULT_COMMAND, DEFAULT_HOSTS_FILE};
use crate::config::peers::{self, HaSettings};
use crate::config::role::{self, Inputs, Role};
use crate::config::tls::{is_absolute_path, tls};
use crate::db::dialect::Tls;
use crate::db::local::LocalServer;
use crate::entrykit::chain::{Command, Plan, Step};
use crate::entrykit::words;
use crate::identity::address::Cidr;
use crate::identity::hosts::is_host_text;
use crate::identity::server_id::{self, Rule};
use crate::pid1::supervisor::SignalTo;

/// Where the computed server-id is handed to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerIdVia {
    /// The option file where it can be written; else, when the command
    /// runs the server, arguments (a non-root container). The default.
    Auto,
    /// Written to the option file, or an error.
    File,
    /// Appended to the command as `--server-id=N --report-host=H`, for
    /// read-only root filesystems.
    Arg,
    /// Not managed by replikit at all (hooks and supervision only).
    Off,
}

impl FromStr for ServerIdVia {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(ServerIdVia::Auto),
            "file" => Ok(ServerIdVia::File),
            "arg" => Ok(ServerIdVia::Arg),
            "off" => Ok(ServerIdVia::Off),
            other => bail!("unknown value {other:?}: use auto, file, arg or off"),
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
    /// The source's pinned RSA public key (a path the server reads too).
    pub source_key: Option<String>,
    /// Root-credentials mode may send the root password to a source that
    /// is not verified (REPLIKIT_ROOT_LOGIN_UNVERIFIED=allow).
    pub unverified_root_login: bool,
    /// The salt of derived passwords (REPLIKIT_CLUSTER).
    pub cluster: String,
    pub seed: crate::seed::Method,
    /// Semi-synchronous replication, when it is on (REPLIKIT_SEMI_SYNC).
    pub semi_sync: Option<SemiSync>,
    /// Where a primary serves physical seeds and a replica asks for one
    /// (REPLIKIT_DONOR_PORT); None: off.
    pub donor_port: Option<u16>,
    /// The server's data directory (REPLIKIT_DATADIR).
    pub datadir: PathBuf,
}

/// Semi-synchronous replication's fallback to asynchronous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemiSync {
    /// REPLIKIT_SEMI_SYNC_TIMEOUT: how long commits wait for a replica's
    /// acknowledgement before the primary goes on without.
    pub timeout: Duration,
    /// With REPLIKIT_DCS the keeper falls back, once it has recorded in
    /// etcd that it does (`dcs::leader`), so that no automatic failover
    /// loses what the primary then acknowledges; the server never falls
    /// back by itself.
    pub keeper_decides: bool,
}

impl SemiSync {
    /// The server's own timeout (rpl_semi_sync_source_timeout).
    pub fn server_timeout(&self) -> Duration {
        if self.keeper_decides {
            crate::replication::semi_sync::NEVER
        } else {
            self.timeout
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentSettings {
    pub bind: std::net::IpAddr,
    /// For reads (REPLIKIT_AGENT_PORT) and for writes
    /// (REPLIKIT_AGENT_WRITE_PORT); at least one.
    pub port: Option<u16>,
    pub write_port: Option<u16>,
    pub max_lag: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub identity: IdentitySettings,
    pub replication: ReplicationSettings,
    /// HAProxy's agent check, when REPLIKIT_AGENT_PORT is set.
    pub agent: Option<AgentSettings>,
    pub via: ServerIdVia,
    pub cnf: PathBuf,
    pub grace: Duration,
    pub signal_to: SignalTo,
    /// Run in order before the command: REPLIKIT_PRE's hooks, then an
    /// applet chain's files to render and hooks.
    pub steps: Vec<Step>,
    /// The command to supervise; empty when an applet chain ends with
    /// render alone. Under codep, the task that runs the server, else the
    /// first.
    pub command: Vec<OsString>,
    /// codep's other tasks, run beside the command.
    pub beside: Vec<Vec<OsString>>,
    /// Whether replikit does its MySQL work: server-id, option file, local
    /// account, role, replication. Off only for an applet chain that runs
    /// no server with no MySQL setting present (`mysql_settings_present`).
    pub mysql: bool,
    pub node: NodeSettings,
    /// Switchover, failover and rejoin (REPLIKIT_PEERS and the admin
    /// account); None without peers.
    pub ha: Option<HaSettings>,
}

/// This node as the role contract describes it, read once. A missing or
/// bad role is kept as its error, so that only the commands that need a
/// role fail on it (`server-id` does not; `health` reports "unknown").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSettings {
    role: Result<Role, String>,
    root_password: Result<Option<String>, String>,
    /// The role's inputs, for the start-up log (no secret among them).
    pub inputs_for_log: String,
}

impl NodeSettings {
    pub fn read(inputs: &Inputs) -> NodeSettings {
        let role = role::resolve(inputs).map_err(|e| format!("{e:#}"));
        // The role read it already (a secret file is read once); a node
        // without a role reads it alone.
        let root_password = match &role {
            Ok(role @ (Role::Primary(_) | Role::Replica(_))) => {
                Ok(role.root_password().map(str::to_string))
            }
            _ => role::root_password(inputs).map_err(|e| format!("{e:#}")),
        };
        NodeSettings {
            role,
            root_password,
            inputs_for_log: role::inputs_for_log(inputs.env),
        }
    }

    /// The role, or the one-line reason there is none.
    pub fn role(&self) -> Result<&Role> {
        self.role.as_ref().map_err(|e| anyhow!("{e}"))
    }

    /// replikit's log-in to its own server: its local account, else root
    /// with the local root password (MYSQL_ROOT_PASSWORD or its file; none
    /// when unset).
    pub fn local_server(&self, socket: &Path) -> Result<LocalServer> {
        let password = self.root_password.as_ref().map_err(|e| anyhow!("{e}"))?;
        LocalServer::find(socket, password.as_deref())
    }
}

/// Parses `text`, or an error that names the option.
pub fn parse<T>(raw: &Raw, d: &Def, f: impl FnOnce(&str) -> Result<T>) -> Result<Option<T>> {
    let value = raw.text(d).map_err(|e| anyhow!(e))?;
    value
        .as_deref()
        .map(f)
        .transpose()
        .with_context(|| d.name())
}

/// As `parse`, for an option that has a default.
fn parse_or_default<T>(raw: &Raw, d: &Def, f: impl FnOnce(&str) -> Result<T>) -> Result<T> {
    parse(raw, d, f)?.ok_or_else(|| anyhow!("{} has no value", d.name()))
}

impl Settings {
    /// `command`: what followed `--`, or None for the default command.
    pub fn new(raw: &Raw, inputs: &Inputs, command: Option<Vec<OsString>>) -> Result<Settings> {
        let via = parse_or_default(raw, &defs::SERVER_ID_VIA, str::parse)?;
        let cnf = PathBuf::from(raw.os(&defs::CNF).unwrap_or_default());
        if cnf.file_name().is_none() {
            bail!(
                "{}: {:?} is not a file path; give a path like {DEFAULT_CNF}",
                defs::CNF.name(),
                cnf
            );
        }
        let port = |d: &Def| {
            parse(raw, d, |port| {
                port.parse()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| anyhow!("{port:?} is not a port; use 1..=65535"))
            })
        };
        let (read_port, write_port) = (port(&defs::AGENT_PORT)?, port(&defs::AGENT_WRITE_PORT)?);
        let agent = if read_port.is_none() && write_port.is_none() {
            None
        } else {
            let max_lag = parse_or_default(raw, &defs::AGENT_MAX_LAG, |lag| {
                lag.parse()
                    .map_err(|_| anyhow!("{lag:?} is not a number of seconds; give one like 30"))
            })?;
            let bind = parse_or_default(raw, &defs::AGENT_BIND, |a| {
                a.parse()
                    .map_err(|_| anyhow!("{a:?} is not an IP address; give one like 0.0.0.0"))
            })?;
            if read_port.is_some() && read_port == write_port {
                bail!(
                    "{} and {} are both {}; give them different ports",
                    defs::AGENT_PORT.name(),
                    defs::AGENT_WRITE_PORT.name(),
                    read_port.unwrap_or_default()
                );
            }
            Some(AgentSettings {
                bind,
                port: read_port,
                write_port,
                max_lag,
            })
        };
        let steps = raw
            .texts(&defs::PRE)
            .map_err(|e| anyhow!(e))?
            .iter()
            .map(|t| {
                let argv: Vec<OsString> = words::split_words(t)?
                    .into_iter()
                    .map(OsString::from)
                    .collect();
                Ok(Step::Hook(Command {
                    name: argv[0].to_string_lossy().into_owned(),
                    argv,
                }))
            })
            .collect::<Result<_>>()
            .with_context(|| defs::PRE.name())?;
        let command = match command {
            None => DEFAULT_COMMAND.iter().map(OsString::from).collect(),
            Some(c) if c.is_empty() => {
                bail!("no command after --: give one (replikit -- docker-entrypoint.sh mysqld) or drop the --")
            }
            Some(c) => c,
        };
        let identity = identity(raw)?;
        let mut replication = replication(raw)?;
        let grace = parse_or_default(raw, &defs::GRACE, parse_duration)?;
        let signal_to = parse_or_default(raw, &defs::SIGNAL_TO, str::parse)?;
        let ha = ha_settings(raw, inputs)?;
        if let Some(semi_sync) = &mut replication.semi_sync {
            semi_sync.keeper_decides = ha.as_ref().is_some_and(|ha| ha.dcs.is_some());
        }
        Ok(Settings {
            identity,
            replication,
            agent,
            via,
            cnf,
            grace,
            signal_to,
            steps,
            command,
            beside: Vec::new(),
            mysql: true,
            node: NodeSettings::read(inputs),
            ha,
        })
    }

    /// An applet chain's plan: its steps after REPLIKIT_PRE's, its
    /// commands (`main` of them the command, the rest beside it).
    pub fn with_plan(mut self, plan: Plan, main: usize, mysql: bool) -> Settings {
        self.steps.extend(plan.steps);
        let mut commands: Vec<Vec<OsString>> = plan.commands.into_iter().map(|c| c.argv).collect();
        self.command = if commands.is_empty() {
            Vec::new()
        } else {
            commands.remove(main)
        };
        self.beside = commands;
        self.mysql = mysql;
        if !mysql {
            self.via = ServerIdVia::Off;
        }
        self
    }

    /// replikit's log-in to its own server.
    pub fn local_server(&self) -> Result<LocalServer> {
        self.node.local_server(&self.replication.socket)
    }
}

/// The settings that are not MySQL's own: an applet chain with only these
/// set does no MySQL work.
const GENERIC: [&Def; 3] = [&defs::GRACE, &defs::SIGNAL_TO, &defs::PRE];

/// Whether any MySQL setting is set: a `REPLIKIT_*` variable other than
/// REPLIKIT_LOG, REPLIKIT_GRACE, REPLIKIT_SIGNAL_TO and REPLIKIT_PRE, or a
/// variable of the role contract (MYSQL_*, MARIADB_*, MASTER_*, …).
pub fn mysql_settings_present(is_set: &dyn Fn(&str) -> bool) -> bool {
    defs::ALL
        .iter()
        .filter(|d| !GENERIC.contains(d))
        .any(|d| is_set(d.env))
        || role::variables().iter().any(|v| is_set(v))
}

/// Peers and the admin account, and the consensus store, which needs them.
fn ha_settings(raw: &Raw, inputs: &Inputs) -> Result<Option<HaSettings>> {
    let ha = peers::ha_settings(
        parse(raw, &defs::PEERS, peers::parse)?,
        role::admin_password(inputs)?,
    )?;
    let ca = raw.text(&defs::DCS_CA).map_err(|e| anyhow!(e))?;
    let Some((endpoints, with_tls)) = parse(raw, &defs::DCS, dcs::parse_endpoints)? else {
        if ca.is_some() {
            bail!("REPLIKIT_DCS_CA is set but REPLIKIT_DCS is not; give REPLIKIT_DCS=etcds://HOST:PORT,... or unset it");
        }
        if raw.text(&defs::DCS_USER).map_err(|e| anyhow!(e))?.is_some()
            || role::dcs_password(inputs)?.is_some()
        {
            bail!("REPLIKIT_DCS_USER or REPLIKIT_DCS_PASSWORD is set but REPLIKIT_DCS is not; give REPLIKIT_DCS=etcd://HOST:PORT,... or unset them");
        }
        return Ok(ha);
    };
    let Some(mut ha) = ha else {
        bail!("{} is set but REPLIKIT_PEERS is not: the leader lease decides among the members; list them in REPLIKIT_PEERS", defs::DCS.name());
    };
    ha.dcs = Some(DcsSettings {
        endpoints,
        ttl: parse_or_default(raw, &defs::DCS_TTL, dcs::parse_ttl)?,
        tls: dcs::tls(with_tls, ca.as_deref())?,
        login: dcs::login(
            raw.text(&defs::DCS_USER).map_err(|e| anyhow!(e))?,
            role::dcs_password(inputs)?,
        )?,
    });
    Ok(Some(ha))
}

fn replication(raw: &Raw) -> Result<ReplicationSettings> {
    Ok(ReplicationSettings {
        socket: PathBuf::from(raw.os(&defs::SOCKET).unwrap_or_default()),
        repl_host: parse(raw, &defs::REPL_HOST, check_account_host)?,
        tls: tls(raw)?,
        source_key: parse(raw, &defs::SOURCE_PUBLIC_KEY, |path| {
            if !is_absolute_path(path) {
                bail!("{path:?} is not an absolute path; give the PEM file's, which the server reads too");
            }
            Ok(path.to_string())
        })?,
        cluster: parse_or_default(raw, &defs::CLUSTER, |name| {
            if !is_host_text(name, b"", 64) {
                bail!("{name:?} is not a cluster name (letters, digits, . - _ only, up to 64)");
            }
            Ok(name.to_string())
        })?,
        unverified_root_login: parse_or_default(raw, &defs::ROOT_LOGIN_UNVERIFIED, |v| match v {
            "refuse" => Ok(false),
            "allow" => Ok(true),
            other => bail!("unknown value {other:?}: use refuse or allow"),
        })?,
        seed: parse_or_default(raw, &defs::SEED, str::parse)?,
        donor_port: parse_or_default(raw, &defs::DONOR_PORT, |v| match v {
            "off" => Ok(None),
            port => port
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .map(Some)
                .ok_or_else(|| anyhow!("{port:?} is not a port; use 1..=65535 or off")),
        })?,
        datadir: parse_or_default(raw, &defs::DATADIR, |path| {
            if !is_absolute_path(path) {
                bail!("{path:?} is not an absolute path; give the server's datadir, like /var/lib/mysql");
            }
            Ok(PathBuf::from(path))
        })?,
        semi_sync: match parse_or_default(raw, &defs::SEMI_SYNC, |v| match v {
            "off" => Ok(false),
            "on" => Ok(true),
            other => bail!("unknown value {other:?}: use off or on"),
        })? {
            false => None,
            true => Some(SemiSync {
                timeout: parse_or_default(raw, &defs::SEMI_SYNC_TIMEOUT, parse_duration)?,
                // Set once the consensus store is known (`Settings::read`).
                keeper_decides: false,
            }),
        },
    })
}

fn identity(raw: &Raw) -> Result<IdentitySettings> {
    Ok(IdentitySettings {
        explicit_id: parse(raw, &defs::SERVER_ID, server_id::parse_explicit)?,
        rule: parse_or_default(raw, &defs::SERVER_ID_RULE, str::parse)?,
        ordinal_offset: parse_or_default(raw, &defs::ORDINAL_OFFSET, parse_u32)?,
        subnet: parse(raw, &defs::SUBNET, str::parse)?,
        report_host: parse(raw, &defs::REPORT_HOST, check_report_host)?,
        hosts_file: check_hosts_file(raw.os(&defs::HOSTS_FILE).unwrap_or_default())
            .with_context(|| defs::HOSTS_FILE.name())?,
    })
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

    fn options(args: &[&str]) -> Raw {
        let mut argv = vec!["replikit"];
        argv.extend_from_slice(args);
        crate::config::cli::parse(argv.into_iter().map(Into::into).collect())
            .unwrap()
            .1
    }

    const NO_ROLE: Inputs = Inputs {
        env: &|_| None,
        file: &|_| Err(anyhow!("no file")),
    };

    fn settings(args: &[&str]) -> Result<Settings> {
        Settings::new(&options(args), &NO_ROLE, None)
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
        assert_eq!(s.via, ServerIdVia::Auto);
        assert_eq!(s.cnf, PathBuf::from("/etc/mysql/conf.d/replikit.cnf"));
        assert_eq!(s.grace, Duration::from_secs(5));
        assert_eq!(s.signal_to, SignalTo::Child);
        assert_eq!(s.command, ["docker-entrypoint.sh", "mysqld"]);
        assert!(s.steps.is_empty());
        assert!(s.beside.is_empty());
        assert!(s.mysql);
        assert_eq!(s.replication.tls, Tls::Off);
        let on = settings(&["--repl-ssl", "on"]).unwrap();
        assert_eq!(on.replication.tls, Tls::Required);
        let ca = settings(&["--repl-ssl", "/etc/mysql/ca.pem"]).unwrap();
        assert_eq!(
            ca.replication.tls,
            Tls::VerifyIdentity {
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
            (&["--signal-to", "everyone"], "REPLIKIT_SIGNAL_TO"),
            (&["--pre", "echo 'open"], "REPLIKIT_PRE"),
            (&["--repl-ssl", "yes"], "REPLIKIT_REPL_SSL"),
            (&["--repl-ssl", "ca.pem"], "REPLIKIT_REPL_SSL"),
            (&["--repl-ssl", ""], "REPLIKIT_REPL_SSL"),
            (&["--ssl-mode", "on"], "REPLIKIT_SSL_MODE"),
            (&["--ssl-mode", "verify-ca"], "REPLIKIT_SSL_MODE"),
            (&["--ssl-ca", "ca.pem"], "REPLIKIT_SSL_CA"),
            (&["--ssl-ca", "/ca.pem"], "REPLIKIT_SSL_CA"),
            (
                &["--ssl-mode", "required", "--ssl-ca", "/ca.pem"],
                "REPLIKIT_SSL_CA",
            ),
            (
                &["--ssl-mode", "required", "--repl-ssl", "off"],
                "REPLIKIT_SSL_MODE",
            ),
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
        let hooks: Vec<_> = s
            .steps
            .iter()
            .map(|s| match s {
                Step::Hook(c) => c.argv.clone(),
                Step::Render(_) => unreachable!(),
            })
            .collect();
        assert_eq!(
            hooks,
            [
                vec![OsString::from("echo"), "a b".into()],
                vec!["true".into()]
            ]
        );
    }

    #[test]
    fn mysql_settings_are_told_from_generic_ones() {
        let set = |names: &'static [&'static str]| move |n: &str| names.contains(&n);
        assert!(!mysql_settings_present(&set(&[])));
        assert!(!mysql_settings_present(&set(&[
            "REPLIKIT_GRACE",
            "REPLIKIT_SIGNAL_TO",
            "REPLIKIT_PRE",
            "REPLIKIT_LOG",
            "HOME",
            "PATH"
        ])));
        for name in [
            "REPLIKIT_CNF",
            "REPLIKIT_ROLE",
            "REPLIKIT_SERVER_ID",
            "MYSQL_ROOT_PASSWORD",
            "MYSQL_ROOT_PASSWORD_FILE",
            "MARIADB_ROOT_PASSWORD",
            "MYSQL_MASTER_HOST",
        ] {
            let names: &'static [&'static str] = Box::leak(Box::new([name]));
            assert!(mysql_settings_present(&set(names)), "{name}");
        }
    }

    #[test]
    fn empty_command_after_dashes_is_an_error() {
        let err = Settings::new(&options(&[]), &NO_ROLE, Some(vec![])).unwrap_err();
        assert!(err.to_string().contains("no command after --"), "{err}");
        let s = Settings::new(&options(&[]), &NO_ROLE, Some(vec!["sh".into()])).unwrap();
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
