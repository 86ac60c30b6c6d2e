//! What one node is doing, read from its own server: for `replikit health`
//! (which asks only what its checks need) and `replikit status` (all of
//! it, for people or as JSON). Reading is I/O; turning SHOW REPLICA STATUS
//! rows into `ReplicaState`, the JSON and the text are pure.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use crate::config::role::RoleName;
use crate::db::dialect::{canonical_status_column, Dialect, Product, ServerVersion};
use crate::db::wire::{Conn, Rows};
use crate::status::errant::Errant;

/// The file in the datadir where replikit records how it seeded the node.
pub const SEED_RECORD: &str = "replikit-seeded";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// primary, replica, standalone, or unknown (no role in the environment).
    pub role: String,
    pub server_id: u64,
    pub version: ServerVersion,
    /// The real server, not the first start's temporary one.
    pub ready: bool,
    pub read_only: bool,
    /// MySQL only.
    pub super_read_only: Option<bool>,
    /// MySQL's gtid_executed, MariaDB's gtid_current_pos.
    pub gtid_executed: String,
    pub replica: Option<ReplicaState>,
    /// How replikit seeded this node, from its record in the datadir.
    pub seeded: Option<String>,
    /// Transactions this replica has that its source lacks; `read` leaves
    /// it NotChecked, as comparing needs the source (`errant::check`).
    pub errant: Errant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaState {
    pub source_host: String,
    pub source_port: u16,
    pub io_running: String,
    pub sql_running: String,
    /// Seconds behind the source; None while the SQL thread does not run.
    pub lag_seconds: Option<u64>,
    /// The source's binary log file and position the SQL thread applied.
    pub source_log_file: String,
    pub source_log_pos: u64,
    /// The GTIDs applied (MySQL's Executed_Gtid_Set, MariaDB's Gtid_IO_Pos).
    pub gtid: String,
    pub io_error: Option<LastError>,
    pub sql_error: Option<LastError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastError {
    /// io or sql.
    pub thread: &'static str,
    pub number: u32,
    pub message: String,
    /// When it happened; MySQL only.
    pub time: Option<String>,
}

/// SHOW REPLICA STATUS's first row with MySQL 8.0.22+'s column names on
/// every flavor (`canonical_status_column`).
fn normalized(rows: &Rows) -> Option<BTreeMap<String, String>> {
    let row = rows.rows.first()?;
    Some(
        rows.columns
            .iter()
            .zip(row)
            .map(|(name, value)| {
                (
                    canonical_status_column(name),
                    value.clone().unwrap_or_default(),
                )
            })
            .collect(),
    )
}

impl ReplicaState {
    /// From SHOW REPLICA STATUS (pure); None when the server is no replica.
    pub fn from_rows(rows: &Rows) -> Option<ReplicaState> {
        let r = normalized(rows)?;
        let text = |c: &str| r.get(c).cloned().unwrap_or_default();
        let number = |c: &str| r.get(c).and_then(|v| v.parse::<u64>().ok());
        if text("Source_Host").is_empty() {
            return None;
        }
        let error = |thread: &'static str, prefix: &str| {
            let number = number(&format!("Last_{prefix}_Errno")).unwrap_or(0) as u32;
            (number != 0).then(|| LastError {
                thread,
                number,
                message: text(&format!("Last_{prefix}_Error")),
                time: r
                    .get(&format!("Last_{prefix}_Error_Timestamp"))
                    .filter(|t| !t.is_empty())
                    .cloned(),
            })
        };
        let gtid = match r.get("Executed_Gtid_Set") {
            Some(set) => set.replace('\n', ""),
            None => text("Gtid_IO_Pos"),
        };
        Some(ReplicaState {
            source_host: text("Source_Host"),
            source_port: number("Source_Port").unwrap_or(0) as u16,
            io_running: text("Replica_IO_Running"),
            sql_running: text("Replica_SQL_Running"),
            lag_seconds: number("Seconds_Behind_Source"),
            source_log_file: text("Relay_Source_Log_File"),
            source_log_pos: number("Exec_Source_Log_Pos").unwrap_or(0),
            gtid,
            io_error: error("io", "IO"),
            sql_error: error("sql", "SQL"),
        })
    }

    /// The error to show: the SQL thread's matters more (it means data).
    pub fn last_error(&self) -> Option<&LastError> {
        self.sql_error.as_ref().or(self.io_error.as_ref())
    }
}

/// The server-id of the source this replica last connected to, from SHOW
/// REPLICA STATUS (pure); None when it is no replica or never connected.
pub fn source_server_id(rows: &Rows) -> Option<u32> {
    normalized(rows)?
        .get("Source_Server_Id")?
        .parse()
        .ok()
        .filter(|id| *id != 0)
}

/// The server's own state in one query.
pub fn read(conn: &mut Conn, role: RoleName, with_replica: bool) -> Result<NodeStatus> {
    let version = ServerVersion::parse(&conn.server_version)?;
    let d = Dialect::new(version)?;
    let rows = conn.query(d.node_state_query())?;
    let flag = |c: &str| rows.get(0, c) == Some("1");
    let replica = if with_replica {
        ReplicaState::from_rows(&conn.query(d.replica_status())?)
    } else {
        None
    };
    let seeded = rows
        .get(0, "dir")
        .and_then(|dir| std::fs::read_to_string(Path::new(dir).join(SEED_RECORD)).ok())
        .map(|t| t.trim().to_string());
    Ok(NodeStatus {
        role: role.as_str().to_string(),
        server_id: rows.get(0, "id").and_then(|v| v.parse().ok()).unwrap_or(0),
        version,
        ready: rows.get(0, "skip") == Some("0"),
        read_only: flag("ro"),
        // NULL where the server has none (MariaDB).
        super_read_only: rows.get(0, "sro").map(|v| v == "1"),
        gtid_executed: rows.get(0, "gtid").unwrap_or_default().replace('\n', ""),
        replica,
        seeded,
        errant: Errant::NotChecked("not compared".into()),
    })
}

/// A JSON string literal (pure).
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_opt<T>(value: &Option<T>, f: impl Fn(&T) -> String) -> String {
    value.as_ref().map_or_else(|| "null".to_string(), f)
}

impl NodeStatus {
    /// The documented JSON object (docs/status.schema.json), one line.
    pub fn to_json(&self) -> String {
        let product = match self.version.product {
            Product::MySql => "mysql",
            Product::MariaDb => "mariadb",
        };
        let crate::db::dialect::Release(a, b, c) = self.version.release;
        let replica = json_opt(&self.replica, |r| {
            let error = json_opt(&r.last_error(), |e| {
                format!(
                    "{{\"thread\":{},\"number\":{},\"message\":{},\"time\":{}}}",
                    json_string(e.thread),
                    e.number,
                    json_string(&e.message),
                    json_opt(&e.time, |t| json_string(t))
                )
            });
            format!(
                "{{\"source_host\":{},\"source_port\":{},\"io_running\":{},\"sql_running\":{},\
                 \"lag_seconds\":{},\"source_log_file\":{},\"source_log_pos\":{},\"gtid\":{},\"last_error\":{}}}",
                json_string(&r.source_host),
                r.source_port,
                json_string(&r.io_running),
                json_string(&r.sql_running),
                json_opt(&r.lag_seconds, |l| l.to_string()),
                json_string(&r.source_log_file),
                r.source_log_pos,
                json_string(&r.gtid),
                error
            )
        });
        format!(
            "{{\"version\":2,\"role\":{},\"server_id\":{},\"product\":{},\"server_version\":\"{a}.{b}.{c}\",\
             \"ready\":{},\"read_only\":{},\"super_read_only\":{},\"gtid_executed\":{},\"replica\":{},\"seeded\":{},\
             \"errant\":{}}}",
            json_string(&self.role),
            self.server_id,
            json_string(product),
            self.ready,
            self.read_only,
            json_opt(&self.super_read_only, |s| s.to_string()),
            json_string(&self.gtid_executed),
            replica,
            json_opt(&self.seeded, |s| json_string(s)),
            match &self.errant {
                Errant::NotChecked(_) => "null".to_string(),
                Errant::None => json_string(""),
                Errant::Found(set) => json_string(set),
            },
        )
    }

    /// The summary for people, one fact a line.
    pub fn to_text(&self) -> String {
        let yes = |b: bool| if b { "yes" } else { "no" };
        let mut lines = vec![
            format!("role:         {}", self.role),
            format!("server-id:    {}", self.server_id),
            format!(
                "server:       {}{}",
                self.version,
                if self.ready {
                    ""
                } else {
                    " (the temporary server of first start-up)"
                }
            ),
        ];
        let read_only = match self.super_read_only {
            Some(true) => "yes (super_read_only)".to_string(),
            _ => yes(self.read_only).to_string(),
        };
        lines.push(format!("read-only:    {read_only}"));
        match &self.replica {
            None => lines.push("replicating:  no (not a replica)".into()),
            Some(r) => {
                lines.push(format!("source:       {}:{}", r.source_host, r.source_port));
                lines.push(format!(
                    "threads:      I/O {}, SQL {}",
                    r.io_running, r.sql_running
                ));
                lines.push(format!(
                    "lag:          {}",
                    r.lag_seconds.map_or_else(
                        || "unknown (SQL thread not running)".into(),
                        |l| format!("{l} s")
                    )
                ));
                lines.push(format!(
                    "applied:      {}:{}{}",
                    r.source_log_file,
                    r.source_log_pos,
                    if r.gtid.is_empty() {
                        String::new()
                    } else {
                        format!(", GTIDs {}", r.gtid)
                    }
                ));
                lines.push(format!(
                    "last error:   {}",
                    r.last_error().map_or_else(
                        || "none".into(),
                        |e| format!(
                            "{} thread, error {}{}: {}",
                            e.thread,
                            e.number,
                            e.time
                                .as_ref()
                                .map(|t| format!(" at {t}"))
                                .unwrap_or_default(),
                            e.message
                        )
                    )
                ));
            }
        }
        lines.push(format!(
            "GTIDs:        {}",
            if self.gtid_executed.is_empty() {
                "none"
            } else {
                &self.gtid_executed
            }
        ));
        lines.push(format!(
            "seeded:       {}",
            self.seeded.as_deref().unwrap_or("no (or not by replikit)")
        ));
        lines.push(format!(
            "errant:       {}",
            match &self.errant {
                Errant::NotChecked(why) => format!("not compared ({why})"),
                Errant::None => "none (nothing the source lacks)".to_string(),
                Errant::Found(set) => format!("{set} (the source lacks these)"),
            }
        ));
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(pairs: &[(&str, &str)]) -> Rows {
        Rows {
            columns: pairs.iter().map(|(k, _)| k.to_string()).collect(),
            rows: vec![pairs
                .iter()
                .map(|(_, v)| (!v.is_empty()).then(|| v.to_string()))
                .collect()],
        }
    }

    #[test]
    fn the_source_server_id_under_either_name() {
        assert_eq!(
            source_server_id(&rows(&[("Source_Host", "a"), ("Source_Server_Id", "7")])),
            Some(7)
        );
        assert_eq!(
            source_server_id(&rows(&[("Master_Host", "a"), ("Master_Server_Id", "8")])),
            Some(8)
        );
        // Configured, never connected: MariaDB and MySQL say 0.
        assert_eq!(
            source_server_id(&rows(&[("Master_Host", "a"), ("Master_Server_Id", "0")])),
            None
        );
        assert_eq!(source_server_id(&Rows::default()), None);
    }

    #[test]
    fn replica_status_of_each_products_columns() {
        let mysql = rows(&[
            ("Source_Host", "db1"),
            ("Source_Port", "3306"),
            ("Replica_IO_Running", "Yes"),
            ("Replica_SQL_Running", "No"),
            ("Seconds_Behind_Source", ""),
            ("Relay_Source_Log_File", "binlog.000002"),
            ("Exec_Source_Log_Pos", "793"),
            ("Executed_Gtid_Set", "uuid:1-5,\nuuid2:1-3"),
            ("Last_IO_Errno", "0"),
            ("Last_SQL_Errno", "1062"),
            ("Last_SQL_Error", "Duplicate entry"),
            ("Last_SQL_Error_Timestamp", "251122 23:01:02"),
        ]);
        let s = ReplicaState::from_rows(&mysql).unwrap();
        assert_eq!(s.source_host, "db1");
        assert_eq!(s.sql_running, "No");
        assert_eq!(s.lag_seconds, None);
        assert_eq!(s.gtid, "uuid:1-5,uuid2:1-3");
        assert_eq!(
            s.last_error(),
            Some(&LastError {
                thread: "sql",
                number: 1062,
                message: "Duplicate entry".into(),
                time: Some("251122 23:01:02".into())
            })
        );
        let mariadb = rows(&[
            ("Master_Host", "db1"),
            ("Master_Port", "3307"),
            ("Slave_IO_Running", "Connecting"),
            ("Slave_SQL_Running", "Yes"),
            ("Seconds_Behind_Master", "0"),
            ("Relay_Master_Log_File", "binlog.000001"),
            ("Exec_Master_Log_Pos", "4"),
            ("Gtid_IO_Pos", "0-1-5"),
            ("Last_IO_Errno", "2003"),
            ("Last_IO_Error", "can't connect"),
            ("Last_SQL_Errno", "0"),
        ]);
        let s = ReplicaState::from_rows(&mariadb).unwrap();
        assert_eq!((s.source_port, s.lag_seconds), (3307, Some(0)));
        assert_eq!(s.gtid, "0-1-5");
        assert_eq!(s.last_error().unwrap().thread, "io");
        assert_eq!(ReplicaState::from_rows(&Rows::default()), None);
    }

    fn status(replica: Option<ReplicaState>) -> NodeStatus {
        NodeStatus {
            role: "replica".into(),
            server_id: 7,
            version: ServerVersion::parse("9.7.4").unwrap(),
            ready: true,
            read_only: true,
            super_read_only: Some(true),
            gtid_executed: "uuid:1-5".into(),
            replica,
            seeded: Some("dump from db1:3306".into()),
            errant: Errant::Found("uuid2:1".into()),
        }
    }

    #[test]
    fn json_is_one_line_with_every_field() {
        let replica = ReplicaState {
            source_host: "db\"1".into(),
            source_port: 3306,
            io_running: "Yes".into(),
            sql_running: "Yes".into(),
            lag_seconds: Some(2),
            source_log_file: "binlog.000002".into(),
            source_log_pos: 793,
            gtid: "uuid:1-5".into(),
            io_error: None,
            sql_error: None,
        };
        assert_eq!(
            status(Some(replica)).to_json(),
            "{\"version\":2,\"role\":\"replica\",\"server_id\":7,\"product\":\"mysql\",\"server_version\":\"9.7.4\",\
             \"ready\":true,\"read_only\":true,\"super_read_only\":true,\"gtid_executed\":\"uuid:1-5\",\
             \"replica\":{\"source_host\":\"db\\\"1\",\"source_port\":3306,\"io_running\":\"Yes\",\"sql_running\":\"Yes\",\
             \"lag_seconds\":2,\"source_log_file\":\"binlog.000002\",\"source_log_pos\":793,\"gtid\":\"uuid:1-5\",\
             \"last_error\":null},\"seeded\":\"dump from db1:3306\",\"errant\":\"uuid2:1\"}"
        );
        let primary = NodeStatus {
            role: "primary".into(),
            super_read_only: None,
            seeded: None,
            errant: Errant::NotChecked("not a replica".into()),
            ..status(None)
        };
        assert!(primary
            .to_json()
            .ends_with("\"super_read_only\":null,\"gtid_executed\":\"uuid:1-5\",\"replica\":null,\"seeded\":null,\"errant\":null}"));
        let clean = NodeStatus {
            errant: Errant::None,
            ..status(None)
        };
        assert!(clean.to_json().ends_with(",\"errant\":\"\"}"));
    }

    #[test]
    fn json_strings_escape_everything_json_requires() {
        assert_eq!(
            json_string("a\"b\\c\nd\u{1}é"),
            "\"a\\\"b\\\\c\\nd\\u0001é\""
        );
    }

    #[test]
    fn text_names_each_fact() {
        let text = status(None).to_text();
        for want in [
            "role:         replica",
            "server-id:    7",
            "server:       MySQL 9.7.4",
            "read-only:    yes (super_read_only)",
            "replicating:  no (not a replica)",
            "seeded:       dump from db1:3306",
            "errant:       uuid2:1 (the source lacks these)",
        ] {
            assert!(text.contains(want), "{want} in\n{text}");
        }
    }
}
