//! Background work beside PID 1's supervision (replication set-up with its
//! seeding, the agent check): a panic there must never end PID 1, whose
//! end takes the server down with SIGKILL. Each task runs under
//! `catch_unwind` (the release profile unwinds for this); a panic is
//! logged on one line as the bug it is, and the task starts again after a
//! pause that doubles up to a minute, unless PID 1 is stopping.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::pid1::stopping;

const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// Runs `task` on a thread named `name` until it returns; again after a
/// pause whenever it panics. PID 1 exits without waiting for it: it holds
/// nothing that an exit could cut off (the agent check).
pub fn spawn(name: &'static str, task: impl Fn() + Send + 'static) -> Result<()> {
    start(name, task).map(drop)
}

/// As `spawn`, for work that must end before PID 1 does (replication's
/// set-up, which starts helper processes): `wait_for_awaited` waits for it.
pub fn spawn_awaited(name: &'static str, task: impl Fn() + Send + 'static) -> Result<()> {
    let handle = start(name, task)?;
    awaited().push((name, handle));
    Ok(())
}

/// Waits up to `limit` for the `spawn_awaited` tasks, once `stopping` has
/// begun; whether all of them ended.
pub fn wait_for_awaited(limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let tasks = std::mem::take(&mut *awaited());
    let mut all_ended = true;
    for (name, handle) in tasks {
        while !handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if handle.is_finished() {
            let _ = handle.join();
            log::debug!("{name}: ended");
        } else {
            log::warn!("{name}: still running {limit:?} after the stop; exiting without it");
            all_ended = false;
        }
    }
    all_ended
}

fn awaited() -> MutexGuard<'static, Vec<(&'static str, JoinHandle<()>)>> {
    static AWAITED: Mutex<Vec<(&'static str, JoinHandle<()>)>> = Mutex::new(Vec::new());
    AWAITED.lock().unwrap_or_else(|e| e.into_inner())
}

fn start(name: &'static str, task: impl Fn() + Send + 'static) -> Result<JoinHandle<()>> {
    log_panics_on_one_line();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut pause = FIRST_PAUSE;
            while panic::catch_unwind(AssertUnwindSafe(&task)).is_err() {
                log::error!("{name}: starting it again in {pause:?}, after the bug above");
                if !stopping::pause(pause) {
                    return;
                }
                pause = (pause * 2).min(MAX_PAUSE);
                log::info!("{name}: started again");
            }
        })
        .with_context(|| format!("cannot start the {name} thread"))
}

/// A test's fault: panics the first time it is reached when
/// REPLIKIT_FAILPOINT (a comma-separated list) names it. Compiled only
/// with the `failpoints` feature, which no release has.
#[cfg(feature = "failpoints")]
pub fn failpoint(name: &str) {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static FIRED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let wanted = std::env::var("REPLIKIT_FAILPOINT").is_ok_and(|v| v.split(',').any(|p| p == name));
    if wanted
        && FIRED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.into())
    {
        panic!("failpoint {name}");
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn failpoint(_name: &str) {}

/// A panic's report as one log line (std's spans several, on stderr).
fn log_panics_on_one_line() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let thread = std::thread::current();
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            log::error!(
                "a bug in replikit: thread {} panicked{at}: {}",
                thread.name().unwrap_or("unnamed"),
                message.replace(['\n', '\r'], " ")
            );
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_panicking_task_is_started_again_until_it_returns() {
        let runs = Arc::new(AtomicU32::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        let seen = runs.clone();
        spawn("test-task", move || {
            if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("first run fails");
            }
            tx.send(()).unwrap();
        })
        .unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
