//! Replication set-up on this node's own server, for its role: the primary
//! creates the accounts its replicas use (`primary`); a replica waits for
//! its source (`source`), seeds itself when it is new (`crate::seed`),
//! points its server at the source from the right place (`position`),
//! once, and leaves a working set-up alone (`replica`). What may pass is
//! retried, what will not is reported (`retry`).
//!
//! Everything here talks to the local server over its socket (`db::wire`).
//! A replica logs in to its source as the donor account (or, in
//! root-credentials mode, as the source's root, to create its replication
//! account too); the replication stream itself is the replica server's own
//! connection.

pub mod position;
pub mod primary;
pub mod replica;
pub mod retry;
pub mod source;

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::config::role::Role;
use crate::db::dialect::{Dialect, Tls};
use crate::db::local::LocalServer;
use crate::db::wire::Conn;
use crate::seed;

pub use retry::keep_trying;

/// One set-up: where the local server is, whom the primary lets in, how
/// the replica reaches its source, and how long to try.
pub struct Job<'a> {
    pub local: &'a LocalServer,
    /// The address pattern replicas connect from (the primary's accounts).
    pub repl_host: &'a str,
    /// TLS towards the source, for replikit's log-ins and the channel.
    pub tls: &'a Tls,
    /// The source's pinned public key file (REPLIKIT_SOURCE_PUBLIC_KEY).
    pub source_key: Option<&'a str>,
    /// Root-credentials mode may send the root password to an unverified
    /// source (REPLIKIT_ROOT_LOGIN_UNVERIFIED=allow).
    pub unverified_root_login: bool,
    /// The salt of derived passwords (REPLIKIT_CLUSTER).
    pub cluster: &'a str,
    /// Whether a new replica is seeded (REPLIKIT_SEED).
    pub seed: seed::Method,
    /// replikit supervises the local server and starts it again when it
    /// exits for a clone.
    pub restartable: bool,
    pub deadline: Instant,
}

/// Sets up replication for `role`; returns a line saying what was done.
pub fn set_up(role: &Role, job: &Job) -> Result<String> {
    match role {
        Role::Standalone => Ok("standalone: no replication".into()),
        Role::Primary(p) => primary::set_up(p, job),
        Role::Replica(r) => replica::set_up(r, job),
    }
}

/// Waits until the real server (not the first start's temporary one, which
/// runs with --skip-networking) answers on the socket; its dialect too.
pub fn wait_for_local_server(job: &Job) -> Result<(Conn, Dialect)> {
    let what = format!("the local server at {}", job.local.socket.display());
    let conn = retry::retry_until(job.deadline, &what, || {
        let mut conn = job.local.log_in(Duration::from_secs(5))?;
        match conn.query("SELECT @@skip_networking AS s")?.get(0, "s") {
            Some("0") => Ok(conn),
            _ => anyhow::bail!("the server is the temporary one of first start-up"),
        }
    })?;
    let dialect = Dialect::of(&conn.server_version)?;
    Ok((conn, dialect))
}
