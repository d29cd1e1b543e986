//! A shaped run's stage analysis for people: the per-stage table, the recovery of each step
//! and the breaking point as text — one [`StageView`] for the run page, live and stored, and
//! the HTML report (`templates/partials/stages.html`), and [`stages_table`] for the terminal.
//! The numbers come from `stats::stages`; their text from `crate::format`.

use super::table::{Align, Table};
use crate::format::{fmt_change_pct, fmt_duration, fmt_ms, fmt_pct, fmt_rps, trimmed};
use crate::stats::stages::{
    self, KneeReason, LoadModel, Outcome, Recovery, StageAnalysis, StageRow, StageState,
};

/// One stage, formatted.
#[derive(Clone, Debug, PartialEq)]
pub struct StageLine {
    pub index: u32,
    /// `30s–1m 30s`
    pub span: String,
    /// `50 users`, `20/s`
    pub target: String,
    /// `closed`, `running`, `pending`, `not reached`
    pub state: &'static str,
    /// The same as a CSS class: `not-reached`.
    pub state_class: &'static str,
    /// Users running (closed model) or in flight (open model), on average.
    pub achieved: String,
    pub requests: u64,
    pub rps: String,
    pub p50: String,
    pub p95: String,
    pub p99: String,
    pub errors: String,
    /// Whether this stage is the breaking point.
    pub knee: bool,
}

/// One step's recovery, formatted.
#[derive(Clone, Debug, PartialEq)]
pub struct StepLine {
    /// `the step to stage 2 (10 → 50) at 30s`
    pub step: String,
    /// `recovered in 4s`, `not recovered within 20s`, `recovering…`, `no baseline ...`
    pub outcome: String,
    /// `recovered`, `not-recovered`, `pending` (a CSS class).
    pub status: &'static str,
    /// `p95 ≤ 15 ms, errors ≤ 1.00%`
    pub band: String,
}

/// The stage analysis as the pages and the report show it.
#[derive(Clone, Debug, PartialEq)]
pub struct StageView {
    /// `Users` or `Rate`, and the achieved column's head.
    pub target_head: &'static str,
    pub achieved_head: &'static str,
    pub stages: Vec<StageLine>,
    pub steps: Vec<StepLine>,
    /// `stage 3: 40 users, 210.00 req/s — RPS +5.0% while users +100.0%`, or "none ...".
    pub breaking_point: String,
    pub broke: bool,
    /// How recovery and the knee are judged, in one sentence.
    pub rules: String,
    /// Not every stage is over: the numbers are so far.
    pub so_far: bool,
}

impl StageView {
    pub fn new(a: &StageAnalysis) -> StageView {
        let knee_stage = a.breaking_point.as_ref().map(|k| k.stage);
        StageView {
            target_head: match a.model {
                LoadModel::Users => "Users",
                LoadModel::Rate => "Rate",
            },
            achieved_head: match a.model {
                LoadModel::Users => "Running",
                LoadModel::Rate => "In flight",
            },
            stages: a
                .stages
                .iter()
                .map(|s| stage_line(a.model, s, knee_stage == Some(s.index)))
                .collect(),
            steps: a.steps.iter().map(|s| step_line(a.model, s)).collect(),
            breaking_point: breaking_point_text(a),
            broke: a.breaking_point.is_some(),
            rules: rules(),
            so_far: !a.complete,
        }
    }
}

fn target_text(model: LoadModel, v: f64) -> String {
    match model {
        LoadModel::Users if v == 1.0 => "1 user".to_string(),
        LoadModel::Users => format!("{} users", trimmed(v, 0)),
        LoadModel::Rate => format!("{}/s", trimmed(v, 2)),
    }
}

fn stage_line(model: LoadModel, s: &StageRow, knee: bool) -> StageLine {
    let none = s.requests == 0;
    let ms = |v: f64| if none { "—".to_string() } else { fmt_ms(v) };
    StageLine {
        index: s.index,
        span: format!("{}–{}", fmt_duration(s.from_s), fmt_duration(s.to_s)),
        target: target_text(model, s.target),
        state: match s.state {
            StageState::Pending => "pending",
            StageState::Running => "running",
            StageState::Closed => "closed",
            StageState::NotReached => "not reached",
        },
        state_class: match s.state {
            StageState::Pending => "pending",
            StageState::Running => "running",
            StageState::Closed => "closed",
            StageState::NotReached => "not-reached",
        },
        achieved: if s.seconds == 0 {
            "—".to_string()
        } else {
            trimmed(s.achieved, 1)
        },
        requests: s.requests,
        rps: fmt_rps(s.rps),
        p50: ms(s.p50_ms),
        p95: ms(s.p95_ms),
        p99: ms(s.p99_ms),
        errors: fmt_pct(s.error_rate),
        knee,
    }
}

fn step_line(model: LoadModel, s: &Recovery) -> StepLine {
    let (outcome, status) = match s.outcome {
        Outcome::Recovered { seconds } => (
            format!("recovered in {}", fmt_duration(seconds)),
            "recovered",
        ),
        Outcome::NotRecovered { within_s } => (
            format!("not recovered within {}", fmt_duration(within_s)),
            "not-recovered",
        ),
        Outcome::Pending => ("recovering…".to_string(), "pending"),
        Outcome::NoBaseline => (
            format!(
                "no baseline: stage {} had no request after its first seconds",
                s.stage - 1
            ),
            "pending",
        ),
    };
    StepLine {
        step: stages::step_label(s, model),
        outcome,
        status,
        band: if s.outcome == Outcome::NoBaseline {
            String::new()
        } else {
            format!(
                "band: p95 ≤ {} ms, errors ≤ {}",
                fmt_ms(s.band_p95_ms),
                fmt_pct(s.band_error_rate)
            )
        },
    }
}

fn breaking_point_text(a: &StageAnalysis) -> String {
    let Some(k) = &a.breaking_point else {
        return if a.complete {
            "no breaking point within the shape".to_string()
        } else {
            "no breaking point so far".to_string()
        };
    };
    let load = match a.model {
        LoadModel::Users => "users",
        LoadModel::Rate => "rate",
    };
    let why = match &k.reason {
        KneeReason::Threshold {
            expression,
            observed,
        } => format!("{expression} failed on the stage ({observed})"),
        KneeReason::RpsFlat {
            load_growth,
            rps_growth,
        } => format!(
            "RPS {} while {load} {}",
            fmt_change_pct(rps_growth * 100.0),
            fmt_change_pct(load_growth * 100.0)
        ),
    };
    format!(
        "stage {}: {}, {} req/s — {why}",
        k.stage,
        target_text(a.model, k.target),
        fmt_rps(k.rps)
    )
}

/// The rules of recovery and of the knee, from `stats::stages`' constants.
pub fn rules() -> String {
    format!(
        "Recovery: seconds from a step until p95 is within +{}% or +{} ms (whichever is larger) \
         of the previous stage's steady p95 and the error rate within +{} pp, for {} s in a row; \
         steady = a stage without its first {} s and its ramp. Breaking point: the first stage \
         where a threshold fails on its own numbers, or where the target grows ≥ {}% and the \
         steady RPS by less than {}% of that.",
        trimmed(stages::BAND_P95_RATIO * 100.0, 0),
        trimmed(stages::BAND_P95_MIN_MS, 0),
        trimmed(stages::BAND_ERROR_POINTS * 100.0, 0),
        stages::HOLD_S,
        trimmed(stages::SETTLE_S, 0),
        trimmed(stages::KNEE_LOAD_GROWTH * 100.0, 0),
        trimmed(stages::KNEE_RPS_SHARE * 100.0, 0),
    )
}

/// The stage table, the steps and the breaking point for the terminal (`hornet run`).
pub fn stages_table(a: &StageAnalysis) -> String {
    let v = StageView::new(a);
    let mut out = String::from("Stages\n");
    let mut t = Table::new(&[
        ("#", Align::Left, false),
        ("Span", Align::Left, false),
        (v.target_head, Align::Left, false),
        (v.achieved_head, Align::Right, false),
        ("# reqs", Align::Right, true),
        ("req/s", Align::Right, false),
        ("p50", Align::Right, true),
        ("p95", Align::Right, false),
        ("p99", Align::Right, false),
        ("errors", Align::Right, true),
    ]);
    for s in &v.stages {
        t.row(vec![
            if s.knee {
                format!("{}*", s.index)
            } else {
                s.index.to_string()
            },
            s.span.clone(),
            s.target.clone(),
            s.achieved.clone(),
            s.requests.to_string(),
            s.rps.clone(),
            s.p50.clone(),
            s.p95.clone(),
            s.p99.clone(),
            s.errors.clone(),
        ]);
    }
    t.render(&mut out);
    for s in &v.steps {
        out.push_str(&format!("  {}: {}", s.step, s.outcome));
        if !s.band.is_empty() {
            out.push_str(&format!(" ({})", s.band));
        }
        out.push('\n');
    }
    out.push_str(&format!("  Breaking point: {}\n\n", v.breaking_point));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::stages::{Knee, Steady};

    fn row(index: u32, target: f64, requests: u64, rps: f64, p95: f64) -> StageRow {
        StageRow {
            index,
            from_s: f64::from(index - 1) * 30.0,
            to_s: f64::from(index) * 30.0,
            target,
            state: StageState::Closed,
            seconds: 30,
            achieved: target,
            requests,
            failures: 0,
            rps,
            p50_ms: p95 / 2.0,
            p95_ms: p95,
            p99_ms: p95 * 1.5,
            error_rate: 0.0,
            steady: Some(Steady {
                from_s: 0.0,
                requests,
                rps,
                p95_ms: p95,
                error_rate: 0.0,
            }),
        }
    }

    fn analysis() -> StageAnalysis {
        StageAnalysis {
            model: LoadModel::Users,
            stages: vec![
                row(1, 10.0, 3000, 100.0, 10.0),
                row(2, 40.0, 3150, 105.0, 250.0),
            ],
            steps: vec![Recovery {
                stage: 2,
                at_s: 30.0,
                from_target: 10.0,
                to_target: 40.0,
                baseline_p95_ms: 10.0,
                baseline_error_rate: 0.0,
                band_p95_ms: 15.0,
                band_error_rate: 0.01,
                outcome: Outcome::NotRecovered { within_s: 30.0 },
            }],
            breaking_point: Some(Knee {
                stage: 2,
                target: 40.0,
                achieved: 40.0,
                rps: 105.0,
                reason: KneeReason::RpsFlat {
                    load_growth: 3.0,
                    rps_growth: 0.05,
                },
            }),
            complete: true,
        }
    }

    #[test]
    fn the_terminal_table_marks_the_knee_and_says_each_step() {
        let text = stages_table(&analysis());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Stages");
        assert!(
            lines[1].starts_with("#  Span       Users    Running |"),
            "{text}"
        );
        assert!(
            lines[3].starts_with("1  0s–30s     10 users      10 |   3000 100.00 |"),
            "{text}"
        );
        assert!(
            lines[4].starts_with("2* 30s–1m 00s 40 users      40 |"),
            "{text}"
        );
        assert!(
            lines[4].contains("105.00") && lines[4].contains("250"),
            "{text}"
        );
        assert!(
            text.contains(
                "  the step to stage 2 (10 → 40 users) at 30s: not recovered within 30s (band: \
                 p95 ≤ 15.0 ms, errors ≤ 1.00%)"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "  Breaking point: stage 2: 40 users, 105.00 req/s — RPS +5.0% while users +300.0%"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_view_says_what_is_so_far() {
        let mut a = analysis();
        a.breaking_point = None;
        a.complete = false;
        a.stages[1].state = StageState::Running;
        a.steps[0].outcome = Outcome::Pending;
        let v = StageView::new(&a);
        assert!(v.so_far && !v.broke);
        assert_eq!(v.breaking_point, "no breaking point so far");
        assert_eq!(v.stages[1].state, "running");
        assert_eq!(
            (v.steps[0].outcome.as_str(), v.steps[0].status),
            ("recovering…", "pending")
        );
        a.complete = true;
        assert_eq!(
            StageView::new(&a).breaking_point,
            "no breaking point within the shape"
        );
        a.model = LoadModel::Rate;
        let v = StageView::new(&a);
        assert_eq!(
            (v.target_head, v.stages[0].target.as_str()),
            ("Rate", "10/s")
        );
        assert!(v.rules.contains("+20% or +5 ms"), "{}", v.rules);
    }
}
