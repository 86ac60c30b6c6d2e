//! HAProxy's agent check, served by replikit on REPLIKIT_AGENT_PORT: each
//! connection gets one line, `up` when this node passes its health checks
//! (`health`, the role's defaults plus REPLIKIT_AGENT_MAX_LAG) and `down
//! #reason` when it does not, and is closed. HAProxy's `agent-check` reads
//! it every few seconds and takes a broken or lagging replica out of the
//! read pool, and puts it back once it recovers; its own MySQL check only
//! sees that the port answers.
//!
//! One thread, one connection at a time: an answer takes a log-in and a
//! query or two over the local socket, and HAProxy asks every second or so.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::config::role::RoleName;
use crate::db::local::LocalServer;
use crate::pid1::background;
use crate::status::health::{self, Checks};

/// What the agent needs to answer.
#[derive(Debug, Clone)]
pub struct Agent {
    pub port: u16,
    pub local: LocalServer,
    pub role: RoleName,
    pub checks: Checks,
}

/// The agent's answer for a verdict (pure): HAProxy's agent protocol, one
/// line; a reason becomes the comment after `#`, on one line.
pub fn answer(verdict: &Result<(), String>) -> String {
    match verdict {
        Ok(()) => "up\n".to_string(),
        Err(reason) => {
            let reason: String = reason
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            format!("down #{reason}\n")
        }
    }
}

impl Agent {
    /// Listens on the port and answers in a thread of its own.
    pub fn start(self) -> Result<()> {
        // An address, not ("0.0.0.0", port): a host name would link glibc's
        // resolver (NSS) into the static binary.
        let any = std::net::SocketAddr::from(([0, 0, 0, 0], self.port));
        let listener = TcpListener::bind(any)
            .with_context(|| format!("REPLIKIT_AGENT_PORT: cannot listen on port {}", self.port))?;
        log::info!("agent check for HAProxy on port {}", self.port);
        background::spawn("agent", move || {
            for stream in listener.incoming().flatten() {
                // One reply's bug must not stop the next.
                if let Err(e) = background::catching("an agent reply", || self.reply(stream)) {
                    log::error!("agent: {e}");
                }
            }
        })
    }

    fn reply(&self, mut stream: TcpStream) {
        background::failpoint("agent");
        let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
        let verdict = health::probe(&self.local, self.role, &self.checks, Duration::from_secs(2));
        let line = answer(&verdict);
        // HAProxy may have given up already: nothing to do about it.
        let _ = stream.write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_follow_haproxys_agent_protocol() {
        assert_eq!(answer(&Ok(())), "up\n");
        assert_eq!(
            answer(&Err(
                "--replication: I/O thread Yes, SQL thread No\nmore".into()
            )),
            "down #--replication: I/O thread Yes, SQL thread No more\n"
        );
    }
}
