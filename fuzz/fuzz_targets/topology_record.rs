//! A peer's topology record (src/replication/topology.rs), from any
//! values in its four columns: no panic; a record accepted is one that
//! can be acted on (an epoch, a port and a server-id that are not 0, a
//! host of host-name characters only), so nothing else reaches CHANGE
//! REPLICATION SOURCE TO or the next record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use replikit::fuzzing::{topology_record, Rows};

const COLUMNS: [&str; 4] = ["epoch", "primary_host", "primary_port", "primary_server_id"];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Up to four values, one a line; a line "~" is a NULL.
    let row: Vec<Option<String>> = text
        .split('\n')
        .take(COLUMNS.len())
        .map(|v| (v != "~").then(|| v.to_string()))
        .collect();
    let rows = Rows {
        columns: COLUMNS[..row.len()].iter().map(|c| c.to_string()).collect(),
        rows: vec![row],
    };
    if let Ok(Some(r)) = topology_record(&rows) {
        assert!(r.epoch > 0 && r.port > 0 && r.server_id > 0, "{r:?}");
        assert!(!r.host.is_empty() && r.host.len() <= 255, "{r:?}");
        assert!(
            r.host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b)),
            "{r:?}"
        );
    }
});
