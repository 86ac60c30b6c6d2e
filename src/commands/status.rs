//! `replikit status`: this node's role, server, read-only state and
//! replication, for people; `--json` for scripts (docs/status.schema.json).

use std::time::{Duration, Instant};

use crate::accounts;
use crate::config::cli::StatusOptions;
use crate::config::role::{Role, RoleName};
use crate::config::settings::Settings;
use crate::db::dialect::Dialect;
use crate::dcs::leader::{value_for, Leader};
use crate::exit_code::{self, Fatal, OrExit};
use crate::status::{errant, health, node};

pub fn run(settings: &Settings, o: &StatusOptions) -> Result<i32, Fatal> {
    let local = settings.local_server().or_exit(exit_code::USAGE)?;
    let mut conn = accounts::log_in_as_monitor(&local, Duration::from_secs(5))
        .or_exit(exit_code::REPLICATION)?;
    let role = health::role_now(&mut conn, settings.node.role().ok(), settings.ha.is_some())
        .or_exit(exit_code::REPLICATION)?;
    let name = role.as_ref().map_or(RoleName::Unknown, Role::name);
    let mut status = node::read(&mut conn, name, true).or_exit(exit_code::REPLICATION)?;
    if let (Some(role), Ok(d)) = (&role, Dialect::of(&conn.server_version)) {
        status.errant = errant::check(
            role,
            &mut conn,
            &d,
            &settings.replication.tls,
            &settings.replication.cluster,
        );
    }
    if o.json {
        println!("{}", status.to_json());
        return Ok(0);
    }
    println!("{}", status.to_text());
    if let Some(dcs) = settings.ha.as_ref().and_then(|ha| ha.dcs.as_ref()) {
        let leader = Leader::new(dcs, &settings.replication.cluster);
        println!("{}", leader_lines(&leader, status.server_id));
    }
    Ok(0)
}

/// The leader key and whether automatic failover is paused, as etcd has
/// them (text only: the JSON layout is versioned, docs/status.schema.json).
fn leader_lines(leader: &Leader, server_id: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(3);
    let holder = match leader.holder(deadline) {
        Ok(Some(h)) if u32::try_from(server_id).is_ok_and(|id| h.value == value_for(id)) => {
            format!("{} (this node)", h.value)
        }
        Ok(Some(h)) => h.value,
        Ok(None) => "nobody (no primary holds a lease)".into(),
        Err(e) => return format!("leader key:   unknown: {e:#}"),
    };
    let failover = match leader.maintenance(deadline) {
        Ok(None) => "automatic".to_string(),
        Ok(Some(note)) => {
            format!("paused for maintenance ({note:?}); replikit maintenance off resumes it")
        }
        Err(e) => format!("unknown: {e:#}"),
    };
    format!("leader key:   {holder}\nfailover:     {failover}")
}
