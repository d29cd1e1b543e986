//! Hornet against a real MCP server: `tests/fixtures/mcp_server.py`, made with the official MCP
//! Python SDK (`mcp` on PyPI, 2.x), over Streamable HTTP with stateful sessions, its replies as
//! SSE streams and as JSON. The shipped `plans/mcp_server.toml` runs clean and ends every
//! session it opened; a tool with a known latency is measured; a plan without `initialize` is
//! refused by the server and the failure says why.
//!
//! The SDK is looked for in the venv `$HORNET_VENV` (default `target/hornet-venv`, where
//! `.ci/run` installs it); without it the tests are skipped with the reason printed, except in
//! CI (`CI=true`), where that is a failure.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{hornet_run, plan_file, temp_dir};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mcp_server.py");

/// The venv's python when it can import the SDK; `None` (skipped, with the reason) otherwise,
/// except in CI.
fn sdk_python() -> Option<PathBuf> {
    // `.ci/run` makes the venv at target/hornet-venv: a plain `cargo test` finds it too.
    let venv = std::env::var_os("HORNET_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/hornet-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin").join("python");
    let has_sdk = python.is_file()
        && Command::new(&python)
            .args(["-c", "import mcp.server.mcpserver"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if has_sdk {
        return Some(python);
    }
    let reason = format!("{} cannot import the MCP SDK (mcp 2.x)", python.display());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the real MCP server cannot run in CI: {reason}");
    }
    eprintln!(
        "skipping the real MCP server tests: {reason} (python3 -m venv target/hornet-venv && \
         target/hornet-venv/bin/pip install 'mcp>=2.3,<3')"
    );
    None
}

/// The SDK server as a child process, killed on drop.
struct McpServer {
    child: Child,
    url: String,
}

impl McpServer {
    /// Starts the script (`json`: JSON replies, else SSE) and waits for the port it prints.
    fn start(python: &Path, json: bool) -> McpServer {
        let mut cmd = Command::new(python);
        cmd.arg(SCRIPT)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd.spawn().expect("the MCP server starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("PORT ") {
                    let _ = tx.send(port.trim().to_string());
                }
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(port) => port,
            Err(e) => {
                let _ = child.kill();
                panic!("the MCP server printed no port within 30 s: {e}");
            }
        };
        McpServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The script's counters: `deletes`, `posts`, `live_sessions`.
    async fn stats(&self) -> serde_json::Value {
        reqwest::get(format!("{}/__stats", self.url))
            .await
            .expect("GET /__stats")
            .json()
            .await
            .expect("/__stats is JSON")
    }
}

impl Drop for McpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `plan` against `server` with `args`; the exit code and the `--json` summary.
async fn run(plan: &Path, server: &McpServer, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let dir = temp_dir();
    let json = dir.path().join("summary.json");
    let out = hornet_run(plan, &server.url)
        .args(args)
        .args(["--stop-timeout", "5s", "--no-history", "--json"])
        .arg(&json)
        .output()
        .await;
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| {
        panic!(
            "no summary ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        out.status.code(),
        serde_json::from_str(&text).expect("the summary is JSON"),
    )
}

/// The summary's row `name`: (requests, failures).
fn row_counts(summary: &serde_json::Value, name: &str) -> (u64, u64) {
    let rows = summary["requests"].as_array().expect("requests rows");
    let row = rows
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name:?} in {summary}"));
    (
        row["num_requests"].as_u64().unwrap_or(0),
        row["num_failures"].as_u64().unwrap_or(0),
    )
}

#[tokio::test]
async fn the_shipped_mcp_server_plan_runs_clean_on_the_sdk_server_and_ends_every_session() {
    let Some(python) = sdk_python() else { return };
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/mcp_server.toml");
    const USERS: u64 = 5;
    for json in [false, true] {
        let mode = if json { "JSON replies" } else { "SSE replies" };
        let server = McpServer::start(&python, json);
        let (code, summary) = run(&plan, &server, &["-u", "5", "-r", "50", "-t", "4s"]).await;
        assert_eq!(code, Some(0), "{mode}: {summary}");
        assert_eq!(
            summary["aggregated"]["num_failures"].as_u64(),
            Some(0),
            "{mode}: {}",
            summary["failures"]
        );
        for name in [
            "initialize",
            "notifications/initialized",
            "session [delete]",
        ] {
            assert_eq!(row_counts(&summary, name), (USERS, 0), "{mode}: {name}");
        }
        for task in [
            "tools/list",
            "tools/call",
            "resources/list",
            "prompts/list",
            "ping",
        ] {
            let (requests, failures) = row_counts(&summary, task);
            assert!(requests > 0 && failures == 0, "{mode}: {task}: {summary}");
        }
        let stats = server.stats().await;
        eprintln!("{mode}: server counted {stats}");
        assert_eq!(stats["deletes"].as_u64(), Some(USERS), "{mode}: {stats}");
        assert_eq!(stats["live_sessions"].as_u64(), Some(0), "{mode}: {stats}");
        // Kept-alive connections, SSE replies included (the stream's end is awaited): not one
        // connection per request.
        assert!(
            stats["connections"].as_u64() <= Some(2 * USERS),
            "{mode}: {stats}"
        );
        assert_eq!(
            stats["posts"].as_u64(),
            Some(summary["aggregated"]["num_requests"].as_u64().unwrap_or(0) - USERS),
            "{mode}: every request but the DELETEs was a POST: {stats}"
        );
        // Every request after `initialize` carried the negotiated MCP-Protocol-Version: the
        // POSTs but the USERS initializes, and the USERS DELETEs.
        assert_eq!(stats["with_version"], stats["posts"], "{mode}: {stats}");
    }
}

const GET_STREAM_PLAN: &str = r#"
name = "get stream"
[defaults]
rpc_path = "/mcp"
[[users]]
name = "Listener"
on_start = [
  { rpc = "initialize", params = { protocolVersion = "2025-06-18", capabilities = {}, clientInfo = { name = "hornet", version = "1" } } },
  { rpc = "notifications/initialized" },
]
tasks = [ { name = "listen", steps = [
  { rpc = "tools/call", params = { name = "notify_later", arguments = { count = 4, delay_ms = 300 } } },
  { sse = "/mcp", for = "1200ms", min_events = 0, name = "server messages" },
  { sse = "/mcp", for = "300ms", min_events = 0, name = "quiet" },
] } ]
"#;

#[tokio::test]
async fn the_sessions_get_stream_counts_what_the_server_pushes_and_silence_is_no_failure() {
    let Some(python) = sdk_python() else { return };
    let server = McpServer::start(&python, false);
    let (plan_dir, plan) = plan_file("get_stream.toml", GET_STREAM_PLAN);
    let (code, summary) = run(&plan, &server, &["-u", "1", "-r", "10", "-t", "2s"]).await;
    drop(plan_dir);
    assert_eq!(code, Some(0), "{summary}");
    assert_eq!(
        summary["aggregated"]["num_failures"].as_u64(),
        Some(0),
        "{}",
        summary["failures"]
    );
    let (iterations, _) = row_counts(&summary, "/mcp tools/call");
    assert!(iterations >= 1, "{summary}");
    let rows = summary["requests"].as_array().expect("requests rows");
    let streams = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name && r["method"] == "SSE")
            .and_then(|r| r.get("sse"))
            .unwrap_or_else(|| panic!("no stream counts for {name:?} in {summary}"))
            .clone()
    };
    // Each iteration: one GET stream while the tool's 4 notifications come, one quiet one.
    let pushed = streams("server messages");
    assert_eq!(pushed["opened"], iterations, "{pushed}");
    assert_eq!(pushed["events"], 4 * iterations, "{pushed}");
    assert_eq!(pushed["drops"], 0, "{pushed}");
    let quiet = streams("quiet");
    assert_eq!(quiet["opened"], iterations, "{quiet}");
    assert_eq!(quiet["events"], 0, "{quiet}");
    let stats = server.stats().await;
    assert_eq!(stats["notified"], 4 * iterations, "{stats}");
    // Two GET streams an iteration; a GET the SDK answered 409 (the user's previous stream not
    // yet released) was asked again, and only that one is extra.
    let gets = stats["gets"].as_u64().expect("gets");
    let conflicts = stats["get_conflicts"].as_u64().expect("get_conflicts");
    assert_eq!(gets - conflicts, 2 * iterations, "{stats}");
}

const SLEEP_PLAN: &str = r#"
name = "sleep_ms"
thresholds = ["error_rate < 1%"]
[defaults]
rpc_path = "/mcp"
[[users]]
name = "Sleeper"
wait = "constant(0s)"
on_start = [
  { rpc = "initialize", params = { protocolVersion = "2025-06-18", capabilities = {}, clientInfo = { name = "hornet", version = "1.0.0" } } },
  { rpc = "notifications/initialized" },
]
on_stop = [ { delete = "/mcp" } ]
tasks = [ { rpc = "tools/call", name = "sleep_ms 20", params = { name = "sleep_ms", arguments = { ms = 20 } }, check.json = { "$.result.structuredContent.result" = 20 } } ]
"#;

#[tokio::test]
async fn a_tool_that_sleeps_20_ms_has_a_median_just_above_20_ms() {
    let Some(python) = sdk_python() else { return };
    let (_dir, plan) = plan_file("sleep.toml", SLEEP_PLAN);
    for json in [false, true] {
        let mode = if json { "JSON replies" } else { "SSE replies" };
        let server = McpServer::start(&python, json);
        let (code, summary) = run(&plan, &server, &["-u", "2", "-r", "20", "-t", "3s"]).await;
        assert_eq!(code, Some(0), "{mode}: {summary}");
        let rows = summary["requests"].as_array().expect("rows");
        let row = rows
            .iter()
            .find(|r| r["name"] == "sleep_ms 20")
            .expect("the sleep_ms row");
        let p50 = row["median_ms"].as_f64().expect("median");
        let n = row["num_requests"].as_u64().unwrap_or(0);
        eprintln!("{mode}: sleep_ms 20: {n} calls, p50 {p50} ms");
        assert!(n >= 50, "{mode}: {n} calls");
        assert_eq!(row["num_failures"].as_u64(), Some(0), "{mode}: {summary}");
        // never below the server's sleep; the upper bound leaves room for a loaded machine (a
        // reply queued behind another would show as ~40 ms and more)
        assert!((20.0..=38.0).contains(&p50), "{mode}: p50 {p50} ms");
        let stats = server.stats().await;
        assert_eq!(stats["live_sessions"].as_u64(), Some(0), "{mode}: {stats}");
        assert!(stats["connections"].as_u64() <= Some(4), "{mode}: {stats}");
    }
}

const NO_INITIALIZE: &str = r#"
name = "no session"
thresholds = ["error_rate < 1%"]
[defaults]
rpc_path = "/mcp"
[[users]]
name = "Sessionless"
wait = "constant(50ms)"
tasks = [ { rpc = "tools/list" } ]
"#;

#[tokio::test]
async fn calls_without_initialize_fail_naming_the_missing_session() {
    let Some(python) = sdk_python() else { return };
    let (_dir, plan) = plan_file("nosession.toml", NO_INITIALIZE);
    let server = McpServer::start(&python, false);
    let (code, summary) = run(&plan, &server, &["-u", "1", "-r", "10", "-t", "1s"]).await;
    assert_eq!(code, Some(1), "the error-rate threshold fails: {summary}");
    let (requests, failures) = row_counts(&summary, "/mcp tools/list");
    assert!(requests > 0 && failures == requests, "{summary}");
    let failures = summary["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{summary}");
    let error = failures[0]["error"].as_str().expect("error text");
    assert_eq!(
        error,
        "HTTP 400: JSON-RPC error -32600: Bad Request: Missing session ID"
    );
}
