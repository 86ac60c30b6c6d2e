//! The shipped image and compose.yaml as one cluster per test: the README's
//! commands (scripts/cluster), docker-compose, and SQL in its containers.

use std::process::{Command, Output};
use std::time::Duration;

use crate::common::*;

/// One Compose project of the shipped compose.yaml, on a subnet and image
/// of its own, taken down (volumes too) when dropped.
pub struct Cluster {
    pub base: &'static str,
    pub project: String,
    /// The first three octets of the cluster's /24.
    pub net: String,
    pub image: String,
    /// With compose.etcd.yaml: a three-member etcd and the leader lease.
    pub etcd: bool,
}

/// A shell command for a server container that runs `query` as `user`,
/// with the password that the shell expression `password` gives (in the
/// environment, never on a command line), by whichever client the image
/// has, chosen once: a fallback from one client to the other would run a
/// failed statement twice where both exist (MariaDB's `mysql` is
/// `mariadb`). Errors go to stderr.
pub fn client_query(user: &str, password: &str, query: &str, flags: &str) -> String {
    format!(
        "export MYSQL_PWD={password}; client=$(command -v mariadb || command -v mysql); \
         \"$client\" -u{user} -N {flags} -e \"{query}\""
    )
}

/// `client_query` as root, the password from the Compose secret.
pub fn root_query(query: &str, flags: &str) -> String {
    client_query(
        "root",
        "$(cat /run/secrets/mysql-root-password)",
        query,
        flags,
    )
}

/// The first three octets of a /24 per flavor, test process and cluster,
/// so that both flavors' clusters, the chaos soak's beside the Compose
/// test's, run side by side, and beside another run's. `nth` counts this
/// process's clusters of the flavor: a test process makes four of each
/// (Compose, HA, chaos and partition soaks), so none of its subnets repeat
/// while another of its clusters may still hold it.
fn subnet(base: &str, nth: u32) -> String {
    let first = if base.contains("mariadb") { 100 } else { 150 };
    format!("10.253.{}", first + std::process::id() % 12 * 4 + nth % 4)
}

/// A number of its own for each cluster of this test process, and one
/// for each of its flavor (for `subnet`).
fn next_cluster(base: &str) -> (u32, u32) {
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    static CLUSTERS: AtomicU32 = AtomicU32::new(0);
    static MARIADB: AtomicU32 = AtomicU32::new(0);
    static MYSQL: AtomicU32 = AtomicU32::new(0);
    let of_flavor = if base.contains("mariadb") {
        &MARIADB
    } else {
        &MYSQL
    };
    (
        CLUSTERS.fetch_add(1, SeqCst),
        of_flavor.fetch_add(1, SeqCst),
    )
}

impl Cluster {
    pub fn up(base: &'static str) -> Cluster {
        Cluster::up_with(base, false)
    }

    /// `up`, with compose.etcd.yaml when `etcd`.
    pub fn up_with(base: &'static str, etcd: bool) -> Cluster {
        require_root();
        require_tool("docker-compose");
        let _bin = static_bin();
        // Two clusters of one flavor (the chaos soak's, the Compose
        // test's) may run at once: each has its own project, network and
        // image tag.
        let (nth, nth_of_flavor) = next_cluster(base);
        let id = format!("{}-{nth}", std::process::id());
        let cluster = Cluster {
            base,
            project: format!("replikit-e2e-{base}-{id}"),
            net: subnet(base, nth_of_flavor),
            image: format!("replikit-e2e-{base}:{id}"),
            etcd,
        };
        let up = {
            let _building = crate::images::building();
            cluster.script("up")
        };
        assert!(up.status.success(), "{base}: {}", stderr(&up));
        cluster
    }

    pub fn env(&self, command: &mut Command) {
        command
            .env("REPLIKIT_BASE", self.base)
            .env("REPLIKIT_PREBUILT", "1")
            .env("REPLIKIT_PROJECT", &self.project)
            .env("REPLIKIT_NET", &self.net)
            .env("REPLIKIT_IMAGE", &self.image);
        if self.etcd {
            command.env("REPLIKIT_ETCD", "1");
        }
    }

    /// `scripts/cluster VERB`, the README's commands.
    pub fn script(&self, verb: &str) -> Output {
        let mut command = Command::new("scripts/cluster");
        command.arg(verb);
        self.env(&mut command);
        command.bounded_for(Duration::from_secs(900))
    }

    pub fn compose(&self, args: &[&str]) -> Output {
        let mut command = Command::new("docker-compose");
        command.args(["-f", "compose.yaml"]);
        if self.etcd {
            command.args(["-f", "compose.etcd.yaml"]);
        }
        command.args(["-p", &self.project]);
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

    pub fn container(&self, service: &str) -> String {
        let out = self.compose(&["ps", "-q", service]);
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!id.is_empty(), "{}: no container for {service}", self.base);
        id
    }

    /// Runs a shell command in a service's container.
    pub fn exec(&self, service: &str, script: &str) -> Output {
        Command::new("docker")
            .args(["exec", &self.container(service), "sh", "-c", script])
            .bounded_for(Duration::from_secs(300))
    }

    /// A query as root (the password from the Compose secret), "" on error.
    pub fn sql(&self, service: &str, query: &str) -> String {
        self.sql_with(service, query, "")
    }

    pub fn sql_with(&self, service: &str, query: &str, flags: &str) -> String {
        let out = self.exec(service, &root_query(query, flags));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Through HAProxy's write port (3306), from the primary's container.
    pub fn write(&self, query: &str) {
        let done = self.sql_with(
            "primary",
            &format!("{query}; SELECT 'ok'"),
            "-h haproxy -P 3306",
        );
        assert_eq!(done, "ok", "{}: {query}", self.base);
    }

    pub fn logs(&self, service: &str) -> String {
        let out = Command::new("docker")
            .args(["logs", &self.container(service)])
            .bounded();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    pub fn docker(&self, verb: &str, service: &str, flags: &[&str]) -> Output {
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

    pub fn inspect(&self, service: &str, format: &str) -> String {
        let out = self.docker("inspect", service, &["-f", format]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes a row through the write port and waits until every replica
    /// listed has it: replication runs end to end.
    pub fn row_reaches(&self, replicas: &[&str], title: &str) {
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
    pub fn verify(&self, replica: &str) {
        let out = self.exec(replica, "replikit verify");
        assert!(
            out.status.success(),
            "{}: replikit verify on {replica}: {}{}",
            self.base,
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
    }

    /// Waits up to 300 s; on a timeout the panic carries the container's
    /// last log lines and health probes, which is what one needs to see.
    pub fn healthy(&self, service: &str) {
        let start = std::time::Instant::now();
        while self.inspect(service, "{{.State.Health.Status}}") != "healthy" {
            if start.elapsed() > Duration::from_secs(300) {
                let logs = self.logs(service);
                let tail: Vec<&str> = logs.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "gave up after 300 s waiting for {}: {service} to be healthy\n\
                     health: {}\nlast log lines:\n{}",
                    self.base,
                    self.inspect(service, "{{json .State.Health}}"),
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.script("down");
        crate::images::remove(&self.image);
    }
}
