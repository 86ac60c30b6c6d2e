//! Seeding a replica that joins late, on real servers of every flavor: it
//! gets everything the source held (schemas, rows, triggers, routines)
//! from one consistent dump while a writer keeps writing, then replicates
//! from exactly the snapshot's position, and `replikit verify` finds no
//! difference. A seed killed half-way starts again cleanly; a replica with
//! data of its own is not overwritten.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use crate::common::servers::{Flavor, Server};
use crate::common::*;

pub const USER: &str = "repl";
/// Hostile, as in tests/replication.rs; the donor account's password is
/// derived from it.
pub const PASSWORD: &str = "x'; DROP -- \\ \"비밀\" %";

/// replikit `args` in `server`'s root filesystem, with the replication
/// account and `env`.
fn replikit(server: &Server, env: &[(&str, String)], args: &[&str]) -> Output {
    let mut env = env.to_vec();
    env.insert(0, ("REPLIKIT_PREPARE_TIMEOUT", "120s".to_string()));
    server
        .replikit_with(Some((USER, PASSWORD)), &env)
        .args(args)
        .bounded_for(Duration::from_secs(180))
}

fn no_secret(out: &Output) {
    for text in [
        stderr(out),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ] {
        no_secret_in(&text);
    }
}

pub fn no_secret_in(text: &str) {
    assert!(!text.contains("비밀"), "the password in output: {text}");
}

fn ok(out: &Output, what: &str) -> String {
    no_secret(out);
    assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(out));
    stderr(out)
}

/// `replikit prepare` on the primary again, as an operator runs it after
/// creating schemas: a one-shot set-up grants the donor the schemas that
/// exist when it runs (replikit as PID 1 grants new ones by itself).
fn grant_new_schemas(primary: &Server) {
    ok(
        &replikit(primary, &[("MYSQL_MASTER", "1".into())], &["prepare"]),
        "prepare on the primary again",
    );
}

fn primary(flavor: Flavor) -> Server {
    let p = Server::start_replicating(flavor);
    ok(
        &replikit(&p, &[("MYSQL_MASTER", "1".into())], &["prepare"]),
        "primary",
    );
    p
}

/// `replikit verify` on `replica`: exit code and stdout.
fn verify(replica: &Server, source: &Server) -> (i32, String) {
    let out = replikit(
        replica,
        &source.as_source_env(),
        &["verify", "--timeout", "60s"],
    );
    no_secret(&out);
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out)),
    )
}

/// `replikit verify` finds no difference in `tables` tables.
pub fn verified_clean(replica: &Server, source: &Server, tables: usize) {
    let (code, report) = verify(replica, source);
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains(&format!("{tables} tables compared, 0 differences")),
        "{report}"
    );
}

/// An UPDATE and a DELETE of rows that came with the seed replicate
/// without an error.
fn seeded_rows_replicate(primary: &Server, replica: &Server) {
    primary.sql(
        "UPDATE shop.items SET note = 'changed' WHERE id = 1; DELETE FROM shop.items WHERE id = 2",
    );
    replica.wait_for_rows("SELECT note FROM shop.items WHERE id = 1", "changed");
    assert_eq!(
        replica.sql("SELECT COUNT(*) FROM shop.items WHERE id = 2"),
        "0"
    );
    let status = replica.replica_status().unwrap();
    assert_eq!(status["Last_SQL_Errno"], "0");
}

/// Five thousand rows from a cross join of digits (no recursion limits).
const FIVE_THOUSAND: &str = "(SELECT 0 n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4) a, \
    (SELECT 0 n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) b, \
    (SELECT 0 n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) c, \
    (SELECT 0 n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) d";

/// Two schemas, a few thousand rows, a trigger, a procedure and a view.
pub fn load_data(p: &Server) {
    p.sql(&format!(
        "CREATE DATABASE shop; CREATE DATABASE crm; \
         CREATE TABLE shop.items (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(64)); \
         CREATE TABLE shop.added (n INT NOT NULL); INSERT INTO shop.added VALUES (0); \
         CREATE TRIGGER shop.count_added AFTER INSERT ON shop.items FOR EACH ROW UPDATE shop.added SET n = n + 1; \
         INSERT INTO shop.items SELECT a.n*1000 + b.n*100 + c.n*10 + d.n, d.n, CONCAT('item ', a.n, b.n, c.n, d.n) FROM {FIVE_THOUSAND}; \
         CREATE TABLE crm.people (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(32), picture BLOB); \
         INSERT INTO crm.people (name, picture) VALUES ('ada', UNHEX('00FF10')), ('grace', NULL); \
         CREATE VIEW crm.names AS SELECT name FROM crm.people; \
         CREATE PROCEDURE crm.add_person(who VARCHAR(32)) INSERT INTO crm.people (name) VALUES (who); \
         CREATE TABLE crm.ticks (n INT NOT NULL); INSERT INTO crm.ticks VALUES (0); \
         CREATE EVENT crm.tick ON SCHEDULE EVERY 1 SECOND DO UPDATE crm.ticks SET n = n + 1"
    ));
    // The event is data to copy here, not work to do: it stays still on
    // the source, so that only a replica could make it tick.
    p.sql("SET GLOBAL event_scheduler = OFF");
    grant_new_schemas(p);
}

/// Starts a replica's server with its event scheduler on, so that an
/// event copied as ENABLED would run there.
fn replica_with_event_scheduler(flavor: Flavor) -> Server {
    let replica = Server::start_replicating(flavor);
    replica.sql("SET GLOBAL event_scheduler = ON");
    replica
}

/// The event copied with the seed is disabled on the replica as
/// replication disables the events it applies, its definer kept, and the
/// replica's scheduler runs again.
fn events_stay_on_the_source(primary: &Server, replica: &Server) {
    let event = "SELECT CONCAT(STATUS, ' ', DEFINER) FROM information_schema.events \
                 WHERE EVENT_SCHEMA = 'crm' AND EVENT_NAME = 'tick'";
    let (status, definer) = {
        let row = replica.sql(event);
        let (status, definer) = row.split_once(' ').unwrap_or_default();
        (status.to_string(), definer.to_string())
    };
    assert!(
        ["SLAVESIDE_DISABLED", "REPLICA_SIDE_DISABLED"].contains(&status.as_str()),
        "the copied event on the replica: {status}"
    );
    assert_eq!(
        primary.sql(event),
        format!("ENABLED {definer}"),
        "the definer is kept"
    );
    assert_eq!(replica.sql("SELECT @@GLOBAL.event_scheduler"), "ON");
    assert_eq!(
        replica.sql("SELECT n FROM crm.ticks"),
        primary.sql("SELECT n FROM crm.ticks")
    );
}

/// Writes to the primary until `stop` is set: inserts (which fire the
/// trigger), updates and deletes of rows that existed before the replica.
pub fn writer(p: &Server, stop: &AtomicBool, written: &AtomicU32) {
    let mut i = 0u32;
    while !stop.load(Ordering::SeqCst) {
        p.sql(&format!(
            "INSERT INTO shop.items VALUES ({}, {i}, 'new'); UPDATE shop.items SET v = v + 1 WHERE id = {}; \
             DELETE FROM shop.items WHERE id = {}; CALL crm.add_person('w{i}')",
            100_000 + i,
            (i * 7) % 4000,
            4000 + i
        ));
        i += 1;
        written.store(i, Ordering::SeqCst);
    }
}

/// Starts new binary logs and purges every earlier one.
fn purge_early_logs(primary: &Server) {
    primary.sql("FLUSH BINARY LOGS");
    primary.sql("FLUSH BINARY LOGS");
    let logs = primary.rows("SHOW BINARY LOGS");
    // MariaDB keeps a log until InnoDB's checkpoint passes it (a second or so).
    wait_for(
        Duration::from_secs(30),
        "early binary logs to be purged",
        || {
            primary.sql(&format!(
                "PURGE BINARY LOGS TO '{}'",
                logs[logs.len() - 1]["Log_name"]
            ));
            primary.rows("SHOW BINARY LOGS")[0]["Log_name"] != logs[0]["Log_name"]
        },
    );
}

fn late_replica(flavor: Flavor) {
    let primary = primary(flavor);
    load_data(&primary);
    // Early binary logs gone: replaying them could not rebuild the data.
    purge_early_logs(&primary);

    let replica = replica_with_event_scheduler(flavor);
    let stop = AtomicBool::new(false);
    let written = AtomicU32::new(0);
    let log = std::thread::scope(|s| {
        s.spawn(|| writer(&primary, &stop, &written));
        wait_for(Duration::from_secs(30), "the writer to start", || {
            written.load(Ordering::SeqCst) > 0
        });
        let log = ok(
            &replikit(&replica, &primary.as_source_env(), &["prepare"]),
            "late replica",
        );
        // Keep writing a little after the seed too.
        let seen = written.load(Ordering::SeqCst);
        wait_for(Duration::from_secs(30), "more writes", || {
            written.load(Ordering::SeqCst) > seen + 5
        });
        stop.store(true, Ordering::SeqCst);
        log
    });
    assert!(log.contains("seeding from 127.0.0.1"), "{log}");
    assert!(log.contains("the source holds data (crm, shop)"), "{log}");
    assert!(log.contains("seeding: done"), "{log}");
    assert!(
        log.contains("seeding: 1 copied event(s) disabled here"),
        "{log}"
    );
    events_stay_on_the_source(&primary, &replica);

    verified_clean(&replica, &primary, 4);

    // What came with the snapshot works like what replicated.
    seeded_rows_replicate(&primary, &replica);
    primary.sql("CALL crm.add_person('late')");
    replica.wait_for_rows("SELECT COUNT(*) FROM crm.people WHERE name = 'late'", "1");
    let status = replica.replica_status().unwrap();
    assert_eq!(status["Replica_SQL_Running"], "Yes");
    assert_eq!(replica.sql("SELECT @@read_only"), "1");
    assert_eq!(
        replica
            .sql("SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = 'shop'"),
        "1"
    );
    assert_eq!(
        replica.sql("SELECT COUNT(*) FROM crm.names"),
        primary.sql("SELECT COUNT(*) FROM crm.names")
    );
    assert_eq!(
        replica.sql("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'replikit_seed_incomplete'"),
        "0"
    );
    // The seeded rows are not in the replica's own binary log.
    let (code, report) = verify(&replica, &primary);
    assert_eq!(code, 0, "{report}");

    // A restart leaves the seeded replica alone.
    let again = ok(
        &replikit(&replica, &primary.as_source_env(), &["prepare"]),
        "restart",
    );
    assert!(!again.contains("seeding from"), "{again}");

    // verify finds a difference made behind replication's back.
    replica.sql("SET GLOBAL read_only = OFF; SET SESSION sql_log_bin = 0; UPDATE shop.items SET v = 99 WHERE id = 3");
    let (code, report) = verify(&replica, &primary);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("shop.items: differs"), "{report}");
    assert!(report.contains("1 differences"), "{report}");
}

mod late_replica {
    use super::*;
    per_flavor!(late_replica);
}

/// replikit killed (as `docker kill` would) while the dump loads: the next
/// start drops the partial copy and seeds again. Before the kill, a copy
/// that stalls still logs its progress.
fn interrupted(flavor: Flavor) {
    let primary = primary(flavor);
    load_data(&primary);
    // Enough to take a moment to load: schema "big" comes first.
    primary.sql(&format!(
        "CREATE DATABASE big; CREATE TABLE big.t (id INT PRIMARY KEY, pad VARCHAR(255)); \
         INSERT INTO big.t SELECT a.n*1000 + b.n*100 + c.n*10 + d.n, REPEAT('x', 250) FROM {FIVE_THOUSAND}; \
         INSERT INTO big.t SELECT id + 5000, pad FROM big.t; INSERT INTO big.t SELECT id + 10000, pad FROM big.t; \
         INSERT INTO big.t SELECT id + 20000, pad FROM big.t; INSERT INTO big.t SELECT id + 40000, pad FROM big.t; \
         INSERT INTO big.t SELECT id + 80000, pad FROM big.t"
    ));
    // InnoDB updates the sizes that information_schema shows (and the
    // progress estimate reads) in the background, seconds after a load.
    primary.sql("ANALYZE TABLE big.t");
    grant_new_schemas(&primary);
    let replica = Server::start_replicating(flavor);
    let log_path = std::env::temp_dir().join(format!(
        "replikit-seed-{}-{}.log",
        std::process::id(),
        replica.port
    ));
    let mut first = replica
        .replikit()
        .env("REPLIKIT_REPL_HOST", "127.0.0.1")
        .env("MYSQL_REPL_USER", USER)
        .env("MYSQL_REPL_PASSWORD", PASSWORD)
        .envs(primary.as_source_env())
        .arg("prepare")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    // information_schema, because the loader holds big.t locked.
    wait_for(
        Duration::from_secs(120),
        "the copy of big.t to begin",
        || {
            replica
                .sql_result(
                    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'big'",
                )
                .map(|v| v == "1")
                .unwrap_or(false)
        },
    );
    // The dump tool and the client are running now, as replikit's
    // children: no password on their command lines.
    let helpers = children_of(first.id());
    assert_eq!(helpers.len(), 2, "the dump tool and the client");
    for &pid in &helpers {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert!(
            cmdline.contains("--defaults-file=/proc/self/fd/"),
            "{cmdline}"
        );
        assert!(
            !cmdline.contains("password") && !cmdline.contains("비밀"),
            "a password on a command line: {cmdline}"
        );
        // Only PATH from replikit's environment, which holds the
        // replication password.
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let environ = String::from_utf8_lossy(&environ).replace('\0', " ");
        assert!(
            environ.starts_with("PATH=") && !environ.contains("PASSWORD"),
            "{environ}"
        );
        // A clean signal state: nothing blocked (the tools ignore SIGPIPE
        // themselves), SIGTERM not ignored, so SIGTERM ends them at once.
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let mask = |field: &str| {
            let line = status
                .lines()
                .find(|l| l.starts_with(field))
                .unwrap_or_default();
            u64::from_str_radix(line.rsplit('\t').next().unwrap_or("").trim(), 16)
                .unwrap_or(u64::MAX)
        };
        assert_eq!(mask("SigBlk:"), 0, "{pid}: {status}");
        assert_eq!(
            mask("SigIgn:") & (1 << (libc::SIGTERM - 1)),
            0,
            "{pid}: {status}"
        );
    }
    // The copy stalls (both helpers stopped, as a lock on either server
    // would stop them; a lock of the test's own depended on each server's
    // lock rules and let MySQL's copy finish first once in CI): it still
    // reports its progress, by the clock, about every 5 s.
    let signal = |sig: &str| {
        for pid in &helpers {
            let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
        }
    };
    signal("-STOP");
    let progress = || {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains("seeding: ") && l.contains("MiB copied in"))
            .map(str::to_string)
    };
    wait_for(Duration::from_secs(40), "a progress line", || {
        progress().is_some()
    });
    let line = progress().unwrap();
    eprintln!("{flavor:?}: {line}");
    assert!(
        line.contains("MiB/s, about ") && line.contains("% of ") && line.ends_with(" s left"),
        "bytes, rate, percent and time left: {line}"
    );
    first.kill().unwrap();
    first.wait().unwrap();
    // Killed mid-copy: no file anywhere in the server's root filesystem's
    // /tmp holds a password (the option files lived in memory only).
    let tmp = flavor.rootfs().join("tmp");
    for entry in walk(&tmp) {
        let text = std::fs::read(&entry).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        assert!(
            !text.contains(PASSWORD) && !text.contains("password="),
            "{} holds a password",
            entry.display()
        );
    }
    let first_log = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    assert!(
        !first_log.contains("비밀"),
        "the password in the log: {first_log}"
    );
    // Let them see the end of their pipes.
    signal("-CONT");
    wait_for(
        Duration::from_secs(30),
        "the killed seed's loader to end",
        || !replica.sql("SHOW PROCESSLIST").contains("INSERT INTO"),
    );
    assert!(
        replica
            .sql_result("SELECT 1 FROM shop.items LIMIT 1")
            .is_err(),
        "the seed finished before it was killed"
    );
    assert_eq!(replica.replica_status(), None);
    assert_eq!(
        replica.sql("SELECT @@read_only"),
        "1",
        "a half-seeded replica takes no application writes"
    );
    assert_eq!(
        replica.sql("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'replikit_seed_incomplete'"),
        "1"
    );

    let log = ok(
        &replikit(&replica, &primary.as_source_env(), &["prepare"]),
        "the next start",
    );
    assert!(log.contains("an earlier seed was interrupted"), "{log}");
    verified_clean(&replica, &primary, 5);
    primary.sql("DELETE FROM big.t WHERE id = 1");
    replica.wait_for_rows("SELECT COUNT(*) FROM big.t", "159999");
}

/// Every file below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => files.extend(walk(&path)),
            Ok(t) if t.is_file() => files.push(path),
            _ => {}
        }
    }
    files
}

mod interrupted {
    use super::*;
    per_flavor!(interrupted);
}

/// A replica with data of its own, and no replication set-up, joins a
/// source with data: refused with the reason, its data untouched.
fn own_data(flavor: Flavor) {
    let primary = primary(flavor);
    load_data(&primary);
    let replica = Server::start_replicating(flavor);
    replica.sql("CREATE DATABASE mine; CREATE TABLE mine.t (id INT PRIMARY KEY); INSERT INTO mine.t VALUES (42)");
    let out = replikit(&replica, &primary.as_source_env(), &["prepare"]);
    no_secret(&out);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.contains("holds its own data (mine)"), "{err}");
    assert!(last.contains("does not overwrite it"), "{err}");
    assert!(last.contains("REPLIKIT_SEED=none"), "{err}");
    assert_eq!(replica.sql("SELECT id FROM mine.t"), "42");
    assert_eq!(replica.replica_status(), None);
    assert!(replica
        .sql_result("SELECT 1 FROM shop.items LIMIT 1")
        .is_err());
}

mod own_data {
    use super::*;
    per_flavor!(own_data);
}

/// MySQL's clone plugin, with replikit as PID 1 and the server its
/// command (as in a container): the replica clones its source while a
/// writer writes, the server shuts down for the clone and replikit starts
/// it again in place, and replication continues by GTID from the clone.
/// The replica starts fenced (super_read_only), as under replikit in a
/// container, which refused INSTALL PLUGIN until replikit lifted it.
#[test]
fn mysql_9_7_clone() {
    let flavor = Flavor::MySql97;
    let primary = primary(flavor);
    load_data(&primary);
    assert_eq!(
        primary.sql(
            "SELECT PLUGIN_STATUS FROM information_schema.plugins WHERE PLUGIN_NAME = 'clone'"
        ),
        "ACTIVE",
        "replikit on the primary installs the clone plugin"
    );
    let grants = primary.sql("SHOW GRANTS FOR 'replikit_donor'@'127.0.0.1'");
    assert!(
        grants.contains("BACKUP_ADMIN") && !grants.contains("ALL"),
        "{grants}"
    );

    let mut env = primary.as_source_env();
    env.extend([
        ("MYSQL_REPL_USER", USER.to_string()),
        ("MYSQL_REPL_PASSWORD", PASSWORD.to_string()),
        ("REPLIKIT_REPL_HOST", "127.0.0.1".to_string()),
        // As in a container: replikit hands the server its options and
        // its init-file, so the replica's server starts fenced
        // (super_read_only), which refuses INSTALL PLUGIN.
        ("REPLIKIT_SERVER_ID_VIA", "arg".to_string()),
        ("REPLIKIT_SERVER_ID", "4242".to_string()),
    ]);
    let stop = AtomicBool::new(false);
    let written = AtomicU32::new(0);
    let replica = std::thread::scope(|s| {
        s.spawn(|| writer(&primary, &stop, &written));
        wait_for(Duration::from_secs(30), "the writer to start", || {
            written.load(Ordering::SeqCst) > 0
        });
        let replica = Server::start_replicating_under_replikit(flavor, &env);
        wait_for(
            Duration::from_secs(120),
            "the cloned replica to replicate",
            || replica.replikit_log().contains("replication: replica of"),
        );
        let seen = written.load(Ordering::SeqCst);
        wait_for(Duration::from_secs(30), "more writes", || {
            written.load(Ordering::SeqCst) > seen + 5
        });
        stop.store(true, Ordering::SeqCst);
        replica
    });
    let log = replica.replikit_log();
    assert!(log.contains("with clone"), "{log}");
    assert!(
        log.contains("starting \"mysqld\" again, on the copied data"),
        "{log}"
    );
    assert!(!log.contains("with a dump"), "{log}");
    assert!(!log.contains("비밀"), "the password in the log");

    events_stay_on_the_source(&primary, &replica);
    verified_clean(&replica, &primary, 4);
    seeded_rows_replicate(&primary, &replica);
    let status = replica.replica_status().unwrap();
    assert_eq!(status["Auto_Position"], "1");
    // docker stop: replikit passes SIGTERM on and ends with mysqld's code.
    assert_eq!(replica.stop(), 0);
}

/// A source with no user data left but purged binary logs (a schema made
/// and dropped, then PURGE BINARY LOGS): a new replica cannot replay from
/// the start (MariaDB refused it, and a dump of no schemas failed on
/// MySQL), so it starts from the source's current position, and replicates.
fn purged_without_data(flavor: Flavor) {
    let primary = primary(flavor);
    primary.sql("CREATE DATABASE gone; CREATE TABLE gone.t (id INT PRIMARY KEY); INSERT INTO gone.t VALUES (1); DROP DATABASE gone");
    purge_early_logs(&primary);
    let replica = Server::start_replicating(flavor);
    let log = ok(
        &replikit(&replica, &primary.as_source_env(), &["prepare"]),
        "new replica",
    );
    assert!(
        log.contains("the source has purged binary logs that a new replica would need"),
        "{log}"
    );
    assert!(log.contains("with its current position alone"), "{log}");
    assert!(!log.contains("with a dump"), "{log}");
    primary.sql("CREATE DATABASE after; CREATE TABLE after.t (id INT PRIMARY KEY); INSERT INTO after.t VALUES (7)");
    replica.wait_for_rows("SELECT COUNT(*) FROM after.t", "1");
    let status = replica.replica_status().unwrap();
    assert_eq!(status["Replica_SQL_Running"], "Yes");
    assert_eq!(status["Replica_IO_Running"], "Yes");
    // `verify` reads `after` as the donor: refused until it is granted.
    let (code, out) = verify(&replica, &primary);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains(
            r#"the source's schemas ["after"] are not readable by this replica's account yet"#
        ),
        "{out}"
    );
    grant_new_schemas(&primary);
    verified_clean(&replica, &primary, 1);
}

mod purged_without_data {
    use super::*;
    per_flavor!(purged_without_data);
}

/// The donor account, as a replica logs in with it: it reads every user
/// schema (tables, routines' text) and none of the credential tables in
/// `mysql`, not even through a schema whose name is a grant wildcard
/// that would match `mysql` (`mysq_`).
fn the_donor_reads_user_schemas_only(flavor: Flavor) {
    use replikit::db::wire::{Conn, Remote};
    let primary = primary(flavor);
    primary.sql("CREATE DATABASE `mysq_`; CREATE TABLE `mysq_`.t (id INT PRIMARY KEY)");
    load_data(&primary);
    let donor = derived(PASSWORD, "replikit", "replikit donor account");
    let addr = format!("127.0.0.1:{}", primary.port).parse().unwrap();
    let mut conn = Conn::connect_tcp(
        addr,
        &Remote::plain("127.0.0.1"),
        "replikit_donor",
        &donor,
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("{flavor:?}: the donor logs in: {e:#}"));
    for readable in [
        "SELECT COUNT(*) AS n FROM shop.items",
        "SELECT COUNT(*) AS n FROM `mysq_`.t",
    ] {
        conn.query(readable)
            .unwrap_or_else(|e| panic!("{flavor:?}: {readable}: {e:#}"));
    }
    let routine = conn.query("SHOW CREATE PROCEDURE crm.add_person").unwrap();
    assert!(
        routine
            .get(0, "Create Procedure")
            .is_some_and(|text| text.contains("INSERT INTO crm.people")),
        "{flavor:?}: the routine's text is readable"
    );
    let credential_tables: &[&str] = match flavor {
        Flavor::MySql97 => &["mysql.user", "mysql.slave_master_info", "mysql.db"],
        _ => &["mysql.user", "mysql.global_priv", "mysql.db"],
    };
    for table in credential_tables {
        let denied = conn
            .query(&format!("SELECT * FROM {table} LIMIT 1"))
            .err()
            .unwrap_or_else(|| panic!("{flavor:?}: the donor reads {table}"));
        assert!(
            format!("{denied:#}").contains("1142"),
            "{flavor:?} {table}: {denied:#}"
        );
    }
    // Every schema's name is visible, so a seed can tell what it cannot read.
    let schemas = conn.query("SHOW DATABASES").unwrap();
    assert!(schemas.rows.len() >= 4, "{flavor:?}");
}

mod the_donor_reads_user_schemas_only {
    use super::*;
    per_flavor!(the_donor_reads_user_schemas_only);
}

/// A replica set up by someone else (as an image's own entrypoint does)
/// whose source has since purged the logs it needs: its I/O thread stops
/// on error 1236 while its SQL thread runs. replikit reports that as the
/// error it is, with the way out, and never as success.
fn purged_logs_under_a_set_up_of_another(flavor: Flavor) {
    use replikit::db::sql::quote;
    let primary = primary(flavor);
    load_data(&primary);
    purge_early_logs(&primary);
    let replica = Server::start_replicating(flavor);
    let change = match flavor {
        Flavor::MySql97 => format!(
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST = '127.0.0.1', SOURCE_PORT = {}, SOURCE_USER = '{USER}', \
             SOURCE_PASSWORD = {}, SOURCE_AUTO_POSITION = 1, GET_SOURCE_PUBLIC_KEY = 1",
            primary.port,
            quote(PASSWORD)
        ),
        _ => format!(
            "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, MASTER_USER = '{USER}', \
             MASTER_PASSWORD = {}, MASTER_USE_GTID = slave_pos",
            primary.port,
            quote(PASSWORD)
        ),
    };
    replica.sql(&format!("{change}; START REPLICA"));
    // 1236, which MySQL 8+ shows as 13114.
    let mut last = None;
    let stopped = (0..60).any(|_| {
        last = replica.replica_status();
        let gone = last
            .as_ref()
            .is_some_and(|s| ["1236", "13114"].contains(&s["Last_IO_Errno"].as_str()));
        if !gone {
            std::thread::sleep(Duration::from_secs(1));
        }
        gone
    });
    assert!(stopped, "{flavor:?}: no 1236 within 60 s: {last:?}");
    let out = replikit(&replica, &primary.as_source_env(), &["prepare"]);
    no_secret(&out);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert!(
        err.contains("the source no longer has the binary logs this replica needs (")
            && err.contains("empty its data directory"),
        "{err}"
    );
    assert!(!err.contains("replication: replica of"), "{err}");
    assert_eq!(
        replica.sql("SELECT @@read_only"),
        "1",
        "a refused replica takes no application writes"
    );
}

mod purged_logs_under_a_set_up_of_another {
    use super::*;
    per_flavor!(purged_logs_under_a_set_up_of_another);
}
