//! Moving a prepared copy into the data directory, run by PID 1 while the
//! server is down, so that the server only ever starts on its old data or
//! on the whole copy: a move cut short leaves a marker, and the next start
//! empties the data directory (the image's entrypoint initialises it
//! again, and replikit seeds it again) rather than start on half of each.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{POSITION_FILE, STAGING};
use crate::seed::image_own;

/// Present in the data directory while a move is under way.
pub const MARKER: &str = "replikit-physical-seed-moving";

/// A prepared copy in `datadir/STAGING`, taken at `gtid`.
#[derive(Debug, Clone)]
pub struct Swap {
    pub datadir: PathBuf,
    pub gtid: String,
}

/// A small file written and synced, with its folder.
fn write_synced(path: &Path, text: &str) -> Result<()> {
    let mut f =
        fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    sync_dir(path.parent().unwrap_or(Path::new("/")))
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

fn remove(path: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
    .with_context(|| format!("cannot remove {}", path.display()))
}

/// Gives everything below `path` to `uid:gid` (the copy was unpacked as
/// replikit's user; the server runs as the data directory's owner).
fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .with_context(|| format!("cannot give {} to {uid}:{gid}", path.display()))?;
    if fs::symlink_metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Whether this node's file stays through the move: what the image made
/// for this node alone, and its upgrade marker, which the copy's replaces
/// only if the copy brings one (`image_own`).
fn stays(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| {
        image_own::kept_through_a_copy(n) || image_own::UPGRADE_MARKERS.contains(&n)
    })
}

/// The move: mark, empty the data directory but for the copy and this
/// node's own files, move the copy's files up, note the position, hand
/// them to the data directory's owner, unmark.
pub fn run(swap: &Swap) -> Result<()> {
    let datadir = &swap.datadir;
    let staging = datadir.join(STAGING);
    let owner =
        fs::metadata(datadir).with_context(|| format!("cannot read {}", datadir.display()))?;
    write_synced(
        &datadir.join(MARKER),
        "a physical seed is being moved into place\n",
    )?;
    for entry in fs::read_dir(datadir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name != STAGING && name != MARKER && !stays(&name) {
            remove(&entry.path())?;
        }
    }
    for entry in fs::read_dir(&staging)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_str().is_some_and(image_own::kept_through_a_copy) {
            // The source's own file (its health-check password): never here.
            remove(&entry.path())?;
            continue;
        }
        let to = datadir.join(&name);
        fs::rename(entry.path(), &to).with_context(|| {
            format!("cannot move {} to {}", entry.path().display(), to.display())
        })?;
        chown_tree(&to, owner.uid(), owner.gid())?;
    }
    fs::remove_dir(&staging).with_context(|| format!("cannot remove {}", staging.display()))?;
    write_synced(&datadir.join(POSITION_FILE), &format!("{}\n", swap.gtid))?;
    fs::remove_file(datadir.join(MARKER)).context("cannot remove the move's marker")?;
    sync_dir(datadir)
}

/// At start, before the server: a move cut short (the marker) empties the
/// data directory; a copy left half unpacked or unprepared (an
/// interrupted seed) is removed. What was done, for the log.
pub fn clean_up_at_start(datadir: &Path) -> Result<Option<String>> {
    if datadir.join(MARKER).exists() {
        for entry in fs::read_dir(datadir)? {
            remove(&entry?.path())?;
        }
        sync_dir(datadir)?;
        return Ok(Some(format!(
            "a physical seed was cut short while moving into {}: it held part of the old data and part of the copy, \
             so it is emptied; the server's first start initialises it again and replikit seeds it again",
            datadir.display()
        )));
    }
    let staging = datadir.join(STAGING);
    if staging.exists() {
        remove(&staging)?;
        return Ok(Some(format!(
            "removed {}, the copy of a physical seed that was cut short; the seed starts again",
            staging.display()
        )));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("replikit-swap-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join(STAGING).join("app")).unwrap();
        fs::create_dir_all(dir.join("mysql")).unwrap();
        fs::write(dir.join("ibdata1"), "old").unwrap();
        fs::write(dir.join(STAGING).join("ibdata1"), "new").unwrap();
        fs::write(dir.join(STAGING).join("app/t.ibd"), "rows").unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn the_copy_replaces_the_data_and_leaves_its_position() {
        let dir = scratch("run");
        run(&Swap {
            datadir: dir.clone(),
            gtid: "0-1-42".into(),
        })
        .unwrap();
        assert_eq!(names(&dir), ["app", "ibdata1", POSITION_FILE]);
        assert_eq!(fs::read_to_string(dir.join("ibdata1")).unwrap(), "new");
        assert_eq!(
            fs::read_to_string(dir.join(POSITION_FILE)).unwrap(),
            "0-1-42\n"
        );
        assert_eq!(clean_up_at_start(&dir).unwrap(), None);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn this_nodes_own_files_stay_and_the_copys_own_never_land() {
        let dir = scratch("own");
        let own = ".my-healthcheck.cnf";
        fs::write(dir.join(own), "password=replica's").unwrap();
        fs::write(dir.join(STAGING).join(own), "password=source's").unwrap();
        fs::write(dir.join(image_own::SAVED), "accounts").unwrap();
        fs::write(dir.join(STAGING).join(image_own::SAVED), "theirs").unwrap();
        // The replica's marker stays where the copy brings none...
        fs::write(dir.join("mysql_upgrade_info"), "11.8.2-replica").unwrap();
        // ...and the copy's wins where it brings one.
        fs::write(dir.join("mariadb_upgrade_info"), "11.8.2-replica").unwrap();
        fs::write(
            dir.join(STAGING).join("mariadb_upgrade_info"),
            "11.8.3-source",
        )
        .unwrap();
        run(&Swap {
            datadir: dir.clone(),
            gtid: "0-1-42".into(),
        })
        .unwrap();
        let read = |n: &str| fs::read_to_string(dir.join(n)).unwrap();
        assert_eq!(read(own), "password=replica's");
        assert_eq!(read(image_own::SAVED), "accounts");
        assert_eq!(read("mysql_upgrade_info"), "11.8.2-replica");
        assert_eq!(read("mariadb_upgrade_info"), "11.8.3-source");
        assert_eq!(
            names(&dir),
            [
                own,
                "app",
                "ibdata1",
                "mariadb_upgrade_info",
                "mysql_upgrade_info",
                image_own::SAVED,
                POSITION_FILE
            ]
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_move_cut_short_empties_the_data_directory() {
        let dir = scratch("cut");
        fs::write(dir.join(MARKER), "").unwrap();
        let said = clean_up_at_start(&dir).unwrap().unwrap();
        assert!(said.contains("emptied"), "{said}");
        assert!(names(&dir).is_empty());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_copy_left_behind_is_removed_and_the_data_kept() {
        let dir = scratch("left");
        let said = clean_up_at_start(&dir).unwrap().unwrap();
        assert!(said.contains("starts again"), "{said}");
        assert_eq!(names(&dir), ["ibdata1", "mysql"]);
        fs::remove_dir_all(dir).unwrap();
    }
}
