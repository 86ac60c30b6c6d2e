//! Every global option, defined once: its flag, its `REPLIKIT_*` variable,
//! its default and its help. clap's parser, the environment fast path of a
//! container start (`Raw::from_env`), `--help` and the fuzz targets are all
//! made from this table, so adding an option is one `Def` here (listed in
//! `ALL`) plus its validation in `settings`.

/// One option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Def {
    /// The long flag, without `--`.
    pub flag: &'static str,
    pub env: &'static str,
    pub value_name: &'static str,
    pub default: Option<&'static str>,
    pub help: &'static str,
    /// Repeatable; in the variable, one value per line.
    pub list: bool,
}

impl Def {
    /// How errors name it: `REPLIKIT_GRACE (--grace)`.
    pub fn name(&self) -> String {
        format!("{} (--{})", self.env, self.flag)
    }
}

pub const DEFAULT_CNF: &str = "/etc/mysql/conf.d/replikit.cnf";
/// May be missing (the address is then chosen without it); a hosts file
/// given on purpose may not.
pub const DEFAULT_HOSTS_FILE: &str = "/etc/hosts";
pub const DEFAULT_COMMAND: [&str; 2] = ["docker-entrypoint.sh", "mysqld"];

const fn def(
    flag: &'static str,
    env: &'static str,
    value_name: &'static str,
    default: Option<&'static str>,
    help: &'static str,
) -> Def {
    Def {
        flag,
        env,
        value_name,
        default,
        help,
        list: false,
    }
}

pub const SERVER_ID: Def = def(
    "server-id",
    "REPLIKIT_SERVER_ID",
    "N",
    None,
    "Explicit server-id (1..=4294967295); wins over the rule.",
);
pub const SERVER_ID_RULE: Def = def(
    "server-id-rule",
    "REPLIKIT_SERVER_ID_RULE",
    "RULE",
    Some("ip"),
    "How to derive the server-id: ip (whole address), octets (the legacy scripts': octet3*256+octet4), ordinal (OFFSET + N from hostname NAME-N).",
);
pub const ORDINAL_OFFSET: Def = def(
    "ordinal-offset",
    "REPLIKIT_ORDINAL_OFFSET",
    "N",
    Some("100"),
    "Added to the hostname's ordinal under rule ordinal.",
);
pub const SUBNET: Def = def(
    "subnet",
    "REPLIKIT_SUBNET",
    "CIDR",
    None,
    "Use the interface address inside this network (CIDR, e.g. 10.0.1.0/24).",
);
pub const SERVER_ID_VIA: Def = def(
    "server-id-via",
    "REPLIKIT_SERVER_ID_VIA",
    "HOW",
    Some("auto"),
    "Where the server-id goes: auto (the option file where it can be written, else arguments when the command runs the server, as in a non-root container), file (the option file, or an error), arg (--server-id=N appended to the command), off.",
);
pub const CNF: Def = def(
    "cnf",
    "REPLIKIT_CNF",
    "PATH",
    Some(DEFAULT_CNF),
    "Option file to write; an existing file is edited in place.",
);
pub const REPORT_HOST: Def = def(
    "report-host",
    "REPLIKIT_REPORT_HOST",
    "HOST",
    None,
    "report_host for the server (default: the chosen address).",
);
pub const HOSTS_FILE: Def = def(
    "hosts-file",
    "REPLIKIT_HOSTS_FILE",
    "PATH",
    Some(DEFAULT_HOSTS_FILE),
    "Hosts file that maps this hostname to its address.",
);
pub const GRACE: Def = def(
    "grace",
    "REPLIKIT_GRACE",
    "DURATION",
    Some("5s"),
    "After the command exits: how long leftover processes get between SIGTERM and SIGKILL (e.g. 5, 2.5s, 500ms).",
);
pub const SIGNAL_TO: Def = def(
    "signal-to",
    "REPLIKIT_SIGNAL_TO",
    "WHO",
    Some("child"),
    "Where forwarded signals go: child (the command alone) or group (the command's whole process group, as tini -g does: for a shell script that does not pass them on).",
);
pub const PRE: Def = Def {
    list: true,
    ..def(
        "pre",
        "REPLIKIT_PRE",
        "'CMD ARGS'",
        None,
        "Run this task before the command (repeatable; in order; a failure stops everything). In the env var, one task per line.",
    )
};
pub const SOCKET: Def = def(
    "socket",
    "REPLIKIT_SOCKET",
    "PATH",
    Some("/run/mysqld/mysqld.sock"),
    "The local server's unix socket, for replication set-up.",
);
pub const REPL_HOST: Def = def(
    "repl-host",
    "REPLIKIT_REPL_HOST",
    "PATTERN",
    None,
    "On the primary: the hosts replicas connect from, as an account host pattern (default: the legacy scripts' a.b.%.% from this node's address).",
);
pub const SSL_MODE: Def = def(
    "ssl-mode",
    "REPLIKIT_SSL_MODE",
    "MODE",
    None,
    "TLS towards the source, for replikit's own log-ins, the dump tools and the replication channel: off (the default), preferred (when the source offers it), required (encrypted, certificate not checked), verify-ca (signed by REPLIKIT_SSL_CA), verify-identity (signed by it and naming the source host).",
);
pub const SSL_CA: Def = def(
    "ssl-ca",
    "REPLIKIT_SSL_CA",
    "CA-FILE",
    None,
    "For verify-ca and verify-identity: the absolute path of the CA file (PEM) that signed the source's certificate.",
);
pub const CLUSTER: Def = def(
    "cluster",
    "REPLIKIT_CLUSTER",
    "NAME",
    Some("replikit"),
    "The cluster's name, the same on every node: the salt of the passwords replikit derives (the donor account's, root-credentials mode's replication account's). A name of its own per cluster keeps one cluster's guesses from serving another's.",
);
pub const SOURCE_PUBLIC_KEY: Def = def(
    "source-public-key",
    "REPLIKIT_SOURCE_PUBLIC_KEY",
    "PEM-FILE",
    None,
    "MySQL without TLS: the source's RSA public key (its datadir's public_key.pem), pinned, for caching_sha2_password: replikit and the replication channel encrypt passwords to it instead of to whatever key the peer sends.",
);
pub const ROOT_LOGIN_UNVERIFIED: Def = def(
    "root-login-unverified",
    "REPLIKIT_ROOT_LOGIN_UNVERIFIED",
    "refuse|allow",
    Some("refuse"),
    "Root-credentials mode sends the source's root password only to a verified source (verify-ca, verify-identity or a pinned key); allow sends it anyway.",
);
pub const REPL_SSL: Def = def(
    "repl-ssl",
    "REPLIKIT_REPL_SSL",
    "off|on|CA-FILE",
    None,
    "The older spelling of REPLIKIT_SSL_MODE: off; on (required); or a CA file's absolute path (verify-identity with that CA).",
);
pub const SEED: Def = def(
    "seed",
    "REPLIKIT_SEED",
    "auto|physical|clone|dump|none",
    Some("auto"),
    "On a new replica: auto (seed when the source holds data or has purged binary logs: MySQL's clone where it works, a physical copy by mariadb-backup from a MariaDB source that serves one, else a dump), physical, clone, dump (always seed that way), none (never).",
);
pub const DONOR_PORT: Def = def(
    "donor-port",
    "REPLIKIT_DONOR_PORT",
    "PORT|off",
    Some("4444"),
    "MariaDB: the TCP port on which a primary's replikit serves physical seeds (mariadb-backup's stream) to replicas of this cluster, one at a time; the same on every node. off: serve none.",
);
pub const DATADIR: Def = def(
    "datadir",
    "REPLIKIT_DATADIR",
    "PATH",
    Some("/var/lib/mysql"),
    "The server's data directory: a physical seed replaces its contents, and a start that finds one cut short there empties it. It must be the server's datadir for a physical seed to run.",
);
pub const SEMI_SYNC: Def = def(
    "semi-sync",
    "REPLIKIT_SEMI_SYNC",
    "off|on",
    Some("off"),
    "Semi-synchronous replication: on, a primary acknowledges a commit only once a replica has it (see REPLIKIT_SEMI_SYNC_TIMEOUT for when none answers), so a failover to the most advanced replica loses no acknowledged write; kept right on every node across changes of primary.",
);
pub const SEMI_SYNC_TIMEOUT: Def = def(
    "semi-sync-timeout",
    "REPLIKIT_SEMI_SYNC_TIMEOUT",
    "DURATION",
    Some("10s"),
    "With REPLIKIT_SEMI_SYNC=on: how long commits wait for a replica's acknowledgement before the primary goes on without one (asynchronous until a replica catches up). With REPLIKIT_DCS the keeper first records that in etcd (/replikit/CLUSTER/async), and automatic failover waits until a replica has caught up.",
);
pub const AGENT_PORT: Def = def(
    "agent-port",
    "REPLIKIT_AGENT_PORT",
    "PORT",
    None,
    "Serve HAProxy's agent check on this TCP port: `up`, or `down #reason` when the node fails its health checks (as `replikit health`).",
);
pub const AGENT_BIND: Def = def(
    "agent-bind",
    "REPLIKIT_AGENT_BIND",
    "ADDRESS",
    Some("0.0.0.0"),
    "For the agent check: the address to listen on (0.0.0.0 every IPv4 address, :: every address, or one of this node's).",
);
pub const AGENT_MAX_LAG: Def = def(
    "agent-max-lag",
    "REPLIKIT_AGENT_MAX_LAG",
    "SECONDS",
    Some("30"),
    "For the agent check: a replica further behind its source than this many seconds answers `down`.",
);

pub const AGENT_WRITE_PORT: Def = def(
    "agent-write-port",
    "REPLIKIT_AGENT_WRITE_PORT",
    "PORT",
    None,
    "Serve HAProxy's agent check for writes on this TCP port: up only while this node takes writes (the primary replikit decided), for a write backend that lists every node.",
);
pub const PEERS: Def = def(
    "peers",
    "REPLIKIT_PEERS",
    "HOST[:PORT],...",
    None,
    "The cluster's members, for switchover, failover and rejoin: host names or addresses (a name may stand for several, as Swarm's tasks.SERVICE or a Kubernetes headless service), port 3306 unless given; needs REPLIKIT_ADMIN_PASSWORD.",
);
pub const DCS: Def = def(
    "dcs",
    "REPLIKIT_DCS",
    "etcd://HOST[:PORT],...",
    None,
    "etcd v3 members (port 2379 unless given) that decide which node takes writes: only the holder of the leader key does, and a primary that cannot renew its lease becomes read-only before it expires. Needs REPLIKIT_PEERS.",
);
pub const DCS_CA: Def = def(
    "dcs-ca",
    "REPLIKIT_DCS_CA",
    "PATH",
    None,
    "With REPLIKIT_DCS=etcds://...: the PEM file of the CA that signed etcd's certificates; each member's must be signed by it and name the host replikit reaches it by.",
);
pub const DCS_USER: Def = def(
    "dcs-user",
    "REPLIKIT_DCS_USER",
    "NAME",
    None,
    "An etcd user to log in as, where etcd has authentication on; its password comes from REPLIKIT_DCS_PASSWORD (or REPLIKIT_DCS_PASSWORD_FILE). It needs read and write on /replikit/CLUSTER/.",
);
pub const DCS_TTL: Def = def(
    "dcs-ttl",
    "REPLIKIT_DCS_TTL",
    "SECONDS",
    Some("10"),
    "The leader lease's time-to-live in etcd, 3 to 3600: a primary cut off from etcd stops taking writes within 70 % of it, and a failover waits at most this long for the old primary's lease to expire.",
);

/// Every global option, in `--help` order.
pub const ALL: [&Def; 33] = [
    &SERVER_ID,
    &SERVER_ID_RULE,
    &ORDINAL_OFFSET,
    &SUBNET,
    &SERVER_ID_VIA,
    &CNF,
    &REPORT_HOST,
    &HOSTS_FILE,
    &GRACE,
    &SIGNAL_TO,
    &PRE,
    &SOCKET,
    &REPL_HOST,
    &SSL_MODE,
    &SSL_CA,
    &SOURCE_PUBLIC_KEY,
    &ROOT_LOGIN_UNVERIFIED,
    &CLUSTER,
    &REPL_SSL,
    &SEED,
    &DONOR_PORT,
    &DATADIR,
    &AGENT_PORT,
    &AGENT_BIND,
    &AGENT_MAX_LAG,
    &AGENT_WRITE_PORT,
    &PEERS,
    &DCS,
    &DCS_CA,
    &DCS_USER,
    &DCS_TTL,
    &SEMI_SYNC,
    &SEMI_SYNC_TIMEOUT,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_one_pattern() {
        let mut flags: Vec<_> = ALL.iter().map(|d| d.flag).collect();
        let mut envs: Vec<_> = ALL.iter().map(|d| d.env).collect();
        flags.sort();
        flags.dedup();
        envs.sort();
        envs.dedup();
        assert_eq!(flags.len(), ALL.len());
        assert_eq!(envs.len(), ALL.len());
        for d in ALL {
            let from_flag = format!("REPLIKIT_{}", d.flag.to_uppercase().replace('-', "_"));
            assert_eq!(d.env, from_flag, "{d:?}");
            assert_eq!(d.name(), format!("{} (--{})", d.env, d.flag));
        }
    }
}
