//! What the image made in the data directory for this node alone, which a
//! copy of the source's data (a physical seed, a clone) would otherwise
//! replace with the source's: mariadb-docker's health-check option file,
//! its upgrade marker, and the accounts the option file opens.
//!
//! The files stay where they are through the move (`physical::swap` keeps
//! them); the accounts are saved to a file beside the data before the copy
//! and put back, off the binary log, once the server runs on the copy, so
//! that no replica holds a transaction its source lacks. The saved file
//! holds password hashes only, as the server's own tables do, and is
//! written durably: a replikit stopped between the copy and the put-back
//! finds it at its next start.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use crate::accounts::{outside_the_binary_log, with_super_read_only_lifted};
use crate::db::dialect::Dialect;
use crate::db::error::Failure;
use crate::db::sql::quote;
use crate::db::wire::Conn;
use crate::identity::atomic_file;

/// Files the image writes for this node alone: mariadb-docker's
/// `.my-healthcheck.cnf` holds this node's health-check password. The
/// node's own stay; the copy's are dropped, so that the source's password
/// never lands here.
pub const OWN_FILES: &[&str] = &[".my-healthcheck.cnf"];

/// Upgrade markers: the server version that last upgraded the system
/// tables. The copy's describes the tables it brings, so it wins; where
/// the copy brings none, this node's stays (a copy only ever comes from
/// the same series), so that the entrypoint does not take the node for
/// one that needs an upgrade.
pub const UPGRADE_MARKERS: &[&str] = &["mariadb_upgrade_info", "mysql_upgrade_info"];

/// The accounts the images make for themselves: mariadb-docker's
/// health-check account on each local address, and the unix-socket
/// `mysql@localhost` of its MARIADB_MYSQL_LOCALHOST_USER.
pub const OWN_ACCOUNTS: &[(&str, &str)] = &[
    ("healthcheck", "localhost"),
    ("healthcheck", "127.0.0.1"),
    ("healthcheck", "::1"),
    ("mysql", "localhost"),
];

/// Where the saved accounts wait between the save and the put-back.
pub const SAVED: &str = "replikit-image-accounts.sql";

/// Whether the move of a copy keeps this node's file of that name (and
/// drops the copy's).
pub fn kept_through_a_copy(name: &str) -> bool {
    OWN_FILES.contains(&name) || name == SAVED
}

/// One account as this node had it: `SHOW CREATE USER` and `SHOW GRANTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `'user'@'host'`, quoted.
    pub name: String,
    pub create: String,
    pub grants: Vec<String>,
}

const HEADER: &str =
    "-- replikit: this node's own accounts, put back after a copy of the source's data";

/// The saved file's text (pure): the header, then each account dropped
/// and made again, one statement a line. A statement that spans lines is
/// refused rather than cut.
pub fn script(accounts: &[Account]) -> Result<String> {
    let mut text = format!("{HEADER}\n");
    for a in accounts {
        let statements = std::iter::once(format!("DROP USER IF EXISTS {}", a.name))
            .chain(std::iter::once(a.create.clone()))
            .chain(a.grants.iter().cloned());
        for s in statements {
            if s.contains(['\n', '\r']) || s.trim().is_empty() {
                bail!("the definition of {} does not fit on one line", a.name);
            }
            text.push_str(s.trim());
            text.push('\n');
        }
    }
    Ok(text)
}

/// The statements of a saved file (pure); refuses a file replikit did not
/// write.
pub fn statements(text: &str) -> Result<Vec<&str>> {
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        bail!("it was not written by replikit");
    }
    Ok(lines.filter(|l| !l.trim().is_empty()).collect())
}

/// The names of the accounts a saved file makes (pure), for the log.
pub fn names(statements: &[&str]) -> Vec<String> {
    statements
        .iter()
        .filter_map(|s| s.strip_prefix("DROP USER IF EXISTS "))
        .map(str::to_string)
        .collect()
}

/// Before a copy: the image's own accounts this server has, saved to
/// `datadir/SAVED` (none: no file).
pub fn save(conn: &mut Conn, d: &Dialect, datadir: &Path) -> Result<()> {
    let path = datadir.join(SAVED);
    let accounts = own_accounts(conn, d).context("reading the image's own accounts")?;
    if accounts.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", path.display()))
            }
            _ => Ok(()),
        };
    }
    let text = script(&accounts)?;
    atomic_file::write_private(
        &path,
        text.as_bytes(),
        None,
        atomic_file::Durability::Synced,
    )
    .with_context(|| format!("cannot save the image's own accounts to {}", path.display()))?;
    log::info!(
        "seeding: saved this node's own accounts ({}) to put them back after the copy",
        accounts
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn own_accounts(conn: &mut Conn, d: &Dialect) -> Result<Vec<Account>> {
    let wanted: Vec<String> = OWN_ACCOUNTS
        .iter()
        .map(|(u, h)| format!("(user = {} AND host = {})", quote(u), quote(h)))
        .collect();
    let rows = conn.query(&format!(
        "SELECT user AS u, host AS h FROM mysql.user WHERE {}",
        wanted.join(" OR ")
    ))?;
    if rows.rows.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(hex) = d.printable_account_hashes() {
        conn.query(hex)?;
    }
    let mut accounts = Vec::new();
    for i in 0..rows.rows.len() {
        let (Some(user), Some(host)) = (rows.get(i, "u"), rows.get(i, "h")) else {
            continue;
        };
        let name = format!("{}@{}", quote(user), quote(host));
        let first_column = |rows: crate::db::wire::Rows| -> Vec<String> {
            rows.rows
                .into_iter()
                .filter_map(|r| r.into_iter().next().flatten())
                .collect()
        };
        let create = first_column(conn.query(&format!("SHOW CREATE USER {name}"))?)
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("SHOW CREATE USER {name} answered no row"))?;
        let grants = first_column(conn.query(&format!("SHOW GRANTS FOR {name}"))?);
        accounts.push(Account {
            name,
            create,
            grants,
        });
    }
    Ok(accounts)
}

/// Once the server runs on the copy: the accounts saved before it are
/// made again as they were, off the binary log, and the file goes.
/// Nothing to do without the file.
pub fn put_back(conn: &mut Conn, d: &Dialect, datadir: &Path) -> Result<()> {
    let path = datadir.join(SAVED);
    let Some(bytes) = atomic_file::read_optional(&path)? else {
        return Ok(());
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow!("{} is not text; remove it", path.display()))?;
    let statements = statements(&text)
        .with_context(|| format!("{} cannot be put back; remove it", path.display()))?;
    let names = names(&statements);
    with_super_read_only_lifted(conn, d, |conn| {
        outside_the_binary_log(conn, |conn| {
            for s in &statements {
                // The server's message may quote the statement, hash and
                // all: the code alone goes to the log.
                conn.query(s).map_err(|e| {
                    anyhow!(
                        "the server refused a statement of {} ({:?})",
                        path.display(),
                        Failure::of(&e)
                    )
                })?;
            }
            Ok(())
        })
    })?;
    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    log::info!(
        "seeding: put back this node's own accounts after the copy, off the binary log: {}",
        names.join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthcheck(host: &str) -> Account {
        let name = format!("'healthcheck'@'{host}'");
        Account {
            create: format!("CREATE USER `healthcheck`@`{host}` IDENTIFIED BY PASSWORD '*AB'"),
            grants: vec![
                format!(
                    "GRANT USAGE ON *.* TO `healthcheck`@`{host}` IDENTIFIED BY PASSWORD '*AB'"
                ),
                format!("GRANT REPLICA MONITOR ON *.* TO `healthcheck`@`{host}`"),
            ],
            name,
        }
    }

    #[test]
    fn a_saved_file_gives_back_each_account_dropped_then_made_again() {
        let accounts = [healthcheck("localhost"), healthcheck("::1")];
        let text = script(&accounts).unwrap();
        let got = statements(&text).unwrap();
        assert_eq!(got.len(), 8);
        assert_eq!(got[0], "DROP USER IF EXISTS 'healthcheck'@'localhost'");
        assert_eq!(got[1], accounts[0].create);
        assert_eq!(
            got[2..4],
            accounts[0]
                .grants
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        );
        assert_eq!(got[4], "DROP USER IF EXISTS 'healthcheck'@'::1'");
        assert_eq!(
            names(&got),
            ["'healthcheck'@'localhost'", "'healthcheck'@'::1'"]
        );
    }

    #[test]
    fn a_statement_over_two_lines_or_empty_is_refused_not_cut() {
        for bad in ["CREATE USER x\nIDENTIFIED BY 'y'", "CREATE USER x\r", "  "] {
            let mut a = healthcheck("localhost");
            a.create = bad.into();
            let e = script(&[a]).unwrap_err().to_string();
            assert!(e.contains("'healthcheck'@'localhost'"), "{e}");
        }
    }

    #[test]
    fn a_file_replikit_did_not_write_is_refused() {
        for text in [
            "",
            "DROP USER IF EXISTS 'root'@'%'\n",
            "-- other\nGRANT ALL ON *.* TO x\n",
        ] {
            assert!(statements(text).is_err(), "{text:?}");
        }
        assert_eq!(
            statements(&format!("{HEADER}\n")).unwrap(),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn the_move_keeps_only_this_nodes_own_files() {
        assert!(kept_through_a_copy(".my-healthcheck.cnf"));
        assert!(kept_through_a_copy(SAVED));
        for name in ["mariadb_upgrade_info", "ibdata1", "mysql", "auto.cnf"] {
            assert!(!kept_through_a_copy(name), "{name}");
        }
    }
}
