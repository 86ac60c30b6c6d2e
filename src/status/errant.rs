//! Errant transactions: what a replica has executed that its source never
//! had, written on the replica behind replication's back (read-only
//! lifted, or by an account with SUPER on MariaDB). They go unnoticed
//! until this replica is promoted: then they reach every other replica,
//! or clash with what they hold. Comparing is the servers' own work on
//! MySQL (GTID_SUBTRACT); on MariaDB it is `mariadb`, over the
//! `gtid_binlog_state` of both, which keeps the last GTID of every
//! (domain, server) pair, purged binary logs or not.
//!
//! The replica's set is read first, then the source's: the source's only
//! grows, so a transaction that reaches the replica in between cannot look
//! errant.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::config::role::{Role, SourceAccess};
use crate::db::dialect::{Dialect, Product, Tls};
use crate::db::sql::quote;
use crate::db::wire::Conn;
use crate::replication::source::read_source;

/// What the comparison found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Errant {
    /// Not compared, and why (not a replica, the source unreachable, ...).
    NotChecked(String),
    /// Nothing on the replica that the source lacks.
    None,
    /// The replica's GTIDs that the source does not have.
    Found(String),
}

/// The replica's GTIDs that the source lacks, from the `gtid_binlog_state`
/// of both (pure): a (domain, server) pair the source never logged, or a
/// later sequence number than the source's for that pair. A list that does
/// not parse is compared as far as it does.
pub fn mariadb(replica: &str, source: &str) -> String {
    let theirs = parse_mariadb(source);
    parse_mariadb(replica)
        .into_iter()
        .filter(|(pair, seq)| theirs.get(pair).is_none_or(|s| seq > s))
        .map(|((domain, server), seq)| format!("{domain}-{server}-{seq}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `0-1-100,1-2-7` → {(0, 1): 100, (1, 2): 7}; the highest sequence number
/// where a pair repeats.
fn parse_mariadb(list: &str) -> BTreeMap<(u32, u32), u64> {
    let mut out = BTreeMap::new();
    for gtid in list.split(',').map(str::trim).filter(|g| !g.is_empty()) {
        let mut parts = gtid.split('-');
        let (Some(d), Some(s), Some(n), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (Ok(d), Ok(s), Ok(n)) = (d.parse(), s.parse(), n.parse::<u64>()) else {
            continue;
        };
        let seq = out.entry((d, s)).or_insert(n);
        *seq = (*seq).max(n);
    }
    out
}

/// The longest GTID set taken from a source, in bytes.
const MAX_SOURCE_SET: usize = 1 << 20;

/// Compares `replica` (this server, in dialect `d`) with `source`. None
/// when the servers keep no GTIDs (MySQL with gtid_mode OFF).
pub fn find(replica: &mut Conn, d: &Dialect, source: &mut Conn) -> Result<Option<String>> {
    let mysql = d.version.product == Product::MySql;
    let variable = if mysql {
        "@@GLOBAL.gtid_executed"
    } else {
        "@@GLOBAL.gtid_binlog_state"
    };
    let query = format!("SELECT {variable} AS g");
    let read = |conn: &mut Conn| -> Result<String> {
        Ok(conn
            .query(&query)?
            .get(0, "g")
            .unwrap_or_default()
            .replace('\n', ""))
    };
    let mine = read(replica)?;
    let theirs = read(source).context("reading the source's GTIDs")?;
    // Goes back to the local server in a query: a set this long is no
    // real one (a GTID set lists ranges per server, a few dozen at most).
    if theirs.len() > MAX_SOURCE_SET {
        anyhow::bail!(
            "the source's GTID set is {} bytes long, more than the {MAX_SOURCE_SET} compared",
            theirs.len()
        );
    }
    if !mysql {
        return Ok(Some(mariadb(&mine, &theirs)));
    }
    let on = replica.query("SELECT @@GLOBAL.gtid_mode AS m")?;
    if !on.get(0, "m").is_some_and(|m| m.eq_ignore_ascii_case("ON")) {
        return Ok(None);
    }
    let rows = replica.query(&format!(
        "SELECT GTID_SUBTRACT({}, {}) AS e",
        quote(&mine),
        quote(&theirs)
    ))?;
    Ok(Some(rows.get(0, "e").unwrap_or_default().replace('\n', "")))
}

/// Logs in to this replica's source as the account that reads it and
/// compares; what could not be compared says why. In root-credentials mode
/// it is not compared: a probe run every few seconds would send the
/// source's root password each time.
pub fn check(role: &Role, replica: &mut Conn, d: &Dialect, tls: &Tls, cluster: &str) -> Errant {
    let Role::Replica(r) = role else {
        return Errant::NotChecked("not a replica".into());
    };
    if matches!(r.access, SourceAccess::Admin(_)) {
        return Errant::NotChecked(
            "root-credentials mode (set MYSQL_REPL_USER to have it compared)".into(),
        );
    }
    let found = read_source(r, tls, cluster, Duration::from_secs(3))
        .and_then(|mut source| find(replica, d, &mut source));
    match found {
        Ok(Some(set)) if set.is_empty() => Errant::None,
        Ok(Some(set)) => Errant::Found(set),
        Ok(None) => Errant::NotChecked("no GTIDs (gtid_mode is not ON)".into()),
        Err(e) => Errant::NotChecked(format!("{e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_errant_gtids() {
        let cases = [
            // (replica, source, errant)
            ("", "", ""),
            ("0-1-100", "0-1-100", ""),
            ("0-1-90", "0-1-100", ""),
            // Written on the replica (server 2): the source never logged it.
            ("0-1-100,0-2-101", "0-1-100", "0-2-101"),
            // The source moved on in domain 0; the replica's own write stays errant.
            ("0-1-100,0-2-101", "0-1-150", "0-2-101"),
            // A former primary (server 2) whose history the source holds.
            ("0-1-100,0-2-50", "0-2-50,0-1-120", ""),
            ("0-2-51", "0-2-50", "0-2-51"),
            // A domain of its own.
            ("0-1-5,7-2-1", "0-1-5", "7-2-1"),
            // Spaces and junk are tolerated.
            (" 0-1-5 , x-1-2, 0-1 ,0-3-4", "0-1-5", "0-3-4"),
        ];
        for (replica, source, want) in cases {
            assert_eq!(mariadb(replica, source), want, "{replica} vs {source}");
        }
    }

    #[test]
    fn nothing_on_the_source_is_ever_errant_against_itself() {
        // A property over small generated lists: a state is never errant
        // against itself or against a state that is ahead in every pair.
        for a in 0u64..4 {
            for b in 0u64..4 {
                let state = format!("0-1-{a},1-2-{b},0-3-{}", a + b);
                assert_eq!(mariadb(&state, &state), "");
                let ahead = format!("0-1-{},1-2-{},0-3-{}", a + 1, b + 1, a + b + 1);
                assert_eq!(mariadb(&state, &ahead), "");
                assert!(!mariadb(&ahead, &state).is_empty());
            }
        }
    }
}
