//! entrykit's applets in an image that is not MySQL's: busybox and
//! replikit, the applets linked as `replikit --symlink /bin` links them,
//! and entrykit's README chain as the ENTRYPOINT. replikit must render,
//! hook, run codep and switch, and do no MySQL work.

use crate::common::*;
use crate::containers::{busybox_image, docker};

struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        crate::images::remove(&self.0);
    }
}

const ENTRYPOINT: &str = r#"["switch", "version=sh -c 'echo replikit in any image'", "--",
 "render", "/etc/app.conf", "--",
 "prehook", "cat /etc/app.conf", "--",
 "codep", "sh -c 'echo task a; sleep 0.3; exit 4'", "sleep 30"]"#;

fn build() -> Image {
    let entrypoint = format!("ENTRYPOINT {}", ENTRYPOINT.replace('\n', ""));
    Image(busybox_image(
        "replikit-applets",
        &["sh", "sleep", "cat", "echo"],
        |root| {
            // As `replikit --symlink /bin` makes them.
            for applet in ["switch", "render", "prehook", "codep", "entrykit"] {
                std::os::unix::fs::symlink("/bin/replikit", root.join("bin").join(applet)).unwrap();
            }
            std::fs::write(
                root.join("etc/app.conf.tmpl"),
                "greeting={{ var \"GREETING\" | default \"hello\" }}\n",
            )
            .unwrap();
        },
        &[&entrypoint, "ENV PATH=/bin"],
    ))
}

#[test]
fn the_readme_chain_runs_in_an_image_without_mysql() {
    let image = build();
    let out = docker(&["run", "--rm", "-e", "GREETING=hi", &image.0]);
    let (stdout, err) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(4), "codep's first exit: {err}");
    assert!(
        stdout.contains("greeting=hi"),
        "render, then the hook: {stdout}"
    );
    assert!(stdout.contains("task a"), "{stdout}");
    assert!(err.contains("no MySQL work"), "{err}");
    assert!(!err.contains("server-id"), "{err}");

    let version = docker(&["run", "--rm", &image.0, "version"]);
    assert_eq!(version.status.code(), Some(0), "{}", stderr(&version));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        "replikit in any image\n"
    );
}
