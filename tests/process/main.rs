//! Tier 1: pure and process tests. The real replikit binary on real
//! processes (as PID 1 in a PID namespace, in private hosts), the bad-input
//! table, the static binary, and the Kubernetes manifests; no database
//! server, no Docker. Needs root. Run alone: `cargo test --test process`.

// Each tier uses a part of the helpers all tiers share.
#[allow(dead_code)]
#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod entrykit;
mod etcd_auth;
mod etcd_tls;
mod hostile_peer;
mod identity;
mod k8s;
mod panics;
mod seed_cleanup;
mod static_binary;
mod supervisor;
