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
    let asked = Checks {
        connect: o.connect,
        ready: o.ready,
        replication: o.replication,
        max_lag,
        errant: o.errant,
        writable: o.writable,
    };
    let node = health::Node {
        role: settings.node.role().ok(),
        follows_topology: settings.ha.is_some(),
        compare: Some(health::Compare {
            tls: &settings.replication.tls,
            cluster: &settings.replication.cluster,
        }),
    };
    match health::probe(
        &local,
        &node,
        |role| asked.or_default_for(role),
        Duration::from_secs(5),
    ) {
        Ok(()) => Ok(0),
        Err(reason) => {
            let why = match settings.ha.as_ref().and_then(|ha| ha.dcs.as_ref()) {
                Some(dcs) if reason.starts_with("--writable") => {
                    format!(
                        "{reason}; {}",
                        leader_key(dcs, &settings.replication.cluster)
                    )
                }
                _ => reason,
            };
            let _ = writeln!(std::io::stderr(), "replikit: unhealthy: {why}");
            Ok(1)
        }
    }
}

/// Who holds the leader key, for a node that should take writes and does
/// not: with REPLIKIT_DCS, its keeper fenced it or waits for the key.
fn leader_key(dcs: &crate::config::dcs::DcsSettings, cluster: &str) -> String {
    let leader = crate::dcs::leader::Leader::new(dcs, cluster);
    match leader.holder(std::time::Instant::now() + Duration::from_secs(2)) {
        Ok(Some(h)) => format!("the leader key in etcd is held by {}", h.value),
        Ok(None) => "the leader key in etcd is free (no primary holds a lease)".into(),
        Err(e) => format!("etcd does not answer, so this node may not take writes ({e:#})"),
    }
}
