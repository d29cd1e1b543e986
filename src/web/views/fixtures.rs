//! Test data shared by the views' tests: a snapshot, a run record and a plan whose names carry
//! a script tag, so that every render can check its escaping. Compiled for tests only.

use crate::plan::model::Plan;
use crate::stats::snapshot::{FailureRow, Percentiles, Point, RunState, Snapshot, StatsRow};
use crate::stats::thresholds::Verdict;
use crate::store::model::{
    ClassChoice, ClassRatio, Ratio, RunRecord, RunSettings, RunSource, RunSummary, TaskRatio,
};

pub(super) const XSS: &str = "<script>alert(1)</script>";
pub(super) const XSS_ESCAPED: &str = "&#60;script&#62;alert(1)&#60;/script&#62;";

pub(super) fn row(method: &str, name: &str, n: u64, fails: u64) -> StatsRow {
    StatsRow {
        method: method.into(),
        name: name.into(),
        num_requests: n,
        num_failures: fails,
        avg_ms: 12.345,
        min_ms: 1.0,
        max_ms: 250.5,
        median_ms: 10.0,
        percentiles: Percentiles {
            p50: 10.0,
            p90: 40.0,
            p95: 55.25,
            p99: 120.0,
            ..Percentiles::default()
        },
        avg_bytes: 512.4,
        current_rps: 12.34,
        current_fail_per_s: 0.5,
        total_rps: 10.0,
        ..StatsRow::default()
    }
}

pub(super) fn snapshot(state: RunState) -> Snapshot {
    Snapshot {
        state,
        elapsed_s: 12.0,
        users: 10,
        rows: vec![row("GET", "/tools", 100, 2), row("POST", XSS, 5, 0)],
        total: row("", "Aggregated", 105, 2),
        failures: vec![FailureRow {
            method: "GET".into(),
            name: "/tools".into(),
            error: format!("HTTP 500: {XSS}"),
            occurrences: 2,
        }],
        series: vec![Point {
            t_s: 1,
            users: 10,
            rps: 9.5,
            fail_per_s: 0.0,
            p50_ms: 10.0,
            p95_ms: 50.0,
            ..Default::default()
        }],
        current_p50_ms: 10.0,
        current_p95_ms: 55.0,
        warnings: vec![format!("generator lag {XSS}")],
        dropped: 0,
        cancelled: 0,
        skipped: 0,
        agents: Vec::new(),
        lag: None,
    }
}

pub(super) fn record(state: RunState) -> RunRecord {
    RunRecord {
        id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
        plan_name: format!("Demo {XSS}"),
        plan_hash: "abc123".into(),
        plan_file: Some("demo.toml".into()),
        plan_source: format!("name = \"{XSS}\"\n"),
        source: RunSource::Ui,
        state,
        settings: RunSettings {
            host: "http://127.0.0.1:8090/?a=1&b=2".into(),
            users: 10,
            spawn_rate: 2.0,
            run_time_s: Some(60.0),
            classes: vec![ClassChoice {
                name: "Reader".into(),
                weight: 3,
            }],
            tags: vec!["read".into()],
            exclude_tags: vec![],
            shape: None,
            stop_timeout_s: 0.0,
            thresholds: vec![],
            agents: 0,
            labels: Default::default(),
            monitor: None,
        },
        ratio: Ratio {
            classes: vec![ClassRatio {
                name: "Reader".into(),
                ratio: 0.75,
                tasks: vec![TaskRatio {
                    name: XSS.into(),
                    ratio: 2.0 / 3.0,
                }],
            }],
        },
        owner: "test".into(),
        started_at_ms: 1_714_564_800_000, // 2024-05-01 12:00:00 UTC
        ended_at_ms: Some(1_714_564_925_000),
        heartbeat_ms: 0,
        summary: Some(RunSummary {
            requests: 1000,
            failures: 5,
            rps: 8.0,
            p95_ms: 55.25,
            peak_users: 10,
            duration_s: 125.0,
            ..RunSummary::default()
        }),
        verdicts: vec![
            Verdict {
                expression: format!("'{XSS}'.p95 < 300ms"),
                passed: false,
                observed: 412.0,
                observed_text: "412 ms".into(),
                threshold: 300.0,
                unit: crate::stats::thresholds::Unit::Ms,
                samples: 5,
                row: None,
                abort_on_fail: true,
                stopped_run_at_s: Some(3.0),
                window: None,
            },
            Verdict {
                expression: "error_rate < 1%".into(),
                passed: true,
                observed: 0.005,
                observed_text: "0.5%".into(),
                threshold: 0.01,
                unit: crate::stats::thresholds::Unit::Ratio,
                samples: 1000,
                row: None,
                abort_on_fail: false,
                stopped_run_at_s: None,
                window: None,
            },
        ],
    }
}

pub(super) fn plan() -> Plan {
    let text = format!(
        r#"
name = "Demo"
description = "desc {XSS}"
host = "http://127.0.0.1:8090"
[[users]]
name = "Reader"
weight = 3
wait = "between(1s, 3s)"
tags = ["read"]
tasks = [
  {{ get = "/tools", weight = 2 }},
  {{ get = "/servers", weight = 1, name = "{XSS}" }},
]
[shapes.ramp]
stages = [ {{ duration = "30s", users = 20, spawn_rate = 5 }} ]
"#
    );
    crate::plan::parse_str(&text, "demo.toml", None).expect("valid plan")
}

pub(super) fn assert_escaped(html: &str) {
    assert!(!html.contains(XSS), "raw script tag in output");
    assert!(html.contains(XSS_ESCAPED), "escaped name missing");
}
