//! The replica's side: read what its server is doing, `plan` (pure) what
//! that means, and carry the plan out: configure a new replica (seeding it
//! first when it needs it), start a stopped one, store new credentials,
//! leave a working one alone, or refuse with the reason.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::accounts;
use crate::config::role::{Credentials, Replica, SourceAccess};
use crate::db::dialect::Dialect;
use crate::db::error::{redacted, ACCESS_DENIED, SOURCE_LOGS_GONE};
use crate::db::wire::Conn;
use crate::pid1::stopping;
use crate::replication::position::{choose_position, point_at_source, seeded_position};
use crate::replication::retry::permanent;
use crate::replication::source::{self, Source};
use crate::replication::{wait_for_local_server, Job};
use crate::seed;
use crate::status::node::ReplicaState;

/// What the replica's current set-up means for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Not a replica yet: configure and start.
    Configure,
    /// Configured for this source but stopped without an error: start.
    Start,
    /// The source refuses the stored credentials (error 1045): store the
    /// ones we were given, keeping the position.
    UpdateCredentials,
    /// Replicating (or connecting) from this source: nothing to do.
    LeaveAlone,
    /// Stopped on an error that needs a person: report it, change nothing.
    Broken(String),
    /// Configured for another source: refuse to repoint silently.
    OtherSource(String),
}

/// Decides what to do with a replica's current status (pure).
pub fn plan(current: Option<&ReplicaState>, host: &str, port: u16) -> Plan {
    let Some(s) = current else {
        return Plan::Configure;
    };
    if !s.source_host.eq_ignore_ascii_case(host) || s.source_port != port {
        return Plan::OtherSource(format!("{}:{}", s.source_host, s.source_port));
    }
    // Wrong credentials (a wrong password, then the right one after a
    // restart): only a new password helps, and we have one.
    if s.io_error
        .as_ref()
        .is_some_and(|e| e.number == u32::from(ACCESS_DENIED))
    {
        return Plan::UpdateCredentials;
    }
    // The source purged what this replica still needs: no start or retry
    // brings it back, whatever the SQL thread does.
    if let Some(e) = s
        .io_error
        .as_ref()
        .filter(|e| SOURCE_LOGS_GONE.contains(&e.number))
    {
        return Plan::Broken(logs_gone(&e.message));
    }
    let running = |t: &str| t == "Yes" || t == "Connecting" || t == "Preparing";
    if running(&s.io_running) && running(&s.sql_running) {
        return Plan::LeaveAlone;
    }
    // An I/O error while the source is away clears itself on retry; an SQL
    // thread that stopped on an error means data that needs a person.
    match s.last_error() {
        Some(e) if s.sql_running != "Yes" => Plan::Broken(e.message.clone()),
        _ => Plan::Start,
    }
}

/// What to say of error 1236, with the way out.
fn logs_gone(message: &str) -> String {
    format!(
        "the source no longer has the binary logs this replica needs ({message}); \
         it cannot catch up by replication: empty its data directory (its volume) and start it again, \
         and replikit seeds it from the source"
    )
}

/// How long a replica that was just started is watched, so that an error
/// of its first moments is reported as one, not as success.
const CONFIRM_FOR: Duration = Duration::from_secs(5);

/// What the replica's threads do once it was started (pure): Ok with a
/// word for the log when they run or may still come up, Err with the
/// reason when an error stopped one that needs a person.
pub fn outcome(s: &ReplicaState) -> Result<&'static str, String> {
    match plan(Some(s), &s.source_host, s.source_port) {
        Plan::Broken(reason) => Err(reason),
        _ if s.io_running == "Yes" && s.sql_running == "Yes" => Ok("replicating"),
        _ => Ok("not replicating yet"),
    }
}

/// Sets up a replica, as an outline: the local server, the source, what
/// the replica is doing now, the plan for it, then the monitoring account
/// and read-only, and a look at what the replica does then.
pub fn set_up(r: &Replica, job: &Job) -> Result<String> {
    let (mut conn, mine) = wait_for_local_server(job)?;
    if let Some(timeout) = job.semi_sync {
        crate::replication::semi_sync::take_side(&mut conn, &mine, false, timeout)?;
    }
    let source = source::wait_for(r, job)?;
    refuse_another_product(r, &source, &mine)?;
    // A set-up left by an interrupted seed points at a partial copy.
    let interrupted = seed::record::interrupted(&mut conn)?;
    let status = if interrupted {
        None
    } else {
        ReplicaState::from_rows(&conn.query(mine.replica_status())?)
    };
    log::debug!("replica status before set-up: {status:?}");
    let replica = ThisReplica {
        r,
        source: &source,
        mine: &mine,
        job,
    };
    match plan(status.as_ref(), &r.source_host, r.source_port) {
        Plan::LeaveAlone => {}
        // Refused, but still a replica by its settings: it takes no
        // application writes meanwhile (MariaDB keeps no read-only state
        // across a restart).
        Plan::Broken(error) => {
            conn.query(mine.set_read_only())?;
            return Err(replica.broken(&error));
        }
        Plan::OtherSource(current) => {
            conn.query(mine.set_read_only())?;
            return Err(replica.follows_another(&current));
        }
        Plan::Start => {
            conn.query(mine.start_replica())?;
        }
        Plan::UpdateCredentials => replica.update_credentials(&mut conn)?,
        Plan::Configure => replica.configure(&mut conn, interrupted)?,
    }
    accounts::ensure_monitor(&mut conn, job.local, &mine)?;
    conn.query(mine.set_read_only())?;
    let state = replica.confirm(&mut conn)?;
    Ok(format!(
        "replica of {}:{} ({}): {state}",
        r.source_host, r.source_port, source.version
    ))
}

fn refuse_another_product(r: &Replica, source: &Source, mine: &Dialect) -> Result<()> {
    if source.version.product != mine.version.product {
        return Err(permanent(format!(
            "the source {}:{} (MYSQL_MASTER_HOST) runs {} but this replica runs {}; replicate between servers of one product",
            r.source_host, r.source_port, source.version, mine.version
        )));
    }
    Ok(())
}

/// This replica, its source and its set-up job, for carrying out a plan.
struct ThisReplica<'a> {
    r: &'a Replica,
    source: &'a Source,
    mine: &'a Dialect,
    job: &'a Job<'a>,
}

impl ThisReplica<'_> {
    /// The replication account: the one given, or, in root-credentials
    /// mode, the one created on the source (only when needed).
    fn credentials(&self) -> Result<Credentials> {
        match &self.r.access {
            SourceAccess::Account(creds) => Ok(creds.clone()),
            SourceAccess::Admin(admin) => {
                source::create_account_on_source(self.r, self.source, admin, self.job)
            }
        }
    }

    /// Watches the replica for up to CONFIRM_FOR: its state for the log,
    /// or the error that stopped it.
    fn confirm(&self, conn: &mut Conn) -> Result<String> {
        let until = Instant::now() + CONFIRM_FOR;
        loop {
            let status = ReplicaState::from_rows(&conn.query(self.mine.replica_status())?);
            let Some(status) = status else {
                return Err(permanent(
                    "the replica's set-up is gone (RESET REPLICA ALL?) right after it was made"
                        .into(),
                ));
            };
            let word = match outcome(&status) {
                Err(reason) => return Err(self.broken(&reason)),
                Ok("replicating") => return Ok("replicating".into()),
                Ok(word) => word,
            };
            let watched_enough = Instant::now() >= until;
            if watched_enough || !stopping::pause(Duration::from_millis(100)) {
                let why = status
                    .last_error()
                    .map(|e| format!(": {}", e.message))
                    .unwrap_or_default();
                return Ok(format!(
                    "{word} (I/O thread {}, SQL thread {}{why}); `replikit health` says when it is",
                    status.io_running, status.sql_running
                ));
            }
        }
    }

    fn broken(&self, error: &str) -> anyhow::Error {
        permanent(format!(
            "replication from {}:{} stopped on an error: {error}",
            self.r.source_host, self.r.source_port
        ))
    }

    fn follows_another(&self, current: &str) -> anyhow::Error {
        permanent(format!(
            "this replica follows {current}, not {}:{}; it is not repointed silently: run {} and RESET REPLICA ALL on it first",
            self.r.source_host,
            self.r.source_port,
            self.mine.stop_replica()
        ))
    }

    fn update_credentials(&self, conn: &mut Conn) -> Result<()> {
        log::info!("the source refused the stored replication credentials; storing the ones given");
        let creds = self.credentials()?;
        let change = self
            .mine
            .change_credentials(&creds.user, &creds.password)
            .map_err(|e| permanent(format!("{e:#}")))?;
        conn.query(self.mine.stop_replica())?;
        conn.query(&change).map_err(redacted(
            "storing new replication credentials",
            &creds.password,
        ))?;
        conn.query(self.mine.start_replica())?;
        Ok(())
    }

    /// A new replica: where to start, a seed if it needs one, then
    /// replication from the snapshot's position.
    fn configure(&self, conn: &mut Conn, interrupted: bool) -> Result<()> {
        let (r, mine, job) = (self.r, self.mine, self.job);
        let creds = self.credentials()?;
        let checked = source::wait_until_writable(r, self.source, &creds, job.deadline)?;
        let position = choose_position(conn, mine, r, self.source, checked, &creds, job)?;
        let seeded = seed::run::seed_if_needed(conn, mine, r, self.source, interrupted, job)?;
        if let (Some(_), Some(timeout)) = (&seeded, job.semi_sync) {
            // A clone or a physical copy restarted the server, which has
            // forgotten the replica side turned on before the seed: without
            // it, every commit on the primary would wait out its timeout.
            crate::replication::semi_sync::take_side(conn, mine, false, timeout)?;
        }
        let position = match &seeded {
            Some(seeded) => seeded_position(conn, mine, &seeded.at, position)?,
            None => {
                forget_own_first_start(conn, mine)?;
                position
            }
        };
        point_at_source(conn, mine, r, self.source, &creds, position)?;
        if let Some(seeded) = &seeded {
            seed::events::settle_copied_events(conn, mine, seeded.events_paused)?;
            seed::record::finish_local(conn)?;
            seed::record::record(conn, &seeded.how)?;
            if let Some(file) = &seeded.position_file {
                // Replication runs from there now: the next start must not
                // take this copy for one still to be pointed at.
                let _ = std::fs::remove_file(file);
            }
            log::info!(
                "seeding: done ({}); replicating from the snapshot's position",
                seeded.how
            );
        }
        Ok(())
    }
}

/// A new MySQL replica that replicates without a seed still has the GTIDs
/// of its own first start (the official entrypoint loads the time zones
/// with the binary log on): errant transactions, which its source never
/// had and which would reach this node's own replicas once it is
/// promoted. Without user data there is nothing of its own to keep: its
/// GTID history is emptied (the rows stay). MariaDB replicates by its
/// replica position instead, and its entrypoint keeps that load out of
/// the binary log.
fn forget_own_first_start(conn: &mut Conn, mine: &Dialect) -> Result<()> {
    let Some(reset) = mine.reset_gtid_history() else {
        return Ok(());
    };
    if !seed::user_schemas(conn)?.is_empty() {
        return Ok(());
    }
    let rows = conn.query("SELECT @@GLOBAL.gtid_executed AS g")?;
    let own = rows.get(0, "g").unwrap_or_default().replace('\n', "");
    if own.is_empty() {
        return Ok(());
    }
    log::info!(
        "forgetting the transactions of its own first start ({own}), which the source never had: \
         they would reach this node's replicas if it were promoted"
    );
    accounts::with_super_read_only_lifted(conn, mine, |conn| conn.query(reset).map(drop))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(host: &str, port: u16, io: &str, sql: &str, error: &str) -> ReplicaState {
        ReplicaState {
            source_host: host.into(),
            source_port: port,
            io_running: io.into(),
            sql_running: sql.into(),
            lag_seconds: None,
            source_log_file: String::new(),
            source_log_pos: 0,
            gtid: String::new(),
            io_error: None,
            sql_error: (!error.is_empty()).then(|| LastError {
                thread: "sql",
                number: 1,
                message: error.into(),
                time: None,
            }),
        }
    }

    use crate::status::node::LastError;

    #[test]
    fn plans() {
        let cases = [
            (None, Plan::Configure),
            (
                Some(status("db1", 3306, "Yes", "Yes", "")),
                Plan::LeaveAlone,
            ),
            (
                Some(status("DB1", 3306, "Connecting", "Yes", "")),
                Plan::LeaveAlone,
            ),
            (
                Some(status("db1", 3306, "Connecting", "Yes", "error connecting")),
                Plan::LeaveAlone,
            ),
            (Some(status("db1", 3306, "No", "No", "")), Plan::Start),
            (
                Some(status("db1", 3306, "No", "Yes", "Access denied")),
                Plan::Start,
            ),
            (
                Some(status("db1", 3306, "Yes", "No", "Duplicate entry")),
                Plan::Broken("Duplicate entry".into()),
            ),
            (
                Some(status("db2", 3306, "Yes", "Yes", "")),
                Plan::OtherSource("db2:3306".into()),
            ),
            (
                Some(status("db1", 3307, "Yes", "Yes", "")),
                Plan::OtherSource("db1:3307".into()),
            ),
        ];
        for (current, want) in cases {
            assert_eq!(plan(current.as_ref(), "db1", 3306), want, "{current:?}");
        }
    }

    fn io_error(number: u32, io: &str, sql: &str) -> ReplicaState {
        ReplicaState {
            io_error: Some(LastError {
                thread: "io",
                number,
                message: "Could not find GTID state requested by slave in any binlog files".into(),
                time: None,
            }),
            ..status("db1", 3306, io, sql, "")
        }
    }

    #[test]
    fn purged_logs_are_broken_whatever_the_threads_say() {
        for (code, io, sql) in [
            (1236, "No", "Yes"),
            (1236, "No", "No"),
            (1236, "Connecting", "Yes"),
            (13114, "No", "Yes"),
        ] {
            let Plan::Broken(reason) = plan(Some(&io_error(code, io, sql)), "db1", 3306) else {
                panic!("{code} {io} {sql}: not broken");
            };
            assert!(
                reason.contains("needs (Could not find GTID state"),
                "{reason}"
            );
            assert!(reason.contains("empty its data directory"), "{reason}");
        }
        // Any other I/O error (the source away) may pass: start again.
        assert_eq!(
            plan(Some(&io_error(2003, "No", "Yes")), "db1", 3306),
            Plan::Start
        );
    }

    #[test]
    fn outcomes_after_a_start() {
        assert_eq!(
            outcome(&status("db1", 3306, "Yes", "Yes", "")),
            Ok("replicating")
        );
        for (io, sql) in [("Connecting", "Yes"), ("No", "Yes"), ("Yes", "No")] {
            assert_eq!(
                outcome(&status("db1", 3306, io, sql, "")),
                Ok("not replicating yet"),
                "{io} {sql}"
            );
        }
        assert!(outcome(&io_error(1236, "No", "Yes"))
            .unwrap_err()
            .contains("no longer has the binary logs"));
        assert_eq!(
            outcome(&status("db1", 3306, "Yes", "No", "Duplicate entry")),
            Err("Duplicate entry".into())
        );
        // Access denied is fixed by new credentials on the next set-up.
        assert_eq!(
            outcome(&io_error(1045, "Connecting", "Yes")),
            Ok("not replicating yet")
        );
    }
}
