//! Building and removing images while other tests build theirs. `docker
//! rmi` also removes the image's untagged parent layers, and a build that
//! runs at the same time may be using one of them as its parent (the build
//! then fails with "unknown parent image ID"). So every build in this tier
//! holds `building()`, and `remove` waits until no build runs.

use std::process::Command;
use std::sync::{RwLock, RwLockReadGuard};

static IMAGES: RwLock<()> = RwLock::new(());

/// Held for the whole of a build (or of a script that builds).
pub fn building() -> RwLockReadGuard<'static, ()> {
    IMAGES.read().unwrap_or_else(|e| e.into_inner())
}

/// `docker rmi -f image`, once no build runs.
pub fn remove(image: &str) {
    let _alone = IMAGES.write().unwrap_or_else(|e| e.into_inner());
    let _ = Command::new("docker").args(["rmi", "-f", image]).output();
}
