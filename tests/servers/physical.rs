//! Seeding MariaDB replicas with a physical copy (issue 20), on real
//! MariaDB 10.11 and 11.8 with mariadb-backup: the primary's replikit
//! streams its backup while a writer writes, the replica's puts it in
//! place and restarts its server on it, and `replikit verify` finds no
//! difference; a copy cut short is thrown away and made again; two
//! replicas asking at once are served one after the other; and the donor
//! answers a peer without this cluster's key with nothing but a refusal.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::common::servers::{free_port, Flavor, Server};
use crate::common::*;
use crate::seed::{load_data, no_secret_in, verified_clean, writer, PASSWORD, USER};

/// The primary, under replikit as PID 1, serving physical seeds on a port
/// of its own.
fn primary(flavor: Flavor) -> (Server, u16) {
    primary_with(flavor, "")
}

/// `primary` with more server options.
fn primary_with(flavor: Flavor, extra: &str) -> (Server, u16) {
    let port = free_port();
    let p = Server::start_under_replikit_on(
        flavor,
        free_port(),
        extra,
        &[
            ("MYSQL_MASTER", "1".to_string()),
            ("MYSQL_REPL_USER", USER.to_string()),
            ("MYSQL_REPL_PASSWORD", PASSWORD.to_string()),
            ("REPLIKIT_REPL_HOST", "127.0.0.1".to_string()),
            ("REPLIKIT_DONOR_PORT", port.to_string()),
        ],
    );
    wait_for(Duration::from_secs(60), "the primary's donor", || {
        p.replikit_log().contains("physical seeds: served on port")
    });
    (p, port)
}

fn replica_env(primary: &Server, donor_port: u16) -> Vec<(&'static str, String)> {
    let mut env = primary.as_source_env();
    env.extend([
        ("MYSQL_REPL_USER", USER.to_string()),
        ("MYSQL_REPL_PASSWORD", PASSWORD.to_string()),
        ("REPLIKIT_REPL_HOST", "127.0.0.1".to_string()),
        ("REPLIKIT_SEED", "physical".to_string()),
        ("REPLIKIT_DONOR_PORT", donor_port.to_string()),
    ]);
    env
}

fn wait_replicating(replica: &Server) {
    wait_for(
        Duration::from_secs(180),
        "the copied replica to replicate",
        || replica.replikit_log().contains("replication: replica of"),
    );
}

/// What every physically seeded replica must show.
fn seeded_physically(replica: &Server, primary: &Server) {
    let log = replica.replikit_log();
    assert!(log.contains("with a physical copy"), "{log}");
    assert!(log.contains("again, on the copied data"), "{log}");
    assert!(log.contains("seeding: done (physical copy from"), "{log}");
    assert!(!log.contains("with a dump"), "{log}");
    no_secret_in(&log);
    no_secret_in(&primary.replikit_log());
    assert_eq!(
        replica.sql("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE '%replikit-physical%'"),
        "0",
        "the copy's folder is gone"
    );
    assert_eq!(
        replica.sql("SELECT @@read_only"),
        "1",
        "a replica on the copy is read-only"
    );
    let status = replica.replica_status().unwrap();
    assert_eq!(status["Using_Gtid"], "Slave_Pos", "{status:?}");
}

/// A late replica seeded with a physical copy while a writer writes.
fn copy_while_writing(flavor: Flavor) {
    let (primary, donor_port) = primary(flavor);
    load_data(&primary);
    let stop = AtomicBool::new(false);
    let written = AtomicU32::new(0);
    let replica = std::thread::scope(|s| {
        s.spawn(|| writer(&primary, &stop, &written));
        wait_for(Duration::from_secs(30), "the writer to start", || {
            written.load(Ordering::SeqCst) > 0
        });
        let replica =
            Server::start_replicating_under_replikit(flavor, &replica_env(&primary, donor_port));
        wait_replicating(&replica);
        let seen = written.load(Ordering::SeqCst);
        wait_for(Duration::from_secs(30), "more writes", || {
            written.load(Ordering::SeqCst) > seen + 5
        });
        stop.store(true, Ordering::SeqCst);
        replica
    });
    if std::env::var_os("SHOW").is_some() {
        eprintln!(
            "{}\n----\n{}",
            replica.replikit_log(),
            primary.replikit_log()
        );
    }
    seeded_physically(&replica, &primary);
    assert!(
        primary.replikit_log().contains("physical seed: sent"),
        "{}",
        primary.replikit_log()
    );
    // Every acknowledged write is there, and nothing else.
    verified_clean(&replica, &primary, 4);
    assert_eq!(replica.stop(), 0);
}

mod copy_while_writing {
    use super::*;
    crate::per_flavor!(copy_while_writing: mariadb_10_11 => MariaDb1011, mariadb_11_8 => MariaDb118);
}

/// Enough data that the copy takes a while (~75 MB in one table), and
/// no more: the tier's other servers share the machine.
fn load_bulk(p: &Server) {
    p.sql("CREATE DATABASE bulk; CREATE TABLE bulk.t (id INT AUTO_INCREMENT PRIMARY KEY, pad CHAR(255) NOT NULL) ENGINE=InnoDB; \
           INSERT INTO bulk.t (pad) VALUES (REPEAT('x', 255))");
    for _ in 0..18 {
        p.sql("INSERT INTO bulk.t (pad) SELECT pad FROM bulk.t");
    }
}

/// The replica is killed while the copy streams in (as `docker kill`
/// would); its next start throws the partial copy away and copies again.
fn cut_short(flavor: Flavor) {
    let (primary, donor_port) = primary(flavor);
    load_data(&primary);
    load_bulk(&primary);
    let mut replica =
        Server::start_replicating_under_replikit(flavor, &replica_env(&primary, donor_port));
    wait_for(
        Duration::from_secs(120),
        "the copy to start streaming",
        || {
            replica.replikit_log().contains("copied in")
                || replica.replikit_log().contains("replication: replica of")
        },
    );
    assert!(
        !replica.replikit_log().contains("replication: replica of"),
        "the copy ended before it could be cut short: make load_bulk bigger"
    );
    replica.kill();
    replica.start_again();
    wait_replicating(&replica);
    let log = replica.replikit_log();
    assert!(
        log.contains("the copy of a physical seed that was cut short"),
        "{log}"
    );
    seeded_physically(&replica, &primary);
    verified_clean(&replica, &primary, 5);
}

mod cut_short {
    use super::*;
    crate::per_flavor!(cut_short: mariadb_10_11 => MariaDb1011, mariadb_11_8 => MariaDb118);
}

/// Two replicas ask at once: the donor serves one at a time, the other
/// waits its turn (REPLIKIT_SEED=physical retries), and both end up
/// replicating from a copy. The first copy is held (its mariadb-backup
/// stopped) until the second replica has been told to wait: a copy of
/// this size takes 3 s, and left to chance the second replica's server
/// started after the first copy had ended, once in CI.
fn two_at_once(flavor: Flavor) {
    let (primary, donor_port) = primary(flavor);
    load_data(&primary);
    load_bulk(&primary);
    let env = replica_env(&primary, donor_port);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Server::start_replicating_under_replikit(flavor, &env));
        let backup = wait_for_value(
            Duration::from_secs(120),
            "the first copy's mariadb-backup on the primary",
            || backup_of(&primary),
        );
        assert!(send_signal(backup, "STOP"));
        let b = s.spawn(|| Server::start_replicating_under_replikit(flavor, &env));
        wait_for(
            Duration::from_secs(120),
            "the second replica told to wait its turn",
            || {
                primary
                    .replikit_log()
                    .contains("declined: another seed is being served")
            },
        );
        assert!(send_signal(backup, "CONT"));
        (a.join().unwrap(), b.join().unwrap())
    });
    wait_replicating(&a);
    wait_replicating(&b);
    for r in [&a, &b] {
        seeded_physically(r, &primary);
        verified_clean(r, &primary, 5);
    }
    let busy = primary
        .replikit_log()
        .contains("declined: another seed is being served")
        || a.replikit_log().contains("is serving another seed")
        || b.replikit_log().contains("is serving another seed");
    assert!(busy, "{}", primary.replikit_log());
}

/// The pid of the mariadb-backup that streams `primary`'s data, if one runs.
fn backup_of(primary: &Server) -> Option<u32> {
    let datadir = format!("--datadir={}/data", primary.dir);
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        let has = |want: &str| args.iter().any(|a| a.starts_with(want.as_bytes()));
        (has("--backup") && has(&datadir)).then_some(pid)
    })
}

mod two_at_once {
    use super::*;
    crate::per_flavor!(two_at_once: mariadb_10_11 => MariaDb1011, mariadb_11_8 => MariaDb118);
}

/// A fake replica without the key: the donor says nothing but its hello
/// and, a second later, a refusal; a peer that speaks something else gets
/// nothing at all. Each ends within its deadline.
#[test]
fn the_donor_refuses_a_peer_without_the_key() {
    let (primary, donor_port) = primary(Flavor::MariaDb118);
    let connect = || {
        let s = TcpStream::connect(("127.0.0.1", donor_port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    // The replica speaks first: MAGIC.
    let mut s = connect();
    s.write_all(b"RKSEED1\n").unwrap();
    let mut hello = [0u8; 40];
    s.read_exact(&mut hello).unwrap();
    assert_eq!(&hello[..8], b"RKSEED1\n");
    s.write_all(&[7u8; 64]).unwrap(); // a nonce and a made-up proof
    let asked = Instant::now();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"R", "a refusal and nothing else");
    assert!(
        asked.elapsed() >= Duration::from_millis(900),
        "refusals are slow"
    );

    // Something else than the protocol: nothing back at all.
    let mut s = connect();
    s.write_all(&[b'G'; 72]).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{rest:?}");
    wait_for(
        Duration::from_secs(10),
        "the refusals in the donor's log",
        || {
            let log = primary.replikit_log();
            log.contains("refused: its proof does not match")
                && log.contains("does not speak replikit's seed protocol")
        },
    );
}

/// With TLS towards the source, the copy comes over TLS, and the donor's
/// certificate (the server's own) is checked against the CA and the
/// source's name, as the source's is.
#[test]
fn the_copy_comes_over_tls_when_the_cluster_uses_it() {
    let flavor = Flavor::MariaDb118;
    let certs = crate::replication::certificates_of(flavor, "physical");
    let (primary, donor_port) = primary_with(
        flavor,
        &format!("--ssl-ca={certs}/ca.pem --ssl-cert={certs}/server-cert.pem --ssl-key={certs}/server-key.pem"),
    );
    load_data(&primary);
    let mut env = replica_env(&primary, donor_port);
    env.extend([
        ("REPLIKIT_SSL_MODE", "verify-identity".to_string()),
        ("REPLIKIT_SSL_CA", format!("{certs}/ca.pem")),
    ]);
    let replica = Server::start_replicating_under_replikit(flavor, &env);
    wait_replicating(&replica);
    seeded_physically(&replica, &primary);
    let log = replica.replikit_log();
    assert!(log.contains("the copy comes over TLS"), "{log}");
    verified_clean(&replica, &primary, 4);
}
