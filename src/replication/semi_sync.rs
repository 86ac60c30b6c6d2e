//! Semi-synchronous replication (REPLIKIT_SEMI_SYNC=on): a commit on the
//! primary is acknowledged to its client only once a replica has it, so
//! that a failover to the most advanced replica loses no acknowledged
//! write. Every node gets both sides, one on and one off, by its role:
//! the primary's source side, a replica's replica side; a change of
//! primary turns them round (`takeover`, `position::follow_new_primary`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::accounts;
use crate::db::dialect::Dialect;
use crate::db::wire::{Conn, Rows};

/// The server's own timeout where the keeper decides the fallback
/// (REPLIKIT_DCS): the largest both products take, 49 days.
pub const NEVER: Duration = Duration::from_millis(u32::MAX as u64);

/// Set while the keeper's fallback has the source side off: the start
/// path's set-up, retried, then leaves it off (`primary::set_up`). The
/// keeper and the start path are threads of PID 1, one process.
static KEEPER_FELL_BACK: AtomicBool = AtomicBool::new(false);

pub fn keeper_fell_back() -> bool {
    KEEPER_FELL_BACK.load(Ordering::SeqCst)
}

pub fn set_keeper_fell_back(fell_back: bool) {
    KEEPER_FELL_BACK.store(fell_back, Ordering::SeqCst);
}

/// A commit of the keeper's own (`dcs::fallback::Step::Prove`): one row,
/// replaced, in replikit's schema.
pub const PROOF: [&str; 3] = [
    "CREATE DATABASE IF NOT EXISTS replikit",
    "CREATE TABLE IF NOT EXISTS replikit.proof (\
     id TINYINT UNSIGNED NOT NULL PRIMARY KEY, \
     committed_at DATETIME(6) NOT NULL) ENGINE=InnoDB",
    "REPLACE INTO replikit.proof VALUES (1, UTC_TIMESTAMP(6))",
];

/// The primary's source side, as the keeper watches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceState {
    /// The source side is on (rpl_semi_sync_source_enabled).
    pub enabled: bool,
    /// It has not fallen back (Rpl_semi_sync_source_status).
    pub on: bool,
    /// Commits waiting for a replica's acknowledgement now.
    pub waiting: u64,
    /// Commits a replica acknowledged since the server started.
    pub acknowledged: u64,
}

impl SourceState {
    /// From `Dialect::semi_sync_source_progress`'s rows (pure).
    pub fn from_progress(enabled: bool, rows: &Rows) -> Result<SourceState> {
        let value = |suffix: &str| -> Result<&str> {
            (0..rows.rows.len())
                .find(|&i| {
                    rows.get(i, "Variable_name")
                        .is_some_and(|n| n.to_ascii_lowercase().ends_with(suffix))
                })
                .and_then(|i| rows.get(i, "Value"))
                .with_context(|| format!("the server reports no semi-synchronous {suffix}"))
        };
        let count = |suffix: &str| -> Result<u64> {
            let v = value(suffix)?;
            v.parse()
                .with_context(|| format!("semi-synchronous {suffix} {v:?} is not a count"))
        };
        Ok(SourceState {
            enabled,
            on: value("_status")?.eq_ignore_ascii_case("ON"),
            waiting: count("_wait_sessions")?,
            acknowledged: count("_yes_tx")?,
        })
    }
}

/// The primary's source side now.
pub fn source_state(conn: &mut Conn, d: &Dialect) -> Result<SourceState> {
    let enabled = conn
        .query(&d.semi_sync_source_enabled())?
        .get(0, "on")
        .is_some_and(|v| v == "1");
    SourceState::from_progress(enabled, &conn.query(&d.semi_sync_source_progress())?)
}

/// Whether a replica's binary log session has sent it everything: the
/// sign that turning the source side on again will not make commits wait
/// out the timeout. Only a sign (a replica cut off still shows it while
/// its socket takes bytes); the acknowledgement that follows is the proof.
pub fn a_replica_is_caught_up(conn: &mut Conn) -> Result<bool> {
    let rows = conn.query(
        "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST \
         WHERE COMMAND IN ('Binlog Dump', 'Binlog Dump GTID') \
         AND STATE LIKE '%has sent all binlog%'",
    )?;
    Ok(rows.get(0, "n").is_some_and(|n| n != "0"))
}

/// The sessions whose commits wait for a replica's acknowledgement (both
/// products name that state so), killed or not.
fn waiting_commits(conn: &mut Conn) -> Result<Vec<u64>> {
    let rows = conn.query(
        "SELECT ID AS id FROM information_schema.PROCESSLIST \
         WHERE STATE LIKE 'Waiting for semi-sync ACK%'",
    )?;
    Ok(rows.column("id").filter_map(|v| v.parse().ok()).collect())
}

/// Whether a commit waits for a replica's acknowledgement now.
pub fn a_commit_waits(conn: &mut Conn) -> Result<bool> {
    Ok(!waiting_commits(conn)?.is_empty())
}

/// Ends the sessions whose commits wait for a replica's acknowledgement;
/// one gone already is as good.
fn end_waiting_commits(conn: &mut Conn) -> Result<()> {
    for id in waiting_commits(conn)? {
        let _ = conn.query(&format!("KILL CONNECTION {id}"));
    }
    Ok(())
}

/// This node's semi-sync side: the source's (`source`) or the replica's.
/// On MySQL the plugins are loaded first, once (they stay loaded across
/// restarts, in mysql.plugin). A replica whose I/O thread runs is
/// restarted on that thread when its side was off: the setting takes
/// effect at the thread's next connection.
pub fn take_side(conn: &mut Conn, d: &Dialect, source: bool, timeout: Duration) -> Result<()> {
    load_plugins(conn, d)?;
    let is_on = |conn: &mut Conn, query: String| -> Result<bool> {
        Ok(conn.query(&query)?.get(0, "on").is_some_and(|v| v == "1"))
    };
    let replica_was_on = is_on(conn, d.semi_sync_replica_enabled())?;
    let source_was_on = is_on(conn, d.semi_sync_source_enabled())?;
    if !source && source_was_on {
        // A commit still waiting for a replica on a node that becomes one
        // (a fenced former primary: MariaDB lets READ ONLY ADMIN write
        // through read_only) must never be acknowledged: turning the
        // source side off would tell its client it committed. Its session
        // is ended first.
        end_waiting_commits(conn)?;
    }
    for sql in d.semi_sync(source, timeout) {
        conn.query(&sql)
            .with_context(|| format!("semi-synchronous replication: {sql}"))?;
    }
    // Replicas that connected while the source side was off (a primary
    // restarting starts with it off) would stay asynchronous, and every
    // commit would wait out the timeout: their binary log sessions are
    // ended, and they connect again within a second, acknowledging.
    if source && !source_was_on && d.semi_sync_settled_at_connect() {
        let dumps = conn.query(
            "SELECT ID AS id FROM information_schema.PROCESSLIST \
             WHERE COMMAND IN ('Binlog Dump', 'Binlog Dump GTID')",
        )?;
        for id in dumps.column("id").filter_map(|v| v.parse::<u64>().ok()) {
            // Gone already is as good.
            let _ = conn.query(&format!("KILL CONNECTION {id}"));
        }
    }
    if !source && !replica_was_on {
        let io_running =
            crate::status::node::ReplicaState::from_rows(&conn.query(d.replica_status())?)
                .is_some_and(|r| r.io_running == "Yes" || r.io_running == "Connecting");
        if io_running {
            conn.query(d.stop_replica_io())?;
            conn.query(d.start_replica_io())?;
        }
    }
    Ok(())
}

/// MySQL's two plugins, where not loaded yet. INSTALL PLUGIN is refused
/// under super_read_only, which a fenced node has: it is lifted for that
/// statement alone, read_only staying on (only accounts with
/// CONNECTION_ADMIN could write in that moment, as on any read-only
/// replica), and set again.
fn load_plugins(conn: &mut Conn, d: &Dialect) -> Result<()> {
    for (name, library) in d.semi_sync_plugins() {
        let loaded = conn.query(&format!(
            "SELECT COUNT(*) AS n FROM information_schema.PLUGINS WHERE PLUGIN_NAME = '{name}'"
        ))?;
        if loaded.get(0, "n") == Some("1") {
            continue;
        }
        accounts::with_super_read_only_lifted(conn, d, |conn| {
            conn.query(&format!("INSTALL PLUGIN {name} SONAME '{library}'"))
                .map(drop)
        })
        .with_context(|| format!("loading {library} for semi-synchronous replication"))?;
        log::info!("semi-synchronous replication: loaded {name} ({library})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(prefix: &str, status: &str, waiting: &str, yes: &str) -> Rows {
        Rows {
            columns: vec!["Variable_name".into(), "Value".into()],
            rows: [
                ("status", status),
                ("wait_sessions", waiting),
                ("yes_tx", yes),
            ]
            .iter()
            .map(|(n, v)| vec![Some(format!("{prefix}_{n}")), Some(v.to_string())])
            .collect(),
        }
    }

    #[test]
    fn the_source_state_reads_both_products_names() {
        for prefix in ["Rpl_semi_sync_source", "Rpl_semi_sync_master"] {
            let state =
                SourceState::from_progress(true, &progress(prefix, "OFF", "3", "1042")).unwrap();
            assert_eq!(
                state,
                SourceState {
                    enabled: true,
                    on: false,
                    waiting: 3,
                    acknowledged: 1042
                }
            );
        }
        let on =
            SourceState::from_progress(false, &progress("Rpl_semi_sync_master", "ON", "0", "0"));
        assert!(on.unwrap().on);
    }

    #[test]
    fn a_missing_or_bad_count_is_an_error_naming_it() {
        let mut rows = progress("Rpl_semi_sync_source", "ON", "x", "1");
        let e = SourceState::from_progress(true, &rows).unwrap_err();
        assert_eq!(
            e.to_string(),
            "semi-synchronous _wait_sessions \"x\" is not a count"
        );
        rows.rows[1][1] = Some("0".into());
        rows.rows.pop();
        let e = SourceState::from_progress(true, &rows).unwrap_err();
        assert!(e.to_string().contains("_yes_tx"), "{e}");
    }
}
