//! Every account replikit manages, in one place: who it is, where it may
//! log in from, what it may do, how its password is derived, and the one
//! routine that creates or updates it.
//!
//! | account | on | grants | password |
//! |---|---|---|---|
//! | the replication account (`MYSQL_REPL_USER`) | the primary | REPLICATION SLAVE | given |
//! | `replikit_donor` | the primary | reading each user schema for a dump, never the credential tables (`donor`); BACKUP_ADMIN for clone | derived from the replication password |
//! | `replikit_repl` | the source, in root-credentials mode | REPLICATION SLAVE | derived from the source's root password |
//! | `replikit_local`@`localhost` | every node, outside the binary log (`local_access`) | everything | random at every container start |
//! | `replikit_monitor`@`localhost` | every node, outside the binary log | replication status only | derived from the local log-in's password |
//!
//! A derived password is one-way: every node that knows the secret derives
//! the same one, and nobody can go back to the secret.

pub mod donor_privileges;
pub mod local_access;

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Result;

use crate::config::role::{Credentials, Role, SourceAccess};
use crate::config::settings::Settings;
use crate::db::dialect::Dialect;
use crate::db::error::redacted;
use crate::db::local::LocalServer;
use crate::db::sql::quote;
use crate::db::wire::Conn;
use crate::exit_code::Fatal;
use crate::identity;

pub const DONOR_USER: &str = "replikit_donor";
/// The replication account a replica in root-credentials mode creates.
pub const ROOT_MODE_USER: &str = "replikit_repl";
pub const MONITOR_USER: &str = "replikit_monitor";

/// Reading the binary log is all a replica needs, with GTIDs or without.
pub const REPLICA_GRANTS: &str = "REPLICATION SLAVE";

/// PBKDF2-HMAC-SHA256 rounds for a password that a stolen copy must not
/// lead back from: each guess at the secret costs an attacker this much
/// (about 0.1 s of one core here; docs/benchmarks.md).
const SLOW_ROUNDS: u32 = 300_000;

/// An account whose password is derived one-way from `secret`, salted by
/// `label` (each kind of account's password apart) and the cluster's name,
/// with `rounds` of PBKDF2.
fn derived(user: &str, label: &str, secret: &str, cluster: &str, rounds: u32) -> Credentials {
    let salt = format!("replikit\0{cluster}\0{label}");
    let mut key = [0u8; 16];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(secret.as_bytes(), salt.as_bytes(), rounds, &mut key);
    // 32 characters: MySQL's limit for a replication password.
    let password = key.iter().map(|b| format!("{b:02x}")).collect();
    Credentials {
        user: user.into(),
        password,
    }
}

/// The account that seeds replicas and that `replikit verify` reads with,
/// from the replication password, which every node already has, so no new
/// secret needs handing out. One round: the replication password it comes
/// from is stored in clear on every replica anyway, so slowness would
/// protect nothing and cost every set-up a tenth of a second.
pub fn donor(replication: &Credentials, cluster: &str) -> Credentials {
    let label = "replikit donor account";
    derived(DONOR_USER, label, &replication.password, cluster, 1)
}

/// The key of the physical seed's hand-shake (`seed::physical`), from a
/// secret both ends hold: the replication password, or the source's root
/// password in root-credentials mode. Slow (PBKDF2, 300,000 rounds,
/// salted by REPLIKIT_CLUSTER): a recorded hand-shake costs a guesser a
/// tenth of a second a guess.
pub fn seed_key(secret: &str, cluster: &str) -> [u8; 32] {
    let salt = format!("replikit\0{cluster}\0replikit physical seed");
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(secret.as_bytes(), salt.as_bytes(), SLOW_ROUNDS, &mut key);
    key
}

/// The replication account of root-credentials mode. Every replica
/// derives the same password from the admin password, so replicas never
/// undo each other's account and a restart changes nothing; the password
/// a replica stores for its replication connection does not give away the
/// source's root password.
pub fn root_mode_replication(admin: &Credentials, cluster: &str) -> Credentials {
    let label = "replikit replication account";
    derived(ROOT_MODE_USER, label, &admin.password, cluster, SLOW_ROUNDS)
}

/// The account `health`, `status` and the agent log in with, from the
/// password of replikit's local log-in (`local_access`, or root's), so a
/// probe needs no secret of its own and never runs with every privilege.
/// Derived with one round: a probe runs every few seconds, and this
/// password is never stored in clear (only the server's own hash of it, on
/// this node alone).
pub fn monitor(local_password: &str) -> Credentials {
    derived(
        MONITOR_USER,
        "replikit monitor account",
        local_password,
        "",
        1,
    )
}

/// The account a replica reads its source with: the donor account, or the
/// source's admin in root-credentials mode.
pub fn reader(access: &SourceAccess, cluster: &str) -> Credentials {
    match access {
        SourceAccess::Account(creds) => donor(creds, cluster),
        SourceAccess::Admin(admin) => admin.clone(),
    }
}

/// Whether an account goes to the binary log, and so to every replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The primary's accounts: replicas receive them.
    Replicated,
    /// Each node's own (the monitoring account): a replica must not
    /// receive the primary's.
    ThisServer,
}

/// Creates or updates `creds` @ `host` on the server behind `conn` with
/// `grants` on everything, and nothing more. Errors never show the
/// password.
pub fn create_or_update(
    conn: &mut Conn,
    creds: &Credentials,
    host: &str,
    grants: &str,
    scope: Scope,
) -> Result<()> {
    let account = format!("{}@{}", quote(&creds.user), quote(host));
    let statements = |conn: &mut Conn| -> Result<()> {
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
    };
    match scope {
        Scope::Replicated => statements(conn),
        Scope::ThisServer => outside_the_binary_log(conn, statements),
    }
}

/// Runs `work` with this session's binary log off, and on again after,
/// whatever `work` returned.
pub fn outside_the_binary_log<T>(
    conn: &mut Conn,
    work: impl FnOnce(&mut Conn) -> Result<T>,
) -> Result<T> {
    conn.query("SET SESSION sql_log_bin = 0")?;
    let result = work(conn);
    conn.query("SET SESSION sql_log_bin = 1")?;
    result
}

/// Creates or updates the monitoring account on the local server. Every
/// start asks this, so an account that logs in already (the usual case)
/// costs one log-in and nothing is changed. A MySQL replica persisted
/// read-only is opened for root for the moment the change takes
/// (read_only stays on for everyone else).
pub fn ensure_monitor(conn: &mut Conn, local: &LocalServer, d: &Dialect) -> Result<()> {
    let creds = monitor(&local.login.password);
    if Conn::connect(
        &local.socket,
        &creds.user,
        &creds.password,
        Duration::from_secs(5),
    )
    .is_ok()
    {
        return Ok(());
    }
    with_super_read_only_lifted(conn, d, |conn| {
        create_or_update(
            conn,
            &creds,
            "localhost",
            d.replica_monitor_grant(),
            Scope::ThisServer,
        )
    })
}

/// Creates or updates the admin account on this node alone (outside the
/// binary log: every node makes its own at every start), with the
/// privileges `Dialect::admin_grants` lists and the topology record's
/// table, for switchover, failover and rejoin across the network.
pub fn ensure_admin(conn: &mut Conn, d: &Dialect, admin: &Credentials, hosts: &str) -> Result<()> {
    with_super_read_only_lifted(conn, d, |conn| {
        create_or_update(conn, admin, hosts, d.admin_grants(), Scope::ThisServer)?;
        outside_the_binary_log(conn, |conn| {
            conn.query(&format!(
                "GRANT SELECT, INSERT, DELETE, CREATE ON {}.* TO {}@{}",
                crate::replication::topology::SCHEMA,
                quote(&admin.user),
                quote(hosts)
            ))
            .map(drop)
        })
    })
}

/// With peers, `health` and `status` read the node's role from its
/// topology record: the monitoring account may read that schema too, and
/// only there (outside the binary log, as the account itself).
pub fn let_monitor_read_topology(conn: &mut Conn, local: &LocalServer, d: &Dialect) -> Result<()> {
    ensure_monitor(conn, local, d)?;
    let user = monitor(&local.login.password).user;
    with_super_read_only_lifted(conn, d, |conn| {
        outside_the_binary_log(conn, |conn| {
            conn.query(&format!(
                "GRANT SELECT ON {}.* TO {}@'localhost'",
                crate::replication::topology::SCHEMA,
                quote(&user)
            ))
            .map(drop)
        })
    })
}

/// Runs `work` with a MySQL replica's super_read_only lifted, for what only
/// replikit may change there, and puts it back after, whatever `work`
/// returned. read_only stays on for everyone else meanwhile.
pub fn with_super_read_only_lifted<T>(
    conn: &mut Conn,
    d: &Dialect,
    work: impl FnOnce(&mut Conn) -> Result<T>,
) -> Result<T> {
    let lifted = match (d.super_read_only_query(), d.lift_super_read_only()) {
        (Some(query), Some(lift)) if conn.query(query)?.get(0, "super_read_only") == Some("1") => {
            conn.query(lift)?;
            true
        }
        _ => false,
    };
    let result = work(conn);
    if lifted {
        conn.query("SET GLOBAL super_read_only = ON")?;
    }
    result
}

/// Logs in to the local server as the monitoring account, or as root
/// where that fails (the account is not there yet; MySQL then answers
/// with a made-up authentication method rather than "access denied", so
/// any failure counts).
pub fn log_in_as_monitor(local: &LocalServer, timeout: Duration) -> Result<Conn> {
    let creds = monitor(&local.login.password);
    Conn::connect(&local.socket, &creds.user, &creds.password, timeout)
        .or_else(|_| local.log_in(timeout))
}

/// The host pattern of the accounts replicas log in with:
/// REPLIKIT_REPL_HOST, else the legacy scripts' pattern from this node's address
/// (`known`, or found now: with REPLIKIT_SERVER_ID_VIA=off nobody has
/// looked yet). Only a primary and a replica in root-credentials mode
/// create such an account; the others get an empty pattern.
pub fn replica_host_pattern(
    role: &Role,
    settings: &Settings,
    known: Option<IpAddr>,
) -> Result<String, Fatal> {
    let creates_account = match role {
        Role::Primary(_) => true,
        Role::Replica(r) => matches!(r.access, SourceAccess::Admin(_)),
        Role::Standalone => false,
    };
    if !creates_account {
        return Ok(String::new());
    }
    host_pattern(settings, known)
}

/// The host pattern of the cluster's accounts, whoever creates them:
/// REPLIKIT_REPL_HOST, else the legacy scripts' pattern from this node's
/// address (`known`, or found now).
pub fn host_pattern(settings: &Settings, known: Option<IpAddr>) -> Result<String, Fatal> {
    if let Some(host) = &settings.replication.repl_host {
        return Ok(host.clone());
    }
    let address = match known {
        Some(a) => Some(a),
        None => identity::identify(&settings.identity)?
            .address
            .map(|a| a.addr),
    };
    Ok(default_host_pattern(address))
}

/// The legacy scripts' account host pattern: the first two octets of this node's
/// IPv4 address (`10.0.%.%`), or any host when there is none.
pub fn default_host_pattern(addr: Option<IpAddr>) -> String {
    match addr {
        Some(IpAddr::V4(v4)) => {
            let [a, b, _, _] = v4.octets();
            format!("{a}.{b}.%.%")
        }
        _ => "%".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_mode_account_is_derived_one_way_and_fits_mysql() {
        let admin = |p: &str| Credentials {
            user: "root".into(),
            password: p.into(),
        };
        let a = root_mode_replication(&admin("rootpw"), "c1");
        assert_eq!(a.user, "replikit_repl");
        assert_eq!(a.password.len(), 32);
        assert!(a.password.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!a.password.contains("rootpw"));
        assert_eq!(
            root_mode_replication(&admin("rootpw"), "c1"),
            a,
            "the same on every replica"
        );
        assert_ne!(
            root_mode_replication(&admin("rootpw2"), "c1").password,
            a.password
        );
        assert_ne!(
            root_mode_replication(&admin("rootpw"), "c2").password,
            a.password,
            "salted per cluster"
        );
    }

    #[test]
    fn each_kind_of_account_gets_its_own_password_from_one_secret() {
        let secret = Credentials {
            user: "repl".into(),
            password: "s".into(),
        };
        let passwords = [
            donor(&secret, "c").password,
            root_mode_replication(&secret, "c").password,
            monitor("s").password,
        ];
        assert_ne!(passwords[0], passwords[1]);
        assert_ne!(passwords[1], passwords[2]);
        assert_ne!(passwords[0], passwords[2]);
        assert_eq!(donor(&secret, "c").user, DONOR_USER);
        assert_eq!(monitor("s").user, MONITOR_USER);
        assert_eq!(
            reader(&SourceAccess::Account(secret.clone()), "c"),
            donor(&secret, "c")
        );
        assert_eq!(reader(&SourceAccess::Admin(secret.clone()), "c"), secret);
    }

    /// PBKDF2-HMAC-SHA256 as RFC 7914 (section 11) gives it: the
    /// derivation is the standard one, not a look-alike.
    #[test]
    fn the_derivation_is_standard_pbkdf2() {
        let mut key = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"passwd", b"salt", 1, &mut key);
        assert_eq!(key[..8], [0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f]);
    }

    #[test]
    fn default_account_host_is_the_seeds_pattern() {
        assert_eq!(
            default_host_pattern(Some("10.0.1.5".parse().unwrap())),
            "10.0.%.%"
        );
        assert_eq!(default_host_pattern(Some("fd00::5".parse().unwrap())), "%");
        assert_eq!(default_host_pattern(None), "%");
    }
}
