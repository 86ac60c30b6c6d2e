//! `replikit verify`: 0 when the replica holds what its source holds, 1
//! when it does not (each difference printed), 69 when it could not
//! compare.

use crate::config::cli::VerifyOptions;
use crate::config::settings::Settings;
use crate::exit_code::{self, Fatal, OrExit};
use crate::replication::follow;
use crate::status::verify;

pub fn run(settings: &Settings, o: &VerifyOptions) -> Result<i32, Fatal> {
    let env = settings.node.role().or_exit(exit_code::USAGE)?;
    let timeout = super::timeout(&o.timeout, "REPLIKIT_VERIFY_TIMEOUT")?;
    let local = settings.local_server().or_exit(exit_code::USAGE)?;
    // With peers, the source is the primary the node's record names.
    let role = match &settings.ha {
        None => env.clone(),
        Some(_) => local
            .log_in(std::time::Duration::from_secs(5))
            .and_then(|mut conn| follow::current_role(&mut conn, env))
            .or_exit(exit_code::REPLICATION)?,
    };
    let replication = &settings.replication;
    let report = verify::run(
        &role,
        &local,
        &replication.tls,
        &replication.cluster,
        timeout,
    )
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
