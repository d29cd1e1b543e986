//! Recording one run into the store while it goes: points every second, the statistics table
//! every few seconds, the state as it changes, and at the end the final numbers, histograms and
//! threshold verdicts. Once a second it also judges the `abort_on_fail` thresholds and stops
//! the run through the one stop path when one fails.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tokio::time::Instant;

use super::{summary, STATS_EVERY};
use crate::engine::clock::now_ms;
use crate::engine::run::{RunCompletion, RunOutcome};
use crate::engine::RunHandle;
use crate::plan::model::{ShapeKind, Threshold};
use crate::stats::seconds::SecondLog;
use crate::stats::snapshot::{RunState, Snapshot};
use crate::stats::stages::{self, ShapedRun, SpanMerger, StageAnalysis};
use crate::stats::thresholds::{self, Verdict};
use crate::stats::windows::{self, WindowJudge};
use crate::store::{NamedHistogram, Store, StoreWriter};

/// What the recording judges with, and where it leaves the verdicts for the live run.
pub(super) struct Judge {
    pub(super) thresholds: Arc<[Threshold]>,
    pub(super) verdicts: Arc<OnceLock<Vec<Verdict>>>,
    /// Shared with the live run, which reads its verdicts while the run goes.
    pub(super) windows: Arc<Mutex<WindowJudge>>,
    pub(super) shape: Option<Arc<ShapeKind>>,
    pub(super) stages: Arc<OnceLock<Option<StageAnalysis>>>,
    pub(super) spans: Arc<Mutex<SpanMerger>>,
    pub(super) history_problem: Arc<OnceLock<String>>,
    /// The run's monitors, read until it ends; their series judge `monitor.…` thresholds.
    pub(super) monitor: Option<crate::monitor::MonitorRun>,
}

pub(super) struct Recording<'a> {
    id: &'a str,
    /// None: the run is not recorded (`--no-history`); thresholds are still judged.
    writer: Option<StoreWriter>,
    judge: Judge,
    /// Points of the series already written.
    written: usize,
    /// Seconds of the run's second log already taken (written, and judged).
    seconds_taken: usize,
    peak_users: u32,
    state: RunState,
    last_stats: Instant,
    /// The `abort_on_fail` threshold that stopped the run (its index), with its numbers then.
    stopped_by: Option<(usize, Verdict)>,
}

impl<'a> Recording<'a> {
    pub(super) fn new(id: &'a str, writer: Option<StoreWriter>, judge: Judge) -> Self {
        Recording {
            id,
            writer,
            judge,
            written: 0,
            seconds_taken: 0,
            peak_users: 0,
            state: RunState::Spawning,
            last_stats: Instant::now(),
            stopped_by: None,
        }
    }

    /// Follows the run's snapshots until it ends, then stores the final numbers.
    pub(super) async fn follow(
        mut self,
        handle: RunHandle,
        completion: RunCompletion,
        store: Option<&Store>,
    ) {
        let mut snapshots = handle.snapshots();
        let seconds = handle.seconds();
        while snapshots.changed().await.is_ok() {
            let snapshot = snapshots.borrow_and_update().clone();
            self.take_seconds(&seconds);
            self.observe(&handle, &snapshot);
            self.judge_recovery_abort(&handle, &snapshot, &seconds);
        }
        match completion.wait().await {
            Ok(outcome) => {
                self.take_seconds(&seconds);
                self.windows().finish();
                self.finish(outcome, store, &seconds).await
            }
            Err(_) => {
                let _ = self.judge.stages.set(None);
                let _ = self.judge.verdicts.set(Vec::new());
                // The run's actor died without a final snapshot: keep what was written.
                if let Some(writer) = &self.writer {
                    writer.finish(self.id, RunState::Aborted, now_ms());
                    let _ = writer.flush().await;
                }
            }
        }
    }

    fn observe(&mut self, handle: &RunHandle, snapshot: &Snapshot) {
        self.peak_users = self.peak_users.max(snapshot.users);
        self.judge_abort(handle, snapshot);
        let Some(writer) = &self.writer else { return };
        let id = self.id;
        // The run goes on measuring when the history cannot be written (disk full); it says so
        // in its warnings, live and at the end.
        if let Some(problem) = writer.take_problem(id) {
            handle.warn(problem);
        }
        if snapshot.series.len() > self.written {
            writer.points(id, snapshot.series[self.written..].to_vec(), now_ms());
            self.written = snapshot.series.len();
        }
        if snapshot.state != self.state {
            self.state = snapshot.state;
            if !self.state.is_final() {
                writer.set_state(id, self.state);
            }
        }
        if self.last_stats.elapsed() >= STATS_EVERY {
            self.last_stats = Instant::now();
            writer.stats(
                id,
                snapshot.rows.clone(),
                snapshot.total.clone(),
                snapshot.failures.clone(),
                Vec::new(),
                summary(snapshot, self.peak_users),
            );
        }
    }

    /// Judges the windows of the seconds closed since the last call and queues them for the
    /// history.
    fn take_seconds(&mut self, log: &SecondLog) {
        let new = log.since(self.seconds_taken);
        if new.is_empty() {
            return;
        }
        self.seconds_taken += new.len();
        {
            let mut judge = self.windows();
            if judge.is_active() {
                for second in &new {
                    judge.push(second.clone());
                }
            }
        }
        if let Some(writer) = &self.writer {
            writer.seconds(self.id, new, now_ms());
        }
    }

    fn windows(&self) -> MutexGuard<'_, WindowJudge> {
        // A std mutex held for one second's judging; a panic in it leaves whole windows.
        self.judge
            .windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn judge_abort(&mut self, handle: &RunHandle, snapshot: &Snapshot) {
        if self.stopped_by.is_some() {
            return;
        }
        let thresholds = &self.judge.thresholds;
        let running = !snapshot.state.is_final() && snapshot.state != RunState::Stopping;
        let windowed = {
            let mut judge = self.windows();
            let abort = judge.take_abort().filter(|_| running);
            abort.and_then(|i| Some((i, judge.verdict(i)?)))
        };
        let failed = windowed.or_else(|| {
            thresholds::first_abort(thresholds, snapshot)
                .map(|i| (i, thresholds::evaluate(&thresholds[i], snapshot)))
        });
        if let Some((i, verdict)) = failed {
            self.stop_on(handle, snapshot, i, verdict);
        }
    }

    /// Stops the run because threshold `i` failed with `abort_on_fail`, keeping its verdict.
    fn stop_on(&mut self, handle: &RunHandle, snapshot: &Snapshot, i: usize, mut verdict: Verdict) {
        verdict.stopped_run_at_s = Some(snapshot.elapsed_s);
        tracing::info!(run = %self.id, threshold = %verdict.expression,
            observed = %verdict.observed_text, "threshold failed: stopping the run");
        // the one stop path: users finish, every output is still written
        handle.stop();
        self.stopped_by = Some((i, verdict));
    }

    /// `abort_on_fail` on a `recovery` threshold: judged once a second on the stages so far,
    /// like the others; a step counts once it is back, or once its stage ended without.
    fn judge_recovery_abort(
        &mut self,
        handle: &RunHandle,
        snapshot: &Snapshot,
        seconds: &SecondLog,
    ) {
        if self.stopped_by.is_some()
            || snapshot.state.is_final()
            || snapshot.state == RunState::Stopping
        {
            return;
        }
        let Some(shape) = self.judge.shape.as_deref() else {
            return;
        };
        let due = |t: &Threshold| {
            stages::is_recovery(t)
                && t.abort_on_fail
                && t.delay
                    .is_none_or(|d| snapshot.elapsed_s >= d.as_secs_f64())
        };
        let thresholds = &self.judge.thresholds;
        if !thresholds.iter().any(due) {
            return;
        }
        let analysis = analyse_stages(
            shape,
            snapshot,
            thresholds,
            false,
            seconds,
            &self.judge.spans,
        );
        let failed = thresholds
            .iter()
            .enumerate()
            .filter(|(_, t)| due(t))
            .find_map(|(i, t)| {
                let v = stages::recovery_verdict(t, Some(&analysis));
                (v.samples > 0 && !v.passed).then_some((i, v))
            });
        if let Some((i, verdict)) = failed {
            self.stop_on(handle, snapshot, i, verdict);
        }
    }

    async fn finish(mut self, outcome: RunOutcome, store: Option<&Store>, seconds: &SecondLog) {
        let mut verdicts = {
            let windows = self.windows();
            windows::evaluate_all(&self.judge.thresholds, &outcome.snapshot, &windows)
        };
        if let Some(monitor) = self.judge.monitor.take() {
            // they stop with the run (a read in flight ends within its timeout); their last
            // reads are queued for the writer before the flush below
            let data = monitor.finished().await;
            crate::stats::monitor::judge_all(&self.judge.thresholds, &mut verdicts, &data);
        }
        if let Some((i, verdict)) = self.stopped_by.take() {
            // the run ended on this verdict: keep the numbers that stopped it
            verdicts[i] = verdict;
        }
        let analysis = self.judge.shape.as_deref().map(|shape| {
            let thresholds = &self.judge.thresholds;
            analyse_stages(
                shape,
                &outcome.snapshot,
                thresholds,
                true,
                seconds,
                &self.judge.spans,
            )
        });
        let verdicts = stages::with_recovery(&self.judge.thresholds, verdicts, analysis.as_ref());
        let _ = self.judge.stages.set(analysis.clone());
        let _ = self.judge.verdicts.set(verdicts.clone());
        let Some(writer) = &self.writer else { return };
        let id = self.id;
        if let Some(store) = store.filter(|_| !verdicts.is_empty()) {
            if let Err(e) = store.set_verdicts(id, &verdicts).await {
                tracing::warn!(run = %id, error = %e, "threshold verdicts not stored");
            }
        }
        let snapshot = outcome.snapshot;
        let peak_users = self.peak_users.max(snapshot.users);
        if snapshot.series.len() > self.written {
            writer.points(id, snapshot.series[self.written..].to_vec(), now_ms());
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
        let mut final_summary = summary(&snapshot, peak_users);
        final_summary.stages = analysis;
        writer.stats(
            id,
            snapshot.rows.clone(),
            snapshot.total.clone(),
            snapshot.failures.clone(),
            histograms,
            final_summary,
        );
        writer.finish(id, snapshot.state, now_ms());
        if let Err(e) = writer.flush().await {
            tracing::warn!(run = %id, error = %e, "final statistics not stored");
            let problem = writer
                .take_problem(id)
                .unwrap_or_else(|| format!("history write failed: {e}"));
            let _ = self
                .judge
                .history_problem
                .set(format!("{problem}; the final numbers are not stored"));
        }
    }
}

/// The stage analysis of a shaped run at `snapshot` (`ended`: its final one), its stages
/// merged from the run's kept seconds by `spans`.
pub(super) fn analyse_stages(
    shape: &ShapeKind,
    snapshot: &Snapshot,
    thresholds: &[Threshold],
    ended: bool,
    seconds: &SecondLog,
    spans: &Mutex<SpanMerger>,
) -> StageAnalysis {
    // when each kept second began: a loaded machine's ticks come late, and later ones follow
    let mut starts = Vec::new();
    let mut at = 0.0;
    for second in seconds.since(0) {
        starts.push(at);
        at += second.secs;
    }
    let run = ShapedRun {
        shape,
        series: &snapshot.series,
        starts_s: &starts,
        elapsed_s: snapshot.elapsed_s,
        ended,
    };
    let rows = stages::needs_rows(thresholds);
    // A std mutex: held while merging (no await), by one reader at a time.
    let mut spans = spans.lock().unwrap_or_else(PoisonError::into_inner);
    stages::analyse(&run, thresholds, &mut |a, b| {
        spans.span(seconds, a, b, rows)
    })
}
