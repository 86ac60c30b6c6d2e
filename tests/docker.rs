//! replikit as the ENTRYPOINT of a real container in the real Docker engine.
//! No image can be pulled here, so the image is made from the static binary
//! and busybox-static with `docker import`.

mod common;

use std::process::{Command, Output};

use common::*;

fn docker(args: &[&str]) -> Output {
    require_tool("docker");
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success() || args[0] == "wait" || args[0] == "run",
        "docker {args:?}: {}",
        stderr(&out)
    );
    out
}

/// A throw-away image holding replikit as its entrypoint and a busybox shell.
struct Image(String);

impl Image {
    fn build() -> Image {
        require_root();
        let s = Scratch::new("image");
        let root = s.path("root");
        for dir in ["bin", "etc/mysql/conf.d", "tmp"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::copy(static_bin(), root.join("bin/replikit")).unwrap();
        assert!(
            std::path::Path::new("/bin/busybox").exists(),
            "busybox-static is not installed; run scripts/install-test-deps"
        );
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        for applet in ["sh", "sleep", "cat"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        let name = format!("replikit-test-{}:latest", std::process::id());
        let tar = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .args(["-c", "."])
            .output()
            .unwrap();
        assert!(tar.status.success());
        let mut import = Command::new("docker")
            .args([
                "import",
                "--change",
                "ENTRYPOINT [\"/bin/replikit\", \"--\"]",
                "-",
                &name,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("docker import");
        std::io::Write::write_all(import.stdin.as_mut().unwrap(), &tar.stdout).unwrap();
        drop(import.stdin.take());
        assert!(import.wait().unwrap().success(), "docker import failed");
        Image(name)
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
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
    wait_for(
        std::time::Duration::from_secs(20),
        "the container to start",
        || String::from_utf8_lossy(&docker(&["logs", &name]).stdout).contains("ready"),
    );
    // A 30 s stop timeout: if SIGTERM were lost, Docker would SIGKILL (137).
    docker(&["stop", "-t", "30", &name]);
    let code = docker(&["inspect", "-f", "{{.State.ExitCode}}", &name]);
    let logs = docker(&["logs", &name]);
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    assert_eq!(String::from_utf8_lossy(&code.stdout).trim(), "3");
    assert!(String::from_utf8_lossy(&logs.stdout).contains("got-term"));
}
