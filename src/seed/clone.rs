//! Seeding with MySQL's clone plugin: the recipient copies the source's
//! data files (InnoDB pages, not SQL), then shuts down and must be started
//! again on them, which replikit as PID 1 does (`restart`). Much faster
//! than a dump for large data, and the GTID history comes along, so the
//! replica continues with auto-positioning.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use crate::accounts;
use crate::config::role::Credentials;
use crate::db::dialect::{Dialect, Tls};
use crate::db::error::redact;
use crate::db::local::LocalServer;
use crate::db::sql::quote;
use crate::db::wire::{Conn, ServerError};
use crate::pid1::restart;
use crate::seed::progress;

/// How often a running clone logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

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
        _ => " REQUIRE SSL",
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
    d: &Dialect,
    local: &LocalServer,
    host: &str,
    port: u16,
    donor: &Credentials,
    tls: &Tls,
) -> Result<()> {
    // A new replica under replikit starts fenced (super_read_only), which
    // refuses INSTALL PLUGIN: lifted for that statement, read_only kept,
    // so that no application account can write meanwhile. Nothing opens a
    // replica that is still being seeded, so putting the fence back cannot
    // undo someone else's change (on a primary it could).
    accounts::with_super_read_only_lifted(conn, d, ensure_plugin)?;
    conn.query(&format!(
        "SET GLOBAL clone_valid_donor_list = {}",
        quote(&format!("{host}:{port}"))
    ))?;
    // The server restarts on the clone before replikit can reconnect: it
    // must come up read-only already (the clone keeps the recipient's
    // persisted settings), so no application writes to it in between.
    conn.query("SET PERSIST_ONLY super_read_only = ON")?;
    // Could take hours for a big source.
    conn.set_timeout(Duration::from_secs(24 * 3600))?;
    restart::request();
    let result = progress::reporting_every(
        PROGRESS_EVERY,
        || report_progress(local),
        || conn.query(&clone_statement(host, port, donor, tls)),
    );
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if e.downcast_ref::<ServerError>()
                .is_some_and(|s| s.code == NOT_SUPERVISED) =>
        {
            Ok(())
        }
        Err(e) => {
            restart::cancel();
            let text = redact(&e, &donor.password);
            Err(anyhow!("cloning from {host}:{port} failed: {text}"))
        }
    }
}

/// Logs the running clone's stage and progress, read over a second
/// connection (the first one waits in CLONE INSTANCE).
fn report_progress(local: &LocalServer) {
    let rows = local.log_in(Duration::from_secs(5)).and_then(|mut c| {
        c.query(
            "SELECT STAGE AS stage, ESTIMATE AS estimate, DATA AS data, DATA_SPEED AS speed \
                 FROM performance_schema.clone_progress WHERE STATE = 'In Progress'",
        )
    });
    // The server goes away at the end of a clone: nothing to report.
    if let Ok(rows) = rows {
        let number = |c: &str| rows.get(0, c).and_then(|v| v.parse().ok()).unwrap_or(0);
        if let Some(stage) = rows.get(0, "stage") {
            log::info!(
                "{}",
                progress_line(stage, number("data"), number("estimate"), number("speed"))
            );
        }
    }
}

/// A progress line for one stage of a clone (pure).
pub fn progress_line(stage: &str, data: u64, estimate: u64, speed: u64) -> String {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let mut line = format!("cloning: stage {stage}, {:.1} MiB", mib(data));
    if estimate > 0 {
        line += &format!(
            " of about {:.1} MiB ({}%)",
            mib(estimate),
            data.min(estimate) * 100 / estimate
        );
    }
    line + &format!(", {:.1} MiB/s", mib(speed))
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
        assert!(clone_statement("db1", 3306, &donor, &Tls::Required).ends_with(" REQUIRE SSL"));
    }

    #[test]
    fn progress_lines() {
        let mib = 1024 * 1024;
        assert_eq!(
            progress_line("FILE COPY", 50 * mib, 200 * mib, 10 * mib),
            "cloning: stage FILE COPY, 50.0 MiB of about 200.0 MiB (25%), 10.0 MiB/s"
        );
        assert_eq!(
            progress_line("REDO COPY", 3 * mib, 0, 0),
            "cloning: stage REDO COPY, 3.0 MiB, 0.0 MiB/s"
        );
        assert_eq!(
            progress_line("FILE COPY", 300 * mib, 200 * mib, 0),
            "cloning: stage FILE COPY, 300.0 MiB of about 200.0 MiB (100%), 0.0 MiB/s"
        );
    }
}
