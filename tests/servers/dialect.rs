//! The SQL that replikit will send, run on real servers of every flavor:
//! each server's version maps to the right dialect, the dialect's statements
//! are accepted (and, on MySQL 9.7, the removed old forms are not), and
//! hostile passwords and user names survive quoting byte for byte.

use crate::common::servers::{Flavor, Server};
use replikit::db::dialect::{Dialect, Position, Product, ServerVersion, SourceSpec, Tls};
use replikit::db::sql::{quote, SESSION_SETUP};

const HOSTILE: &[&str] = &[
    "x'; DROP DATABASE mysql; --",
    "back\\slash",
    "\"quote\"",
    "a space",
    "100%_",
    "비밀번호",
    "🔑emoji",
    "nul\0and\\0",
    "line\nbreak\r\u{1a}",
];

fn check(flavor: Flavor) {
    let server = Server::start(flavor);
    let version = ServerVersion::parse(&server.sql("SELECT VERSION()")).unwrap();
    let want = if flavor == Flavor::MySql97 {
        Product::MySql
    } else {
        Product::MariaDb
    };
    assert_eq!(version.product, want, "{flavor:?}");
    let d = Dialect::new(version).unwrap();

    // An operator's NO_BACKSLASH_ESCAPES would change what a backslash in a
    // literal means; every replikit session resets sql_mode first.
    server.sql("SET GLOBAL sql_mode = 'NO_BACKSLASH_ESCAPES'");
    let plain = server.raw_value(&format!("SELECT {}", quote("back\\slash")));
    assert_ne!(
        plain.trim_end(),
        "back\\slash",
        "{flavor:?}: the mode did not bite, so this test proves nothing"
    );
    for text in HOSTILE {
        let got = server.raw_value(&format!("{SESSION_SETUP}; SELECT {}", quote(text)));
        assert_eq!(
            got.trim_end_matches('\n'),
            *text,
            "{flavor:?} changed {text:?}"
        );
    }

    server.sql(d.binlog_status());
    server.sql(d.replica_status());
    assert_eq!(d.fresh_table_sizes().is_some(), flavor == Flavor::MySql97);
    if let Some(fresh) = d.fresh_table_sizes() {
        server.sql(fresh);
    }
    let verify = Tls::VerifyIdentity {
        ca: "/etc/mysql/ca.pem".into(),
    };
    let verify_ca = Tls::VerifyCa {
        ca: "/etc/mysql/ca.pem".into(),
    };
    for (i, password) in HOSTILE.iter().enumerate() {
        // User names go to the status output, which must stay one line.
        let user = format!("repl'\\{i}\"");
        let position = if i % 2 == 0 {
            Position::Gtid
        } else {
            Position::File {
                file: "binlog.000001",
                pos: 4,
            }
        };
        let spec = SourceSpec {
            host: "primary.example",
            port: 3307,
            user: &user,
            password,
            position,
            tls: match i % 5 {
                0 | 4 => &Tls::Off,
                1 => &Tls::Required,
                2 => &verify_ca,
                _ => &verify,
            },
            // A pinned key file, where TLS is off (read when replication starts).
            public_key: (i % 5 == 4).then_some("/etc/mysql/source-public-key.pem"),
        };
        let statement = match d.change_source(&spec) {
            Ok(statement) => statement,
            Err(e) => {
                // What the servers cannot take (see src/db/dialect/) is
                // refused first, without repeating the password.
                let mysql = flavor == Flavor::MySql97;
                let unstorable = password.chars().any(|c| u32::from(c) > 0xffff)
                    || (mysql && (password.contains('\n') || password.len() > 32));
                assert!(unstorable, "{flavor:?} refused {password:?}: {e}");
                assert!(!e.to_string().contains(password), "{e}");
                continue;
            }
        };
        server.sql(&format!("{SESSION_SETUP}; {statement}"));
        let status = server.rows(d.replica_status());
        assert_eq!(status.len(), 1, "{flavor:?}: {status:?}");
        let row = &status[0];
        let host_column = d.status_columns()[0];
        assert_eq!(row[host_column], "primary.example", "{flavor:?}");
        let user_column = host_column.replace("Host", "User");
        assert_eq!(row[&user_column], user, "{flavor:?} mangled the user name");
    }
    server.sql(d.set_read_only());
    assert_eq!(server.sql("SELECT @@read_only"), "1");
    if flavor == Flavor::MySql97 {
        assert_eq!(server.sql("SELECT @@super_read_only"), "1");
        for removed in [
            "SHOW MASTER STATUS",
            "SHOW SLAVE STATUS",
            "START SLAVE",
            "CHANGE MASTER TO MASTER_HOST = 'x'",
        ] {
            assert!(
                server.sql_result(removed).is_err(),
                "MySQL 9.7 accepted {removed}"
            );
        }
    }
}

per_flavor!(check);
