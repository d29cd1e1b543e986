//! The one task that writes live runs into the history. Run actors hand it points, statistics
//! and state changes without waiting (an unbounded channel: a few small messages per second per
//! run), so a slow disk never stalls a run; SQLite has a single writer anyway, and one task
//! batching what queued up while it was busy keeps commits (fsyncs) few.
//!
//! It never panics: a failed write is logged and remembered for the next `flush`, which is how
//! the stop path learns whether the final numbers reached the disk.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::series::PointsBatch;
use super::{NamedHistogram, RunSummary, Store, StoreError};
use crate::stats::seconds::Second;
use crate::stats::snapshot::{FailureRow, Point, RunState, StatsRow};

/// How many queued operations one wake-up takes at most (bounds one transaction's size).
const BATCH: usize = 256;

#[derive(Debug)]
struct StatsOp {
    id: Arc<str>,
    rows: Vec<StatsRow>,
    total: StatsRow,
    failures: Vec<FailureRow>,
    histograms: Vec<NamedHistogram>,
    summary: RunSummary,
}

#[derive(Debug)]
enum WriteOp {
    Points(PointsBatch),
    // boxed: a statistics set is much larger than the other operations
    Stats(Box<StatsOp>),
    SetState {
        id: Arc<str>,
        state: RunState,
    },
    Finish {
        id: Arc<str>,
        state: RunState,
        ended_at_ms: i64,
    },
    Flush(oneshot::Sender<Result<(), StoreError>>),
}

/// A handle on the writer task; clones share it. The task ends once every clone is dropped,
/// after writing what was queued.
#[derive(Clone, Debug)]
pub struct StoreWriter {
    tx: mpsc::UnboundedSender<WriteOp>,
    problems: Problems,
}

/// Starts the writer task on the current tokio runtime.
pub fn spawn_writer(store: Store) -> StoreWriter {
    let (tx, rx) = mpsc::unbounded_channel();
    let problems = Problems::default();
    tokio::spawn(run_writer(store, rx, problems.clone()));
    StoreWriter { tx, problems }
}

impl StoreWriter {
    fn send(&self, op: WriteOp) {
        if self.tx.send(op).is_err() {
            // only after the task died; flush() reports it to whoever waits for the data
            tracing::warn!("history writer has stopped; dropping a write");
        }
    }

    /// Queues per-second points of a run (replacing any with the same second) and its heartbeat.
    pub fn points(&self, id: impl Into<Arc<str>>, points: Vec<Point>, heartbeat_ms: i64) {
        self.send(WriteOp::Points(PointsBatch {
            id: id.into(),
            points,
            seconds: Vec::new(),
            heartbeat_ms,
        }));
    }

    /// Queues closed seconds' histograms of a run (replacing any of the same second and row),
    /// written in the transaction of the points queued with them.
    pub fn seconds(&self, id: impl Into<Arc<str>>, seconds: Vec<Arc<Second>>, heartbeat_ms: i64) {
        self.send(WriteOp::Points(PointsBatch {
            id: id.into(),
            points: Vec::new(),
            seconds,
            heartbeat_ms,
        }));
    }

    /// Queues a full statistics set of a run, replacing the previous one (see
    /// [`Store::save_stats`]).
    pub fn stats(
        &self,
        id: impl Into<Arc<str>>,
        rows: Vec<StatsRow>,
        total: StatsRow,
        failures: Vec<FailureRow>,
        histograms: Vec<NamedHistogram>,
        summary: RunSummary,
    ) {
        self.send(WriteOp::Stats(Box::new(StatsOp {
            id: id.into(),
            rows,
            total,
            failures,
            histograms,
            summary,
        })));
    }

    pub fn set_state(&self, id: impl Into<Arc<str>>, state: RunState) {
        self.send(WriteOp::SetState {
            id: id.into(),
            state,
        });
    }

    pub fn finish(&self, id: impl Into<Arc<str>>, state: RunState, ended_at_ms: i64) {
        self.send(WriteOp::Finish {
            id: id.into(),
            state,
            ended_at_ms,
        });
    }

    /// The latest write failure of run `id` not taken yet, as a warning for people
    /// ("history write failed: no space left on device; ...").
    pub fn take_problem(&self, id: &str) -> Option<String> {
        self.problems.lock().ok()?.remove(id)
    }

    /// Resolves once everything queued before it is written. Errs with the first write that
    /// failed since the previous flush, or when the task has stopped.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(WriteOp::Flush(done))
            .map_err(|_| StoreError::WriterStopped)?;
        wait.await.map_err(|_| StoreError::WriterStopped)?
    }
}

async fn run_writer(store: Store, mut rx: mpsc::UnboundedReceiver<WriteOp>, by_run: Problems) {
    let mut queued = Vec::with_capacity(BATCH);
    let mut failed = Failures {
        first: None,
        by_run,
    };
    while rx.recv_many(&mut queued, BATCH).await > 0 {
        let superseded = superseded_stats(&queued);
        let mut points = Vec::new();
        for (i, op) in queued.drain(..).enumerate() {
            match op {
                WriteOp::Points(batch) => points.push(batch),
                WriteOp::Stats(_) if superseded.contains(&i) => {}
                other => {
                    // keep the queue's order: points queued before this op are written before it
                    write_points(&store, &mut points, &mut failed).await;
                    apply(&store, other, &mut failed).await;
                }
            }
        }
        write_points(&store, &mut points, &mut failed).await;
    }
    tracing::debug!("history writer stopped: every handle dropped");
}

async fn apply(store: &Store, op: WriteOp, failed: &mut Failures) {
    match op {
        WriteOp::Points(batch) => write_points(store, &mut vec![batch], failed).await,
        WriteOp::Stats(s) => {
            let result = store
                .save_stats(
                    &s.id,
                    &s.rows,
                    &s.total,
                    &s.failures,
                    &s.histograms,
                    &s.summary,
                )
                .await;
            note(result, "statistics", &s.id, failed);
        }
        WriteOp::SetState { id, state } => {
            let result = store.set_state(&id, state).await;
            note(result, "state", &id, failed);
        }
        WriteOp::Finish {
            id,
            state,
            ended_at_ms,
        } => {
            let result = store.finish_run(&id, state, ended_at_ms).await;
            note(result, "end of run", &id, failed);
        }
        WriteOp::Flush(done) => {
            let result = match failed.first.take() {
                Some(e) => Err(e),
                None => Ok(()),
            };
            // the waiter may have given up; nothing to do then
            let _ = done.send(result);
        }
    }
}

/// Writes the pending point batches of several runs in one transaction. If that fails, each
/// batch is retried on its own so that one bad run (deleted meanwhile, say) costs only its own
/// points.
async fn write_points(store: &Store, points: &mut Vec<PointsBatch>, failed: &mut Failures) {
    if points.is_empty() {
        return;
    }
    if store.append_points_batches(points).await.is_err() {
        for b in points.iter() {
            let result = store.append_points_batches(std::slice::from_ref(b)).await;
            note(result, "per-second points", &b.id, failed);
        }
    }
    points.clear();
}

/// Write failures: the first since the last flush (for whoever flushes), and the latest per run
/// (for the run's own warning, see [`StoreWriter::take_problem`]).
struct Failures {
    first: Option<StoreError>,
    by_run: Problems,
}

type Problems = Arc<std::sync::Mutex<HashMap<Arc<str>, String>>>;

fn note(result: Result<(), StoreError>, what: &str, id: &str, failed: &mut Failures) {
    if let Err(e) = result {
        tracing::warn!(error = %e, run = %id, "history: could not save the {what}");
        let problem = format!("history write failed: {}", plain_reason(&e));
        if let Ok(mut by_run) = failed.by_run.lock() {
            by_run.insert(Arc::from(id), problem);
        }
        failed.first.get_or_insert(e);
    }
}

/// What a person should read for a store error: SQLite's "database or disk is full" is the
/// disk, whatever the code says.
fn plain_reason(e: &StoreError) -> String {
    let text = e.to_string();
    if text.contains("disk is full") || text.contains("code: 13") {
        "no space left on device; the stored run misses data from here on".into()
    } else {
        text
    }
}

/// Indexes of statistics sets that a later set of the same run replaces before any flush could
/// observe them: each save replaces the whole set, so writing only the last one of a backlog is
/// the same result with less I/O.
fn superseded_stats(ops: &[WriteOp]) -> HashSet<usize> {
    let mut later: HashSet<&str> = HashSet::new();
    let mut out = HashSet::new();
    for (i, op) in ops.iter().enumerate().rev() {
        match op {
            WriteOp::Stats(s) if later.contains(&*s.id) => {
                out.insert(i);
            }
            WriteOp::Stats(s) => {
                later.insert(&s.id);
            }
            WriteOp::Flush(_) => later.clear(),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::*;

    fn point(t_s: u64) -> Point {
        Point {
            t_s,
            users: u32::try_from(t_s % 50).expect("small"),
            rps: t_s as f64 * 1.5,
            fail_per_s: 0.5,
            p50_ms: 10.0 + t_s as f64,
            p95_ms: 40.0 + t_s as f64,
            ..Default::default()
        }
    }

    fn total(requests: u64) -> StatsRow {
        StatsRow {
            name: "Aggregated".to_string(),
            num_requests: requests,
            num_failures: 3,
            avg_ms: 12.5,
            ..StatsRow::default()
        }
    }

    #[tokio::test]
    async fn writes_everything_queued_before_flush() {
        let (store, _dir) = temp_store().await;
        store
            .insert_run(&new_run("r1", "shop", 1_000))
            .await
            .expect("insert");
        let writer = spawn_writer(store.clone());
        let id: Arc<str> = Arc::from("r1");
        writer.set_state(id.clone(), RunState::Running);
        for t in 1..=100 {
            writer.points(
                id.clone(),
                vec![point(t)],
                1_000 + 1_000 * i64::try_from(t).expect("small"),
            );
            if t % 10 == 0 {
                writer.stats(
                    id.clone(),
                    vec![StatsRow {
                        method: "GET".to_string(),
                        name: "/".to_string(),
                        num_requests: t * 10,
                        ..StatsRow::default()
                    }],
                    total(t * 10),
                    vec![],
                    vec![],
                    RunSummary {
                        requests: t * 10,
                        ..RunSummary::default()
                    },
                );
            }
        }
        writer.finish("r1", RunState::Stopped, 101_500);
        writer.flush().await.expect("flush");

        let stats = store.load_stats("r1").await.expect("load");
        assert_eq!(stats.points.len(), 100);
        assert_eq!(stats.points, (1..=100).map(point).collect::<Vec<_>>());
        assert_eq!(stats.points[99].rps, 150.0);
        assert_eq!(stats.rows.len(), 1);
        assert_eq!(stats.rows[0].num_requests, 1_000);
        assert_eq!(stats.total.map(|t| t.num_requests), Some(1_000));
        let run = store.get_run("r1").await.expect("get").expect("exists");
        assert_eq!(run.state, RunState::Stopped);
        assert_eq!(run.ended_at_ms, Some(101_500));
        assert_eq!(run.heartbeat_ms, 101_500);
        assert_eq!(run.summary.map(|s| s.requests), Some(1_000));
    }

    #[tokio::test]
    async fn a_full_database_fails_the_write_but_never_locks_the_next_ones() {
        // 40 pages of 4 KiB: the run fits; saves of growing histogram blobs soon do not
        let (store, _dir) = capped_store(40).await;
        store
            .insert_run(&new_run("r1", "shop", 1_000))
            .await
            .expect("insert");
        let writer = spawn_writer(store.clone());
        let histogram = |n: u8, kib: usize| NamedHistogram {
            method: "GET".into(),
            name: format!("/{n}"),
            histogram: vec![n; kib * 1024],
            exact: Default::default(),
            corrected: None,
            corrected_exact: None,
        };
        let mut full = None;
        for round in 0..20u8 {
            writer.stats(
                "r1",
                vec![],
                total(u64::from(round)),
                vec![],
                (0..4)
                    .map(|i| histogram(i, 8 * (usize::from(round) + 1)))
                    .collect(),
                RunSummary::default(),
            );
            writer.points("r1", vec![point(u64::from(round))], 2_000);
            if let Err(e) = writer.flush().await {
                full = Some(e.to_string());
                break;
            }
        }
        let full = full.expect("the capped database fills up");
        assert!(full.contains("full"), "{full}");
        let problem = writer.take_problem("r1").expect("the run is told");
        assert!(
            problem.starts_with("history write failed: no space left on device"),
            "{problem}"
        );
        assert_eq!(writer.take_problem("r1"), None, "said once");
        // The failed transaction is gone with its connection: writes that fit still work (a
        // connection kept in the pool with the transaction open answered "database is locked").
        for _ in 0..3 {
            writer.set_state("r1", RunState::Stopping);
            writer.finish("r1", RunState::Stopped, 9_000);
            writer
                .flush()
                .await
                .expect("small writes after a full disk");
        }
        let run = store.get_run("r1").await.expect("read").expect("exists");
        assert_eq!(
            (run.state, run.ended_at_ms),
            (RunState::Stopped, Some(9_000))
        );
    }

    #[tokio::test]
    async fn a_failed_write_is_reported_by_the_next_flush_only() {
        let (store, _dir) = temp_store().await;
        store
            .insert_run(&new_run("r1", "shop", 1_000))
            .await
            .expect("insert");
        let writer = spawn_writer(store.clone());
        // no such run: the foreign key refuses it, and only it
        writer.points("ghost", vec![point(1)], 5);
        writer.points("r1", vec![point(1)], 2_000);
        let err = writer.flush().await.expect_err("ghost points");
        assert!(matches!(err, StoreError::Sql(_)), "{err:?}");
        // the task goes on and later writes succeed
        writer.points("r1", vec![point(2)], 3_000);
        writer.flush().await.expect("second flush");
        let stats = store.load_stats("r1").await.expect("load");
        assert_eq!(stats.points, [point(1), point(2)]);
        let run = store.get_run("r1").await.expect("get").expect("exists");
        assert_eq!(run.heartbeat_ms, 3_000);
    }

    #[tokio::test]
    async fn a_clone_keeps_the_task_alive() {
        let (store, _dir) = temp_store().await;
        store
            .insert_run(&new_run("r1", "shop", 1_000))
            .await
            .expect("insert");
        let writer = spawn_writer(store.clone());
        let clone = writer.clone();
        drop(writer);
        clone.finish("r1", RunState::Aborted, 7_000);
        clone.flush().await.expect("flush");
        let run = store.get_run("r1").await.expect("get").expect("exists");
        assert_eq!(run.state, RunState::Aborted);
        assert_eq!(run.ended_at_ms, Some(7_000));
    }

    #[test]
    fn only_stats_replaced_before_a_flush_are_skipped() {
        let stats = |id: &str| {
            WriteOp::Stats(Box::new(StatsOp {
                id: Arc::from(id),
                rows: vec![],
                total: total(1),
                failures: vec![],
                histograms: vec![],
                summary: RunSummary::default(),
            }))
        };
        let (done, _wait) = oneshot::channel();
        let ops = [
            stats("a"), // 0: replaced by 2
            stats("b"), // 1: kept (last b before the flush)
            stats("a"), // 2: kept, a flush follows
            WriteOp::Flush(done),
            stats("a"), // 4: replaced by 5
            stats("a"), // 5: kept
        ];
        let mut skipped: Vec<usize> = superseded_stats(&ops).into_iter().collect();
        skipped.sort_unstable();
        assert_eq!(skipped, [0, 4]);
    }
}
