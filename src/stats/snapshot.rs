//! The view of a run's statistics at one moment, shared by every reader: CLI table, JSON summary,
//! SSE, REST, CSV, store. Plain serde data, built by the aggregator; nothing here computes.

use serde::{Deserialize, Serialize};

use super::histogram::LatencyHistogram;
pub use super::sample::{FanoutCounts, SseDelivery, WsDelivery};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Also the state of an empty `Snapshot::default()`: a run that has not begun.
    #[default]
    Spawning,
    Running,
    Stopping,
    Stopped,
    Aborted,
}

impl RunState {
    /// The final state of a run that ended: aborted, or stopped.
    pub fn ended(aborted: bool) -> RunState {
        if aborted {
            RunState::Aborted
        } else {
            RunState::Stopped
        }
    }

    /// Every state, in lifecycle order (the history filter, the metrics' state series).
    pub const ALL: [RunState; 5] = [
        RunState::Spawning,
        RunState::Running,
        RunState::Stopping,
        RunState::Stopped,
        RunState::Aborted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Spawning => "spawning",
            RunState::Running => "running",
            RunState::Stopping => "stopping",
            RunState::Stopped => "stopped",
            RunState::Aborted => "aborted",
        }
    }

    /// Whether the run has ended (no more samples will come).
    pub fn is_final(self) -> bool {
        matches!(self, RunState::Stopped | RunState::Aborted)
    }
}

/// Response-time percentiles in milliseconds (Locust's set, plus 99.99%); `p100` is the exact max.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p66: f64,
    pub p75: f64,
    pub p80: f64,
    pub p90: f64,
    pub p95: f64,
    pub p98: f64,
    pub p99: f64,
    pub p999: f64,
    pub p9999: f64,
    pub p100: f64,
}

impl Percentiles {
    /// The quantiles behind the fields, in field order.
    pub const QUANTILES: [f64; 11] = [
        0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
    ];
    /// Column labels in field order (Locust's CSV headers).
    pub const LABELS: [&'static str; 11] = [
        "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%",
    ];

    pub fn from_histogram(h: &LatencyHistogram) -> Self {
        let v = h.percentiles(&Self::QUANTILES);
        let ms = |i: usize| us_to_ms(v[i]);
        Percentiles {
            p50: ms(0),
            p66: ms(1),
            p75: ms(2),
            p80: ms(3),
            p90: ms(4),
            p95: ms(5),
            p98: ms(6),
            p99: ms(7),
            p999: ms(8),
            p9999: ms(9),
            p100: ms(10),
        }
    }

    /// The values in field order (same order as [`Self::LABELS`]).
    pub fn to_array(&self) -> [f64; 11] {
        [
            self.p50, self.p66, self.p75, self.p80, self.p90, self.p95, self.p98, self.p99,
            self.p999, self.p9999, self.p100,
        ]
    }
}

/// One statistics row: a (method/kind, name) pair, the `(other)` row, or the Aggregated total.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsRow {
    /// HTTP method or stream kind (`GET`, `SSE`, `WS`...); empty for `(other)` and Aggregated.
    pub method: String,
    pub name: String,
    pub num_requests: u64,
    pub num_failures: u64,
    pub avg_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub median_ms: f64,
    pub percentiles: Percentiles,
    /// Coordinated-omission-corrected percentiles (latency from the intended start); only for
    /// rows that had paced or open-model samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected: Option<Percentiles>,
    pub avg_bytes: f64,
    /// Mean over the last (up to) 10 closed one-second intervals.
    pub current_rps: f64,
    pub current_fail_per_s: f64,
    /// Over the whole run (since the last reset).
    pub total_rps: f64,
    pub total_fail_per_s: f64,
    /// WebSocket delivery (messages sent, replies received, lost) of a ws step's row and of
    /// the aggregate when the run has any; absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws: Option<WsDelivery>,
    /// SSE streams (connections opened, drops, reconnects, events) of an sse step's own row
    /// and of the aggregate when the run has any; absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<SseStreams>,
    /// Notification fan-out figures of a topic's row (`FANOUT <topic>`) and of the aggregate
    /// when the run has any; absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanout: Option<FanoutFigures>,
}

/// The fan-out figures of a topic: its counts and the delivery rate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FanoutFigures {
    /// Events published.
    pub published: u64,
    /// Deliveries expected: Σ subscribers listening when each event was sent.
    pub expected: u64,
    /// Keyed messages the subscribers received, matched or not.
    pub messages: u64,
    /// Deliveries received (matched to their event).
    pub received: u64,
    /// Messages matched to no expected delivery.
    pub unmatched: u64,
    /// received / expected (0..=1; 1 when nothing was expected).
    pub delivery: f64,
}

impl FanoutFigures {
    pub fn new(counts: FanoutCounts) -> FanoutFigures {
        FanoutFigures {
            published: counts.published,
            expected: counts.expected,
            messages: counts.messages,
            received: counts.received,
            unmatched: counts.unmatched,
            delivery: counts.delivery_ratio(),
        }
    }
}

/// The SSE figures of a row: its counts, the drop figure and events a second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SseStreams {
    /// Connections whose response head passed, reconnections included.
    pub opened: u64,
    /// Streams the server ended or broke before their step was done.
    pub drops: u64,
    /// Connections opened again after a drop (`reconnect = true`).
    pub reconnects: u64,
    /// Events received.
    pub events: u64,
    /// drops / opened (0..=1): the share of connections that ended early.
    pub drop: f64,
    /// Events a second over the whole run (since the last reset).
    pub events_per_s: f64,
}

impl SseStreams {
    pub fn new(counts: SseDelivery, run_secs: f64) -> SseStreams {
        SseStreams {
            opened: counts.opened,
            drops: counts.drops,
            reconnects: counts.reconnects,
            events: counts.events,
            drop: counts.drop_ratio(),
            events_per_s: if run_secs > 0.0 {
                counts.events as f64 / run_secs
            } else {
                0.0
            },
        }
    }
}

impl StatsRow {
    /// Failures / requests, 0 when there were no requests.
    pub fn fail_ratio(&self) -> f64 {
        if self.num_requests == 0 {
            0.0
        } else {
            self.num_failures as f64 / self.num_requests as f64
        }
    }
}

/// Failures grouped by (method, name, error text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRow {
    pub method: String,
    pub name: String,
    pub error: String,
    pub occurrences: u64,
}

/// One second of the run, aggregate over all names: that interval's own numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Seconds since the start, at the end of the interval.
    pub t_s: u64,
    pub users: u32,
    pub rps: f64,
    pub fail_per_s: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    /// What Locust's `_stats_history.csv` wants beyond the chart's numbers; zero in points
    /// stored before these existed.
    #[serde(flatten)]
    pub extra: PointExtra,
}

/// The rest of a second's numbers: its other percentiles, and the run's running totals at its
/// end (Locust's "Total ..." history columns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PointExtra {
    pub p66_ms: f64,
    pub p75_ms: f64,
    pub p80_ms: f64,
    pub p90_ms: f64,
    pub p98_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub p9999_ms: f64,
    pub max_ms: f64,
    pub total_requests: u64,
    pub total_failures: u64,
    pub total_median_ms: f64,
    pub total_avg_ms: f64,
    pub total_min_ms: f64,
    pub total_max_ms: f64,
    pub total_avg_bytes: f64,
}

impl Point {
    /// The second's percentiles in [`Percentiles::LABELS`] order.
    pub fn percentiles(&self) -> [f64; 11] {
        let e = &self.extra;
        [
            self.p50_ms,
            e.p66_ms,
            e.p75_ms,
            e.p80_ms,
            e.p90_ms,
            self.p95_ms,
            e.p98_ms,
            e.p99_ms,
            e.p999_ms,
            e.p9999_ms,
            e.max_ms,
        ]
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub state: RunState,
    pub elapsed_s: f64,
    pub users: u32,
    /// Sorted by (name, method) like Locust; `(other)` last when present.
    pub rows: Vec<StatsRow>,
    /// Name "Aggregated", method "".
    pub total: StatsRow,
    /// By occurrences, most first.
    pub failures: Vec<FailureRow>,
    /// One point per closed second, for the whole run.
    pub series: Vec<Point>,
    /// Aggregate p50/p95 over the last (up to) 10 closed seconds.
    pub current_p50_ms: f64,
    pub current_p95_ms: f64,
    pub warnings: Vec<String>,
    /// Open-model task starts dropped because every user was busy (never queued).
    #[serde(default)]
    pub dropped: u64,
    /// Requests in flight when their users were stopped, cut off without a response.
    #[serde(default)]
    pub cancelled: u64,
    /// Task iterations skipped because a variable the task `requires` was missing, null or an
    /// empty list (no request was sent: not in the statistics).
    #[serde(default)]
    pub skipped: u64,
    /// A distributed run's agents, by index (empty for a run of one process).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<AgentStatus>,
    /// How late the generator woke its paced and open-model starts; None without such starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<GeneratorLag>,
}

/// The generator's own lateness: how long after their intended instant paced users and
/// open-model starts actually began. It is in every corrected sample, so it says how far the
/// corrected percentiles can be trusted (a saturated generator shows here first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GeneratorLag {
    /// Starts measured.
    pub starts: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl GeneratorLag {
    /// `p50 / p99 ms`, as the run page shows it.
    pub fn text(&self) -> String {
        format!(
            "{} / {} ms",
            crate::format::fmt_ms(self.p50_ms),
            crate::format::fmt_ms(self.p99_ms)
        )
    }
}

impl Snapshot {
    /// The agents lost while the run went on: the run is degraded (its load was partly missing).
    pub fn lost_agents(&self) -> impl Iterator<Item = &AgentStatus> {
        self.agents.iter().filter(|a| a.state == AgentState::Lost)
    }
}

/// Where an agent of a distributed run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    /// Its seconds arrive on time.
    Connected,
    /// Its last second is overdue (more than 1.5 s), but the connection is up.
    Late,
    /// Its connection broke or it fell silent: its load is missing from then on.
    Lost,
    /// Its share of the run ended and it said so.
    Ended,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Connected => "connected",
            AgentState::Late => "late",
            AgentState::Lost => "lost",
            AgentState::Ended => "ended",
        }
    }
}

/// One agent of a distributed run, as of its last second.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    pub index: u32,
    /// Where it connected from (its peer address).
    pub host: String,
    pub state: AgentState,
    pub users: u32,
    /// The most users it ran at once.
    #[serde(default)]
    pub peak_users: u32,
    /// Its requests in all, and per second over its last second (over its whole share once
    /// it ended).
    pub requests: u64,
    pub rps: f64,
    /// Its process's CPU use (0..100 % of its cores) and resident memory, when it measured them.
    pub cpu_percent: Option<f64>,
    pub rss_bytes: Option<u64>,
    /// Its own lag p99 over its last second (how late its timers woke), when it had paced starts.
    pub lag_p99_ms: Option<f64>,
    /// Seconds since the start when its last message arrived.
    pub last_seen_s: f64,
    /// When it was lost (seconds since the start), and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_at_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_why: Option<String>,
}

pub(crate) fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_state_is_lowercase_in_json() {
        assert_eq!(
            serde_json::to_string(&RunState::Aborted).unwrap(),
            "\"aborted\""
        );
        let back: RunState = serde_json::from_str("\"spawning\"").unwrap();
        assert_eq!(back, RunState::Spawning);
        assert_eq!(RunState::Stopping.as_str(), "stopping");
    }

    #[test]
    fn percentiles_from_a_histogram_in_ms() {
        let mut h = LatencyHistogram::new();
        for us in 1..=1000 {
            h.record(us);
        }
        let p = Percentiles::from_histogram(&h);
        assert_eq!((p.p50, p.p90, p.p99, p.p100), (0.5, 0.9, 0.99, 1.0));
        assert_eq!(p.to_array()[0], p.p50);
    }

    #[test]
    fn rows_omit_corrected_when_absent_and_round_trip() {
        let row = StatsRow {
            method: "GET".into(),
            name: "/".into(),
            num_requests: 3,
            num_failures: 1,
            ..StatsRow::default()
        };
        let v = serde_json::to_value(&row).unwrap();
        assert!(v.get("corrected").is_none());
        let back: StatsRow = serde_json::from_value(v).unwrap();
        assert_eq!(back, row);
        assert!((row.fail_ratio() - 1.0 / 3.0).abs() < 1e-12);
    }
}
