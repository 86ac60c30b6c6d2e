//! HAProxy's agent check, served by replikit on REPLIKIT_AGENT_PORT: each
//! connection gets one line, `up` when this node passes its health checks
//! (`health`, the role's defaults plus REPLIKIT_AGENT_MAX_LAG) and `down
//! #check` when it does not, and is closed. HAProxy's `agent-check` reads
//! it every second or so and takes a broken or lagging replica out of the
//! read pool, and puts it back once it recovers; its own MySQL check only
//! sees that the port answers.
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

use crate::config::role::RoleName;
use crate::db::local::LocalServer;
use crate::pid1::background;
use crate::status::health::{self, Checks};

/// How often the verdict is renewed: as often as HAProxy asks.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// What the agent needs to answer.
#[derive(Debug, Clone)]
pub struct Agent {
    pub bind: IpAddr,
    pub port: u16,
    pub local: LocalServer,
    pub role: RoleName,
    pub checks: Checks,
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
    /// Listens on the address and port; probes and answers in threads of
    /// their own.
    pub fn start(self) -> Result<()> {
        let addr = SocketAddr::new(self.bind, self.port);
        let listener = TcpListener::bind(addr)
            .with_context(|| format!("REPLIKIT_AGENT_PORT: cannot listen on {addr}"))?;
        log::info!("agent check for HAProxy on port {}", self.port);
        // Down until the first probe says otherwise.
        let latest = Arc::new(Mutex::new(answer(&Err("starting".into()))));
        let probing = latest.clone();
        background::spawn("agent-probe", move || {
            let mut last_reason: Option<String> = None;
            loop {
                let verdict = health::probe(
                    &self.local,
                    self.role,
                    &self.checks,
                    Duration::from_secs(2),
                    None,
                );
                let reason = verdict.as_ref().err().cloned();
                if reason != last_reason {
                    match &reason {
                        Some(r) => log::info!("agent: down: {r}"),
                        None => log::info!("agent: up"),
                    }
                    last_reason = reason;
                }
                *probing.lock().unwrap_or_else(|e| e.into_inner()) = answer(&verdict);
                std::thread::sleep(PROBE_EVERY);
            }
        })?;
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
    }
}
