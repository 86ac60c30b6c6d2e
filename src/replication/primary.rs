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
use crate::replication::{wait_for_local_server, Job};
use crate::seed::clone;

pub fn set_up(p: &Primary, job: &Job) -> Result<String> {
    let (mut conn, d) = wait_for_local_server(job)?;
    // The source side before the first write, so that none is
    // acknowledged without a replica. Not where the keeper fell back: it
    // turned the side off to let this set-up's own writes go on (a new
    // cluster's first primary has no replica yet), and a retry of the
    // set-up must not turn it back on.
    if let Some(timeout) = job.semi_sync {
        if !crate::replication::semi_sync::keeper_fell_back() {
            crate::replication::semi_sync::take_side(&mut conn, &d, true, timeout)?;
        }
    }
    take_writes(&mut conn, &d)?;
    set_up_accounts(&mut conn, &d, p, job.local, job.repl_host, job.cluster)
}

/// The accounts a primary's replicas log in with, and the monitor's.
/// Never touches read-only: a node made the primary by a switchover runs
/// this too, and must not undo a fence that came after it.
pub fn set_up_accounts(
    conn: &mut Conn,
    d: &Dialect,
    p: &Primary,
    local: &LocalServer,
    hosts: &str,
    cluster: &str,
) -> Result<String> {
    accounts::ensure_monitor(conn, local, d)?;
    let Some(creds) = &p.replication else {
        return Ok("primary: no MYSQL_REPL_USER given, so no replication account to create".into());
    };
    // The donor first: once a replica is let in as the replication
    // account, the donor account is there too.
    let donor = accounts::donor(creds, cluster);
    donor_privileges::set_up(conn, d, &donor, hosts)?;
    offer_clone(conn, d, &donor, hosts)?;
    accounts::create_or_update(conn, creds, hosts, REPLICA_GRANTS, Scope::Replicated)?;
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
/// PID 1 stops.
pub fn keep_donor_reading(local: &LocalServer, hosts: &str) {
    crate::replication::watch_local(
        local,
        NEW_SCHEMAS_EVERY,
        "granting new schemas to the seeding account",
        |conn| grant_new_schemas(conn, hosts),
    );
}

/// Grants the donor the schemas it cannot read yet, saying which.
pub fn grant_new_schemas(conn: &mut Conn, hosts: &str) -> Result<()> {
    for schema in donor_privileges::grant_new_schemas(conn, accounts::DONOR_USER, hosts)? {
        log::info!(
            "primary: {} may read the new schema {schema:?} now, for seeding replicas",
            accounts::DONOR_USER
        );
    }
    Ok(())
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
