//! `replikit maintenance on|off`: pauses or resumes automatic failover
//! for the whole cluster, through a key in etcd that every keeper reads
//! before it fails over (`dcs::leader`).

use std::time::{Duration, Instant};

use anyhow::anyhow;

use crate::config::cli::{MaintenanceOptions, OnOff};
use crate::config::settings::Settings;
use crate::dcs::leader::Leader;
use crate::exit_code::{self, Fatal, OrExit};

pub fn run(settings: &Settings, o: &MaintenanceOptions) -> Result<i32, Fatal> {
    let dcs = settings
        .ha
        .as_ref()
        .and_then(|ha| ha.dcs.as_ref())
        .ok_or_else(|| {
            anyhow!("REPLIKIT_DCS is not set: without etcd there is no automatic failover to pause")
        })
        .or_exit(exit_code::USAGE)?;
    let leader = Leader::new(dcs, &settings.replication.cluster);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (note, said) = match o.state {
        OnOff::On => (
            Some(o.note.as_str()),
            "automatic failover is paused on every node; replikit maintenance off resumes it",
        ),
        OnOff::Off => (None, "automatic failover is on again"),
    };
    leader
        .set_maintenance(note, deadline)
        .map_err(|e| e.context("cannot reach etcd"))
        .or_exit(exit_code::REPLICATION)?;
    println!("{said}");
    Ok(0)
}
