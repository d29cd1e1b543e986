//! Validated plan types. Everything here is checked: the engine accepts only these, never raw TOML.
//! Pure data: no I/O, no clocks.

use std::path::PathBuf;
use std::time::Duration;

use super::template::{JsonTemplate, Template};

/// Index of a (kind, name) statistics row, interned when the plan is validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct NameId(pub u32);

impl NameId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One statistics row key: `kind` is the HTTP method (`GET`, `POST`, ...) or `SSE`/`WS`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestName {
    pub kind: String,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub name: String,
    pub description: String,
    pub host: Option<String>,
    /// Where the plan came from (for messages and relative data paths); None for inline text.
    pub path: Option<PathBuf>,
    /// Hex sha-256-ish content hash of the source text (stable identity for history).
    pub content_hash: String,
    /// `[vars]`, in file order; each is rendered once per run, in order (later vars may use earlier).
    pub vars: Vec<(String, Template)>,
    pub defaults: Defaults,
    pub data: Vec<DataSource>,
    /// Steps run once before users start (`setup = [..]`).
    pub setup: Vec<Step>,
    pub users: Vec<UserClass>,
    pub shapes: Vec<Shape>,
    pub thresholds: Vec<Threshold>,
    /// `[monitor]`: the target's own metrics, read beside the run.
    pub monitor: Option<super::monitor::Monitor>,
    /// Every statistics row the plan can produce, indexed by `NameId`.
    pub names: Vec<RequestName>,
}

#[derive(Clone, Debug)]
pub struct Defaults {
    pub headers: Vec<(String, Template)>,
    /// Default 30 s.
    pub timeout: Duration,
    /// Default `/rpc`.
    pub rpc_path: String,
    /// `max_body`: what checks and captures read of a body (default 16 MiB).
    pub max_body: u64,
}

/// How much of a response body a step keeps for its checks and captures, and who set it (for
/// the failure's hint).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimit {
    pub bytes: u64,
    /// The step's own `max_body` (else `defaults.max_body` or the built-in default).
    pub set_by_step: bool,
}

impl BodyLimit {
    /// The failure of a response whose body is larger than the limit. No sizes of the response
    /// itself: identical failures group into one row.
    pub fn exceeded_message(&self) -> String {
        let raise = if self.set_by_step {
            "the step's max_body"
        } else {
            "defaults.max_body"
        };
        format!(
            "body too large to check: more than {} (raise {raise})",
            super::limits::format_bytes(self.bytes)
        )
    }
}

#[derive(Clone, Debug)]
pub struct UserClass {
    pub name: String,
    /// >= 1.
    pub weight: u32,
    pub fixed_count: Option<u32>,
    pub wait: Wait,
    pub tags: Vec<String>,
    pub on_start: Vec<Step>,
    pub on_stop: Vec<Step>,
    /// Never empty after validation.
    pub tasks: Vec<Task>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Wait {
    /// `constant(D)`
    Constant(Duration),
    /// `between(A, B)`, uniform, A <= B.
    Between(Duration, Duration),
    /// `throughput(N/s)`: each task iteration starts at most N times a second (Locust's constant_throughput).
    Throughput(f64),
    /// `pacing(D)`: each task iteration starts every D (Locust's constant_pacing).
    Pacing(Duration),
}

impl Wait {
    /// The pacing period for `throughput`/`pacing`; None for think-time waits.
    pub fn period(&self) -> Option<Duration> {
        match *self {
            Wait::Throughput(per_s) => Some(Duration::from_secs_f64(1.0 / per_s)),
            Wait::Pacing(d) => Some(d),
            Wait::Constant(_) | Wait::Between(..) => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Task {
    /// Display name: the `name` given, else the single step's stats name, else "task N".
    pub name: String,
    /// >= 1.
    pub weight: u32,
    /// The task's own tags plus its class's tags.
    pub tags: Vec<String>,
    /// `requires = ["pool", ..]`: variables the task needs. When one is missing, null or an
    /// empty list for the user, the task is skipped: no request, no failure, its wait still
    /// taken (upstream Locust's `if not self.tool_ids: return`).
    pub requires: Vec<String>,
    /// Never empty.
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug)]
pub struct Step {
    pub kind: StepKind,
    /// The statistics row this step records into (None for `think`).
    pub name: Option<NameId>,
    pub checks: Checks,
    pub captures: Vec<Capture>,
    /// Step timeout; falls back to `defaults.timeout`.
    pub timeout: Option<Duration>,
    /// `publish = {..}` (http/rpc steps) or `subscribe = {..}` (sse/ws steps): the step's part
    /// in a notification fan-out.
    pub fanout: Option<Fanout>,
    /// Where the step was written, "file:line:col", for runtime messages.
    pub location: String,
}

#[derive(Clone, Debug)]
pub enum StepKind {
    Http(HttpStep),
    Rpc(RpcStep),
    Sse(SseStep),
    Ws(WsStep),
    Think(Duration),
}

/// A step's part in a notification fan-out: a publisher's request emits an event that every
/// subscriber of the topic should receive; both sides read the event's key with `key`.
#[derive(Clone, Debug)]
pub struct Fanout {
    pub role: FanoutRole,
    pub topic: String,
    /// Reads the event's key: from the publisher's response body, from each subscriber message.
    pub key: KeySelector,
    /// As written, e.g. `json:$.id` (for failure messages).
    pub key_text: String,
    /// `FANOUT <topic>`: the delivery counts.
    pub counts_row: NameId,
    /// `FANOUT <topic> [delivery]`: send-to-receive latencies.
    pub delivery_row: NameId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanoutRole {
    /// An http/rpc step: its request (sent at its start) emits the event named by the key.
    Publish,
    /// An sse/ws step: each event or message it receives is matched by its key.
    Subscribe,
}

/// Where a fan-out key is read.
#[derive(Clone, Debug)]
pub enum KeySelector {
    /// `json:$.path` (singular): the value it matches (strings unquoted, others as JSON).
    Json(serde_json_path::JsonPath),
    /// `regex:...` on the text: the first capture group, else the whole match.
    Regex(regex::Regex),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
        }
    }
}

#[derive(Clone, Debug)]
pub struct HttpStep {
    pub method: Method,
    /// Path (or absolute URL) with an optional query string, as a template.
    pub path: Template,
    /// Step headers; they override `defaults.headers` with the same (case-insensitive) name.
    pub headers: Vec<(String, Template)>,
    pub query: Vec<(String, Template)>,
    pub body: Option<Body>,
    /// Applies when checks or captures read the body.
    pub max_body: BodyLimit,
}

#[derive(Clone, Debug)]
pub enum Body {
    /// `json = {...}`: sent with `Content-Type: application/json`.
    Json(JsonTemplate),
    /// `body = "..."`: sent as is (no content type unless a header sets one).
    Text(Template),
    /// `form = {...}`: `application/x-www-form-urlencoded`.
    Form(Vec<(String, Template)>),
}

#[derive(Clone, Debug)]
pub struct RpcStep {
    pub method: String,
    pub params: Option<JsonTemplate>,
    /// Defaults to `defaults.rpc_path`.
    pub path: Template,
    pub headers: Vec<(String, Template)>,
    /// JSON-RPC error codes that count as success (soft errors).
    pub allow_codes: Vec<i64>,
    /// The reply is always read (the envelope is checked), up to this much.
    pub max_body: BodyLimit,
}

#[derive(Clone, Debug)]
pub struct SseStep {
    pub path: Template,
    pub headers: Vec<(String, Template)>,
    pub events: Option<u32>,
    pub duration: Option<Duration>,
    /// `min_events = N` (with `for`): fewer events in the window is a failure. Default: 1 with
    /// `for` alone, 0 beside `events`; 0 lets a stream stay silent (no idle timeout then).
    pub min_events: Option<u32>,
    /// `reconnect = true`: a dropped stream is opened again (with `Last-Event-ID`) until the
    /// step has its `events`/`for`; false: a drop fails the step.
    pub reconnect: bool,
    /// Optional JSON-RPC message posted to the endpoint the stream announces (`event: endpoint`).
    pub post: Option<JsonTemplate>,
    /// The rows the stream records into (the step's own `name` is never recorded into).
    pub names: SseNames,
}

/// An SSE step's statistics rows, all of kind `SSE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SseNames {
    /// `<name> [connect]`: request sent to response headers received.
    pub connect: NameId,
    /// `<name> [first event]`: request sent to the first event.
    pub first_event: NameId,
    /// `<name> [event gap]`: time between consecutive events.
    pub event_gap: NameId,
    /// `<name> [<method>]` (or `[post]`): the `post` message sent to its reply on the stream.
    pub post: Option<NameId>,
}

#[derive(Clone, Debug)]
pub struct WsStep {
    pub path: Template,
    pub headers: Vec<(String, Template)>,
    pub send: Vec<WsMessage>,
    pub expect: Option<u32>,
    /// `for`: with `rate`, how long the stream lasts; without, how long to read replies.
    pub duration: Option<Duration>,
    /// `mode`: how the `send` list goes out (ignored by a `rate` stream, which has its own grid).
    pub mode: WsMode,
    /// `rate = "20/s"`: messages per second on the one connection, due at start + k/rate, the
    /// `send` list repeated in order for `duration` (then always Some).
    pub rate: Option<f64>,
    /// `<name> [connect]` (kind `WS`): the handshake. Round trips go to the step's own name.
    pub connect_name: NameId,
}

/// `mode` of a WebSocket step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WsMode {
    /// Send one message, wait for its reply (or the timeout), then the next.
    #[default]
    Sequential,
    /// Send every message, then collect the replies.
    Pipelined,
}

#[derive(Clone, Debug)]
pub enum WsMessage {
    Text(Template),
    Json(JsonTemplate),
}

#[derive(Clone, Debug, Default)]
pub struct Checks {
    /// Allowed statuses. None: any status < 400 passes (Locust's rule).
    pub status: Option<Vec<u16>>,
    pub body_contains: Vec<String>,
    pub json: Vec<JsonCheck>,
    pub header: Vec<HeaderCheck>,
    pub max_time: Option<Duration>,
}

impl Checks {
    /// Whether evaluating these checks needs the response body kept in memory.
    pub fn needs_body(&self) -> bool {
        !self.body_contains.is_empty() || !self.json.is_empty()
    }
}

#[derive(Clone, Debug)]
pub struct JsonCheck {
    /// As written, e.g. `$.result.tools`.
    pub path_source: String,
    pub path: serde_json_path::JsonPath,
    pub expect: JsonExpect,
}

#[derive(Clone, Debug, PartialEq)]
pub enum JsonExpect {
    /// `"exists"`: the path matches at least one node.
    Exists,
    /// Any other value: the first node equals it.
    Equals(serde_json::Value),
}

#[derive(Clone, Debug)]
pub struct HeaderCheck {
    /// Lower-case header name.
    pub name: String,
    pub expect: HeaderExpect,
}

#[derive(Clone, Debug, PartialEq)]
pub enum HeaderExpect {
    /// `"exists"`
    Exists,
    /// The header value contains this text (case-sensitive).
    Contains(String),
}

#[derive(Clone, Debug)]
pub struct Capture {
    pub var: String,
    pub source: CaptureSource,
    /// As written, e.g. `json:$[0].id` (for failure messages).
    pub source_text: String,
}

#[derive(Clone, Debug)]
pub enum CaptureSource {
    /// `json:$.path` with a singular path (names and indexes only): the value it matches;
    /// strings are stored unquoted, other values as JSON.
    Json(serde_json_path::JsonPath),
    /// `json:` with a path that can match several nodes (`*`, `..`, slices, filters, several
    /// selectors), e.g. `json:$[*].id`: every match, as a list (a pool for `pick()`); no match
    /// is an empty list, not a failure.
    JsonAll(serde_json_path::JsonPath),
    /// `header:Name` (lower-cased).
    Header(String),
    /// `regex:...`: the first capture group if any, else the whole match.
    Regex(regex::Regex),
    /// `status`
    Status,
}

impl CaptureSource {
    pub fn needs_body(&self) -> bool {
        matches!(
            self,
            CaptureSource::Json(_) | CaptureSource::JsonAll(_) | CaptureSource::Regex(_)
        )
    }
}

#[derive(Clone, Debug)]
pub struct DataSource {
    pub name: String,
    pub order: DataOrder,
    pub rows: DataRows,
}

#[derive(Clone, Debug)]
pub enum DataRows {
    /// `csv = "file.csv"`, resolved against the plan's directory. `table` is the file as read
    /// and checked by [`crate::plan::load`] (the engine reuses it); None when the plan was
    /// validated without reading data files (the plan library lists plans on every look), and
    /// then the engine reads the file with the same checks.
    Csv {
        /// Resolved against the plan's directory.
        path: PathBuf,
        /// As the plan wrote it (what an agent's copy of the plan resolves again).
        as_written: String,
        table: Option<std::sync::Arc<super::data::DataTable>>,
    },
    /// `rows = [ {..}, .. ]` or `values = [..]` (single column `value`).
    Inline(Vec<Vec<(String, String)>>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataOrder {
    Cycle,
    Random,
    Once,
}

#[derive(Clone, Debug)]
pub struct Shape {
    pub name: String,
    pub kind: ShapeKind,
}

#[derive(Clone, Debug)]
pub enum ShapeKind {
    /// Closed model: ramp to `users` at `spawn_rate` and hold for `duration`, stage after stage.
    Stages(Vec<Stage>),
    /// Open model: task starts per second, at most `max_users` in flight.
    Arrival {
        stages: Vec<ArrivalStage>,
        max_users: u32,
    },
}

impl ShapeKind {
    /// How long the shape runs: the sum of its stages. The run ends there.
    pub fn duration(&self) -> Duration {
        match self {
            ShapeKind::Stages(stages) => stages.iter().map(|s| s.duration).sum(),
            ShapeKind::Arrival { stages, .. } => stages.iter().map(|s| s.duration).sum(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub users: u32,
    /// None: reach `users` at once.
    pub spawn_rate: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ArrivalStage {
    pub duration: Duration,
    /// Task starts per second at the end of the stage (linear ramp from the previous rate).
    pub rate: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// As written, e.g. `'/tools/[id]'.p99 < 500ms`.
    pub source: String,
    pub scope: ThresholdScope,
    pub metric: ThresholdMetric,
    pub op: CompareOp,
    /// In the metric's unit: microseconds for times, a fraction (0.01 = 1 %) for rates,
    /// per second for `rps`.
    pub value: f64,
    pub abort_on_fail: bool,
    pub delay: Option<Duration>,
    /// `p95[30s] < 500ms`: judged on every window of this many whole seconds (sliding by one
    /// second) instead of on the whole run; see `stats::windows`.
    pub window: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ThresholdScope {
    Aggregate,
    /// `'name'.metric`
    Name(String),
    /// `GET.p95`, `SSE.p95`, ...: every row of that kind.
    Kind(String),
    /// `monitor.gateway.rss.growth`: a `[monitor]` series (its metric is a [`MonitorStat`]).
    Monitor(String),
}

/// What a monitor threshold reads of its series, judged at the end of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonitorStat {
    /// (end − after warm-up) ÷ after warm-up, each the mean of the reads within 2.5 × `every`
    /// (three reads): from the first read after the warm-up, and up to the run's last read.
    Growth,
    Avg,
    Min,
    Max,
    Last,
}

impl MonitorStat {
    pub fn parse(s: &str) -> Option<MonitorStat> {
        Some(match s {
            "growth" => MonitorStat::Growth,
            "avg" => MonitorStat::Avg,
            "min" => MonitorStat::Min,
            "max" => MonitorStat::Max,
            "last" => MonitorStat::Last,
            _ => return None,
        })
    }
}

/// The percentiles a threshold can name (`p50` ... `p99.99`, `p100`): the ones every statistics
/// row reports, so that a threshold reads exact numbers from a snapshot.
pub const THRESHOLD_PERCENTILES: [f64; 11] = [
    0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
];

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ThresholdMetric {
    /// Percentile as a fraction, one of [`THRESHOLD_PERCENTILES`], e.g. 0.95.
    Percentile(f64),
    Avg,
    Min,
    Max,
    ErrorRate,
    Rps,
    Checks,
    /// WebSocket messages lost / sent (`'/ws'.loss < 0.1%`): 0 for rows without messages.
    Loss,
    /// SSE streams dropped / connections opened (`'/sse'.drop < 1%`): 0 for other rows.
    Drop,
    /// A fan-out topic's deliveries received / expected (`'alerts'.delivery > 99%`): 1 for rows
    /// that expected none.
    Delivery,
    /// A `[monitor]` series' statistic (scope [`ThresholdScope::Monitor`]); the value is in the
    /// series' unit (bytes, percent, per second, count), a fraction for `growth`.
    Monitor(MonitorStat),
    /// The seconds a shaped run takes to come back after a step of its load (`recovery < 30s`,
    /// the worst step; `stats::stages` says how): judged on the stages, not on a snapshot.
    Recovery,
}

impl ThresholdMetric {
    /// Whether it is read from the requests' latencies, counts and failures alone: what the
    /// per-second histograms hold, so what a window or a stage can be judged on.
    pub fn from_request_counts(self) -> bool {
        matches!(
            self,
            ThresholdMetric::Percentile(_)
                | ThresholdMetric::Avg
                | ThresholdMetric::Min
                | ThresholdMetric::Max
                | ThresholdMetric::ErrorRate
                | ThresholdMetric::Rps
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Lt,
    Le,
    Gt,
    Ge,
}
