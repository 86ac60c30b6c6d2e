//! The shipped image and compose.yaml, end to end in the real Docker engine,
//! on MariaDB 10.11 and MySQL 9.7: the README's main job (`scripts/cluster
//! up` and `check`), then what operators do to a running cluster: stop,
//! restart and kill nodes, and add a replica once data exists.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

/// One Compose project of the shipped compose.yaml, on a subnet and image
/// of its own, taken down (volumes too) when dropped.
struct Cluster {
    base: &'static str,
    project: String,
    net: String,
    image: String,
}

impl Cluster {
    fn up(base: &'static str, octet: u32) -> Cluster {
        require_root();
        require_tool("docker-compose");
        let _bin = static_bin();
        let cluster = Cluster {
            base,
            project: format!("replikit-e2e-{base}-{}", std::process::id()),
            net: format!("10.253.{octet}"),
            image: format!("replikit-e2e-{base}:{}", std::process::id()),
        };
        let up = cluster.script("up");
        assert!(up.status.success(), "{base}: {}", stderr(&up));
        cluster
    }

    fn env(&self, command: &mut Command) {
        command
            .env("REPLIKIT_BASE", self.base)
            .env("REPLIKIT_PREBUILT", "1")
            .env("REPLIKIT_PROJECT", &self.project)
            .env("REPLIKIT_NET", &self.net)
            .env("REPLIKIT_IMAGE", &self.image);
    }

    /// `scripts/cluster VERB`, the README's commands.
    fn script(&self, verb: &str) -> Output {
        let mut command = Command::new("scripts/cluster");
        command.arg(verb);
        self.env(&mut command);
        command.bounded_for(Duration::from_secs(900))
    }

    fn compose(&self, args: &[&str]) -> Output {
        let mut command = Command::new("docker-compose");
        command.args(["-f", "compose.yaml", "-p", &self.project]);
        command.args(args);
        self.env(&mut command);
        let out = command.bounded_for(Duration::from_secs(600));
        assert!(
            out.status.success(),
            "{}: docker-compose {args:?}: {}",
            self.base,
            stderr(&out)
        );
        out
    }

    fn container(&self, service: &str) -> String {
        let out = self.compose(&["ps", "-q", service]);
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!id.is_empty(), "{}: no container for {service}", self.base);
        id
    }

    /// Runs a shell command in a service's container.
    fn exec(&self, service: &str, script: &str) -> Output {
        Command::new("docker")
            .args(["exec", &self.container(service), "sh", "-c", script])
            .bounded_for(Duration::from_secs(300))
    }

    /// A query as root (the password from the Compose secret), "" on error.
    fn sql(&self, service: &str, query: &str) -> String {
        self.sql_with(service, query, "")
    }

    fn sql_with(&self, service: &str, query: &str, flags: &str) -> String {
        let out = self.exec(
            service,
            &format!(
                "export MYSQL_PWD=$(cat /run/secrets/mysql-root-password); \
                 {{ mysql -uroot -N {flags} -e \"{query}\" || mariadb -uroot -N {flags} -e \"{query}\"; }} 2>/dev/null"
            ),
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Through HAProxy's write port (3306), from the primary's container.
    fn write(&self, query: &str) {
        let done = self.sql_with(
            "primary",
            &format!("{query}; SELECT 'ok'"),
            "-h haproxy -P 3306",
        );
        assert_eq!(done, "ok", "{}: {query}", self.base);
    }

    fn logs(&self, service: &str) -> String {
        let out = Command::new("docker")
            .args(["logs", &self.container(service)])
            .bounded();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    fn docker(&self, verb: &str, service: &str, flags: &[&str]) -> Output {
        let id = self.container(service);
        let out = Command::new("docker")
            .arg(verb)
            .args(flags)
            .arg(&id)
            .bounded_for(Duration::from_secs(300));
        assert!(
            out.status.success(),
            "{}: docker {verb} {service}: {}",
            self.base,
            stderr(&out)
        );
        out
    }

    fn inspect(&self, service: &str, format: &str) -> String {
        let out = self.docker("inspect", service, &["-f", format]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes a row through the write port and waits until every replica
    /// listed has it: replication runs end to end.
    fn row_reaches(&self, replicas: &[&str], title: &str) {
        self.write(&format!(
            "INSERT INTO tododb.todo (title, content) VALUES ('{title}', 'e2e')"
        ));
        for replica in replicas {
            wait_for(
                Duration::from_secs(180),
                &format!("{}: {title} on {replica}", self.base),
                || {
                    self.sql(
                        replica,
                        &format!("SELECT COUNT(*) FROM tododb.todo WHERE title = '{title}'"),
                    ) == "1"
                },
            );
        }
    }

    /// `replikit verify` in a replica's container: the same rows as the
    /// primary, table by table.
    fn verify(&self, replica: &str) {
        let out = self.exec(replica, "replikit verify");
        assert!(
            out.status.success(),
            "{}: replikit verify on {replica}: {}{}",
            self.base,
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
    }

    fn healthy(&self, service: &str) {
        wait_for(
            Duration::from_secs(300),
            &format!("{}: {service} to be healthy", self.base),
            || self.inspect(service, "{{.State.Health.Status}}") == "healthy",
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.script("down");
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.image])
            .output();
    }
}

#[test]
fn mariadb_10_11_cluster_from_the_shipped_image() {
    end_to_end("bookworm-mariadb", 100 + std::process::id() % 50);
}

#[test]
fn mysql_9_7_cluster_from_the_shipped_image() {
    end_to_end("sid-mysql", 150 + std::process::id() % 50);
}

fn end_to_end(base: &'static str, octet: u32) {
    let cluster = Cluster::up(base, octet);

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
