//! HAProxy's agent check, served by replikit on REPLIKIT_AGENT_PORT: each
//! connection gets one line, `up` when this node passes its health checks
//! (`health`, the role's defaults plus REPLIKIT_AGENT_MAX_LAG) and `down
//! #check` when it does not, and is closed. HAProxy's `agent-check` reads
//! it every second or so and takes a broken or lagging replica out of the
//! read pool, and puts it back once it recovers; its own MySQL check only
//! sees that the port answers.
//!
//! On REPLIKIT_AGENT_WRITE_PORT the same for writes: `up` only while this
//! node takes writes (the primary replikit decided, fence lifted), so a
//! write backend that lists every node follows the primary through a
//! switchover or failover with no change to HAProxy. A port of its own,
//! rather than a request line, keeps the agent from reading anything a
//! client sends.
//!
//! Anyone who reaches the port may ask, so asking costs nothing: a
//! background thread probes the server once a second and keeps the
//! answer, and each connection gets it from memory at once. A `down`
//! answer names the failing check only; its details (which may quote row
//! data from a replication error) go to the log and to `replikit status`.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::config::role::{Role, RoleName};
use crate::db::local::LocalServer;
use crate::pid1::background;
use crate::status::health::{self, Checks};

/// How often the verdict is renewed: as often as HAProxy asks.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// What the agent needs to answer.
#[derive(Debug, Clone)]
pub struct Agent {
    pub bind: IpAddr,
    /// The read answer's port, the write answer's, or both.
    pub port: Option<u16>,
    pub write_port: Option<u16>,
    pub local: LocalServer,
    /// The environment's role; with peers, the node's record decides.
    pub role: Option<Role>,
    pub follows_topology: bool,
    /// A replica further behind answers down for reads.
    pub max_lag: u64,
}

/// The checks of the read answer for `role` (pure): the role's defaults
/// with REPLIKIT_AGENT_MAX_LAG on a replica, without comparing GTIDs with
/// the source (a log-in there every second).
pub fn read_checks(role: RoleName, max_lag: u64) -> Checks {
    Checks {
        max_lag: (role == RoleName::Replica).then_some(max_lag),
        errant: false,
        ..Checks::default().or_default_for(role)
    }
}

/// The agent's answer for a verdict (pure): HAProxy's agent protocol, one
/// line; a failure becomes `down #` and the name of its check only.
pub fn answer(verdict: &Result<(), String>) -> String {
    match verdict {
        Ok(()) => "up\n".to_string(),
        Err(reason) => {
            let check: String = reason
                .split(':')
                .next()
                .unwrap_or_default()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            format!("down #{check}\n")
        }
    }
}

impl Agent {
    /// Listens on its ports; probes and answers in threads of their own.
    pub fn start(self) -> Result<()> {
        // Down until the first probe says otherwise.
        let starting = || Arc::new(Mutex::new(answer(&Err("starting".into()))));
        let (reads, writes) = (starting(), starting());
        let listeners = [
            (self.port, &reads, "REPLIKIT_AGENT_PORT", "reads"),
            (
                self.write_port,
                &writes,
                "REPLIKIT_AGENT_WRITE_PORT",
                "writes",
            ),
        ];
        for (port, latest, variable, what) in listeners {
            if let Some(port) = port {
                serve(self.bind, port, latest.clone(), variable, what)?;
            }
        }
        background::spawn("agent-probe", move || {
            let node = health::Node {
                role: self.role.as_ref(),
                follows_topology: self.follows_topology,
                compare: None,
            };
            let mut last: Option<(Option<String>, Option<String>)> = None;
            loop {
                let look = health::look(
                    &self.local,
                    &node,
                    |role| read_checks(role, self.max_lag),
                    Duration::from_secs(2),
                );
                let (read, write) = match &look {
                    Ok((checks, status)) => (
                        health::evaluate(checks, status),
                        health::evaluate(&Checks::for_writes(), status),
                    ),
                    Err(reason) => (Err(reason.clone()), Err(reason.clone())),
                };
                let now = (read.as_ref().err().cloned(), write.as_ref().err().cloned());
                if last.as_ref() != Some(&now) {
                    match &now.0 {
                        Some(r) => log::info!("agent: down: {r}"),
                        None => log::info!("agent: up"),
                    }
                    if self.write_port.is_some() {
                        match &now.1 {
                            Some(r) => log::info!("agent: down for writes: {r}"),
                            None => log::info!("agent: up for writes"),
                        }
                    }
                    last = Some(now);
                }
                *reads.lock().unwrap_or_else(|e| e.into_inner()) = answer(&read);
                *writes.lock().unwrap_or_else(|e| e.into_inner()) = answer(&write);
                std::thread::sleep(PROBE_EVERY);
            }
        })
    }
}

/// Listens on `port` and gives every connection the latest answer.
fn serve(
    bind: IpAddr,
    port: u16,
    latest: Arc<Mutex<String>>,
    variable: &str,
    what: &str,
) -> Result<()> {
    let addr = SocketAddr::new(bind, port);
    let listener =
        TcpListener::bind(addr).with_context(|| format!("{variable}: cannot listen on {addr}"))?;
    log::info!("agent check for HAProxy on port {port}, for {what}");
    background::spawn("agent", move || {
        for mut stream in listener.incoming().flatten() {
            background::failpoint("agent");
            let line = latest.lock().unwrap_or_else(|e| e.into_inner()).clone();
            // A few bytes into an empty socket buffer: never waits long.
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            // HAProxy may have given up already: nothing to do about it.
            let _ = stream.write_all(line.as_bytes());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_follow_haproxys_agent_protocol_and_keep_details_back() {
        assert_eq!(answer(&Ok(())), "up\n");
        assert_eq!(
            answer(&Err(
                "--replication: I/O thread Yes, SQL thread No\nmore".into()
            )),
            "down #--replication\n"
        );
        assert_eq!(
            answer(&Err(
                "--replication: error 1062: Duplicate entry 'alice@example.com'".into()
            )),
            "down #--replication\n"
        );
        assert_eq!(answer(&Err("starting".into())), "down #starting\n");
        assert_eq!(
            answer(&Err("--writable: this replica is read-only (...)".into())),
            "down #--writable\n"
        );
    }

    #[test]
    fn the_read_answer_holds_replicas_to_the_lag_and_primaries_to_writes() {
        let replica = read_checks(RoleName::Replica, 30);
        assert_eq!(replica.max_lag, Some(30));
        assert!(replica.replication && !replica.errant && !replica.writable);
        let primary = read_checks(RoleName::Primary, 30);
        assert_eq!(primary.max_lag, None);
        assert!(primary.writable && !primary.replication);
        assert!(Checks::for_writes().writable && Checks::for_writes().ready);
    }
}
