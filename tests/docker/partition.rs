//! The partition soak (issue 18): the shipped Compose cluster with
//! compose.etcd.yaml (a three-member etcd from Debian packages, the leader
//! lease with its default 10 s time-to-live, semi-synchronous replication)
//! under a writer and faults at seeded random intervals, on MariaDB 10.11
//! and MySQL 9.7. Nobody runs a replikit command: every failover and
//! rejoin is automatic.
//!
//! The writer inserts through HAProxy's write port as an application
//! account and records every acknowledged write with the server-id that
//! acknowledged it; a watcher asks every node whether it takes writes every
//! 100 ms. The faults, on whichever node is the primary:
//! - kill -9 of its server (Docker's restart policy starts it again);
//! - `docker kill` of its container, started again once a new primary
//!   takes writes;
//! - `docker network disconnect`: it must fence itself; connected again
//!   once a new primary takes writes, it must rejoin by itself;
//! - a partition from its replicas only (it keeps etcd, HAProxy and the
//!   lease: no failover);
//! - one etcd member cut off the network (no failover);
//! - its server frozen (SIGSTOP) for twice the time-to-live, then SIGCONT:
//!   its keeper kills it before the lease can expire;
//! - Docker's embedded DNS silent in every node for twice the
//!   time-to-live, as it goes at times: no fence, no failover.
//!
//! After each fault the soak waits until every node follows the primary,
//! or reports its errant transactions by name (then `replikit rejoin
//! --discard` brings it back, as an operator would, and the summary counts
//! it). At the end: no acknowledged write lost (each is on every node, with
//! the server-id that acknowledged it), the watcher never saw two writable
//! nodes, each fault's writes come from at most two primaries, one after
//! the other, and `replikit verify` is clean on every replica.
//!
//! `cargo test --test docker partition` runs the short form (each fault
//! once, in a seeded order); `scripts/partition [SECONDS]` the long one.
//! REPLIKIT_PARTITION_SEED repeats a run's faults. The summary line's times
//! are measurements, not assertions.

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::chaos::Rng;
use crate::cluster::Cluster;
use crate::common::servers::Flavor;
use crate::common::*;
use crate::ha::{two_writable_at_once, Ha, NODES};

/// compose.etcd.yaml's time-to-live: replikit's default.
const TTL: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    KillServer,
    DockerKill,
    Disconnect,
    CutFromReplicas,
    EtcdMemberCut,
    FrozenServer,
    DnsOutage,
}

const FAULTS: [Fault; 7] = [
    Fault::KillServer,
    Fault::DockerKill,
    Fault::Disconnect,
    Fault::CutFromReplicas,
    Fault::EtcdMemberCut,
    Fault::FrozenServer,
    Fault::DnsOutage,
];

/// What one fault did.
struct Outcome {
    fault: Fault,
    /// When it began, on the writer's clock.
    at: Duration,
    /// The server-id that acknowledged writes before it, and after.
    before: String,
    after: String,
    /// From the fault to the first write the new primary acknowledged.
    to_new_primary: Option<Duration>,
    /// The longest time without an acknowledged write around it.
    longest_gap: Duration,
}

/// The server-ids of the writes acknowledged in `window`, in the order
/// they were acknowledged, each run of one server counted once (pure).
fn primaries_in(acked: &crate::ha::Acked, window: (Duration, Duration)) -> Vec<String> {
    let mut by_time: Vec<(Duration, &String)> = acked
        .values()
        .filter(|(_, at)| window.0 <= *at && *at < window.1)
        .map(|(sid, at)| (*at, sid))
        .collect();
    by_time.sort();
    let mut runs: Vec<String> = Vec::new();
    for (_, sid) in by_time {
        if runs.last() != Some(sid) {
            runs.push(sid.clone());
        }
    }
    runs
}

#[test]
fn runs_of_primaries_are_counted_once_each() {
    let s = Duration::from_secs;
    let acked: crate::ha::Acked = [
        (1, ("11".to_string(), s(1))),
        (2, ("11".to_string(), s(2))),
        (3, ("12".to_string(), s(3))),
        (4, ("11".to_string(), s(4))),
        (5, ("12".to_string(), s(9))),
    ]
    .into_iter()
    .collect();
    assert_eq!(primaries_in(&acked, (s(0), s(3))), ["11"]);
    assert_eq!(primaries_in(&acked, (s(0), s(4))), ["11", "12"]);
    assert_eq!(primaries_in(&acked, (s(0), s(5))), ["11", "12", "11"]);
    assert!(primaries_in(&acked, (s(5), s(9))).is_empty());
}

/// The median and the worst of some durations.
fn median_and_worst(mut times: Vec<Duration>) -> Option<(Duration, Duration)> {
    times.sort();
    Some((*times.get(times.len() / 2)?, *times.last()?))
}

struct Soak {
    c: Ha,
    network: String,
    /// Nodes brought back by `replikit rejoin --discard`, by name.
    discarded: Vec<String>,
}

impl Soak {
    fn base(&self) -> &'static str {
        self.c.cluster.base
    }

    /// The node that takes writes, once exactly one does; else a failure
    /// with what each node answered and logged last.
    fn primary(&self) -> usize {
        let until = Instant::now() + TTL * 6;
        loop {
            let answers: Vec<Option<bool>> =
                (0..NODES.len()).map(|i| self.answers_writable(i)).collect();
            let writable: Vec<usize> = (0..NODES.len())
                .filter(|&i| answers[i] == Some(true))
                .collect();
            if writable.len() == 1 {
                return writable[0];
            }
            if Instant::now() > until {
                self.save_whole_logs();
                let logs: Vec<String> = NODES
                    .iter()
                    .map(|n| {
                        let log = self.c.cluster.logs(n);
                        let tail: Vec<&str> = log.lines().rev().take(60).collect();
                        let tail: Vec<&str> = tail.into_iter().rev().collect();
                        format!("{n}'s last lines:\n{}", tail.join("\n"))
                    })
                    .collect();
                panic!(
                    "{}: not exactly one writable node within {:?}: {answers:?}\n{}",
                    self.base(),
                    TTL * 6,
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every node's whole log, in a file each, for a failure's reader.
    fn save_whole_logs(&self) {
        for n in NODES {
            let path = format!("/tmp/partition-{}-{n}.log", self.base());
            let _ = std::fs::write(&path, self.c.cluster.logs(n));
            eprintln!("{n}'s whole log: {path}");
        }
    }

    fn answers_writable(&self, i: usize) -> Option<bool> {
        let mut conn = Ha::connect(self.c.node(i), "root", &self.c.password)?;
        let rows = conn.query("SELECT @@GLOBAL.read_only AS ro").ok()?;
        Some(rows.get(0, "ro") == Some("0"))
    }

    /// The host's pid of the container's PID 1 (replikit).
    fn pid1(&self, service: &str) -> u32 {
        self.c
            .cluster
            .inspect(service, "{{.State.Pid}}")
            .parse()
            .unwrap()
    }

    /// `iptables` in the network namespace of `service`'s container.
    fn iptables(&self, service: &str, args: &str) {
        let pid = self.pid1(service).to_string();
        let out = Command::new("nsenter")
            .args(["-t", &pid, "-n", "iptables"])
            .args(args.split_whitespace())
            .bounded();
        assert!(
            out.status.success(),
            "{}: iptables {args} in {service}: {}",
            self.base(),
            stderr(&out)
        );
    }

    /// `docker network VERB`; connecting again takes the address and the
    /// service's name back, as Compose gave them.
    fn network(&self, verb: &str, service: &str, ip: Option<String>) {
        let id = self.c.cluster.container(service);
        let mut cmd = Command::new("docker");
        cmd.args(["network", verb]);
        if let Some(ip) = ip {
            cmd.args(["--ip", &ip, "--alias", service]);
        }
        let out = cmd.args([&self.network, &id]).bounded();
        assert!(
            out.status.success(),
            "{}: docker network {verb} {service}: {}",
            self.base(),
            stderr(&out)
        );
    }

    /// Waits until a write after `since` is acknowledged by a server other
    /// than `old`; its server-id. None when none came within `limit`.
    fn new_writer(&self, old: &str, since: Duration, limit: Duration) -> Option<String> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            let found = self
                .c
                .acked
                .lock()
                .unwrap()
                .values()
                .find(|(sid, at)| sid != old && *at > since)
                .map(|(sid, _)| sid.clone());
            if found.is_some() {
                return found;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    fn inject(&mut self, fault: Fault, primary: usize, rng: &mut Rng) {
        let service = NODES[primary];
        let (old, since) = (self.c.server_id(service), self.c.started.elapsed());
        let hold = TTL * 2;
        match fault {
            Fault::KillServer => {
                let server = server_under(self.pid1(service)).expect("the primary's server");
                let restarts = self.c.cluster.inspect(service, "{{.RestartCount}}");
                assert!(send_signal(server, "KILL"), "{}", self.base());
                // Docker's restart policy starts the container again.
                wait_for(
                    Duration::from_secs(30),
                    &format!("{}: {service} restarted", self.base()),
                    || self.c.cluster.inspect(service, "{{.RestartCount}}") != restarts,
                );
            }
            Fault::DockerKill => {
                self.c.cluster.docker("kill", service, &[]);
                self.new_writer(&old, since, TTL * 6);
                self.c.cluster.docker("start", service, &[]);
            }
            Fault::Disconnect => {
                self.network("disconnect", service, None);
                self.new_writer(&old, since, TTL * 6);
                std::thread::sleep(Duration::from_secs(2));
                let ip = self.c.node(primary).ip().to_string();
                self.network("connect", service, Some(ip));
            }
            Fault::CutFromReplicas => {
                let others: Vec<String> = (0..NODES.len())
                    .filter(|&i| i != primary)
                    .map(|i| self.c.node(i).ip().to_string())
                    .collect();
                for ip in &others {
                    self.iptables(service, &format!("-I INPUT -s {ip} -j DROP"));
                    self.iptables(service, &format!("-I OUTPUT -d {ip} -j DROP"));
                }
                std::thread::sleep(hold);
                for ip in &others {
                    self.iptables(service, &format!("-D INPUT -s {ip} -j DROP"));
                    self.iptables(service, &format!("-D OUTPUT -d {ip} -j DROP"));
                }
            }
            Fault::EtcdMemberCut => {
                let member = 1 + rng.below(3);
                let name = format!("etcd{member}");
                self.network("disconnect", &name, None);
                std::thread::sleep(hold);
                let ip = format!("{}.{}", self.c.cluster.net, 30 + member);
                self.network("connect", &name, Some(ip));
            }
            Fault::DnsOutage => {
                // After Docker's own DNAT: every packet to the embedded
                // name server, whatever its port.
                for node in NODES {
                    self.iptables(node, "-I OUTPUT -d 127.0.0.11 -j DROP");
                }
                std::thread::sleep(hold);
                for node in NODES {
                    self.iptables(node, "-D OUTPUT -d 127.0.0.11 -j DROP");
                }
            }
            Fault::FrozenServer => {
                let server = server_under(self.pid1(service)).expect("the primary's server");
                assert!(send_signal(server, "STOP"), "{}", self.base());
                std::thread::sleep(hold);
                // Killed by its keeper by now, if all went well.
                send_signal(server, "CONT");
            }
        }
    }

    /// Waits until every node follows the primary; a node that reports
    /// errant transactions is discarded and seeded again, and named.
    fn settle(&mut self, since: Duration) {
        let primary = self.primary();
        let since_arg = self.since_arg(since);
        for (i, service) in NODES.iter().enumerate() {
            if i == primary {
                continue;
            }
            let until = Instant::now() + Duration::from_secs(240);
            while !self.c.follows(service, primary) {
                let logs = self.logs_since(service, &since_arg);
                if let Some(line) = logs.lines().find(|l| l.contains("(errant: ")) {
                    eprintln!(
                        "{}: {service} reports errant transactions: {line}",
                        self.base()
                    );
                    let out = self.c.replikit(service, "rejoin --discard");
                    eprintln!("{}: {service}: {}", self.base(), out.trim_end());
                    self.discarded.push(service.to_string());
                }
                if Instant::now() >= until {
                    self.save_whole_logs();
                    let replikit_lines = |n: &str| -> String {
                        let log = self.logs_since(n, &since_arg);
                        let lines: Vec<&str> =
                            log.lines().filter(|l| l.starts_with("replikit:")).collect();
                        lines[lines.len().saturating_sub(40)..].join("\n")
                    };
                    let tails: Vec<String> = NODES
                        .iter()
                        .map(|n| {
                            format!(
                                "{n}'s replikit lines since the fault:\n{}",
                                replikit_lines(n)
                            )
                        })
                        .collect();
                    panic!(
                        "{}: {service} does not follow {} within 240 s (writable now: {:?})\n{}",
                        self.base(),
                        NODES[primary],
                        (0..NODES.len())
                            .map(|i| self.answers_writable(i))
                            .collect::<Vec<_>>(),
                        tails.join("\n")
                    );
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }

    /// `docker logs --since` for `since` on the writer's clock.
    fn since_arg(&self, since: Duration) -> String {
        let wall_since = std::time::SystemTime::now() - (self.c.started.elapsed() - since);
        wall_since
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string()
    }

    fn logs_since(&self, service: &str, since: &str) -> String {
        let out = Command::new("docker")
            .args(["logs", "--since", since, &self.c.cluster.container(service)])
            .bounded();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

mod partition_soak_with_etcd {
    use super::*;
    mariadb_and_mysql!(soak);
}

fn soak(flavor: Flavor) {
    require_tool("nsenter");
    require_tool("iptables");
    let base = flavor.rootfs_name();
    let secs: u64 = std::env::var("REPLIKIT_PARTITION_SECS")
        .ok()
        .map(|s| {
            s.parse()
                .expect("REPLIKIT_PARTITION_SECS: a number of seconds")
        })
        .unwrap_or(0);
    let seed: u64 = match std::env::var("REPLIKIT_PARTITION_SEED") {
        Ok(s) => s.parse().expect("REPLIKIT_PARTITION_SEED: a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    };
    eprintln!("{base}: partition soak, seed {seed} (REPLIKIT_PARTITION_SEED repeats it)");
    let mut rng = Rng(seed | 1);
    let cluster = Cluster::up_with(base, true);
    let network = format!("{}_db", cluster.project);
    let mut soak = Soak {
        c: Ha::new(cluster),
        network,
        discarded: Vec::new(),
    };
    let watcher = soak.c.watch();
    let writer = soak.c.write();
    std::thread::sleep(Duration::from_secs(3));

    // The short form: each fault once, in a seeded order; the long one:
    // faults drawn at random until the time is up.
    let mut order = FAULTS.to_vec();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    // REPLIKIT_PARTITION_FAULTS=DockerKill,FrozenServer: these, in turn.
    if let Ok(list) = std::env::var("REPLIKIT_PARTITION_FAULTS") {
        order = list
            .split(',')
            .map(|name| {
                *FAULTS
                    .iter()
                    .find(|f| format!("{f:?}") == name)
                    .unwrap_or_else(|| panic!("REPLIKIT_PARTITION_FAULTS: no fault {name}"))
            })
            .collect();
    }
    let soak_started = Instant::now();
    let mut outcomes: Vec<Outcome> = Vec::new();
    for n in 0.. {
        let fault = if secs == 0 {
            match order.get(n) {
                Some(f) => *f,
                None => break,
            }
        } else if soak_started.elapsed() < Duration::from_secs(secs) {
            FAULTS[rng.below(FAULTS.len() as u64) as usize]
        } else {
            break;
        };
        std::thread::sleep(Duration::from_millis(2000 + rng.below(6000)));
        let primary = soak.primary();
        let before = soak.c.server_id(NODES[primary]);
        let at = soak.c.started.elapsed();
        eprintln!(
            "{base}: {at:.1?}: {fault:?} on {} (server {before})",
            NODES[primary]
        );
        soak.inject(fault, primary, &mut rng);
        soak.settle(at);
        // The window ends with the first write acknowledged after the
        // cluster settled: writes may resume a moment later (HAProxy's
        // agent check), and the outage must be measured to its end.
        let settled = soak.c.started.elapsed();
        let now = wait_for_value(
            Duration::from_secs(60),
            &format!("{base}: a write acknowledged after {fault:?}"),
            || {
                soak.c
                    .acked
                    .lock()
                    .unwrap()
                    .values()
                    .map(|(_, t)| *t)
                    .filter(|t| *t > settled)
                    .min()
            },
        );
        let after = soak.c.server_id(NODES[soak.primary()]);
        let acked = soak.c.acked.lock().unwrap().clone();
        let to_new_primary = acked
            .values()
            .filter(|(sid, t)| *sid != before && *t > at)
            .map(|(_, t)| *t - at)
            .min();
        let runs = primaries_in(&acked, (at, now));
        assert!(
            runs.len() <= 2,
            "{base}: {fault:?}: writes acknowledged by {runs:?} in turn: more than one change of primary"
        );
        let longest_gap = {
            let mut times: Vec<Duration> = acked
                .values()
                .map(|(_, t)| *t)
                .filter(|t| at <= *t && *t <= now)
                .collect();
            times.insert(0, at);
            times.sort();
            times
                .windows(2)
                .map(|w| w[1] - w[0])
                .max()
                .unwrap_or_default()
        };
        eprintln!(
            "{base}: {fault:?}: primary {before} -> {after}, first write on a new primary {to_new_primary:.1?} after the fault, writes stopped for at most {longest_gap:.1?}"
        );
        if fault == Fault::DnsOutage {
            // The nodes still reach etcd and each other at the addresses
            // the name servers gave last: the primary keeps its lease.
            let log = soak.logs_since(NODES[primary], &soak.since_arg(at));
            let fenced = log.lines().find(|l| l.contains("stops taking writes"));
            assert!(
                before == after && fenced.is_none(),
                "{base}: the name servers' silence moved the primary ({before} -> {after}) or fenced it: {fenced:?}"
            );
        }
        outcomes.push(Outcome {
            fault,
            at,
            before,
            after,
            to_new_primary,
            longest_gap,
        });
    }

    std::thread::sleep(Duration::from_secs(2));
    soak.c.stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    watcher.join().unwrap();

    // Acknowledged writes: on every node, with the server that
    // acknowledged them.
    let acked = soak.c.acked.lock().unwrap().clone();
    let last = *acked.keys().last().expect("acknowledged writes");
    let mut lost: Vec<(u64, &str)> = Vec::new();
    for (i, service) in NODES.iter().enumerate() {
        wait_for(
            Duration::from_secs(120),
            &format!("{base}: write {last} on {service}"),
            || soak.c.held(i).contains_key(&last),
        );
        let held = soak.c.held(i);
        for (id, (sid, _)) in &acked {
            if held.get(id) != Some(sid) {
                lost.push((*id, service));
            }
        }
    }
    let samples = soak.c.samples.lock().unwrap().clone();
    let split = two_writable_at_once(&samples);
    let failovers = outcomes.iter().filter(|o| o.before != o.after).count();
    let times: Vec<Duration> = outcomes
        .iter()
        .filter(|o| o.before != o.after)
        .filter_map(|o| o.to_new_primary)
        .collect();
    let (median, worst) = median_and_worst(times).unwrap_or_default();
    let faults: Vec<String> = outcomes
        .iter()
        .map(|o| format!("{:?}@{:.0?}", o.fault, o.at))
        .collect();
    let worst_gap = outcomes
        .iter()
        .map(|o| o.longest_gap)
        .max()
        .unwrap_or_default();
    eprintln!(
        "SUMMARY {base}: seed {seed}; {} faults ({}); {failovers} failovers; fault to first write on the new primary: median {median:.1?}, worst {worst:.1?} (lease {TTL:?}); longest time without writes {worst_gap:.1?}; {} writes acknowledged, {} lost; split-brain intervals {}; nodes discarded for errant transactions: {:?}",
        outcomes.len(),
        faults.join(", "),
        acked.len(),
        lost.len(),
        usize::from(split.is_some()),
        soak.discarded
    );
    if !lost.is_empty() {
        soak.save_whole_logs();
    }
    assert!(
        lost.is_empty(),
        "{base}: acknowledged writes lost: {lost:?}"
    );
    assert_eq!(split, None, "{base}: two nodes took writes at once");
    let primary = soak.primary();
    for (i, service) in NODES.iter().enumerate() {
        if i != primary {
            soak.c.cluster.verify(service);
        }
    }
}
