//! `GET /metrics`: the live runs of this process, and the newest finished run of the history,
//! in Prometheus' text exposition format (0.0.4). Per (method, name): request and failure
//! counters, the current RPS and a response-time summary (quantiles, `_sum`, `_count`); per run:
//! users, current RPS and failures/s, elapsed time, the generator's lag and the run state (one
//! series per state, 1 for the current one); per threshold: whether it holds (judged so far while the run goes,
//! final after) and its observed value and limit in base units (seconds, a ratio, per second);
//! per live run with a `[monitor]`, each monitor series' latest read (`hornet_monitor_value`).
//! Every series carries `run_id` and `plan`.
//!
//! Hand-written rather than through a client crate: the numbers already exist in each run's
//! `Snapshot`, a scrape only formats them, and the Rust Prometheus clients have no summary type.
//! The Aggregated row is left out of the per-name families so that `sum()` over them is right.
//! Cardinality: names are capped by the engine (1000 + `(other)`); [`MAX_NAMES`] caps again here.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;
use crate::stats::snapshot::{RunState, Snapshot, StatsRow};
use crate::stats::thresholds::{Unit, Verdict};
use crate::store::RunFilter;

/// Content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Per-name series per run at most (the engine's default name cap, plus `(other)`).
pub const MAX_NAMES: usize = 1001;

/// One run to expose.
pub struct MetricsRun<'a> {
    pub id: &'a str,
    pub plan: &'a str,
    pub snapshot: &'a Snapshot,
    pub verdicts: &'a [Verdict],
}

pub async fn get_metrics(
    axum::extract::State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let live = state.runs.live();
    let mut snapshots: Vec<(String, String, Arc<Snapshot>, Vec<Verdict>)> = live
        .iter()
        .map(|r| {
            let verdicts = state.runs.verdicts_of(&r.record);
            (
                r.id.clone(),
                r.record.plan_name.clone(),
                r.snapshot(),
                verdicts,
            )
        })
        .collect();
    // After a run ends its final numbers stay visible until the next one starts, so that the
    // last scrape of a short run is not lost.
    let newest = state
        .store
        .list_runs(&RunFilter {
            limit: 1,
            ..RunFilter::default()
        })
        .await?;
    if let Some(record) = newest.first() {
        if record.state.is_final() && !live.iter().any(|r| r.id == record.id) {
            let snapshot = state.runs.snapshot_of(record).await?;
            let verdicts = record.verdicts.clone();
            snapshots.push((
                record.id.clone(),
                record.plan_name.clone(),
                snapshot,
                verdicts,
            ));
        }
    }
    let runs: Vec<MetricsRun<'_>> = snapshots
        .iter()
        .map(|(id, plan, s, verdicts)| MetricsRun {
            id,
            plan,
            snapshot: s,
            verdicts,
        })
        .collect();
    let mut text = render(&runs);
    let monitors: Vec<LiveMonitors> = live
        .iter()
        .filter_map(|r| {
            Some(LiveMonitors {
                id: &r.id,
                plan: &r.record.plan_name,
                latest: r.monitors()?.latest(),
            })
        })
        .collect();
    monitor_values(&mut text, &monitors);
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

/// A live run's monitor series, each with its latest read.
pub struct LiveMonitors<'a> {
    pub id: &'a str,
    pub plan: &'a str,
    pub latest: Vec<(String, crate::plan::monitor::MonitorUnit, f64)>,
}

/// `hornet_monitor_value{run_id,plan,series,unit}`: the latest read of each monitor series of
/// the live runs (the family is always there, empty without one).
pub fn monitor_values(out: &mut String, runs: &[LiveMonitors<'_>]) {
    family(
        out,
        "hornet_monitor_value",
        "gauge",
        "Latest read of a monitor series of a live run (the target's own metrics; unit: bytes, \
         percent, per_second or count).",
        |out| {
            for r in runs {
                for (series, unit, value) in &r.latest {
                    let labels = format!(
                        "run_id=\"{}\",plan=\"{}\",series=\"{}\",unit=\"{}\"",
                        escape_label(r.id),
                        escape_label(r.plan),
                        escape_label(series),
                        unit.as_str()
                    );
                    sample(out, "hornet_monitor_value", &labels, *value);
                }
            }
        },
    );
}

/// The exposition text for `runs`: every family once, with its HELP and TYPE, even when empty.
pub fn render(runs: &[MetricsRun<'_>]) -> String {
    let mut out = String::new();
    run_families(&mut out, runs);
    name_families(&mut out, runs);
    response_time_summary(&mut out, runs);
    threshold_families(&mut out, runs);
    out
}

/// Per threshold (labelled with its expression as written): 1 when it holds, else 0; its
/// observed value and its limit in base units, with the unit as a label.
fn threshold_families(out: &mut String, runs: &[MetricsRun<'_>]) {
    let per_verdict: [VerdictFamily; 3] = [
        (
            "hornet_threshold_passed",
            "1 when the threshold holds (judged so far while the run goes), else 0",
            |v| if v.passed { 1.0 } else { 0.0 },
        ),
        (
            "hornet_threshold_observed",
            "The threshold's observed value (the worst row, window or step), in base units",
            |v| base_unit(v.unit).1 * v.observed,
        ),
        (
            "hornet_threshold_limit",
            "The threshold's limit, in base units",
            |v| base_unit(v.unit).1 * v.threshold,
        ),
    ];
    for (name, help, value) in per_verdict {
        family(out, name, "gauge", help, |out| {
            for r in runs {
                for v in r.verdicts {
                    let unit = base_unit(v.unit).0;
                    let labels = if name == "hornet_threshold_passed" {
                        run_labels(r, &[("threshold", &v.expression)])
                    } else {
                        run_labels(r, &[("threshold", &v.expression), ("unit", unit)])
                    };
                    sample(out, name, &labels, value(v));
                }
            }
        });
    }
}

/// A verdict unit's Prometheus base unit and the factor that converts to it.
fn base_unit(unit: Unit) -> (&'static str, f64) {
    match unit {
        Unit::Ms => ("seconds", 0.001),
        Unit::Ratio => ("ratio", 1.0),
        Unit::PerSecond => ("per_second", 1.0),
        Unit::Bytes => ("bytes", 1.0),
        Unit::Percent => ("percent", 1.0),
        Unit::Count => ("count", 1.0),
    }
}

/// Per run: the state (one series per state, 1 for the current one) and the run's gauges.
fn run_families(out: &mut String, runs: &[MetricsRun<'_>]) {
    let state = "hornet_run_state";
    family(
        out,
        state,
        "gauge",
        "1 for the run's current state",
        |out| {
            for r in runs {
                for s in RunState::ALL {
                    let value = if r.snapshot.state == s { 1.0 } else { 0.0 };
                    sample(out, state, &run_labels(r, &[("state", s.as_str())]), value);
                }
            }
        },
    );
    let per_run: [RunGauge; 4] = [
        ("hornet_run_users", "Running virtual users", |s| {
            f64::from(s.users)
        }),
        (
            "hornet_run_current_rps",
            "Requests per second over the last 10 s, all names",
            |s| s.total.current_rps,
        ),
        (
            "hornet_run_current_failures_per_second",
            "Failures per second over the last 10 s, all names",
            |s| s.total.current_fail_per_s,
        ),
        (
            "hornet_run_elapsed_seconds",
            "Time since the run started",
            |s| s.elapsed_s,
        ),
    ];
    for (name, help, value) in per_run {
        family(out, name, "gauge", help, |out| {
            for r in runs {
                sample(out, name, &run_labels(r, &[]), value(r.snapshot));
            }
        });
    }
    let lag = "hornet_generator_lag_seconds";
    let help = "How late the generator began paced and open-model starts (p50, p99, max), \
                for runs that have such starts";
    family(out, lag, "gauge", help, |out| {
        for r in runs {
            if let Some(l) = &r.snapshot.lag {
                for (q, ms) in [("0.5", l.p50_ms), ("0.99", l.p99_ms), ("1", l.max_ms)] {
                    sample(out, lag, &run_labels(r, &[("quantile", q)]), ms / 1000.0);
                }
            }
        }
    });
}

/// Per (method, name): the request and failure counters and the current RPS.
fn name_families(out: &mut String, runs: &[MetricsRun<'_>]) {
    let per_name: [NameFamily; 3] = [
        (
            "hornet_requests_total",
            "counter",
            "Requests made, failed ones included",
            |row| row.num_requests as f64,
        ),
        (
            "hornet_request_failures_total",
            "counter",
            "Requests that failed",
            |row| row.num_failures as f64,
        ),
        (
            "hornet_requests_current_rps",
            "gauge",
            "Requests per second over the last 10 s",
            |row| row.current_rps,
        ),
    ];
    for (name, kind, help, value) in per_name {
        family(out, name, kind, help, |out| {
            for r in runs {
                for row in rows(r) {
                    sample(out, name, &row_labels(r, row, None), value(row));
                }
            }
        });
    }
}

/// Per (method, name): response-time quantiles in seconds, `_sum` and `_count`.
fn response_time_summary(out: &mut String, runs: &[MetricsRun<'_>]) {
    let summary = "hornet_response_time_seconds";
    let help = "Response times since the start (or the last reset)";
    family(out, summary, "summary", help, |out| {
        for r in runs {
            for row in rows(r) {
                let p = &row.percentiles;
                for (q, ms) in [
                    ("0.5", p.p50),
                    ("0.9", p.p90),
                    ("0.95", p.p95),
                    ("0.99", p.p99),
                ] {
                    sample(out, summary, &row_labels(r, row, Some(q)), ms / 1000.0);
                }
                let labels = row_labels(r, row, None);
                // the row keeps the exact mean, so mean × count is the exact sum
                let sum_s = row.avg_ms * row.num_requests as f64 / 1000.0;
                sample(out, &format!("{summary}_sum"), &labels, sum_s);
                let count = row.num_requests as f64;
                sample(out, &format!("{summary}_count"), &labels, count);
            }
        }
    });
}

/// Name, HELP and value of a per-run gauge.
type RunGauge = (&'static str, &'static str, fn(&Snapshot) -> f64);
/// Name, HELP and value of a per-threshold gauge.
type VerdictFamily = (&'static str, &'static str, fn(&Verdict) -> f64);
/// Name, TYPE, HELP and value of a per-name family.
type NameFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&StatsRow) -> f64,
);

fn rows<'a>(r: &'a MetricsRun<'_>) -> impl Iterator<Item = &'a StatsRow> {
    r.snapshot.rows.iter().take(MAX_NAMES)
}

fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: impl FnOnce(&mut String)) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
    samples(out);
}

fn run_labels(r: &MetricsRun<'_>, extra: &[(&str, &str)]) -> String {
    let mut labels = format!(
        "run_id=\"{}\",plan=\"{}\"",
        escape_label(r.id),
        escape_label(r.plan)
    );
    for (k, v) in extra {
        let _ = write!(labels, ",{k}=\"{}\"", escape_label(v));
    }
    labels
}

fn row_labels(r: &MetricsRun<'_>, row: &StatsRow, quantile: Option<&str>) -> String {
    let mut extra = vec![("method", row.method.as_str()), ("name", row.name.as_str())];
    if let Some(q) = quantile {
        extra.push(("quantile", q));
    }
    run_labels(r, &extra)
}

fn sample(out: &mut String, name: &str, labels: &str, value: f64) {
    let _ = writeln!(out, "{name}{{{labels}}} {}", number(value));
}

/// Go's float syntax for the special values; Rust's shortest round-trip text otherwise.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{v}")
    }
}

/// Label values: backslash, double quote and line feed are escaped (the format's only rules).
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text: backslash and line feed are escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::snapshot::Percentiles;

    fn row(method: &str, name: &str, n: u64, fails: u64) -> StatsRow {
        StatsRow {
            method: method.into(),
            name: name.into(),
            num_requests: n,
            num_failures: fails,
            avg_ms: 12.5,
            current_rps: 2.5,
            percentiles: Percentiles {
                p50: 10.0,
                p90: 20.0,
                p95: 25.0,
                p99: 40.0,
                ..Percentiles::default()
            },
            ..StatsRow::default()
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            state: RunState::Running,
            elapsed_s: 3.5,
            users: 4,
            rows: vec![row("GET", "/a\"b\\c\nd", 8, 1), row("", "(other)", 2, 0)],
            total: StatsRow {
                name: "Aggregated".into(),
                num_requests: 10,
                current_rps: 5.0,
                current_fail_per_s: 0.25,
                ..StatsRow::default()
            },
            failures: vec![],
            series: vec![],
            current_p50_ms: 0.0,
            current_p95_ms: 0.0,
            warnings: vec![],
            dropped: 0,
            cancelled: 0,
            skipped: 0,
            agents: Vec::new(),
            lag: Some(crate::stats::snapshot::GeneratorLag {
                starts: 40,
                p50_ms: 0.5,
                p99_ms: 12.0,
                max_ms: 30.0,
            }),
        }
    }

    #[test]
    fn monitor_values_carry_series_and_unit() {
        let mut out = String::new();
        monitor_values(
            &mut out,
            &[LiveMonitors {
                id: "r1",
                plan: "soak",
                latest: vec![(
                    "gw.rss".into(),
                    crate::plan::monitor::MonitorUnit::Bytes,
                    1048576.0,
                )],
            }],
        );
        assert!(out.contains("# TYPE hornet_monitor_value gauge\n"), "{out}");
        assert!(
            out.contains(
                "hornet_monitor_value{run_id=\"r1\",plan=\"soak\",series=\"gw.rss\",unit=\"bytes\"} 1048576\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(escape_label("é{},="), "é{},=");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(3.0), "3");
    }

    #[test]
    fn every_family_has_help_and_type_and_exact_samples() {
        let s = snapshot();
        let verdict = |expression: &str, passed, observed, threshold, unit| Verdict {
            expression: expression.into(),
            passed,
            observed,
            observed_text: String::new(),
            threshold,
            unit,
            samples: 10,
            row: None,
            abort_on_fail: false,
            stopped_run_at_s: None,
            window: None,
        };
        let verdicts = [
            verdict("p95 < 300ms", true, 212.5, 300.0, Unit::Ms),
            verdict("'/a'.error_rate < 1%", false, 0.125, 0.01, Unit::Ratio),
            verdict("rps > 100", false, 50.0, 100.0, Unit::PerSecond),
        ];
        let text = render(&[MetricsRun {
            id: "run-1",
            plan: "Demo \"plan\"",
            snapshot: &s,
            verdicts: &verdicts,
        }]);
        let run = r#"run_id="run-1",plan="Demo \"plan\"""#;
        let a = format!(r#"{run},method="GET",name="/a\"b\\c\nd""#);
        for line in [
            format!("hornet_run_state{{{run},state=\"running\"}} 1"),
            format!("hornet_run_state{{{run},state=\"stopped\"}} 0"),
            format!("hornet_run_users{{{run}}} 4"),
            format!("hornet_run_current_rps{{{run}}} 5"),
            format!("hornet_run_current_failures_per_second{{{run}}} 0.25"),
            format!("hornet_run_elapsed_seconds{{{run}}} 3.5"),
            format!("hornet_generator_lag_seconds{{{run},quantile=\"0.5\"}} 0.0005"),
            format!("hornet_generator_lag_seconds{{{run},quantile=\"0.99\"}} 0.012"),
            format!("hornet_generator_lag_seconds{{{run},quantile=\"1\"}} 0.03"),
            format!("hornet_requests_total{{{a}}} 8"),
            format!("hornet_request_failures_total{{{a}}} 1"),
            format!("hornet_requests_current_rps{{{a}}} 2.5"),
            format!("hornet_response_time_seconds{{{a},quantile=\"0.5\"}} 0.01"),
            format!("hornet_response_time_seconds{{{a},quantile=\"0.99\"}} 0.04"),
            format!("hornet_response_time_seconds_sum{{{a}}} 0.1"),
            format!("hornet_response_time_seconds_count{{{a}}} 8"),
            format!("hornet_requests_total{{{run},method=\"\",name=\"(other)\"}} 2"),
            format!("hornet_threshold_passed{{{run},threshold=\"p95 < 300ms\"}} 1"),
            format!("hornet_threshold_passed{{{run},threshold=\"'/a'.error_rate < 1%\"}} 0"),
            format!(
                "hornet_threshold_observed{{{run},threshold=\"p95 < 300ms\",unit=\"seconds\"}} 0.2125"
            ),
            format!(
                "hornet_threshold_limit{{{run},threshold=\"p95 < 300ms\",unit=\"seconds\"}} 0.3"
            ),
            format!(
                "hornet_threshold_observed{{{run},threshold=\"'/a'.error_rate < 1%\",unit=\"ratio\"}} 0.125"
            ),
            format!(
                "hornet_threshold_limit{{{run},threshold=\"rps > 100\",unit=\"per_second\"}} 100"
            ),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
        assert!(!text.contains("Aggregated"), "{text}");
        // every sample line: NAME{LABELS} VALUE; every family announced before its samples
        let mut announced = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                announced.push(rest.split(' ').next().unwrap().to_string());
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (name, rest) = line.split_once('{').expect(line);
            let (_labels, value) = rest.rsplit_once("} ").expect(line);
            assert!(value.parse::<f64>().is_ok(), "{line}");
            let family = name
                .strip_suffix("_sum")
                .or_else(|| name.strip_suffix("_count"))
                .filter(|f| announced.iter().any(|a| a == f))
                .unwrap_or(name);
            assert_eq!(announced.last().map(String::as_str), Some(family), "{line}");
        }
        assert_eq!(announced.len(), 13);
        // no run: every family, no sample
        let empty = render(&[]);
        assert_eq!(empty.lines().count(), 26, "{empty}");
    }
}
