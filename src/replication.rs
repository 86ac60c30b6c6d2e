//! Replication set-up on this node's own server, for its role: the primary
//! creates the replication and seeding accounts; a replica waits for its
//! source, seeds itself when it is new (`seed`), points its server at the
//! source, once, and leaves a working set-up alone.
//!
//! Everything here talks to the local server over its socket (`db::wire`).
//! A replica logs in to its source as the seeding account (or, in the
//! seed's mode, as root, to create its replication account too); the
//! replication stream itself is the replica server's own connection.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::clone;
use crate::db::flavor::{positioning, Dialect, Position, Product, ServerVersion, SourceSpec, Tls};
use crate::db::sql::{quote, SESSION_SQL_MODE};
use crate::db::wire::{self, Conn};
use crate::dump;
use crate::exit_code::Fatal;
use crate::identity;
use crate::monitor;
use crate::node_status::ReplicaState;
use crate::role::{Credentials, Primary, Replica, Role, SourceAccess};
use crate::seed::{self, Decision, Via};
use crate::settings::{ReplicationSettings, Settings};

/// Waits between attempts start here and double up to `MAX_WAIT`.
const FIRST_WAIT: Duration = Duration::from_millis(50);
const MAX_WAIT: Duration = Duration::from_secs(1);
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// An error that retrying cannot fix: it needs a person (or new settings).
#[derive(Debug)]
pub struct Permanent(pub String);

impl std::fmt::Display for Permanent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Permanent {}

fn permanent(text: String) -> anyhow::Error {
    anyhow::Error::new(Permanent(text))
}

/// The host pattern of the replication account: REPLIKIT_REPL_HOST, else
/// the seed's pattern from this node's address (`known`, or found now: with
/// REPLIKIT_SERVER_ID_VIA=off nobody has looked yet). Only a primary and a
/// replica in the seed's mode create an account; the others get an empty
/// pattern.
pub fn account_host(
    role: &Role,
    settings: &Settings,
    known: Option<std::net::IpAddr>,
) -> Result<String, Fatal> {
    let creates_account = match role {
        Role::Primary(_) => true,
        Role::Replica(r) => matches!(r.access, SourceAccess::Admin(_)),
        Role::Standalone => false,
    };
    if !creates_account {
        return Ok(String::new());
    }
    if let Some(host) = &settings.replication.repl_host {
        return Ok(host.clone());
    }
    let address = match known {
        Some(a) => Some(a),
        None => identity::identify(&settings.identity)?
            .address
            .map(|a| a.addr),
    };
    Ok(default_repl_host(address))
}

/// The seed's account host pattern: the first two octets of this node's
/// IPv4 address (`10.0.%.%`), or any host when there is none.
pub fn default_repl_host(addr: Option<std::net::IpAddr>) -> String {
    match addr {
        Some(std::net::IpAddr::V4(v4)) => {
            let [a, b, _, _] = v4.octets();
            format!("{a}.{b}.%.%")
        }
        _ => "%".to_string(),
    }
}

/// PID 1's way: set up replication in the background, retrying what may
/// pass (a source still starting, a network hiccup) with backoff, and
/// giving up with an error line on what will not. Never panics, never ends
/// the process.
/// `restartable`: replikit supervises the server, so a clone may restart it.
pub fn keep_trying(
    role: Role,
    settings: ReplicationSettings,
    repl_host: String,
    restartable: bool,
) {
    let mut wait = Duration::from_secs(1);
    loop {
        let local = Local {
            socket: &settings.socket,
            repl_host: &repl_host,
            tls: &settings.tls,
            seed: settings.seed,
            restartable,
            deadline: Instant::now() + Duration::from_secs(3600),
        };
        match set_up(&role, &local) {
            Ok(line) => {
                log::info!("replication: {line}");
                return;
            }
            Err(e) if e.is::<Permanent>() => {
                log::error!("replication: {e:#}");
                return;
            }
            Err(e) => {
                log::warn!("replication: {e:#}; trying again in {wait:?}");
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// What the replica's current set-up means for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Not a replica yet: configure and start.
    Configure,
    /// Configured for this source but stopped without an error: start.
    Start,
    /// The source refuses the stored credentials (error 1045): store the
    /// ones we were given, keeping the position.
    UpdateCredentials,
    /// Replicating (or connecting) from this source: nothing to do.
    LeaveAlone,
    /// Stopped on an error: report it, change nothing.
    Broken(String),
    /// Configured for another source: refuse to repoint silently.
    OtherSource(String),
}

/// Decides what to do with a replica's current status (pure).
pub fn plan(current: Option<&ReplicaState>, host: &str, port: u16) -> Plan {
    let Some(s) = current else {
        return Plan::Configure;
    };
    if !s.source_host.eq_ignore_ascii_case(host) || s.source_port != port {
        return Plan::OtherSource(format!("{}:{}", s.source_host, s.source_port));
    }
    // Wrong credentials (a wrong password, then the right one after a
    // restart): only a new password helps, and we have one.
    if s.io_error.as_ref().is_some_and(|e| e.number == 1045) {
        return Plan::UpdateCredentials;
    }
    let running = |t: &str| t == "Yes" || t == "Connecting" || t == "Preparing";
    if running(&s.io_running) && running(&s.sql_running) {
        return Plan::LeaveAlone;
    }
    // An I/O error while the source is away clears itself on retry; an SQL
    // thread that stopped on an error means data that needs a person.
    match s.last_error() {
        Some(e) if s.sql_running != "Yes" => Plan::Broken(e.message.clone()),
        _ => Plan::Start,
    }
}

/// Where things are and how long to try.
pub struct Local<'a> {
    pub socket: &'a Path,
    /// The address pattern replicas connect from (the primary's account).
    pub repl_host: &'a str,
    /// TLS for a replica's connection to its source.
    pub tls: &'a Tls,
    /// Whether a new replica is seeded (REPLIKIT_SEED).
    pub seed: seed::Method,
    /// replikit supervises the local server and starts it again when it
    /// exits for a clone.
    pub restartable: bool,
    pub deadline: Instant,
}

/// Sets up replication for `role`; returns a line saying what was done.
pub fn set_up(role: &Role, local: &Local) -> Result<String> {
    match role {
        Role::Standalone => Ok("standalone: no replication".into()),
        Role::Primary(p) => set_up_primary(p, local),
        Role::Replica(r) => set_up_replica(r, local),
    }
}

fn set_up_primary(p: &Primary, local: &Local) -> Result<String> {
    let mut conn = wait_for_local_server(local, p.root_password.as_deref().unwrap_or(""))?;
    let d = Dialect::new(ServerVersion::parse(&conn.server_version)?)?;
    writable_again(&mut conn, &d)?;
    monitor::ensure(
        &mut conn,
        local.socket,
        &d,
        p.root_password.as_deref().unwrap_or(""),
    )?;
    let Some(creds) = &p.replication else {
        return Ok("primary: no MYSQL_REPL_USER given, so no replication account to create".into());
    };
    // The donor first: once a replica is let in as the replication
    // account, the donor account is there too.
    let donor = donor_account(creds);
    create_account(&mut conn, &donor, local.repl_host, DONOR_GRANTS)?;
    offer_clone(&mut conn, &d, &donor, local.repl_host)?;
    create_account(&mut conn, creds, local.repl_host, REPLICA_GRANTS)?;
    Ok(format!(
        "primary: replication account {} and seeding account {} for hosts {} are ready",
        creds.user, donor.user, local.repl_host
    ))
}

/// A primary that was a replica before keeps the read-only state that
/// replikit persisted then; a primary must take writes.
fn writable_again(conn: &mut Conn, d: &Dialect) -> Result<()> {
    let Some(statements) = d.unpersist_read_only() else {
        return Ok(());
    };
    let persisted = conn.query(
        "SELECT COUNT(*) AS n FROM performance_schema.persisted_variables \
         WHERE VARIABLE_NAME IN ('super_read_only', 'read_only') AND VARIABLE_VALUE = 'ON'",
    )?;
    if persisted.get(0, "n").unwrap_or("0") != "0" {
        log::info!("this server was persisted read-only (as a replica); as the primary it takes writes again");
        for sql in statements {
            conn.query(sql)?;
        }
    }
    Ok(())
}

/// On MySQL 8.0.17+, the clone plugin and the donor's BACKUP_ADMIN, so
/// that replicas can seed by clone. Where the plugin cannot be installed,
/// replicas seed with a dump instead.
fn offer_clone(conn: &mut Conn, d: &Dialect, donor: &Credentials, host: &str) -> Result<()> {
    let can = d.version.product == Product::MySql
        && d.version.release >= crate::db::flavor::Release(8, 0, 17);
    if !can {
        return Ok(());
    }
    if let Err(e) = clone::ensure_plugin(conn) {
        log::warn!("replicas will seed with a dump, not clone: {e:#}");
        return Ok(());
    }
    conn.query(&format!(
        "GRANT BACKUP_ADMIN ON *.* TO {}@{}",
        quote(&donor.user),
        quote(host)
    ))?;
    Ok(())
}

/// Reading the binary log is all a replica needs, with GTIDs or without.
const REPLICA_GRANTS: &str = "REPLICATION SLAVE";

/// What a consistent dump needs, and `replikit verify`: reading every
/// table, view, trigger, routine and event; FLUSH TABLES WITH READ LOCK
/// (RELOAD) and the binary log position (REPLICATION CLIENT) for the
/// snapshot's coordinates; LOCK TABLES to hold a table still while it is
/// compared. No write privilege.
const DONOR_GRANTS: &str =
    "SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, RELOAD, REPLICATION CLIENT";

/// Creates or updates an account on the server behind `conn` (the
/// primary's own, or the source in the seed's mode) with `grants` on
/// everything, and nothing more.
fn create_account(conn: &mut Conn, creds: &Credentials, host: &str, grants: &str) -> Result<()> {
    let account = format!("{}@{}", quote(&creds.user), quote(host));
    for sql in [
        format!(
            "CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {}",
            quote(&creds.password)
        ),
        format!(
            "ALTER USER {account} IDENTIFIED BY {}",
            quote(&creds.password)
        ),
        format!("GRANT {grants} ON *.* TO {account}"),
    ] {
        conn.query(&sql)
            .map_err(redacted("creating an account", &creds.password))?;
    }
    Ok(())
}

/// The account a replica in the seed's mode creates on its source. Every
/// replica derives the same password from the admin password, so replicas
/// never undo each other's account and a restart changes nothing; the
/// derivation is one-way, so the password a replica stores for its
/// replication connection does not give away the source's root password.
fn seed_mode_account(admin: &Credentials) -> Credentials {
    Credentials::derived(
        SEED_MODE_USER,
        "replikit replication account",
        &admin.password,
    )
}

/// The account that seeds replicas and that `replikit verify` reads with,
/// created by the primary beside the replication account. Its password
/// is derived from the replication password, which every node already
/// has, so no new secret needs handing out; one-way, so it does not give
/// the replication password away.
fn donor_account(replication: &Credentials) -> Credentials {
    Credentials::derived(DONOR_USER, "replikit donor account", &replication.password)
}

/// The account a replica reads its source with: the donor account, or the
/// source's admin in the seed's mode.
pub fn reader_account(access: &SourceAccess) -> Credentials {
    match access {
        SourceAccess::Account(creds) => donor_account(creds),
        SourceAccess::Admin(admin) => admin.clone(),
    }
}

const DONOR_USER: &str = "replikit_donor";

/// The name of the account a replica in the seed's mode creates.
const SEED_MODE_USER: &str = "replikit_repl";

/// Logs in to the source as its admin and creates the seed mode's account.
fn create_account_on_source(
    r: &Replica,
    source: &Source,
    admin: &Credentials,
    local: &Local,
) -> Result<Credentials> {
    let creds = seed_mode_account(admin);
    let mut conn = log_in(source, admin).map_err(|text| {
        if text.contains("server error 1045") {
            permanent(format!(
                "the source refused {}'s password (MYSQL_MASTER_ROOT_PASSWORD, else MYSQL_ROOT_PASSWORD): {text}; \
                 set the source's root password, or give MYSQL_REPL_USER and MYSQL_REPL_PASSWORD instead",
                admin.user
            ))
        } else {
            anyhow!("logging in to the source: {text}")
        }
    })?;
    create_account(&mut conn, &creds, local.repl_host, REPLICA_GRANTS)?;
    log::info!(
        "seed mode: replication account {} for hosts {} is ready on {}:{}",
        creds.user,
        local.repl_host,
        r.source_host,
        r.source_port
    );
    Ok(creds)
}

fn set_up_replica(r: &Replica, local: &Local) -> Result<String> {
    let mut conn = wait_for_local_server(local, r.root_password.as_deref().unwrap_or(""))?;
    let mine = Dialect::new(ServerVersion::parse(&conn.server_version)?)?;
    let source = wait_for_source(&r.source_host, r.source_port, local.deadline)?;
    if source.version.product != mine.version.product {
        return Err(permanent(format!(
            "the source {}:{} (MYSQL_MASTER_HOST) runs {} but this replica runs {}; replicate between servers of one product",
            r.source_host, r.source_port, source.version, mine.version
        )));
    }
    // The seed's mode creates its account on the source only when needed.
    let credentials = || -> Result<Credentials> {
        match &r.access {
            SourceAccess::Account(creds) => Ok(creds.clone()),
            SourceAccess::Admin(admin) => create_account_on_source(r, &source, admin, local),
        }
    };
    // A set-up left by an interrupted seed points at a partial copy.
    let interrupted = seed::interrupted(&mut conn)?;
    let status = if interrupted {
        None
    } else {
        ReplicaState::from_rows(&conn.query(mine.replica_status())?)
    };
    log::debug!("replica status before set-up: {status:?}");
    match plan(status.as_ref(), &r.source_host, r.source_port) {
        Plan::LeaveAlone => {}
        Plan::Broken(error) => {
            return Err(permanent(format!(
                "replication from {}:{} stopped on an error: {error}",
                r.source_host, r.source_port
            )))
        }
        Plan::OtherSource(current) => {
            return Err(permanent(format!(
                "this replica follows {current}, not {}:{}; it is not repointed silently: run {} and RESET REPLICA ALL on it first",
                r.source_host,
                r.source_port,
                mine.stop_replica()
            )))
        }
        Plan::Start => {
            conn.query(mine.start_replica())?;
        }
        Plan::UpdateCredentials => {
            log::info!("the source refused the stored replication credentials; storing the ones given");
            let creds = credentials()?;
            let change = mine
                .change_credentials(&creds.user, &creds.password)
                .map_err(|e| permanent(format!("{e:#}")))?;
            conn.query(mine.stop_replica())?;
            conn.query(SESSION_SQL_MODE)?;
            conn.query(&change)
                .map_err(redacted("storing new replication credentials", &creds.password))?;
            conn.query(mine.start_replica())?;
        }
        Plan::Configure => {
            let creds = credentials()?;
            let checked = match local.tls {
                Tls::Off => wait_until_writable(r, &source, &creds, local.deadline)?,
                _ => None,
            };
            let position = choose_position(&mut conn, &mine, r, &source, checked, &creds, local)?;
            let seeded = seed_if_needed(&mut conn, &mine, r, &source, interrupted, local)?;
            let position = match &seeded {
                Some(seeded) => seeded_position(&mut conn, &mine, &seeded.at, position)?,
                None => position,
            };
            point_at_source(&mut conn, &mine, r, &creds, position, local)?;
            if let Some(seeded) = &seeded {
                seed::settle_copied_events(&mut conn, &mine, seeded.events_paused)?;
                seed::finish_local(&mut conn)?;
                seed::record(&mut conn, &seeded.how)?;
                log::info!("seeding: done ({}); replicating from the snapshot's position", seeded.how);
            }
        }
    }
    monitor::ensure(
        &mut conn,
        local.socket,
        &mine,
        r.root_password.as_deref().unwrap_or(""),
    )?;
    conn.query(mine.set_read_only())?;
    Ok(format!(
        "replica of {}:{} ({})",
        r.source_host, r.source_port, source.version
    ))
}

/// MySQL's `@@GLOBAL.gtid_mode` of the server behind `conn`; None on MariaDB.
pub fn gtid_mode(conn: &mut Conn, d: &Dialect) -> Result<Option<String>> {
    match d.gtid_mode_query() {
        Some(query) => Ok(conn.query(query)?.get(0, "gtid_mode").map(str::to_string)),
        None => Ok(None),
    }
}

/// GTIDs where both sides have them, else binary log coordinates.
/// `on_source`: a log-in to the source already made, if any.
fn choose_position(
    conn: &mut Conn,
    d: &Dialect,
    r: &Replica,
    source: &Source,
    on_source: Option<Conn>,
    creds: &Credentials,
    local: &Local,
) -> Result<Position<'static>> {
    Ok(match d.gtid_mode_query() {
        // MariaDB: GTIDs are always there.
        None => Position::Gtid,
        Some(_) => {
            let mine = gtid_mode(conn, d)?;
            let theirs = match (on_source, local.tls) {
                (Some(mut source), _) => gtid_mode(&mut source, d)?,
                (None, Tls::Off) => {
                    let mut source = log_in_to_source(r, source, creds, local.deadline)?;
                    gtid_mode(&mut source, d)?
                }
                // replikit's own client speaks no TLS, and an account that
                // requires it refuses us: the replica's I/O thread reports
                // a mismatch instead.
                _ => {
                    log::info!("REPLIKIT_REPL_SSL is set, so the source's gtid_mode is not checked; assuming it is this replica's ({mine:?})");
                    mine.clone()
                }
            };
            positioning(theirs.as_deref(), mine.as_deref())
                .map_err(|e| permanent(format!("{e:#}")))?
        }
    })
}

/// Seeds this replica when `seed::decide` says so; the snapshot's
/// coordinates, or None when it replicates directly.
fn seed_if_needed(
    conn: &mut Conn,
    d: &Dialect,
    r: &Replica,
    source: &Source,
    interrupted: bool,
    local: &Local,
) -> Result<Option<Seeded>> {
    if local.seed == seed::Method::None && !interrupted {
        log::info!("not seeding: REPLIKIT_SEED=none");
        return Ok(None);
    }
    // A clone that completed (the server restarted on it) is the seed,
    // even if replikit was stopped before it could point it at the source.
    if d.version.product == Product::MySql && !interrupted {
        if let Some(at) = completed_clone(conn, r)? {
            return Ok(Some(at));
        }
    }
    let reader = reader_account(&r.access);
    // The primary creates the donor account as it creates the replication
    // account; a primary not run by replikit has none.
    let patience = local.deadline.min(Instant::now() + Duration::from_secs(60));
    let mut from = match log_in_to_source(r, source, &reader, patience) {
        Ok(c) => c,
        Err(e) if local.seed == seed::Method::Auto && !interrupted => {
            log::warn!(
                "not seeding: cannot read the source as {} (replikit on the primary creates that account): {e:#}",
                reader.user
            );
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    // Queries on the source speak its dialect: it may be of an older
    // series than this replica (a MySQL 5.7 source has no
    // information_schema_stats_expiry, for one).
    let source_dialect = Dialect::new(source.version)?;
    let mut theirs = seed::source_facts(&mut from, &source_dialect)?;
    let facts = seed::Facts {
        local_schemas: seed::user_schemas(conn)?,
        interrupted,
        source_schemas: theirs.schemas.clone(),
        source_purged: theirs.purged,
    };
    let why = match seed::decide(local.seed, &facts) {
        Decision::Direct(why) => {
            log::info!("not seeding: {why}");
            return Ok(None);
        }
        Decision::Refuse(why) => return Err(permanent(why)),
        Decision::Seed(why) => why,
    };
    // Nothing to copy: the source's position is the whole snapshot (a
    // dump tool refuses an empty list of schemas). Clone, when asked for,
    // still copies what it copies (accounts, settings).
    if theirs.schemas.is_empty() && local.seed != seed::Method::Clone {
        match seed::position_without_data(&mut from, &source_dialect, theirs.mysql_gtids)? {
            Some(snapshot) => return seed_without_data(conn, d, r, snapshot, &why).map(Some),
            // A schema was created meanwhile: copy it after all.
            None => theirs = seed::source_facts(&mut from, &source_dialect)?,
        }
    }
    let ability = seed::CloneAbility {
        mine: d.version,
        theirs: source.version,
        restartable: local.restartable,
        source_plugin: source.version.product == Product::MySql && clone::plugin_active(&mut from)?,
    };
    let bytes = seed::source_size(&mut from, &source_dialect)?;
    drop(from);
    if seed::via(local.seed, &ability).map_err(permanent)? == Via::Clone {
        announce("clone", r, &theirs, bytes, &why);
        if let Some(seeded) = seed_by_clone(conn, r, &reader, local)? {
            return Ok(Some(seeded));
        }
    }
    announce("a dump", r, &theirs, bytes, &why);
    conn.set_timeout(Duration::from_secs(3600))?;
    let events_paused = seed::pause_events(conn)?;
    seed::prepare_local(conn, d)?;
    let job = dump::Job {
        dialect: d,
        source: dump::Login {
            // By name, as the replica's own server connects (a CA check
            // matches the name).
            host: &r.source_host,
            port: source.addr.port(),
            user: &reader.user,
            password: &reader.password,
            tls: local.tls,
        },
        local_socket: local.socket,
        local_password: r.root_password.as_deref().unwrap_or(""),
        schemas: &theirs.schemas,
        mysql_gtids: theirs.mysql_gtids,
        estimate: bytes,
    };
    let started = Instant::now();
    let copied = dump::copy(&job).map_err(|e| anyhow!("{}", hide(&e, &reader.password)))?;
    conn.set_timeout(Duration::from_secs(5))?;
    Ok(Some(Seeded {
        at: copied.coordinates,
        how: format!(
            "dump from {}:{}, {} bytes in {:.1} s",
            r.source_host,
            r.source_port,
            copied.bytes,
            started.elapsed().as_secs_f64()
        ),
        events_paused,
    }))
}

/// Seeds a replica of a source without user data: its history goes, and
/// it starts where the source's binary log stands.
fn seed_without_data(
    conn: &mut Conn,
    d: &Dialect,
    r: &Replica,
    snapshot: seed::EmptySnapshot,
    why: &str,
) -> Result<Seeded> {
    log::info!(
        "seeding from {}:{} with its current position alone, as it holds no user data: {why}",
        r.source_host,
        r.source_port
    );
    seed::prepare_local(conn, d)?;
    if let Some(set) = snapshot.mysql_gtid_set.filter(|set| !set.is_empty()) {
        conn.query(&format!("SET GLOBAL gtid_purged = {}", quote(&set)))?;
    }
    Ok(Seeded {
        at: snapshot.at,
        how: format!(
            "position of {}:{}, no user data to copy",
            r.source_host, r.source_port
        ),
        // No user schema, so no event came along.
        events_paused: false,
    })
}

/// The log line that says a seed begins, how, and why.
fn announce(how: &str, r: &Replica, theirs: &seed::SourceFacts, bytes: u64, why: &str) {
    log::info!(
        "seeding from {}:{} with {how} ({} schemas, about {} MiB): {why}",
        r.source_host,
        r.source_port,
        theirs.schemas.len(),
        bytes / (1024 * 1024)
    );
}

/// Clones the source, waits for the server to start again on the clone,
/// and returns the seed; None when the clone failed under
/// REPLIKIT_SEED=auto, so that a dump seeds instead.
fn seed_by_clone(
    conn: &mut Conn,
    r: &Replica,
    donor: &Credentials,
    local: &Local,
) -> Result<Option<Seeded>> {
    let started = Instant::now();
    let root_password = r.root_password.as_deref().unwrap_or("");
    let login = clone::LocalLogin {
        socket: local.socket,
        password: root_password,
    };
    match clone::clone_from(
        conn,
        &login,
        &r.source_host,
        r.source_port,
        donor,
        local.tls,
    ) {
        Ok(()) => {}
        Err(e) if local.seed == seed::Method::Auto => {
            log::warn!("{e:#}; seeding with a dump instead");
            return Ok(None);
        }
        Err(e) => return Err(e),
    }
    log::info!(
        "seeding: the clone took {:.1} s; waiting for the server to start on the cloned data \
         (it now has the source's accounts: root's password is the source's)",
        started.elapsed().as_secs_f64()
    );
    *conn = wait_for_local_server(local, root_password)?;
    let Some(mut seeded) = completed_clone(conn, r)? else {
        bail!(
            "the server restarted, but shows no completed clone of {}:{}",
            r.source_host,
            r.source_port
        );
    };
    seeded.how = format!(
        "clone from {}:{} in {:.1} s",
        r.source_host,
        r.source_port,
        started.elapsed().as_secs_f64()
    );
    Ok(Some(seeded))
}

/// A seed: where replication starts, how it was done (for the record),
/// and whether the event scheduler was paused for it.
struct Seeded {
    at: dump::Coordinates,
    how: String,
    events_paused: bool,
}

/// The source coordinates of a completed clone of this replica's source.
fn completed_clone(conn: &mut Conn, r: &Replica) -> Result<Option<Seeded>> {
    Ok(
        clone::cloned_from(conn, &r.source_host, r.source_port)?.map(|(file, pos)| {
            log::info!(
                "seeding: this server holds a completed clone of {}:{}",
                r.source_host,
                r.source_port
            );
            Seeded {
                at: dump::Coordinates {
                    file: Some(file),
                    pos: Some(pos),
                    mariadb_gtid: None,
                },
                how: format!("clone from {}:{}", r.source_host, r.source_port),
                // Paused, if need be, once the set-up sees the events.
                events_paused: false,
            }
        }),
    )
}

/// Where a seeded replica starts: GTID auto-positioning where `chosen`
/// says GTIDs (MariaDB's position set from the snapshot first; MySQL's came
/// with it), else the snapshot's binary log coordinates.
fn seeded_position<'a>(
    conn: &mut Conn,
    d: &Dialect,
    at: &'a dump::Coordinates,
    chosen: Position<'static>,
) -> Result<Position<'a>> {
    if chosen != Position::Gtid {
        return match (&at.file, at.pos) {
            (Some(file), Some(pos)) => Ok(Position::File { file, pos }),
            _ => Err(permanent(
                "the snapshot did not give the source's binary log position; the seed cannot be trusted".into(),
            )),
        };
    }
    if d.version.product == Product::MariaDb {
        let Some(gtid) = &at.mariadb_gtid else {
            return Err(permanent(
                "the dump did not give the source's GTID position; the seed cannot be trusted"
                    .into(),
            ));
        };
        conn.query(&format!("SET GLOBAL gtid_slave_pos = {}", quote(gtid)))?;
    }
    Ok(Position::Gtid)
}

/// Points this replica at its source from `position` and starts it.
fn point_at_source(
    conn: &mut Conn,
    d: &Dialect,
    r: &Replica,
    creds: &Credentials,
    position: Position,
    local: &Local,
) -> Result<()> {
    if position == Position::OldestBinlog {
        log::info!("no GTIDs: replicating from the start of the source's oldest binary log");
    }
    let spec = SourceSpec {
        host: &r.source_host,
        port: r.source_port,
        user: &creds.user,
        password: &creds.password,
        position,
        tls: local.tls,
    };
    let change = d
        .change_source(&spec)
        .map_err(|e| permanent(format!("{e:#}")))?;
    conn.query(SESSION_SQL_MODE)?;
    conn.query(&change)
        .map_err(redacted("configuring replication", &creds.password))?;
    conn.query(d.start_replica())?;
    Ok(())
}

/// A server error about a statement that holds a password, with the
/// password blanked out: some messages quote the offending value (MySQL's
/// error 1525 does).
fn redacted<'a>(
    what: &'static str,
    secret: &'a str,
) -> impl Fn(anyhow::Error) -> anyhow::Error + 'a {
    move |e| anyhow!("{what} failed: {}", hide(&e, secret))
}

/// An error's text with `secret` blanked out.
fn hide(e: &anyhow::Error, secret: &str) -> String {
    let text = format!("{e:#}");
    if secret.is_empty() {
        text
    } else {
        text.replace(secret, "***")
    }
}

/// Waits until the real server (not the first start's temporary one, which
/// runs with --skip-networking) answers on the socket.
fn wait_for_local_server(local: &Local, password: &str) -> Result<Conn> {
    let what = format!("the local server at {}", local.socket.display());
    retry_until(local.deadline, &what, || {
        let mut conn = Conn::connect(local.socket, "root", password, Duration::from_secs(5))
            .map_err(|e| format!("{e:#}"))?;
        match conn.query("SELECT @@skip_networking AS s") {
            Ok(rows) if rows.get(0, "s") == Some("0") => Ok(conn),
            Ok(_) => Err("the server is the temporary one of first start-up".to_string()),
            Err(e) => Err(format!("{e:#}")),
        }
    })
}

/// Logs in to the source with the replication account, waiting while it
/// refuses: the primary may not have created the account yet.
fn log_in_to_source(
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
fn wait_until_writable(
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
        // An account that only the I/O thread can use (one that requires
        // TLS, which replikit's client does not speak) leaves this unknown;
        // the replica's own errors then say what is wrong.
        let mut conn = match log_in(source, creds) {
            Ok(conn) => conn,
            Err(e) => {
                log::info!("cannot check whether the source takes writes: {e}");
                return Ok(None);
            }
        };
        let rows = conn
            .query("SELECT @@GLOBAL.read_only AS ro")
            .map_err(|e| format!("{e:#}"))?;
        match rows.get(0, "ro") {
            Some("0") => Ok(Some(conn)),
            _ => Err(
                "it is read-only, so it is a replica, not the primary; point MYSQL_MASTER_HOST at the primary"
                    .to_string(),
            ),
        }
    })
}

/// One log-in to the source over TCP; the error's text never holds the password.
fn log_in(source: &Source, creds: &Credentials) -> Result<Conn, String> {
    Conn::connect_tcp(
        source.addr,
        &creds.user,
        &creds.password,
        Duration::from_secs(5),
    )
    .map_err(|e| hide(&e, &creds.password))
}

/// Logs in to a replica's source as the account that reads it (see
/// `reader_account`), once.
pub fn read_source(r: &Replica, timeout: Duration) -> Result<Conn> {
    let creds = reader_account(&r.access);
    let addr = resolve(&r.source_host, r.source_port)?;
    Conn::connect_tcp(addr, &creds.user, &creds.password, timeout).map_err(|e| {
        anyhow!(
            "cannot read the source {}:{} as {}: {}",
            r.source_host,
            r.source_port,
            creds.user,
            hide(&e, &creds.password)
        )
    })
}

/// The source as its greeting found it: where it is and what it runs.
struct Source {
    addr: SocketAddr,
    version: ServerVersion,
}

/// Waits until the source greets us; returns its version.
fn wait_for_source(host: &str, port: u16, deadline: Instant) -> Result<Source> {
    let what = format!("the source {host}:{port} (MYSQL_MASTER_HOST, MYSQL_MASTER_PORT)");
    let (addr, greeting) = retry_until(deadline, &what, || {
        resolve(host, port)
            .and_then(|addr| Ok((addr, wire::probe(addr, Duration::from_secs(5))?)))
            .map_err(|e| format!("{e:#}"))
    })?;
    Ok(Source {
        addr,
        version: ServerVersion::parse(&greeting)?,
    })
}

/// Tries `attempt` until it succeeds or `deadline` passes, waiting
/// FIRST_WAIT doubling up to MAX_WAIT in between, and logging the last
/// error every PROGRESS_EVERY.
fn retry_until<T>(
    deadline: Instant,
    what: &str,
    mut attempt: impl FnMut() -> Result<T, String>,
) -> Result<T> {
    let mut wait = FIRST_WAIT;
    let mut last_report = Instant::now();
    loop {
        let error = match attempt() {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            bail!("{what} did not become ready: {error}");
        }
        if last_report.elapsed() >= PROGRESS_EVERY {
            log::info!("waiting for {what}: {error}");
            last_report = Instant::now();
        }
        std::thread::sleep(wait);
        wait = (wait * 2).min(MAX_WAIT);
    }
}

/// The source's address: by name through the hosts file and DNS, never
/// through glibc's NSS (see `resolve`).
fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    let ip = crate::resolve::lookup(host, Duration::from_secs(2))
        .with_context(|| format!("MYSQL_MASTER_HOST={host:?}"))?
        .into_iter()
        .next()
        .context("no address")?;
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(host: &str, port: u16, io: &str, sql: &str, error: &str) -> ReplicaState {
        ReplicaState {
            source_host: host.into(),
            source_port: port,
            io_running: io.into(),
            sql_running: sql.into(),
            lag_seconds: None,
            source_log_file: String::new(),
            source_log_pos: 0,
            gtid: String::new(),
            io_error: None,
            sql_error: (!error.is_empty()).then(|| LastError {
                thread: "sql",
                number: 1,
                message: error.into(),
                time: None,
            }),
        }
    }

    use crate::node_status::LastError;

    #[test]
    fn plans() {
        let cases = [
            (None, Plan::Configure),
            (
                Some(status("db1", 3306, "Yes", "Yes", "")),
                Plan::LeaveAlone,
            ),
            (
                Some(status("DB1", 3306, "Connecting", "Yes", "")),
                Plan::LeaveAlone,
            ),
            (
                Some(status("db1", 3306, "Connecting", "Yes", "error connecting")),
                Plan::LeaveAlone,
            ),
            (Some(status("db1", 3306, "No", "No", "")), Plan::Start),
            (
                Some(status("db1", 3306, "No", "Yes", "Access denied")),
                Plan::Start,
            ),
            (
                Some(status("db1", 3306, "Yes", "No", "Duplicate entry")),
                Plan::Broken("Duplicate entry".into()),
            ),
            (
                Some(status("db2", 3306, "Yes", "Yes", "")),
                Plan::OtherSource("db2:3306".into()),
            ),
            (
                Some(status("db1", 3307, "Yes", "Yes", "")),
                Plan::OtherSource("db1:3307".into()),
            ),
        ];
        for (current, want) in cases {
            assert_eq!(plan(current.as_ref(), "db1", 3306), want, "{current:?}");
        }
    }

    #[test]
    fn server_errors_are_shown_without_the_password() {
        let e = anyhow!(wire::ServerError {
            code: 1525,
            message: "Incorrect argument value: 'top secret'".into()
        });
        let shown = format!("{:#}", redacted("configuring replication", "top secret")(e));
        assert_eq!(
            shown,
            "configuring replication failed: server error 1525: Incorrect argument value: '***'"
        );
    }

    #[test]
    fn the_seed_modes_account_is_derived_one_way_and_fits_mysql() {
        let admin = |p: &str| Credentials {
            user: "root".into(),
            password: p.into(),
        };
        let a = seed_mode_account(&admin("rootpw"));
        assert_eq!(a.user, "replikit_repl");
        assert_eq!(a.password.len(), 32);
        assert!(a.password.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!a.password.contains("rootpw"));
        assert_eq!(
            seed_mode_account(&admin("rootpw")),
            a,
            "the same on every replica"
        );
        assert_ne!(seed_mode_account(&admin("rootpw2")).password, a.password);
    }

    #[test]
    fn default_account_host_is_the_seeds_pattern() {
        assert_eq!(
            default_repl_host(Some("10.0.1.5".parse().unwrap())),
            "10.0.%.%"
        );
        assert_eq!(default_repl_host(Some("fd00::5".parse().unwrap())), "%");
        assert_eq!(default_repl_host(None), "%");
    }

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
