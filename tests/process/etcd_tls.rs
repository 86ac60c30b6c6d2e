//! TLS to etcd (REPLIKIT_DCS=etcds://, REPLIKIT_DCS_CA), against a real
//! etcd serving clients over TLS with a certificate of a test CA:
//! `replikit maintenance` reaches it with that CA; with another CA, or
//! without TLS, it does not, and says why in one line; a missing CA file
//! is a usage error naming REPLIKIT_DCS_CA.

use std::process::{Command, Output};

use crate::common::etcd::Etcd;
use crate::common::{bin, require_tool, stderr, Scratch};

/// A CA and a certificate for 127.0.0.1 signed by it, in `dir`.
fn certificates(dir: &std::path::Path) {
    require_tool("openssl");
    let script = "set -e
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=replikit-test-ca -keyout ca-key.pem -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server-key.pem -out server.csr
        echo subjectAltName=IP:127.0.0.1 > san.ext
        openssl x509 -req -days 2 -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -extfile san.ext -out server-cert.pem";
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl: {}", stderr(&out));
}

fn maintenance(dcs: &str, ca: &std::path::Path, state: &str) -> Output {
    Command::new(bin())
        .env_clear()
        .env("REPLIKIT_PEERS", "127.0.0.1:1")
        .env("REPLIKIT_ADMIN_PASSWORD", "Adm1n-pw!")
        .env("REPLIKIT_DCS", dcs)
        .env("REPLIKIT_DCS_CA", ca)
        .args(["maintenance", state, "--note", "over tls"])
        .output()
        .unwrap()
}

#[test]
fn etcd_over_tls_with_its_ca_and_not_otherwise() {
    let dir = Scratch::new("etcd-tls");
    let (good, other) = (dir.path("good"), dir.path("other"));
    certificates(&good);
    certificates(&other);
    let etcd = Etcd::start_with(1, Some(&good));
    let port = etcd.client_ports[0];
    let tls = format!("etcds://127.0.0.1:{port}");

    let out = maintenance(&tls, &good.join("ca.pem"), "on");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(etcd.get("/replikit/replikit/maintenance"), "over tls");

    // Another CA's certificate: refused, in one line, nothing changed.
    etcd.ctl(&["del", "/replikit/replikit/maintenance"])
        .unwrap();
    let out = maintenance(&tls, &other.join("ca.pem"), "on");
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("certificate") && e.trim().lines().count() == 1,
        "{e}"
    );
    assert_eq!(etcd.get("/replikit/replikit/maintenance"), "");

    // Plain HTTP to the TLS port, with the CA given: a usage error first.
    let out = maintenance(
        &format!("etcd://127.0.0.1:{port}"),
        &good.join("ca.pem"),
        "on",
    );
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(stderr(&out).contains("write etcds://"), "{}", stderr(&out));

    // A CA file that is not there.
    let out = maintenance(&tls, &dir.path("none.pem"), "on");
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("REPLIKIT_DCS_CA: cannot read"),
        "{}",
        stderr(&out)
    );
}
