//! Windowed thresholds (`error_rate[1m] < 5%`, `p95[30s] < 500ms`, `'/tools/[id]'.p99[10s] <
//! 1s`, `rps[10s] > 100`): judged on every window of the run's per-second histograms
//! ([`super::seconds`]), sliding by one second, so that one bad minute cannot hide in a good run
//! total (k6 #2379). Pure: the run's recording pushes each closed second into a
//! [`WindowJudge`], which judges every window that became full and keeps, per threshold, the
//! worst window and the first failed one; nothing is re-read later.
//!
//! Rules:
//! - A window of W seconds is judged once its W seconds are closed: `[0, W)`, `[1, W + 1)`, ...
//!   The run's last, partial second counts as a second (its rate over its real length).
//! - A run shorter than the window is judged as one window over the whole run, as k6 judges
//!   a metric (the verdict says so).
//! - Each window is judged like a run-wide threshold: the worst row of a name or kind scope
//!   decides, an empty window reads zero values, percentiles are exact (merged HDR buckets).
//! - The threshold holds when every window held; the verdict shows the worst window's value
//!   and span and the first failed window.
//! - `abort_on_fail` stops the run at the first failed window with samples that ends at or
//!   after the `delay`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::aggregator::AGGREGATED;
use super::histogram::{HistogramError, LatencyHistogram};
use super::seconds::{count, row_labels, RowSelector, Second, SecondRow, WindowCounts};
use super::snapshot::{us_to_ms, Snapshot};
use super::thresholds::{compare, evaluate, format_value, unit_of, Unit, Verdict};
use crate::format::{fmt_clock, fmt_duration};
use crate::plan::model::{CompareOp, Threshold, ThresholdMetric, ThresholdScope};

/// Seconds `[from_s, to_s)` of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub from_s: u64,
    pub to_s: u64,
}

impl Span {
    /// `01:10–01:40`, on the run's clock.
    pub fn text(&self) -> String {
        format!(
            "{}–{}",
            fmt_clock(self.from_s as f64),
            fmt_clock(self.to_s as f64)
        )
    }
}

/// How a windowed threshold's windows went; part of its [`Verdict`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowOutcome {
    /// The window's length in seconds.
    pub window_s: u64,
    /// Windows judged so far.
    pub windows: u64,
    /// Of those, the ones that failed.
    pub failed: u64,
    /// The window whose value is the verdict's `observed`; None before the first window.
    pub worst: Option<Span>,
    pub first_failed: Option<Span>,
    /// The run was shorter than the window: it was judged as one window over the whole run.
    #[serde(default)]
    pub whole_run: bool,
}

impl WindowOutcome {
    /// After the observed value: `in 01:10–01:40; first failed at 01:05–01:35 (6 of 40 windows
    /// failed)`, `in 00:00–00:12 (the whole run: shorter than the 30s window)`.
    pub fn phrase(&self) -> String {
        let Some(worst) = self.worst else {
            return format!("no full {} window yet", fmt_duration(self.window_s as f64));
        };
        let mut s = format!("in {}", worst.text());
        if self.whole_run {
            s.push_str(&format!(
                " (the whole run: shorter than the {} window)",
                fmt_duration(self.window_s as f64)
            ));
        }
        if let Some(first) = self.first_failed.filter(|f| *f != worst) {
            s.push_str(&format!("; first failed at {}", first.text()));
        }
        if self.failed > 0 && !self.whole_run {
            s.push_str(&format!(
                " ({} of {} windows failed)",
                self.failed, self.windows
            ));
        }
        s
    }
}

/// One window's verdict on one threshold.
#[derive(Clone, Debug)]
struct Judged {
    value: f64,
    span: Span,
    /// The row the value comes from, for a scope of several rows.
    row: Option<String>,
    samples: u64,
    passed: bool,
}

#[derive(Debug)]
struct State {
    window: usize,
    windows: u64,
    failed: u64,
    worst: Option<Judged>,
    first_failed: Option<Span>,
    whole_run: bool,
    /// Why a window could not be judged (an unreadable histogram), said in the verdict.
    problem: Option<String>,
    /// For a percentile: the current window's histogram per row, kept by adding the second
    /// that enters and subtracting the one that leaves (two decodes a second per row, whatever
    /// the window's length; the buckets equal those of merging the window's seconds).
    running: Option<HashMap<(String, String), LatencyHistogram>>,
}

/// Judges the windowed thresholds of one run as its seconds close.
#[derive(Debug)]
pub struct WindowJudge {
    thresholds: Arc<[Threshold]>,
    /// By threshold index; None for thresholds without a window.
    states: Vec<Option<State>>,
    /// The last seconds: as many as the longest window, and the one before it.
    recent: VecDeque<Arc<Second>>,
    longest: usize,
    /// A windowed `abort_on_fail` threshold that failed, not yet taken.
    abort: Option<usize>,
    ended: bool,
}

impl WindowJudge {
    pub fn new(thresholds: Arc<[Threshold]>) -> WindowJudge {
        let states: Vec<Option<State>> = thresholds
            .iter()
            .map(|t| {
                t.window.map(|w| State {
                    window: w.as_secs().max(1) as usize,
                    windows: 0,
                    failed: 0,
                    worst: None,
                    first_failed: None,
                    whole_run: false,
                    problem: None,
                    running: matches!(t.metric, ThresholdMetric::Percentile(q) if q < 1.0)
                        .then(HashMap::new),
                })
            })
            .collect();
        let longest = states.iter().flatten().map(|s| s.window).max().unwrap_or(0);
        WindowJudge {
            thresholds,
            states,
            recent: VecDeque::with_capacity(longest.min(3600)),
            longest,
            abort: None,
            ended: false,
        }
    }

    /// Whether any threshold has a window (else pushing seconds does nothing).
    pub fn is_active(&self) -> bool {
        self.longest > 0
    }

    /// Takes a closed second (in order) and judges every window it completes.
    pub fn push(&mut self, second: Arc<Second>) {
        if !self.is_active() || self.ended {
            return;
        }
        if self.recent.len() > self.longest {
            self.recent.pop_front();
        }
        self.recent.push_back(second);
        let seconds: Vec<&Second> = self.recent.iter().map(Arc::as_ref).collect();
        for (i, t) in self.thresholds.iter().enumerate() {
            let Some(state) = self.states[i].as_mut() else {
                continue;
            };
            let n = seconds.len();
            let leaving = n.checked_sub(state.window + 1).map(|at| seconds[at]);
            if let Err(e) = slide(t, state, seconds[n - 1], leaving) {
                state
                    .problem
                    .get_or_insert_with(|| format!("not judged: {e}"));
            }
            if n < state.window {
                continue;
            }
            let window = &seconds[n - state.window..];
            let judged = judge(t, window, state.running.as_ref());
            let failed_with_samples = !judged.passed && judged.samples > 0;
            record(t, state, judged, false);
            let past_delay = t
                .delay
                .is_none_or(|d| window_end(window) as f64 >= d.as_secs_f64());
            if t.abort_on_fail && failed_with_samples && past_delay && self.abort.is_none() {
                self.abort = Some(i);
            }
        }
    }

    /// The run has ended (every second pushed): a threshold whose window is longer than the run
    /// is judged on the whole run as one window.
    pub fn finish(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        let seconds: Vec<&Second> = self.recent.iter().map(Arc::as_ref).collect();
        if seconds.is_empty() {
            return;
        }
        for (i, t) in self.thresholds.iter().enumerate() {
            // no window was full: nothing left the running histograms, which hold the run
            if let Some(state) = self.states[i].as_mut().filter(|s| s.windows == 0) {
                let judged = judge(t, &seconds, state.running.as_ref());
                record(t, state, judged, true);
            }
        }
    }

    /// The windowed `abort_on_fail` threshold that failed (its index), once.
    pub fn take_abort(&mut self) -> Option<usize> {
        self.abort.take()
    }

    /// Threshold `i`'s verdict so far; None when it has no window.
    pub fn verdict(&self, i: usize) -> Option<Verdict> {
        let t = self.thresholds.get(i)?;
        let state = self.states.get(i)?.as_ref()?;
        let unit = unit_of(t.metric);
        let threshold = match unit {
            Unit::Ms => t.value / 1000.0,
            Unit::Ratio | Unit::PerSecond | Unit::Bytes | Unit::Percent | Unit::Count => t.value,
        };
        let worst = state.worst.as_ref();
        let observed = worst.map_or(0.0, |w| w.value);
        let samples = worst.map_or(0, |w| w.samples);
        let observed_text = match (&state.problem, worst) {
            (Some(problem), _) => problem.clone(),
            (None, Some(w)) if w.samples > 0 => format_value(observed, unit),
            (None, _) => "no samples".to_string(),
        };
        Some(Verdict {
            expression: t.source.clone(),
            passed: state.failed == 0 && state.problem.is_none(),
            observed,
            observed_text,
            threshold,
            unit,
            samples,
            row: worst.and_then(|w| w.row.clone()),
            abort_on_fail: t.abort_on_fail,
            stopped_run_at_s: None,
            window: Some(WindowOutcome {
                window_s: state.window as u64,
                windows: state.windows,
                failed: state.failed,
                worst: worst.map(|w| w.span),
                first_failed: state.first_failed,
                whole_run: state.whole_run,
            }),
        })
    }
}

/// Every threshold's verdict, in order: the run-wide ones on `s`, the windowed ones from
/// `judge`.
pub fn evaluate_all(thresholds: &[Threshold], s: &Snapshot, judge: &WindowJudge) -> Vec<Verdict> {
    thresholds
        .iter()
        .enumerate()
        .map(|(i, t)| judge.verdict(i).unwrap_or_else(|| evaluate(t, s)))
        .collect()
}

/// Counts a judged window into the threshold's state.
fn record(t: &Threshold, state: &mut State, judged: Judged, whole_run: bool) {
    state.windows += 1;
    state.whole_run = whole_run;
    if !judged.passed {
        state.failed += 1;
        state.first_failed.get_or_insert(judged.span);
    }
    let worse = state
        .worst
        .as_ref()
        .is_none_or(|w| is_worse(t.op, judged.value, w.value));
    if worse {
        state.worst = Some(judged);
    }
}

/// Whether `a` is worse than `b` against the comparison: larger against `<`, smaller against `>`.
fn is_worse(op: CompareOp, a: f64, b: f64) -> bool {
    match op {
        CompareOp::Lt | CompareOp::Le => a > b,
        CompareOp::Gt | CompareOp::Ge => a < b,
    }
}

fn window_end(window: &[&Second]) -> u64 {
    window.last().map_or(0, |s| s.start_s + 1)
}

/// The rows of `second` that `t`'s scope takes, with their (method, name).
fn chosen<'s>(t: &Threshold, second: &'s Second) -> Vec<&'s SecondRow> {
    match &t.scope {
        ThresholdScope::Aggregate => vec![&second.total],
        ThresholdScope::Name(n) => second.rows.iter().filter(|r| r.name == *n).collect(),
        ThresholdScope::Kind(k) => second
            .rows
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(k))
            .collect(),
        // monitor thresholds take no window (the parser refuses one)
        ThresholdScope::Monitor(_) => Vec::new(),
    }
}

/// Moves a percentile threshold's running histograms one second on: `entering` is added,
/// `leaving` (the second before the window, once there is one) taken out.
fn slide(
    t: &Threshold,
    state: &mut State,
    entering: &Second,
    leaving: Option<&Second>,
) -> Result<(), HistogramError> {
    let Some(running) = state.running.as_mut() else {
        return Ok(());
    };
    for r in chosen(t, entering).into_iter().filter(|r| r.requests() > 0) {
        let key = (r.method.clone(), r.name.clone());
        running
            .entry(key)
            .or_default()
            .add(&r.latencies.histogram()?);
    }
    for r in leaving
        .map(|s| chosen(t, s))
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.requests() > 0)
    {
        let key = (r.method.clone(), r.name.clone());
        if let Some(h) = running.get_mut(&key) {
            h.subtract(&r.latencies.histogram()?)?;
            if h.is_empty() {
                running.remove(&key);
            }
        }
    }
    Ok(())
}

/// One window's value for `t`: the worst of its rows. A percentile reads `running` (the
/// window's buckets per row) clamped to the window's exact max, as a merged histogram would.
fn judge(
    t: &Threshold,
    window: &[&Second],
    running: Option<&HashMap<(String, String), LatencyHistogram>>,
) -> Judged {
    let span = Span {
        from_s: window.first().map_or(0, |s| s.start_s),
        to_s: window_end(window),
    };
    let range = span.from_s..span.to_s;
    let seconds = window.iter().copied();
    let labels = match &t.scope {
        ThresholdScope::Aggregate | ThresholdScope::Monitor(_) => Vec::new(),
        ThresholdScope::Name(_) | ThresholdScope::Kind(_) => row_labels(seconds.clone())
            .into_iter()
            .filter(|(method, name)| match &t.scope {
                ThresholdScope::Name(n) => n == name,
                ThresholdScope::Kind(k) => method.eq_ignore_ascii_case(k),
                ThresholdScope::Aggregate | ThresholdScope::Monitor(_) => false,
            })
            .collect(),
    };
    let selectors: Vec<(RowSelector<'_>, Option<String>)> = match &t.scope {
        ThresholdScope::Aggregate => vec![(RowSelector::Total, None)],
        _ => labels
            .iter()
            .map(|(method, name)| {
                let selector = RowSelector::Row { method, name };
                (selector, Some(format!("{method} {name}")))
            })
            .collect(),
    };
    let several = selectors.len() > 1 || matches!(t.scope, ThresholdScope::Kind(_));
    let mut samples = 0;
    let mut worst: Option<(f64, Option<String>)> = None;
    for (selector, label) in selectors {
        let counts = count(seconds.clone(), range.clone(), selector);
        samples += counts.requests;
        let v = match t.metric {
            // only a percentile needs the buckets
            ThresholdMetric::Percentile(q) if q < 1.0 => {
                let key = match selector {
                    RowSelector::Row { method, name } => (method.to_string(), name.to_string()),
                    _ => (String::new(), AGGREGATED.to_string()),
                };
                let us = running
                    .and_then(|r| r.get(&key))
                    .map_or(0, |h| h.percentiles(&[q])[0].min(counts.max_us));
                us_to_ms(us)
            }
            metric => value(metric, &counts),
        };
        if worst.as_ref().is_none_or(|(w, _)| is_worse(t.op, v, *w)) {
            worst = Some((v, label.filter(|_| several)));
        }
    }
    let (value, row) = worst.unwrap_or((0.0, None));
    let threshold = match unit_of(t.metric) {
        Unit::Ms => t.value / 1000.0,
        Unit::Ratio | Unit::PerSecond | Unit::Bytes | Unit::Percent | Unit::Count => t.value,
    };
    Judged {
        value,
        span,
        row,
        samples,
        passed: compare(value, t.op, threshold),
    }
}

/// A window's value of `metric` from its counts (a percentile below p100 needs the merged
/// buckets: see [`judge`]), in the verdict's unit.
fn value(metric: ThresholdMetric, w: &WindowCounts) -> f64 {
    match metric {
        ThresholdMetric::Percentile(_) | ThresholdMetric::Max => us_to_ms(w.max_us),
        ThresholdMetric::Avg => w.mean_us() / 1000.0,
        ThresholdMetric::Min => us_to_ms(w.min_us),
        ThresholdMetric::ErrorRate => w.error_rate(),
        ThresholdMetric::Rps => w.rps(),
        // the parser refuses a window on these (the seconds hold no checks or deliveries)
        ThresholdMetric::Checks
        | ThresholdMetric::Loss
        | ThresholdMetric::Drop
        | ThresholdMetric::Delivery
        | ThresholdMetric::Monitor(_)
        | ThresholdMetric::Recovery => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::plan::parse_threshold;
    use crate::stats::aggregator::{Aggregator, AGGREGATED};
    use crate::stats::histogram::LatencyHistogram;
    use crate::stats::interval::Latencies;
    use crate::stats::seconds::SecondRow;

    /// A second of `rows`: (method, name, latencies µs, failures).
    fn second(start_s: u64, rows: &[(&str, &str, Vec<u64>, u64)]) -> Arc<Second> {
        let mut total = LatencyHistogram::new();
        let mut failures = 0;
        let mut out = Vec::new();
        for (method, name, us, fails) in rows {
            let mut h = LatencyHistogram::new();
            for &v in us {
                h.record(v);
                total.record(v);
            }
            failures += fails;
            out.push(SecondRow {
                method: method.to_string(),
                name: name.to_string(),
                latencies: Latencies::of(&h),
                corrected: None,
                failures: *fails,
            });
        }
        Arc::new(Second {
            start_s,
            secs: 1.0,
            total: SecondRow {
                method: String::new(),
                name: AGGREGATED.into(),
                latencies: Latencies::of(&total),
                corrected: None,
                failures,
            },
            rows: out,
        })
    }

    /// 12 seconds of 10 requests at 20 ms; seconds 4..8 fail half of theirs and take 400 ms.
    fn bad_stretch() -> Vec<Arc<Second>> {
        (0..12)
            .map(|s| {
                let bad = (4..8).contains(&s);
                let us = if bad { 400_000 } else { 20_000 };
                second(s, &[("GET", "/a", vec![us; 10], if bad { 5 } else { 0 })])
            })
            .collect()
    }

    fn judge(exprs: &[&str], seconds: &[Arc<Second>]) -> (Arc<[Threshold]>, WindowJudge) {
        let thresholds: Arc<[Threshold]> = exprs
            .iter()
            .map(|e| parse_threshold(e).expect("threshold"))
            .collect();
        let mut judge = WindowJudge::new(thresholds.clone());
        for s in seconds {
            judge.push(s.clone());
        }
        judge.finish();
        (thresholds, judge)
    }

    #[test]
    fn a_bad_stretch_fails_its_windows_while_the_total_holds() {
        let seconds = bad_stretch();
        let (_, j) = judge(&["error_rate[3s] < 20%", "p95[2s] < 100ms"], &seconds);
        let v = j.verdict(0).expect("windowed");
        assert!(!v.passed);
        // windows [0,3) .. [9,12); those with 2 or 3 bad seconds fail: starts 3, 4, 5, 6
        let w = v.window.clone().expect("window outcome");
        assert_eq!((w.window_s, w.windows, w.failed), (3, 10, 4));
        assert_eq!(w.first_failed, Some(Span { from_s: 3, to_s: 6 }));
        assert_eq!(w.worst, Some(Span { from_s: 4, to_s: 7 }));
        assert_eq!((v.observed, v.samples), (0.5, 30));
        assert_eq!(
            v.observed_phrase(),
            "worst 50% in 00:04–00:07; first failed at 00:03–00:06 (4 of 10 windows failed)"
        );
        assert_eq!(
            v.line(),
            "✗ error_rate[3s] < 20% (worst 50% in 00:04–00:07; first failed at 00:03–00:06 (4 of \
             10 windows failed))"
        );
        // every surface shows where: the HTML report's line, JUnit's failure, the JSON
        let report = crate::report::html::threshold_lines(std::slice::from_ref(&v));
        assert_eq!(report[0].observed, v.observed_phrase());
        let xml = crate::report::junit::junit_xml("bad", std::slice::from_ref(&v), 12.0);
        assert!(
            xml.contains("message=\"worst 50% in 00:04–00:07; first failed at 00:03–00:06"),
            "{xml}"
        );
        let json = serde_json::to_value(&v).expect("json");
        assert_eq!(
            json["window"]["worst"],
            serde_json::json!({"from_s": 4, "to_s": 7})
        );
        assert_eq!(json["window"]["first_failed"]["from_s"], 3);
        let back: Verdict = serde_json::from_value(json).expect("back");
        assert_eq!(back, v);
        // p95 of 2-second windows: any window touching the stretch is 400 ms
        let p = j.verdict(1).expect("windowed");
        let w = p.window.clone().expect("window outcome");
        assert_eq!((w.windows, w.failed), (11, 5));
        assert_eq!(w.first_failed, Some(Span { from_s: 3, to_s: 5 }));
        assert!((p.observed - 400.0).abs() < 0.5, "{}", p.observed);

        // while the run-wide rate holds: 20 failures in 120 requests
        let failures: u64 = seconds.iter().map(|s| s.total.failures).sum();
        let requests: u64 = seconds.iter().map(|s| s.total.requests()).sum();
        assert_eq!((failures, requests), (20, 120));
    }

    #[test]
    fn sliding_percentiles_equal_merging_each_window() {
        use crate::stats::seconds::merge;
        // 40 seconds of two rows whose latencies wander; some seconds without /b
        let seconds: Vec<Arc<Second>> = (0..40u64)
            .map(|s| {
                let a: Vec<u64> = (0..(s * 7 % 13 + 1))
                    .map(|i| 1_000 + (s * 7919 + i * 104_729) % 900_000)
                    .collect();
                let b: Vec<u64> = (0..(s % 4)).map(|i| 5_000 + s * 3_001 + i).collect();
                let mut rows = vec![("GET", "/a", a, 0)];
                if !b.is_empty() {
                    rows.push(("POST", "/b", b, 0));
                }
                second(s, &rows)
            })
            .collect();
        let exprs = [
            "p95[7s] < 1ms",
            "p50[3s] > 1h",
            "'/b'.p99[5s] < 1ms",
            "GET.p90[40s] < 1ms",
        ];
        let (thresholds, j) = judge(&exprs, &seconds);
        for (i, t) in thresholds.iter().enumerate() {
            let w = t.window.expect("windowed").as_secs();
            let q = match t.metric {
                ThresholdMetric::Percentile(q) => q,
                _ => unreachable!("percentiles only"),
            };
            let selector = match &t.scope {
                ThresholdScope::Aggregate => RowSelector::Total,
                ThresholdScope::Name(n) => RowSelector::Name(n),
                ThresholdScope::Kind(k) => RowSelector::Kind(k),
                ThresholdScope::Monitor(_) => unreachable!("no windows on monitors"),
            };
            let values: Vec<f64> = (0..=40 - w)
                .map(|from| {
                    let m = merge(seconds.iter().map(Arc::as_ref), from..from + w, selector)
                        .expect("merges");
                    us_to_ms(m.latencies.percentiles(&[q])[0])
                })
                .collect();
            let worst = match t.op {
                CompareOp::Lt | CompareOp::Le => values.iter().copied().fold(0.0, f64::max),
                CompareOp::Gt | CompareOp::Ge => values.iter().copied().fold(f64::MAX, f64::min),
            };
            let v = j.verdict(i).expect("windowed");
            assert_eq!(v.observed, worst, "{}", t.source);
            assert_eq!(v.window.map(|w| w.windows), Some(values.len() as u64));
        }
    }

    #[test]
    fn a_run_shorter_than_the_window_is_judged_whole() {
        let seconds = &bad_stretch()[..6];
        let (thresholds, j) = judge(&["error_rate[1m] < 5%", "rps[10s] > 5"], seconds);
        let v = j.verdict(0).expect("windowed");
        let w = v.window.clone().expect("window outcome");
        assert!(w.whole_run && !v.passed);
        assert_eq!((w.windows, w.failed), (1, 1));
        // 10 failures of 60 requests
        assert!((v.observed - 10.0 / 60.0).abs() < 1e-9);
        assert_eq!(
            v.observed_phrase(),
            "worst 16.67% in 00:00–00:06 (the whole run: shorter than the 1m 00s window)"
        );
        let rps = j.verdict(1).expect("windowed");
        assert!(rps.passed && rps.observed == 10.0, "{rps:?}");
        // a plain threshold beside them is judged on the snapshot
        let agg = Aggregator::new(Vec::new(), 10);
        let snap = agg.snapshot(
            Duration::from_secs(6),
            0,
            crate::stats::snapshot::RunState::Stopped,
        );
        let all = evaluate_all(&thresholds, &snap, &j);
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|v| v.window.is_some()));
    }

    #[test]
    fn before_the_first_full_window_nothing_is_judged() {
        let thresholds: Arc<[Threshold]> =
            vec![parse_threshold("p95[5s] < 1s").expect("ok")].into();
        let mut j = WindowJudge::new(thresholds);
        j.push(bad_stretch()[0].clone());
        let v = j.verdict(0).expect("windowed");
        assert!(v.passed);
        assert_eq!(v.observed_phrase(), "no full 5s window yet");
    }

    #[test]
    fn abort_comes_at_the_first_failed_window_past_the_delay() {
        let mut t = parse_threshold("error_rate[3s] < 20%").expect("ok");
        t.abort_on_fail = true;
        t.delay = Some(Duration::from_secs(7));
        let plain = parse_threshold("p95 < 1ms").expect("ok");
        let mut j = WindowJudge::new(vec![plain, t].into());
        let mut aborted_after = None;
        for s in bad_stretch() {
            let start = s.start_s;
            j.push(s);
            if let Some(i) = j.take_abort() {
                aborted_after = Some((i, start));
                break;
            }
        }
        // the window [3, 6) fails first, but ends before the 7 s delay: [4, 7) stops the run
        assert_eq!(aborted_after, Some((1, 6)));
        assert_eq!(j.take_abort(), None, "said once");
    }

    #[test]
    fn a_name_scope_judges_each_of_its_rows_and_the_worst_decides() {
        let seconds: Vec<Arc<Second>> = (0..4)
            .map(|s| {
                second(
                    s,
                    &[
                        ("GET", "/t", vec![10_000; 4], 0),
                        ("POST", "/t", vec![30_000 + s * 1_000; 4], 0),
                        ("GET", "/other", vec![900_000], 0),
                    ],
                )
            })
            .collect();
        let (_, j) = judge(&["'/t'.max[2s] <= 32ms", "GET.p50[2s] < 1s"], &seconds);
        let v = j.verdict(0).expect("windowed");
        // POST /t's max in [2, 4) is 33 ms
        assert!(!v.passed);
        assert_eq!(v.row.as_deref(), Some("POST /t"));
        assert!((v.observed - 33.0).abs() < 0.05, "{}", v.observed);
        assert_eq!(
            v.window.as_ref().and_then(|w| w.first_failed),
            Some(Span { from_s: 2, to_s: 4 })
        );
        let kind = j.verdict(1).expect("windowed");
        assert!(kind.passed);
        assert_eq!(kind.row.as_deref(), Some("GET /other"));
        assert_eq!(kind.samples, 10);
    }
}
