//! Raw values: the command line and the `REPLIKIT_*` variables, as strings.
//! Global options are defined once in `defs`; here they become clap
//! arguments and, on a container start (no flags), are read straight from
//! the environment. `settings` validates them, so that errors name the
//! variable and say what to do.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

use clap::{Arg, ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::defs::{self, Def};

#[derive(Debug, Parser)]
#[command(
    name = "replikit",
    version,
    about = "PID-1 entrypoint for MySQL/MariaDB containers: server-id, hooks, signal forwarding, reaping",
    override_usage = "replikit [OPTIONS] [-- COMMAND [ARGS]...]\n       replikit server-id [OPTIONS]\n       replikit prepare [OPTIONS]\n       replikit verify [OPTIONS]\n       replikit health [CHECKS]\n       replikit status [--json]\n       replikit switchover [--to NODE]\n       replikit failover [--to NODE]\n       replikit rejoin --discard\n       replikit switch|render|prehook|codep|entrykit ... (entrykit's applets; see README)\n       replikit --symlink [DIR]",
    after_help = "Without a command after --, runs: docker-entrypoint.sh mysqld\n\
                  Exit codes: the command's own; 128+N if it died of signal N; 126 not executable; \
                  127 not found; 64 bad setting; 69 replication set-up failed; 71 system error; \
                  73 option file not writable."
)]
pub struct Cli {
    #[command(subcommand)]
    pub subcommand: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the server-id this node would use, the address it came from and
    /// the rule that chose it. Changes nothing.
    ServerId,
    /// Set up replication for this node's role once, against the server
    /// already running, and exit: 0 when done (from
    /// /docker-entrypoint-initdb.d or a Kubernetes Job, as in the seeds).
    Prepare(PrepareOptions),
    /// Compare every user table of this replica with its source (CHECKSUM
    /// TABLE, each table held still on the source while the replica catches
    /// up). Prints each difference; exits 0 when there is none, 1 when there
    /// is one, 69 when it could not compare.
    Verify(VerifyOptions),
    /// Is this node fit to serve? For HEALTHCHECK and probes: exits 0 when
    /// every check passes, else 1 with the reason on one line. Without
    /// checks: --ready, plus --writable on a primary and --replication
    /// --errant on a replica (with REPLIKIT_PEERS, the role its own
    /// topology record gives).
    Health(HealthOptions),
    /// This node's role, server, read-only state and replication, for
    /// people; --json for scripts (docs/status.schema.json).
    Status(StatusOptions),
    /// Planned change of primary, nothing lost: fence the primary, wait
    /// until the target has applied everything, promote it, repoint the
    /// others, record the new epoch. Needs REPLIKIT_PEERS.
    Switchover(TakeoverOptions),
    /// The primary is gone: every replica applies what it received, the
    /// most advanced one is promoted, the others follow it. Needs
    /// REPLIKIT_PEERS.
    Failover(FailoverOptions),
    /// Run on a read-only node that holds what the primary lacks (errant
    /// transactions) or cannot replicate: with --discard, throw its data
    /// away and seed it again from the primary of the highest epoch.
    /// Needs REPLIKIT_PEERS.
    Rejoin(RejoinOptions),
    /// Pause (on) or resume (off) automatic failover for the whole
    /// cluster, for an upgrade: a primary still fences itself when it
    /// loses its lease, but no replica takes over. Needs REPLIKIT_DCS.
    Maintenance(MaintenanceOptions),
}

#[derive(Debug, Args, PartialEq, Eq)]
pub struct MaintenanceOptions {
    #[arg(value_enum)]
    pub state: OnOff,
    /// Why, shown by `replikit status` on every node.
    #[arg(long, default_value = "maintenance")]
    pub note: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, Args, PartialEq, Eq)]
pub struct RejoinOptions {
    /// Yes, throw this node's data and logged history away.
    #[arg(long)]
    pub discard: bool,
    /// Give up after this long (e.g. 600s).
    #[arg(long, default_value = "600s")]
    pub timeout: String,
}

#[derive(Debug, Args, PartialEq, Eq)]
pub struct TakeoverOptions {
    /// The member to promote (HOST or HOST:PORT, as in REPLIKIT_PEERS, or
    /// its address); default: a replica of the primary (switchover), the
    /// most advanced replica (failover).
    #[arg(long, value_name = "NODE")]
    pub to: Option<String>,
    /// How long a replica may take to apply what it has (e.g. 30s).
    #[arg(long, default_value = "30s")]
    pub timeout: String,
}

#[derive(Debug, Args, PartialEq, Eq)]
pub struct FailoverOptions {
    #[command(flatten)]
    pub takeover: TakeoverOptions,
    /// Promote a member even though it has errant transactions (written
    /// behind replication's back); they then reach every other member.
    #[arg(long)]
    pub allow_errant: bool,
}

#[derive(Debug, Args, PartialEq, Eq)]
pub struct HealthOptions {
    /// The local server answers.
    #[arg(long)]
    pub connect: bool,
    /// The real server answers, not the temporary one of first start-up.
    #[arg(long)]
    pub ready: bool,
    /// On a replica: both threads run and there is no error.
    #[arg(long)]
    pub replication: bool,
    /// On a replica: at most this many seconds behind the source.
    #[arg(long, value_name = "SECONDS")]
    pub max_lag: Option<String>,
    /// On a replica: no transaction the source lacks (logs in to the source).
    #[arg(long)]
    pub errant: bool,
    /// The node takes writes (read-only off); a default on a primary.
    #[arg(long)]
    pub writable: bool,
}

#[derive(Debug, Args, PartialEq, Eq)]
pub struct StatusOptions {
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, PartialEq, Eq)]
pub struct VerifyOptions {
    /// How long the replica may take to catch up, per table (e.g. 60s).
    #[arg(
        long,
        env = "REPLIKIT_VERIFY_TIMEOUT",
        default_value = "60s",
        hide_env_values = true
    )]
    pub timeout: String,
}

#[derive(Debug, Args, PartialEq, Eq)]
pub struct PrepareOptions {
    /// Give up after this long (e.g. 60, 90s).
    #[arg(
        long,
        env = "REPLIKIT_PREPARE_TIMEOUT",
        default_value = "60s",
        hide_env_values = true
    )]
    pub timeout: String,
}

/// The global options' values as given, by definition; a missing value
/// reads as its default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Raw(BTreeMap<&'static str, Vec<OsString>>);

impl Raw {
    /// The options when no flag is given, straight from the environment:
    /// what a container start looks like (`replikit -- docker-entrypoint.sh
    /// mysqld`). Building clap's parser costs about 70 µs, a sixth of
    /// tini's whole start-up overhead, so container starts skip it.
    pub fn from_env(get: impl Fn(&str) -> Option<OsString>) -> Result<Raw, String> {
        let mut raw = Raw::default();
        for d in defs::ALL {
            match get(d.env) {
                // Set but empty is a mistake (a `VAR=` left in a compose
                // file), not "unset": taking the default would hide it.
                Some(v) if v.is_empty() => {
                    return Err(format!(
                        "{} is set but empty; give it a value or unset it",
                        d.env
                    ))
                }
                Some(v) if d.list => raw.set(d, split_lines(&v)),
                Some(v) => raw.set(d, vec![v]),
                None => {}
            }
        }
        Ok(raw)
    }

    fn from_matches(m: &ArgMatches) -> Raw {
        let mut raw = Raw::default();
        for d in defs::ALL {
            if let Some(values) = m.get_many::<OsString>(d.flag) {
                raw.set(d, values.cloned().collect());
            }
        }
        raw
    }

    pub fn set(&mut self, d: &Def, values: Vec<OsString>) {
        self.0.insert(d.env, values);
    }

    /// The value given, else the default.
    pub fn os(&self, d: &Def) -> Option<&OsStr> {
        match self.0.get(d.env).and_then(|v| v.first()) {
            Some(v) => Some(v),
            None => d.default.map(OsStr::new),
        }
    }

    /// Every value given (for a list), as text.
    pub fn texts(&self, d: &Def) -> Result<Vec<String>, String> {
        self.0
            .get(d.env)
            .map(|v| v.iter().map(|v| text(d, v)).collect())
            .unwrap_or(Ok(Vec::new()))
    }

    /// The value (or default) as text.
    pub fn text(&self, d: &Def) -> Result<Option<String>, String> {
        self.os(d).map(|v| text(d, v)).transpose()
    }
}

fn text(d: &Def, v: &OsStr) -> Result<String, String> {
    v.to_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{} is not valid UTF-8; use plain text", d.name()))
}

fn split_lines(v: &OsStr) -> Vec<OsString> {
    use std::os::unix::ffi::OsStrExt;
    v.as_bytes()
        .split(|b| *b == b'\n')
        .map(|l| OsStr::from_bytes(l).to_os_string())
        .collect()
}

/// clap's argument for a definition: every global option is global (given
/// before or after a subcommand) and may come from its variable.
fn arg(d: &'static Def) -> Arg {
    let mut a = Arg::new(d.flag)
        .long(d.flag)
        .env(d.env)
        .value_name(d.value_name)
        .help(d.help)
        .global(true)
        .hide_env_values(true)
        .value_parser(clap::value_parser!(OsString));
    if let Some(default) = d.default {
        a = a.default_value(default);
    }
    if d.list {
        a = a.action(ArgAction::Append).value_delimiter('\n');
    }
    a
}

/// The whole command line's parser: subcommands from `Cli`, global options
/// from `defs`.
pub fn command() -> clap::Command {
    Cli::command().args(defs::ALL.iter().map(|d| arg(d)))
}

/// Parses flags (never the command after `--`) into the subcommand and the
/// raw option values.
pub fn parse(args: Vec<OsString>) -> Result<(Option<Command>, Raw), clap::Error> {
    let matches = command().try_get_matches_from(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    Ok((cli.subcommand, Raw::from_matches(&matches)))
}

/// Splits argv at the first `--`: what comes before is for clap, what comes
/// after is the command. `None` means no `--` was given (use the default
/// command); `Some(empty)` means `--` with nothing after it.
pub fn split_command(args: &[OsString]) -> (Vec<OsString>, Option<Vec<OsString>>) {
    match args.iter().position(|a| a == "--") {
        Some(i) => (args[..i].to_vec(), Some(args[i + 1..].to_vec())),
        None => (args.to_vec(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn clap_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn command_is_everything_after_the_first_double_dash() {
        let (opts, cmd) = split_command(&os(&["replikit", "--grace", "1", "--", "sh", "-c", "--"]));
        assert_eq!(opts, os(&["replikit", "--grace", "1"]));
        assert_eq!(cmd, Some(os(&["sh", "-c", "--"])));
        assert_eq!(split_command(&os(&["replikit"])).1, None);
        assert_eq!(split_command(&os(&["replikit", "--"])).1, Some(vec![]));
    }

    #[test]
    fn flags_and_the_environment_give_the_same_values_and_defaults() {
        let unset = Raw::from_env(|_| None).unwrap();
        let (_, parsed) = parse(os(&["replikit"])).unwrap();
        for d in defs::ALL {
            assert_eq!(
                unset.os(d),
                d.default.map(OsStr::new),
                "default of {}",
                d.env
            );
            assert_eq!(parsed.os(d), unset.os(d), "clap's default of {}", d.env);
            let set = Raw::from_env(|k| (k == d.env).then(|| OsString::from("a-value"))).unwrap();
            assert_eq!(set.os(d), Some(OsStr::new("a-value")), "{}", d.env);
            let flag = format!("--{}=a-value", d.flag);
            let (_, parsed) = parse(os(&["replikit", &flag])).unwrap();
            assert_eq!(parsed.os(d), Some(OsStr::new("a-value")), "{flag}");
        }
        let pre = Raw::from_env(|k| (k == "REPLIKIT_PRE").then(|| OsString::from("a\nb"))).unwrap();
        assert_eq!(pre.texts(&defs::PRE).unwrap(), ["a", "b"]);
        let (_, pre) = parse(os(&["replikit", "--pre", "a", "--pre", "b c"])).unwrap();
        assert_eq!(pre.texts(&defs::PRE).unwrap(), ["a", "b c"]);
    }

    #[test]
    fn non_utf8_is_refused_with_the_variable_name() {
        use std::os::unix::ffi::OsStringExt;
        let raw =
            Raw::from_env(|k| (k == "REPLIKIT_GRACE").then(|| OsString::from_vec(vec![0xff])))
                .unwrap();
        let err = raw.text(&defs::GRACE).unwrap_err();
        assert!(err.starts_with("REPLIKIT_GRACE"), "{err}");
    }

    #[test]
    fn the_env_fast_path_rejects_an_empty_variable_by_name() {
        for name in [
            "REPLIKIT_SOCKET",
            "REPLIKIT_CNF",
            "REPLIKIT_GRACE",
            "REPLIKIT_PRE",
        ] {
            let err = Raw::from_env(|k| (k == name).then(OsString::new)).unwrap_err();
            assert_eq!(
                err,
                format!("{name} is set but empty; give it a value or unset it")
            );
        }
    }

    #[test]
    fn every_option_names_its_env_var_in_help() {
        let help = command().render_long_help().to_string();
        for d in defs::ALL {
            assert!(
                help.contains(&format!("[env: {}", d.env)),
                "{} missing from --help",
                d.env
            );
        }
    }
}
