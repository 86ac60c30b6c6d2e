//! The cluster as the high-availability commands see it: every member
//! REPLIKIT_PEERS names (a name may stand for several), reached over TCP
//! as the admin account, each with its server-id, read-only state,
//! replication status and topology record.
//!
//! Every answer comes from the network: a member is trusted to be one of
//! ours only as far as the admin log-in and TLS settings make it so, and
//! what it says is checked before anything acts on it.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::config::peers::{HaSettings, Peer};
use crate::db::dialect::{Dialect, Tls};
use crate::db::error::without_secret;
use crate::db::wire::{self, Conn, Remote};
use crate::replication::topology::{self, Record};
use crate::status::errant::MAX_GTID_SET;
use crate::status::node::ReplicaState;

/// One member, logged in as the admin account.
pub struct Member {
    /// The peer entry it was found under (`db2:3306`).
    pub peer: String,
    pub addr: SocketAddr,
    pub conn: Conn,
    pub d: Dialect,
    /// Whether it offered TLS, for `Tls::Preferred` towards it.
    pub offers_tls: bool,
    pub server_id: u32,
    pub read_only: bool,
    pub replica: Option<ReplicaState>,
    pub record: Option<Record>,
}

impl Member {
    /// How it is named in logs and on the command line: `db2:3306 (10.0.0.3)`.
    pub fn name(&self) -> String {
        if self.peer.starts_with(&self.addr.ip().to_string()) {
            self.peer.clone()
        } else {
            format!("{} ({})", self.peer, self.addr)
        }
    }

    /// Whether `wanted` (`HOST`, `HOST:PORT`, or an address) names it.
    pub fn is_named(&self, wanted: &Peer) -> bool {
        let port = wanted.port == self.addr.port();
        let host = self.peer.split(':').next() == Some(wanted.host.as_str())
            || wanted.host.parse() == Ok(self.addr.ip());
        host && port
    }

    /// The record that makes it the primary of `epoch`.
    pub fn as_primary(&self, epoch: u64) -> Record {
        Record {
            epoch,
            host: self.addr.ip().to_string(),
            port: self.addr.port(),
            server_id: self.server_id,
        }
    }

    /// Whether it replicates from the node at `addr`.
    pub fn replicates_from(&self, addr: SocketAddr) -> bool {
        self.replica
            .as_ref()
            .is_some_and(|r| is_at(&r.source_host, r.source_port, addr))
    }

    /// One GTID value `g` of `query` (a `Dialect` query).
    pub fn gtids(&mut self, query: &str) -> Result<String> {
        let rows = self.conn.query(query)?;
        self.gtid_value(rows.get(0, "g"))
    }

    /// A GTID value it answered, at most MAX_GTID_SET long: it goes back
    /// to other members in queries.
    pub fn gtid_value(&self, value: Option<&str>) -> Result<String> {
        let set = value.unwrap_or_default().replace('\n', "");
        if set.len() > MAX_GTID_SET {
            bail!(
                "{} answers a GTID set of {} bytes, more than the {MAX_GTID_SET} replikit compares",
                self.name(),
                set.len()
            );
        }
        Ok(set)
    }

    /// Runs `sql`, naming this member in the error.
    pub fn run(&mut self, sql: &str) -> Result<()> {
        let name = self.name();
        self.conn
            .query(sql)
            .map(drop)
            .with_context(|| format!("on {name}"))
    }
}

/// What answered, and what did not (with the reason).
pub struct Cluster {
    pub members: Vec<Member>,
    pub unreachable: Vec<String>,
    /// The addresses a peer's name gave that did not answer (a name that
    /// gives none is only in `unreachable`).
    pub silent: Vec<SocketAddr>,
}

impl Cluster {
    /// Every topology record the members hold.
    pub fn records(&self) -> Vec<Record> {
        self.members
            .iter()
            .filter_map(|m| m.record.clone())
            .collect()
    }

    /// The members that take writes.
    pub fn writable(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| !self.members[i].read_only)
            .collect()
    }

    /// The member `wanted` names; an error listing them where none does.
    pub fn find(&self, wanted: &Peer) -> Result<usize> {
        self.members
            .iter()
            .position(|m| m.is_named(wanted))
            .with_context(|| {
                format!(
                    "{wanted} is not among the members that answered ({}); name one of them",
                    self.members
                        .iter()
                        .map(Member::name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}

/// Reaches every address of every peer; a node reached twice (under two
/// names) counts once, by its server-id.
pub fn discover(ha: &HaSettings, tls: &Tls, timeout: Duration) -> Cluster {
    let mut cluster = Cluster {
        members: Vec::new(),
        unreachable: Vec::new(),
        silent: Vec::new(),
    };
    for peer in &ha.peers {
        let ips = match crate::db::resolve::lookup(&peer.host, Duration::from_secs(2)) {
            Ok(ips) => ips,
            Err(e) => {
                cluster.unreachable.push(format!("{peer}: {e:#}"));
                continue;
            }
        };
        for ip in ips {
            let addr = SocketAddr::new(ip, peer.port);
            match reach(peer, addr, ha, tls, timeout) {
                Ok(m) if cluster.members.iter().any(|o| o.server_id == m.server_id) => {}
                Ok(m) => cluster.members.push(m),
                Err(e) => {
                    cluster.unreachable.push(format!("{peer} ({addr}): {e:#}"));
                    cluster.silent.push(addr);
                }
            }
        }
    }
    cluster
}

/// Whether `host:port` (a replica's configured source, by name or
/// address) is the node at `addr`.
pub fn is_at(host: &str, port: u16, addr: SocketAddr) -> bool {
    port == addr.port()
        && crate::db::resolve::lookup(host, Duration::from_secs(2))
            .is_ok_and(|ips| ips.contains(&addr.ip()))
}

/// Logs in to the primary a topology record names.
pub fn reach_record(record: &Record, ha: &HaSettings, tls: &Tls) -> Result<Member> {
    let peer = Peer {
        host: record.host.clone(),
        port: record.port,
    };
    let addr = crate::replication::source::resolve(&record.host, record.port)?;
    reach(&peer, addr, ha, tls, Duration::from_secs(5))
}

/// Logs in to one member and reads what the commands decide on.
fn reach(
    peer: &Peer,
    addr: SocketAddr,
    ha: &HaSettings,
    tls: &Tls,
    timeout: Duration,
) -> Result<Member> {
    let greeted = wire::probe(addr, timeout)?;
    let d = Dialect::of(&greeted.server_version)?;
    let remote = Remote {
        tls: tls.for_source(greeted.offers_tls),
        ..Remote::plain(&peer.host)
    };
    let password = &ha.admin.password;
    let mut conn = Conn::connect_tcp(addr, &remote, &ha.admin.user, password, timeout)
        .map_err(|e| without_secret(e, password))?;
    let rows = conn.query("SELECT @@server_id AS id, @@read_only AS ro")?;
    let server_id: u32 = rows
        .get(0, "id")
        .and_then(|v| v.parse().ok())
        .filter(|id| *id != 0)
        .context("it reports no server-id")?;
    let read_only = rows.get(0, "ro") != Some("0");
    let replica = ReplicaState::from_rows(&conn.query(d.replica_status())?);
    let record = topology::read(&mut conn)?;
    Ok(Member {
        peer: peer.to_string(),
        addr,
        conn,
        d,
        offers_tls: greeted.offers_tls,
        server_id,
        read_only,
        replica,
        record,
    })
}
