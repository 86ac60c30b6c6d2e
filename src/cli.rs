//! Command-line definitions. Every option can also come from a `REPLIKIT_*`
//! environment variable; values stay strings here and are validated in
//! `settings`, so that errors name the variable and say what to do.

use std::ffi::OsString;

use clap::{Args, Parser, Subcommand};

pub const DEFAULT_CNF: &str = "/etc/mysql/conf.d/replikit.cnf";
/// May be missing (the address is then chosen without it); a hosts file
/// given on purpose may not.
pub const DEFAULT_HOSTS_FILE: &str = "/etc/hosts";
pub const DEFAULT_COMMAND: [&str; 2] = ["docker-entrypoint.sh", "mysqld"];

#[derive(Debug, Parser)]
#[command(
    name = "replikit",
    version,
    about = "PID-1 entrypoint for MySQL/MariaDB containers: server-id, hooks, signal forwarding, reaping",
    override_usage = "replikit [OPTIONS] [-- COMMAND [ARGS]...]\n       replikit server-id [OPTIONS]\n       replikit prepare [OPTIONS]\n       replikit verify [OPTIONS]\n       replikit health [CHECKS]\n       replikit status [--json]",
    after_help = "Without a command after --, runs: docker-entrypoint.sh mysqld\n\
                  Exit codes: the command's own; 128+N if it died of signal N; 126 not executable; \
                  127 not found; 64 bad setting; 69 replication set-up failed; 71 system error; \
                  73 option file not writable."
)]
pub struct Cli {
    #[command(subcommand)]
    pub subcommand: Option<Command>,
    #[command(flatten)]
    pub options: Options,
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
    /// checks: --ready, and --replication on a replica.
    Health(HealthOptions),
    /// This node's role, server, read-only state and replication, for
    /// people; --json for scripts (docs/status.schema.json).
    Status(StatusOptions),
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
pub struct Options {
    /// Explicit server-id (1..=4294967295); wins over the rule.
    #[arg(
        long,
        env = "REPLIKIT_SERVER_ID",
        value_name = "N",
        global = true,
        hide_env_values = true
    )]
    pub server_id: Option<String>,

    /// How to derive the server-id: ip (whole address), octets (seed: octet3*256+octet4), ordinal (OFFSET + N from hostname NAME-N).
    #[arg(
        long,
        env = "REPLIKIT_SERVER_ID_RULE",
        value_name = "RULE",
        default_value = "ip",
        global = true,
        hide_env_values = true
    )]
    pub server_id_rule: String,

    /// Added to the hostname's ordinal under rule ordinal.
    #[arg(
        long,
        env = "REPLIKIT_ORDINAL_OFFSET",
        value_name = "N",
        default_value = "100",
        global = true,
        hide_env_values = true
    )]
    pub ordinal_offset: String,

    /// Use the interface address inside this network (CIDR, e.g. 10.0.1.0/24).
    #[arg(
        long,
        env = "REPLIKIT_SUBNET",
        value_name = "CIDR",
        global = true,
        hide_env_values = true
    )]
    pub subnet: Option<String>,

    /// Where the server-id goes: file (the option file), arg (--server-id=N appended to the command), off.
    #[arg(
        long,
        env = "REPLIKIT_SERVER_ID_VIA",
        value_name = "HOW",
        default_value = "file",
        global = true,
        hide_env_values = true
    )]
    pub server_id_via: String,

    /// Option file to write; an existing file is edited in place.
    #[arg(long, env = "REPLIKIT_CNF", value_name = "PATH", default_value = DEFAULT_CNF, global = true, hide_env_values = true)]
    pub cnf: OsString,

    /// report_host for the server (default: the chosen address).
    #[arg(
        long,
        env = "REPLIKIT_REPORT_HOST",
        value_name = "HOST",
        global = true,
        hide_env_values = true
    )]
    pub report_host: Option<String>,

    /// Hosts file that maps this hostname to its address.
    #[arg(
        long,
        env = "REPLIKIT_HOSTS_FILE",
        value_name = "PATH",
        default_value = DEFAULT_HOSTS_FILE,
        global = true,
        hide_env_values = true
    )]
    pub hosts_file: OsString,

    /// After the command exits: how long leftover processes get between SIGTERM and SIGKILL (e.g. 5, 2.5s, 500ms).
    #[arg(
        long,
        env = "REPLIKIT_GRACE",
        value_name = "DURATION",
        default_value = "5s",
        global = true,
        hide_env_values = true
    )]
    pub grace: String,

    /// Run this task before the command (repeatable; in order; a failure stops everything). In the env var, one task per line.
    #[arg(
        long = "pre",
        env = "REPLIKIT_PRE",
        value_name = "'CMD ARGS'",
        value_delimiter = '\n',
        global = true,
        hide_env_values = true
    )]
    pub pre: Vec<String>,

    /// The local server's unix socket, for replication set-up.
    #[arg(
        long,
        env = "REPLIKIT_SOCKET",
        value_name = "PATH",
        default_value = "/run/mysqld/mysqld.sock",
        global = true,
        hide_env_values = true
    )]
    pub socket: OsString,

    /// On the primary: the hosts replicas connect from, as an account host
    /// pattern (default: the seed's a.b.%.% from this node's address).
    #[arg(
        long,
        env = "REPLIKIT_REPL_HOST",
        value_name = "PATTERN",
        global = true,
        hide_env_values = true
    )]
    pub repl_host: Option<String>,

    /// On a replica: TLS for the replication connection. off; on (encrypted,
    /// the source's certificate not checked); or the absolute path of a CA
    /// file (encrypted, and the certificate must be signed by that CA and
    /// name the source host).
    #[arg(
        long,
        env = "REPLIKIT_REPL_SSL",
        value_name = "off|on|CA-FILE",
        default_value = "off",
        global = true,
        hide_env_values = true
    )]
    pub repl_ssl: String,

    /// On a new replica: auto (seed with a dump when the source holds data
    /// or has purged binary logs), dump (always seed), none (never).
    #[arg(
        long,
        env = "REPLIKIT_SEED",
        value_name = "auto|dump|none",
        default_value = "auto",
        global = true,
        hide_env_values = true
    )]
    pub seed: String,

    /// Serve HAProxy's agent check on this TCP port: `up`, or `down #reason`
    /// when the node fails its health checks (as `replikit health`).
    #[arg(
        long,
        env = "REPLIKIT_AGENT_PORT",
        value_name = "PORT",
        global = true,
        hide_env_values = true
    )]
    pub agent_port: Option<String>,

    /// For the agent check: a replica further behind its source than this
    /// many seconds answers `down`.
    #[arg(
        long,
        env = "REPLIKIT_AGENT_MAX_LAG",
        value_name = "SECONDS",
        default_value = "30",
        global = true,
        hide_env_values = true
    )]
    pub agent_max_lag: String,
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

/// The environment variables of the global options, as clap names them
/// (a unit test checks that --help lists each); the fuzz targets set them.
#[cfg(any(test, feature = "fuzzing"))]
pub const VARIABLES: [&str; 16] = [
    "REPLIKIT_SERVER_ID",
    "REPLIKIT_SERVER_ID_RULE",
    "REPLIKIT_ORDINAL_OFFSET",
    "REPLIKIT_SUBNET",
    "REPLIKIT_SERVER_ID_VIA",
    "REPLIKIT_CNF",
    "REPLIKIT_REPORT_HOST",
    "REPLIKIT_HOSTS_FILE",
    "REPLIKIT_GRACE",
    "REPLIKIT_PRE",
    "REPLIKIT_SOCKET",
    "REPLIKIT_REPL_HOST",
    "REPLIKIT_REPL_SSL",
    "REPLIKIT_SEED",
    "REPLIKIT_AGENT_PORT",
    "REPLIKIT_AGENT_MAX_LAG",
];

impl Options {
    /// The options when no flag is given, straight from the environment:
    /// what a container start looks like (`replikit -- docker-entrypoint.sh
    /// mysqld`). Building clap's parser costs about 70 µs, a sixth of tini's
    /// whole start-up overhead, so container starts skip it. Names and
    /// defaults must match the clap definition above: a unit test compares
    /// them through clap's own introspection.
    pub fn from_env(get: impl Fn(&str) -> Option<OsString>) -> Result<Options, String> {
        // Set but empty is a mistake (a `VAR=` left in a compose file), not
        // "unset": taking the default instead would hide it.
        let get = |name: &str| -> Result<Option<OsString>, String> {
            match get(name) {
                Some(v) if v.is_empty() => Err(format!(
                    "{name} is set but empty; give it a value or unset it"
                )),
                v => Ok(v),
            }
        };
        let text = |name: &str| -> Result<Option<String>, String> {
            get(name)?
                .map(|v| {
                    v.into_string()
                        .map_err(|_| format!("{name} is not valid UTF-8; use plain text"))
                })
                .transpose()
        };
        let or = |name: &str, default: &str| -> Result<String, String> {
            Ok(text(name)?.unwrap_or_else(|| default.to_string()))
        };
        Ok(Options {
            server_id: text("REPLIKIT_SERVER_ID")?,
            server_id_rule: or("REPLIKIT_SERVER_ID_RULE", "ip")?,
            ordinal_offset: or("REPLIKIT_ORDINAL_OFFSET", "100")?,
            subnet: text("REPLIKIT_SUBNET")?,
            server_id_via: or("REPLIKIT_SERVER_ID_VIA", "file")?,
            cnf: get("REPLIKIT_CNF")?.unwrap_or_else(|| DEFAULT_CNF.into()),
            report_host: text("REPLIKIT_REPORT_HOST")?,
            hosts_file: get("REPLIKIT_HOSTS_FILE")?.unwrap_or_else(|| DEFAULT_HOSTS_FILE.into()),
            socket: get("REPLIKIT_SOCKET")?.unwrap_or_else(|| "/run/mysqld/mysqld.sock".into()),
            repl_host: text("REPLIKIT_REPL_HOST")?,
            repl_ssl: or("REPLIKIT_REPL_SSL", "off")?,
            seed: or("REPLIKIT_SEED", "auto")?,
            agent_port: text("REPLIKIT_AGENT_PORT")?,
            agent_max_lag: or("REPLIKIT_AGENT_MAX_LAG", "30")?,
            grace: or("REPLIKIT_GRACE", "5s")?,
            pre: text("REPLIKIT_PRE")?
                .map(|v| v.split('\n').map(String::from).collect())
                .unwrap_or_default(),
        })
    }
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
    use clap::CommandFactory;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_is_everything_after_the_first_double_dash() {
        let (opts, cmd) = split_command(&os(&["replikit", "--grace", "1", "--", "sh", "-c", "--"]));
        assert_eq!(opts, os(&["replikit", "--grace", "1"]));
        assert_eq!(cmd, Some(os(&["sh", "-c", "--"])));
        assert_eq!(split_command(&os(&["replikit"])).1, None);
        assert_eq!(split_command(&os(&["replikit", "--"])).1, Some(vec![]));
    }

    /// What `from_env` put in the field behind clap argument `id`.
    fn field(o: &Options, id: &str) -> Vec<String> {
        let one = |v: &Option<String>| v.iter().cloned().collect();
        let os = |v: &OsString| vec![v.to_string_lossy().into_owned()];
        match id {
            "server_id" => one(&o.server_id),
            "server_id_rule" => vec![o.server_id_rule.clone()],
            "ordinal_offset" => vec![o.ordinal_offset.clone()],
            "subnet" => one(&o.subnet),
            "server_id_via" => vec![o.server_id_via.clone()],
            "cnf" => os(&o.cnf),
            "report_host" => one(&o.report_host),
            "hosts_file" => os(&o.hosts_file),
            "grace" => vec![o.grace.clone()],
            "pre" => o.pre.clone(),
            "socket" => os(&o.socket),
            "repl_host" => one(&o.repl_host),
            "repl_ssl" => vec![o.repl_ssl.clone()],
            "seed" => vec![o.seed.clone()],
            "agent_port" => one(&o.agent_port),
            "agent_max_lag" => vec![o.agent_max_lag.clone()],
            other => panic!("argument {other} is missing from Options::from_env and this test"),
        }
    }

    #[test]
    fn the_env_fast_path_reads_the_same_variables_and_defaults_as_clap() {
        let command = Cli::command();
        let args: Vec<_> = command
            .get_arguments()
            .filter(|a| a.get_long().is_some() && a.get_id() != "help" && a.get_id() != "version")
            .collect();
        assert_eq!(args.len(), 16);
        let unset = Options::from_env(|_| None).unwrap();
        for arg in args {
            let id = arg.get_id().as_str();
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|d| d.to_string_lossy().into_owned())
                .collect();
            assert_eq!(field(&unset, id), defaults, "default of {id}");
            let env = arg
                .get_env()
                .unwrap_or_else(|| panic!("{id} has no env var"))
                .to_str()
                .unwrap()
                .to_string();
            let set = Options::from_env(|k| (k == env).then(|| OsString::from("a-value"))).unwrap();
            assert_eq!(field(&set, id), ["a-value"], "{id} from {env}");
        }
        let pre =
            Options::from_env(|k| (k == "REPLIKIT_PRE").then(|| OsString::from("a\nb"))).unwrap();
        assert_eq!(pre.pre, ["a", "b"]);
    }

    #[test]
    fn the_env_fast_path_rejects_non_utf8_with_the_variable_name() {
        use std::os::unix::ffi::OsStringExt;
        let err =
            Options::from_env(|k| (k == "REPLIKIT_GRACE").then(|| OsString::from_vec(vec![0xff])))
                .unwrap_err();
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
            let err = Options::from_env(|k| (k == name).then(OsString::new)).unwrap_err();
            assert_eq!(
                err,
                format!("{name} is set but empty; give it a value or unset it")
            );
        }
    }

    #[test]
    fn every_option_names_its_env_var_in_help() {
        let help = Cli::command().render_long_help().to_string();
        for var in VARIABLES {
            assert!(
                help.contains(&format!("[env: {var}")),
                "{var} missing from --help"
            );
        }
    }
}
