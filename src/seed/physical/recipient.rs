//! The replica's side: ask the source's replikit for a copy, unpack it
//! (`mbstream`) beside the data, prepare it (`mariadb-backup --prepare`),
//! then have PID 1 move it into place while the server is down (`swap`),
//! and wait for the server to come back on it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::channel::Channel;
use super::paced::Paced;
use super::protocol::{self, Verdict, MAGIC, NONCE, TAG};
use super::swap::{self, Swap};
use super::{BACKUP_TOOL, STAGING, UNPACK_TOOL};
use crate::db::dialect::Tls;
use crate::db::wire::Conn;
use crate::pid1::{helpers, restart};
use crate::replication::retry::{permanent, retry_until};
use crate::replication::{wait_for_local_server, Job};
use crate::seed::dump::{progress_line, tool, MemFile};
use crate::seed::progress;

/// How long the hand-shake may take, and how long the stream may stall.
const HANDSHAKE: Duration = Duration::from_secs(30);
const STALL: Duration = Duration::from_secs(300);
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How a request for a copy ended.
pub enum Outcome {
    /// The copy is in place and the server runs on it, from this GTID.
    Copied { gtid: String, bytes: u64 },
    /// The donor declined (busy with another seed, or unable): the reason.
    Declined(String),
}

/// Asks the donor at `donor` for a copy and puts it in place.
/// The donor is reached by address, with TLS as `tls` says (the mode in
/// effect towards the source) and its certificate checked as the
/// source's, under the name `host`.
pub struct Donor<'a> {
    pub addr: SocketAddr,
    pub tls: &'a Tls,
    pub host: &'a str,
}

/// Asks the donor for a copy and puts it in place.
pub fn seed(
    conn: &mut Conn,
    donor: &Donor,
    key: &protocol::Key,
    datadir: &Path,
    estimate: u64,
    job: &Job,
) -> Result<Outcome> {
    let addr = donor.addr;
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .with_context(|| format!("cannot reach the donor at {addr} (REPLIKIT_DONOR_PORT)"))?;
    let mut s = Channel::open(Paced::once(stream, HANDSHAKE), donor.tls, donor.host)?;
    if let Some(declined) = hand_shake(&mut s, key, addr)? {
        return Ok(Outcome::Declined(declined));
    }
    if s.encrypted() {
        log::info!("seeding: the copy comes over TLS");
    }
    // Each frame within STALL, however slowly its bytes come.
    s.repace(protocol::MAX_CHUNK + protocol::HEADER + TAG, STALL);
    let staging = datadir.join(STAGING);
    let result = receive(&mut s, key, &staging, estimate).and_then(|bytes| {
        prepare(&staging)?;
        Ok(bytes)
    });
    let bytes = match result {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let gtid = super::binlog_info(&staging)
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|t| super::gtid_of_binlog_info(&t))
        .ok_or_else(|| anyhow!("the copy holds no GTID position (mariadb_backup_binlog_info)"))?;
    log::info!("seeding: the copy is prepared, taken at GTID {gtid}; restarting the server on it");
    let plan = Swap {
        datadir: datadir.to_path_buf(),
        gtid: gtid.clone(),
    };
    restart::request_with(Box::new(move || swap::run(&plan)));
    // The connection ends with the server; its error then says nothing
    // new. A refusal from a server that keeps running is another matter.
    if let Err(e) = conn.query("SHUTDOWN") {
        if e.downcast_ref::<crate::db::wire::ServerError>().is_some() {
            restart::cancel();
            let _ = std::fs::remove_dir_all(&staging);
            bail!("the server refused to shut down for the copy: {e:#}");
        }
    }
    // Only the move writes the position file: until it is there, a server
    // that answers is the old one still shutting down, whose data the
    // copy's position does not fit.
    let moved = datadir.join(super::POSITION_FILE);
    retry_until(job.deadline, "the copy to be moved into place", || {
        if moved.is_file() {
            Ok(())
        } else {
            bail!("{} is not there yet", moved.display())
        }
    })?;
    *conn = wait_for_local_server(job)?.0;
    Ok(Outcome::Copied { gtid, bytes })
}

/// Both proofs; None when the donor took the request, else why not.
fn hand_shake(s: &mut Channel, key: &protocol::Key, donor: SocketAddr) -> Result<Option<String>> {
    let mut hello = [0u8; 8 + NONCE];
    s.read_exact(&mut hello)
        .with_context(|| format!("the donor at {donor} did not greet"))?;
    if &hello[..8] != MAGIC {
        bail!(
            "{donor} is not a replikit donor (REPLIKIT_DONOR_PORT must be the same on every node)"
        );
    }
    let theirs: protocol::Nonce = hello[8..].try_into().expect("32 bytes");
    let ours: protocol::Nonce = crate::db::random::bytes()?;
    let mut answer = ours.to_vec();
    answer.extend_from_slice(&protocol::replica_proof(key, &theirs, &ours));
    s.write_all(&answer)?;
    let mut verdict = [0u8; 1];
    s.read_exact(&mut verdict)
        .with_context(|| format!("the donor at {donor} did not answer"))?;
    match Verdict::parse(verdict[0]) {
        Some(Verdict::Ok) => {}
        Some(Verdict::Busy) => return Ok(Some(format!("the donor at {donor} is serving another seed"))),
        Some(Verdict::Cannot) => {
            return Ok(Some(format!(
                "the donor at {donor} cannot serve one (its log says why: not a writable MariaDB primary, or no mariadb-backup)"
            )))
        }
        Some(Verdict::Refused) => {
            return Err(permanent(format!(
                "the donor at {donor} refused this replica: REPLIKIT_CLUSTER or the replication password differ from the primary's"
            )))
        }
        None => bail!("the donor at {donor} answered {:#04x}, not a verdict", verdict[0]),
    }
    let mut proof = [0u8; TAG];
    s.read_exact(&mut proof)?;
    if !protocol::donor_proof_ok(key, &theirs, &ours, &proof) {
        return Err(permanent(format!(
            "the peer at {donor} could not prove it is of this cluster; nothing taken from it"
        )));
    }
    Ok(None)
}

/// The frames, unpacked into `staging` as they come; the bytes received.
fn receive(s: &mut Channel, key: &protocol::Key, staging: &Path, estimate: u64) -> Result<u64> {
    let _ = std::fs::remove_dir_all(staging);
    std::fs::create_dir_all(staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let err = MemFile::new(c"unpack.err")?;
    // mbstream reads no option file; an environment of PATH alone.
    let mut unpack = std::process::Command::new(UNPACK_TOOL);
    unpack
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .args(["-x", "-C"])
        .arg(staging)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(err.stderr()?);
    let mut unpack =
        helpers::spawn(&mut unpack).with_context(|| format!("cannot run {UNPACK_TOOL}"))?;
    let mut to = unpack.child.stdin.take().expect("asked for");
    let copied = AtomicU64::new(0);
    let start = Instant::now();
    let report = || {
        log::info!(
            "{} (physical)",
            progress_line(copied.load(Ordering::Relaxed), start.elapsed(), estimate)
        )
    };
    let streamed = progress::reporting_every(PROGRESS_EVERY, report, || {
        protocol::read_stream(s, key, &mut to, &copied)
            .map_err(|e| anyhow!("{e}; the copy is dropped"))
    });
    drop(to);
    let code = unpack.wait().context("waiting for mbstream")?;
    let bytes = streamed?;
    if code != 0 {
        bail!(
            "{UNPACK_TOOL} failed (exit code {code}): {}",
            err.last_line()
        );
    }
    log::info!(
        "{}; the whole copy is here",
        progress_line(bytes, start.elapsed(), 0)
    );
    Ok(bytes)
}

/// Applies the copy's redo log, so that the server can start on it.
fn prepare(staging: &Path) -> Result<()> {
    let (options, err) = (
        MemFile::with(c"replikit-prepare.cnf", "")?,
        MemFile::new(c"prepare.err")?,
    );
    let mut cmd = tool(BACKUP_TOOL, &options);
    cmd.arg("--prepare")
        .arg(format!("--target-dir={}", staging.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err.stderr()?);
    let started = Instant::now();
    let code = helpers::spawn(&mut cmd)
        .with_context(|| format!("cannot run {BACKUP_TOOL}"))?
        .wait()
        .context("waiting for mariadb-backup --prepare")?;
    if code != 0 {
        bail!(
            "{BACKUP_TOOL} --prepare failed (exit code {code}): {}",
            err.last_line()
        );
    }
    log::info!(
        "seeding: the copy prepared in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
