//! Tier 3: the real Docker engine: images built offline from Debian
//! packages, containers, Compose clusters behind HAProxy, and the
//! chaos soak's short form. Needs root, Docker and `scripts/base-image/build`.
//! Run alone: `cargo test --test docker`.

// Each tier uses a part of the helpers all tiers share.
#[allow(dead_code)]
#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod applets;
mod chaos;
mod cluster;
mod compose;
mod containers;
mod ha;
mod image;
mod images;
mod official_images;
mod partition;
