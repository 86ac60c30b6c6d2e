//! Command-line definitions. Every option can also come from a `REPLIKIT_*`
//! environment variable; values stay strings here and are validated in
//! `settings`, so that errors name the variable and say what to do.

use std::ffi::OsString;

use clap::{Args, Parser, Subcommand};

pub const DEFAULT_CNF: &str = "/etc/mysql/conf.d/replikit.cnf";
pub const DEFAULT_COMMAND: [&str; 2] = ["docker-entrypoint.sh", "mysqld"];

#[derive(Debug, Parser)]
#[command(
    name = "replikit",
    version,
    about = "PID-1 entrypoint for MySQL/MariaDB containers: server-id, hooks, signal forwarding, reaping",
    override_usage = "replikit [OPTIONS] [-- COMMAND [ARGS]...]\n       replikit server-id [OPTIONS]",
    after_help = "Without a command after --, runs: docker-entrypoint.sh mysqld\n\
                  Exit codes: the command's own; 128+N if it died of signal N; 126 not executable; \
                  127 not found; 64 bad setting; 71 system error; 73 option file not writable."
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
}

#[derive(Debug, Args)]
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
        default_value = "/etc/hosts",
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

    #[test]
    fn every_option_names_its_env_var_in_help() {
        let help = Cli::command().render_long_help().to_string();
        for var in [
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
        ] {
            assert!(
                help.contains(&format!("[env: {var}")),
                "{var} missing from --help"
            );
        }
    }
}
