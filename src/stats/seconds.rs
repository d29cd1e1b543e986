//! A run's closed seconds, kept for the whole run so that any window of it, a stage or a
//! comparison is exact: per second, the aggregate's and each row's latencies (HDR V2 + deflate
//! with the exact min/max/sum beside it, as [`Latencies`] travel between agents), the corrected
//! twin where the row has one, and the counts. Merging seconds `[a, b)` adds their histograms
//! bucket by bucket, which is bit-identical to one histogram of all the window's samples.
//!
//! The aggregator closes one [`Second`] per tick into a [`SecondLog`]; the run's recording
//! stores them and judges windowed thresholds on them. Memory is bounded: a row without samples
//! in a second costs nothing, and past [`ROWS_BYTES_CAP`] of rows the log stops keeping rows
//! (past [`TOTAL_BYTES_CAP`] of aggregates, seconds) and says so once. Pure: no clock, no I/O; the log's lock
//! is taken once a second by the run and briefly by readers, never per sample.

use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use super::histogram::{HistogramError, LatencyHistogram};
use super::interval::Latencies;

/// Bytes of per-row seconds a run keeps (in memory and so in the store); past it, only the
/// aggregate's seconds are kept. Measured (bench/README.md): about 75 B per row-second at a few
/// requests a second, 0.9 KiB at 1 800 a second; so 50 busy rows keep about 1.5 h.
pub const ROWS_BYTES_CAP: usize = 256 << 20;
/// Bytes of the aggregate's seconds a run keeps; past it, no more seconds are kept. About
/// 1.5 KiB a second at 5 000 requests a second: a day fits.
pub const TOTAL_BYTES_CAP: usize = 192 << 20;

/// One statistics row's (or the aggregate's) second.
#[derive(Clone, Debug, PartialEq)]
pub struct SecondRow {
    /// "" for the aggregate.
    pub method: String,
    /// "Aggregated" for the aggregate, "(other)" for names beyond the name cap.
    pub name: String,
    /// Its latencies; `latencies.count` is the second's requests.
    pub latencies: Latencies,
    /// Latency from the intended start, once the row has a corrected twin.
    pub corrected: Option<Latencies>,
    pub failures: u64,
}

impl SecondRow {
    pub fn requests(&self) -> u64 {
        self.latencies.count
    }

    /// Bytes it holds (what the log counts against its caps).
    fn size(&self) -> usize {
        std::mem::size_of::<SecondRow>()
            + self.method.len()
            + self.name.len()
            + self.latencies.hdr.len()
            + self.corrected.as_ref().map_or(0, |c| c.hdr.len())
    }
}

/// One closed second of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Second {
    /// The run's second `[start_s, start_s + 1)`: 0 for the first, then one more per tick (the
    /// n-th closed interval; its point on the chart is at about `start_s + 1`).
    pub start_s: u64,
    /// Its real length in seconds (a loaded machine ticks late; a run's last second is short).
    pub secs: f64,
    /// Every sample of the second (a second without samples holds an empty aggregate).
    pub total: SecondRow,
    /// The rows with samples in this second, in name order.
    pub rows: Vec<SecondRow>,
}

impl Second {
    /// Bytes it holds.
    pub fn size(&self) -> usize {
        std::mem::size_of::<Second>()
            + self.total.size()
            + self.rows.iter().map(SecondRow::size).sum::<usize>()
    }
}

/// Bytes of a second's rows.
fn rows_kept(second: &Second) -> usize {
    second.rows.iter().map(SecondRow::size).sum()
}

/// Which row a window is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowSelector<'a> {
    /// Every sample (the "Aggregated" row).
    Total,
    /// One statistics row.
    Row { method: &'a str, name: &'a str },
    /// The rows of this name, whatever their method, merged.
    Name(&'a str),
    /// The rows of this kind (`GET`, `SSE`, ...), merged.
    Kind(&'a str),
}

impl RowSelector<'_> {
    fn rows(self, second: &Second) -> Vec<&SecondRow> {
        let chosen = |r: &&SecondRow| match self {
            RowSelector::Total => false,
            RowSelector::Row { method, name } => r.method == method && r.name == name,
            RowSelector::Name(name) => r.name == name,
            RowSelector::Kind(kind) => r.method == kind,
        };
        match self {
            RowSelector::Total => vec![&second.total],
            _ => second.rows.iter().filter(chosen).collect(),
        }
    }
}

/// The (method, name) of every row with samples in `seconds`, in name order, each once.
pub fn row_labels<'a>(seconds: impl IntoIterator<Item = &'a Second>) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = Vec::new();
    for second in seconds {
        for r in &second.rows {
            if !labels.iter().any(|(m, n)| *m == r.method && *n == r.name) {
                labels.push((r.method.clone(), r.name.clone()));
            }
        }
    }
    labels.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    labels
}

/// A window's numbers: seconds `[from_s, to_s)` merged for one row.
#[derive(Clone, Debug)]
pub struct WindowStats {
    pub from_s: u64,
    pub to_s: u64,
    /// The seconds found in the range (fewer than `to_s - from_s` past the end of a run).
    pub seconds: u64,
    /// Their real length in seconds.
    pub secs: f64,
    pub requests: u64,
    pub failures: u64,
    pub latencies: LatencyHistogram,
    /// Present once any of the merged rows had a corrected twin (rows without one count with
    /// their latency, as the aggregator does).
    pub corrected: Option<LatencyHistogram>,
}

impl WindowStats {
    /// Requests per second over the window's real length.
    pub fn rps(&self) -> f64 {
        per_second(self.requests, self.secs)
    }

    /// Failed share of the window's requests (0 without requests).
    pub fn error_rate(&self) -> f64 {
        share(self.failures, self.requests)
    }
}

/// `n` over `secs` seconds (0 over no time).
fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// `part` of `whole` (0 of nothing).
fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// A window's counts and exact min/max/sum, read without decoding a histogram: what error
/// rates, rates, averages, minimums and maximums need (a fraction of [`merge`]'s cost).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WindowCounts {
    pub seconds: u64,
    pub secs: f64,
    pub requests: u64,
    pub failures: u64,
    /// Exact, over every request of the window; 0 without requests.
    pub min_us: u64,
    pub max_us: u64,
    pub sum_us: u64,
}

impl WindowCounts {
    pub fn rps(&self) -> f64 {
        per_second(self.requests, self.secs)
    }

    pub fn error_rate(&self) -> f64 {
        share(self.failures, self.requests)
    }

    pub fn mean_us(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.sum_us as f64 / self.requests as f64
        }
    }
}

/// The counts of the seconds of `seconds` in `range` for `row` (see [`WindowCounts`]).
pub fn count<'a>(
    seconds: impl IntoIterator<Item = &'a Second>,
    range: Range<u64>,
    row: RowSelector<'_>,
) -> WindowCounts {
    let mut out = WindowCounts::default();
    for second in seconds {
        if !range.contains(&second.start_s) {
            continue;
        }
        out.seconds += 1;
        out.secs += second.secs;
        for r in row.rows(second).into_iter().filter(|r| r.requests() > 0) {
            let exact = r.latencies.exact;
            out.min_us = if out.requests == 0 {
                exact.min_us
            } else {
                out.min_us.min(exact.min_us)
            };
            out.max_us = out.max_us.max(exact.max_us);
            out.sum_us = out.sum_us.saturating_add(exact.sum_us);
            out.requests += r.requests();
            out.failures += r.failures;
        }
    }
    out
}

/// Merges the seconds of `seconds` that lie in `range` for `row`. Exact: the histograms add
/// bucket by bucket and keep their exact min/max/sum.
pub fn merge<'a>(
    seconds: impl IntoIterator<Item = &'a Second>,
    range: Range<u64>,
    row: RowSelector<'_>,
) -> Result<WindowStats, HistogramError> {
    let mut out = WindowStats {
        from_s: range.start,
        to_s: range.end,
        seconds: 0,
        secs: 0.0,
        requests: 0,
        failures: 0,
        latencies: LatencyHistogram::new(),
        corrected: None,
    };
    for second in seconds {
        if !range.contains(&second.start_s) {
            continue;
        }
        out.seconds += 1;
        out.secs += second.secs;
        for r in row.rows(second) {
            if r.requests() == 0 {
                continue;
            }
            let latencies = r.latencies.histogram()?;
            let corrected = r.corrected.as_ref().map(Latencies::histogram).transpose()?;
            if corrected.is_some() && out.corrected.is_none() {
                // Earlier seconds had no intended start: their corrected latency is their latency.
                out.corrected = Some(out.latencies.clone());
            }
            if let Some(twin) = &mut out.corrected {
                twin.add(corrected.as_ref().unwrap_or(&latencies));
            }
            out.latencies.add(&latencies);
            out.requests += r.requests();
            out.failures += r.failures;
        }
    }
    Ok(out)
}

/// The closed seconds of a live run, shared by the aggregator (which appends one a second) and
/// its readers (the recording, thresholds, pages); cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct SecondLog {
    /// A std mutex: held to push or to copy out a few `Arc`s, never across an await.
    inner: Arc<Mutex<LogInner>>,
}

#[derive(Debug, Default)]
struct LogInner {
    seconds: Vec<Arc<Second>>,
    /// Bytes of the kept seconds' rows, and of the rest (their aggregates).
    rows_bytes: usize,
    total_bytes: usize,
    rows_dropped: bool,
    seconds_dropped: bool,
}

impl SecondLog {
    pub fn new() -> SecondLog {
        SecondLog::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        // A panic while holding it cannot leave it half-updated (one push at a time).
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps a closed second. Some: a warning for the run, said once, when a cap was reached.
    pub fn push(&self, mut second: Second) -> Option<String> {
        let mut log = self.lock();
        if log.seconds_dropped {
            return None;
        }
        let rows = rows_kept(&second);
        let mut warning = None;
        if !log.rows_dropped && log.rows_bytes + rows > ROWS_BYTES_CAP {
            log.rows_dropped = true;
            warning = Some(format!(
                "per-second histograms of single rows reached {} MiB: from second {} on only the \
                 aggregate's are kept (windowed thresholds on a name or kind see no samples after)",
                ROWS_BYTES_CAP >> 20,
                second.start_s
            ));
        }
        if log.rows_dropped {
            second.rows = Vec::new();
        }
        let (size, rows) = (second.size(), rows_kept(&second));
        if log.total_bytes + size - rows > TOTAL_BYTES_CAP {
            log.seconds_dropped = true;
            return Some(format!(
                "per-second histograms of the aggregate reached {} MiB: from second {} on none \
                 are kept (windowed thresholds judge up to there)",
                TOTAL_BYTES_CAP >> 20,
                second.start_s
            ));
        }
        log.total_bytes += size - rows;
        log.rows_bytes += rows;
        log.seconds.push(Arc::new(second));
        warning
    }

    /// Seconds kept so far.
    pub fn len(&self) -> usize {
        self.lock().seconds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the kept seconds hold.
    pub fn bytes(&self) -> usize {
        let log = self.lock();
        log.rows_bytes + log.total_bytes
    }

    /// The kept seconds from the `from`-th one on (in the order they closed).
    pub fn since(&self, from: usize) -> Vec<Arc<Second>> {
        self.lock()
            .seconds
            .get(from..)
            .map(<[Arc<Second>]>::to_vec)
            .unwrap_or_default()
    }

    /// Seconds `range` of the run merged for `row` (the lock is held only to copy pointers).
    pub fn merge(
        &self,
        range: Range<u64>,
        row: RowSelector<'_>,
    ) -> Result<WindowStats, HistogramError> {
        let seconds: Vec<Arc<Second>> = {
            let log = self.lock();
            // Seconds are kept in order of start_s, one per second.
            let from = log.seconds.partition_point(|s| s.start_s < range.start);
            let to = log.seconds.partition_point(|s| s.start_s < range.end);
            log.seconds[from..to.max(from)].to_vec()
        };
        merge(seconds.iter().map(Arc::as_ref), range, row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row's second from its latencies (µs) and failures.
    pub(crate) fn row(name: &str, us: &[u64], failures: u64) -> SecondRow {
        let mut h = LatencyHistogram::new();
        for &v in us {
            h.record(v);
        }
        SecondRow {
            method: if name == "Aggregated" { "" } else { "GET" }.into(),
            name: name.into(),
            latencies: Latencies::of(&h),
            corrected: None,
            failures,
        }
    }

    fn second(start_s: u64, rows: Vec<SecondRow>) -> Second {
        let mut total = LatencyHistogram::new();
        let mut failures = 0;
        for r in &rows {
            total.add(&r.latencies.histogram().expect("decodes"));
            failures += r.failures;
        }
        Second {
            start_s,
            secs: 1.0,
            total: SecondRow {
                method: String::new(),
                name: "Aggregated".into(),
                latencies: Latencies::of(&total),
                corrected: None,
                failures,
            },
            rows,
        }
    }

    #[test]
    fn merged_seconds_equal_one_histogram_of_all_their_samples() {
        // 30 seconds of different latencies on two rows; any window equals one histogram of it
        let mut seconds = Vec::new();
        let mut all: Vec<(u64, &str, u64)> = Vec::new();
        for s in 0..30u64 {
            let a: Vec<u64> = (0..(s % 7 + 1)).map(|i| 1000 + s * 977 + i * 13).collect();
            let b: Vec<u64> = (0..(s % 3)).map(|i| 50_000 + s * 4_111 + i).collect();
            all.extend(a.iter().map(|&v| (s, "/a", v)));
            all.extend(b.iter().map(|&v| (s, "/b", v)));
            seconds.push(second(s, vec![row("/a", &a, s % 2), row("/b", &b, 0)]));
        }
        for (range, selector) in [
            (0..30, RowSelector::Total),
            (4..11, RowSelector::Total),
            (4..11, RowSelector::Name("/b")),
            (
                3..9,
                RowSelector::Row {
                    method: "GET",
                    name: "/b",
                },
            ),
            (5..6, RowSelector::Kind("GET")),
            (29..40, RowSelector::Name("/a")),
        ] {
            let w = merge(&seconds, range.clone(), selector).expect("merges");
            let mut one = LatencyHistogram::new();
            for &(s, name, v) in &all {
                let chosen = match selector {
                    RowSelector::Total => true,
                    RowSelector::Name(n) | RowSelector::Row { name: n, .. } => n == name,
                    RowSelector::Kind(kind) => kind == "GET",
                };
                if range.contains(&s) && chosen {
                    one.record(v);
                }
            }
            assert_eq!(
                w.latencies.serialize_v2_deflate(),
                one.serialize_v2_deflate()
            );
            assert_eq!(w.latencies.exact(), one.exact(), "{range:?}");
            assert_eq!(w.requests, one.count());
            assert_eq!(
                w.seconds,
                range.end.min(30).saturating_sub(range.start),
                "{range:?}"
            );
        }
        assert_eq!(
            row_labels(&seconds),
            [
                ("GET".to_string(), "/a".to_string()),
                ("GET".into(), "/b".into())
            ]
        );
        let w = merge(&seconds, 0..4, RowSelector::Name("/a")).expect("merges");
        // failures 0,1,0,1 and 1+2+3+4 requests
        assert_eq!((w.requests, w.failures), (10, 2));
        assert_eq!((w.error_rate(), w.rps()), (0.2, 2.5));
        // the counts alone, without decoding, say the same
        for range in [0..4, 3..17, 20..40] {
            let c = count(&seconds, range.clone(), RowSelector::Total);
            let w = merge(&seconds, range, RowSelector::Total).expect("merges");
            assert_eq!(
                (c.requests, c.failures, c.seconds),
                (w.requests, w.failures, w.seconds)
            );
            assert_eq!((c.rps(), c.error_rate()), (w.rps(), w.error_rate()));
            assert_eq!(
                (c.min_us, c.max_us),
                (w.latencies.min_us(), w.latencies.max_us())
            );
            assert_eq!(c.mean_us(), w.latencies.mean_us());
        }
    }

    #[test]
    fn a_corrected_twin_counts_earlier_seconds_with_their_latency() {
        let mut paced = row("/a", &[2_000], 0);
        let mut twin = LatencyHistogram::new();
        twin.record(9_000);
        paced.corrected = Some(Latencies::of(&twin));
        let seconds = [
            second(0, vec![row("/a", &[1_000], 0)]),
            second(1, vec![paced]),
        ];
        let w = merge(&seconds, 0..2, RowSelector::Name("/a")).expect("merges");
        let c = w.corrected.expect("a twin");
        assert_eq!((c.count(), c.min_us(), c.max_us()), (2, 1_000, 9_000));
        assert_eq!(w.latencies.max_us(), 2_000);
    }

    #[test]
    fn the_log_reads_ranges_and_keeps_rows_only_below_its_cap() {
        let log = SecondLog::new();
        for s in 0..5 {
            assert_eq!(
                log.push(second(s, vec![row("/a", &[1_000 * (s + 1)], 0)])),
                None
            );
        }
        let w = log.merge(1..3, RowSelector::Total).expect("merges");
        assert_eq!(
            (w.requests, w.latencies.min_us(), w.latencies.max_us()),
            (2, 2_000, 3_000)
        );
        assert_eq!(log.since(3).len(), 2);
        assert_eq!(
            log.merge(7..9, RowSelector::Total).expect("empty").seconds,
            0
        );

        let big = SecondLog::new();
        big.lock().rows_bytes = ROWS_BYTES_CAP;
        let warning = big.push(second(0, vec![row("/a", &[1], 0)]));
        assert!(warning.is_some_and(|w| w.contains("only the aggregate")));
        assert!(big.since(0)[0].rows.is_empty());
        assert_eq!(big.since(0)[0].total.requests(), 1);
        assert_eq!(big.push(second(1, vec![row("/a", &[1], 0)])), None);
        // the aggregates have their own budget
        big.lock().total_bytes = TOTAL_BYTES_CAP;
        let warning = big.push(second(2, vec![row("/a", &[1], 0)]));
        assert!(warning.is_some_and(|w| w.contains("none are kept")));
        assert_eq!(big.len(), 2);
        assert_eq!(big.push(second(3, vec![])), None, "said once");
        assert_eq!(big.len(), 2);
    }
}
