//! Shared helpers for tests that run the real replikit binary on real
//! processes. They need root (for PID namespaces and mounts): without it they
//! fail loudly instead of passing without testing anything.

#[macro_use]
pub mod servers;

pub mod etcd;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The binary under test: the static release build when `scripts/test`
/// runs us (REPLIKIT_BIN), else cargo's debug build.
pub fn bin() -> PathBuf {
    match std::env::var_os("REPLIKIT_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_replikit")),
    }
}

/// The static release build, which `scripts/test` builds and points
/// REPLIKIT_BIN at. Tests of the shipped artifact (and containers, which have
/// no dynamic loader for cargo's debug build) need it.
pub fn static_bin() -> PathBuf {
    assert!(
        std::env::var_os("REPLIKIT_BIN").is_some(),
        "REPLIKIT_BIN is not set: run scripts/test, which builds the static binary and tests it"
    );
    bin()
}

pub fn require_root() {
    assert!(
        unsafe { libc::geteuid() } == 0,
        "these tests need root (PID namespaces, mounts); run them as root, e.g. via scripts/test"
    );
}

pub fn require_tool(name: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{name} is not installed; run scripts/install-test-deps"
    );
}

/// A fresh directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "replikit-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// replikit as PID 1 of a new PID namespace with its own /proc, as in a
/// container. The option file goes to `cnf` so no test touches /etc.
pub fn pid1(cnf: &Path) -> Command {
    require_root();
    require_tool("unshare");
    let mut c = Command::new("unshare");
    // --kill-child: if a test gives up on us, killing unshare ends the namespace.
    c.args(["--pid", "--fork", "--kill-child", "--mount-proc"])
        .arg(bin())
        .arg("--cnf")
        .arg(cnf);
    c.env("REPLIKIT_LOG", "debug")
        .env("REPLIKIT_ROLE", "standalone");
    c
}

/// replikit as an ordinary child of the test (it becomes a subreaper).
pub fn subreaper(cnf: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--cnf").arg(cnf);
    c.env("REPLIKIT_LOG", "debug")
        .env("REPLIKIT_ROLE", "standalone");
    c
}

/// Polls `check` every 20 ms until it holds or `limit` passes. The limit is
/// a safety net for a broken build, not a performance assertion.
pub fn wait_for(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < limit,
            "gave up after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Like `wait_for`, for a check that yields the value waited for.
pub fn wait_for_value<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let mut value = None;
    wait_for(limit, what, || {
        value = check();
        value.is_some()
    });
    value.unwrap()
}

/// replikit's error lines in a stderr text (`replikit: error: ...`).
pub fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("replikit: error:"))
        .collect()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The pids of the direct children of `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The database server (mysqld or mariadbd) among the descendants of
/// `root`, by its command name, when exactly one runs.
pub fn server_under(root: u32) -> Option<u32> {
    let mut family = vec![root];
    let mut servers = Vec::new();
    while let Some(parent) = family.pop() {
        for child in children_of(parent) {
            family.push(child);
            let comm = fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
            if matches!(comm.trim_end(), "mysqld" | "mariadbd") {
                servers.push(child);
            }
        }
    }
    match servers[..] {
        [one] => Some(one),
        _ => None,
    }
}

/// `kill -SIGNAL pid`; whether it was delivered.
pub fn send_signal(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; only a reaped process is gone.
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A private host: new network, UTS, mount and PID namespaces, with hostname
/// `hostname` and empty bridges (standing in for Docker's interfaces; this kernel may lack the dummy module) holding `addrs` (`"d0=10.0.1.5/24"`), in
/// that order. `setup`/`after` are shell lines run around replikit inside
/// the namespaces (the mounts they make vanish with them). replikit's args
/// follow; its exit code is the command's.
pub fn host(hostname: &str, addrs: &[&str], setup: &str, after: &str) -> Command {
    require_root();
    require_tool("unshare");
    require_tool("ip");
    let mut script = String::from("set -e\nhostname \"$H\"\nip link set lo up\n");
    for spec in addrs {
        let (dev, addr) = spec.split_once('=').expect("DEV=ADDR/PREFIX");
        script += &format!(
            "ip link show {dev} >/dev/null 2>&1 || ip link add {dev} type bridge\n\
             ip addr add {addr} dev {dev} nodad 2>/dev/null || ip addr add {addr} dev {dev}\n\
             ip link set {dev} up\n"
        );
    }
    script += setup;
    script += "\nset +e\n\"$@\"\nrc=$?\n";
    script += after;
    script += "\nexit $rc\n";
    let mut c = Command::new("unshare");
    c.args([
        "--net",
        "--uts",
        "--mount",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "sh",
        "-c",
    ])
    .arg(script)
    .arg("sh")
    .arg(bin())
    .env("H", hostname)
    .env("REPLIKIT_LOG", "info")
    .env("REPLIKIT_ROLE", "standalone");
    c
}

/// How long any one command under test may run before the test fails.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// `Command::output` with a time limit: a hung replikit fails its test
/// instead of hanging the whole run.
pub trait Bounded {
    fn bounded(&mut self) -> Output {
        self.bounded_for(COMMAND_LIMIT)
    }
    fn bounded_for(&mut self, limit: Duration) -> Output;
}

impl Bounded for Command {
    fn bounded_for(&mut self, limit: Duration) -> Output {
        let mut child = self
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let out = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = out.read_to_end(&mut v);
            v
        });
        let err = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = err.read_to_end(&mut v);
            v
        });
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{self:?} did not finish within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Output {
            status,
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        }
    }
}

/// A password as replikit derives it (src/accounts/mod.rs): PBKDF2-HMAC-SHA256,
/// one round, salted by the cluster's name and the account's label.
pub fn derived(secret: &str, cluster: &str, label: &str) -> String {
    let salt = format!("replikit\0{cluster}\0{label}");
    let mut key = [0u8; 16];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(secret.as_bytes(), salt.as_bytes(), 1, &mut key);
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// A process's /proc/PID/status shows no blocked and no ignored signal.
pub fn assert_clean_signal_state(status: &str, whose: &str) {
    for field in ["SigBlk", "SigIgn"] {
        let line = status
            .lines()
            .find(|l| l.starts_with(field))
            .unwrap_or_else(|| panic!("{whose}: no {field} in {status:?}"));
        let mask = u64::from_str_radix(line.split_whitespace().nth(1).unwrap_or(""), 16).unwrap();
        assert_eq!(mask, 0, "{whose}: {line}");
    }
}

/// For `pre_exec`: what a careless parent leaves replikit with, SIGHUP
/// ignored (as `nohup` does) and SIGINT and SIGUSR2 blocked.
pub fn ignore_and_block_some_signals() -> std::io::Result<()> {
    // SAFETY: signal and sigprocmask on a local set, in the forked child.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR2);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    Ok(())
}
