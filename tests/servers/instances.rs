//! The real servers later tests replicate between: every flavor starts from
//! its root filesystem, several instances run side by side on their own
//! ports, and each stops cleanly on SIGTERM.

use crate::common::servers::{Flavor, Server};

#[test]
fn every_flavor_runs_two_instances_side_by_side_and_stops_on_sigterm() {
    let threads: Vec<_> = Flavor::ALL
        .into_iter()
        .map(|flavor| {
            std::thread::spawn(move || {
                let a = Server::start(flavor);
                let b = Server::start(flavor);
                assert_ne!(a.port, b.port);
                for s in [&a, &b] {
                    let version = s.sql("SELECT VERSION()");
                    assert!(version.starts_with(flavor.version_prefix()), "{flavor:?}: {version}");
                    assert_eq!(s.sql("SELECT @@port"), s.port.to_string());
                }
                a.sql("CREATE DATABASE t; CREATE TABLE t.r (id INT PRIMARY KEY); INSERT INTO t.r VALUES (1), (2)");
                assert_eq!(a.sql("SELECT COUNT(*) FROM t.r"), "2");
                assert!(b.sql("SHOW DATABASES").lines().all(|d| d != "t"), "instances share nothing");
                assert_eq!(a.stop(), 0, "{flavor:?} did not stop cleanly");
                assert_eq!(b.stop(), 0, "{flavor:?} did not stop cleanly");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
