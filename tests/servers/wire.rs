//! replikit's own client (`src/db/wire.rs`) against real servers of every
//! flavor, over the socket and over TCP: log-in with the plugins they use
//! (mysql_native_password, caching_sha2_password's full path in clear on the
//! socket and RSA-encrypted over TCP, its fast path, unix_socket), result sets
//! with NULLs, many rows and large values, server errors, and passwords that
//! need quoting.

use std::time::Duration;

use crate::common::servers::{Flavor, Server};
use replikit::db::dialect::ServerVersion;
use replikit::db::sql::quote;
use replikit::db::wire::{probe, Conn, Remote, ServerError};

const T: Duration = Duration::from_secs(10);

fn check(flavor: Flavor) {
    let server = Server::start(flavor);
    // Without credentials: the TCP greeting gives flavor and version. MySQL
    // greets only hosts that some account may connect from; others get
    // error 1130 instead, which still shows that the server is up.
    let addr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    if flavor == Flavor::MySql97 {
        let refused = probe(addr, T).unwrap_err();
        assert!(
            format!("{refused:#}").contains("server error 1130"),
            "{refused:#}"
        );
        server.sql("CREATE USER 'any'@'127.0.0.1'");
    }
    let greeting = probe(addr, T).unwrap();
    let version = ServerVersion::parse(&greeting.server_version).unwrap();
    assert_eq!(
        ServerVersion::parse(&server.sql("SELECT VERSION()")).unwrap(),
        version,
        "{greeting:?}"
    );

    let mut root = Conn::connect(&server.socket(), "root", "", T).unwrap();
    // MariaDB 10.x greets with its old "5.5.5-" prefix.
    let version = root.server_version.trim_start_matches("5.5.5-");
    assert!(
        version.starts_with(flavor.version_prefix()),
        "{}",
        root.server_version
    );

    let rows = root.query("SELECT NULL AS n, 'x' AS s, 42 AS i").unwrap();
    assert_eq!(rows.columns, ["n", "s", "i"]);
    assert_eq!(
        rows.rows,
        vec![vec![None, Some("x".to_string()), Some("42".to_string())]]
    );
    assert_eq!(rows.get(0, "s"), Some("x"));
    assert_eq!(rows.get(0, "n"), None);

    let many = root.query("SELECT seq FROM (WITH RECURSIVE c(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM c WHERE seq < 1000) SELECT seq FROM c) t").unwrap();
    assert_eq!(many.rows.len(), 1000);
    assert_eq!(many.rows[999][0].as_deref(), Some("1000"));
    let big = root.query("SELECT REPEAT('a', 100000) AS a").unwrap();
    assert_eq!(big.get(0, "a").map(str::len), Some(100_000));

    let err = root.query("SELECT * FROM nowhere.nothing").unwrap_err();
    let err = err.downcast_ref::<ServerError>().expect("a server error");
    assert!(err.code == 1049 || err.code == 1146, "{err}");
    // The connection is still usable after an error.
    assert_eq!(
        root.query("SELECT 1 AS one").unwrap().get(0, "one"),
        Some("1")
    );
    assert!(root.query("CREATE DATABASE wired").unwrap().rows.is_empty());

    // A password that needs quoting, with the flavor's default plugin
    // (caching_sha2_password on MySQL, mysql_native_password on MariaDB).
    let password = "p'w\\ \"비밀\" 🔑";
    root.query(&format!(
        "CREATE USER 'mon'@'localhost' IDENTIFIED BY {}",
        quote(password)
    ))
    .unwrap();
    root.query("GRANT PROCESS ON *.* TO 'mon'@'localhost'")
        .unwrap();
    for attempt in ["first log-in", "second log-in"] {
        let mut mon = Conn::connect(&server.socket(), "mon", password, T)
            .unwrap_or_else(|e| panic!("{flavor:?} {attempt}: {e:#}"));
        assert_eq!(
            mon.query("SELECT CURRENT_USER() AS u").unwrap().get(0, "u"),
            Some("mon@localhost")
        );
    }
    let denied = Conn::connect(&server.socket(), "mon", "wrong", T)
        .err()
        .expect("a wrong password is refused");
    assert!(format!("{denied:#}").contains("1045"), "{denied:#}");

    // Over TCP (how a replica reaches its source). On MySQL a new account
    // and a flushed cache mean caching_sha2_password's full authentication,
    // where the password goes encrypted with the server's RSA key; the
    // second log-in takes the fast path.
    root.query(&format!(
        "CREATE USER 'mon'@'127.0.0.1' IDENTIFIED BY {}",
        quote(password)
    ))
    .unwrap();
    for attempt in ["full", "fast", "full after FLUSH PRIVILEGES"] {
        if attempt.contains("FLUSH") {
            root.query("FLUSH PRIVILEGES").unwrap();
        }
        let mut mon = Conn::connect_tcp(addr, &Remote::plain("127.0.0.1"), "mon", password, T)
            .unwrap_or_else(|e| panic!("{flavor:?} {attempt} TCP log-in: {e:#}"));
        assert_eq!(
            mon.query("SELECT CURRENT_USER() AS u").unwrap().get(0, "u"),
            Some("mon@127.0.0.1")
        );
    }
    root.query("FLUSH PRIVILEGES").unwrap();
    let denied = Conn::connect_tcp(addr, &Remote::plain("127.0.0.1"), "mon", "wrong", T)
        .err()
        .expect("a wrong password is refused over TCP");
    assert!(format!("{denied:#}").contains("1045"), "{denied:#}");

    if flavor != Flavor::MySql97 {
        // A unix_socket user (MariaDB's default for root in its own
        // packages) logs in on who we are, with no password.
        root.query("ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket")
            .unwrap();
        let mut again = Conn::connect(&server.socket(), "root", "", T).unwrap();
        assert_eq!(
            again.query("SELECT 2 AS two").unwrap().get(0, "two"),
            Some("2")
        );
    }
}

per_flavor!(check);

#[test]
fn probing_a_port_without_a_server_fails_with_the_address() {
    let port = crate::common::servers::free_port();
    let err = probe(format!("127.0.0.1:{port}").parse().unwrap(), T).unwrap_err();
    assert!(
        format!("{err:#}").contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{err:#}"
    );
}
