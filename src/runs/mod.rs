//! The runs of this process: the one path by which the UI, the REST API and the CLI start a run.
//! It starts the run through the engine, records it into the store while it goes (points every
//! second, statistics every few seconds, final histograms at the end) and finds live runs again
//! by id. It owns no statistics: it reads the engine's snapshots.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

pub mod lookup;
pub mod request;

use request::RunRequest;

use crate::engine::clock::now_ms;
use crate::engine::{self, EngineError, RunHandle};
use crate::plan::model::{Threshold, UserClass};
use crate::stats::snapshot::{RunState, Snapshot};
use crate::stats::tap::SampleTap;
use crate::stats::thresholds::{self, Verdict};
use crate::store::{
    ClassRatio, NamedHistogram, NewRun, Ratio, RunRecord, RunSummary, Store, StoreError,
    StoreWriter, TaskRatio,
};

/// How often the live statistics table is saved (points are saved every second).
const STATS_EVERY: Duration = Duration::from_secs(2);
/// A run whose owner has not written for this long is considered orphaned.
pub const STALE_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("run {active} is still running; stop it first (one run at a time)")]
    Busy { active: String },
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
    /// Why the final numbers did not reach the history, if they did not (disk full).
    history_problem: Arc<OnceLock<String>>,
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
    /// latest snapshot.
    pub fn verdicts(&self) -> Vec<Verdict> {
        match self.verdicts.get() {
            Some(v) => v.clone(),
            None => thresholds::evaluate_all(&self.thresholds, &self.snapshot()),
        }
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
}

impl Runs {
    /// Runs recorded into `store` (None: not recorded, `--no-history`).
    pub fn new(store: Option<Store>) -> Runs {
        let writer = store.clone().map(crate::store::spawn_writer);
        Runs {
            inner: Arc::new(Inner {
                store,
                writer,
                instance: uuid::Uuid::now_v7().to_string(),
                live: Mutex::new(HashMap::new()),
                max_live: 1,
            }),
        }
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
        let ratio = ratio(&req.classes);
        // Runs the plan's setup steps first (a failure refuses the start with their message).
        let (handle, completion) = engine::launch(&req, tap).await?;
        let id = uuid::Uuid::now_v7().to_string();
        let started_at_ms = now_ms();
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
        let (recorded_tx, recorded) = watch::channel(false);
        let live = LiveRun {
            id: id.clone(),
            handle: handle.clone(),
            target_users: Arc::new(AtomicU32::new(record.settings.users)),
            record,
            recorded,
            thresholds: req.thresholds.clone().into(),
            verdicts: Arc::new(OnceLock::new()),
            history_problem: Arc::new(OnceLock::new()),
        };
        self.lock().insert(id.clone(), live.clone());
        tracing::info!(run = %id, plan = %req.plan.name, source = req.source.as_str(), "run started");
        let runs = self.clone();
        let judge = Judge {
            thresholds: live.thresholds.clone(),
            verdicts: live.verdicts.clone(),
            history_problem: live.history_problem.clone(),
        };
        tokio::spawn(async move {
            runs.record(&id, handle, completion, judge).await;
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

    /// Follows the run's snapshots into the store until it ends, then stores the final numbers.
    /// Once a second it judges the `abort_on_fail` thresholds and stops the run when one fails.
    async fn record(
        &self,
        id: &str,
        handle: RunHandle,
        completion: engine::run::RunCompletion,
        judge: Judge,
    ) {
        let mut snapshots = handle.snapshots();
        let mut written = 0usize;
        let mut peak_users = 0u32;
        let mut state = RunState::Spawning;
        let mut last_stats = tokio::time::Instant::now();
        let writer = self.inner.writer.clone();
        let mut stopped_by: Option<(usize, Verdict)> = None;
        while snapshots.changed().await.is_ok() {
            let snapshot = snapshots.borrow_and_update().clone();
            peak_users = peak_users.max(snapshot.users);
            if stopped_by.is_none() {
                if let Some(i) = thresholds::first_abort(&judge.thresholds, &snapshot) {
                    let mut verdict = thresholds::evaluate(&judge.thresholds[i], &snapshot);
                    verdict.stopped_run_at_s = Some(snapshot.elapsed_s);
                    tracing::info!(run = %id, threshold = %verdict.expression,
                        observed = %verdict.observed_text, "threshold failed: stopping the run");
                    // the one stop path: users finish, every output is still written
                    handle.stop();
                    stopped_by = Some((i, verdict));
                }
            }
            let Some(writer) = &writer else { continue };
            // The run goes on measuring when the history cannot be written (disk full); it
            // says so in its warnings, live and at the end.
            if let Some(problem) = writer.take_problem(id) {
                handle.warn(problem);
            }
            if snapshot.series.len() > written {
                writer.points(id, snapshot.series[written..].to_vec(), now_ms());
                written = snapshot.series.len();
            }
            if snapshot.state != state {
                state = snapshot.state;
                if !state.is_final() {
                    writer.set_state(id, state);
                }
            }
            if last_stats.elapsed() >= STATS_EVERY {
                last_stats = tokio::time::Instant::now();
                writer.stats(
                    id,
                    snapshot.rows.clone(),
                    snapshot.total.clone(),
                    snapshot.failures.clone(),
                    Vec::new(),
                    summary(&snapshot, peak_users),
                );
            }
        }
        let outcome = match completion.wait().await {
            Ok(outcome) => outcome,
            Err(_) => {
                let _ = judge.verdicts.set(Vec::new());
                // The run's actor died without a final snapshot: keep what was written.
                if let Some(writer) = &writer {
                    writer.finish(id, RunState::Aborted, now_ms());
                    let _ = writer.flush().await;
                }
                return;
            }
        };
        let mut verdicts = thresholds::evaluate_all(&judge.thresholds, &outcome.snapshot);
        if let Some((i, verdict)) = stopped_by {
            // the run ended on this verdict: keep the numbers that stopped it
            verdicts[i] = verdict;
        }
        let _ = judge.verdicts.set(verdicts.clone());
        let Some(writer) = &writer else { return };
        if let Some(store) = &self.inner.store {
            if !verdicts.is_empty() {
                if let Err(e) = store.set_verdicts(id, &verdicts).await {
                    tracing::warn!(run = %id, error = %e, "threshold verdicts not stored");
                }
            }
        }
        let snapshot = outcome.snapshot;
        peak_users = peak_users.max(snapshot.users);
        if snapshot.series.len() > written {
            writer.points(id, snapshot.series[written..].to_vec(), now_ms());
        }
        let histograms = outcome
            .histograms
            .into_iter()
            .map(|h| NamedHistogram {
                method: h.method,
                name: h.name,
                histogram: h.histogram,
                exact: h.exact,
                corrected: h.corrected,
                corrected_exact: h.corrected_exact,
            })
            .collect();
        writer.stats(
            id,
            snapshot.rows.clone(),
            snapshot.total.clone(),
            snapshot.failures.clone(),
            histograms,
            summary(&snapshot, peak_users),
        );
        writer.finish(id, snapshot.state, now_ms());
        if let Err(e) = writer.flush().await {
            tracing::warn!(run = %id, error = %e, "final statistics not stored");
            let problem = writer
                .take_problem(id)
                .unwrap_or_else(|| format!("history write failed: {e}"));
            let _ = judge
                .history_problem
                .set(format!("{problem}; the final numbers are not stored"));
        }
    }
}

/// What the recorder needs to judge a run's thresholds.
struct Judge {
    thresholds: Arc<[Threshold]>,
    verdicts: Arc<OnceLock<Vec<Verdict>>>,
    history_problem: Arc<OnceLock<String>>,
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
        warnings: s.warnings.clone(),
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
