//! The statement table and every rule of `Dialect`, per product and version.

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
        public_key: None,
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
        tls: &Tls::Required,
        public_key: None,
        ..gtid
    };
    assert!(dialect("9.7.4").change_source(&on).unwrap().ends_with(
        "SOURCE_RETRY_COUNT = 86400, SOURCE_SSL = 1, SOURCE_SSL_VERIFY_SERVER_CERT = 0"
    ));
    let verify = SourceSpec {
        tls: &Tls::VerifyIdentity {
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
        public_key: None,
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
        public_key: None,
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
    // Nothing persisted to undo on MariaDB; MySQL 8.0.11+ forgets it.
    assert!(!dialect("10.11.18-MariaDB")
        .set_writable()
        .iter()
        .any(|s| s.contains("PERSIST")));
    assert_eq!(
        dialect("9.7.4").set_writable()[0],
        "RESET PERSIST IF EXISTS super_read_only"
    );
    assert_eq!(
        dialect("10.11.18-MariaDB").set_read_only(),
        "SET GLOBAL read_only = ON"
    );
}

#[test]
fn status_columns_become_the_canonical_names() {
    for v in [
        "5.7.44",
        "8.0.21",
        "8.0.22",
        "9.7.4",
        "10.11.6-MariaDB",
        "11.8.3-MariaDB",
    ] {
        let canonical = dialect(v).status_columns().map(canonical_status_column);
        assert_eq!(
            canonical,
            [
                "Source_Host",
                "Source_Port",
                "Replica_IO_Running",
                "Replica_SQL_Running"
            ],
            "{v}"
        );
    }
    assert_eq!(
        canonical_status_column("Seconds_Behind_Master"),
        "Seconds_Behind_Source"
    );
    assert_eq!(canonical_status_column("Gtid_IO_Pos"), "Gtid_IO_Pos");
}

#[test]
fn the_donor_reads_routines_without_credential_tables_where_the_server_allows() {
    for (v, want) in [
        ("5.7.44", RoutineAccess::ProcTable),
        ("8.0.19", RoutineAccess::GlobalSelect),
        ("8.0.20", RoutineAccess::ShowRoutine),
        ("9.7.4", RoutineAccess::ShowRoutine),
        ("10.0.38-MariaDB", RoutineAccess::ProcTable),
        ("10.11.6-MariaDB", RoutineAccess::ProcTable),
        ("11.8.3-MariaDB", RoutineAccess::ProcTable),
    ] {
        assert_eq!(dialect(v).donor_routine_access(), want, "{v}");
    }
}

#[test]
fn only_mysqls_fence_stops_every_account() {
    assert!(dialect("9.7.0").read_only_stops_everyone());
    assert!(dialect("5.7.44-log").read_only_stops_everyone());
    assert!(!dialect("10.11.18-MariaDB").read_only_stops_everyone());
    assert!(!dialect("11.8.2-MariaDB").read_only_stops_everyone());
}

#[test]
fn after_a_change_of_primary_nodes_continue_from_their_own_gtids() {
    let spec = SourceSpec {
        host: "10.0.0.8",
        port: 3306,
        user: "repl",
        password: "pw",
        position: Position::GtidContinuing,
        tls: &Tls::Off,
        public_key: None,
    };
    // MariaDB: current_pos counts a former primary's own binary log.
    let maria = dialect("10.11.18-MariaDB").change_source(&spec).unwrap();
    assert!(maria.contains("MASTER_USE_GTID = current_pos"), "{maria}");
    let mysql = dialect("9.7.0").change_source(&spec).unwrap();
    assert!(mysql.contains("SOURCE_AUTO_POSITION = 1"), "{mysql}");
}

#[test]
fn high_availability_rules_per_flavor() {
    // (version, admin grants start, writable statements, progress, received column)
    let cases = [
        (
            "9.7.0",
            "SYSTEM_VARIABLES_ADMIN, CONNECTION_ADMIN, REPLICATION_SLAVE_ADMIN",
            vec![
                "RESET PERSIST IF EXISTS super_read_only",
                "RESET PERSIST IF EXISTS read_only",
                "SET GLOBAL read_only = OFF",
            ],
            "SELECT @@GLOBAL.gtid_executed AS g",
            "Retrieved_Gtid_Set",
        ),
        (
            "5.7.44-log",
            "SUPER, REPLICATION CLIENT",
            vec!["SET GLOBAL read_only = OFF"],
            "SELECT @@GLOBAL.gtid_executed AS g",
            "Retrieved_Gtid_Set",
        ),
        (
            "10.11.18-MariaDB",
            "READ_ONLY ADMIN, CONNECTION ADMIN, REPLICATION SLAVE ADMIN, REPLICA MONITOR",
            vec!["SET GLOBAL read_only = OFF"],
            "SELECT @@GLOBAL.gtid_current_pos AS g",
            "Gtid_IO_Pos",
        ),
        (
            "10.5.4-MariaDB",
            "READ_ONLY ADMIN, CONNECTION ADMIN, REPLICATION SLAVE ADMIN, BINLOG MONITOR",
            vec!["SET GLOBAL read_only = OFF"],
            "SELECT @@GLOBAL.gtid_current_pos AS g",
            "Gtid_IO_Pos",
        ),
        (
            "10.4.30-MariaDB",
            "SUPER, REPLICATION CLIENT",
            vec!["SET GLOBAL read_only = OFF"],
            "SELECT @@GLOBAL.gtid_current_pos AS g",
            "Gtid_IO_Pos",
        ),
    ];
    for (version, grants, writable, progress, received) in cases {
        let d = dialect(version);
        assert!(
            d.admin_grants().starts_with(grants),
            "{version}: {}",
            d.admin_grants()
        );
        assert_eq!(d.set_writable(), writable, "{version}");
        assert_eq!(d.gtid_progress_query(), progress, "{version}");
        assert_eq!(d.received_gtids_column(), received, "{version}");
    }
    let maria = dialect("11.8.2-MariaDB");
    assert_eq!(
        maria.wait_for_gtids("0-1-5", 30),
        "SELECT MASTER_GTID_WAIT('0-1-5', 30) AS w"
    );
    assert!(maria.gtid_held_query().contains("gtid_slave_pos"));
    assert_eq!(
        dialect("9.7.0").wait_for_gtids("u:1-5", 30),
        "SELECT WAIT_FOR_EXECUTED_GTID_SET('u:1-5', 30) AS w"
    );
}

#[test]
fn semi_sync_per_product_and_version() {
    let timeout = std::time::Duration::from_secs(10);
    // (version, plugins, source side's first statement, replica side's last)
    let cases = [
        (
            "9.7.4",
            2,
            "SET GLOBAL rpl_semi_sync_source_timeout = 10000",
            "SET GLOBAL rpl_semi_sync_replica_enabled = ON",
        ),
        (
            "8.0.25",
            2,
            "SET GLOBAL rpl_semi_sync_master_timeout = 10000",
            "SET GLOBAL rpl_semi_sync_slave_enabled = ON",
        ),
        (
            "10.11.18-MariaDB",
            0,
            "SET GLOBAL rpl_semi_sync_master_timeout = 10000",
            "SET GLOBAL rpl_semi_sync_slave_enabled = ON",
        ),
    ];
    for (version, plugins, source_first, replica_last) in cases {
        let d = dialect(version);
        assert_eq!(d.semi_sync_plugins().len(), plugins, "{version}");
        let source = d.semi_sync(true, timeout);
        assert_eq!(source[0], source_first, "{version}");
        assert!(
            source
                .iter()
                .any(|s| s.ends_with("_wait_point = AFTER_SYNC")),
            "{version}"
        );
        // One replica's acknowledgement, said explicitly where the server
        // has the setting (MariaDB always waits for one).
        assert_eq!(
            source.iter().filter(|s| s.contains("_wait_for_")).count(),
            usize::from(plugins > 0),
            "{version}"
        );
        if plugins > 0 {
            assert!(
                source.iter().any(|s| s.ends_with("_count = 1")),
                "{version}"
            );
        }
        // The source side on, the replica side off, and the other way round.
        assert!(
            source.last().unwrap().ends_with("_enabled = OFF"),
            "{version}"
        );
        let replica = d.semi_sync(false, timeout);
        assert_eq!(replica.last().unwrap(), replica_last, "{version}");
        assert!(replica[0].ends_with("_enabled = OFF"), "{version}");
    }
    assert_eq!(
        dialect("9.7.4").semi_sync_plugins()[0],
        ("rpl_semi_sync_source", "semisync_source.so")
    );
}
