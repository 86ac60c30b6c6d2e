//! replikit's own way into the server it runs beside, whatever the user
//! does with root's password (random, one-time, empty then set, rotated):
//! the account `replikit_local`@`localhost`, with a new random password at
//! every container start.
//!
//! PID 1 writes one file into the socket's folder before the server
//! starts, `replikit-init.sql`, readable by its owner alone (the server's
//! user, who must read it). The server runs it as its `init-file` at every
//! start (the image's first initialisation and temporary server too, and a
//! restart after a clone, which replaced the accounts with the donor's): it
//! creates or updates the account outside the binary log, so no replica
//! receives it. replikit's own commands run in the container (`health`,
//! `status`, `verify`) read the password back from the same file. One file
//! and not a second one holding the password alone: the init-file holds it
//! anyway, and every file written and removed costs each start a create, a
//! rename and an unlink.
//!
//! The same file fences the server: the real one (not the first
//! initialisation's temporary one) starts read-only, and replikit lifts
//! that on the node it decided is the primary.
//!
//! A datadir made before this existed gets the account at its first start
//! under this version. The file goes when PID 1 exits; one left by a
//! container that was killed holds a password the next start replaces.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::role::Credentials;
use crate::db::sql::quote;
use crate::identity::atomic_file;

pub const LOCAL_USER: &str = "replikit_local";
const INIT_FILE: &str = "replikit-init.sql";
/// Where earlier versions kept the password in a file of its own; one a
/// killed container left is removed.
const FORMER_SECRET_FILE: &str = "replikit-local.secret";
/// Far more than the init-file replikit writes (about 1.2 KB): a larger
/// file is not ours, and is not read.
const MAX_INIT_FILE: u64 = 8 * 1024;

/// The init-file, in the folder of the server's socket.
pub fn init_file_beside(socket: &Path) -> PathBuf {
    socket.parent().unwrap_or(Path::new("/")).join(INIT_FILE)
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

/// Writes the init-file for `password`. When we are root, it goes to the
/// server's user, who must read it: a server that cannot read its
/// init-file does not start.
pub fn install(init_file: &Path, password: &str) -> Result<()> {
    let dir = init_file.parent().unwrap_or(Path::new("/"));
    let folder = std::fs::metadata(dir).with_context(|| {
        format!(
            "REPLIKIT_SOCKET: the socket's folder {} is missing; create it (the official images have /run/mysqld) or set REPLIKIT_SOCKET",
            dir.display()
        )
    })?;
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let owner = if root { server_user_of(&folder) } else { None };
    let _ = std::fs::remove_file(dir.join(FORMER_SECRET_FILE));
    atomic_file::write_private(
        init_file,
        init_sql(password).as_bytes(),
        owner,
        atomic_file::Durability::Rewritten,
    )
    .with_context(|| {
        format!(
            "cannot write {}; make the socket's folder writable for replikit's user",
            init_file.display()
        )
    })
}

/// Who the server runs as, for the socket's folder with metadata `folder`
/// (`server_user`, with /etc/passwd read only where it is needed).
fn server_user_of(folder: &std::fs::Metadata) -> Option<(u32, u32)> {
    let owner = (folder.uid(), folder.gid());
    if owner.0 != 0 {
        return Some(owner);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    server_user(owner, &passwd)
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
/// init-file (replikit is not PID 1 here, or keeps out of the option file).
pub fn read(init_file: &Path) -> Result<Option<Credentials>> {
    let fix = "run replikit as the user the container runs as (docker exec without --user)";
    // Not following a link, and not waiting on a FIFO someone put there:
    // what it is gets checked on the open file before a byte is read.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(init_file);
    let file = match file {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => anyhow::bail!(
            "{}: not replikit's (a symbolic link); remove it and restart the container",
            init_file.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("{}: {fix}", init_file.display())),
    };
    let sql = read_trusted(init_file, file)?;
    let password = password_in(&sql).with_context(|| {
        format!(
            "{}: holds no password for {LOCAL_USER}; remove it and restart the container",
            init_file.display()
        )
    })?;
    Ok(Some(Credentials {
        user: LOCAL_USER.to_string(),
        password: password.to_string(),
    }))
}

/// The local account's password in an init-file's text (pure): the one
/// `init_sql` put in its ALTER USER line, which is letters, digits and `-`.
fn password_in(sql: &str) -> Option<&str> {
    let prefix = format!(
        "ALTER USER {}@'localhost' IDENTIFIED BY '",
        quote(LOCAL_USER)
    );
    let password = sql
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str())?.strip_suffix("';"))?;
    let plain = password
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (plain && (1..=64).contains(&password.len())).then_some(password)
}

/// The text of an init-file only PID 1 or the server's user could have
/// written: owned by root, by us, or by the server's user, readable by its
/// owner alone, and of an init-file's size. The folder is often open to
/// every user (mode 1777), so anyone else could have put one there.
fn read_trusted(path: &Path, mut file: File) -> Result<String> {
    let m = file
        .metadata()
        .with_context(|| format!("{}", path.display()))?;
    let folder = path.parent().and_then(|dir| std::fs::metadata(dir).ok());
    let server = folder.as_ref().and_then(server_user_of).map_or(0, |u| u.0);
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !m.file_type().is_file()
        || ![0, me, server].contains(&m.uid())
        || m.permissions().mode() & 0o077 != 0
        || m.len() > MAX_INIT_FILE
    {
        anyhow::bail!(
            "{}: not replikit's (a regular file of root, uid {me} or the server's user uid {server}, mode 0600, at most {MAX_INIT_FILE} bytes); remove it and restart the container",
            path.display()
        );
    }
    let mut sql = String::new();
    file.by_ref()
        .take(MAX_INIT_FILE)
        .read_to_string(&mut sql)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(sql)
}

/// Removes the init-file: the password is of no use once the server is
/// gone.
pub fn remove(init_file: &Path) {
    match std::fs::remove_file(init_file) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log::warn!("cannot remove {}: {e}", init_file.display()),
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

    /// An empty folder of its own for a test, and the init-file beside a
    /// socket there.
    fn scratch(name: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("replikit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let init_file = init_file_beside(&dir.join("mysqld.sock"));
        (dir, init_file)
    }

    #[test]
    fn the_file_is_private_read_back_and_removed() {
        let (dir, init_file) = scratch("local");
        // A password file an earlier version left goes at the next start.
        let former = dir.join(FORMER_SECRET_FILE);
        std::fs::write(&former, "Rk-old").unwrap();
        assert_eq!(read(&init_file).unwrap(), None);
        install(&init_file, "Rk-1234").unwrap();
        assert!(!former.exists());
        let mode = std::fs::metadata(&init_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "one file");
        let creds = read(&init_file).unwrap().unwrap();
        assert_eq!(
            (creds.user.as_str(), creds.password.as_str()),
            (LOCAL_USER, "Rk-1234")
        );
        install(&init_file, "Rk-5678").unwrap();
        assert_eq!(read(&init_file).unwrap().unwrap().password, "Rk-5678");
        remove(&init_file);
        assert_eq!(read(&init_file).unwrap(), None);
        assert!(!init_file.exists());
        remove(&init_file);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_password_is_read_back_from_every_init_file_written() {
        for _ in 0..200 {
            let password = new_password().unwrap();
            assert_eq!(password_in(&init_sql(&password)), Some(password.as_str()));
        }
    }

    #[test]
    fn an_init_file_without_a_plain_password_yields_none() {
        let line =
            |p: &str| format!("ALTER USER 'replikit_local'@'localhost' IDENTIFIED BY '{p}';\n");
        assert_eq!(password_in(&line("Rk-ab12")), Some("Rk-ab12"));
        for text in [
            String::new(),
            "SELECT 1;\n".to_string(),
            line(""),
            line("it''s"),
            line("a b"),
            line(&"x".repeat(65)),
            line("Rk-ab12").replace("';", "'"),
            format!(" {}", line("Rk-ab12")),
            line("Rk-ab12").replace("replikit_local", "root"),
        ] {
            assert_eq!(password_in(&text), None, "{text:?}");
        }
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
    fn an_init_file_anyone_could_have_written_is_refused() {
        let (dir, init_file) = scratch("planted");
        std::fs::write(&init_file, init_sql("Rk-planted")).unwrap();
        std::fs::set_permissions(&init_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = format!("{:#}", read(&init_file).unwrap_err());
        assert!(
            e.contains("not replikit's") && e.contains("mode 0600"),
            "{e}"
        );
        std::fs::set_permissions(&init_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read(&init_file).unwrap().unwrap().password, "Rk-planted");
        // Too large to be ours: refused before it is read.
        std::fs::write(&init_file, "x".repeat(MAX_INIT_FILE as usize + 1)).unwrap();
        assert!(format!("{:#}", read(&init_file).unwrap_err()).contains("not replikit's"));
        // Ours in size and mode, but with no password in it.
        std::fs::write(&init_file, "SELECT 1;\n").unwrap();
        let e = format!("{:#}", read(&init_file).unwrap_err());
        assert!(e.contains("holds no password"), "{e}");
        // A link or a FIFO is not followed or waited on.
        std::fs::remove_file(&init_file).unwrap();
        let target = dir.join("elsewhere.sql");
        std::fs::write(&target, init_sql("Rk-linked")).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&target, &init_file).unwrap();
        assert!(format!("{:#}", read(&init_file).unwrap_err()).contains("symbolic link"));
        std::fs::remove_file(&init_file).unwrap();
        let fifo = std::ffi::CString::new(init_file.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(format!("{:#}", read(&init_file).unwrap_err()).contains("not replikit's"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_folder_is_named() {
        let init_file = init_file_beside(Path::new("/nonexistent-replikit/mysqld.sock"));
        let e = format!("{:#}", install(&init_file, "x").unwrap_err());
        assert!(
            e.contains("REPLIKIT_SOCKET") && e.contains("/nonexistent-replikit"),
            "{e}"
        );
    }
}
