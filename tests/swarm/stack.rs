//! The seed's Swarm deployment (deploy/swarm/stack.yml) in the real Docker
//! engine, on MariaDB 10.11 and MySQL 9.7: `docker stack deploy`, a row
//! written on mysql_master reaches every mysql_slave task, and scaling
//! mysql_slave to three adds a replica that seeds itself, with a server-id
//! of its own.

use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

use crate::cluster::root_query;
use crate::common::servers::Flavor;
use crate::common::*;

/// How many tests use the swarm, and whether one of them made it: the
/// machine is left as it was found, in or out of a swarm.
static SWARM: Mutex<(usize, bool)> = Mutex::new((0, false));

struct Swarm;

impl Swarm {
    fn join() -> Swarm {
        require_root();
        require_tool("docker");
        let mut state = SWARM.lock().unwrap();
        let active = Command::new("docker")
            .args(["info", "-f", "{{.Swarm.LocalNodeState}}"])
            .bounded();
        if String::from_utf8_lossy(&active.stdout).trim() != "active" {
            let init = Command::new("docker").args(["swarm", "init"]).bounded();
            assert!(
                init.status.success(),
                "docker swarm init failed (README, Swarm): {}",
                stderr(&init)
            );
            state.1 = true;
        }
        state.0 += 1;
        Swarm
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        let mut state = SWARM.lock().unwrap_or_else(|e| e.into_inner());
        state.0 -= 1;
        if state.0 == 0 && state.1 {
            let _ = Command::new("docker")
                .args(["swarm", "leave", "--force"])
                .output();
            state.1 = false;
        }
    }
}

/// One deployment of the stack file, removed (volume too) when dropped.
struct Stack {
    name: String,
    base: &'static str,
    image: String,
}

impl Stack {
    fn script(&self, verb: &str) -> Output {
        Command::new("scripts/stack")
            .arg(verb)
            .env("REPLIKIT_STACK", &self.name)
            .env("REPLIKIT_BASE", self.base)
            .env("REPLIKIT_IMAGE", &self.image)
            .env("REPLIKIT_PREBUILT", "1")
            .bounded_for(Duration::from_secs(900))
    }

    /// `scripts/stack check`: the row reaches every mysql_slave task; the
    /// tasks' server-ids, as it prints them.
    fn check(&self) -> Vec<String> {
        let out = self.script("check");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{}: {text}{}",
            self.base,
            stderr(&out)
        );
        text.lines()
            .filter_map(|l| l.split("(server-id ").nth(1))
            .map(|rest| rest.split(')').next().unwrap().to_string())
            .collect()
    }

    fn tasks(&self, service: &str) -> Vec<String> {
        let label = format!(
            "label=com.docker.swarm.service.name={}_{service}",
            self.name
        );
        let out = Command::new("docker")
            .args(["ps", "-q", "-f", &label])
            .bounded();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(String::from)
            .collect()
    }

    fn exec(&self, container: &str, script: &str) -> Output {
        Command::new("docker")
            .args(["exec", container, "sh", "-c", script])
            .bounded_for(Duration::from_secs(300))
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.script("down");
        crate::images::remove(&self.image);
    }
}

mod stack_deploys_and_scales {
    use super::*;
    mariadb_and_mysql!(deploy_and_scale);
}

fn deploy_and_scale(flavor: Flavor) {
    let base = flavor.rootfs_name();
    let _swarm = Swarm::join();
    let _bin = static_bin();
    let stack = Stack {
        name: format!("replikit-{}-{}", base.replace('-', ""), std::process::id()),
        base,
        image: format!("replikit-swarm-{base}:{}", std::process::id()),
    };
    let up = {
        let _building = crate::images::building();
        stack.script("up")
    };
    assert!(up.status.success(), "{base}: {}", stderr(&up));
    let ids = stack.check();
    assert_eq!(ids.len(), 2, "{base}: {ids:?}");

    let service = format!("{}_mysql_slave", stack.name);
    let scale = Command::new("docker")
        .args(["service", "scale", "-d", &format!("{service}=3")])
        .bounded();
    assert!(scale.status.success(), "{}", stderr(&scale));
    wait_for(
        Duration::from_secs(300),
        &format!("{base}: a third mysql_slave task"),
        || stack.tasks("mysql_slave").len() == 3,
    );
    let mut ids = stack.check();
    assert_eq!(ids.len(), 3, "{base}: {ids:?}");
    let primary = stack.tasks("mysql_master");
    assert_eq!(primary.len(), 1, "{base}");
    let out = stack.exec(&primary[0], &root_query("SELECT @@server_id", ""));
    ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "{base}: server-ids must differ: {ids:?}");

    for replica in stack.tasks("mysql_slave") {
        let logs = Command::new("docker").args(["logs", &replica]).bounded();
        assert!(
            stderr(&logs).contains("replikit: info: seeding from mysql_master:3306"),
            "{base} {replica}: {}",
            stderr(&logs)
        );
        let verify = stack.exec(&replica, "replikit verify");
        assert!(
            verify.status.success(),
            "{base}: replikit verify on {replica}: {}{}",
            String::from_utf8_lossy(&verify.stdout),
            stderr(&verify)
        );
    }
}
