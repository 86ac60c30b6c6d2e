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

/// Whether a MariaDB server at `mine` (a `gtid_current_pos`) lacks
/// anything one at `other` has (pure): per replication domain, a later
/// sequence number there, or a domain it never saw.
pub fn mariadb_behind(mine: &str, other: &str) -> bool {
    let per_domain = |list: &str| {
        let mut out: BTreeMap<u32, u64> = BTreeMap::new();
        for ((domain, _), seq) in parse_mariadb(list) {
            let s = out.entry(domain).or_insert(seq);
            *s = (*s).max(seq);
        }
        out
    };
    let mine = per_domain(mine);
    per_domain(other)
        .into_iter()
        .any(|(domain, seq)| mine.get(&domain).is_none_or(|m| *m < seq))
}

/// The GTIDs of `set` (a MySQL GTID set) that server `uuid` wrote (pure).
pub fn mysql_of_server(set: &str, uuid: &str) -> String {
    let prefix = format!("{}:", uuid.to_ascii_lowercase());
    set.split(',')
        .map(str::trim)
        .filter(|e| e.to_ascii_lowercase().starts_with(&prefix))
        .collect::<Vec<_>>()
        .join(",")
}

/// The GTIDs of `list` (MariaDB `domain-server-seq`) that server
/// `server_id` wrote (pure).
pub fn mariadb_of_server(list: &str, server_id: u32) -> String {
    list.split(',')
        .map(str::trim)
        .filter(|g| {
            let parts: Vec<&str> = g.split('-').collect();
            parts.len() == 3 && parts[1].parse() == Ok(server_id)
        })
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

/// The longest GTID set taken from another server, in bytes: sets go
/// back to a server inside a query, and a real one lists ranges per
/// server, a few dozen at most.
pub const MAX_GTID_SET: usize = 1 << 20;

/// Compares `replica` (this server, in dialect `d`) with `source`. None
/// when the servers keep no GTIDs (MySQL with gtid_mode OFF).
pub fn find(replica: &mut Conn, d: &Dialect, source: &mut Conn) -> Result<Option<String>> {
    let mysql = d.version.product == Product::MySql;
    let read = |conn: &mut Conn, query: &str| -> Result<String> {
        Ok(conn
            .query(query)?
            .get(0, "g")
            .unwrap_or_default()
            .replace('\n', ""))
    };
    let mine = read(replica, d.gtid_history_query())?;
    let theirs = read(source, d.gtid_held_query()).context("reading the source's GTIDs")?;
    if theirs.len() > MAX_GTID_SET {
        anyhow::bail!(
            "the source's GTID set is {} bytes long, more than the {MAX_GTID_SET} compared",
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
    fn who_is_behind_per_domain() {
        let cases = [
            // (mine, other, mine lacks something of other's)
            ("", "", false),
            ("0-1-100", "0-1-100", false),
            ("0-1-99", "0-1-100", true),
            // A new primary (server 2) continued domain 0: later is later.
            ("0-2-101", "0-1-100", false),
            ("0-1-100", "0-2-101", true),
            // A domain mine never saw.
            ("0-1-100", "0-1-100,1-3-1", true),
            ("0-1-100,1-3-1", "0-1-100", false),
            ("", "0-1-1", true),
        ];
        for (mine, other, want) in cases {
            assert_eq!(mariadb_behind(mine, other), want, "{mine} vs {other}");
        }
    }

    #[test]
    fn transactions_of_one_server() {
        let set = "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5,\
                   aaaaaaaa-71ca-11e1-9e33-c80aa9429562:7:9-10";
        assert_eq!(
            mysql_of_server(set, "aaaaaaaa-71ca-11e1-9e33-c80aa9429562"),
            "aaaaaaaa-71ca-11e1-9e33-c80aa9429562:7:9-10"
        );
        assert_eq!(
            mysql_of_server(set, "bbbbbbbb-0000-0000-0000-000000000000"),
            ""
        );
        assert_eq!(
            mariadb_of_server("0-1-5,0-12-7,12-1-3,1-2-9", 1),
            "0-1-5,12-1-3"
        );
        assert_eq!(mariadb_of_server("0-12-7, x-y, 0-2", 2), "");
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
