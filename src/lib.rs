//! replikit: a PID-1 entrypoint for MySQL/MariaDB containers. `run` is the
//! whole program; src/main.rs only starts it. See README.md for the parts.

mod address;
mod agent;
mod atomic_file;
mod cli;
mod clone;
pub mod db;
mod dump;
mod entrypoint;
mod exit_code;
mod health;
mod helper;
mod hosts;
mod identity;
mod interfaces;
mod logging;
mod monitor;
mod mycnf;
mod node_status;
mod option_file;
mod prehook;
mod proc_tree;
mod progress;
mod replication;
mod resolve;
mod restart;
mod role;
mod seed;
mod server_id;
mod settings;
mod spawn;
mod supervisor;
mod verify;

/// The pure parsers, for the fuzz targets in fuzz/ (`cargo fuzz`); not an
/// API. Only built with the `fuzzing` feature.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    pub use crate::cli::{Options, VARIABLES};
    pub use crate::db::flavor::ServerVersion;
    pub use crate::db::wire::Rows;
    pub use crate::dump::coordinates;
    pub use crate::mycnf::set_options;
    pub use crate::node_status::{NodeStatus, ReplicaState};
    pub use crate::role::{resolve, variables as role_variables, Inputs};
    pub use crate::settings::Settings;
}

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use clap::Parser;

use cli::{Cli, Command};
use exit_code::{Fatal, OrExit};
use settings::Settings;

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

fn dispatch(args: Vec<OsString>) -> Result<i32, Fatal> {
    let invoked_as = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("replikit");
    if invoked_as == prehook::APPLET {
        let (tasks, command) = prehook::parse_applet_args(&args[1..]).or_exit(exit_code::USAGE)?;
        let mut options = options_from_env()?;
        options.pre = tasks;
        let settings = Settings::from_options(&options, Some(command)).or_exit(exit_code::USAGE)?;
        return entrypoint::run(&settings);
    }
    let (flags, command) = cli::split_command(&args);
    // Container starts pass no flags: skip building clap's parser.
    let cli = if flags.len() <= 1 {
        Cli {
            subcommand: None,
            options: options_from_env()?,
        }
    } else {
        parse_cli(flags)?
    };
    match cli.subcommand {
        Some(Command::ServerId) => {
            let settings = Settings::from_options(&cli.options, None).or_exit(exit_code::USAGE)?;
            println!("{}", identity::identify(&settings.identity)?);
            Ok(0)
        }
        Some(Command::Prepare(prepare)) => {
            let settings = Settings::from_options(&cli.options, None).or_exit(exit_code::USAGE)?;
            let line = prepare_replication(&settings, &prepare)?;
            println!("{line}");
            Ok(0)
        }
        Some(Command::Health(o)) => {
            let settings = Settings::from_options(&cli.options, None).or_exit(exit_code::USAGE)?;
            check_health(&settings, &o)
        }
        Some(Command::Status(o)) => {
            let settings = Settings::from_options(&cli.options, None).or_exit(exit_code::USAGE)?;
            let (role, password) = local_node().or_exit(exit_code::USAGE)?;
            let status = monitor::log_in(
                &settings.replication.socket,
                &password,
                std::time::Duration::from_secs(5),
            )
            .and_then(|mut c| node_status::read(&mut c, role, true))
            .or_exit(exit_code::REPLICATION)?;
            println!(
                "{}",
                if o.json {
                    status.to_json()
                } else {
                    status.to_text()
                }
            );
            Ok(0)
        }
        Some(Command::Verify(o)) => {
            let settings = Settings::from_options(&cli.options, None).or_exit(exit_code::USAGE)?;
            verify_replica(&settings, &o)
        }
        None => {
            let settings =
                Settings::from_options(&cli.options, command).or_exit(exit_code::USAGE)?;
            entrypoint::run(&settings)
        }
    }
}

/// `replikit prepare`: the role from the environment, then its set-up.
fn prepare_replication(settings: &Settings, o: &cli::PrepareOptions) -> Result<String, Fatal> {
    let role = role::from_environment().or_exit(exit_code::USAGE)?;
    let timeout = settings::parse_duration(&o.timeout)
        .map_err(|e| anyhow::anyhow!("REPLIKIT_PREPARE_TIMEOUT (--timeout): {e:#}"))
        .or_exit(exit_code::USAGE)?;
    let repl_host = replication::account_host(&role, settings, None)?;
    let local = replication::Local {
        socket: &settings.replication.socket,
        repl_host: &repl_host,
        tls: &settings.replication.tls,
        seed: settings.replication.seed,
        restartable: false,
        deadline: std::time::Instant::now() + timeout,
    };
    replication::set_up(&role, &local).or_exit(exit_code::REPLICATION)
}

/// `replikit verify`: 0 when the replica holds what its source holds, 1
/// when it does not.
fn verify_replica(settings: &Settings, o: &cli::VerifyOptions) -> Result<i32, Fatal> {
    let role = role::from_environment().or_exit(exit_code::USAGE)?;
    let timeout = settings::parse_duration(&o.timeout)
        .map_err(|e| anyhow::anyhow!("REPLIKIT_VERIFY_TIMEOUT (--timeout): {e:#}"))
        .or_exit(exit_code::USAGE)?;
    let report = verify::run(&role, &settings.replication.socket, timeout)
        .or_exit(exit_code::REPLICATION)?;
    for d in &report.differences {
        println!("{d}");
    }
    println!(
        "verify: {} tables compared, {} differences",
        report.tables,
        report.differences.len()
    );
    Ok(if report.differences.is_empty() { 0 } else { 1 })
}

/// The role's name ("unknown" without one) and the local root password,
/// read from the environment (and secret files) once.
fn local_node() -> anyhow::Result<(&'static str, String)> {
    match role::from_environment() {
        Ok(role) => Ok((role.name(), role.local_root_password()?)),
        Err(_) => Ok((
            "unknown",
            role::root_password_from_environment()?.unwrap_or_default(),
        )),
    }
}

/// `replikit health`: 0 when fit to serve, else 1 and one line saying why.
fn check_health(settings: &Settings, o: &cli::HealthOptions) -> Result<i32, Fatal> {
    let max_lag = o
        .max_lag
        .as_deref()
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                anyhow::anyhow!("--max-lag {v:?} is not a number of seconds; give one like 30")
            })
        })
        .transpose()
        .or_exit(exit_code::USAGE)?;
    let (role, root_password) = local_node().or_exit(exit_code::USAGE)?;
    let checks = health::Checks {
        connect: o.connect,
        ready: o.ready,
        replication: o.replication,
        max_lag,
    }
    .or_default_for(role);
    let node = health::Node {
        socket: &settings.replication.socket,
        root_password: &root_password,
        role,
    };
    match health::probe(&node, &checks, std::time::Duration::from_secs(5)) {
        Ok(()) => Ok(0),
        Err(reason) => {
            let _ = writeln!(std::io::stderr(), "replikit: unhealthy: {reason}");
            Ok(1)
        }
    }
}

fn options_from_env() -> Result<cli::Options, Fatal> {
    cli::Options::from_env(|name| std::env::var_os(name))
        .map_err(|e| Fatal::new(exit_code::USAGE, anyhow::anyhow!(e)))
}

/// clap's errors span several lines; ours are one line each.
fn parse_cli(args: Vec<OsString>) -> Result<Cli, Fatal> {
    Cli::try_parse_from(args).map_err(|e| {
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
