//! MariaDB's errant-GTID comparison (src/status/errant.rs) on any two
//! lists, the source's from the network: no panic; a list is never errant
//! against itself; what it reports are well-formed GTIDs of the replica's
//! list. Failover's "who is behind" on the same lists: never behind
//! itself, nor a union behind its part; the GTIDs of one server are
//! entries of the list they came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use replikit::fuzzing::{mariadb_behind, mariadb_errant_gtids, mariadb_of_server, mysql_of_server};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (replica, source) = text.split_once('|').unwrap_or((&text, ""));
    assert_eq!(mariadb_errant_gtids(replica, replica), "");
    let errant = mariadb_errant_gtids(replica, source);
    for gtid in errant.split(',').filter(|g| !g.is_empty()) {
        let parts: Vec<&str> = gtid.split('-').collect();
        assert_eq!(parts.len(), 3, "{gtid}");
        assert!(parts.iter().all(|p| p.parse::<u64>().is_ok()), "{gtid}");
        assert!(
            replica.split(',').any(|r| {
                let r: Vec<&str> = r.trim().split('-').collect();
                r.len() == 3 && r[0].parse::<u32>().ok() == parts[0].parse().ok()
                    && r[1].parse::<u32>().ok() == parts[1].parse().ok()
            }),
            "{gtid} is not the replica's"
        );
    }
    assert!(!mariadb_behind(replica, replica));
    assert!(!mariadb_behind(&format!("{replica},{source}"), source));
    let _ = mariadb_behind(replica, source);
    let entries: Vec<&str> = replica.split(',').map(str::trim).collect();
    for server in [0u32, 1, 2, u32::MAX] {
        for gtid in mariadb_of_server(replica, server).split(',').filter(|g| !g.is_empty()) {
            assert!(entries.contains(&gtid), "{gtid} is not an entry of {replica}");
        }
    }
    for gtid in mysql_of_server(replica, source).split(',').filter(|g| !g.is_empty()) {
        assert!(entries.contains(&gtid), "{gtid} is not an entry of {replica}");
    }
});
