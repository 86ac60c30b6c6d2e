//! The donor's side: replikit on the primary listens on
//! REPLIKIT_DONOR_PORT and, for a replica that proves it is of this
//! cluster, streams `mariadb-backup --backup --stream=mbstream` straight
//! from the tool's output to the socket (no copy on the donor's disk), one
//! seed at a time.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::channel::Channel;
use super::paced::Paced;
use super::protocol::{self, Kind, Verdict, MAGIC, NONCE, TAG};
use super::{on_path, BACKUP_TOOL};
use crate::db::dialect::{Product, ServerVersion};
use crate::db::local::LocalServer;
use crate::pid1::{background, helpers};
use crate::seed::dump::{tool, MemFile};
use crate::seed::tool_options::local_options;

const HANDSHAKE: Duration = Duration::from_secs(30);
/// A replica that stops reading this long is given up on.
const STALL: Duration = Duration::from_secs(300);
/// Hand-shakes at once: more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 4;
/// A wrong proof waits this long before the answer, to slow guessing.
const REFUSAL_DELAY: Duration = Duration::from_secs(1);
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// One seed at a time: a backup reads every data file.
static SERVING: AtomicBool = AtomicBool::new(false);

struct Serving;

impl Serving {
    fn take() -> Option<Serving> {
        (!SERVING.swap(true, Ordering::SeqCst)).then_some(Serving)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        SERVING.store(false, Ordering::SeqCst);
    }
}

/// Listens on `port` (every address) in the background.
pub fn start(port: u16, keys: Vec<protocol::Key>, local: LocalServer) -> Result<()> {
    if keys.is_empty() {
        log::info!("physical seeds: not served, since this node knows no replication or root password to check a replica's proof with");
        return Ok(());
    }
    // Addresses, never names: a name would link glibc's resolver (NSS)
    // into the static binary. Every IPv6 and IPv4 address, or IPv4 alone
    // where IPv6 is off.
    let listener = TcpListener::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port))
        .or_else(|_| TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)))
        .with_context(|| format!("REPLIKIT_DONOR_PORT: cannot listen on port {port}; choose a free port or set it to off"))?;
    log::info!(
        "physical seeds: served on port {port} while this node is a writable MariaDB primary"
    );
    let shared = Arc::new((listener, keys, local));
    let open = Arc::new(AtomicUsize::new(0));
    background::spawn("donor", move || {
        for stream in shared.0.incoming() {
            let Ok(stream) = stream else { continue };
            if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                open.fetch_sub(1, Ordering::SeqCst);
                continue; // dropped: the replica retries
            }
            let (shared, mine) = (shared.clone(), open.clone());
            let spawned = std::thread::Builder::new()
                .name("donor-peer".into())
                .spawn(move || {
                    let peer = stream
                        .peer_addr()
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    if let Err(e) = serve(stream, &shared.1, &shared.2) {
                        log::warn!("physical seed for {peer}: {e:#}");
                    }
                    mine.fetch_sub(1, Ordering::SeqCst);
                });
            if spawned.is_err() {
                open.fetch_sub(1, Ordering::SeqCst);
            }
        }
    })
}

fn serve(stream: TcpStream, keys: &[protocol::Key], local: &LocalServer) -> Result<()> {
    let paced = Paced::once(stream, HANDSHAKE);
    let mut s = Channel::accept(paced, || server_tls(local))?;
    let ours: protocol::Nonce = crate::db::random::bytes()?;
    let mut hello = MAGIC.to_vec();
    hello.extend_from_slice(&ours);
    s.write_all(&hello)?;
    let mut answer = [0u8; NONCE + TAG];
    s.read_exact(&mut answer)
        .context("no answer from the peer")?;
    let theirs: protocol::Nonce = answer[..NONCE].try_into().expect("32 bytes");
    let proof = &answer[NONCE..];
    let Some(key) = keys
        .iter()
        .find(|k| protocol::replica_proof_ok(k, &ours, &theirs, proof))
    else {
        std::thread::sleep(REFUSAL_DELAY);
        let _ = s.write_all(&[Verdict::Refused as u8]);
        bail!("refused: its proof does not match this cluster's (another REPLIKIT_CLUSTER or replication password?)");
    };
    let Some(_one) = Serving::take() else {
        s.write_all(&[Verdict::Busy as u8])?;
        bail!("declined: another seed is being served");
    };
    let datadir = match can_serve(local) {
        Ok(d) => d,
        Err(e) => {
            s.write_all(&[Verdict::Cannot as u8])?;
            return Err(e.context("declined"));
        }
    };
    let mut ok = vec![Verdict::Ok as u8];
    ok.extend_from_slice(&protocol::donor_proof(key, &ours, &theirs));
    s.write_all(&ok)?;
    // Each frame within STALL: a replica that stops reading is let go.
    s.repace(protocol::MAX_CHUNK + protocol::HEADER + TAG, STALL);
    stream_backup(&mut s, key, local, &datadir)
}

/// The server's own certificate and key, for a replica that asks for
/// TLS; relative paths are the server's datadir's, as the server reads them.
fn server_tls(local: &LocalServer) -> Result<(PathBuf, PathBuf)> {
    let mut conn = local.log_in(Duration::from_secs(10))?;
    let rows = conn.query("SELECT @@ssl_cert AS c, @@ssl_key AS k, @@datadir AS d")?;
    let datadir = PathBuf::from(rows.get(0, "d").unwrap_or_default());
    match (rows.get(0, "c"), rows.get(0, "k")) {
        (Some(c), Some(k)) if !c.is_empty() && !k.is_empty() => {
            Ok((datadir.join(c), datadir.join(k)))
        }
        _ => bail!(
            "a replica asked for TLS, but this server has no ssl_cert and ssl_key to serve it with"
        ),
    }
}

/// This node's data directory, when it can serve a seed: a writable
/// MariaDB primary with mariadb-backup installed.
fn can_serve(local: &LocalServer) -> Result<PathBuf> {
    if !on_path(BACKUP_TOOL) {
        bail!("{BACKUP_TOOL} is not installed on this node");
    }
    let mut conn = local.log_in(Duration::from_secs(10))?;
    let rows = conn.query("SELECT VERSION() AS v, @@read_only AS ro, @@datadir AS d")?;
    let version = ServerVersion::parse(rows.get(0, "v").unwrap_or_default())?;
    if version.product != Product::MariaDb {
        bail!("this node runs {version}; physical seeds are MariaDB's");
    }
    if rows.get(0, "ro") != Some("0") {
        bail!("this node is read-only: only the primary serves physical seeds");
    }
    Ok(PathBuf::from(rows.get(0, "d").unwrap_or_default()))
}

fn stream_backup(
    s: &mut Channel,
    key: &protocol::Key,
    local: &LocalServer,
    datadir: &std::path::Path,
) -> Result<()> {
    let options = MemFile::with(c"replikit-backup.cnf", &local_options(local))?;
    let err = MemFile::new(c"backup.err")?;
    // mariadb-backup keeps a few small files of its own there.
    let scratch = std::env::temp_dir().join(format!("replikit-donor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let mut backup = tool(BACKUP_TOOL, &options);
    backup
        .arg("--backup")
        .arg("--stream=mbstream")
        .arg(format!("--target-dir={}", scratch.display()))
        .arg(format!("--datadir={}", datadir.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(err.stderr()?);
    let mut backup =
        helpers::spawn(&mut backup).with_context(|| format!("cannot run {BACKUP_TOOL}"))?;
    let mut from = backup.child.stdout.take().expect("asked for");
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut buf = vec![0u8; protocol::MAX_CHUNK];
    let (mut seq, mut sent) = (0u64, 0u64);
    let streamed: Result<()> = (|| loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow!(e).context("reading mariadb-backup's stream")),
        };
        s.write_all(&protocol::frame(key, seq, Kind::Data, &buf[..n]))
            .context("the replica stopped reading")?;
        seq += 1;
        sent += n as u64;
        if last_report.elapsed() >= PROGRESS_EVERY {
            log::info!("physical seed: {}", served(sent, started));
            last_report = Instant::now();
        }
    })();
    drop(from);
    if streamed.is_err() {
        let _ = backup.child.kill();
    }
    let code = backup.wait().context("waiting for mariadb-backup")?;
    let _ = std::fs::remove_dir_all(&scratch);
    streamed?;
    if code != 0 {
        let why = format!("{BACKUP_TOOL} exit code {code}: {}", err.last_line());
        let message: Vec<u8> = why.bytes().take(protocol::MAX_MESSAGE).collect();
        let _ = s.write_all(&protocol::frame(key, seq, Kind::Failed, &message));
        bail!("{why}");
    }
    s.write_all(&protocol::frame(key, seq, Kind::End, &[]))?;
    log::info!("physical seed: {}, all of it", served(sent, started));
    Ok(())
}

/// How much a seed has sent, for the log.
fn served(sent: u64, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let mib = sent as f64 / (1024.0 * 1024.0);
    format!("sent {mib:.1} MiB in {secs:.0} s, {:.1} MiB/s", mib / secs)
}
