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

/// How long a node waits for at least one peer to answer before it
/// decides on its own record alone (the first node of a cluster, or a
/// whole cluster starting at once).
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
    let peers = reach_peers(ha, job, me);
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
            let mut role = recorded_role(env_role, me, &record);
            let Role::Replica(replica) = &mut role else {
                unreachable!("the record names another node");
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

fn server_id(conn: &mut Conn) -> Result<u32> {
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

/// Every other member that answers, waiting PEERS_WAIT for the first.
fn reach_peers(ha: &HaSettings, job: &Job, me: u32) -> Vec<Member> {
    let until = Instant::now() + PEERS_WAIT;
    loop {
        let found = cluster::discover(ha, job.tls, Duration::from_secs(3));
        let others: Vec<Member> = found
            .members
            .into_iter()
            .filter(|m| m.server_id != me)
            .collect();
        if !others.is_empty() || Instant::now() >= until || !stopping::pause(Duration::from_secs(1))
        {
            if others.is_empty() {
                log::warn!(
                    "topology: no peer answered within {PEERS_WAIT:?} ({}); deciding on this node's own record",
                    found.unreachable.join("; ")
                );
            }
            return others;
        }
    }
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
             save what you need of them, then reseed this node (empty its data directory and start it again)",
            record.host, record.port
        )));
    }
    let tls = job.tls.for_source(primary.offers_tls);
    follow_new_primary(conn, d, record, creds, &tls, job.source_key)?;
    log::info!(
        "topology: rejoined as a replica of {}:{}, continuing from this node's own GTIDs",
        record.host,
        record.port
    );
    Ok(())
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
