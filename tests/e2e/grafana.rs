//! The Grafana dashboard shipped in `deploy/grafana/hornet.json`: it has what Grafana's
//! dashboard model requires (schemaVersion, panels with a datasource, targets and a gridPos,
//! unique ids), and every PromQL expression in it names only metric families that Hornet's
//! `/metrics` really emits, scraped from a running app during an open-model run with a
//! threshold (so the lag and verdict families have samples).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::spawn_app_with_plan;

const DASHBOARD: &str = include_str!("../../deploy/grafana/hornet.json");

const PLAN: &str = r#"
name = "graf"
host = "http://127.0.0.1:1"
thresholds = ["p95 < 10s"]

[[users]]
name = "U"
tasks = [ { get = "/delay/1", name = "probe" } ]

[shapes.open]
arrival = [ { duration = "60s", rate = 20 } ]
max_users = 4

# this test process (the app runs in it): hornet_monitor_value has a series
[monitor]
every = "1s"
process = [ { name = "self", pid = PID } ]
"#;

/// Every `hornet_*` identifier in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut word = String::new();
    for c in expr.chars().chain([' ']) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            if word.starts_with("hornet_") {
                names.push(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    names
}

/// Every PromQL expression of the dashboard: panel targets and query variables.
fn expressions(d: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().expect("targets") {
            out.push(t["expr"].as_str().expect("expr").to_string());
        }
    }
    for v in d["templating"]["list"].as_array().expect("templating") {
        if v["type"] == "query" {
            out.push(v["definition"].as_str().expect("definition").to_string());
        }
    }
    out
}

#[test]
fn the_dashboard_has_the_models_required_fields() {
    let d: Value = serde_json::from_str(DASHBOARD).expect("valid JSON");
    assert!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
        "{}",
        d["schemaVersion"]
    );
    assert!(d["title"].is_string() && d["uid"].is_string());
    let panels = d["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8, "{}", panels.len());
    let mut ids = BTreeSet::new();
    for p in panels {
        let id = p["id"].as_u64().expect("panel id");
        assert!(ids.insert(id), "panel id {id} twice");
        assert!(p["type"].is_string() && p["title"].is_string(), "{p}");
        assert_eq!(p["datasource"]["type"], "prometheus", "{p}");
        let g = &p["gridPos"];
        for k in ["x", "y", "w", "h"] {
            assert!(g[k].as_u64().is_some(), "gridPos.{k} of {}", p["title"]);
        }
        assert!(
            g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
            "{}",
            p["title"]
        );
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}", p["title"]);
        let mut refs = BTreeSet::new();
        for t in targets {
            assert!(refs.insert(t["refId"].as_str().expect("refId")), "{t}");
            assert!(
                !metric_names(t["expr"].as_str().expect("expr")).is_empty(),
                "{t}"
            );
        }
    }
    // the panels the issue asks for, by what they draw
    let all = expressions(&d).join("\n");
    for family in [
        "hornet_run_current_rps",
        "hornet_request_failures_total",
        "hornet_response_time_seconds",
        "hornet_run_users",
        "hornet_threshold_passed",
        "hornet_generator_lag_seconds",
        "hornet_monitor_value",
    ] {
        assert!(all.contains(family), "no panel draws {family}");
    }
}

#[tokio::test]
async fn every_expression_names_a_family_that_metrics_emits() {
    let plan = PLAN.replace("PID", &std::process::id().to_string());
    let app = spawn_app_with_plan("graf.toml", &plan).await;
    let id = app
        .start_run(&json!({ "plan": "graf", "host": app.target.url(), "shape": "open" }))
        .await;
    // a few seconds of starts: the lag and the verdicts have samples
    app.wait_json(
        "the run's first requests",
        &format!("/api/runs/{id}/stats"),
        Duration::from_secs(20),
        |s| s["stats"][0]["num_requests"].as_u64() >= Some(20),
    )
    .await;
    // and the monitor's first read (once a second)
    let mut text = String::new();
    for _ in 0..100 {
        text = app
            .client
            .get(app.api("/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("text");
        if text.contains("hornet_monitor_value{") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resp = app
        .client
        .post(app.api(&format!("/api/runs/{id}/stop")))
        .send()
        .await
        .expect("stop");
    assert!(resp.status().is_success());
    let mut families = BTreeSet::new();
    let mut summaries = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap_or_default().to_string();
            if parts.next() == Some("summary") {
                summaries.insert(name.clone());
            }
            families.insert(name);
        }
    }
    let run = format!("run_id=\"{id}\"");
    for sampled in [
        "hornet_run_users{",
        "hornet_generator_lag_seconds{",
        "hornet_threshold_passed{",
        "hornet_monitor_value{",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(sampled) && l.contains(&run)),
            "no {sampled}..}} sample of the run\n{text}"
        );
    }
    let d: Value = serde_json::from_str(DASHBOARD).expect("valid JSON");
    for expr in expressions(&d) {
        for name in metric_names(&expr) {
            let family = ["_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| summaries.contains(*f)))
                .unwrap_or(&name);
            assert!(
                families.contains(family),
                "{expr}: /metrics has no family {family} (it has {families:?})"
            );
        }
    }
    app.stop().await;
}
