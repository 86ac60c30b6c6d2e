//! replikit's own way into the server it runs beside: the unix socket, as
//! the local account PID 1 set up (`accounts::local_access`), or as root
//! with the local root password where there is none. One description of
//! that log-in for every part that needs it (replication set-up, seeding's
//! loader and progress, the monitoring account's upkeep).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::accounts::local_access;
use crate::config::role::Credentials;
use crate::db::wire::Conn;

/// Its `Debug` never shows the password (`Credentials`' own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalServer {
    pub socket: PathBuf,
    pub login: Credentials,
}

impl LocalServer {
    /// The log-in PID 1 set up beside `socket`, else root with
    /// `root_password` (empty when none is set).
    pub fn find(socket: &Path, root_password: Option<&str>) -> Result<LocalServer> {
        let init_file = local_access::init_file_beside(socket);
        let login = local_access::read(&init_file)?.unwrap_or_else(|| Credentials {
            user: "root".into(),
            password: root_password.unwrap_or_default().into(),
        });
        Ok(LocalServer {
            socket: socket.to_path_buf(),
            login,
        })
    }

    /// One log-in.
    pub fn log_in(&self, timeout: Duration) -> Result<Conn> {
        Conn::connect(
            &self.socket,
            &self.login.user,
            &self.login.password,
            timeout,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_password() {
        let local = LocalServer {
            socket: "/run/mysqld/mysqld.sock".into(),
            login: Credentials {
                user: "root".into(),
                password: "hunter2".into(),
            },
        };
        let shown = format!("{local:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("mysqld.sock"), "{shown}");
    }
}
