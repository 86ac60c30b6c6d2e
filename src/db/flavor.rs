//! Which server we talk to, and the statements it accepts. MySQL renamed
//! its replication statements in 8.0.22/8.0.23/8.2 and removed the old ones
//! in 8.4; MariaDB kept CHANGE MASTER TO and added REPLICA aliases in 10.5.
//! The table is in ../shared/DESIGN.md; tests/dialect.rs runs every
//! statement here on real servers.

use std::fmt;

use anyhow::{anyhow, bail, Result};

use super::sql::quote;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    MySql,
    MariaDb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release(pub u32, pub u32, pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerVersion {
    pub product: Product,
    pub release: Release,
}

impl ServerVersion {
    /// Parses `SELECT VERSION()`: `9.7.4-2`, `8.0.36-log`,
    /// `10.11.18-MariaDB-0+deb12u1`, and MariaDB's old `5.5.5-10.6.4-MariaDB`.
    pub fn parse(version: &str) -> Result<ServerVersion> {
        let mariadb = version.contains("MariaDB");
        let text = match version.strip_prefix("5.5.5-") {
            Some(rest) if mariadb => rest,
            _ => version,
        };
        let numbers = text.split(['-', '+', ' ']).next().unwrap_or_default();
        let parts: Vec<u32> = numbers
            .split('.')
            .map(|p| {
                p.parse()
                    .map_err(|_| anyhow!("server version {version:?} is not like 8.0.36"))
            })
            .collect::<Result<_>>()?;
        let [major, minor, patch] = parts[..] else {
            bail!("server version {version:?} is not like 8.0.36");
        };
        Ok(ServerVersion {
            product: if mariadb {
                Product::MariaDb
            } else {
                Product::MySql
            },
            release: Release(major, minor, patch),
        })
    }

    fn at_least(&self, major: u32, minor: u32, patch: u32) -> bool {
        self.release >= Release(major, minor, patch)
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Release(a, b, c) = self.release;
        let name = match self.product {
            Product::MySql => "MySQL",
            Product::MariaDb => "MariaDB",
        };
        write!(f, "{name} {a}.{b}.{c}")
    }
}

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
}

/// TLS for a replica's connection to its source (REPLIKIT_REPL_SSL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    Off,
    /// Encrypted; the source's certificate is not checked.
    On,
    /// Encrypted, and the certificate must be signed by this CA (a path the
    /// server reads) and name the source host.
    Verify {
        ca: String,
    },
}

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

    pub fn replica_status(&self) -> &'static str {
        if self.replica_words() {
            "SHOW REPLICA STATUS"
        } else {
            "SHOW SLAVE STATUS"
        }
    }

    pub fn start_replica(&self) -> &'static str {
        if self.replica_words() {
            "START REPLICA"
        } else {
            "START SLAVE"
        }
    }

    pub fn stop_replica(&self) -> &'static str {
        if self.replica_words() {
            "STOP REPLICA"
        } else {
            "STOP SLAVE"
        }
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

    /// Forgets every replication set-up (and the position in it).
    pub fn reset_replica_all(&self) -> &'static str {
        if self.replica_words() {
            "RESET REPLICA ALL"
        } else {
            "RESET SLAVE ALL"
        }
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

    /// For a primary: undoes a read-only state that `set_read_only`
    /// persisted while this node was a replica. None where nothing can
    /// have been persisted.
    pub fn unpersist_read_only(&self) -> Option<[&'static str; 3]> {
        (self.mysql() && self.version.at_least(8, 0, 11)).then_some([
            "RESET PERSIST IF EXISTS super_read_only",
            "RESET PERSIST IF EXISTS read_only",
            "SET GLOBAL read_only = OFF",
        ])
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

    /// Names of the replica status columns replikit reads, in this order:
    /// source host, source port, I/O thread, SQL thread.
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
                Position::Gtid | Position::OldestBinlog => "",
            };
            let ca = match s.tls {
                Tls::Verify { ca } => ca,
                _ => "",
            };
            for (what, value) in [
                ("host", s.host),
                ("user", s.user),
                ("password", s.password),
                ("binlog file", file),
                ("CA file", ca),
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
            (Position::Gtid, Product::MySql) => options.push(format!("{word}_AUTO_POSITION = 1")),
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
        match s.tls {
            Tls::Off => {
                options.push(format!("{word}_SSL = 0"));
                // caching_sha2_password (MySQL 8's default) over plain TCP
                // needs the server's RSA key; 5.7 and MariaDB have no such
                // option.
                if self.mysql() && self.version.at_least(8, 0, 4) {
                    options.push(format!("GET_{word}_PUBLIC_KEY = 1"));
                }
            }
            // Said explicitly: MariaDB 11.4+ verifies by default.
            Tls::On => options.push(format!("{word}_SSL = 1, {word}_SSL_VERIFY_SERVER_CERT = 0")),
            Tls::Verify { ca } => options.push(format!(
                "{word}_SSL = 1, {word}_SSL_CA = {}, {word}_SSL_VERIFY_SERVER_CERT = 1",
                quote(ca)
            )),
        }
        Ok(format!("{verb} {}", options.join(", ")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtid_when_both_sides_have_it_else_coordinates() {
        use Position::*;
        let cases: &[(Option<&str>, Option<&str>, Option<Position>)] = &[
            (None, None, Some(Gtid)),
            (Some("ON"), Some("ON"), Some(Gtid)),
            (Some("on"), Some("ON"), Some(Gtid)),
            (Some("OFF"), Some("OFF"), Some(OldestBinlog)),
            (Some("OFF_PERMISSIVE"), Some("OFF"), Some(OldestBinlog)),
            (
                Some("ON_PERMISSIVE"),
                Some("OFF_PERMISSIVE"),
                Some(OldestBinlog),
            ),
            (Some("ON"), Some("OFF"), None),
            (Some("OFF"), Some("ON"), None),
            (Some("ON_PERMISSIVE"), Some("ON"), None),
        ];
        for (source, replica, want) in cases {
            let got = positioning(*source, *replica);
            match want {
                Some(w) => assert_eq!(got.unwrap(), *w, "{source:?} {replica:?}"),
                None => {
                    let e = got.unwrap_err().to_string();
                    assert!(e.contains("gtid_mode is"), "{e}");
                    assert!(e.contains("set gtid_mode"), "{e}");
                }
            }
        }
    }

    use super::dialect;

    #[test]
    fn versions_parse() {
        let cases = [
            ("9.7.4-2", Product::MySql, Release(9, 7, 4)),
            ("8.0.36-log", Product::MySql, Release(8, 0, 36)),
            ("5.7.44", Product::MySql, Release(5, 7, 44)),
            (
                "10.11.18-MariaDB-0+deb12u1",
                Product::MariaDb,
                Release(10, 11, 18),
            ),
            (
                "11.8.6-MariaDB-0+deb13u1 from Debian",
                Product::MariaDb,
                Release(11, 8, 6),
            ),
            ("5.5.5-10.6.4-MariaDB", Product::MariaDb, Release(10, 6, 4)),
        ];
        for (text, product, release) in cases {
            assert_eq!(
                ServerVersion::parse(text).unwrap(),
                ServerVersion { product, release },
                "{text}"
            );
        }
        for bad in ["", "nine", "8.0", "8.0.x", "8.0.1.2"] {
            assert!(ServerVersion::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn too_old_servers_are_refused_by_name() {
        let err = Dialect::new(ServerVersion::parse("5.6.51").unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("MySQL 5.6.51 is too old"), "{err}");
        assert!(Dialect::new(ServerVersion::parse("5.5.5-5.5.68-MariaDB").unwrap()).is_err());
    }

    /// One row per line of the DESIGN.md table.
    #[test]
    fn statement_table() {
        let rows = [
            // version, binlog status, replica status, start, host column
            (
                "5.7.44",
                "SHOW MASTER STATUS",
                "SHOW SLAVE STATUS",
                "START SLAVE",
                "Master_Host",
            ),
            (
                "8.0.21",
                "SHOW MASTER STATUS",
                "SHOW SLAVE STATUS",
                "START SLAVE",
                "Master_Host",
            ),
            (
                "8.0.22",
                "SHOW MASTER STATUS",
                "SHOW REPLICA STATUS",
                "START REPLICA",
                "Source_Host",
            ),
            (
                "8.0.23",
                "SHOW MASTER STATUS",
                "SHOW REPLICA STATUS",
                "START REPLICA",
                "Source_Host",
            ),
            (
                "8.1.0",
                "SHOW MASTER STATUS",
                "SHOW REPLICA STATUS",
                "START REPLICA",
                "Source_Host",
            ),
            (
                "8.2.0",
                "SHOW BINARY LOG STATUS",
                "SHOW REPLICA STATUS",
                "START REPLICA",
                "Source_Host",
            ),
            (
                "8.4.3",
                "SHOW BINARY LOG STATUS",
                "SHOW REPLICA STATUS",
                "START REPLICA",
                "Source_Host",
            ),
            (
                "9.7.4-2",
                "SHOW BINARY LOG STATUS",
                "SHOW REPLICA STATUS",
                "START REPLICA",
                "Source_Host",
            ),
            (
                "10.4.34-MariaDB",
                "SHOW MASTER STATUS",
                "SHOW SLAVE STATUS",
                "START SLAVE",
                "Master_Host",
            ),
            (
                "10.5.1-MariaDB",
                "SHOW MASTER STATUS",
                "SHOW REPLICA STATUS",
                "START REPLICA",
                "Master_Host",
            ),
            (
                "10.11.18-MariaDB",
                "SHOW BINLOG STATUS",
                "SHOW REPLICA STATUS",
                "START REPLICA",
                "Master_Host",
            ),
            (
                "11.8.6-MariaDB",
                "SHOW BINLOG STATUS",
                "SHOW REPLICA STATUS",
                "START REPLICA",
                "Master_Host",
            ),
        ];
        for (v, binlog, status, start, column) in rows {
            let d = dialect(v);
            assert_eq!(
                (
                    d.binlog_status(),
                    d.replica_status(),
                    d.start_replica(),
                    d.status_columns()[0]
                ),
                (binlog, status, start, column),
                "{v}"
            );
            assert_eq!(d.stop_replica(), start.replace("START", "STOP"), "{v}");
        }
        // information_schema_stats_expiry came with MySQL 8.0.3.
        for (v, fresh) in [
            ("8.0.2", false),
            ("8.0.3", true),
            ("9.7.4", true),
            ("11.8.6-MariaDB", false),
        ] {
            assert_eq!(dialect(v).fresh_table_sizes().is_some(), fresh, "{v}");
        }
        for (v, clause) in [
            ("8.0.40", "DISABLE ON SLAVE"),
            ("8.4.0", "DISABLE ON REPLICA"),
            ("9.7.4", "DISABLE ON REPLICA"),
            ("11.8.6-MariaDB", "DISABLE ON SLAVE"),
        ] {
            assert_eq!(dialect(v).disable_event_on_replica(), clause, "{v}");
        }
    }

    #[test]
    fn change_source_per_flavor() {
        let gtid = SourceSpec {
            host: "db1",
            port: 3306,
            user: "repl",
            password: "p'w",
            position: Position::Gtid,
            tls: &Tls::Off,
        };
        let file = SourceSpec {
            position: Position::File {
                file: "bin.000002",
                pos: 157,
            },
            ..gtid
        };
        let oldest = SourceSpec {
            position: Position::OldestBinlog,
            ..gtid
        };
        let cases = [
            ("9.7.4", oldest, "CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'db1', SOURCE_PORT = 3306, SOURCE_USER = 'repl', SOURCE_PASSWORD = 'p\\'w', SOURCE_AUTO_POSITION = 0, SOURCE_CONNECT_RETRY = 1, SOURCE_RETRY_COUNT = 86400, SOURCE_SSL = 0, GET_SOURCE_PUBLIC_KEY = 1"),
            ("10.11.18-MariaDB", oldest, "CHANGE MASTER TO MASTER_HOST = 'db1', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = 'p\\'w', MASTER_USE_GTID = no, MASTER_CONNECT_RETRY = 1, MASTER_SSL = 0"),
            ("9.7.4", gtid, "CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'db1', SOURCE_PORT = 3306, SOURCE_USER = 'repl', SOURCE_PASSWORD = 'p\\'w', SOURCE_AUTO_POSITION = 1, SOURCE_CONNECT_RETRY = 1, SOURCE_RETRY_COUNT = 86400, SOURCE_SSL = 0, GET_SOURCE_PUBLIC_KEY = 1"),
            ("8.0.23", file, "CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'db1', SOURCE_PORT = 3306, SOURCE_USER = 'repl', SOURCE_PASSWORD = 'p\\'w', SOURCE_AUTO_POSITION = 0, SOURCE_LOG_FILE = 'bin.000002', SOURCE_LOG_POS = 157, SOURCE_CONNECT_RETRY = 1, SOURCE_RETRY_COUNT = 86400, SOURCE_SSL = 0, GET_SOURCE_PUBLIC_KEY = 1"),
            ("8.0.22", gtid, "CHANGE MASTER TO MASTER_HOST = 'db1', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = 'p\\'w', MASTER_AUTO_POSITION = 1, MASTER_CONNECT_RETRY = 1, MASTER_RETRY_COUNT = 86400, MASTER_SSL = 0, GET_MASTER_PUBLIC_KEY = 1"),
            ("5.7.44", gtid, "CHANGE MASTER TO MASTER_HOST = 'db1', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = 'p\\'w', MASTER_AUTO_POSITION = 1, MASTER_CONNECT_RETRY = 1, MASTER_RETRY_COUNT = 86400, MASTER_SSL = 0"),
            ("10.11.18-MariaDB", gtid, "CHANGE MASTER TO MASTER_HOST = 'db1', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = 'p\\'w', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1, MASTER_SSL = 0"),
            ("11.8.6-MariaDB", file, "CHANGE MASTER TO MASTER_HOST = 'db1', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = 'p\\'w', MASTER_USE_GTID = no, MASTER_LOG_FILE = 'bin.000002', MASTER_LOG_POS = 157, MASTER_CONNECT_RETRY = 1, MASTER_SSL = 0"),
        ];
        for (v, spec, want) in cases {
            assert_eq!(dialect(v).change_source(&spec).unwrap(), want, "{v}");
        }
        let on = SourceSpec {
            tls: &Tls::On,
            ..gtid
        };
        assert!(dialect("9.7.4").change_source(&on).unwrap().ends_with(
            "SOURCE_RETRY_COUNT = 86400, SOURCE_SSL = 1, SOURCE_SSL_VERIFY_SERVER_CERT = 0"
        ));
        let verify = SourceSpec {
            tls: &Tls::Verify {
                ca: "/etc/ca'.pem".into(),
            },
            ..gtid
        };
        assert!(dialect("10.11.18-MariaDB")
            .change_source(&verify)
            .unwrap()
            .ends_with("MASTER_CONNECT_RETRY = 1, MASTER_SSL = 1, MASTER_SSL_CA = '/etc/ca\\'.pem', MASTER_SSL_VERIFY_SERVER_CERT = 1"));
    }

    #[test]
    fn line_feeds_are_refused_on_mysql_without_repeating_the_secret() {
        let spec = SourceSpec {
            host: "db1",
            port: 3306,
            user: "repl",
            password: "top\nsecret",
            position: Position::Gtid,
            tls: &Tls::Off,
        };
        let err = dialect("9.7.4")
            .change_source(&spec)
            .unwrap_err()
            .to_string();
        assert!(err.contains("password contains a line feed"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        assert!(dialect("11.8.6-MariaDB").change_source(&spec).is_ok());
    }

    #[test]
    fn passwords_over_the_servers_limit_are_refused_first() {
        let spec = |password| SourceSpec {
            host: "db1",
            port: 3306,
            user: "repl",
            password,
            position: Position::Gtid,
            tls: &Tls::Off,
        };
        let (p32, p33, p96, p97, ko11) = (
            "p".repeat(32),
            "p".repeat(33),
            "p".repeat(96),
            "p".repeat(97),
            "가".repeat(11),
        );
        let mysql = dialect("9.7.4");
        assert!(mysql.change_source(&spec(&p32)).is_ok());
        let err = mysql.change_source(&spec(&p33)).unwrap_err().to_string();
        assert!(
            err.contains("longer than 32 bytes") && !err.contains("ppp"),
            "{err}"
        );
        // Bytes, not characters: 11 Korean syllables are 33 bytes.
        assert!(mysql.change_source(&spec(&ko11)).is_err());
        let mariadb = dialect("11.8.6-MariaDB");
        assert!(mariadb.change_source(&spec(&p96)).is_ok());
        assert!(mariadb.change_source(&spec(&p97)).is_err());
        for d in [mysql, mariadb] {
            assert!(d.change_source(&spec("비밀")).is_ok());
            let err = d.change_source(&spec("key🔑")).unwrap_err().to_string();
            assert!(
                err.contains("such as an emoji") && !err.contains("key"),
                "{err}"
            );
        }
    }

    #[test]
    fn new_credentials_keep_the_position() {
        assert_eq!(
            dialect("9.7.4").change_credentials("repl", "n'ew").unwrap(),
            "CHANGE REPLICATION SOURCE TO SOURCE_USER = 'repl', SOURCE_PASSWORD = 'n\\'ew'"
        );
        assert_eq!(
            dialect("10.11.18-MariaDB")
                .change_credentials("repl", "x")
                .unwrap(),
            "CHANGE MASTER TO MASTER_USER = 'repl', MASTER_PASSWORD = 'x'"
        );
        assert!(dialect("9.7.4")
            .change_credentials("repl", &"p".repeat(33))
            .is_err());
    }

    #[test]
    fn read_only_uses_super_read_only_on_mysql() {
        assert_eq!(
            dialect("8.4.3").set_read_only(),
            "SET PERSIST super_read_only = ON"
        );
        assert_eq!(
            dialect("8.0.10").set_read_only(),
            "SET GLOBAL super_read_only = ON"
        );
        assert!(dialect("10.11.18-MariaDB").unpersist_read_only().is_none());
        assert_eq!(
            dialect("9.7.4").unpersist_read_only().unwrap()[0],
            "RESET PERSIST IF EXISTS super_read_only"
        );
        assert_eq!(
            dialect("10.11.18-MariaDB").set_read_only(),
            "SET GLOBAL read_only = ON"
        );
    }
}
