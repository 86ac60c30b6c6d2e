//! Tier 2: real database servers (MariaDB 10.11, MariaDB 11.8, MySQL 9.7
//! from their Debian root filesystems, in namespaces on 127.0.0.1): the
//! client, every dialect statement, replication, seeding and health.
//! Needs root and `scripts/rootfs`. Run alone: `cargo test --test servers`.

#[macro_use]
// Each tier uses a part of the helpers all tiers share.
#[allow(dead_code)]
#[path = "../common/mod.rs"]
mod common;

mod dialect;
mod health;
mod instances;
mod lease;
mod physical;
mod replication;
mod seed;
mod topology;
mod wire;
