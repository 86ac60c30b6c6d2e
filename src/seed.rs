//! Seeding a new replica: whether to (`decide`, pure), and doing it with a
//! dump (`dump`) so that the replica starts from the snapshot's exact
//! position. A replica that joins late then holds everything the source
//! holds, instead of breaking on the first UPDATE of a row it never got.
//!
//! An interrupted seed must never turn into a replica that replicates onto
//! half the data: a marker schema is created before the copy and dropped
//! only once replication runs from the snapshot's position. A start that
//! finds the marker throws the partial copy away and seeds again.

use std::str::FromStr;

use anyhow::{bail, Context, Result};

use crate::db::flavor::{Dialect, Product, ServerVersion};
use crate::db::sql::{identifier, quote};
use crate::db::wire::Conn;
use crate::dump::Coordinates;

/// The marker of a seed in progress (a schema, so it lives and dies with
/// the datadir it describes).
pub const MARKER: &str = "replikit_seed_incomplete";

/// Schemas that belong to the server, never copied or compared.
const SYSTEM_SCHEMAS: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];

/// REPLIKIT_SEED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Seed when the replica is new and the source has something to give.
    Auto,
    /// Seed a new replica with a dump, even from an empty source.
    Dump,
    /// Seed a new replica with MySQL's clone plugin, even from an empty
    /// source; an error where clone cannot work.
    Clone,
    /// Never seed: replicate from the source's binary logs alone.
    None,
}

impl FromStr for Method {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Method> {
        match s {
            "auto" => Ok(Method::Auto),
            "dump" => Ok(Method::Dump),
            "none" => Ok(Method::None),
            "clone" => Ok(Method::Clone),
            other => bail!("{other:?} is not a seeding method; use auto, clone, dump or none"),
        }
    }
}

/// What the two servers hold, for `decide`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// User schemas on this replica (the marker not counted).
    pub local_schemas: Vec<String>,
    /// An earlier seed did not finish.
    pub interrupted: bool,
    /// User schemas on the source.
    pub source_schemas: Vec<String>,
    /// The source no longer has all its binary logs (MySQL's gtid_purged
    /// is not empty): replaying them cannot rebuild its data.
    pub source_purged: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Seed(String),
    Direct(String),
    Refuse(String),
}

/// Whether a replica that has no replication set-up yet is seeded (pure).
/// Each answer carries its reason, for the log.
pub fn decide(method: Method, f: &Facts) -> Decision {
    if f.interrupted {
        return match method {
            Method::None => Decision::Refuse(format!(
                "an earlier seed of this replica was interrupted (schema {MARKER} is there), so its data is partial; \
                 set REPLIKIT_SEED=auto to seed it again"
            )),
            _ => Decision::Seed("an earlier seed was interrupted; its partial copy is dropped and the seed starts again".into()),
        };
    }
    if method == Method::None {
        return Decision::Direct("REPLIKIT_SEED=none".into());
    }
    let source_has = if !f.source_schemas.is_empty() {
        Some(format!(
            "the source holds data ({})",
            f.source_schemas.join(", ")
        ))
    } else if f.source_purged {
        Some("the source has purged binary logs that a new replica would need".into())
    } else {
        None
    };
    if !f.local_schemas.is_empty() {
        return match (method, source_has) {
            (Method::Auto, None) => Decision::Direct(
                "the source holds no data yet, and this replica keeps its own".into(),
            ),
            (_, why) => Decision::Refuse(format!(
                "this replica holds its own data ({}) but has no replication set-up{}; replikit does not overwrite it: \
                 drop those schemas to have it seeded, or set REPLIKIT_SEED=none to replicate onto it as it is",
                f.local_schemas.join(", "),
                why.map(|w| format!(", and {w}")).unwrap_or_default()
            )),
        };
    }
    match (method, source_has) {
        (Method::Dump, _) => Decision::Seed("REPLIKIT_SEED=dump".into()),
        (Method::Clone, _) => Decision::Seed("REPLIKIT_SEED=clone".into()),
        (_, Some(why)) => Decision::Seed(format!("this replica is new and {why}")),
        (_, None) => Decision::Direct(
            "the source holds no data yet: its binary log gives a new replica everything".into(),
        ),
    }
}

/// How a replica is seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Clone,
    Dump,
}

/// What decides whether clone can seed this replica.
#[derive(Debug, Clone, Copy)]
pub struct CloneAbility {
    pub mine: ServerVersion,
    pub theirs: ServerVersion,
    /// replikit supervises the server and can start it after the clone.
    pub restartable: bool,
    /// The source's clone plugin is active.
    pub source_plugin: bool,
}

/// Clone where it works (pure): MySQL 8.0.17+ on both sides, in one
/// series (one release before 8.0.37), the source's plugin active, and
/// replikit the server's supervisor. Otherwise a dump; with
/// REPLIKIT_SEED=clone, an error that says which condition failed.
pub fn via(method: Method, c: &CloneAbility) -> Result<Via, String> {
    let why_not = clone_obstacle(c);
    match (method, why_not) {
        (Method::Clone, Some(why)) => Err(format!(
            "REPLIKIT_SEED=clone, but {why}; use REPLIKIT_SEED=dump or auto"
        )),
        (Method::Clone | Method::Auto, None) => Ok(Via::Clone),
        _ => Ok(Via::Dump),
    }
}

fn clone_obstacle(c: &CloneAbility) -> Option<String> {
    use crate::db::flavor::Release;
    let Release(a, b, _) = c.mine.release;
    if c.mine.product != Product::MySql || c.mine.release < Release(8, 0, 17) {
        return Some(format!(
            "this replica runs {}, and clone needs MySQL 8.0.17 or later",
            c.mine
        ));
    }
    let same_series = c.theirs.product == Product::MySql
        && c.theirs.release.0 == a
        && c.theirs.release.1 == b
        && (c.mine.release >= Release(8, 0, 37) || c.theirs.release == c.mine.release);
    if !same_series {
        return Some(format!(
            "the source runs {} and this replica {}, and clone needs both in one series",
            c.theirs, c.mine
        ));
    }
    if !c.restartable {
        return Some("clone restarts the server, which only replikit as its entrypoint can do (not `replikit prepare`)".into());
    }
    if !c.source_plugin {
        return Some(
            "the source's clone plugin is not active (replikit on the primary installs it)".into(),
        );
    }
    None
}

/// The schemas that hold no user data, as an SQL list for `NOT IN (...)`:
/// the system schemas and the marker.
pub fn not_user_schemas() -> String {
    let names: Vec<String> = SYSTEM_SCHEMAS
        .iter()
        .chain([&MARKER])
        .map(|s| quote(s))
        .collect();
    names.join(", ")
}

/// User schemas on the server behind `conn`, sorted.
pub fn user_schemas(conn: &mut Conn) -> Result<Vec<String>> {
    let rows = conn.query(&format!(
        "SELECT schema_name AS s FROM information_schema.schemata \
         WHERE schema_name NOT IN ({}) ORDER BY 1",
        not_user_schemas()
    ))?;
    Ok((0..rows.rows.len())
        .filter_map(|i| rows.get(i, "s").map(str::to_string))
        .collect())
}

/// Whether the marker of an unfinished seed is there.
pub fn interrupted(conn: &mut Conn) -> Result<bool> {
    let rows = conn.query(&format!(
        "SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name = {}",
        quote(MARKER)
    ))?;
    Ok(rows.get(0, "n") == Some("1"))
}

/// The source's facts: its schemas, whether it purged logs, whether it
/// has MySQL's GTIDs.
pub struct SourceFacts {
    pub schemas: Vec<String>,
    pub purged: bool,
    pub mysql_gtids: bool,
}

/// `d`: the source's dialect.
pub fn source_facts(conn: &mut Conn, d: &Dialect) -> Result<SourceFacts> {
    let schemas = user_schemas(conn)?;
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

/// Before a copy: the marker goes in, anything an earlier attempt left
/// goes out, and only root may write. Nothing here is written to the
/// replica's binary log.
pub fn prepare_local(conn: &mut Conn, d: &Dialect) -> Result<()> {
    // Read-only for everyone but root, who loads the copy: applications
    // must not see (or write to) a half-seeded replica.
    if d.version.product == Product::MySql {
        conn.query("SET GLOBAL super_read_only = OFF")?;
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
    if d.version.product == Product::MySql {
        // As during a dump: read_only stays on, for all but root; the
        // replica's set-up turns super_read_only on again.
        conn.query("SET GLOBAL super_read_only = OFF")?;
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

/// Records how this node was seeded, for `replikit status`: a file in the
/// server's datadir (replikit runs beside the server), written atomically.
pub fn record(conn: &mut Conn, how: &str) -> Result<()> {
    let rows = conn.query("SELECT @@datadir AS d")?;
    let Some(dir) = rows.get(0, "d") else {
        return Ok(());
    };
    let path = std::path::Path::new(dir).join(crate::node_status::SEED_RECORD);
    let text = format!("{how}, finished {}\n", utc_now());
    if let Err(e) = crate::atomic_file::write_if_changed(&path, None, text.as_bytes()) {
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

    fn facts(local: &[&str], interrupted: bool, source: &[&str], purged: bool) -> Facts {
        Facts {
            local_schemas: local.iter().map(|s| s.to_string()).collect(),
            interrupted,
            source_schemas: source.iter().map(|s| s.to_string()).collect(),
            source_purged: purged,
        }
    }

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

    #[test]
    fn the_schemas_without_user_data_are_listed_once_for_sql() {
        assert_eq!(
            not_user_schemas(),
            "'mysql', 'information_schema', 'performance_schema', 'sys', 'replikit_seed_incomplete'"
        );
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_795_388_462), "2026-11-22T23:01:02Z");
        assert_eq!(utc(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(utc(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn methods_parse() {
        assert_eq!("auto".parse::<Method>().unwrap(), Method::Auto);
        assert_eq!("dump".parse::<Method>().unwrap(), Method::Dump);
        assert_eq!("none".parse::<Method>().unwrap(), Method::None);
        assert_eq!("clone".parse::<Method>().unwrap(), Method::Clone);
        for bad in ["", "Auto", "rsync"] {
            let e = bad.parse::<Method>().unwrap_err().to_string();
            assert!(e.contains("use auto, clone, dump or none"), "{bad}: {e}");
        }
    }

    /// Every combination of method and facts, with the kind of answer.
    #[test]
    fn decisions() {
        use Method::*;
        #[derive(Debug, PartialEq)]
        enum K {
            Seed,
            Direct,
            Refuse,
        }
        let kind = |d: &Decision| match d {
            Decision::Seed(_) => K::Seed,
            Decision::Direct(_) => K::Direct,
            Decision::Refuse(_) => K::Refuse,
        };
        let cases = [
            // new replica
            (Auto, facts(&[], false, &[], false), K::Direct),
            (Auto, facts(&[], false, &["app"], false), K::Seed),
            (Auto, facts(&[], false, &[], true), K::Seed),
            (Dump, facts(&[], false, &[], false), K::Seed),
            (None, facts(&[], false, &["app"], true), K::Direct),
            // a replica with its own data
            (Auto, facts(&["mine"], false, &[], false), K::Direct),
            (Auto, facts(&["mine"], false, &["app"], false), K::Refuse),
            (Auto, facts(&["mine"], false, &[], true), K::Refuse),
            (Dump, facts(&["mine"], false, &[], false), K::Refuse),
            (Clone, facts(&[], false, &[], false), K::Seed),
            (Clone, facts(&["mine"], false, &["app"], false), K::Refuse),
            (None, facts(&["mine"], false, &["app"], false), K::Direct),
            // an interrupted seed: its partial data is ours to drop
            (Auto, facts(&["app"], true, &["app"], false), K::Seed),
            (Dump, facts(&["app"], true, &[], false), K::Seed),
            (None, facts(&["app"], true, &["app"], false), K::Refuse),
        ];
        for (method, f, want) in cases {
            let got = decide(method, &f);
            assert_eq!(kind(&got), want, "{method:?} {f:?}: {got:?}");
        }
    }

    #[test]
    fn clone_where_it_works_else_a_dump() {
        let v = |s: &str| ServerVersion::parse(s).unwrap();
        let able =
            |mine: &str, theirs: &str, restartable: bool, source_plugin: bool| CloneAbility {
                mine: v(mine),
                theirs: v(theirs),
                restartable,
                source_plugin,
            };
        let cases = [
            (
                Method::Auto,
                able("9.7.4", "9.7.4", true, true),
                Ok(Via::Clone),
            ),
            (
                Method::Auto,
                able("9.7.4", "9.7.2", true, true),
                Ok(Via::Clone),
            ),
            (
                Method::Auto,
                able("8.0.36", "8.0.36", true, true),
                Ok(Via::Clone),
            ),
            (
                Method::Auto,
                able("8.0.36", "8.0.35", true, true),
                Ok(Via::Dump),
            ),
            (
                Method::Auto,
                able("8.0.16", "8.0.16", true, true),
                Ok(Via::Dump),
            ),
            (
                Method::Auto,
                able("9.7.4", "8.4.1", true, true),
                Ok(Via::Dump),
            ),
            (
                Method::Auto,
                able("9.7.4", "9.7.4", false, true),
                Ok(Via::Dump),
            ),
            (
                Method::Auto,
                able("9.7.4", "9.7.4", true, false),
                Ok(Via::Dump),
            ),
            (
                Method::Auto,
                able("11.8.6-MariaDB", "11.8.6-MariaDB", true, true),
                Ok(Via::Dump),
            ),
            (
                Method::Dump,
                able("9.7.4", "9.7.4", true, true),
                Ok(Via::Dump),
            ),
            (
                Method::Clone,
                able("9.7.4", "9.7.4", true, true),
                Ok(Via::Clone),
            ),
        ];
        for (method, ability, want) in cases {
            assert_eq!(via(method, &ability), want, "{method:?} {ability:?}");
        }
        let refusals = [
            (
                able("11.8.6-MariaDB", "11.8.6-MariaDB", true, true),
                "needs MySQL 8.0.17",
            ),
            (able("9.7.4", "8.4.1", true, true), "one series"),
            (
                able("9.7.4", "9.7.4", false, true),
                "not `replikit prepare`",
            ),
            (
                able("9.7.4", "9.7.4", true, false),
                "clone plugin is not active",
            ),
        ];
        for (ability, want) in refusals {
            let e = via(Method::Clone, &ability).unwrap_err();
            assert!(e.contains(want) && e.contains("REPLIKIT_SEED=dump"), "{e}");
        }
    }

    #[test]
    fn refusals_say_why_and_what_to_do() {
        let Decision::Refuse(why) =
            decide(Method::Auto, &facts(&["mine", "b"], false, &["app"], false))
        else {
            panic!("not refused");
        };
        assert!(why.contains("own data (mine, b)"), "{why}");
        assert!(why.contains("the source holds data (app)"), "{why}");
        assert!(why.contains("REPLIKIT_SEED=none"), "{why}");
        let Decision::Refuse(why) = decide(Method::None, &facts(&[], true, &[], false)) else {
            panic!("not refused");
        };
        assert!(
            why.contains(MARKER) && why.contains("REPLIKIT_SEED=auto"),
            "{why}"
        );
    }
}
