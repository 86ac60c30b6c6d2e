//! The leader key in etcd (`/replikit/CLUSTER/leader`, holding
//! `server_id=N` and bound to a lease), and PID 1's keeper of it.
//!
//! Only the node that holds the key takes writes. The keeper, on every
//! node with REPLIKIT_DCS, looks every quarter of the lease's time-to-live
//! at the key and at its own server, and acts as `lease::decide` says:
//! the primary renews the lease, and fences itself before the lease
//! could expire when it cannot. A switchover hands the key over in one
//! transaction; a failover waits until the old primary's lease has
//! expired before it takes the key for the new one, so that the old
//! primary, were it only cut off, has fenced itself by then.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::config::dcs::DcsSettings;
use crate::db::dialect::Dialect;
use crate::db::error::{self, Failure};
use crate::db::local::LocalServer;
use crate::db::wire::Conn;
use crate::dcs::etcd::{Etcd, Held, Take};
use crate::dcs::fallback;
use crate::dcs::lease::{self, Act, KeyHolder, Look};
use crate::pid1::stopping;

pub struct Leader {
    etcd: Etcd,
    /// What made `etcd`: a thread that keeps the failover lock alive makes
    /// a client of its own from it.
    dcs: DcsSettings,
    /// `/replikit/CLUSTER/`: the leader key, the failover lock and the
    /// maintenance flag are under it.
    prefix: String,
    key: String,
    ttl: Duration,
}

/// How long a failover may hold its lock: a failover that dies half-way
/// (its PID 1 killed) lets the next one in after this.
const FAILOVER_LOCK_TTL: Duration = Duration::from_secs(120);

/// A held failover lock; `Leader::unlock` gives it back. While it is
/// held, a thread keeps its lease alive, so that a failover that takes
/// longer than the lease's time-to-live still holds it; dropping the lock
/// (`unlock`, or a panic's unwinding) stops that thread, and a failover
/// that dies with its process lets the next one in after the lease.
pub struct FailoverLock {
    lease: i64,
    held: Arc<AtomicBool>,
}

impl Drop for FailoverLock {
    fn drop(&mut self) {
        self.held.store(false, Ordering::SeqCst);
    }
}

/// Keeps `lease` alive every quarter of FAILOVER_LOCK_TTL while `held`.
fn keep_lock_alive(dcs: DcsSettings, lease: i64, held: Arc<AtomicBool>) {
    let etcd = Etcd::new(dcs.endpoints, dcs.tls, dcs.login);
    let every = FAILOVER_LOCK_TTL / 4;
    let slice = Duration::from_millis(100);
    let mut next = Instant::now() + every;
    while held.load(Ordering::SeqCst) {
        if Instant::now() >= next {
            if let Err(e) = etcd.keep_alive(lease, Instant::now() + Duration::from_secs(5)) {
                log::warn!("failover: the failover lock's lease: {e:#}");
            }
            next = Instant::now() + every;
        }
        std::thread::sleep(slice);
    }
}

/// The key's value for the node `server_id`.
pub fn value_for(server_id: u32) -> String {
    format!("server_id={server_id}")
}

/// A member's entry under `/replikit/CLUSTER/members/SERVER_ID` (pure):
/// whether it takes writes, how far it got (its GTIDs), and as a replica
/// its source, threads and lag. JSON, for people and tools reading etcd.
pub fn member_value(
    server_id: u32,
    writable: bool,
    gtid: &str,
    replica: Option<&crate::status::node::ReplicaState>,
) -> String {
    use crate::dcs::json::quote;
    let replica = match replica {
        None => "null".to_string(),
        Some(r) => format!(
            "{{\"source\":{},\"io\":{},\"sql\":{},\"lag\":{}}}",
            quote(&format!("{}:{}", r.source_host, r.source_port)),
            quote(&r.io_running),
            quote(&r.sql_running),
            r.lag_seconds.map_or("null".into(), |s| s.to_string())
        ),
    };
    format!(
        "{{\"server_id\":{server_id},\"writable\":{writable},\"gtid\":{},\"replica\":{replica}}}",
        quote(gtid)
    )
}

impl Leader {
    pub fn new(dcs: &DcsSettings, cluster: &str) -> Leader {
        let prefix = format!("/replikit/{cluster}/");
        Leader {
            etcd: Etcd::new(dcs.endpoints.clone(), dcs.tls.clone(), dcs.login.clone()),
            dcs: dcs.clone(),
            key: format!("{prefix}leader"),
            prefix,
            ttl: dcs.ttl,
        }
    }

    /// One failover at a time in the cluster, whether a command or a
    /// keeper runs it: the lock, or who holds it.
    pub fn lock_failover(
        &self,
        holder: &str,
        deadline: Instant,
    ) -> Result<Result<FailoverLock, String>> {
        let lease = self.etcd.grant(FAILOVER_LOCK_TTL, deadline)?;
        match self
            .etcd
            .take(&format!("{}failover", self.prefix), holder, lease, deadline)?
        {
            Take::Taken => {
                let held = Arc::new(AtomicBool::new(true));
                let (dcs, alive) = (self.dcs.clone(), held.clone());
                if let Err(e) = std::thread::Builder::new()
                    .name("failover-lock".into())
                    .spawn(move || keep_lock_alive(dcs, lease, alive))
                {
                    log::warn!("failover: the lock is held for at most {FAILOVER_LOCK_TTL:?}: {e}");
                }
                Ok(Ok(FailoverLock { lease, held }))
            }
            Take::HeldBy(h) => {
                let _ = self.etcd.revoke(lease, deadline);
                Ok(Err(h.value))
            }
            Take::Free | Take::Barred(_) => Ok(Err("nobody (try again)".into())),
        }
    }

    pub fn unlock(&self, lock: FailoverLock) {
        lock.held.store(false, Ordering::SeqCst);
        if let Err(e) = self
            .etcd
            .revoke(lock.lease, Instant::now() + Duration::from_secs(5))
        {
            log::warn!(
                "leader: the failover lock stays until it expires ({FAILOVER_LOCK_TTL:?}): {e:#}"
            );
        }
    }

    /// Whether automatic failover is paused, and since when/by whom.
    pub fn maintenance(&self, deadline: Instant) -> Result<Option<String>> {
        Ok(self
            .etcd
            .get(&format!("{}maintenance", self.prefix), deadline)?
            .map(|h| h.value))
    }

    /// Pauses (Some(note)) or resumes (None) automatic failover.
    pub fn set_maintenance(&self, note: Option<&str>, deadline: Instant) -> Result<()> {
        let key = format!("{}maintenance", self.prefix);
        match note {
            Some(note) => self.etcd.put(&key, note, deadline),
            None => self.etcd.delete(&key, deadline),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// `/replikit/CLUSTER/async`: set while the primary it names may have
    /// acknowledged writes that no replica has (semi-synchronous
    /// replication fell back to asynchronous).
    pub fn async_key(&self) -> String {
        format!("{}async", self.prefix)
    }

    /// Sets the async mark for `me`, only while `me` holds the leader key:
    /// whether it did. A primary whose key is gone may not mark, since a
    /// failover may have looked already, and must not fall back.
    pub fn mark_async(&self, me: u32, deadline: Instant) -> Result<bool> {
        self.etcd.put_while(
            &self.key,
            &value_for(me),
            &self.async_key(),
            &value_for(me),
            deadline,
        )
    }

    /// Who the async mark names, if it is set.
    pub fn async_mark(&self, deadline: Instant) -> Result<Option<String>> {
        Ok(self.etcd.get(&self.async_key(), deadline)?.map(|h| h.value))
    }

    pub fn clear_async_mark(&self, deadline: Instant) -> Result<()> {
        self.etcd.delete(&self.async_key(), deadline)
    }

    /// Keeps this member's entry alive under its own lease `lease` (a
    /// new one when None or expired), and writes `value` (`member_value`)
    /// when `write` or when the lease is new: the lease it is under, and
    /// whether it wrote. Renewals leave no history in etcd; writes do.
    pub fn publish_member(
        &self,
        server_id: u32,
        value: &str,
        write: bool,
        lease: Option<i64>,
        deadline: Instant,
    ) -> Result<(i64, bool)> {
        let alive = match lease {
            Some(id) => self.etcd.keep_alive(id, deadline)?.map(|_| id),
            None => None,
        };
        let (lease, write) = match alive {
            Some(id) => (id, write),
            None => (self.etcd.grant(self.ttl, deadline)?, true),
        };
        if write {
            let key = format!("{}members/{server_id}", self.prefix);
            self.etcd.put_bound(&key, value, lease, deadline)?;
        }
        Ok((lease, write))
    }

    /// Who holds the key.
    pub fn holder(&self, deadline: Instant) -> Result<Option<Held>> {
        self.etcd.get(&self.key, deadline)
    }

    /// `/replikit/CLUSTER/taken`: who took the leader key last, written in
    /// the same transaction as every take (no lease: it outlives the
    /// key). A node that lost the key may take it back on its own only
    /// while this still names it: else another node led since, and this
    /// one's data may lack what was written there.
    pub fn taken_key(&self) -> String {
        format!("{}taken", self.prefix)
    }

    /// Takes the free key for `server_id` with a new lease, which that
    /// node's keeper keeps alive from then on; recorded as the last take.
    pub fn take_for(&self, server_id: u32, deadline: Instant) -> Result<Take> {
        let lease = self.etcd.grant(self.ttl, deadline)?;
        self.etcd.take_and_record(
            &self.key,
            &value_for(server_id),
            lease,
            &self.taken_key(),
            deadline,
        )
    }

    /// A node's own take of the free key, by its own record (the first
    /// primary of a new cluster, a primary whose lease lapsed): only while
    /// it was the last to take it, or nobody ever did. `Take::Barred`
    /// names who took it since.
    pub fn take_back(&self, server_id: u32, deadline: Instant) -> Result<Take> {
        let lease = self.etcd.grant(self.ttl, deadline)?;
        let taken = self.etcd.take_recorded(
            &self.key,
            &value_for(server_id),
            lease,
            &self.taken_key(),
            deadline,
        );
        if !matches!(taken, Ok(Take::Taken)) {
            let _ = self.etcd.revoke(lease, deadline);
        }
        taken
    }

    /// Switchover: moves the key from `from` (fenced already) to `to` in
    /// one transaction; takes it when nobody holds it.
    pub fn hand_over(&self, from: u32, to: u32, deadline: Instant) -> Result<()> {
        let lease = self.etcd.grant(self.ttl, deadline)?;
        let taken = match self.etcd.swap(
            &self.key,
            &value_for(from),
            &value_for(to),
            lease,
            &self.taken_key(),
            deadline,
        )? {
            Take::Free => self.etcd.take_and_record(
                &self.key,
                &value_for(to),
                lease,
                &self.taken_key(),
                deadline,
            )?,
            other => other,
        };
        match taken {
            Take::Taken => {}
            Take::HeldBy(h) if h.value == value_for(to) => {}
            Take::HeldBy(h) => bail!("the leader key is held by {}, not by the old primary; find out why before switching over", h.value),
            Take::Free | Take::Barred(_) => bail!("the leader key went away during the hand-over; run the switchover again"),
        }
        // The new primary has everything the old one acknowledged: what it
        // acknowledged without a replica is no longer at risk.
        if let Err(e) = self.clear_async_mark(deadline) {
            log::warn!(
                "switchover: {} stays in etcd ({e:#}); the new primary's keeper clears it",
                self.async_key()
            );
        }
        Ok(())
    }

    /// Failover: waits (at most the lease's time-to-live and `wait`) until
    /// nobody holds the key, the old primary's lease having expired, then
    /// takes it for `to`. An automatic failover (`automatic`) does not
    /// take it while the async mark is set: the old primary acknowledged
    /// writes that no replica may have, and promoting a replica would
    /// lose them. Looked at in the take's own transaction, the mark
    /// cannot be set unseen by a primary whose lease has not expired yet.
    pub fn take_when_free(&self, to: u32, wait: Duration, automatic: bool) -> Result<()> {
        let give_up = Instant::now() + self.ttl + wait;
        let mut said = false;
        loop {
            let deadline = (Instant::now() + Duration::from_secs(3)).min(give_up);
            let take = if automatic {
                self.etcd.grant(self.ttl, deadline).and_then(|lease| {
                    let value = value_for(to);
                    let bar = self.async_key();
                    self.etcd.take_unless(
                        &self.key,
                        &value,
                        lease,
                        &bar,
                        &self.taken_key(),
                        deadline,
                    )
                })
            } else {
                self.take_for(to, deadline)
            };
            match take {
                Ok(Take::Taken) => return Ok(()),
                Ok(Take::HeldBy(h)) if h.value == value_for(to) => return Ok(()),
                Ok(Take::Barred(h)) => bail!(
                    "{} is set: its primary ({}) acknowledged writes without a replica's acknowledgement before it was lost, and a replica promoted now would lack them; bring that primary back (it takes writes again and its replicas catch up), or run replikit failover to promote the most advanced replica knowingly",
                    self.async_key(),
                    h.value
                ),
                Ok(Take::HeldBy(h)) if !said => {
                    log::info!("failover: the leader key is {}'s until its lease expires (at most {:?}); waiting", h.value, self.ttl);
                    said = true;
                }
                Ok(_) => {}
                Err(e) if Instant::now() >= give_up => {
                    return Err(e.context("cannot take the leader key in etcd"))
                }
                Err(e) => log::warn!("failover: {e:#}"),
            }
            if Instant::now() >= give_up {
                bail!("the leader key stayed held for longer than its time-to-live; is the old primary alive? use replikit switchover if so");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The keeper's memory between looks.
pub struct Keeper {
    leader: Leader,
    /// When the node must be read-only by, from the last confirmed renewal.
    fence_by: Option<Instant>,
    /// When the last renewal etcd confirmed was sent (for the log).
    confirmed: Option<Instant>,
    /// The node is read-only by the keeper's doing (or since the start of
    /// a node decided to be the primary), so the keeper may open it again
    /// once it holds the key.
    fenced_by_keeper: bool,
    /// The last renewal or take succeeded, and no look since saw the key
    /// elsewhere or gone.
    holds: bool,
    /// Shared with the start path: `holds`, within the fence time.
    holding: Arc<AtomicBool>,
    /// Set by the start path once it decided this node is the primary:
    /// the fence it started behind is then the keeper's to lift once it
    /// holds the key. Any other node's start fence is not: a former
    /// primary told to rejoin still finds its own old record naming
    /// itself until replication brings the new one, and must not take a
    /// free key on it.
    decided_primary: Arc<AtomicBool>,
    /// A node held the key since the keeper started.
    leader_seen: bool,
    /// What the keeper runs in the background: a failover, a rejoin.
    remedies: Remedies,
    /// Set while a remedy this keeper started runs.
    busy: Arc<AtomicBool>,
    /// No new failover from this node before then.
    next_failover: Instant,
    /// No new rejoin before then.
    next_rejoin: Instant,
    /// The lease this member's entry is bound to.
    member_lease: Option<i64>,
    /// The entry last written, and when.
    member_written: Option<(String, Instant)>,
    /// Since when this node has been astray: read-only while another
    /// node holds the key, and either a former primary (its record names
    /// it) or a replica of some node other than the key's holder.
    astray_since: Option<Instant>,
    /// REPLIKIT_SEMI_SYNC_TIMEOUT, when semi-synchronous replication is
    /// on: the holder falls back after it (`fallback`).
    semi_sync: Option<Duration>,
    watch: fallback::Watch,
    /// The local server, for the proof commit's own connection.
    local: LocalServer,
    /// Set while a proof commit runs.
    proving: Arc<AtomicBool>,
}

/// A background task of the keeper's, with a line saying what it did.
pub type Remedy = Arc<dyn Fn() -> Result<String> + Send + Sync>;

/// The keeper's remedies.
#[derive(Clone)]
pub struct Remedies {
    /// Part 1's failover, choosing the most advanced member, when the
    /// leader's lease expired.
    pub fail_over: Remedy,
    /// The start path's choice of role again, which repoints a former
    /// primary at the primary of the highest epoch: for a primary that
    /// lost the key without restarting (cut off from etcd and its peers,
    /// then back), which no failover could reach to repoint.
    pub rejoin: Remedy,
}

/// How long a look may spend publishing the member's entry.
const PUBLISH_WITHIN: Duration = Duration::from_millis(500);

/// How often the holder looks while commits wait with no acknowledgement:
/// the fallback comes at most this late after REPLIKIT_SEMI_SYNC_TIMEOUT.
const STALLED_LOOKS_EVERY: Duration = Duration::from_millis(500);

/// How often a node that does not hold the key looks at it.
const NON_HOLDER_LOOKS_EVERY: Duration = Duration::from_secs(1);

/// How long a node waits after a failover or rejoin it started, before it
/// may start another: a failed one (no candidate answered) is not retried
/// in a loop.
const REMEDY_RETRY: Duration = Duration::from_secs(30);

impl Keeper {
    pub fn new(
        leader: Leader,
        holding: Arc<AtomicBool>,
        remedies: Remedies,
        decided_primary: Arc<AtomicBool>,
        semi_sync: Option<Duration>,
        local: LocalServer,
    ) -> Keeper {
        Keeper {
            semi_sync,
            local,
            proving: Arc::new(AtomicBool::new(false)),
            watch: fallback::Watch::default(),
            leader,
            fence_by: None,
            confirmed: None,
            fenced_by_keeper: false,
            decided_primary,
            holds: false,
            holding,
            leader_seen: false,
            remedies,
            busy: Arc::new(AtomicBool::new(false)),
            next_failover: Instant::now(),
            next_rejoin: Instant::now(),
            astray_since: None,
            member_lease: None,
            member_written: None,
        }
    }

    /// One look at etcd and at the local server, and its act.
    pub fn step(&mut self, conn: &mut Conn) -> Result<()> {
        if self.decided_primary.swap(false, Ordering::SeqCst) {
            self.fenced_by_keeper = true;
        }
        let d = Dialect::of(&conn.server_version)?;
        let rows = match conn.query("SELECT @@GLOBAL.read_only AS ro, @@skip_networking AS sn") {
            Ok(rows) => rows,
            Err(e) => {
                self.server_silent();
                return Err(e);
            }
        };
        // The image's temporary server of first start-up (no network) is
        // the entrypoint's, initialising: the keeper leaves it alone.
        if rows.get(0, "sn") != Some("0") {
            return Ok(());
        }
        let mut writable = rows.get(0, "ro") == Some("0");
        // Past the time a confirmed renewal bought: fence before anything
        // else, etcd's answer cannot come in time.
        if writable && self.holds && self.fence_by.is_some_and(|t| Instant::now() >= t) {
            let why = self.unconfirmed();
            self.fence(conn, &d, &why, true)?;
            writable = false;
        }
        let me = crate::replication::follow::server_id(conn)?;
        let record = crate::replication::topology::read(conn)?;
        let now = Instant::now();
        // Every call to etcd ends by the fence time: the fence must not
        // wait for an answer.
        let deadline = match self.fence_by {
            Some(t) if writable => t.min(now + lease::renew_every(self.leader.ttl)),
            _ => now + lease::renew_every(self.leader.ttl),
        };
        let held = self.leader.holder(deadline);
        let key = match &held {
            Ok(Some(h)) if h.value == value_for(me) => KeyHolder::Me,
            Ok(Some(_)) => KeyHolder::Other,
            Ok(None) => KeyHolder::Nobody,
            Err(_) => KeyHolder::Unknown,
        };
        if matches!(key, KeyHolder::Me | KeyHolder::Other) {
            self.leader_seen = true;
        }
        // After etcd's answer, which may have been waited for until the
        // fence time: a look that straddles it fences in this look.
        let past_fence_time = self.fence_by.is_none_or(|t| Instant::now() >= t);
        let recorded_primary = record.is_some_and(|r| r.server_id == me);
        let paused = self.busy.load(Ordering::SeqCst)
            || now < self.next_failover
            || (key == KeyHolder::Nobody
                && !recorded_primary
                && self.leader_seen
                && self.maintenance(deadline));
        let look = Look {
            key,
            recorded_primary,
            writable,
            past_fence_time,
            fenced_by_keeper: self.fenced_by_keeper,
            leader_seen: self.leader_seen,
            paused,
        };
        if writable {
            self.fenced_by_keeper = false;
        }
        let act = lease::decide(&look);
        log::debug!(
            "leader: {look:?} (holds {}, fence in {:?}) -> {act:?}",
            self.holds,
            self.fence_by.map(|t| t.saturating_duration_since(now))
        );
        let outcome = match act {
            Act::Renew { and_lift } => {
                let lease_id = held
                    .as_ref()
                    .ok()
                    .and_then(|h| h.as_ref())
                    .map_or(0, |h| h.lease);
                self.renew(conn, &d, lease_id, deadline, and_lift)
            }
            Act::Take => {
                let sent = Instant::now();
                match self.leader.take_back(me, deadline)? {
                    Take::Taken => {
                        log::info!("leader: this node holds the leader key now");
                        self.holds = true;
                        self.confirmed = Some(sent);
                        self.fence_by =
                            Some(lease::fence_by(sent, self.leader.ttl, self.leader.ttl));
                        if self.fenced_by_keeper && !writable {
                            self.lift(conn, &d)?;
                        }
                        Ok(())
                    }
                    Take::Barred(since) => {
                        // Its own record is stale: another node led, and
                        // wrote what this one may lack. It stays fenced
                        // and never takes the key on its record again.
                        log::error!(
                            "leader: this node's record names it the primary, but {} took the leader key since ({} says so): it stays read-only, and rejoins the cluster or waits for a person (replikit rejoin)",
                            since.value,
                            self.leader.taken_key()
                        );
                        self.fenced_by_keeper = false;
                        if writable {
                            self.fence(conn, &d, "the leader key is gone, and another node led since this node took it", false)
                        } else {
                            Ok(())
                        }
                    }
                    _ => Ok(()),
                }
            }
            Act::Fence => {
                let why = match key {
                    KeyHolder::Other => "another node holds the leader key".to_string(),
                    KeyHolder::Nobody => "the leader key has expired".to_string(),
                    // A holder whose renewals etcd stopped confirming.
                    _ if self.holds => self.unconfirmed(),
                    _ => "this node takes writes without holding the leader key".to_string(),
                };
                self.fence(conn, &d, &why, key != KeyHolder::Other)
            }
            Act::FailOver => {
                if now >= self.next_failover {
                    self.next_failover = now + REMEDY_RETRY;
                    log::warn!("leader: the leader key is gone (its lease expired): failing over");
                    self.start("failover", self.remedies.fail_over.clone());
                }
                Ok(())
            }
            Act::Nothing => Ok(()),
        };
        // A node astray is left a time-to-live to be repointed by the
        // failover or switchover that made another node the leader (it may
        // have been out of its reach); then it rejoins by itself.
        let astray = match (&held, key) {
            (Ok(Some(h)), KeyHolder::Other) if !writable => {
                // A failed look at the replica status is taken up again at
                // the next look; it must not keep this one from its end.
                recorded_primary || self.follows_other_than(conn, &d, &h.value).unwrap_or(false)
            }
            _ => false,
        };
        self.astray_since = astray.then(|| self.astray_since.unwrap_or(now));
        if self
            .astray_since
            .is_some_and(|t| now.duration_since(t) >= self.leader.ttl && now >= self.next_rejoin)
        {
            self.next_rejoin = now + REMEDY_RETRY;
            log::warn!("leader: another node holds the leader key, and this node does not follow it: rejoining the cluster as its replica");
            self.fenced_by_keeper = false;
            self.start("rejoin", self.remedies.rejoin.clone());
        }
        // Holding ends when the key is seen elsewhere or gone; a renewal
        // that fails, or etcd silent, leaves the fence time to decide.
        match (key, &outcome) {
            (KeyHolder::Me | KeyHolder::Unknown, _) => {}
            (KeyHolder::Nobody, Ok(())) if act == Act::Take => {}
            _ => self.lose(),
        }
        let holds = self.holds && self.fence_by.is_some_and(|t| Instant::now() < t);
        if self.holds && !holds && !writable {
            // Past the fence time and read-only: nothing left to guard
            // until a renewal or take succeeds again (and no look at once
            // again and again while etcd is silent: `lease::pause`).
            self.lose();
        }
        self.holding.store(holds, Ordering::SeqCst);
        if holds && writable && key == KeyHolder::Me && outcome.is_ok() {
            if let Err(e) = self.guard_semi_sync(conn, &d, me, deadline) {
                log::warn!("leader: semi-synchronous replication: {e:#}");
            }
        }
        // Last, and briefly: the entry is for people and tools, and must
        // not delay the next look.
        self.publish(conn, &d, me);
        outcome?;
        held.map(drop)
    }

    /// The holder's semi-synchronous replication: the fallback to
    /// asynchronous recorded in etcd before it happens, and the way back
    /// (`fallback`).
    fn guard_semi_sync(
        &mut self,
        conn: &mut Conn,
        d: &Dialect,
        me: u32,
        deadline: Instant,
    ) -> Result<()> {
        use crate::replication::semi_sync;
        let Some(timeout) = self.semi_sync else {
            return Ok(());
        };
        let source = match semi_sync::source_state(conn, d) {
            // MySQL before the start path has loaded the semi-sync plugin:
            // no commit waits for a replica yet, so there is nothing to
            // guard, and the next look finds the plugin.
            Err(e) if Failure::of(&e) == Failure::Server(error::UNKNOWN_SYSTEM_VARIABLE) => {
                log::debug!("leader: semi-synchronous replication is not loaded yet: {e:#}");
                return Ok(());
            }
            state => state?,
        };
        let mark = self.leader.async_mark(deadline)?;
        if let Some(other) = mark.as_ref().filter(|v| **v != value_for(me)) {
            // Left by a person's failover that stopped before its end:
            // the writes it names were given up by that failover.
            log::info!(
                "leader: clearing {} ({other}), which names a former primary",
                self.leader.async_key()
            );
            self.leader.clear_async_mark(deadline)?;
        }
        let marked = mark.is_some_and(|v| v == value_for(me));
        let caught_up = marked && !source.enabled && semi_sync::a_replica_is_caught_up(conn)?;
        let seen = fallback::Seen {
            source,
            marked,
            caught_up,
        };
        match self.watch.decide(&seen, timeout, Instant::now()) {
            fallback::Step::Nothing => {}
            fallback::Step::FallBack => {
                if !self.leader.mark_async(me, deadline)? {
                    bail!("commits have waited {timeout:?} for a replica, but the async mark could not be set (the leader key is not this node's): they wait on");
                }
                semi_sync::set_keeper_fell_back(true);
                conn.query(&d.semi_sync_source_off())?;
                log::warn!(
                    "leader: no replica acknowledged a commit for {timeout:?}: this primary acknowledges writes without one from now on (asynchronous), and automatic failover waits until a replica has caught up ({} is set in etcd)",
                    self.leader.async_key()
                );
            }
            fallback::Step::Resume => {
                semi_sync::set_keeper_fell_back(false);
                semi_sync::take_side(conn, d, true, semi_sync::NEVER)?;
                log::info!("leader: a replica has caught up: semi-synchronous replication is on again, and the first commit it acknowledges clears the async mark");
            }
            fallback::Step::TurnOn => {
                semi_sync::set_keeper_fell_back(false);
                semi_sync::take_side(conn, d, true, semi_sync::NEVER)?;
                log::info!("leader: semi-synchronous replication was off with no async mark in etcd: turned on (a primary waits for a replica's acknowledgement unless the mark records otherwise)");
            }
            fallback::Step::Prove => self.prove(timeout),
            fallback::Step::Clear => {
                self.leader.clear_async_mark(deadline)?;
                log::info!("leader: a replica acknowledged every write again: {} is cleared, and automatic failover may promote a replica again", self.leader.async_key());
            }
        }
        Ok(())
    }

    /// The proof commit (`semi_sync::PROOF`), from a thread with a
    /// connection of its own: it waits for a replica's acknowledgement,
    /// and the looks that renew the lease must go on meanwhile. One at a
    /// time; a proof that no replica acknowledges is released by the
    /// next fallback.
    fn prove(&mut self, timeout: Duration) {
        let Some(claim) = Claim::take(&self.proving) else {
            return;
        };
        let local = self.local.clone();
        let started = std::thread::Builder::new()
            .name("proof".into())
            .spawn(move || {
                let _claim = claim;
                let done = (|| -> Result<()> {
                    let mut conn = local.log_in(Duration::from_secs(10))?;
                    conn.set_timeout(timeout + Duration::from_secs(60))?;
                    for sql in crate::replication::semi_sync::PROOF {
                        conn.query(sql)?;
                    }
                    Ok(())
                })();
                if let Err(e) = done {
                    log::debug!("leader: the proof commit: {e:#}");
                }
            });
        // A thread that did not start dropped its claim with its closure.
        if let Err(e) = started {
            log::warn!("leader: cannot start the proof commit: {e}");
        }
    }

    /// This member's entry in etcd (`member_value`), under a lease of its
    /// own, so that a member gone is gone from the list within a
    /// time-to-live. A failure is left to the next look.
    fn publish(&mut self, conn: &mut Conn, d: &Dialect, me: u32) {
        let mut deadline = Instant::now() + PUBLISH_WITHIN;
        if let Some(t) = self.fence_by.filter(|_| self.holds) {
            deadline = deadline.min(t);
        }
        let entry = (|| -> Result<String> {
            let writable = is_writable(conn)?;
            let rows = conn.query(d.gtid_progress_query())?;
            let gtid = rows.get(0, "g").unwrap_or("").to_string();
            let replica =
                crate::status::node::ReplicaState::from_rows(&conn.query(d.replica_status())?);
            Ok(member_value(me, writable, &gtid, replica.as_ref()))
        })();
        // Every write is a revision etcd keeps until it compacts: the
        // entry is written when it changed, at most once a time-to-live
        // (a primary's GTIDs change with every commit).
        let published = entry.and_then(|value| {
            let due = self
                .member_written
                .as_ref()
                .is_none_or(|(last, at)| *last != value && at.elapsed() >= self.leader.ttl);
            self.leader
                .publish_member(me, &value, due, self.member_lease, deadline)
                .map(|(lease, wrote)| (lease, wrote.then_some(value)))
        });
        match published {
            Ok((lease, written)) => {
                self.member_lease = Some(lease);
                if let Some(value) = written {
                    self.member_written = Some((value, Instant::now()));
                }
            }
            Err(e) => log::debug!("leader: this member's entry in etcd: {e:#}"),
        }
    }

    fn renew(
        &mut self,
        conn: &mut Conn,
        d: &Dialect,
        lease_id: i64,
        deadline: Instant,
        and_lift: bool,
    ) -> Result<()> {
        let sent = Instant::now();
        match self.leader.etcd.keep_alive(lease_id, deadline) {
            Ok(Some(left)) => {
                self.holds = true;
                self.confirmed = Some(sent);
                let left = Duration::from_secs(left.unsigned_abs());
                self.fence_by = Some(lease::fence_by(sent, left, self.leader.ttl));
                if and_lift {
                    self.lift(conn, d)?;
                }
                Ok(())
            }
            Ok(None) => self.fence_if_writable(conn, d, "the leader lease expired"),
            Err(e) => {
                if self.fence_by.is_none_or(|t| Instant::now() >= t) {
                    let why = self.unconfirmed();
                    self.fence_if_writable(conn, d, &why)?;
                }
                Err(e)
            }
        }
    }

    /// The local server did not answer. A holder past its fence time
    /// cannot make it read-only, and the lease will soon let another node
    /// take writes.
    fn server_silent(&mut self) {
        if self.holds && self.fence_by.is_some_and(|t| Instant::now() >= t) {
            self.kill_server("the server does not answer, so it cannot be made read-only");
        }
    }

    /// A primary that cannot be fenced before its lease can expire is
    /// killed, so that it cannot wake (a frozen or SIGSTOPped mysqld) or
    /// go on (a fence that failed) as a second primary. This is Patroni's
    /// watchdog; PID 1 then exits with the server, and the container's
    /// restart brings the node back as a replica.
    fn kill_server(&mut self, why: &str) {
        log::error!("leader: {why} before the lease can expire; killing it so that it cannot take writes beside the next primary");
        match crate::pid1::proc_tree::signal_descendants(libc::SIGKILL) {
            Some(n) => log::warn!("leader: sent SIGKILL to {n} processes"),
            None => log::error!(
                "leader: /proc is not this PID namespace's; cannot find the server to kill"
            ),
        }
        self.lose();
        self.holding.store(false, Ordering::SeqCst);
    }

    /// Whether this node replicates from a node other than the one whose
    /// `value` is under the leader key (as far as its replica status knows
    /// its source: a replica never connected is left alone).
    fn follows_other_than(&self, conn: &mut Conn, d: &Dialect, value: &str) -> Result<bool> {
        let rows = conn.query(d.replica_status())?;
        Ok(crate::status::node::source_server_id(&rows)
            .is_some_and(|source| value_for(source) != value))
    }

    /// After a look that panicked: a holder fences its server with a
    /// connection of its own, and kills it if that fails, as when its
    /// lease is in doubt. The fence is the keeper's own, so a renewal that
    /// succeeds later may lift it.
    fn after_a_panic(&mut self) {
        if !self.holds {
            return;
        }
        log::error!("leader: a look panicked while this node held the leader key; fencing it before anything else");
        let fenced = self
            .local
            .log_in(lease::server_timeout(self.leader.ttl))
            .and_then(|mut conn| {
                let d = Dialect::of(&conn.server_version)?;
                self.fence(&mut conn, &d, "the keeper's look panicked", true)
            });
        if let Err(e) = fenced {
            // `fence` kills a holder's server whose fence failed; a server
            // that could not even be reached is killed here.
            if self.holds {
                self.kill_server(&format!("the server cannot be made read-only ({e:#})"));
            }
        }
        self.holding.store(false, Ordering::SeqCst);
    }

    /// Not the holder any more: no fence time to keep.
    fn lose(&mut self) {
        self.holds = false;
        self.fence_by = None;
    }

    /// Why a holder that etcd stopped answering fences itself.
    fn unconfirmed(&self) -> String {
        match self.confirmed {
            Some(sent) => format!(
                "etcd did not confirm the lease in time (the last renewal it confirmed was sent {:.1?} ago, the lease lasts {:?})",
                sent.elapsed(),
                self.leader.ttl
            ),
            None => "etcd did not confirm the lease in time".into(),
        }
    }

    fn fence_if_writable(&mut self, conn: &mut Conn, d: &Dialect, why: &str) -> Result<()> {
        self.lose();
        if is_writable(conn)? {
            self.fence(conn, d, why, true)?;
        }
        Ok(())
    }

    fn fence(
        &mut self,
        conn: &mut Conn,
        d: &Dialect,
        why: &str,
        may_lift_later: bool,
    ) -> Result<()> {
        log::error!("leader: {why}; this node stops taking writes");
        let was_holder = self.holds;
        self.lose();
        self.fenced_by_keeper = may_lift_later;
        let fenced = crate::replication::takeover::fence_session(conn, d, "this node", true);
        if let (Err(e), true) = (&fenced, was_holder) {
            self.kill_server(&format!("the fence failed ({e:#})"));
        }
        fenced
    }

    /// Whether maintenance pauses automatic failover; when etcd cannot
    /// tell, it does.
    fn maintenance(&self, deadline: Instant) -> bool {
        match self.leader.maintenance(deadline) {
            Ok(None) => false,
            Ok(Some(note)) => {
                log::info!("leader: the leader key is free, but automatic failover is paused ({note:?}): replikit maintenance off resumes it");
                true
            }
            Err(_) => true,
        }
    }

    /// A remedy in a thread of its own, so that looks (and, on a node a
    /// failover promotes, renewals) go on meanwhile; one at a time.
    fn start(&mut self, name: &str, remedy: Remedy) {
        let Some(claim) = Claim::take(&self.busy) else {
            return;
        };
        let label = name.to_string();
        let started = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                // Released however the remedy ends, a panic included: a
                // flag left set would stop this node's failovers and
                // rejoins for good, silently.
                let _claim = claim;
                match remedy() {
                    Ok(line) => log::info!("leader: {line}"),
                    Err(e) => log::error!("leader: automatic {label}: {e:#}"),
                }
            });
        if let Err(e) = started {
            log::error!("leader: cannot start the {name}: {e}");
        }
    }

    /// How long until the next look: for the holder a quarter of the
    /// time-to-live, or less, so that the look after a failed renewal
    /// comes at the fence time; for the others at most a second, so that
    /// a lease that expired is seen within a second (a look is one read
    /// of etcd and one query).
    pub fn pause(&self) -> Duration {
        let every = lease::renew_every(self.leader.ttl);
        let every = if self.watch.stalled() {
            every.min(STALLED_LOOKS_EVERY)
        } else {
            every
        };
        let fence_in = self
            .fence_by
            .map(|t| t.saturating_duration_since(Instant::now()));
        lease::pause(every, self.holds, fence_in, NON_HOLDER_LOOKS_EVERY)
    }

    fn lift(&mut self, conn: &mut Conn, d: &Dialect) -> Result<()> {
        crate::replication::primary::take_writes(conn, d)?;
        self.fenced_by_keeper = false;
        Ok(())
    }
}

/// A busy flag held for as long as this lives, and released when it is
/// dropped, by a panic's unwinding too.
struct Claim(Arc<AtomicBool>);

impl Claim {
    /// The flag, unless somebody holds it already.
    fn take(flag: &Arc<AtomicBool>) -> Option<Claim> {
        (!flag.swap(true, Ordering::SeqCst)).then(|| Claim(flag.clone()))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

fn is_writable(conn: &mut Conn) -> Result<bool> {
    Ok(conn.query("SELECT @@GLOBAL.read_only AS ro")?.get(0, "ro") == Some("0"))
}

/// PID 1's keeper loop, for as long as PID 1 runs. `holding` tells the
/// start path when the primary may open for writes.
pub fn keep(
    local: &LocalServer,
    leader: Leader,
    holding: Arc<AtomicBool>,
    remedies: Remedies,
    decided_primary: Arc<AtomicBool>,
    semi_sync: Option<Duration>,
) {
    let every = lease::renew_every(leader.ttl());
    let mut keeper = Keeper::new(
        leader,
        holding,
        remedies,
        decided_primary,
        semi_sync,
        local.clone(),
    );
    let mut conn: Option<Conn> = None;
    let mut last_error = String::new();
    loop {
        let attempt = |conn: &mut Option<Conn>, keeper: &mut Keeper| -> Result<()> {
            let conn = match conn {
                Some(conn) => conn,
                None => match local.log_in(lease::server_timeout(keeper.leader.ttl)) {
                    Ok(c) => conn.insert(c),
                    Err(e) => {
                        keeper.server_silent();
                        return Err(e);
                    }
                },
            };
            keeper.step(conn)
        };
        // A look that panics (a bug) must not leave a writable holder
        // unguarded until the background task's restart, a second or up
        // to a minute later: the keeper fences at once, with its memory
        // kept, and looks again at its usual pace.
        let looked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            attempt(&mut conn, &mut keeper)
        }))
        .unwrap_or_else(|_| {
            conn = None;
            keeper.after_a_panic();
            Err(anyhow::anyhow!("a look panicked (the bug is logged above)"))
        });
        match looked {
            Ok(()) => {
                if !last_error.is_empty() {
                    log::info!("leader: etcd and the server answer again");
                }
                last_error.clear();
            }
            Err(e) => {
                conn = None;
                let text = format!("{e:#}");
                if text != last_error {
                    log::warn!("leader: {text}; looking again every {every:?}");
                    last_error = text;
                }
            }
        }
        // The start path's decision that this node is the primary cuts
        // the pause short: its set-up waits for the key.
        let until = Instant::now() + keeper.pause();
        while Instant::now() < until && !keeper.decided_primary.load(Ordering::SeqCst) {
            let slice = until.saturating_duration_since(Instant::now());
            if !stopping::pause(slice.min(Duration::from_millis(100))) {
                return;
            }
        }
        if stopping::requested() {
            return;
        }
    }
}

/// Blocks until `holding` is set (the keeper holds the key), saying once
/// why it waits; false when PID 1 stops first.
pub fn wait_until_held(holding: &AtomicBool) -> bool {
    let mut said = false;
    while !holding.load(Ordering::SeqCst) {
        if !said {
            log::info!("leader: waiting for the leader key in etcd before taking writes");
            said = true;
        }
        if !stopping::pause(Duration::from_millis(200)) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dcs::json::{self, Json};
    use crate::status::node::ReplicaState;

    #[test]
    fn a_busy_flag_is_released_however_its_task_ends() {
        let flag = Arc::new(AtomicBool::new(false));
        let claim = Claim::take(&flag).unwrap();
        assert!(Claim::take(&flag).is_none(), "one task at a time");
        drop(claim);
        assert!(!flag.load(Ordering::SeqCst));
        // A task that panics, as a remedy thread may.
        let claim = Claim::take(&flag).unwrap();
        let ended = std::thread::spawn(move || {
            let _claim = claim;
            panic!("a remedy's bug");
        })
        .join();
        assert!(ended.is_err());
        assert!(!flag.load(Ordering::SeqCst), "the panic left the flag set");
        assert!(Claim::take(&flag).is_some());
    }

    #[test]
    fn a_members_entry_is_json_that_reads_back() {
        let primary = json::parse(&member_value(11, true, "u:1-5,\nv:1-2", None)).unwrap();
        assert_eq!(primary.get("server_id").and_then(Json::as_i64), Some(11));
        assert_eq!(primary.get("writable").and_then(Json::as_bool), Some(true));
        assert_eq!(
            primary.get("gtid").and_then(Json::as_str),
            Some("u:1-5,\nv:1-2")
        );
        let state = ReplicaState {
            source_host: "db\"1".into(),
            source_port: 3306,
            io_running: "Yes".into(),
            sql_running: "No".into(),
            lag_seconds: None,
            source_log_file: String::new(),
            source_log_pos: 0,
            gtid: String::new(),
            io_error: None,
            sql_error: None,
        };
        let replica = json::parse(&member_value(12, false, "0-11-7", Some(&state))).unwrap();
        let r = replica.get("replica").unwrap();
        assert_eq!(r.get("source").and_then(Json::as_str), Some("db\"1:3306"));
        assert_eq!(r.get("sql").and_then(Json::as_str), Some("No"));
        assert_eq!(replica.get("writable").and_then(Json::as_bool), Some(false));
    }
}
