//! Events copied by a seed come ENABLED and would run on the replica too;
//! they are disabled here as replication disables the events it applies,
//! with the event scheduler paused meanwhile.

use anyhow::{Context, Result};

use crate::db::dialect::Dialect;
use crate::db::sql::{identifier, quote};
use crate::db::wire::Conn;
use crate::seed::not_user_schemas;

/// Stops the event scheduler while events copied from the source could
/// still run here; true when it was running, for `settle_copied_events`.
pub fn pause_events(conn: &mut Conn) -> Result<bool> {
    let running = conn
        .query("SELECT @@GLOBAL.event_scheduler AS e")?
        .get(0, "e")
        .is_some_and(|v| v.eq_ignore_ascii_case("ON"));
    if running {
        conn.query("SET GLOBAL event_scheduler = OFF")?;
        log::info!(
            "seeding: the event scheduler is paused until the copied events are disabled here"
        );
    }
    Ok(running)
}

/// After a seed: the copied events are disabled here with the scheduler
/// paused meanwhile (a clone's server comes up with it running), then a
/// scheduler that was paused, for the seed (`paused_for_seed`) or here,
/// runs again.
pub fn settle_copied_events(conn: &mut Conn, d: &Dialect, paused_for_seed: bool) -> Result<()> {
    let paused = pause_events(conn)? || paused_for_seed;
    let events = disable_copied_events(conn, d)?;
    if events > 0 {
        log::info!("seeding: {events} copied event(s) disabled here, as replication does (DISABLE ON SLAVE): they run on the source");
    }
    if paused {
        conn.query("SET GLOBAL event_scheduler = ON")?;
    }
    Ok(())
}

/// Events that came with a seed as they were on the source, ENABLED,
/// would also run on the replica, writing there what replication writes
/// (MariaDB's read_only does not stop an event whose definer has SUPER).
/// They are marked as replication marks the events it applies: disabled
/// on the replica, their definer kept. Outside the binary log; returns
/// how many there were.
fn disable_copied_events(conn: &mut Conn, d: &Dialect) -> Result<usize> {
    let events = conn.query(&format!(
        "SELECT EVENT_SCHEMA AS s, EVENT_NAME AS n, DEFINER AS definer \
         FROM information_schema.events WHERE STATUS = 'ENABLED' AND EVENT_SCHEMA NOT IN ({})",
        not_user_schemas()
    ))?;
    if events.rows.is_empty() {
        return Ok(0);
    }
    conn.query("SET SESSION sql_log_bin = 0")?;
    // As during a dump: read_only stays on, for all but root; the
    // replica's set-up turns super_read_only on again.
    if let Some(lift) = d.lift_super_read_only() {
        conn.query(lift)?;
    }
    for i in 0..events.rows.len() {
        let (Some(schema), Some(name), Some(definer)) = (
            events.get(i, "s"),
            events.get(i, "n"),
            events.get(i, "definer"),
        ) else {
            continue;
        };
        // ALTER EVENT makes whoever runs it the definer, unless told.
        let definer = match definer.rsplit_once('@') {
            Some((user, host)) => format!("{}@{}", quote(user), quote(host)),
            None => quote(definer),
        };
        conn.query(&format!(
            "ALTER DEFINER = {definer} EVENT {}.{} {}",
            identifier(schema),
            identifier(name),
            d.disable_event_on_replica()
        ))
        .with_context(|| format!("disabling the copied event {schema}.{name} on this replica"))?;
    }
    Ok(events.rows.len())
}
