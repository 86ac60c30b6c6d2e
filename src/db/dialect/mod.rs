//! Which server we talk to, and the statements it accepts. MySQL renamed
//! its replication statements in 8.0.22/8.0.23/8.2 and removed the old ones
//! in 8.4; MariaDB kept CHANGE MASTER TO and added REPLICA aliases in 10.5.
//! The table is in ../shared/DESIGN.md; tests/servers/dialect.rs runs every
//! statement here on real servers.

use anyhow::{bail, Result};

use super::sql::quote;

mod tools;
mod version;

pub use version::{Product, Release, ServerVersion};

/// Where a replica starts reading the source's binary log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position<'a> {
    /// GTID auto-positioning (MySQL `*_AUTO_POSITION=1`, MariaDB
    /// `MASTER_USE_GTID=slave_pos`).
    Gtid,
    /// From the start of the oldest binary log the source still has (no
    /// file named: the source starts there), which is what GTID
    /// auto-positioning does for a new replica.
    OldestBinlog,
    /// Binlog coordinates read from the source.
    File { file: &'a str, pos: u64 },
    /// GTIDs, for a node that changes source after a change of primary:
    /// it continues from everything it has, applied or written as a
    /// primary (MySQL `*_AUTO_POSITION=1`, MariaDB
    /// `MASTER_USE_GTID=current_pos`, which counts a former primary's own
    /// binary log where `slave_pos` would start it from nothing).
    GtidContinuing,
}

/// Everything CHANGE REPLICATION SOURCE TO / CHANGE MASTER TO needs.
#[derive(Debug, Clone, Copy)]
pub struct SourceSpec<'a> {
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub password: &'a str,
    pub position: Position<'a>,
    pub tls: &'a Tls,
    /// The source's pinned public key file (MySQL without TLS).
    pub public_key: Option<&'a str>,
}

/// TLS towards the source (REPLIKIT_SSL_MODE): for replikit's own log-ins,
/// the dump tools and the replication channel alike, in the spirit of the
/// MySQL client's --ssl-mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// No TLS.
    Off,
    /// TLS when the source offers it, its certificate not checked; once the
    /// source's greeting is known it becomes `Required` or `Off`
    /// (`for_source`).
    Preferred,
    /// Encrypted; the source's certificate is not checked (stops a passive
    /// listener, not a man in the middle).
    Required,
    /// Encrypted, and the certificate must be signed by this CA (a path the
    /// server reads too); any name.
    VerifyCa { ca: String },
    /// Encrypted, signed by this CA, and naming the source host.
    VerifyIdentity { ca: String },
}

impl Tls {
    /// What this mode means for a source whose greeting did (`offers`) or
    /// did not offer TLS: only `Preferred` depends on it.
    pub fn for_source(&self, offers: bool) -> Tls {
        match self {
            Tls::Preferred if offers => Tls::Required,
            Tls::Preferred => Tls::Off,
            other => other.clone(),
        }
    }

    /// The CA file of a verifying mode.
    pub fn ca(&self) -> Option<&str> {
        match self {
            Tls::VerifyCa { ca } | Tls::VerifyIdentity { ca } => Some(ca),
            _ => None,
        }
    }

    /// Whether the peer's certificate is checked against a CA: only then
    /// is a credential safe from whoever answers on the source's address.
    pub fn verifies(&self) -> bool {
        self.ca().is_some()
    }
}

/// Where a server lets a non-definer read a routine's text (SHOW CREATE
/// PROCEDURE, which the dump tools use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutineAccess {
    /// MySQL 8.0.20+: the SHOW_ROUTINE privilege.
    ShowRoutine,
    /// MariaDB and MySQL 5.7: SELECT on the table routines live in,
    /// mysql.proc (no credentials there).
    ProcTable,
    /// MySQL 8.0.0 to 8.0.19: nothing short of SELECT on every table,
    /// credential tables included.
    GlobalSelect,
}

/// How many replicas must acknowledge a commit before the primary
/// acknowledges it to its client, with semi-synchronous replication on.
/// Failover counts on it (`replication::takeover::enough_answered`).
pub const SEMI_SYNC_WAIT_COUNT: usize = 1;

/// The statements one server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub version: ServerVersion,
}

impl Dialect {
    /// The dialect of a supported server: MySQL 5.7 or later, MariaDB 10.0
    /// or later.
    pub fn new(version: ServerVersion) -> Result<Dialect> {
        let supported = match version.product {
            Product::MySql => version.at_least(5, 7, 0),
            Product::MariaDb => version.at_least(10, 0, 0),
        };
        if !supported {
            bail!("{version} is too old: replikit needs MySQL 5.7+ or MariaDB 10.0+");
        }
        Ok(Dialect { version })
    }

    /// The dialect of the server whose greeting said `version`.
    pub fn of(version: &str) -> Result<Dialect> {
        Dialect::new(ServerVersion::parse(version)?)
    }

    fn mysql(&self) -> bool {
        self.version.product == Product::MySql
    }

    /// MySQL 8.0.23+ speaks SOURCE, not MASTER, in CHANGE ... TO.
    fn source_words(&self) -> bool {
        self.mysql() && self.version.at_least(8, 0, 23)
    }

    /// START/STOP REPLICA and SHOW REPLICA STATUS exist (MySQL 8.0.22,
    /// MariaDB 10.5.1) and, on MySQL 8.4+, are the only forms.
    fn replica_words(&self) -> bool {
        match self.version.product {
            Product::MySql => self.version.at_least(8, 0, 22),
            Product::MariaDb => self.version.at_least(10, 5, 1),
        }
    }

    /// The current binary log file and position.
    pub fn binlog_status(&self) -> &'static str {
        match self.version.product {
            Product::MySql if self.version.at_least(8, 2, 0) => "SHOW BINARY LOG STATUS",
            Product::MariaDb if self.version.at_least(10, 5, 2) => "SHOW BINLOG STATUS",
            _ => "SHOW MASTER STATUS",
        }
    }

    /// The query for MySQL's GTID mode, in column `gtid_mode`; MariaDB's
    /// GTIDs are always on, so it has none.
    pub fn gtid_mode_query(&self) -> Option<&'static str> {
        self.mysql()
            .then_some("SELECT @@GLOBAL.gtid_mode AS gtid_mode")
    }

    /// Makes information_schema's table sizes current for this session:
    /// MySQL 8.0.3+ otherwise answers from statistics cached for up to a
    /// day (`information_schema_stats_expiry`). None where they are live.
    pub fn fresh_table_sizes(&self) -> Option<&'static str> {
        (self.mysql() && self.version.at_least(8, 0, 3))
            .then_some("SET SESSION information_schema_stats_expiry = 0")
    }

    /// The ALTER EVENT clause that keeps an event from running on a
    /// replica (status SLAVESIDE_DISABLED): MySQL 8.4 dropped nothing but
    /// prefers the new word.
    pub fn disable_event_on_replica(&self) -> &'static str {
        if self.mysql() && self.version.at_least(8, 4, 0) {
            "DISABLE ON REPLICA"
        } else {
            "DISABLE ON SLAVE"
        }
    }

    /// `replica` where the server says REPLICA, else `slave`.
    fn replica_or_slave(&self, replica: &'static str, slave: &'static str) -> &'static str {
        if self.replica_words() {
            replica
        } else {
            slave
        }
    }

    pub fn replica_status(&self) -> &'static str {
        self.replica_or_slave("SHOW REPLICA STATUS", "SHOW SLAVE STATUS")
    }

    pub fn start_replica(&self) -> &'static str {
        self.replica_or_slave("START REPLICA", "START SLAVE")
    }

    pub fn stop_replica(&self) -> &'static str {
        self.replica_or_slave("STOP REPLICA", "STOP SLAVE")
    }

    /// The function that waits for a replica to reach a binary log
    /// position: MySQL 8.0.26 renamed MASTER_POS_WAIT to SOURCE_POS_WAIT.
    pub fn pos_wait_function(&self) -> &'static str {
        if self.mysql() && self.version.at_least(8, 0, 26) {
            "SOURCE_POS_WAIT"
        } else {
            "MASTER_POS_WAIT"
        }
    }

    /// The semi-synchronous replication plugins to load, as (name,
    /// library): MySQL's are plugins (the source/replica names from
    /// 8.0.26); MariaDB's is built in (10.3.3+), nothing to load.
    pub fn semi_sync_plugins(&self) -> &'static [(&'static str, &'static str)] {
        match self.version.product {
            Product::MySql if self.version.at_least(8, 0, 26) => &[
                ("rpl_semi_sync_source", "semisync_source.so"),
                ("rpl_semi_sync_replica", "semisync_replica.so"),
            ],
            Product::MySql => &[
                ("rpl_semi_sync_master", "semisync_master.so"),
                ("rpl_semi_sync_slave", "semisync_slave.so"),
            ],
            Product::MariaDb => &[],
        }
    }

    /// The semi-sync variables' prefixes for the source and the replica
    /// side: `rpl_semi_sync_source`/`_replica` on MySQL 8.0.26+, else
    /// `_master`/`_slave`.
    fn semi_sync_prefixes(&self) -> (&'static str, &'static str) {
        if self.mysql() && self.version.at_least(8, 0, 26) {
            ("rpl_semi_sync_source", "rpl_semi_sync_replica")
        } else {
            ("rpl_semi_sync_master", "rpl_semi_sync_slave")
        }
    }

    /// Makes this server semi-synchronous on one side and not the other:
    /// the source side waits after the commit is synced to the binary log
    /// and before it is acknowledged (AFTER_SYNC, lossless), for
    /// `SEMI_SYNC_WAIT_COUNT` replicas (set explicitly on MySQL; MariaDB
    /// always waits for one), for at most `timeout`, then goes on without
    /// a replica's acknowledgement.
    pub fn semi_sync(&self, source: bool, timeout: std::time::Duration) -> Vec<String> {
        let (src, rep) = self.semi_sync_prefixes();
        if source {
            let mut statements = vec![
                format!("SET GLOBAL {src}_timeout = {}", timeout.as_millis()),
                format!("SET GLOBAL {src}_wait_point = AFTER_SYNC"),
            ];
            if self.mysql() {
                let count = if src == "rpl_semi_sync_source" {
                    "wait_for_replica_count"
                } else {
                    "wait_for_slave_count"
                };
                statements.push(format!("SET GLOBAL {src}_{count} = {SEMI_SYNC_WAIT_COUNT}"));
            }
            statements.extend([
                format!("SET GLOBAL {src}_enabled = ON"),
                format!("SET GLOBAL {rep}_enabled = OFF"),
            ]);
            statements
        } else {
            vec![
                format!("SET GLOBAL {src}_enabled = OFF"),
                format!("SET GLOBAL {rep}_enabled = ON"),
            ]
        }
    }

    /// Whether the replica side is on, in column `on` (1 or 0).
    pub fn semi_sync_replica_enabled(&self) -> String {
        format!(
            "SELECT @@GLOBAL.{}_enabled AS `on`",
            self.semi_sync_prefixes().1
        )
    }

    /// Whether the source side is on, in column `on` (1 or 0).
    pub fn semi_sync_source_enabled(&self) -> String {
        format!(
            "SELECT @@GLOBAL.{}_enabled AS `on`",
            self.semi_sync_prefixes().0
        )
    }

    /// Whether a replica connected before the source side was turned on
    /// stays asynchronous until it connects again: MySQL's replica settles
    /// semi-sync when its I/O thread connects; MariaDB's starts it when
    /// the source turns it on.
    pub fn semi_sync_settled_at_connect(&self) -> bool {
        self.mysql()
    }

    /// The source side's progress (Variable_name, Value), among them
    /// `_status` (ON unless it fell back), `_wait_sessions` (commits
    /// waiting for a replica now) and `_yes_tx` (commits a replica
    /// acknowledged). LIKE, not WHERE: the server matches LIKE on the
    /// names before it computes any value, and some other variables'
    /// values wait for the commits that wait for a replica.
    pub fn semi_sync_source_progress(&self) -> String {
        let p = self.semi_sync_prefixes().0.replacen("rpl", "Rpl", 1);
        format!("SHOW GLOBAL STATUS LIKE '{p}\\_%'")
    }

    /// Whether a commit waiting for a replica's acknowledgement stops
    /// waiting when its session is killed: MariaDB's does; MySQL's waits
    /// on, holding the commit lock, until an acknowledgement, the
    /// timeout, or the source side turned off.
    pub fn semi_sync_wait_ends_with_its_session(&self) -> bool {
        !self.mysql()
    }

    /// Turns the source side off: the commits waiting for a replica go on
    /// without, and the next ones do not wait.
    pub fn semi_sync_source_off(&self) -> String {
        format!("SET GLOBAL {}_enabled = OFF", self.semi_sync_prefixes().0)
    }

    /// The source side's and the replica side's status (Variable_name,
    /// Value): ON where that side works now.
    pub fn semi_sync_status(&self) -> &'static str {
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('Rpl_semi_sync_source_status', \
         'Rpl_semi_sync_master_status', 'Rpl_semi_sync_replica_status', 'Rpl_semi_sync_slave_status')"
    }

    /// Forgets every replication set-up (and the position in it).
    pub fn reset_replica_all(&self) -> &'static str {
        self.replica_or_slave("RESET REPLICA ALL", "RESET SLAVE ALL")
    }

    /// The node's own state in one row: server_id, skip_networking (the
    /// first start's temporary server), read_only, super_read_only (NULL
    /// on MariaDB, which has none), the executed GTIDs (MySQL's
    /// gtid_executed, MariaDB's gtid_current_pos) and the datadir.
    pub fn node_state_query(&self) -> &'static str {
        if self.mysql() {
            "SELECT @@server_id AS id, @@skip_networking AS skip, @@read_only AS ro, \
             @@super_read_only AS sro, @@GLOBAL.gtid_executed AS gtid, @@datadir AS dir"
        } else {
            "SELECT @@server_id AS id, @@skip_networking AS skip, @@read_only AS ro, \
             NULL AS sro, @@GLOBAL.gtid_current_pos AS gtid, @@datadir AS dir"
        }
    }

    /// Whether a seeded replica's GTID position is set by hand
    /// (`set_gtid_start`): on MariaDB; MySQL's GTID history comes with the
    /// snapshot itself (gtid_purged).
    pub fn gtid_start_is_set_by_hand(&self) -> bool {
        !self.mysql()
    }

    /// MariaDB: the replica starts from `gtid` (`gtid_slave_pos`).
    pub fn set_gtid_start(&self, gtid: &str) -> String {
        format!("SET GLOBAL gtid_slave_pos = {}", quote(gtid))
    }

    /// The privilege that reads SHOW REPLICA STATUS and nothing more:
    /// MariaDB's REPLICA MONITOR since 10.5.9; REPLICATION CLIENT before
    /// and on MySQL.
    pub fn replica_monitor_grant(&self) -> &'static str {
        match self.version.product {
            Product::MariaDb if self.version.at_least(10, 5, 9) => "REPLICA MONITOR",
            _ => "REPLICATION CLIENT",
        }
    }

    /// How the donor account reads routines' text for a dump without
    /// reading any credential table.
    pub fn donor_routine_access(&self) -> RoutineAccess {
        match self.version.product {
            Product::MySql if self.version.at_least(8, 0, 20) => RoutineAccess::ShowRoutine,
            Product::MySql if self.version.at_least(8, 0, 0) => RoutineAccess::GlobalSelect,
            _ => RoutineAccess::ProcTable,
        }
    }

    /// Lets root write on a server that is read-only for everyone else
    /// (read_only stays on): MySQL's super_read_only stops even root;
    /// MariaDB has none, so None.
    pub fn lift_super_read_only(&self) -> Option<&'static str> {
        self.mysql().then_some("SET GLOBAL super_read_only = OFF")
    }

    /// Whether the fence (`set_read_only`) stops every account, replikit's
    /// own local one included: MySQL's super_read_only does; MariaDB's
    /// read_only lets through whoever holds READ_ONLY ADMIN (or SUPER).
    pub fn read_only_stops_everyone(&self) -> bool {
        self.mysql()
    }

    /// Makes `SHOW CREATE USER` print password hashes as hex, so that the
    /// statement survives a text file and runs again (MySQL 8.0.17+; a
    /// caching_sha2 hash is binary). MariaDB's hashes are text: None.
    pub fn printable_account_hashes(&self) -> Option<&'static str> {
        (self.mysql() && self.version.at_least(8, 0, 17))
            .then_some("SET SESSION print_identified_with_as_hex = ON")
    }

    /// Whether the server is super_read_only now (MySQL only).
    pub fn super_read_only_query(&self) -> Option<&'static str> {
        self.mysql()
            .then_some("SELECT @@GLOBAL.super_read_only AS super_read_only")
    }

    /// Empties MySQL's GTID history (and binary logs), as a dump that sets
    /// gtid_purged needs; None on MariaDB, whose replica position
    /// (gtid_slave_pos) is set on its own.
    pub fn reset_gtid_history(&self) -> Option<&'static str> {
        match self.version.product {
            Product::MySql if self.version.at_least(8, 2, 0) => Some("RESET BINARY LOGS AND GTIDS"),
            Product::MySql => Some("RESET MASTER"),
            Product::MariaDb => None,
        }
    }

    /// Forgets every transaction this server logged, errant ones included,
    /// before it is seeded again (`replikit rejoin --discard`): MySQL's
    /// GTID history, MariaDB's binary log state. Never on a node that
    /// others replicate from.
    pub fn discard_logged_history(&self) -> &'static str {
        self.reset_gtid_history().unwrap_or("RESET MASTER")
    }

    /// Makes the server refuse writes. `read_only` does not stop users with
    /// SUPER, so MySQL gets `super_read_only` (which implies read_only),
    /// persisted (8.0.11+) so that the server is read-only from its next
    /// start on, before replikit connects: after a clone's restart or a
    /// container restart no application can write in between. MariaDB
    /// cannot persist a setting.
    pub fn set_read_only(&self) -> &'static str {
        match self.version.product {
            Product::MySql if self.version.at_least(8, 0, 11) => "SET PERSIST super_read_only = ON",
            Product::MySql => "SET GLOBAL super_read_only = ON",
            Product::MariaDb => "SET GLOBAL read_only = ON",
        }
    }

    /// Makes a primary take writes: read_only off (which turns MySQL's
    /// super_read_only off too), and on MySQL 8.0.11+ whatever
    /// `set_read_only` persisted while it was a replica forgotten, so
    /// that its next start does not undo this.
    pub fn set_writable(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.mysql() && self.version.at_least(8, 0, 11) {
            out.extend([
                "RESET PERSIST IF EXISTS super_read_only",
                "RESET PERSIST IF EXISTS read_only",
            ]);
        }
        out.push("SET GLOBAL read_only = OFF");
        out
    }

    /// What the admin account (switchover, failover, rejoin) may do on
    /// every node, and nothing more: set read-only, end client sessions,
    /// see them, stop, reset and repoint replication, read its status,
    /// the GTIDs and binary log state, set semi-sync's variables (a
    /// promotion turns them round). MySQL 8 and MariaDB 10.5.2 split
    /// SUPER into these; before, SUPER it is.
    pub fn admin_grants(&self) -> &'static str {
        match self.version.product {
            Product::MySql if self.version.at_least(8, 0, 0) => {
                "SYSTEM_VARIABLES_ADMIN, CONNECTION_ADMIN, REPLICATION_SLAVE_ADMIN, REPLICATION CLIENT, PROCESS, RELOAD"
            }
            Product::MariaDb if self.version.at_least(10, 5, 9) => {
                "READ_ONLY ADMIN, CONNECTION ADMIN, REPLICATION SLAVE ADMIN, REPLICA MONITOR, BINLOG MONITOR, PROCESS, RELOAD, REPLICATION MASTER ADMIN"
            }
            Product::MariaDb if self.version.at_least(10, 5, 2) => {
                "READ_ONLY ADMIN, CONNECTION ADMIN, REPLICATION SLAVE ADMIN, BINLOG MONITOR, PROCESS, RELOAD, REPLICATION MASTER ADMIN"
            }
            _ => "SUPER, REPLICATION CLIENT, PROCESS, RELOAD",
        }
    }

    /// The server's GTID history as one value `g`: MySQL's executed set;
    /// MariaDB's last GTID of every (domain, server) it logged, which is
    /// what comparing two histories needs (`status::errant::mariadb`).
    pub fn gtid_history_query(&self) -> &'static str {
        if self.mysql() {
            "SELECT @@GLOBAL.gtid_executed AS g"
        } else {
            "SELECT @@GLOBAL.gtid_binlog_state AS g"
        }
    }

    /// Everything the server holds, as `g`, for telling whether another
    /// server has anything it lacks: MySQL's executed set; MariaDB's
    /// logged history plus its replica position, since a replica seeded
    /// by a dump holds the seed's transactions without having logged them.
    pub fn gtid_held_query(&self) -> &'static str {
        if self.mysql() {
            "SELECT @@GLOBAL.gtid_executed AS g"
        } else {
            "SELECT CONCAT_WS(',', NULLIF(@@GLOBAL.gtid_binlog_state, ''), NULLIF(@@GLOBAL.gtid_slave_pos, '')) AS g"
        }
    }

    /// The position a replica must reach to hold everything a primary
    /// wrote, as `g`: MySQL's executed set, MariaDB's binary log position.
    pub fn gtid_position_query(&self) -> &'static str {
        if self.mysql() {
            "SELECT @@GLOBAL.gtid_executed AS g"
        } else {
            "SELECT @@GLOBAL.gtid_binlog_pos AS g"
        }
    }

    /// How far the server got, as `g`, to tell which of several replicas
    /// is ahead: MySQL's executed set, MariaDB's current position (per
    /// replication domain).
    pub fn gtid_progress_query(&self) -> &'static str {
        if self.mysql() {
            "SELECT @@GLOBAL.gtid_executed AS g"
        } else {
            "SELECT @@GLOBAL.gtid_current_pos AS g"
        }
    }

    /// The replica status column of the GTIDs received from the source
    /// (applied or not), in the form `wait_for_gtids` takes.
    pub fn received_gtids_column(&self) -> &'static str {
        if self.mysql() {
            "Retrieved_Gtid_Set"
        } else {
            "Gtid_IO_Pos"
        }
    }

    /// Waits up to `seconds` for this server to have applied `gtids` (a
    /// value of `gtid_position_query`); `w` is 0 once it has.
    pub fn wait_for_gtids(&self, gtids: &str, seconds: u64) -> String {
        if self.mysql() {
            format!(
                "SELECT WAIT_FOR_EXECUTED_GTID_SET({}, {seconds}) AS w",
                quote(gtids)
            )
        } else {
            format!("SELECT MASTER_GTID_WAIT({}, {seconds}) AS w", quote(gtids))
        }
    }

    /// Starts the SQL thread alone (a no-op where it runs): a replica
    /// stopped by hand applies what it received, and receives nothing.
    pub fn start_replica_sql(&self) -> &'static str {
        self.replica_or_slave("START REPLICA SQL_THREAD", "START SLAVE SQL_THREAD")
    }

    /// Stops only the I/O thread, so that the SQL thread applies what was
    /// received and nothing more arrives.
    pub fn stop_replica_io(&self) -> &'static str {
        self.replica_or_slave("STOP REPLICA IO_THREAD", "STOP SLAVE IO_THREAD")
    }

    pub fn start_replica_io(&self) -> &'static str {
        self.replica_or_slave("START REPLICA IO_THREAD", "START SLAVE IO_THREAD")
    }

    fn change_words(&self) -> (&'static str, &'static str) {
        if self.source_words() {
            ("CHANGE REPLICATION SOURCE TO", "SOURCE")
        } else {
            ("CHANGE MASTER TO", "MASTER")
        }
    }

    /// What the servers cannot store as a replication password, refused
    /// here, without repeating it.
    fn check_password(&self, password: &str) -> Result<()> {
        // Longer passwords are refused by MySQL (error 3056), and MariaDB's
        // limit is 96; better said before than after.
        let max = if self.mysql() { 32 } else { 96 };
        // Both keep replication settings in utf8mb3: a 4-byte character
        // (an emoji) comes out different and the log-in fails, silently.
        if password.chars().any(|c| u32::from(c) > 0xffff) {
            bail!("the replication password has a character outside the Basic Multilingual Plane (such as an emoji), which {} cannot store; choose another", self.version);
        }
        if password.len() > max {
            bail!("the replication password is longer than {max} bytes, which {} does not accept; choose a shorter one", self.version);
        }
        if self.mysql() && password.contains('\n') {
            bail!("the replication password contains a line feed, which {} does not accept; choose one without", self.version);
        }
        Ok(())
    }

    /// New credentials for the current source, keeping the position (run
    /// with the replica stopped).
    pub fn change_credentials(&self, user: &str, password: &str) -> Result<String> {
        self.check_password(password)?;
        if self.mysql() && user.contains('\n') {
            bail!("the replication user contains a line feed, which {} does not accept; choose one without", self.version);
        }
        let (verb, word) = self.change_words();
        Ok(format!(
            "{verb} {word}_USER = {}, {word}_PASSWORD = {}",
            quote(user),
            quote(password)
        ))
    }

    /// Names of the replica status columns replikit reads, as this server
    /// spells them, in this order: source host, source port, I/O thread,
    /// SQL thread. `canonical_status_column` turns each into MySQL
    /// 8.0.22+'s name; tests/servers/ checks both on real servers.
    pub fn status_columns(&self) -> [&'static str; 4] {
        // MySQL renamed the columns with the statements, in 8.0.22.
        if self.mysql() && self.replica_words() {
            [
                "Source_Host",
                "Source_Port",
                "Replica_IO_Running",
                "Replica_SQL_Running",
            ]
        } else {
            [
                "Master_Host",
                "Master_Port",
                "Slave_IO_Running",
                "Slave_SQL_Running",
            ]
        }
    }

    /// CHANGE REPLICATION SOURCE TO (MySQL 8.0.23+) or CHANGE MASTER TO,
    /// with every value quoted. MySQL refuses a line feed in any of these
    /// values (error 1525) and its error message repeats the value, so that
    /// is refused here first, without repeating it.
    pub fn change_source(&self, s: &SourceSpec) -> Result<String> {
        self.check_password(s.password)?;
        if self.mysql() {
            let file = match s.position {
                Position::File { file, .. } => file,
                Position::Gtid | Position::OldestBinlog | Position::GtidContinuing => "",
            };
            let ca = s.tls.ca().unwrap_or("");
            for (what, value) in [
                ("host", s.host),
                ("user", s.user),
                ("password", s.password),
                ("binlog file", file),
                ("CA file", ca),
                ("public key file", s.public_key.unwrap_or("")),
            ] {
                if value.contains('\n') {
                    bail!("the replication {what} contains a line feed, which {} does not accept; choose one without", self.version);
                }
            }
        }
        let (verb, word) = self.change_words();
        let mut options = vec![
            format!("{word}_HOST = {}", quote(s.host)),
            format!("{word}_PORT = {}", s.port),
            format!("{word}_USER = {}", quote(s.user)),
            format!("{word}_PASSWORD = {}", quote(s.password)),
        ];
        match (s.position, self.version.product) {
            (Position::Gtid | Position::GtidContinuing, Product::MySql) => {
                options.push(format!("{word}_AUTO_POSITION = 1"))
            }
            (Position::GtidContinuing, Product::MariaDb) => {
                options.push("MASTER_USE_GTID = current_pos".into())
            }
            (Position::Gtid, Product::MariaDb) => {
                options.push("MASTER_USE_GTID = slave_pos".into())
            }
            (Position::OldestBinlog, Product::MySql) => {
                options.push(format!("{word}_AUTO_POSITION = 0"))
            }
            (Position::OldestBinlog, Product::MariaDb) => {
                options.push("MASTER_USE_GTID = no".into())
            }
            (Position::File { file, pos }, product) => {
                if product == Product::MariaDb {
                    options.push("MASTER_USE_GTID = no".into());
                }
                if product == Product::MySql {
                    options.push(format!("{word}_AUTO_POSITION = 0"));
                }
                options.push(format!("{word}_LOG_FILE = {}", quote(file)));
                options.push(format!("{word}_LOG_POS = {pos}"));
            }
        }
        // Retry every second, not every minute (the default), so a replica
        // that starts before its source catches up as soon as it is there;
        // MySQL also stops after 10 tries by default: a day of tries instead.
        options.push(format!("{word}_CONNECT_RETRY = 1"));
        if self.mysql() {
            options.push(format!("{word}_RETRY_COUNT = 86400"));
        }
        options.push(self.channel_tls(s, word));
        Ok(format!("{verb} {}", options.join(", ")))
    }

    /// The replication channel's TLS options, as `change_source` says.
    fn channel_tls(&self, s: &SourceSpec, word: &str) -> String {
        let mut out = Vec::new();
        match s.tls {
            Tls::Off => {
                out.push(format!("{word}_SSL = 0"));
                // caching_sha2_password (MySQL 8's default) over plain TCP
                // needs the server's RSA key: the pinned one, or what the
                // server sends; 5.7 and MariaDB have no such option.
                if self.mysql() && self.version.at_least(8, 0, 4) {
                    match s.public_key {
                        Some(path) => out.push(format!("{word}_PUBLIC_KEY_PATH = {}", quote(path))),
                        None => out.push(format!("GET_{word}_PUBLIC_KEY = 1")),
                    }
                }
            }
            // Said explicitly: MariaDB 11.4+ verifies by default. Preferred
            // is resolved before (`Tls::for_source`); as a fallback it asks
            // for what it would have become with a source that offers TLS.
            Tls::Required | Tls::Preferred => {
                out.push(format!("{word}_SSL = 1, {word}_SSL_VERIFY_SERVER_CERT = 0"))
            }
            // MySQL checks the chain against SOURCE_SSL_CA and, with
            // VERIFY_SERVER_CERT, the name. MariaDB's replica has no
            // chain-only check: verify-ca is verify-identity there.
            Tls::VerifyCa { ca } if self.mysql() => out.push(format!(
                "{word}_SSL = 1, {word}_SSL_CA = {}, {word}_SSL_VERIFY_SERVER_CERT = 0",
                quote(ca)
            )),
            Tls::VerifyCa { ca } | Tls::VerifyIdentity { ca } => out.push(format!(
                "{word}_SSL = 1, {word}_SSL_CA = {}, {word}_SSL_VERIFY_SERVER_CERT = 1",
                quote(ca)
            )),
        }
        out.join(", ")
    }
}

/// The dialect of a version string, for unit tests here and elsewhere.
#[cfg(test)]
pub fn dialect(version: &str) -> Dialect {
    Dialect::new(ServerVersion::parse(version).unwrap()).unwrap()
}

/// GTID auto-positioning when both servers support it (MariaDB always;
/// MySQL with gtid_mode=ON on both), the oldest binary log when neither
/// side uses GTIDs, and an error for a mix that MySQL cannot replicate
/// across. The modes are MySQL's `@@GLOBAL.gtid_mode` (None on MariaDB).
pub fn positioning(
    source_mode: Option<&str>,
    replica_mode: Option<&str>,
) -> Result<Position<'static>> {
    let on = |m: Option<&str>| m.is_none_or(|m| m.eq_ignore_ascii_case("ON"));
    match (on(source_mode), on(replica_mode)) {
        (true, true) => Ok(Position::Gtid),
        // OFF and the permissive modes (for migrating, one step at a time).
        (false, false) => Ok(Position::OldestBinlog),
        _ => bail!(
            "gtid_mode is {} on the source but {} on this replica; set gtid_mode (and enforce_gtid_consistency) the same on both, ON for GTID auto-positioning",
            source_mode.unwrap_or("ON"),
            replica_mode.unwrap_or("ON")
        ),
    }
}

/// A SHOW REPLICA STATUS column as MySQL 8.0.22+ names it, whichever
/// server said it: MariaDB and older MySQL say Master where it says Source
/// and Slave where it says Replica (Master_Host, Slave_IO_Running,
/// Seconds_Behind_Master).
pub fn canonical_status_column(name: &str) -> String {
    name.replace("Master", "Source").replace("Slave", "Replica")
}

#[cfg(test)]
mod tests;
