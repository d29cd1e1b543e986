//! What the store keeps and returns: domain types, never rows. Shared by the web pages, the API,
//! the CLI and the run registry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::histogram::ExactStats;
use crate::stats::snapshot::{AgentStatus, FailureRow, GeneratorLag, Point, RunState, StatsRow};
use crate::stats::stages::StageAnalysis;
use crate::stats::thresholds::Verdict;

/// Who started a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunSource {
    Ui,
    Api,
    Cli,
}

impl RunSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RunSource::Ui => "ui",
            RunSource::Api => "api",
            RunSource::Cli => "cli",
        }
    }

    pub fn parse(s: &str) -> Option<RunSource> {
        match s {
            "ui" => Some(RunSource::Ui),
            "api" => Some(RunSource::Api),
            "cli" => Some(RunSource::Cli),
            _ => None,
        }
    }
}

/// A class chosen for a run, with the weight it ran with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassChoice {
    pub name: String,
    pub weight: u32,
}

/// The choices a run was started with (stored as JSON; shown on the Configuration tab).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSettings {
    pub host: String,
    pub users: u32,
    pub spawn_rate: f64,
    /// None: until stopped.
    pub run_time_s: Option<f64>,
    /// Empty: every class of the plan with its own weight.
    pub classes: Vec<ClassChoice>,
    pub tags: Vec<String>,
    pub exclude_tags: Vec<String>,
    pub shape: Option<String>,
    pub stop_timeout_s: f64,
    /// Extra thresholds given at start (beside the plan's), as written.
    pub thresholds: Vec<String>,
    /// The agents the load ran on; 0: one process.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub agents: u32,
    /// What the run was labelled with (`--label branch=main`: CI's commit, branch, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// A `[monitor]` given at start (the form's Monitors field, the API's `monitor`) in place of
    /// the plan's, as TOML; None: the plan's own, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Locust's "current ratio": the share of users per class and of task picks within a class.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    pub classes: Vec<ClassRatio>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassRatio {
    pub name: String,
    /// 0..=1 of all users.
    pub ratio: f64,
    pub tasks: Vec<TaskRatio>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRatio {
    pub name: String,
    /// 0..=1 of this class's task picks.
    pub ratio: f64,
}

/// The headline numbers of a run, kept when it ends (and refreshed while it runs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub requests: u64,
    pub failures: u64,
    /// Requests per second over the whole run.
    pub rps: f64,
    pub avg_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub peak_users: u32,
    pub duration_s: f64,
    /// Open-model task starts dropped because every user was busy.
    #[serde(default)]
    pub dropped: u64,
    /// Requests cut off in flight by the end of the run.
    #[serde(default)]
    pub cancelled: u64,
    /// Task iterations skipped for a `requires` without a value.
    #[serde(default)]
    pub skipped: u64,
    /// What the run warned about (generator saturated, history write failed, ...), kept so the
    /// stored report says it too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// A distributed run's agents as they ended (or were lost).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<AgentStatus>,
    /// The generator's lag over the run (paced and open-model starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<GeneratorLag>,
    /// A shaped run's stage analysis, as it ended (set with the final numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<StageAnalysis>,
}

impl RunSummary {
    /// Failures / requests (0 without requests).
    pub fn fail_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.failures as f64 / self.requests as f64
        }
    }
}

/// A run to record, as it starts.
#[derive(Clone, Debug)]
pub struct NewRun {
    /// UUID v7 text (time-ordered): the share link is `/runs/{id}`.
    pub id: String,
    pub plan_name: String,
    /// The plan's content hash (`Plan::content_hash`).
    pub plan_hash: String,
    /// The plan file as given (path or `plans/` key), if any.
    pub plan_file: Option<String>,
    /// The plan's TOML text, so the report shows exactly what ran.
    pub plan_source: String,
    pub source: RunSource,
    pub settings: RunSettings,
    pub ratio: Ratio,
    /// The server process that owns the run (its instance id).
    pub owner: String,
    pub started_at_ms: i64,
}

/// A stored run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub plan_name: String,
    pub plan_hash: String,
    pub plan_file: Option<String>,
    pub plan_source: String,
    pub source: RunSource,
    pub state: RunState,
    pub settings: RunSettings,
    pub ratio: Ratio,
    pub owner: String,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    /// Last sign of life from the owner (ms since the epoch).
    pub heartbeat_ms: i64,
    /// None until the first statistics were saved.
    pub summary: Option<RunSummary>,
    /// The threshold verdicts, stored when the run ends (empty before, and without thresholds).
    #[serde(default)]
    pub verdicts: Vec<Verdict>,
}

#[cfg(test)]
impl RunRecord {
    /// A stopped CLI run of plan "Demo" with default settings, for tests to adjust with struct
    /// update syntax (one fixture instead of a full literal in every test module).
    pub(crate) fn example(id: &str) -> RunRecord {
        RunRecord {
            id: id.into(),
            plan_name: "Demo".into(),
            plan_hash: "h".into(),
            plan_file: None,
            plan_source: String::new(),
            source: RunSource::Cli,
            state: crate::stats::snapshot::RunState::Stopped,
            settings: RunSettings::default(),
            ratio: Ratio::default(),
            owner: String::new(),
            started_at_ms: 0,
            ended_at_ms: None,
            heartbeat_ms: 0,
            summary: None,
            verdicts: Vec::new(),
        }
    }
}

/// Filters for the history list: newest first.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub plan: Option<String>,
    pub state: Option<RunState>,
    /// 1..=500; the store clamps.
    pub limit: u32,
    /// Only runs older than this run id (the `before` cursor).
    pub before: Option<String>,
    /// Only runs with this label (key, value).
    pub label: Option<(String, String)>,
}

/// One (method, name) HDR histogram, serialized as V2 + deflate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NamedHistogram {
    pub method: String,
    pub name: String,
    pub histogram: Vec<u8>,
    pub corrected: Option<Vec<u8>>,
    /// The exact min, max and sum of `histogram` (`LatencyHistogram::exact`): the V2 format has
    /// no room for them, and without them a decoded p100 is a bucket bound above the real max.
    pub exact: ExactStats,
    /// The same for `corrected`.
    pub corrected_exact: Option<ExactStats>,
}

/// The last statistics saved for a run: the final ones once it ended.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoredStats {
    pub rows: Vec<StatsRow>,
    /// The Aggregated row, when statistics were saved.
    pub total: Option<StatsRow>,
    pub failures: Vec<FailureRow>,
    pub points: Vec<Point>,
}
