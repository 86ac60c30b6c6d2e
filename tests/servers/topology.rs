//! High availability on real servers: three nodes under replikit with
//! REPLIKIT_PEERS, the recorded topology, fencing at start, switchover
//! there and back, failover to the most advanced replica after a kill -9
//! of the primary, the old primary rejoining by itself with its old
//! environment, and an errant replica refused as a target.

use std::time::Duration;

use crate::common::servers::{free_port, Flavor, Server};
use crate::common::wait_for;

const ADMIN_PASSWORD: &str = "Adm1n-pw!";

struct Ha {
    flavor: Flavor,
    ports: [u16; 3],
    /// Each node's agent port for writes (REPLIKIT_AGENT_WRITE_PORT).
    write_agents: [u16; 3],
    nodes: Vec<Server>,
}

impl Ha {
    /// Node `i`'s environment: node 0 is the initial primary.
    fn env(&self, i: usize) -> Vec<(&'static str, String)> {
        let peers = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut env = vec![
            ("MYSQL_REPL_USER", "repl".to_string()),
            ("MYSQL_REPL_PASSWORD", "repl-pw".to_string()),
            ("REPLIKIT_ADMIN_PASSWORD", ADMIN_PASSWORD.to_string()),
            ("REPLIKIT_PEERS", peers),
            ("REPLIKIT_REPL_HOST", "127.0.0.1".to_string()),
            // The init-file (fencing) and an id of its own per node.
            ("REPLIKIT_SERVER_ID_VIA", "arg".to_string()),
            ("REPLIKIT_SERVER_ID", (11 + i).to_string()),
            ("REPLIKIT_REPORT_HOST", "127.0.0.1".to_string()),
            (
                "REPLIKIT_AGENT_WRITE_PORT",
                self.write_agents[i].to_string(),
            ),
            ("REPLIKIT_AGENT_BIND", "127.0.0.1".to_string()),
        ];
        if i == 0 {
            env.push(("MYSQL_MASTER", "1".to_string()));
        } else {
            env.push(("MYSQL_MASTER_HOST", "127.0.0.1".to_string()));
            env.push(("MYSQL_MASTER_PORT", self.ports[0].to_string()));
        }
        env
    }

    fn start(&mut self, i: usize) {
        let extra = if self.flavor == Flavor::MySql97 {
            ""
        } else {
            "--log-slave-updates --gtid-strict-mode"
        };
        let env = self.env(i);
        self.nodes.push(Server::start_under_replikit_on(
            self.flavor,
            self.ports[i],
            extra,
            &env,
        ));
    }

    /// `replikit ARGS` run in node `from`'s container, with its environment.
    fn replikit(&self, from: usize, args: &[&str]) -> (i32, String) {
        let out = self.nodes[from]
            .replikit()
            .envs(self.env(from))
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains(ADMIN_PASSWORD),
            "the admin password leaked: {text}"
        );
        assert!(
            !text.contains("repl-pw"),
            "the replication password leaked: {text}"
        );
        (out.status.code().unwrap_or(-1), text)
    }

    fn epoch(&self, i: usize) -> String {
        self.nodes[i]
            .sql_result("SELECT epoch, primary_port FROM replikit.topology")
            .unwrap_or_default()
    }

    fn wait_epoch(&self, i: usize, epoch: u64, primary: usize) {
        let want = format!("{epoch}\t{}", self.ports[primary]);
        wait_for(
            Duration::from_secs(60),
            &format!("epoch {epoch} naming node {primary} on node {i}"),
            || self.epoch(i) == want,
        );
    }

    fn read_only(&self, i: usize) -> bool {
        self.nodes[i].sql("SELECT @@GLOBAL.read_only") == "1"
    }

    fn source_port(&self, i: usize) -> Option<String> {
        self.nodes[i]
            .replica_status()
            .and_then(|s| s.get("Source_Port").cloned())
    }

    /// Exactly `primary` takes writes, and every other node replicates
    /// from it with both threads running.
    fn assert_primary(&self, primary: usize) {
        for i in 0..self.nodes.len() {
            if i == primary {
                assert!(!self.read_only(i), "node {i} should take writes");
            } else {
                self.assert_follows(i, primary);
            }
        }
    }

    /// Node `i` is read-only and replicates from node `primary`, both
    /// threads running (within a minute).
    fn assert_follows(&self, i: usize, primary: usize) {
        assert!(self.read_only(i), "node {i} should be read-only");
        let port = self.ports[primary].to_string();
        let replicating = || {
            self.nodes[i].replica_status().is_some_and(|s| {
                s.get("Source_Port") == Some(&port)
                    && s.get("Replica_IO_Running").map(String::as_str) == Some("Yes")
                    && s.get("Replica_SQL_Running").map(String::as_str) == Some("Yes")
            })
        };
        let until = std::time::Instant::now() + Duration::from_secs(60);
        while !replicating() {
            assert!(
                std::time::Instant::now() < until,
                "node {i} does not replicate from node {primary}: {:?}\n{}",
                self.nodes[i].replica_status(),
                self.nodes[i].replikit_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What node `i`'s agent answers for writes.
    fn write_answer(&self, i: usize) -> String {
        use std::io::Read;
        let mut answer = String::new();
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.write_agents[i])) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.read_to_string(&mut answer);
        }
        answer
    }

    /// The write endpoint follows the primary: its agent alone answers up
    /// for writes, within a few probes; and `replikit health` passes on
    /// every running node, each judged by the role its record gives.
    fn assert_endpoint_follows(&self, primary: usize, running: &[usize]) {
        for &i in running {
            let want = if i == primary {
                "up\n"
            } else {
                "down #--writable\n"
            };
            wait_for(
                Duration::from_secs(10),
                &format!("node {i}'s write agent to say {want:?}"),
                || self.write_answer(i) == want,
            );
            let (code, out) = self.replikit(i, &["health"]);
            assert_eq!(code, 0, "node {i}: {out}");
        }
        let (code, out) = self.replikit(primary, &["health", "--writable"]);
        assert_eq!(code, 0, "{out}");
        if let Some(&other) = running.iter().find(|&&i| i != primary) {
            let (code, out) = self.replikit(other, &["health", "--writable"]);
            assert_eq!(code, 1, "{out}");
            assert!(
                out.contains("--writable: this replica is read-only"),
                "{out}"
            );
        }
    }

    fn insert(&self, on: usize, id: u32) {
        self.nodes[on].sql(&format!("INSERT INTO ha.t VALUES ({id})"));
    }

    fn wait_rows(&self, i: usize, count: u32) {
        self.nodes[i].wait_for_rows("SELECT COUNT(*) FROM ha.t", &count.to_string());
    }
}

fn ha(flavor: Flavor) {
    let ports = [free_port(), free_port(), free_port()];
    let write_agents = [free_port(), free_port(), free_port()];
    let mut c = Ha {
        flavor,
        ports,
        write_agents,
        nodes: Vec::new(),
    };
    // The primary of a new cluster records epoch 1 and takes writes; the
    // init-file had started it read-only.
    c.start(0);
    c.wait_epoch(0, 1, 0);
    wait_for(
        Duration::from_secs(30),
        "the primary to take writes",
        || !c.read_only(0),
    );
    let log = c.nodes[0].replikit_log();
    assert!(
        log.contains("topology: a new cluster; recorded epoch 1"),
        "{log}"
    );
    assert!(log.contains("this node takes writes now"), "{log}");
    c.nodes[0].sql("CREATE DATABASE ha; CREATE TABLE ha.t (id INT PRIMARY KEY)");
    c.insert(0, 1);
    c.start(1);
    c.start(2);
    for i in [1, 2] {
        c.wait_rows(i, 1);
        c.wait_epoch(i, 1, 0);
    }
    c.assert_primary(0);
    c.assert_endpoint_follows(0, &[0, 1, 2]);
    // With peers the monitor reads the topology record, and nothing else.
    for node in &c.nodes {
        let grants = node.sql("SHOW GRANTS FOR 'replikit_monitor'@'localhost'");
        assert!(
            grants.contains("GRANT SELECT ON `replikit`.*") && !grants.contains("ALL"),
            "{grants}"
        );
        assert_eq!(grants.matches("SELECT").count(), 1, "{grants}");
    }

    // Switchover to node 1 under no load, then a write there reaches all.
    let (code, out) = c.replikit(
        2,
        &["switchover", "--to", &format!("127.0.0.1:{}", ports[1])],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("switchover done") && out.contains("epoch 2"),
        "{out}"
    );
    c.assert_primary(1);
    for i in 0..3 {
        c.wait_epoch(i, 2, 1);
    }
    c.assert_endpoint_follows(1, &[0, 1, 2]);
    c.insert(1, 2);
    for i in [0, 2] {
        c.wait_rows(i, 2);
    }
    // Back to the original primary, named by address alone this time.
    let (code, out) = c.replikit(
        1,
        &["switchover", "--to", &format!("127.0.0.1:{}", ports[0])],
    );
    assert_eq!(code, 0, "{out}");
    c.assert_primary(0);
    c.insert(0, 3);
    c.wait_rows(1, 3);
    c.wait_rows(2, 3);
    for i in 0..3 {
        c.wait_epoch(i, 3, 0);
    }

    // Node 2 lags (its replication stopped), node 0 writes more, then is
    // killed: failover must pick node 1, which holds everything.
    c.nodes[2].sql(if flavor == Flavor::MySql97 {
        "STOP REPLICA"
    } else {
        "STOP SLAVE"
    });
    c.insert(0, 4);
    c.wait_rows(1, 4);
    c.nodes[0].kill();
    let (code, out) = c.replikit(2, &["failover"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("127.0.0.1:{} is the primary of epoch 4", ports[1])),
        "{out}"
    );
    c.wait_rows(2, 4);
    c.wait_epoch(2, 4, 1);
    assert!(!c.read_only(1));
    assert!(c.read_only(2));
    assert_eq!(c.source_port(2), Some(ports[1].to_string()));
    c.insert(1, 5);
    c.wait_rows(2, 5);
    c.assert_endpoint_follows(1, &[1, 2]);

    // The old primary comes back with its old environment (MYSQL_MASTER=1):
    // it stays read-only and rejoins as a replica of node 1 by itself.
    c.nodes[0].start_again();
    c.wait_rows(0, 5);
    c.assert_primary(1);
    c.wait_epoch(0, 4, 1);
    let log = c.nodes[0].replikit_log();
    assert!(log.contains("topology: rejoined as a replica"), "{log}");
    c.assert_endpoint_follows(1, &[0, 1, 2]);

    // An errant transaction on node 2: a switchover to it is refused,
    // naming the GTID.
    let lift = if flavor == Flavor::MySql97 {
        "SET GLOBAL super_read_only = OFF; SET GLOBAL read_only = OFF; CREATE DATABASE errant_here; SET GLOBAL super_read_only = ON"
    } else {
        "SET GLOBAL read_only = OFF; CREATE DATABASE errant_here; SET GLOBAL read_only = ON"
    };
    c.nodes[2].sql(lift);
    let (code, out) = c.replikit(
        0,
        &["switchover", "--to", &format!("127.0.0.1:{}", ports[2])],
    );
    assert_eq!(code, 69, "{out}");
    assert!(out.contains("errant transactions"), "{out}");
    let own = if flavor == Flavor::MySql97 {
        c.nodes[2].sql("SELECT @@server_uuid")
    } else {
        "-13-".to_string()
    };
    assert!(out.contains(&own), "{out}");
    // Nothing changed: node 1 still the only writable one.
    c.assert_primary(1);

    // The primary killed: a failover refuses the errant candidate (node
    // 2 holds everything node 0 does, and more), naming the GTID, and
    // leaves the replicas as they were.
    c.nodes[1].kill();
    let (code, out) = c.replikit(0, &["failover"]);
    assert_eq!(code, 69, "{out}");
    assert!(
        out.contains("has errant transactions") && out.contains(&own),
        "{out}"
    );
    c.nodes[1].start_again();
    wait_for(
        Duration::from_secs(30),
        "node 1 to take writes again",
        || !c.read_only(1),
    );
    // Node 0 receives again. Node 2 may not: on MariaDB, gtid_strict_mode
    // stops it at the primary's first write after its own errant one.
    c.assert_follows(0, 1);
    c.insert(1, 6);
    c.wait_rows(0, 6);

    // rejoin --discard repairs node 2: seeded again from node 1, its own
    // schema gone, every row there, healthy errant check included.
    let (code, out) = c.replikit(2, &["rejoin"]);
    assert_eq!(code, 64, "{out}");
    assert!(out.contains("--discard"), "{out}");
    let (code, out) = c.replikit(2, &["rejoin", "--discard"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("errant_here"),
        "it names what it discards: {out}"
    );
    c.assert_primary(1);
    assert_eq!(
        c.nodes[2].sql(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'errant_here'"
        ),
        "0"
    );
    c.wait_rows(2, 6);
    c.insert(1, 7);
    c.wait_rows(2, 7);
    let (code, out) = c.replikit(2, &["health", "--errant"]);
    assert_eq!(code, 0, "{out}");
    c.assert_endpoint_follows(1, &[0, 1, 2]);
}

crate::mariadb_and_mysql!(ha);

/// A failover keeps what a replica received but could not apply: node 2
/// received every write while its SQL thread waited on a lock, node 1
/// received none of them (its I/O thread stopped), and the primary is
/// killed. Compared on executed transactions alone, node 1 would win and
/// node 2's relay log would be purged by the repointing, the writes lost
/// everywhere. Compared on what each holds, nobody can win while node 2
/// cannot apply; once the lock is gone, node 2 wins with every write and
/// node 1 gets them from it.
fn relay_log(flavor: Flavor) {
    let ports = [free_port(), free_port(), free_port()];
    let write_agents = [free_port(), free_port(), free_port()];
    let mut c = Ha {
        flavor,
        ports,
        write_agents,
        nodes: Vec::new(),
    };
    c.start(0);
    c.wait_epoch(0, 1, 0);
    wait_for(
        Duration::from_secs(30),
        "the primary to take writes",
        || !c.read_only(0),
    );
    c.nodes[0].sql("CREATE DATABASE ha; CREATE TABLE ha.t (id INT PRIMARY KEY)");
    c.start(1);
    c.start(2);
    for i in [1, 2] {
        c.wait_epoch(i, 1, 0);
    }
    // Replicated to both (not seeded): each logs it, so either can serve
    // the other from there.
    c.insert(0, 1);
    for i in [1, 2] {
        c.wait_rows(i, 1);
    }
    let (stop_io, status) = if flavor == Flavor::MySql97 {
        ("STOP REPLICA IO_THREAD", "Retrieved_Gtid_Set")
    } else {
        ("STOP SLAVE IO_THREAD", "Gtid_IO_Pos")
    };
    c.nodes[1].sql(stop_io);
    // Node 2's SQL thread waits behind a lock that a session of the
    // test's holds.
    let mut lock = c.nodes[2]
        .shell("exec $CLIENT --socket=$SOCK -uroot -e 'LOCK TABLES ha.t READ; SELECT SLEEP(600)'")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(30), "the lock to be held", || {
        c.nodes[2]
            .sql("SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(600)%'")
            == "1"
    });
    for id in 2..=5 {
        c.insert(0, id);
    }
    let primary_has = if flavor == Flavor::MySql97 {
        c.nodes[0]
            .sql("SELECT @@GLOBAL.gtid_executed")
            .replace('\n', "")
    } else {
        c.nodes[0].sql("SELECT @@GLOBAL.gtid_binlog_pos")
    };
    wait_for(
        Duration::from_secs(30),
        "node 2 to receive every write",
        || {
            let Some(received) = c.nodes[2]
                .replica_status()
                .and_then(|s| s.get(status).map(|v| v.replace('\n', "")))
            else {
                return false;
            };
            if flavor == Flavor::MySql97 {
                c.nodes[2].sql(&format!(
                    "SELECT GTID_SUBSET('{primary_has}', CONCAT(@@GLOBAL.gtid_executed, ',', '{received}'))"
                )) == "1"
            } else {
                received == primary_has
            }
        },
    );
    // (Node 2's table cannot be read meanwhile: the lock holds it.)
    c.nodes[0].kill();

    let (code, out) = c.replikit(1, &["failover", "--timeout", "3s"]);
    assert_ne!(
        code, 0,
        "a member without the received writes was promoted: {out}"
    );
    assert!(
        out.contains("no candidate holds everything the others hold")
            && out.contains(&format!("127.0.0.1:{} could not apply", ports[2])),
        "{out}"
    );
    for i in [1, 2] {
        assert!(c.read_only(i), "node {i} was opened: {out}");
    }

    let _ = lock.kill();
    let _ = lock.wait();
    let (code, out) = c.replikit(1, &["failover", "--timeout", "30s"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("127.0.0.1:{} is the primary of epoch 2", ports[2])),
        "{out}"
    );
    c.wait_rows(2, 5);
    c.assert_follows(1, 2);
    c.wait_rows(1, 5);
}

mod a_failover_keeps_what_a_replica_received {
    use super::*;
    crate::mariadb_and_mysql!(relay_log);
}
