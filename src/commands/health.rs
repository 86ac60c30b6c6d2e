//! `replikit health`: 0 when this node is fit to serve, else 1 and one
//! line saying why. For HEALTHCHECK and probes.

use std::io::Write;
use std::time::Duration;

use anyhow::anyhow;

use crate::config::cli::HealthOptions;
use crate::config::settings::Settings;
use crate::exit_code::{self, Fatal, OrExit};
use crate::status::health::{self, Checks};

pub fn run(settings: &Settings, o: &HealthOptions) -> Result<i32, Fatal> {
    let max_lag = o
        .max_lag
        .as_deref()
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                anyhow!("--max-lag {v:?} is not a number of seconds; give one like 30")
            })
        })
        .transpose()
        .or_exit(exit_code::USAGE)?;
    let local = settings.local_server().or_exit(exit_code::USAGE)?;
    let role = settings.node.role_name();
    let checks = Checks {
        connect: o.connect,
        ready: o.ready,
        replication: o.replication,
        max_lag,
        errant: o.errant,
    }
    .or_default_for(role);
    let source = settings.node.role().ok().map(|role| health::Source {
        role,
        tls: &settings.replication.tls,
        cluster: &settings.replication.cluster,
    });
    match health::probe(
        &local,
        role,
        &checks,
        Duration::from_secs(5),
        source.as_ref(),
    ) {
        Ok(()) => Ok(0),
        Err(reason) => {
            let _ = writeln!(std::io::stderr(), "replikit: unhealthy: {reason}");
            Ok(1)
        }
    }
}
