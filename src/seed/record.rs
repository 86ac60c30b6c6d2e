//! The replica's side of a seed: the marker schema that lives for the
//! whole copy (an interrupted seed is found and redone, never replicated
//! onto), clearing what an earlier attempt left, and the record of how the
//! node was seeded, for `replikit status`.

use anyhow::Result;

use crate::db::dialect::Dialect;
use crate::db::sql::{identifier, quote};
use crate::db::wire::Conn;
use crate::seed::user_schemas;

/// The marker of a seed in progress (a schema, so it lives and dies with
/// the datadir it describes).
pub const MARKER: &str = "replikit_seed_incomplete";

/// Whether the marker of an unfinished seed is there.
pub fn interrupted(conn: &mut Conn) -> Result<bool> {
    let rows = conn.query(&format!(
        "SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name = {}",
        quote(MARKER)
    ))?;
    Ok(rows.get(0, "n") == Some("1"))
}

/// Before a copy: the marker goes in, anything an earlier attempt left
/// goes out, and only root may write. Nothing here is written to the
/// replica's binary log.
pub fn prepare_local(conn: &mut Conn, d: &Dialect) -> Result<()> {
    // Read-only for everyone but root, who loads the copy: applications
    // must not see (or write to) a half-seeded replica.
    if let Some(lift) = d.lift_super_read_only() {
        conn.query(lift)?;
    }
    conn.query("SET GLOBAL read_only = ON")?;
    conn.query("SET SESSION sql_log_bin = 0")?;
    // A set-up from an interrupted attempt points at its snapshot.
    let _ = conn.query(d.stop_replica());
    conn.query(d.reset_replica_all())?;
    conn.query(&format!("CREATE DATABASE IF NOT EXISTS `{MARKER}`"))?;
    for schema in user_schemas(conn)? {
        log::info!("seeding: dropping {schema:?}, left by the interrupted seed");
        conn.query(&format!("DROP DATABASE {}", identifier(&schema)))?;
    }
    if let Some(reset) = d.reset_gtid_history() {
        // The dump sets gtid_purged, which needs an empty history.
        conn.query(reset)?;
    }
    Ok(())
}

/// Records how this node was seeded, for `replikit status`: a file in the
/// server's datadir (replikit runs beside the server), written atomically.
pub fn record(conn: &mut Conn, how: &str) -> Result<()> {
    let rows = conn.query("SELECT @@datadir AS d")?;
    let Some(dir) = rows.get(0, "d") else {
        return Ok(());
    };
    let path = std::path::Path::new(dir).join(crate::status::node::SEED_RECORD);
    let text = format!("{how}, finished {}\n", utc_now());
    if let Err(e) = crate::identity::atomic_file::write_if_changed(
        &path,
        None,
        text.as_bytes(),
        crate::identity::atomic_file::Durability::Synced,
    ) {
        // Only `status` reads it: not worth failing the set-up for.
        log::warn!("cannot record the seed in {}: {e:#}", path.display());
    }
    Ok(())
}

/// Now in UTC as 2026-11-22T23:01:02Z.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc(secs)
}

/// Seconds since 1970 as an ISO 8601 UTC time (pure): the days become a
/// civil date by the Gregorian calendar's 400-year cycles.
pub fn utc(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Counted from 0000-03-01, so that a leap day ends its cycle's year.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// After replication runs from the snapshot: the seed is complete.
pub fn finish_local(conn: &mut Conn) -> Result<()> {
    // A clone leaves no marker (and its server may be read-only already).
    if interrupted(conn)? {
        conn.query("SET SESSION sql_log_bin = 0")?;
        conn.query(&format!("DROP DATABASE `{MARKER}`"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_795_388_462), "2026-11-22T23:01:02Z");
        assert_eq!(utc(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(utc(4_107_542_400), "2100-03-01T00:00:00Z");
    }
}
