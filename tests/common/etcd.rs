//! A real three-member etcd cluster (Debian's etcd-server) on loopback
//! ports, for the leader lease's tests; killed when dropped. A member is
//! cut off with SIGSTOP (it stops answering, as behind a partition) and
//! brought back with SIGCONT.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::servers::free_port;
use super::{require_tool, wait_for, Scratch};

pub struct Etcd {
    pub client_ports: Vec<u16>,
    /// The folder of ca.pem, server-cert.pem and server-key.pem, when
    /// the members serve clients over TLS.
    tls: Option<std::path::PathBuf>,
    members: Vec<Child>,
    _dir: Scratch,
}

impl Etcd {
    pub fn start(n: usize) -> Etcd {
        Etcd::start_with(n, None)
    }

    /// `start`, clients served over TLS with the certificates in `certs`
    /// (server-cert.pem and server-key.pem, for 127.0.0.1, and ca.pem).
    pub fn start_with(n: usize, certs: Option<&std::path::Path>) -> Etcd {
        let scheme = if certs.is_some() { "https" } else { "http" };
        require_tool("etcd");
        require_tool("etcdctl");
        let dir = Scratch::new("etcd");
        let client_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let peer_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let cluster = (0..n)
            .map(|i| format!("m{i}=http://127.0.0.1:{}", peer_ports[i]))
            .collect::<Vec<_>>()
            .join(",");
        let members = (0..n)
            .map(|i| {
                let log = std::fs::File::create(dir.path(&format!("m{i}.log"))).unwrap();
                let mut etcd = Command::new("etcd");
                if let Some(certs) = certs {
                    etcd.arg("--cert-file")
                        .arg(certs.join("server-cert.pem"))
                        .arg("--key-file")
                        .arg(certs.join("server-key.pem"));
                }
                etcd.args(["--name", &format!("m{i}")])
                    .arg("--data-dir")
                    .arg(dir.path(&format!("m{i}")))
                    .args([
                        "--listen-client-urls",
                        &format!("{scheme}://127.0.0.1:{}", client_ports[i]),
                    ])
                    .args([
                        "--advertise-client-urls",
                        &format!("{scheme}://127.0.0.1:{}", client_ports[i]),
                    ])
                    .args([
                        "--listen-peer-urls",
                        &format!("http://127.0.0.1:{}", peer_ports[i]),
                    ])
                    .args([
                        "--initial-advertise-peer-urls",
                        &format!("http://127.0.0.1:{}", peer_ports[i]),
                    ])
                    .args([
                        "--initial-cluster",
                        &cluster,
                        "--initial-cluster-state",
                        "new",
                    ])
                    .args([
                        "--initial-cluster-token",
                        &format!("replikit-test-{}", std::process::id()),
                    ])
                    // Quick elections, for quick tests.
                    .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .expect("etcd starts")
            })
            .collect();
        let etcd = Etcd {
            client_ports,
            tls: certs.map(std::path::Path::to_path_buf),
            members,
            _dir: dir,
        };
        wait_for(Duration::from_secs(30), "etcd to answer", || {
            etcd.ctl(&["endpoint", "health", "--cluster"]).is_ok()
        });
        etcd
    }

    /// REPLIKIT_DCS for this cluster.
    pub fn dcs(&self) -> String {
        let list: Vec<String> = self
            .client_ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("etcd://{}", list.join(","))
    }

    /// etcdctl against every member; its output, or its error.
    pub fn ctl(&self, args: &[&str]) -> Result<String, String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let endpoints: Vec<String> = self
            .client_ports
            .iter()
            .map(|p| format!("{scheme}://127.0.0.1:{p}"))
            .collect();
        let mut ctl = Command::new("etcdctl");
        if let Some(certs) = &self.tls {
            ctl.arg("--cacert").arg(certs.join("ca.pem"));
        }
        let out = ctl
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &endpoints.join(","), "--command-timeout=2s"])
            .args(args)
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).to_string())
        }
    }

    /// The value under `key`, "" when there is none.
    pub fn get(&self, key: &str) -> String {
        self.ctl(&["get", key, "--print-value-only"])
            .unwrap_or_else(|e| panic!("etcdctl get {key}: {e}"))
    }

    pub fn signal(&self, member: usize, signal: &str) {
        let status = Command::new("kill")
            .args([
                &format!("-{signal}"),
                &self.members[member].id().to_string(),
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for m in &mut self.members {
            let _ = Command::new("kill")
                .args(["-CONT", &m.id().to_string()])
                .status();
            let _ = m.kill();
            let _ = m.wait();
        }
    }
}
