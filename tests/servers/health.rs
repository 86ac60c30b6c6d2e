//! `replikit health` and `replikit status` on real servers of every flavor:
//! a healthy replica passes; a stopped SQL thread, a replication error (a
//! conflicting row) and lag above the limit fail with their reason; the
//! temporary server of first start-up fails --ready; the JSON matches its
//! documented schema; and the probes log in as the monitoring account,
//! which has one read-only privilege, not as root.

use std::process::Output;
use std::time::Duration;

use crate::common::servers::{Flavor, Server};
use crate::common::*;

/// `replikit ARGS` inside `server`'s root filesystem with `env`.
fn replikit(server: &Server, env: &[(&str, String)], args: &[&str]) -> Output {
    server
        .replikit_with(Some(("repl", "repl-pw")), env)
        .args(args)
        .bounded()
}

/// `replikit health ARGS` on a replica of `source`: exit code and stderr.
fn health(replica: &Server, source: &Server, args: &[&str]) -> (i32, String) {
    let mut all = vec!["health"];
    all.extend_from_slice(args);
    let out = replikit(replica, &source.as_source_env(), &all);
    let err = stderr(&out);
    assert!(err.lines().count() <= 1, "one line at most: {err}");
    (out.status.code().unwrap_or(-1), err)
}

fn pair(flavor: Flavor) -> (Server, Server) {
    let primary = Server::start_replicating(flavor);
    let replica = Server::start_replicating(flavor);
    let out = replikit(&primary, &[("MYSQL_MASTER", "1".into())], &["prepare"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = replikit(&replica, &primary.as_source_env(), &["prepare"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    primary.sql("CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY)");
    replica.wait_for_rows(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'app'",
        "1",
    );
    (primary, replica)
}

fn probes(flavor: Flavor) {
    let (primary, replica) = pair(flavor);

    // The monitoring account: one privilege, on every node.
    for server in [&primary, &replica] {
        let grants = server.sql("SHOW GRANTS FOR 'replikit_monitor'@'localhost'");
        // MariaDB shows REPLICA MONITOR by its other name.
        let privilege = if flavor == Flavor::MySql97 {
            "REPLICATION CLIENT"
        } else {
            "SLAVE MONITOR"
        };
        assert!(
            grants.contains(&format!("GRANT {privilege} ON *.*")),
            "{grants}"
        );
        assert!(
            !grants.contains("ALL") && !grants.contains("SELECT"),
            "{grants}"
        );
    }
    let (code, err) = health(&replica, &primary, &[]);
    assert_eq!((code, err.as_str()), (0, ""), "a healthy replica");
    let (code, err) = health(&replica, &primary, &["--replication", "--max-lag", "60"]);
    assert_eq!(code, 0, "{err}");
    let out = replikit(&primary, &[("MYSQL_MASTER", "1".into())], &["health"]);
    assert_eq!(out.status.code(), Some(0), "the primary: {}", stderr(&out));
    let (code, err) = health(&replica, &primary, &["--max-lag", "soon"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("--max-lag"), "{err}");

    // status, as text and as JSON that matches its schema.
    let out = replikit(&replica, &primary.as_source_env(), &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for want in [
        "role:         replica",
        &format!("source:       127.0.0.1:{}", primary.port),
        "threads:      I/O Yes, SQL Yes",
        "last error:   none",
    ] {
        assert!(text.contains(want), "{want} in\n{text}");
    }
    for (server, env, errant) in [
        (&replica, primary.as_source_env(), "\"errant\":\"\""),
        (
            &primary,
            vec![("MYSQL_MASTER", "1".to_string())],
            "\"errant\":null",
        ),
    ] {
        let out = replikit(server, &env, &["status", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let json = String::from_utf8_lossy(&out.stdout);
        matches_schema(&json);
        assert!(json.contains(errant), "{errant} in {json}");
    }

    // A stopped SQL thread.
    replica.sql("STOP REPLICA SQL_THREAD");
    let (code, err) = health(&replica, &primary, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("SQL thread No"), "{err}");
    replica.sql("START REPLICA SQL_THREAD");
    wait_for(Duration::from_secs(30), "healthy again", || {
        health(&replica, &primary, &[]).0 == 0
    });

    // Lag: the replica's SQL thread waits on a table locked on the replica.
    let lock = std::thread::spawn({
        let locker = replica
            .shell("$CLIENT --socket=$SOCK -uroot -e 'LOCK TABLES app.t READ; SELECT SLEEP(8)'");
        move || {
            let mut locker = locker;
            locker.bounded()
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    primary.sql("INSERT INTO app.t VALUES (1)");
    wait_for(Duration::from_secs(6), "the lag to pass 2 s", || {
        let (code, err) = health(&replica, &primary, &["--max-lag", "1"]);
        code == 1 && err.contains("s behind 127.0.0.1")
    });
    assert_eq!(
        health(&replica, &primary, &[]).0,
        0,
        "lag alone is no failure of --replication"
    );
    lock.join().unwrap();
    replica.wait_for_rows("SELECT COUNT(*) FROM app.t", "1");

    // An errant transaction: a schema created on the replica with
    // read-only lifted, binary-logged. Replication goes on, but --errant
    // (a default on a replica) names it.
    let lift = if flavor == Flavor::MySql97 {
        "SET GLOBAL super_read_only = OFF; "
    } else {
        ""
    };
    replica.sql(&format!(
        "{lift}SET GLOBAL read_only = OFF; CREATE DATABASE written_on_the_replica; SET GLOBAL read_only = ON"
    ));
    let own = if flavor == Flavor::MySql97 {
        replica.sql("SELECT @@server_uuid")
    } else {
        format!("0-{}-", replica.sql("SELECT @@server_id"))
    };
    let (code, err) = health(&replica, &primary, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--errant: ") && err.contains(&own),
        "{own} in {err}"
    );
    let out = replikit(&replica, &primary.as_source_env(), &["status", "--json"]);
    let json = String::from_utf8_lossy(&out.stdout).into_owned();
    matches_schema(&json);
    assert!(json.contains(&format!("\"errant\":\"{own}")), "{json}");
    // Not asked for, it is not checked.
    assert_eq!(health(&replica, &primary, &["--replication"]).0, 0);

    // A replication error: a row written on the replica behind
    // replication's back, then the same key on the primary.
    replica.sql(
        "SET GLOBAL read_only = OFF; SET SESSION sql_log_bin = 0; INSERT INTO app.t VALUES (2)",
    );
    primary.sql("INSERT INTO app.t VALUES (2)");
    wait_for(Duration::from_secs(30), "the replica to fail", || {
        let (code, err) = health(&replica, &primary, &[]);
        code == 1 && err.contains("error 1062")
    });
    let out = replikit(&replica, &primary.as_source_env(), &["status", "--json"]);
    let json = String::from_utf8_lossy(&out.stdout).into_owned();
    matches_schema(&json);
    assert!(json.contains("\"number\":1062"), "{json}");

    // Root's password changed behind replikit's back: the probes log in as
    // the monitoring account, not as root.
    replica.sql(
        "SET SESSION sql_log_bin = 0; ALTER USER 'root'@'localhost' IDENTIFIED BY 'not-given'",
    );
    let (code, err) = health(&replica, &primary, &["--ready"]);
    assert_eq!(code, 0, "{err}");
}

mod probes {
    use super::*;
    per_flavor!(probes);
}

/// The temporary server of first start-up (no networking) is not ready.
fn temporary_server(flavor: Flavor) {
    let server = Server::start_with(flavor, "--skip-networking");
    let health = |check: &str| {
        server
            .replikit()
            .env("REPLIKIT_ROLE", "standalone")
            .args(["health", check])
            .bounded()
    };
    let out = health("--ready");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("temporary server"),
        "{}",
        stderr(&out)
    );
    let out = health("--connect");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

mod temporary_server {
    use super::*;
    per_flavor!(temporary_server);
}

/// Probes close their connections politely (COM_QUIT): MariaDB, which
/// logs every connection that just drops as "Aborted connection", logs
/// none for 300 probes, as many as 25 minutes of Docker's health check.
/// A client killed mid-query shows that the log would have them.
fn no_aborted_connection(flavor: Flavor) {
    let server = Server::start(flavor);
    let out = replikit(&server, &[("MYSQL_MASTER", "1".into())], &["prepare"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for _ in 0..300 {
        let out = replikit(&server, &[("MYSQL_MASTER", "1".into())], &["health"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let aborted = |log: &str| {
        log.lines()
            .filter(|l| l.contains("Aborted connection"))
            .count()
    };
    assert_eq!(aborted(&server.error_log()), 0, "{}", server.error_log());

    let out = server
        .shell("$CLIENT --socket=$SOCK -uroot -e 'SELECT SLEEP(30)' & sleep 1; kill -9 $!")
        .bounded();
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for(
        Duration::from_secs(30),
        "the killed client in the log",
        || aborted(&server.error_log()) == 1,
    );
}

mod no_aborted_connection {
    use super::*;
    per_flavor!(no_aborted_connection: mariadb_10_11 => MariaDb1011, mariadb_11_8 => MariaDb118);
}

/// A stopped server: --connect fails with the reason.
#[test]
fn no_server_fails_connect() {
    let server = Server::start(Flavor::MariaDb118);
    server.sql("SHUTDOWN");
    wait_for(Duration::from_secs(30), "the server to stop", || {
        !server.socket().exists()
    });
    let out = server
        .replikit()
        .env("REPLIKIT_ROLE", "standalone")
        .args(["health"])
        .bounded();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--connect: cannot connect"),
        "{}",
        stderr(&out)
    );
}

/// Checks `json` against docs/status.schema.json with python3-jsonschema.
fn matches_schema(json: &str) {
    require_tool("python3");
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/status.schema.json");
    let script = "import json, sys, jsonschema\n\
                  schema = json.load(open(sys.argv[1]))\n\
                  jsonschema.Draft202012Validator.check_schema(schema)\n\
                  jsonschema.validate(json.loads(sys.stdin.read()), schema, cls=jsonschema.Draft202012Validator)\n";
    let mut child = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script, schema])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{json} does not match the schema: {}",
        stderr(&out)
    );
}

/// HAProxy's agent check, served by replikit as the replica's PID 1: `up`
/// while it replicates, `down #reason` while its SQL thread is stopped,
/// `up` again once it runs.
fn agent(flavor: Flavor) {
    let primary = Server::start_replicating(flavor);
    let out = replikit(&primary, &[("MYSQL_MASTER", "1".into())], &["prepare"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let port = crate::common::servers::free_port();
    let mut env = primary.as_source_env();
    env.extend([
        ("MYSQL_REPL_USER", "repl".to_string()),
        ("MYSQL_REPL_PASSWORD", "repl-pw".to_string()),
        ("REPLIKIT_REPL_HOST", "127.0.0.1".to_string()),
        ("REPLIKIT_AGENT_PORT", port.to_string()),
    ]);
    let replica = Server::start_replicating_under_replikit(flavor, &env);
    let ask = || -> String {
        use std::io::Read;
        let mut answer = String::new();
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.read_to_string(&mut answer);
        }
        answer
    };
    wait_for(Duration::from_secs(60), "the agent to say up", || {
        ask() == "up\n"
    });
    replica.sql("STOP REPLICA SQL_THREAD");
    // The verdict is renewed every second; the answer names the check
    // only, its details go to the log.
    wait_for(Duration::from_secs(10), "the agent to say down", || {
        ask() == "down #--replication\n"
    });
    let log = replica.replikit_log();
    assert!(
        log.lines()
            .any(|l| l.contains("agent: down: --replication:") && l.contains("SQL thread No")),
        "{log}"
    );
    replica.sql("START REPLICA SQL_THREAD");
    wait_for(Duration::from_secs(30), "the agent to say up again", || {
        ask() == "up\n"
    });
    assert!(replica
        .replikit_log()
        .contains(&format!("agent check for HAProxy on port {port}")));
}

mod agent {
    use super::*;
    per_flavor!(agent);
}
