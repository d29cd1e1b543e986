//! Thresholds: `[SCOPE.]METRIC[WINDOW] OP VALUE` expressions as plans, `--threshold` and the API give
//! them, and the check that their scope names a row the plan records.

use std::time::Duration;

use toml::de::DeValue;

use super::{field, list, Validator};
use crate::plan::duration::parse_duration;
use crate::plan::model::*;
use crate::plan::parse::{suggest, Val};

const THRESHOLD_KEYS: &[&str] = &["expr", "abort_on_fail", "delay"];
const KIND_SCOPES: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "SSE", "WS", "RPC", "FANOUT",
];
pub(super) const METRIC_EXPECTED: &str =
    "a metric: p50, p66, p75, p80, p90, p95, p98, p99, p99.9, p99.99, p100, avg, min, max, \
     error_rate, rps, checks, loss, drop, delivery or recovery";

/// Parses a threshold such as `p95 < 300ms`, `error_rate < 1%`, `'/tools/[id]'.p99 < 500ms` or,
/// judged on every 30-second window, `p95[30s] < 500ms` (as `--threshold` takes it). The error reads "expected ..., found ...".
pub fn parse_threshold(expr: &str) -> Result<Threshold, String> {
    threshold_parts(expr).map_err(|(_, e, f)| format!("expected {e}, found {f}"))
}

impl Validator<'_, '_> {
    /// `has_shapes`: a `recovery` threshold needs a shape to have steps.
    pub(super) fn thresholds(&mut self, v: &Val<'_>, has_shapes: bool) -> Vec<Threshold> {
        let expected = "thresholds: an array of strings such as \"p95 < 300ms\"";
        let Some(items) = self.array(v, expected) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let (expr_val, abort_on_fail, delay) = match item.get_ref() {
                DeValue::String(_) => (item, false, None),
                DeValue::Table(t) => {
                    self.keys(t, THRESHOLD_KEYS, THRESHOLD_KEYS, "keys of a threshold");
                    let Some(e) =
                        self.required(t, item, "expr", "the threshold, e.g. \"p95 < 300ms\"")
                    else {
                        continue;
                    };
                    let abort = field(t, "abort_on_fail")
                        .and_then(|(_, a)| self.boolean(a, "abort_on_fail"))
                        .unwrap_or(false);
                    let delay = field(t, "delay").and_then(|(_, d)| self.duration(d, false));
                    (e, abort, delay)
                }
                _ => {
                    self.wrong(
                        item,
                        "a threshold: a string or { expr, abort_on_fail, delay }",
                    );
                    continue;
                }
            };
            let Some(expr) = self.string(expr_val, "a threshold such as \"p95 < 300ms\"") else {
                continue;
            };
            match threshold_parts(expr) {
                Ok(th) if th.metric == ThresholdMetric::Recovery && !has_shapes => {
                    let at = self.src.offset_in_string(&expr_val.span(), expr, 0);
                    self.err(
                        at,
                        "a plan with [shapes.NAME] for recovery (it is judged on a shape's steps)"
                            .to_string(),
                        format!("{expr:?} in a plan without shapes"),
                    );
                }
                Ok(mut th) => {
                    if let Some((e, f)) = self.monitor_problem(&th, abort_on_fail) {
                        let at = self.src.offset_in_string(&expr_val.span(), expr, 0);
                        self.err(at, e, f);
                        continue;
                    }
                    if let Some((e, f)) = scope_problem(&self.names, &th.scope) {
                        let word = match &th.scope {
                            ThresholdScope::Name(n) | ThresholdScope::Kind(n) => n.as_str(),
                            ThresholdScope::Aggregate | ThresholdScope::Monitor(_) => "",
                        };
                        let index = expr.find(word).unwrap_or(0);
                        let at = self.src.offset_in_string(&expr_val.span(), expr, index);
                        self.err(at, e, f);
                        continue;
                    }
                    th.abort_on_fail = abort_on_fail;
                    th.delay = delay;
                    out.push(th);
                }
                Err((index, e, f)) => {
                    let at = self.src.offset_in_string(&expr_val.span(), expr, index);
                    self.err(at, e, f);
                }
            }
        }
        out
    }
}

/// Whether the plan can produce a row the threshold's scope names: a `'name'` scope must be
/// one of the plan's statistics names and a `KIND.` scope one of their kinds. A scope that
/// matches no row would be judged on zero samples and pass (k6 #1526), so it is refused. The
/// CLI's `--threshold` and the API's `thresholds` call this after parsing; the error reads
/// "expected ..., found ...".
pub fn check_threshold_scope(plan: &Plan, threshold: &Threshold) -> Result<(), String> {
    if let ThresholdScope::Monitor(series) = &threshold.scope {
        return check_monitor_series(plan.monitor.as_ref(), series);
    }
    match scope_problem(&plan.names, &threshold.scope) {
        None => Ok(()),
        Some((e, f)) => Err(format!("expected {e}, found {f}")),
    }
}

/// Whether `monitor` gives the series `series` (a `monitor.…` threshold's); the error reads
/// "expected ..., found ...".
pub fn check_monitor_series(
    monitor: Option<&crate::plan::monitor::Monitor>,
    series: &str,
) -> Result<(), String> {
    let known = monitor.map(|m| m.series_names());
    match monitor_series_problem(known.as_deref(), series) {
        None => Ok(()),
        Some((e, f)) => Err(format!("expected {e}, found {f}")),
    }
}

fn scope_problem(names: &[RequestName], scope: &ThresholdScope) -> Option<(String, String)> {
    const SHOWN: usize = 12;
    let shown = |items: &[&str], quote: bool| -> String {
        let q = |s: &&str| {
            if quote {
                format!("'{s}'")
            } else {
                s.to_string()
            }
        };
        let mut text: Vec<String> = items.iter().take(SHOWN).map(q).collect();
        if items.len() > SHOWN {
            text.push("…".to_string());
        }
        text.join(", ")
    };
    match scope {
        ThresholdScope::Aggregate | ThresholdScope::Monitor(_) => None,
        ThresholdScope::Name(name) => {
            let mut known: Vec<&str> = Vec::new();
            for n in names {
                if !known.contains(&n.name.as_str()) {
                    known.push(&n.name);
                }
            }
            if known.contains(&name.as_str()) {
                return None;
            }
            let expected = if known.is_empty() {
                "a name this plan records (it records none)".to_string()
            } else {
                format!("a name this plan records ({})", shown(&known, true))
            };
            let hint = suggest(name, &known)
                .or_else(|| {
                    // Paths differ from typos: a name that only differs in case or a trailing
                    // slash is also a likely meaning.
                    let norm = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
                    known.iter().copied().find(|k| norm(k) == norm(name))
                })
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            Some((expected, format!("'{name}'{hint}")))
        }
        ThresholdScope::Kind(kind) => {
            let mut known: Vec<&str> = Vec::new();
            for n in names {
                if !known.contains(&n.kind.as_str()) {
                    known.push(&n.kind);
                }
            }
            if known.iter().any(|k| k.eq_ignore_ascii_case(kind)) {
                return None;
            }
            let hint = if kind == "RPC" {
                " (rpc steps record under POST)"
            } else {
                ""
            };
            Some((
                format!(
                    "a request kind this plan records ({})",
                    shown(&known, false)
                ),
                format!("{kind:?}{hint}"),
            ))
        }
    }
}

impl Validator<'_, '_> {
    /// A `monitor.…` threshold on a series the plan's `[monitor]` does not give, or with
    /// `abort_on_fail` (monitor thresholds are judged once, at the end).
    fn monitor_problem(&self, th: &Threshold, abort_on_fail: bool) -> Option<(String, String)> {
        let ThresholdScope::Monitor(series) = &th.scope else {
            return None;
        };
        if abort_on_fail {
            return Some((
                "no abort_on_fail on a monitor threshold (it is judged at the end of the run)"
                    .to_string(),
                "abort_on_fail = true".to_string(),
            ));
        }
        if self.monitor_failed {
            return None;
        }
        monitor_series_problem(self.monitor_series.as_deref(), series)
    }
}

/// A series no `[monitor]` source gives, with the ones it does.
fn monitor_series_problem(known: Option<&[String]>, series: &str) -> Option<(String, String)> {
    let known = known.unwrap_or(&[]);
    if known.iter().any(|k| k == series) {
        return None;
    }
    let expected = if known.is_empty() {
        "a series of the plan's [monitor] (it has none)".to_string()
    } else {
        format!("a series of the plan's [monitor] ({})", known.join(", "))
    };
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    let hint = suggest(series, &names)
        .map(|s| format!(" (did you mean {s:?}?)"))
        .unwrap_or_default();
    Some((expected, format!("{series:?}{hint}")))
}

const MONITOR_PREFIX: &str = "monitor.";
const MONITOR_STAT_EXPECTED: &str =
    "monitor.SERIES.STAT with a stat: growth, avg, min, max or last";

/// `monitor.SERIES.STAT OP VALUE`, e.g. `monitor.gateway.rss.growth < 10%`,
/// `monitor.gateway.cpu.avg < 80%`, `monitor.gateway.rss.max < 2GiB`.
fn monitor_threshold_parts(expr: &str) -> Result<Threshold, Failure> {
    let start = skip_ws(expr, 0) + MONITOR_PREFIX.len();
    let end = expr[start..]
        .find(|c: char| c.is_whitespace() || "<>=!".contains(c))
        .map_or(expr.len(), |n| start + n);
    let path = &expr[start..end];
    let (series, stat) = match path.rsplit_once('.') {
        Some((series, stat)) if !series.is_empty() => (series, stat),
        _ => return Err((start, MONITOR_STAT_EXPECTED.to_string(), found_text(path))),
    };
    let stat_at = start + series.len() + 1;
    let stat = MonitorStat::parse(stat)
        .ok_or_else(|| (stat_at, MONITOR_STAT_EXPECTED.to_string(), found_text(stat)))?;
    let (op, value_start) = threshold_op(expr, skip_ws(expr, end))?;
    let value_text = expr[value_start..].trim_end();
    let value = monitor_value(stat, value_text).ok_or_else(|| {
        let expected = if stat == MonitorStat::Growth {
            "a growth in percent, such as 10%"
        } else {
            "a value such as 2GiB, 512MiB, 80% or 1500"
        };
        (value_start, expected.to_string(), found_text(value_text))
    })?;
    Ok(Threshold {
        source: expr.trim().to_string(),
        scope: ThresholdScope::Monitor(series.to_string()),
        metric: ThresholdMetric::Monitor(stat),
        op,
        value,
        abort_on_fail: false,
        delay: None,
        window: None,
    })
}

/// A monitor threshold's value in its series' unit: a size in bytes (`2GiB`, `512MiB`, `64KiB`,
/// `100B`, decimal `MB`/`GB` too), a percentage as percent (`80%` is 80: CPU series are in
/// percent) except for `growth`, where it is a fraction (`10%` is 0.1), a rate (`100/s`) or a
/// plain number.
fn monitor_value(stat: MonitorStat, text: &str) -> Option<f64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().ok().filter(|n: &f64| n.is_finite())?;
    let unit = unit.trim();
    if stat == MonitorStat::Growth {
        return match unit {
            "%" => Some(n / 100.0),
            _ => None,
        };
    }
    let scale = match unit {
        "" | "%" | "/s" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        _ => return None,
    };
    Some(n * scale)
}

/// What went wrong in a threshold: the byte index in the expression, expected, found.
type Failure = (usize, String, String);

/// `[SCOPE.]METRIC OP VALUE`; the error carries the byte index in `expr` where it went wrong.
fn threshold_parts(expr: &str) -> Result<Threshold, Failure> {
    if expr.trim_start().starts_with(MONITOR_PREFIX) {
        return monitor_threshold_parts(expr);
    }
    let (scope, metric_start) = threshold_scope(expr, skip_ws(expr, 0))?;
    let metric_end = expr[metric_start..]
        .find(|c: char| c.is_whitespace() || "<>=!".contains(c))
        .map_or(expr.len(), |n| metric_start + n);
    let (name_end, window) = threshold_window(expr, metric_start, metric_end)?;
    let metric_text = &expr[metric_start..name_end];
    let metric = parse_metric(metric_text).ok_or_else(|| {
        (
            metric_start,
            METRIC_EXPECTED.to_string(),
            found_text(metric_text),
        )
    })?;
    if window.is_some() && !metric.from_request_counts() {
        return Err((
            metric_start,
            WINDOW_METRIC_EXPECTED.to_string(),
            found_text(metric_text),
        ));
    }
    let (op, value_start) = threshold_op(expr, skip_ws(expr, metric_end))?;
    if metric == ThresholdMetric::Recovery {
        recovery_form(&scope, op, skip_ws(expr, 0), skip_ws(expr, metric_end))?;
    }
    let value = threshold_value(metric, expr[value_start..].trim_end(), value_start)?;
    Ok(Threshold {
        source: expr.trim().to_string(),
        scope,
        metric,
        op,
        value,
        abort_on_fail: false,
        delay: None,
        window,
    })
}

const WINDOW_METRIC_EXPECTED: &str =
    "a metric a window can judge: p50 ... p100, avg, min, max, error_rate or rps";
/// The longest window (a day: a soak's longest stretch worth judging as one).
const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The window of a metric written `p95[30s]` between bytes `start` and `end`: where the
/// metric's name ends and the window, whole seconds from 1 s to a day.
fn threshold_window(
    expr: &str,
    start: usize,
    end: usize,
) -> Result<(usize, Option<Duration>), Failure> {
    let Some(open) = expr[start..end].find('[').map(|i| start + i) else {
        return Ok((end, None));
    };
    let Some(close) = expr[open..end].find(']').map(|i| open + i) else {
        return Err((
            open,
            "a window closed by ], e.g. p95[30s] < 500ms".to_string(),
            found_text(&expr[open..end]),
        ));
    };
    if close + 1 != end {
        return Err((
            close + 1,
            "a comparison after the window, e.g. p95[30s] < 500ms".to_string(),
            found_text(&expr[close + 1..end]),
        ));
    }
    let text = &expr[open + 1..close];
    match parse_duration(text) {
        Ok(d) if d.subsec_nanos() == 0 && d >= Duration::from_secs(1) && d <= MAX_WINDOW => {
            Ok((open, Some(d)))
        }
        _ => Err((
            open + 1,
            "a window of whole seconds from 1s to 24h, such as 30s or 1m".to_string(),
            found_text(text),
        )),
    }
}

/// The first non-space byte of `expr` at or after `i`.
fn skip_ws(expr: &str, i: usize) -> usize {
    expr[i..]
        .find(|c: char| !c.is_whitespace())
        .map_or(expr.len(), |n| i + n)
}

/// The scope starting at `i` (`'name'.`, `KIND.` or none) and where the metric starts.
fn threshold_scope(expr: &str, i: usize) -> Result<(ThresholdScope, usize), Failure> {
    if let Some(q) = expr[i..].chars().next().filter(|c| *c == '\'' || *c == '"') {
        let close = expr[i + 1..].find(q).ok_or_else(|| {
            (
                i,
                format!("a name closed by {q}, e.g. '/tools/[id]'.p99 < 500ms"),
                "an unterminated name".to_string(),
            )
        })?;
        let name = &expr[i + 1..i + 1 + close];
        let i = i + 1 + close + 1;
        if !expr[i..].starts_with('.') {
            return Err((
                i,
                "'.' and a metric after the quoted name, e.g. 'name'.p95".to_string(),
                found_text(&expr[i..]),
            ));
        }
        return Ok((ThresholdScope::Name(name.to_string()), i + 1));
    }
    let word_end = expr[i..]
        .find(|c: char| c.is_whitespace() || "<>=!".contains(c))
        .map_or(expr.len(), |n| i + n);
    let word = &expr[i..word_end];
    match word.split_once('.') {
        Some((head, _))
            if !head.is_empty()
                && head.chars().all(|c| c.is_ascii_alphabetic())
                && parse_metric(head).is_none() =>
        {
            if !KIND_SCOPES.contains(&head) {
                return Err((
                    i,
                    format!(
                        "a request kind in upper case ({}) or a 'quoted name'",
                        list(KIND_SCOPES)
                    ),
                    format!("{head:?}"),
                ));
            }
            Ok((ThresholdScope::Kind(head.to_string()), i + head.len() + 1))
        }
        _ => Ok((ThresholdScope::Aggregate, i)),
    }
}

/// `recovery` is the whole run's worst step, and only an upper limit makes sense.
fn recovery_form(
    scope: &ThresholdScope,
    op: CompareOp,
    scope_start: usize,
    op_start: usize,
) -> Result<(), Failure> {
    if *scope != ThresholdScope::Aggregate {
        return Err((
            scope_start,
            "recovery without a scope (it is the worst step of the shape), e.g. recovery < 30s"
                .to_string(),
            "a scoped recovery".to_string(),
        ));
    }
    if matches!(op, CompareOp::Gt | CompareOp::Ge) {
        return Err((
            op_start,
            "< or <= after recovery (a limit on the seconds to recover)".to_string(),
            if op == CompareOp::Gt {
                "\">\""
            } else {
                "\">=\""
            }
            .to_string(),
        ));
    }
    Ok(())
}

/// The comparison at `i` and where the value after it starts.
fn threshold_op(expr: &str, i: usize) -> Result<(CompareOp, usize), Failure> {
    let rest = &expr[i..];
    let (op, len) = if rest.starts_with("<=") {
        (CompareOp::Le, 2)
    } else if rest.starts_with(">=") {
        (CompareOp::Ge, 2)
    } else if rest.starts_with('<') {
        (CompareOp::Lt, 1)
    } else if rest.starts_with('>') {
        (CompareOp::Gt, 1)
    } else {
        return Err((
            i,
            "a comparison: <, <=, > or >=".to_string(),
            found_text(rest),
        ));
    };
    Ok((op, skip_ws(expr, i + len)))
}

/// The value `value_text` (at byte `i`) in the metric's unit: µs, a fraction or a rate.
fn threshold_value(metric: ThresholdMetric, value_text: &str, i: usize) -> Result<f64, Failure> {
    Ok(match metric {
        ThresholdMetric::Percentile(_)
        | ThresholdMetric::Avg
        | ThresholdMetric::Min
        | ThresholdMetric::Max
        | ThresholdMetric::Recovery => match parse_duration(value_text) {
            Ok(d) => d.as_nanos() as f64 / 1000.0,
            Err(_) => {
                return Err((
                    i,
                    "a duration such as 300ms or 1.5s".to_string(),
                    found_text(value_text),
                ))
            }
        },
        ThresholdMetric::ErrorRate
        | ThresholdMetric::Checks
        | ThresholdMetric::Loss
        | ThresholdMetric::Drop
        | ThresholdMetric::Delivery => {
            let bad = || {
                (
                    i,
                    "a percentage such as 1% or a fraction from 0 to 1".to_string(),
                    found_text(value_text),
                )
            };
            let (number, scale) = match value_text.strip_suffix('%') {
                Some(n) => (n.trim(), 100.0),
                None => (value_text, 1.0),
            };
            let f: f64 = number.parse().map_err(|_| bad())?;
            let fraction = f / scale;
            if !(0.0..=1.0).contains(&fraction) {
                return Err(bad());
            }
            fraction
        }
        // parsed by `monitor_value`: `parse_metric` never gives one
        ThresholdMetric::Monitor(_) => {
            return Err((i, METRIC_EXPECTED.to_string(), found_text(value_text)))
        }
        ThresholdMetric::Rps => {
            let number = value_text.strip_suffix("/s").unwrap_or(value_text).trim();
            match number.parse::<f64>() {
                Ok(f) if f.is_finite() && f >= 0.0 => f,
                _ => {
                    return Err((
                        i,
                        "a rate in requests per second, such as 100 or 100/s".to_string(),
                        found_text(value_text),
                    ))
                }
            }
        }
    })
}

fn found_text(s: &str) -> String {
    let s = s.trim();
    if s.is_empty() {
        "nothing".to_string()
    } else {
        format!("{s:?}")
    }
}

fn parse_metric(s: &str) -> Option<ThresholdMetric> {
    Some(match s {
        "avg" => ThresholdMetric::Avg,
        "min" => ThresholdMetric::Min,
        "max" => ThresholdMetric::Max,
        "med" | "median" => ThresholdMetric::Percentile(0.5),
        "error_rate" => ThresholdMetric::ErrorRate,
        "rps" => ThresholdMetric::Rps,
        "checks" => ThresholdMetric::Checks,
        "loss" => ThresholdMetric::Loss,
        "drop" => ThresholdMetric::Drop,
        "delivery" => ThresholdMetric::Delivery,
        "recovery" => ThresholdMetric::Recovery,
        _ => {
            let n = s.strip_prefix('p')?;
            if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit() || c == '.') {
                return None;
            }
            // "99.9e-2" parses straight to the nearest f64 of 0.999 (99.9 / 100.0 does not)
            let p: f64 = format!("{n}e-2").parse().ok()?;
            // only the percentiles every row reports: a threshold is then judged on the same
            // exact numbers live (abort_on_fail) and at the end, without the histograms
            if !THRESHOLD_PERCENTILES.contains(&p) {
                return None;
            }
            ThresholdMetric::Percentile(p)
        }
    })
}
