//! The monitoring account that `replikit health` and `replikit status` log
//! in with: `replikit_monitor`@`localhost`, on every node, with only the
//! privilege to read replication status. Its password is derived one-way
//! from the local root password, so a probe needs no secret of its own and
//! never runs as root; where the account is missing (replikit has not set
//! the node up yet), the probe falls back to root.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::db::flavor::{Dialect, Product};
use crate::db::sql::quote;
use crate::db::wire::Conn;
use crate::role::Credentials;

pub const USER: &str = "replikit_monitor";

/// The account's credentials, from the local root password.
pub fn account(root_password: &str) -> Credentials {
    Credentials::derived(USER, "replikit monitor account", root_password)
}

/// Reading SHOW REPLICA STATUS is all status needs; system variables and
/// the server's own state are open to every account.
pub fn grant(d: &Dialect) -> &'static str {
    match d.version.product {
        // REPLICA MONITOR since 10.5.9; before, REPLICATION CLIENT did it.
        Product::MariaDb if d.version.release >= crate::db::flavor::Release(10, 5, 9) => {
            "REPLICA MONITOR"
        }
        _ => "REPLICATION CLIENT",
    }
}

/// Creates or updates the account on the local server, outside the binary
/// log: each node has its own, and a replica must not receive the
/// primary's. Every start asks this, so an account that logs in already
/// (the usual case) costs one log-in and nothing is changed. A MySQL
/// replica persisted read-only is opened for root for the moment the
/// change takes (read_only stays on for everyone else).
pub fn ensure(conn: &mut Conn, socket: &Path, d: &Dialect, root_password: &str) -> Result<()> {
    let creds = account(root_password);
    if Conn::connect(socket, &creds.user, &creds.password, Duration::from_secs(5)).is_ok() {
        return Ok(());
    }
    let name = format!("{}@'localhost'", quote(USER));
    let super_read_only = d.version.product == Product::MySql
        && conn
            .query("SELECT @@GLOBAL.super_read_only AS s")?
            .get(0, "s")
            == Some("1");
    if super_read_only {
        conn.query("SET GLOBAL super_read_only = OFF")?;
    }
    let result = (|| -> Result<()> {
        conn.query("SET SESSION sql_log_bin = 0")?;
        conn.query(&format!(
            "CREATE USER IF NOT EXISTS {name} IDENTIFIED BY {}",
            quote(&creds.password)
        ))?;
        conn.query(&format!(
            "ALTER USER {name} IDENTIFIED BY {}",
            quote(&creds.password)
        ))?;
        conn.query(&format!("GRANT {} ON *.* TO {name}", grant(d)))?;
        conn.query("SET SESSION sql_log_bin = 1")?;
        Ok(())
    })();
    if super_read_only {
        conn.query("SET GLOBAL super_read_only = ON")?;
    }
    result
}

/// Logs in to the local server as the monitoring account, or as root
/// where that fails (the account is not there yet; MySQL then answers
/// with a made-up authentication method rather than "access denied", so
/// any failure counts).
pub fn log_in(socket: &Path, root_password: &str, timeout: Duration) -> Result<Conn> {
    let creds = account(root_password);
    Conn::connect(socket, &creds.user, &creds.password, timeout)
        .or_else(|_| Conn::connect(socket, "root", root_password, timeout))
}
