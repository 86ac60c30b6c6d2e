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

    // Both servers run as a non-root user on a read-only root filesystem,
    // with somewhere to write their socket and temporary files.
    for file in &files[2..] {
        let script = "import sys, yaml\n\
            d = yaml.safe_load(open(sys.argv[1]))['spec']['template']['spec']\n\
            c = d['containers'][0]\n\
            print(d['securityContext']['runAsNonRoot'], d['securityContext']['runAsUser'], \
            c['securityContext']['readOnlyRootFilesystem'], c['securityContext']['allowPrivilegeEscalation'], \
            sorted(m['mountPath'] for m in c['volumeMounts']))";
        let out = Command::new(VALIDATOR.replace("kubernetes-validate", "python3"))
            .args(["-c", script])
            .arg(file)
            .bounded();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "True 999 True False ['/run/mysqld', '/run/secrets/mysql', '/tmp', '/var/lib/mysql']",
            "{}: {}",
            file.display(),
            stderr(&out)
        );
    }

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
