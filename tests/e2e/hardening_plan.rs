//! Hardening of plans and of what a plan makes the engine hold: bounded counts (exit 2 with
//! line:col, never an abort), thresholds on rows the plan records, bounded bodies for checks,
//! capped CSV feeders, silent SSE streams.

use std::process::Output;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    cut_at_stop, hornet, plan, row, run_cfg, run_to_end, served, served_count, spawn_app,
    spawn_target, temp_dir, write_file,
};

/// `hornet ARGS...` to its end.
async fn hornet_with(args: &[&str]) -> Output {
    hornet().args(args).output().await
}

/// Writes `dir/name`; returns its path as text (for argument lists and expected messages).
fn write(dir: &tempfile::TempDir, name: &str, text: &[u8]) -> String {
    write_file(dir.path(), name, text).display().to_string()
}

const HUGE_FIXED: &str = r#"host = "http://127.0.0.1:9"
[[users]]
name = "A"
fixed_count = 4000000000
tasks = [ { get = "/" } ]
"#;

#[tokio::test]
async fn a_huge_fixed_count_is_refused_by_check_and_run_with_line_col() {
    let dir = temp_dir();
    let plan = write(&dir, "huge.toml", HUGE_FIXED.as_bytes());
    let expected = format!(
        "{plan}:4:15: expected fixed_count: a whole number from 0 to 1000000, found the integer 4000000000"
    );
    let check = hornet_with(&["check", &plan]).await;
    let run = hornet_with(&["run", &plan, "-t", "1s", "--no-history"]).await;
    for out in [check, run] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim(), expected);
    }
}

#[tokio::test]
async fn run_level_numbers_are_bounded_on_the_command_line() {
    let dir = temp_dir();
    let plan = write(
        &dir,
        "ok.toml",
        b"host = \"http://127.0.0.1:9\"\n[[users]]\nname = \"A\"\ntasks = [ { get = \"/tools\" } ]\n",
    );
    let cases = [
        (
            ["-u", "4000000000"],
            "users must be at most 1000000, got 4000000000",
        ),
        (
            ["-r", "1e-300"],
            "spawn rate must be a number of users per second from 0.001 to 1000000, got 1e-300",
        ),
        (
            ["--class", "A=5000"],
            "A: a weight must be a whole number from 1 to 1000, got 5000",
        ),
        (["-t", "9999h"], "a duration must be at most 720h, got 9999h"),
        (
            ["--threshold", "'/nope'.p99 < 1s"],
            "error: --threshold \"'/nope'.p99 < 1s\": expected a name this plan records ('/tools'), found '/nope'",
        ),
    ];
    for (flag, wanted) in cases {
        let out = hornet_with(&["run", &plan, flag[0], flag[1], "--no-history"]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(wanted), "{wanted:?} not in {stderr}");
    }
}

#[tokio::test]
async fn the_api_refuses_a_threshold_on_a_row_the_plan_never_records() {
    let app = spawn_app().await;
    let body = json!({ "plan": "demo", "thresholds": ["'/nope'.p99 < 1s"] });
    let (status, err) = app.send_json(Method::POST, "/api/runs", &body).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["field"], "thresholds");
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("\"'/nope'.p99 < 1s\": expected a name this plan records ("),
        "{message}"
    );
    let body = json!({ "plan": "demo", "users": 1_000_001 });
    let (status, err) = app.send_json(Method::POST, "/api/runs", &body).await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (400, Some("users"))
    );
    let body = json!({ "plan": "demo", "classes": { "HealthCheckUser": 1001 } });
    let (status, err) = app.send_json(Method::POST, "/api/runs", &body).await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (400, Some("classes"))
    );
}

#[tokio::test]
async fn a_body_over_max_body_fails_every_request_and_one_at_the_limit_passes() {
    let target = spawn_target().await;
    let p = plan(
        r#"
[defaults]
max_body = "64KiB"
[[users]]
name = "Big"
wait = "constant(20ms)"
tasks = [
  { get = "/bytes/100000", check.body_contains = "x" },
  { get = "/bytes/65536", check.body_contains = "x" },
]
"#,
    );
    let cfg = cut_at_stop(run_cfg(target.url(), 2, Duration::from_millis(1500)));
    let snap = run_to_end(&p, cfg, Duration::from_secs(20)).await;
    let big = row(&snap, "GET", "/bytes/100000");
    assert!(big.num_requests > 3, "{}", big.num_requests);
    assert_eq!(big.num_failures, big.num_requests);
    let failure = snap
        .failures
        .iter()
        .find(|f| f.name == "/bytes/100000")
        .expect("a failure row");
    assert_eq!(
        failure.error,
        "body too large to check: more than 64 KiB (raise defaults.max_body)"
    );
    assert_eq!(failure.occurrences, big.num_requests);
    // A body of exactly the limit is checked and passes.
    let fits = row(&snap, "GET", "/bytes/65536");
    assert!(fits.num_requests > 3);
    assert_eq!(fits.num_failures, 0);
    let stats = served(&target).await;
    let requests = big.num_requests + fits.num_requests;
    assert!(served_count(&stats, "GET /bytes/{n}") >= requests);
}

#[tokio::test]
async fn a_feeder_over_the_row_cap_is_refused_by_check_with_the_line() {
    let dir = temp_dir();
    // 1 000 001 rows of one short column: just over the cap, about 2 MB.
    let mut csv = String::with_capacity(2_000_010);
    csv.push_str("v\n");
    for _ in 0..1_000_001 {
        csv.push_str("1\n");
    }
    let data = write(&dir, "rows.csv", csv.as_bytes());
    let plan = write(
        &dir,
        "feed.toml",
        b"host = \"http://127.0.0.1:9\"\n[data.d]\ncsv = \"rows.csv\"\n[[users]]\nname = \"A\"\ntasks = [ { get = \"/{{ d.v }}\" } ]\n",
    );
    let out = hornet_with(&["check", &plan]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "{data}:1000002:1: expected at most 1000000 rows below the header (the cap on CSV feeders), found more"
        )
    );
}

#[tokio::test]
async fn check_reads_the_data_files_it_references() {
    let dir = temp_dir();
    let data = write(&dir, "bad.csv", b"a,b\n1,2\n3\n");
    let plan = write(
        &dir,
        "feed.toml",
        b"[data.d]\ncsv = \"bad.csv\"\n[[users]]\nname = \"A\"\ntasks = [ { get = \"/{{ d.a }}\" } ]\n",
    );
    let non_utf8 = write(&dir, "latin1.toml", b"name = \"caf\xe9\"\n");
    let bad = hornet_with(&["check", &plan]).await;
    let latin1 = hornet_with(&["check", &non_utf8]).await;
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!("{data}:3:1: expected 2 fields in every row, as in the header, found 1")
    );
    let stderr = String::from_utf8_lossy(&latin1.stderr);
    assert_eq!(latin1.status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .trim()
            .ends_with("latin1.toml:1:12: expected UTF-8 text, found byte 0xE9"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_silent_sse_stream_fails_after_its_for_window() {
    let target = spawn_target().await;
    let p = plan(
        r#"
[defaults]
headers = { Authorization = "Bearer demo-token" }
[[users]]
name = "Listener"
tasks = [ { sse = "/sse?silent=true", for = "300ms", name = "quiet" } ]
"#,
    );
    let cfg = run_cfg(target.url(), 1, Duration::from_millis(1400));
    let snap = run_to_end(&p, cfg, Duration::from_secs(20)).await;
    let connect = row(&snap, "SSE", "quiet [connect]");
    let first = row(&snap, "SSE", "quiet [first event]");
    assert!(connect.num_requests >= 3, "{}", connect.num_requests);
    assert_eq!(connect.num_failures, 0);
    assert_eq!(first.num_failures, connect.num_requests);
    let failure = snap
        .failures
        .iter()
        .find(|f| f.name == "quiet [first event]")
        .expect("a failure row");
    assert_eq!(failure.error, "no event within 300ms");
    assert_eq!(failure.occurrences, connect.num_requests);
}
