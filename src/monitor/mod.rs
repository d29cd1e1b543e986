//! Monitors: the `[monitor]` sources (Prometheus text endpoints, a Prometheus server's query
//! API, local processes) read every `every` beside a run, in a task of their own that follows
//! the run's snapshots and ends with it (the same stop path: nothing stops a monitor but the
//! run ending). Never on the users' path: the users do not know it exists. Each read lands on
//! the run's elapsed axis, in a [`MonitorFeed`] the pages and verdicts read live, and in the
//! history through the store's writer. A source that cannot be read is a run warning (once per
//! source and cause) and a gap in its series, never a failed run.

pub mod process;
pub mod prometheus;
pub mod query;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::engine::vars::{SharedVars, Vars};
use crate::engine::RunHandle;
use crate::plan::monitor::*;
use crate::plan::template::Template;
use crate::protocols::http_client::{HttpShared, OriginInfo, Outgoing, Target, UserHttp};
use crate::stats::monitor::{MonitorData, MonitorPoint, MonitorSeries, SeriesKind};
use crate::store::monitor::{MonitorBatch, MonitorRead, SeriesHead};
use crate::store::StoreWriter;

/// The most of a Prometheus endpoint's or query API's answer that is read.
const MAX_ANSWER_BYTES: u64 = 16 * 1024 * 1024;
/// The longest a read may take (shorter when `every` is).
const MAX_READ_TIME: Duration = Duration::from_secs(10);

/// A run's monitor series as read so far; cheap to clone. A std mutex: held only to append a
/// read or copy the series out, never across an await.
#[derive(Clone, Debug, Default)]
pub struct MonitorFeed(Arc<Mutex<MonitorData>>);

impl MonitorFeed {
    fn new(monitor: &Monitor) -> MonitorFeed {
        let mut series = Vec::new();
        for p in &monitor.prometheus {
            for m in &p.metrics {
                let counter = counter_by_name(&m.metric);
                series.push(empty_series(
                    &m.series,
                    MonitorUnit::of_metric(&m.metric, counter),
                    if counter {
                        SeriesKind::Rate
                    } else {
                        SeriesKind::Gauge
                    },
                ));
            }
        }
        for q in &monitor.query {
            series.push(empty_series(&q.series, q.unit, SeriesKind::Gauge));
        }
        for p in &monitor.process {
            for stat in ProcessStat::ALL {
                series.push(empty_series(
                    &p.series(stat),
                    stat.unit(),
                    SeriesKind::Gauge,
                ));
            }
        }
        MonitorFeed(Arc::new(Mutex::new(MonitorData {
            warmup_s: monitor.warmup.as_secs_f64(),
            window_s: monitor.growth_window().as_secs_f64(),
            series,
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MonitorData> {
        // appends and copies only: a panic cannot leave the series half-written
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of every series so far.
    pub fn data(&self) -> MonitorData {
        self.lock().clone()
    }

    /// Judges the `monitor.…` thresholds on the series so far, in place of their verdicts (no
    /// copy of the series: a long soak's live page asks every second).
    pub fn judge(
        &self,
        thresholds: &[crate::plan::model::Threshold],
        verdicts: &mut [crate::stats::thresholds::Verdict],
    ) {
        crate::stats::monitor::judge_all(thresholds, verdicts, &self.lock());
    }

    /// The points added since `sent` (points already sent per series, updated): what the live
    /// page has not drawn yet. Series without new points are left out.
    pub fn since(&self, sent: &mut Vec<usize>) -> Vec<MonitorSeries> {
        let data = self.lock();
        sent.resize(data.series.len(), 0);
        let mut out = Vec::new();
        for (s, sent) in data.series.iter().zip(sent.iter_mut()) {
            if s.points.len() > *sent {
                out.push(MonitorSeries {
                    name: s.name.clone(),
                    unit: s.unit,
                    kind: s.kind,
                    points: s.points[*sent..].to_vec(),
                });
                *sent = s.points.len();
            }
        }
        out
    }

    /// Each series' latest value (series without a read yet are left out).
    pub fn latest(&self) -> Vec<(String, MonitorUnit, f64)> {
        self.lock()
            .series
            .iter()
            .filter_map(|s| Some((s.name.clone(), s.unit, s.points.last()?.value)))
            .collect()
    }
}

fn empty_series(name: &str, unit: MonitorUnit, kind: SeriesKind) -> MonitorSeries {
    MonitorSeries {
        name: name.to_string(),
        unit,
        kind,
        points: Vec::new(),
    }
}

/// A run's monitors while they read.
pub struct MonitorRun {
    pub feed: MonitorFeed,
    task: JoinHandle<()>,
}

impl MonitorRun {
    /// Waits for the monitors to stop (they stop once the run has ended) and returns every
    /// series read.
    pub async fn finished(self) -> MonitorData {
        // Err: the task panicked; what it had read is still in the feed
        let _ = self.task.await;
        self.feed.data()
    }
}

/// Where a run's monitor reads are stored: the history's writer and the run's id.
pub struct MonitorStore {
    pub writer: StoreWriter,
    pub run_id: Arc<str>,
}

/// Starts reading `monitor` for the run `handle` controls, which started at `started`.
pub fn start(
    monitor: &Monitor,
    started: Instant,
    handle: RunHandle,
    store: Option<MonitorStore>,
) -> MonitorRun {
    let feed = MonitorFeed::new(monitor);
    let timeout = monitor.every.min(MAX_READ_TIME);
    let mut sources: Vec<Source> = Vec::new();
    for p in &monitor.prometheus {
        sources.push(Source::new(
            &p.name,
            SourceKind::Prometheus(p.clone()),
            timeout,
        ));
    }
    for q in &monitor.query {
        sources.push(Source::new(
            &q.series,
            SourceKind::Query(q.clone()),
            timeout,
        ));
    }
    for p in &monitor.process {
        sources.push(Source::new(
            &p.name,
            SourceKind::Process(p.clone()),
            timeout,
        ));
    }
    let reader = Reader {
        feed: feed.clone(),
        store,
        handle,
        started,
        warned: HashSet::new(),
        stored_heads: HashSet::new(),
        positions: monitor
            .series_names()
            .into_iter()
            .enumerate()
            .map(|(i, name)| (name, i))
            .collect(),
        warmup_ms: monitor.warmup.as_millis() as i64,
        window_ms: monitor.growth_window().as_millis() as i64,
    };
    let task = tokio::spawn(reader.run(sources, monitor.every));
    MonitorRun { feed, task }
}

struct Reader {
    feed: MonitorFeed,
    store: Option<MonitorStore>,
    handle: RunHandle,
    started: Instant,
    /// (source, cause) pairs already warned about.
    warned: HashSet<(String, &'static str)>,
    /// Series whose unit and kind are in the store.
    stored_heads: HashSet<String>,
    positions: HashMap<String, usize>,
    warmup_ms: i64,
    window_ms: i64,
}

impl Reader {
    async fn run(mut self, mut sources: Vec<Source>, every: Duration) {
        let mut snapshots = self.handle.snapshots();
        let mut ticks = tokio::time::interval_at(self.started, every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if snapshots.borrow_and_update().state.is_final() {
                break;
            }
            tokio::select! {
                _ = ticks.tick() => {}
                changed = snapshots.changed() => {
                    if changed.is_err() { break }
                    continue;
                }
            }
            let at = self.started.elapsed();
            let t_s = (at.as_millis() as f64) / 1000.0;
            let reads =
                futures_util::future::join_all(sources.iter_mut().map(|s| s.read(t_s))).await;
            let mut batch = MonitorBatch::default();
            for (source, result) in sources.iter().zip(reads) {
                match result {
                    Ok((values, problem)) => {
                        self.record(t_s, values, &mut batch);
                        if let Some(problem) = problem {
                            self.warn(&source.name, problem);
                        }
                    }
                    Err(problem) => self.warn(&source.name, problem),
                }
            }
            if let Some(store) = &self.store {
                if !batch.reads.is_empty() {
                    store.writer.monitor(store.run_id.clone(), batch);
                }
            }
        }
    }

    fn record(&mut self, t_s: f64, values: Vec<Value>, batch: &mut MonitorBatch) {
        let mut data = self.feed.lock();
        for v in values {
            let Some(series) = data.series.iter_mut().find(|s| s.name == v.series) else {
                continue;
            };
            series.unit = v.unit;
            series.kind = v.kind;
            series.points.push(MonitorPoint {
                t_s,
                value: v.value,
            });
            if self.stored_heads.insert(v.series.clone()) {
                batch.new_series.push(SeriesHead {
                    name: v.series.clone(),
                    unit: v.unit,
                    kind: v.kind,
                    position: self.positions.get(&v.series).copied().unwrap_or(0),
                    warmup_ms: self.warmup_ms,
                    window_ms: self.window_ms,
                });
            }
            batch.reads.push(MonitorRead {
                series: v.series,
                t_ms: (t_s * 1000.0).round() as i64,
                value: v.value,
            });
        }
    }

    fn warn(&mut self, source: &str, problem: Problem) {
        if self.warned.insert((source.to_string(), problem.cause)) {
            tracing::info!(source, cause = problem.cause, message = %problem.message,
                "monitor read failed");
            self.handle.warn(format!(
                "monitor {source}: {} (its series have a gap; the run goes on)",
                problem.message
            ));
        }
    }
}

/// One series' value from one read.
struct Value {
    series: String,
    unit: MonitorUnit,
    kind: SeriesKind,
    value: f64,
}

/// Why a source gave nothing this time: a cause (warned once per source) and the error text.
struct Problem {
    cause: &'static str,
    message: String,
}

impl Problem {
    fn new(cause: &'static str, message: impl Into<String>) -> Problem {
        Problem {
            cause,
            message: message.into(),
        }
    }
}

enum SourceKind {
    Prometheus(PrometheusSource),
    Query(QuerySource),
    Process(ProcessSource),
}

struct Source {
    name: String,
    kind: SourceKind,
    timeout: Duration,
    client: UserHttp,
    /// A counter series' last raw value and its time, for its rate.
    counters: HashMap<String, (f64, f64)>,
    /// The processes' CPU seconds at the last read, and its time.
    cpu: Option<(HashMap<u32, f64>, f64)>,
    /// Reads of this source so far, and the selectors that matched in one of them.
    reads: u32,
    matched: std::collections::HashSet<String>,
}

/// A selector that has matched nothing in this many reads is said to match nothing: a counter
/// the load creates (a route's first request) is missing from the first read or two, and that is
/// no problem (seen on Prometheus's own `prometheus_http_requests_total{handler=…}`).
const READS_BEFORE_NO_MATCH: u32 = 3;

impl Source {
    fn new(name: &str, kind: SourceKind, timeout: Duration) -> Source {
        Source {
            name: name.to_string(),
            kind,
            timeout,
            client: UserHttp::new(HttpShared::new()),
            counters: HashMap::new(),
            cpu: None,
            reads: 0,
            matched: std::collections::HashSet::new(),
        }
    }

    /// The values of one read, with a problem to warn about beside them (a selector that
    /// matched nothing); Err when the source could not be read.
    async fn read(&mut self, t_s: f64) -> Result<(Vec<Value>, Option<Problem>), Problem> {
        match &self.kind {
            SourceKind::Prometheus(p) => {
                let (url, token, selectors) = (p.url.clone(), p.token.clone(), p.metrics.clone());
                let body = self.get(&url, token.as_ref(), "text/plain").await?;
                let text = String::from_utf8_lossy(&body);
                let (readings, _bad_lines) = prometheus::read(&text, &selectors);
                let mut out = Vec::new();
                let mut missing = Vec::new();
                self.reads += 1;
                for (sel, reading) in selectors.iter().zip(readings) {
                    let Some(r) = reading else {
                        // gone after it was there, or never there in the first reads
                        if self.matched.contains(&sel.series) || self.reads >= READS_BEFORE_NO_MATCH
                        {
                            missing.push(sel.text.as_str());
                        }
                        continue;
                    };
                    if !self.matched.contains(&sel.series) {
                        self.matched.insert(sel.series.clone());
                    }
                    let unit = MonitorUnit::of_metric(&sel.metric, r.counter);
                    if r.counter {
                        let previous = self.counters.insert(sel.series.clone(), (r.value, t_s));
                        let rate = previous
                            .and_then(|prev| prometheus::counter_rate(prev, (r.value, t_s)));
                        if let Some(rate) = rate {
                            out.push(value(&sel.series, unit, SeriesKind::Rate, rate));
                        }
                    } else {
                        out.push(value(&sel.series, unit, SeriesKind::Gauge, r.value));
                    }
                }
                // said once (by cause); the selectors that matched still give their series
                let problem = (!missing.is_empty()).then(|| {
                    Problem::new(
                        "no match",
                        format!("{url} has no sample for {}", missing.join(", ")),
                    )
                });
                Ok((out, problem))
            }
            SourceKind::Query(q) => {
                let url =
                    query::query_url(&q.url, &q.promql).map_err(|e| Problem::new("bad url", e))?;
                let (series, unit, token) = (q.series.clone(), q.unit, q.token.clone());
                let body = self.get(&url, token.as_ref(), "application/json").await?;
                let v = query::answer_value(&body).map_err(|e| Problem::new("answer", e))?;
                Ok((vec![value(&series, unit, SeriesKind::Gauge, v)], None))
            }
            SourceKind::Process(p) => {
                let find = p.find.clone();
                let read = tokio::task::spawn_blocking(move || process::read(&find))
                    .await
                    .map_err(|e| Problem::new("unreadable", e.to_string()))?;
                let read = read.map_err(|e| match e {
                    process::ProcessProblem::NotFound(m) => Problem::new("not found", m),
                    process::ProcessProblem::Unreadable(m) => Problem::new("unreadable", m),
                })?;
                let mut out = vec![
                    value(
                        &p.series(ProcessStat::Rss),
                        MonitorUnit::Bytes,
                        SeriesKind::Gauge,
                        read.rss_bytes,
                    ),
                    value(
                        &p.series(ProcessStat::Fds),
                        MonitorUnit::Count,
                        SeriesKind::Gauge,
                        read.fds,
                    ),
                ];
                let cpu_series = p.series(ProcessStat::Cpu);
                if let Some((before, t0)) = self.cpu.take() {
                    if let Some(pct) = process::cpu_percent(&before, &read.cpu_s, t_s - t0) {
                        out.insert(
                            0,
                            value(&cpu_series, MonitorUnit::Percent, SeriesKind::Gauge, pct),
                        );
                    }
                }
                self.cpu = Some((read.cpu_s, t_s));
                Ok((out, None))
            }
        }
    }

    /// GET `url` with Hornet's own client, within the read's timeout; the body of a 2xx.
    async fn get(
        &mut self,
        url: &str,
        token: Option<&Template>,
        accept: &'static str,
    ) -> Result<bytes::Bytes, Problem> {
        let origin = OriginInfo::parse(url).map_err(|e| Problem::new("bad url", e.to_string()))?;
        let target =
            Target::join(&origin, url).map_err(|e| Problem::new("bad url", e.to_string()))?;
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::ACCEPT, http::HeaderValue::from_static(accept));
        if let Some(token) = token {
            let vars = Vars::new(SharedVars::empty());
            let token = token
                .render(&vars)
                .map_err(|e| Problem::new("token", e.to_string()))?;
            if !token.is_empty() {
                let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| Problem::new("token", "the token is not a valid header value"))?;
                headers.insert(http::header::AUTHORIZATION, value);
            }
        }
        let request = Outgoing {
            method: http::Method::GET,
            target,
            headers,
            body: bytes::Bytes::new(),
        };
        let sent = tokio::time::timeout(
            self.timeout,
            self.client.send(request, Some(MAX_ANSWER_BYTES), false),
        )
        .await;
        let response = match sent {
            Err(_) => {
                self.client.reset_connection();
                return Err(Problem::new(
                    "timeout",
                    format!(
                        "{url}: no answer within {}",
                        crate::format::fmt_duration(self.timeout.as_secs_f64())
                    ),
                ));
            }
            Ok(Err(e)) => {
                self.client.reset_connection();
                return Err(Problem::new("unreachable", format!("{url}: {e}")));
            }
            Ok(Ok(r)) => r,
        };
        if response.over_limit {
            return Err(Problem::new(
                "too large",
                format!("{url}: an answer over {MAX_ANSWER_BYTES} bytes"),
            ));
        }
        if !response.status.is_success() {
            return Err(Problem::new(
                "status",
                format!("{url}: HTTP {}", response.status),
            ));
        }
        Ok(response.body)
    }
}

fn value(series: &str, unit: MonitorUnit, kind: SeriesKind, value: f64) -> Value {
    Value {
        series: series.to_string(),
        unit,
        kind,
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feed_hands_out_each_point_once_and_the_latest_values() {
        let monitor = crate::plan::parse_monitor(
            "[monitor]\nevery = \"1s\"\nprocess = [ { name = \"p\", pid = 1 } ]\n",
            "m",
        )
        .unwrap();
        let feed = MonitorFeed::new(&monitor);
        let names: Vec<String> = feed.data().series.into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["p.cpu", "p.rss", "p.fds"]);
        let mut sent = Vec::new();
        assert!(feed.since(&mut sent).is_empty());
        {
            let mut data = feed.lock();
            data.series[1].points.push(MonitorPoint {
                t_s: 0.0,
                value: 5.0,
            });
            data.series[1].points.push(MonitorPoint {
                t_s: 1.0,
                value: 6.0,
            });
        }
        let new = feed.since(&mut sent);
        assert_eq!(
            (new.len(), new[0].name.as_str(), new[0].points.len()),
            (1, "p.rss", 2)
        );
        assert!(feed.since(&mut sent).is_empty(), "sent once");
        feed.lock().series[1].points.push(MonitorPoint {
            t_s: 2.0,
            value: 7.0,
        });
        assert_eq!(
            feed.since(&mut sent)[0].points,
            [MonitorPoint {
                t_s: 2.0,
                value: 7.0
            }]
        );
        assert_eq!(
            feed.latest(),
            [("p.rss".to_string(), MonitorUnit::Bytes, 7.0)]
        );
        assert_eq!(feed.data().window_s, 2.5);
    }
}
