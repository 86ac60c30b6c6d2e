//! The Kubernetes manifests (deploy/k8s/) against the Kubernetes API's own
//! schemas, strictly (an unknown field is an error), with kubernetes-validate
//! from PyPI (scripts/install-test-deps puts it in a venv). No cluster runs
//! here; the probes' command is `replikit health`, tested in tests/health.rs.

use std::path::Path;
use std::process::Command;

use crate::common::*;

const VALIDATOR: &str = "/var/cache/replikit-venv/bin/kubernetes-validate";

fn validate(files: &[&Path]) -> std::process::Output {
    assert!(
        Path::new(VALIDATOR).exists(),
        "{VALIDATOR} is missing: run scripts/install-test-deps (scripts/test does)"
    );
    Command::new(VALIDATOR)
        .arg("--strict")
        .args(files)
        .bounded()
}

#[test]
fn manifests_match_the_kubernetes_schemas() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s");
    let files: Vec<_> = [
        "secret.yaml",
        "services.yaml",
        "primary.yaml",
        "replica.yaml",
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    let refs: Vec<&Path> = files.iter().map(|f| f.as_path()).collect();
    let out = validate(&refs);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches(" passed for resource ").count(), 7, "{text}");

    // The validator does reject a misspelt field.
    let scratch = Scratch::new("k8s");
    let bad = scratch.path("bad.yaml");
    let text = std::fs::read_to_string(&files[3]).unwrap();
    std::fs::write(&bad, text.replace("readinessProbe", "readinesProbe")).unwrap();
    let out = validate(&[&bad]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert!(text.contains("'readinesProbe' was unexpected"), "{text}");
}
