//! Waiting and retrying: what may pass (a server still starting, a network
//! hiccup) is tried again with backoff; what will not (`Permanent`) ends
//! the attempt with an error that says what to do.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::config::role::Role;
use crate::config::settings::ReplicationSettings;
use crate::db::error::Failure;
use crate::db::local::LocalServer;
use crate::pid1::stopping::{self, Stopping};
use crate::replication::{self, Job};

/// Waits between attempts start here and double up to `MAX_WAIT`, which
/// bounds how late a replica notices its source come up (a refused TCP
/// connection is all a try costs): at 1 s, primary-late → replicating was
/// 720 ms at the median on MySQL, over the 600 ms goal at the 90th
/// percentile.
const FIRST_WAIT: Duration = Duration::from_millis(50);
const MAX_WAIT: Duration = Duration::from_millis(250);
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// What the log says when PID 1 stops before replication is set up.
const UNFINISHED: &str = "stopped unfinished, as replikit stops; the next start takes it up again";

/// An error that retrying cannot fix: it needs a person (or new settings).
#[derive(Debug)]
pub struct Permanent(pub String);

impl std::fmt::Display for Permanent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Permanent {}

/// An error that retrying cannot fix.
pub fn permanent(text: String) -> anyhow::Error {
    anyhow::Error::new(Permanent(text))
}

/// Whether retrying cannot fix `e`: it says so, or a server's certificate
/// failed verification.
pub fn is_permanent(e: &anyhow::Error) -> bool {
    e.is::<Permanent>() || Failure::of(e) == Failure::Untrusted
}

/// PID 1's way: set up replication in the background, retrying what may
/// pass (a source still starting, a network hiccup) with backoff, and
/// giving up with an error line on what will not, and ending quietly when
/// PID 1 stops. Never panics, never ends the process.
/// `restartable`: replikit supervises the server, so a clone may restart it.
/// Whether replication was set up.
pub fn keep_trying(
    role: Role,
    settings: ReplicationSettings,
    local: LocalServer,
    repl_host: String,
    restartable: bool,
) -> bool {
    let done = keep_trying_with_host(&settings, &local, &repl_host, restartable, |job| {
        replication::set_up(&role, job)
    });
    match done {
        Some(line) => {
            log::info!("replication: {line}");
            true
        }
        None => false,
    }
}

/// `keep_trying`'s way for any step of the set-up: `step` with a fresh
/// `Job` until it succeeds (Some), fails for good or PID 1 stops (None,
/// said in the log).
pub fn keep_trying_with<T>(
    settings: &ReplicationSettings,
    local: &LocalServer,
    step: impl FnMut(&Job) -> Result<T>,
) -> Option<T> {
    keep_trying_with_host(settings, local, "", true, step)
}

fn keep_trying_with_host<T>(
    settings: &ReplicationSettings,
    local: &LocalServer,
    repl_host: &str,
    restartable: bool,
    mut step: impl FnMut(&Job) -> Result<T>,
) -> Option<T> {
    let mut wait = Duration::from_secs(1);
    loop {
        if stopping::requested() {
            log::info!("replication: {UNFINISHED}");
            return None;
        }
        let deadline = Instant::now() + Duration::from_secs(3600);
        match step(&job(settings, local, repl_host, restartable, deadline)) {
            Ok(value) => return Some(value),
            Err(_) if stopping::requested() => {
                log::info!("replication: {UNFINISHED}");
                return None;
            }
            Err(e) if is_permanent(&e) => {
                log::error!("replication: {e:#}");
                return None;
            }
            Err(e) => {
                log::warn!("replication: {e:#}; trying again in {wait:?}");
                stopping::pause(wait);
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// One attempt of `step`, with the job PID 1's set-up would give it,
/// ending by `deadline` (a keeper's remedy: the keeper tries again later).
pub fn once<T>(
    settings: &ReplicationSettings,
    local: &LocalServer,
    deadline: Instant,
    step: impl FnOnce(&Job) -> Result<T>,
) -> Result<T> {
    step(&job(settings, local, "", true, deadline))
}

/// The job of a set-up step under `settings`.
pub fn job<'a>(
    settings: &'a ReplicationSettings,
    local: &'a LocalServer,
    repl_host: &'a str,
    restartable: bool,
    deadline: Instant,
) -> Job<'a> {
    Job {
        local,
        repl_host,
        tls: &settings.tls,
        source_key: settings.source_key.as_deref(),
        unverified_root_login: settings.unverified_root_login,
        cluster: &settings.cluster,
        seed: settings.seed,
        semi_sync: settings.semi_sync.map(|s| s.server_timeout()),
        restartable,
        donor_port: settings.donor_port,
        datadir: &settings.datadir,
        deadline,
    }
}

/// Tries `attempt` until it succeeds or `deadline` passes, waiting
/// FIRST_WAIT doubling up to MAX_WAIT in between, and logging the last
/// error every PROGRESS_EVERY.
pub fn retry_until<T>(
    deadline: Instant,
    what: &str,
    mut attempt: impl FnMut() -> Result<T>,
) -> Result<T> {
    let mut wait = FIRST_WAIT;
    let mut last_report = Instant::now();
    loop {
        stopping::check()?;
        let error = match attempt() {
            Ok(value) => return Ok(value),
            Err(_) if stopping::requested() => return Err(Stopping.into()),
            Err(e) if is_permanent(&e) => return Err(e),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("{what} did not become ready: {error}");
        }
        if last_report.elapsed() >= PROGRESS_EVERY {
            log::info!("waiting for {what}: {error}");
            last_report = Instant::now();
        }
        stopping::pause(wait);
        wait = (wait * 2).min(MAX_WAIT);
    }
}
