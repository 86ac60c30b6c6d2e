//! PID 1's stop as the background work sees it. Once the command has been
//! told to stop (or has exited for good), a half-done replication set-up
//! must not go on: no new helper process starts, no retry begins, waits
//! end early. PID 1 then waits a moment for the background work to wind
//! down before it exits, so that nothing is cut off mid-step.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The process's own flag; it never goes back.
static PID1: Flag = Flag::new();

/// The slice a pause sleeps before it looks at the flag again.
const SLICE: Duration = Duration::from_millis(50);

/// From now on, background work winds down.
pub fn begin() {
    PID1.raise();
}

/// Whether PID 1 is stopping.
pub fn requested() -> bool {
    PID1.is_raised()
}

/// Err(Stopping) once PID 1 stops: for the top of each attempt.
pub fn check() -> anyhow::Result<()> {
    PID1.check()
}

/// Sleeps `length`, or less when PID 1 starts stopping meanwhile; whether
/// the whole pause was slept.
pub fn pause(length: Duration) -> bool {
    PID1.pause(length)
}

/// The error a background step ends with when PID 1 stops under it.
#[derive(Debug)]
pub struct Stopping;

impl std::fmt::Display for Stopping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("replikit is stopping")
    }
}

impl std::error::Error for Stopping {}

/// A flag raised once, that sleepers notice within a slice.
struct Flag(AtomicBool);

impl Flag {
    const fn new() -> Flag {
        Flag(AtomicBool::new(false))
    }

    fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.is_raised() {
            return Err(Stopping.into());
        }
        Ok(())
    }

    fn pause(&self, length: Duration) -> bool {
        let end = Instant::now() + length;
        loop {
            if self.is_raised() {
                return false;
            }
            let now = Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep(SLICE.min(end - now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn pauses_run_their_length_until_the_flag_then_end_at_once() {
        let flag = Arc::new(Flag::new());
        assert!(flag.check().is_ok());
        let started = Instant::now();
        assert!(flag.pause(Duration::from_millis(120)));
        assert!(started.elapsed() >= Duration::from_millis(120));

        let raiser = {
            let flag = flag.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                flag.raise();
            })
        };
        let started = Instant::now();
        assert!(!flag.pause(Duration::from_secs(60)));
        assert!(started.elapsed() < Duration::from_secs(5));
        raiser.join().unwrap();
        let e = flag.check().unwrap_err();
        assert!(e.is::<Stopping>());
        assert_eq!(e.to_string(), "replikit is stopping");
        assert!(!flag.pause(Duration::from_secs(60)), "raised for good");
    }
}
