//! The validated `[monitor]` table: what to read beside a run (Prometheus text endpoints, a
//! Prometheus server's query API, local processes), how often, and the series each gives.
//! Pure data: `crate::monitor` reads them while a run goes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::template::Template;

/// `[monitor]`.
#[derive(Clone, Debug)]
pub struct Monitor {
    /// Time between two reads of every source (`every`, default 5 s).
    pub every: Duration,
    /// Growth is judged from the end of this warm-up to the end of the run (`warmup`, default 0).
    pub warmup: Duration,
    pub prometheus: Vec<PrometheusSource>,
    pub query: Vec<QuerySource>,
    pub process: Vec<ProcessSource>,
}

impl Monitor {
    /// Every series the sources give, with their unit where it is known before the first read
    /// (a Prometheus metric's unit follows its name and, for counters, its `# TYPE` line).
    pub fn series_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.prometheus {
            out.extend(p.metrics.iter().map(|m| m.series.clone()));
        }
        out.extend(self.query.iter().map(|q| q.series.clone()));
        for p in &self.process {
            for stat in ProcessStat::ALL {
                out.push(p.series(stat));
            }
        }
        out
    }

    /// The window each end of a growth is averaged over: 2.5 × `every`, which holds three
    /// reads (the first one and two more, with room for a late read).
    pub fn growth_window(&self) -> Duration {
        self.every * 5 / 2
    }
}

/// A Prometheus text endpoint (`/metrics`).
#[derive(Clone, Debug)]
pub struct PrometheusSource {
    pub name: String,
    pub url: String,
    /// Sent as `Authorization: Bearer …`; only `env()` may be used in it.
    pub token: Option<Template>,
    pub metrics: Vec<MetricSelector>,
}

/// One series of a Prometheus endpoint: a metric name with label matchers. Every sample that
/// matches is summed.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSelector {
    /// `<source>.<name>`: the metric's name, or the `name` given.
    pub series: String,
    pub metric: String,
    pub labels: Vec<LabelMatcher>,
    /// As written, e.g. `http_requests_total{code="200"}`.
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct LabelMatcher {
    pub label: String,
    pub op: MatchOp,
    pub value: String,
    /// For `=~` and `!~`: the value anchored at both ends, as Prometheus does.
    pub regex: Option<regex::Regex>,
}

impl PartialEq for LabelMatcher {
    fn eq(&self, other: &LabelMatcher) -> bool {
        self.label == other.label && self.op == other.op && self.value == other.value
    }
}

impl LabelMatcher {
    /// Whether a sample whose label is `actual` (absent: empty, as in Prometheus) matches.
    pub fn matches(&self, actual: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => actual == self.value,
            (MatchOp::NotEqual, _) => actual != self.value,
            (MatchOp::Regex, Some(r)) => r.is_match(actual),
            (MatchOp::NotRegex, Some(r)) => !r.is_match(actual),
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// A Prometheus server's instant query API (`/api/v1/query`) with one PromQL expression.
#[derive(Clone, Debug)]
pub struct QuerySource {
    /// The series name: the source's `name`.
    pub series: String,
    /// The server's base URL (`http://127.0.0.1:9090`).
    pub url: String,
    pub promql: String,
    pub token: Option<Template>,
    /// `unit = "bytes"`; None: guessed from the expression's metric names.
    pub unit: MonitorUnit,
}

/// A local process (or several: all that match are summed), read from `/proc`.
#[derive(Clone, Debug)]
pub struct ProcessSource {
    pub name: String,
    pub find: ProcessFind,
}

impl ProcessSource {
    pub fn series(&self, stat: ProcessStat) -> String {
        format!("{}.{}", self.name, stat.as_str())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ProcessFind {
    Pid(u32),
    /// Read again at every scrape (a restarted process writes a new pid).
    PidFile(String),
    /// Every process whose command line contains this text (Hornet's own excepted).
    Command(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessStat {
    /// CPU time over wall time, in percent of one core.
    Cpu,
    /// Resident set size, bytes.
    Rss,
    /// Open file descriptors.
    Fds,
}

impl ProcessStat {
    pub const ALL: [ProcessStat; 3] = [ProcessStat::Cpu, ProcessStat::Rss, ProcessStat::Fds];

    pub fn as_str(self) -> &'static str {
        match self {
            ProcessStat::Cpu => "cpu",
            ProcessStat::Rss => "rss",
            ProcessStat::Fds => "fds",
        }
    }

    pub fn unit(self) -> MonitorUnit {
        match self {
            ProcessStat::Cpu => MonitorUnit::Percent,
            ProcessStat::Rss => MonitorUnit::Bytes,
            ProcessStat::Fds => MonitorUnit::Count,
        }
    }
}

/// What a monitor series counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorUnit {
    Bytes,
    /// Percent (of one core for CPU): 80 is 80 %.
    Percent,
    PerSecond,
    Count,
}

impl MonitorUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorUnit::Bytes => "bytes",
            MonitorUnit::Percent => "percent",
            MonitorUnit::PerSecond => "per_second",
            MonitorUnit::Count => "count",
        }
    }

    pub fn parse(s: &str) -> Option<MonitorUnit> {
        Some(match s {
            "bytes" => MonitorUnit::Bytes,
            "percent" => MonitorUnit::Percent,
            "per_second" => MonitorUnit::PerSecond,
            "count" => MonitorUnit::Count,
            _ => return None,
        })
    }

    /// The unit a metric's name suggests: `…_bytes` are bytes, counters become rates, a
    /// `…_percent` is a percentage; anything else is a plain number.
    pub fn of_metric(name: &str, counter: bool) -> MonitorUnit {
        if counter {
            MonitorUnit::PerSecond
        } else if name.ends_with("_bytes") || name.contains("_bytes_") {
            MonitorUnit::Bytes
        } else if name.ends_with("_percent") {
            MonitorUnit::Percent
        } else {
            MonitorUnit::Count
        }
    }
}

/// The unit a PromQL expression's result most likely has: bytes when it reads a `…_bytes`
/// metric, a rate when it takes `rate()`/`irate()`, else a plain number.
pub fn unit_of_promql(promql: &str) -> MonitorUnit {
    if promql.contains("rate(") {
        MonitorUnit::PerSecond
    } else if promql.contains("_bytes") {
        MonitorUnit::Bytes
    } else if promql.contains("_percent") {
        MonitorUnit::Percent
    } else {
        MonitorUnit::Count
    }
}

/// Whether a metric is a counter by its name alone (`_total`, OpenMetrics' rule); its `# TYPE`
/// line, when the endpoint writes one, says so too.
pub fn counter_by_name(metric: &str) -> bool {
    metric.ends_with("_total")
}

/// The text of a `"…"` literal whose body starts at `start` (`\"`, `\\` and `\n` unescaped),
/// and the index after its closing quote.
pub fn quoted(text: &str, start: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = text[start..].char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((out, start + at + 1)),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}
