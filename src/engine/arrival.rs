//! The open model: task starts at the rate an arrival shape schedules, whatever the responses
//! take. One driver task sleeps until each start's intended instant (absolute instants from
//! [`ArrivalSchedule`], never chained sleeps: tokio's timer is 1 ms-granular, so chained
//! sleeps drift) and hands the start to an idle virtual user; it spawns users as needed up to
//! `max_users`. When every user is busy the start is counted as dropped (k6's
//! `dropped_iterations`) and never queued, so a slow target cannot turn the open model closed.
//!
//! Each user keeps its own connection, cookies and variables across starts (Locust/k6
//! semantics), runs `on_start` once, one task iteration per start with no wait, and `on_stop`
//! when the run ends. Its latency is also measured from the intended start (the corrected twin),
//! and each user records how late its start began (the driver's wake-up plus the hand-over): the
//! generator's own lag.
//!
//! Counts go through the same sample batches as everything else: no channel send per request.
//! A share of a run over several agents makes start k of the whole schedule when it owns k, at
//! the same instant (`crate::share`); its `max_users` is its part of the whole's.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::context::UserContext;
use super::feeder::ClassFeeds;
use super::prepare::PreparedClass;
use super::shape::ArrivalSchedule;
use super::spawner::ClassSequence;
use super::user::{pick_task, run_on_stop, run_steps, skip_unready, stop_deadline, UserControl};
use super::vars::{SharedVars, Vars};
use crate::protocols::http_client::HttpShared;
use crate::share::Share;
use crate::stats::recorder::Recorder;
use crate::stats::sample::Batch;

/// An idle user with unsent samples hands them over after this long, so live numbers stay
/// current at low rates without a send per iteration at high ones.
const IDLE_FLUSH: Duration = Duration::from_millis(50);
/// The driver hands over its dropped-start count before sleeping longer than this, and at
/// least this often while drops keep coming (not once per drop: drops happen under overload).
const DRIVER_FLUSH: Duration = Duration::from_millis(10);
const DRIVER_FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Everything the driver needs; built by the run actor.
pub(crate) struct OpenModel {
    pub(crate) schedule: ArrivalSchedule,
    pub(crate) max_users: u32,
    pub(crate) classes: Vec<Arc<PreparedClass>>,
    /// Per class: the feeders its tasks read.
    pub(crate) feeds: Vec<Option<Arc<ClassFeeds>>>,
    pub(crate) sequence: ClassSequence,
    pub(crate) shared_vars: Arc<SharedVars>,
    pub(crate) http: Arc<HttpShared>,
    pub(crate) batch_tx: mpsc::Sender<Batch>,
    /// Instant 0 of the schedule (the run's start).
    pub(crate) started: Instant,
    /// Graceful end: no more starts; users finish within `stop_timeout`, run `on_stop`.
    pub(crate) stop: CancellationToken,
    pub(crate) kill: CancellationToken,
    pub(crate) stop_timeout: Duration,
    /// Users in the middle of an iteration (what the run reports as its users).
    pub(crate) busy: Arc<AtomicU32>,
    /// Which starts of the whole schedule this process makes (start k when the share owns k).
    pub(crate) share: Share,
    pub(crate) tracker: TaskTracker,
}

/// Schedules every start until the schedule ends or the run stops.
pub(crate) async fn drive(model: OpenModel) {
    let mut rec = Recorder::new(model.batch_tx.clone());
    let (idle_tx, mut idle_rx) = mpsc::unbounded_channel::<usize>();
    // One start slot per user: a user is handed a start only while idle, so one is enough.
    let mut ports: Vec<mpsc::Sender<Instant>> = Vec::new();
    let mut idle: Vec<usize> = Vec::new();
    let mut seed = 0xa11_5eedu64;
    let mut k = 0u64;
    let mut flushed = Instant::now();
    while let Some(offset) = model.schedule.start_time(k) {
        k += 1;
        if !model.share.owns(k - 1) {
            continue;
        }
        let intended = model.started + offset;
        let now = Instant::now();
        if rec.has_pending()
            && (intended.saturating_duration_since(now) > DRIVER_FLUSH
                || now.duration_since(flushed) >= DRIVER_FLUSH_EVERY)
        {
            rec.flush();
            flushed = now;
        }
        if intended > now {
            tokio::select! {
                biased;
                _ = model.stop.cancelled() => break,
                _ = super::timer::sleep_until(intended) => {}
            }
        } else if model.stop.is_cancelled() {
            break;
        }
        let now = Instant::now();
        while let Ok(i) = idle_rx.try_recv() {
            idle.push(i);
        }
        // The most recently idle user first: its connection is the warmest.
        let mut handed = false;
        while let Some(i) = idle.pop() {
            // Err: that user has ended (the run is stopping); try the next one.
            if ports[i].try_send(intended).is_ok() {
                handed = true;
                break;
            }
        }
        if handed {
            continue;
        }
        let class = (ports.len() < model.max_users as usize)
            // Its class is that of its place in the whole run's users (dealt like the closed
            // model's), so the agents' users together have the class mix of one process.
            .then(|| {
                let place = model.share.nth_owned(ports.len() as u64);
                model.sequence.class_of(usize::try_from(place).ok()?)
            })
            .flatten();
        let Some(class) = class else {
            rec.record_dropped(now);
            continue;
        };
        let (tx, rx) = mpsc::channel(1);
        let index = ports.len();
        ports.push(tx);
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut ctx = UserContext::new(
            Vars::new(model.shared_vars.clone()),
            model.http.clone(),
            Recorder::new(model.batch_tx.clone()),
            rand::rngs::SmallRng::seed_from_u64(seed),
        );
        ctx.feeds = model.feeds.get(class).cloned().flatten();
        let user = OpenUser {
            class: model.classes[class].clone(),
            ctl: UserControl {
                stop: model.stop.clone(),
                kill: model.kill.clone(),
                stop_timeout: model.stop_timeout,
            },
            index,
            starts: rx,
            idle: idle_tx.clone(),
            busy: model.busy.clone(),
        };
        model.tracker.spawn(user.run(ctx, intended));
    }
    // Dropping the ports ends the idle users; busy ones end after their iteration.
    rec.finish().await;
}

/// A user of the open model: waits for starts, runs one iteration per start.
struct OpenUser {
    class: Arc<PreparedClass>,
    ctl: UserControl,
    index: usize,
    starts: mpsc::Receiver<Instant>,
    idle: mpsc::UnboundedSender<usize>,
    busy: Arc<AtomicU32>,
}

/// Counts a user as busy for as long as it lives (also when its iteration is dropped).
struct Busy<'a>(&'a AtomicU32);

impl<'a> Busy<'a> {
    fn new(count: &'a AtomicU32) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Busy(count)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl OpenUser {
    async fn run(mut self, mut ctx: UserContext, first: Instant) {
        let kill = self.ctl.kill.clone();
        tokio::select! {
            biased;
            _ = kill.cancelled() => {}
            _ = self.lifecycle(&mut ctx, first) => {}
        }
        ctx.note_cut_off();
        ctx.rec.finish().await;
    }

    async fn lifecycle(&mut self, ctx: &mut UserContext, first: Instant) {
        let class = self.class.clone();
        let wind_down = ctx.wind_down.clone();
        let mut intended = first;
        let mut started = false;
        loop {
            let busy = Busy::new(&self.busy);
            let now = Instant::now();
            ctx.rec
                .record_lag(now.saturating_duration_since(intended), now);
            if !started {
                started = true;
                // `on_start` delays the first task: that delay counts in its corrected latency.
                if !class.on_start.is_empty() {
                    let finished = tokio::select! {
                        biased;
                        _ = stop_deadline(&self.ctl, &wind_down) => false,
                        _ = run_steps(&class.on_start, ctx, None) => true,
                    };
                    if !finished {
                        ctx.note_cut_off();
                        return;
                    }
                }
            }
            let lag = Instant::now().saturating_duration_since(intended);
            let task = pick_task(&class, ctx);
            // A skipped task sends nothing and takes no data row; the start is used up.
            let completed = if skip_unready(&class, task, ctx) {
                true
            } else {
                if !ctx.feed_task(task) {
                    // A `once` feeder ran out: this user takes no more starts.
                    break;
                }
                tokio::select! {
                    biased;
                    _ = stop_deadline(&self.ctl, &wind_down) => false,
                    _ = run_steps(&class.tasks[task].steps, ctx, Some(lag)) => true,
                }
            };
            drop(busy);
            if !completed {
                ctx.note_cut_off();
            }
            if !completed || self.idle.send(self.index).is_err() {
                break;
            }
            match self.next_start(ctx).await {
                Some(next) => intended = next,
                None => break,
            }
        }
        run_on_stop(&class, ctx).await;
    }

    /// Waits for the next start; None when the run stops or the driver is done.
    async fn next_start(&mut self, ctx: &mut UserContext) -> Option<Instant> {
        loop {
            if !ctx.rec.has_pending() {
                return tokio::select! {
                    biased;
                    _ = self.ctl.stop.cancelled() => None,
                    next = self.starts.recv() => next,
                };
            }
            tokio::select! {
                biased;
                _ = self.ctl.stop.cancelled() => return None,
                next = self.starts.recv() => return next,
                _ = tokio::time::sleep(IDLE_FLUSH) => ctx.rec.flush(),
            }
        }
    }
}
