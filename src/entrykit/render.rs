//! `render FILE`: `FILE.tmpl` rendered from the environment into `FILE`,
//! atomically (a reader sees the old file or the new one, and an error
//! leaves the old one as it was).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::template::{self, Host};
use crate::identity::atomic_file;

/// The template of `target`: `target.tmpl` beside it.
pub fn template_of(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".tmpl");
    PathBuf::from(name)
}

/// The world a template sees: this process's environment and files.
struct Process;

impl Host for Process {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn read_file(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
    }
    fn exists(&self, path: &str) -> bool {
        Path::new(path).exists()
    }
}

/// The text of `target`, rendered from its template: an error here is
/// the template's (or a variable's), and nothing has been written.
pub fn text(target: &Path) -> Result<String> {
    let template = template_of(target);
    let source = std::fs::read_to_string(&template).with_context(|| {
        format!(
            "render: cannot read the template {}; create it, or drop {} from render",
            template.display(),
            target.display()
        )
    })?;
    template::render(&source, &Process)
        .map_err(|e| anyhow::anyhow!("render: {}:{}: {}", template.display(), e.line, e.message))
}

/// Writes `text` to `target` atomically; what happened, for the log.
pub fn write(target: &Path, text: &str) -> Result<atomic_file::Written> {
    let current = atomic_file::read_optional(target)
        .with_context(|| format!("render: {}", target.display()))?;
    atomic_file::write_if_changed(
        target,
        current.as_deref(),
        text.as_bytes(),
        atomic_file::Durability::Synced,
    )
    .with_context(|| {
        format!(
            "render: cannot write {}; make its folder writable for this user, with room to spare",
            target.display()
        )
    })
}
