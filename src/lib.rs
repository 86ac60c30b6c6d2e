//! replikit: a PID-1 entrypoint for MySQL/MariaDB containers. `run` is the
//! whole program; src/main.rs only starts it. See README.md for the parts.

mod accounts;
mod commands;
mod config;
pub mod db;
mod dcs;
mod exit_code;
mod identity;
mod logging;
mod pid1;
mod replication;
mod seed;
mod status;

/// The pure parsers, for the fuzz targets in fuzz/ (`cargo fuzz`); not an
/// API. Only built with the `fuzzing` feature.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    pub use crate::config::cli::Raw;
    pub use crate::config::defs::ALL as OPTIONS;
    pub use crate::config::role::{resolve, variables as role_variables, Inputs};
    pub use crate::config::settings::Settings;
    pub use crate::db::dialect::ServerVersion;
    pub use crate::db::resolve::{parse_response, Question, A, AAAA};
    pub use crate::db::rsa::PublicKey;
    pub use crate::db::wire::auth::Auth;
    pub use crate::db::wire::packet::{parse_error, parse_greeting, ResultSet};
    pub use crate::db::wire::Rows;
    pub use crate::dcs::etcd::parse_answer as etcd_answer;
    pub use crate::dcs::json::parse as json;
    pub use crate::identity::mycnf::{edit_options, set_options};
    pub use crate::replication::topology::{from_rows as topology_record, Record};
    pub use crate::seed::dump::coordinates;
    pub use crate::status::errant::mariadb as mariadb_errant_gtids;
    pub use crate::status::errant::Errant;
    pub use crate::status::errant::{mariadb_behind, mariadb_of_server, mysql_of_server};
    pub use crate::status::node::{NodeStatus, ReplicaState};
}

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use config::cli::{self, Command, Raw};
use config::role;
use config::settings::Settings;
use exit_code::{Fatal, OrExit};
use pid1::prehook;

/// Runs replikit with these arguments and returns its exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    logging::init();
    match dispatch(args) {
        Ok(code) => code,
        Err(fatal) => {
            // Never panic over a closed stderr: that would abort PID 1.
            let _ = writeln!(std::io::stderr(), "replikit: error: {fatal}");
            fatal.code
        }
    }
}

/// Arguments and environment to one `Settings`, then the command.
fn dispatch(args: Vec<OsString>) -> Result<i32, Fatal> {
    let invoked_as = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("replikit");
    if invoked_as == prehook::APPLET {
        let (tasks, command) = prehook::parse_applet_args(&args[1..]).or_exit(exit_code::USAGE)?;
        let mut raw = raw_from_env()?;
        raw.set(
            &config::defs::PRE,
            tasks.into_iter().map(OsString::from).collect(),
        );
        let settings = settings(&raw, Some(command))?;
        return commands::start::run(&settings);
    }
    let (flags, command) = cli::split_command(&args);
    // Container starts pass no flags: skip building clap's parser.
    let (subcommand, raw) = if flags.len() <= 1 {
        (None, raw_from_env()?)
    } else {
        parse_cli(flags)?
    };
    match subcommand {
        None => commands::start::run(&settings(&raw, command)?),
        Some(Command::ServerId) => commands::server_id::run(&settings(&raw, None)?),
        Some(Command::Prepare(o)) => commands::prepare::run(&settings(&raw, None)?, &o),
        Some(Command::Verify(o)) => commands::verify::run(&settings(&raw, None)?, &o),
        Some(Command::Health(o)) => commands::health::run(&settings(&raw, None)?, &o),
        Some(Command::Status(o)) => commands::status::run(&settings(&raw, None)?, &o),
        Some(Command::Switchover(o)) => commands::takeover::switchover(&settings(&raw, None)?, &o),
        Some(Command::Failover(o)) => commands::takeover::failover(&settings(&raw, None)?, &o),
        Some(Command::Rejoin(o)) => commands::takeover::rejoin(&settings(&raw, None)?, &o),
        Some(Command::Maintenance(o)) => commands::maintenance::run(&settings(&raw, None)?, &o),
    }
}

/// The one validated `Settings` of this run, the role contract read from
/// this process's environment and secret files.
fn settings(raw: &Raw, command: Option<Vec<OsString>>) -> Result<Settings, Fatal> {
    Settings::new(raw, &role::PROCESS, command).or_exit(exit_code::USAGE)
}

fn raw_from_env() -> Result<Raw, Fatal> {
    Raw::from_env(|name| std::env::var_os(name))
        .map_err(|e| Fatal::new(exit_code::USAGE, anyhow::anyhow!(e)))
}

/// clap's errors span several lines; ours are one line each.
fn parse_cli(args: Vec<OsString>) -> Result<(Option<Command>, Raw), Fatal> {
    cli::parse(args).map_err(|e| {
        use clap::error::ErrorKind;
        if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
            let _ = e.print();
            std::process::exit(0);
        }
        let text = e.render().to_string();
        let first = text.lines().next().unwrap_or("invalid arguments");
        let first = first.strip_prefix("error: ").unwrap_or(first);
        Fatal::new(
            exit_code::USAGE,
            anyhow::anyhow!("{first}; see replikit --help"),
        )
    })
}
