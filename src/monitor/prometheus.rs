//! The Prometheus text exposition format (version 0.0.4, and OpenMetrics' `_total` counters),
//! read just far enough to sum the samples each selector matches. Written here rather than with
//! a crate: `prometheus-parse` brings chrono and itertools into a first build that has no time
//! left for them, and a selector needs only names, labels, values and `# TYPE` lines.

use std::collections::HashMap;

use crate::plan::monitor::{counter_by_name, quoted, MetricSelector};

/// What one selector read in one scrape: the sum of the samples it matched and whether the
/// metric is a counter (to be turned into a rate).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    pub value: f64,
    pub counter: bool,
}

/// One sample line: `name{label="value",…} value [timestamp]`.
#[derive(Debug, PartialEq)]
struct Sample<'a> {
    name: &'a str,
    labels: Vec<(&'a str, String)>,
    value: f64,
}

/// Sums, for each selector, the samples of `text` it matches; None for a selector that matched
/// none. Lines that do not parse are skipped and counted (the second value).
pub fn read(text: &str, selectors: &[MetricSelector]) -> (Vec<Option<Reading>>, usize) {
    let mut counters: HashMap<&str, bool> = HashMap::new();
    let mut out: Vec<Option<Reading>> = vec![None; selectors.len()];
    let mut bad = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            if words.next() == Some("TYPE") {
                if let (Some(name), Some(kind)) = (words.next(), words.next()) {
                    counters.insert(name, kind == "counter");
                }
            }
            continue;
        }
        let Some(sample) = parse_sample(line) else {
            bad += 1;
            continue;
        };
        for (i, sel) in selectors.iter().enumerate() {
            if sel.metric != sample.name || !labels_match(sel, &sample.labels) {
                continue;
            }
            let family = sample.name.strip_suffix("_total").unwrap_or(sample.name);
            let counter = counters.get(sample.name).copied().unwrap_or(false)
                || counters.get(family).copied().unwrap_or(false)
                || counter_by_name(sample.name);
            let slot = out[i].get_or_insert(Reading {
                value: 0.0,
                counter,
            });
            slot.value += sample.value;
        }
    }
    (out, bad)
}

fn labels_match(sel: &MetricSelector, labels: &[(&str, String)]) -> bool {
    sel.labels.iter().all(|m| {
        let actual = labels
            .iter()
            .find(|(name, _)| *name == m.label)
            .map_or("", |(_, v)| v.as_str());
        m.matches(actual)
    })
}

fn parse_sample(line: &str) -> Option<Sample<'_>> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut labels = Vec::new();
    let mut i = name_end;
    if line[i..].starts_with('{') {
        i += 1;
        loop {
            i += line[i..].len() - line[i..].trim_start().len();
            if line[i..].starts_with('}') {
                i += 1;
                break;
            }
            let eq = i + line[i..].find('=')?;
            let label = line[i..eq].trim();
            if !line[eq + 1..].starts_with('"') {
                return None;
            }
            let (value, after) = quoted(line, eq + 2)?;
            labels.push((label, value));
            i = after;
            i += line[i..].len() - line[i..].trim_start().len();
            if line[i..].starts_with(',') {
                i += 1;
            } else if line[i..].starts_with('}') {
                i += 1;
                break;
            } else {
                return None;
            }
        }
    }
    let value = line[i..].split_whitespace().next()?;
    let value = match value {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// A counter's increase per second from `previous` (value, seconds) to `now`; a counter that
/// went down was reset (the target restarted), and counts from 0 again, as Prometheus' `rate()`
/// takes it.
pub fn counter_rate(previous: (f64, f64), now: (f64, f64)) -> Option<f64> {
    let (before, t0) = previous;
    let (after, t1) = now;
    let dt = t1 - t0;
    if dt <= 0.0 {
        return None;
    }
    let increase = if after >= before {
        after - before
    } else {
        after
    };
    Some(increase / dt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::monitor::{LabelMatcher, MatchOp};

    fn selector(metric: &str, labels: &[(&str, MatchOp, &str)]) -> MetricSelector {
        MetricSelector {
            series: format!("t.{metric}"),
            metric: metric.into(),
            labels: labels
                .iter()
                .map(|&(label, op, value)| LabelMatcher {
                    label: label.into(),
                    op,
                    value: value.into(),
                    regex: matches!(op, MatchOp::Regex | MatchOp::NotRegex)
                        .then(|| regex::Regex::new(&format!("^(?:{value})$")).unwrap()),
                })
                .collect(),
            text: metric.into(),
        }
    }

    const TEXT: &str = r#"
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 4.5056e+07
# TYPE http_requests counter
http_requests_total{code="200",path="/a"} 1027 1395066363000
http_requests_total{code="200",path="/b"} 3
http_requests_total{code="500",path="/a \"x\""} 7
# TYPE queue_depth gauge
queue_depth{queue="a"} 4
queue_depth{queue="b"} +Inf
this line is not a sample
"#;

    #[test]
    fn selectors_sum_their_samples() {
        let sels = [
            selector("process_resident_memory_bytes", &[]),
            selector("http_requests_total", &[("code", MatchOp::Equal, "200")]),
            selector("http_requests_total", &[("code", MatchOp::Regex, "5..")]),
            selector("http_requests_total", &[("path", MatchOp::NotEqual, "/b")]),
            selector("queue_depth", &[("queue", MatchOp::Equal, "a")]),
            selector("missing", &[]),
        ];
        let (readings, bad) = read(TEXT, &sels);
        assert_eq!(bad, 1);
        let r = |i: usize| readings[i].unwrap();
        assert_eq!(
            r(0),
            Reading {
                value: 45_056_000.0,
                counter: false
            }
        );
        assert_eq!(
            r(1),
            Reading {
                value: 1030.0,
                counter: true
            },
            "summed, counter by TYPE"
        );
        assert_eq!(r(2).value, 7.0);
        assert_eq!(r(3).value, 1034.0, "a label that is absent or different");
        assert_eq!(
            r(4),
            Reading {
                value: 4.0,
                counter: false
            }
        );
        assert_eq!(readings[5], None);
        let (readings, _) = read("jobs_total 5\n", &[selector("jobs_total", &[])]);
        assert!(readings[0].unwrap().counter, "_total without a TYPE line");
    }

    #[test]
    fn counters_become_rates_and_resets_start_over() {
        assert_eq!(counter_rate((100.0, 1.0), (150.0, 3.0)), Some(25.0));
        assert_eq!(counter_rate((100.0, 1.0), (20.0, 2.0)), Some(20.0));
        assert_eq!(counter_rate((100.0, 1.0), (120.0, 1.0)), None);
    }
}
