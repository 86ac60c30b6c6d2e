//! The shipped image and compose.yaml, end to end in the real Docker engine,
//! on MariaDB 10.11 and MySQL 9.7: the README's main job (`scripts/cluster
//! up` and `check`), then what operators do to a running cluster: stop,
//! restart and kill nodes, and add a replica once data exists.

use std::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::common::servers::Flavor;
use crate::common::*;

mod cluster_from_the_shipped_image {
    use super::*;
    mariadb_and_mysql!(end_to_end);
}

fn end_to_end(flavor: Flavor) {
    let base = flavor.rootfs_name();
    let cluster = Cluster::up(base);

    // The README's check: written through haproxy:3306, read on both
    // replicas and through haproxy:3307 from both.
    let check = cluster.script("check");
    let text = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(check.status.success(), "{base}: {text}{}", stderr(&check));
    assert!(
        text.contains("replica1: has the row") && text.contains("replica2: has the row"),
        "{base}: {text}"
    );

    // sql/ ran on the primary only; the replicas got its rows from it.
    assert!(cluster
        .logs("primary")
        .contains("replikit-sql: loading /usr/share/replikit/sql/todo.sql"));
    for replica in ["replica1", "replica2"] {
        let logs = cluster.logs(replica);
        assert!(
            logs.contains("replikit-sql: a replica") && !logs.contains("replikit-sql: loading"),
            "{base} {replica}: {logs}"
        );
        assert_eq!(
            cluster.sql(
                replica,
                "SELECT COUNT(*) FROM tododb.todo WHERE title = 'Set up replication'"
            ),
            "1",
            "{base} {replica}"
        );
    }
    // The settings from conf/ are in force.
    assert_eq!(
        cluster.sql(
            "replica1",
            "SELECT CONCAT_WS(',', IF(@@log_bin, 'log_bin', 'no log_bin'), @@binlog_format, @@sync_binlog, @@character_set_server)"
        ),
        "log_bin,ROW,1,utf8mb4",
        "{base}"
    );

    pool_follows_the_agent_check(&cluster);
    restart_a_replica(&cluster);
    stop_and_start_the_primary(&cluster);
    kill_and_start_the_primary(&cluster);
    scale_out(&cluster);
}

/// A replica whose SQL thread stops leaves HAProxy's read pool within
/// seconds (replikit's agent check), and comes back once it runs.
fn pool_follows_the_agent_check(cluster: &Cluster) {
    let id = |service: &str| cluster.sql(service, "SELECT @@server_id");
    let (one, two) = (id("replica1"), id("replica2"));
    assert!(!one.is_empty() && one != two, "{one} {two}");
    let read = || cluster.sql_with("primary", "SELECT @@server_id", "-h haproxy -P 3307");
    cluster.sql("replica1", "STOP REPLICA SQL_THREAD");
    let started = Instant::now();
    wait_for(
        Duration::from_secs(30),
        "replica1 to leave the read pool",
        || (0..6).all(|_| read() == two),
    );
    eprintln!(
        "{}: replica1 left the read pool after {:?}",
        cluster.base,
        started.elapsed()
    );
    cluster.sql("replica1", "START REPLICA SQL_THREAD");
    wait_for(
        Duration::from_secs(30),
        "replica1 to come back to the read pool",
        || (0..6).any(|_| read() == one),
    );
}

/// `docker restart` of a replica: the same option file, byte for byte, and
/// it goes on replicating from where it was, applying nothing twice (a
/// second insert of a row would stop its SQL thread on the duplicate key,
/// and verify would see a different table).
fn restart_a_replica(cluster: &Cluster) {
    let option_file = || {
        let out = cluster.exec("replica1", "cat /etc/mysql/conf.d/replikit.cnf");
        assert!(out.status.success(), "{}", stderr(&out));
        out.stdout
    };
    let before = option_file();
    cluster.docker("restart", "replica1", &["-t", "120"]);
    cluster.healthy("replica1");
    assert_eq!(
        option_file(),
        before,
        "{}: the option file changed",
        cluster.base
    );
    assert!(cluster
        .logs("replica1")
        .contains("option file /etc/mysql/conf.d/replikit.cnf: Unchanged"));
    cluster.row_reaches(&["replica1", "replica2"], "after a replica restart");
    cluster.verify("replica1");
}

/// `docker stop` of the primary: replikit passes SIGTERM to mysqld, which
/// shuts down cleanly; the container exits 0 well inside the grace period,
/// so Docker never sends SIGKILL, and neither does replikit.
fn stop_and_start_the_primary(cluster: &Cluster) {
    let started = Instant::now();
    cluster.docker("stop", "primary", &["-t", "120"]);
    let took = started.elapsed();
    eprintln!("{}: docker stop of the primary took {took:?}", cluster.base);
    assert_eq!(
        cluster.inspect("primary", "{{.State.ExitCode}}"),
        "0",
        "{}",
        cluster.base
    );
    let logs = cluster.logs("primary");
    assert!(
        logs.contains("Shutdown complete"),
        "{}: {logs}",
        cluster.base
    );
    assert!(!logs.contains("sent SIGKILL"), "{}: {logs}", cluster.base);
    assert!(
        logs.contains("exited with code 0"),
        "{}: {logs}",
        cluster.base
    );
    cluster.docker("start", "primary", &[]);
    cluster.healthy("primary");
    cluster.row_reaches(&["replica1", "replica2"], "after a stop of the primary");
}

/// `docker kill -s KILL` of the primary: no shutdown at all. Started again,
/// it recovers, and the replicas reconnect by themselves.
fn kill_and_start_the_primary(cluster: &Cluster) {
    cluster.docker("kill", "primary", &["-s", "KILL"]);
    assert_eq!(cluster.inspect("primary", "{{.State.ExitCode}}"), "137");
    cluster.docker("start", "primary", &[]);
    cluster.healthy("primary");
    cluster.row_reaches(&["replica1", "replica2"], "after a kill of the primary");
    cluster.verify("replica2");
}

/// A third replica, added once data exists, seeds itself from the primary,
/// replicates, holds the same rows, and has a server-id of its own.
fn scale_out(cluster: &Cluster) {
    cluster.compose(&["--profile", "scale-out", "up", "-d", "replica3"]);
    cluster.healthy("replica3");
    let logs = cluster.logs("replica3");
    assert!(
        logs.contains("replikit: info: seeding from primary:3306"),
        "{}: {logs}",
        cluster.base
    );
    cluster.row_reaches(&["replica1", "replica2", "replica3"], "after the scale-out");
    cluster.verify("replica3");
    let three = cluster.sql("replica3", "SELECT @@server_id");
    wait_for(
        Duration::from_secs(60),
        &format!(
            "{}: replica3 to serve reads through haproxy:3307",
            cluster.base
        ),
        || cluster.sql_with("primary", "SELECT @@server_id", "-h haproxy -P 3307") == three,
    );
    let ids: std::collections::BTreeSet<String> = ["primary", "replica1", "replica2", "replica3"]
        .iter()
        .map(|s| cluster.sql(s, "SELECT @@server_id"))
        .collect();
    assert_eq!(
        ids.len(),
        4,
        "{}: server-ids must differ: {ids:?}",
        cluster.base
    );
    assert!(!ids.contains(""), "{ids:?}");
}
