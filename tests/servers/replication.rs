//! `replikit prepare` on real servers of every flavor: the primary creates
//! its replication account, replicas point their servers at it, rows flow,
//! a second run changes nothing, and a replica of another source is refused.

use std::process::Output;
use std::time::Duration;

use crate::common::servers::{free_port, Flavor, Server};
use crate::common::*;

const USER: &str = "repl";
/// Hostile, within what both products can store as a replication password
/// (replikit refuses the rest up front; see src/db/flavor.rs): at most 32
/// bytes for MySQL, no line feed, no character beyond U+FFFF.
const PASSWORD: &str = "x'; DROP -- \\ \"비밀\" %";

fn prepare(server: &Server, env: &[(&str, String)]) -> Output {
    prepare_with_password(server, env, PASSWORD)
}

fn prepare_with_password(server: &Server, env: &[(&str, String)], password: &str) -> Output {
    let mut cmd = replikit(server, env, password);
    cmd.arg("prepare").env("REPLIKIT_PREPARE_TIMEOUT", "30s");
    cmd.bounded()
}

/// replikit for `server`, with nothing from our environment but PATH, the
/// replication account and `env`.
fn replikit(server: &Server, env: &[(&str, String)], password: &str) -> std::process::Command {
    server.replikit_with(Some((USER, password)), env)
}

/// `replikit` without a replication account (root-credentials mode), inside the
/// server's root filesystem, where the dump tools for seeding are.
fn replikit_without_account(server: &Server, env: &[(&str, String)]) -> std::process::Command {
    server.replikit_with(None, env)
}

/// `replikit prepare` on the primary again, as an operator runs it after
/// creating schemas: a one-shot set-up grants the donor the schemas that
/// exist when it runs (replikit as PID 1 grants new ones by itself).
fn grant_new_schemas(primary: &Server) {
    ok(
        &prepare(primary, &[("MYSQL_MASTER", "1".into())]),
        "prepare on the primary again",
    );
}

fn replica_env(source: &Server) -> Vec<(&'static str, String)> {
    source.as_source_env()
}

fn ok(out: &Output, what: &str) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(0), "{what}: {err}");
    assert!(
        !err.contains("비밀") && !String::from_utf8_lossy(&out.stdout).contains("비밀"),
        "password in output"
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn wait_for_rows(server: &Server, query: &str, want: &str) {
    server.wait_for_rows(query, want)
}

fn check(flavor: Flavor) {
    let primary = Server::start_replicating(flavor);
    let replicas = [
        Server::start_replicating(flavor),
        Server::start_replicating(flavor),
    ];

    let done = ok(
        &prepare(&primary, &[("MYSQL_MASTER", "1".into())]),
        "primary",
    );
    assert!(done.contains("replication account repl"), "{done}");
    let grants = primary.sql("SHOW GRANTS FOR 'repl'@'127.0.0.1'");
    assert!(
        grants.contains("REPLICATION SLAVE") && !grants.contains("ALL PRIVILEGES"),
        "{grants}"
    );

    for r in &replicas {
        let line = ok(&prepare(r, &replica_env(&primary)), "replica");
        assert!(
            line.starts_with(&format!("replica of 127.0.0.1:{}", primary.port)),
            "{line}"
        );
    }
    primary.sql("CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY, v TEXT); INSERT INTO app.t VALUES (1, 'one')");
    for r in &replicas {
        wait_for_rows(r, "SELECT v FROM app.t WHERE id = 1", "one");
        assert_eq!(r.sql("SELECT @@read_only"), "1");
    }
    if flavor == Flavor::MySql97 {
        // super_read_only stops even root.
        let refused = replicas[0]
            .sql_result("INSERT INTO app.t VALUES (9, 'nine')")
            .unwrap_err();
        assert!(refused.contains("super-read-only"), "{refused}");
    }

    // A second run (a container restart) leaves a working replica alone.
    let before = replicas[0].sql("SELECT COUNT(*) FROM app.t");
    ok(
        &prepare(&replicas[0], &replica_env(&primary)),
        "replica again",
    );
    primary.sql("INSERT INTO app.t VALUES (2, 'two')");
    wait_for_rows(
        &replicas[0],
        "SELECT COUNT(*) FROM app.t",
        &(before.parse::<u32>().unwrap() + 1).to_string(),
    );

    // Pointing it at another source is refused, not done.
    let other = prepare(&replicas[0], &replica_env(&replicas[1]));
    assert_eq!(other.status.code(), Some(69), "{}", stderr(&other));
    let err = stderr(&other);
    assert!(
        err.contains(&format!("follows 127.0.0.1:{}", primary.port)),
        "{err}"
    );
    assert!(
        err.contains(&format!("not 127.0.0.1:{}", replicas[1].port)),
        "{err}"
    );
    primary.sql("INSERT INTO app.t VALUES (3, 'three')");
    wait_for_rows(&replicas[0], "SELECT v FROM app.t WHERE id = 3", "three");
}

per_flavor!(check);

/// Servers whose global settings would break naive quoting: sql_mode with
/// NO_BACKSLASH_ESCAPES and ANSI_QUOTES, and GBK as the character set every
/// session starts with (character_set_client included, where the server
/// ignores the client's). replikit pins its sessions to utf8mb4 and its own
/// sql_mode, so the hostile replication password (backslash, quotes,
/// Korean) is stored byte for byte on the primary and on the replica, and
/// replication works; a seed too.
fn hostile_server_settings(flavor: Flavor) {
    let options = match flavor {
        // MySQL 8+ removed the option that forces the server's character
        // set on clients; GBK is then the server's and the database's.
        Flavor::MySql97 => "--sql-mode=NO_BACKSLASH_ESCAPES,ANSI_QUOTES --character-set-server=gbk",
        _ => "--sql-mode=NO_BACKSLASH_ESCAPES,ANSI_QUOTES --character-set-server=gbk --character-set-client-handshake=OFF",
    };
    let primary = Server::start_replicating_with(flavor, options);
    let replica = Server::start_replicating_with(flavor, options);
    assert!(primary
        .sql("SELECT @@GLOBAL.sql_mode")
        .contains("NO_BACKSLASH_ESCAPES"));
    ok(
        &prepare(&primary, &[("MYSQL_MASTER", "1".into())]),
        "primary",
    );
    primary.sql("CREATE DATABASE hostile; CREATE TABLE hostile.t (id INT PRIMARY KEY); INSERT INTO hostile.t VALUES (1)");
    grant_new_schemas(&primary);
    ok(&prepare(&replica, &replica_env(&primary)), "replica");
    wait_for_rows(&replica, "SELECT id FROM hostile.t", "1");
    primary.sql("INSERT INTO hostile.t VALUES (2)");
    wait_for_rows(&replica, "SELECT COUNT(*) FROM hostile.t", "2");
    // The replica logs in with the password as given: it was stored right.
    let status = replica.replica_status().unwrap();
    assert_eq!(status["Replica_IO_Running"], "Yes", "{status:?}");
}

mod hostile_server_settings {
    use super::*;
    per_flavor!(hostile_server_settings);
}

/// The root password of the sources in root-credentials mode: hostile too, and
/// long enough to need more than one block of the RSA-encrypted log-in.
const ADMIN_PASSWORD: &str = "r'; DROP DATABASE mysql; -- \\ \"루트\" 🔑 %";

/// Root-credentials mode: a replica given only the source's root password creates
/// its own replication account on the source, with least privilege, and
/// needs root no more once it replicates.
fn root_credentials_mode(flavor: Flavor) {
    let primary = Server::start_replicating(flavor);
    let replica = Server::start_replicating(flavor);
    let admin = "'root'@'127.0.0.1'";
    primary.sql(&format!(
        "CREATE USER IF NOT EXISTS {admin}; ALTER USER {admin} IDENTIFIED BY {}; \
         GRANT ALL ON *.* TO {admin} WITH GRANT OPTION",
        replikit::db::sql::quote(ADMIN_PASSWORD)
    ));
    // `allow`: the operator accepts an unverified source for the root login.
    let seed_prepare = |admin_password: &str, allow: bool| {
        let mut env = replica_env(&primary);
        env.push(("MYSQL_MASTER_ROOT_PASSWORD", admin_password.to_string()));
        if allow {
            env.push(("REPLIKIT_ROOT_LOGIN_UNVERIFIED", "allow".to_string()));
        }
        let out = replikit_without_account(&replica, &env)
            .arg("prepare")
            .env("REPLIKIT_PREPARE_TIMEOUT", "30s")
            .bounded();
        for shown in [
            stderr(&out),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ] {
            assert!(
                !shown.contains("루트"),
                "the root password in output: {shown}"
            );
        }
        out
    };

    // Without TLS or a pinned key nothing verifies the source: the root
    // password is not sent unless the operator opts in.
    let unverified = seed_prepare(ADMIN_PASSWORD, false);
    assert_eq!(
        unverified.status.code(),
        Some(69),
        "{}",
        stderr(&unverified)
    );
    assert!(
        stderr(&unverified).contains("REPLIKIT_ROOT_LOGIN_UNVERIFIED=allow"),
        "{}",
        stderr(&unverified)
    );
    assert_eq!(replica.replica_status(), None);

    // A wrong root password: a clear error, nothing configured.
    let refused = seed_prepare("not the password", true);
    assert_eq!(refused.status.code(), Some(69), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("MYSQL_MASTER_ROOT_PASSWORD"),
        "{}",
        stderr(&refused)
    );
    assert!(!stderr(&refused).contains("not the password"));
    assert_eq!(replica.replica_status(), None);

    let line = ok(&seed_prepare(ADMIN_PASSWORD, true), "seed-mode replica");
    assert!(line.starts_with("replica of 127.0.0.1"), "{line}");
    let grants = primary.sql("SHOW GRANTS FOR 'replikit_repl'@'127.0.0.1'");
    assert!(
        grants.contains("REPLICATION SLAVE") && !grants.contains("ALL PRIVILEGES"),
        "{grants}"
    );
    let status = replica.replica_status().unwrap();
    assert_eq!(status["Source_User"], "replikit_repl");
    primary.sql("CREATE DATABASE seedmode; CREATE TABLE seedmode.t (id INT PRIMARY KEY); INSERT INTO seedmode.t VALUES (1)");
    wait_for_rows(&replica, "SELECT id FROM seedmode.t", "1");

    // A restart of a working replica leaves it alone: root is not needed,
    // so even a wrong root password changes nothing.
    ok(
        &seed_prepare("changed since", true),
        "seed-mode replica again",
    );
    primary.sql("INSERT INTO seedmode.t VALUES (2)");
    wait_for_rows(&replica, "SELECT COUNT(*) FROM seedmode.t", "2");
}

mod root_credentials_mode {
    use super::*;
    per_flavor!(root_credentials_mode);
}

/// replikit as a container's entrypoint would run it: the replica's replikit
/// starts before its primary's, sets up replication in the background while
/// it supervises the command, and the first row written on the primary
/// arrives without anyone running `prepare`.
fn in_the_background(flavor: Flavor) {
    let primary = Server::start_replicating(flavor);
    let replica = Server::start_replicating(flavor);
    // On the host: no seeding happens (the replica joins an empty source),
    // and the supervisor wants /proc, which the root filesystems lack.
    let entrypoint = |server: &Server, env: &[(&str, String)]| {
        let mut cmd = std::process::Command::new(bin());
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("REPLIKIT_SOCKET", server.socket())
            .env("REPLIKIT_REPL_HOST", "127.0.0.1")
            .env("MYSQL_REPL_USER", USER)
            .env("MYSQL_REPL_PASSWORD", PASSWORD)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(["--", "sleep", "300"])
            .env("REPLIKIT_SERVER_ID_VIA", "off")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        Entrypoint(Some(cmd.spawn().unwrap()))
    };
    let replica_pid1 = entrypoint(&replica, &replica_env(&primary));
    std::thread::sleep(Duration::from_millis(500));
    let primary_pid1 = entrypoint(&primary, &[("MYSQL_MASTER", "1".into())]);
    wait_for(Duration::from_secs(60), "the replication account", || {
        primary
            .sql_result("SELECT COUNT(*) FROM mysql.user WHERE user = 'repl'")
            .map(|n| n == "1")
            .unwrap_or(false)
    });
    // Written once the replica follows: data there before it joined would
    // have it seeded, with dump tools the host does not have.
    wait_for(Duration::from_secs(60), "the replica to follow", || {
        replica.replica_status().is_some()
    });
    primary.sql(
        "CREATE DATABASE bg; CREATE TABLE bg.t (id INT PRIMARY KEY); INSERT INTO bg.t VALUES (7)",
    );
    wait_for_rows(&replica, "SELECT id FROM bg.t", "7");
    // A replica without the donor account, as one seeded by a dump is (the
    // dump leaves `mysql` out): the primary's replikit grants a new schema
    // to the donor on the primary alone, so the replica goes on applying.
    let unlock = if flavor == Flavor::MySql97 {
        "SET GLOBAL super_read_only = OFF;"
    } else {
        ""
    };
    replica.sql(&format!(
        "{unlock} SET SESSION sql_log_bin = 0; DROP USER 'replikit_donor'@'127.0.0.1'; SET GLOBAL read_only = ON"
    ));
    primary.sql("CREATE DATABASE bg2; CREATE TABLE bg2.t (id INT PRIMARY KEY)");
    wait_for(Duration::from_secs(30), "bg2 granted to the donor", || {
        primary.sql(
            "SELECT COUNT(*) FROM information_schema.schema_privileges \
             WHERE table_schema = 'bg2' AND grantee LIKE '%replikit_donor%'",
        ) != "0"
    });
    primary.sql("INSERT INTO bg2.t VALUES (8)");
    wait_for_rows(&replica, "SELECT id FROM bg2.t", "8");
    assert_eq!(
        replica.replica_status().unwrap()["Replica_SQL_Running"],
        "Yes"
    );
    for (name, pid1) in [("replica", replica_pid1), ("primary", primary_pid1)] {
        let (code, log) = pid1.stop();
        assert_eq!(code, 143, "{name}: {log}");
        assert!(log.contains("replication: "), "{name}: {log}");
        assert!(!log.contains("비밀"), "{name} logged the password: {log}");
    }
}

/// A running replikit; killed if the test fails before `stop`.
struct Entrypoint(Option<std::process::Child>);

impl Entrypoint {
    /// SIGTERM (forwarded to `sleep`), then the exit code and the log.
    fn stop(mut self) -> (i32, String) {
        let child = self.0.take().unwrap();
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let out = child.wait_with_output().unwrap();
        (out.status.code().unwrap_or(-1), stderr(&out))
    }
}

impl Drop for Entrypoint {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn mariadb_11_8_in_the_background() {
    in_the_background(Flavor::MariaDb118);
}

#[test]
fn mysql_9_7_in_the_background() {
    in_the_background(Flavor::MySql97);
}

/// MySQL without GTIDs (the default before 9.x, where it became ON, so the
/// test switches them off): a new replica is seeded and starts by the
/// snapshot's coordinates, or, with REPLIKIT_SEED=none, at the oldest
/// binary log; either way rows written before it joined arrive too, and the
/// account still needs only REPLICATION SLAVE. A replica with GTIDs on is
/// not pointed at a source without them.
#[test]
fn mysql_9_7_without_gtids() {
    let no_gtids = "--log-bin=binlog --binlog-format=ROW --server-id=PORT --gtid-mode=OFF";
    let primary = Server::start_with(Flavor::MySql97, no_gtids);
    let replica = Server::start_with(Flavor::MySql97, no_gtids);
    let unseeded = Server::start_with(Flavor::MySql97, no_gtids);
    let with_gtids = Server::start_replicating(Flavor::MySql97);

    ok(
        &prepare(&primary, &[("MYSQL_MASTER", "1".into())]),
        "primary",
    );
    let grants = primary.sql("SHOW GRANTS FOR 'repl'@'127.0.0.1'");
    assert!(
        grants.contains("GRANT REPLICATION SLAVE ON") && !grants.contains("ALL"),
        "{grants}"
    );
    primary.sql("CREATE DATABASE early; CREATE TABLE early.t (id INT PRIMARY KEY); INSERT INTO early.t VALUES (1)");
    // Rotate, so the oldest binary log is not the current one.
    primary.sql("FLUSH BINARY LOGS; INSERT INTO early.t VALUES (2)");
    grant_new_schemas(&primary);

    ok(&prepare(&replica, &replica_env(&primary)), "replica");
    let status = replica.replica_status().unwrap();
    assert_eq!(status["Auto_Position"], "0");
    assert_ne!(
        status["Source_Log_File"], "binlog.000001",
        "seeded at the snapshot"
    );
    let mut env = replica_env(&primary);
    env.push(("REPLIKIT_SEED", "none".into()));
    ok(&prepare(&unseeded, &env), "replica with REPLIKIT_SEED=none");
    primary.sql("INSERT INTO early.t VALUES (3)");
    for r in [&replica, &unseeded] {
        wait_for_rows(
            r,
            "SELECT GROUP_CONCAT(id ORDER BY id) FROM early.t",
            "1,2,3",
        );
    }

    // A restart leaves it alone: the position carries on, nothing twice.
    ok(&prepare(&replica, &replica_env(&primary)), "replica again");
    primary.sql("INSERT INTO early.t VALUES (4)");
    wait_for_rows(
        &replica,
        "SELECT GROUP_CONCAT(id ORDER BY id) FROM early.t",
        "1,2,3,4",
    );
    let status = replica.replica_status().unwrap();
    assert_eq!(status["Last_SQL_Errno"], "0");

    let mixed = prepare(&with_gtids, &replica_env(&primary));
    assert_eq!(mixed.status.code(), Some(69), "{}", stderr(&mixed));
    let err = stderr(&mixed);
    assert!(
        err.contains("gtid_mode is OFF on the source but ON on this replica"),
        "{err}"
    );
    assert_eq!(with_gtids.replica_status(), None);
}

/// A test CA and a certificate for 127.0.0.1 signed by it, in the flavor's
/// root filesystem; returns the folder as the servers see it.
fn certificates(flavor: Flavor) -> String {
    certificates_of(flavor, "ca")
}

/// `certificates` from a CA of its own, named `tag`.
pub fn certificates_of(flavor: Flavor, tag: &str) -> String {
    require_tool("openssl");
    let inside = format!("/tmp/replikit-tls-{tag}-{}", std::process::id());
    let dir = flavor.rootfs().join(inside.trim_start_matches('/'));
    std::fs::create_dir_all(&dir).unwrap();
    let script = "set -e
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=replikit-test-ca -keyout ca-key.pem -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server-key.pem -out server.csr
        echo subjectAltName=IP:127.0.0.1 > san.ext
        openssl x509 -req -days 2 -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -extfile san.ext -out server-cert.pem";
    let out = std::process::Command::new("sh")
        .args(["-c", script])
        .current_dir(&dir)
        .bounded();
    assert!(out.status.success(), "openssl: {}", stderr(&out));
    inside
}

/// REPLIKIT_REPL_SSL against a source whose replication account requires
/// TLS: `on` and a CA file replicate (the CA one with the certificate
/// checked), `off` is refused by the source.
fn tls(flavor: Flavor) {
    let certs = certificates(flavor);
    let primary = Server::start_replicating_with(
        flavor,
        &format!("--ssl-ca={certs}/ca.pem --ssl-cert={certs}/server-cert.pem --ssl-key={certs}/server-key.pem"),
    );
    ok(
        &prepare(&primary, &[("MYSQL_MASTER", "1".into())]),
        "primary",
    );
    primary.sql("ALTER USER 'repl'@'127.0.0.1' REQUIRE SSL; CREATE DATABASE tls; CREATE TABLE tls.t (id INT PRIMARY KEY); INSERT INTO tls.t VALUES (1)");
    grant_new_schemas(&primary);
    for (setting, verified) in [(format!("{certs}/ca.pem"), "Yes"), ("on".into(), "No")] {
        let replica = Server::start_replicating(flavor);
        let mut env = replica_env(&primary);
        env.push(("REPLIKIT_REPL_SSL", setting.clone()));
        ok(&prepare(&replica, &env), &setting);
        wait_for_rows(&replica, "SELECT id FROM tls.t", "1");
        let status = replica.replica_status().unwrap();
        assert_eq!(
            status["Source_SSL_Verify_Server_Cert"], verified,
            "{setting}"
        );
    }
    let plain = Server::start_replicating(flavor);
    if flavor == Flavor::MySql97 {
        // replikit itself logs in to check gtid_mode, and is refused.
        let out = replikit(&plain, &replica_env(&primary), PASSWORD)
            .args(["prepare", "--timeout", "3s"])
            .bounded();
        assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("server error 1045"),
            "{}",
            stderr(&out)
        );
    } else {
        ok(&prepare(&plain, &replica_env(&primary)), "off");
        wait_for(
            Duration::from_secs(60),
            "the source to refuse a replica without TLS",
            || plain.replica_status().unwrap()["Last_IO_Errno"] == "1045",
        );
    }
    if flavor == Flavor::MySql97 {
        // Refused before anything was copied.
        assert!(plain.sql_result("SELECT id FROM tls.t").is_err());
    }
}

mod tls {
    use super::*;
    per_flavor!(tls);
}

/// REPLIKIT_SSL_MODE against a source that takes only TLS
/// (require_secure_transport): replikit's own log-ins, the seed and the
/// replication channel work in every mode that encrypts, `verify` too;
/// root-credentials mode sends the root password over verified TLS; off
/// is refused; and verify-ca refuses a server whose certificate another CA
/// signed.
fn tls_modes(flavor: Flavor) {
    let certs = certificates(flavor);
    let tls_options = |dir: &str| {
        format!(
            "--ssl-ca={dir}/ca.pem --ssl-cert={dir}/server-cert.pem --ssl-key={dir}/server-key.pem --require-secure-transport=ON"
        )
    };
    let primary = Server::start_replicating_with(flavor, &tls_options(&certs));
    let ca = format!("{certs}/ca.pem");
    let with_ca = |mode: &str| -> Vec<(&'static str, String)> {
        vec![
            ("REPLIKIT_SSL_MODE", mode.to_string()),
            ("REPLIKIT_SSL_CA", ca.clone()),
        ]
    };
    // The primary's own set-up runs over its socket, which counts as secure.
    ok(
        &prepare(&primary, &[("MYSQL_MASTER", "1".into())]),
        "primary",
    );
    primary.sql("CREATE DATABASE modes; CREATE TABLE modes.t (id INT PRIMARY KEY); INSERT INTO modes.t VALUES (1)");
    grant_new_schemas(&primary);
    let mariadb = flavor != Flavor::MySql97;
    type Env = Vec<(&'static str, String)>;
    let cases: Vec<(&str, Env, &str)> = vec![
        (
            "preferred",
            vec![("REPLIKIT_SSL_MODE", "preferred".into())],
            "No",
        ),
        (
            "required",
            vec![("REPLIKIT_SSL_MODE", "required".into())],
            "No",
        ),
        // MariaDB's replica has no chain-only check: verify-ca checks the name too.
        (
            "verify-ca",
            with_ca("verify-ca"),
            if mariadb { "Yes" } else { "No" },
        ),
        ("verify-identity", with_ca("verify-identity"), "Yes"),
    ];
    for (mode, settings, verified) in cases {
        let replica = Server::start_replicating(flavor);
        let mut env = replica_env(&primary);
        env.extend(settings.clone());
        ok(&prepare(&replica, &env), mode);
        wait_for_rows(&replica, "SELECT id FROM modes.t", "1");
        let status = replica.replica_status().unwrap();
        assert_eq!(status["Source_SSL_Allowed"], "Yes", "{mode}");
        assert_eq!(status["Source_SSL_Verify_Server_Cert"], verified, "{mode}");
        let out = replikit(&replica, &env, PASSWORD)
            .args(["verify", "--timeout", "30s"])
            .bounded();
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", stderr(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("0 differences"),
            "{mode}"
        );
        assert!(
            !stderr(&out).contains("without verifying"),
            "{mode}: no warning on this command's stderr expected"
        );
    }

    // Root-credentials mode over verified TLS: no opt-in needed.
    let admin = "'root'@'127.0.0.1'";
    primary.sql(&format!(
        "CREATE USER IF NOT EXISTS {admin}; ALTER USER {admin} IDENTIFIED BY 'root-over-tls'; \
         GRANT ALL ON *.* TO {admin} WITH GRANT OPTION"
    ));
    let replica = Server::start_replicating(flavor);
    let mut env = replica_env(&primary);
    env.extend(with_ca("verify-identity"));
    env.push(("MYSQL_MASTER_ROOT_PASSWORD", "root-over-tls".into()));
    let out = replikit_without_account(&replica, &env)
        .arg("prepare")
        .env("REPLIKIT_PREPARE_TIMEOUT", "30s")
        .bounded();
    ok(&out, "root-credentials mode over verified TLS");
    wait_for_rows(&replica, "SELECT id FROM modes.t", "1");

    // Off: the source refuses replikit's own log-in (MySQL needs one to
    // choose the position) or the replica's (MariaDB).
    let plain = Server::start_replicating(flavor);
    let out = replikit(&plain, &replica_env(&primary), PASSWORD)
        .args(["prepare", "--timeout", "5s"])
        .bounded();
    if mariadb {
        ok(&out, "off");
        wait_for(
            Duration::from_secs(60),
            "the source to refuse a replica without TLS",
            || plain.replica_status().unwrap()["Last_IO_Errno"] != "0",
        );
    } else {
        assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("insecure transport"),
            "{}",
            stderr(&out)
        );
    }

    // Another CA's certificate: verify-ca refuses before any log-in.
    let other = certificates_of(flavor, "other");
    let impostor = Server::start_replicating_with(flavor, &tls_options(&other));
    ok(
        &prepare(&impostor, &[("MYSQL_MASTER", "1".into())]),
        "impostor",
    );
    let victim = Server::start_replicating(flavor);
    let mut env = replica_env(&impostor);
    env.extend(with_ca("verify-ca"));
    let out = replikit(&victim, &env, PASSWORD)
        .args(["prepare", "--timeout", "5s"])
        .bounded();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert!(err.contains("TLS handshake"), "{err}");
    assert_eq!(victim.replica_status(), None);
}

mod tls_modes {
    use super::*;
    per_flavor!(tls_modes);
}

/// MySQL without TLS, the source's RSA key pinned
/// (REPLIKIT_SOURCE_PUBLIC_KEY): root-credentials mode counts the source
/// as verified, replikit and the replication channel encrypt to the pinned
/// key (SOURCE_PUBLIC_KEY_PATH); a substituted key (any other) is refused
/// by the source, and nothing is set up.
#[test]
fn mysql_9_7_pinned_source_key() {
    let flavor = Flavor::MySql97;
    let primary = Server::start_replicating(flavor);
    ok(
        &prepare(&primary, &[("MYSQL_MASTER", "1".into())]),
        "primary",
    );
    let admin = "'root'@'127.0.0.1'";
    primary.sql(&format!(
        "CREATE USER IF NOT EXISTS {admin}; ALTER USER {admin} IDENTIFIED WITH caching_sha2_password BY 'pinned-root'; \
         GRANT ALL ON *.* TO {admin} WITH GRANT OPTION; CREATE DATABASE pinned; CREATE TABLE pinned.t (id INT PRIMARY KEY); \
         INSERT INTO pinned.t VALUES (1)"
    ));
    // The source's own key, as a path in the (shared) root filesystem.
    let key = format!("{}/data/public_key.pem", primary.dir);
    let run = |replica: &Server, key: &str| {
        let mut env = replica_env(&primary);
        env.push(("MYSQL_MASTER_ROOT_PASSWORD", "pinned-root".into()));
        env.push(("REPLIKIT_SOURCE_PUBLIC_KEY", key.to_string()));
        replikit_without_account(replica, &env)
            .args(["prepare", "--timeout", "10s"])
            .bounded()
    };
    // Another key, standing in for one a man in the middle would send.
    let wrong = format!("/tmp/replikit-wrong-key-{}.pem", std::process::id());
    std::fs::write(
        flavor.rootfs().join(wrong.trim_start_matches('/')),
        include_str!("../../src/db/testdata/rsa2048.pub.pem"),
    )
    .unwrap();
    let victim = Server::start_replicating(flavor);
    let out = run(&victim, &wrong);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("server error 1045"),
        "{}",
        stderr(&out)
    );
    assert_eq!(victim.replica_status(), None);

    let replica = Server::start_replicating(flavor);
    ok(&run(&replica, &key), "pinned key");
    wait_for_rows(&replica, "SELECT id FROM pinned.t", "1");
    let status = replica.replica_status().unwrap();
    assert_eq!(status["Source_public_key_path"], key);
    assert_eq!(status["Get_Source_public_key"], "0");
}

/// The source restarts (a clean stop, as `docker restart` does): the
/// replicas resume by themselves, from where they were, with nothing
/// applied twice; a write made while they were cut off arrives too.
fn source_restart(flavor: Flavor) {
    let mut primary = Server::start_replicating(flavor);
    let replica = Server::start_replicating(flavor);
    ok(
        &prepare(&primary, &[("MYSQL_MASTER", "1".into())]),
        "primary",
    );
    ok(&prepare(&replica, &replica_env(&primary)), "replica");
    primary.sql("CREATE DATABASE restart; CREATE TABLE restart.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT); INSERT INTO restart.t (v) VALUES (1)");
    wait_for_rows(&replica, "SELECT COUNT(*) FROM restart.t", "1");

    primary.restart();
    primary.sql("INSERT INTO restart.t (v) VALUES (2)");
    primary.restart();
    primary.sql("INSERT INTO restart.t (v) VALUES (3)");
    wait_for_rows(
        &replica,
        "SELECT GROUP_CONCAT(v ORDER BY id) FROM restart.t",
        "1,2,3",
    );
    let status = replica.replica_status().unwrap();
    assert_eq!(status["Replica_IO_Running"], "Yes");
    assert_eq!(status["Last_SQL_Errno"], "0");
}

mod source_restart {
    use super::*;
    per_flavor!(source_restart);
}

/// MySQL keeps a replica read-only from the start of every later run (the
/// setting is persisted), so no application writes to it in the moment
/// before replikit connects; a replica turned primary takes writes again.
#[test]
fn mysql_9_7_read_only_is_persisted_for_replicas_only() {
    let primary = Server::start_replicating(Flavor::MySql97);
    let mut replica = Server::start_replicating(Flavor::MySql97);
    ok(
        &prepare(&primary, &[("MYSQL_MASTER", "1".into())]),
        "primary",
    );
    ok(&prepare(&replica, &replica_env(&primary)), "replica");
    replica.restart();
    assert_eq!(replica.sql("SELECT @@super_read_only"), "1");

    // Promoted by hand: no longer a replica, now run as a primary.
    replica.sql("STOP REPLICA; RESET REPLICA ALL");
    ok(
        &prepare(&replica, &[("MYSQL_MASTER", "1".into())]),
        "promoted",
    );
    replica.sql("CREATE DATABASE promoted");
    replica.restart();
    assert_eq!(replica.sql("SELECT @@read_only"), "0");
}

/// MySQL killed outright leaves `<socket>.lock` naming its PID; in the
/// next PID namespace that number may be one of replikit's own threads or
/// of the new server's, and MySQL would refuse to start ("Another process
/// with pid N is using unix socket file": the lease test met both).
/// replikit, PID 1 and running no server yet, removes the lock before it
/// starts the server.
#[test]
fn mysql_9_7_starts_again_over_a_killed_servers_socket_lock() {
    let port = free_port();
    let env = [("MYSQL_MASTER", "1".to_string())];
    let mut server = Server::start_under_replikit_on(Flavor::MySql97, port, "", &env);
    // A number the next start hands out again before MySQL looks: one of
    // replikit's threads, else (those that ended already) one of the
    // server's own.
    let tasks = server.namespace_tasks();
    let named = |name: &str| -> Vec<u32> {
        tasks
            .iter()
            .filter(|(pid, n)| *pid > 1 && n == name)
            .map(|(pid, _)| *pid)
            .collect()
    };
    let thread = named("replikit")
        .last()
        .or(named("mysqld").get(1))
        .copied()
        .unwrap_or_else(|| panic!("no thread beside the server's main one: {tasks:?}"));
    server.kill();
    let lock = server.own_path("sock.lock");
    assert!(lock.is_file(), "{} after a kill", lock.display());
    std::fs::write(&lock, thread.to_string()).unwrap();
    server.start_again();
    let log = server.replikit_log();
    assert!(
        log.contains(
            "sock.lock, left by a server that was killed (no server runs in this PID namespace yet)"
        ),
        "{log}"
    );
    let now: u32 = std::fs::read_to_string(&lock)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(now, thread, "the new server's lock");
}

/// Bad sources, on real servers: `replikit prepare` on a new replica exits
/// 69 with one error line naming the setting at fault and no password, and
/// leaves the replica without a replication set-up.
#[test]
fn bad_sources_are_refused_with_one_line_naming_the_setting() {
    let primary = Server::start_replicating(Flavor::MySql97);
    let replica = Server::start_replicating(Flavor::MySql97);
    let fresh = Server::start_replicating(Flavor::MySql97);
    let mariadb = Server::start_replicating(Flavor::MariaDb1011);
    ok(
        &prepare(&primary, &[("MYSQL_MASTER", "1".into())]),
        "primary",
    );
    ok(&prepare(&replica, &replica_env(&primary)), "replica");
    let closed_port = crate::common::servers::free_port().to_string();
    let at = |host: &str, port: &str| {
        vec![
            ("MYSQL_MASTER_HOST", host.to_string()),
            ("MYSQL_MASTER_PORT", port.to_string()),
        ]
    };
    // Name, the new replica, its source settings, the setting at fault.
    type BadSource<'a> = (&'a str, &'a Server, Vec<(&'a str, String)>, &'a str);
    let cases: Vec<BadSource> = vec![
        (
            "unresolvable source",
            &fresh,
            at("no-such-host.invalid", &primary.port.to_string()),
            "MYSQL_MASTER_HOST",
        ),
        (
            "nothing listens on the port",
            &fresh,
            at("127.0.0.1", &closed_port),
            "MYSQL_MASTER_PORT",
        ),
        (
            "the source is itself a replica",
            &fresh,
            replica_env(&replica),
            "MYSQL_MASTER_HOST",
        ),
        (
            "the source is of another product",
            &mariadb,
            replica_env(&primary),
            "MYSQL_MASTER_HOST",
        ),
    ];
    let mut failures = Vec::new();
    for (name, server, env, names) in cases {
        let mut cmd = replikit(server, &env, PASSWORD);
        cmd.arg("prepare").env("REPLIKIT_PREPARE_TIMEOUT", "8s");
        let out = cmd.bounded();
        let err = stderr(&out);
        let errors = error_lines(&err);
        eprintln!("{name}: {}", errors.join(" / "));
        let mut problems = Vec::new();
        if out.status.code() != Some(69) {
            problems.push(format!("exit {:?}, want 69", out.status.code()));
        }
        if errors.len() != 1 || !errors[0].contains(names) {
            problems.push(format!(
                "want one error line naming {names}, got {errors:?}"
            ));
        }
        if err.contains("비밀") || String::from_utf8_lossy(&out.stdout).contains("비밀") {
            problems.push("the password was printed".into());
        }
        let status = server.sql("SHOW REPLICA STATUS");
        if !status.is_empty() {
            problems.push(format!("replication was set up: {status}"));
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}\n  stderr: {err}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Root's password is not the one replikit was given (random, one-time or
/// changed since initialisation): the log says so as an error, once, within
/// a minute, naming the variable, instead of waiting in silence. One
/// flavor: the wait is real.
#[test]
fn a_refused_root_password_is_an_error_within_a_minute() {
    let server = Server::start_replicating(Flavor::MariaDb118);
    let out = replikit(
        &server,
        &[
            ("MYSQL_MASTER", "1".into()),
            ("MYSQL_ROOT_PASSWORD", "not-roots-password".into()),
            ("REPLIKIT_PREPARE_TIMEOUT", "55s".into()),
        ],
        PASSWORD,
    )
    .arg("prepare")
    .bounded_for(Duration::from_secs(120));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(69), "{err}");
    let refused: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("has refused root's password"))
        .collect();
    assert_eq!(refused.len(), 1, "{err}");
    assert!(
        refused[0].starts_with("replikit: error: the local server has refused root's password for 45s: MYSQL_ROOT_PASSWORD"),
        "{err}"
    );
    assert!(!err.contains("not-roots-password"), "{err}");
}

/// A new MySQL replica that replicates directly (REPLIKIT_SEED=none, or a
/// primary whose donor account it cannot read) carries the transactions of
/// its own first start: the official entrypoint loads the time zones with
/// the binary log on. Those GTIDs are the source's nowhere, errant ones
/// that would be sent to every replica of this one once it is promoted.
/// replikit forgets them on a replica without user data before it first
/// replicates; the rows stay.
#[test]
fn mysql_9_7_a_direct_replica_keeps_no_gtids_of_its_own_start() {
    let primary = Server::start_replicating(Flavor::MySql97);
    let replica = Server::start_replicating(Flavor::MySql97);
    ok(
        &prepare(&primary, &[("MYSQL_MASTER", "1".into())]),
        "primary",
    );
    primary.sql("CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY); INSERT INTO app.t VALUES (1)");
    // As at a first start: binary-logged writes to the system schema.
    replica.sql(
        "INSERT INTO mysql.time_zone_name (Name, Time_zone_id) VALUES ('Init/Zone', 1); \
         INSERT INTO mysql.time_zone (Time_zone_id, Use_leap_seconds) VALUES (1, 'N')",
    );
    assert_ne!(replica.sql("SELECT @@GLOBAL.gtid_executed"), "");

    let mut env = replica_env(&primary);
    env.push(("REPLIKIT_SEED", "none".into()));
    let out = prepare(&replica, &env);
    ok(&out, "replica with REPLIKIT_SEED=none");
    wait_for_rows(&replica, "SELECT COUNT(*) FROM app.t", "1");
    let executed = replica.sql("SELECT @@GLOBAL.gtid_executed");
    let on_primary = primary.sql("SELECT @@GLOBAL.gtid_executed");
    assert_eq!(
        primary.sql(&format!(
            "SELECT GTID_SUBSET('{}', '{}')",
            executed.replace("\\n", ""),
            on_primary.replace("\\n", "")
        )),
        "1",
        "errant GTIDs on the replica: {executed} (primary: {on_primary})"
    );
    assert_eq!(
        replica.sql("SELECT Name FROM mysql.time_zone_name WHERE Name = 'Init/Zone'"),
        "Init/Zone",
        "the rows of the first start stay"
    );
    assert!(
        stderr(&out).contains("transactions of its own first start"),
        "{}",
        stderr(&out)
    );
}
