//! A start with REPLIKIT_PEERS: which role the recorded topology gives
//! this node (`topology`), not the environment, which gives only the
//! initial one. The server came up read-only (the init-file fences it);
//! what is decided here turns into the usual set-up (`primary`,
//! `replica`), which lifts read-only on the primary alone.
//!
//! A former primary that finds a higher epoch naming another node rejoins
//! as its replica by itself, unless it holds transactions the new primary
//! lacks (errant: what it wrote that no replica received, or writes behind
//! replication's back); then it stays read-only and says so.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use crate::accounts;
use crate::config::peers::HaSettings;
use crate::config::role::{Credentials, Primary, Replica, Role, SourceAccess};
use crate::db::dialect::Dialect;
use crate::db::local::LocalServer;
use crate::db::wire::Conn;
use crate::pid1::stopping;
use crate::replication::cluster::{self, Member};
use crate::replication::position::follow_new_primary;
use crate::replication::retry::permanent;
use crate::replication::topology::{self, Decision, Record};
use crate::replication::{wait_for_local_server, Job};
use crate::status::errant;
use crate::status::node::ReplicaState;

/// How long a new node (no record) waits for at least one peer to answer
/// before it decides alone (the first node of a new cluster).
const PEERS_WAIT: Duration = Duration::from_secs(10);

/// The role this node takes, with the replication account of `env_role`.
/// `address`: this node's, for the first record of a new cluster.
pub fn role_at_start(
    env_role: &Role,
    ha: &HaSettings,
    job: &Job,
    admin_hosts: &str,
    address: Option<IpAddr>,
) -> Result<Role> {
    let (mut conn, d) = wait_for_local_server(job)?;
    accounts::ensure_admin(&mut conn, &d, &ha.admin, admin_hosts)?;
    accounts::let_monitor_read_topology(&mut conn, job.local, &d)?;
    let creds = replication_account(env_role)?;
    let me = server_id(&mut conn)?;
    let own = topology::read(&mut conn)?;
    let peers = reach_peers(ha, job, me, own.is_some())?;
    let mut seen: Vec<Record> = peers.iter().filter_map(|m| m.record.clone()).collect();
    seen.extend(own.clone());
    let writable_peer = peers.iter().find(|m| !m.read_only).map(Member::name);
    match topology::decide(me, &seen) {
        Decision::Conflict(why) => Err(permanent(format!("staying read-only: {why}"))),
        Decision::Primary(_) if writable_peer.is_some() => Err(split_brain(writable_peer)),
        Decision::Environment
            if writable_peer.is_some() && matches!(env_role, Role::Primary(_)) =>
        {
            Err(split_brain(writable_peer))
        }
        Decision::Environment => {
            if let Role::Primary(_) = env_role {
                let record = Record {
                    epoch: 1,
                    ..own_address(&mut conn, me, address)?
                };
                if let Some(dcs) = &ha.dcs {
                    take_the_leader_key(dcs, job.cluster, me)?;
                }
                crate::replication::primary::take_writes(&mut conn, &d)?;
                topology::write(&mut conn, &record)?;
                log::info!("topology: a new cluster; recorded {record}");
            }
            Ok(env_role.clone())
        }
        Decision::Primary(record) => {
            log::info!("topology: this node is the primary ({record})");
            Ok(recorded_role(env_role, me, &record))
        }
        Decision::ReplicaOf(record) => {
            log::info!("topology: following {record}");
            let status = ReplicaState::from_rows(&conn.query(d.replica_status())?);
            let at = crate::replication::source::resolve(&record.host, record.port)?;
            // The environment's source, where it is that node: a name (a
            // Compose service, Swarm's, a Kubernetes one) outlives an
            // address, and reads better in every log.
            let record = match env_role {
                Role::Replica(r) if cluster::is_at(&r.source_host, r.source_port, at) => Record {
                    host: r.source_host.clone(),
                    ..record
                },
                _ => record,
            };
            let mut role = recorded_role(env_role, me, &record);
            let Role::Replica(replica) = &mut role else {
                return Err(permanent(format!(
                    "cannot follow {record}: no replication account to follow it with"
                )));
            };
            match &status {
                // Configured by name for the same node: keep the name.
                Some(s) if cluster::is_at(&s.source_host, s.source_port, at) => {
                    replica.source_host = s.source_host.clone();
                }
                // A member of this cluster before (it holds a record):
                // a former primary, or a replica left on the old one.
                _ if own.is_some() => rejoin(&mut conn, &d, ha, job, &record, &creds)?,
                // New: the usual set-up, seeding included.
                _ => {}
            }
            Ok(role)
        }
    }
}

/// The role `record` gives the node `me` (pure): the primary where it
/// names it, else a replica of the node it names, with the replication
/// account and root password of `env` (the environment's role). A node
/// without a replication account keeps `env`: it cannot follow anyone.
pub fn recorded_role(env: &Role, me: u32, record: &Record) -> Role {
    let Some(creds) = env.replication_account() else {
        return env.clone();
    };
    let root_password = env.root_password().map(str::to_string);
    if record.server_id == me {
        Role::Primary(Primary {
            replication: Some(creds.clone()),
            root_password,
        })
    } else {
        Role::Replica(Replica {
            source_host: record.host.clone(),
            source_port: record.port,
            access: SourceAccess::Account(creds.clone()),
            root_password,
        })
    }
}

/// This node's role now, as its own record says (a switchover may have
/// changed it since the start), else the environment's, for `health`,
/// `status` and the agent.
pub fn current_role(conn: &mut Conn, env: &Role) -> Result<Role> {
    let me = server_id(conn)?;
    Ok(match topology::read(conn)? {
        Some(record) => recorded_role(env, me, &record),
        None => env.clone(),
    })
}

/// The first primary of a new cluster takes the leader key before it
/// takes writes; its keeper keeps the lease alive from then on.
fn take_the_leader_key(
    dcs: &crate::config::dcs::DcsSettings,
    cluster: &str,
    me: u32,
) -> Result<()> {
    let leader = crate::dcs::leader::Leader::new(dcs, cluster);
    match leader.take_back(me, Instant::now() + Duration::from_secs(5))? {
        crate::dcs::etcd::Take::Taken => Ok(()),
        crate::dcs::etcd::Take::HeldBy(h) if h.value == crate::dcs::leader::value_for(me) => Ok(()),
        crate::dcs::etcd::Take::HeldBy(h) => Err(anyhow!(
            "staying read-only: the leader key in etcd is held by {}; this cluster already has a primary",
            h.value
        )),
        crate::dcs::etcd::Take::Barred(h) => Err(permanent(format!(
            "staying read-only: {} led this cluster since this node did (the leader key's last take in etcd); it must rejoin as a replica",
            h.value
        ))),
        crate::dcs::etcd::Take::Free => {
            Err(anyhow!("the leader key could not be taken; trying again"))
        }
    }
}

fn split_brain(writable_peer: Option<String>) -> anyhow::Error {
    permanent(format!(
        "staying read-only: {} takes writes, yet this node would be the primary; find out which is, and fence the other",
        writable_peer.unwrap_or_default()
    ))
}

/// The replication account every node of a cluster with peers has.
fn replication_account(env_role: &Role) -> Result<Credentials> {
    env_role.replication_account().cloned().ok_or_else(|| {
        permanent("REPLIKIT_PEERS needs a replication account on every node (MYSQL_REPL_USER and MYSQL_REPL_PASSWORD): any node may become a replica of any other".into())
    })
}

pub fn server_id(conn: &mut Conn) -> Result<u32> {
    conn.query("SELECT @@server_id AS id")?
        .get(0, "id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("the local server reports no server-id"))
}

/// This node as the other members reach it: its report_host (replikit
/// sets it to the node's address), else `address`; its port.
fn own_address(conn: &mut Conn, me: u32, address: Option<IpAddr>) -> Result<Record> {
    let rows = conn.query("SELECT @@report_host AS h, @@port AS p")?;
    let host = match rows.get(0, "h").filter(|h| !h.is_empty()) {
        Some(h) => h.to_string(),
        None => address.map(|a| a.to_string()).ok_or_else(|| {
            permanent(
                "this node has no address for its peers to reach it: set REPLIKIT_REPORT_HOST"
                    .into(),
            )
        })?,
    };
    let port = rows
        .get(0, "p")
        .and_then(|p| p.parse().ok())
        .unwrap_or(3306);
    Ok(Record {
        epoch: 0,
        host,
        port,
        server_id: me,
    })
}

/// Every other member that answers. Waits for the first as long as
/// `may_decide_alone` says, saying why every PEERS_REPORT.
fn reach_peers(ha: &HaSettings, job: &Job, me: u32, was_member: bool) -> Result<Vec<Member>> {
    let started = Instant::now();
    let mut reported = Instant::now();
    loop {
        let found = cluster::discover(ha, job.tls, Duration::from_secs(3));
        let others: Vec<Member> = found
            .members
            .into_iter()
            .filter(|m| m.server_id != me)
            .collect();
        if !others.is_empty() {
            return Ok(others);
        }
        let why = found.unreachable.join("; ");
        if may_decide_alone(was_member, started.elapsed(), found.unreachable.len()) {
            if !why.is_empty() {
                log::warn!("topology: no peer answered within {PEERS_WAIT:?} ({why}); a new node, it decides alone");
            }
            return Ok(others);
        }
        if reported.elapsed() >= PEERS_REPORT {
            log::warn!(
                "topology: staying read-only until a peer answers ({why}): this node's own record may be out of date \
                 (a failover while it was away); to run it alone, set REPLIKIT_PEERS to this node only"
            );
            reported = Instant::now();
        }
        stopping::check()?;
        stopping::pause(Duration::from_secs(1));
    }
}

/// How often waiting for a peer is said in the log.
const PEERS_REPORT: Duration = Duration::from_secs(30);

/// Whether a node that no peer answers may decide on what it holds
/// (pure). Every peer entry answering as this node alone is a one-node
/// cluster. A node that was a member (it holds a record) never decides
/// alone otherwise: its record may be superseded, and a name that does
/// not resolve (a DNS hiccup at start) says nothing about the cluster. A
/// new node waits PEERS_WAIT: it has no epoch to defend.
pub fn may_decide_alone(was_member: bool, waited: Duration, unreachable: usize) -> bool {
    unreachable == 0 || (!was_member && waited >= PEERS_WAIT)
}

/// Points this former member at the primary of `record`, continuing from
/// the GTIDs it has, once it is known to hold nothing the primary lacks.
fn rejoin(
    conn: &mut Conn,
    d: &Dialect,
    ha: &HaSettings,
    job: &Job,
    record: &Record,
    creds: &Credentials,
) -> Result<()> {
    conn.query(d.set_read_only())?;
    let mut primary = cluster::reach_record(record, ha, job.tls)
        .map_err(|e| e.context("rejoining: logging in to the primary as the admin account"))?;
    if let Some(set) = errant::find(conn, d, &mut primary.conn)?.filter(|s| !s.is_empty()) {
        return Err(permanent(format!(
            "staying read-only: this node holds transactions the primary {}:{} lacks (errant: {set}), \
             written here and never replicated; they are not thrown away silently: \
             save what you need of them, then run replikit rejoin --discard here, which seeds it again from the primary",
            record.host, record.port
        )));
    }
    let tls = job.tls.for_source(primary.offers_tls);
    follow_new_primary(conn, d, record, creds, &tls, job.source_key, job.semi_sync)?;
    log::info!(
        "topology: rejoined as a replica of {}:{}, continuing from this node's own GTIDs",
        record.host,
        record.port
    );
    Ok(())
}

/// `replikit rejoin --discard`: this node, read-only and holding what the
/// primary lacks (or simply broken), throws its data away and is seeded
/// again from the primary of the highest epoch, as a new replica would
/// be. It goes through the marker of an interrupted seed (`seed::record`),
/// so that a stop half-way leaves a node that seeds again at its next
/// start, never one that replicates onto half the data. A line saying
/// what was done.
pub fn discard_and_reseed(env: &Role, ha: &HaSettings, job: &Job) -> Result<String> {
    let (mut conn, d) = wait_for_local_server(job)?;
    let me = server_id(&mut conn)?;
    let own = topology::read(&mut conn)?;
    let writable = conn.query("SELECT @@GLOBAL.read_only AS ro")?.get(0, "ro") == Some("0");
    if writable {
        return Err(permanent(
            "this node takes writes: it is a primary, and its data is the cluster's; nothing was discarded".into(),
        ));
    }
    let peers = cluster::discover(ha, job.tls, Duration::from_secs(5));
    let mut seen: Vec<Record> = peers
        .members
        .iter()
        .filter_map(|m| m.record.clone())
        .collect();
    seen.extend(own);
    let record = match topology::decide(me, &seen) {
        Decision::ReplicaOf(record) => record,
        Decision::Primary(_) => {
            return Err(permanent(
                "the highest epoch names this node as the primary; nothing was discarded".into(),
            ))
        }
        Decision::Environment => {
            return Err(permanent(
                "no member knows a primary yet (no topology record); nothing was discarded".into(),
            ))
        }
        Decision::Conflict(why) => return Err(permanent(format!("{why}; nothing was discarded"))),
    };
    let role = recorded_role(env, me, &record);
    if !matches!(role, Role::Replica(_)) {
        return Err(permanent(
            "no replication account (MYSQL_REPL_USER, MYSQL_REPL_PASSWORD) to follow the primary with; nothing was discarded".into(),
        ));
    }
    let schemas = crate::seed::user_schemas(&mut conn)?;
    log::info!(
        "rejoin: discarding this node's data ({}) and its logged history, to seed it again from {}:{}",
        if schemas.is_empty() { "no user schema".to_string() } else { schemas.join(", ") },
        record.host,
        record.port
    );
    accounts::with_super_read_only_lifted(&mut conn, &d, |conn| {
        accounts::outside_the_binary_log(conn, |conn| {
            conn.query(&format!(
                "CREATE DATABASE IF NOT EXISTS `{}`",
                crate::seed::record::MARKER
            ))?;
            // MariaDB refuses to stop a replica that is none.
            let _ = conn.query(d.stop_replica());
            conn.query(d.reset_replica_all())?;
            conn.query(d.discard_logged_history()).map(drop)
        })
    })?;
    crate::replication::set_up(&role, job)
}

/// The primary's settings of a node whose role was decided: what it needs
/// should it be promoted later (its replication account).
pub fn as_primary(role: &Role) -> Option<Primary> {
    Some(Primary {
        replication: Some(role.replication_account()?.clone()),
        root_password: role.root_password().map(str::to_string),
    })
}

/// How often PID 1 on a node with peers looks at its own record.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// PID 1's watch on a node with peers, for as long as it runs: when a
/// switchover or failover made this node the primary, it sets up a
/// primary's accounts (the replication and seeding accounts, which a
/// seeded replica does not hold, and the donor's grants, which stay on
/// each primary); on the primary, it keeps new schemas readable by the
/// donor. It acts only on a node that a takeover already opened for
/// writes, and never opens one: a former primary whose old record still
/// names it is read-only. The check and the accounts share one session,
/// which a fence ends (`takeover`), so nothing of this outlives a fence.
pub fn keep_up_with_promotions(local: &LocalServer, hosts: &str, primary: &Primary, cluster: &str) {
    let mut set_up_for: Option<u64> = None;
    crate::replication::watch_local(
        local,
        WATCH_EVERY,
        "topology: watching this node's record",
        |conn| {
            let me = server_id(conn)?;
            let writable = conn.query("SELECT @@GLOBAL.read_only AS ro")?.get(0, "ro") == Some("0");
            let Some(record) = topology::read(conn)?.filter(|r| r.server_id == me && writable)
            else {
                return Ok(());
            };
            if set_up_for != Some(record.epoch) {
                log::info!("topology: this node was made the primary ({record}); setting up the primary's accounts");
                let d = Dialect::of(&conn.server_version)?;
                let line = crate::replication::primary::set_up_accounts(
                    conn, &d, primary, local, hosts, cluster,
                )?;
                log::info!("replication: {line}");
                set_up_for = Some(record.epoch);
            }
            crate::replication::primary::grant_new_schemas(conn, hosts)
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_new_node_or_a_one_node_cluster_decides_alone() {
        let s = Duration::from_secs;
        // (was a member, waited, peer entries unreachable, may decide)
        let cases = [
            (false, s(0), 0, true),
            (true, s(0), 0, true),
            (false, s(0), 2, false),
            (false, s(10), 2, true),
            (true, s(10), 2, false),
            (true, s(3600), 1, false),
        ];
        for (member, waited, unreachable, want) in cases {
            assert_eq!(
                may_decide_alone(member, waited, unreachable),
                want,
                "{member} {waited:?} {unreachable}"
            );
        }
    }
}
