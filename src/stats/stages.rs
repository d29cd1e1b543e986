//! Stage analysis of a shaped run: one row per stage of the shape (its span, target, the users
//! or concurrency reached, requests, RPS, p50/p95/p99 and error rate), the recovery time after
//! each step of the target load, and the breaking point of a stress shape. Pure: the series and
//! the merge of a span of seconds come in as arguments, so every rule below is unit-tested on
//! synthetic seconds.
//!
//! Rules (README "Stage analysis" says the same):
//! - Second `s` is the run's `s`-th closed tick (its point is the series' `s`-th); it began when
//!   the seconds before it add up to (a loaded machine ticks late) and belongs to the stage in
//!   force half a second later.
//! - A stage's numbers are over all its closed seconds, merged exactly by the caller's span
//!   function (the per-second histograms). Its *steady* part leaves out its first
//!   [`SETTLE_S`] seconds and, for a closed-model stage with a spawn rate, the ramp to its users
//!   (at most the first half of the stage is left out).
//! - Recovery after a step (a stage whose target differs from the previous one, to a load
//!   above zero): the seconds from the step until the second from which the per-second p95 is
//!   within +[`BAND_P95_RATIO`] (or +[`BAND_P95_MIN_MS`], whichever is larger) of the previous
//!   stage's steady p95 and the error rate within +[`BAND_ERROR_POINTS`] of its steady error
//!   rate, for [`HOLD_S`] seconds in a row (or every second left in the stage). A second
//!   without a completed request is not back. "Not recovered" when the stage ends first.
//! - Breaking point: the first closed stage where a threshold fails on that stage's own merged
//!   numbers, or where the target grows by at least [`KNEE_LOAD_GROWTH`] over the previous
//!   stage while the steady RPS grows by less than [`KNEE_RPS_SHARE`] of that growth (RPS stops
//!   rising with load).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::seconds::{self, RowSelector, SecondLog, WindowStats};
use super::snapshot::{us_to_ms, Percentiles, Point, RunState, Snapshot, StatsRow};
use super::thresholds::{self, Unit, Verdict};
use crate::format::{fmt_duration, trimmed};
use crate::plan::model::{CompareOp, ShapeKind, Threshold, ThresholdMetric, ThresholdScope};

/// Seconds at the start of a stage that its steady numbers leave out.
pub const SETTLE_S: f64 = 2.0;
/// Consecutive seconds within the band that make a step recovered.
pub const HOLD_S: u64 = 3;
/// The recovery band on p95: up to 20 % above the previous steady p95 ...
pub const BAND_P95_RATIO: f64 = 0.2;
/// ... or 5 ms above it, whichever is larger (fast targets jitter by more than 20 %).
pub const BAND_P95_MIN_MS: f64 = 5.0;
/// The recovery band on the error rate: up to 1 percentage point above the previous steady one.
pub const BAND_ERROR_POINTS: f64 = 0.01;
/// A knee needs the target to grow by at least 20 % over the previous stage ...
pub const KNEE_LOAD_GROWTH: f64 = 0.2;
/// ... while the steady RPS grows by less than a quarter of the target's growth.
pub const KNEE_RPS_SHARE: f64 = 0.25;

/// What a shape's stages set: users (closed model) or task starts per second (open model).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadModel {
    Users,
    Rate,
}

/// Where a stage stands in the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    /// Not started yet.
    Pending,
    /// Under way: its numbers so far.
    Running,
    /// Over (or cut short by the end of the run).
    Closed,
    /// The run ended before it.
    NotReached,
}

/// A stage's numbers without its first seconds: the basis of recovery and of the knee.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Steady {
    /// Seconds since the start where the steady part begins.
    pub from_s: f64,
    pub requests: u64,
    pub rps: f64,
    pub p95_ms: f64,
    pub error_rate: f64,
}

/// One stage's row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageRow {
    /// 1-based, as people count stages.
    pub index: u32,
    /// Its span, in seconds since the start.
    pub from_s: f64,
    pub to_s: f64,
    /// Users (closed model) or starts per second (open model) asked for.
    pub target: f64,
    pub state: StageState,
    /// Closed seconds counted.
    pub seconds: u64,
    /// Mean users running (closed model) or in flight (open model) over those seconds.
    pub achieved: f64,
    pub requests: u64,
    pub failures: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub error_rate: f64,
    /// None without a request in the steady part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady: Option<Steady>,
}

/// How a step ended up.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Back within the band this many seconds after the step.
    Recovered { seconds: f64 },
    /// The stage ended (after `within_s`) before its seconds were back within the band.
    NotRecovered { within_s: f64 },
    /// The stage is under way and not back yet.
    Pending,
    /// The previous stage had no steady request to compare with.
    NoBaseline,
}

/// The recovery after one step of the target load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// The stage stepped into (1-based).
    pub stage: u32,
    /// When the step happened (seconds since the start).
    pub at_s: f64,
    pub from_target: f64,
    pub to_target: f64,
    /// The previous stage's steady p95 and error rate, and the band's upper ends.
    pub baseline_p95_ms: f64,
    pub baseline_error_rate: f64,
    pub band_p95_ms: f64,
    pub band_error_rate: f64,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Why a stage is the breaking point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum KneeReason {
    /// A threshold failed on the stage's own numbers.
    Threshold {
        expression: String,
        observed: String,
    },
    /// The target grew by `load_growth` while the steady RPS grew by only `rps_growth`
    /// (fractions: 1.0 = +100 %).
    RpsFlat { load_growth: f64, rps_growth: f64 },
}

/// The first stage where the target broke.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Knee {
    pub stage: u32,
    /// The stage's target and what it achieved: users (or rate) and RPS at the knee.
    pub target: f64,
    pub achieved: f64,
    pub rps: f64,
    #[serde(flatten)]
    pub reason: KneeReason,
}

/// The stage analysis of a shaped run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageAnalysis {
    pub model: LoadModel,
    pub stages: Vec<StageRow>,
    /// One per step of the target load, in order.
    pub steps: Vec<Recovery>,
    /// None: no stage broke (so far, while the run goes).
    pub breaking_point: Option<Knee>,
    /// Whether every stage is over (the analysis is final).
    pub complete: bool,
}

/// A span of whole seconds merged exactly: the aggregate and each name's row, rates over the
/// span's length.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpanStats {
    pub total: StatsRow,
    pub rows: Vec<StatsRow>,
}

/// Merges spans of a run's kept seconds for [`analyse`], exactly (the per-second histograms
/// added bucket by bucket). It remembers the aggregate of each span it merged, by the span's
/// first second, so that a stage under way, asked for again a second later, only adds its new
/// seconds: a live run's analysis costs O(new seconds) a second, not O(run).
#[derive(Debug, Default)]
pub struct SpanMerger {
    merged: HashMap<u64, WindowStats>,
}

impl SpanMerger {
    /// Seconds `[a, b)` of `log`: the aggregate, and each row's when `rows` (the thresholds
    /// judged per stage name a row or a kind). A histogram that does not decode (it never
    /// should: the log made it) counts as an empty span.
    pub fn span(&mut self, log: &SecondLog, a: u64, b: u64, rows: bool) -> SpanStats {
        let total = match self.merged.remove(&a) {
            Some(mut known) if known.to_s <= b => {
                match log.merge(known.to_s..b, RowSelector::Total) {
                    Ok(more) => {
                        known.to_s = b;
                        known.seconds += more.seconds;
                        known.secs += more.secs;
                        known.requests += more.requests;
                        known.failures += more.failures;
                        known.latencies.add(&more.latencies);
                        Some(known)
                    }
                    Err(_) => None,
                }
            }
            _ => log.merge(a..b, RowSelector::Total).ok(),
        };
        let Some(total) = total else {
            return SpanStats::default();
        };
        let total_row = stats_row("", super::aggregator::AGGREGATED, &total);
        self.merged.insert(a, total);
        let rows = if rows {
            let kept = log.since(0);
            seconds::row_labels(kept.iter().map(|s| s.as_ref()))
                .iter()
                .filter_map(|(method, name)| {
                    let w = log.merge(a..b, RowSelector::Row { method, name }).ok()?;
                    (w.requests > 0).then(|| stats_row(method, name, &w))
                })
                .collect()
        } else {
            Vec::new()
        };
        SpanStats {
            total: total_row,
            rows,
        }
    }
}

/// A merged span as a statistics row: counts, percentiles, exact min/max/mean, its rate.
fn stats_row(method: &str, name: &str, w: &WindowStats) -> StatsRow {
    let h = &w.latencies;
    let percentiles = Percentiles::from_histogram(h);
    StatsRow {
        method: method.into(),
        name: name.into(),
        num_requests: w.requests,
        num_failures: w.failures,
        avg_ms: h.mean_us() / 1000.0,
        min_ms: us_to_ms(h.min_us()),
        max_ms: us_to_ms(h.max_us()),
        median_ms: percentiles.p50,
        percentiles,
        total_rps: w.rps(),
        total_fail_per_s: if w.secs > 0.0 {
            w.failures as f64 / w.secs
        } else {
            0.0
        },
        ..StatsRow::default()
    }
}

/// Whether judging `thresholds` per stage needs each row's numbers (not only the aggregate's).
pub fn needs_rows(thresholds: &[Threshold]) -> bool {
    thresholds
        .iter()
        .any(|t| judged_per_stage(t) && t.scope != ThresholdScope::Aggregate)
}

/// What the analysis reads of the run.
pub struct ShapedRun<'a> {
    pub shape: &'a ShapeKind,
    /// One point per closed second.
    pub series: &'a [Point],
    /// When each closed second began, in seconds since the start (from the seconds' real
    /// lengths); a second missing here is taken to begin a second after the one before.
    pub starts_s: &'a [f64],
    /// Seconds since the start (a stage under way may have no closed second yet).
    pub elapsed_s: f64,
    /// Whether the run has ended.
    pub ended: bool,
}

/// One stage as planned: its span and target, and how long its ramp lasts.
struct Planned {
    from_s: f64,
    to_s: f64,
    target: f64,
    ramp_s: f64,
}

fn planned(shape: &ShapeKind) -> (LoadModel, Vec<Planned>) {
    let mut out = Vec::new();
    let mut start = 0.0;
    match shape {
        ShapeKind::Stages(stages) => {
            let mut users = 0u32;
            for st in stages {
                let d = st.duration.as_secs_f64();
                let ramp_s = match st.spawn_rate {
                    Some(rate) if rate > 0.0 => f64::from(st.users.abs_diff(users)) / rate,
                    _ => 0.0,
                };
                out.push(Planned {
                    from_s: start,
                    to_s: start + d,
                    target: f64::from(st.users),
                    ramp_s,
                });
                users = st.users;
                start += d;
            }
            (LoadModel::Users, out)
        }
        ShapeKind::Arrival { stages, .. } => {
            for (i, st) in stages.iter().enumerate() {
                let d = st.duration.as_secs_f64();
                // every stage after the first ramps from the previous rate over its length
                out.push(Planned {
                    from_s: start,
                    to_s: start + d,
                    target: st.rate,
                    ramp_s: if i == 0 { 0.0 } else { d },
                });
                start += d;
            }
            (LoadModel::Rate, out)
        }
    }
}

/// When each second of the run began on the shape's clock: the sum of the seconds before it
/// (a loaded machine ticks late, so second `s` may begin well after `s` s); seconds not closed
/// yet are taken to follow the last one a second apart.
struct Clock<'a> {
    starts: &'a [f64],
}

impl Clock<'_> {
    fn start(&self, s: u64) -> f64 {
        match self.starts.get(s as usize) {
            Some(&t) => t,
            None => match self.starts.last() {
                Some(&last) => last + (s + 1 - self.starts.len() as u64) as f64,
                None => s as f64,
            },
        }
    }

    /// The first second whose middle is at or after `t`.
    fn first_from(&self, t: f64) -> u64 {
        let known = self.starts.partition_point(|&start| start + 0.5 < t) as u64;
        if (known as usize) < self.starts.len() {
            return known;
        }
        let mut s = known;
        while self.start(s) + 0.5 < t {
            s += 1;
        }
        s
    }

    /// The seconds `[first, end)` whose middle lies in `[from_s, to_s)`.
    fn seconds_of(&self, from_s: f64, to_s: f64) -> (u64, u64) {
        let first = self.first_from(from_s);
        (first, self.first_from(to_s).max(first))
    }
}

/// The stage analysis of `run`; `span(a, b)` merges seconds `[a, b)`. `thresholds` are judged
/// on each closed stage for the breaking point (those a stage can judge: latencies, error rate
/// and RPS over the whole span).
pub fn analyse(
    run: &ShapedRun<'_>,
    thresholds: &[Threshold],
    span: &mut dyn FnMut(u64, u64) -> SpanStats,
) -> StageAnalysis {
    let (model, plan) = planned(run.shape);
    let clock = Clock {
        starts: run.starts_s,
    };
    // one point per tick, in order: point `s` is second `s` (its `t_s` is the elapsed time
    // rounded, which a late tick moves)
    // Seconds that can be counted: the series' whole seconds, and once the run has ended the
    // second log's last, part second too (the shape's end falls just before a tick: without
    // it the last stage lost up to a second of its requests).
    let closed = if run.ended {
        run.series.len().max(run.starts_s.len()) as u64
    } else {
        run.series.len() as u64
    };
    let by_second = run.series;
    let mut rows = Vec::with_capacity(plan.len());
    let mut spans = Vec::with_capacity(plan.len());
    for (i, p) in plan.iter().enumerate() {
        let (first, end) = clock.seconds_of(p.from_s, p.to_s);
        let upto = end.min(closed);
        let state = if upto >= end && end > first {
            StageState::Closed
        } else if run.ended {
            if upto > first {
                StageState::Closed
            } else {
                StageState::NotReached
            }
        } else if closed > first || run.elapsed_s >= p.from_s {
            StageState::Running
        } else {
            StageState::Pending
        };
        let seconds = upto.saturating_sub(first);
        let whole = if seconds > 0 {
            span(first, upto)
        } else {
            SpanStats::default()
        };
        let users: Vec<f64> = (first..upto)
            .filter_map(|s| by_second.get(s as usize))
            .map(|pt| f64::from(pt.users))
            .collect();
        let achieved = if users.is_empty() {
            0.0
        } else {
            users.iter().sum::<f64>() / users.len() as f64
        };
        let len = (end - first) as f64;
        let settle = SETTLE_S.max(p.ramp_s).min(len / 2.0).ceil() as u64;
        let steady_first = first + settle;
        let steady = (upto > steady_first)
            .then(|| span(steady_first, upto))
            .filter(|s| s.total.num_requests > 0)
            .map(|s| Steady {
                from_s: clock.start(steady_first),
                requests: s.total.num_requests,
                rps: s.total.total_rps,
                p95_ms: s.total.percentiles.p95,
                error_rate: s.total.fail_ratio(),
            });
        let t = &whole.total;
        rows.push(StageRow {
            index: i as u32 + 1,
            from_s: p.from_s,
            to_s: p.to_s,
            target: p.target,
            state,
            seconds,
            achieved,
            requests: t.num_requests,
            failures: t.num_failures,
            rps: t.total_rps,
            p50_ms: t.percentiles.p50,
            p95_ms: t.percentiles.p95,
            p99_ms: t.percentiles.p99,
            error_rate: t.fail_ratio(),
            steady,
        });
        spans.push(whole);
    }
    let steps = recoveries(&rows, by_second, closed, &clock, span);
    let breaking_point = knee(&rows, &spans, thresholds);
    let complete = rows
        .iter()
        .all(|r| matches!(r.state, StageState::Closed | StageState::NotReached));
    StageAnalysis {
        model,
        stages: rows,
        steps,
        breaking_point,
        complete,
    }
}

/// The recovery after each step. A second is read from its point in the series, or (the run's
/// last, part second, which has no point) merged from the second log by `span`.
fn recoveries(
    rows: &[StageRow],
    by_second: &[Point],
    closed: u64,
    clock: &Clock<'_>,
    span: &mut dyn FnMut(u64, u64) -> SpanStats,
) -> Vec<Recovery> {
    let mut steps = Vec::new();
    for pair in rows.windows(2) {
        let (prev, stage) = (&pair[0], &pair[1]);
        if stage.target == prev.target || stage.target <= 0.0 {
            continue;
        }
        if matches!(stage.state, StageState::Pending | StageState::NotReached) {
            continue;
        }
        let (first, end) = clock.seconds_of(stage.from_s, stage.to_s);
        let mut step = Recovery {
            stage: stage.index,
            at_s: stage.from_s,
            from_target: prev.target,
            to_target: stage.target,
            baseline_p95_ms: 0.0,
            baseline_error_rate: 0.0,
            band_p95_ms: 0.0,
            band_error_rate: 0.0,
            outcome: Outcome::NoBaseline,
        };
        if let Some(base) = prev.steady {
            step.baseline_p95_ms = base.p95_ms;
            step.baseline_error_rate = base.error_rate;
            step.band_p95_ms = base.p95_ms + (base.p95_ms * BAND_P95_RATIO).max(BAND_P95_MIN_MS);
            step.band_error_rate = base.error_rate + BAND_ERROR_POINTS;
            let upto = end.min(closed);
            let stage_over = stage.state == StageState::Closed;
            let (band_p95, band_errors) = (step.band_p95_ms, step.band_error_rate);
            let mut back = |s: u64| match by_second.get(s as usize) {
                Some(p) => {
                    p.rps > 0.0 && p.p95_ms <= band_p95 && p.fail_per_s / p.rps <= band_errors
                }
                None => {
                    let t = span(s, s + 1).total;
                    t.num_requests > 0
                        && t.percentiles.p95 <= band_p95
                        && t.fail_ratio() <= band_errors
                }
            };
            let recovered = (first..upto).find(|&s| {
                let hold_end = (s + HOLD_S).min(end);
                // the whole hold must be closed seconds
                hold_end <= upto && (s..hold_end).all(&mut back)
            });
            step.outcome = match recovered {
                Some(s) => Outcome::Recovered {
                    seconds: (clock.start(s) - stage.from_s).max(0.0),
                },
                None if stage_over => Outcome::NotRecovered {
                    within_s: (clock.start(upto) - stage.from_s).max(0.0),
                },
                None => Outcome::Pending,
            };
        }
        steps.push(step);
    }
    steps
}

/// Whether a threshold can be judged on one stage's merged numbers.
pub fn judged_per_stage(t: &Threshold) -> bool {
    // a windowed threshold judges its own windows, not a stage's total
    t.window.is_none() && t.metric.from_request_counts()
}

fn knee(rows: &[StageRow], spans: &[SpanStats], thresholds: &[Threshold]) -> Option<Knee> {
    for (i, (row, span)) in rows.iter().zip(spans).enumerate() {
        if row.state != StageState::Closed {
            return None;
        }
        let at = |reason| Knee {
            stage: row.index,
            target: row.target,
            achieved: row.achieved,
            rps: row.rps,
            reason,
        };
        let stage = stage_snapshot(span, row.seconds as f64);
        let failed = thresholds
            .iter()
            .filter(|t| judged_per_stage(t))
            .map(|t| thresholds::evaluate(t, &stage))
            .find(|v| !v.passed && v.samples > 0);
        if let Some(v) = failed {
            let observed = v.observed_phrase();
            return Some(at(KneeReason::Threshold {
                expression: v.expression,
                observed,
            }));
        }
        let Some(prev) = i.checked_sub(1).map(|p| &rows[p]) else {
            continue;
        };
        let (Some(before), Some(now)) = (prev.steady, row.steady) else {
            continue;
        };
        if prev.target <= 0.0 || before.rps <= 0.0 {
            continue;
        }
        let load_growth = row.target / prev.target - 1.0;
        let rps_growth = now.rps / before.rps - 1.0;
        if load_growth >= KNEE_LOAD_GROWTH && rps_growth < KNEE_RPS_SHARE * load_growth {
            return Some(at(KneeReason::RpsFlat {
                load_growth,
                rps_growth,
            }));
        }
    }
    None
}

/// A span's numbers as a snapshot, for the threshold judge.
fn stage_snapshot(span: &SpanStats, seconds: f64) -> Snapshot {
    Snapshot {
        state: RunState::Stopped,
        elapsed_s: seconds,
        users: 0,
        rows: span.rows.clone(),
        total: span.total.clone(),
        ..Snapshot::default()
    }
}

/// Whether a threshold is a `recovery` one (judged on the steps, not on a snapshot).
pub fn is_recovery(t: &Threshold) -> bool {
    t.metric == ThresholdMetric::Recovery
}

/// The verdict of `recovery < 30s`: the worst step decides; a step that did not recover fails
/// it whatever its limit. Steps still pending or without a baseline are not judged.
pub fn recovery_verdict(t: &Threshold, analysis: Option<&StageAnalysis>) -> Verdict {
    let threshold_ms = t.value / 1000.0;
    let judged: Vec<&Recovery> = analysis
        .map(|a| a.steps.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|s| {
            matches!(
                s.outcome,
                Outcome::Recovered { .. } | Outcome::NotRecovered { .. }
            )
        })
        .collect();
    // not recovered is worse than any recovery; then the longest
    let worst = judged.iter().copied().max_by(|a, b| {
        let key = |s: &Recovery| match s.outcome {
            Outcome::NotRecovered { within_s } => (1, within_s),
            Outcome::Recovered { seconds } => (0, seconds),
            Outcome::Pending | Outcome::NoBaseline => (0, 0.0),
        };
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
    });
    let (observed_s, recovered) = match worst.map(|s| s.outcome) {
        Some(Outcome::Recovered { seconds }) => (seconds, true),
        Some(Outcome::NotRecovered { within_s }) => (within_s, false),
        _ => (0.0, true),
    };
    let observed = observed_s * 1000.0;
    let holds = match t.op {
        CompareOp::Lt => observed < threshold_ms,
        CompareOp::Le => observed <= threshold_ms,
        // the parser refuses `>` for recovery: a longer recovery is never better
        CompareOp::Gt | CompareOp::Ge => false,
    };
    let observed_text = match (worst, recovered) {
        (None, _) => "no step".to_string(),
        (Some(_), true) => fmt_duration(observed_s),
        (Some(_), false) => format!("not recovered within {}", fmt_duration(observed_s)),
    };
    Verdict {
        expression: t.source.clone(),
        passed: worst.is_none() || (recovered && holds),
        observed,
        observed_text,
        threshold: threshold_ms,
        unit: Unit::Ms,
        samples: judged.len() as u64,
        row: worst.zip(analysis).map(|(s, a)| step_label(s, a.model)),
        abort_on_fail: t.abort_on_fail,
        stopped_run_at_s: None,
        window: None,
    }
}

/// `the step to stage 3 (10 → 50 users) at 30s`, `the step to stage 2 (5/s → 20/s) at 1m 00s`.
pub fn step_label(s: &Recovery, model: LoadModel) -> String {
    let load = |v: f64| match model {
        LoadModel::Users => trimmed(v, 0),
        LoadModel::Rate => format!("{}/s", trimmed(v, 2)),
    };
    let users = if model == LoadModel::Users {
        " users"
    } else {
        ""
    };
    format!(
        "the step to stage {} ({} → {}{users}) at {}",
        s.stage,
        load(s.from_target),
        load(s.to_target),
        fmt_duration(s.at_s)
    )
}

/// The verdicts with every `recovery` threshold judged on `analysis` (the others as they are).
pub fn with_recovery(
    thresholds: &[Threshold],
    mut verdicts: Vec<Verdict>,
    analysis: Option<&StageAnalysis>,
) -> Vec<Verdict> {
    for (t, v) in thresholds.iter().zip(verdicts.iter_mut()) {
        if is_recovery(t) {
            let stopped = v.stopped_run_at_s;
            *v = recovery_verdict(t, analysis);
            v.stopped_run_at_s = stopped;
        }
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::plan::model::{ArrivalStage, Stage};
    use crate::plan::parse_threshold;
    use crate::stats::histogram::LatencyHistogram;
    use crate::stats::snapshot::Percentiles;

    /// One synthetic second: users running, requests at one latency, failures among them.
    #[derive(Clone, Copy)]
    struct Second {
        users: u32,
        requests: u64,
        latency_ms: u64,
        failures: u64,
    }

    fn secs(n: usize, users: u32, requests: u64, latency_ms: u64) -> Vec<Second> {
        vec![
            Second {
                users,
                requests,
                latency_ms,
                failures: 0,
            };
            n
        ]
    }

    fn histogram(seconds: &[Second]) -> LatencyHistogram {
        let mut h = LatencyHistogram::new();
        for s in seconds {
            for _ in 0..s.requests {
                h.record(s.latency_ms * 1000);
            }
        }
        h
    }

    fn row(seconds: &[Second], len: f64) -> StatsRow {
        let h = histogram(seconds);
        StatsRow {
            num_requests: h.count(),
            num_failures: seconds.iter().map(|s| s.failures).sum(),
            percentiles: Percentiles::from_histogram(&h),
            total_rps: h.count() as f64 / len,
            ..StatsRow::default()
        }
    }

    fn points(seconds: &[Second]) -> Vec<Point> {
        seconds
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let r = row(std::slice::from_ref(s), 1.0);
                Point {
                    t_s: i as u64 + 1,
                    users: s.users,
                    rps: s.requests as f64,
                    fail_per_s: s.failures as f64,
                    p50_ms: r.percentiles.p50,
                    p95_ms: r.percentiles.p95,
                    ..Point::default()
                }
            })
            .collect()
    }

    fn analysed(
        shape: &ShapeKind,
        seconds: &[Second],
        ended: bool,
        thresholds: &[&str],
    ) -> StageAnalysis {
        let series = points(seconds);
        let thresholds: Vec<Threshold> = thresholds
            .iter()
            .map(|t| parse_threshold(t).unwrap())
            .collect();
        let mut span = |a: u64, b: u64| {
            let part = &seconds[a as usize..b as usize];
            let total = row(part, (b - a) as f64);
            SpanStats {
                rows: vec![StatsRow {
                    method: "GET".into(),
                    name: "/".into(),
                    ..total.clone()
                }],
                total,
            }
        };
        analyse(
            &ShapedRun {
                shape,
                series: &series,
                starts_s: &[],
                elapsed_s: series.len() as f64,
                ended,
            },
            &thresholds,
            &mut span,
        )
    }

    fn users(stages: &[(u64, u32)]) -> ShapeKind {
        ShapeKind::Stages(
            stages
                .iter()
                .map(|&(d, users)| Stage {
                    duration: Duration::from_secs(d),
                    users,
                    spawn_rate: None,
                })
                .collect(),
        )
    }

    /// 10 → 20 → 40 users: 100/s at 10 ms, 200/s at 10 ms, then 210/s at 50 ms (saturated).
    fn stress() -> (ShapeKind, Vec<Second>) {
        let mut s = secs(10, 10, 100, 10);
        s.extend(secs(10, 20, 200, 10));
        s.extend(secs(10, 40, 210, 50));
        (users(&[(10, 10), (10, 20), (10, 40)]), s)
    }

    #[test]
    fn one_row_per_stage_with_its_exact_numbers() {
        let (shape, mut seconds) = stress();
        seconds[12].failures = 20;
        let a = analysed(&shape, &seconds, true, &[]);
        assert_eq!(a.model, LoadModel::Users);
        assert!(a.complete);
        let r: Vec<(u32, f64, f64, u64, f64, f64)> = a
            .stages
            .iter()
            .map(|s| (s.index, s.from_s, s.target, s.requests, s.rps, s.p95_ms))
            .collect();
        assert_eq!(
            r,
            [
                (1, 0.0, 10.0, 1000, 100.0, 10.0),
                (2, 10.0, 20.0, 2000, 200.0, 10.0),
                (3, 20.0, 40.0, 2100, 210.0, 50.0)
            ]
        );
        let second = &a.stages[1];
        assert_eq!(
            (second.to_s, second.seconds, second.achieved),
            (20.0, 10, 20.0)
        );
        assert_eq!((second.failures, second.error_rate), (20, 0.01));
        assert!(a.stages.iter().all(|s| s.state == StageState::Closed));
        // the steady part leaves out the first 2 s: stage 2's failures were in its third second
        let steady = second.steady.unwrap();
        assert_eq!((steady.from_s, steady.requests), (12.0, 1600));
        assert_eq!(steady.error_rate, 20.0 / 1600.0);
    }

    #[test]
    fn the_knee_is_where_rps_stops_rising_with_load() {
        let (shape, seconds) = stress();
        let a = analysed(&shape, &seconds, true, &[]);
        let knee = a.breaking_point.unwrap();
        assert_eq!((knee.stage, knee.target, knee.rps), (3, 40.0, 210.0));
        let KneeReason::RpsFlat {
            load_growth,
            rps_growth,
        } = knee.reason
        else {
            panic!("{knee:?}")
        };
        assert_eq!(load_growth, 1.0);
        assert!((rps_growth - 0.05).abs() < 1e-9);
        // RPS that keeps a quarter of the load's growth is no knee: +100 % users, +25 % RPS
        let mut s = seconds.clone();
        for x in &mut s[20..] {
            x.requests = 250;
        }
        assert_eq!(analysed(&shape, &s, true, &[]).breaking_point, None);
        // a load growing by less than 20 % is not judged
        let small = users(&[(10, 10), (10, 20), (10, 23)]);
        assert_eq!(analysed(&small, &seconds, true, &[]).breaking_point, None);
    }

    #[test]
    fn a_threshold_failing_on_a_stage_is_the_breaking_point() {
        let (shape, mut seconds) = stress();
        // stage 2 alone breaks p95 < 30ms; the whole run would too, stage 1 does not
        for x in &mut seconds[10..20] {
            x.latency_ms = 35;
        }
        let a = analysed(&shape, &seconds, true, &["p95 < 30ms", "'/'.rps > 1"]);
        let knee = a.breaking_point.unwrap();
        assert_eq!((knee.stage, knee.target, knee.rps), (2, 20.0, 200.0));
        assert_eq!(
            knee.reason,
            KneeReason::Threshold {
                expression: "p95 < 30ms".into(),
                observed: "observed 35 ms".into()
            }
        );
        // a name's rate is over the stage's own seconds: 100/s holds `> 99`, fails `> 101`
        let a = analysed(&shape, &seconds[..10], true, &["'/'.rps > 99", "rps > 101"]);
        assert_eq!(a.breaking_point.unwrap().stage, 1);
        // thresholds a stage cannot judge are left to the run
        let a = analysed(&shape, &secs(10, 10, 100, 10), true, &["checks > 99%"]);
        assert_eq!(a.breaking_point, None);
    }

    #[test]
    fn recovery_is_the_seconds_until_p95_and_errors_are_back_in_the_band() {
        // 10 users at 10 ms, then 50 users: 4 s at 300 ms with errors, then 11 ms
        let shape = users(&[(10, 10), (10, 50), (10, 10)]);
        let mut seconds = secs(10, 10, 100, 10);
        let mut spike = secs(4, 50, 100, 300);
        spike[0].failures = 50;
        seconds.extend(spike);
        seconds.extend(secs(6, 50, 300, 11));
        seconds.extend(secs(10, 10, 100, 10));
        let a = analysed(&shape, &seconds, true, &[]);
        assert_eq!(a.steps.len(), 2);
        let up = &a.steps[0];
        assert_eq!(
            (up.stage, up.at_s, up.from_target, up.to_target),
            (2, 10.0, 10.0, 50.0)
        );
        assert_eq!((up.baseline_p95_ms, up.band_p95_ms), (10.0, 15.0));
        assert_eq!((up.baseline_error_rate, up.band_error_rate), (0.0, 0.01));
        assert_eq!(up.outcome, Outcome::Recovered { seconds: 4.0 });
        // the step down: the baseline is stage 2's steady part (from 12 s: 300 ms seconds in it)
        let down = &a.steps[1];
        assert_eq!(down.outcome, Outcome::Recovered { seconds: 0.0 });
        // one good second among bad ones is not back: it takes 3 in a row
        let mut s = seconds.clone();
        s[11].latency_ms = 10;
        let a = analysed(&shape, &s, true, &[]);
        assert_eq!(a.steps[0].outcome, Outcome::Recovered { seconds: 4.0 });
        // errors alone keep it out of the band: 2 % failing in the 5th second
        s[14].failures = 6;
        let a = analysed(&shape, &s, true, &[]);
        assert_eq!(a.steps[0].outcome, Outcome::Recovered { seconds: 5.0 });
        // never back before the stage ends
        for x in &mut s[14..20] {
            x.latency_ms = 100;
        }
        let a = analysed(&shape, &s, true, &[]);
        assert_eq!(a.steps[0].outcome, Outcome::NotRecovered { within_s: 10.0 });
        // back in its last two seconds: every second left counts as the hold
        for x in &mut s[18..20] {
            x.latency_ms = 10;
        }
        let a = analysed(&shape, &s, true, &[]);
        assert_eq!(a.steps[0].outcome, Outcome::Recovered { seconds: 8.0 });
    }

    #[test]
    fn late_ticks_move_seconds_to_the_stage_they_really_fell_in() {
        // every tick after the first is 0.3 s late: second 4 begins at 4.9 s
        let starts = [0.0, 1.0, 2.3, 3.6, 4.9, 6.2, 7.5, 8.8, 10.1];
        let shape = users(&[(5, 10), (5, 50)]);
        let mut seconds = secs(4, 10, 100, 10);
        seconds.extend(secs(2, 50, 100, 300));
        seconds.extend(secs(3, 50, 100, 10));
        let series = points(&seconds);
        let mut span = |a: u64, b: u64| SpanStats {
            total: row(&seconds[a as usize..b as usize], (b - a) as f64),
            rows: Vec::new(),
        };
        let a = analyse(
            &ShapedRun {
                shape: &shape,
                series: &series,
                starts_s: &starts,
                elapsed_s: 11.0,
                ended: true,
            },
            &[],
            &mut span,
        );
        // stage 1 holds seconds 0..=3 (second 4's middle is at 5.4 s), stage 2 seconds 4..=7
        assert_eq!((a.stages[0].seconds, a.stages[0].requests), (4, 400));
        assert_eq!((a.stages[1].seconds, a.stages[1].requests), (4, 400));
        assert_eq!(a.stages[0].steady.unwrap().from_s, 2.3);
        // back from second 6, which began at 7.5 s: 2.5 s after the step at 5 s
        assert_eq!(a.steps[0].outcome, Outcome::Recovered { seconds: 2.5 });
    }

    #[test]
    fn an_ended_runs_last_part_second_counts_in_its_last_stage() {
        // The shape ends just before a tick: the series has 9 whole seconds, the second log a
        // 10th (part) second, which holds stage 2's third good second.
        let shape = users(&[(5, 10), (5, 50)]);
        let mut seconds = secs(5, 10, 100, 10);
        seconds.extend(secs(2, 50, 100, 300));
        seconds.extend(secs(3, 50, 100, 10));
        let series = points(&seconds[..9]);
        let starts: Vec<f64> = (0..10).map(f64::from).collect();
        let mut span = |a: u64, b: u64| SpanStats {
            total: row(&seconds[a as usize..b as usize], (b - a) as f64),
            rows: Vec::new(),
        };
        let mut run = ShapedRun {
            shape: &shape,
            series: &series,
            starts_s: &starts,
            elapsed_s: 9.99,
            ended: true,
        };
        let a = analyse(&run, &[], &mut span);
        assert_eq!((a.stages[1].seconds, a.stages[1].requests), (5, 500));
        assert_eq!(a.steps[0].outcome, Outcome::Recovered { seconds: 2.0 });
        // while the run is live, the part second is not there yet
        run.ended = false;
        let a = analyse(&run, &[], &mut span);
        assert_eq!((a.stages[1].seconds, a.stages[1].requests), (4, 400));
        assert_eq!(a.steps[0].outcome, Outcome::Pending);
    }

    #[test]
    fn a_running_run_has_pending_stages_and_steps() {
        let (shape, seconds) = stress();
        let a = analysed(&shape, &seconds[..12], false, &[]);
        assert!(!a.complete);
        let states: Vec<StageState> = a.stages.iter().map(|s| s.state).collect();
        assert_eq!(
            states,
            [StageState::Closed, StageState::Running, StageState::Pending]
        );
        assert_eq!((a.stages[1].seconds, a.stages[1].requests), (2, 400));
        // 2 seconds of stage 2 are back, the hold needs 3
        assert_eq!(a.steps[0].outcome, Outcome::Pending);
        assert_eq!(a.breaking_point, None);
        // the run ended there: stage 3 was never reached, stage 2 was cut short
        let a = analysed(&shape, &seconds[..12], true, &[]);
        assert!(a.complete);
        assert_eq!(a.stages[1].state, StageState::Closed);
        assert_eq!(a.stages[2].state, StageState::NotReached);
        assert_eq!(a.steps[0].outcome, Outcome::NotRecovered { within_s: 2.0 });
    }

    #[test]
    fn an_arrival_shape_is_judged_on_its_rates() {
        let shape = ShapeKind::Arrival {
            stages: vec![
                ArrivalStage {
                    duration: Duration::from_secs(5),
                    rate: 50.0,
                },
                ArrivalStage {
                    duration: Duration::from_millis(5500),
                    rate: 100.0,
                },
            ],
            max_users: 10,
        };
        let mut seconds = secs(5, 3, 50, 10);
        seconds.extend(secs(6, 6, 60, 10));
        let a = analysed(&shape, &seconds, true, &[]);
        assert_eq!(a.model, LoadModel::Rate);
        assert_eq!(a.stages[1].target, 100.0);
        // 5.5 s: seconds 5..=9 have their middle in [5, 10.5); second 10's is past the end
        assert_eq!((a.stages[1].seconds, a.stages[1].achieved), (5, 6.0));
        // the ramp stage's steady part is its second half (a ramp is never steady)
        assert_eq!(a.stages[1].steady.unwrap().from_s, 8.0);
        let knee = a.breaking_point.unwrap();
        assert_eq!((knee.stage, knee.rps), (2, 60.0));
    }

    #[test]
    fn the_worst_step_decides_recovery_thresholds() {
        let shape = users(&[(10, 10), (10, 50), (10, 10)]);
        let mut seconds = secs(10, 10, 100, 10);
        seconds.extend(secs(4, 50, 100, 300));
        seconds.extend(secs(16, 50, 100, 10));
        let a = analysed(&shape, &seconds, true, &[]);
        let t = |e: &str| parse_threshold(e).unwrap();
        let v = recovery_verdict(&t("recovery < 5s"), Some(&a));
        assert!(v.passed, "{v:?}");
        assert_eq!((v.observed, v.threshold, v.samples), (4000.0, 5000.0, 2));
        assert_eq!(v.observed_text, "4s");
        let v = recovery_verdict(&t("recovery < 4s"), Some(&a));
        assert!(!v.passed);
        assert_eq!(
            v.line(),
            "✗ recovery < 4s (observed 4s on the step to stage 2 (10 → 50 users) at 10s)"
        );
        assert!(recovery_verdict(&t("recovery <= 4s"), Some(&a)).passed);
        // not recovered fails whatever the limit
        let mut s = seconds.clone();
        for x in &mut s[14..20] {
            x.latency_ms = 300;
        }
        let a = analysed(&shape, &s, true, &[]);
        let v = recovery_verdict(&t("recovery < 1h"), Some(&a));
        assert!(!v.passed);
        assert_eq!(v.observed_text, "not recovered within 10s");
        // no step judged (yet): nothing to fail, said so
        let v = recovery_verdict(&t("recovery < 1s"), None);
        assert!(v.passed && v.samples == 0);
        assert_eq!(v.line(), "✓ recovery < 1s (no samples)");
        // with_recovery replaces only the recovery verdicts, in place
        let list = [t("p95 < 1s"), t("recovery < 1h")];
        let snapshot = stage_snapshot(&SpanStats::default(), 1.0);
        let plain: Vec<_> = list
            .iter()
            .map(|t| crate::stats::thresholds::evaluate(t, &snapshot))
            .collect();
        let judged = with_recovery(&list, plain.clone(), Some(&a));
        assert_eq!(judged[0], plain[0]);
        assert!(!judged[1].passed);
    }

    /// A log of seconds 0..n: second s has s + 1 requests of (s + 1) ms on `GET /s`, one failed.
    fn log(n: u64) -> SecondLog {
        use crate::stats::interval::Latencies;
        use crate::stats::seconds::{Second, SecondRow};
        let log = SecondLog::new();
        for s in 0..n {
            let mut h = LatencyHistogram::new();
            for _ in 0..=s {
                h.record((s + 1) * 1000);
            }
            let row = |method: &str, name: &str| SecondRow {
                method: method.into(),
                name: name.into(),
                latencies: Latencies::of(&h),
                corrected: None,
                failures: 1,
            };
            log.push(Second {
                start_s: s,
                secs: 1.0,
                total: row("", "Aggregated"),
                rows: vec![row("GET", "/s")],
            });
        }
        log
    }

    #[test]
    fn spans_merge_exactly_and_a_growing_span_adds_only_its_new_seconds() {
        let log = log(10);
        let mut merger = SpanMerger::default();
        // seconds 2, 3, 4: 3 + 4 + 5 requests at 3, 4, 5 ms
        let s = merger.span(&log, 2, 5, false);
        assert_eq!((s.total.num_requests, s.total.num_failures), (12, 3));
        assert_eq!(
            (s.total.min_ms, s.total.max_ms, s.total.total_rps),
            (3.0, 5.0, 4.0)
        );
        // HDR's 3 significant digits: 4 ms reads 4.001
        assert!(
            (s.total.percentiles.p50 - 4.0).abs() < 0.005,
            "{:?}",
            s.total
        );
        assert!(s.rows.is_empty());
        // the same span grown to 2..8 (as a stage under way): the same as a fresh merge
        let grown = merger.span(&log, 2, 8, true);
        let fresh = SpanMerger::default().span(&log, 2, 8, true);
        assert_eq!(grown, fresh);
        assert_eq!(grown.total.num_requests, 3 + 4 + 5 + 6 + 7 + 8);
        assert_eq!(
            (grown.total.percentiles.p100, grown.total.percentiles.p95),
            (8.0, 8.0)
        );
        // a row's numbers when asked for: the one row, as the aggregate
        assert_eq!(grown.rows.len(), 1);
        assert_eq!(
            (grown.rows[0].method.as_str(), grown.rows[0].name.as_str()),
            ("GET", "/s")
        );
        assert_eq!(grown.rows[0].num_requests, grown.total.num_requests);
        // a shorter span than remembered is merged afresh
        assert_eq!(merger.span(&log, 2, 4, false).total.num_requests, 7);
        // past the end: what there is
        assert_eq!(merger.span(&log, 9, 20, false).total.num_requests, 10);
        assert!(needs_rows(&[parse_threshold("'/s'.p95 < 1s").unwrap()]));
        assert!(!needs_rows(&[
            parse_threshold("p95 < 1s").unwrap(),
            parse_threshold("'/s'.checks > 1%").unwrap()
        ]));
    }

    #[test]
    fn recovery_thresholds_parse_only_as_an_upper_limit_on_the_run() {
        let th = parse_threshold("recovery < 30s").unwrap();
        assert_eq!((th.metric, th.value), (ThresholdMetric::Recovery, 30e6));
        assert_eq!(
            parse_threshold("recovery > 3s").unwrap_err(),
            "expected < or <= after recovery (a limit on the seconds to recover), found \">\""
        );
        assert!(parse_threshold("'/a'.recovery < 3s")
            .unwrap_err()
            .starts_with("expected recovery without a scope"));
        assert!(parse_threshold("recovery < 3%")
            .unwrap_err()
            .starts_with("expected a duration"));
    }
}
