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

pub mod cluster;
pub mod follow;
pub mod position;
pub mod primary;
pub mod replica;
pub mod retry;
pub mod semi_sync;
pub mod source;
pub mod takeover;
pub mod topology;

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::config::role::Role;
use crate::db::dialect::{Dialect, Tls};
use crate::db::error::Failure;
use crate::db::local::LocalServer;
use crate::db::wire::Conn;
use crate::pid1::stopping;
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
    /// Semi-synchronous replication's timeout, when it is on.
    pub semi_sync: Option<std::time::Duration>,
    /// replikit supervises the local server and starts it again when it
    /// exits for a clone.
    pub restartable: bool,
    /// Where a physical seed is asked for (REPLIKIT_DONOR_PORT).
    pub donor_port: Option<u16>,
    /// The server's data directory (REPLIKIT_DATADIR).
    pub datadir: &'a std::path::Path,
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
/// A root password the server keeps refusing (changed, random or one-time
/// since initialisation) is an error in the log within DENIED_FOR, named
/// once; the wait goes on, as someone may set it back.
pub fn wait_for_local_server(job: &Job) -> Result<(Conn, Dialect)> {
    let what = format!("the local server at {}", job.local.socket.display());
    let mut denied = Denied::default();
    let conn = retry::retry_until(job.deadline, &what, || {
        let login = job.local.log_in(Duration::from_secs(5));
        let refused = login
            .as_ref()
            .is_err_and(|e| Failure::of(e) == Failure::AccessDenied);
        if denied.saw(refused, Instant::now()) {
            log::error!("{}", denied_cause(&job.local.login.user));
        }
        let mut conn = login?;
        match conn.query("SELECT @@skip_networking AS s")?.get(0, "s") {
            Some("0") => Ok(conn),
            _ => anyhow::bail!("the server is the temporary one of first start-up"),
        }
    })?;
    let dialect = Dialect::of(&conn.server_version)?;
    Ok((conn, dialect))
}

/// PID 1's look at its own server every `every`, until it stops: `step`
/// on one connection, kept while it works and made anew after a failure
/// (the server restarting), which is logged when it differs from the last.
pub fn watch_local(
    local: &LocalServer,
    every: Duration,
    what: &str,
    mut step: impl FnMut(&mut Conn) -> Result<()>,
) {
    let mut conn: Option<Conn> = None;
    let mut last_error = String::new();
    while stopping::pause(every) {
        let mut attempt = |conn: &mut Option<Conn>| -> Result<()> {
            let conn = match conn {
                Some(conn) => conn,
                None => conn.insert(local.log_in(Duration::from_secs(5))?),
            };
            step(conn)
        };
        match attempt(&mut conn) {
            Ok(()) => last_error.clear(),
            Err(e) => {
                conn = None;
                let text = format!("{e:#}");
                if text != last_error {
                    log::warn!("{what}: {text}; trying again every {every:?}");
                    last_error = text;
                }
            }
        }
    }
}

/// Why `user` is refused on the local socket, and what to do (pure).
fn denied_cause(user: &str) -> String {
    if user == crate::accounts::local_access::LOCAL_USER {
        format!(
            "the local server has refused replikit's own account {user} for {DENIED_FOR:?}: the server did not run replikit's init-file (another init-file set in a later option file, or --skip-grant-tables?); replikit keeps trying"
        )
    } else {
        format!(
            "the local server has refused root's password for {DENIED_FOR:?}: MYSQL_ROOT_PASSWORD (or its _FILE) must be root's password on this server, which it is not if root's password was random (MYSQL_RANDOM_ROOT_PASSWORD), one-time, or changed since initialisation; let replikit hand the server its options (REPLIKIT_SERVER_ID_VIA) so that it has an account of its own; replikit keeps trying"
        )
    }
}

/// How long root may be refused on the local socket before that is an
/// error: longer than a first start's temporary server takes to set it.
const DENIED_FOR: Duration = Duration::from_secs(45);

/// The run of access-denied answers on the local socket.
#[derive(Default)]
struct Denied {
    since: Option<Instant>,
    reported: bool,
}

impl Denied {
    /// Notes one log-in's outcome; true once, when the refusals have
    /// lasted DENIED_FOR (pure, `now` given).
    fn saw(&mut self, refused: bool, now: Instant) -> bool {
        if !refused {
            self.since = None;
            return false;
        }
        let since = *self.since.get_or_insert(now);
        if self.reported || now.duration_since(since) < DENIED_FOR {
            return false;
        }
        self.reported = true;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_become_an_error_once_after_they_last() {
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        let mut d = Denied::default();
        assert!(!d.saw(true, at(0)));
        assert!(!d.saw(true, at(44)));
        // A success in between starts the count again.
        assert!(!d.saw(false, at(45)));
        assert!(!d.saw(true, at(46)));
        assert!(!d.saw(true, at(90)));
        assert!(d.saw(true, at(91)), "45 s of refusals");
        assert!(!d.saw(true, at(200)), "said once");
        assert!(!d.saw(false, at(201)));
        assert!(!d.saw(true, at(300)));
        assert!(!d.saw(true, at(400)), "still once for the process");
        // Other failures (a server still starting) never count.
        let mut d = Denied::default();
        for s in 0..200 {
            assert!(!d.saw(false, at(s)));
        }
    }
}
