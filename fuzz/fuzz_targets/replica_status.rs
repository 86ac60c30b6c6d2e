//! Reading SHOW REPLICA STATUS (src/status/node.rs) from any columns and
//! values, and any server version string: no panic, and the status JSON
//! (docs/status.schema.json) is always valid JSON with the fields it
//! promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use replikit::fuzzing::{coordinates, Errant, NodeStatus, ReplicaState, Rows, ServerVersion};

/// Real column names, so that the fuzzer reaches past the lookups.
const COLUMNS: &[&str] = &[
    "Master_Host",
    "Source_Host",
    "Master_Port",
    "Source_Port",
    "Slave_IO_Running",
    "Replica_IO_Running",
    "Slave_SQL_Running",
    "Replica_SQL_Running",
    "Seconds_Behind_Master",
    "Seconds_Behind_Source",
    "Relay_Master_Log_File",
    "Exec_Master_Log_Pos",
    "Executed_Gtid_Set",
    "Gtid_IO_Pos",
    "Last_IO_Errno",
    "Last_IO_Error",
    "Last_IO_Error_Timestamp",
    "Last_SQL_Errno",
    "Last_SQL_Error",
    "Last_SQL_Error_Timestamp",
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let version = lines.next().unwrap_or("");
    // Each further line: a column (its first byte picks one), then its
    // value; a line starting with 0xff is a NULL.
    let mut columns = Vec::new();
    let mut row = Vec::new();
    for line in lines.clone() {
        let Some((&first, rest)) = line.as_bytes().split_first() else {
            continue;
        };
        columns.push(COLUMNS[usize::from(first) % COLUMNS.len()].to_string());
        row.push((first != b'~').then(|| String::from_utf8_lossy(rest).into_owned()));
    }
    let rows = Rows {
        columns,
        rows: vec![row],
    };
    let replica = ReplicaState::from_rows(&rows);
    if let Some(r) = &replica {
        let _ = r.last_error();
    }
    if let Ok(version) = ServerVersion::parse(version) {
        let status = NodeStatus {
            role: "replica".into(),
            server_id: 7,
            version,
            ready: true,
            read_only: true,
            super_read_only: None,
            gtid_executed: text.chars().take(40).collect(),
            replica,
            seeded: None,
            // The errant set comes from the network too (MySQL's
            // GTID_SUBTRACT of the source's set).
            errant: match text.len() % 3 {
                0 => Errant::None,
                1 => Errant::Found(text.chars().rev().take(60).collect()),
                _ => Errant::NotChecked(text.chars().take(30).collect()),
            },
        };
        let json: serde_json::Value =
            serde_json::from_str(&status.to_json()).expect("status JSON does not parse");
        assert_eq!(json["version"], 2, "{json}");
        // Every string survives the escaping, whatever its bytes.
        match &status.replica {
            Some(r) => {
                assert_eq!(json["replica"]["source_host"], r.source_host.as_str());
                assert_eq!(json["replica"]["gtid"], r.gtid.as_str());
            }
            None => assert!(json["replica"].is_null(), "{json}"),
        }
        assert_eq!(json["gtid_executed"], status.gtid_executed.as_str());
        let _ = status.to_text();
    }
    // The dump's coordinates come from the same kind of untrusted text.
    let half = text.len() / 2;
    let split = (0..=half)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let _ = coordinates(&text[..split], &text[split..]);
});
