//! Semi-synchronous replication (REPLIKIT_SEMI_SYNC=on): a commit on the
//! primary is acknowledged to its client only once a replica has it, so
//! that a failover to the most advanced replica loses no acknowledged
//! write. Every node gets both sides, one on and one off, by its role:
//! the primary's source side, a replica's replica side; a change of
//! primary turns them round (`takeover`, `position::follow_new_primary`).

use std::time::Duration;

use anyhow::{Context, Result};

use crate::accounts;
use crate::db::dialect::Dialect;
use crate::db::wire::Conn;

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
