//! The runs of this process: the one path by which the UI, the REST API, Locust's `/swarm` and
//! the CLI start a run. Each edge builds one validated `crate::request::RunRequest`; this module starts
//! it through the engine, records it while it goes (`recording.rs`) and finds runs again by id,
//! live or stored (`lookup.rs`). It owns no statistics: it reads the engine's snapshots.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

pub mod lookup;
mod recording;

use crate::agent::coordinate;
use crate::agent::hub::AgentHub;
use crate::plan::library::PlanLibrary;
use crate::request::{self, RequestError, RunRequest, StartInput};
use crate::store::RunSource;

use crate::engine::clock::now_ms;
use crate::engine::{self, EngineError, RunHandle};
use crate::plan::model::{ShapeKind, Threshold, UserClass};
use crate::stats::snapshot::{RunState, Snapshot};
use crate::stats::stages::{self, SpanMerger, StageAnalysis};
use crate::stats::tap::SampleTap;
use crate::stats::thresholds::Verdict;
use crate::stats::windows::{self, WindowJudge};
use crate::store::samples::{ArchiveWriter, SampleArchive};
use crate::store::{
    ClassRatio, NewRun, Ratio, RunRecord, RunSummary, Store, StoreError, StoreWriter, TaskRatio,
};

/// How often the live statistics table is saved (points are saved every second).
const STATS_EVERY: Duration = Duration::from_secs(2);
/// A run whose owner has not written for this long is considered orphaned.
pub const STALE_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("run {active} is still running; stop it first (one run at a time)")]
    Busy { active: String },
    #[error(
        "another run is being started (its setup runs, or it waits for its agents); one run at \
         a time"
    )]
    Starting,
    #[error(transparent)]
    Invalid(#[from] RequestError),
    #[error(transparent)]
    Refused(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A run of this process that has not finished recording.
#[derive(Clone)]
pub struct LiveRun {
    pub id: String,
    pub handle: RunHandle,
    pub record: Arc<RunRecord>,
    /// Becomes true once the final statistics are in the store.
    recorded: watch::Receiver<bool>,
    /// The user count last asked for (the start's, then each edit's).
    target_users: Arc<AtomicU32>,
    /// The plan's thresholds, then the start's (`--threshold`, the API's `thresholds`).
    thresholds: Arc<[Threshold]>,
    /// The final verdicts, set once the run has ended (before `recorded`).
    verdicts: Arc<OnceLock<Vec<Verdict>>>,
    /// The windowed thresholds' windows judged so far (fed by the recording each second).
    windows: Arc<Mutex<WindowJudge>>,
    /// The run's shape, if it has one: its stages are analysed (`stats::stages`).
    shape: Option<Arc<ShapeKind>>,
    /// The final stage analysis, set with the final verdicts (None: no shape).
    stages: Arc<OnceLock<Option<StageAnalysis>>>,
    /// The stages' merged spans so far, shared by every reader of the analysis.
    spans: Arc<Mutex<SpanMerger>>,
    /// Why the final numbers did not reach the history, if they did not (disk full).
    history_problem: Arc<OnceLock<String>>,
    /// The plan's `[monitor]` series as read so far; None: the run has no monitor.
    monitors: Option<crate::monitor::MonitorFeed>,
}

impl LiveRun {
    /// Waits until the run has ended and its final statistics are stored.
    pub async fn recorded(&self) {
        let mut rx = self.recorded.clone();
        // Err: the recorder is gone, which also means nothing more will be written.
        let _ = rx.wait_for(|done| *done).await;
    }

    /// Whether the final statistics are in the store (or nothing more will be written).
    pub fn is_recorded(&self) -> bool {
        *self.recorded.borrow()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.handle.snapshots().borrow().clone()
    }

    /// The final verdicts once the run has ended; until then, the thresholds judged on the
    /// latest snapshot (and `recovery` on the stages so far).
    pub fn verdicts(&self) -> Vec<Verdict> {
        if let Some(v) = self.verdicts.get() {
            return v.clone();
        }
        let snapshot = self.snapshot();
        let mut verdicts = {
            let judge = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
            windows::evaluate_all(&self.thresholds, &snapshot, &judge)
        };
        // monitor thresholds: their running values (judged again at the end)
        if let Some(feed) = &self.monitors {
            feed.judge(&self.thresholds, &mut verdicts);
        }
        if !self.thresholds.iter().any(stages::is_recovery) {
            return verdicts;
        }
        let analysis = self.analyse(&snapshot);
        stages::with_recovery(&self.thresholds, verdicts, analysis.as_ref())
    }

    /// The stage analysis of a shaped run: final once the run has ended, else so far.
    pub fn stages(&self) -> Option<StageAnalysis> {
        match self.stages.get() {
            Some(final_analysis) => final_analysis.clone(),
            None => self.analyse(&self.snapshot()),
        }
    }

    fn analyse(&self, snapshot: &Snapshot) -> Option<StageAnalysis> {
        let shape = self.shape.as_deref()?;
        Some(recording::analyse_stages(
            shape,
            snapshot,
            &self.thresholds,
            false,
            &self.handle.seconds(),
            &self.spans,
        ))
    }

    /// The run's monitor series as read so far (None: the plan has no `[monitor]`).
    pub fn monitors(&self) -> Option<&crate::monitor::MonitorFeed> {
        self.monitors.as_ref()
    }

    /// Set when the run's final numbers could not be stored (after [`Self::recorded`]).
    pub fn history_problem(&self) -> Option<&str> {
        self.history_problem.get().map(String::as_str)
    }

    pub fn target_users(&self) -> u32 {
        self.target_users.load(Ordering::Relaxed)
    }

    /// Changes the user count (and spawn rate) of the running run.
    pub async fn set_users(&self, users: u32, spawn_rate: Option<f64>) -> Result<(), EngineError> {
        self.handle.set_users(users, spawn_rate).await?;
        self.target_users.store(users, Ordering::Relaxed);
        Ok(())
    }
}

/// The live runs and where they are recorded; cheap to clone.
#[derive(Clone)]
pub struct Runs {
    inner: Arc<Inner>,
}

struct Inner {
    store: Option<Store>,
    writer: Option<StoreWriter>,
    /// This process, as the owner of the runs it records.
    instance: String,
    /// A std mutex: held only to insert, look up or remove, never across an await.
    live: Mutex<HashMap<String, LiveRun>>,
    max_live: usize,
    /// Agents that dialled in, for runs on agents; and how long a start waits for them.
    agents: Arc<AgentHub>,
    agent_wait: Duration,
    /// A start is under way (between its checks and its run being live).
    starting: AtomicBool,
    /// Where recorded runs keep every sample (for their JTL); None: they keep none.
    samples: Option<SampleArchive>,
}

/// Holds [`Inner::starting`] while a start is under way; lets go when dropped.
struct Starting<'a>(&'a AtomicBool);

impl<'a> Starting<'a> {
    fn claim(flag: &'a AtomicBool) -> Option<Starting<'a>> {
        (!flag.swap(true, Ordering::AcqRel)).then_some(Starting(flag))
    }
}

impl Drop for Starting<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Runs {
    /// Runs recorded into `store` (None: not recorded, `--no-history`).
    pub fn new(store: Option<Store>) -> Runs {
        Runs::with_agents(store, AgentHub::new(None), Duration::ZERO, None)
    }

    /// Runs that may also run on agents joining `agents`; a start waits up to `agent_wait`
    /// for its agents. Recorded runs keep their samples in `samples` when given.
    pub fn with_agents(
        store: Option<Store>,
        agents: AgentHub,
        agent_wait: Duration,
        samples: Option<SampleArchive>,
    ) -> Runs {
        let writer = store.clone().map(crate::store::spawn_writer);
        let samples = samples.filter(|_| store.is_some());
        Runs {
            inner: Arc::new(Inner {
                store,
                writer,
                instance: uuid::Uuid::now_v7().to_string(),
                live: Mutex::new(HashMap::new()),
                max_live: 1,
                agents: Arc::new(agents),
                agent_wait,
                starting: AtomicBool::new(false),
                samples,
            }),
        }
    }

    /// The agents connected to this process.
    pub fn agent_hub(&self) -> Arc<AgentHub> {
        self.inner.agents.clone()
    }

    pub fn store(&self) -> Option<&Store> {
        self.inner.store.as_ref()
    }

    /// This process's owner id in the store.
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// Marks the runs of dead processes as aborted (their points stay); returns their ids.
    pub async fn abort_orphans(&self) -> Result<Vec<String>, StoreError> {
        match &self.inner.store {
            Some(store) => {
                store
                    .abort_orphans(
                        &self.inner.instance,
                        now_ms(),
                        STALE_AFTER.as_millis() as i64,
                    )
                    .await
            }
            None => Ok(Vec::new()),
        }
    }

    pub fn get(&self, id: &str) -> Option<LiveRun> {
        self.lock().get(id).cloned()
    }

    /// The live runs, oldest first.
    pub fn live(&self) -> Vec<LiveRun> {
        let mut runs: Vec<LiveRun> = self.lock().values().cloned().collect();
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        runs
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LiveRun>> {
        // A panic while holding the map cannot leave it half-updated (single inserts/removes).
        self.inner
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the library's plan called `plan` with `input`: the start of the API, the start
    /// form and Locust's `/swarm`.
    pub async fn start_from_library(
        &self,
        lib: &PlanLibrary,
        plan: Option<&str>,
        input: StartInput,
        source: RunSource,
    ) -> Result<LiveRun, StartError> {
        let choice = request::pick_plan(lib, plan)?;
        let req = request::resolve(choice, input, source)?;
        self.start(req, None).await
    }

    /// Starts a run and its recording, with a copy of every sample batch sent to `tap` if one
    /// is given (`hornet run --jtl`). Refused while another run of this process is live.
    pub async fn start(
        &self,
        req: RunRequest,
        tap: Option<SampleTap>,
    ) -> Result<LiveRun, StartError> {
        if let Some(active) = self.busy() {
            return Err(StartError::Busy { active });
        }
        // One start at a time too: setup and waiting for agents take a while before the run is
        // live, and a second start meanwhile would make two runs.
        let Some(_starting) = Starting::claim(&self.inner.starting) else {
            return Err(StartError::Starting);
        };
        let ratio = ratio(&req.classes);
        let id = uuid::Uuid::now_v7().to_string();
        // A run on agents keeps each sample on its agent.
        let (tap, kept) = match self.inner.samples.as_ref().filter(|_| req.agents == 0) {
            Some(archive) => keep_samples(archive, &id, &req, tap),
            None => (tap, None),
        };
        // Runs the plan's setup steps first (a failure refuses the start with their message).
        let launched = if req.agents > 0 {
            if tap.is_some() {
                return Err(EngineError::invalid(
                    "jtl",
                    "a run on agents keeps each sample on its agent: no JTL file with --agents",
                )
                .into());
            }
            coordinate::start_on_agents(&self.inner.agents, &req, self.inner.agent_wait)
                .await
                .map_err(StartError::from)
        } else {
            engine::launch(&req, tap).await.map_err(StartError::from)
        };
        let (handle, completion) = match launched {
            Ok(run) => run,
            Err(e) => {
                if let Some(writer) = kept {
                    writer.discard().await;
                }
                return Err(e);
            }
        };
        // the run's own clock: stages, seconds and the monitors' elapsed axis count from it
        let started_at_ms = handle.started_unix_ms();
        let since_start = u64::try_from(now_ms().saturating_sub(started_at_ms)).unwrap_or(0);
        let monitor_started = tokio::time::Instant::now()
            .checked_sub(std::time::Duration::from_millis(since_start))
            .unwrap_or_else(tokio::time::Instant::now);
        let new = NewRun {
            id: id.clone(),
            plan_name: req.plan.name.clone(),
            plan_hash: req.plan.content_hash.clone(),
            plan_file: req.plan_file.clone(),
            plan_source: req.plan_source.clone(),
            source: req.source,
            settings: req.settings(),
            ratio,
            owner: self.inner.instance.clone(),
            started_at_ms,
        };
        if let Some(store) = &self.inner.store {
            if let Err(e) = store.insert_run(&new).await {
                handle.abort();
                if let Some(writer) = kept {
                    writer.discard().await;
                }
                return Err(e.into());
            }
        }
        let record = Arc::new(RunRecord {
            id: id.clone(),
            plan_name: new.plan_name,
            plan_hash: new.plan_hash,
            plan_file: new.plan_file,
            plan_source: new.plan_source,
            source: new.source,
            state: RunState::Spawning,
            settings: new.settings,
            ratio: new.ratio,
            owner: new.owner,
            started_at_ms,
            ended_at_ms: None,
            heartbeat_ms: started_at_ms,
            summary: None,
            verdicts: Vec::new(),
        });
        let monitor_run = req.monitor.as_ref().map(|m| {
            let store = self
                .inner
                .writer
                .clone()
                .map(|writer| crate::monitor::MonitorStore {
                    writer,
                    run_id: Arc::from(id.as_str()),
                });
            crate::monitor::start(m, monitor_started, handle.clone(), store)
        });
        let (recorded_tx, recorded) = watch::channel(false);
        let live = LiveRun {
            id: id.clone(),
            handle: handle.clone(),
            target_users: Arc::new(AtomicU32::new(record.settings.users)),
            record,
            recorded,
            thresholds: req.thresholds.clone().into(),
            verdicts: Arc::new(OnceLock::new()),
            windows: Arc::new(Mutex::new(WindowJudge::new(req.thresholds.clone().into()))),
            shape: req.shape.as_ref().map(|s| Arc::new(s.kind.clone())),
            stages: Arc::new(OnceLock::new()),
            spans: Arc::new(Mutex::new(SpanMerger::default())),
            history_problem: Arc::new(OnceLock::new()),
            monitors: monitor_run.as_ref().map(|m| m.feed.clone()),
        };
        self.lock().insert(id.clone(), live.clone());
        tracing::info!(run = %id, plan = %req.plan.name, source = req.source.as_str(), "run started");
        let runs = self.clone();
        let judge = recording::Judge {
            thresholds: live.thresholds.clone(),
            verdicts: live.verdicts.clone(),
            windows: live.windows.clone(),
            shape: live.shape.clone(),
            stages: live.stages.clone(),
            spans: live.spans.clone(),
            history_problem: live.history_problem.clone(),
            monitor: monitor_run,
        };
        tokio::spawn(async move {
            let recording = recording::Recording::new(&id, runs.inner.writer.clone(), judge);
            recording
                .follow(handle, completion, runs.inner.store.as_ref())
                .await;
            if let Some(writer) = kept {
                match writer.finish().await {
                    Ok(kept) => {
                        if let Some(shortfall) = kept.shortfall() {
                            tracing::warn!(run = %id, "not every sample kept: {shortfall}");
                        }
                    }
                    Err(e) => tracing::warn!(run = %id, error = %e, "the run's samples not kept"),
                }
            }
            runs.lock().remove(&id);
            let _ = recorded_tx.send(true);
            tracing::info!(run = %id, "run recorded");
        });
        Ok(live)
    }

    fn busy(&self) -> Option<String> {
        let live = self.lock();
        if live.len() >= self.inner.max_live {
            live.keys().min().cloned()
        } else {
            None
        }
    }
}

/// Starts keeping run `id`'s samples in `archive`, beside `tap` (the `--jtl` file) if there is
/// one. A file that cannot be made costs the run nothing but its stored JTL: it says so in the
/// log and goes on.
fn keep_samples(
    archive: &SampleArchive,
    id: &str,
    req: &RunRequest,
    tap: Option<SampleTap>,
) -> (Option<SampleTap>, Option<ArchiveWriter>) {
    let names = req.plan.names.iter().map(|n| n.name.clone()).collect();
    match archive.record(id, names) {
        Ok((kept, writer)) => {
            let tap = match tap {
                Some(tap) => tap.joined(kept),
                None => kept,
            };
            (Some(tap), Some(writer))
        }
        Err(e) => {
            tracing::warn!(run = %id, dir = %archive.dir().display(), error = %e,
                "cannot keep the run's samples: its results.jtl will be missing");
            (tap, None)
        }
    }
}

/// Locust's ratio: users per class by weight, task picks within a class by weight.
pub fn ratio(classes: &[UserClass]) -> Ratio {
    let total: u64 = classes.iter().map(|c| u64::from(c.weight)).sum();
    Ratio {
        classes: classes
            .iter()
            .map(|c| {
                let task_total: u64 = c.tasks.iter().map(|t| u64::from(t.weight)).sum();
                ClassRatio {
                    name: c.name.clone(),
                    ratio: share(c.weight, total),
                    tasks: c
                        .tasks
                        .iter()
                        .map(|t| TaskRatio {
                            name: t.name.clone(),
                            ratio: share(t.weight, task_total),
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

fn share(part: u32, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) / whole as f64
    }
}

/// The headline numbers of a snapshot.
pub fn summary(s: &Snapshot, peak_users: u32) -> RunSummary {
    RunSummary {
        requests: s.total.num_requests,
        failures: s.total.num_failures,
        rps: s.total.total_rps,
        avg_ms: s.total.avg_ms,
        p50_ms: s.total.percentiles.p50,
        p95_ms: s.total.percentiles.p95,
        p99_ms: s.total.percentiles.p99,
        max_ms: s.total.max_ms,
        peak_users,
        duration_s: s.elapsed_s,
        dropped: s.dropped,
        cancelled: s.cancelled,
        skipped: s.skipped,
        warnings: s.warnings.clone(),
        agents: s.agents.clone(),
        lag: s.lag,
        stages: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_follows_class_and_task_weights() {
        let plan = crate::plan::parse_str(
            r#"
name = "r"
host = "http://127.0.0.1:1"
[[users]]
name = "A"
weight = 3
tasks = [ { get = "/a", weight = 1 }, { get = "/b", weight = 3 } ]
[[users]]
name = "B"
weight = 1
tasks = [ { get = "/c" } ]
"#,
            "r.toml",
            None,
        )
        .unwrap();
        let r = ratio(&plan.users);
        assert_eq!(r.classes.len(), 2);
        assert_eq!(
            (r.classes[0].name.as_str(), r.classes[0].ratio),
            ("A", 0.75)
        );
        assert_eq!(r.classes[1].ratio, 0.25);
        let tasks: Vec<f64> = r.classes[0].tasks.iter().map(|t| t.ratio).collect();
        assert_eq!(tasks, [0.25, 0.75]);
        assert_eq!(r.classes[1].tasks[0].ratio, 1.0);
    }
}
