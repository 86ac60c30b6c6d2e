//! The chaos soak: the shipped Compose cluster (a primary, two replicas,
//! HAProxy) under a writer and seeded random faults, on MariaDB 10.11 and
//! MySQL 9.7. A writer inserts, updates and deletes rows of several tables
//! through HAProxy's write port and records every acknowledged write.
//! Faults: kill -9 of a replica's mysqld, docker kill and start of a
//! replica, docker stop and start of the primary, a replica cut off its
//! network, and a new replica added mid-run. After each fault the soak
//! waits until every replica is healthy again and records how long that
//! took. At the end, quiesced: `replikit verify` is clean on every replica,
//! every acknowledged write is on the primary, no replica skips errors, and
//! no container holds a zombie or a leftover child of replikit.
//!
//! `cargo test --test chaos` runs the short form (REPLIKIT_CHAOS_SECS=60);
//! `scripts/chaos [SECONDS]` the long one (default 300). REPLIKIT_CHAOS_SEED
//! repeats a run's faults.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::common::servers::Flavor;
use crate::common::*;
use replikit::db::wire::{Conn, Remote};

const TABLES: u64 = 3;

/// xorshift64*: small, seeded, the same faults for the same seed (the
/// partition soak's too).
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// What the writer was told was committed: each key's value, or None once
/// deleted. A statement whose answer was lost (the connection died) may or
/// may not have committed: its key is left out of the check.
#[derive(Default)]
struct Acknowledged {
    rows: BTreeMap<(u64, u64), Option<String>>,
    uncertain: BTreeSet<(u64, u64)>,
    writes: u64,
    failed: u64,
}

fn writer(addr: SocketAddr, password: String, stop: Arc<AtomicBool>, seed: u64) -> Acknowledged {
    let mut rng = Rng(seed | 1);
    let mut acked = Acknowledged::default();
    let mut conn: Option<Conn> = None;
    let mut next_id = 1;
    while !stop.load(Ordering::Relaxed) {
        let Some(c) = conn.as_mut() else {
            conn = Conn::connect_tcp(
                addr,
                &Remote::plain("127.0.0.1"),
                "root",
                &password,
                Duration::from_secs(5),
            )
            .ok();
            if conn.is_none() {
                std::thread::sleep(Duration::from_millis(200));
            }
            continue;
        };
        let table = rng.below(TABLES);
        let live: Vec<u64> = acked
            .rows
            .iter()
            .filter(|((t, id), v)| {
                *t == table && v.is_some() && !acked.uncertain.contains(&(*t, *id))
            })
            .map(|((_, id), _)| *id)
            .collect();
        let value = format!("v{}", acked.writes + acked.failed);
        let (key, sql, after) = match (rng.below(10), live.is_empty()) {
            (0..=5, _) | (_, true) => {
                next_id += 1;
                (
                    (table, next_id),
                    format!("INSERT INTO chaos.t{table} (id, v) VALUES ({next_id}, '{value}')"),
                    Some(value),
                )
            }
            (6..=8, false) => {
                let id = live[rng.below(live.len() as u64) as usize];
                (
                    (table, id),
                    format!("UPDATE chaos.t{table} SET v = '{value}' WHERE id = {id}"),
                    Some(value),
                )
            }
            _ => {
                let id = live[rng.below(live.len() as u64) as usize];
                (
                    (table, id),
                    format!("DELETE FROM chaos.t{table} WHERE id = {id}"),
                    None,
                )
            }
        };
        match c.query(&sql) {
            Ok(_) => {
                acked.rows.insert(key, after);
                acked.writes += 1;
            }
            Err(_) => {
                acked.uncertain.insert(key);
                acked.failed += 1;
                conn = None;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    acked
}

mod survives_the_chaos_soak {
    use super::*;
    mariadb_and_mysql!(soak);
}

fn soak(flavor: Flavor) {
    let base = flavor.rootfs_name();
    let seconds: u64 = std::env::var("REPLIKIT_CHAOS_SECS")
        .map(|s| s.parse().expect("REPLIKIT_CHAOS_SECS: a number of seconds"))
        .unwrap_or(60);
    let seed: u64 = std::env::var("REPLIKIT_CHAOS_SEED")
        .map(|s| s.parse().expect("REPLIKIT_CHAOS_SEED: a number"))
        .unwrap_or_else(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("{base}: chaos soak for {seconds} s, REPLIKIT_CHAOS_SEED={seed}");
    let cluster = Cluster::up(base);
    let mut replicas = vec!["replica1", "replica2"];
    for r in &replicas {
        cluster.healthy(r);
    }
    let tables: String = (0..TABLES)
        .map(|t| {
            format!("CREATE TABLE chaos.t{t} (id BIGINT PRIMARY KEY, v VARCHAR(64) NOT NULL); ")
        })
        .collect();
    cluster.write(&format!("CREATE DATABASE chaos; {tables}"));
    let password = std::fs::read_to_string("deploy/secrets/mysql-root-password")
        .expect("the cluster's root password (scripts/cluster up writes it)")
        .trim_end()
        .to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let writes = {
        let addr: SocketAddr = format!("{}.20:3306", cluster.net).parse().unwrap();
        let (password, stop) = (password.clone(), stop.clone());
        std::thread::spawn(move || writer(addr, password, stop, seed))
    };

    let mut rng = Rng(seed.rotate_left(17) | 1);
    let started = Instant::now();
    let mut faults: Vec<String> = Vec::new();
    let mut longest = (Duration::ZERO, String::new());
    let mut scaled = false;
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(3 + rng.below(6)));
        let replica = replicas[rng.below(replicas.len() as u64) as usize];
        let fault = match rng.below(5) {
            0 => {
                let out = cluster.exec(
                    replica,
                    "for p in /proc/[0-9]*; do case $(cat $p/comm 2>/dev/null) in mysqld|mariadbd) kill -9 ${p#/proc/};; esac; done",
                );
                // replikit then ends with its server, and the container
                // with it, which may kill this shell first: 137.
                assert!(
                    out.status.success() || out.status.code() == Some(137),
                    "{:?}: {}",
                    out.status,
                    stderr(&out)
                );
                format!("kill -9 of {replica}'s server")
            }
            1 => {
                cluster.docker("kill", replica, &[]);
                cluster.docker("start", replica, &[]);
                format!("docker kill and start of {replica}")
            }
            2 => {
                cluster.docker("stop", "primary", &["-t", "120"]);
                cluster.docker("start", "primary", &[]);
                "docker stop and start of the primary".to_string()
            }
            3 => {
                let network = network_of(&cluster, replica);
                let ip = cluster.inspect(
                    replica,
                    &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
                );
                let id = cluster.container(replica);
                run_ok(&["network", "disconnect", &network, &id]);
                std::thread::sleep(Duration::from_secs(3 + rng.below(5)));
                run_ok(&["network", "connect", "--ip", &ip, &network, &id]);
                format!("network cut of {replica}")
            }
            _ if !scaled => {
                scaled = true;
                cluster.compose(&["--profile", "scale-out", "up", "-d", "replica3"]);
                replicas.push("replica3");
                "a new replica (replica3) added".to_string()
            }
            _ => continue,
        };
        let fault_at = Instant::now();
        for r in &replicas {
            cluster.healthy(r);
        }
        let took = fault_at.elapsed();
        eprintln!("{base}: {fault}; every replica healthy again after {took:.1?}");
        if took > longest.0 {
            longest = (took, fault.clone());
        }
        faults.push(fault);
    }

    // Quiesce: no more writes, every replica healthy and caught up.
    stop.store(true, Ordering::Relaxed);
    let acked = writes.join().unwrap();
    for r in &replicas {
        cluster.healthy(r);
    }
    let mut differences = 0;
    for r in &replicas {
        let out = cluster.exec(r, "replikit verify");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            differences += text
                .lines()
                .filter(|l| !l.starts_with("verify:"))
                .count()
                .max(1);
            eprintln!("{base}: replikit verify on {r}: {text}{}", stderr(&out));
        }
        let skips = cluster.sql(
            r,
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('slave_skip_errors', \
             'replica_skip_errors', 'sql_slave_skip_counter', 'sql_replica_skip_counter')",
        );
        assert!(!skips.is_empty(), "{base}: {r}: no skip settings read");
        for line in skips.lines() {
            let value = line.split('\t').nth(1).unwrap_or("");
            assert!(
                ["OFF", "0", ""].contains(&value),
                "{base}: {r} skips errors: {line}"
            );
        }
        no_zombie_nor_leftover(&cluster, r);
    }
    no_zombie_nor_leftover(&cluster, "primary");

    // Every acknowledged write is on the primary.
    let primary: SocketAddr = format!("{}.10:3306", cluster.net).parse().unwrap();
    let mut conn = Conn::connect_tcp(
        primary,
        &Remote::plain("127.0.0.1"),
        "root",
        &password,
        Duration::from_secs(10),
    )
    .unwrap();
    let mut on_primary = BTreeMap::new();
    for t in 0..TABLES {
        let rows = conn
            .query(&format!("SELECT id, v FROM chaos.t{t}"))
            .unwrap();
        for row in &rows.rows {
            let id: u64 = row[0].as_deref().unwrap().parse().unwrap();
            on_primary.insert((t, id), row[1].clone());
        }
    }
    let mut checked = 0;
    let mut lost = Vec::new();
    for (key, value) in &acked.rows {
        if acked.uncertain.contains(key) {
            continue;
        }
        checked += 1;
        if on_primary.get(key).cloned().flatten() != *value {
            lost.push(format!(
                "{key:?}: acknowledged {value:?}, primary has {:?}",
                on_primary.get(key)
            ));
        }
    }
    eprintln!(
        "{base}: SUMMARY seed={seed} seconds={seconds} faults={} writes_acknowledged={} writes_unanswered={} \
         rows_checked={checked} differences={} lost={} longest_resume={:.1?} ({})\n  faults: {}",
        faults.len(),
        acked.writes,
        acked.failed,
        differences,
        lost.len(),
        longest.0,
        longest.1,
        faults.join("; ")
    );
    assert!(!faults.is_empty(), "{base}: no fault was injected");
    assert!(acked.writes > 0, "{base}: no write was acknowledged");
    assert!(
        lost.is_empty(),
        "{base}: acknowledged writes missing: {lost:?}"
    );
    assert_eq!(differences, 0, "{base}: replicas differ from the primary");
}

/// The name of the Compose network a service's container is on.
fn network_of(cluster: &Cluster, service: &str) -> String {
    let names = cluster.inspect(
        service,
        "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}",
    );
    let mut names = names.split_whitespace();
    match (names.next(), names.next()) {
        (Some(one), None) => one.to_string(),
        other => panic!(
            "{}: {service} is not on one network: {other:?}",
            cluster.base
        ),
    }
}

fn run_ok(args: &[&str]) {
    let out = std::process::Command::new("docker").args(args).bounded();
    assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
}

/// In the container: replikit as PID 1, the server its only child, no
/// zombie, nothing else. Left out: the checking shell and its children, and
/// whatever `docker exec` brings in from outside (parent 0 in the
/// container's namespace: Docker's health probe, runc's init while it
/// starts one), which replikit does not own.
fn no_zombie_nor_leftover(cluster: &Cluster, service: &str) {
    let out = cluster.exec(
        service,
        "self=$$; for p in /proc/[0-9]*/stat; do read -r pid comm state ppid rest < $p 2>/dev/null || continue; \
         [ \"$pid\" = \"$self\" ] || [ \"$ppid\" = \"$self\" ] || { [ \"$ppid\" = 0 ] && [ \"$pid\" != 1 ]; } \
         || echo \"$pid $comm $state $ppid\"; done",
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let ok = lines.len() == 2
        && lines.iter().any(|l| l.starts_with("1 (replikit) "))
        && lines.iter().any(|l| {
            (l.contains(" (mysqld) ") || l.contains(" (mariadbd) "))
                && l.ends_with(" 1")
                && !l.contains(" Z ")
        });
    assert!(ok, "{}: {service}'s processes: {lines:?}", cluster.base);
}
