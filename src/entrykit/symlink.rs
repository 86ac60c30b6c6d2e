//! `replikit --symlink [DIR]`: a symlink per applet, as `entrykit
//! --symlink` made, so that images can call `switch`, `render`, `prehook`,
//! `codep` and `entrykit` by name.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::chain::Applet;

/// Links every applet name in `dir` to `binary`; the links made. A link
/// that is already there and points at `binary` is kept; anything else of
/// that name is left alone and reported, never overwritten.
pub fn create(dir: &Path, binary: &Path) -> Result<Vec<PathBuf>> {
    let mut made = Vec::new();
    for applet in Applet::ALL {
        let link = dir.join(applet.name());
        match std::fs::read_link(&link) {
            Ok(to) if to == binary => continue,
            Ok(to) => bail!(
                "{} already links to {}; remove it to link it to {}",
                link.display(),
                to.display(),
                binary.display()
            ),
            Err(_) if link.symlink_metadata().is_ok() => bail!(
                "{} already exists and is not a link; remove it or choose another folder",
                link.display()
            ),
            Err(_) => {}
        }
        std::os::unix::fs::symlink(binary, &link).with_context(|| {
            format!(
                "cannot create {}; make {} writable or choose another folder",
                link.display(),
                dir.display()
            )
        })?;
        made.push(link);
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_every_applet_once_and_never_overwrites() {
        let dir = std::env::temp_dir().join(format!("replikit-symlink-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bin = Path::new("/usr/local/bin/replikit");
        assert_eq!(create(&dir, bin).unwrap().len(), Applet::ALL.len());
        assert!(create(&dir, bin).unwrap().is_empty(), "links kept");
        assert_eq!(std::fs::read_link(dir.join("codep")).unwrap(), bin);
        std::fs::remove_file(dir.join("render")).unwrap();
        std::fs::write(dir.join("render"), "mine").unwrap();
        let err = create(&dir, bin).unwrap_err().to_string();
        assert!(err.contains("render already exists"), "{err}");
        assert_eq!(std::fs::read_to_string(dir.join("render")).unwrap(), "mine");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
