//! A restart of the command that replikit itself asked for. A clone makes
//! the recipient server shut down and expects its supervisor to start it
//! again on the cloned data (mysqld_safe or systemd would); as PID 1,
//! replikit is that supervisor, and does it in place, without the container
//! stopping and without depending on Docker's restart policy.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// The next exit of the command is to be followed by a new start.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// The restart is no longer wanted (the clone failed before shutting the
/// server down).
pub fn cancel() {
    REQUESTED.store(false, Ordering::SeqCst);
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
