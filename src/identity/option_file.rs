//! Putting the identity into the server's option file: the pure editor
//! (`mycnf`) plus an atomic write (`atomic_file`).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, Result};

use crate::identity::atomic_file::{self, Durability, Written};
use crate::identity::mycnf;
use crate::identity::Identity;

/// What a new file starts with, so whoever opens it knows where it came from.
const HEADER: &str = "# Written by replikit on every container start.\n\
# server-id, report-host and init-file are replaced each time; other lines are kept.\n";

/// replikit's own file (none yet, empty, or one it wrote: it begins with
/// the header) is made again from the address on every start, before the
/// server reads it, so it needs no fsync: a crash that loses the write
/// leaves the old file, none, or an empty one, each of which the next start
/// rewrites. A file the user owns keeps the durable write.
fn durability(current: Option<&[u8]>) -> Durability {
    match current {
        Some(c) if !c.is_empty() && !c.starts_with(HEADER_START.as_bytes()) => Durability::Synced,
        _ => Durability::Rewritten,
    }
}

/// How replikit's own files begin, whatever the header's later lines say.
const HEADER_START: &str = "# Written by replikit";

/// A link owned by root or by the user replikit runs as.
fn trusted_link(owner: u32) -> bool {
    // SAFETY: geteuid has no preconditions.
    owner == 0 || owner == unsafe { libc::geteuid() }
}

/// Sets server-id and report-host from `identity`, and the server's
/// init-file to `init_file` (removed when None: a file named there that is
/// gone would stop the server starting).
pub fn apply(path: &Path, identity: &Identity, init_file: Option<&Path>) -> Result<Written> {
    // Edit what a symlink points at (a ConfigMap-style link stays a link),
    // but only a link as trusted as we are: one that someone else could
    // plant would let them pick any file for root to rewrite.
    let resolved;
    let path = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() && !trusted_link(m.uid()) => {
            anyhow::bail!(
                "REPLIKIT_CNF: {} is a symlink owned by uid {}, and replikit follows only links owned by root or by itself; point REPLIKIT_CNF at the file",
                path.display(),
                m.uid()
            )
        }
        Ok(m) if m.file_type().is_symlink() => {
            resolved = std::fs::canonicalize(path)
                .with_context(|| format!("REPLIKIT_CNF: {} is a dangling symlink; fix it or point REPLIKIT_CNF elsewhere", path.display()))?;
            resolved.as_path()
        }
        _ => path,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        anyhow::bail!(
            "REPLIKIT_CNF: folder {} does not exist; create it or point REPLIKIT_CNF at a writable file",
            dir.display()
        );
    }
    let current = atomic_file::read_optional(path).with_context(|| {
        format!(
            "REPLIKIT_CNF: {} must be a readable file; point REPLIKIT_CNF at one",
            path.display()
        )
    })?;
    let original = current.as_deref().unwrap_or(HEADER.as_bytes());
    let id = identity.server_id.to_string();
    let init_file = init_file.map(|p| p.to_string_lossy());
    let edit = mycnf::edit_options(
        original,
        "mysqld",
        &[
            ("server-id", Some(&id)),
            ("report-host", Some(&identity.report_host)),
            ("init-file", init_file.as_deref()),
        ],
    );
    if edit.removed_duplicates > 0 {
        log::info!(
            "removed {} duplicate server-id/report-host lines from {}",
            edit.removed_duplicates,
            path.display()
        );
    }
    atomic_file::write_if_changed(path, current.as_deref(), &edit.content, durability(current.as_deref())).with_context(|| {
        format!(
            "REPLIKIT_CNF: cannot write {}; make the folder writable, set REPLIKIT_CNF, or use REPLIKIT_SERVER_ID_VIA=arg",
            path.display()
        )
    })
}

/// Whether `apply` failed because this process may not write there (a
/// non-root user, a read-only root filesystem), rather than for a reason
/// that needs fixing (a symlink refused, a missing folder).
pub fn unwritable(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|e| {
            matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_users_own_file_is_synced() {
        assert!(HEADER.starts_with(HEADER_START));
        let cases: &[(Option<&str>, Durability)] = &[
            (None, Durability::Rewritten),
            (Some(""), Durability::Rewritten),
            (Some(HEADER), Durability::Rewritten),
            (
                Some("# Written by replikit, older header\n[mysqld]\n"),
                Durability::Rewritten,
            ),
            (Some("[mysqld]\nserver-id = 7\n"), Durability::Synced),
            (
                Some("# my own comment\n# Written by replikit\n"),
                Durability::Synced,
            ),
        ];
        for (current, want) in cases {
            assert_eq!(durability(current.map(str::as_bytes)), *want, "{current:?}");
        }
    }
}
