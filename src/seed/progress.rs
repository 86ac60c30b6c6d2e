//! Progress reports for long work (a dump being copied, a clone): a report
//! every period, driven by a clock rather than by the work itself, so a
//! copy that stalls (a lock on either server) still says so in the log.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Runs `work`, calling `report` on a second thread every `period` until
/// `work` returns; returns what `work` returned.
pub fn reporting_every<T>(
    period: Duration,
    report: impl Fn() + Sync,
    work: impl FnOnce() -> T,
) -> T {
    let finished = (Mutex::new(false), Condvar::new());
    let (lock, wake) = &finished;
    let report = &report;
    std::thread::scope(|s| {
        let reporter = std::thread::Builder::new().name("progress".into());
        // No thread to be had (a process limit): the work goes on unreported.
        let spawned = reporter.spawn_scoped(s, move || loop {
            let done = lock.lock().unwrap_or_else(|e| e.into_inner());
            let (done, _) = wake
                .wait_timeout_while(done, period, |done| !*done)
                .unwrap_or_else(|e| e.into_inner());
            if *done {
                return;
            }
            // Not holding the lock while reporting: the work may end meanwhile.
            drop(done);
            report();
        });
        if let Err(e) = spawned {
            log::warn!("no progress reports for this work: cannot start a thread: {e}");
        }
        let result = work();
        // Wakes the reporter at once, mid-period.
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_one();
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Instant;

    #[test]
    fn reports_while_the_work_runs_and_stops_with_it() {
        let reports = AtomicU32::new(0);
        let start = Instant::now();
        let result = reporting_every(
            Duration::from_millis(20),
            || {
                reports.fetch_add(1, Ordering::SeqCst);
            },
            || {
                while reports.load(Ordering::SeqCst) < 3
                    && start.elapsed() < Duration::from_secs(10)
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                7
            },
        );
        assert_eq!(result, 7);
        let seen = reports.load(Ordering::SeqCst);
        assert!(seen >= 3, "{seen} reports in {:?}", start.elapsed());
        // No report after the work is done.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(reports.load(Ordering::SeqCst), seen);
    }

    #[test]
    fn quick_work_gets_no_report_and_no_wait() {
        let start = Instant::now();
        let result = reporting_every(Duration::from_secs(3600), || panic!("reported"), || "done");
        assert_eq!(result, "done");
        assert!(start.elapsed() < Duration::from_secs(60));
    }
}
