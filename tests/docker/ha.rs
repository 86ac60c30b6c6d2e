//! High availability in the shipped Compose cluster (compose.yaml: peers,
//! the admin secret, HAProxy's write backend over every node), on MariaDB
//! 10.11 and MySQL 9.7, as issue 17 asks:
//! - a writer inserts through HAProxy's write port as an application
//!   account (no SUPER: MariaDB's read_only lets SUPER through) and records
//!   every acknowledged write with the server-id that acknowledged it; a
//!   watcher asks every node whether it takes writes every 100 ms;
//! - a switchover to replica1 under writes, and back: every acknowledged
//!   write is on every node, once, with the server that acknowledged it;
//!   never two nodes writable at once; the write endpoint followed;
//! - replica2 made to lag, docker kill of the primary (once replica1 holds
//!   every acknowledged write: asynchronous replication may lose what a
//!   primary killed mid-write acknowledged, issue 18's semi-sync), then
//!   `replikit failover`: replica1 (the most advanced) wins, replica2
//!   follows it;
//! - the old primary started again with its old environment
//!   (MYSQL_MASTER=1): read-only, and a replica of replica1 by itself;
//! - every container restarted: the new topology stays.
//!
//! The write unavailability of each switchover and the time from
//! `replikit failover` to the first write acknowledged after it are
//! printed, not asserted (benchmarks assert nothing).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cluster::{root_query, Cluster};
use crate::common::servers::Flavor;
use crate::common::*;
use replikit::db::wire::{Conn, Remote};

pub const NODES: [&str; 3] = ["primary", "replica1", "replica2"];
const APP_PASSWORD: &str = "App-pw-1";

/// One look of the watcher: when, which node, whether it took writes
/// (None: it did not answer).
pub type Sample = (Duration, usize, Option<bool>);

/// Two nodes writable at once, as far as samples every 100 ms can tell
/// (pure): node B seen writable between two consecutive looks that both
/// saw node A writable. A description of the first such moment.
pub fn two_writable_at_once(samples: &[Sample]) -> Option<String> {
    let mut by_node: BTreeMap<usize, Vec<(Duration, Option<bool>)>> = BTreeMap::new();
    for &(at, node, writable) in samples {
        by_node.entry(node).or_default().push((at, writable));
    }
    for (&a, looks) in &by_node {
        for pair in looks.windows(2) {
            let [(t1, Some(true)), (t2, Some(true))] = pair else {
                continue;
            };
            if let Some(&(at, b, _)) = samples
                .iter()
                .find(|&&(at, b, w)| b != a && w == Some(true) && *t1 < at && at < *t2)
            {
                return Some(format!(
                    "node {b} took writes at {at:?}, while node {a} did from {t1:?} to {t2:?}"
                ));
            }
        }
    }
    None
}

#[test]
fn overlapping_writable_looks_are_caught_and_a_handover_is_not() {
    let ms = Duration::from_millis;
    // A handover: node 0 until 200 ms, nobody at 300, node 1 from 400.
    let handover = [
        (ms(100), 0, Some(true)),
        (ms(110), 1, Some(false)),
        (ms(200), 0, Some(true)),
        (ms(210), 1, Some(false)),
        (ms(300), 0, Some(false)),
        (ms(310), 1, Some(false)),
        (ms(400), 0, Some(false)),
        (ms(410), 1, Some(true)),
    ];
    assert_eq!(two_writable_at_once(&handover), None);
    // Node 1 writable while node 0 still was.
    let split = [
        (ms(100), 0, Some(true)),
        (ms(110), 1, Some(true)),
        (ms(200), 0, Some(true)),
    ];
    let seen = two_writable_at_once(&split).expect("two writable");
    assert!(seen.contains("node 1 took writes at 110ms"), "{seen}");
    // A node that did not answer in between proves nothing.
    let unknown = [
        (ms(100), 0, Some(true)),
        (ms(150), 0, None),
        (ms(160), 1, Some(true)),
        (ms(200), 0, Some(true)),
    ];
    assert_eq!(two_writable_at_once(&unknown), None);
}

/// What the writer was told was committed: id → (server-id, when).
pub type Acked = BTreeMap<u64, (String, Duration)>;

/// A cluster under the writer and the watcher (the partition soak's too).
pub struct Ha {
    pub cluster: Cluster,
    pub password: String,
    pub started: Instant,
    pub stop: Arc<AtomicBool>,
    /// The writer idles while set.
    pub paused: Arc<AtomicBool>,
    pub samples: Arc<Mutex<Vec<Sample>>>,
    pub acked: Arc<Mutex<Acked>>,
}

impl Ha {
    /// Once every node is healthy: the writer's table and its account
    /// (SELECT and INSERT only), on every node.
    pub fn new(cluster: Cluster) -> Ha {
        let base = cluster.base;
        for service in NODES {
            cluster.healthy(service);
        }
        let password = std::fs::read_to_string("deploy/secrets/mysql-root-password")
            .expect("the cluster's root password (scripts/cluster up writes it)")
            .trim_end()
            .to_string();
        // The primary takes writes once replikit decided its role.
        let limit = Duration::from_secs(60);
        let start = Instant::now();
        loop {
            let out = cluster.exec(
                "primary",
                &root_query("SELECT @@GLOBAL.read_only", "-h haproxy -P 3306"),
            );
            if String::from_utf8_lossy(&out.stdout).trim() == "0" {
                break;
            }
            if start.elapsed() > limit {
                panic!(
                    "gave up after {limit:?} waiting for {base}: writes through the write port\n\
                     the last try: {:?} {}\n{}",
                    String::from_utf8_lossy(&out.stdout).trim(),
                    stderr(&out),
                    Ha::why_no_writes(&cluster)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        cluster.write(&format!(
            "CREATE DATABASE ha; CREATE TABLE ha.w (id BIGINT PRIMARY KEY, sid BIGINT NOT NULL); \
             CREATE USER 'app'@'%' IDENTIFIED BY '{APP_PASSWORD}'; GRANT SELECT, INSERT ON ha.* TO 'app'@'%'"
        ));
        for service in ["replica1", "replica2"] {
            wait_for(
                Duration::from_secs(60),
                &format!("{base}: the app account on {service}"),
                || {
                    cluster.sql(
                        service,
                        "SELECT COUNT(*) FROM mysql.user WHERE user = 'app'",
                    ) == "1"
                },
            );
        }
        Ha {
            cluster,
            password,
            started: Instant::now(),
            stop: Arc::new(AtomicBool::new(false)),
            paused: Arc::new(AtomicBool::new(false)),
            samples: Arc::new(Mutex::new(Vec::new())),
            acked: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    pub fn addr(&self, last_octet: u8) -> SocketAddr {
        format!("{}.{last_octet}:3306", self.cluster.net)
            .parse()
            .unwrap()
    }

    /// Node `i`'s address: primary .10, replica1 .11, replica2 .12.
    /// What a cluster that takes no writes looks like: each node's
    /// read_only and last replikit lines, and HAProxy's last lines.
    fn why_no_writes(cluster: &Cluster) -> String {
        let mut report = String::new();
        for service in NODES {
            let read_only = cluster.exec(service, &root_query("SELECT @@GLOBAL.read_only", ""));
            let logs = cluster.logs(service);
            let mine: Vec<&str> = logs.lines().filter(|l| l.contains("replikit")).collect();
            report += &format!(
                "{service}: read_only {:?} {}\n  {}\n",
                String::from_utf8_lossy(&read_only.stdout).trim(),
                stderr(&read_only),
                mine[mine.len().saturating_sub(30)..].join("\n  ")
            );
        }
        let haproxy = cluster.logs("haproxy");
        let lines: Vec<&str> = haproxy.lines().collect();
        report += &format!(
            "haproxy:\n  {}",
            lines[lines.len().saturating_sub(20)..].join("\n  ")
        );
        report
    }

    pub fn node(&self, i: usize) -> SocketAddr {
        self.addr(10 + i as u8)
    }

    pub fn connect(addr: SocketAddr, user: &str, password: &str) -> Option<Conn> {
        Conn::connect_tcp(
            addr,
            &Remote::plain("127.0.0.1"),
            user,
            password,
            Duration::from_secs(2),
        )
        .ok()
    }

    pub fn watch(&self) -> std::thread::JoinHandle<()> {
        let nodes: Vec<SocketAddr> = (0..NODES.len()).map(|i| self.node(i)).collect();
        let (password, stop, samples, started) = (
            self.password.clone(),
            self.stop.clone(),
            self.samples.clone(),
            self.started,
        );
        std::thread::spawn(move || {
            let mut conns: Vec<Option<Conn>> = nodes.iter().map(|_| None).collect();
            while !stop.load(Ordering::Relaxed) {
                for (i, addr) in nodes.iter().enumerate() {
                    if conns[i].is_none() {
                        conns[i] = Ha::connect(*addr, "root", &password);
                    }
                    let writable = conns[i].as_mut().and_then(|c| {
                        c.query("SELECT @@GLOBAL.read_only AS ro")
                            .ok()
                            .map(|r| r.get(0, "ro") == Some("0"))
                    });
                    if writable.is_none() {
                        conns[i] = None;
                    }
                    samples
                        .lock()
                        .unwrap()
                        .push((started.elapsed(), i, writable));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    }

    pub fn write(&self) -> std::thread::JoinHandle<()> {
        let addr = self.addr(20);
        let (stop, paused, acked, started) = (
            self.stop.clone(),
            self.paused.clone(),
            self.acked.clone(),
            self.started,
        );
        std::thread::spawn(move || {
            let mut conn: Option<Conn> = None;
            let mut id = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if paused.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                let Some(c) = conn.as_mut() else {
                    conn = Ha::connect(addr, "app", APP_PASSWORD);
                    if conn.is_none() {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    continue;
                };
                id += 1;
                let sql = format!("INSERT INTO ha.w VALUES ({id}, @@server_id)");
                match c
                    .query(&sql)
                    .and_then(|_| c.query("SELECT @@server_id AS s"))
                {
                    Ok(rows) => {
                        let sid = rows.get(0, "s").unwrap_or_default().to_string();
                        acked.lock().unwrap().insert(id, (sid, started.elapsed()));
                    }
                    // Lost or refused (read-only while fenced): not acknowledged.
                    Err(_) => conn = None,
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    }

    pub fn server_id(&self, service: &str) -> String {
        self.cluster.sql(service, "SELECT @@server_id")
    }

    pub fn replikit(&self, service: &str, args: &str) -> String {
        let out = self.cluster.exec(service, &format!("replikit {args}"));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(
            out.status.success(),
            "{}: replikit {args} on {service}: {text}",
            self.cluster.base
        );
        text
    }

    /// Every node holds every acknowledged write, once, with the server-id
    /// that acknowledged it.
    pub fn every_acked_write_everywhere(&self) {
        let acked = self.acked.lock().unwrap().clone();
        assert!(
            !acked.is_empty(),
            "{}: nothing was acknowledged",
            self.cluster.base
        );
        let last = *acked.keys().last().unwrap();
        for (i, service) in NODES.iter().enumerate() {
            wait_for(
                Duration::from_secs(120),
                &format!("{}: write {last} on {service}", self.cluster.base),
                || {
                    self.cluster.sql(
                        service,
                        &format!("SELECT COUNT(*) FROM ha.w WHERE id = {last}"),
                    ) == "1"
                },
            );
            let held = self.held(i);
            for (id, (sid, _)) in &acked {
                assert_eq!(
                    held.get(id),
                    Some(sid),
                    "{}: acknowledged write {id} by server {sid} on {service}",
                    self.cluster.base
                );
            }
        }
    }

    /// The writes node `i` holds: id → the server-id that wrote it.
    pub fn held(&self, i: usize) -> BTreeMap<u64, String> {
        let mut conn = Ha::connect(self.node(i), "root", &self.password).expect("a log-in");
        let rows = conn.query("SELECT id, sid FROM ha.w").unwrap();
        (0..rows.rows.len())
            .map(|r| {
                (
                    rows.get(r, "id").unwrap().parse().unwrap(),
                    rows.get(r, "sid").unwrap().to_string(),
                )
            })
            .collect()
    }

    /// The longest time between two acknowledged writes in `window`.
    fn longest_gap(&self, window: (Duration, Duration)) -> Duration {
        let acked = self.acked.lock().unwrap();
        let times: Vec<Duration> = acked
            .values()
            .map(|(_, at)| *at)
            .filter(|at| window.0 <= *at && *at <= window.1)
            .collect();
        times
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]))
            .max()
            .unwrap_or(window.1 - window.0)
    }

    fn switchover(&self, from: &str, to: &str) {
        let before = self.started.elapsed();
        let out = self.replikit(from, &format!("switchover --to {to}"));
        assert!(
            out.contains("switchover done"),
            "{}: {out}",
            self.cluster.base
        );
        let to_id = self.server_id(to);
        // The write endpoint follows: writes are acknowledged by the new primary.
        wait_for(
            Duration::from_secs(30),
            &format!("{}: writes acknowledged by {to}", self.cluster.base),
            || {
                self.acked
                    .lock()
                    .unwrap()
                    .values()
                    .any(|(sid, at)| *sid == to_id && *at > before)
            },
        );
        std::thread::sleep(Duration::from_secs(2));
        let gap = self.longest_gap((before, self.started.elapsed()));
        eprintln!(
            "{}: switchover to {to}: writes unacknowledged for at most {gap:?}",
            self.cluster.base
        );
    }

    pub fn writable(&self, service: &str) -> bool {
        self.cluster.sql(service, "SELECT @@GLOBAL.read_only") == "0"
    }

    /// Whether `service` replicates from node `primary`, both threads
    /// running (the status read with replikit's client, by column).
    pub fn follows(&self, service: &str, primary: usize) -> bool {
        let i = NODES.iter().position(|n| *n == service).unwrap();
        let Some(mut conn) = Ha::connect(self.node(i), "root", &self.password) else {
            return false;
        };
        let Ok(rows) = conn.query("SHOW REPLICA STATUS") else {
            return false;
        };
        let column = |names: [&str; 2]| names.iter().find_map(|n| rows.get(0, n)).unwrap_or("");
        // By address after a takeover; by service name as compose.yaml
        // set it up.
        let source = column(["Source_Host", "Master_Host"]);
        (source == self.node(primary).ip().to_string() || source == NODES[primary])
            && column(["Replica_IO_Running", "Slave_IO_Running"]) == "Yes"
            && column(["Replica_SQL_Running", "Slave_SQL_Running"]) == "Yes"
    }
}

mod switchover_failover_and_rejoin_in_compose {
    use super::*;
    mariadb_and_mysql!(ha);
}

fn ha(flavor: Flavor) {
    let base = flavor.rootfs_name();
    let c = Ha::new(Cluster::up(base));
    let watcher = c.watch();
    let writer = c.write();
    std::thread::sleep(Duration::from_secs(3));

    // Switchover under writes, and back.
    c.switchover("replica2", "replica1");
    assert!(c.writable("replica1") && !c.writable("primary") && !c.writable("replica2"));
    for service in ["primary", "replica2"] {
        wait_for(
            Duration::from_secs(30),
            &format!("{base}: {service} to follow replica1"),
            || c.follows(service, 1),
        );
    }
    c.switchover("replica1", "primary");
    for service in ["replica1", "replica2"] {
        wait_for(
            Duration::from_secs(30),
            &format!("{base}: {service} to follow the primary"),
            || c.follows(service, 0),
        );
    }

    // replica2 lags (it misses two seconds of writes); the writer pauses
    // until replica1 holds every acknowledged write, since asynchronous
    // replication may lose what a primary killed mid-write acknowledged
    // (semi-sync is issue 18's); the primary is killed; failover must pick
    // replica1, and the writer goes on through the write port.
    c.cluster.sql("replica2", "STOP REPLICA");
    std::thread::sleep(Duration::from_secs(2));
    c.paused.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(200));
    let last = *c.acked.lock().unwrap().keys().last().unwrap();
    wait_for(
        Duration::from_secs(30),
        "replica1 to hold every acknowledged write",
        || {
            c.cluster.sql(
                "replica1",
                &format!("SELECT COUNT(*) FROM ha.w WHERE id = {last}"),
            ) == "1"
        },
    );
    c.cluster.docker("kill", "primary", &[]);
    let killed = c.started.elapsed();
    c.paused.store(false, Ordering::Relaxed);
    let out = c.replikit("replica2", "failover");
    assert!(
        out.contains(&format!("({}.11:3306) is the primary", c.cluster.net)),
        "{base}: {out}"
    );
    let replica1 = c.server_id("replica1");
    wait_for(
        Duration::from_secs(30),
        "a write acknowledged by replica1",
        || {
            c.acked
                .lock()
                .unwrap()
                .values()
                .any(|(sid, at)| *sid == replica1 && *at > killed)
        },
    );
    let first = c
        .acked
        .lock()
        .unwrap()
        .values()
        .filter(|(sid, at)| *sid == replica1 && *at > killed)
        .map(|(_, at)| *at)
        .min()
        .unwrap();
    eprintln!(
        "{base}: from docker kill of the primary to the first write on replica1: {:?} (replikit failover included)",
        first - killed
    );
    let until = Instant::now() + Duration::from_secs(30);
    while !c.follows("replica2", 1) {
        assert!(
            Instant::now() < until,
            "{base}: replica2 does not follow replica1 within 30 s: {}\nthe failover said: {out}\nreplica2's log:\n{}\nreplica1's log:\n{}",
            c.cluster.sql_with("replica2", "SHOW REPLICA STATUS", "-E"),
            c.cluster.logs("replica2"),
            c.cluster.logs("replica1")
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The old primary comes back with MYSQL_MASTER=1: read-only, and a
    // replica of replica1 by itself.
    c.cluster.docker("start", "primary", &[]);
    let until = Instant::now() + Duration::from_secs(120);
    while !c.follows("primary", 1) {
        if Instant::now() > until {
            let logs = c.cluster.logs("primary");
            let tail: Vec<&str> = logs.lines().rev().take(30).collect();
            panic!(
                "{base}: the old primary does not follow replica1; its last log lines:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(!c.writable("primary"), "{base}");
    assert!(c
        .cluster
        .logs("primary")
        .contains("topology: rejoined as a replica"));

    std::thread::sleep(Duration::from_secs(2));
    c.stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    watcher.join().unwrap();
    c.every_acked_write_everywhere();
    let samples = c.samples.lock().unwrap().clone();
    let nobody = samples
        .chunks(NODES.len())
        .filter(|round| round.iter().all(|(_, _, w)| *w != Some(true)))
        .count();
    eprintln!(
        "{base}: {} writes acknowledged, {} watcher looks, {nobody} rounds with no writable node",
        c.acked.lock().unwrap().len(),
        samples.len()
    );
    assert_eq!(two_writable_at_once(&samples), None, "{base}");
    for service in ["primary", "replica2"] {
        c.cluster.verify(service);
    }

    // A restart of every container keeps the topology.
    for service in NODES {
        c.cluster.docker("restart", service, &["-t", "120"]);
    }
    wait_for(
        Duration::from_secs(180),
        "replica1 to take writes again",
        || c.writable("replica1"),
    );
    for service in ["primary", "replica2"] {
        wait_for(
            Duration::from_secs(180),
            &format!("{service} to follow replica1 after the restart"),
            || c.follows(service, 1),
        );
        assert!(!c.writable(service), "{base}: {service}");
    }
}
