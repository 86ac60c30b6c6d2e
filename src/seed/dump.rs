//! One consistent snapshot of the source, streamed into the local server:
//! the image's own dump tool (`mariadb-dump`/`mysqldump`) reads the source
//! in a single transaction, replikit passes the bytes on to the local client
//! (`mariadb`/`mysql`), counting them for the progress log and reading the
//! source's coordinates from the dump's comments. Nothing the size of the
//! data touches the disk, and credentials reach the tools in a private
//! option file, never on their command lines.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::db::dialect::Dialect;
use crate::db::local::LocalServer;
use crate::pid1::helpers;
use crate::seed::progress;
use crate::seed::tool_options::{local_options, source_options, Login};

/// How often a running copy logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// How much of the dump's start and end is kept: the coordinates are in
/// comments within the first few hundred bytes (MariaDB puts its GTID
/// position at the very end).
const KEEP: usize = 64 * 1024;

/// Where the source's binary log stood at the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Coordinates {
    pub file: Option<String>,
    pub pos: Option<u64>,
    /// MariaDB's `gtid_slave_pos` for a replica of this snapshot.
    pub mariadb_gtid: Option<String>,
}

/// Everything one copy needs.
pub struct Job<'a> {
    pub dialect: &'a Dialect,
    pub source: Login<'a>,
    pub local: &'a LocalServer,
    pub schemas: &'a [String],
    /// MySQL with gtid_mode=ON: the dump carries the GTID set.
    pub mysql_gtids: bool,
    /// About how many bytes the copy will be (information_schema sizes).
    pub estimate: u64,
}

/// The dump tool's arguments after its option file: one transaction for a
/// consistent read, the coordinates as comments, everything a schema holds.
pub fn dump_args(d: &Dialect, schemas: &[String], mysql_gtids: bool) -> Result<Vec<String>> {
    let mut args: Vec<String> = [
        "--single-transaction",
        "--routines",
        "--events",
        "--triggers",
        "--hex-blob",
        "--no-tablespaces",
    ]
    .map(String::from)
    .to_vec();
    args.extend(d.dump_position_options(mysql_gtids));
    args.push("--databases".into());
    for s in schemas {
        // The tool would read such a name as an option.
        if s.starts_with('-') {
            bail!("the source's schema {s:?} starts with '-', which the dump tool would take for an option; rename it or seed this replica by hand");
        }
        args.push(s.clone());
    }
    Ok(args)
}

/// Reads the coordinates from the dump's comments (pure).
pub fn coordinates(head: &str, tail: &str) -> Coordinates {
    let mut c = Coordinates::default();
    for line in head.lines().chain(tail.lines()) {
        let Some(rest) = line.strip_prefix("-- ") else {
            continue;
        };
        if rest.starts_with("CHANGE ") {
            if let Some(file) = quoted_after(rest, "_LOG_FILE=") {
                c.file = Some(file);
            }
            if let Some(pos) = rest.split("_LOG_POS=").nth(1) {
                c.pos = pos
                    .trim_end_matches(';')
                    .split([',', ' '])
                    .next()
                    .and_then(|p| p.parse().ok());
            }
        } else if rest.starts_with("SET GLOBAL gtid_slave_pos=") {
            c.mariadb_gtid = quoted_after(rest, "gtid_slave_pos=");
        }
    }
    c
}

fn quoted_after(text: &str, key: &str) -> Option<String> {
    let rest = text.split(key).nth(1)?.strip_prefix('\'')?;
    Some(rest[..rest.find('\'')?].to_string())
}

/// A progress line: bytes, rate, and percent and time left from the
/// estimate (pure).
pub fn progress_line(copied: u64, elapsed: Duration, estimate: u64) -> String {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = copied as f64 / secs;
    let mut line = format!(
        "seeding: {:.1} MiB copied in {:.0} s, {:.1} MiB/s",
        mib(copied),
        secs,
        rate / (1024.0 * 1024.0)
    );
    if estimate == 0 {
        return line;
    }
    if copied > estimate {
        line += &format!(", past the estimate of {:.1} MiB", mib(estimate));
    } else if copied == 0 {
        line += &format!(", nothing yet of about {:.1} MiB", mib(estimate));
    } else {
        let left = (estimate - copied) as f64 / rate;
        line += &format!(
            ", about {}% of {:.1} MiB, about {:.0} s left",
            copied * 100 / estimate,
            mib(estimate),
            left
        );
    }
    line
}

/// A file that lives in memory only (memfd), readable by us alone: the
/// credentials a helper reads and the error output it writes. Nothing is
/// left on disk if replikit is stopped mid-copy (a `docker commit` or the
/// next start would find it), and nothing outlives the helpers.
pub(crate) struct MemFile(File);

impl MemFile {
    pub(crate) fn new(name: &std::ffi::CStr) -> Result<MemFile> {
        // SAFETY: memfd_create with a valid C string; the descriptor is ours.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("cannot create an in-memory file");
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        let file = unsafe { File::from_raw_fd(fd) };
        // Client tools ignore world-writable option files; memfds start 0777.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(MemFile(file))
    }

    /// An option file holding `text`.
    pub(crate) fn with(name: &std::ffi::CStr, text: &str) -> Result<MemFile> {
        let mut f = MemFile::new(name)?;
        f.0.write_all(text.as_bytes())
            .context("cannot fill an in-memory file")?;
        Ok(f)
    }

    /// The last line of a tool's error output, for our one-line error.
    pub(crate) fn last_line(&self) -> String {
        let mut text = String::new();
        let mut f = &self.0;
        let _ = f.seek(std::io::SeekFrom::Start(0));
        let _ = f.take(1 << 20).read_to_string(&mut text);
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.starts_with("Warning:"))
            .unwrap_or("no error output")
            .to_string()
    }

    pub(crate) fn stderr(&self) -> Result<Stdio> {
        Ok(Stdio::from(self.0.try_clone()?))
    }
}

/// A client tool with only its option file (`--defaults-file`: no
/// /etc/mysql/my.cnf, no ~/.my.cnf), which it opens through its own copy
/// of our descriptor, and an environment of PATH alone (MYSQL_HOST,
/// MYSQL_PWD and the like would change where it goes).
pub(crate) fn tool(program: &str, options: &MemFile) -> Command {
    let fd = options.0.as_raw_fd();
    let mut c = Command::new(program);
    c.arg(format!("--defaults-file=/proc/self/fd/{fd}"))
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        );
    // SAFETY: fcntl is async-signal-safe. In the child only, the option
    // file's descriptor stays open across exec; in replikit it stays
    // close-on-exec, so no other child gets it.
    unsafe {
        c.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c
}

/// Folders with credentials that older versions left in /tmp when stopped
/// mid-copy.
fn remove_old_leftovers() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("replikit-seed-")
        {
            log::info!(
                "removing {}, left by an interrupted seed",
                entry.path().display()
            );
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// What a copy did.
pub struct Copied {
    pub coordinates: Coordinates,
    pub bytes: u64,
}

/// Copies the snapshot; returns its coordinates and size.
pub fn copy(job: &Job) -> Result<Copied> {
    if !std::path::Path::new("/proc/self/fd").is_dir() {
        bail!("seeding hands the dump tools their credentials through /proc/self/fd, and /proc is not mounted here; mount it (every container has it)");
    }
    remove_old_leftovers();
    let source_cnf = MemFile::with(
        c"replikit-source.cnf",
        &source_options(job.dialect, &job.source),
    )?;
    let local_cnf = MemFile::with(c"replikit-local.cnf", &local_options(job.local))?;
    let (dump_err, load_err) = (MemFile::new(c"dump.err")?, MemFile::new(c"load.err")?);
    let (dump_tool, client_tool) = job.dialect.client_tools();

    let mut load = tool(client_tool, &local_cnf);
    load.args(job.dialect.loader_options())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(load_err.stderr()?);
    let mut load = helpers::spawn(&mut load)
        .with_context(|| format!("cannot run {client_tool} (the local client)"))?;
    let mut dump = tool(dump_tool, &source_cnf);
    dump.args(dump_args(job.dialect, job.schemas, job.mysql_gtids)?)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(dump_err.stderr()?);
    let mut dump = match helpers::spawn(&mut dump) {
        Ok(d) => d,
        Err(e) => {
            load.stop();
            return Err(anyhow!(e).context(format!("cannot run {dump_tool}")));
        }
    };

    let (Some(mut from), Some(mut to)) = (dump.child.stdout.take(), load.child.stdin.take()) else {
        unreachable!("both pipes were asked for");
    };
    let streamed = stream(&mut from, &mut to, job.estimate);
    drop(from);
    drop(to);
    let dump_code = dump.wait().context("waiting for the dump tool")?;
    let load_code = load.wait().context("waiting for the local client")?;
    if dump_code != 0 {
        bail!(
            "{dump_tool} failed (exit code {dump_code}): {}",
            dump_err.last_line()
        );
    }
    if load_code != 0 {
        bail!(
            "{client_tool} failed to load the dump (exit code {load_code}): {}",
            load_err.last_line()
        );
    }
    let (head, tail, copied) = streamed?;
    let coordinates = coordinates(
        &String::from_utf8_lossy(&head),
        &String::from_utf8_lossy(&tail),
    );
    log::info!(
        "seeding: copied {} bytes; the source's coordinates: {coordinates:?}",
        copied
    );
    Ok(Copied {
        coordinates,
        bytes: copied,
    })
}

/// Passes the dump to the client; returns the dump's first and last KEEP
/// bytes and the byte count. The client first turns off its binary log:
/// the replica's own log must not hold the source's history as new events.
fn stream(
    from: &mut impl Read,
    to: &mut impl Write,
    estimate: u64,
) -> Result<(Vec<u8>, Vec<u8>, u64)> {
    to.write_all(b"SET SESSION sql_log_bin = 0;\n")
        .context("the local client stopped reading")?;
    let copied = AtomicU64::new(0);
    let start = Instant::now();
    let report = || {
        let line = progress_line(copied.load(Ordering::Relaxed), start.elapsed(), estimate);
        log::info!("{line}");
    };
    progress::reporting_every(PROGRESS_EVERY, report, || {
        let mut buf = vec![0u8; 256 * 1024];
        let mut head = Vec::new();
        let mut tail: Vec<u8> = Vec::new();
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("reading the dump"),
            };
            let chunk = &buf[..n];
            if head.len() < KEEP {
                head.extend_from_slice(&chunk[..n.min(KEEP - head.len())]);
            }
            tail.extend_from_slice(chunk);
            if tail.len() > 2 * KEEP {
                tail.drain(..tail.len() - KEEP);
            }
            to.write_all(chunk)
                .context("the local client stopped reading")?;
            copied.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok((head, tail, copied.load(Ordering::Relaxed)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::db::dialect::dialect;

    #[test]
    fn dump_arguments() {
        let schemas = ["app".to_string(), "shop".to_string()];
        let mysql = dump_args(&dialect("9.7.4"), &schemas, true).unwrap();
        assert!(mysql.contains(&"--source-data=2".into()));
        assert!(mysql.contains(&"--set-gtid-purged=ON".into()));
        let old = dump_args(&dialect("8.0.25"), &schemas, false).unwrap();
        assert!(old.contains(&"--master-data=2".into()));
        assert!(old.contains(&"--set-gtid-purged=OFF".into()));
        let maria = dump_args(&dialect("11.8.6-MariaDB"), &schemas, false).unwrap();
        assert!(maria.contains(&"--gtid".into()));
        for args in [&mysql, &old, &maria] {
            assert!(args.contains(&"--single-transaction".into()));
            assert!(args.contains(&"--routines".into()));
            assert_eq!(args[args.len() - 3..], ["--databases", "app", "shop"]);
            assert!(!args.iter().any(|a| a.contains("password")));
        }
        let err = dump_args(&dialect("9.7.4"), &["-x".into()], true).unwrap_err();
        assert!(err.to_string().contains("\"-x\""), "{err}");
    }

    #[test]
    fn coordinates_from_each_products_comments() {
        // As mariadb-dump 11.8 writes them: file and position at the top,
        // the GTID position at the end.
        let maria_head = "-- Server version\t11.8.6-MariaDB-log\n\
            -- CHANGE MASTER TO MASTER_USE_GTID=slave_pos;\n\
            -- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=798;\n\
            --\n-- Current Database: `a`\n";
        let maria_tail = "-- Preferably use GTID to start replication from GTID position:\n\
            \n-- SET GLOBAL gtid_slave_pos='0-13306-3,1-2-9';\n/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n";
        assert_eq!(
            coordinates(maria_head, maria_tail),
            Coordinates {
                file: Some("binlog.000001".into()),
                pos: Some(798),
                mariadb_gtid: Some("0-13306-3,1-2-9".into()),
            }
        );
        let mysql = "SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ 'uuid:1-3';\n\
            -- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000002', SOURCE_LOG_POS=793;\n";
        assert_eq!(
            coordinates(mysql, ""),
            Coordinates {
                file: Some("binlog.000002".into()),
                pos: Some(793),
                mariadb_gtid: None,
            }
        );
        // Data that merely looks like a comment is not a comment line.
        assert_eq!(
            coordinates(
                "INSERT INTO t VALUES ('-- CHANGE MASTER TO MASTER_LOG_POS=5');",
                ""
            ),
            Coordinates::default()
        );
    }

    #[test]
    fn progress_lines() {
        let mib = 1024 * 1024;
        assert_eq!(
            progress_line(50 * mib, Duration::from_secs(5), 200 * mib),
            "seeding: 50.0 MiB copied in 5 s, 10.0 MiB/s, about 25% of 200.0 MiB, about 15 s left"
        );
        assert_eq!(
            progress_line(10 * mib, Duration::from_secs(10), 0),
            "seeding: 10.0 MiB copied in 10 s, 1.0 MiB/s"
        );
        assert_eq!(
            progress_line(300 * mib, Duration::from_secs(10), 200 * mib),
            "seeding: 300.0 MiB copied in 10 s, 30.0 MiB/s, past the estimate of 200.0 MiB"
        );
        // A stalled start (the source's lock, a locked replica) says so.
        assert_eq!(
            progress_line(0, Duration::from_secs(5), 200 * mib),
            "seeding: 0.0 MiB copied in 5 s, 0.0 MiB/s, nothing yet of about 200.0 MiB"
        );
        assert_eq!(
            progress_line(0, Duration::from_secs(5), 0),
            "seeding: 0.0 MiB copied in 5 s, 0.0 MiB/s"
        );
        assert_eq!(
            progress_line(200 * mib, Duration::from_secs(5), 200 * mib),
            "seeding: 200.0 MiB copied in 5 s, 40.0 MiB/s, about 100% of 200.0 MiB, about 0 s left"
        );
    }

    #[test]
    fn streaming_keeps_both_ends_and_turns_the_binary_log_off_first() {
        let mut data = b"-- head\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 3 * KEEP));
        data.extend_from_slice(b"\n-- tail\n");
        let mut out = Vec::new();
        let (head, tail, n) = stream(&mut data.as_slice(), &mut out, 0).unwrap();
        assert_eq!(n, data.len() as u64);
        assert!(out.starts_with(b"SET SESSION sql_log_bin = 0;\n-- head\n"));
        assert!(out.ends_with(b"\n-- tail\n"));
        assert!(head.starts_with(b"-- head") && head.len() == KEEP);
        assert!(tail.ends_with(b"-- tail\n") && tail.len() >= KEEP);
    }
}
