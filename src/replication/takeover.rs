//! Changing the primary: `switchover` (planned, the old primary alive, no
//! transaction lost) and `failover` (the primary gone: the most advanced
//! replica wins). Both end the same way: the new primary takes writes and
//! records the next epoch, and every other member that answers is
//! repointed at it with GTID auto-positioning.
//!
//! Every step is logged. At every moment at most one member takes writes:
//! the old primary is fenced before the new one is opened, and a
//! switchover that cannot finish opens the old primary again.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::config::peers::{HaSettings, Peer};
use crate::config::role::Credentials;
use crate::config::settings::SemiSync;
use crate::db::dialect::{Dialect, Product, Tls};
use crate::db::error::Failure;
use crate::db::sql::quote;
use crate::db::wire::Conn;
use crate::dcs::leader::Leader;
use crate::replication::cluster::{self, Cluster, Member};
use crate::replication::position::follow_new_primary;
use crate::replication::topology::{self, Record};
use crate::status::errant;

/// What a change of primary needs besides the members.
pub struct Takeover<'a> {
    pub ha: &'a HaSettings,
    pub tls: &'a Tls,
    /// The pinned public key file for the replication channel.
    pub source_key: Option<&'a str>,
    /// The replication account the repointed members log in with.
    pub replication: &'a Credentials,
    /// How long a replica may take to apply what it has.
    pub wait: Duration,
    /// The leader key, with REPLIKIT_DCS: moved before the promotion.
    pub leader: Option<Leader>,
    /// Semi-synchronous replication, when it is on: the new primary's
    /// source side, the others' replica side.
    pub semi_sync: Option<SemiSync>,
    /// A keeper's failover, not a person's: it refuses while the old
    /// primary may have acknowledged writes no replica has (the async
    /// mark in etcd).
    pub automatic: bool,
}

/// Accounts whose sessions a fence leaves alone: the server's threads,
/// the admin (this takeover) and the monitor (read-only probes).
/// Everyone else's are ended, replikit_local's too: MariaDB lets it write
/// through read_only, and the node's own replikit must not finish there a
/// write it began before the fence (`follow::keep_up_with_promotions`).
/// MySQL does not let the admin end the sessions of accounts with
/// SYSTEM_USER (root, replikit_local); its super_read_only stops them.
const KEEP_SESSIONS_OF: [&str; 4] = [
    "system user",
    "event_scheduler",
    crate::config::peers::ADMIN_USER,
    crate::accounts::MONITOR_USER,
];

impl Takeover<'_> {
    fn discover(&self) -> Result<Cluster> {
        let cluster = cluster::discover(self.ha, self.tls, Duration::from_secs(5));
        for why in &cluster.unreachable {
            log::warn!("not reached: {why}");
        }
        if cluster.members.is_empty() {
            bail!(
                "no member of REPLIKIT_PEERS answered; check the names and REPLIKIT_ADMIN_PASSWORD"
            );
        }
        for m in &cluster.members {
            log::info!(
                "member {}: server-id {}, {}{}{}",
                m.name(),
                m.server_id,
                if m.read_only { "read-only" } else { "writable" },
                m.replica
                    .as_ref()
                    .map(|r| format!(", replica of {}:{}", r.source_host, r.source_port))
                    .unwrap_or_default(),
                m.record
                    .as_ref()
                    .map(|r| format!(", knows {r}"))
                    .unwrap_or_default(),
            );
        }
        Ok(cluster)
    }

    /// Planned: the target takes over from the live primary with nothing
    /// lost. Returns the summary line.
    pub fn switchover(&self, to: Option<&Peer>) -> Result<String> {
        let mut cluster = self.discover()?;
        let old = match cluster.writable()[..] {
            [one] => one,
            [] => bail!("no member takes writes: there is no primary to switch from; use replikit failover"),
            ref many => bail!(
                "several members take writes ({}): fence all but one by hand (SET GLOBAL read_only = ON) first",
                names(&cluster, many)
            ),
        };
        let old_addr = cluster.members[old].addr;
        let target = match to {
            Some(peer) => cluster.find(peer)?,
            None => (0..cluster.members.len())
                .find(|&i| i != old && cluster.members[i].replicates_from(old_addr))
                .ok_or_else(|| {
                    anyhow!("no replica of the primary answered; name the target with --to")
                })?,
        };
        if target == old {
            bail!("{} is the primary already", cluster.members[old].name());
        }
        self.check_target(&mut cluster, old, target)?;
        let (old_name, target_name) = (cluster.members[old].name(), cluster.members[target].name());
        log::info!("switchover: from {old_name} to {target_name}");

        fence(&mut cluster.members[old])?;
        let position = {
            let m = &mut cluster.members[old];
            m.gtids(m.d.gtid_position_query())?
        };
        log::info!("switchover: {old_name} wrote up to {position:?}; waiting for {target_name} to apply it");
        if let Err(e) = wait_for(&mut cluster.members[target], &position, self.wait) {
            log::error!("switchover: {e:#}; opening {old_name} for writes again");
            take_writes(&mut cluster.members[old])?;
            bail!("switchover abandoned: {e:#}; {old_name} is still the primary and takes writes again, nothing changed");
        }
        if let Some(leader) = &self.leader {
            let (from, to) = (
                cluster.members[old].server_id,
                cluster.members[target].server_id,
            );
            if let Err(e) = leader.hand_over(from, to, Instant::now() + Duration::from_secs(10)) {
                log::error!("switchover: {e:#}; opening {old_name} for writes again");
                take_writes(&mut cluster.members[old])?;
                bail!("switchover abandoned: the leader key stayed with {old_name} ({e:#}); nothing changed");
            }
            log::info!("switchover: {target_name} holds the leader key in etcd");
        }
        let record = cluster.members[target].as_primary(topology::next_epoch(&cluster.records()));
        let repointed = self.promote(&mut cluster, target, &record)
            .map_err(|e| anyhow!("{e:#}; to finish, run replikit failover --to {target_name} (the old primary {old_name} stays read-only)"))?;
        Ok(format!(
            "switchover done: {target_name} is the primary of epoch {}; {repointed}",
            record.epoch
        ))
    }

    /// The target must replicate from the old primary, run, and hold
    /// nothing the old primary lacks.
    fn check_target(&self, cluster: &mut Cluster, old: usize, target: usize) -> Result<()> {
        let old_addr = cluster.members[old].addr;
        let t = &cluster.members[target];
        let name = t.name();
        let Some(r) = &t.replica else {
            bail!("{name} is not a replica");
        };
        if !t.replicates_from(old_addr) {
            bail!(
                "{name} replicates from {}:{}, not from the primary {}",
                r.source_host,
                r.source_port,
                cluster.members[old].name()
            );
        }
        if r.io_running != "Yes" || r.sql_running != "Yes" {
            bail!("{name} does not replicate (I/O thread {}, SQL thread {}); fix it or choose another target", r.io_running, r.sql_running);
        }
        let (a, b) = pair(&mut cluster.members, target, old);
        match errant::find(&mut a.conn, &a.d, &mut b.conn)? {
            Some(set) if !set.is_empty() => bail!(
                "{name} has errant transactions, which the primary lacks: {set}; repair it with replikit rejoin --discard there, or choose another target"
            ),
            _ => Ok(()),
        }
    }

    /// The primary is gone: every replica applies what it received, the
    /// most advanced one is promoted and the others follow it.
    pub fn failover(&self, to: Option<&Peer>, allow_errant: bool) -> Result<String> {
        let Some(leader) = &self.leader else {
            return self.fail_over(to, allow_errant);
        };
        // One failover at a time: two at once would each stop the
        // replicas' threads and promote a member of their own.
        let host = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned());
        let holder = format!("replikit failover on {}", host.unwrap_or_default());
        let lock = leader
            .lock_failover(&holder, Instant::now() + Duration::from_secs(5))
            .context("cannot take the failover lock in etcd")?
            .map_err(|by| anyhow!("another failover is running ({by}); wait for it, it holds etcd's lock for at most 2 minutes"))?;
        let done = self.fail_over(to, allow_errant);
        leader.unlock(lock);
        done
    }

    fn fail_over(&self, to: Option<&Peer>, allow_errant: bool) -> Result<String> {
        let mut cluster = self.discover()?;
        if let Some(&live) = cluster.writable().first() {
            bail!(
                "{} takes writes: the primary is alive; use replikit switchover, or stop it first",
                cluster.members[live].name()
            );
        }
        // Every member stops receiving first, so that what each holds
        // (executed, and received but not yet applied) stands still while
        // they are compared. A member whose received set cannot be read
        // is left out, as one that did not answer.
        let mut received = Vec::new();
        let mut left_out = Vec::new();
        for (i, m) in cluster.members.iter_mut().enumerate() {
            match stop_receiving(m) {
                Ok(set) => received.push(set),
                Err(e) => {
                    log::warn!("failover: {} is left out: {e:#}", m.name());
                    left_out.push(i);
                }
            }
        }
        for &i in left_out.iter().rev() {
            cluster.unreachable.push(cluster.members.remove(i).name());
        }
        self.enough_answered(&cluster)?;
        // A member that cannot apply what it received in time (its SQL
        // thread stopped on an error, or held by a lock) is no candidate;
        // what it received still counts against every other candidate.
        let mut able = Vec::new();
        for (m, received) in cluster.members.iter_mut().zip(&received) {
            let applied = apply(m, received, self.wait);
            if let Err(e) = &applied {
                log::warn!("failover: {} is no candidate: {e:#}", m.name());
            }
            able.push(applied.is_ok());
        }
        let chosen = self
            .choose_candidate(&mut cluster, to, &able, &received, allow_errant)
            .and_then(|winner| self.take_the_key(&cluster, winner).map(|()| winner));
        if chosen.is_err() {
            // Nothing was promoted: every replica receives again, as before.
            for m in cluster.members.iter_mut().filter(|m| m.replica.is_some()) {
                let start = m.d.start_replica();
                if let Err(e) = m.run(start) {
                    log::warn!("failover: {e:#}");
                }
            }
        }
        let winner = chosen?;
        let winner_name = cluster.members[winner].name();
        let record = cluster.members[winner].as_primary(topology::next_epoch(&cluster.records()));
        let repointed = self.promote(&mut cluster, winner, &record).map_err(|e| {
            anyhow!("{e:#}; to finish, run replikit failover --to {winner_name} again")
        })?;
        Ok(format!(
            "failover done: {winner_name} is the primary of epoch {}; {repointed}; \
             what the old primary acknowledged but no replica received is known only when it returns: \
             it then stays read-only, with those transactions named as errant",
            record.epoch
        ))
    }

    /// With REPLIKIT_DCS, the leader key for `winner`, once the old
    /// primary's lease has expired: were it only cut off, it has fenced
    /// itself by then.
    fn take_the_key(&self, cluster: &Cluster, winner: usize) -> Result<()> {
        let Some(leader) = &self.leader else {
            return Ok(());
        };
        leader.take_when_free(cluster.members[winner].server_id, self.wait, self.automatic)?;
        log::info!(
            "failover: {} holds the leader key in etcd",
            cluster.members[winner].name()
        );
        // A person's failover goes on past the async mark, and ends it:
        // the new primary's history is the cluster's from now on.
        let deadline = Instant::now() + Duration::from_secs(5);
        if let Some(named) = leader.async_mark(deadline)? {
            log::warn!(
                "failover: {} was set: the old primary ({named}) acknowledged writes without a replica's acknowledgement; those the new primary lacks are lost to this failover, and show as errant on the old primary when it returns",
                leader.async_key()
            );
            leader.clear_async_mark(deadline)?;
        }
        Ok(())
    }

    /// An automatic failover only where every write the old primary
    /// acknowledged must be among the members that answered: with
    /// semi-sync (AFTER_SYNC), such a write is on `w` of the `r` replicas,
    /// so at least `r - w + 1` of them must answer (`enough_answered`).
    /// `r` counts the members that answered and the addresses that did
    /// not, but for the old primary's. A person's failover goes on with
    /// fewer, and says what it may lose.
    fn enough_answered(&self, cluster: &Cluster) -> Result<()> {
        if self.semi_sync.is_none() {
            return Ok(());
        }
        let sources: Vec<(String, u16)> = cluster
            .members
            .iter()
            .filter_map(|m| m.replica.as_ref())
            .map(|r| (r.source_host.clone(), r.source_port))
            .chain(cluster.records().into_iter().map(|r| (r.host, r.port)))
            .collect();
        let silent_replicas = cluster
            .silent
            .iter()
            .filter(|&&addr| {
                !sources
                    .iter()
                    .any(|(host, port)| cluster::is_at(host, *port, addr))
            })
            .count();
        let answered = cluster.members.len();
        let verdict = enough_answered(
            answered + silent_replicas,
            answered,
            crate::db::dialect::SEMI_SYNC_WAIT_COUNT,
        );
        match verdict {
            Ok(()) => Ok(()),
            Err(why) if self.automatic => Err(anyhow!(
                "{why}; not failing over automatically, since a write the old primary acknowledged may be only on a replica that did not answer (not reached: {}); bring it back, or run replikit failover knowingly",
                cluster.unreachable.join("; ")
            )),
            Err(why) => {
                log::warn!("failover: {why}: writes the old primary acknowledged may be only on the replicas not reached ({}), and are lost to this failover if so", cluster.unreachable.join("; "));
                Ok(())
            }
        }
    }

    /// The most advanced candidate, its errant transactions checked.
    /// Members are compared on what they hold: executed, and `received`
    /// but not applied (a member repointed elsewhere purges its relay
    /// log, so a winner must lack nothing any member received).
    fn choose_candidate(
        &self,
        cluster: &mut Cluster,
        to: Option<&Peer>,
        able: &[bool],
        received: &[String],
        allow_errant: bool,
    ) -> Result<usize> {
        let mut histories = Vec::new();
        for (m, received) in cluster.members.iter_mut().zip(received) {
            let executed = m.gtids(m.d.gtid_progress_query())?;
            histories.push(held(&executed, received));
        }
        let lacks = self.lacks(cluster, &histories)?;
        let names: Vec<String> = cluster.members.iter().map(Member::name).collect();
        let wanted = to.map(|p| cluster.find(p)).transpose()?;
        let winner = choose(&names, &lacks, able, wanted).map_err(|e| anyhow!(e))?;
        let winner_name = names[winner].clone();
        log::info!("failover: {winner_name} is the most advanced");
        let errant = self.own_errant(cluster, winner)?;
        if !errant.is_empty() {
            if !allow_errant {
                bail!("{winner_name} has errant transactions that no other member holds: {errant}; fail over to another member with --to, or accept them with --allow-errant (repair it after with replikit rejoin --discard)");
            }
            log::warn!("failover: {winner_name} has errant transactions, accepted with --allow-errant: {errant}");
        }
        Ok(winner)
    }

    /// For each member, the members it lacks transactions of.
    fn lacks(&self, cluster: &mut Cluster, positions: &[String]) -> Result<Vec<Vec<usize>>> {
        let n = cluster.members.len();
        let mut out = vec![Vec::new(); n];
        for (c, lacking) in out.iter_mut().enumerate() {
            for (o, other) in positions.iter().enumerate() {
                if o == c {
                    continue;
                }
                let m = &mut cluster.members[c];
                let behind = match m.d.version.product {
                    Product::MySql => {
                        let rows = m.conn.query(&format!(
                            "SELECT GTID_SUBTRACT({}, {}) AS e",
                            quote(other),
                            quote(&positions[c])
                        ))?;
                        !rows.get(0, "e").unwrap_or_default().is_empty()
                    }
                    Product::MariaDb => errant::mariadb_behind(&positions[c], other),
                };
                if behind {
                    lacking.push(o);
                }
            }
        }
        Ok(out)
    }

    /// The winner's own transactions (its server's) that no other member
    /// holds: written behind replication's back.
    fn own_errant(&self, cluster: &mut Cluster, winner: usize) -> Result<String> {
        if cluster.members.len() < 2 {
            log::warn!(
                "failover: no other member to compare with; errant transactions cannot be told"
            );
            return Ok(String::new());
        }
        let mut others = Vec::new();
        for (i, m) in cluster.members.iter_mut().enumerate() {
            if i != winner {
                others.push(m.gtids(m.d.gtid_held_query())?);
            }
        }
        let w = &mut cluster.members[winner];
        let mine = w.gtids(w.d.gtid_history_query())?;
        match w.d.version.product {
            Product::MySql => {
                let rows = w.conn.query(&format!(
                    "SELECT GTID_SUBTRACT({}, {}) AS e, @@server_uuid AS u",
                    quote(&mine),
                    quote(&others.join(","))
                ))?;
                let uuid = rows.get(0, "u").unwrap_or_default().to_string();
                let errant = rows.get(0, "e").unwrap_or_default().replace('\n', "");
                Ok(errant::mysql_of_server(&errant, &uuid))
            }
            Product::MariaDb => {
                let errant = errant::mariadb(&mine, &others.join(","));
                Ok(errant::mariadb_of_server(&errant, w.server_id))
            }
        }
    }

    /// Makes member `new` the primary of `record` (no replication of its
    /// own, writable, the epoch recorded) and points every other member
    /// at it; a line saying who followed. With semi-synchronous
    /// replication the others follow first, so that the first writes,
    /// the record's among them, have a replica to acknowledge them.
    fn promote(&self, cluster: &mut Cluster, new: usize, record: &Record) -> Result<String> {
        let m = &mut cluster.members[new];
        let name = m.name();
        let d = m.d;
        m.run(d.stop_replica())?;
        m.run(d.reset_replica_all())?;
        let Some(semi_sync) = self.semi_sync else {
            open_for_writes(m, record)?;
            return Ok(self.repoint_all(cluster, new, record));
        };
        crate::replication::semi_sync::take_side(&mut m.conn, &d, true, semi_sync.server_timeout())
            .with_context(|| format!("on {name}"))?;
        let repointed = self.repoint_all(cluster, new, record);
        let m = &mut cluster.members[new];
        // A commit waits up to the semi-sync timeout for a replica; where
        // the keeper decides the fallback, counted from its first look
        // that sees the commit wait (a quarter of the lease at most).
        let keeper_looks = self.leader.as_ref().map_or(Duration::ZERO, Leader::ttl);
        m.conn
            .set_timeout(semi_sync.timeout + keeper_looks + Duration::from_secs(10))?;
        open_for_writes(m, record)?;
        Ok(repointed)
    }

    /// Points every member but the new primary at it; a line saying who
    /// followed and who did not (they follow at their next start).
    fn repoint_all(&self, cluster: &mut Cluster, primary: usize, record: &Record) -> String {
        let offers = cluster.members[primary].offers_tls;
        let mut followed = Vec::new();
        let mut failed = Vec::new();
        for (i, m) in cluster.members.iter_mut().enumerate() {
            if i == primary {
                continue;
            }
            match self.repoint(m, record, offers) {
                Ok(()) => followed.push(m.name()),
                Err(e) => {
                    log::error!("{} did not follow: {e:#}", m.name());
                    failed.push(m.name());
                }
            }
        }
        let mut line = format!("following it: {}", list(&followed));
        if !failed.is_empty() {
            line += &format!(
                "; not repointed (read-only, they follow the new epoch at their next start): {}",
                list(&failed)
            );
        }
        line
    }

    fn repoint(&self, m: &mut Member, to: &Record, offers_tls: bool) -> Result<()> {
        let name = m.name();
        let tls = self.tls.for_source(offers_tls);
        follow_new_primary(
            &mut m.conn,
            &m.d,
            to,
            self.replication,
            &tls,
            self.source_key,
            self.semi_sync.map(|s| s.server_timeout()),
        )
        .with_context(|| format!("on {name}"))?;
        log::info!("{name} replicates from {}:{} now", to.host, to.port);
        Ok(())
    }
}

/// Makes `m` refuse writes and ends its clients' sessions, so that no
/// transaction under way commits after the position is read.
fn fence(m: &mut Member) -> Result<()> {
    let name = m.name();
    fence_session(&mut m.conn, &m.d, &name, false)
}

/// `fence` on a session of the node itself (the leader lease's keeper).
/// With `release_waiting` (the keeper's fence of a primary that lost its
/// lease: no replica may acknowledge its commits again), commits that
/// wait for a replica are released once their clients are gone; a
/// switchover's fence leaves them to the replicas, which still answer,
/// and the source side as it is, so that a switchover abandoned opens the
/// old primary as it was.
pub fn fence_session(
    conn: &mut Conn,
    d: &Dialect,
    name: &str,
    release_waiting: bool,
) -> Result<()> {
    // Sessions first: a commit that waits for a replica's acknowledgement
    // (semi-sync) holds the commit lock that SET GLOBAL read_only waits
    // for, and with no replica to answer the fence would wait until the
    // server is killed. A session ended there was never told its commit
    // succeeded. Then the sessions that came in meanwhile.
    let (ended, kept) = end_client_sessions(conn, d, name)?;
    if release_waiting
        && !d.semi_sync_wait_ends_with_its_session()
        && ended > 0
        && kept == 0
        && crate::replication::semi_sync::a_commit_waits(conn)?
    {
        // MySQL's wait for an acknowledgement does not end with its
        // session: with every client gone (their sockets shut, so none
        // can be told of a commit), the source side is turned off, which
        // lets those commits finish, never acknowledged. Only then: until
        // read-only is set, a client that connects now would commit
        // without a replica, so a fence with nothing waiting keeps the
        // source side on. MariaDB's waits end
        // with their sessions, and its source side stays on: a privileged
        // writer's commit on the fenced node (READ ONLY ADMIN passes
        // read_only there) then waits for a replica's acknowledgement,
        // which only a replica that a failover must weigh can give.
        match conn.query(&d.semi_sync_source_off()) {
            Err(e)
                if Failure::of(&e)
                    != Failure::Server(crate::db::error::UNKNOWN_SYSTEM_VARIABLE) =>
            {
                return Err(e.context(format!(
                    "releasing commits that wait for a replica on {name}"
                )))
            }
            _ => {}
        }
    }
    conn.query(d.set_read_only())
        .with_context(|| format!("making {name} read-only"))?;
    let (more, kept) = end_client_sessions(conn, d, name)?;
    let left = if kept > 0 {
        format!(", {kept} of accounts with SYSTEM_USER left (super_read_only stops them)")
    } else {
        String::new()
    };
    log::info!(
        "fenced {name}: read-only, {} client session(s) ended{left}",
        ended + more
    );
    Ok(())
}

/// Ends every client session but ours and those of KEEP_SESSIONS_OF:
/// how many it ended, and how many it could not (MySQL's SYSTEM_USER
/// accounts, which super_read_only stops).
fn end_client_sessions(conn: &mut Conn, d: &Dialect, name: &str) -> Result<(usize, usize)> {
    let keep: Vec<String> = KEEP_SESSIONS_OF.iter().map(|u| quote(u)).collect();
    let rows = conn.query(&format!(
        "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
         AND COMMAND NOT IN ('Binlog Dump', 'Binlog Dump GTID', 'Daemon') AND USER NOT IN ({})",
        keep.join(", ")
    ))?;
    let ids: Vec<u64> = rows.column("id").filter_map(|v| v.parse().ok()).collect();
    let mut kept = 0;
    for id in &ids {
        match conn.query(&format!("KILL CONNECTION {id}")) {
            Ok(_) => {}
            // Gone already: what we wanted.
            Err(e) if Failure::of(&e) == Failure::Server(1094) => {}
            // Not ours to end (MySQL: an account with SYSTEM_USER, as
            // root): super_read_only stops its writes all the same.
            Err(e) if Failure::of(&e) == Failure::Server(1095) && d.read_only_stops_everyone() => {
                kept += 1
            }
            Err(e) => return Err(e.context(format!("ending session {id} on {name}"))),
        }
    }
    Ok((ids.len() - kept, kept))
}

/// The last step of a promotion: writable, and the epoch recorded.
fn open_for_writes(m: &mut Member, record: &Record) -> Result<()> {
    take_writes(m)?;
    topology::write(&mut m.conn, record)?;
    log::info!("promoted {}: it takes writes, {record}", m.name());
    Ok(())
}

/// Opens `m` for writes (a switchover rolled back, a primary decided).
pub fn take_writes(m: &mut Member) -> Result<()> {
    let d = m.d;
    for sql in d.set_writable() {
        m.run(sql)?;
    }
    Ok(())
}

/// Waits until `m` has applied `position`.
fn wait_for(m: &mut Member, position: &str, wait: Duration) -> Result<()> {
    let name = m.name();
    m.conn.set_timeout(wait + Duration::from_secs(5))?;
    let rows = m
        .conn
        .query(&m.d.wait_for_gtids(position, wait.as_secs().max(1)))?;
    m.conn.set_timeout(Duration::from_secs(5))?;
    match rows.get(0, "w") {
        Some("0") => Ok(()),
        other => bail!("{name} did not apply {position:?} within {wait:?} (answer {other:?})"),
    }
}

/// A replica of a primary that is gone stops receiving: what it received
/// (applied or not), or nothing for a member that is no replica.
fn stop_receiving(m: &mut Member) -> Result<String> {
    if m.replica.is_none() {
        return Ok(String::new());
    }
    let d = m.d;
    m.run(d.stop_replica_io())?;
    let rows = m.conn.query(d.replica_status())?;
    m.gtid_value(rows.get(0, d.received_gtids_column()))
}

/// Applies all that `m` received.
fn apply(m: &mut Member, received: &str, wait: Duration) -> Result<()> {
    if m.replica.is_none() {
        return Ok(());
    }
    // A replica stopped by hand has received what it has not applied.
    m.run(m.d.start_replica_sql())?;
    if !received.is_empty() {
        wait_for(m, received, wait)?;
    }
    log::info!("{} applied everything it received", m.name());
    Ok(())
}

/// What a member holds (pure): its executed GTIDs and those it received,
/// as one value both products compare as the union (MySQL's GTID
/// functions merge a set written twice; MariaDB's positions are compared
/// per domain at their highest, `errant::mariadb_behind`).
pub fn held(executed: &str, received: &str) -> String {
    match (executed.is_empty(), received.is_empty()) {
        (_, true) => executed.to_string(),
        (true, false) => received.to_string(),
        (false, false) => format!("{executed},{received}"),
    }
}

/// Whether `answered` of `replicas` replicas is enough to find every
/// write a semi-synchronous primary acknowledged, when `wait_count`
/// replicas acknowledged each (pure): at least one holder answers exactly
/// when fewer than `wait_count` replicas are silent, `replicas -
/// wait_count + 1` answering (with one acknowledgement: every replica).
/// The reason when not.
pub fn enough_answered(replicas: usize, answered: usize, wait_count: usize) -> Result<(), String> {
    let needed = (replicas + 1).saturating_sub(wait_count).max(1);
    if answered >= needed {
        Ok(())
    } else {
        Err(format!(
            "{answered} of {replicas} replicas answered, and {needed} must (each acknowledged write is on {wait_count} of them)"
        ))
    }
}

/// Which member to promote (pure): a candidate (`able`: it applied all it
/// received) that lacks nothing any other member holds; `wanted` (`--to`)
/// only if it is such a one.
pub fn choose(
    names: &[String],
    lacks: &[Vec<usize>],
    able: &[bool],
    wanted: Option<usize>,
) -> Result<usize, String> {
    let missing = |c: usize| -> String {
        lacks[c]
            .iter()
            .map(|&o| names[o].as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(w) = wanted {
        return if !able[w] {
            Err(format!(
                "{} could not apply what it received: it is no candidate; fail over to another member",
                names[w]
            ))
        } else if lacks[w].is_empty() {
            Ok(w)
        } else {
            Err(format!(
                "{} lacks transactions that {} hold: promoting it would lose them; fail over to the most advanced member (leave out --to)",
                names[w],
                missing(w)
            ))
        };
    }
    (0..names.len())
        .find(|&c| able[c] && lacks[c].is_empty())
        .ok_or_else(|| {
            format!(
                "no candidate holds everything the others hold: their histories diverge ({}); repair the members or choose by hand with --to",
                (0..names.len())
                    .map(|c| if able[c] {
                        format!("{} lacks from {}", names[c], missing(c))
                    } else {
                        format!("{} could not apply what it received", names[c])
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })
}

/// Two members at once, mutably.
fn pair(members: &mut [Member], a: usize, b: usize) -> (&mut Member, &mut Member) {
    assert_ne!(a, b);
    if a < b {
        let (left, right) = members.split_at_mut(b);
        (&mut left[a], &mut right[0])
    } else {
        let (left, right) = members.split_at_mut(a);
        (&mut right[0], &mut left[b])
    }
}

fn names(cluster: &Cluster, which: &[usize]) -> String {
    list(
        &which
            .iter()
            .map(|&i| cluster.members[i].name())
            .collect::<Vec<_>>(),
    )
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("db{i}")).collect()
    }

    #[test]
    fn a_member_holds_what_it_executed_and_what_it_received() {
        assert_eq!(held("u:1-5", ""), "u:1-5");
        assert_eq!(held("", "u:1-7"), "u:1-7");
        assert_eq!(held("u:1-5", "u:1-7"), "u:1-5,u:1-7");
        // MariaDB: the received position counts, per domain at its highest.
        let (executed, received) = ("0-11-55", "0-11-57");
        assert!(errant::mariadb_behind(executed, &held("0-11-56", "")));
        assert!(!errant::mariadb_behind(
            &held(executed, received),
            "0-11-56"
        ));
        // A member that applied less but received more is ahead.
        assert!(errant::mariadb_behind("0-11-56", &held(executed, received)));
    }

    #[test]
    fn an_automatic_failover_needs_all_but_fewer_than_the_acknowledgers() {
        // (replicas, answered, wait count) -> enough
        let cases = [
            ((2, 2, 1), true),
            ((2, 1, 1), false),
            ((1, 1, 1), true),
            ((4, 4, 1), true),
            ((4, 3, 1), false),
            ((4, 3, 2), true),
            ((4, 2, 2), false),
            ((0, 0, 1), false),
        ];
        for ((replicas, answered, wait), want) in cases {
            let got = enough_answered(replicas, answered, wait);
            assert_eq!(got.is_ok(), want, "{replicas} {answered} {wait}: {got:?}");
        }
        // Exhaustive: enough answered exactly when no choice of `wait`
        // acknowledging replicas can lie wholly among the silent ones.
        for replicas in 1..8usize {
            for wait in 1..=replicas {
                for answered in 0..=replicas {
                    let silent = replicas - answered;
                    assert_eq!(
                        enough_answered(replicas, answered, wait).is_ok(),
                        silent < wait,
                        "{replicas} {answered} {wait}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_most_advanced_member_wins() {
        // db2 lacks what db1 and db3 hold; db3 lacks db1's; db1 lacks nothing.
        let lacks = vec![vec![], vec![0, 2], vec![0]];
        let all = [true; 3];
        assert_eq!(choose(&names(3), &lacks, &all, None), Ok(0));
        assert_eq!(choose(&names(3), &lacks, &all, Some(0)), Ok(0));
        let e = choose(&names(3), &lacks, &all, Some(1)).unwrap_err();
        assert!(
            e.contains("db2 lacks transactions that db1, db3 hold"),
            "{e}"
        );
        // Equals: the first, or the one wanted.
        let even = vec![vec![], vec![], vec![0, 1]];
        assert_eq!(choose(&names(3), &even, &all, None), Ok(0));
        assert_eq!(choose(&names(3), &even, &all, Some(1)), Ok(1));
        // A member that could not apply what it received never wins.
        assert_eq!(choose(&names(3), &even, &[false, true, true], None), Ok(1));
        let e = choose(&names(3), &even, &[false, true, true], Some(0)).unwrap_err();
        assert!(e.contains("db1 could not apply"), "{e}");
        let e = choose(&names(3), &lacks, &[false, true, true], None).unwrap_err();
        assert!(
            e.contains("db1 could not apply") && e.contains("db2 lacks from db1, db3"),
            "{e}"
        );
    }

    #[test]
    fn diverged_histories_have_no_winner() {
        let lacks = vec![vec![1], vec![0]];
        let e = choose(&names(2), &lacks, &[true; 2], None).unwrap_err();
        assert!(
            e.contains("diverge") && e.contains("db1 lacks from db2"),
            "{e}"
        );
        assert_eq!(choose(&names(1), &[vec![]], &[true], None), Ok(0));
    }
}
