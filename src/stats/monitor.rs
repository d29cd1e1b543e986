//! Monitor series (the target's own metrics read beside a run, `crate::monitor`) as numbers:
//! their summary (first, after the warm-up, last, average, max), their growth over the run and
//! the verdicts of `monitor.…` thresholds. Pure: times are the run's elapsed seconds, given.

use serde::{Deserialize, Serialize};

use super::thresholds::{Unit, Verdict};
use crate::format::{fmt_duration, fmt_monitor, trimmed};
use crate::plan::model::{CompareOp, MonitorStat, Threshold, ThresholdMetric, ThresholdScope};
use crate::plan::monitor::MonitorUnit;

/// One read of a series: seconds since the run's start and the value in the series' unit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorPoint {
    pub t_s: f64,
    pub value: f64,
}

/// Whether a series is read as it is or is the per-second rate of a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    Gauge,
    /// A counter's increase per second between two reads (a reset starts it over).
    Rate,
}

impl SeriesKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SeriesKind::Gauge => "gauge",
            SeriesKind::Rate => "rate",
        }
    }

    pub fn parse(s: &str) -> SeriesKind {
        if s == "rate" {
            SeriesKind::Rate
        } else {
            SeriesKind::Gauge
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorSeries {
    /// `gateway.rss`, `gateway.process_resident_memory_bytes`, `mem`.
    pub name: String,
    pub unit: MonitorUnit,
    pub kind: SeriesKind,
    pub points: Vec<MonitorPoint>,
}

/// A run's monitor series with what judging them needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorData {
    /// Growth is judged from the end of the warm-up (seconds since the start).
    pub warmup_s: f64,
    /// Each end of a growth is the mean of the samples within this many seconds.
    pub window_s: f64,
    pub series: Vec<MonitorSeries>,
}

impl MonitorData {
    pub fn get(&self, name: &str) -> Option<&MonitorSeries> {
        self.series.iter().find(|s| s.name == name)
    }

    pub fn summaries(&self) -> Vec<MonitorSummary> {
        self.series
            .iter()
            .filter_map(|s| summary(s, self.warmup_s, self.window_s))
            .collect()
    }
}

/// A series from the end of the warm-up to the end of the run, against its two ends.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Growth {
    /// Mean of the samples from `base_from_s` to `base_to_s` (the first window after warm-up).
    pub base: f64,
    pub base_from_s: f64,
    pub base_to_s: f64,
    /// Mean of the samples from `end_from_s` to `end_to_s` (the run's last window).
    pub end: f64,
    pub end_from_s: f64,
    pub end_to_s: f64,
    /// (end − base) ÷ base; None when the base is 0.
    pub ratio: Option<f64>,
}

/// One series in a few numbers (the CLI's table, the report, the API).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorSummary {
    pub name: String,
    pub unit: MonitorUnit,
    pub samples: usize,
    pub first: f64,
    /// The first window's mean after the warm-up (the growth's base).
    pub after_warmup: Option<f64>,
    pub last: f64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub growth: Option<Growth>,
}

fn mean(points: &[MonitorPoint]) -> Option<f64> {
    if points.is_empty() {
        None
    } else {
        Some(points.iter().map(|p| p.value).sum::<f64>() / points.len() as f64)
    }
}

/// The growth of `points` (in time order) from `warmup_s` on: the mean of the samples in the
/// first `window_s` seconds after the warm-up against the mean of those in the last `window_s`
/// seconds of the run. None without a sample after the warm-up.
pub fn growth(points: &[MonitorPoint], warmup_s: f64, window_s: f64) -> Option<Growth> {
    let after = &points[points.partition_point(|p| p.t_s < warmup_s)..];
    let first_t = after.first()?.t_s;
    let last_t = after.last()?.t_s;
    let base_pts = &after[..after.partition_point(|p| p.t_s <= first_t + window_s)];
    let end_pts = &after[after.partition_point(|p| p.t_s < last_t - window_s)..];
    let base = mean(base_pts)?;
    let end = mean(end_pts)?;
    Some(Growth {
        base,
        base_from_s: first_t,
        base_to_s: base_pts.last()?.t_s,
        end,
        end_from_s: end_pts.first()?.t_s,
        end_to_s: last_t,
        ratio: (base != 0.0).then(|| (end - base) / base.abs()),
    })
}

pub fn summary(s: &MonitorSeries, warmup_s: f64, window_s: f64) -> Option<MonitorSummary> {
    let first = s.points.first()?.value;
    let last = s.points.last()?.value;
    let growth = growth(&s.points, warmup_s, window_s);
    Some(MonitorSummary {
        name: s.name.clone(),
        unit: s.unit,
        samples: s.points.len(),
        first,
        after_warmup: growth.map(|g| g.base),
        last,
        avg: mean(&s.points)?,
        min: s
            .points
            .iter()
            .map(|p| p.value)
            .fold(f64::INFINITY, f64::min),
        max: s
            .points
            .iter()
            .map(|p| p.value)
            .fold(f64::NEG_INFINITY, f64::max),
        growth,
    })
}

fn unit_of(unit: MonitorUnit) -> Unit {
    match unit {
        MonitorUnit::Bytes => Unit::Bytes,
        MonitorUnit::Percent => Unit::Percent,
        MonitorUnit::PerSecond => Unit::PerSecond,
        MonitorUnit::Count => Unit::Count,
    }
}

/// Replaces the verdicts of `monitor.…` thresholds (judged on no row by
/// `thresholds::evaluate`) by their verdicts on `data`: the run's series so far, or all of them
/// at the end.
pub fn judge_all(thresholds: &[Threshold], verdicts: &mut [Verdict], data: &MonitorData) {
    for (t, v) in thresholds.iter().zip(verdicts.iter_mut()) {
        if let Some(judged) = judge(t, data) {
            *v = judged;
        }
    }
}

/// A `monitor.…` threshold's verdict on `data`; None for other thresholds. A series without
/// samples (its monitor could not be read, or nothing after the warm-up) fails and says "no
/// samples".
pub fn judge(t: &Threshold, data: &MonitorData) -> Option<Verdict> {
    let (ThresholdScope::Monitor(name), ThresholdMetric::Monitor(stat)) = (&t.scope, t.metric)
    else {
        return None;
    };
    let series = data.get(name);
    let series_unit = series.map_or(MonitorUnit::Count, |s| s.unit);
    let summary = series.and_then(|s| summary(s, data.warmup_s, data.window_s));
    let samples = summary.as_ref().map_or(0, |s| s.samples as u64);
    let (observed, unit, text) = match (&summary, stat) {
        (None, _) => (0.0, unit_of(series_unit), "no samples".to_string()),
        (Some(s), MonitorStat::Growth) => match s.growth {
            Some(g) => {
                let ratio = g.ratio.unwrap_or(0.0);
                let text = format!(
                    "{}% from {} (mean {}–{}) to {} (mean {}–{}), after a {} warm-up",
                    signed(ratio * 100.0),
                    fmt_monitor(g.base, series_unit),
                    fmt_duration(g.base_from_s),
                    fmt_duration(g.base_to_s),
                    fmt_monitor(g.end, series_unit),
                    fmt_duration(g.end_from_s),
                    fmt_duration(g.end_to_s),
                    fmt_duration(data.warmup_s),
                );
                (ratio, Unit::Ratio, text)
            }
            None => (
                0.0,
                Unit::Ratio,
                format!(
                    "no sample after the {} warm-up",
                    fmt_duration(data.warmup_s)
                ),
            ),
        },
        (Some(s), other) => {
            let v = match other {
                MonitorStat::Avg => s.avg,
                MonitorStat::Min => s.min,
                MonitorStat::Max => s.max,
                MonitorStat::Last | MonitorStat::Growth => s.last,
            };
            (v, unit_of(series_unit), fmt_monitor(v, series_unit))
        }
    };
    let samples = if text.starts_with("no sample") {
        0
    } else {
        samples
    };
    Some(Verdict {
        expression: t.source.clone(),
        // Unlike a request row, a monitor without reads is not judged on 0: a soak whose
        // gauge could not be read (or whose warm-up outlasted the run) has no verdict to give,
        // and a silent pass would read as "no leak".
        passed: samples > 0 && compare(observed, t.op, t.value),
        observed,
        observed_text: text,
        threshold: t.value,
        unit,
        samples,
        row: None,
        abort_on_fail: false,
        stopped_run_at_s: None,
        window: None,
    })
}

fn signed(pct: f64) -> String {
    let s = trimmed(pct, 1);
    if pct > 0.0 && s != "0" {
        format!("+{s}")
    } else {
        s
    }
}

fn compare(observed: f64, op: CompareOp, threshold: f64) -> bool {
    match op {
        CompareOp::Lt => observed < threshold,
        CompareOp::Le => observed <= threshold,
        CompareOp::Gt => observed > threshold,
        CompareOp::Ge => observed >= threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::parse_threshold;

    fn series(name: &str, unit: MonitorUnit, values: &[(f64, f64)]) -> MonitorSeries {
        MonitorSeries {
            name: name.into(),
            unit,
            kind: SeriesKind::Gauge,
            points: values
                .iter()
                .map(|&(t_s, value)| MonitorPoint { t_s, value })
                .collect(),
        }
    }

    #[test]
    fn growth_compares_the_window_after_warmup_with_the_last_one() {
        // 100 until 2 s (warm-up), then +10 a second: 100 110 ... 180 at 2..=10 s
        let mut pts: Vec<(f64, f64)> = vec![(0.0, 50.0), (1.0, 80.0)];
        pts.extend((2..=10).map(|t| (t as f64, 100.0 + 10.0 * (t - 2) as f64)));
        let s = series("gw.rss", MonitorUnit::Bytes, &pts);
        let g = growth(&s.points, 2.0, 2.0).unwrap();
        // base: 2,3,4 s → 100,110,120 → 110; end: 8,9,10 s → 160,170,180 → 170
        assert_eq!((g.base, g.base_from_s, g.base_to_s), (110.0, 2.0, 4.0));
        assert_eq!((g.end, g.end_from_s, g.end_to_s), (170.0, 8.0, 10.0));
        assert!((g.ratio.unwrap() - 60.0 / 110.0).abs() < 1e-12);
        let sum = summary(&s, 2.0, 2.0).unwrap();
        assert_eq!(
            (sum.first, sum.last, sum.max, sum.min),
            (50.0, 180.0, 180.0, 50.0)
        );
        assert_eq!(sum.after_warmup, Some(110.0));
        assert_eq!(sum.samples, 11);
        assert!(
            growth(&s.points, 11.0, 2.0).is_none(),
            "nothing after the warm-up"
        );
        let zero = series("z", MonitorUnit::Count, &[(0.0, 0.0), (1.0, 5.0)]);
        assert_eq!(growth(&zero.points, 0.0, 0.5).unwrap().ratio, None);
    }

    #[test]
    fn monitor_thresholds_state_both_ends() {
        let pts: Vec<(f64, f64)> = (0..=10)
            .map(|t| (t as f64, (100 + 10 * t) as f64 * 1048576.0))
            .collect();
        let data = MonitorData {
            warmup_s: 2.0,
            window_s: 2.0,
            series: vec![
                series("gw.rss", MonitorUnit::Bytes, &pts),
                series("gw.cpu", MonitorUnit::Percent, &[(1.0, 50.0), (2.0, 70.0)]),
            ],
        };
        let v = judge(
            &parse_threshold("monitor.gw.rss.growth < 10%").unwrap(),
            &data,
        )
        .unwrap();
        assert!(!v.passed);
        assert_eq!(
            v.observed_text,
            "+46.2% from 130 MiB (mean 2s–4s) to 190 MiB (mean 8s–10s), after a 2s warm-up"
        );
        assert_eq!(v.unit, Unit::Ratio);
        let v = judge(
            &parse_threshold("monitor.gw.rss.max < 2GiB").unwrap(),
            &data,
        )
        .unwrap();
        assert!(v.passed);
        assert_eq!(v.observed_text, "200 MiB");
        let v = judge(&parse_threshold("monitor.gw.cpu.avg < 55%").unwrap(), &data).unwrap();
        assert!(!v.passed);
        assert_eq!((v.observed, v.observed_text.as_str()), (60.0, "60%"));
        let v = judge(
            &parse_threshold("monitor.gone.rss.max < 1GiB").unwrap(),
            &data,
        )
        .unwrap();
        assert!(
            !v.passed,
            "a monitor without reads is no proof of a steady target"
        );
        assert_eq!((v.samples, v.observed_phrase().as_str()), (0, "no samples"));
        assert!(judge(&parse_threshold("p95 < 1s").unwrap(), &data).is_none());
    }
}
