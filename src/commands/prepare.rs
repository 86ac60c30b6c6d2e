//! `replikit prepare`: set up replication for this node's role once,
//! against the server already running, and exit (from
//! /docker-entrypoint-initdb.d or a Kubernetes Job, as in the seeds).

use std::time::Instant;

use crate::accounts;
use crate::config::cli::PrepareOptions;
use crate::config::settings::Settings;
use crate::exit_code::{self, Fatal, OrExit};
use crate::replication;

pub fn run(settings: &Settings, o: &PrepareOptions) -> Result<i32, Fatal> {
    let role = settings.node.role().or_exit(exit_code::USAGE)?;
    let timeout = super::timeout(&o.timeout, "REPLIKIT_PREPARE_TIMEOUT")?;
    let local = settings.local_server().or_exit(exit_code::USAGE)?;
    let repl_host = accounts::replica_host_pattern(role, settings, None)?;
    // Not our child: a clone could not start it again.
    let job = replication::retry::job(
        &settings.replication,
        &local,
        &repl_host,
        false,
        Instant::now() + timeout,
    );
    let line = replication::set_up(role, &job).or_exit(exit_code::REPLICATION)?;
    println!("{line}");
    Ok(0)
}
