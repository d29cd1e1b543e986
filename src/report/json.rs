//! The final summary written by `hornet run --json`: the run's state, the Aggregated row, one row
//! per name (every percentile, the corrected ones when present), failures, warnings and the
//! open model's dropped starts, and the monitor series. The per-second series is left out: it belongs to the CSV history
//! and the HTML report.

use serde_json::{json, Value};

use crate::stats::snapshot::Snapshot;
use crate::stats::thresholds::Verdict;

pub fn summary(s: &Snapshot) -> Value {
    let mut v = json!({
        "state": s.state,
        "elapsed_s": s.elapsed_s,
        "users": s.users,
        "aggregated": s.total,
        "requests": s.rows,
        "failures": s.failures,
        "warnings": s.warnings,
        "dropped": s.dropped,
        "cancelled": s.cancelled,
        "skipped": s.skipped,
    });
    if let Some(lag) = &s.lag {
        v["lag"] = json!(lag);
    }
    if !s.agents.is_empty() {
        v["agents"] = serde_json::to_value(&s.agents).unwrap_or_else(|_| json!([]));
    }
    v
}

/// [`summary`] with the threshold verdicts as `thresholds`.
pub fn summary_with_verdicts(s: &Snapshot, verdicts: &[Verdict]) -> Value {
    let mut v = summary(s);
    v["thresholds"] = serde_json::to_value(verdicts).unwrap_or_else(|_| json!([]));
    v
}

/// Adds the run's monitor series to a summary: `monitors` (each series with its unit, kind and
/// points, seconds since the start) and `monitor_summaries`; nothing when the run had none.
pub fn add_monitors(v: &mut Value, data: &crate::stats::monitor::MonitorData) {
    if data.series.is_empty() {
        return;
    }
    v["monitors"] = json!({
        "warmup_s": data.warmup_s,
        "window_s": data.window_s,
        "series": data.series,
    });
    v["monitor_summaries"] = serde_json::to_value(data.summaries()).unwrap_or_else(|_| json!([]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::snapshot::{FailureRow, Percentiles, RunState, StatsRow};

    #[test]
    fn summary_has_rows_failures_and_corrected_only_when_present() {
        let row = StatsRow {
            method: "GET".into(),
            name: "/a".into(),
            num_requests: 4,
            num_failures: 1,
            percentiles: Percentiles {
                p50: 1.5,
                ..Percentiles::default()
            },
            corrected: Some(Percentiles {
                p99: 80.0,
                ..Percentiles::default()
            }),
            ..StatsRow::default()
        };
        let total = StatsRow {
            name: "Aggregated".into(),
            num_requests: 4,
            num_failures: 1,
            ..StatsRow::default()
        };
        let s = Snapshot {
            state: RunState::Stopped,
            elapsed_s: 20.0,
            users: 3,
            rows: vec![row],
            total,
            failures: vec![FailureRow {
                method: "GET".into(),
                name: "/a".into(),
                error: "HTTP 500".into(),
                occurrences: 1,
            }],
            series: Vec::new(),
            current_p50_ms: 0.0,
            current_p95_ms: 0.0,
            warnings: vec!["careful".into()],
            dropped: 5,
            ..Snapshot::default()
        };
        let v = summary(&s);
        assert_eq!(v["state"], "stopped");
        assert_eq!(v["elapsed_s"], 20.0);
        assert_eq!(v["users"], 3);
        assert_eq!(v["aggregated"]["name"], "Aggregated");
        assert_eq!(v["aggregated"]["num_requests"], 4);
        assert!(v["aggregated"].get("corrected").is_none());
        assert_eq!(v["requests"][0]["percentiles"]["p50"], 1.5);
        assert_eq!(v["requests"][0]["corrected"]["p99"], 80.0);
        assert_eq!(v["failures"][0]["occurrences"], 1);
        assert_eq!(v["failures"][0]["error"], "HTTP 500");
        assert_eq!(v["warnings"][0], "careful");
        assert_eq!(v["dropped"], 5);
        assert!(v.get("series").is_none());
        assert!(v.get("thresholds").is_none());
        let verdict = Verdict {
            expression: "p95 < 1s".into(),
            passed: true,
            observed: 1.5,
            observed_text: "1.5 ms".into(),
            threshold: 1000.0,
            unit: crate::stats::thresholds::Unit::Ms,
            samples: 4,
            row: None,
            abort_on_fail: false,
            stopped_run_at_s: None,
            window: None,
        };
        let v = summary_with_verdicts(&s, &[verdict]);
        assert_eq!(v["thresholds"][0]["expression"], "p95 < 1s");
        assert_eq!(v["thresholds"][0]["passed"], true);
        assert_eq!(v["thresholds"][0]["observed"], 1.5);
        assert_eq!(v["aggregated"]["num_requests"], 4);
    }
}
