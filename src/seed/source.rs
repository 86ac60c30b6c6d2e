//! What the source holds, read before a seed: its user schemas, whether it
//! purged binary logs, whether it has MySQL's GTIDs, about how big it is,
//! and, for a source without user data, its position alone.

use anyhow::{bail, Result};

use crate::accounts::donor_privileges;
use crate::db::dialect::{Dialect, Product};
use crate::db::sql::quote;
use crate::db::wire::Conn;
use crate::seed::dump::Coordinates;
use crate::seed::{not_user_schemas, user_schemas};

/// The source's facts: its schemas, whether it purged logs, whether it
/// has MySQL's GTIDs.
pub struct SourceFacts {
    pub schemas: Vec<String>,
    pub purged: bool,
    pub mysql_gtids: bool,
}

/// `d`: the source's dialect.
pub fn source_facts(conn: &mut Conn, d: &Dialect) -> Result<SourceFacts> {
    let schemas = readable_user_schemas(conn)?;
    let (purged, mysql_gtids) = match d.version.product {
        Product::MySql => {
            let rows =
                conn.query("SELECT @@GLOBAL.gtid_mode AS mode, @@GLOBAL.gtid_purged AS purged")?;
            (
                !rows.get(0, "purged").unwrap_or_default().is_empty(),
                rows.get(0, "mode")
                    .is_some_and(|m| m.eq_ignore_ascii_case("ON")),
            )
        }
        Product::MariaDb => (mariadb_purged(conn), false),
    };
    Ok(SourceFacts {
        schemas,
        purged,
        mysql_gtids,
    })
}

/// The source's user schemas, once this account can read every one: a
/// copy without one would leave the replica short in silence. Retried, as
/// the source's replikit grants a new schema within seconds.
pub fn readable_user_schemas(conn: &mut Conn) -> Result<Vec<String>> {
    let schemas = user_schemas(conn)?;
    let unreadable = donor_privileges::unreadable(conn, &schemas)?;
    if !unreadable.is_empty() {
        bail!(
            "the source's schemas {unreadable:?} are not readable by this replica's account yet: \
             replikit as the source's entrypoint grants a new schema within seconds, \
             and `replikit prepare` on the source when it runs again"
        );
    }
    Ok(schemas)
}

/// About how many bytes the source's user tables hold (information_schema
/// sizes), for the progress estimate. Asked only once a seed is decided:
/// with fresh sizes, MySQL opens every table to answer.
pub fn source_size(conn: &mut Conn, d: &Dialect) -> Result<u64> {
    // Stale sizes would put the progress estimate off by any factor.
    if let Some(fresh) = d.fresh_table_sizes() {
        conn.query(fresh)?;
    }
    let rows = conn.query(&format!(
        "SELECT CAST(COALESCE(SUM(data_length + index_length), 0) AS UNSIGNED) AS b \
         FROM information_schema.tables WHERE table_schema NOT IN ({})",
        not_user_schemas()
    ))?;
    Ok(rows.get(0, "b").and_then(|b| b.parse().ok()).unwrap_or(0))
}

/// Whether a MariaDB source purged binary logs: its oldest log then begins
/// with the GTIDs written before it (a Gtid_list event that is not `[]`).
/// MariaDB then refuses a new replica that asks to start from the
/// beginning. A source that does not answer (an old server without
/// BINLOG MONITOR) counts as not purged, which is logged.
fn mariadb_purged(conn: &mut Conn) -> bool {
    match conn.query("SHOW BINLOG EVENTS LIMIT 3") {
        Ok(rows) => gtid_list_in(&rows).is_some_and(|list| list != "[]"),
        Err(e) => {
            log::warn!(
                "cannot read the source's oldest binary log, so purged logs go unnoticed: {e:#}"
            );
            false
        }
    }
}

/// The Gtid_list event's text among the first events of a binary log.
fn gtid_list_in(events: &crate::db::wire::Rows) -> Option<&str> {
    (0..events.rows.len())
        .find(|&i| events.get(i, "Event_type") == Some("Gtid_list"))
        .and_then(|i| events.get(i, "Info"))
}

/// A snapshot of a source that holds no user data: nothing to copy, only
/// a position, read from the source's binary log status. Read before the
/// schemas are listed once more, so that a schema created in between lies
/// after the position; None when one was (a dump is needed after all).
pub fn position_without_data(
    conn: &mut Conn,
    source: &Dialect,
    mysql_gtids: bool,
) -> Result<Option<EmptySnapshot>> {
    let status = conn.query(source.binlog_status())?;
    let (Some(file), Some(pos)) = (
        status.get(0, "File").map(str::to_string),
        status
            .get(0, "Position")
            .and_then(|p| p.parse::<u64>().ok()),
    ) else {
        bail!(
            "the source shows no binary log position ({}); is its binary log on?",
            source.binlog_status()
        );
    };
    let mut at = Coordinates {
        file: Some(file.clone()),
        pos: Some(pos),
        mariadb_gtid: None,
    };
    let mut mysql_gtid_set = None;
    match source.version.product {
        Product::MariaDb => {
            let rows = conn.query(&format!(
                "SELECT BINLOG_GTID_POS({}, {pos}) AS g",
                quote(&file)
            ))?;
            at.mariadb_gtid = rows.get(0, "g").map(str::to_string);
        }
        Product::MySql if mysql_gtids => {
            mysql_gtid_set = status
                .get(0, "Executed_Gtid_Set")
                .map(|g| g.replace('\n', ""));
        }
        Product::MySql => {}
    }
    if !user_schemas(conn)?.is_empty() {
        return Ok(None);
    }
    Ok(Some(EmptySnapshot { at, mysql_gtid_set }))
}

/// Where a replica of a source without user data starts.
pub struct EmptySnapshot {
    pub at: Coordinates,
    /// MySQL with GTIDs: the source's executed set, which becomes the
    /// replica's gtid_purged.
    pub mysql_gtid_set: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_logs_gtid_list_tells_whether_logs_were_purged() {
        use crate::db::wire::Rows;
        let events = |list: Option<&str>| Rows {
            columns: vec!["Log_name".into(), "Event_type".into(), "Info".into()],
            rows: [
                Some((
                    "Format_desc",
                    "Server ver: 11.8.6-MariaDB-log, Binlog ver: 4",
                )),
                list.map(|l| ("Gtid_list", l)),
                Some(("Binlog_checkpoint", "binlog.000003")),
            ]
            .into_iter()
            .flatten()
            .map(|(t, i)| vec![Some("binlog.000003".into()), Some(t.into()), Some(i.into())])
            .collect(),
        };
        assert_eq!(gtid_list_in(&events(Some("[]"))), Some("[]"));
        assert_eq!(
            gtid_list_in(&events(Some("[0-1-5,1-2-9]"))),
            Some("[0-1-5,1-2-9]")
        );
        assert_eq!(gtid_list_in(&events(None)), None);
        assert_eq!(gtid_list_in(&Rows::default()), None);
    }
}
