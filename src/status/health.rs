//! `replikit health`: is this node fit to serve? For Docker's HEALTHCHECK,
//! Compose and Kubernetes probes, run every few seconds for the container's
//! whole life, so it asks the server only what its checks need: one log-in
//! over the socket as the monitoring account, one query, and SHOW REPLICA
//! STATUS only for the replication checks. Deciding is pure (`evaluate`);
//! `probe` does the asking, for `replikit health` and the agent check alike.

use std::time::Duration;

use crate::accounts;
use crate::config::role::Role;
use crate::config::role::RoleName;
use crate::db::dialect::{Dialect, Tls};
use crate::db::local::LocalServer;
use crate::status::errant::{self, Errant};
use crate::status::node::{self, NodeStatus};

/// Asks the local server what `checks` need and judges it: Ok, or the
/// failing check's one-line reason (a failed log-in is `--connect`'s).
pub fn probe(
    local: &LocalServer,
    node: &Node,
    checks: impl Fn(RoleName) -> Checks,
    timeout: Duration,
) -> Result<(), String> {
    let (checks, status) = look(local, node, checks, timeout)?;
    evaluate(&checks, &status)
}

/// This node as `health` sees it: its role from the environment, and
/// whether its own topology record decides instead (REPLIKIT_PEERS: a
/// switchover or failover changed the role since the start).
pub struct Node<'a> {
    pub role: Option<&'a Role>,
    pub follows_topology: bool,
    /// What comparing a replica with its source takes (`--errant`);
    /// None where it is never compared (the agent).
    pub compare: Option<Compare<'a>>,
}

/// What comparing a replica with its source takes (`--errant`).
pub struct Compare<'a> {
    pub tls: &'a Tls,
    pub cluster: &'a str,
}

/// This node's role now: with peers (`follows_topology`), the one its own
/// topology record gives; else `env`, the environment's.
pub fn role_now(
    conn: &mut crate::db::wire::Conn,
    env: Option<&Role>,
    follows_topology: bool,
) -> anyhow::Result<Option<Role>> {
    match env {
        Some(env) if follows_topology => {
            crate::replication::follow::current_role(conn, env).map(Some)
        }
        role => Ok(role.cloned()),
    }
}

/// One log-in: the role (the record's, where it decides), the checks for
/// it, and what they need to know.
pub fn look(
    local: &LocalServer,
    node: &Node,
    checks: impl Fn(RoleName) -> Checks,
    timeout: Duration,
) -> Result<(Checks, NodeStatus), String> {
    let connect = |e: anyhow::Error| format!("--connect: {e:#}");
    let mut conn = accounts::log_in_as_monitor(local, timeout).map_err(connect)?;
    let role = role_now(&mut conn, node.role, node.follows_topology).map_err(connect)?;
    let name = role.as_ref().map_or(RoleName::Unknown, Role::name);
    let checks = checks(name);
    let mut status = node::read(&mut conn, name, checks.need_replica()).map_err(connect)?;
    if let (true, Some(compare), Some(role)) = (checks.errant, &node.compare, &role) {
        // A dialect the server's own read above already accepted.
        if let Ok(d) = Dialect::of(&conn.server_version) {
            status.errant = errant::check(role, &mut conn, &d, compare.tls, compare.cluster);
        }
    }
    Ok((checks, status))
}

/// The checks asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checks {
    /// The local server answers (always true once `evaluate` runs).
    pub connect: bool,
    /// The real server, not the init-time temporary one.
    pub ready: bool,
    /// Both replication threads run and there is no error.
    pub replication: bool,
    /// At most this many seconds behind the source.
    pub max_lag: Option<u64>,
    /// Nothing executed here that the source lacks (errant transactions).
    /// It logs in to the source, so HAProxy's frequent agent check leaves
    /// it out.
    pub errant: bool,
    /// The node takes writes (read_only off): a primary does once
    /// replikit has decided it is one and lifted the fence.
    pub writable: bool,
}

impl Checks {
    /// Nothing asked for: what fits the role. A replica must replicate;
    /// any node must be the real server.
    pub fn or_default_for(self, role: RoleName) -> Checks {
        if self != Checks::default() {
            return self;
        }
        Checks {
            connect: true,
            ready: true,
            replication: role == RoleName::Replica,
            max_lag: None,
            errant: role == RoleName::Replica,
            writable: role == RoleName::Primary,
        }
    }

    /// What HAProxy's write backend asks: the real server, taking writes.
    pub fn for_writes() -> Checks {
        Checks {
            connect: true,
            ready: true,
            writable: true,
            ..Checks::default()
        }
    }

    /// Whether SHOW REPLICA STATUS is needed.
    pub fn need_replica(&self) -> bool {
        self.replication || self.max_lag.is_some() || self.errant
    }
}

/// Ok, or the first failing check's one-line reason (pure).
pub fn evaluate(checks: &Checks, s: &NodeStatus) -> Result<(), String> {
    if checks.ready && !s.ready {
        return Err(
            "--ready: this is the temporary server of first start-up, not the real one yet".into(),
        );
    }
    if checks.writable && s.read_only {
        return Err(format!(
            "--writable: this {} is read-only (a primary is fenced until replikit decides it is the primary)",
            s.role
        ));
    }
    if !checks.need_replica() {
        return Ok(());
    }
    let Some(r) = &s.replica else {
        return Err("--replication: this server is no replica".into());
    };
    if checks.replication {
        if let Some(e) = r.last_error() {
            return Err(format!(
                "--replication: the {} thread stopped on error {}: {}",
                e.thread, e.number, e.message
            ));
        }
        if r.io_running != "Yes" || r.sql_running != "Yes" {
            return Err(format!(
                "--replication: I/O thread {}, SQL thread {} (both must be Yes)",
                r.io_running, r.sql_running
            ));
        }
    }
    if let Some(max) = checks.max_lag {
        match r.lag_seconds {
            None => {
                return Err(format!(
                    "--max-lag {max}: the lag is unknown (the SQL thread does not run)"
                ))
            }
            Some(lag) if lag > max => {
                return Err(format!(
                    "--max-lag {max}: {lag} s behind {}:{}",
                    r.source_host, r.source_port
                ))
            }
            Some(_) => {}
        }
    }
    if checks.errant {
        if let Errant::Found(set) = &s.errant {
            return Err(format!(
                "--errant: this replica has transactions its source lacks, written behind replication's back: {set}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::dialect::ServerVersion;
    use crate::status::node::{LastError, ReplicaState};

    fn node(ready: bool, replica: Option<ReplicaState>) -> NodeStatus {
        NodeStatus {
            role: "replica".into(),
            server_id: 1,
            version: ServerVersion::parse("11.8.6-MariaDB").unwrap(),
            ready,
            read_only: true,
            super_read_only: None,
            gtid_executed: String::new(),
            replica,
            seeded: None,
            errant: Errant::NotChecked("test".into()),
        }
    }

    fn replica(io: &str, sql: &str, lag: Option<u64>, error: Option<u32>) -> Option<ReplicaState> {
        Some(ReplicaState {
            source_host: "db1".into(),
            source_port: 3306,
            io_running: io.into(),
            sql_running: sql.into(),
            lag_seconds: lag,
            source_log_file: String::new(),
            source_log_pos: 0,
            gtid: String::new(),
            io_error: None,
            sql_error: error.map(|number| LastError {
                thread: "sql",
                number,
                message: "Duplicate entry".into(),
                time: None,
            }),
        })
    }

    #[test]
    fn defaults_fit_the_role() {
        let none = Checks::default();
        assert!(none.or_default_for(RoleName::Replica).replication);
        assert!(!none.or_default_for(RoleName::Primary).replication);
        assert!(none.or_default_for(RoleName::Unknown).ready);
        let asked = Checks {
            max_lag: Some(5),
            ..Checks::default()
        };
        assert_eq!(asked.or_default_for(RoleName::Replica), asked);
        // A primary must take writes; nobody else is asked to.
        assert!(none.or_default_for(RoleName::Primary).writable);
        for role in [RoleName::Replica, RoleName::Standalone, RoleName::Unknown] {
            assert!(!none.or_default_for(role).writable, "{role}");
        }
    }

    #[test]
    fn the_write_check_fails_on_a_read_only_node() {
        let writes = Checks::for_writes();
        let fenced = node(true, None);
        let e = evaluate(&writes, &fenced).unwrap_err();
        assert!(
            e.starts_with("--writable: this replica is read-only"),
            "{e}"
        );
        let open = NodeStatus {
            read_only: false,
            ..node(true, None)
        };
        assert_eq!(evaluate(&writes, &open), Ok(()));
        assert!(evaluate(
            &writes,
            &NodeStatus {
                ready: false,
                ..open
            }
        )
        .is_err());
    }

    #[test]
    fn each_check_passes_and_fails_with_its_reason() {
        let all = Checks {
            connect: true,
            ready: true,
            replication: true,
            max_lag: Some(10),
            errant: true,
            writable: false,
        };
        let ready_only = Checks {
            ready: true,
            ..Checks::default()
        };
        let lag_only = Checks {
            max_lag: Some(10),
            ..Checks::default()
        };
        let cases = [
            (all, node(true, replica("Yes", "Yes", Some(0), None)), None),
            (all, node(true, replica("Yes", "Yes", Some(10), None)), None),
            (
                all,
                node(false, replica("Yes", "Yes", Some(0), None)),
                Some("--ready"),
            ),
            (ready_only, node(true, None), None),
            (all, node(true, None), Some("no replica")),
            (
                all,
                node(true, replica("Yes", "No", None, None)),
                Some("SQL thread No"),
            ),
            (
                all,
                node(true, replica("Connecting", "Yes", Some(0), None)),
                Some("I/O thread Connecting"),
            ),
            (
                all,
                node(true, replica("Yes", "No", None, Some(1062))),
                Some("error 1062: Duplicate entry"),
            ),
            (
                all,
                node(true, replica("Yes", "Yes", Some(11), None)),
                Some("11 s behind db1:3306"),
            ),
            (
                lag_only,
                node(true, replica("Yes", "No", None, None)),
                Some("lag is unknown"),
            ),
            (
                lag_only,
                node(true, replica("Yes", "Yes", Some(3), None)),
                None,
            ),
        ];
        let errant = |e: Errant| NodeStatus {
            errant: e,
            ..node(true, replica("Yes", "Yes", Some(0), None))
        };
        let cases = cases.into_iter().chain([
            (all, errant(Errant::None), None),
            (all, errant(Errant::NotChecked("unreachable".into())), None),
            (
                all,
                errant(Errant::Found("0-2-7".into())),
                Some("--errant: this replica has transactions its source lacks, written behind replication's back: 0-2-7"),
            ),
            (lag_only, errant(Errant::Found("0-2-7".into())), None),
        ]);
        for (checks, status, want) in cases {
            let got = evaluate(&checks, &status);
            match want {
                None => assert_eq!(got, Ok(()), "{checks:?} {status:?}"),
                Some(w) => {
                    let e = got.unwrap_err();
                    assert!(e.contains(w), "{w} in {e}");
                    assert!(!e.contains('\n'), "one line: {e}");
                }
            }
        }
    }
}
