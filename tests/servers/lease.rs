//! The leader lease in a real three-member etcd (issue 18), on real
//! servers: two nodes under replikit with REPLIKIT_PEERS and REPLIKIT_DCS
//! (a short time-to-live, 6 s, so that the test is quick):
//! - the first primary takes the leader key before it takes writes;
//! - each member publishes its entry (writable, GTIDs, replica threads);
//! - a switchover hands the key over, and back;
//! - maintenance on (status says so on every node); etcd loses its quorum
//!   (two members stopped): the primary makes itself read-only before its
//!   lease could expire, the replica keeps replicating; etcd back: the
//!   primary takes writes again;
//! - still paused, the primary killed: no automatic failover; `replikit
//!   failover` waits for its lease to expire, then takes the key for the
//!   replica and promotes it;
//! - maintenance off, the old primary back as a replica, the new primary's
//!   server frozen (SIGSTOP): its keeper kills it before the lease can
//!   expire, and the replica's keeper fails over by itself;
//! - another value put under the key: the writable node fences itself.

use std::time::{Duration, Instant};

use crate::common::etcd::Etcd;
use crate::common::servers::{free_port, Flavor, Server};
use crate::common::wait_for;

const TTL: Duration = Duration::from_secs(6);
const KEY: &str = "/replikit/lease-test/leader";
const ASYNC: &str = "/replikit/lease-test/async";
/// REPLIKIT_SEMI_SYNC_TIMEOUT.
const SEMI_SYNC_TIMEOUT: Duration = Duration::from_secs(3);

struct Nodes {
    flavor: Flavor,
    ports: [u16; 2],
    dcs: String,
    nodes: Vec<Server>,
}

impl Nodes {
    /// Two nodes on etcd, node 0 started and taking writes as the first
    /// primary.
    fn with_primary(flavor: Flavor, etcd: &Etcd) -> Nodes {
        let mut c = Nodes {
            flavor,
            ports: [free_port(), free_port()],
            dcs: etcd.dcs(),
            nodes: Vec::new(),
        };
        c.start(0);
        c.wait_writable(
            0,
            Duration::from_secs(60),
            "the first primary to take writes",
        );
        c
    }

    /// `with_primary`, then node 1 as its replica, replicating a table
    /// `ha.t` with one row.
    fn with_replica(flavor: Flavor, etcd: &Etcd) -> Nodes {
        let mut c = Nodes::with_primary(flavor, etcd);
        c.nodes[0].sql(
            "CREATE DATABASE ha; CREATE TABLE ha.t (id INT PRIMARY KEY); INSERT INTO ha.t VALUES (1)",
        );
        c.start(1);
        c.nodes[1].wait_for_rows("SELECT COUNT(*) FROM ha.t", "1");
        c.wait_replicating(1);
        c
    }

    fn env(&self, i: usize) -> Vec<(&'static str, String)> {
        let peers = format!("127.0.0.1:{},127.0.0.1:{}", self.ports[0], self.ports[1]);
        let mut env = vec![
            ("MYSQL_REPL_USER", "repl".to_string()),
            ("MYSQL_REPL_PASSWORD", "repl-pw".to_string()),
            ("REPLIKIT_ADMIN_PASSWORD", "Adm1n-pw!".to_string()),
            ("REPLIKIT_PEERS", peers),
            ("REPLIKIT_DCS", self.dcs.clone()),
            ("REPLIKIT_DCS_TTL", TTL.as_secs().to_string()),
            ("REPLIKIT_CLUSTER", "lease-test".to_string()),
            ("REPLIKIT_SEMI_SYNC", "on".to_string()),
            (
                "REPLIKIT_SEMI_SYNC_TIMEOUT",
                format!("{}s", SEMI_SYNC_TIMEOUT.as_secs()),
            ),
            ("REPLIKIT_REPL_HOST", "127.0.0.1".to_string()),
            ("REPLIKIT_SERVER_ID_VIA", "arg".to_string()),
            ("REPLIKIT_SERVER_ID", (11 + i).to_string()),
            ("REPLIKIT_REPORT_HOST", "127.0.0.1".to_string()),
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

    /// Whether node `i` takes writes; a session the fence ends under the
    /// query is asked again.
    fn writable(&self, i: usize) -> bool {
        for _ in 0..5 {
            if let Ok(ro) = self.nodes[i].sql_result("SELECT @@GLOBAL.read_only") {
                return ro == "0";
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "node {i} does not answer:\n{}",
            self.nodes[i].replikit_log()
        );
    }

    fn replikit(&self, from: usize, args: &[&str]) -> String {
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
        assert!(out.status.success(), "replikit {args:?}: {text}");
        assert!(
            !text.contains("Adm1n-pw!") && !text.contains("repl-pw"),
            "{text}"
        );
        text
    }

    /// Node `i` replicates, both threads running, within a minute; else
    /// a failure with what its status and replikit say.
    fn wait_replicating(&self, i: usize) {
        let until = Instant::now() + Duration::from_secs(60);
        while !self.replicating(i) {
            assert!(
                Instant::now() < until,
                "node {i} does not replicate: {:?}\n{}",
                self.nodes[i].replica_status(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until node `i` takes writes; else a failure with what every
    /// node's replikit said.
    fn wait_writable(&self, i: usize, limit: Duration, what: &str) {
        let until = Instant::now() + limit;
        while !self.writable(i) {
            assert!(
                Instant::now() < until,
                "gave up after {limit:?} waiting for {what}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until node `i` is read-only; else a failure with every
    /// node's log.
    fn wait_writable_not(&self, i: usize, limit: Duration, what: &str) {
        let until = Instant::now() + limit;
        while self.writable(i) {
            assert!(
                Instant::now() < until,
                "gave up after {limit:?} waiting for {what}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
            .enumerate()
            .map(|(n, node)| format!("node {n}'s log:\n{}", node.replikit_log()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Node `i` has semi-synchronous replication's source side on (it is
    /// a primary) and its replica side off, or the other way round; with
    /// `working`, that side works too (its status: the primary has a
    /// semi-sync replica connected, the replica acknowledges), within 30 s.
    fn assert_semi_sync(&self, i: usize, source: bool, working: bool) {
        let side = |status: &[std::collections::BTreeMap<String, String>], which: &str| {
            status.iter().any(|row| {
                row.get("Variable_name").is_some_and(|n| n.contains(which))
                    && row.get("Value").map(String::as_str) == Some("ON")
            })
        };
        let query = if working {
            "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_%_status'"
        } else {
            "SHOW GLOBAL VARIABLES LIKE 'rpl_semi_sync_%_enabled'"
        };
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.nodes[i].rows(query);
            let (on_source, on_replica) = (
                side(&status, "source") || side(&status, "master"),
                side(&status, "replica") || side(&status, "slave"),
            );
            if (on_source, on_replica) == (source, !source) {
                return;
            }
            assert!(
                Instant::now() < until,
                "node {i}: semi-sync source side {on_source}, replica side {on_replica}: {status:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn replicating(&self, i: usize) -> bool {
        self.nodes[i].replica_status().is_some_and(|s| {
            s.get("Replica_IO_Running").map(String::as_str) == Some("Yes")
                && s.get("Replica_SQL_Running").map(String::as_str) == Some("Yes")
        })
    }
}

fn lease(flavor: Flavor) {
    let etcd = Etcd::start(3);
    let mut c = Nodes::with_primary(flavor, &etcd);
    assert_eq!(
        etcd.get(KEY),
        "server_id=11",
        "{}",
        c.nodes[0].replikit_log()
    );
    c.nodes[0].sql(
        "CREATE DATABASE ha; CREATE TABLE ha.t (id INT PRIMARY KEY); INSERT INTO ha.t VALUES (1)",
    );
    c.start(1);
    c.nodes[1].wait_for_rows("SELECT COUNT(*) FROM ha.t", "1");
    assert!(!c.writable(1));
    c.wait_replicating(1);
    c.assert_semi_sync(0, true, true);
    c.assert_semi_sync(1, false, true);
    // Each member publishes its entry: writable or not, its GTIDs, and as
    // a replica its threads.
    wait_for(TTL * 3, "both members' entries in etcd", || {
        let (primary, replica) = (
            etcd.get("/replikit/lease-test/members/11"),
            etcd.get("/replikit/lease-test/members/12"),
        );
        primary.contains(r#""writable":true"#)
            && primary.contains(r#""replica":null"#)
            && replica.contains(r#""writable":false"#)
            && replica.contains(r#""io":"Yes","sql":"Yes""#)
            && replica.contains(r#""gtid":""#)
    });

    // A switchover hands the key over with the writes, and back.
    let out = c.replikit(
        1,
        &["switchover", "--to", &format!("127.0.0.1:{}", c.ports[1])],
    );
    assert!(out.contains("holds the leader key in etcd"), "{out}");
    assert_eq!(etcd.get(KEY), "server_id=12");
    assert!(c.writable(1) && !c.writable(0));
    // Longer than the time-to-live: the new primary's keeper keeps the
    // lease the switchover took for it alive, and the old one's fence stays.
    std::thread::sleep(TTL * 2);
    assert_eq!(
        etcd.get(KEY),
        "server_id=12",
        "{}",
        c.nodes[1].replikit_log()
    );
    assert!(
        c.writable(1) && !c.writable(0),
        "{}",
        c.nodes[0].replikit_log()
    );
    c.wait_replicating(0);
    // Semi-sync turned round with the roles.
    c.assert_semi_sync(1, true, true);
    c.assert_semi_sync(0, false, true);
    c.replikit(
        0,
        &["switchover", "--to", &format!("127.0.0.1:{}", c.ports[0])],
    );
    assert_eq!(etcd.get(KEY), "server_id=11");
    assert!(c.writable(0) && !c.writable(1));
    wait_for(
        Duration::from_secs(30),
        "node 1 to replicate from node 0",
        || c.replicating(1),
    );

    // Maintenance on (automatic failover paused), every node's status
    // says so. Then etcd loses its quorum: the primary fences itself
    // before its lease could expire, counted from before the cut (its
    // last renewal was sent before it). Paused, the replica does not take
    // over when the lease has expired and etcd is back (it would: a lost
    // lease is a lost leader), so the primary takes writes again.
    let out = c.replikit(1, &["maintenance", "on", "--note", "upgrade to 11.8"]);
    assert!(out.contains("paused"), "{out}");
    for i in [0, 1] {
        let status = c.replikit(i, &["status"]);
        assert!(
            status.contains("failover:     paused for maintenance (\"upgrade to 11.8\")"),
            "{status}"
        );
        assert!(status.contains("leader key:   server_id=11"), "{status}");
    }
    c.nodes[0].sql("INSERT INTO ha.t VALUES (2)");
    let cut = Instant::now();
    etcd.signal(1, "STOP");
    etcd.signal(2, "STOP");
    wait_for(TTL * 3, "the primary to fence itself", || !c.writable(0));
    let fenced_after = cut.elapsed();
    assert!(
        fenced_after < TTL,
        "read-only only {fenced_after:?} after etcd was cut off, with a lease of {TTL:?}:\n{}",
        c.nodes[0].replikit_log()
    );
    eprintln!("{flavor:?}: read-only {fenced_after:?} after etcd lost its quorum (lease {TTL:?})");
    let log = c.nodes[0].replikit_log();
    assert!(log.contains("this node stops taking writes"), "{log}");
    // health says why: etcd does not answer.
    let out = c.nodes[0]
        .replikit()
        .envs(c.env(0))
        .args(["health"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("--writable") && said.contains("etcd does not answer"),
        "{said}"
    );
    for line in log.lines().filter(|l| l.contains("leader:")) {
        eprintln!("{flavor:?} node 0: {line}");
    }
    // The replica keeps replicating, and has what was written.
    c.nodes[1].wait_for_rows("SELECT COUNT(*) FROM ha.t", "2");
    assert!(c.replicating(1));
    assert!(!c.writable(1));
    // etcd back: the primary holds the key again and takes writes.
    etcd.signal(1, "CONT");
    etcd.signal(2, "CONT");
    c.wait_writable(
        0,
        Duration::from_secs(60),
        "the primary to take writes again",
    );
    assert_eq!(etcd.get(KEY), "server_id=11");
    c.nodes[0].sql("INSERT INTO ha.t VALUES (3)");
    c.nodes[1].wait_for_rows("SELECT COUNT(*) FROM ha.t", "3");

    // Still paused: the primary dies, no automatic failover; the command
    // fails over by hand, once the old lease has expired.
    c.nodes[0].kill();
    std::thread::sleep(TTL * 2);
    assert!(
        !c.writable(1),
        "maintenance: no automatic failover\n{}",
        c.nodes[1].replikit_log()
    );
    let out = c.replikit(1, &["failover"]);
    assert!(
        out.contains("failover done") && out.contains("holds the leader key in etcd"),
        "{out}"
    );
    assert_eq!(etcd.get(KEY), "server_id=12");
    assert!(c.writable(1));
    c.replikit(1, &["maintenance", "off"]);
    std::thread::sleep(TTL);
    assert!(c.writable(1), "{}", c.nodes[1].replikit_log());
    assert_eq!(etcd.get(KEY), "server_id=12");
    let status = c.replikit(1, &["status"]);
    assert!(
        status.contains("leader key:   server_id=12 (this node)")
            && status.contains("failover:     automatic"),
        "{status}"
    );

    // The old primary comes back and rejoins; then the new primary dies,
    // and with no command at all node 0's keeper fails over to itself once
    // the lease has expired. What node 1 acknowledged is there.
    c.nodes[0].start_again();
    c.nodes[1].sql("INSERT INTO ha.t VALUES (4)");
    c.nodes[0].wait_for_rows("SELECT COUNT(*) FROM ha.t", "4");
    c.wait_replicating(0);
    // Node 1 wrote alone before node 0 was back (the async mark): once
    // node 0 has acknowledged a commit, no write is node 1's alone.
    wait_for(Duration::from_secs(60), "the async mark to clear", || {
        etcd.get(ASYNC).is_empty()
    });
    // Frozen, not killed: the server stops (SIGSTOP) under a live keeper,
    // which can then neither renew nor fence; it kills the server before
    // the lease can expire, so that the server cannot wake into a second
    // primary, and replikit exits with it.
    c.nodes[1].signal_server("STOP");
    let killed = Instant::now();
    wait_for(TTL, "node 1's keeper to kill its frozen server", || {
        c.nodes[1].exited()
    });
    let log = c.nodes[1].replikit_log();
    assert!(
        log.contains("the server does not answer, so it cannot be made read-only before the lease can expire; killing it"),
        "{log}"
    );
    c.nodes[1].kill();
    c.wait_writable(
        0,
        TTL + Duration::from_secs(60),
        "node 0 to take over by itself",
    );
    eprintln!("{flavor:?}: automatic failover: node 0 took writes {:?} after the primary's server froze (lease {TTL:?})", killed.elapsed());
    assert_eq!(etcd.get(KEY), "server_id=11");
    let log = c.nodes[0].replikit_log();
    assert!(
        log.contains("the leader key is gone (its lease expired): failing over"),
        "{log}"
    );
    // Logged once the others are repointed, a moment after the promotion.
    wait_for(Duration::from_secs(30), "the failover's last line", || {
        c.nodes[0].replikit_log().contains("failover done")
    });
    // Alone now: the first commits (the failover's record among them)
    // found no replica to acknowledge them, so the keeper recorded the
    // fallback in etcd and turned the source side off.
    wait_for(TTL, "the new primary's fallback", || {
        etcd.get(ASYNC) == "server_id=11"
    });
    let log = c.nodes[0].replikit_log();
    assert!(
        log.contains("this primary acknowledges writes without one from now on"),
        "{log}"
    );
    c.nodes[0].sql("INSERT INTO ha.t VALUES (5)");
    assert_eq!(c.nodes[0].sql("SELECT COUNT(*) FROM ha.t"), "5");

    // Another value under the key: the writable node fences itself and
    // stays read-only, though the key is free again after.
    etcd.ctl(&["put", KEY, "server_id=99"]).unwrap();
    wait_for(TTL * 2, "node 0 to fence itself", || !c.writable(0));
    let log = c.nodes[0].replikit_log();
    assert!(log.contains("another node holds the leader key"), "{log}");
    etcd.ctl(&["del", KEY]).unwrap();
    std::thread::sleep(TTL);
    assert!(!c.writable(0), "{}", c.nodes[0].replikit_log());
}

mod leader_lease_in_etcd {
    use super::*;
    mariadb_and_mysql!(lease);
}

/// With etcd, the keeper decides semi-synchronous replication's fallback
/// and records it before the primary acknowledges a write alone: no
/// automatic failover promotes a replica that may lack such writes, and
/// the record goes once a replica has acknowledged everything again.
fn fallback(flavor: Flavor) {
    let etcd = Etcd::start(3);
    let mut c = Nodes::with_primary(flavor, &etcd);
    c.nodes[0].sql("CREATE DATABASE ha; CREATE TABLE ha.t (id INT PRIMARY KEY)");
    let insert = |c: &Nodes, id: u32| c.nodes[0].sql(&format!("INSERT INTO ha.t VALUES ({id})"));
    insert(&c, 1);
    // Alone, its first commits may have had no replica (the mark set
    // then), depending on how far its start-up got before semi-sync.
    c.start(1);
    c.nodes[1].wait_for_rows("SELECT COUNT(*) FROM ha.t", "1");
    c.wait_replicating(1);
    let mut id = 1000;
    wait_for(
        Duration::from_secs(90),
        "the first mark to be cleared",
        || {
            insert(&c, id);
            id += 1;
            std::thread::sleep(Duration::from_millis(500));
            etcd.get(ASYNC).is_empty()
        },
    );
    c.assert_semi_sync(0, true, true);
    c.assert_semi_sync(1, false, true);

    // The replica stops receiving: a commit waits the timeout, then the
    // keeper sets the mark and lets it go on.
    c.nodes[1].sql("STOP REPLICA IO_THREAD");
    let began = Instant::now();
    insert(&c, 2);
    let waited = began.elapsed();
    assert!(waited >= SEMI_SYNC_TIMEOUT, "{waited:?}");
    assert_eq!(etcd.get(ASYNC), "server_id=11", "{}", c.logs());
    assert!(c.nodes[0]
        .replikit_log()
        .contains("this primary acknowledges writes without one from now on"));
    insert(&c, 3);

    // It receives again: semi-sync goes back on once it has caught up,
    // and the first commit it acknowledges clears the mark.
    c.nodes[1].sql("START REPLICA IO_THREAD");
    c.nodes[1].wait_for_rows("SELECT COUNT(*) FROM ha.t WHERE id IN (2, 3)", "2");
    let mut id = 10;
    wait_for(Duration::from_secs(90), "the mark to be cleared", || {
        insert(&c, id);
        id += 1;
        std::thread::sleep(Duration::from_millis(500));
        etcd.get(ASYNC).is_empty()
    });
    let log = c.nodes[0].replikit_log();
    assert!(
        log.contains("semi-synchronous replication is on again"),
        "{log}"
    );
    c.assert_semi_sync(0, true, true);

    // Again, and now the primary is lost: its replica lacks what it
    // acknowledged alone, and the keepers do not promote it.
    c.nodes[1].sql("STOP REPLICA IO_THREAD");
    insert(&c, 100);
    assert_eq!(etcd.get(ASYNC), "server_id=11", "{}", c.logs());
    c.nodes[0].kill();
    wait_for(
        TTL * 3 + Duration::from_secs(30),
        "the failover to refuse",
        || {
            c.nodes[1].replikit_log().contains(
                "/replikit/lease-test/async is set: its primary (server_id=11) acknowledged writes",
            )
        },
    );
    assert!(!c.writable(1), "{}", c.logs());
    assert_eq!(etcd.get(KEY), "", "{}", c.logs());

    // The old primary returns with them: it takes writes again, its
    // replica catches up, and the mark goes.
    c.nodes[0].start_again();
    c.wait_writable(
        0,
        TTL * 3 + Duration::from_secs(60),
        "the old primary to take writes again",
    );
    let mut id = 200;
    wait_for(
        Duration::from_secs(150),
        "the mark to be cleared again",
        || {
            insert(&c, id);
            id += 1;
            std::thread::sleep(Duration::from_millis(500));
            etcd.get(ASYNC).is_empty()
        },
    );
    c.nodes[1].wait_for_rows("SELECT COUNT(*) FROM ha.t WHERE id = 100", "1");
    assert!(!c.writable(1));

    // The primary's log since its return says what happened: no warning
    // when a look comes before MySQL's start path has loaded the plugin,
    // and "caught up" only ever after a fallback.
    let log = c.nodes[0].replikit_log();
    assert!(!log.contains("Unknown system variable"), "{log}");
    let count = |line: &str| log.matches(line).count();
    assert!(
        count("leader: a replica has caught up:")
            <= count("acknowledges writes without one from now on"),
        "{log}"
    );
}

mod semi_sync_fallback_with_etcd {
    use super::*;
    mariadb_and_mysql!(fallback);
}

/// A former primary never opens on its own record alone: node 0 leads and
/// then loses its lease (revoked in etcd) after another node took the key
/// and lost it in turn (`taken` names node 1, as a failover to it would
/// leave it). Its record still names it, and the key is free: its keeper
/// must not take the key back, nor take writes; on the old rule it did
/// within a second, without what node 1 had written. (With `taken`
/// naming it, as after an etcd outage that nobody failed over in, it
/// takes the key back: `lease`'s quorum loss under maintenance.)
fn stale_primary(flavor: Flavor) {
    let etcd = Etcd::start(1);
    // A replica acknowledges the primary's commits (semi-sync), so that
    // its fence does not wait behind them.
    let c = Nodes::with_replica(flavor, &etcd);
    let taken = "/replikit/lease-test/taken";
    assert_eq!(etcd.get(taken), "server_id=11", "{}", c.logs());
    let out = c.replikit(0, &["maintenance", "on", "--note", "no failover here"]);
    assert!(out.contains("paused"), "{out}");
    etcd.ctl(&["put", taken, "server_id=12"]).unwrap();
    let leases = etcd.ctl(&["lease", "list"]).unwrap();
    for lease in leases.lines().skip(1) {
        let _ = etcd.ctl(&["lease", "revoke", lease.trim()]);
    }
    wait_for(TTL, "node 0 to fence itself", || !c.writable(0));
    // Three time-to-lives: every look sees the key free.
    let until = Instant::now() + TTL * 3;
    while Instant::now() < until {
        assert!(
            !c.writable(0) && etcd.get(KEY).is_empty(),
            "node 0 took writes again on its own record: {}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        c.nodes[0]
            .replikit_log()
            .contains("but server_id=12 took the leader key since"),
        "{}",
        c.logs()
    );
}

mod a_former_primary_does_not_take_back_a_key_another_took {
    use super::*;
    mariadb_and_mysql!(stale_primary);
}

/// A fence does not wait behind a commit that waits for a replica's
/// acknowledgement, and no privileged writer gets a write acknowledged on
/// the fenced node: with semi-sync on and the replica's I/O thread
/// stopped, a commit on the primary waits (the keeper's timeout is
/// infinite); then another node's value is put under the leader key, so
/// the primary must fence itself at once. SET GLOBAL read_only
/// waits for that commit, so the keeper ends the client sessions first:
/// the node is read-only within the time-to-live, its server runs on (no
/// SIGKILL), and the waiting client is never told its commit succeeded.
fn fence_behind_a_waiting_commit(flavor: Flavor) {
    let etcd = Etcd::start(1);
    let c = Nodes::with_replica(flavor, &etcd);
    // Semi-sync at work again after the first primary's start, which
    // waited out the timeout alone.
    c.assert_semi_sync(0, true, true);
    wait_for(
        Duration::from_secs(60),
        "the async mark to be cleared",
        || etcd.get(ASYNC).is_empty(),
    );
    let out = c.replikit(0, &["maintenance", "on", "--note", "no failover here"]);
    assert!(out.contains("paused"), "{out}");
    c.nodes[1].sql(if flavor == Flavor::MySql97 {
        "STOP REPLICA IO_THREAD"
    } else {
        "STOP SLAVE IO_THREAD"
    });
    let mut waiting = c.nodes[0]
        .shell("exec $CLIENT --socket=$SOCK -uroot -e 'INSERT INTO ha.t VALUES (2)'")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(TTL, "the commit to wait for a replica", || {
        c.nodes[0].sql(
            "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'INSERT INTO ha.t%'",
        ) == "1"
    });
    // Another node's value under the key: the primary must fence now.
    etcd.ctl(&["put", KEY, "server_id=12"]).unwrap();
    c.wait_writable_not(0, TTL, "node 0 to fence itself");
    let log = c.nodes[0].replikit_log();
    assert!(!log.contains("killing it"), "{log}");
    let status = waiting.wait().unwrap();
    assert!(!status.success(), "the waiting commit was acknowledged");
    assert_eq!(
        c.nodes[0].sql("SELECT @@GLOBAL.read_only"),
        "1",
        "the server did not run on"
    );
    // root on the fenced node: MySQL's super_read_only refuses it;
    // MariaDB lets READ ONLY ADMIN through read_only, and the commit then
    // waits for an acknowledgement that no replica gives (semi-sync's
    // source side stays on): it is never acknowledged.
    let mut root = c.nodes[0]
        .shell("exec $CLIENT --socket=$SOCK -uroot -e 'INSERT INTO ha.t VALUES (3)'")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    match root.try_wait().unwrap() {
        Some(status) => assert!(
            !status.success(),
            "root's write on the fenced node was acknowledged"
        ),
        None => {
            assert_ne!(flavor, Flavor::MySql97, "super_read_only let root wait");
            let _ = root.kill();
            let _ = root.wait();
        }
    }
}

mod a_fence_does_not_wait_behind_a_commit_waiting_for_a_replica {
    use super::*;
    mariadb_and_mysql!(fence_behind_a_waiting_commit);
}
