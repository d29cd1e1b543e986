//! Two stored runs side by side: per (method, name) and for the Aggregated row, the requests,
//! RPS, p50/p95/p99 and error rate of the base and the head run, their deltas, and the
//! regressions a `--max-regression` rule set (`p95=10%,error_rate=0.5pp`) finds. Percentiles
//! come from the stored HDR histograms (exact to their 3 significant digits, never above the
//! exact max); counts and rates from the stored statistics rows. Pure: the caller loads the
//! run's data from the store; nothing here does I/O. The rules' parser is `rules.rs`, the
//! texts (web cells, terminal table, regression lines) `text.rs`.

mod rules;
mod text;

use std::collections::{BTreeSet, HashMap};

use crate::stats::aggregator::{AGGREGATED, OTHER_NAME};
use crate::stats::histogram::LatencyHistogram;
use crate::stats::snapshot::{us_to_ms, StatsRow};
use crate::store::{decode_histogram, NamedHistogram, StoreError, StoredStats};

pub use rules::{parse_rules, CompareError, Limit, Rule, DEFAULT_RULES};
pub use text::{delta_text, render_text, value_text};

/// A compared number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    Requests,
    Rps,
    P50,
    P95,
    P99,
    ErrorRate,
}

impl Metric {
    /// In table order.
    pub const ALL: [Metric; 6] = [
        Metric::Requests,
        Metric::Rps,
        Metric::P50,
        Metric::P95,
        Metric::P99,
        Metric::ErrorRate,
    ];

    /// The name used in rules (`p95=10%`).
    pub fn key(self) -> &'static str {
        match self {
            Metric::Requests => "requests",
            Metric::Rps => "rps",
            Metric::P50 => "p50",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::ErrorRate => "error_rate",
        }
    }

    /// A column heading.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Requests => "Requests",
            Metric::Rps => "RPS",
            Metric::P50 => "p50 (ms)",
            Metric::P95 => "p95 (ms)",
            Metric::P99 => "p99 (ms)",
            Metric::ErrorRate => "Error rate",
        }
    }

    fn parse(key: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.key() == key)
    }

    /// Times and errors regress upwards; throughput regresses downwards.
    fn higher_is_worse(self) -> bool {
        !matches!(self, Metric::Requests | Metric::Rps)
    }

    /// Rates (0..1) change by percentage points, everything else by percent.
    fn is_rate(self) -> bool {
        self == Metric::ErrorRate
    }
}

/// One run's numbers for one row.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measures {
    pub requests: u64,
    pub failures: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

impl Measures {
    /// Failures / requests (0..=1; 0 without requests).
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.failures as f64 / self.requests as f64
        }
    }

    pub fn get(&self, m: Metric) -> f64 {
        match m {
            Metric::Requests => self.requests as f64,
            Metric::Rps => self.rps,
            Metric::P50 => self.p50_ms,
            Metric::P95 => self.p95_ms,
            Metric::P99 => self.p99_ms,
            Metric::ErrorRate => self.error_rate(),
        }
    }
}

/// A metric of a row in both runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Delta {
    pub base: f64,
    pub head: f64,
    /// `head - base` (a ratio for the error rate: ×100 for percentage points).
    pub delta: f64,
    /// `delta / base` in percent; None when the base is 0.
    pub pct: Option<f64>,
}

impl Delta {
    fn new(base: f64, head: f64) -> Delta {
        let delta = head - base;
        Delta {
            base,
            head,
            delta,
            pct: (base != 0.0).then(|| delta / base * 100.0),
        }
    }
}

/// One (method, name) of either run, or the Aggregated row.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareRow {
    pub method: String,
    pub name: String,
    /// None: the run has no such row.
    pub base: Option<Measures>,
    pub head: Option<Measures>,
    /// The metrics of this row that broke a rule.
    pub regressed: Vec<Metric>,
}

impl CompareRow {
    /// Both runs' values of `m`; None when a run lacks the row.
    pub fn delta(&self, m: Metric) -> Option<Delta> {
        Some(Delta::new(self.base?.get(m), self.head?.get(m)))
    }

    pub fn is_regressed(&self, m: Metric) -> bool {
        self.regressed.contains(&m)
    }

    pub fn is_total(&self) -> bool {
        self.method.is_empty() && self.name == AGGREGATED
    }
}

/// A broken rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Regression {
    pub method: String,
    pub name: String,
    pub metric: Metric,
    pub base: f64,
    pub head: f64,
    /// How much worse, in the unit of `limit` (percent, or percentage points).
    pub worse_by: f64,
    pub limit: Limit,
}

/// The comparison: rows sorted by (name, method), `(other)` then Aggregated last.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    pub rows: Vec<CompareRow>,
    pub regressions: Vec<Regression>,
}

/// One run's stored numbers, histograms decoded.
#[derive(Clone, Debug, Default)]
pub struct RunData {
    pub rows: Vec<StatsRow>,
    pub total: Option<StatsRow>,
    /// By (method, name); the Aggregated one under ("", "Aggregated").
    pub histograms: HashMap<(String, String), LatencyHistogram>,
}

impl RunData {
    /// Decodes what `Store::load_stats` and `Store::load_histograms` returned for `run_id`.
    pub fn decode(
        run_id: &str,
        stats: &StoredStats,
        histograms: &[NamedHistogram],
    ) -> Result<RunData, StoreError> {
        let mut decoded = HashMap::with_capacity(histograms.len());
        for named in histograms {
            let (h, _corrected) = decode_histogram(run_id, named)?;
            decoded.insert((named.method.clone(), named.name.clone()), h);
        }
        Ok(RunData {
            rows: stats.rows.clone(),
            total: stats.total.clone(),
            histograms: decoded,
        })
    }

    fn row(&self, method: &str, name: &str) -> Option<&StatsRow> {
        if method.is_empty() && name == AGGREGATED {
            return self.total.as_ref();
        }
        self.rows
            .iter()
            .find(|r| r.method == method && r.name == name)
    }

    /// The numbers of one row: counts and RPS from the statistics row, percentiles from the
    /// histogram (the row's own when the histogram was not saved, e.g. a run that died).
    pub fn measures(&self, method: &str, name: &str) -> Option<Measures> {
        let row = self.row(method, name);
        let hist = self
            .histograms
            .get(&(method.to_string(), name.to_string()))
            .filter(|h| !h.is_empty());
        let mut m = match (row, hist) {
            (None, None) => return None,
            (Some(r), _) => Measures {
                requests: r.num_requests,
                failures: r.num_failures,
                rps: r.total_rps,
                p50_ms: r.percentiles.p50,
                p95_ms: r.percentiles.p95,
                p99_ms: r.percentiles.p99,
            },
            (None, Some(h)) => Measures {
                requests: h.count(),
                ..Measures::default()
            },
        };
        if let Some(h) = hist {
            let p = h.percentiles(&[0.5, 0.95, 0.99]);
            m.p50_ms = us_to_ms(p[0]);
            m.p95_ms = us_to_ms(p[1]);
            m.p99_ms = us_to_ms(p[2]);
        }
        Some(m)
    }

    fn keys(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.rows
            .iter()
            .map(|r| (r.method.clone(), r.name.clone()))
            .chain(self.histograms.keys().cloned())
            .filter(|(m, n)| !(m.is_empty() && n == AGGREGATED))
    }
}

/// Compares `head` with `base` row by row and checks every rule on every row both runs have
/// with requests.
pub fn compare(base: &RunData, head: &RunData, rules: &[Rule]) -> Comparison {
    // (other) sorts last among the names, as in the live table
    let keys: BTreeSet<(bool, String, String)> = base
        .keys()
        .chain(head.keys())
        .map(|(m, n)| (n == OTHER_NAME && m.is_empty(), n, m))
        .collect();
    let mut out = Comparison::default();
    let all = keys
        .into_iter()
        .map(|(_, n, m)| (m, n))
        .chain(std::iter::once((String::new(), AGGREGATED.to_string())));
    for (method, name) in all {
        let mut row = CompareRow {
            base: base.measures(&method, &name),
            head: head.measures(&method, &name),
            method,
            name,
            regressed: Vec::new(),
        };
        if let (Some(b), Some(h)) = (row.base, row.head) {
            if b.requests > 0 && h.requests > 0 {
                for rule in rules {
                    if let Some(worse_by) = broken(rule, b.get(rule.metric), h.get(rule.metric)) {
                        if !row.regressed.contains(&rule.metric) {
                            row.regressed.push(rule.metric);
                        }
                        out.regressions.push(Regression {
                            method: row.method.clone(),
                            name: row.name.clone(),
                            metric: rule.metric,
                            base: b.get(rule.metric),
                            head: h.get(rule.metric),
                            worse_by,
                            limit: rule.limit,
                        });
                    }
                }
            }
        }
        out.rows.push(row);
    }
    out
}

/// How much worse `head` is than `base` when that is beyond the rule's limit.
fn broken(rule: &Rule, base: f64, head: f64) -> Option<f64> {
    let worse_by = match rule.limit {
        Limit::Points(_) => (head - base) * 100.0,
        Limit::Percent(_) => {
            if base <= 0.0 {
                // no relative change from nothing
                return None;
            }
            let pct = (head - base) / base * 100.0;
            if rule.metric.higher_is_worse() {
                pct
            } else {
                -pct
            }
        }
    };
    let limit = match rule.limit {
        Limit::Points(l) | Limit::Percent(l) => l,
    };
    // a hair of tolerance so that exactly-at-the-limit (10% of 20 ms is 2 ms) holds
    (worse_by > limit + 1e-9).then_some(worse_by)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::stats::histogram::LatencyHistogram;
    use crate::stats::snapshot::Percentiles;

    pub(super) fn hist(values_us: impl IntoIterator<Item = u64>) -> LatencyHistogram {
        let mut h = LatencyHistogram::new();
        for v in values_us {
            h.record(v);
        }
        h
    }

    fn row(method: &str, name: &str, n: u64, fails: u64, rps: f64) -> StatsRow {
        StatsRow {
            method: method.into(),
            name: name.into(),
            num_requests: n,
            num_failures: fails,
            total_rps: rps,
            // deliberately wrong: the histograms must win
            percentiles: Percentiles {
                p50: 999.0,
                p95: 999.0,
                p99: 999.0,
                ..Percentiles::default()
            },
            ..StatsRow::default()
        }
    }

    /// A run whose `/a` took `a_ms` ms × 1..=100 µs scale and `/b` a constant, stored and read
    /// back through the V2 + deflate bytes exactly as the store keeps them.
    pub(super) fn run(
        a: &LatencyHistogram,
        b: &LatencyHistogram,
        fails_a: u64,
        rps: f64,
    ) -> RunData {
        let mut total = a.clone();
        total.add(b);
        let named = |method: &str, name: &str, h: &LatencyHistogram| NamedHistogram {
            method: method.into(),
            name: name.into(),
            histogram: h.serialize_v2_deflate(),
            exact: h.exact(),
            ..NamedHistogram::default()
        };
        let stats = StoredStats {
            rows: vec![
                row("GET", "/a", a.count(), fails_a, rps),
                row("GET", "/b", b.count(), 0, rps),
            ],
            total: Some(row(
                "",
                AGGREGATED,
                a.count() + b.count(),
                fails_a,
                2.0 * rps,
            )),
            ..StoredStats::default()
        };
        let hists = [
            named("GET", "/a", a),
            named("GET", "/b", b),
            named("", AGGREGATED, &total),
        ];
        RunData::decode("run", &stats, &hists).unwrap()
    }

    /// Base /a: 1..=1000 ms; head /a: every value doubled, more failures, lower RPS; /b 5 ms in
    /// both.
    fn doubled() -> (RunData, RunData) {
        let base = run(
            &hist((1..=1000).map(|ms| ms * 1000)),
            &hist(std::iter::repeat_n(5000, 100)),
            10,
            50.0,
        );
        let head = run(
            &hist((1..=1000).map(|ms| ms * 2000)),
            &hist(std::iter::repeat_n(5000, 100)),
            25,
            40.0,
        );
        (base, head)
    }

    #[test]
    fn deltas_come_from_the_histograms() {
        // base /a: 1..=1000 ms; head /a: 2..=2000 ms (every value doubled); /b 5 ms in both
        let (base, head) = doubled();
        let c = compare(&base, &head, &[]);
        let names: Vec<(&str, &str)> = c
            .rows
            .iter()
            .map(|r| (r.method.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(names, [("GET", "/a"), ("GET", "/b"), ("", AGGREGATED)]);

        let a = &c.rows[0];
        let b = a.base.unwrap();
        let h = a.head.unwrap();
        // HDR with 3 significant digits: 500 ms and 950 ms are bucket bounds below 1024 µs·1000
        assert_eq!((b.p50_ms, b.p95_ms, b.p99_ms), (500.223, 950.271, 990.207));
        assert_eq!(
            (h.p50_ms, h.p95_ms, h.p99_ms),
            (1000.447, 1900.543, 1980.415)
        );
        let p95 = a.delta(Metric::P95).unwrap();
        assert_eq!(p95.delta, 1900.543 - 950.271);
        assert!((p95.pct.unwrap() - 100.0).abs() < 0.01, "{p95:?}");
        assert_eq!(delta_text(Metric::P95, &p95), "+100.0%");

        let req = a.delta(Metric::Requests).unwrap();
        assert_eq!((req.base, req.head, req.pct), (1000.0, 1000.0, Some(0.0)));
        let rps = a.delta(Metric::Rps).unwrap();
        assert_eq!((rps.delta, rps.pct), (-10.0, Some(-20.0)));
        let err = a.delta(Metric::ErrorRate).unwrap();
        assert_eq!((err.base, err.head), (0.01, 0.025));
        assert_eq!(delta_text(Metric::ErrorRate, &err), "+1.50pp");

        // /b has the same samples: every delta but the (run-wide) RPS is 0
        let same = &c.rows[1];
        for m in Metric::ALL.into_iter().filter(|m| *m != Metric::Rps) {
            assert_eq!(same.delta(m).unwrap().delta, 0.0, "{m:?}");
        }
        assert_eq!(same.base.unwrap().p50_ms, 5.0);

        // Aggregated: 1100 samples, the 100 at 5 ms below all of /a
        let t = c.rows[2].base.unwrap();
        assert!(c.rows[2].is_total());
        assert_eq!(t.requests, 1100);
        assert_eq!(t.p50_ms, 450.047);
    }

    #[test]
    fn rules_find_regressions_per_name_and_in_total() {
        let (base, head) = doubled();
        let rules = parse_rules("p95=10%, error_rate=0.5pp, rps=25%").unwrap();
        let c = compare(&base, &head, &rules);
        let found: Vec<(&str, Metric)> = c
            .regressions
            .iter()
            .map(|r| (r.name.as_str(), r.metric))
            .collect();
        // rps fell 20%: within 25%; /b unchanged
        assert_eq!(
            found,
            [
                ("/a", Metric::P95),
                ("/a", Metric::ErrorRate),
                (AGGREGATED, Metric::P95),
                (AGGREGATED, Metric::ErrorRate),
            ]
        );
        assert_eq!(c.rows[0].regressed, [Metric::P95, Metric::ErrorRate]);
        assert!(c.rows[1].regressed.is_empty());
        let err = &c.regressions[1];
        assert!((err.worse_by - 1.5).abs() < 1e-9);
        assert_eq!(
            err.to_string(),
            "GET /a: error_rate 1.00% → 2.50% (+1.50pp, limit 0.5pp)"
        );
        // aggregated error rate 10/1100 → 25/1100
        assert!((c.regressions[3].worse_by - 1500.0 / 1100.0).abs() < 1e-9);

        // a tighter rps rule catches the 20% fall; the same run against itself never regresses
        let c = compare(&base, &head, &parse_rules("rps=19.9%").unwrap());
        assert_eq!(c.regressions.len(), 3, "{:?}", c.regressions);
        assert_eq!(
            c.regressions[0].to_string(),
            "GET /a: rps 50.00 → 40.00 (down 20.0%, limit 19.9%)"
        );
        let c = compare(&base, &base, &parse_rules(DEFAULT_RULES).unwrap());
        assert!(c.regressions.is_empty());
    }

    #[test]
    fn a_change_exactly_at_the_limit_holds() {
        let base = run(&hist([20_000]), &hist([1000]), 0, 10.0);
        let head = run(&hist([22_000]), &hist([1000]), 0, 10.0);
        let c = compare(&base, &head, &parse_rules("p95=10%").unwrap());
        assert_eq!(c.rows[0].delta(Metric::P95).unwrap().pct, Some(10.0));
        assert!(c.regressions.is_empty(), "{:?}", c.regressions);
        let c = compare(&base, &head, &parse_rules("p95=9.9%").unwrap());
        let names: Vec<&str> = c.regressions.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["/a", AGGREGATED]);
    }

    #[test]
    fn rows_of_one_run_only_are_listed_without_deltas() {
        let base = run(&hist([1000]), &hist([1000]), 0, 1.0);
        let mut head = base.clone();
        head.rows[1].name = "/c".into();
        let h = head
            .histograms
            .remove(&("GET".into(), "/b".into()))
            .unwrap();
        head.histograms.insert(("GET".into(), "/c".into()), h);
        let c = compare(&base, &head, &parse_rules("p95=1%").unwrap());
        let b = c.rows.iter().find(|r| r.name == "/b").unwrap();
        assert!(b.base.is_some() && b.head.is_none());
        assert!(b.delta(Metric::P95).is_none());
        let n = c.rows.iter().find(|r| r.name == "/c").unwrap();
        assert!(n.base.is_none() && n.head.is_some());
        assert!(c.regressions.is_empty());
    }

    #[test]
    fn without_histograms_the_rows_percentiles_are_used() {
        let stats = StoredStats {
            rows: vec![row("GET", "/a", 3, 0, 1.0)],
            total: Some(row("", AGGREGATED, 3, 0, 1.0)),
            ..StoredStats::default()
        };
        let data = RunData::decode("r", &stats, &[]).unwrap();
        let m = data.measures("GET", "/a").unwrap();
        assert_eq!((m.requests, m.p95_ms), (3, 999.0));
        assert!(data.measures("GET", "/zz").is_none());
    }

    #[test]
    fn corrupt_histogram_bytes_name_the_run() {
        let bad = NamedHistogram {
            method: "GET".into(),
            name: "/a".into(),
            histogram: vec![1, 2, 3],
            ..NamedHistogram::default()
        };
        let err = RunData::decode("run-9", &StoredStats::default(), &[bad]).unwrap_err();
        assert!(err.to_string().contains("run-9"), "{err}");
    }
}
