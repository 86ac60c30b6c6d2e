//! The Dockerfile's default build: replikit compiled from source in a
//! builder stage, on a MySQL/MariaDB base. No registry is reachable here,
//! so the builder is Debian's Rust (replikit-builder:sid-rust) and the
//! base one of ours (scripts/base-image/build); crates come from crates.io.
//! The offline build (--target prebuilt) is what tests/compose.rs runs.

use std::process::Command;
use std::time::Duration;

use crate::common::servers::{Flavor, RUST_ROOTFS};
use crate::common::*;

#[test]
fn the_default_build_compiles_replikit_and_makes_a_working_server_image() {
    require_root();
    require_tool("docker");
    let builder = format!("replikit-builder:{RUST_ROOTFS}");
    let base = Flavor::MariaDb1011.base_image();
    for image in [&builder, &base] {
        let found = Command::new("docker")
            .args(["image", "inspect", image])
            .bounded();
        assert!(
            found.status.success(),
            "{image} is missing: run scripts/base-image/build (scripts/test does)"
        );
    }
    let tag = format!("replikit-source-build:{}", std::process::id());
    let building = crate::images::building();
    let build = Command::new("docker")
        .args([
            "build",
            "-q",
            // A failed step's container goes too (the legacy builder keeps it).
            "--force-rm",
            "--build-arg",
            &format!("BUILDER_IMAGE={builder}"),
            "--build-arg",
            &format!("BASE_IMAGE={base}"),
            "-t",
            &tag,
            ".",
        ])
        // The legacy builder: this engine has no buildx.
        .env("DOCKER_BUILDKIT", "0")
        .bounded_for(Duration::from_secs(1200));
    drop(building);
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
            crate::images::remove(&self.0);
        }
    }
    let _image = Remove(tag.clone());
    assert!(build.status.success(), "docker build: {}", stderr(&build));

    let config = Command::new("docker")
        .args([
            "image",
            "inspect",
            "-f",
            "{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{json .Config.Healthcheck.Test}}",
            &tag,
        ])
        .bounded();
    assert_eq!(
        String::from_utf8_lossy(&config.stdout).trim(),
        r#"["replikit","--","docker-entrypoint.sh"] ["mysqld"] ["CMD","replikit","health"]"#
    );

    // The compiled binary is the static one, as scripts/build-static makes.
    let scratch = Scratch::new("source-build");
    let copy = scratch.path("replikit");
    let created = Command::new("docker").args(["create", &tag]).bounded();
    assert!(created.status.success(), "{}", stderr(&created));
    let created = String::from_utf8_lossy(&created.stdout).trim().to_string();
    let _created = Remove(created.clone());
    let cp = Command::new("docker")
        .args(["cp", &format!("{created}:/usr/local/bin/replikit")])
        .arg(&copy)
        .bounded();
    assert!(cp.status.success(), "{}", stderr(&cp));
    require_tool("file");
    let file = Command::new("file").arg(&copy).bounded();
    let file = String::from_utf8_lossy(&file.stdout);
    assert!(
        file.contains("static-pie linked") || file.contains("statically linked"),
        "{file}"
    );

    let name = format!("replikit-source-run-{}", std::process::id());
    let _container = Remove(name.clone());
    let run = Command::new("docker")
        .args([
            "run",
            "-d",
            "--name",
            &name,
            "-e",
            "MYSQL_ROOT_PASSWORD=root-pw",
            "-e",
            "REPLIKIT_ROLE=standalone",
            &tag,
        ])
        .bounded();
    assert!(run.status.success(), "{}", stderr(&run));
    wait_for(
        Duration::from_secs(180),
        "the container to be healthy",
        || {
            let health = Command::new("docker")
                .args(["inspect", "-f", "{{.State.Health.Status}}", &name])
                .bounded();
            String::from_utf8_lossy(&health.stdout).trim() == "healthy"
        },
    );
    // conf/ is in force and sql/ was loaded (a standalone server loads it).
    let query =
        "SELECT CONCAT_WS(',', @@binlog_format, @@character_set_server, COUNT(*)) FROM tododb.todo";
    let out = Command::new("docker")
        .args([
            "exec",
            &name,
            "sh",
            "-c",
            &format!("MYSQL_PWD=root-pw mariadb -uroot -N -e \"{query}\""),
        ])
        .bounded();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ROW,utf8mb4,3",
        "{}",
        stderr(&out)
    );
    let logs = Command::new("docker").args(["logs", &name]).bounded();
    assert!(
        stderr(&logs).contains("replikit: info: starting as PID 1"),
        "{}",
        stderr(&logs)
    );
}
