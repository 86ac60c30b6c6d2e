//! replikit's own way into the server it runs beside, whatever the user
//! does with root's password (random, one-time, empty then set, rotated):
//! the account `replikit_local`@`localhost`, with a new random password at
//! every container start.
//!
//! PID 1 writes two files into the socket's folder before the server
//! starts, each readable by its owner alone:
//! - `replikit-init.sql`, which the server runs as its `init-file` at every
//!   start (the image's first initialisation and temporary server too, and
//!   a restart after a clone, which replaced the accounts with the donor's).
//!   It creates or updates the account outside the binary log, so no
//!   replica receives it. Owned by the server's user, who must read it.
//! - `replikit-local.secret`, the password, for replikit's own commands
//!   run in the container (`health`, `status`, `verify`). Owned by us.
//!
//! The same file fences the server: the real one (not the first
//! initialisation's temporary one) starts read-only, and replikit lifts
//! that on the node it decided is the primary.
//!
//! A datadir made before this existed gets the account at its first start
//! under this version. Both files go when PID 1 exits; one left by a
//! container that was killed holds a password the next start replaces.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::role::Credentials;
use crate::db::sql::quote;
use crate::identity::atomic_file;

pub const LOCAL_USER: &str = "replikit_local";
const INIT_FILE: &str = "replikit-init.sql";
const SECRET_FILE: &str = "replikit-local.secret";

/// The two files, in the folder of the server's socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub init_file: PathBuf,
    pub secret: PathBuf,
}

impl Files {
    pub fn beside(socket: &Path) -> Files {
        let dir = socket.parent().unwrap_or(Path::new("/"));
        Files {
            init_file: dir.join(INIT_FILE),
            secret: dir.join(SECRET_FILE),
        }
    }
}

/// The statements the server runs at start-up (pure). One per line and no
/// comments, as MySQL's init-file wants. The password is hex with a fixed
/// prefix that satisfies a validate_password policy (upper and lower case,
/// a digit, a symbol): a refused password would stop the server starting.
/// Every privilege, with grant option: seeding by dump recreates objects of
/// any definer and the accounts replikit manages.
///
/// A MySQL replica comes up with super_read_only persisted, which refuses
/// even this file's account statements: it is lifted for them and put back.
/// The same file serves MariaDB, which has no such variable, hence the
/// statements built as strings and prepared.
pub fn init_sql(password: &str) -> String {
    let account = format!("{}@'localhost'", quote(LOCAL_USER));
    let password = quote(password);
    let when = |condition: &str, then: &str| {
        [
            format!("SET @replikit_sql = IF({condition}, '{then}', 'DO 0');"),
            "PREPARE replikit_step FROM @replikit_sql;".to_string(),
            "EXECUTE replikit_step;".to_string(),
        ]
    };
    let mut lines = vec![
        "SET SESSION sql_log_bin = 0;".to_string(),
        "SET @replikit_was = 0;".to_string(),
    ];
    lines.extend(when(
        "VERSION() NOT LIKE '%MariaDB%'",
        "SET @replikit_was = @@GLOBAL.super_read_only",
    ));
    lines.extend(when(
        "@replikit_was = 1",
        "SET GLOBAL super_read_only = OFF",
    ));
    lines.extend([
        format!("CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {password};"),
        format!("ALTER USER {account} IDENTIFIED BY {password};"),
        format!("GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION;"),
    ]);
    lines.extend(when("@replikit_was = 1", "SET GLOBAL super_read_only = ON"));
    // Fencing: the real server takes no write until replikit has decided
    // that it is the primary and lifts this. The first initialisation's
    // temporary server runs with --skip-networking and must take the
    // entrypoint's writes (MYSQL_DATABASE, MYSQL_USER, initdb scripts).
    lines.extend(when(
        "@@GLOBAL.skip_networking = 0",
        "SET GLOBAL read_only = ON",
    ));
    lines.extend(when(
        "@@GLOBAL.skip_networking = 0 AND VERSION() NOT LIKE '%MariaDB%'",
        "SET GLOBAL super_read_only = ON",
    ));
    lines.extend([
        "DEALLOCATE PREPARE replikit_step;".to_string(),
        "SET SESSION sql_log_bin = 1;".to_string(),
    ]);
    lines.join("\n") + "\n"
}

/// A new password: 128 random bits.
pub fn new_password() -> Result<String> {
    let bytes: [u8; 16] = crate::db::random::bytes()?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("Rk-{hex}"))
}

/// Writes both files for `password`. When we are root, the init file
/// goes to the server's user, who must read it: a server that cannot read
/// its init-file does not start.
pub fn install(files: &Files, password: &str) -> Result<()> {
    let dir = files.init_file.parent().unwrap_or(Path::new("/"));
    let folder = std::fs::metadata(dir).with_context(|| {
        format!(
            "REPLIKIT_SOCKET: the socket's folder {} is missing; create it (the official images have /run/mysqld) or set REPLIKIT_SOCKET",
            dir.display()
        )
    })?;
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let folder_owner = (folder.uid(), folder.gid());
    let server_user = match (root, folder_owner.0) {
        (false, _) => None,
        (true, 0) => {
            let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            server_user(folder_owner, &passwd)
        }
        (true, _) => Some(folder_owner),
    };
    let cannot = |path: &Path| {
        format!(
            "cannot write {}; make the socket's folder writable for replikit's user",
            path.display()
        )
    };
    atomic_file::write_private(&files.secret, password.as_bytes(), None)
        .with_context(|| cannot(&files.secret))?;
    atomic_file::write_private(&files.init_file, init_sql(password).as_bytes(), server_user)
        .with_context(|| cannot(&files.init_file))
}

/// Who the server runs as, seen from a root PID 1 (pure): the owner of the
/// socket's folder (the official images give it to `mysql`), else the
/// `mysql` user of `passwd`, else root (None: the file stays ours).
fn server_user(folder: (u32, u32), passwd: &str) -> Option<(u32, u32)> {
    if folder.0 != 0 {
        return Some(folder);
    }
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != "mysql" {
            return None;
        }
        let (uid, gid) = (fields.nth(1)?.parse().ok()?, fields.next()?.parse().ok()?);
        Some((uid, gid))
    })
}

/// The account's log-in, when PID 1 has set one up; None when there is no
/// secret file (replikit is not PID 1 here, or keeps out of the option file).
pub fn read(files: &Files) -> Result<Option<Credentials>> {
    let secret = atomic_file::read_optional(&files.secret).with_context(|| {
        format!(
            "{}: run replikit as the user the container runs as (docker exec without --user)",
            files.secret.display()
        )
    })?;
    if secret.is_some() {
        trusted(&files.secret)?;
    }
    Ok(secret.map(|bytes| Credentials {
        user: LOCAL_USER.to_string(),
        password: String::from_utf8_lossy(&bytes).trim().to_string(),
    }))
}

/// Only a secret PID 1 or the server's user could have written: owned by
/// root, by us, or by the socket folder's owner (an entrypoint may hand the
/// folder's files to the server's user, as the official ones do), readable
/// by its owner alone, and password-sized. The folder is often open to
/// every user (mode 1777), so anyone else could have put one there.
fn trusted(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::symlink_metadata(path).with_context(|| format!("{}", path.display()))?;
    let folder = path
        .parent()
        .and_then(|dir| std::fs::metadata(dir).ok())
        .map_or(0, |d| d.uid());
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !m.file_type().is_file()
        || ![0, me, folder].contains(&m.uid())
        || m.permissions().mode() & 0o077 != 0
        || m.len() > 256
    {
        anyhow::bail!(
            "{}: not replikit's (a regular file of root, uid {me} or the folder's owner uid {folder}, mode 0600, at most 256 bytes); remove it and restart the container",
            path.display()
        );
    }
    Ok(())
}

/// Removes both files: the password is of no use once the server is gone.
pub fn remove(files: &Files) {
    for path in [&files.init_file, &files.secret] {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("cannot remove {}: {e}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_init_file_keeps_the_account_off_the_binary_log_one_statement_per_line() {
        let sql = init_sql("Rk-00ff");
        let lines: Vec<&str> = sql.lines().collect();
        assert_eq!(lines.first(), Some(&"SET SESSION sql_log_bin = 0;"));
        assert_eq!(lines.last(), Some(&"SET SESSION sql_log_bin = 1;"));
        assert!(lines.iter().all(|l| l.ends_with(';') && !l.contains("--")));
        assert_eq!(lines.iter().filter(|l| l.contains("'Rk-00ff'")).count(), 2);
        assert!(sql.contains("TO 'replikit_local'@'localhost' WITH GRANT OPTION;"));
        // super_read_only lifted before the account statements, back after.
        let at = |needle: &str| sql.find(needle).unwrap_or_else(|| panic!("{needle}"));
        assert!(at("super_read_only = OFF") < at("CREATE USER"));
        assert!(at("GRANT ALL") < at("super_read_only = ON"));
        // Fenced after the account, and only the real server.
        assert!(at("GRANT ALL") < at("skip_networking = 0"));
        assert!(
            sql.contains("IF(@@GLOBAL.skip_networking = 0, 'SET GLOBAL read_only = ON', 'DO 0')")
        );
    }

    #[test]
    fn passwords_are_fresh_and_meet_a_strength_policy() {
        let (a, b) = (new_password().unwrap(), new_password().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 35);
        assert!(a.chars().any(|c| c.is_ascii_uppercase()));
        assert!(a.chars().any(|c| c.is_ascii_lowercase()));
        assert!(a.chars().any(|c| c.is_ascii_punctuation()));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    /// An empty folder of its own for a test, and the files beside a
    /// socket there.
    fn scratch(name: &str) -> (std::path::PathBuf, Files) {
        let dir = std::env::temp_dir().join(format!("replikit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let files = Files::beside(&dir.join("mysqld.sock"));
        (dir, files)
    }

    #[test]
    fn files_are_private_read_back_and_removed() {
        let (dir, files) = scratch("local");
        assert_eq!(read(&files).unwrap(), None);
        install(&files, "Rk-1234").unwrap();
        for path in [&files.init_file, &files.secret] {
            let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        let creds = read(&files).unwrap().unwrap();
        assert_eq!(
            (creds.user.as_str(), creds.password.as_str()),
            (LOCAL_USER, "Rk-1234")
        );
        install(&files, "Rk-5678").unwrap();
        assert_eq!(read(&files).unwrap().unwrap().password, "Rk-5678");
        remove(&files);
        assert_eq!(read(&files).unwrap(), None);
        assert!(!files.init_file.exists());
        remove(&files);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_init_file_goes_to_the_servers_user() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nmysqlx:x:5:5::/:/bin/false\nmysql:x:999:998::/var/lib/mysql:/usr/sbin/nologin\n";
        assert_eq!(server_user((999, 999), passwd), Some((999, 999)));
        assert_eq!(server_user((0, 0), passwd), Some((999, 998)));
        assert_eq!(server_user((0, 0), "root:x:0:0::/:/bin/sh\n"), None);
        assert_eq!(server_user((0, 0), "mysql:x:abc:1::/:/bin/sh\n"), None);
        assert_eq!(server_user((0, 0), ""), None);
    }

    #[test]
    fn a_secret_anyone_could_have_written_is_refused() {
        let (dir, files) = scratch("planted");
        std::fs::write(&files.secret, "Rk-planted").unwrap();
        std::fs::set_permissions(&files.secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = format!("{:#}", read(&files).unwrap_err());
        assert!(
            e.contains("not replikit's") && e.contains("mode 0600"),
            "{e}"
        );
        std::fs::set_permissions(&files.secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read(&files).unwrap().unwrap().password, "Rk-planted");
        std::fs::write(&files.secret, "x".repeat(300)).unwrap();
        assert!(read(&files).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_folder_is_named() {
        let files = Files::beside(Path::new("/nonexistent-replikit/mysqld.sock"));
        let e = format!("{:#}", install(&files, "x").unwrap_err());
        assert!(
            e.contains("REPLIKIT_SOCKET") && e.contains("/nonexistent-replikit"),
            "{e}"
        );
    }
}
