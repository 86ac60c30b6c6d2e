//! PID-1 duties: start a command, pass every signal on to it, reap every
//! zombie, and clean up what the command leaves behind.
//!
//! Signals are blocked and read from a signalfd rather than caught by
//! handlers. A blocked signal is queued even for PID 1 of a namespace (the
//! kernel drops signals to a namespace init only when their disposition is
//! the default and they are not blocked), and there is no async-signal
//! safety to get wrong. The child must then start with an empty mask, or it
//! would never see SIGTERM: `spawn` sees to that.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::exit_code::{self, Fatal};
use crate::pid1::footprint;
use crate::pid1::helpers;
use crate::pid1::proc_tree;
use crate::pid1::spawn;
use crate::pid1::stopping;

/// Signals that only make sense for the process that faulted: never blocked,
/// never forwarded, so a bug in replikit still crashes loudly.
const SYNCHRONOUS: [i32; 6] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGTRAP,
    libc::SIGSYS,
];

/// How long to wait for processes to disappear after SIGKILL. PID 1 exiting
/// kills the rest of the namespace anyway; this only keeps the log honest.
const AFTER_KILL: Duration = Duration::from_secs(2);

/// Where forwarded signals go (REPLIKIT_SIGNAL_TO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalTo {
    /// The command alone, which passes them on as it sees fit.
    Child,
    /// The command's whole process group (it starts one of its own), as
    /// tini -g and dumb-init do: for a shell script that does not pass a
    /// signal on to its children.
    Group,
}

impl std::str::FromStr for SignalTo {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "child" => Ok(SignalTo::Child),
            "group" => Ok(SignalTo::Group),
            other => anyhow::bail!("unknown value {other:?}: use child or group"),
        }
    }
}

pub struct Supervisor {
    signals: SignalFd,
    pid1: bool,
    signal_to: SignalTo,
    /// A signal that asks to stop (SIGTERM, SIGINT, SIGQUIT) was passed
    /// on: the command's exit is then meant, whatever else was asked.
    told_to_stop: bool,
}

/// Every catchable signal except the synchronous ones; includes SIGCHLD,
/// which we read to know when to reap.
fn blocked_signals() -> SigSet {
    // SAFETY: sigemptyset/sigaddset only write into the local set; glibc
    // refuses its two internal real-time signals, which is what we want.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in 1..=libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP && !SYNCHRONOUS.contains(&sig) {
                libc::sigaddset(&mut set, sig);
            }
        }
        SigSet::from_sigset_t_unchecked(set)
    }
}

impl Supervisor {
    /// Blocks signals and becomes a subreaper when not PID 1. Call before
    /// starting any child, so no signal sent in between is lost.
    pub fn start(signal_to: SignalTo) -> Result<Supervisor> {
        let pid1 = std::process::id() == 1;
        if !pid1 {
            nix::sys::prctl::set_child_subreaper(true)
                .context("cannot become a child subreaper")?;
        }
        let set = blocked_signals();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).context("cannot block signals")?;
        let signals = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .context("cannot create a signalfd")?;
        Ok(Supervisor {
            signals,
            pid1,
            signal_to,
            told_to_stop: false,
        })
    }

    pub fn is_pid1(&self) -> bool {
        self.pid1
    }

    /// Runs `argv` until it exits, forwarding signals to it and reaping any
    /// orphan meanwhile. Returns its exit code (128+N for signal N).
    pub fn run(&mut self, argv: &[OsString]) -> Result<i32, Fatal> {
        self.run_side_by_side(&[argv.to_vec()], |_, _| false)
            .map(|(_, code)| code)
    }

    /// Runs `commands` side by side until the first of them exits (codep),
    /// passing every signal on to each, and reaping any orphan meanwhile.
    /// Returns which one exited and its code; `finish` then stops the rest.
    /// `again(i, told_to_stop)` is asked when command `i` exits: true
    /// starts it again in place, the others running on (a clone's restart).
    pub fn run_side_by_side(
        &mut self,
        commands: &[Vec<OsString>],
        mut again: impl FnMut(usize, bool) -> bool,
    ) -> Result<(usize, i32), Fatal> {
        let mut pids = Vec::with_capacity(commands.len());
        for argv in commands {
            // One that cannot start ends it all; `finish` stops those started.
            let pid = spawn(argv)?;
            log::debug!("started pid {pid}");
            pids.push(pid);
        }
        // Shrunk once the first quiet moment shows that the command runs
        // on: a command that ends at once (a hook, a probe) would only
        // fault the pages back in to finish.
        let mut shrunk = false;
        loop {
            let timeout = (!shrunk).then_some(footprint::QUIET_BEFORE_SHRINKING);
            let signals = self
                .wait_for_signals(timeout)
                .map_err(|e| Fatal::new(exit_code::OS_ERROR, e))?;
            if !shrunk && signals.is_empty() {
                footprint::shrink();
                shrunk = true;
                // No SIGCHLD: nothing to reap, and reaping would only map
                // its code again.
                continue;
            }
            for sig in signals {
                if sig == libc::SIGCHLD {
                    continue;
                }
                for child in &pids {
                    // Each command leads a process group of its own (see spawn).
                    let target = match self.signal_to {
                        SignalTo::Child => child.as_raw(),
                        SignalTo::Group => -child.as_raw(),
                    };
                    log::debug!("forwarding signal {sig} to {target} (a negative pid: a group)");
                    // SAFETY: kill has no memory effects; ESRCH (already gone) is fine.
                    unsafe { libc::kill(target, sig) };
                }
                // After the forwarding, so that the log says what came first:
                // the background work's wind-down lines follow it.
                if [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT].contains(&sig) {
                    self.told_to_stop = true;
                    stopping::begin();
                }
            }
            // Reap after every wake-up: SIGCHLDs coalesce, so one may stand for many.
            for (pid, code) in self.reap().exited {
                let Some(i) = pids.iter().position(|p| *p == pid) else {
                    continue;
                };
                if again(i, self.told_to_stop) {
                    pids[i] = spawn(&commands[i])?;
                    continue;
                }
                return Ok((i, code));
            }
        }
    }

    /// After the main command: SIGTERM whatever is left, SIGKILL it after
    /// `grace`, and reap it all.
    pub fn finish(&mut self, grace: Duration) {
        if !self.reap().children_left {
            return;
        }
        self.signal_remaining(libc::SIGTERM);
        log::info!("command exited; sent SIGTERM to remaining processes, SIGKILL in {grace:?}");
        if self.wait_until_no_children(grace) {
            log::info!("all remaining processes have exited");
            return;
        }
        self.signal_remaining(libc::SIGKILL);
        log::warn!(
            "processes still running {grace:?} after SIGTERM (REPLIKIT_GRACE); sent SIGKILL"
        );
        if self.wait_until_no_children(AFTER_KILL) {
            log::info!("all remaining processes have exited");
        } else {
            log::warn!("some processes survived SIGKILL for {AFTER_KILL:?}; exiting anyway");
        }
    }

    fn wait_until_no_children(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if !self.reap().children_left {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            if let Err(e) = self.wait_for_signals(Some(deadline - now)) {
                log::warn!("{e:#}");
                return false;
            }
        }
    }

    /// Signals every process we are responsible for. As PID 1 that is the
    /// whole namespace (`kill(-1)` never reaches PID 1 itself); as a
    /// subreaper it is our descendants, found through /proc.
    fn signal_remaining(&self, sig: i32) {
        if self.pid1 {
            // SAFETY: plain syscall.
            unsafe { libc::kill(-1, sig) };
            return;
        }
        let Some(processes) = proc_tree::snapshot() else {
            log::warn!(
                "/proc is not this pid namespace's; cannot find leftover processes to signal"
            );
            return;
        };
        for pid in proc_tree::descendants(&processes, std::process::id() as i32) {
            // SAFETY: plain syscall.
            unsafe { libc::kill(pid, sig) };
        }
    }

    /// Waits for signals (forever when `timeout` is None) and returns them.
    fn wait_for_signals(&mut self, timeout: Option<Duration>) -> Result<Vec<i32>> {
        let timeout = match timeout {
            // Round up, so a sub-millisecond remainder does not spin.
            Some(t) => {
                PollTimeout::try_from(t + Duration::from_micros(999)).unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let mut fds = [PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e).context("cannot wait for signals"),
        }
        let me = std::process::id();
        let mut got = Vec::new();
        while let Some(info) = self
            .signals
            .read_signal()
            .context("cannot read the signalfd")?
        {
            // A signal that names us as its sender is our own doing: a
            // SIGPIPE from writing a log line to a closed stderr. Passing it
            // on would log again, fail again and spin for ever.
            if info.ssi_pid == me {
                continue;
            }
            got.push(info.ssi_signo as i32);
        }
        Ok(got)
    }

    /// Reaps every child that has exited.
    fn reap(&self) -> Reaped {
        // Held while reaping, so a helper's status reaches its owner.
        let mut helpers = helpers::registry();
        let mut exited = Vec::new();
        let mut collect = |pid: Pid, code: i32| {
            if !helpers.claim(pid.as_raw(), code) {
                exited.push((pid, code));
            }
        };
        let children_left = loop {
            match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    log::trace!("reaped pid {pid}: exit {code}");
                    collect(pid, code);
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    log::trace!("reaped pid {pid}: signal {sig}");
                    collect(pid, exit_code::from_signal(sig as i32));
                }
                Ok(WaitStatus::StillAlive) => break true,
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => break false, // ECHILD: nobody left
            }
        };
        Reaped {
            exited,
            children_left,
        }
    }
}

struct Reaped {
    exited: Vec<(Pid, i32)>,
    children_left: bool,
}

fn spawn(argv: &[OsString]) -> Result<Pid, Fatal> {
    let program = argv.first().cloned().unwrap_or_default();
    match spawn::spawn(argv) {
        Ok(pid) => Ok(Pid::from_raw(pid)),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(Fatal::new(
            exit_code::NOT_FOUND,
            anyhow::anyhow!("command not found: {program:?}; check the command and PATH"),
        )),
        Err(e) => Err(Fatal::new(
            exit_code::NOT_EXECUTABLE,
            anyhow::anyhow!("cannot execute {program:?}: {e}; check that it is an executable file"),
        )),
    }
}
