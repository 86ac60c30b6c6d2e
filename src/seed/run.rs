//! Seeding, from start to end: log in to the source as the reader account,
//! gather the facts, `decide`, then copy by clone or by a dump (or, from a
//! source without user data, take its position alone), and say where
//! replication starts.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::accounts;
use crate::config::role::{Credentials, Replica};
use crate::db::dialect::Dialect;
use crate::db::error::without_secret;
use crate::db::sql::quote;
use crate::db::wire::Conn;
use crate::replication::retry::permanent;
use crate::replication::source::{log_in_to_source, Source};
use crate::replication::{wait_for_local_server, Job};
use crate::seed::decide::{self, CloneAbility, CopyBy, Decision, Facts, Method};
use crate::seed::source::{self as facts, EmptySnapshot, SourceFacts};
use crate::seed::{clone, dump, events, image_own, physical, record, tool_options, user_schemas};

/// A seed: where replication starts, how it was done (for the record),
/// and whether the event scheduler was paused for it.
pub struct Seeded {
    pub at: dump::Coordinates,
    pub how: String,
    pub events_paused: bool,
    /// A file that names the seed's position until replication runs from
    /// it (a physical copy's), removed then.
    pub position_file: Option<std::path::PathBuf>,
}

/// Seeds this replica when `decide` says so; the snapshot's coordinates,
/// or None when it replicates directly. After a copy of the source's
/// data, what the image made for this node alone is put back.
pub fn seed_if_needed(
    conn: &mut Conn,
    d: &Dialect,
    r: &Replica,
    source: &Source,
    interrupted: bool,
    job: &Job,
) -> Result<Option<Seeded>> {
    let seeded = seed_as_decided(conn, d, r, source, interrupted, job)?;
    if seeded.is_some() {
        let datadir = local_datadir(conn)?;
        image_own::put_back(conn, d, &datadir)?;
    }
    Ok(seeded)
}

fn seed_as_decided(
    conn: &mut Conn,
    d: &Dialect,
    r: &Replica,
    source: &Source,
    interrupted: bool,
    job: &Job,
) -> Result<Option<Seeded>> {
    if job.seed == Method::None && !interrupted {
        log::info!("not seeding: REPLIKIT_SEED=none");
        return Ok(None);
    }
    // A clone that completed (the server restarted on it) is the seed,
    // even if replikit was stopped before it could point it at the source.
    if d.version.has_clone() && !interrupted {
        if let Some(at) = completed_clone(conn, r)? {
            return Ok(Some(at));
        }
    }
    if d.version.copies_physically_from(&d.version) && !interrupted {
        if let Some(at) = completed_physical(r, job)? {
            return Ok(Some(at));
        }
    }
    let reader = accounts::reader(&r.access, job.cluster);
    let Some(mut from) = log_in_as_reader(r, source, &reader, interrupted, job)? else {
        return Ok(None);
    };
    // Queries on the source speak its dialect: it may be of an older
    // series than this replica (a MySQL 5.7 source has no
    // information_schema_stats_expiry, for one).
    let source_dialect = Dialect::new(source.version)?;
    let mut theirs = facts::source_facts(&mut from, &source_dialect)?;
    let facts = Facts {
        local_schemas: user_schemas(conn)?,
        interrupted,
        source_schemas: theirs.schemas.clone(),
        source_purged: theirs.purged,
    };
    let why = match decide::decide(job.seed, &facts) {
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
    if theirs.schemas.is_empty() && job.seed != Method::Clone {
        match facts::position_without_data(&mut from, &source_dialect, theirs.mysql_gtids)? {
            Some(snapshot) => return seed_without_data(conn, d, r, snapshot, &why).map(Some),
            // A schema was created meanwhile: copy it after all.
            None => theirs = facts::source_facts(&mut from, &source_dialect)?,
        }
    }
    let datadir = local_datadir(conn)?;
    let ability = CloneAbility {
        mine: d.version,
        theirs: source.version,
        restartable: job.restartable,
        source_plugin: source.version.has_clone() && clone::plugin_active(&mut from)?,
        physical_obstacle: physical::obstacle(job.donor_port, job.datadir, &datadir),
    };
    let bytes = facts::source_size(&mut from, &source_dialect)?;
    drop(from);
    match decide::copy_by(job.seed, &ability).map_err(permanent)? {
        CopyBy::Clone => {
            announce("clone", r, &theirs, bytes, &why);
            image_own::save(conn, d, &datadir)?;
            if let Some(seeded) = seed_by_clone(conn, d, r, source, &reader, job)? {
                return Ok(Some(seeded));
            }
        }
        CopyBy::Physical => {
            announce("a physical copy", r, &theirs, bytes, &why);
            image_own::save(conn, d, &datadir)?;
            if let Some(seeded) = seed_physically(conn, r, source, &datadir, bytes, job)? {
                return Ok(Some(seeded));
            }
        }
        CopyBy::Dump => {}
    }
    announce("a dump", r, &theirs, bytes, &why);
    seed_by_dump(conn, d, r, source, &reader, &theirs, bytes, job).map(Some)
}

/// Logs in to the source as the account that reads it. The primary
/// creates the donor account as it creates the replication account; a
/// primary not run by replikit has none, and under REPLIKIT_SEED=auto the
/// replica then replicates without a seed (None).
fn log_in_as_reader(
    r: &Replica,
    source: &Source,
    reader: &Credentials,
    interrupted: bool,
    job: &Job,
) -> Result<Option<Conn>> {
    let patience = job.deadline.min(Instant::now() + Duration::from_secs(60));
    match log_in_to_source(r, source, reader, patience) {
        Ok(c) => Ok(Some(c)),
        Err(e) if job.seed == Method::Auto && !interrupted => {
            log::warn!(
                "not seeding: cannot read the source as {} (replikit on the primary creates that account): {e:#}",
                reader.user
            );
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Copies the source with its dump tool into the local server, the event
/// scheduler paused and the marker in place meanwhile.
#[allow(clippy::too_many_arguments)]
fn seed_by_dump(
    conn: &mut Conn,
    d: &Dialect,
    r: &Replica,
    source: &Source,
    reader: &Credentials,
    theirs: &SourceFacts,
    bytes: u64,
    job: &Job,
) -> Result<Seeded> {
    conn.set_timeout(Duration::from_secs(3600))?;
    let events_paused = events::pause_events(conn)?;
    record::prepare_local(conn, d)?;
    let dump_job = dump::Job {
        dialect: d,
        source: tool_options::Login {
            // By name, as the replica's own server connects (a CA check
            // matches the name).
            host: &r.source_host,
            port: source.addr.port(),
            user: &reader.user,
            password: &reader.password,
            tls: source.tls(),
            public_key: source.key_path.as_deref(),
        },
        local: job.local,
        schemas: &theirs.schemas,
        mysql_gtids: theirs.mysql_gtids,
        estimate: bytes,
    };
    let started = Instant::now();
    let copied = dump::copy(&dump_job).map_err(|e| without_secret(e, &reader.password))?;
    conn.set_timeout(Duration::from_secs(5))?;
    Ok(Seeded {
        at: copied.coordinates,
        how: format!(
            "dump from {}:{}, {} bytes in {:.1} s",
            r.source_host,
            r.source_port,
            copied.bytes,
            started.elapsed().as_secs_f64()
        ),
        events_paused,
        position_file: None,
    })
}

/// Seeds a replica of a source without user data: its history goes, and
/// it starts where the source's binary log stands.
fn seed_without_data(
    conn: &mut Conn,
    d: &Dialect,
    r: &Replica,
    snapshot: EmptySnapshot,
    why: &str,
) -> Result<Seeded> {
    log::info!(
        "seeding from {}:{} with its current position alone, as it holds no user data: {why}",
        r.source_host,
        r.source_port
    );
    record::prepare_local(conn, d)?;
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
        position_file: None,
    })
}

/// The log line that says a seed begins, how, and why.
fn announce(how: &str, r: &Replica, theirs: &SourceFacts, bytes: u64, why: &str) {
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
    d: &Dialect,
    r: &Replica,
    source: &Source,
    donor: &Credentials,
    job: &Job,
) -> Result<Option<Seeded>> {
    let started = Instant::now();
    match clone::clone_from(
        conn,
        d,
        job.local,
        &r.source_host,
        r.source_port,
        donor,
        source.tls(),
    ) {
        Ok(()) => {}
        Err(e) if job.seed == Method::Auto => {
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
    *conn = wait_for_local_server(job)?.0;
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

/// The server's data directory.
fn local_datadir(conn: &mut Conn) -> Result<std::path::PathBuf> {
    let rows = conn.query("SELECT @@datadir AS d")?;
    Ok(rows.get(0, "d").unwrap_or_default().into())
}

/// Asks the source's replikit for a physical copy and waits for the
/// server to start on it; None when the donor declined under
/// REPLIKIT_SEED=auto, so that a dump seeds instead.
fn seed_physically(
    conn: &mut Conn,
    r: &Replica,
    source: &Source,
    datadir: &std::path::Path,
    bytes: u64,
    job: &Job,
) -> Result<Option<Seeded>> {
    let port = job.donor_port.expect("no obstacle: the port is set");
    let donor = physical::recipient::Donor {
        addr: std::net::SocketAddr::new(source.addr.ip(), port),
        tls: source.tls(),
        host: &r.source_host,
    };
    let key = physical::replica_key(&r.access, job.cluster);
    let started = Instant::now();
    let outcome = physical::recipient::seed(conn, &donor, &key, datadir, bytes, job);
    let (gtid, copied) = match outcome {
        Ok(physical::recipient::Outcome::Copied { gtid, bytes }) => (gtid, bytes),
        Ok(physical::recipient::Outcome::Declined(why)) if job.seed == Method::Auto => {
            log::warn!("{why}; seeding with a dump instead");
            return Ok(None);
        }
        // REPLIKIT_SEED=physical: try again later, as for any wait.
        Ok(physical::recipient::Outcome::Declined(why)) => bail!("{why}"),
        Err(e) if job.seed == Method::Auto && !crate::replication::retry::is_permanent(&e) => {
            log::warn!("physical seed: {e:#}; seeding with a dump instead");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    log::info!(
        "seeding: the server runs on the copy (it now has the source's accounts: root's password is the source's)"
    );
    Ok(Some(Seeded {
        at: gtid_coordinates(gtid),
        how: format!(
            "physical copy from {}:{}, {copied} bytes in {:.1} s",
            r.source_host,
            r.source_port,
            started.elapsed().as_secs_f64()
        ),
        events_paused: false,
        position_file: Some(datadir.join(physical::POSITION_FILE)),
    }))
}

fn gtid_coordinates(gtid: String) -> dump::Coordinates {
    dump::Coordinates {
        file: None,
        pos: None,
        mariadb_gtid: Some(gtid),
    }
}

/// A physical copy already in place (replikit stopped after the move,
/// before replication ran from it): its position.
fn completed_physical(r: &Replica, job: &Job) -> Result<Option<Seeded>> {
    let file = job.datadir.join(physical::POSITION_FILE);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(None);
    };
    let gtid = text.trim().to_string();
    if gtid.split(',').any(|g| g.split('-').count() != 3) {
        bail!(
            "{} does not hold a GTID position; remove it and the data to seed again",
            file.display()
        );
    }
    log::info!(
        "seeding: this server holds a physical copy of {}:{} taken at {gtid}",
        r.source_host,
        r.source_port
    );
    Ok(Some(Seeded {
        at: gtid_coordinates(gtid),
        how: format!("physical copy from {}:{}", r.source_host, r.source_port),
        events_paused: false,
        position_file: Some(file),
    }))
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
                position_file: None,
            }
        }),
    )
}
