//! `replikit status`: this node's role, server, read-only state and
//! replication, for people; `--json` for scripts (docs/status.schema.json).

use std::time::Duration;

use crate::accounts;
use crate::config::cli::StatusOptions;
use crate::config::role::{Role, RoleName};
use crate::config::settings::Settings;
use crate::db::dialect::Dialect;
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
