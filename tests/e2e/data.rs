//! Captures, feeders and setup against the demo target: what the target served (its own
//! counts and its store) must be exactly what the plan's data says.

use std::sync::Arc;
use std::time::Duration;

use hornet::demo::RunningTarget;
use hornet::engine::EngineError;
use hornet::plan::Plan;
use hornet::stats::snapshot::{RunState, Snapshot};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    authed, hornet_run, launch_refused, plan, plan_file, row, run_cfg, run_to_end, served,
    served_count, spawn_app_with_plan, spawn_target, temp_dir, write_file,
};

/// A plan whose CSV sits beside it in a temporary directory.
fn plan_with_csv(dir: &tempfile::TempDir, csv: &str, text: &str) -> Plan {
    write_file(dir.path(), "data/rows.csv", csv);
    hornet::plan::parse_str(text, "data.toml", Some(dir.path()))
        .unwrap_or_else(|e| panic!("test plan invalid:\n{e}"))
}

/// The target's tools (JSON), as `GET /tools` lists them.
async fn tools(target: &RunningTarget) -> Vec<serde_json::Value> {
    authed(target, Method::GET, "/tools")
        .send()
        .await
        .expect("GET /tools")
        .json()
        .await
        .expect("a JSON list")
}

/// The names of the tools the test created (the target seeds `demo-tool-N`).
async fn tool_names(target: &RunningTarget) -> Vec<String> {
    tools(target)
        .await
        .iter()
        .filter_map(|t| t["name"].as_str())
        .filter(|n| !n.starts_with("demo-tool-"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn a_capture_feeds_later_steps_and_one_that_finds_nothing_fails_its_step() {
    let target = spawn_target().await;
    let text = r#"
[defaults]
headers = { Authorization = "Bearer demo-token" }
[[users]]
name = "Writer"
wait = "constant(5ms)"
tasks = [
  { name = "lifecycle", weight = 1, steps = [
      { post = "/tools", name = "/tools [create]", json = { name = "t-{{ uuid() }}" }, check.status = 201, capture.new_id = "json:$.id" },
      { get = "/tools/{{ new_id }}", name = "/tools/[id]", check = { status = 200, json = { "$.id" = "exists" } }, capture.same = "json:$.id" },
      { delete = "/tools/{{ same }}", name = "/tools/[id] [delete]", check.status = 204 },
  ] },
  { name = "broken", weight = 1, steps = [
      { get = "/servers", name = "/servers [broken]", capture.missing = "json:$[0].no_such_field" },
      { get = "/servers/{{ missing }}", name = "/servers/[id]" },
  ] },
]
"#;
    let snapshot = run_data_plan(&plan(text), target.url(), 3, 2).await;
    let stats = served(&target).await;
    let created = row(&snapshot, "POST", "/tools [create]");
    let read = row(&snapshot, "GET", "/tools/[id]");
    let deleted = row(&snapshot, "DELETE", "/tools/[id] [delete]");
    assert!(
        created.num_requests > 20,
        "{} creates",
        created.num_requests
    );
    // every created id was read back and deleted: the capture reached the next steps
    assert_eq!(
        created.num_failures + read.num_failures + deleted.num_failures,
        0
    );
    assert_eq!(read.num_requests, created.num_requests);
    assert_eq!(deleted.num_requests, created.num_requests);
    assert_eq!(served_count(&stats, "GET /tools/{id}"), read.num_requests);
    assert_eq!(
        served_count(&stats, "DELETE /tools/{id}"),
        deleted.num_requests
    );
    assert!(
        tool_names(&target).await.is_empty(),
        "every tool was deleted"
    );

    // the capture that matched nothing failed its step, and the step after it never ran
    let broken = row(&snapshot, "GET", "/servers [broken]");
    assert!(broken.num_requests > 20);
    assert_eq!(broken.num_failures, broken.num_requests);
    assert_eq!(served_count(&stats, "GET /servers/{id}"), 0);
    assert!(snapshot.rows.iter().all(|r| r.name != "/servers/[id]"));
    let failure = snapshot
        .failures
        .iter()
        .find(|f| f.name == "/servers [broken]")
        .expect("a failure row");
    // The message, then the start of the body that did not have it.
    assert!(
        failure
            .error
            .starts_with("capture missing (json:$[0].no_such_field): nothing matched; body: \"[{"),
        "{}",
        failure.error
    );
    assert_eq!(failure.occurrences, broken.num_requests);
}

/// Runs `plan` (setup first) with `users` for `secs` against `host`, to its end.
async fn run_data_plan(plan: &Plan, host: String, users: u32, secs: u64) -> Arc<Snapshot> {
    let cfg = run_cfg(host, users, Duration::from_secs(secs));
    run_to_end(plan, cfg, Duration::from_secs(20)).await
}

/// Three routes of the target as one column: which route was served tells which row was used.
const ROUTES: &str = "path\n/health\n/ready\n/version\n";

fn routes_plan(order: &str) -> String {
    format!(
        r#"
[data.routes]
csv = "data/rows.csv"
order = "{order}"
[[users]]
name = "Fed"
wait = "constant(2ms)"
tasks = [
  {{ get = "{{{{ routes.path }}}}", name = "fed", weight = 1 }},
  {{ get = "/delay/0", name = "unfed", weight = 1 }},
]
"#
    )
}

fn route_counts(stats: &serde_json::Value) -> [u64; 3] {
    [
        served_count(stats, "GET /health"),
        served_count(stats, "GET /ready"),
        served_count(stats, "GET /version"),
    ]
}

#[tokio::test]
async fn cycle_hands_rows_out_in_turn_across_all_users() {
    let target = spawn_target().await;
    let dir = temp_dir();
    let plan = plan_with_csv(&dir, ROUTES, &routes_plan("cycle"));
    let snapshot = run_data_plan(&plan, target.url(), 4, 2).await;
    let counts = route_counts(&served(&target).await);
    let fed = row(&snapshot, "GET", "fed");
    assert_eq!(fed.num_failures, 0);
    assert_eq!(counts.iter().sum::<u64>(), fed.num_requests);
    assert!(fed.num_requests > 60, "{counts:?}");
    // one shared cursor: rows taken in turn, so the counts are [n+1, n+1, n] at most apart,
    // in row order
    assert!(
        counts[0] >= counts[1] && counts[1] >= counts[2] && counts[0] - counts[2] <= 1,
        "{counts:?}"
    );
    assert_eq!(snapshot.state, RunState::Stopped);
}

#[tokio::test]
async fn random_picks_only_rows_and_reaches_each() {
    let target = spawn_target().await;
    let dir = temp_dir();
    let plan = plan_with_csv(&dir, ROUTES, &routes_plan("random"));
    let snapshot = run_data_plan(&plan, target.url(), 2, 2).await;
    let stats = served(&target).await;
    let counts = route_counts(&stats);
    let fed = row(&snapshot, "GET", "fed");
    assert_eq!(fed.num_failures, 0);
    assert!(fed.num_requests > 60, "{counts:?}");
    // every fed request went to one of the three rows' routes and each row was used
    assert_eq!(counts.iter().sum::<u64>(), fed.num_requests);
    assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
    assert_eq!(
        stats["total"].as_u64().unwrap_or(0),
        fed.num_requests + row(&snapshot, "GET", "unfed").num_requests
    );
}

#[tokio::test]
async fn once_posts_each_row_once_then_stops_the_users_and_the_run() {
    let target = spawn_target().await;
    let dir = temp_dir();
    let text = r#"
[defaults]
headers = { Authorization = "Bearer demo-token" }
[data.tools]
csv = "data/rows.csv"
order = "once"
[[users]]
name = "Creator"
wait = "constant(10ms)"
tasks = [ { post = "/tools", name = "/tools [create]", json = { name = "{{ tools.name }}", description = "{{ tools.description }}" }, check.status = 201 } ]
on_stop = [ { get = "/health", name = "bye" } ]
"#;
    let csv = "name,description\nfeed-alpha,first\nfeed-beta,\"second, with a comma\"\nfeed-gamma,third\n";
    let plan = plan_with_csv(&dir, csv, text);
    let started = std::time::Instant::now();
    // 30 s of run time, 4 users, 3 rows: the run must end on its own once the rows are gone
    let snapshot = run_data_plan(&plan, target.url(), 4, 30).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the run should end when every user has stopped, took {:?}",
        started.elapsed()
    );
    assert_eq!(snapshot.state, RunState::Stopped);
    let mut names = tool_names(&target).await;
    names.sort();
    assert_eq!(names, vec!["feed-alpha", "feed-beta", "feed-gamma"]);
    let stats = served(&target).await;
    assert_eq!(served_count(&stats, "POST /tools"), 3);
    let created = row(&snapshot, "POST", "/tools [create]");
    assert_eq!((created.num_requests, created.num_failures), (3, 0));
    // every user ran on_stop once when it stopped
    assert_eq!(row(&snapshot, "GET", "bye").num_requests, 4);
    assert_eq!(served_count(&stats, "GET /health"), 4);
    assert!(
        snapshot.warnings.iter().any(|w| w
            == "the run ended when every user had stopped: data.tools (order = \"once\") ran out of rows"),
        "{:?}",
        snapshot.warnings
    );
    assert!(tools(&target)
        .await
        .iter()
        .any(|t| t["name"] == "feed-beta" && t["description"] == "second, with a comma"));
}

#[tokio::test]
async fn setup_captures_a_pool_and_pick_hits_only_ids_that_exist() {
    let target = spawn_target().await;
    let text = r#"
setup = [
  { get = "/servers", name = "/servers [setup]", check.status = 200, capture.server_ids = "json:$[*].id" },
  { get = "/tools", name = "/tools [setup]", check.status = 200, capture.tool_ids = "json:$[*].id", capture.first_tool = "json:$[0].id" },
]
[defaults]
headers = { Authorization = "Bearer demo-token" }
[[users]]
name = "Picker"
wait = "constant(2ms)"
tasks = [
  { get = "/tools/{{ pick(tool_ids) }}", name = "/tools/[id]", check.status = 200 },
  { get = "/servers/{{ pick(server_ids) }}", name = "/servers/[id]", check.status = 200 },
  { get = "/tools/{{ first_tool }}", name = "/tools/[first]", check.json = { "$.name" = "demo-tool-1" } },
]
"#;
    let snapshot = run_data_plan(&plan(text), target.url(), 3, 2).await;
    let stats = served(&target).await;
    let tools = row(&snapshot, "GET", "/tools/[id]");
    let servers = row(&snapshot, "GET", "/servers/[id]");
    let first = row(&snapshot, "GET", "/tools/[first]");
    assert!(tools.num_requests > 30 && servers.num_requests > 30);
    assert_eq!(
        tools.num_failures + servers.num_failures + first.num_failures,
        0,
        "{:?}",
        snapshot.failures
    );
    // setup ran once, before the users, and its requests are in the statistics
    assert_eq!(row(&snapshot, "GET", "/tools [setup]").num_requests, 1);
    assert_eq!(row(&snapshot, "GET", "/servers [setup]").num_requests, 1);
    assert_eq!(served_count(&stats, "GET /tools"), 1);
    assert_eq!(served_count(&stats, "GET /servers"), 1);
    assert_eq!(
        served_count(&stats, "GET /tools/{id}"),
        tools.num_requests + first.num_requests
    );
    assert_eq!(
        snapshot.total.num_requests,
        stats["total"].as_u64().unwrap_or(0)
    );
}

const FAILING_SETUP: &str = r#"
name = "setup fails"
setup = [
  { get = "/health", name = "/health [setup]" },
  { get = "/tools", name = "/tools [setup]", capture.tool_ids = "json:$[*].id" },
]
[[users]]
name = "Never"
tasks = [ { get = "/tools/{{ pick(tool_ids) }}", name = "/tools/[id]" } ]
"#;

#[tokio::test]
async fn a_failing_setup_refuses_the_run_with_its_message() {
    let target = spawn_target().await;
    // no Authorization header: the target answers /tools with 401
    let cfg = run_cfg(target.url(), 2, Duration::from_secs(2));
    let err = launch_refused(&plan(FAILING_SETUP), cfg).await;
    let EngineError::Invalid { field, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*field, "setup");
    assert_eq!(
        message,
        "setup step test.toml:5:3 (GET /tools [setup]) failed: HTTP 401; body: \"{\\\"detail\\\":\\\"Not authenticated\\\"}\"; the run was not started"
    );
    let stats = served(&target).await;
    assert_eq!(served_count(&stats, "GET /tools"), 1);
    assert_eq!(served_count(&stats, "GET /health"), 1);
    assert_eq!(served_count(&stats, "GET /tools/{id}"), 0, "no user ran");
}

#[tokio::test]
async fn the_api_answers_400_naming_setup_when_setup_fails() {
    let app = spawn_app_with_plan("setup_fails.toml", FAILING_SETUP).await;
    let body =
        json!({ "plan": "setup_fails", "host": app.target.url(), "users": 1, "spawn_rate": 1 });
    let (status, err) = app.send_json(Method::POST, "/api/runs", &body).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["field"], "setup");
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("setup step ")
            && message.ends_with(
                "setup_fails.toml:5:3 (GET /tools [setup]) failed: HTTP 401; body: \"{\\\"detail\\\":\\\"Not authenticated\\\"}\"; the run was not started"
            ),
        "{message}"
    );
    let (_, runs) = app.get_json("/api/runs").await;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(0), "{runs}");
    app.stop().await;
}

#[tokio::test]
async fn hornet_run_exits_2_with_the_setup_failure() {
    let target = spawn_target().await;
    let (_dir, path) = plan_file("setup_fails.toml", FAILING_SETUP);
    let out = hornet_run(&path, &target.url())
        .args(["-u", "1", "-t", "5s", "--no-history"])
        .output()
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "setup_fails.toml:5:3 (GET /tools [setup]) failed: HTTP 401; body: \"{\\\"detail\\\":\\\"Not authenticated\\\"}\"; the run was not started"
        ),
        "{stderr}"
    );
    assert_eq!(served_count(&served(&target).await, "GET /tools/{id}"), 0);
}
