//! replikit as the ENTRYPOINT of a real container in the real Docker engine.
//! No image can be pulled here, so the image is made from the static binary
//! and busybox-static with `docker import`.

use std::process::{Command, Output};

use crate::common::servers::Flavor;
use crate::common::*;

pub fn docker(args: &[&str]) -> Output {
    require_tool("docker");
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    // Callers that expect failure look at the status themselves.
    let may_fail = ["run", "image", "exec"].contains(&args[0]);
    assert!(
        out.status.success() || may_fail,
        "docker {args:?}: {}",
        stderr(&out)
    );
    out
}

/// A throw-away image holding replikit as its entrypoint and a busybox shell.
struct Image(String);

impl Image {
    fn build() -> Image {
        Image(busybox_image(
            "replikit-test",
            &["sh", "sleep", "cat"],
            |root| std::fs::create_dir_all(root.join("etc/mysql/conf.d")).unwrap(),
            &[
                "ENTRYPOINT [\"/bin/replikit\", \"--\"]",
                "ENV REPLIKIT_ROLE=standalone",
            ],
        ))
    }
}

/// Imports an image of the static replikit at /bin/replikit and busybox
/// with `tools` linked to it, `extra` adding to the root first, with the
/// Dockerfile-like `changes`; its name. No image can be pulled here.
pub fn busybox_image(
    prefix: &str,
    tools: &[&str],
    extra: impl FnOnce(&std::path::Path),
    changes: &[&str],
) -> String {
    require_root();
    let s = Scratch::new("image");
    let root = s.path("root");
    for dir in ["bin", "etc", "tmp"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::copy(static_bin(), root.join("bin/replikit")).unwrap();
    assert!(
        std::path::Path::new("/bin/busybox").exists(),
        "busybox-static is not installed; run scripts/install-test-deps"
    );
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for tool in tools {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(tool)).unwrap();
    }
    extra(&root);
    let name = format!("{prefix}-{}:latest", std::process::id());
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["-c", "."])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let _building = crate::images::building();
    let mut import = Command::new("docker");
    import.arg("import");
    for change in changes {
        import.args(["--change", change]);
    }
    let mut import = import
        .args(["-", &name])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("docker import");
    std::io::Write::write_all(import.stdin.as_mut().unwrap(), &tar.stdout).unwrap();
    drop(import.stdin.take());
    assert!(import.wait().unwrap().success(), "docker import failed");
    name
}

impl Drop for Image {
    fn drop(&mut self) {
        crate::images::remove(&self.0);
    }
}

#[test]
fn in_a_container_it_is_pid_1_and_takes_the_address_docker_gives_the_hostname() {
    let image = Image::build();
    let out = docker(&[
        "run",
        "--rm",
        &image.0,
        "sh",
        "-c",
        "cat /etc/mysql/conf.d/replikit.cnf; echo pid=$PPID; grep \"$(cat /etc/hostname)\" /etc/hosts",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{log}");
    assert!(text.contains("pid=1"), "replikit is not PID 1: {text}");
    let hosts_addr = text
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(
        text.contains(&format!("report-host = {hosts_addr}")),
        "{text}"
    );
    assert!(log.contains("starting as PID 1"), "{log}");
    assert!(log.contains("maps to it in the hosts file"), "{log}");
}

#[test]
fn docker_stop_reaches_the_command_and_its_exit_code_is_the_containers() {
    let image = Image::build();
    let name = format!("replikit-stop-{}", std::process::id());
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        &image.0,
        "sh",
        "-c",
        "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.1; done",
    ]);
    let _cleanup = Cleanup(name.clone());
    wait_for(
        std::time::Duration::from_secs(20),
        "the container to start",
        || String::from_utf8_lossy(&docker(&["logs", &name]).stdout).contains("ready"),
    );
    // A 30 s stop timeout: if SIGTERM were lost, Docker would SIGKILL (137).
    docker(&["stop", "-t", "30", &name]);
    let code = docker(&["inspect", "-f", "{{.State.ExitCode}}", &name]);
    let logs = docker(&["logs", &name]);
    assert_eq!(String::from_utf8_lossy(&code.stdout).trim(), "3");
    assert!(String::from_utf8_lossy(&logs.stdout).contains("got-term"));
}

/// The server inside a real MariaDB/MySQL container (base images from
/// scripts/base-image) runs with the server-id and report_host that
/// replikit chose, survives a restart with the option file unchanged, and
/// `docker stop` shuts it down cleanly.
#[test]
fn real_servers_in_containers_use_the_server_id_replikit_wrote() {
    require_root();
    let bin = static_bin();
    // Fixed addresses on a network of our own: on Docker's default bridge a
    // restarted container may get another address, and so another id.
    let third = 200 + std::process::id() % 50;
    let network = Network::create("ids", &format!("10.251.{third}.0/24"));
    let jobs: Vec<_> = Flavor::ALL
        .map(Flavor::rootfs_name)
        .into_iter()
        .enumerate()
        .map(|(i, base)| {
            let bin = bin.clone();
            let net = network.0.clone();
            let ip = format!("10.251.{third}.{}", 10 + i);
            move || server_in_container(base, &bin, &net, &ip)
        })
        .collect();
    in_parallel_on(network, jobs);
}

/// Runs each job on a thread of its own, waits for all of them, removes
/// the network (which must outlive every container on it), and only then
/// fails on the first job that failed.
pub fn in_parallel_on<F: FnOnce() + Send + 'static>(network: Network, jobs: Vec<F>) {
    let threads: Vec<_> = jobs.into_iter().map(std::thread::spawn).collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join()).collect();
    drop(network);
    for r in results {
        r.unwrap();
    }
}

/// A Docker network for one test run, removed afterwards.
pub struct Network(pub String);

impl Network {
    pub fn create(tag: &str, subnet: &str) -> Network {
        let name = format!("replikit-test-{tag}-{}", std::process::id());
        let _ = Command::new("docker")
            .args(["network", "rm", &name])
            .output();
        docker(&["network", "create", "--subnet", subnet, &name]);
        Network(name)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["network", "rm", &self.0])
            .output();
    }
}

fn server_in_container(base: &str, bin: &std::path::Path, network: &str, ip: &str) {
    let image = format!("replikit-base:{base}");
    assert!(
        docker(&["image", "inspect", &image]).status.success(),
        "{image} is missing: run scripts/base-image/build (scripts/test does)"
    );
    let name = format!("replikit-db-{base}-{}", std::process::id());
    let mount = format!("{}:/usr/local/bin/replikit:ro", bin.display());
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    let run = docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        network,
        "--ip",
        ip,
        "-e",
        "MYSQL_ALLOW_EMPTY_PASSWORD=1",
        "-e",
        "REPLIKIT_ROLE=standalone",
        "-v",
        &mount,
        "--entrypoint",
        "replikit",
        &image,
        "--",
        "docker-entrypoint.sh",
        "mysqld",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let cleanup = Cleanup(name.clone());

    let id = u32::from(ip.parse::<std::net::Ipv4Addr>().unwrap());
    let query = "SELECT @@server_id, @@report_host";
    let ask = || {
        let out = docker(&[
            "exec",
            &name,
            "sh",
            "-c",
            &format!("mariadb -uroot -N -e '{query}' 2>/dev/null || mysql -uroot -N -e '{query}'"),
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let want = format!("{id}\t{ip}");
    let served = |what: &str| {
        wait_for_value(
            std::time::Duration::from_secs(120),
            &format!("{base} to serve{what}"),
            || Some(ask()).filter(|v| !v.is_empty()),
        )
    };
    assert_eq!(served(""), want, "{base}");

    docker(&["restart", "-t", "60", &name]);
    assert_eq!(served(" after a restart"), want, "{base} after a restart");
    let logs = stderr(&docker(&["logs", &name]));
    assert!(
        logs.contains("option file /etc/mysql/conf.d/replikit.cnf: Created"),
        "{logs}"
    );
    assert!(
        logs.contains("option file /etc/mysql/conf.d/replikit.cnf: Unchanged"),
        "{logs}"
    );

    docker(&["stop", "-t", "60", &name]);
    let code = docker(&["inspect", "-f", "{{.State.ExitCode}}", &name]);
    assert_eq!(
        String::from_utf8_lossy(&code.stdout).trim(),
        "0",
        "{base}: {logs}"
    );
    drop(cleanup);
}

/// A shell script for `docker exec`: the uid the server (mysqld or
/// mariadbd) runs as.
pub const SERVER_UID: &str =
    "for p in /proc/[0-9]*; do case $(cat $p/comm 2>/dev/null) in mysqld|mariadbd) \
     awk '/^Uid:/ {print $2}' $p/status;; esac; done";

/// Removes a container and its anonymous volumes when the test ends,
/// passed or failed.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-fv", &self.0]).output();
    }
}
