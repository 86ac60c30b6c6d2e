//! Helper processes (the dump tools that seed a replica), started and waited
//! for by a background thread while PID 1's reaper calls `waitpid(-1)` in
//! the main thread. Without care the reaper would collect a helper's exit
//! status first and the helper's owner would never learn it (ECHILD). So
//! helpers are registered under a lock that the reaper also holds while it
//! reaps, and the reaper hands their statuses over instead of dropping them.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::exit_code;
use crate::pid1::stopping;

/// Helper pids, each with its exit code once the reaper has collected it.
static OWNED: Mutex<BTreeMap<i32, Option<i32>>> = Mutex::new(BTreeMap::new());

fn owned_map() -> MutexGuard<'static, BTreeMap<i32, Option<i32>>> {
    // A panic elsewhere cannot leave the map half-updated: recover it.
    OWNED.lock().unwrap_or_else(|e| e.into_inner())
}

/// The reaper's view, held for the whole of one reaping round.
pub struct Registry(MutexGuard<'static, BTreeMap<i32, Option<i32>>>);

/// Taken by the reaper before it calls `waitpid(-1)`.
pub fn registry() -> Registry {
    Registry(owned_map())
}

impl Registry {
    /// Keeps the exit code of a helper for its owner; false for any other
    /// process (the reaper's own business).
    pub fn claim(&mut self, pid: i32, code: i32) -> bool {
        match self.0.get_mut(&pid) {
            Some(slot) => {
                *slot = Some(code);
                true
            }
            None => false,
        }
    }
}

/// A running helper. Its pipes are in `child`; wait with `Helper::wait`,
/// never with `Child::wait`.
pub struct Helper {
    pub child: Child,
}

/// Starts `command` as a helper. It is killed if the thread that started
/// it ends first, so an interrupted seed leaves no loader running behind,
/// and it starts with a clean signal state: nothing blocked (PID 1 blocks
/// every signal for its signalfd, and a blocked SIGTERM made `docker stop`
/// wait out the grace period and SIGKILL the dump tool) and nothing
/// ignored (replikit ignores SIGPIPE). None starts once PID 1 is stopping.
pub fn spawn(command: &mut Command) -> io::Result<Helper> {
    if stopping::requested() {
        return Err(io::Error::other(stopping::Stopping));
    }
    // SAFETY: the closure only calls prctl, sigprocmask and signal, which
    // are async-signal-safe, on values it owns.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            if libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            for signal in 1..libc::SIGRTMIN() {
                if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                    libc::signal(signal, libc::SIG_DFL);
                }
            }
            Ok(())
        });
    }
    let mut owned = owned_map();
    let child = command.spawn()?;
    owned.insert(child.id() as i32, None);
    Ok(Helper { child })
}

impl Helper {
    /// Waits for the helper to end; its exit code, 128+N for signal N.
    pub fn wait(self) -> io::Result<i32> {
        let pid = self.child.id() as i32;
        loop {
            {
                let mut owned = owned_map();
                if let Some(Some(code)) = owned.get(&pid).copied() {
                    owned.remove(&pid);
                    return Ok(code);
                }
                match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(_, code)) => {
                        owned.remove(&pid);
                        return Ok(code);
                    }
                    Ok(WaitStatus::Signaled(_, sig, _)) => {
                        owned.remove(&pid);
                        return Ok(exit_code::from_signal(sig as i32));
                    }
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => {
                        owned.remove(&pid);
                        return Err(io::Error::from(e));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ends the helper (an error elsewhere) and waits for it.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_gets_the_exit_code_even_when_the_reaper_collects_it() {
        let helper = spawn(Command::new("sh").args(["-c", "exit 7"])).unwrap();
        let pid = helper.child.id() as i32;
        // Play the reaper: collect the status before the owner asks.
        let status = loop {
            match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)).unwrap() {
                WaitStatus::Exited(_, code) => break code,
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        assert!(registry().claim(pid, status));
        assert!(!registry().claim(pid + 100_000, 0), "not a helper");
        assert_eq!(helper.wait().unwrap(), 7);
    }

    #[test]
    fn the_owner_reaps_its_own_helper_when_no_reaper_runs() {
        let helper = spawn(Command::new("sh").args(["-c", "kill -9 $$"])).unwrap();
        assert_eq!(helper.wait().unwrap(), 128 + 9);
    }
}
