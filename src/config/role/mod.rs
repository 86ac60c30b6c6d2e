//! Which role this node plays and the replication settings that go with it,
//! from the legacy scripts' environment contract and the names of the two best-known
//! images (pure: the environment and files come in as functions, read once
//! into `Settings`).
//!
//! - `MYSQL_MASTER` set and non-empty: the primary.
//! - Otherwise a replica of `MYSQL_MASTER_HOST` (port `MYSQL_MASTER_PORT`,
//!   default 3306).
//! - `REPLIKIT_ROLE=primary|replica|standalone` overrides both.
//!
//! Every secret may come from `NAME_FILE` instead (the official images'
//! convention). Two names given for one setting with different values are
//! an error, and no error ever repeats a secret.

use std::path::Path;

use anyhow::{anyhow, bail, Result};

use crate::identity::hosts::is_host_text;

/// Largest secret file we read: a password, not a log file.
pub const MAX_SECRET_FILE: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Primary(Primary),
    Replica(Replica),
    Standalone,
}

impl Role {
    /// The replication account this node was given (not root-credentials
    /// mode's source admin): what a node of a cluster with peers needs,
    /// since any of them may become a replica of any other.
    pub fn replication_account(&self) -> Option<&Credentials> {
        match self {
            Role::Primary(p) => p.replication.as_ref(),
            Role::Replica(r) => match &r.access {
                SourceAccess::Account(creds) => Some(creds),
                SourceAccess::Admin(_) => None,
            },
            Role::Standalone => None,
        }
    }

    /// This node's own root password, where one is given.
    pub fn root_password(&self) -> Option<&str> {
        match self {
            Role::Primary(p) => p.root_password.as_deref(),
            Role::Replica(r) => r.root_password.as_deref(),
            Role::Standalone => None,
        }
    }

    pub fn name(&self) -> RoleName {
        match self {
            Role::Primary(_) => RoleName::Primary,
            Role::Replica(_) => RoleName::Replica,
            Role::Standalone => RoleName::Standalone,
        }
    }
}

/// A role without its settings; Unknown where the contract gives none
/// (`health` and `status` still work there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleName {
    Primary,
    Replica,
    Standalone,
    Unknown,
}

impl RoleName {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleName::Primary => "primary",
            RoleName::Replica => "replica",
            RoleName::Standalone => "standalone",
            RoleName::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for RoleName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the log may say about a role: never a user's secret.
impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Primary(_) => f.write_str("primary"),
            Role::Replica(r) => write!(f, "replica of {}:{}", r.source_host, r.source_port),
            Role::Standalone => f.write_str("standalone"),
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

/// Never the password: roles and settings that hold credentials are
/// printed with `{:?}` in tests and, one day, in a debug line.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Primary {
    /// The replication account the primary creates for its replicas.
    pub replication: Option<Credentials>,
    pub root_password: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub source_host: String,
    pub source_port: u16,
    pub access: SourceAccess,
    /// This replica's own root password, for its local server.
    pub root_password: Option<String>,
}

/// What a replica was given to replicate from its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceAccess {
    /// The replication account (the primary creates it).
    Account(Credentials),
    /// Root-credentials mode, when no replication account is given: the source's
    /// admin (root) account, with which the replica creates one itself.
    Admin(Credentials),
}

/// One setting and the names it may be given under, seed name first.
struct Setting {
    names: &'static [&'static str],
    secret: bool,
}

const ROLE: Setting = Setting {
    names: &["REPLIKIT_ROLE"],
    secret: false,
};
const MASTER: Setting = Setting {
    names: &["MYSQL_MASTER"],
    secret: false,
};
const BITNAMI_MODE: Setting = Setting {
    names: &["MYSQL_REPLICATION_MODE", "MARIADB_REPLICATION_MODE"],
    secret: false,
};
const SOURCE_HOST: Setting = Setting {
    names: &["MYSQL_MASTER_HOST", "MARIADB_MASTER_HOST"],
    secret: false,
};
const SOURCE_PORT: Setting = Setting {
    names: &[
        "MYSQL_MASTER_PORT",
        "MARIADB_MASTER_PORT",
        "MYSQL_MASTER_PORT_NUMBER",
        "MARIADB_MASTER_PORT_NUMBER",
    ],
    secret: false,
};
const REPL_USER: Setting = Setting {
    names: &[
        "MYSQL_REPL_USER",
        "MARIADB_REPLICATION_USER",
        "MYSQL_REPLICATION_USER",
    ],
    secret: false,
};
const REPL_PASSWORD: Setting = Setting {
    names: &[
        "MYSQL_REPL_PASSWORD",
        "MARIADB_REPLICATION_PASSWORD",
        "MYSQL_REPLICATION_PASSWORD",
    ],
    secret: true,
};
/// mariadb-docker's replication user alone: that image makes a node with
/// it and without MARIADB_MASTER_HOST a primary.
const MARIADB_DOCKER_REPL_USER: Setting = Setting {
    names: &["MARIADB_REPLICATION_USER"],
    secret: false,
};
const ROOT_PASSWORD: Setting = Setting {
    names: &["MYSQL_ROOT_PASSWORD", "MARIADB_ROOT_PASSWORD"],
    secret: true,
};
/// Bitnami's names for the source's root account; the legacy scripts use this
/// node's own MYSQL_ROOT_PASSWORD, the same on every node.
const SOURCE_ROOT_USER: Setting = Setting {
    names: &["MYSQL_MASTER_ROOT_USER", "MARIADB_MASTER_ROOT_USER"],
    secret: false,
};
const SOURCE_ROOT_PASSWORD: Setting = Setting {
    names: &["MYSQL_MASTER_ROOT_PASSWORD", "MARIADB_MASTER_ROOT_PASSWORD"],
    secret: true,
};
/// Bitnami's delayed replica. Not supported yet: refused unless 0, rather
/// than a replica that is silently not delayed.
const SOURCE_DELAY: Setting = Setting {
    names: &["MYSQL_MASTER_DELAY", "MARIADB_MASTER_DELAY"],
    secret: false,
};
/// mariadb-docker's hashed replication password, which replikit cannot
/// use: it derives the seeding account from the password itself.
const REPL_PASSWORD_HASH: Setting = Setting {
    names: &["MARIADB_REPLICATION_PASSWORD_HASH"],
    secret: false,
};

/// The password of `replikit_admin`, the account switchover, failover and
/// rejoin use across the network (replikit's own; not the seed's).
const ADMIN_PASSWORD: Setting = Setting {
    names: &["REPLIKIT_ADMIN_PASSWORD"],
    secret: true,
};

/// The password of the etcd user REPLIKIT_DCS_USER (etcd's own accounts).
const DCS_PASSWORD: Setting = Setting {
    names: &["REPLIKIT_DCS_PASSWORD"],
    secret: true,
};

/// Every variable of the role contract, secrets' `_FILE` forms included:
/// the fuzz targets set them, and their presence means MySQL work.
pub fn variables() -> Vec<String> {
    [
        &ROLE,
        &MASTER,
        &BITNAMI_MODE,
        &SOURCE_HOST,
        &SOURCE_PORT,
        &REPL_USER,
        &REPL_PASSWORD,
        &ROOT_PASSWORD,
        &SOURCE_ROOT_USER,
        &SOURCE_ROOT_PASSWORD,
        &SOURCE_DELAY,
        &REPL_PASSWORD_HASH,
        &ADMIN_PASSWORD,
        &DCS_PASSWORD,
    ]
    .iter()
    .flat_map(|s| {
        s.names.iter().flat_map(move |n| {
            let file = s.secret.then(|| format!("{n}_FILE"));
            std::iter::once(n.to_string()).chain(file)
        })
    })
    .collect()
}

/// The inputs that decide this node's role, for the start-up log: the
/// legacy scripts' names always, other names (aliases, Bitnami's mode) when given.
/// MYSQL_MASTER shows as set, empty or unset, not its value; none of these
/// is a secret.
pub fn inputs_for_log(get: impl Fn(&str) -> Option<String>) -> String {
    let mut words = Vec::new();
    // (setting, print the value, the legacy contract: shown even when unset)
    for (setting, show_value, seed) in [
        (&MASTER, false, true),
        (&SOURCE_HOST, true, true),
        (&ROLE, true, true),
        (&BITNAMI_MODE, true, false),
    ] {
        for (i, name) in setting.names.iter().enumerate() {
            let word = match get(name) {
                None if i == 0 && seed => format!("{name}=unset"),
                None => continue,
                Some(v) if show_value => format!("{name}={v:?}"),
                Some(v) if v.is_empty() => format!("{name}=empty"),
                Some(_) => format!("{name}=set"),
            };
            words.push(word);
        }
    }
    words.join(" ")
}

/// Reads settings from the environment (`env`) and secret files (`file`).
pub struct Inputs<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub file: &'a dyn Fn(&Path) -> Result<String>,
}

impl Inputs<'_> {
    /// The value of a setting from any of its names (and, for secrets,
    /// their `_FILE` forms); an error when two of them disagree.
    fn get(&self, s: &Setting) -> Result<Option<String>> {
        let mut found: Option<(String, String)> = None;
        for name in s.names {
            let mut candidates = vec![(name.to_string(), (self.env)(name))];
            if s.secret {
                let file_var = format!("{name}_FILE");
                let from_file = match (self.env)(&file_var) {
                    Some(path) => Some(self.read_secret(&file_var, Path::new(&path))?),
                    None => None,
                };
                candidates.push((file_var, from_file));
            }
            for (source, value) in candidates {
                let Some(value) = value else { continue };
                match &found {
                    Some((first, v)) if *v != value => {
                        bail!("{first} and {source} are both set and differ; set only one of them")
                    }
                    Some(_) => {}
                    None => found = Some((source, value)),
                }
            }
        }
        Ok(found.map(|(_, v)| v))
    }

    fn read_secret(&self, var: &str, path: &Path) -> Result<String> {
        let text = (self.file)(path).map_err(|e| {
            anyhow!(
                "{var}: cannot read {}: {e:#}; point it at a readable file",
                path.display()
            )
        })?;
        // As the official images' `$(< file)`: trailing newlines are not part of it.
        Ok(text.trim_end_matches(['\n', '\r']).to_string())
    }
}

/// The source's host: a DNS name, an IPv4 address or an IPv6 address. A
/// typo (a space, a URL, a port after a colon) is caught at start-up
/// instead of in a replication thread that retries for ever.
fn check_source_host(host: &str) -> Result<()> {
    if is_host_text(host, b"", 253) || host.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok(());
    }
    bail!("MYSQL_MASTER_HOST={host:?} is not a host name or address; give the primary's name (e.g. mysql_master) or address, and its port in MYSQL_MASTER_PORT")
}

/// Reads a secret file of at most MAX_SECRET_FILE bytes.
pub fn read_secret_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    let read = file.take(MAX_SECRET_FILE + 1).read_to_string(&mut text)?;
    if read as u64 > MAX_SECRET_FILE {
        bail!("larger than {MAX_SECRET_FILE} bytes, which no password is");
    }
    Ok(text)
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// This process's environment and secret files.
pub const PROCESS: Inputs<'static> = Inputs {
    env: &process_env,
    file: &read_secret_file,
};

/// The local root password (MYSQL_ROOT_PASSWORD or its file), with a role
/// or without one.
pub fn root_password(inputs: &Inputs) -> Result<Option<String>> {
    inputs.get(&ROOT_PASSWORD)
}

/// The admin account's password (REPLIKIT_ADMIN_PASSWORD or its file).
pub fn admin_password(inputs: &Inputs) -> Result<Option<String>> {
    inputs.get(&ADMIN_PASSWORD)
}

/// The etcd user's password (REPLIKIT_DCS_PASSWORD or its file).
pub fn dcs_password(inputs: &Inputs) -> Result<Option<String>> {
    inputs.get(&DCS_PASSWORD)
}

pub fn resolve(inputs: &Inputs) -> Result<Role> {
    let role = inputs.get(&ROLE)?;
    let master = inputs.get(&MASTER)?.filter(|v| !v.is_empty());
    let bitnami = inputs.get(&BITNAMI_MODE)?;
    let host = inputs.get(&SOURCE_HOST)?.filter(|v| !v.is_empty());
    if let Some(h) = &host {
        check_source_host(h)?;
    }
    let wanted = match (role.as_deref(), bitnami.as_deref()) {
        (Some("primary"), _) => "primary",
        (Some("replica"), _) => "replica",
        (Some("standalone"), _) => "standalone",
        (Some(other), _) => {
            bail!("REPLIKIT_ROLE={other:?} is not a role; use primary, replica or standalone")
        }
        (None, Some("master")) => "primary",
        (None, Some("slave")) => "replica",
        (None, Some(other)) => {
            bail!("MYSQL_REPLICATION_MODE={other:?} is not a mode; use master or slave")
        }
        (None, None) if master.is_some() => "primary",
        (None, None) if host.is_some() => "replica",
        (None, None)
            if inputs
                .get(&MARIADB_DOCKER_REPL_USER)?
                .is_some_and(|u| !u.is_empty()) =>
        {
            "primary"
        }
        (None, None) => bail!(
            "no role: set MYSQL_MASTER=1 on the primary (or, as mariadb-docker has it, MARIADB_REPLICATION_USER \
             without MARIADB_MASTER_HOST), MYSQL_MASTER_HOST=<primary> on replicas, or REPLIKIT_ROLE=standalone"
        ),
    };
    if wanted == "standalone" {
        return Ok(Role::Standalone);
    }
    if let Some(delay) = inputs.get(&SOURCE_DELAY)? {
        if !matches!(delay.trim(), "" | "0") {
            bail!("MYSQL_MASTER_DELAY={delay:?}: replikit does not make delayed replicas yet; unset it or set 0");
        }
    }
    let replication = credentials(inputs)?;
    let root_password = inputs.get(&ROOT_PASSWORD)?;
    Ok(match wanted {
        "primary" => Role::Primary(Primary {
            replication,
            root_password,
        }),
        "replica" => {
            let source_host = host.ok_or_else(|| {
                anyhow!("this node is a replica but MYSQL_MASTER_HOST is not set; set it to the primary's host name")
            })?;
            let source_port = match inputs.get(&SOURCE_PORT)? {
                None => 3306,
                Some(p) => p.parse().ok().filter(|p| *p != 0).ok_or_else(|| {
                    anyhow!("MYSQL_MASTER_PORT={p:?} is not a port; use 1..=65535")
                })?,
            };
            let access = match replication {
                Some(account) => SourceAccess::Account(account),
                None => {
                    let password = match inputs.get(&SOURCE_ROOT_PASSWORD)? {
                        Some(p) => p,
                        None => root_password.clone().ok_or_else(|| {
                            anyhow!("this replica has no credentials: set MYSQL_REPL_USER and MYSQL_REPL_PASSWORD (or MYSQL_ROOT_PASSWORD for root-credentials mode)")
                        })?,
                    };
                    let user = inputs
                        .get(&SOURCE_ROOT_USER)?
                        .unwrap_or_else(|| "root".into());
                    if user.is_empty() {
                        bail!("MYSQL_MASTER_ROOT_USER is empty; name the source's admin account or unset it for root");
                    }
                    SourceAccess::Admin(Credentials { user, password })
                }
            };
            Role::Replica(Replica {
                source_host,
                source_port,
                access,
                root_password,
            })
        }
        _ => Role::Standalone,
    })
}

fn credentials(inputs: &Inputs) -> Result<Option<Credentials>> {
    match (inputs.get(&REPL_USER)?, inputs.get(&REPL_PASSWORD)?) {
        (Some(user), Some(password)) if !user.is_empty() => {
            Ok(Some(Credentials { user, password }))
        }
        (None, None) => Ok(None),
        (Some(u), None) if !u.is_empty() && inputs.get(&REPL_PASSWORD_HASH)?.is_some() => {
            bail!("MARIADB_REPLICATION_PASSWORD_HASH is not enough: replikit derives the seeding account from the password itself; set MARIADB_REPLICATION_PASSWORD (or its _FILE) instead")
        }
        (Some(u), None) if !u.is_empty() => {
            bail!("MYSQL_REPL_USER is set but MYSQL_REPL_PASSWORD is not; set both")
        }
        (None, Some(_)) => bail!("MYSQL_REPL_PASSWORD is set but MYSQL_REPL_USER is not; set both"),
        _ => bail!("MYSQL_REPL_USER is empty; give the replication account a name"),
    }
}

#[cfg(test)]
mod tests;
