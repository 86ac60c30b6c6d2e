//! The recorded topology: which node is the primary, and since which
//! epoch. The environment gives a node its *initial* role only; once a
//! cluster has a record, every node follows the highest epoch it can see.
//!
//! The record is one row, `replikit.topology`, written on the primary
//! only, so that replication brings it to every replica and a restart
//! finds it in the node's own data. Each change of primary (switchover,
//! failover) writes the next epoch on the new primary. A former primary
//! that comes back still holds the old epoch naming itself; its peers
//! hold a higher one naming another node, which it then follows.

use anyhow::{bail, Result};

use crate::db::error::Failure;
use crate::db::sql::quote;
use crate::db::wire::{Conn, Rows};
use crate::identity::hosts::is_host_text;

/// The schema and table of the record.
pub const SCHEMA: &str = "replikit";
const TABLE: &str = "replikit.topology";

/// One epoch: who is the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 1 for a cluster's first primary; one more on every change.
    pub epoch: u64,
    /// The primary's address as the other members reach it.
    pub host: String,
    pub port: u16,
    /// The primary's server-id: how a node knows a record names itself.
    pub server_id: u32,
}

impl std::fmt::Display for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "epoch {}: primary {}:{} (server-id {})",
            self.epoch, self.host, self.port, self.server_id
        )
    }
}

/// The record on the server behind `conn`; None where there is none yet.
pub fn read(conn: &mut Conn) -> Result<Option<Record>> {
    let rows = conn.query(&format!(
        "SELECT epoch, primary_host, primary_port, primary_server_id FROM {TABLE} WHERE id = 1"
    ));
    match rows {
        Ok(rows) => from_rows(&rows),
        // No table (1146) or no schema (1049): no record yet.
        Err(e) if matches!(Failure::of(&e), Failure::Server(1146 | 1049)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The record in `rows` (pure). A peer may be hostile: every field is
/// checked before anything acts on it.
pub fn from_rows(rows: &Rows) -> Result<Option<Record>> {
    let Some(epoch) = rows.get(0, "epoch") else {
        return Ok(None);
    };
    let field = |name: &str| rows.get(0, name).unwrap_or_default();
    let epoch: u64 = epoch.parse().unwrap_or(0);
    let host = field("primary_host");
    let port: u16 = field("primary_port").parse().unwrap_or(0);
    let server_id: u32 = field("primary_server_id").parse().unwrap_or(0);
    if epoch == 0 || port == 0 || server_id == 0 || !is_host_text(host, b":", 255) {
        bail!("{TABLE} holds a malformed record (epoch {epoch:?}, primary {host:?}:{port}, server-id {server_id}); correct or delete it on the primary");
    }
    Ok(Some(Record {
        epoch,
        host: host.to_string(),
        port,
        server_id,
    }))
}

/// The statements that record `r` on the primary (pure). The table is
/// created where it is missing; the row is replaced whole.
pub fn write_statements(r: &Record) -> [String; 3] {
    [
        format!("CREATE DATABASE IF NOT EXISTS {SCHEMA}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (\
             id TINYINT UNSIGNED NOT NULL PRIMARY KEY, \
             epoch BIGINT UNSIGNED NOT NULL, \
             primary_host VARCHAR(255) NOT NULL, \
             primary_port SMALLINT UNSIGNED NOT NULL, \
             primary_server_id INT UNSIGNED NOT NULL, \
             changed_at DATETIME(6) NOT NULL) ENGINE=InnoDB"
        ),
        format!(
            "REPLACE INTO {TABLE} VALUES (1, {}, {}, {}, {}, UTC_TIMESTAMP(6))",
            r.epoch,
            quote(&r.host),
            r.port,
            r.server_id
        ),
    ]
}

/// Records `r` on the (writable) server behind `conn`.
pub fn write(conn: &mut Conn, r: &Record) -> Result<()> {
    for sql in write_statements(r) {
        conn.query(&sql)?;
    }
    Ok(())
}

/// What a node does, given every record it could see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No record anywhere: a new cluster; the environment's role holds.
    Environment,
    /// The highest epoch names this node.
    Primary(Record),
    /// The highest epoch names another node: replicate from it.
    ReplicaOf(Record),
    /// Two records of the highest epoch name different primaries (two
    /// changes made at once, by hand): nobody may take writes.
    Conflict(String),
}

/// Follows the highest epoch among `seen` (this node's own record and its
/// peers'); `me` is this node's server-id (pure).
pub fn decide(me: u32, seen: &[Record]) -> Decision {
    let Some(top) = seen.iter().map(|r| r.epoch).max() else {
        return Decision::Environment;
    };
    let highest: Vec<&Record> = seen.iter().filter(|r| r.epoch == top).collect();
    let first = highest[0];
    if let Some(other) = highest.iter().find(|r| r.server_id != first.server_id) {
        return Decision::Conflict(format!(
            "two records of epoch {top} name different primaries ({first}; {other}); make one node the primary by hand and delete the other record"
        ));
    }
    if first.server_id == me {
        Decision::Primary(first.clone())
    } else {
        Decision::ReplicaOf(first.clone())
    }
}

/// The next epoch after everything in `seen` (pure).
pub fn next_epoch(seen: &[Record]) -> u64 {
    seen.iter().map(|r| r.epoch).max().unwrap_or(0) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: u64, server_id: u32) -> Record {
        Record {
            epoch,
            host: format!("10.0.0.{server_id}"),
            port: 3306,
            server_id,
        }
    }

    #[test]
    fn the_highest_epoch_wins() {
        let cases: &[(&[Record], Decision)] = &[
            (&[], Decision::Environment),
            (&[record(1, 7)], Decision::Primary(record(1, 7))),
            (&[record(1, 8)], Decision::ReplicaOf(record(1, 8))),
            // A former primary (7) back after a failover to 8.
            (
                &[record(1, 7), record(2, 8), record(2, 8)],
                Decision::ReplicaOf(record(2, 8)),
            ),
            // Its peers lag behind; its own record is the newest.
            (
                &[record(3, 7), record(2, 8)],
                Decision::Primary(record(3, 7)),
            ),
            (
                &[record(5, 9), record(4, 7)],
                Decision::ReplicaOf(record(5, 9)),
            ),
        ];
        for (seen, want) in cases {
            assert_eq!(&decide(7, seen), want, "{seen:?}");
        }
    }

    #[test]
    fn two_primaries_of_one_epoch_are_a_conflict_whatever_the_order() {
        for seen in [
            [record(2, 7), record(2, 8), record(1, 9)],
            [record(1, 9), record(2, 8), record(2, 7)],
        ] {
            let Decision::Conflict(why) = decide(7, &seen) else {
                panic!("{seen:?}");
            };
            assert!(why.contains("epoch 2"), "{why}");
        }
        // The same primary twice is no conflict.
        assert_eq!(
            decide(9, &[record(2, 8), record(2, 8)]),
            Decision::ReplicaOf(record(2, 8))
        );
    }

    #[test]
    fn whatever_is_seen_the_decision_follows_the_maximum() {
        // A property over small generated inputs: the decision never names
        // a record below the highest epoch, and the next epoch is above all.
        for a in 0..4u64 {
            for b in 0..4u64 {
                for c in 0..4u64 {
                    let seen: Vec<Record> = [(a, 7), (b, 8), (c, 9)]
                        .iter()
                        .filter(|(e, _)| *e > 0)
                        .map(|(e, id)| record(*e, *id))
                        .collect();
                    let top = seen.iter().map(|r| r.epoch).max().unwrap_or(0);
                    assert_eq!(next_epoch(&seen), top + 1);
                    match decide(7, &seen) {
                        Decision::Environment => assert!(seen.is_empty()),
                        Decision::Primary(r) | Decision::ReplicaOf(r) => {
                            assert_eq!(r.epoch, top);
                            assert_eq!(seen.iter().filter(|s| s.epoch == top).count(), 1);
                        }
                        Decision::Conflict(_) => {
                            assert!(seen.iter().filter(|s| s.epoch == top).count() > 1)
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn records_from_a_peer_are_checked() {
        let rows = |epoch: &str, host: &str, port: &str, id: &str| {
            Rows::from_pairs(&[
                ("epoch", epoch),
                ("primary_host", host),
                ("primary_port", port),
                ("primary_server_id", id),
            ])
        };
        assert_eq!(
            from_rows(&rows("2", "10.0.0.8", "3306", "8")).unwrap(),
            Some(Record {
                epoch: 2,
                host: "10.0.0.8".into(),
                port: 3306,
                server_id: 8
            })
        );
        for bad in [
            rows("0", "h", "3306", "8"),
            rows("x", "h", "3306", "8"),
            rows("2", "h'; DROP", "3306", "8"),
            rows("2", "", "3306", "8"),
            rows("2", "h", "0", "8"),
            rows("2", "h", "3306", "0"),
            rows("2", "h", "99999", "8"),
        ] {
            assert!(from_rows(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(from_rows(&Rows::default()).unwrap(), None);
    }

    #[test]
    fn the_record_is_written_quoted() {
        let [schema, table, row] = write_statements(&Record {
            epoch: 3,
            host: "db-2".into(),
            port: 3307,
            server_id: 42,
        });
        assert_eq!(schema, "CREATE DATABASE IF NOT EXISTS replikit");
        assert!(table.contains("CREATE TABLE IF NOT EXISTS replikit.topology"));
        assert_eq!(
            row,
            "REPLACE INTO replikit.topology VALUES (1, 3, 'db-2', 3307, 42, UTC_TIMESTAMP(6))"
        );
    }
}
