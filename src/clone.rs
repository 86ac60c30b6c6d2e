//! Seeding with MySQL's clone plugin: the recipient copies the source's
//! data files (InnoDB pages, not SQL), then shuts down and must be started
//! again on them, which replikit as PID 1 does (`restart`). Much faster
//! than a dump for large data, and the GTID history comes along, so the
//! replica continues with auto-positioning.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use crate::db::flavor::Tls;
use crate::db::sql::quote;
use crate::db::wire::{Conn, ServerError};
use crate::restart;
use crate::role::Credentials;

/// CLONE INSTANCE when nobody can restart the server: the data is cloned
/// and the server shuts down all the same.
const NOT_SUPERVISED: u16 = 3707;

/// Whether the clone plugin is active on the server behind `conn`.
pub fn plugin_active(conn: &mut Conn) -> Result<bool> {
    let rows = conn.query(
        "SELECT PLUGIN_STATUS AS s FROM information_schema.plugins WHERE PLUGIN_NAME = 'clone'",
    )?;
    Ok(rows.get(0, "s") == Some("ACTIVE"))
}

/// Installs the clone plugin unless it is active already.
pub fn ensure_plugin(conn: &mut Conn) -> Result<()> {
    if !plugin_active(conn)? {
        conn.query("INSTALL PLUGIN clone SONAME 'mysql_clone.so'")
            .context("installing the clone plugin")?;
    }
    Ok(())
}

/// The statement that clones from the source (pure).
pub fn clone_statement(host: &str, port: u16, donor: &Credentials, tls: &Tls) -> String {
    let ssl = match tls {
        Tls::Off => "",
        Tls::On | Tls::Verify { .. } => " REQUIRE SSL",
    };
    format!(
        "CLONE INSTANCE FROM {}@{}:{port} IDENTIFIED BY {}{ssl}",
        quote(&donor.user),
        quote(host),
        quote(&donor.password)
    )
}

/// Clones the source into this server. On success the server is shutting
/// down, and replikit starts it again; `conn` is gone with it.
pub fn clone_from(
    conn: &mut Conn,
    host: &str,
    port: u16,
    donor: &Credentials,
    tls: &Tls,
) -> Result<()> {
    ensure_plugin(conn)?;
    conn.query(&format!(
        "SET GLOBAL clone_valid_donor_list = {}",
        quote(&format!("{host}:{port}"))
    ))?;
    // Could take hours for a big source.
    conn.set_timeout(Duration::from_secs(24 * 3600))?;
    restart::request();
    match conn.query(&clone_statement(host, port, donor, tls)) {
        Ok(_) => Ok(()),
        Err(e)
            if e.downcast_ref::<ServerError>()
                .is_some_and(|s| s.code == NOT_SUPERVISED) =>
        {
            Ok(())
        }
        Err(e) => {
            restart::cancel();
            let text = format!("{e:#}").replace(&donor.password, "***");
            Err(anyhow!("cloning from {host}:{port} failed: {text}"))
        }
    }
}

/// Where a completed clone from `host:port` left this server: the source's
/// binary log file and position at the clone. None when this server holds
/// no such clone (or has no clone plugin).
pub fn cloned_from(conn: &mut Conn, host: &str, port: u16) -> Result<Option<(String, u64)>> {
    if !plugin_active(conn)? {
        return Ok(None);
    }
    // The clone's GTIDs must still be this server's history: after
    // RESET BINARY LOGS AND GTIDS and dropped schemas, the status row
    // remains but the data it describes is gone.
    let rows = conn.query(
        "SELECT STATE AS s, SOURCE AS src, BINLOG_FILE AS f, BINLOG_POSITION AS p, \
         GTID_SUBSET(GTID_EXECUTED, @@GLOBAL.gtid_executed) AS kept \
         FROM performance_schema.clone_status",
    )?;
    let done = rows.get(0, "s") == Some("Completed")
        && rows.get(0, "src") == Some(&format!("{host}:{port}"))
        && rows.get(0, "kept") == Some("1");
    if !done {
        return Ok(None);
    }
    let file = rows.get(0, "f").unwrap_or_default().to_string();
    let pos = rows.get(0, "p").and_then(|p| p.parse().ok()).unwrap_or(0);
    Ok(Some((file, pos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clone_statement_quotes_everything() {
        let donor = Credentials {
            user: "replikit_donor".into(),
            password: "p'w".into(),
        };
        assert_eq!(
            clone_statement("db1", 3306, &donor, &Tls::Off),
            r"CLONE INSTANCE FROM 'replikit_donor'@'db1':3306 IDENTIFIED BY 'p\'w'"
        );
        assert!(clone_statement("db1", 3306, &donor, &Tls::On).ends_with(" REQUIRE SSL"));
    }
}
