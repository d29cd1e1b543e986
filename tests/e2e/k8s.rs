//! `hornet k8s manifest`: the YAML it prints is compared with a golden file and validated
//! against Kubernetes 1.33's schemas by `kubernetes-validate` (PyPI; it bundles the schemas and
//! works offline), and read back by the YAML 1.1 reader it ships with (PyYAML), as kubectl's
//! would read it. No cluster runs here: what a cluster does with the objects is not tested.
//!
//! `kubernetes-validate` is looked for in the venv `$HORNET_VENV` (default `target/hornet-venv`,
//! where `.ci/run` installs it), then on PATH; without it the validation is skipped with the
//! reason printed, except in CI (`CI=true`), where that is a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::helpers::{hornet, temp_dir, write_file};

/// `hornet k8s manifest` for this plan prints this, byte for byte. Run the test with
/// `UPDATE_GOLDEN=1` to rewrite the file instead of comparing (then review the diff).
const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/k8s/manifest.yaml"
);

const PLAN: &str = r#"name = "shop"
host = "http://shop.default.svc:8080"

[data.users]
csv = "data/users.csv"

[[users]]
name = "Buyer"
wait = "constant(1s)"
tasks = [ { get = "/items?user={{ users.name }}" } ]
"#;

const USERS: &str = "name,tier\nann,gold\nbob,silver\n";

/// The plan and its CSV data file in a fresh folder; the plan's path.
fn shop_plan(dir: &Path) -> PathBuf {
    write_file(dir, "data/users.csv", USERS);
    write_file(dir, "shop.toml", PLAN)
}

fn manifest(plan: &Path, args: &[&str]) -> Output {
    hornet()
        .args(["k8s", "manifest", "--plan"])
        .arg(plan)
        .args(args)
        .output_blocking()
}

fn stdout_ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("the manifest is UTF-8")
}

fn refused(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "no manifest on bad input");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn manifest_matches_the_golden_file_and_validates_against_kubernetes_1_33() {
    let dir = temp_dir();
    let plan = shop_plan(dir.path());
    let out = manifest(
        &plan,
        &[
            "--agents",
            "4",
            "--image",
            "registry.example.com/hornet:0.1.0",
            "--namespace",
            "load-tests",
            "--token",
            "ui-token-for-tests",
            "--agent-token",
            "agent-token-for-tests",
        ],
    );
    let yaml = stdout_ok(&out);
    assert!(
        out.stderr.is_empty(),
        "nothing to say with both tokens given: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(Path::new(GOLDEN).parent().expect("a folder")).expect("mkdir");
        std::fs::write(GOLDEN, &yaml).expect("write the golden file");
        eprintln!("rewrote {GOLDEN}");
    } else {
        let golden = std::fs::read_to_string(GOLDEN)
            .unwrap_or_else(|e| panic!("{GOLDEN}: {e} (UPDATE_GOLDEN=1 writes it)"));
        assert!(
            yaml == golden,
            "the manifest differs from {GOLDEN} (UPDATE_GOLDEN=1 rewrites it):\n{yaml}"
        );
    }
    let Some(validator) = kubernetes_validate() else {
        return;
    };
    validate(&validator, &yaml, 7);
}

/// Values a YAML 1.1 reader would misread unquoted (kubectl's reads `no` as false) and text
/// that needs care in a block (trailing spaces, indentation, `#`, `: `, a CRLF file) come back
/// exactly, and the objects still pass the schemas.
#[test]
fn a_yaml_1_1_reader_reads_back_every_value_exactly() {
    let Some(validator) = kubernetes_validate() else {
        return;
    };
    let dir = temp_dir();
    let csv = "name,note\r\nann,  two leading spaces\r\nbob,trailing  \r\n";
    let extra = "tier,comment\ngold,# not a comment: really\n\tsilver,tab first\n";
    write_file(dir.path(), "data/users.csv", csv);
    write_file(dir.path(), "more/tiers.csv", extra);
    let plan = write_file(
        dir.path(),
        "on.toml",
        format!(
            "{PLAN}\n[data.tiers]\ncsv = \"./more/tiers.csv\"\norder = \"cycle\"\n\n\
             [data.again]\ncsv = \"data/users.csv\"\n"
        ),
    );
    let yaml = stdout_ok(&manifest(
        &plan,
        &[
            "--agents",
            "1",
            "--image",
            "yes",
            "--name",
            "no",
            "--namespace",
            "0777",
            "--token",
            "on",
            "--agent-token",
            "1_000",
            "--cpu",
            "1e3",
        ],
    ));
    validate(&validator, &yaml, 7);
    let docs = read_with_pyyaml(&validator, &yaml);
    let kinds: Vec<_> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "Secret",
            "ConfigMap",
            "Deployment",
            "Service",
            "Service",
            "Job"
        ]
    );
    assert_eq!(docs[0]["metadata"]["name"], "0777");
    assert_eq!(docs[1]["metadata"]["name"], "no");
    assert_eq!(docs[1]["stringData"]["token"], "on");
    assert_eq!(docs[1]["stringData"]["agent-token"], "1_000");
    let data = &docs[2]["data"];
    assert_eq!(data["on.toml"].as_str(), Some(plan_text(&plan).as_str()));
    assert_eq!(data["users.csv"], csv, "stored once though named twice");
    assert_eq!(data["tiers.csv"], extra);
    assert_eq!(data.as_object().map(|d| d.len()), Some(3));
    let pod = &docs[3]["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], "yes");
    let items = &pod["volumes"][1]["configMap"]["items"];
    assert_eq!(
        items,
        &serde_json::json!([
            { "key": "on.toml", "path": "on.toml" },
            { "key": "users.csv", "path": "data/users.csv" },
            { "key": "tiers.csv", "path": "more/tiers.csv" },
        ])
    );
    let agent = &docs[6]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(agent["args"][2], "ws://no:8089/api/agents");
    assert_eq!(agent["args"][4], "1");
    assert_eq!(agent["resources"]["limits"]["cpu"], "1e3");
}

fn plan_text(path: &Path) -> String {
    std::fs::read_to_string(path).expect("read the plan")
}

#[test]
fn without_tokens_each_run_gets_new_random_ones() {
    let dir = temp_dir();
    let plan = shop_plan(dir.path());
    let args = ["--agents", "2", "--image", "hornet:dev"];
    let secret = |yaml: &str| -> Vec<String> {
        yaml.lines()
            .filter(|l| l.starts_with("  token: ") || l.starts_with("  agent-token: "))
            .map(|l| l.rsplit(' ').next().unwrap_or_default().to_string())
            .collect()
    };
    let first = manifest(&plan, &args);
    let tokens = secret(&stdout_ok(&first));
    assert_eq!(tokens.len(), 2, "token and agent-token");
    assert!(
        tokens
            .iter()
            .all(|t| t.len() == 32 && t.chars().all(|c| c.is_ascii_hexdigit())),
        "{tokens:?}"
    );
    assert_ne!(tokens[0], tokens[1]);
    let again = secret(&stdout_ok(&manifest(&plan, &args)));
    assert!(
        tokens.iter().all(|t| !again.contains(t)),
        "new ones each time"
    );
    let note = String::from_utf8_lossy(&first.stderr);
    assert!(
        note.contains("kubectl get secret hornet -o jsonpath='{.data.token}' | base64 -d"),
        "says where the UI token is: {note}"
    );
}

#[test]
fn bad_input_exits_2_naming_the_problem() {
    let dir = temp_dir();
    let plan = shop_plan(dir.path());
    let image = ["--image", "hornet:dev"];
    let with = |args: &[&str]| -> String {
        let mut all = vec!["--agents", "2"];
        all.extend_from_slice(args);
        refused(&manifest(&plan, &all))
    };

    let e = refused(&manifest(
        &plan,
        &["--agents", "0", "--image", "hornet:dev"],
    ));
    assert!(
        e.contains("--agents") && e.contains("from 1 to 1000, got 0"),
        "{e}"
    );
    let e = refused(&manifest(&plan, &["--agents", "1001", "--image", "x"]));
    assert!(e.contains("got 1001"), "{e}");
    let e = with(&["--image", ""]);
    assert!(
        e.contains("--image") && e.contains("the image is empty"),
        "{e}"
    );
    let e = with(&[&image[..], &["--name", "Load_Test"]].concat());
    assert!(e.contains("--name") && e.contains("DNS-1035 label"), "{e}");
    let e = with(&[&image[..], &["--namespace", "a.b"]].concat());
    assert!(
        e.contains("--namespace") && e.contains("DNS-1123 label"),
        "{e}"
    );
    let e = with(&[&image[..], &["--memory", "1GB"]].concat());
    assert!(e.contains("--memory") && e.contains("quantity"), "{e}");

    // A plan with a syntax error: its file, line and column.
    let broken = write_file(dir.path(), "broken.toml", "name = \"shop\"\n[[users]\n");
    let e = refused(&manifest(&broken, &["--agents", "2", "--image", "x"]));
    assert!(e.contains("broken.toml:2:"), "{e}");

    // A data file outside the plan's folder cannot be mounted beside it.
    write_file(dir.path(), "outside.csv", USERS);
    let inner = write_file(
        dir.path(),
        "plans/inner.toml",
        PLAN.replace("data/users.csv", "../outside.csv"),
    );
    let e = refused(&manifest(&inner, &["--agents", "2", "--image", "x"]));
    assert!(
        e.starts_with("error: data source users: ") && e.contains("not inside the plan's folder"),
        "{e}"
    );

    // More than a ConfigMap holds, refused with the size.
    let big = format!("name,tier\n{}", "someone,gold\n".repeat(90_000));
    write_file(dir.path(), "data/users.csv", &big);
    let e = refused(&manifest(&plan, &["--agents", "2", "--image", "x"]));
    let total = big.len() + PLAN.len();
    assert!(
        e.contains(&format!(
            "come to 1.1 MiB ({total} bytes), more than the 1 MiB"
        )),
        "{e}"
    );
}

/// `kubernetes-validate` from the venv, else PATH; `None` (skipped, with the reason) when
/// missing, except in CI.
fn kubernetes_validate() -> Option<PathBuf> {
    // `.ci/run` makes the venv at target/hornet-venv: a plain `cargo test` finds it too.
    let venv = std::env::var_os("HORNET_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/hornet-venv"),
        PathBuf::from,
    );
    let in_venv = Some(venv.join("bin").join("kubernetes-validate")).filter(|p| p.is_file());
    let on_path = || {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join("kubernetes-validate"))
            .find(|p| p.is_file())
    };
    let found = in_venv.or_else(on_path);
    if found.is_none() {
        let reason = format!(
            "kubernetes-validate is not in {} nor on PATH",
            venv.join("bin").display()
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the manifest cannot be validated in CI: {reason}");
        }
        eprintln!(
            "skipping Kubernetes schema validation: {reason} (python3 -m venv \
             target/hornet-venv && target/hornet-venv/bin/pip install kubernetes-validate)"
        );
    }
    found
}

/// `kubernetes-validate --strict -k 1.33.0` passes every one of the `objects` in `yaml`.
fn validate(validator: &Path, yaml: &str, objects: usize) {
    let file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("temp file");
    std::fs::write(file.path(), yaml).expect("write the manifest");
    let out = Command::new(validator)
        .args(["--strict", "-k", "1.33.0"])
        .arg(file.path())
        .output()
        .expect("kubernetes-validate runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "kubernetes-validate refused the manifest:\n{report}\n{yaml}"
    );
    assert_eq!(
        report.matches("passed for resource").count(),
        objects,
        "every object was validated:\n{report}"
    );
}

/// The documents of `yaml` as PyYAML (the YAML 1.1 reader kubernetes-validate runs on, in the
/// same Python) reads them.
fn read_with_pyyaml(validator: &Path, yaml: &str) -> Vec<serde_json::Value> {
    let script = std::fs::read_to_string(validator).expect("read kubernetes-validate");
    let python = script
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("#!"))
        .map(|p| p.trim().to_string())
        .expect("kubernetes-validate starts with its Python's #! line");
    let mut child = Command::new(&python)
        .args([
            "-c",
            "import json, sys, yaml; json.dump(list(yaml.safe_load_all(sys.stdin)), sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("write the manifest to Python");
    let out = child.wait_with_output().expect("python ends");
    assert!(
        out.status.success(),
        "PyYAML cannot read the manifest: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from Python")
}
