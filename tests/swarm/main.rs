//! Tier 4: the Swarm stack in the real Docker engine. A tier of its own,
//! run after the Docker tier, because `docker swarm leave` breaks the
//! networks of containers that other tests run at the same time: dockerd
//! logged "Failed to remove swarm network …_db on cluster leave", and at
//! that moment every container of the Compose cluster beside it lost its
//! route (ENETUNREACH, no answer from Docker's DNS). Needs root, Docker and
//! `scripts/base-image/build`. Run alone: `cargo test --test swarm`.

// Each tier uses a part of the helpers all tiers share.
#[allow(dead_code)]
#[macro_use]
#[path = "../common/mod.rs"]
mod common;

// The Docker tier's image lock and SQL helpers, shared with it.
#[allow(dead_code)]
#[path = "../docker/cluster.rs"]
mod cluster;
#[allow(dead_code)]
#[path = "../docker/images.rs"]
mod images;

mod stack;
