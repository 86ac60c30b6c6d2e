//! Clusters of plain containers with replikit in front of the base images'
//! entrypoint, run the ways the official images really run: the server as
//! the `mysql` user (the entrypoint drops to it with gosu), a root password
//! that nobody tells replikit (MYSQL_RANDOM_ROOT_PASSWORD), and a container
//! that is not root at all (`--user 999:999`), each with default settings.
//! A primary with data comes first, then two replicas that must seed from
//! it; a later row must replicate; `replikit health`, `status` and `verify`
//! work in every replica, and the server runs as uid 999 everywhere.

use std::time::Duration;

use crate::common::servers::Flavor;
use crate::common::*;
use crate::containers::{docker, in_parallel_on, Cleanup, Network, SERVER_UID};

const REPL_PASSWORD: &str = "repl-pw'\\\"";
const ROOT_PASSWORD: &str = "root-pw";

#[derive(Clone, Copy, PartialEq)]
enum Root {
    /// MYSQL_ROOT_PASSWORD, which replikit is told.
    Given,
    /// MYSQL_RANDOM_ROOT_PASSWORD: only the entrypoint's log knows it.
    Random,
}

#[derive(Clone, Copy)]
struct Variant {
    tag: &'static str,
    /// The second octet of the test's network.
    octet: u8,
    /// `docker run --user`, or the image's root.
    user: Option<&'static str>,
    root: Root,
}

/// The main job in the real Docker engine: a primary and two replicas,
/// each with replikit as its entrypoint and nothing but the legacy
/// environment, assemble themselves.
#[test]
fn containers_assemble_into_a_replicated_cluster() {
    run(Variant {
        tag: "cluster",
        octet: 251,
        user: None,
        root: Root::Given,
    });
}

/// Nobody knows root's password but the entrypoint's log; root's password
/// changed on a replica later changes nothing either.
#[test]
fn with_a_random_root_password_replicas_seed_replicate_and_stay_healthy() {
    run(Variant {
        tag: "random-root",
        octet: 249,
        user: None,
        root: Root::Random,
    });
}

/// `docker run --user 999:999` (Kubernetes' runAsUser, OpenShift): no
/// writable /etc, and no setting changed for it.
#[test]
fn a_non_root_cluster_works_with_the_default_settings() {
    run(Variant {
        tag: "non-root",
        octet: 248,
        user: Some("999:999"),
        root: Root::Given,
    });
}

/// A MariaDB cluster configured with one image's own variables only:
/// mariadb-docker's (its replication user without a master host makes the
/// primary) and Bitnami's (MARIADB_REPLICATION_MODE). The primary's early
/// binary logs are purged before the replica starts, so replaying them is
/// no way to catch up: the replica must be seeded, and the entrypoint's
/// own CHANGE MASTER must not get in first.
#[test]
fn mariadb_images_own_variables_make_a_primary_and_a_seeded_replica() {
    side_by_side(
        "own-variables",
        247,
        3,
        vec!["mariadb-docker", "bitnami"],
        own_variables,
    );
}

fn own_variables(tag: &'static str, bin: &std::path::Path, network: &str, ips: &[String]) {
    let flavor = Flavor::MariaDb118;
    let ctx = Ctx {
        v: Variant {
            tag,
            octet: 0,
            user: None,
            root: Root::Given,
        },
        flavor,
        base: flavor.rootfs_name(),
        bin,
        network,
    };
    let common = [
        format!("MARIADB_ROOT_PASSWORD={ROOT_PASSWORD}"),
        "MARIADB_REPLICATION_USER=repl".to_string(),
        format!("MARIADB_REPLICATION_PASSWORD={REPL_PASSWORD}"),
        // As mariadb-docker's documentation has it for healthcheck.sh
        // --replication.
        "MARIADB_HEALTHCHECK_GRANTS=REPLICA MONITOR".to_string(),
    ];
    let (primary_env, replica_env): (Vec<String>, Vec<String>) = match tag {
        "mariadb-docker" => (vec![], vec![format!("MARIADB_MASTER_HOST={}", ips[0])]),
        _ => (
            vec!["MARIADB_REPLICATION_MODE=master".to_string()],
            vec![
                "MARIADB_REPLICATION_MODE=slave".to_string(),
                format!("MARIADB_MASTER_HOST={}", ips[0]),
                "MARIADB_MASTER_PORT_NUMBER=3306".to_string(),
                format!("MARIADB_MASTER_ROOT_PASSWORD={ROOT_PASSWORD}"),
            ],
        ),
    };
    let env = |own: Vec<String>| -> Vec<String> { common.iter().cloned().chain(own).collect() };
    let primary = ctx.start_with(0, &ips[0], &env(primary_env), None);
    // The entrypoint makes repl@'%' (mariadb-docker's), replikit
    // repl@'a.b.%.%': its log line says when both accounts are ready.
    ctx.wait(&primary, "the replication accounts", || {
        ctx.logs(&primary)
            .contains("replikit: info: replication: primary: ")
    });
    ctx.sql(
        &primary,
        "CREATE DATABASE tododb; CREATE TABLE tododb.todo (id INT PRIMARY KEY, title TEXT); \
         INSERT INTO tododb.todo VALUES (1, 'in a purged log'); FLUSH BINARY LOGS; \
         INSERT INTO tododb.todo VALUES (2, 'in the current log')",
    );
    // Again until it holds: a log still being read (by the first start's
    // sessions, on a loaded machine) is not purged yet.
    ctx.wait(&primary, "the early binary logs to be purged", || {
        let current = ctx.sql(&primary, "SHOW MASTER STATUS");
        let current = current.split('\t').next().unwrap_or_default();
        ctx.sql(&primary, &format!("PURGE BINARY LOGS TO '{current}'"));
        ctx.sql(&primary, "SHOW BINARY LOGS").lines().count() == 1
    });

    let replica = ctx.start_with(1, &ips[1], &env(replica_env.clone()), None);
    ctx.wait(&replica, "every row", || {
        ctx.sql(&replica, "SELECT COUNT(*) FROM tododb.todo") == "2"
    });
    ctx.sql(&primary, "INSERT INTO tododb.todo VALUES (3, 'replicated')");
    ctx.wait(&replica, "the replicated row", || {
        ctx.sql(&replica, "SELECT COUNT(*) FROM tododb.todo") == "3"
    });
    ctx.wait_healthy(&replica);
    // mariadb-docker's healthcheck.sh --replication_io --replication_sql:
    // both threads run.
    let status = ctx.sql(&replica, "SHOW REPLICA STATUS\\G");
    for thread in ["Slave_IO_Running: Yes", "Slave_SQL_Running: Yes"] {
        assert!(
            status.lines().any(|l| l.trim() == thread),
            "{tag}: no {thread:?} in {status}"
        );
    }
    let logs = ctx.logs(&replica);
    assert!(
        logs.contains("MARIADB_MASTER_HOST is not passed on to the command")
            && !logs.contains("making this node a replica of"),
        "{tag}: the entrypoint set up replication itself: {logs}"
    );
    let out = ctx.replikit(&replica, "verify");
    assert!(out.status.success(), "{tag}: {}", stderr(&out));
    if tag != "mariadb-docker" {
        return;
    }
    // The default seed was a physical copy, which replaces the data
    // directory with the source's: the image's own health check still
    // works, with this node's password, across a restart, and the repair
    // left nothing in the binary log.
    assert!(
        logs.contains("with a physical copy"),
        "{tag}: the replica was not seeded by a physical copy: {logs}"
    );
    image_health_check_works(&ctx, &replica, &primary);
    docker(&["restart", "-t", "60", &replica.name]);
    ctx.wait(&replica, "the replica after its restart", || {
        ctx.replikit(&replica, "health").status.success()
    });
    image_health_check_works(&ctx, &replica, &primary);

    // The same for a replica seeded by a dump.
    let mut dumped_env = env(replica_env);
    dumped_env.push("REPLIKIT_SEED=dump".to_string());
    let dumped = ctx.start_with(2, &ips[2], &dumped_env, None);
    ctx.wait(&dumped, "every row", || {
        ctx.sql(&dumped, "SELECT COUNT(*) FROM tododb.todo") == "3"
    });
    ctx.wait_healthy(&dumped);
    assert!(
        ctx.logs(&dumped).contains("with a dump"),
        "{tag}: the third replica was not seeded by a dump"
    );
    image_health_check_works(&ctx, &dumped, &primary);
}

/// What mariadb-docker's `healthcheck.sh --connect --innodb_initialized
/// --replication_io --replication_sql` does, with nothing but the
/// image's `.my-healthcheck.cnf`: log in over TCP, read InnoDB's state and
/// the replica threads'. The file holds this node's own password, never
/// the source's, and `replikit health --errant` passes (the accounts
/// put back after a copy are not in the binary log).
fn image_health_check_works(ctx: &Ctx, node: &Node, source: &Node) {
    const FILE: &str = "/var/lib/mysql/.my-healthcheck.cnf";
    let client = |query: &str| {
        let defaults = format!("--defaults-extra-file={FILE}");
        let out = docker(&[
            "exec",
            &node.name,
            ctx.flavor.client(),
            &defaults,
            "-e",
            query,
        ]);
        assert!(
            out.status.success(),
            "{}: the health check's own account cannot {query:?}: {}",
            node.name,
            stderr(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let innodb = client(
        "SELECT 'innodb ok' FROM information_schema.ENGINES \
         WHERE engine = 'InnoDB' AND support IN ('YES', 'DEFAULT', 'ENABLED')",
    );
    assert!(innodb.contains("innodb ok"), "{}: {innodb}", node.name);
    let threads = client("SHOW REPLICA STATUS\\G");
    for thread in ["Slave_IO_Running: Yes", "Slave_SQL_Running: Yes"] {
        assert!(
            threads.lines().any(|l| l.trim() == thread),
            "{}: no {thread:?} for the health check's account: {threads}",
            node.name
        );
    }
    let password = |n: &Node| {
        let out = docker(&["exec", &n.name, "cat", FILE]);
        assert!(out.status.success(), "{}: no {FILE}", n.name);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("password="))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{}: {FILE} names no password", n.name))
    };
    assert_ne!(
        password(node),
        password(source),
        "{}: its health check holds the source's password",
        node.name
    );
    let out = docker(&["exec", &node.name, "replikit", "health", "--errant"]);
    assert!(
        out.status.success(),
        "{}: replikit health --errant: {}",
        node.name,
        stderr(&out)
    );
}

/// Root's password expired at initialisation (MYSQL_ONETIME_PASSWORD), and
/// one empty at first and set later: replikit administers the server all
/// the same (its replication set-up succeeds, across a restart too) and
/// `health` and `status` work, on a primary of each flavor.
#[test]
fn a_one_time_or_later_set_root_password_changes_nothing_for_replikit() {
    let flavors = vec![Flavor::MariaDb118, Flavor::MySql97];
    side_by_side("root-later", 246, 2, flavors, root_later);
}

fn root_later(flavor: Flavor, bin: &std::path::Path, network: &str, ips: &[String]) {
    let ctx = Ctx {
        v: Variant {
            tag: "root-later",
            octet: 0,
            user: None,
            root: Root::Given,
        },
        flavor,
        base: flavor.rootfs_name(),
        bin,
        network,
    };
    let primary = |root: &[&str]| -> Vec<String> {
        let mut env: Vec<String> = root.iter().map(|s| s.to_string()).collect();
        env.extend([
            "MYSQL_MASTER=1".to_string(),
            "MYSQL_REPL_USER=repl".to_string(),
            format!("MYSQL_REPL_PASSWORD={REPL_PASSWORD}"),
        ]);
        env
    };
    let set_up = |node: &Node, times: usize| {
        ctx.wait(node, "replikit's replication set-up", || {
            ctx.logs(node)
                .matches("replikit: info: replication: primary")
                .count()
                >= times
        });
        ctx.wait_healthy(node);
        let out = ctx.replikit(node, "status");
        assert!(out.status.success(), "{}: {}", ctx.base, stderr(&out));
    };

    let onetime = format!("MYSQL_ROOT_PASSWORD={ROOT_PASSWORD}");
    let expired = ctx.start_with(
        0,
        &ips[0],
        &primary(&[&onetime, "MYSQL_ONETIME_PASSWORD=yes"]),
        None,
    );
    set_up(&expired, 1);
    assert_eq!(
        ctx.sql(&expired, "SELECT 1"),
        "",
        "{}: root's password is not expired",
        ctx.base
    );

    let later = ctx.start_with(
        1,
        &ips[1],
        &primary(&["MYSQL_ALLOW_EMPTY_PASSWORD=yes"]),
        None,
    );
    set_up(&later, 1);
    let empty = ["".to_string()];
    ctx.sql_with(
        &later.name,
        &empty,
        "ALTER USER 'root'@'localhost' IDENTIFIED BY 'set-Later-1'; \
         ALTER USER 'root'@'%' IDENTIFIED BY 'set-Later-1'",
    );
    assert_eq!(
        ctx.sql_with(&later.name, &empty, "SELECT 1"),
        "",
        "{}",
        ctx.base
    );
    docker(&["restart", "-t", "60", &later.name]);
    set_up(&later, 2);
}

/// Runs `job` once per case, side by side, on one network of its own
/// (10.`octet`.x.0/24) with `nodes` addresses for each case.
fn side_by_side<T: Send + 'static>(
    tag: &str,
    octet: u8,
    nodes: usize,
    cases: Vec<T>,
    job: fn(T, &std::path::Path, &str, &[String]),
) {
    require_root();
    let bin = static_bin();
    let third = 100 + std::process::id() % 100;
    let network = Network::create(tag, &format!("10.{octet}.{third}.0/24"));
    let jobs: Vec<_> = cases
        .into_iter()
        .enumerate()
        .map(|(i, case)| {
            let bin = bin.clone();
            let net = network.0.clone();
            let ips: Vec<String> = (0..nodes)
                .map(|k| format!("10.{octet}.{third}.{}", 20 + 10 * i + k))
                .collect();
            move || job(case, &bin, &net, &ips)
        })
        .collect();
    in_parallel_on(network, jobs);
}

fn run(v: Variant) {
    let cases = [Flavor::MariaDb118, Flavor::MySql97]
        .map(|f| (v, f))
        .to_vec();
    side_by_side(v.tag, v.octet, 3, cases, |(v, flavor), bin, net, ips| {
        cluster(v, flavor, bin, net, ips)
    });
}

/// One container of the cluster, and what the test knows of it.
struct Node {
    name: String,
    /// The root passwords that may work here: its own, and the primary's,
    /// which a clone brings along with the rest of the data.
    passwords: Vec<String>,
    _cleanup: Cleanup,
}

struct Ctx<'a> {
    v: Variant,
    flavor: Flavor,
    base: &'a str,
    bin: &'a std::path::Path,
    network: &'a str,
}

impl Ctx<'_> {
    /// A node with the variant's root password, the replication account in
    /// replikit's names, and `role_env`.
    fn start(&self, k: usize, ip: &str, role_env: &str, primary_password: Option<&str>) -> Node {
        let root_env = match self.v.root {
            Root::Given => format!("MYSQL_ROOT_PASSWORD={ROOT_PASSWORD}"),
            Root::Random => "MYSQL_RANDOM_ROOT_PASSWORD=yes".to_string(),
        };
        let env = [
            root_env,
            "MYSQL_REPL_USER=repl".to_string(),
            format!("MYSQL_REPL_PASSWORD={REPL_PASSWORD}"),
            role_env.to_string(),
        ];
        self.start_with(k, ip, &env, primary_password)
    }

    /// A node with exactly `env`.
    fn start_with(
        &self,
        k: usize,
        ip: &str,
        env: &[String],
        primary_password: Option<&str>,
    ) -> Node {
        let name = format!(
            "replikit-{}-{}-{k}-{}",
            self.v.tag,
            self.base,
            std::process::id()
        );
        let _ = std::process::Command::new("docker")
            .args(["rm", "-fv", &name])
            .output();
        let image = format!("replikit-base:{}", self.base);
        let mount = format!("{}:/usr/local/bin/replikit:ro", self.bin.display());
        let mut args: Vec<&str> = vec!["run", "-d", "--name", &name];
        if let Some(user) = self.v.user {
            args.extend(["--user", user]);
        }
        args.extend(["--network", self.network, "--ip", ip, "-v", &mount]);
        for e in env {
            args.extend(["-e", e]);
        }
        args.extend([
            "--entrypoint",
            "replikit",
            &image,
            "--",
            "docker-entrypoint.sh",
            "mysqld",
            "--log-bin=binlog",
        ]);
        if self.flavor == Flavor::MySql97 {
            args.extend(["--gtid-mode=ON", "--enforce-gtid-consistency=ON"]);
        }
        let out = docker(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let cleanup = Cleanup(name.clone());
        let own = match self.v.root {
            Root::Given => ROOT_PASSWORD.to_string(),
            Root::Random => wait_for_value(
                Duration::from_secs(180),
                &format!("{name}'s generated root password"),
                || {
                    stderr(&docker(&["logs", &name]))
                        .lines()
                        .find_map(|l| l.strip_prefix("GENERATED ROOT PASSWORD: "))
                        .map(str::to_string)
                },
            ),
        };
        let mut passwords = vec![own];
        passwords.extend(primary_password.map(str::to_string));
        Node {
            name,
            passwords,
            _cleanup: cleanup,
        }
    }

    /// A query as root with the image's client; empty when it fails.
    fn sql(&self, node: &Node, query: &str) -> String {
        self.sql_with(&node.name, &node.passwords, query)
    }

    /// As `sql`, trying `passwords` in turn.
    fn sql_with(&self, name: &str, passwords: &[String], query: &str) -> String {
        for password in passwords {
            let env = format!("MYSQL_PWD={password}");
            let mut args = vec!["exec", "-e", &env, name, self.flavor.client(), "-uroot"];
            // Column names only where each row is one per line (\G).
            if !query.ends_with("\\G") {
                args.push("-N");
            }
            args.extend(["-e", query]);
            let out = docker(&args);
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).trim().to_string();
            }
        }
        String::new()
    }

    fn replikit(&self, node: &Node, verb: &str) -> std::process::Output {
        docker(&["exec", &node.name, "replikit", verb])
    }

    fn logs(&self, node: &Node) -> String {
        stderr(&docker(&["logs", &node.name]))
    }

    fn wait_healthy(&self, node: &Node) {
        self.wait(node, "replikit health", || {
            self.replikit(node, "health").status.success()
        });
    }

    /// Waits up to 240 s for `check` on `node`; a timeout shows the
    /// container's last log lines.
    fn wait(&self, node: &Node, what: &str, mut check: impl FnMut() -> bool) {
        let start = std::time::Instant::now();
        while !check() {
            if start.elapsed() > Duration::from_secs(240) {
                let logs = self.logs(node);
                let tail: Vec<&str> = logs.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "{}: gave up waiting for {what} on {}; its last log lines:\n{}",
                    self.base,
                    node.name,
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn cluster(v: Variant, flavor: Flavor, bin: &std::path::Path, network: &str, ips: &[String]) {
    let base = flavor.rootfs_name();
    let ctx = Ctx {
        v,
        flavor,
        base,
        bin,
        network,
    };
    let primary = ctx.start(0, &ips[0], "MYSQL_MASTER=1", None);
    wait_for(
        Duration::from_secs(180),
        &format!("{base} primary to serve with its replication account"),
        || {
            ctx.sql(
                &primary,
                "SELECT COUNT(*) FROM mysql.user WHERE user = 'repl'",
            ) == "1"
        },
    );
    ctx.sql(
        &primary,
        "CREATE DATABASE tododb; CREATE TABLE tododb.todo (id INT PRIMARY KEY, title TEXT); \
         INSERT INTO tododb.todo VALUES (1, 'seeded')",
    );
    assert_eq!(ctx.sql(&primary, "SELECT COUNT(*) FROM tododb.todo"), "1");

    let source = format!("MYSQL_MASTER_HOST={ips0}", ips0 = ips[0]);
    let replicas: Vec<Node> = ips[1..]
        .iter()
        .enumerate()
        .map(|(k, ip)| ctx.start(k + 1, ip, &source, Some(&primary.passwords[0])))
        .collect();
    for replica in &replicas {
        ctx.wait(replica, "the seeded row", || {
            ctx.sql(replica, "SELECT title FROM tododb.todo WHERE id = 1") == "seeded"
        });
        assert_eq!(
            ctx.sql(replica, "SELECT @@read_only"),
            "1",
            "{}",
            ctx.logs(replica)
        );
    }
    ctx.sql(&primary, "INSERT INTO tododb.todo VALUES (2, 'replicated')");
    for replica in &replicas {
        ctx.wait(replica, "the second row", || {
            ctx.sql(replica, "SELECT COUNT(*) FROM tododb.todo") == "2"
        });
        ctx.wait_healthy(replica);
        for verb in ["status", "verify"] {
            let out = ctx.replikit(replica, verb);
            assert!(
                out.status.success(),
                "{base}: replikit {verb} in {}: {}{}",
                replica.name,
                String::from_utf8_lossy(&out.stdout),
                stderr(&out)
            );
        }
        // Compared with the primary, as the donor: nothing errant.
        let status = String::from_utf8_lossy(&ctx.replikit(replica, "status").stdout).into_owned();
        assert!(
            status.contains("errant:       none"),
            "{base}: {}: {status}",
            replica.name
        );
    }

    if v.root == Root::Random {
        root_password_changed_on_a_replica(&ctx, &primary, &replicas[0]);
    }
    if v.user.is_some() {
        let logs = ctx.logs(&primary);
        assert!(
            logs.contains("the server-id goes to the server as arguments instead"),
            "{base}: no word of the non-root fallback: {logs}"
        );
    }

    let nodes: Vec<&Node> = std::iter::once(&primary).chain(&replicas).collect();
    let ids: std::collections::BTreeSet<String> = nodes
        .iter()
        .map(|n| ctx.sql(n, "SELECT @@server_id"))
        .collect();
    assert_eq!(ids.len(), 3, "{base}: server ids must differ: {ids:?}");
    for node in &nodes {
        server_runs_as_mysql(&ctx, node);
        // The set-up is logged once it is all done, which may come just
        // after the rows.
        wait_for(
            Duration::from_secs(60),
            &format!("{} to log its replication set-up", node.name),
            || ctx.logs(node).contains("replikit: info: replication: "),
        );
        let logs = ctx.logs(node);
        assert!(
            !logs.contains("repl-pw") && !logs.contains(ROOT_PASSWORD),
            "{} logged a password",
            node.name
        );
        // replikit never logs in as root here, so it is never refused.
        let refused = logs
            .lines()
            .find(|l| l.starts_with("replikit:") && l.contains("Access denied"));
        assert_eq!(refused, None, "{}", node.name);
    }
}

/// Root's password changed on a replica after it started, then the
/// container restarted: replikit never used root, so nothing changes.
fn root_password_changed_on_a_replica(ctx: &Ctx, primary: &Node, replica: &Node) {
    let lift = if ctx.flavor == Flavor::MySql97 {
        "SET GLOBAL super_read_only = OFF; "
    } else {
        ""
    };
    let relock = if ctx.flavor == Flavor::MySql97 {
        " SET GLOBAL super_read_only = ON;"
    } else {
        ""
    };
    ctx.sql(
        replica,
        &format!(
            "SET SESSION sql_log_bin = 0; {lift}ALTER USER 'root'@'localhost' IDENTIFIED BY 'changed-Pw-1'; \
             ALTER USER 'root'@'%' IDENTIFIED BY 'changed-Pw-1';{relock}"
        ),
    );
    let changed = ["changed-Pw-1".to_string()];
    let sql = |query: &str| ctx.sql_with(&replica.name, &changed, query);
    assert_eq!(sql("SELECT 1"), "1", "root's password did not change");
    ctx.wait_healthy(replica);
    docker(&["restart", "-t", "60", &replica.name]);
    ctx.sql(
        primary,
        "INSERT INTO tododb.todo VALUES (3, 'after the change')",
    );
    ctx.wait(replica, "the third row after a restart", || {
        sql("SELECT COUNT(*) FROM tododb.todo") == "3"
    });
    ctx.wait_healthy(replica);
    let out = ctx.replikit(replica, "verify");
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The server's process belongs to uid 999, the image's mysql user.
fn server_runs_as_mysql(ctx: &Ctx, node: &Node) {
    let out = docker(&["exec", &node.name, "sh", "-c", SERVER_UID]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "999",
        "{}: the server's uid in {}",
        ctx.base,
        node.name
    );
}
