//! Real database servers for the tests: MariaDB 10.11, MariaDB 11.8 and
//! MySQL 9.7, each from its own Debian root filesystem (built by
//! `scripts/rootfs`), run with chroot in private mount and PID namespaces and
//! listening on a 127.0.0.1 port. No image registry is needed, nothing is
//! installed on the host, and the kernel ends every server when its test
//! lets go of it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{children_of, require_root, require_tool, wait_for, wait_for_value, Bounded};

/// The root filesystem of Debian's Rust, the Dockerfile's builder stage
/// (`replikit-builder:sid-rust`).
pub const RUST_ROOTFS: &str = "sid-rust";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    MariaDb1011,
    MariaDb118,
    MySql97,
}

impl Flavor {
    pub const ALL: [Flavor; 3] = [Flavor::MariaDb1011, Flavor::MariaDb118, Flavor::MySql97];

    /// Its root filesystem's name (`scripts/rootfs NAME`), which is also
    /// its Docker base image's tag (`replikit-base:NAME`).
    pub fn rootfs_name(self) -> &'static str {
        match self {
            Flavor::MariaDb1011 => "bookworm-mariadb",
            Flavor::MariaDb118 => "trixie-mariadb",
            Flavor::MySql97 => "sid-mysql",
        }
    }

    /// The Docker base image made from its root filesystem.
    pub fn base_image(self) -> String {
        format!("replikit-base:{}", self.rootfs_name())
    }

    /// What `SELECT VERSION()` starts with.
    pub fn version_prefix(self) -> &'static str {
        match self {
            Flavor::MariaDb1011 => "10.11.",
            Flavor::MariaDb118 => "11.8.",
            Flavor::MySql97 => "9.7.",
        }
    }

    fn is_mysql(self) -> bool {
        self == Flavor::MySql97
    }

    fn server(self) -> &'static str {
        if self.is_mysql() {
            "mysqld"
        } else {
            "mariadbd"
        }
    }

    pub fn client(self) -> &'static str {
        if self.is_mysql() {
            "mysql"
        } else {
            "mariadb"
        }
    }

    pub fn rootfs(self) -> PathBuf {
        let dir = std::env::var_os("REPLIKIT_ROOTFS_DIR").map_or_else(
            || PathBuf::from("/var/cache/replikit-rootfs"),
            PathBuf::from,
        );
        let root = dir.join(self.rootfs_name());
        assert!(
            root.join(".complete").exists(),
            "{} is missing: run scripts/rootfs {} (scripts/test does)",
            root.display(),
            self.rootfs_name()
        );
        root
    }
}

/// A running server. Dropping it kills the server and removes its datadir.
pub struct Server {
    pub flavor: Flavor,
    pub port: u16,
    root: PathBuf,
    /// The server's folder as seen inside the root filesystem.
    pub dir: String,
    /// The server's command line, for restarts.
    command: String,
    /// Its environment (replikit's, when replikit runs it).
    env: Vec<(String, String)>,
    unshare: Option<Child>,
}

/// A port for a test's listener, from below the kernel's ephemeral range
/// (32768 up, /proc/sys/net/ipv4/ip_local_port_range). A port the kernel
/// hands out for `bind(:0)` is free only for that instant: once released,
/// any outgoing connection of a concurrent test may take it as its local
/// port, and the listener that meant to use it then fails with "Address
/// already in use" (CI met exactly that). Ports below the range are never
/// taken that way, and the counter keeps this process's tests apart.
pub fn free_port() -> u16 {
    use std::sync::atomic::AtomicU32;
    const FIRST: u32 = 10_000;
    const LAST: u32 = 32_000;
    // Another test binary running at the same time starts elsewhere.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = FIRST + (std::process::id() * 97) % (LAST - FIRST);
    for _ in 0..(LAST - FIRST) {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (FIRST + (start - FIRST + offset) % (LAST - FIRST)) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("0.0.0.0", port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {LAST}");
}

/// `sh -c script` inside the root filesystem with /dev and /proc mounted,
/// as PID 1 of a new PID namespace that dies with the returned process.
fn in_root(root: &PathBuf, script: &str) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--pid", "--fork", "--kill-child", "sh", "-c"])
        .arg(format!(
            "mount --bind /dev \"$R/dev\" && mount -t proc proc \"$R/proc\" && exec chroot \"$R\" sh -c '{}'",
            script.replace('\'', "'\\''")
        ))
        .env("R", root);
    c
}

/// The server options of a replication source or replica: binary log on,
/// GTIDs on (MySQL needs them switched on), server-id from its port.
fn replicating_options(flavor: Flavor) -> String {
    let mysql = if flavor.is_mysql() {
        " --gtid-mode=ON --enforce-gtid-consistency=ON"
    } else {
        ""
    };
    format!("--log-bin=binlog --binlog-format=ROW --server-id=PORT{mysql}")
}

impl Server {
    /// Initialises a datadir and starts a server on a free port; returns
    /// once it answers queries.
    pub fn start(flavor: Flavor) -> Server {
        Server::start_with(flavor, "")
    }

    /// A server ready to be a replication source or replica: binary log on,
    /// GTIDs on (MySQL needs them switched on), server-id from its port.
    pub fn start_replicating(flavor: Flavor) -> Server {
        Server::start_replicating_with(flavor, "")
    }

    /// `start_replicating` with more server options.
    pub fn start_replicating_with(flavor: Flavor, extra: &str) -> Server {
        Server::start_with(flavor, &format!("{} {extra}", replicating_options(flavor)))
    }

    /// Starts with extra server options (`PORT` stands for the port).
    pub fn start_with(flavor: Flavor, extra: &str) -> Server {
        Server::start_full(flavor, extra, None)
    }

    /// `start_replicating`, with replikit as PID 1 of the server's PID
    /// namespace and the server its command, as in a container: replikit
    /// sets up replication in the background and may restart the server
    /// (for a clone). `env` is replikit's environment; its log is
    /// `replikit_log()`.
    pub fn start_replicating_under_replikit(flavor: Flavor, env: &[(&str, String)]) -> Server {
        Server::start_full_on(
            flavor,
            &replicating_options(flavor),
            Some(
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            ),
            None,
        )
    }

    /// `start_replicating_under_replikit` on `port`, with more server
    /// options; `env` may set REPLIKIT_SERVER_ID_VIA (else off).
    pub fn start_under_replikit_on(
        flavor: Flavor,
        port: u16,
        extra: &str,
        env: &[(&str, String)],
    ) -> Server {
        Server::start_full_on(
            flavor,
            &format!("{} {extra}", replicating_options(flavor)),
            Some(
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            ),
            Some(port),
        )
    }

    /// Kills the server's whole PID namespace at once (replikit and the
    /// server with it, as `docker kill` does); the data stays for
    /// `start_again`.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.unshare.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends `signal` (as `kill -SIGNAL`) to the server process only, not
    /// to replikit above it: a frozen server (STOP) under a live keeper.
    pub fn signal_server(&self, signal: &str) {
        let root = self.unshare.as_ref().expect("the server runs").id();
        let server = super::server_under(root).expect("one server process");
        assert!(
            super::send_signal(server, signal),
            "kill -{signal} {server}"
        );
    }

    /// Every process and thread in the server's PID namespace, as numbered
    /// inside it, with its thread group's command name.
    pub fn namespace_tasks(&self) -> Vec<(u32, String)> {
        let root = self.unshare.as_ref().expect("the server runs").id();
        let mut family = super::children_of(root);
        let mut tasks = Vec::new();
        while let Some(pid) = family.pop() {
            family.extend(super::children_of(pid));
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                continue;
            };
            for thread in threads.flatten() {
                let status =
                    std::fs::read_to_string(thread.path().join("status")).unwrap_or_default();
                let inner = status
                    .lines()
                    .find_map(|l| l.strip_prefix("NSpid:"))
                    .and_then(|v| v.split_whitespace().last()?.parse().ok());
                if let Some(inner) = inner {
                    tasks.push((inner, comm.trim_end().to_string()));
                }
            }
        }
        tasks.sort();
        tasks
    }

    /// Whether replikit (the server's PID namespace) has exited by itself.
    pub fn exited(&mut self) -> bool {
        self.unshare
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_some())
    }

    /// Starts a killed server again on its data, port and environment.
    pub fn start_again(&mut self) {
        assert!(self.unshare.is_none(), "the server still runs");
        self.launch();
    }

    /// The server's own log.
    pub fn error_log(&self) -> String {
        self.read_own("error.log")
    }

    /// What replikit logged, when it runs the server.
    pub fn replikit_log(&self) -> String {
        self.read_own("replikit.log")
    }

    /// A file of this instance's folder; empty when it is not there.
    fn read_own(&self, name: &str) -> String {
        std::fs::read_to_string(self.own_path(name)).unwrap_or_default()
    }

    /// A file in the server's own folder (socket, logs, data), as seen
    /// from outside its root filesystem.
    pub fn own_path(&self, name: &str) -> PathBuf {
        self.root.join(self.dir.trim_start_matches('/')).join(name)
    }

    fn start_full(
        flavor: Flavor,
        extra: &str,
        replikit_env: Option<Vec<(String, String)>>,
    ) -> Server {
        Server::start_full_on(flavor, extra, replikit_env, None)
    }

    fn start_full_on(
        flavor: Flavor,
        extra: &str,
        replikit_env: Option<Vec<(String, String)>>,
        port: Option<u16>,
    ) -> Server {
        require_root();
        require_tool("unshare");
        static N: AtomicUsize = AtomicUsize::new(0);
        let root = flavor.rootfs();
        let dir = format!(
            "/srv/rk-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let host_dir = root.join(dir.trim_start_matches('/'));
        let _ = std::fs::remove_dir_all(&host_dir);
        std::fs::create_dir_all(&host_dir).unwrap();
        // Each its own tmpdir, as for the server below: two bootstraps at
        // once in the shared /tmp named their temporary tables alike
        // ("Could not remove temporary table '/tmp/#sql-temptable-1e-1-3'",
        // then "Unknown table 'mysql.tmp_user_sys'").
        let init = if flavor.is_mysql() {
            format!(
                "mysqld --no-defaults --initialize-insecure --user=root --datadir={dir}/data \
                 --tmpdir={dir}"
            )
        } else {
            format!(
                "mariadb-install-db --no-defaults --force --user=root --auth-root-authentication-method=normal \
                 --skip-test-db --datadir={dir}/data --tmpdir={dir}"
            )
        };
        // One retry: a rare failure of the initialisation tool is a fault
        // of the harness, not of what is tested. The first failure is
        // printed so that it stays visible.
        let mut attempt = 0;
        loop {
            let out = in_root(
                &root,
                &format!("rm -rf {dir}/data; {init} > {dir}/init.log 2>&1"),
            )
            .bounded();
            if out.status.success() {
                break;
            }
            let log = std::fs::read_to_string(host_dir.join("init.log")).unwrap_or_default();
            attempt += 1;
            assert!(
                attempt < 2,
                "initialising {flavor:?} failed twice ({}): {log}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            eprintln!(
                "harness: initialising {flavor:?} failed ({}), retrying: {log}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }

        let port = port.unwrap_or_else(free_port);
        let under = if replikit_env.is_some() {
            format!("{dir}/replikit -- ")
        } else {
            String::new()
        };
        // Each its own tmpdir: servers of one flavor share the root
        // filesystem's /tmp, and two servers whose pid is the same in their
        // namespaces named their temporary tables alike (INSERT ... SELECT
        // from the same table failed "Error on delete of '/tmp/#sql-...'").
        // No option files, but an empty one rather than --no-defaults:
        // that would also make MySQL ignore what SET PERSIST stored in the
        // datadir, which a container's server reads.
        let mut args = format!(
            "exec {under}{} --defaults-file=/dev/null --user=root --datadir={dir}/data --port={port} --bind-address=127.0.0.1 \
             --socket={dir}/sock --pid-file={dir}/pid --log-error={dir}/error.log --skip-name-resolve \
             --tmpdir={dir}",
            flavor.server()
        );
        if flavor.is_mysql() {
            args += " --mysqlx=OFF";
        }
        if !extra.is_empty() {
            args += " ";
            args += &extra.replace("PORT", &port.to_string());
        }
        let mut env = Vec::new();
        if let Some(mut e) = replikit_env {
            args += &format!(" 2>{dir}/replikit.log");
            place_binary(&host_dir.join("replikit"));
            e.push(("REPLIKIT_SOCKET".into(), format!("{dir}/sock")));
            if !e.iter().any(|(k, _)| k == "REPLIKIT_DATADIR") {
                e.push(("REPLIKIT_DATADIR".into(), format!("{dir}/data")));
            }
            if !e.iter().any(|(k, _)| k == "REPLIKIT_SERVER_ID_VIA") {
                e.push(("REPLIKIT_SERVER_ID_VIA".into(), "off".into()));
            }
            e.push((
                "PATH".into(),
                "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into(),
            ));
            env = e;
        }
        let mut server = Server {
            flavor,
            port,
            root,
            dir,
            command: args,
            env,
            unshare: None,
        };
        server.launch();
        server
    }

    /// Starts the server process and waits until it answers.
    fn launch(&mut self) {
        let child = in_root(&self.root, &self.command)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.unshare = Some(child);
        // A safety net, not a time limit: on 2 CPUs shared by the whole
        // tier, MySQL's crash recovery after a kill once took over 60 s.
        let limit = Duration::from_secs(180);
        let start = Instant::now();
        while self.try_sql("SELECT 1").is_err() {
            let exited = self.exited();
            if exited || start.elapsed() > limit {
                panic!(
                    "{:?} on port {} {} ({:?} after the start)\n\
                     replikit's log ends:\n{}\nthe server's log ends:\n{}",
                    self.flavor,
                    self.port,
                    if exited {
                        "exited before it answered"
                    } else {
                        "did not answer"
                    },
                    start.elapsed(),
                    last_lines(&self.replikit_log(), 40),
                    last_lines(&self.error_log(), 40),
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server cleanly and starts it again on the same data and port.
    pub fn restart(&mut self) {
        let code = self.halt();
        assert_eq!(code, 0, "{:?} did not stop cleanly", self.flavor);
        self.launch();
    }

    fn client(&self, flags: &[&str], query: &str) -> Result<String, String> {
        let out = Command::new("chroot")
            .arg(&self.root)
            .arg(self.flavor.client())
            .arg(format!("--socket={}/sock", self.dir))
            .arg("-uroot")
            .args(flags)
            .args(["-e", query])
            .bounded();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn try_sql(&self, query: &str) -> Result<String, String> {
        self.client(&["-N", "-B"], query)
    }

    /// Runs SQL as root over the server's socket; the output without
    /// headers, one row a line, columns separated by tabs.
    pub fn sql(&self, query: &str) -> String {
        self.try_sql(query)
            .unwrap_or_else(|e| panic!("{:?} on port {}: {query}: {e}", self.flavor, self.port))
    }

    /// Like `sql`, but an error is returned (the server's message) rather
    /// than failing the test.
    pub fn sql_result(&self, query: &str) -> Result<String, String> {
        self.try_sql(query)
    }

    /// The one value a query returns, unescaped (`--raw`): what the server
    /// holds, byte for byte.
    pub fn raw_value(&self, query: &str) -> String {
        self.client(&["-N", "-B", "--raw"], query)
            .unwrap_or_else(|e| panic!("{:?}: {query}: {e}", self.flavor))
    }

    /// Rows of a query as column name -> value (no value may hold a tab or
    /// a newline).
    /// SHOW REPLICA STATUS, None when the server is no replica. Columns
    /// have MySQL's names on every flavor (MariaDB's Master_Host is
    /// Source_Host, Slave_IO_Running is Replica_IO_Running).
    pub fn replica_status(&self) -> Option<std::collections::BTreeMap<String, String>> {
        let row = self.rows("SHOW REPLICA STATUS").into_iter().next()?;
        Some(
            row.into_iter()
                .map(|(k, v)| (k.replace("Master", "Source").replace("Slave", "Replica"), v))
                .collect(),
        )
    }

    pub fn rows(&self, query: &str) -> Vec<std::collections::BTreeMap<String, String>> {
        let text = self
            .client(&["-B", "--raw"], query)
            .unwrap_or_else(|e| panic!("{:?}: {query}: {e}", self.flavor));
        let mut lines = text.lines();
        let Some(header) = lines.next() else {
            return Vec::new();
        };
        let names: Vec<&str> = header.split('\t').collect();
        lines
            .map(|l| {
                names
                    .iter()
                    .map(|n| n.to_string())
                    .zip(l.split('\t').map(String::from))
                    .collect()
            })
            .collect()
    }

    /// replikit inside this server's root filesystem (chroot), where the
    /// image's own tools are, as in a container: seeding runs the dump
    /// tool and the client found there. REPLIKIT_SOCKET is set to the
    /// server's socket; nothing else from our environment but PATH.
    pub fn replikit(&self) -> Command {
        let inside = format!("{}/replikit", self.dir);
        let copy = self.root.join(inside.trim_start_matches('/'));
        if !copy.exists() {
            place_binary(&copy);
        }
        // As in a container, /proc is there (in a mount namespace of its
        // own); without --fork, the process the test holds is replikit.
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "sh", "-c"])
            .arg("mount -t proc proc \"$0/proc\" && exec chroot \"$0\" \"$@\"")
            .arg(&self.root)
            .arg(inside)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("REPLIKIT_SOCKET", format!("{}/sock", self.dir));
        cmd
    }

    /// `replikit()` as the tests' cluster runs it: replicas connect from
    /// 127.0.0.1, `account` (user, password) is the replication account
    /// (None: root-credentials mode), and `env` comes last, so it wins.
    pub fn replikit_with(&self, account: Option<(&str, &str)>, env: &[(&str, String)]) -> Command {
        let mut cmd = self.replikit();
        cmd.env("REPLIKIT_REPL_HOST", "127.0.0.1");
        if let Some((user, password)) = account {
            cmd.env("MYSQL_REPL_USER", user)
                .env("MYSQL_REPL_PASSWORD", password);
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs a shell command inside the server's root filesystem (its
    /// client, say, as root over its socket: `$SOCK`).
    pub fn shell(&self, script: &str) -> Command {
        let mut cmd = Command::new("chroot");
        cmd.arg(&self.root)
            .args(["sh", "-c", script])
            .env("SOCK", format!("{}/sock", self.dir))
            .env("CLIENT", self.flavor.client());
        cmd
    }

    /// Waits until `query` returns `want` (a replica catching up).
    pub fn wait_for_rows(&self, query: &str, want: &str) {
        wait_for(
            Duration::from_secs(60),
            &format!("{query} = {want} on port {}", self.port),
            || self.sql_result(query).map(|v| v == want).unwrap_or(false),
        );
    }

    /// The environment that makes a node a replica of this server.
    pub fn as_source_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MYSQL_MASTER_HOST", "127.0.0.1".to_string()),
            ("MYSQL_MASTER_PORT", self.port.to_string()),
        ]
    }

    /// The server's unix socket, as a path on the host.
    pub fn socket(&self) -> PathBuf {
        self.root
            .join(self.dir.trim_start_matches('/'))
            .join("sock")
    }

    /// Sends SIGTERM (what `docker stop` sends) and returns the exit code.
    pub fn stop(mut self) -> i32 {
        self.halt()
    }

    fn halt(&mut self) -> i32 {
        let mut child = self.unshare.take().unwrap();
        let server_pid = children_of(child.id())
            .first()
            .copied()
            .expect("server process");
        unsafe { libc::kill(server_pid as i32, libc::SIGTERM) };
        wait_for_value(Duration::from_secs(60), "the server to stop", || {
            child.try_wait().unwrap().map(|s| s.code().unwrap_or(-1))
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.unshare.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(self.root.join(self.dir.trim_start_matches('/')));
    }
}

/// Tests `$check` on every flavor, as one test each (named after the
/// flavor), so that they run side by side; or on the flavors listed, as
/// `name => Flavor variant`.
#[macro_export]
macro_rules! per_flavor {
    ($check:ident) => {
        $crate::per_flavor!($check: mariadb_10_11 => MariaDb1011, mariadb_11_8 => MariaDb118, mysql_9_7 => MySql97);
    };
    ($check:ident: $($name:ident => $flavor:ident),+) => {
        $(
            #[test]
            fn $name() {
                $check($crate::common::servers::Flavor::$flavor);
            }
        )+
    };
}

/// The two flavors the Docker tests run: the oldest MariaDB, and MySQL.
#[macro_export]
macro_rules! mariadb_and_mysql {
    ($check:ident) => {
        $crate::per_flavor!($check: mariadb_10_11 => MariaDb1011, mysql_9_7 => MySql97);
    };
}

/// Puts the binary under test at `dest` inside a server's root filesystem:
/// a hard link where it can be one. A copy holds a writable descriptor for
/// a moment, and a child that another test thread forks just then inherits
/// it, so that executing the copy fails with "Text file busy" (seen in CI).
fn place_binary(dest: &Path) {
    let tmp = dest.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(super::static_bin(), &tmp).is_err() {
        std::fs::copy(super::static_bin(), &tmp).unwrap();
    }
    std::fs::rename(&tmp, dest).unwrap();
}

/// The last `n` lines of a log, for a failure message.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
