//! Turns batches of samples into a run's statistics: an HDR histogram per (kind, name) and one
//! for the aggregate, exact counters beside them, failures grouped by error text, 10-second
//! windows for the "current" numbers and one aggregate point per second for the whole run.
//!
//! Owned by the run actor (one owner, no lock). Clock-free: the actor passes the elapsed time to
//! [`Aggregator::tick`] once a second and to [`Aggregator::snapshot`]. Memory stays bounded: rows
//! are capped by name (the rest go to `(other)`), failure groups are capped, histograms are
//! allocated only for names that receive samples.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::failures::{clip_error, FAILURE_GROUP_CAP, OTHER_ERRORS};
use super::histogram::{ExactStats, HistogramError, LatencyHistogram};
use super::interval::{Interval, Latencies};
use super::sample::{Batch, FanoutCounts, Sample, SseDelivery, WsDelivery};
use super::seconds::{Second, SecondLog, SecondRow};
use super::snapshot::{
    us_to_ms, FailureRow, FanoutFigures, GeneratorLag, Percentiles, Point, PointExtra, RunState,
    Snapshot, SseStreams, StatsRow,
};
use crate::format::fmt_ms;
use crate::plan::model::{NameId, RequestName};

/// Distinct names kept as their own rows unless the run says otherwise.
pub const DEFAULT_NAME_CAP: usize = 1000;
/// The row that takes every name at or beyond the name cap.
pub const OTHER_NAME: &str = "(other)";
/// Name of the total row.
pub const AGGREGATED: &str = "Aggregated";

/// Closed one-second intervals behind the "current" numbers.
const WINDOW: usize = 10;
/// Generator lag p99 above this makes the numbers suspect (the load generator is saturated).
pub const LAG_WARN_US: u64 = 10_000;
/// Lag samples needed before the p99 means anything (below 100 it is just the maximum).
const LAG_MIN_SAMPLES: u64 = 100;

/// One statistics row's state.
struct Row {
    hist: LatencyHistogram,
    /// Latency from the intended start; exists once the row got a sample with one.
    corrected: Option<LatencyHistogram>,
    failures: u64,
    bytes: u64,
    /// The open interval's counts, moved into the window at each tick.
    open_reqs: u64,
    open_fails: u64,
    /// The open second's latencies, for the run's per-second histograms.
    open: Option<Box<OpenSecond>>,
    /// Closed intervals, indexed by the aggregator's ring slot.
    window_reqs: [u64; WINDOW],
    window_fails: [u64; WINDOW],
    /// Failure occurrences by error text.
    errors: HashMap<String, u64>,
    /// WebSocket delivery counts (a ws step's row; the total sums every row's).
    ws: WsDelivery,
    /// SSE stream counts (an sse step's own row; the total sums every row's).
    sse: SseDelivery,
    /// Fan-out counts (a topic's row; the total sums every row's).
    fanout: FanoutCounts,
}

/// A row's latencies in the open second: allocated at the row's first sample, then reused.
struct OpenSecond {
    latencies: LatencyHistogram,
    /// Exists from the row's first sample with an intended start on (as the run-long twin),
    /// emptied at each second's close.
    corrected: Option<LatencyHistogram>,
}

impl OpenSecond {
    fn new() -> Box<OpenSecond> {
        Box::new(OpenSecond {
            latencies: LatencyHistogram::new(),
            corrected: None,
        })
    }
}

/// The serialized form of a second's histogram; an empty one costs no bytes.
fn compact(h: &LatencyHistogram) -> Latencies {
    if h.is_empty() {
        Latencies::default()
    } else {
        Latencies::of(h)
    }
}

impl Row {
    fn new() -> Self {
        Row {
            hist: LatencyHistogram::new(),
            corrected: None,
            failures: 0,
            bytes: 0,
            open_reqs: 0,
            open_fails: 0,
            open: None,
            window_reqs: [0; WINDOW],
            window_fails: [0; WINDOW],
            errors: HashMap::new(),
            ws: WsDelivery::default(),
            sse: SseDelivery::default(),
            fanout: FanoutCounts::default(),
        }
    }

    #[inline]
    fn record(&mut self, s: &Sample) {
        let latency = u64::from(s.latency_us);
        if s.corrected_us > 0 && self.corrected.is_none() {
            // Earlier samples had no intended start: their corrected latency is their latency.
            self.corrected = Some(self.hist.clone());
        }
        let corrected = if s.corrected_us > 0 {
            u64::from(s.corrected_us)
        } else {
            latency
        };
        self.hist.record(latency);
        if let Some(twin) = &mut self.corrected {
            twin.record(corrected);
        }
        let open = self.open.get_or_insert_with(OpenSecond::new);
        if self.corrected.is_some() && open.corrected.is_none() {
            // The second's earlier samples had no intended start: their latency it is.
            open.corrected = Some(open.latencies.clone());
        }
        open.latencies.record(latency);
        if let Some(twin) = &mut open.corrected {
            twin.record(corrected);
        }
        self.bytes += u64::from(s.bytes);
        self.open_reqs += 1;
        if !s.ok {
            self.failures += 1;
            self.open_fails += 1;
        }
    }

    /// Adds another generator's second of this row: the same numbers as recording its samples.
    fn absorb(
        &mut self,
        latencies: &LatencyHistogram,
        corrected: Option<&LatencyHistogram>,
        failures: u64,
        bytes: u64,
    ) {
        match (&mut self.corrected, corrected) {
            (Some(twin), Some(c)) => twin.add(c),
            (Some(twin), None) => twin.add(latencies),
            (None, Some(c)) => {
                // Earlier samples had no intended start: their corrected latency is their latency.
                let mut twin = self.hist.clone();
                twin.add(c);
                self.corrected = Some(twin);
            }
            (None, None) => {}
        }
        let open = self.open.get_or_insert_with(OpenSecond::new);
        if self.corrected.is_some() && open.corrected.is_none() {
            open.corrected = Some(open.latencies.clone());
        }
        if let Some(twin) = &mut open.corrected {
            twin.add(corrected.unwrap_or(latencies));
        }
        open.latencies.add(latencies);
        self.hist.add(latencies);
        self.bytes += bytes;
        self.open_reqs += latencies.count();
        self.failures += failures;
        self.open_fails += failures;
    }

    /// The open second's histograms and failures, serialized; the row's second starts empty.
    /// None when the row had no sample in it (it costs nothing then).
    fn take_second(&mut self, method: String, name: String) -> Option<SecondRow> {
        let open = self.open.as_mut().filter(|o| !o.latencies.is_empty())?;
        let row = SecondRow {
            method,
            name,
            latencies: compact(&open.latencies),
            corrected: open.corrected.as_ref().map(compact),
            failures: self.open_fails,
        };
        open.latencies.clear();
        if let Some(twin) = &mut open.corrected {
            twin.clear();
        }
        Some(row)
    }

    fn close_interval(&mut self, slot: usize) {
        self.window_reqs[slot] = std::mem::take(&mut self.open_reqs);
        self.window_fails[slot] = std::mem::take(&mut self.open_fails);
    }

    fn reset(&mut self) {
        self.hist.clear();
        self.corrected = None;
        self.failures = 0;
        self.bytes = 0;
        self.open_reqs = 0;
        self.open_fails = 0;
        self.window_reqs = [0; WINDOW];
        self.window_fails = [0; WINDOW];
        self.errors.clear();
        self.ws = WsDelivery::default();
        self.sse = SseDelivery::default();
        self.fanout = FanoutCounts::default();
    }
}

/// One statistics row's latencies, serialized (HDR V2 + deflate).
#[derive(Clone, Debug, PartialEq)]
pub struct SerializedHistogram {
    pub method: String,
    pub name: String,
    pub histogram: Vec<u8>,
    /// Exact min/max/sum, which the V2 format has no room for.
    pub exact: ExactStats,
    pub corrected: Option<Vec<u8>>,
    pub corrected_exact: Option<ExactStats>,
}

pub struct Aggregator {
    names: Vec<RequestName>,
    name_cap: usize,
    /// Indexed by `NameId` below the cap; `None` until the name's first sample.
    rows: Vec<Option<Box<Row>>>,
    other: Option<Box<Row>>,
    total: Row,
    /// Aggregate counts of the open second (for its series point; its latencies are the total
    /// row's open second).
    interval_reqs: u64,
    interval_fails: u64,
    /// The last closed seconds' aggregate histograms, oldest first, and their merge.
    recent: VecDeque<LatencyHistogram>,
    window: LatencyHistogram,
    current_p50_us: u64,
    current_p95_us: u64,
    /// Length in seconds of each closed interval in the ring; 0 for slots not yet used.
    durations: [f64; WINDOW],
    slot: usize,
    last_tick: Duration,
    /// Start of the period that total rates are computed over (0, or the tick before a reset).
    rates_since: Duration,
    series: Vec<Point>,
    /// Every closed second's histograms, shared with the run's readers.
    seconds: SecondLog,
    /// Seconds closed so far (the next one's `start_s`).
    seconds_closed: u64,
    failure_groups: usize,
    warnings: Vec<String>,
    warned_names: bool,
    warned_errors: bool,
    /// How late paced and open-model starts woke up: the generator's own error.
    lag: LatencyHistogram,
    /// Open-model starts dropped because every user was busy.
    dropped: u64,
    /// Requests cut off in flight by the end of the run.
    cancelled: u64,
    /// Task iterations skipped for a `requires` without a value.
    skipped: u64,
}

impl Aggregator {
    /// `names` are indexed by `NameId`; ids at or beyond `name_cap` go to the `(other)` row.
    pub fn new(names: Vec<RequestName>, name_cap: usize) -> Self {
        Aggregator {
            names,
            name_cap,
            rows: Vec::new(),
            other: None,
            total: Row::new(),
            interval_reqs: 0,
            interval_fails: 0,
            recent: VecDeque::with_capacity(WINDOW),
            window: LatencyHistogram::new(),
            current_p50_us: 0,
            current_p95_us: 0,
            durations: [0.0; WINDOW],
            slot: 0,
            last_tick: Duration::ZERO,
            rates_since: Duration::ZERO,
            series: Vec::new(),
            seconds: SecondLog::new(),
            seconds_closed: 0,
            failure_groups: 0,
            warnings: Vec::new(),
            warned_names: false,
            warned_errors: false,
            lag: LatencyHistogram::new(),
            dropped: 0,
            cancelled: 0,
            skipped: 0,
        }
    }

    /// Names a `NameId` created at run time (dynamic names); returns the id to record under.
    pub fn add_name(&mut self, name: RequestName) -> NameId {
        self.names.push(name);
        NameId((self.names.len() - 1) as u32)
    }

    /// A note for the run's summary (shown with the warnings), e.g. why the run ended early.
    pub fn add_warning(&mut self, warning: String) {
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    /// The warnings so far, oldest first.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Counts a batch: every sample into its row, the aggregate and the open second.
    pub fn ingest(&mut self, batch: Batch) {
        for s in &batch.samples {
            self.interval_reqs += 1;
            if !s.ok {
                self.interval_fails += 1;
            }
            self.total.record(s);
            self.row_mut(s.name).record(s);
        }
        for f in batch.failures {
            self.add_failures(f.name, f.error, 1);
        }
        for &us in &batch.lags_us {
            self.lag.record(u64::from(us));
        }
        for &(name, counts) in &batch.ws {
            self.add_ws(name, counts);
        }
        for &(name, counts) in &batch.sse {
            self.add_sse(name, counts);
        }
        for &(name, counts) in &batch.fanout {
            self.add_fanout(name, counts);
        }
        self.dropped += batch.dropped;
        self.cancelled += batch.cancelled;
        self.skipped += batch.skipped;
    }

    fn add_ws(&mut self, name: NameId, counts: WsDelivery) {
        self.total.ws.add(counts);
        self.row_mut(name).ws.add(counts);
    }

    fn add_sse(&mut self, name: NameId, counts: SseDelivery) {
        self.total.sse.add(counts);
        self.row_mut(name).sse.add(counts);
    }

    fn add_fanout(&mut self, name: NameId, counts: FanoutCounts) {
        self.total.fanout.add(counts);
        self.row_mut(name).fanout.add(counts);
    }

    /// Adds one second of another generator (an agent's [`Interval`]): afterwards every number
    /// is what [`Self::ingest`] of that generator's samples would have made, bit for bit.
    pub fn absorb(&mut self, part: &Interval) -> Result<(), HistogramError> {
        for r in &part.rows {
            let latencies = r.latencies.histogram()?;
            let corrected = r.corrected.as_ref().map(Latencies::histogram).transpose()?;
            self.interval_reqs += latencies.count();
            self.interval_fails += r.failures;
            self.total
                .absorb(&latencies, corrected.as_ref(), r.failures, r.bytes);
            self.row_mut(NameId(r.name)).absorb(
                &latencies,
                corrected.as_ref(),
                r.failures,
                r.bytes,
            );
            for (error, n) in &r.errors {
                self.add_failures(NameId(r.name), error.clone(), *n);
            }
            if !r.ws.is_zero() {
                self.add_ws(NameId(r.name), r.ws);
            }
            if !r.sse.is_zero() {
                self.add_sse(NameId(r.name), r.sse);
            }
            if !r.fanout.is_zero() {
                self.add_fanout(NameId(r.name), r.fanout);
            }
        }
        if let Some(lag) = &part.lag {
            self.lag.add(&lag.histogram()?);
        }
        self.dropped += part.dropped;
        self.cancelled += part.cancelled;
        self.skipped += part.skipped;
        Ok(())
    }

    /// The generator lag's p99 in microseconds, once there are enough lag samples to tell.
    pub fn lag_p99_us(&self) -> Option<u64> {
        (self.lag.count() >= LAG_MIN_SAMPLES).then(|| self.lag.percentiles(&[0.99])[0])
    }

    /// The generator lag over the run so far; None before any paced or open-model start.
    pub fn lag(&self) -> Option<GeneratorLag> {
        let starts = self.lag.count();
        (starts > 0).then(|| {
            let p = self.lag.percentiles(&[0.5, 0.99]);
            GeneratorLag {
                starts,
                p50_ms: us_to_ms(p[0]),
                p99_ms: us_to_ms(p[1]),
                max_ms: us_to_ms(self.lag.max_us()),
            }
        })
    }

    /// Closes the current one-second interval at `elapsed` since the start: appends its point
    /// to the series, keeps its histograms in the second log and rolls the 10-second windows.
    pub fn tick(&mut self, elapsed: Duration, users: u32) {
        let secs = elapsed.saturating_sub(self.last_tick).as_secs_f64();
        // A tick at the same instant as the previous one has no length to divide by.
        let secs = if secs < 1e-3 { 1.0 } else { secs };
        let second = &self
            .total
            .open
            .get_or_insert_with(OpenSecond::new)
            .latencies;
        let p = second.percentiles(&Percentiles::QUANTILES);
        // Recycle the oldest second's histogram for the 10-second window.
        let mut recent = if self.recent.len() >= WINDOW {
            self.recent.pop_front().expect("window is full")
        } else {
            LatencyHistogram::new()
        };
        recent.clear();
        recent.add(second);
        self.recent.push_back(recent);
        self.close_second(secs);
        let total = &self.total.hist;
        let n = total.count();
        self.series.push(Point {
            t_s: elapsed.as_secs_f64().round() as u64,
            users,
            rps: self.interval_reqs as f64 / secs,
            fail_per_s: self.interval_fails as f64 / secs,
            p50_ms: us_to_ms(p[0]),
            p95_ms: us_to_ms(p[5]),
            extra: PointExtra {
                p66_ms: us_to_ms(p[1]),
                p75_ms: us_to_ms(p[2]),
                p80_ms: us_to_ms(p[3]),
                p90_ms: us_to_ms(p[4]),
                p98_ms: us_to_ms(p[6]),
                p99_ms: us_to_ms(p[7]),
                p999_ms: us_to_ms(p[8]),
                p9999_ms: us_to_ms(p[9]),
                max_ms: us_to_ms(p[10]),
                total_requests: n,
                total_failures: self.total.failures,
                total_median_ms: us_to_ms(total.percentiles(&[0.5])[0]),
                total_avg_ms: total.mean_us() / 1000.0,
                total_min_ms: us_to_ms(total.min_us()),
                total_max_ms: us_to_ms(total.max_us()),
                total_avg_bytes: if n == 0 {
                    0.0
                } else {
                    self.total.bytes as f64 / n as f64
                },
            },
        });
        self.interval_reqs = 0;
        self.interval_fails = 0;

        let slot = self.slot;
        self.durations[slot] = secs;
        for row in self.rows.iter_mut().flatten() {
            row.close_interval(slot);
        }
        if let Some(row) = &mut self.other {
            row.close_interval(slot);
        }
        self.total.close_interval(slot);
        self.slot = (slot + 1) % WINDOW;

        self.window.clear();
        for h in &self.recent {
            self.window.add(h);
        }
        let p = self.window.percentiles(&[0.5, 0.95]);
        (self.current_p50_us, self.current_p95_us) = (p[0], p[1]);
        self.last_tick = elapsed;
    }

    /// Moves the open second's histograms, the aggregate's and each row's with samples, into
    /// the second log as a second `secs` long.
    fn close_second(&mut self, secs: f64) {
        let names = &self.names;
        let mut rows: Vec<SecondRow> = self
            .rows
            .iter_mut()
            .enumerate()
            .filter_map(|(i, row)| {
                let (method, name) = label(names, i);
                row.as_mut()?.take_second(method, name)
            })
            .collect();
        rows.sort_by(|a, b| (&a.name, &a.method).cmp(&(&b.name, &b.method)));
        if let Some(row) = self.other.as_mut() {
            rows.extend(row.take_second(String::new(), OTHER_NAME.into()));
        }
        let total = self
            .total
            .take_second(String::new(), AGGREGATED.into())
            .unwrap_or_else(|| SecondRow {
                method: String::new(),
                name: AGGREGATED.into(),
                latencies: Latencies::default(),
                corrected: None,
                failures: 0,
            });
        let second = Second {
            start_s: self.seconds_closed,
            secs,
            total,
            rows,
        };
        self.seconds_closed += 1;
        if let Some(warning) = self.seconds.push(second) {
            self.add_warning(warning);
        }
    }

    /// Closes the last, partial second of a run that ends `elapsed` after its start, so that
    /// the second log holds every sample; the series keeps its whole seconds. Nothing happens
    /// when that part-second had no sample.
    pub fn close_last_second(&mut self, elapsed: Duration) {
        if self
            .total
            .open
            .as_ref()
            .is_some_and(|o| !o.latencies.is_empty())
        {
            let secs = elapsed.saturating_sub(self.last_tick).as_secs_f64();
            self.close_second(secs.max(1e-3));
        }
    }

    /// The run's closed seconds (a handle shared with the aggregator, which keeps adding to it).
    pub fn seconds(&self) -> SecondLog {
        self.seconds.clone()
    }

    pub fn snapshot(&self, elapsed: Duration, users: u32, state: RunState) -> Snapshot {
        let mut rows: Vec<StatsRow> = self
            .rows
            .iter()
            .enumerate()
            .filter_map(|(i, row)| {
                let row = row.as_deref()?;
                let (method, name) = self.label(i);
                Some(self.stats_row(row, method, name, elapsed))
            })
            .collect();
        rows.sort_by(|a, b| (&a.name, &a.method).cmp(&(&b.name, &b.method)));
        if let Some(other) = &self.other {
            rows.push(self.stats_row(other, String::new(), OTHER_NAME.into(), elapsed));
        }
        let total = self.stats_row(&self.total, String::new(), AGGREGATED.into(), elapsed);

        let mut failures = Vec::new();
        let labelled = self
            .rows
            .iter()
            .enumerate()
            .filter_map(|(i, row)| Some((self.label(i), row.as_deref()?)))
            .chain(
                self.other
                    .as_deref()
                    .map(|row| ((String::new(), OTHER_NAME.to_string()), row)),
            );
        for ((method, name), row) in labelled {
            for (error, &occurrences) in &row.errors {
                failures.push(FailureRow {
                    method: method.clone(),
                    name: name.clone(),
                    error: error.clone(),
                    occurrences,
                });
            }
        }
        failures.sort_by(|a, b| {
            b.occurrences
                .cmp(&a.occurrences)
                .then_with(|| (&a.name, &a.method, &a.error).cmp(&(&b.name, &b.method, &b.error)))
        });

        let mut warnings = self.warnings.clone();
        let saturated = self.total.hist.saturated();
        if saturated > 0 {
            warnings.push(format!("samples over 1 h, counted as 1 h: {saturated}"));
        }
        if let Some(p99) = self.lag_p99_us().filter(|&us| us > LAG_WARN_US) {
            warnings.push(format!(
                "generator lag p99 = {} ms: the load generator is saturated; numbers are suspect",
                fmt_ms(us_to_ms(p99))
            ));
        }
        if self.cancelled > 0 {
            warnings.push(format!(
                "{} requests in flight when the users stopped were cancelled (no response, not \
                 in the statistics); a longer stop timeout lets them finish",
                self.cancelled
            ));
        }
        Snapshot {
            state,
            elapsed_s: elapsed.as_secs_f64(),
            users,
            rows,
            total,
            failures,
            series: self.series.clone(),
            current_p50_ms: us_to_ms(self.current_p50_us),
            current_p95_ms: us_to_ms(self.current_p95_us),
            warnings,
            dropped: self.dropped,
            cancelled: self.cancelled,
            skipped: self.skipped,
            agents: Vec::new(),
            lag: self.lag(),
        }
    }

    /// Locust's `/stats/reset`: counters, histograms, failures and the current-rate windows
    /// start over; the series and warnings stay. Total rates then count from the last tick.
    pub fn reset(&mut self) {
        for row in self.rows.iter_mut().flatten() {
            row.reset();
        }
        if let Some(row) = &mut self.other {
            row.reset();
        }
        self.total.reset();
        self.recent.clear();
        self.window.clear();
        self.current_p50_us = 0;
        self.current_p95_us = 0;
        self.durations = [0.0; WINDOW];
        self.rates_since = self.last_tick;
        self.failure_groups = 0;
        self.lag.clear();
        self.dropped = 0;
        self.cancelled = 0;
        self.skipped = 0;
    }

    /// The histogram a name's samples went into (the `(other)` row's for names beyond the cap);
    /// `None` before its first sample.
    pub fn histogram(&self, name: NameId) -> Option<&LatencyHistogram> {
        let i = name.index();
        let row = if i < self.name_cap {
            self.rows.get(i)?.as_deref()
        } else {
            self.other.as_deref()
        };
        row.map(|r| &r.hist)
    }

    /// The corrected twin of [`Self::histogram`], when the name had paced/open-model samples.
    pub fn corrected_histogram(&self, name: NameId) -> Option<&LatencyHistogram> {
        let i = name.index();
        let row = if i < self.name_cap {
            self.rows.get(i)?.as_deref()
        } else {
            self.other.as_deref()
        };
        row.and_then(|r| r.corrected.as_ref())
    }

    pub fn total_histogram(&self) -> &LatencyHistogram {
        &self.total.hist
    }

    /// Every row's histogram (and corrected twin) serialized as HDR V2 + deflate, the
    /// Aggregated one last with method "": what history keeps and what merges across workers.
    pub fn serialized_histograms(&self) -> Vec<SerializedHistogram> {
        let dump = |row: &Row, method: String, name: String| SerializedHistogram {
            method,
            name,
            histogram: row.hist.serialize_v2_deflate(),
            exact: row.hist.exact(),
            corrected: row.corrected.as_ref().map(|h| h.serialize_v2_deflate()),
            corrected_exact: row.corrected.as_ref().map(|h| h.exact()),
        };
        let mut out: Vec<SerializedHistogram> = self
            .rows
            .iter()
            .enumerate()
            .filter_map(|(i, row)| {
                let (method, name) = self.label(i);
                Some(dump(row.as_deref()?, method, name))
            })
            .collect();
        if let Some(other) = &self.other {
            out.push(dump(other, String::new(), OTHER_NAME.into()));
        }
        out.push(dump(&self.total, String::new(), AGGREGATED.into()));
        out
    }

    /// One point per closed second since the start.
    pub fn series(&self) -> &[Point] {
        &self.series
    }

    fn label(&self, i: usize) -> (String, String) {
        label(&self.names, i)
    }

    fn row_mut(&mut self, name: NameId) -> &mut Row {
        let i = name.index();
        if i < self.name_cap {
            if i >= self.rows.len() {
                self.rows.resize_with(i + 1, || None);
            }
            return self.rows[i].get_or_insert_with(|| Box::new(Row::new()));
        }
        if !self.warned_names {
            self.warned_names = true;
            self.warnings.push(format!(
                "more than {} distinct request names; the rest are counted under {OTHER_NAME}",
                self.name_cap
            ));
        }
        self.other.get_or_insert_with(|| Box::new(Row::new()))
    }

    /// Counts `n` occurrences of `error` under `name`'s row.
    fn add_failures(&mut self, name: NameId, error: String, n: u64) {
        let error = clip_error(error);
        let full = self.failure_groups >= FAILURE_GROUP_CAP;
        let errors = &mut self.row_mut(name).errors;
        if let Some(count) = errors.get_mut(error.as_str()) {
            *count += n;
        } else if !full {
            errors.insert(error, n);
            self.failure_groups += 1;
        } else {
            *errors.entry(OTHER_ERRORS.to_string()).or_insert(0) += n;
            if !self.warned_errors {
                self.warned_errors = true;
                self.warnings.push(format!(
                    "more than {FAILURE_GROUP_CAP} distinct errors; the rest are counted as {OTHER_ERRORS}"
                ));
            }
        }
    }

    fn stats_row(&self, row: &Row, method: String, name: String, elapsed: Duration) -> StatsRow {
        let per_s = |n: u64, secs: f64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let window_secs: f64 = self.durations.iter().sum();
        let run_secs = elapsed.saturating_sub(self.rates_since).as_secs_f64();
        let n = row.hist.count();
        let percentiles = Percentiles::from_histogram(&row.hist);
        StatsRow {
            method,
            name,
            num_requests: n,
            num_failures: row.failures,
            avg_ms: row.hist.mean_us() / 1000.0,
            min_ms: us_to_ms(row.hist.min_us()),
            max_ms: us_to_ms(row.hist.max_us()),
            median_ms: percentiles.p50,
            percentiles,
            corrected: row.corrected.as_ref().map(Percentiles::from_histogram),
            avg_bytes: if n == 0 {
                0.0
            } else {
                row.bytes as f64 / n as f64
            },
            current_rps: per_s(row.window_reqs.iter().sum(), window_secs),
            current_fail_per_s: per_s(row.window_fails.iter().sum(), window_secs),
            total_rps: per_s(n, run_secs),
            total_fail_per_s: per_s(row.failures, run_secs),
            ws: (!row.ws.is_zero()).then_some(row.ws),
            sse: (!row.sse.is_zero()).then(|| SseStreams::new(row.sse, run_secs)),
            fanout: (!row.fanout.is_zero()).then(|| FanoutFigures::new(row.fanout)),
        }
    }
}

/// The (method, name) of row `i`.
fn label(names: &[RequestName], i: usize) -> (String, String) {
    match names.get(i) {
        Some(n) => (n.kind.clone(), n.name.clone()),
        None => (String::new(), format!("#{i}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::sample::Failure;

    fn names() -> Vec<RequestName> {
        [("GET", "/b"), ("POST", "/a"), ("GET", "/a")]
            .iter()
            .map(|(k, n)| RequestName {
                kind: k.to_string(),
                name: n.to_string(),
            })
            .collect()
    }

    fn sample(name: u32, latency_us: u32, ok: bool) -> Sample {
        Sample {
            name: NameId(name),
            latency_us,
            corrected_us: 0,
            bytes: 100,
            end_ms: 0,
            status: 200,
            ok,
        }
    }

    fn batch(samples: Vec<Sample>) -> Batch {
        Batch {
            samples,
            ..Batch::default()
        }
    }

    fn failing(name: u32, error: &str, n: usize) -> Batch {
        Batch {
            samples: (0..n).map(|_| sample(name, 1_000, false)).collect(),
            failures: (0..n)
                .map(|_| Failure {
                    name: NameId(name),
                    error: error.to_string(),
                })
                .collect(),
            ..Batch::default()
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn snap(agg: &Aggregator, elapsed: u64) -> Snapshot {
        agg.snapshot(secs(elapsed), 7, RunState::Running)
    }

    #[test]
    fn websocket_delivery_counts_add_up_per_row_and_in_the_total() {
        let mut agg = Aggregator::new(names(), DEFAULT_NAME_CAP);
        let counts = |sent, received, lost| WsDelivery {
            sent,
            received,
            lost,
            cut: 0,
        };
        let mut b = batch(vec![sample(1, 5_000, true), sample(2, 1_000, true)]);
        b.ws.push((NameId(1), counts(10, 9, 1)));
        agg.ingest(b);
        let mut b = batch(vec![sample(1, 5_000, true)]);
        b.ws.push((NameId(1), counts(5, 5, 0)));
        agg.ingest(b);
        let s = snap(&agg, 2);
        let post = s.rows.iter().find(|r| r.method == "POST").expect("POST /a");
        assert_eq!(post.ws, Some(counts(15, 14, 1)));
        let get = s.rows.iter().find(|r| r.method == "GET").expect("GET /a");
        assert_eq!(get.ws, None, "no counts on rows without messages");
        assert_eq!(s.total.ws, Some(counts(15, 14, 1)));
        let json = serde_json::to_value(post).expect("json");
        assert_eq!(json["ws"]["lost"], 1);
        agg.reset();
        assert_eq!(snap(&agg, 3).total.ws, None);
    }

    #[test]
    fn sse_stream_counts_add_up_per_row_with_events_per_second() {
        let mut agg = Aggregator::new(names(), DEFAULT_NAME_CAP);
        let counts = |opened, drops, reconnects, events| SseDelivery {
            opened,
            drops,
            reconnects,
            events,
        };
        let mut b = batch(vec![sample(1, 5_000, true)]);
        b.sse.push((NameId(2), counts(1, 1, 0, 10)));
        b.sse.push((NameId(2), counts(2, 1, 2, 20)));
        agg.ingest(b);
        let s = snap(&agg, 10);
        let get = s.rows.iter().find(|r| r.method == "GET").expect("GET /a");
        let sse = get.sse.expect("stream counts on the row");
        assert_eq!(
            (sse.opened, sse.drops, sse.reconnects, sse.events),
            (3, 2, 2, 30)
        );
        assert!((sse.drop - 2.0 / 3.0).abs() < 1e-12);
        assert!((sse.events_per_s - 3.0).abs() < 1e-9, "{sse:?}");
        assert_eq!(s.total.sse.map(|t| t.events), Some(30));
        let post = s.rows.iter().find(|r| r.method == "POST").expect("POST /a");
        assert_eq!(post.sse, None, "no counts on rows without streams");
        agg.reset();
        assert_eq!(snap(&agg, 11).total.sse, None);
    }

    #[test]
    fn counts_per_name_and_aggregated_sorted_like_locust() {
        let mut agg = Aggregator::new(names(), DEFAULT_NAME_CAP);
        agg.ingest(batch((1..=1000).map(|us| sample(0, us, true)).collect()));
        agg.ingest(batch(vec![sample(1, 5_000, true), sample(1, 7_000, false)]));
        agg.ingest(batch(vec![sample(2, 2_000, true)]));
        let s = snap(&agg, 2);
        let keys: Vec<_> = s
            .rows
            .iter()
            .map(|r| (r.method.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(keys, [("GET", "/a"), ("POST", "/a"), ("GET", "/b")]);

        let b = &s.rows[2];
        assert_eq!((b.num_requests, b.num_failures), (1000, 0));
        assert_eq!(
            (b.min_ms, b.max_ms, b.avg_ms, b.median_ms),
            (0.001, 1.0, 0.5005, 0.5)
        );
        assert_eq!((b.percentiles.p90, b.percentiles.p99), (0.9, 0.99));
        assert_eq!(b.avg_bytes, 100.0);
        assert_eq!(b.total_rps, 500.0);
        assert!(b.corrected.is_none());

        let post = &s.rows[1];
        assert_eq!((post.num_requests, post.num_failures), (2, 1));
        assert_eq!((post.min_ms, post.max_ms, post.avg_ms), (5.0, 7.0, 6.0));
        assert_eq!(post.total_fail_per_s, 0.5);

        assert_eq!(s.total.name, "Aggregated");
        assert_eq!(s.total.method, "");
        assert_eq!((s.total.num_requests, s.total.num_failures), (1003, 1));
        assert_eq!((s.total.min_ms, s.total.max_ms), (0.001, 7.0));
        assert_eq!(s.total.percentiles.p100, 7.0);
        assert_eq!((s.state, s.users, s.elapsed_s), (RunState::Running, 7, 2.0));
        assert!(s.failures.is_empty() && s.warnings.is_empty());
        assert_eq!(agg.histogram(NameId(0)).map(|h| h.count()), Some(1000));
        assert!(agg.histogram(NameId(5)).is_none());
        assert_eq!(agg.total_histogram().count(), 1003);
    }

    #[test]
    fn rows_appear_only_once_they_have_samples() {
        let mut agg = Aggregator::new(names(), DEFAULT_NAME_CAP);
        assert!(snap(&agg, 0).rows.is_empty());
        agg.ingest(batch(vec![sample(2, 10, true)]));
        let s = snap(&agg, 0);
        assert_eq!(s.rows.len(), 1);
        // no elapsed time yet: no rate, not a division by zero
        assert_eq!((s.total.total_rps, s.total.current_rps), (0.0, 0.0));
    }

    #[test]
    fn failures_are_grouped_by_name_and_error_with_occurrences() {
        let mut agg = Aggregator::new(names(), DEFAULT_NAME_CAP);
        agg.ingest(failing(0, "HTTP 500", 3));
        agg.ingest(failing(0, "timeout", 5));
        agg.ingest(failing(2, "HTTP 500", 1));
        agg.ingest(failing(0, "HTTP 500", 2));
        let s = snap(&agg, 1);
        let got: Vec<_> = s
            .failures
            .iter()
            .map(|f| {
                (
                    f.method.as_str(),
                    f.name.as_str(),
                    f.error.as_str(),
                    f.occurrences,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("GET", "/b", "HTTP 500", 5),
                ("GET", "/b", "timeout", 5),
                ("GET", "/a", "HTTP 500", 1),
            ]
        );
        assert_eq!(s.total.num_failures, 11);
    }

    #[test]
    fn failure_groups_are_capped() {
        let mut agg = Aggregator::new(names(), DEFAULT_NAME_CAP);
        for i in 0..FAILURE_GROUP_CAP + 5 {
            agg.ingest(failing(0, &format!("error {i}"), 1));
        }
        agg.ingest(failing(0, "error 0", 1));
        let s = snap(&agg, 1);
        assert_eq!(s.failures.len(), FAILURE_GROUP_CAP + 1);
        assert_eq!(s.failures[0].error, "(other errors)");
        assert_eq!(s.failures[0].occurrences, 5);
        assert_eq!(s.failures[1].error, "error 0");
        assert_eq!(s.failures[1].occurrences, 2);
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("distinct errors"));
    }

    #[test]
    fn long_errors_are_cut() {
        let mut agg = Aggregator::new(names(), DEFAULT_NAME_CAP);
        agg.ingest(failing(1, &"é".repeat(1000), 1));
        let s = snap(&agg, 1);
        assert_eq!(
            s.failures[0].error.len(),
            crate::stats::failures::MAX_ERROR_BYTES + '…'.len_utf8()
        );
        assert!(s.failures[0].error.ends_with('…'));
    }

    #[test]
    fn names_beyond_the_cap_go_to_other_with_one_warning() {
        let mut agg = Aggregator::new(names(), 2);
        agg.ingest(batch(vec![sample(0, 10, true), sample(1, 10, true)]));
        agg.ingest(batch(vec![sample(2, 10, true), sample(9, 10, true)]));
        agg.ingest(failing(7, "boom", 1));
        let s = snap(&agg, 1);
        let keys: Vec<_> = s
            .rows
            .iter()
            .map(|r| (r.method.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(keys, [("POST", "/a"), ("GET", "/b"), ("", "(other)")]);
        assert_eq!(s.rows[2].num_requests, 3);
        assert_eq!(s.rows[2].num_failures, 1);
        assert_eq!(s.total.num_requests, 5);
        assert_eq!(
            s.warnings,
            ["more than 2 distinct request names; the rest are counted under (other)"]
        );
        assert_eq!(s.failures[0].name, "(other)");
        assert_eq!(agg.histogram(NameId(9)).map(|h| h.count()), Some(3));
    }

    #[test]
    fn unnamed_ids_below_the_cap_still_count_and_dynamic_names_get_labels() {
        let mut agg = Aggregator::new(Vec::new(), DEFAULT_NAME_CAP);
        agg.ingest(batch(vec![sample(1, 10, true)]));
        let id = agg.add_name(RequestName {
            kind: "GET".into(),
            name: "/dyn".into(),
        });
        assert_eq!(id, NameId(0));
        agg.ingest(batch(vec![sample(0, 10, true)]));
        let s = snap(&agg, 1);
        let keys: Vec<_> = s
            .rows
            .iter()
            .map(|r| (r.method.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(keys, [("", "#1"), ("GET", "/dyn")]);
    }

    #[test]
    fn current_rps_is_the_mean_of_the_closed_intervals_in_the_window() {
        let mut agg = Aggregator::new(names(), DEFAULT_NAME_CAP);
        assert_eq!(snap(&agg, 0).total.current_rps, 0.0);
        for t in 1..=3 {
            let mut samples: Vec<_> = (0..100).map(|_| sample(0, 1_000, true)).collect();
            samples[0].ok = false;
            agg.ingest(batch(samples));
            agg.tick(secs(t), 10);
        }
        // samples in the open interval do not count yet
        agg.ingest(batch((0..50).map(|_| sample(0, 1_000, true)).collect()));
        let s = snap(&agg, 3);
        assert_eq!(s.total.current_rps, 100.0);
        assert_eq!(s.total.current_fail_per_s, 1.0);
        assert_eq!(s.rows[0].current_rps, 100.0);
        assert_eq!(s.total.num_requests, 350);
        let s = agg.snapshot(Duration::from_millis(3500), 10, RunState::Running);
        assert_eq!(s.total.total_rps, 100.0);
        assert!((s.total.total_fail_per_s - 3.0 / 3.5).abs() < 1e-12);

        // after 12 more seconds only the last 10 count
        for t in 4..=15 {
            let n = if t <= 5 { 1000 } else { 10 };
            agg.ingest(batch((0..n).map(|_| sample(2, 1_000, true)).collect()));
            agg.tick(secs(t), 10);
        }
        let s = snap(&agg, 15);
        assert_eq!(s.total.current_rps, 10.0);
        assert_eq!(s.total.current_fail_per_s, 0.0);
        let b = s.rows.iter().find(|r| r.name == "/b").expect("row /b");
        assert_eq!(b.current_rps, 0.0);
    }

    #[test]
    fn a_late_tick_divides_by_the_real_interval() {
        let mut agg = Aggregator::new(names(), DEFAULT_NAME_CAP);
        agg.ingest(batch((0..100).map(|_| sample(0, 1_000, true)).collect()));
        agg.tick(secs(1), 1);
        agg.ingest(batch((0..300).map(|_| sample(0, 1_000, true)).collect()));
        agg.tick(secs(3), 1);
        let s = snap(&agg, 3);
        assert_eq!(s.series[1].rps, 150.0);
        assert_eq!(s.total.current_rps, 400.0 / 3.0);
    }

    #[test]
    fn one_series_point_per_tick_with_that_seconds_numbers() {
        let mut agg = Aggregator::new(names(), DEFAULT_NAME_CAP);
        agg.ingest(batch(
            (1..=1000).map(|us| sample(0, us, us % 100 != 0)).collect(),
        ));
        agg.tick(secs(1), 5);
        agg.tick(secs(2), 6);
        agg.ingest(batch(vec![sample(1, 1_500, true), sample(1, 2_000, true)]));
        agg.tick(Duration::from_millis(2999), 8);
        let s = snap(&agg, 3);
        let plain: Vec<Point> = s
            .series
            .iter()
            .map(|p| Point {
                extra: PointExtra::default(),
                ..*p
            })
            .collect();
        assert_eq!(
            plain,
            [
                Point {
                    t_s: 1,
                    users: 5,
                    rps: 1000.0,
                    fail_per_s: 10.0,
                    p50_ms: 0.5,
                    p95_ms: 0.95,
                    ..Point::default()
                },
                Point {
                    t_s: 2,
                    users: 6,
                    rps: 0.0,
                    fail_per_s: 0.0,
                    p50_ms: 0.0,
                    p95_ms: 0.0,
                    ..Point::default()
                },
                Point {
                    t_s: 3,
                    users: 8,
                    rps: 2.0 / 0.999,
                    fail_per_s: 0.0,
                    p50_ms: 1.5,
                    p95_ms: 2.0,
                    ..Point::default()
                },
            ]
        );
        assert_eq!(agg.series().len(), 3);
        // the second's other percentiles, and the run's totals at its end
        let (e1, e2, e3) = (&s.series[0].extra, &s.series[1].extra, &s.series[2].extra);
        assert_eq!((e1.p90_ms, e1.p99_ms, e1.max_ms), (0.9, 0.99, 1.0));
        assert_eq!((e1.total_requests, e1.total_failures), (1000, 10));
        assert_eq!((e1.total_median_ms, e1.total_avg_ms), (0.5, 0.5005));
        assert_eq!(
            (e1.total_min_ms, e1.total_max_ms, e1.total_avg_bytes),
            (0.001, 1.0, 100.0)
        );
        assert_eq!((e2.max_ms, e2.total_requests), (0.0, 1000));
        assert_eq!((e3.p66_ms, e3.max_ms, e3.total_requests), (2.0, 2.0, 1002));
        assert_eq!((e3.total_max_ms, e3.total_failures), (2.0, 10));
        // the window holds the three seconds: 1002 samples, p50 of all of them
        assert_eq!(s.current_p50_ms, 0.501);
        assert_eq!(s.current_p95_ms, 0.952);
    }

    #[test]
    fn current_percentiles_forget_seconds_older_than_the_window() {
        let mut agg = Aggregator::new(names(), DEFAULT_NAME_CAP);
        agg.ingest(batch((0..100).map(|_| sample(0, 900_000, true)).collect()));
        agg.tick(secs(1), 1);
        for t in 2..=11 {
            agg.ingest(batch((0..10).map(|_| sample(0, 2_000, true)).collect()));
            agg.tick(secs(t), 1);
        }
        let s = snap(&agg, 11);
        assert_eq!((s.current_p50_ms, s.current_p95_ms), (2.0, 2.0));
        assert_eq!(s.total.max_ms, 900.0);
    }

    #[test]
    fn corrected_twin_only_for_names_with_an_intended_start() {
        let mut agg = Aggregator::new(names(), DEFAULT_NAME_CAP);
        agg.ingest(batch(vec![sample(0, 1_000, true), sample(1, 1_000, true)]));
        assert!(agg.corrected_histogram(NameId(0)).is_none());
        let mut paced = sample(0, 2_000, true);
        paced.corrected_us = 50_000;
        agg.ingest(batch(vec![paced, sample(0, 1_500, true)]));
        let s = snap(&agg, 1);
        let b = s.rows.iter().find(|r| r.name == "/b").expect("row /b");
        let a = s.rows.iter().find(|r| r.name == "/a").expect("row /a");
        assert!(a.corrected.is_none());
        let c = b.corrected.expect("twin for /b");
        // seeded with the earlier sample, then the corrected value, then the plain one
        assert_eq!(
            agg.corrected_histogram(NameId(0)).map(|h| h.count()),
            Some(3)
        );
        assert_eq!((c.p50, c.p100), (1.5, 50.0));
        assert_eq!(b.percentiles.p100, 2.0);
        let t = s.total.corrected.expect("aggregate twin");
        assert_eq!(t.p100, 50.0);
        assert_eq!(agg.total_histogram().count(), 4);
    }

    #[test]
    fn reset_clears_counts_and_failures_but_not_the_series() {
        let mut agg = Aggregator::new(names(), DEFAULT_NAME_CAP);
        agg.ingest(batch((0..100).map(|_| sample(0, 1_000, true)).collect()));
        agg.ingest(failing(1, "boom", 4));
        agg.tick(secs(1), 3);
        agg.tick(secs(2), 3);
        agg.reset();
        let s = snap(&agg, 2);
        assert_eq!(s.series.len(), 2);
        assert_eq!((s.total.num_requests, s.total.num_failures), (0, 0));
        assert_eq!((s.total.current_rps, s.total.max_ms), (0.0, 0.0));
        assert!(s.failures.is_empty());
        assert!(s
            .rows
            .iter()
            .all(|r| r.num_requests == 0 && r.corrected.is_none()));
        assert_eq!(agg.total_histogram().count(), 0);
        assert_eq!(s.current_p50_ms, 0.0);

        agg.ingest(batch((0..30).map(|_| sample(0, 1_000, true)).collect()));
        agg.tick(secs(3), 3);
        let s = snap(&agg, 5);
        // counted since the tick before the reset (2 s)
        assert_eq!(s.total.total_rps, 10.0);
        assert_eq!(s.total.current_rps, 30.0);
        assert_eq!(s.total.num_requests, 30);
    }

    #[test]
    fn dropped_starts_add_up_and_generator_lag_warns_above_10ms_p99() {
        let mut agg = Aggregator::new(names(), DEFAULT_NAME_CAP);
        let lags = |us: u32, n: usize| Batch {
            lags_us: vec![us; n],
            ..Batch::default()
        };
        agg.ingest(Batch {
            dropped: 3,
            ..lags(900, 98)
        });
        agg.ingest(Batch {
            dropped: 4,
            ..lags(34_000, 1)
        });
        // 99 lag samples: too few to judge, even with one at 34 ms
        let s = snap(&agg, 1);
        assert_eq!(s.dropped, 7);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        // 100 samples, 2 of them at 34 ms: the p99 is 34 ms
        agg.ingest(lags(34_000, 1));
        assert_eq!(agg.lag_p99_us(), Some(34_000));
        let s = snap(&agg, 1);
        assert_eq!(
            s.warnings,
            ["generator lag p99 = 34.0 ms: the load generator is saturated; numbers are suspect"]
        );
        // 1 % over 10 ms is still fine
        let mut agg = Aggregator::new(names(), DEFAULT_NAME_CAP);
        agg.ingest(lags(1_000, 990));
        agg.ingest(lags(50_000, 10));
        assert!(agg.lag_p99_us().is_some_and(|us| us < 1_100));
        assert!(snap(&agg, 1).warnings.is_empty());
        // the figures the page, the API and the table show
        let lag = snap(&agg, 1).lag.expect("lag figures");
        assert_eq!(lag.starts, 1_000);
        assert!((lag.p50_ms - 1.0).abs() < 0.01, "{lag:?}");
        assert!(
            lag.p99_ms < 1.1 && (lag.max_ms - 50.0).abs() < 0.1,
            "{lag:?}"
        );
        assert_eq!(lag.text(), "1.00 / 1.00 ms");
        agg.reset();
        assert_eq!((snap(&agg, 1).dropped, agg.lag_p99_us()), (0, None));
        assert_eq!(snap(&agg, 1).lag, None);
    }

    #[test]
    fn latencies_above_one_hour_warn() {
        let mut agg = Aggregator::new(names(), DEFAULT_NAME_CAP);
        agg.ingest(batch(vec![sample(0, u32::MAX, true)]));
        let s = snap(&agg, 1);
        assert_eq!(s.total.max_ms, 3_600_000.0);
        assert_eq!(s.warnings, ["samples over 1 h, counted as 1 h: 1"]);
    }
}
