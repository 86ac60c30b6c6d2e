//! The shipped image and compose.yaml, end to end in the real Docker engine,
//! on MariaDB 10.11 and MySQL 9.7: the README's main job (`scripts/cluster
//! up` and `check`), then what operators do to a running cluster: stop,
//! restart and kill nodes, and add a replica once data exists.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::cluster::{client_query, root_query, Cluster};
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

    // The server runs as the image's mysql user, not as root.
    for service in ["primary", "replica1", "replica2"] {
        let out = cluster.exec(service, crate::containers::SERVER_UID);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "999",
            "{base}: the server's uid in {service}"
        );
    }

    pool_follows_the_agent_check(&cluster);
    restart_a_replica(&cluster);
    stop_and_start_the_primary(&cluster);
    kill_and_start_the_primary(&cluster);
    stop_during_a_seed(&cluster);
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

/// `docker stop` of a new replica while it seeds. Its dump waits on a
/// table lock held on the primary, so the stop surely lands mid-seed:
/// replikit passes SIGTERM on, the dump tools end at once, replication's
/// set-up winds down, and the container exits 0 with no SIGKILL from
/// replikit or Docker. No file in the container or its volume holds a
/// password: not the secrets, not the donor's or the monitor's derived
/// ones, not replikit's local one. Started again, it seeds anew and
/// replicates.
fn stop_during_a_seed(cluster: &Cluster) {
    let base = cluster.base;
    let name = format!("{}-seedstop", cluster.project);
    let _cleanup = crate::containers::Cleanup(name.clone());
    let secret = |file: &str| std::fs::read_to_string(format!("deploy/secrets/{file}")).unwrap();
    let (root, repl) = (secret("mysql-root-password"), secret("mysql-repl-password"));
    let (root, repl) = (root.trim(), repl.trim());
    let donor = derived(repl, "replikit", "replikit donor account");
    // The monitor's password comes from replikit's local account, whose
    // password PID 1 keeps beside the socket while it runs, in the
    // server's init-file.
    let local_secret = |container: &str| {
        let out = Command::new("docker")
            .args(["exec", container, "cat", "/run/mysqld/replikit-init.sql"])
            .bounded();
        assert!(out.status.success(), "{base}: {}", stderr(&out));
        let sql = String::from_utf8_lossy(&out.stdout);
        let password = sql
            .lines()
            .find_map(|l| l.strip_prefix("ALTER USER 'replikit_local'@'localhost' IDENTIFIED BY '"))
            .and_then(|rest| rest.strip_suffix("';"));
        password
            .unwrap_or_else(|| panic!("{base}: no local password in the init-file"))
            .to_string()
    };
    let monitor = derived(
        &local_secret(&cluster.container("primary")),
        "",
        "replikit monitor account",
    );
    // The derivations above are the ones replikit used: both log in (the
    // monitor on the primary's socket, the donor from a replica's address).
    for (service, user, password, to) in [
        ("replica1", "replikit_donor", &donor, "-hprimary"),
        ("primary", "replikit_monitor", &monitor, ""),
    ] {
        let out = cluster.exec(service, &client_query(user, password, "SELECT 1", to));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "1",
            "{base}: {user}"
        );
    }
    // The donor reads user schemas, not the credential tables.
    let as_donor = |query: &str| {
        let out = cluster.exec(
            "replica1",
            &client_query("replikit_donor", &donor, query, "-hprimary"),
        );
        (
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            stderr(&out),
        )
    };
    assert!(
        as_donor("SELECT COUNT(*) > 0 FROM tododb.todo")
            .0
            .ends_with('1'),
        "{base}"
    );
    for table in ["mysql.user", "mysql.db"] {
        let (out, err) = as_donor(&format!("SELECT COUNT(*) FROM {table}"));
        let answer = format!("{out}{err}");
        assert!(
            answer.contains("ERROR 1142") && answer.contains("denied"),
            "{base}: the donor reads {table}: {answer}"
        );
    }

    // Run once (`client_query` picks one client), so that the lock is
    // gone for good once its session is killed.
    let hold = root_query("LOCK TABLES tododb.todo WRITE; SELECT SLEEP(900)", "");
    let out = Command::new("docker")
        .args([
            "exec",
            "-d",
            &cluster.container("primary"),
            "sh",
            "-c",
            &hold,
        ])
        .bounded();
    assert!(out.status.success(), "{base}: {}", stderr(&out));
    let holder = || {
        cluster.sql(
            "primary",
            "SELECT id FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(900)%'",
        )
    };
    wait_for(Duration::from_secs(30), "the lock on tododb.todo", || {
        !holder().is_empty()
    });

    let secrets = std::fs::canonicalize("deploy/secrets").unwrap();
    let mount = |file: &str| format!("{}/{file}:/run/secrets/{file}:ro", secrets.display());
    let out = Command::new("docker")
        .args(["run", "-d", "--name", &name, "-v", "/var/lib/mysql"])
        .args(["--network", &format!("{}_db", cluster.project)])
        .args(["--ip", &format!("{}.14", cluster.net)])
        .args([
            "-v",
            &mount("mysql-root-password"),
            "-v",
            &mount("mysql-repl-password"),
        ])
        .args([
            "-e",
            "MYSQL_ROOT_PASSWORD_FILE=/run/secrets/mysql-root-password",
        ])
        .args([
            "-e",
            "MYSQL_MASTER_HOST=primary",
            "-e",
            "MYSQL_REPL_USER=repl",
        ])
        .args([
            "-e",
            "MYSQL_REPL_PASSWORD_FILE=/run/secrets/mysql-repl-password",
        ])
        .args(["-e", "REPLIKIT_SEED=dump", &cluster.image])
        .bounded();
    assert!(out.status.success(), "{base}: {}", stderr(&out));
    let logs = || {
        let out = Command::new("docker").args(["logs", &name]).bounded();
        format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out))
    };
    wait_for(
        Duration::from_secs(300),
        &format!("{base}: the dump to wait on the lock"),
        || {
            cluster.sql(
                "primary",
                "SELECT COUNT(*) FROM information_schema.processlist \
             WHERE user = 'replikit_donor' AND state LIKE 'Waiting%'",
            ) != "0"
        },
    );

    // This replica's own local password, which must be gone after the stop.
    let local = local_secret(&name);
    let started = Instant::now();
    let out = Command::new("docker")
        .args(["stop", "-t", "120", &name])
        .bounded_for(Duration::from_secs(300));
    assert!(out.status.success(), "{base}: {}", stderr(&out));
    eprintln!("{base}: docker stop mid-seed took {:?}", started.elapsed());
    let inspect = |format: &str| {
        let out = Command::new("docker")
            .args(["inspect", "-f", format, &name])
            .bounded();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let log = logs();
    assert_eq!(inspect("{{.State.ExitCode}}"), "0", "{base}: {log}");
    assert!(
        log.contains("replikit: info: seeding from primary:3306"),
        "{base}: {log}"
    );
    assert!(
        log.contains("replication: stopped unfinished"),
        "{base}: {log}"
    );
    assert!(!log.contains("sent SIGKILL"), "{base}: {log}");
    for secret in [root, repl, &donor, &monitor, &local] {
        assert!(!log.contains(secret), "{base}: a password in the log");
    }
    // Every file of the stopped container, and of its data volume.
    let needles = Scratch::new("seedstop-needles");
    std::fs::write(
        needles.path("n"),
        format!("{root}\n{repl}\n{donor}\n{monitor}\n{local}\n"),
    )
    .unwrap();
    for (what, tar) in [
        ("container", format!("docker export {name}")),
        ("data volume", format!("docker cp {name}:/var/lib/mysql -")),
    ] {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -o pipefail; {tar} | grep -aFc -f {}; echo \"exit $?\"",
                needles.path("n").display()
            ))
            .bounded_for(Duration::from_secs(300));
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.trim(),
            "0\nexit 1",
            "{base}: a password in the {what}'s files, or the scan failed: {}",
            stderr(&out)
        );
    }

    cluster.sql("primary", &format!("KILL {}", holder()));
    let out = Command::new("docker").args(["start", &name]).bounded();
    assert!(out.status.success(), "{base}: {}", stderr(&out));
    wait_for(
        Duration::from_secs(300),
        &format!("{base}: the new seed to finish"),
        || logs().contains("replication: replica of "),
    );
    let log = logs();
    assert!(
        log.contains("an earlier seed was interrupted"),
        "{base}: {log}"
    );
    let rows = |service: &str| cluster.sql(service, "SELECT COUNT(*) FROM tododb.todo");
    let out = Command::new("docker")
        .args(["exec", &name, "sh", "-c"])
        .arg(root_query("SELECT COUNT(*) FROM tododb.todo", ""))
        .bounded();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        rows("primary"),
        "{base}: {log}"
    );
}

/// A third replica, added once data exists, seeds itself from the primary,
/// replicates, holds the same rows, and has a server-id of its own. Its
/// copy includes a schema created after the primary was set up, which
/// replikit granted to the donor by itself. Under the default
/// REPLIKIT_SEED=auto the copy is physical on MariaDB (mariadb-backup from
/// the primary's replikit) and a clone on MySQL: never the slow dump.
fn scale_out(cluster: &Cluster) {
    cluster.write(
        "CREATE DATABASE later_app; CREATE TABLE later_app.t (id INT PRIMARY KEY); \
         INSERT INTO later_app.t VALUES (1), (2)",
    );
    wait_for(
        Duration::from_secs(30),
        &format!("{}: later_app granted to the donor", cluster.base),
        || {
            cluster
                .logs("primary")
                .contains("replikit_donor may read the new schema \"later_app\" now")
        },
    );
    cluster.compose(&["--profile", "scale-out", "up", "-d", "replica3"]);
    cluster.healthy("replica3");
    let logs = cluster.logs("replica3");
    assert!(
        logs.contains("replikit: info: seeding from primary:3306"),
        "{}: {logs}",
        cluster.base
    );
    let method = if cluster.base.contains("mariadb") {
        "seeding: done (physical copy from primary:3306"
    } else {
        "seeding: done (clone from primary:3306"
    };
    assert!(logs.contains(method), "{}: {logs}", cluster.base);
    cluster.row_reaches(&["replica1", "replica2", "replica3"], "after the scale-out");
    cluster.verify("replica3");
    assert_eq!(
        cluster.sql("replica3", "SELECT COUNT(*) FROM later_app.t"),
        "2"
    );
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
