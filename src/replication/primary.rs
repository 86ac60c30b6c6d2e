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
    writable_again(&mut conn, &d)?;
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
    let mut conn: Option<Conn> = None;
    let mut last_error = String::new();
    while stopping::pause(NEW_SCHEMAS_EVERY) {
        let attempt = |conn: &mut Option<Conn>| -> Result<Vec<String>> {
            let conn = match conn {
                Some(conn) => conn,
                None => conn.insert(local.log_in(Duration::from_secs(5))?),
            };
            donor_privileges::grant_new_schemas(conn, accounts::DONOR_USER, hosts)
        };
        match attempt(&mut conn) {
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
                conn = None;
                let text = format!("{e:#}");
                if text != last_error {
                    log::warn!("primary: cannot grant new schemas to the seeding account: {text}; trying again every {NEW_SCHEMAS_EVERY:?}");
                    last_error = text;
                }
            }
        }
    }
}

/// A primary that was a replica before keeps the read-only state that
/// replikit persisted then; a primary must take writes.
fn writable_again(conn: &mut Conn, d: &Dialect) -> Result<()> {
    let Some(statements) = d.unpersist_read_only() else {
        return Ok(());
    };
    let persisted = conn.query(
        "SELECT COUNT(*) AS n FROM performance_schema.persisted_variables \
         WHERE VARIABLE_NAME IN ('super_read_only', 'read_only') AND VARIABLE_VALUE = 'ON'",
    )?;
    if persisted.get(0, "n").unwrap_or("0") != "0" {
        log::info!("this server was persisted read-only (as a replica); as the primary it takes writes again");
        for sql in statements {
            conn.query(sql)?;
        }
    }
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
