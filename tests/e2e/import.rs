//! `hornet import har|openapi|curl` and `POST /api/import` + `POST /api/plans`: each import by the
//! real binary passes `hornet check` and runs against the demo target with 0 failures and the
//! names the input implies; secrets never land in a plan; bad input is refused naming the field.

use std::collections::HashMap;
use std::path::Path;

use hornet::demo::TargetConfig;
use serde_json::{json, Value};

use crate::helpers::{
    hornet, hornet_run, served, served_count, spawn_app, spawn_app_in, spawn_target,
    spawn_target_with, temp_dir, write_file, AppDir,
};

const HAR: &str = "tests/fixtures/import/admin_session.har";
/// Pieces of the bearer token / session cookie recorded in the HAR fixture.
const RECORDED_SECRET: &[&str] = &["eyJhbGciOiJIUzI1NiIs", "c2VjcmV0LXNpZ25hdHVyZQ"];

/// `hornet import ARGS -o dir/plan.toml`: asserts exit 0; returns the plan's path and text.
async fn import_to_file(dir: &Path, args: &[&str]) -> (std::path::PathBuf, String) {
    let path = dir.join("plan.toml");
    let out = hornet()
        .arg("import")
        .args(args)
        .arg("-o")
        .arg(&path)
        .output()
        .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "import {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).expect("plan written");
    (path, text)
}

/// `hornet check PLAN`: asserts exit 0, returns what it printed.
async fn check(plan: &Path) -> String {
    let out = hornet().arg("check").arg(plan).output().await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "check: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A bounded headless run; asserts exit 0; returns (method name → requests, failures, total).
async fn run(plan: &Path, host: &str, flags: &[&str], env: &[(&str, &str)]) -> RunSummary {
    let dir = temp_dir();
    let json_path = dir.path().join("summary.json");
    let mut cmd = hornet_run(plan, host)
        .args(flags)
        .arg("--json")
        .arg(&json_path);
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let out = cmd.output().await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "run: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("summary written"))
            .expect("JSON summary");
    let mut names = HashMap::new();
    for row in summary["requests"].as_array().expect("requests") {
        let key = format!(
            "{} {}",
            row["method"].as_str().unwrap_or(""),
            row["name"].as_str().unwrap_or("")
        );
        names.insert(key, row["num_requests"].as_u64().unwrap_or(0));
    }
    RunSummary {
        names,
        failures: summary["aggregated"]["num_failures"]
            .as_u64()
            .unwrap_or(u64::MAX),
        requests: summary["aggregated"]["num_requests"].as_u64().unwrap_or(0),
        summary,
    }
}

struct RunSummary {
    names: HashMap<String, u64>,
    failures: u64,
    requests: u64,
    summary: Value,
}

impl RunSummary {
    fn count(&self, name: &str) -> u64 {
        self.names.get(name).copied().unwrap_or(0)
    }
}

#[tokio::test]
async fn a_har_recording_of_the_admin_ui_runs_clean_without_its_secrets() {
    // The admin pages of the recording were authenticated by a session cookie, which the demo
    // target does not know: it serves this test without a token.
    let target = spawn_target_with(TargetConfig {
        token: None,
        ..TargetConfig::default()
    })
    .await;
    let dir = temp_dir();
    let (plan, text) = import_to_file(dir.path(), &["har", HAR, "--host", &target.url()]).await;
    for secret in RECORDED_SECRET {
        assert!(
            !text.contains(secret),
            "a recorded secret in the plan:\n{text}"
        );
    }
    assert!(
        text.contains("token = \"{{ env('API_TOKEN', '') }}\""),
        "{text}"
    );
    assert!(text.contains("API_COOKIE"), "{text}");
    for noise in [
        "User-Agent",
        "Sec-Fetch",
        "Accept-Encoding",
        "Referer",
        "/static/",
        "fonts.gstatic",
        "csrftoken",
    ] {
        assert!(!text.contains(noise), "{noise} kept:\n{text}");
    }
    assert!(text.contains("Hx-Request = \"true\""), "{text}");
    assert!(
        text.contains("{ rpc = \"tools/list\", path = \"/rpc\", params = {}, headers = { Authorization = \"Bearer {{ token }}\" } }"),
        "a JSON-RPC call is an rpc step:\n{text}"
    );
    assert!(
        text.contains("{ think = \"2.5s\" }") && text.contains("{ think = \"1.3s\" }"),
        "{text}"
    );
    assert!(
        text.contains(&format!("host = \"{}\"", target.url())),
        "{text}"
    );
    let described = check(&plan).await;
    assert!(described.contains("RecordedUser"), "{described}");

    let ran = run(
        &plan,
        &target.url(),
        &["-u", "2", "-r", "10", "-t", "6s"],
        &[],
    )
    .await;
    eprintln!(
        "HAR run: {} requests, {} failures, {:?}",
        ran.requests, ran.failures, ran.names
    );
    assert_eq!(ran.failures, 0, "{}", ran.summary);
    for name in [
        "GET /admin/",
        "GET /admin/tools/partial",
        "GET /admin/metrics/partial",
        "GET /tools",
        "GET /tools/{id}",
        "POST /rpc tools/list",
        "POST /tools/{id}/state",
    ] {
        assert!(ran.count(name) >= 1, "{name} missing: {:?}", ran.names);
    }
    assert_eq!(
        ran.names.len(),
        7,
        "only the recorded names: {:?}",
        ran.names
    );
    // Two tool ids recorded, one stats row; every iteration that reached the state switch
    // fetched both before it.
    assert!(
        ran.count("GET /tools/{id}") >= 2 * ran.count("POST /tools/{id}/state"),
        "{:?}",
        ran.names
    );
    let stats = served(&target).await;
    assert_eq!(
        served_count(&stats, "GET /tools/{id}"),
        ran.count("GET /tools/{id}"),
        "the target counted what Hornet did: {stats}"
    );
    assert_eq!(served_count(&stats, "GET /static/admin.css"), 0);
    assert_eq!(stats["total"].as_u64(), Some(ran.requests), "{stats}");
}

#[tokio::test]
async fn the_demo_targets_openapi_by_url_runs_clean_with_zero_setup() {
    let target = spawn_target().await;
    let url = format!("{}/openapi.json", target.url());
    let dir = temp_dir();
    let (plan, text) = import_to_file(dir.path(), &["openapi", &url]).await;
    assert!(
        text.contains(&format!("host = \"{}\"", target.url())),
        "{text}"
    );
    assert!(
        text.contains("token = \"{{ env('API_TOKEN', 'demo-token') }}\""),
        "{text}"
    );
    assert!(
        text.contains("Left out (event streams; use an sse step): GET /sse."),
        "{text}"
    );
    let doc: Value = reqwest::get(&url)
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    let operations: usize = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().map_or(0, |m| m.len()))
        .sum();
    assert_eq!(
        text.matches("weight = 1\n").count(),
        operations - 1,
        "one task per operation but /sse:\n{text}"
    );
    let described = check(&plan).await;
    assert!(described.contains("GET /tools/{id}"), "{described}");

    // One tag of the API: every one of its operations is seen, none fails.
    let tools = run(
        &plan,
        &target.url(),
        &["-u", "10", "-r", "100", "-t", "3s", "-T", "tools"],
        &[],
    )
    .await;
    eprintln!(
        "OpenAPI -T tools: {} requests, {} failures, {:?}",
        tools.requests, tools.failures, tools.names
    );
    assert_eq!(tools.failures, 0, "{}", tools.summary);
    let mut names: Vec<&String> = tools.names.keys().collect();
    names.sort();
    assert_eq!(
        names,
        ["GET /tools", "GET /tools/{id}", "POST /tools/{id}/state"],
        "{:?}",
        tools.names
    );
    // The whole API, no environment variable set.
    let all = run(
        &plan,
        &target.url(),
        &["-u", "20", "-r", "100", "-t", "3s"],
        &[],
    )
    .await;
    eprintln!(
        "OpenAPI, all: {} requests, {} failures, {} names",
        all.requests,
        all.failures,
        all.names.len()
    );
    assert_eq!(all.failures, 0, "{}", all.summary);
    assert!(
        all.requests >= 20 && all.names.len() >= 10,
        "{:?}",
        all.names
    );
}

#[tokio::test]
async fn curl_commands_become_one_request_each_and_run_clean() {
    let target = spawn_target().await;
    let url = target.url();
    let get = format!(
        "curl '{url}/tools/70010000000000000000000000000001' \\\n  -H 'Accept: application/json' \\\n  -H 'Authorization: Bearer demo-token' \\\n  -H 'User-Agent: Mozilla/5.0' \\\n  --compressed"
    );
    let post = format!(
        "curl -X POST {url}/rpc -H 'Content-Type: application/json' -H 'Authorization: Bearer demo-token' --data-raw '{{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"params\":{{}}}}'"
    );
    for (command, name) in [(get, "GET /tools/{id}"), (post, "POST /rpc tools/list")] {
        let dir = temp_dir();
        let (plan, text) = import_to_file(dir.path(), &["curl", &command]).await;
        assert!(
            !text.contains("demo-token"),
            "the pasted token stays out:\n{text}"
        );
        assert!(text.contains("Bearer {{ token }}"), "{text}");
        check(&plan).await;
        let ran = run(
            &plan,
            &url,
            &["-u", "2", "-r", "10", "-t", "2s"],
            &[("API_TOKEN", "demo-token")],
        )
        .await;
        eprintln!(
            "curl {name}: {} requests, {} failures",
            ran.requests, ran.failures
        );
        assert_eq!(ran.failures, 0, "{}", ran.summary);
        assert_eq!(
            ran.names.keys().collect::<Vec<_>>(),
            [name],
            "{:?}",
            ran.names
        );
        assert!(ran.count(name) >= 2, "{:?}", ran.names);
    }
}

#[test]
fn output_is_never_replaced_without_force_and_bad_input_exits_2() {
    let dir = temp_dir();
    let existing = write_file(dir.path(), "plan.toml", "keep me");
    let args = ["import", "curl", "curl http://127.0.0.1:1/x", "-o"];
    let out = hornet().args(args).arg(&existing).output_blocking();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--force"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    let out = hornet()
        .args(args)
        .arg(&existing)
        .arg("--force")
        .output_blocking();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(std::fs::read_to_string(&existing)
        .unwrap()
        .contains("get = \"/x\""));

    let not_har = write_file(dir.path(), "x.har", "{\"log\": {}}");
    let out = hornet()
        .args(["import", "har"])
        .arg(&not_har)
        .output_blocking();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a HAR file"),
        "{out:?}"
    );
    let out = hornet()
        .args(["import", "openapi", "/nonexistent/openapi.yaml"])
        .output_blocking();
    assert_eq!(out.status.code(), Some(2));
    let out = hornet()
        .args(["import", "curl", "curl http://a/b", "--host", "ftp://x"])
        .output_blocking();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--host"),
        "{out:?}"
    );
}

#[tokio::test]
async fn the_api_imports_previews_and_saves_a_plan_the_list_then_offers() {
    let app = spawn_app().await;
    let post = |path: &'static str, body: Value| {
        let app = &app;
        async move { app.send_json(reqwest::Method::POST, path, &body).await }
    };
    // A HAR file larger than other API bodies may be (64 KiB).
    let mut har: Value =
        serde_json::from_str(&std::fs::read_to_string(HAR).expect("fixture")).expect("HAR");
    har["log"]["comment"] = json!("x".repeat(200 * 1024));
    let (status, body) = post(
        "/api/import",
        json!({"kind": "har", "content": har.to_string(), "host": app.target.url(), "source": "admin_session.har"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["check"]["ok"], true, "{body}");
    assert_eq!(body["env_vars"], json!(["API_COOKIE", "API_TOKEN"]));
    let plan = body["plan"].as_str().expect("plan text");
    assert!(
        plan.contains("# Imported by `hornet import har` from admin_session.har"),
        "{plan}"
    );
    assert!(
        body["check"]["summary"]
            .as_str()
            .unwrap_or("")
            .contains("RecordedUser"),
        "{body}"
    );

    let refusals = [
        (json!({"kind": "postman", "content": "x"}), "kind"),
        (json!({"kind": "har"}), "content"),
        (
            json!({"kind": "har", "content": "{\"log\": {}}"}),
            "content",
        ),
        (
            json!({"kind": "curl", "content": "curl http://a/b", "host": "nope"}),
            "host",
        ),
        (
            json!({"kind": "curl", "content": "curl http://a/b", "keep_static": "yes"}),
            "keep_static",
        ),
        (
            json!({"kind": "curl", "content": "curl http://a/b", "extra": 1}),
            "extra",
        ),
    ];
    for (bad, field) in refusals {
        let (status, body) = post("/api/import", bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["field"], field, "{bad}: {body}");
    }

    let (status, saved) = post(
        "/api/plans",
        json!({"file": "admin_recording", "content": plan}),
    )
    .await;
    assert_eq!(status, 201, "{saved}");
    assert_eq!(saved["key"], "admin_recording.toml");
    let (_, plans) = app.get_json("/api/plans").await;
    let listed: Vec<&str> = plans["plans"]
        .as_array()
        .expect("plans")
        .iter()
        .filter_map(|p| p["key"].as_str())
        .collect();
    assert!(listed.contains(&"admin_recording.toml"), "{plans}");
    let page = app
        .client
        .get(app.api("/?plan=admin_recording.toml"))
        .send()
        .await
        .expect("GET /")
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("Imported from admin_session.har"),
        "the start page lists it"
    );
    assert!(
        page.contains("id=\"import-form\""),
        "the start page offers imports"
    );

    let refusals = [
        (
            json!({"file": "admin_recording.toml", "content": plan}),
            409,
            "file",
        ),
        (json!({"file": "demo", "content": plan}), 409, "file"),
        (json!({"file": "../escape", "content": plan}), 400, "file"),
        (json!({"file": "sub/x.toml", "content": plan}), 400, "file"),
        (
            json!({"file": "broken", "content": "name = 1"}),
            400,
            "content",
        ),
        (json!({"content": plan}), 400, "file"),
    ];
    for (bad, code, field) in refusals {
        let (status, body) = post("/api/plans", bad.clone()).await;
        assert_eq!(status, code, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let dir = app.stop().await;
    assert!(dir.plans().join("admin_recording.toml").is_file());
    assert!(!dir.path().join("escape.toml").exists() && !dir.plans().join("broken.toml").exists());
}

#[tokio::test]
async fn imports_need_the_token_like_every_api_route() {
    let app = spawn_app_in(AppDir::new(), |s| s.token = Some("s3cret".into())).await;
    let body = json!({"kind": "curl", "content": "curl http://127.0.0.1:1/x"});
    for path in ["/api/import", "/api/plans"] {
        let anonymous = app
            .client
            .post(app.api(path))
            .json(&body)
            .send()
            .await
            .expect("POST");
        assert_eq!(anonymous.status(), 401, "{path}");
    }
    let authed = app
        .client
        .post(app.api("/api/import"))
        .bearer_auth("s3cret")
        .json(&body)
        .send()
        .await
        .expect("POST");
    assert_eq!(authed.status(), 200);
    app.stop().await;
}
