//! Where a replica starts and how it is pointed there: GTIDs where both
//! sides have them, else binary log coordinates (a seed's own, or the
//! start of the source's oldest log).

use anyhow::Result;

use crate::config::role::{Credentials, Replica};
use crate::db::dialect::{positioning, Dialect, Position, SourceSpec};
use crate::db::error::redacted;
use crate::db::wire::Conn;
use crate::replication::retry::permanent;
use crate::replication::source::{log_in_to_source, Source};
use crate::replication::Job;
use crate::seed::dump::Coordinates;

/// MySQL's `@@GLOBAL.gtid_mode` of the server behind `conn`; None on MariaDB.
pub fn gtid_mode(conn: &mut Conn, d: &Dialect) -> Result<Option<String>> {
    match d.gtid_mode_query() {
        Some(query) => Ok(conn.query(query)?.get(0, "gtid_mode").map(str::to_string)),
        None => Ok(None),
    }
}

/// GTIDs where both sides have them, else binary log coordinates.
/// `on_source`: a log-in to the source already made, if any.
pub fn choose_position(
    conn: &mut Conn,
    d: &Dialect,
    r: &Replica,
    source: &Source,
    on_source: Option<Conn>,
    creds: &Credentials,
    job: &Job,
) -> Result<Position<'static>> {
    Ok(match d.gtid_mode_query() {
        // MariaDB: GTIDs are always there.
        None => Position::Gtid,
        Some(_) => {
            let mine = gtid_mode(conn, d)?;
            let theirs = match on_source {
                Some(mut source) => gtid_mode(&mut source, d)?,
                None => {
                    let mut source = log_in_to_source(r, source, creds, job.deadline)?;
                    gtid_mode(&mut source, d)?
                }
            };
            positioning(theirs.as_deref(), mine.as_deref())
                .map_err(|e| permanent(format!("{e:#}")))?
        }
    })
}

/// Where a seeded replica starts: GTID auto-positioning where `chosen`
/// says GTIDs (MariaDB's position set from the snapshot first; MySQL's came
/// with it), else the snapshot's binary log coordinates.
pub fn seeded_position<'a>(
    conn: &mut Conn,
    d: &Dialect,
    at: &'a Coordinates,
    chosen: Position<'static>,
) -> Result<Position<'a>> {
    if chosen != Position::Gtid {
        return match (&at.file, at.pos) {
            (Some(file), Some(pos)) => Ok(Position::File { file, pos }),
            _ => Err(permanent(
                "the snapshot did not give the source's binary log position; the seed cannot be trusted".into(),
            )),
        };
    }
    if d.gtid_start_is_set_by_hand() {
        let Some(gtid) = &at.mariadb_gtid else {
            return Err(permanent(
                "the dump did not give the source's GTID position; the seed cannot be trusted"
                    .into(),
            ));
        };
        conn.query(&d.set_gtid_start(gtid))?;
    }
    Ok(Position::Gtid)
}

/// Points this replica at its source from `position` and starts it.
pub fn point_at_source(
    conn: &mut Conn,
    d: &Dialect,
    r: &Replica,
    source: &Source,
    creds: &Credentials,
    position: Position,
) -> Result<()> {
    if position == Position::OldestBinlog {
        log::info!("no GTIDs: replicating from the start of the source's oldest binary log");
    }
    let spec = SourceSpec {
        host: &r.source_host,
        port: r.source_port,
        user: &creds.user,
        password: &creds.password,
        position,
        tls: source.tls(),
        public_key: source.key_path.as_deref(),
    };
    let change = d
        .change_source(&spec)
        .map_err(|e| permanent(format!("{e:#}")))?;
    conn.query(&change)
        .map_err(redacted("configuring replication", &creds.password))?;
    conn.query(d.start_replica())?;
    Ok(())
}

/// Points this node at the primary of `to` after a change of primary,
/// continuing from the GTIDs it has (`Position::GtidContinuing`): a
/// former primary or a replica of the old one. Read-only first.
pub fn follow_new_primary(
    conn: &mut Conn,
    d: &Dialect,
    to: &crate::replication::topology::Record,
    creds: &Credentials,
    tls: &crate::db::dialect::Tls,
    public_key: Option<&str>,
    semi_sync: Option<std::time::Duration>,
) -> Result<()> {
    conn.query(d.set_read_only())?;
    if let Some(timeout) = semi_sync {
        crate::replication::semi_sync::take_side(conn, d, false, timeout)?;
    }
    if crate::status::node::ReplicaState::from_rows(&conn.query(d.replica_status())?).is_some() {
        conn.query(d.stop_replica())?;
    }
    let change = d.change_source(&SourceSpec {
        host: &to.host,
        port: to.port,
        user: &creds.user,
        password: &creds.password,
        position: Position::GtidContinuing,
        tls,
        public_key,
    })?;
    conn.query(&change)
        .map_err(redacted("repointing replication", &creds.password))?;
    conn.query(d.start_replica())?;
    Ok(())
}
