//! Replacing a file atomically: readers (mysqld starting up, an operator's
//! `cat`) see the old bytes or the new ones, never a half-written file, and a
//! full disk leaves the old file as it was.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Outcome of [`write_if_changed`].
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    Unchanged,
    Replaced,
    Created,
}

/// Reads `path`, or None if it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Whether a write must survive a crash of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file and its folder: a file only its owner can remake.
    Synced,
    /// No fsync: a file replikit writes afresh on every start, before
    /// anything reads it, so losing this write to a crash costs nothing.
    /// An fsync cost each start about 1 ms, the most of its start-up.
    Rewritten,
}

/// Writes `content` to `path` via a temporary file in the same folder and
/// a rename, keeping the old file's mode and owner. `current` is what the
/// caller has just read from `path` (None: no file); when it already
/// equals `content`, nothing is written.
pub fn write_if_changed(
    path: &Path,
    current: Option<&[u8]>,
    content: &[u8],
    durability: Durability,
) -> Result<Written> {
    if current == Some(content) {
        return Ok(Written::Unchanged);
    }
    let old = fs::metadata(path).ok();
    let access = old.as_ref().map_or(
        Access {
            mode: 0o644,
            owner: None,
            durable: durability == Durability::Synced,
        },
        |m| Access {
            mode: m.permissions().mode() & 0o7777,
            // Kept, so a file the operator gave to mysql stays readable by it.
            owner: Some((m.uid(), m.gid())),
            durable: durability == Durability::Synced,
        },
    );
    replace(path, content, &access)?;
    Ok(if old.is_some() {
        Written::Replaced
    } else {
        Written::Created
    })
}

/// Writes a secret to `path` atomically, readable by its owner alone from
/// the first byte on: `owner` (uid, gid) when given, else us. A secret of
/// this boot is `Rewritten` (the next start writes it afresh, and syncing
/// cost every start about 3 ms).
pub fn write_private(
    path: &Path,
    content: &[u8],
    owner: Option<(u32, u32)>,
    durability: Durability,
) -> Result<()> {
    let access = Access {
        mode: 0o600,
        owner,
        durable: durability == Durability::Synced,
    };
    replace(path, content, &access)
}

/// The mode and owner a written file gets, and whether it must survive a
/// crash of the machine.
struct Access {
    mode: u32,
    owner: Option<(u32, u32)>,
    durable: bool,
}

fn replace(path: &Path, content: &[u8], access: &Access) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    // Our pid is 1 on every container start, so a name from it would meet
    // the leftover of a crash: a random one instead, and leftovers go.
    let prefix = format!(".{}.replikit-", name.to_string_lossy());
    remove_leftovers(&dir, &prefix);
    let suffix: [u8; 6] = crate::db::random::bytes()?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!("{prefix}{suffix}.tmp"));

    let result = write_temp(&tmp, content, access).and_then(|()| {
        fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    // The rename itself lives in the directory: sync it so it survives a crash.
    if access.durable {
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Removes temporary files an interrupted write left in `dir`.
fn remove_leftovers(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(prefix) && name.ends_with(".tmp") {
            log::info!(
                "removing {}, left by an interrupted write",
                entry.path().display()
            );
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn write_temp(tmp: &Path, content: &[u8], access: &Access) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(access.mode)
        .open(tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    if let Some((uid, gid)) = access.owner {
        let _ = std::os::unix::fs::fchown(&file, Some(uid), Some(gid));
        // The umask may have narrowed the mode, and fchown clears setuid bits.
        let _ = file.set_permissions(fs::Permissions::from_mode(access.mode));
    }
    file.write_all(content)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    if access.durable {
        file.sync_all()
            .with_context(|| format!("cannot sync {}", tmp.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("replikit-atomic-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn creates_replaces_and_skips_identical_content() {
        let dir = scratch("basic");
        let path = dir.join("a.cnf");
        assert_eq!(
            write_if_changed(&path, None, b"one", Durability::Synced).unwrap(),
            Written::Created
        );
        let now = read_optional(&path).unwrap();
        assert_eq!(
            write_if_changed(&path, now.as_deref(), b"one", Durability::Synced).unwrap(),
            Written::Unchanged
        );
        assert_eq!(
            write_if_changed(&path, now.as_deref(), b"two", Durability::Synced).unwrap(),
            Written::Replaced
        );
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let left: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temp file is left behind");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn keeps_the_mode_of_the_file_it_replaces() {
        let dir = scratch("mode");
        let path = dir.join("a.cnf");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        write_if_changed(&path, Some(b"old"), b"new", Durability::Synced).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_folder_fails_and_creates_nothing() {
        let dir = scratch("missing");
        let err =
            write_if_changed(&dir.join("nope/a.cnf"), None, b"x", Durability::Synced).unwrap_err();
        assert!(format!("{err:#}").contains("nope"), "{err:#}");
        assert!(!dir.join("nope").exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
