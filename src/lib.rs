//! replikit: a PID-1 entrypoint for MySQL/MariaDB containers. `run` is the
//! whole program; src/main.rs only starts it. See README.md for the parts.

mod accounts;
mod commands;
mod config;
pub mod db;
mod dcs;
mod entrykit;
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
    pub use crate::dcs::etcd::parse_txn_answer as etcd_txn_answer;
    pub use crate::dcs::json::parse as json;
    pub use crate::identity::mycnf::{edit_options, set_options};
    pub use crate::replication::topology::{from_rows as topology_record, Record};
    pub use crate::seed::dump::coordinates;
    pub use crate::seed::physical::protocol::read_stream as seed_stream;
    pub use crate::seed::physical::protocol::{frame as seed_frame, Kind as SeedFrameKind};
    pub use crate::status::errant::mariadb as mariadb_errant_gtids;
    pub use crate::status::errant::Errant;
    pub use crate::status::errant::{mariadb_behind, mariadb_of_server, mysql_of_server};
    pub use crate::status::node::{NodeStatus, ReplicaState};
}

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use config::cli::{self, Command, Raw};
use config::role;
use config::settings::{self, Settings};
use entrykit::chain::{self, Applet};
use exit_code::{Fatal, OrExit};

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
    // entrykit's applets: by the name invoked as (a symlink), or as the
    // first argument.
    let applet = args.first().and_then(|a| Applet::named(a));
    if args.get(1).is_some_and(|a| a == "--symlink")
        && matches!(applet, None | Some(Applet::Entrykit))
    {
        return make_symlinks(args.get(2));
    }
    if applet.is_some() {
        return run_chain(&args);
    }
    if let Some(first) = args.get(1) {
        if Applet::ALL.iter().any(|a| first == a.name()) {
            return run_chain(&args[1..]);
        }
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

/// An entrykit chain (`switch … -- render … -- prehook … -- codep …`),
/// read whole, then run by the same start as replikit's own job.
fn run_chain(args: &[OsString]) -> Result<i32, Fatal> {
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let plan = chain::plan(args, &env).or_exit(exit_code::USAGE)?;
    let server = plan
        .commands
        .iter()
        .position(|c| commands::start::runs_the_server(&c.argv));
    let mysql = server.is_some()
        || settings::mysql_settings_present(&|name| std::env::var_os(name).is_some());
    let settings = settings(&raw_from_env()?, None)?.with_plan(plan, server.unwrap_or(0), mysql);
    commands::start::run(&settings)
}

/// `replikit --symlink [DIR]`: the applets' names, linked to this binary
/// (in its own folder by default, as entrykit did).
fn make_symlinks(dir: Option<&OsString>) -> Result<i32, Fatal> {
    let binary = std::env::current_exe()
        .context("cannot find this binary's path (/proc/self/exe)")
        .or_exit(exit_code::OS_ERROR)?;
    let dir = match dir {
        Some(d) => std::path::PathBuf::from(d),
        None => binary
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| "/usr/local/bin".into()),
    };
    let made = entrykit::symlink::create(&dir, &binary).or_exit(exit_code::CANT_CREATE)?;
    for link in &made {
        let _ = writeln!(
            std::io::stdout(),
            "created {} -> {}",
            link.display(),
            binary.display()
        );
    }
    Ok(0)
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
