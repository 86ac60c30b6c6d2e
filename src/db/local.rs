//! replikit's own way into the server it runs beside: the unix socket, as
//! root. One description of that log-in for every part that needs it
//! (replication set-up, seeding's loader and progress, the monitoring
//! account's upkeep).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::db::wire::Conn;

#[derive(Clone, PartialEq, Eq)]
pub struct LocalServer {
    pub socket: PathBuf,
    /// The local root password; empty when none is set.
    pub root_password: String,
}

impl LocalServer {
    /// One log-in as root.
    pub fn log_in(&self, timeout: Duration) -> Result<Conn> {
        Conn::connect(&self.socket, "root", &self.root_password, timeout)
    }
}

/// Never the password, not even in a debug line.
impl std::fmt::Debug for LocalServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalServer")
            .field("socket", &self.socket)
            .field("root_password", &"***")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_password() {
        let local = LocalServer {
            socket: "/run/mysqld/mysqld.sock".into(),
            root_password: "hunter2".into(),
        };
        let shown = format!("{local:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("mysqld.sock"), "{shown}");
    }
}
