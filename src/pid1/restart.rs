//! A restart of the command that replikit itself asked for. A clone makes
//! the recipient server shut down and expects its supervisor to start it
//! again on the cloned data (mysqld_safe or systemd would); as PID 1,
//! replikit is that supervisor, and does it in place, without the container
//! stopping and without depending on Docker's restart policy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Work to do while the command is down, before it starts again.
pub type Action = Box<dyn FnOnce() -> anyhow::Result<()> + Send>;

static BEFORE_START: Mutex<Option<Action>> = Mutex::new(None);

/// As `request`, with `action` run between the exit and the new start (a
/// physical seed's move into the data directory): PID 1 starts the
/// command again only if it succeeds.
pub fn request_with(action: Action) {
    *BEFORE_START.lock().unwrap_or_else(|e| e.into_inner()) = Some(action);
    request();
}

/// The action to run before the restart, if any; taken once.
pub fn take_action() -> Option<Action> {
    BEFORE_START
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
}

/// The next exit of the command is to be followed by a new start.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// The restart is no longer wanted (the clone failed before shutting the
/// server down).
pub fn cancel() {
    REQUESTED.store(false, Ordering::SeqCst);
    take_action();
}

/// Whether a restart was requested; clears the request.
pub fn take() -> bool {
    REQUESTED.swap(false, Ordering::SeqCst)
}

/// The variable mysqld reads to know that its parent restarts it
/// (mysqld_safe sets it): with it, CLONE INSTANCE reports success and shuts
/// the server down, rather than failing with error 3707.
pub const PARENT_PID_VARIABLE: &str = "MYSQLD_PARENT_PID";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_taken_once_and_can_be_cancelled() {
        assert!(!take());
        request();
        assert!(take());
        assert!(!take());
        request();
        cancel();
        assert!(!take());
    }
}
