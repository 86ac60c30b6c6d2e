//! The primary's side: it takes writes, and it creates the accounts its
//! replicas log in with (the donor account first, so that once a replica
//! is let in, seeding can begin), offering clone where the server has it.

use std::time::Duration;

use anyhow::Result;

use crate::accounts::{self, donor_privileges, Scope, REPLICA_GRANTS};
use crate::config::role::{Credentials, Primary};
use crate::db::dialect::Dialect;
use crate::db::local::LocalServer;
use crate::db::sql::quote;
use crate::db::wire::Conn;
use crate::pid1::stopping;
use crate::replication::{wait_for_local_server, Job};
use crate::seed::clone;

pub fn set_up(p: &Primary, job: &Job) -> Result<String> {
    let (mut conn, d) = wait_for_local_server(job)?;
    take_writes(&mut conn, &d)?;
    accounts::ensure_monitor(&mut conn, job.local, &d)?;
    let Some(creds) = &p.replication else {
        return Ok("primary: no MYSQL_REPL_USER given, so no replication account to create".into());
    };
    // The donor first: once a replica is let in as the replication
    // account, the donor account is there too.
    let donor = accounts::donor(creds, job.cluster);
    let hosts = job.repl_host;
    donor_privileges::set_up(&mut conn, &d, &donor, hosts)?;
    offer_clone(&mut conn, &d, &donor, hosts)?;
    accounts::create_or_update(&mut conn, creds, hosts, REPLICA_GRANTS, Scope::Replicated)?;
    Ok(format!(
        "primary: replication account {} and seeding account {} for hosts {hosts} are ready",
        creds.user, donor.user
    ))
}

/// How often PID 1 on a primary looks for user schemas that the donor
/// cannot read yet.
const NEW_SCHEMAS_EVERY: Duration = Duration::from_secs(3);

/// PID 1's watch on a primary, once it is set up: a schema created since
/// is granted to the donor within NEW_SCHEMAS_EVERY, so that the next
/// replica's seed can read it (`accounts::donor_privileges`). Runs until
/// PID 1 stops; a failure (the server restarting) is logged once and
/// tried again.
pub fn keep_donor_reading(local: &LocalServer, hosts: &str) {
    let mut last_error = String::new();
    while stopping::pause(NEW_SCHEMAS_EVERY) {
        grant_new_schemas_once(local, hosts, &mut last_error);
    }
}

/// One look for schemas the donor cannot read yet; a failure is logged
/// when it differs from `last_error`.
pub fn grant_new_schemas_once(local: &LocalServer, hosts: &str, last_error: &mut String) {
    let attempt = || -> Result<Vec<String>> {
        let mut conn = local.log_in(Duration::from_secs(5))?;
        donor_privileges::grant_new_schemas(&mut conn, accounts::DONOR_USER, hosts)
    };
    match attempt() {
        Ok(granted) => {
            last_error.clear();
            for schema in granted {
                log::info!(
                    "primary: {} may read the new schema {schema:?} now, for seeding replicas",
                    accounts::DONOR_USER
                );
            }
        }
        Err(e) => {
            let text = format!("{e:#}");
            if text != *last_error {
                log::warn!("primary: cannot grant new schemas to the seeding account: {text}; trying again every {NEW_SCHEMAS_EVERY:?}");
                *last_error = text;
            }
        }
    }
}

/// The primary takes writes: the server starts read-only (replikit's
/// init-file fences it, and a node that was a replica has read-only
/// persisted), and replikit lifts that here, once it has decided that
/// this node is the primary.
pub fn take_writes(conn: &mut Conn, d: &Dialect) -> Result<()> {
    let rows = conn.query("SELECT @@GLOBAL.read_only AS ro")?;
    if rows.get(0, "ro") == Some("0") {
        return Ok(());
    }
    for sql in d.set_writable() {
        conn.query(sql)?;
    }
    log::info!(
        "this node takes writes now (it started read-only, fenced until replikit decided its role)"
    );
    Ok(())
}

/// On MySQL 8.0.17+, the clone plugin and the donor's BACKUP_ADMIN, so
/// that replicas can seed by clone. Where the plugin cannot be installed,
/// replicas seed with a dump instead.
fn offer_clone(conn: &mut Conn, d: &Dialect, donor: &Credentials, host: &str) -> Result<()> {
    if !d.version.has_clone() {
        return Ok(());
    }
    if let Err(e) = clone::ensure_plugin(conn) {
        log::warn!("replicas will seed with a dump, not clone: {e:#}");
        return Ok(());
    }
    conn.query(&format!(
        "GRANT BACKUP_ADMIN ON *.* TO {}@{}",
        quote(&donor.user),
        quote(host)
    ))?;
    Ok(())
}
