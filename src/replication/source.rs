//! A replica's source, seen from the replica: finding it (by name, without
//! glibc's NSS), waiting for its greeting, logging in to it, checking that
//! it takes writes, and, in root-credentials mode, creating the
//! replication account on it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use crate::accounts::{self, Scope};
use crate::config::role::read_secret_file;
use crate::config::role::{Credentials, Replica};
use crate::db::dialect::{ServerVersion, Tls};
use crate::db::error::{redact, without_secret, Failure};
use crate::db::wire::{self, Conn, Remote};
use crate::replication::retry::{is_permanent, permanent, retry_until};
use crate::replication::Job;

/// The source as its greeting found it: where it is, what it runs, and how
/// every connection to it is secured (`Tls::Preferred` resolved by whether
/// it offers TLS).
pub struct Source {
    pub addr: SocketAddr,
    pub version: ServerVersion,
    pub remote: Remote,
    /// The pinned public key's file, for the replication channel.
    pub key_path: Option<String>,
}

impl Source {
    pub fn tls(&self) -> &Tls {
        &self.remote.tls
    }

    /// Whether a credential sent to it reaches the source and nobody else:
    /// its certificate is checked against a CA, or (MySQL without TLS) the
    /// password is encrypted to a pinned key.
    pub fn verified(&self) -> bool {
        self.remote.tls.verifies() || self.remote.pinned_key.is_some()
    }
}

/// Waits until the source greets us; returns what the greeting said.
pub fn wait_for(r: &Replica, job: &Job) -> Result<Source> {
    let (tls, deadline) = (job.tls, job.deadline);
    let (host, port) = (r.source_host.as_str(), r.source_port);
    let what = format!("the source {host}:{port} (MYSQL_MASTER_HOST, MYSQL_MASTER_PORT)");
    let (addr, greeted) = retry_until(deadline, &what, || {
        resolve(host, port).and_then(|addr| Ok((addr, wire::probe(addr, Duration::from_secs(5))?)))
    })?;
    let pinned_key = job
        .source_key
        .map(|path| {
            read_secret_file(std::path::Path::new(path)).map_err(|e| {
                permanent(format!(
                    "REPLIKIT_SOURCE_PUBLIC_KEY: cannot read {path}: {e:#}; point it at the source's public_key.pem"
                ))
            })
        })
        .transpose()?;
    Ok(Source {
        addr,
        version: ServerVersion::parse(&greeted.server_version)?,
        remote: Remote {
            host: host.to_string(),
            tls: tls.for_source(greeted.offers_tls),
            pinned_key,
        },
        key_path: job.source_key.map(str::to_string),
    })
}

/// One log-in to the source over TCP, with its TLS; the error's text never
/// holds the password, and its `Failure` is kept.
fn log_in(source: &Source, creds: &Credentials) -> Result<Conn> {
    warn_once_if_unverified(source);
    Conn::connect_tcp(
        source.addr,
        &source.remote,
        &creds.user,
        &creds.password,
        Duration::from_secs(5),
    )
    .map_err(|e| without_secret(e, &creds.password))
}

/// Logs in to the source with the replication account, waiting while it
/// refuses: the primary may not have created the account yet.
pub fn log_in_to_source(
    r: &Replica,
    source: &Source,
    creds: &Credentials,
    deadline: Instant,
) -> Result<Conn> {
    let what = format!(
        "the source {}:{} to accept {}",
        r.source_host, r.source_port, creds.user
    );
    retry_until(deadline, &what, || log_in(source, creds))
}

/// A new replica follows the primary, not another replica: a read-only
/// source is a replica (MYSQL_MASTER_HOST names the wrong node) or a
/// primary that is being promoted. Waits, with the reason in the log,
/// rather than chaining replicas or failing a promotion for good.
/// Returns the log-in, for what else the set-up reads on the source; None
/// when replikit's client cannot log in.
pub fn wait_until_writable(
    r: &Replica,
    source: &Source,
    creds: &Credentials,
    deadline: Instant,
) -> Result<Option<Conn>> {
    let what = format!(
        "the source {}:{} to take writes",
        r.source_host, r.source_port
    );
    retry_until(deadline, &what, || {
        // An account that only the I/O thread can use leaves this unknown;
        // the replica's own errors then say what is wrong.
        let mut conn = match log_in(source, creds) {
            Ok(conn) => conn,
            // Not the source at all: no later log-in may go there either.
            Err(e) if is_permanent(&e) => return Err(e),
            Err(e) => {
                log::info!("cannot check whether the source takes writes: {e:#}");
                return Ok(None);
            }
        };
        let rows = conn.query("SELECT @@GLOBAL.read_only AS ro")?;
        match rows.get(0, "ro") {
            Some("0") => Ok(Some(conn)),
            _ => Err(anyhow!(
                "it is read-only, so it is a replica, not the primary; point MYSQL_MASTER_HOST at the primary"
            )),
        }
    })
}

/// Logs in to a replica's source as the account that reads it (see
/// `accounts::reader`), once.
pub fn read_source(r: &Replica, tls: &Tls, cluster: &str, timeout: Duration) -> Result<Conn> {
    let creds = accounts::reader(&r.access, cluster);
    let addr = resolve(&r.source_host, r.source_port)?;
    let remote = Remote {
        tls: tls.clone(),
        ..Remote::plain(&r.source_host)
    };
    Conn::connect_tcp(addr, &remote, &creds.user, &creds.password, timeout).map_err(|e| {
        anyhow!(
            "cannot read the source {}:{} as {}: {}",
            r.source_host,
            r.source_port,
            creds.user,
            redact(&e, &creds.password)
        )
    })
}

/// Logs in to the source as its admin and creates root-credentials mode's
/// replication account.
pub fn create_account_on_source(
    r: &Replica,
    source: &Source,
    admin: &Credentials,
    job: &Job,
) -> Result<Credentials> {
    let creds = accounts::root_mode_replication(admin, job.cluster);
    if !source.verified() && !job.unverified_root_login {
        return Err(permanent(format!(
            "root-credentials mode would send the source's root password to whoever answers on {}:{}, unverified (REPLIKIT_SSL_MODE is {:?}); \
             set REPLIKIT_SSL_MODE=verify-identity with REPLIKIT_SSL_CA (or, MySQL without TLS, REPLIKIT_SOURCE_PUBLIC_KEY), \
             give MYSQL_REPL_USER and MYSQL_REPL_PASSWORD instead, or accept the risk with REPLIKIT_ROOT_LOGIN_UNVERIFIED=allow",
            r.source_host,
            r.source_port,
            source.tls()
        )));
    }
    let mut conn = log_in(source, admin).map_err(|e| match Failure::of(&e) {
        Failure::AccessDenied => permanent(format!(
            "the source refused {}'s password (MYSQL_MASTER_ROOT_PASSWORD, else MYSQL_ROOT_PASSWORD): {e:#}; \
             set the source's root password, or give MYSQL_REPL_USER and MYSQL_REPL_PASSWORD instead",
            admin.user
        )),
        _ => anyhow!("logging in to the source: {e:#}"),
    })?;
    accounts::create_or_update(
        &mut conn,
        &creds,
        job.repl_host,
        accounts::REPLICA_GRANTS,
        Scope::Replicated,
    )?;
    log::info!(
        "root-credentials mode: replication account {} for hosts {} is ready on {}:{}",
        creds.user,
        job.repl_host,
        r.source_host,
        r.source_port
    );
    Ok(creds)
}

/// Says once per process that credentials go to a source nobody checked,
/// and which setting fixes that.
fn warn_once_if_unverified(source: &Source) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    if !source.verified() {
        WARNED.call_once(|| {
            log::warn!(
                "replikit logs in to the source {} without verifying it (REPLIKIT_SSL_MODE is {:?}): whoever answers on its address gets the log-in; \
                 set REPLIKIT_SSL_MODE=verify-identity and REPLIKIT_SSL_CA (or, MySQL without TLS, REPLIKIT_SOURCE_PUBLIC_KEY)",
                source.remote.host,
                source.remote.tls
            )
        });
    }
}

/// The source's address: by name through the hosts file and DNS, never
/// through glibc's NSS (see `resolve`).
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    let ip = crate::db::resolve::lookup(host, Duration::from_secs(2))
        .with_context(|| format!("MYSQL_MASTER_HOST={host:?}"))?
        .into_iter()
        .next()
        .context("no address")?;
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names_in_the_hosts_file_resolve_without_dns() {
        assert_eq!(
            resolve("127.0.0.1", 3306).unwrap().to_string(),
            "127.0.0.1:3306"
        );
        assert_eq!(resolve("::1", 3306).unwrap().to_string(), "[::1]:3306");
        assert_eq!(resolve("localhost", 3307).unwrap().port(), 3307);
    }
}
