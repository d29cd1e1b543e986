//! Threshold verdicts: a validated [`Threshold`] (`p95 < 300ms`, `error_rate < 1%`,
//! `'/tools/[id]'.p99 < 500ms`, `GET.avg < 100ms`, `rps > 100`, `checks > 99%`) judged against a
//! [`Snapshot`]. Pure: the run registry calls it once a second for `abort_on_fail` and once at
//! the end (through `super::windows::evaluate_all`, which judges windowed thresholds on their
//! windows); the CLI, the store, the API and the pages only show the [`Verdict`]s.
//!
//! Rules, following k6 where the plan format leaves a choice:
//! - Percentiles are the row's own (`p50` ... `p99.99`, `p100` = the exact max); the parser only
//!   accepts those, so the numbers are the same live and at the end.
//! - A name or kind scope that matches several rows holds only when it holds for every row; the
//!   verdict shows the worst row.
//! - A scope without samples is judged on zero values, as k6 judges an empty metric: latencies,
//!   error rate and rate are 0 (`p95 < 300ms` holds, `rps > 10` fails) and `checks` is 0 % (it
//!   fails, as k6's empty `checks` rate does). The verdict says "no samples" so a misspelt name
//!   is visible. While the run goes, a threshold without samples never stops it.
//! - `checks` is the share of requests that no `check.*` failed (a failed check makes its
//!   request a failure whose message starts with `check.`); transport errors and the implicit
//!   "HTTP status ≥ 400" rule count in `error_rate`, not here.
//! - `loss` is a WebSocket row's lost / sent messages (`'/ws'.loss < 0.1%`); rows without
//!   messages read 0.
//! - `delivery` is a fan-out topic's deliveries received / expected (`'alerts'.delivery > 99%`;
//!   the row is the topic's own, whose "samples" are its expected deliveries); rows that
//!   expected none read 1.
//! - `drop` is an SSE stream row's drops / connections opened (`'/sse'.drop < 1%`; the row is
//!   the sse step's own name, whose "samples" are its connections); other rows read 0.

use serde::{Deserialize, Serialize};

use super::snapshot::{Percentiles, Snapshot, StatsRow};
use super::windows::WindowOutcome;
use crate::format::{fmt_duration, trimmed};
use crate::plan::model::{CompareOp, Threshold, ThresholdMetric, ThresholdScope};

/// What a check failure's message starts with (`protocols::check`).
const CHECK_FAILURE_PREFIX: &str = "check.";

/// The unit of a verdict's `observed` and `threshold` numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Milliseconds (percentiles, avg, min, max).
    Ms,
    /// A fraction, 0.01 = 1 % (error_rate, checks).
    Ratio,
    /// Requests per second (rps), or a monitor series' rate.
    PerSecond,
    /// A monitor series in bytes (`monitor.gateway.rss.max`).
    Bytes,
    /// A monitor series in percent, 80 = 80 % (`monitor.gateway.cpu.avg`).
    Percent,
    /// A monitor series that counts (`monitor.gateway.fds.max`).
    Count,
}

/// One threshold's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// As written, e.g. `p95 < 300ms`.
    pub expression: String,
    pub passed: bool,
    /// In `unit`; 0 when there were no samples.
    pub observed: f64,
    /// For people: `212.5 ms`, `0.52%`, `105.3/s`, `no samples`.
    pub observed_text: String,
    /// The threshold's value in `unit`.
    pub threshold: f64,
    pub unit: Unit,
    /// Requests in scope (all rows of a name or kind).
    pub samples: u64,
    /// The row the observed value comes from (`GET /slow`) when the scope is a kind or a name
    /// with several methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<String>,
    #[serde(default)]
    pub abort_on_fail: bool,
    /// Set when this threshold failed while running and stopped the run (`abort_on_fail`): the
    /// run's elapsed seconds then. The verdict is the one from that moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_run_at_s: Option<f64>,
    /// A windowed threshold's windows (`p95[30s] < 500ms`): `observed` is the worst window's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowOutcome>,
}

impl Verdict {
    /// One line for the terminal and the JUnit message:
    /// `✓ p95 < 300ms (observed 212 ms)`, `✗ GET.p99 < 1s (observed 1200 ms on GET /slow)`.
    pub fn line(&self) -> String {
        let mark = if self.passed { '✓' } else { '✗' };
        let mut s = format!("{mark} {} ({}", self.expression, self.observed_phrase());
        s.push(')');
        if let Some(at) = self.stopped_run_at_s {
            s.push_str(&format!(" — stopped the run after {}", fmt_duration(at)));
        }
        s
    }

    /// `observed 212 ms`, `observed 1200 ms on GET /slow`, `no samples`; for a windowed
    /// threshold `worst 812 ms in 01:10–01:40; first failed at 01:05–01:35 (6 of 40 windows
    /// failed)`.
    pub fn observed_phrase(&self) -> String {
        if let Some(w) = &self.window {
            let on = self
                .row
                .as_ref()
                .map(|r| format!(" on {r}"))
                .unwrap_or_default();
            return match w.worst {
                Some(_) => format!("worst {}{on} {}", self.observed_text, w.phrase()),
                None => w.phrase(),
            };
        }
        if self.samples == 0 {
            return "no samples".to_string();
        }
        match &self.row {
            Some(row) => format!("observed {} on {row}", self.observed_text),
            None => format!("observed {}", self.observed_text),
        }
    }
}

/// Whether every verdict held.
pub fn all_passed(verdicts: &[Verdict]) -> bool {
    verdicts.iter().all(|v| v.passed)
}

/// The first `abort_on_fail` threshold that fails at `s`, among those past their `delay` and
/// with samples (k6 does not abort on an empty metric): the run should stop. None while the run
/// is stopping or over.
pub fn first_abort(thresholds: &[Threshold], s: &Snapshot) -> Option<usize> {
    if s.state.is_final() || s.state == super::snapshot::RunState::Stopping {
        return None;
    }
    thresholds.iter().position(|t| {
        // windowed thresholds are judged on their windows (`super::windows`)
        t.window.is_none()
            && t.abort_on_fail
            && t.delay.is_none_or(|d| s.elapsed_s >= d.as_secs_f64())
            && {
                let v = evaluate(t, s);
                v.samples > 0 && !v.passed
            }
    })
}

/// What a row counts as samples: its requests, the connections of an SSE stream's own row
/// or the expected deliveries of a fan-out topic's row
/// (rows that record no request of their own).
fn weight(row: &StatsRow) -> u64 {
    row.num_requests
        .max(row.sse.map_or(0, |s| s.opened))
        .max(row.fanout.map_or(0, |f| f.expected))
}

/// One threshold against one snapshot.
pub fn evaluate(t: &Threshold, s: &Snapshot) -> Verdict {
    if t.metric == ThresholdMetric::Recovery {
        // judged on the run's stages (`stats::stages::with_recovery`); a snapshot has no step
        return super::stages::recovery_verdict(t, None);
    }
    let rows: Vec<&StatsRow> = match &t.scope {
        ThresholdScope::Aggregate => vec![&s.total],
        ThresholdScope::Name(name) => s
            .rows
            .iter()
            .filter(|r| &r.name == name && weight(r) > 0)
            .collect(),
        // Judged on the monitor's series at the end of the run (`stats::monitor::judge`).
        ThresholdScope::Monitor(_) => Vec::new(),
        ThresholdScope::Kind(kind) => s
            .rows
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(kind) && weight(r) > 0)
            .collect(),
    };
    let unit = unit_of(t.metric);
    let threshold = match unit {
        // microseconds in the model; both sides are then integers / 1000, compared exactly
        Unit::Ms => t.value / 1000.0,
        Unit::Ratio | Unit::PerSecond | Unit::Bytes | Unit::Percent | Unit::Count => t.value,
    };
    let samples: u64 = rows.iter().map(|r| weight(r)).sum();
    // the worst row decides: the largest value against `<`, the smallest against `>`
    let lower_is_better = matches!(t.op, CompareOp::Lt | CompareOp::Le);
    let mut worst: Option<(f64, &StatsRow)> = None;
    for row in rows.iter().copied().filter(|r| weight(r) > 0) {
        let v = value(t.metric, row, s);
        let worse = match worst {
            None => true,
            Some((w, _)) => {
                if lower_is_better {
                    v > w
                } else {
                    v < w
                }
            }
        };
        if worse {
            worst = Some((v, row));
        }
    }
    let observed = worst.map_or(0.0, |(v, _)| v);
    let row = match (&t.scope, worst) {
        (ThresholdScope::Kind(_), Some((_, r))) => Some(row_label(r)),
        (ThresholdScope::Name(_), Some((_, r))) if rows.len() > 1 => Some(row_label(r)),
        _ => None,
    };
    Verdict {
        expression: t.source.clone(),
        passed: compare(observed, t.op, threshold),
        observed,
        observed_text: if samples == 0 {
            "no samples".to_string()
        } else {
            format_value(observed, unit)
        },
        threshold,
        unit,
        samples,
        row,
        abort_on_fail: t.abort_on_fail,
        stopped_run_at_s: None,
        window: None,
    }
}

pub(super) fn unit_of(metric: ThresholdMetric) -> Unit {
    match metric {
        ThresholdMetric::Percentile(_)
        | ThresholdMetric::Avg
        | ThresholdMetric::Min
        | ThresholdMetric::Max
        | ThresholdMetric::Recovery => Unit::Ms,
        ThresholdMetric::ErrorRate
        | ThresholdMetric::Checks
        | ThresholdMetric::Loss
        | ThresholdMetric::Drop
        | ThresholdMetric::Delivery => Unit::Ratio,
        ThresholdMetric::Rps => Unit::PerSecond,
        // the series' own unit is known once it is read: `stats::monitor::judge` sets it
        ThresholdMetric::Monitor(_) => Unit::Count,
    }
}

fn value(metric: ThresholdMetric, row: &StatsRow, s: &Snapshot) -> f64 {
    match metric {
        ThresholdMetric::Percentile(q) => percentile(&row.percentiles, q),
        ThresholdMetric::Avg => row.avg_ms,
        ThresholdMetric::Min => row.min_ms,
        ThresholdMetric::Max => row.max_ms,
        ThresholdMetric::ErrorRate => row.fail_ratio(),
        ThresholdMetric::Rps => row.total_rps,
        ThresholdMetric::Loss => row.ws.map_or(0.0, |ws| ws.loss()),
        ThresholdMetric::Drop => row.sse.map_or(0.0, |sse| sse.drop),
        ThresholdMetric::Delivery => row.fanout.map_or(1.0, |f| f.delivery),
        // never a row's: a monitor scope selects no row
        ThresholdMetric::Monitor(_) => 0.0,
        ThresholdMetric::Recovery => 0.0,
        ThresholdMetric::Checks => {
            let is_total = std::ptr::eq(row, &s.total);
            let failed: u64 = s
                .failures
                .iter()
                .filter(|f| {
                    f.error.starts_with(CHECK_FAILURE_PREFIX)
                        && (is_total || (f.method == row.method && f.name == row.name))
                })
                .map(|f| f.occurrences)
                .sum();
            if row.num_requests == 0 {
                0.0
            } else {
                1.0 - failed.min(row.num_requests) as f64 / row.num_requests as f64
            }
        }
    }
}

/// The row's value at quantile `q`; a quantile the rows do not report (the parser refuses them)
/// reads the next reported one above it, which never makes a latency look better than it was.
fn percentile(p: &Percentiles, q: f64) -> f64 {
    let values = p.to_array();
    Percentiles::QUANTILES
        .iter()
        .position(|&reported| reported >= q)
        .map_or(p.p100, |i| values[i])
}

pub(super) fn compare(observed: f64, op: CompareOp, threshold: f64) -> bool {
    match op {
        CompareOp::Lt => observed < threshold,
        CompareOp::Le => observed <= threshold,
        CompareOp::Gt => observed > threshold,
        CompareOp::Ge => observed >= threshold,
    }
}

fn row_label(r: &StatsRow) -> String {
    if r.method.is_empty() {
        r.name.clone()
    } else {
        format!("{} {}", r.method, r.name)
    }
}

/// `212.35 ms`, `0.52%`, `105.3/s`: two decimals rather than the tables' three significant
/// digits, because the text is stored with the verdict and read against its limit (a failed
/// `p95 < 55.3ms` must not say `observed 55.3 ms`).
pub fn format_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Ms => format!("{} ms", trimmed(v, 2)),
        Unit::Ratio => format!("{}%", trimmed(v * 100.0, 2)),
        Unit::PerSecond => format!("{}/s", trimmed(v, 2)),
        Unit::Bytes => crate::format::fmt_size(v),
        Unit::Percent => format!("{}%", trimmed(v, 2)),
        Unit::Count => trimmed(v, 2),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::plan::parse_threshold;
    use crate::stats::snapshot::{FailureRow, RunState, WsDelivery};

    fn th(expr: &str) -> Threshold {
        parse_threshold(expr).unwrap()
    }

    fn row(method: &str, name: &str, n: u64, fails: u64, p95: f64) -> StatsRow {
        StatsRow {
            method: method.into(),
            name: name.into(),
            num_requests: n,
            num_failures: fails,
            avg_ms: p95 / 2.0,
            min_ms: 1.0,
            max_ms: p95 * 2.0,
            median_ms: p95 / 3.0,
            percentiles: Percentiles {
                p50: p95 / 3.0,
                p90: p95 - 10.0,
                p95,
                p99: p95 + 10.0,
                p999: p95 + 20.0,
                p9999: p95 + 30.0,
                p100: p95 * 2.0,
                ..Percentiles::default()
            },
            total_rps: n as f64 / 10.0,
            ..StatsRow::default()
        }
    }

    /// 1000 requests in 10 s: GET /fast (800, p95 100 ms, 4 failures), GET /slow (150, p95 400
    /// ms, 6 failures of which 3 are checks), POST /slow (50, p95 250 ms).
    fn snapshot() -> Snapshot {
        let rows = vec![
            row("GET", "/fast", 800, 4, 100.0),
            row("GET", "/slow", 150, 6, 400.0),
            row("POST", "/slow", 50, 0, 250.0),
        ];
        let mut total = row("", "Aggregated", 1000, 10, 300.0);
        total.avg_ms = 80.25;
        Snapshot {
            state: RunState::Running,
            elapsed_s: 10.0,
            users: 5,
            rows,
            total,
            failures: vec![
                FailureRow {
                    method: "GET".into(),
                    name: "/slow".into(),
                    error: "check.status: expected 200, found 500".into(),
                    occurrences: 3,
                },
                FailureRow {
                    method: "GET".into(),
                    name: "/slow".into(),
                    error: "HTTP 503".into(),
                    occurrences: 3,
                },
                FailureRow {
                    method: "GET".into(),
                    name: "/fast".into(),
                    error: "connection refused".into(),
                    occurrences: 4,
                },
            ],
            ..Snapshot::default()
        }
    }

    fn check(expr: &str) -> Verdict {
        evaluate(&th(expr), &snapshot())
    }

    #[test]
    fn aggregate_percentiles_and_times_in_ms() {
        let v = check("p95 < 300ms");
        assert_eq!((v.observed, v.threshold, v.passed), (300.0, 300.0, false));
        assert_eq!(v.unit, Unit::Ms);
        assert_eq!(v.samples, 1000);
        assert_eq!(v.line(), "✗ p95 < 300ms (observed 300 ms)");
        let v = check("p95 <= 300ms");
        assert!(v.passed);
        assert_eq!(v.line(), "✓ p95 <= 300ms (observed 300 ms)");
        let v = check("p50 < 0.1s");
        assert_eq!((v.observed, v.passed), (100.0, false));
        assert_eq!(check("p90 < 291ms").observed, 290.0);
        assert_eq!(check("p99 < 1s").observed, 310.0);
        assert_eq!(check("p99.9 < 1s").observed, 320.0);
        assert_eq!(check("p99.99 < 1s").observed, 330.0);
        assert_eq!(check("p100 < 1s").observed, 600.0);
        assert_eq!(check("max < 1s").observed, 600.0);
        assert_eq!(check("min > 999us").observed, 1.0);
        assert!(check("min > 999us").passed);
        let v = check("avg < 80.25ms");
        assert_eq!((v.observed, v.passed), (80.25, false));
        assert_eq!(v.observed_text, "80.25 ms");
        assert!(check("avg < 80.251ms").passed);
    }

    #[test]
    fn rates_are_fractions() {
        let v = check("error_rate < 1%");
        assert_eq!((v.observed, v.threshold, v.passed), (0.01, 0.01, false));
        assert_eq!(v.unit, Unit::Ratio);
        assert_eq!(v.observed_text, "1%");
        assert!(check("error_rate <= 1%").passed);
        let v = check("rps > 100");
        assert_eq!((v.observed, v.passed), (100.0, false));
        assert_eq!(v.observed_text, "100/s");
        assert!(check("rps >= 100/s").passed);
        // 3 check failures in 1000 requests; the HTTP 503 and the refused connections are not
        // checks
        let v = check("checks > 99.8%");
        assert_eq!((v.observed, v.passed), (1.0 - 3.0 / 1000.0, false));
        assert_eq!(v.observed_text, "99.7%");
        assert!(check("checks >= 99.6%").passed);
    }

    #[test]
    fn a_name_is_every_row_of_that_name_and_the_worst_decides() {
        let v = check("'/fast'.p95 < 101ms");
        assert_eq!((v.observed, v.samples, v.passed), (100.0, 800, true));
        assert_eq!(v.row, None);
        // GET /slow (400) and POST /slow (250): the GET row fails
        let v = check("'/slow'.p95 < 300ms");
        assert_eq!((v.observed, v.samples, v.passed), (400.0, 200, false));
        assert_eq!(v.row.as_deref(), Some("GET /slow"));
        assert_eq!(
            v.line(),
            "✗ '/slow'.p95 < 300ms (observed 400 ms on GET /slow)"
        );
        // against `>` the smallest is the worst
        let v = check("'/slow'.rps > 10");
        assert_eq!((v.observed, v.passed), (5.0, false));
        assert_eq!(v.row.as_deref(), Some("POST /slow"));
        // per-row check failures: 3 of GET /slow's 150
        let v = check("'/slow'.checks > 98.5%");
        assert_eq!((v.observed, v.passed), (1.0 - 3.0 / 150.0, false));
        assert_eq!(v.row.as_deref(), Some("GET /slow"));
        assert_eq!(v.observed_text, "98%");
        assert!(check("'/slow'.checks >= 97%").passed);
    }

    #[test]
    fn a_kind_is_every_row_of_that_kind() {
        let v = check("GET.p95 < 350ms");
        assert_eq!((v.observed, v.samples, v.passed), (400.0, 950, false));
        assert_eq!(v.row.as_deref(), Some("GET /slow"));
        let v = check("POST.p95 < 350ms");
        assert_eq!((v.observed, v.samples, v.passed), (250.0, 50, true));
        assert_eq!(v.row.as_deref(), Some("POST /slow"));
        let v = check("GET.error_rate < 4.5%");
        assert_eq!(v.observed, 6.0 / 150.0);
        assert!(v.passed);
    }

    #[test]
    fn no_samples_is_judged_on_zero_values_like_k6() {
        let v = check("'/tool/[id]'.p99 < 500ms");
        assert_eq!((v.observed, v.samples, v.passed), (0.0, 0, true));
        assert_eq!(v.observed_text, "no samples");
        assert_eq!(v.line(), "✓ '/tool/[id]'.p99 < 500ms (no samples)");
        assert!(!check("SSE.rps > 1").passed);
        assert!(check("WS.error_rate < 1%").passed);
        assert!(!check("'/none'.checks > 99%").passed);
        let mut empty = snapshot();
        empty.rows.clear();
        empty.failures.clear();
        empty.total = StatsRow::default();
        let v = evaluate(&th("p95 < 1ms"), &empty);
        assert_eq!((v.samples, v.passed), (0, true));
    }

    #[test]
    fn abort_needs_the_flag_the_delay_and_samples() {
        let s = snapshot();
        let mut slow = th("p95 < 100ms");
        assert_eq!(first_abort(std::slice::from_ref(&slow), &s), None);
        slow.abort_on_fail = true;
        let fine = Threshold {
            abort_on_fail: true,
            ..th("p95 < 1s")
        };
        let empty = Threshold {
            abort_on_fail: true,
            ..th("'/nothing'.rps > 5")
        };
        let list = vec![fine.clone(), empty, slow.clone()];
        assert_eq!(first_abort(&list, &s), Some(2));
        // 10 s elapsed: a 10 s delay is over, an 11 s one is not
        slow.delay = Some(Duration::from_secs(10));
        assert_eq!(first_abort(&[fine.clone(), slow.clone()], &s), Some(1));
        slow.delay = Some(Duration::from_secs(11));
        assert_eq!(first_abort(&[fine, slow.clone()], &s), None);
        slow.delay = None;
        let mut stopping = snapshot();
        stopping.state = RunState::Stopping;
        assert_eq!(first_abort(std::slice::from_ref(&slow), &stopping), None);
    }

    #[test]
    fn verdicts_round_trip_as_json() {
        let mut v = check("'/slow'.p95 < 300ms");
        v.stopped_run_at_s = Some(3.0);
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(j["expression"], "'/slow'.p95 < 300ms");
        assert_eq!(j["observed"], 400.0);
        assert_eq!(j["observed_text"], "400 ms");
        assert_eq!(j["threshold"], 300.0);
        assert_eq!(j["unit"], "ms");
        assert_eq!(j["passed"], false);
        assert_eq!(j["row"], "GET /slow");
        assert_eq!(j["stopped_run_at_s"], 3.0);
        let back: Verdict = serde_json::from_value(j).unwrap();
        assert_eq!(back, v);
        assert_eq!(
            back.line(),
            "✗ '/slow'.p95 < 300ms (observed 400 ms on GET /slow) — stopped the run after 3s"
        );
        assert!(!all_passed(&[check("p95 < 1s"), back]));
        assert!(all_passed(&[]));
    }

    #[test]
    fn loss_is_lost_over_sent_of_a_websocket_row() {
        let mut s = snapshot();
        let mut ws = row("WS", "/ws", 1000, 12, 20.0);
        ws.ws = Some(WsDelivery {
            sent: 1000,
            received: 988,
            lost: 12,
            cut: 0,
        });
        s.rows.push(ws);
        let v = check_on("'/ws'.loss < 1%", &s);
        assert!(!v.passed, "{v:?}");
        assert_eq!((v.observed, v.unit), (0.012, Unit::Ratio));
        assert_eq!(v.line(), "✗ '/ws'.loss < 1% (observed 1.2%)");
        assert!(check_on("'/ws'.loss < 2%", &s).passed);
        // a row without messages loses nothing
        let v = check_on("'/fast'.loss < 0.1%", &s);
        assert!(v.passed && v.observed == 0.0);
    }

    #[test]
    fn drop_is_drops_over_connections_of_an_sse_stream_row() {
        let mut s = snapshot();
        // the stream's own row records no request: its connections are its samples
        let mut sse = row("SSE", "/sse", 0, 0, 0.0);
        sse.sse = Some(crate::stats::snapshot::SseStreams::new(
            crate::stats::snapshot::SseDelivery {
                opened: 200,
                drops: 3,
                reconnects: 3,
                events: 5000,
            },
            10.0,
        ));
        s.rows.push(sse);
        let v = check_on("'/sse'.drop < 1%", &s);
        assert!(!v.passed, "{v:?}");
        assert_eq!((v.observed, v.unit, v.samples), (0.015, Unit::Ratio, 200));
        assert_eq!(v.line(), "✗ '/sse'.drop < 1% (observed 1.5%)");
        assert!(check_on("'/sse'.drop < 2%", &s).passed);
        assert!(check_on("SSE.drop <= 1.5%", &s).passed);
        let v = check_on("'/fast'.drop < 0.1%", &s);
        assert!(v.passed && v.observed == 0.0);
    }

    #[test]
    fn delivery_is_received_over_expected_of_a_topic_row() {
        let mut s = snapshot();
        let mut topic = row("FANOUT", "alerts", 0, 0, 0.0);
        topic.fanout = Some(crate::stats::snapshot::FanoutFigures::new(
            crate::stats::snapshot::FanoutCounts {
                published: 20,
                expected: 400,
                messages: 382,
                received: 380,
                unmatched: 2,
            },
        ));
        s.rows.push(topic);
        let v = check_on("'alerts'.delivery > 99%", &s);
        assert!(!v.passed, "{v:?}");
        assert_eq!((v.observed, v.unit, v.samples), (0.95, Unit::Ratio, 400));
        assert!(check_on("'alerts'.delivery >= 95%", &s).passed);
        assert!(check_on("FANOUT.delivery > 90%", &s).passed);
        // a row that expected nothing missed nothing
        let v = check_on("'/fast'.delivery > 99%", &s);
        assert!(v.passed && v.observed == 1.0, "{v:?}");
    }

    fn check_on(expr: &str, s: &Snapshot) -> Verdict {
        evaluate(&th(expr), s)
    }
}
