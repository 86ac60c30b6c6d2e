//! A panic in background work (replication, the agent check) must not end
//! PID 1: it is logged on one line and the work starts again, while the
//! command runs on and its exit code stays the container's. The faults
//! come from the `failpoints` build of cargo's own debug binary
//! (REPLIKIT_FAILPOINT); no release has them.

use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

/// The debug build with failpoints, as PID 1 of a new PID namespace.
fn pid1_with_failpoint(failpoint: &str, cnf: &std::path::Path) -> Command {
    if !cfg!(feature = "failpoints") {
        panic!("these tests need the failpoints build: cargo test --features failpoints (scripts/test does)");
    }
    require_root();
    require_tool("unshare");
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--kill-child", "--mount-proc"])
        .arg(PathBuf::from(env!("CARGO_BIN_EXE_replikit")))
        .arg("--cnf")
        .arg(cnf)
        .env("REPLIKIT_LOG", "info")
        .env("REPLIKIT_SERVER_ID_VIA", "off")
        .env("REPLIKIT_FAILPOINT", failpoint);
    c
}

#[test]
fn a_panic_in_replication_is_logged_retried_and_the_command_runs_on() {
    let dir = Scratch::new("panic-repl");
    let out = pid1_with_failpoint("replication", &dir.path("r.cnf"))
        .env("MYSQL_MASTER", "1")
        .env("MYSQL_ROOT_PASSWORD", "x")
        .env("REPLIKIT_SOCKET", dir.path("no-server.sock"))
        .args(["--", "sh", "-c", "sleep 2; exit 7"])
        .bounded();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert!(
        err.contains("a bug in replikit: thread replication panicked at")
            && err.contains("failpoint replication"),
        "{err}"
    );
    assert!(
        err.contains("replication: starting it again in 1s"),
        "{err}"
    );
    assert!(err.contains("replication: started again"), "{err}");
    for line in err.lines().filter(|l| l.contains("panicked")) {
        assert!(line.starts_with("replikit: "), "not one log line: {line:?}");
    }
}

#[test]
fn a_panic_in_the_agent_leaves_the_next_connection_answered() {
    let dir = Scratch::new("panic-agent");
    let port = crate::common::servers::free_port();
    let mut child = pid1_with_failpoint("agent", &dir.path("r.cnf"))
        .env("REPLIKIT_ROLE", "standalone")
        .env("REPLIKIT_AGENT_PORT", port.to_string())
        .env("REPLIKIT_SOCKET", dir.path("no-server.sock"))
        .args(["--", "sleep", "4"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let answer = || -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        Some(text)
    };
    // The first connection meets the fault: closed without a word.
    let first = wait_for_value(Duration::from_secs(10), "the agent's port", answer);
    assert_eq!(first, "", "the first reply should have panicked");
    let second = answer().expect("the agent still answers");
    assert!(second.starts_with("down #--connect"), "{second:?}");
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        err.contains("a bug in replikit: thread agent panicked"),
        "{err}"
    );
    assert!(err.contains("agent: starting it again in 1s"), "{err}");
}
