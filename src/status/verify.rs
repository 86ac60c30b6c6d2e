//! `replikit verify`: does this replica hold what its source holds? Every
//! user table is compared with CHECKSUM TABLE on both sides while the
//! source holds the table still (LOCK TABLES ... READ) and the replica has
//! applied everything up to a source position taken under that lock. So a
//! source that keeps writing elsewhere gives no false difference, and a
//! difference is real.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::config::role::{Replica, Role};
use crate::db::dialect::{Dialect, Tls};
use crate::db::local::LocalServer;
use crate::db::sql::{identifier, quote};
use crate::db::wire::Conn;
use crate::replication::position::gtid_mode;
use crate::replication::source::read_source;
use crate::seed;

/// How a replica's position is compared with its source's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionKind {
    /// MariaDB's GTID position (gtid_binlog_pos / MASTER_GTID_WAIT).
    MariaDbGtid,
    /// MySQL's executed GTID set (WAIT_FOR_EXECUTED_GTID_SET).
    MySqlGtid,
    /// Binary log file and offset (SOURCE_POS_WAIT).
    File,
}

/// The query that waits until the replica reaches `position` (pure); its
/// column `w` says how it went, see `reached`.
pub fn wait_query(d: &Dialect, how: PositionKind, position: &str, timeout: Duration) -> String {
    let secs = timeout.as_secs().max(1);
    match how {
        PositionKind::MariaDbGtid => {
            format!("SELECT MASTER_GTID_WAIT({}, {secs}) AS w", quote(position))
        }
        PositionKind::MySqlGtid => format!(
            "SELECT WAIT_FOR_EXECUTED_GTID_SET({}, {secs}) AS w",
            quote(position)
        ),
        PositionKind::File => {
            let (file, pos) = position.rsplit_once(':').unwrap_or((position, "0"));
            let function = d.pos_wait_function();
            let pos: u64 = pos.parse().unwrap_or(0);
            format!("SELECT {function}({}, {pos}, {secs}) AS w", quote(file))
        }
    }
}

/// Whether the wait's answer means the position was reached (pure).
pub fn reached(how: PositionKind, answer: Option<&str>) -> bool {
    match (how, answer) {
        (PositionKind::MariaDbGtid | PositionKind::MySqlGtid, Some(w)) => w == "0",
        // Events waited for; -1 is a timeout, NULL a stopped replica.
        (PositionKind::File, Some(w)) => w.parse::<i64>().is_ok_and(|n| n >= 0),
        (_, None) => false,
    }
}

/// One table's name, quoted for SQL.
fn table_sql(schema: &str, table: &str) -> String {
    format!("{}.{}", identifier(schema), identifier(table))
}

/// The outcome: how many tables were compared, and each difference.
pub struct Report {
    pub tables: usize,
    pub differences: Vec<String>,
}

/// Compares every user table of this replica with its source.
pub fn run(
    role: &Role,
    local: &LocalServer,
    tls: &Tls,
    cluster: &str,
    timeout: Duration,
) -> Result<Report> {
    let Role::Replica(r) = role else {
        bail!("verify compares a replica with its source, and this node is no replica: set MYSQL_MASTER_HOST");
    };
    let mut local = local.log_in(Duration::from_secs(5))?;
    let mine = Dialect::of(&local.server_version)?;
    let mut source = read_source(r, tls, cluster, Duration::from_secs(5))?;
    for conn in [&mut local, &mut source] {
        conn.set_timeout(timeout + Duration::from_secs(30))?;
    }
    let how = position_kind(&mut source, &mine)?;
    // A table the account cannot see would read as "on the replica only".
    seed::source::readable_user_schemas(&mut source)?;
    let theirs = tables(&mut source)?;
    let ours = tables(&mut local)?;
    let mut differences = Vec::new();
    for t in theirs.difference(&ours) {
        differences.push(format!("{}.{}: missing on the replica", t.0, t.1));
    }
    for t in ours.difference(&theirs) {
        differences.push(format!("{}.{}: on the replica only", t.0, t.1));
    }
    let both: Vec<_> = theirs.intersection(&ours).cloned().collect();
    for (schema, table) in &both {
        if let Some(d) = compare(
            &mut source,
            &mut local,
            &mine,
            how,
            r,
            schema,
            table,
            timeout,
        )? {
            differences.push(d);
        }
    }
    Ok(Report {
        tables: both.len(),
        differences,
    })
}

fn position_kind(source: &mut Conn, d: &Dialect) -> Result<PositionKind> {
    Ok(match gtid_mode(source, d)? {
        None => PositionKind::MariaDbGtid,
        Some(mode) if mode.eq_ignore_ascii_case("ON") => PositionKind::MySqlGtid,
        Some(_) => PositionKind::File,
    })
}

/// The user tables (not views) on a server, as (schema, table).
fn tables(conn: &mut Conn) -> Result<BTreeSet<(String, String)>> {
    let rows = conn.query(&format!(
        "SELECT table_schema AS s, table_name AS t FROM information_schema.tables \
         WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ({})",
        seed::not_user_schemas()
    ))?;
    Ok((0..rows.rows.len())
        .filter_map(|i| Some((rows.get(i, "s")?.to_string(), rows.get(i, "t")?.to_string())))
        .collect())
}

fn source_position(source: &mut Conn, d: &Dialect, how: PositionKind) -> Result<String> {
    let value = match how {
        PositionKind::MariaDbGtid => source
            .query("SELECT @@GLOBAL.gtid_binlog_pos AS p")?
            .get(0, "p")
            .map(str::to_string),
        PositionKind::MySqlGtid => source
            .query("SELECT @@GLOBAL.gtid_executed AS p")?
            .get(0, "p")
            .map(str::to_string),
        PositionKind::File => {
            let rows = source.query(d.binlog_status())?;
            match (rows.get(0, "File"), rows.get(0, "Position")) {
                (Some(f), Some(p)) => Some(format!("{f}:{p}")),
                _ => None,
            }
        }
    };
    value.context("the source did not give its binary log position (is its binary log on?)")
}

fn checksum(conn: &mut Conn, table: &str) -> Result<Option<String>> {
    Ok(conn
        .query(&format!("CHECKSUM TABLE {table}"))?
        .get(0, "Checksum")
        .map(str::to_string))
}

/// One table, held still on the source while the replica catches up.
#[allow(clippy::too_many_arguments)]
fn compare(
    source: &mut Conn,
    local: &mut Conn,
    d: &Dialect,
    how: PositionKind,
    r: &Replica,
    schema: &str,
    table: &str,
    timeout: Duration,
) -> Result<Option<String>> {
    let name = table_sql(schema, table);
    source
        .query(&format!("LOCK TABLES {name} READ"))
        .with_context(|| format!("locking {schema}.{table} on the source"))?;
    let result = (|| -> Result<Option<String>> {
        let position = source_position(source, d, how)?;
        let theirs = checksum(source, &name)?;
        let answer = local.query(&wait_query(d, how, &position, timeout))?;
        if !reached(how, answer.get(0, "w")) {
            bail!(
                "the replica did not reach the source's position {position} within {timeout:?} (is it replicating from {}:{}?)",
                r.source_host,
                r.source_port
            );
        }
        let ours = checksum(local, &name)?;
        Ok((theirs != ours).then(|| {
            format!(
                "{schema}.{table}: differs (source checksum {}, replica checksum {})",
                theirs.as_deref().unwrap_or("NULL"),
                ours.as_deref().unwrap_or("NULL")
            )
        }))
    })();
    source.query("UNLOCK TABLES")?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::db::dialect::dialect;

    #[test]
    fn wait_queries() {
        let t = Duration::from_secs(60);
        assert_eq!(
            wait_query(
                &dialect("11.8.6-MariaDB"),
                PositionKind::MariaDbGtid,
                "0-1-5",
                t
            ),
            "SELECT MASTER_GTID_WAIT('0-1-5', 60) AS w"
        );
        assert_eq!(
            wait_query(&dialect("9.7.4"), PositionKind::MySqlGtid, "uuid:1-9", t),
            "SELECT WAIT_FOR_EXECUTED_GTID_SET('uuid:1-9', 60) AS w"
        );
        assert_eq!(
            wait_query(
                &dialect("9.7.4"),
                PositionKind::File,
                "binlog.000002:793",
                t
            ),
            "SELECT SOURCE_POS_WAIT('binlog.000002', 793, 60) AS w"
        );
        assert_eq!(
            wait_query(
                &dialect("8.0.25"),
                PositionKind::File,
                "b.1:4",
                Duration::ZERO
            ),
            "SELECT MASTER_POS_WAIT('b.1', 4, 1) AS w"
        );
    }

    #[test]
    fn wait_answers() {
        use PositionKind::*;
        let cases = [
            (MariaDbGtid, Some("0"), true),
            (MariaDbGtid, Some("-1"), false),
            (MySqlGtid, Some("0"), true),
            (MySqlGtid, Some("1"), false),
            (File, Some("0"), true),
            (File, Some("12"), true),
            (File, Some("-1"), false),
            (File, None, false),
            (MySqlGtid, None, false),
        ];
        for (how, answer, want) in cases {
            assert_eq!(reached(how, answer), want, "{how:?} {answer:?}");
        }
    }

    #[test]
    fn table_names_are_quoted() {
        assert_eq!(table_sql("app", "t"), "`app`.`t`");
        assert_eq!(table_sql("a`b", "c"), "`a``b`.`c`");
    }
}
