//! Seeding a MariaDB replica with a physical copy: the source's replikit
//! (`donor`) streams `mariadb-backup --backup --stream=mbstream` to the
//! replica's (`recipient`), which unpacks it beside the server's data,
//! prepares it, and has PID 1 move it into place while the server is down
//! (`swap`); the server starts again on it, and replication starts from
//! the GTID position the backup recorded. Data files, not SQL: disk and
//! network speed, where a dump replays every row through one client.
//!
//! The donor holds no copy on disk (the stream goes straight to the
//! socket) and serves one seed at a time; the replica holds one copy
//! beside its own (new, near empty) data, until the move. The stream is
//! authenticated both ways and every frame is checked (`protocol`); with
//! TLS towards the source (REPLIKIT_SSL_MODE), it goes encrypted, the
//! donor's certificate (the server's own) checked as the source's
//! (`channel`). No peer can stretch a deadline (`paced`).

pub mod channel;
pub mod donor;
pub mod paced;
pub mod protocol;
pub mod recipient;
pub mod swap;

use std::path::{Path, PathBuf};

use crate::accounts;
use crate::config::role::{Role, SourceAccess};

/// The tool that copies and prepares, and the one that unpacks its
/// stream (both in mariadb-backup's package, and in the official images).
pub const BACKUP_TOOL: &str = "mariadb-backup";
pub const UNPACK_TOOL: &str = "mbstream";

/// Where, in the data directory, the copy is unpacked and prepared before
/// it replaces the data. A name the server does not take for a schema
/// while it runs is not to be had (every folder there is one), so it is
/// one nobody would give a schema, and it lasts only as long as the copy.
pub const STAGING: &str = "#replikit-physical-seed";

/// Left in the data directory by the move, with the position the copy was
/// taken at (MariaDB's GTID), until replication runs from there.
pub const POSITION_FILE: &str = "replikit-seed-position";

/// Whether `program` is on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// What keeps this replica from a physical seed, before asking the donor;
/// None when it may try. `datadir` is the server's (@@datadir).
pub fn obstacle(donor_port: Option<u16>, setting: &Path, datadir: &Path) -> Option<String> {
    if donor_port.is_none() {
        return Some("REPLIKIT_DONOR_PORT is off".into());
    }
    for tool in [BACKUP_TOOL, UNPACK_TOOL] {
        if !on_path(tool) {
            return Some(format!(
                "{tool} is not installed here (the mariadb-backup package brings both tools)"
            ));
        }
    }
    if !same_dir(setting, datadir) {
        return Some(format!(
            "the server's datadir is {} but REPLIKIT_DATADIR is {}; set REPLIKIT_DATADIR={}",
            datadir.display(),
            setting.display(),
            datadir.display()
        ));
    }
    None
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canonical(a) == canonical(b)
}

/// The secret a replica proves its membership with: the replication
/// password, or the source's root password in root-credentials mode.
pub fn replica_key(access: &SourceAccess, cluster: &str) -> [u8; 32] {
    let secret = match access {
        SourceAccess::Account(c) | SourceAccess::Admin(c) => &c.password,
    };
    accounts::seed_key(secret, cluster)
}

/// The keys a donor accepts: from its replication password and from its
/// own root password, whichever it knows (a replica in root-credentials
/// mode proves the latter).
pub fn donor_keys(role: &Role, cluster: &str) -> Vec<[u8; 32]> {
    let secrets: Vec<&str> = match role {
        Role::Primary(p) => p
            .replication
            .iter()
            .map(|c| c.password.as_str())
            .chain(p.root_password.as_deref())
            .collect(),
        // With peers, a replica may be promoted and then donate.
        Role::Replica(r) => match &r.access {
            SourceAccess::Account(c) => vec![c.password.as_str()],
            SourceAccess::Admin(_) => Vec::new(),
        }
        .into_iter()
        .chain(r.root_password.as_deref())
        .collect(),
        Role::Standalone => Vec::new(),
    };
    secrets
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| accounts::seed_key(s, cluster))
        .collect()
}

/// The GTID position in mariadb-backup's `mariadb_backup_binlog_info`
/// (`FILE POS GTID`, tab-separated; older releases call it
/// `xtrabackup_binlog_info`), pure.
pub fn gtid_of_binlog_info(text: &str) -> Option<String> {
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    let gtid = line.split_whitespace().nth(2)?;
    gtid.split(',')
        .all(|g| {
            let parts: Vec<&str> = g.split('-').collect();
            parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .then(|| gtid.to_string())
}

/// The copy's binlog information file in a prepared backup.
pub fn binlog_info(dir: &Path) -> Option<PathBuf> {
    ["mariadb_backup_binlog_info", "xtrabackup_binlog_info"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gtid_of_a_backup() {
        let cases: &[(&str, Option<&str>)] = &[
            ("mysql-bin.000003\t1234\t0-1-42\n", Some("0-1-42")),
            (
                "mysql-bin.000003\t1234\t0-1-42,1-2-7\n",
                Some("0-1-42,1-2-7"),
            ),
            ("\nbin.1 4 0-10-5", Some("0-10-5")),
            ("mysql-bin.000003\t1234\n", None),
            ("mysql-bin.000003\t1234\t0-1-x\n", None),
            ("mysql-bin.000003\t1234\t0-1\n", None),
            ("mysql-bin.000003\t1234\t0-1-2'; DROP\n", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(gtid_of_binlog_info(text).as_deref(), *want, "{text:?}");
        }
    }

    #[test]
    fn obstacles_name_what_to_change() {
        let here = Path::new("/var/lib/mysql");
        let o = obstacle(None, here, here).unwrap();
        assert!(o.contains("REPLIKIT_DONOR_PORT"), "{o}");
    }

    #[test]
    fn both_sides_derive_the_same_key() {
        use crate::config::role::{Credentials, Primary, Replica};
        let creds = Credentials {
            user: "repl".into(),
            password: "s3cret".into(),
        };
        let replica = replica_key(&SourceAccess::Account(creds.clone()), "c");
        let primary = Role::Primary(Primary {
            replication: Some(creds.clone()),
            root_password: Some("root".into()),
        });
        let keys = donor_keys(&primary, "c");
        assert_eq!(keys.len(), 2);
        assert!(keys.contains(&replica));
        assert!(
            !donor_keys(&primary, "other").contains(&replica),
            "the cluster salts it"
        );
        let root_mode = Replica {
            source_host: "db".into(),
            source_port: 3306,
            access: SourceAccess::Admin(Credentials {
                user: "root".into(),
                password: "root".into(),
            }),
            root_password: None,
        };
        assert!(keys.contains(&replica_key(&root_mode.access, "c")));
    }
}
