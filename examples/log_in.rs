//! bench/login.py's stopwatch: replikit's own client logging in to a
//! server over TCP, again and again, in one TLS mode, as replikit logs in
//! to a source (greeting, TLS if asked, authentication, the session's
//! set-up, COM_QUIT). Not part of the shipped binary.
//!
//!   log_in HOST:PORT USER MODE FILE RUNS     (the password in LOGIN_PASSWORD)
//!
//! MODE: off, required, verify-ca, verify-identity (FILE: the CA), or
//! pinned-key (FILE: the server's RSA public key, no TLS). Prints the
//! median and the 90th percentile of one log-in, in microseconds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use replikit::db::dialect::Tls;
use replikit::db::wire::{Conn, Remote};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, user, mode, file, runs] = args.as_slice() else {
        bail!("usage: log_in HOST:PORT USER MODE FILE RUNS (password in LOGIN_PASSWORD)");
    };
    let addr: SocketAddr = addr.parse().context("HOST:PORT")?;
    let runs: usize = runs.parse().context("RUNS")?;
    let password = std::env::var("LOGIN_PASSWORD").context("LOGIN_PASSWORD")?;
    let (tls, pinned_key) = match mode.as_str() {
        "off" => (Tls::Off, None),
        "required" => (Tls::Required, None),
        "verify-ca" => (Tls::VerifyCa { ca: file.clone() }, None),
        "verify-identity" => (Tls::VerifyIdentity { ca: file.clone() }, None),
        "pinned-key" => (
            Tls::Off,
            Some(std::fs::read_to_string(file).context("the key file")?),
        ),
        other => bail!("unknown mode {other:?}"),
    };
    let remote = Remote {
        host: addr.ip().to_string(),
        tls,
        pinned_key,
    };
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let conn = Conn::connect_tcp(addr, &remote, user, &password, Duration::from_secs(10))?;
        drop(conn);
        times.push(started.elapsed().as_micros());
    }
    times.sort_unstable();
    println!("{} {}", times[runs / 2], times[runs * 9 / 10]);
    Ok(())
}
