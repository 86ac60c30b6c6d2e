//! MySQL's lock file beside its unix socket (`<socket>.lock`, holding the
//! server's PID). A server killed outright (OOM, `docker kill`, a test's
//! SIGKILL) leaves it behind, and the next server refuses to start
//! ("Another process with pid N is using unix socket file") whenever a
//! process or thread of that number is alive when it looks. Under
//! replikit the numbers of a PID namespace are handed out afresh on every
//! start, so the old number is often one of replikit's threads, or one of
//! the new server's own (it looks after starting dozens): the server would
//! not start again until someone removed the file by hand. MariaDB keeps
//! no such file.

use std::path::{Path, PathBuf};

/// The names a server process runs under.
const SERVER_NAMES: [&str; 2] = ["mysqld", "mariadbd"];

/// Who the PID in a lock file names now.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Holder {
    /// No process or thread of that number: the server sees that itself.
    Gone,
    /// A live process (or a thread of one) of this name.
    Alive(String),
}

/// Whether a lock naming `holder` is left over from a server that is
/// gone, and must be removed before a server starts (pure). As PID 1 of
/// its own namespace, before it has started a server, replikit knows that
/// none runs: every lock is stale, even one naming no live process yet
/// (the new server's own threads will take such numbers). Elsewhere only
/// a live server keeps it, and one naming no live process is the server's
/// to judge.
fn is_stale(holder: &Holder, pid1: bool) -> bool {
    match holder {
        _ if pid1 => true,
        Holder::Gone => false,
        Holder::Alive(name) => !SERVER_NAMES.contains(&name.as_str()),
    }
}

/// The PID a lock file's text names (pure): MySQL writes it as digits.
fn parse_pid(text: &str) -> Option<u32> {
    text.trim().parse().ok().filter(|&pid| pid > 0)
}

fn lock_path(socket: &Path) -> PathBuf {
    let mut path = socket.as_os_str().to_owned();
    path.push(".lock");
    path.into()
}

/// Who `pid` is now: the name of its thread group's leader, so that a
/// thread of a live server counts as the server.
fn holder_of(pid: u32) -> Holder {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Holder::Gone;
    };
    let group = status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(pid);
    match std::fs::read_to_string(format!("/proc/{group}/comm")) {
        Ok(name) => Holder::Alive(name.trim_end().to_string()),
        Err(_) => Holder::Gone,
    }
}

/// Before the server starts: removes `socket`'s lock file when it is
/// stale (`is_stale`; `pid1`: replikit is PID 1 of its own namespace, and
/// then even a lock whose PID cannot be read, torn by the kill, goes).
/// Best effort; the server's own error still says what is wrong with a
/// file replikit leaves alone.
pub fn remove_if_stale(socket: &Path, pid1: bool) {
    let lock = lock_path(socket);
    let Ok(text) = std::fs::read_to_string(&lock) else {
        return;
    };
    // As PID 1 the answer needs no look at /proc, nor a readable PID.
    let why = if pid1 {
        "no server runs in this PID namespace yet".to_string()
    } else {
        let Some(pid) = parse_pid(&text) else {
            return;
        };
        let holder = holder_of(pid);
        if !is_stale(&holder, false) {
            return;
        }
        let Holder::Alive(name) = holder else {
            return;
        };
        format!("PID {pid} is {name} now, not a server")
    };
    match std::fs::remove_file(&lock) {
        Ok(()) => log::info!(
            "removed {}, left by a server that was killed ({why})",
            lock.display()
        ),
        Err(e) => log::warn!(
            "{} is left by a server that was killed, and cannot be removed ({e}); the server may refuse to start until it is",
            lock.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_live_server_keeps_its_lock_and_none_runs_before_pid1_starts_one() {
        let table = [
            (Holder::Gone, false),
            (Holder::Alive("mysqld".into()), false),
            (Holder::Alive("mariadbd".into()), false),
            (Holder::Alive("replikit".into()), true),
            (Holder::Alive("leader".into()), true),
            (Holder::Alive("sh".into()), true),
            (Holder::Alive("mysqld_safe".into()), true),
        ];
        for (holder, stale) in table {
            assert_eq!(is_stale(&holder, false), stale, "{holder:?}");
            assert!(is_stale(&holder, true), "{holder:?} as PID 1");
        }
    }

    #[test]
    fn lock_texts() {
        assert_eq!(parse_pid("7"), Some(7));
        assert_eq!(parse_pid("123\n"), Some(123));
        assert_eq!(parse_pid(" 42 "), Some(42));
        for bad in ["", "0", "-1", "x", "7x", "99999999999"] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_lock_naming_one_of_our_own_threads_is_removed() {
        let dir = std::env::temp_dir().join(format!("rk-socket-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("mysqld.sock");
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::gettid() }).unwrap();
            let _ = done_rx.recv();
        });
        let tid = rx.recv().unwrap();
        assert_eq!(holder_of(tid as u32), holder_of(std::process::id()));
        std::fs::write(lock_path(&socket), tid.to_string()).unwrap();
        remove_if_stale(&socket, false);
        assert!(!lock_path(&socket).exists());
        // A PID no process has: left for the server, which handles it,
        // except under PID 1, where the new server's threads may take it.
        std::fs::write(lock_path(&socket), "4194304").unwrap();
        remove_if_stale(&socket, false);
        assert!(lock_path(&socket).exists());
        remove_if_stale(&socket, true);
        assert!(!lock_path(&socket).exists());
        // Torn by the kill: only PID 1 knows it is stale all the same.
        std::fs::write(lock_path(&socket), "").unwrap();
        remove_if_stale(&socket, false);
        assert!(lock_path(&socket).exists());
        remove_if_stale(&socket, true);
        assert!(!lock_path(&socket).exists());
        done_tx.send(()).unwrap();
        thread.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
