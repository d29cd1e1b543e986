//! The plans shipped in `plans/`: every file validates, the JMeter suite has its five profiles
//! and the guide's thresholds, `mcp_gateway.toml` has the gateway's classes with their weights,
//! and the plans made of HTTP steps run against the demo target without a failure. A task's
//! `requires` skips it (no request, no failure, counted) when its pool is empty, as on a gateway
//! with no callable tool.

use std::path::PathBuf;
use std::time::Duration;

use hornet::plan::{Plan, ShapeKind, Wait};

use hornet::demo::TargetConfig;

use crate::helpers::{
    only_classes, plan, row, run_cfg, run_to_end, served, served_count, spawn_target,
    spawn_target_with,
};

fn plans_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("plans")
}

fn load(file: &str) -> Plan {
    let path = plans_dir().join(file);
    hornet::plan::load(&path).unwrap_or_else(|e| panic!("{file} is invalid:\n{e}"))
}

const SUITE: [&str; 6] = [
    "rest_api.toml",
    "mcp_jsonrpc.toml",
    "sse_streaming.toml",
    "websocket.toml",
    "admin_ui.toml",
    "mixed.toml",
];

#[test]
fn every_shipped_plan_validates() {
    let mut files: Vec<String> = std::fs::read_dir(plans_dir())
        .expect("plans/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    files.sort();
    let mut expected: Vec<&str> = SUITE.to_vec();
    expected.extend([
        "demo.toml",
        "mcp_gateway.toml",
        "mcp_gateway_highthroughput.toml",
        "mcp_server.toml",
        "notifications.toml",
        "soak.toml",
    ]);
    expected.sort();
    assert_eq!(files, expected);
    // the soak plan reads the demo target's own memory and judges its growth
    let soak = load("soak.toml");
    let monitor = soak.monitor.as_ref().expect("soak.toml has a [monitor]");
    assert!(monitor.series_names().contains(&"target.rss".to_string()));
    assert!(soak
        .thresholds
        .iter()
        .any(|t| t.source == "monitor.target.rss.growth < 10%"));
    // ...and every minute of it, not only its total
    assert!(soak
        .thresholds
        .iter()
        .any(|t| t.source == "error_rate[1m] < 5%"));
    for file in &files {
        let plan = load(file);
        assert!(!plan.description.is_empty(), "{file} has no description");
        assert!(!plan.thresholds.is_empty(), "{file} has no thresholds");
    }
}

#[test]
fn the_jmeter_suite_has_the_five_profiles_the_scale_and_the_guides_thresholds() {
    let thresholds = [
        ("rest_api.toml", vec!["p95 < 200ms", "error_rate < 1%"]),
        ("mcp_jsonrpc.toml", vec!["p95 < 300ms", "error_rate < 1%"]),
        ("sse_streaming.toml", vec!["error_rate < 1%"]),
        (
            "websocket.toml",
            vec!["error_rate < 0.1%", "'/ws'.loss < 0.1%"],
        ),
        ("admin_ui.toml", vec!["p95 < 500ms", "error_rate < 1%"]),
        ("mixed.toml", vec!["p95 < 300ms", "error_rate < 1%"]),
    ];
    for (file, want) in thresholds {
        let plan = load(file);
        let mut shapes: Vec<&str> = plan.shapes.iter().map(|s| s.name.as_str()).collect();
        shapes.sort();
        assert_eq!(
            shapes,
            ["baseline", "load", "soak", "spike", "stress"],
            "{file}"
        );
        let written: Vec<&str> = plan.thresholds.iter().map(|t| t.source.as_str()).collect();
        assert_eq!(written, want, "{file}");
        assert!(
            plan.description.contains("1/10") || plan.description.contains("(1:1)"),
            "{file}: the description states the scale: {}",
            plan.description
        );
        // the spike profile goes up tenfold and back
        let spike = plan.shapes.iter().find(|s| s.name == "spike").unwrap();
        let ShapeKind::Stages(stages) = &spike.kind else {
            panic!("{file}: spike is a closed-model shape")
        };
        let users: Vec<u32> = stages.iter().map(|s| s.users).collect();
        assert_eq!(users[1], users[0] * 10, "{file}: {users:?}");
        assert_eq!(users.last(), users.first(), "{file}: {users:?}");
    }
    let mcp = load("mcp_jsonrpc.toml");
    let names: Vec<&str> = mcp.names.iter().map(|n| n.name.as_str()).collect();
    for method in ["initialize", "tools/list", "tools/call", "resources/read"] {
        assert!(
            names.contains(&format!("/rpc {method}").as_str()),
            "{names:?}"
        );
    }
}

#[test]
fn mcp_gateway_has_the_guides_classes_weights_waits_and_names() {
    let plan = load("mcp_gateway.toml");
    let classes: Vec<(&str, u32, u32)> = plan
        .users
        .iter()
        .map(|c| {
            let task_weights: u32 = c.tasks.iter().map(|t| t.weight).sum();
            (c.name.as_str(), c.weight, task_weights)
        })
        .collect();
    assert_eq!(
        classes,
        [
            ("HealthCheckUser", 5, 18),
            ("ReadOnlyAPIUser", 30, 63),
            // upstream's 65, times 3 (its random-partial task split into three)
            ("AdminUIUser", 10, 195),
            ("MCPJsonRpcUser", 15, 51),
            ("WriteAPIUser", 5, 21),
            ("StressTestUser", 1, 23),
            ("FastTimeUser", 20, 20),
            ("RealisticUser", 10, 100),
        ]
    );
    let ms = Duration::from_millis;
    let waits: Vec<Wait> = plan.users.iter().map(|c| c.wait).collect();
    assert_eq!(
        waits,
        [
            Wait::Between(ms(1000), ms(3000)),
            Wait::Between(ms(300), ms(1500)),
            Wait::Between(ms(1000), ms(3000)),
            Wait::Between(ms(200), ms(1000)),
            Wait::Between(ms(2000), ms(5000)),
            Wait::Throughput(2.0),
            Wait::Between(ms(100), ms(500)),
            Wait::Between(ms(500), ms(2000)),
        ]
    );
    let names: Vec<(&str, &str)> = plan
        .names
        .iter()
        .map(|n| (n.kind.as_str(), n.name.as_str()))
        .collect();
    for name in [
        ("GET", "/health"),
        ("GET", "/tools/[id]"),
        ("GET", "/metrics [api]"),
        ("GET", "/admin/tools/partial [htmx]"),
        ("GET", "/health [stress]"),
        ("POST", "/rpc ping [stress]"),
        ("POST", "/rpc tools/list"),
        ("POST", "/rpc tools/list [fasttime]"),
        ("POST", "/rpc fast-time-get-system-time [UTC]"),
        ("POST", "/tools [create]"),
        ("DELETE", "/tools/[id] [delete]"),
        ("POST", "/servers/[id]/state"),
        ("GET", "/gateways [list for refresh]"),
        ("POST", "/protocol/initialize"),
    ] {
        assert!(names.contains(&name), "{name:?} missing from {names:?}");
    }
    assert_eq!(plan.setup.len(), 5);

    let fast = load("mcp_gateway_highthroughput.toml");
    assert_eq!(fast.users.len(), 1);
    assert_eq!(fast.users[0].name, "HighThroughputUser");
    assert_eq!(fast.users[0].wait, Wait::Throughput(2.0));
    assert!(fast.shapes.iter().any(|s| s.name == "high_throughput"));
}

/// Runs `plan` (restricted to `classes` when given) for about 2 s against the demo target and
/// returns (requests, failures).
async fn short_run(plan: &Plan, classes: &[&str], users: u32) -> (u64, u64, String) {
    let target = spawn_target().await;
    let cfg = only_classes(
        run_cfg(target.url(), users, Duration::from_secs(2)),
        classes,
    );
    let s = run_to_end(plan, cfg, Duration::from_secs(30)).await;
    (
        s.total.num_requests,
        s.total.num_failures,
        format!("{:?}", s.failures),
    )
}

#[tokio::test]
async fn every_shipped_plan_runs_against_the_demo_target_without_failures() {
    let runs: [(&str, &[&str], u32); 9] = [
        ("rest_api.toml", &[], 10),
        ("mcp_gateway_highthroughput.toml", &[], 20),
        ("admin_ui.toml", &[], 20),
        ("mcp_gateway.toml", &[], 40),
        ("mcp_jsonrpc.toml", &[], 10),
        ("sse_streaming.toml", &[], 10),
        ("websocket.toml", &[], 10),
        ("mixed.toml", &[], 10),
        ("demo.toml", &[], 20),
    ];
    // At the same time, each against its own target: the wall time of one run.
    let tasks: Vec<_> = runs
        .into_iter()
        .map(|(file, classes, users)| {
            tokio::spawn(async move { (file, short_run(&load(file), classes, users).await) })
        })
        .collect();
    for task in tasks {
        let (file, (requests, failures, why)) = task.await.expect("run task");
        assert!(requests >= 20, "{file}: {requests} requests");
        assert_eq!(failures, 0, "{file}: {why}");
    }
}

/// `notifications.toml` (SSE and WebSocket subscribers, one publisher after 2 s) against the
/// demo target: every broadcast reaches every subscriber and its thresholds hold.
#[tokio::test]
async fn notifications_plan_delivers_every_broadcast_on_the_demo_target() {
    let target = spawn_target().await;
    let plan = load("notifications.toml");
    let cfg = run_cfg(target.url(), 11, Duration::from_secs(4));
    let s = run_to_end(&plan, cfg, Duration::from_secs(30)).await;
    assert_eq!(s.total.num_failures, 0, "{:?}", s.failures);
    let topic = s
        .rows
        .iter()
        .find(|r| r.method == "FANOUT" && r.name == "alerts")
        .and_then(|r| r.fanout)
        .expect("the topic's figures");
    // 10 subscribers (8 SSE, 2 WebSocket) and 5 events a second for about 2 s
    assert!(topic.published >= 5, "{topic:?}");
    assert_eq!(topic.expected, 10 * topic.published, "{topic:?}");
    assert_eq!((topic.received, topic.unmatched), (topic.expected, 0));
    assert_eq!(topic.messages, topic.received);
    for t in &plan.thresholds {
        let v = hornet::stats::thresholds::evaluate(t, &s);
        assert!(v.passed, "{v:?}");
    }
}

/// `mcp_server.toml` against the demo target without auth (the plan sends a bearer token only
/// from MCP_TOKEN): no failure, every task recorded, and each user's session opened with
/// `initialize` + `notifications/initialized` and ended by one DELETE carrying its session id.
#[tokio::test]
async fn mcp_server_plan_opens_uses_and_deletes_a_session_per_user_on_the_demo_target() {
    let target = spawn_target_with(TargetConfig {
        token: None,
        ..TargetConfig::default()
    })
    .await;
    let plan = load("mcp_server.toml");
    let users = 5;
    let s = run_to_end(
        &plan,
        run_cfg(target.url(), users, Duration::from_secs(3)),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(s.total.num_failures, 0, "{:?}", s.failures);
    for name in ["initialize", "notifications/initialized"] {
        assert_eq!(
            row(&s, "POST", name).num_requests,
            u64::from(users),
            "{name}"
        );
    }
    assert_eq!(
        row(&s, "DELETE", "session [delete]").num_requests,
        u64::from(users)
    );
    for task in [
        "tools/list",
        "tools/call",
        "resources/list",
        "prompts/list",
        "ping",
    ] {
        assert!(row(&s, "POST", task).num_requests > 0, "{task}");
    }
    let stats = served(&target).await;
    assert_eq!(
        served_count(&stats, "DELETE /mcp"),
        u64::from(users),
        "{stats}"
    );
    // Every request after the users' initialize carried a session id the target issued.
    assert_eq!(stats["mcp"]["sessions_issued"], u64::from(users), "{stats}");
    assert_eq!(stats["mcp"]["unknown_session"], 0, "{stats}");
    assert_eq!(
        stats["mcp"]["requests_with_session"].as_u64(),
        Some(s.total.num_requests - u64::from(users)),
        "{stats}"
    );
}

/// Requests recorded under (method, name); 0 when the row never got a sample.
fn requests(s: &hornet::stats::snapshot::Snapshot, method: &str, name: &str) -> u64 {
    s.rows
        .iter()
        .find(|r| r.method == method && r.name == name)
        .map_or(0, |r| r.num_requests)
}

const POOL_PLAN: &str = r#"
name = "pool"
setup = [ { get = "/tools", name = "/tools [setup]", capture.tool_ids = "json:$[*].id" } ]
[defaults]
headers = { Authorization = "Bearer demo-token" }
[[users]]
name = "Reader"
wait = "constant(10ms)"
tasks = [
  { get = "/tools/{{ pick(tool_ids) }}", name = "/tools/[id]", requires = ["tool_ids"] },
  { get = "/health" },
]
"#;

/// A task whose pool setup found empty sends nothing and fails nothing: every pick of it is a
/// skip, counted, and the run warns at start; with a full pool the same task runs.
#[tokio::test]
async fn a_task_whose_pool_is_empty_is_skipped_not_failed() {
    let empty = spawn_target_with(TargetConfig {
        seed_tools: 0,
        ..TargetConfig::default()
    })
    .await;
    let s = run_to_end(
        &plan(POOL_PLAN),
        run_cfg(empty.url(), 2, Duration::from_secs(1)),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(s.total.num_failures, 0, "{:?}", s.failures);
    assert_eq!(requests(&s, "GET", "/tools/[id]"), 0);
    let health = requests(&s, "GET", "/health");
    // Two tasks of weight 1, ~10 ms apart: about as many skips as /health requests.
    assert!(health > 20 && s.skipped > 20, "{health} {}", s.skipped);
    assert!(
        s.skipped * 3 > health && health * 3 > s.skipped,
        "{health} {}",
        s.skipped
    );
    // The target saw only setup's /tools and the /health requests.
    let stats = served(&empty).await;
    assert_eq!(served_count(&stats, "GET /tools/{id}"), 0, "{stats}");
    assert_eq!(served_count(&stats, "GET /tools"), 1, "{stats}");
    assert_eq!(
        s.warnings
            .iter()
            .filter(|w| w.starts_with("task \"/tools/[id]\" of Reader is skipped"))
            .count(),
        1,
        "{:?}",
        s.warnings
    );

    let full = spawn_target().await;
    let s = run_to_end(
        &plan(POOL_PLAN),
        run_cfg(full.url(), 2, Duration::from_secs(1)),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(s.total.num_failures, 0, "{:?}", s.failures);
    assert_eq!(s.skipped, 0);
    assert!(requests(&s, "GET", "/tools/[id]") > 10);
    assert!(
        s.warnings.iter().all(|w| !w.contains("skipped")),
        "{:?}",
        s.warnings
    );

    // A class with no wait whose only task is skipped pauses 1 ms per skip instead of spinning
    // a core: 2 users for 1 s skip at most ~2 000 times (a spinning loop: millions).
    let idle = POOL_PLAN
        .replace("constant(10ms)", "constant(0s)")
        .replace("  { get = \"/health\" },\n", "");
    let s = run_to_end(
        &plan(&idle),
        run_cfg(empty.url(), 2, Duration::from_secs(1)),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(s.total.num_requests, 1, "only setup's request");
    assert!(
        (100..=2_200).contains(&s.skipped),
        "{} skips in 1 s by 2 users",
        s.skipped
    );
}

/// `mcp_gateway.toml` against a target with no tools (as a gateway with nothing callable):
/// no failure; the tasks that need a tool are skipped and named in the warnings, the others run.
#[tokio::test]
async fn mcp_gateway_skips_its_tool_tasks_on_a_target_without_tools() {
    let target = spawn_target_with(TargetConfig {
        seed_tools: 0,
        ..TargetConfig::default()
    })
    .await;
    let cfg = run_cfg(target.url(), 40, Duration::from_secs(2));
    let s = run_to_end(&load("mcp_gateway.toml"), cfg, Duration::from_secs(30)).await;
    assert_eq!(s.total.num_failures, 0, "{:?}", s.failures);
    for (method, name) in [
        ("GET", "/tools/[id]"),
        ("POST", "/rpc tools/call"),
        ("POST", "/tools/[id]/state"),
    ] {
        assert_eq!(requests(&s, method, name), 0, "{method} {name}");
    }
    for task in [
        "task \"/tools/[id]\" of ReadOnlyAPIUser",
        "task \"/rpc tools/call\" of MCPJsonRpcUser",
        "task \"/tools/[id]/state\" of WriteAPIUser",
        "task \"/tools/[id]\" of RealisticUser",
    ] {
        assert!(
            s.warnings.iter().any(|w| w.starts_with(task)),
            "{task}: {:?}",
            s.warnings
        );
    }
    assert!(s.total.num_requests >= 20, "{}", s.total.num_requests);
}
