//! One run = one actor task that owns all of the run's mutable state: the users (spawned and
//! stopped to follow the target count and the class weights), the aggregator (fed with the
//! users' sample batches) and the clock of the per-second series. The outside world talks to it
//! through a [`RunHandle`] (commands over a channel) and reads it through a `watch` of the
//! latest [`Snapshot`] (a slow reader skips frames, never grows memory).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::arrival::{self, OpenModel};
use super::context::{Population, UserContext};
use super::fanout::Topics;
use super::feeder::{ClassFeeds, Feeders};
use super::prepare::{never_ready_warnings, prepare_class, PreparedClass};
use super::setup::{run_setup, SetupOutcome};
use super::shape::{self, ArrivalSchedule};
use super::spawner::ClassSequence;
use super::user::{run_user, UserControl};
use super::vars::{prepare, SharedVars, Vars};
use super::EngineError;
use crate::plan::model::{Plan, ShapeKind, Stage};
use crate::protocols::http_client::HttpShared;
use crate::request::RunRequest;
use crate::share::Share;
use crate::stats::aggregator::{Aggregator, SerializedHistogram};
use crate::stats::interval::{Interval, IntervalBuilder};
use crate::stats::recorder::Recorder;
use crate::stats::sample::Batch;
use crate::stats::seconds::SecondLog;
use crate::stats::snapshot::{RunState, Snapshot};
use crate::stats::tap::SampleTap;

/// Time allowed for `on_stop` steps after the stop timeout, before users are killed.
pub(super) const ON_STOP_GRACE: Duration = Duration::from_secs(10);
/// Batches in flight between users and the aggregator before users keep theirs.
const BATCH_CHANNEL: usize = 4096;

/// This process's part in a distributed run, as one of its agents (`hornet agent`): it starts
/// at the coordinator's barrier, takes the coordinator's `setup` captures instead of running
/// setup itself, and sends each closed second to the coordinator instead of counting it.
pub struct AgentPart {
    /// The one start instant of every agent, on this process's clock.
    pub start_at: Instant,
    /// What the coordinator's setup left (plan vars and captures), for every user.
    pub setup_vars: Vec<(String, serde_json::Value)>,
    /// Each closed second, and the last part-second when the share ends.
    pub seconds: mpsc::UnboundedSender<AgentSecond>,
}

/// One closed second of an agent's share.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AgentSecond {
    /// Seconds since the start at the end of this interval (the last one may be shorter).
    pub t_s: u64,
    pub interval: Interval,
    /// Users of this agent running at the end of the second.
    pub users: u32,
    /// This process's CPU use over the second, as a share of its cores (0..1), when known.
    pub cpu: Option<f64>,
    pub rss_bytes: Option<u64>,
    /// Warnings raised since the previous second.
    pub warnings: Vec<String>,
}

/// An agent part while it runs.
struct PartState {
    builder: IntervalBuilder,
    seconds: mpsc::UnboundedSender<AgentSecond>,
    /// Warnings already sent.
    warned: usize,
}

/// How a run ended: its final snapshot (state `stopped` or `aborted`).
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub snapshot: Arc<Snapshot>,
    /// Every row's final histogram, the Aggregated one last.
    pub histograms: Vec<SerializedHistogram>,
}

pub(super) enum Command {
    SetUsers {
        users: u32,
        spawn_rate: Option<f64>,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    Stop,
    Abort,
    /// Locust's `/stats/reset`: the statistics start over, the users keep going.
    ResetStats,
    /// A warning from outside the engine (the history could not be written), for the run's
    /// warnings.
    Warn(String),
}

/// Controls a running run; cheap to clone.
#[derive(Clone)]
pub struct RunHandle {
    pub(super) commands: mpsc::UnboundedSender<Command>,
    pub(super) snapshots: watch::Receiver<Arc<Snapshot>>,
    pub(super) seconds: SecondLog,
    /// When the run's clock started (its second 0), in ms since the epoch.
    pub(super) started_unix_ms: i64,
}

impl RunHandle {
    /// Changes the number of users (and optionally the spawn rate) while running.
    pub async fn set_users(&self, users: u32, spawn_rate: Option<f64>) -> Result<(), EngineError> {
        // An edit is its own input (PATCH, Locust's /swarm on a live run): bounded like a start.
        if let Some(rate) = spawn_rate {
            crate::plan::limits::check_spawn_rate(rate)
                .map_err(|e| EngineError::invalid("spawn_rate", e))?;
        }
        crate::plan::limits::check_users(u64::from(users))
            .map_err(|e| EngineError::invalid("users", e))?;
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::SetUsers {
                users,
                spawn_rate,
                reply,
            })
            .map_err(|_| EngineError::Ended)?;
        rx.await.map_err(|_| EngineError::Ended)?
    }

    /// Stops gracefully: users finish their task within the stop timeout, run `on_stop`.
    pub fn stop(&self) {
        // Err: the run already ended, which is what was asked.
        let _ = self.commands.send(Command::Stop);
    }

    /// Stops now: in-flight requests are dropped.
    pub fn abort(&self) {
        let _ = self.commands.send(Command::Abort);
    }

    /// Starts the statistics over (Locust's `/stats/reset`); the next snapshot shows it.
    pub fn reset_stats(&self) {
        // Err: the run already ended; its final numbers stay as they are.
        let _ = self.commands.send(Command::ResetStats);
    }

    /// Adds a warning to the run's snapshot (said once; the same text again is ignored).
    pub fn warn(&self, warning: String) {
        let _ = self.commands.send(Command::Warn(warning));
    }

    /// The latest snapshot, updated once a second and when the run ends.
    pub fn snapshots(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.clone()
    }

    /// When the run's clock started, in ms since the epoch: its stages, seconds and points count
    /// from here (a local run's TLS and user setup come after it).
    pub fn started_unix_ms(&self) -> i64 {
        self.started_unix_ms
    }

    /// The run's closed seconds with their histograms (each one is in it before the snapshot
    /// whose series ends with it is published; the last, partial one before the final snapshot).
    pub fn seconds(&self) -> SecondLog {
        self.seconds.clone()
    }
}

/// The end of a run, to await.
pub struct RunCompletion(pub(super) oneshot::Receiver<RunOutcome>);

impl RunCompletion {
    pub async fn wait(self) -> Result<RunOutcome, EngineError> {
        self.0.await.map_err(|_| EngineError::Ended)
    }
}

/// Starts the run `req` asks for; must be called inside a tokio runtime. The plan's `setup`
/// steps run first, once: their captures become variables every user sees. A failing setup step
/// refuses the run (`Invalid`, field `setup`, naming the step and its failure) and nothing is
/// started. The request was validated when it was built; nothing here checks it again.
pub async fn launch(
    req: &RunRequest,
    sample_tap: Option<SampleTap>,
) -> Result<(RunHandle, RunCompletion), EngineError> {
    // Fold the templates that only use plan vars and env() once; users run from that copy.
    let (plan, shared_vars) =
        prepare(&req.plan).map_err(|e| EngineError::invalid("plan", e.to_string()))?;
    let feeders = load_feeders(&plan, req)?;
    let setup = if plan.setup.is_empty() {
        SetupOutcome {
            shared: shared_vars,
            batches: Vec::new(),
        }
    } else {
        run_setup(&plan, &req.origin, shared_vars, &feeders).await?
    };
    begin(req, plan, feeders, setup, sample_tap, None)
}

/// Starts this agent's share of a distributed run (`req.share`) at `part.start_at`. Setup ran
/// on the coordinator: its values come with `part`.
pub async fn launch_part(
    req: &RunRequest,
    part: AgentPart,
    sample_tap: Option<SampleTap>,
) -> Result<(RunHandle, RunCompletion), EngineError> {
    let (plan, shared_vars) =
        prepare(&req.plan).map_err(|e| EngineError::invalid("plan", e.to_string()))?;
    let feeders = load_feeders(&plan, req)?;
    let shared = if part.setup_vars.is_empty() {
        shared_vars
    } else {
        SharedVars::from_values(part.setup_vars.clone())
    };
    let setup = SetupOutcome {
        shared,
        batches: Vec::new(),
    };
    begin(req, plan, feeders, setup, sample_tap, Some(part))
}

/// The plan's feeders, with the `once` rows of this share only.
fn load_feeders(plan: &Plan, req: &RunRequest) -> Result<Arc<Feeders>, EngineError> {
    let feeders =
        Feeders::load(&plan.data).map_err(|e| EngineError::invalid("data", e.to_string()))?;
    Ok(Arc::new(feeders.dealt(req.share)))
}

/// How the run sets its users: from the request, or from the first stage of its shape.
fn initial_mode(req: &RunRequest) -> (Mode, u32, f64) {
    let Some(shape) = req.shape.clone() else {
        return (Mode::Users, req.users, req.spawn_rate);
    };
    match shape.kind {
        ShapeKind::Stages(stages) => {
            let (users, rate) = match shape::stage_at(&stages, Duration::ZERO) {
                Some((t, _)) => (t.users, t.spawn_rate.unwrap_or(f64::INFINITY)),
                None => (req.users, req.spawn_rate),
            };
            let mode = Mode::Stages {
                name: shape.name,
                stages,
            };
            (mode, users, rate)
        }
        ShapeKind::Arrival { stages, max_users } => {
            let mode = Mode::Arrival {
                name: shape.name,
                schedule: Some((ArrivalSchedule::new(&stages), max_users)),
                busy: Arc::new(AtomicU32::new(0)),
                stop: CancellationToken::new(),
            };
            (mode, 0, req.spawn_rate)
        }
    }
}

fn begin(
    req: &RunRequest,
    plan: Plan,
    feeders: Arc<Feeders>,
    setup: SetupOutcome,
    sample_tap: Option<SampleTap>,
    part: Option<AgentPart>,
) -> Result<(RunHandle, RunCompletion), EngineError> {
    let classes = req
        .selection
        .apply(&plan)
        .map_err(|e| EngineError::invalid("classes", e))?;
    let feeds = classes
        .iter()
        .map(|c| ClassFeeds::new(&feeders, c, &plan.defaults.headers))
        .collect();
    let shared_vars = setup.shared;
    let vars = Vars::new(shared_vars.clone());
    // The fan-out boards: the prepared steps keep the ones they use.
    let topics = Topics::default();
    let prepared: Vec<Arc<PreparedClass>> = classes
        .iter()
        .map(|c| prepare_class(&plan, c, &req.origin, &vars, &topics).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let sequence = ClassSequence::of_classes(&classes);
    let class_names: Vec<Arc<str>> = classes.iter().map(|c| Arc::from(c.name.as_str())).collect();

    let (commands, command_rx) = mpsc::unbounded_channel();
    let (batch_tx, batch_rx) = mpsc::channel(BATCH_CHANNEL);
    let mut aggregator = Aggregator::new(plan.names.clone(), req.name_cap);
    for batch in setup.batches {
        aggregator.ingest(batch);
    }
    for warning in never_ready_warnings(&classes, &shared_vars) {
        aggregator.add_warning(warning);
    }
    // An agent starts at the coordinator's barrier (later than now); a local run now.
    let now = Instant::now().max(part.as_ref().map_or(Instant::now(), |p| p.start_at));
    let started_unix_ms =
        super::clock::now_ms() + now.saturating_duration_since(Instant::now()).as_millis() as i64;
    let part = part.map(|p| PartState {
        builder: IntervalBuilder::new(),
        seconds: p.seconds,
        warned: 0,
    });
    let first = Arc::new(aggregator.snapshot(Duration::ZERO, 0, RunState::Spawning));
    let (snapshot_tx, snapshots) = watch::channel(first);
    let (done_tx, done_rx) = oneshot::channel();
    let (mode, target_users, spawn_rate) = initial_mode(req);
    let seconds = aggregator.seconds();
    let actor = RunActor {
        classes: prepared,
        feeds,
        feeders,
        population: Arc::default(),
        sequence,
        shared_vars,
        http: HttpShared::new(),
        users: Vec::new(),
        owned: 0,
        share: req.share,
        target_users,
        spawn_rate,
        mode,
        ramp: Ramp {
            start: now,
            from: 0,
        },
        started: now,
        started_unix_ms,
        part,
        cpu: None,
        class_names,
        sample_tap,
        run_time: req.ends_after(),
        stop_timeout: req.stop_timeout,
        aggregator,
        batch_tx: Some(batch_tx),
        batch_rx,
        snapshot_tx,
        kill: CancellationToken::new(),
        tracker: TaskTracker::new(),
        next_seed: 0x5eed,
    };
    tokio::spawn(async move {
        let outcome = actor.run(command_rx).await;
        // The receiver may be gone (nobody waits for the end): fine.
        let _ = done_tx.send(outcome);
    });
    Ok((
        RunHandle {
            commands,
            snapshots,
            seconds,
            started_unix_ms,
        },
        RunCompletion(done_rx),
    ))
}

/// A user of the whole run's sequence: this process runs it (`Some`), or another agent does.
struct UserSlot {
    stop: Option<CancellationToken>,
}

/// Users move from `from` toward the target at the spawn rate, starting at `start`.
struct Ramp {
    start: Instant,
    from: usize,
}

/// What sets the number of users.
enum Mode {
    /// `users`/`spawn_rate`, changed by [`RunHandle::set_users`].
    Users,
    /// A closed-model shape: each stage retargets the users.
    Stages { name: String, stages: Vec<Stage> },
    /// An open-model shape: the arrival driver starts tasks and owns its users.
    Arrival {
        name: String,
        /// Taken when the driver starts.
        schedule: Option<(ArrivalSchedule, u32)>,
        /// Users in the middle of an iteration.
        busy: Arc<AtomicU32>,
        /// Ends the driver and its users gracefully.
        stop: CancellationToken,
    },
}

struct RunActor {
    classes: Vec<Arc<PreparedClass>>,
    /// Per class: the feeders it reads.
    feeds: Vec<Option<Arc<ClassFeeds>>>,
    feeders: Arc<Feeders>,
    /// Users whose task is still running (a user stops on its own when a `once` feeder runs out).
    population: Arc<Population>,
    sequence: ClassSequence,
    shared_vars: Arc<SharedVars>,
    http: Arc<HttpShared>,
    /// Running users in spawn order: always a prefix of `sequence` (of the whole run: the users
    /// of other agents hold an empty slot, so the ramp and the class mix follow the whole run).
    users: Vec<UserSlot>,
    /// The slots of `users` this process runs.
    owned: usize,
    share: Share,
    target_users: u32,
    /// Users per second; infinite for a shape stage without a spawn rate (all at once).
    spawn_rate: f64,
    mode: Mode,
    ramp: Ramp,
    started: Instant,
    started_unix_ms: i64,
    /// Class names by index in `classes`, for the sample tap's thread names.
    class_names: Vec<Arc<str>>,
    sample_tap: Option<SampleTap>,
    /// Set in an agent: its seconds go to the coordinator instead of into `aggregator` (which
    /// then only keeps the warnings).
    part: Option<PartState>,
    /// The last second's CPU share, for the agent's seconds.
    cpu: Option<f64>,
    run_time: Option<Duration>,
    stop_timeout: Duration,
    aggregator: Aggregator,
    /// Cloned into every user; dropped when the run stops so the channel closes.
    batch_tx: Option<mpsc::Sender<Batch>>,
    batch_rx: mpsc::Receiver<Batch>,
    snapshot_tx: watch::Sender<Arc<Snapshot>>,
    kill: CancellationToken,
    tracker: TaskTracker,
    next_seed: u64,
}

enum Ending {
    Graceful,
    Abort,
}

impl RunActor {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) -> RunOutcome {
        if let Some(ending) = self.await_start(&mut commands).await {
            let state = RunState::ended(matches!(ending, Ending::Abort));
            self.send_second();
            let snapshot = self.publish(state);
            return RunOutcome {
                snapshot,
                histograms: Vec::new(),
            };
        }
        let mut ticker = tokio::time::interval_at(
            self.started + Duration::from_secs(1),
            Duration::from_secs(1),
        );
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let deadline = self.run_time.map(|t| self.started + t);
        let mut cpu = super::cpu::CpuMeter::new();
        self.start_arrivals();
        let mut next_stage = self.follow_stages();
        let ending = loop {
            let next_change = self.next_user_change();
            tokio::select! {
                Some(batch) = self.batch_rx.recv() => self.ingest(batch),
                _ = ticker.tick() => {
                    if let Some(warning) = cpu.sample(std::time::Instant::now()) {
                        tracing::warn!("{warning}");
                        self.aggregator.add_warning(warning);
                    }
                    self.cpu = cpu.last_share();
                    self.send_second();
                    self.aggregator.tick(self.started.elapsed(), self.user_count());
                    self.publish(self.state());
                }
                _ = self.population.emptied() => if self.all_users_left() {
                    self.note_users_left();
                    break Ending::Graceful;
                },
                _ = sleep_until_opt(next_change), if next_change.is_some() => self.adjust_users(),
                _ = sleep_until_opt(next_stage), if next_stage.is_some() => {
                    next_stage = self.follow_stages();
                }
                _ = sleep_until_opt(deadline), if deadline.is_some() => break Ending::Graceful,
                command = commands.recv() => match command {
                    Some(Command::SetUsers { users, spawn_rate, reply }) => {
                        let result = self.edit(users, spawn_rate);
                        // The caller may have gone away; the change stands.
                        let _ = reply.send(result);
                    }
                    Some(Command::Stop) | None => break Ending::Graceful,
                    Some(Command::Abort) => break Ending::Abort,
                    Some(Command::ResetStats) => self.aggregator.reset(),
                    Some(Command::Warn(warning)) => self.aggregator.add_warning(warning),
                },
            }
        };
        let aborted = self.shutdown(ending, &mut commands, &mut ticker).await;
        self.send_second();
        self.aggregator.close_last_second(self.started.elapsed());
        let snapshot = self.publish(RunState::ended(aborted));
        RunOutcome {
            snapshot,
            histograms: self.aggregator.serialized_histograms(),
        }
    }

    /// Counts a user's batch, after copying it to the sample tap when there is one.
    fn ingest(&mut self, batch: Batch) {
        if let Some(tap) = &self.sample_tap {
            let class = self
                .sequence
                .class_of(batch.user as usize)
                .and_then(|c| self.class_names.get(c));
            let users = self.users.len() as u32;
            match class {
                Some(class) => tap.offer(&batch, class, users, self.started_unix_ms),
                None => tap.offer(&batch, &Arc::from("user"), users, self.started_unix_ms),
            }
        }
        match &mut self.part {
            Some(part) => part.builder.ingest(&batch),
            None => self.aggregator.ingest(batch),
        }
    }

    /// Before an agent's start instant: waits for it, taking commands (a stop before the start
    /// ends the run with nothing done). Some: the run ended before it started.
    async fn await_start(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<Command>,
    ) -> Option<Ending> {
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(self.started) => break,
                command = commands.recv() => match command {
                    Some(Command::SetUsers { users, spawn_rate, reply }) => {
                        let result = self.edit(users, spawn_rate);
                        let _ = reply.send(result);
                    }
                    Some(Command::Stop) | None => return Some(Ending::Graceful),
                    Some(Command::Abort) => return Some(Ending::Abort),
                    Some(Command::ResetStats) => self.aggregator.reset(),
                    Some(Command::Warn(warning)) => self.aggregator.add_warning(warning),
                },
            }
        }
        self.ramp.start = self.started;
        None
    }

    /// An agent's: hands the second just closed (or the last, partial one) to the coordinator.
    fn send_second(&mut self) {
        let elapsed = self.started.elapsed();
        let users = self.user_count();
        let warnings = self.aggregator.warnings();
        let Some(part) = &mut self.part else {
            return;
        };
        // The last, partial second joins the one it is nearest to.
        let t_s = elapsed.as_secs_f64().round() as u64;
        let second = AgentSecond {
            t_s,
            interval: part.builder.take(),
            users,
            cpu: self.cpu,
            rss_bytes: super::cpu::resident_bytes(),
            warnings: warnings.get(part.warned..).unwrap_or_default().to_vec(),
        };
        part.warned = warnings.len();
        // Err: the agent's connection is gone; its own watchdog ends the run.
        let _ = part.seconds.send(second);
    }

    /// A live edit of the users (refused for a shape, whose stages set them).
    fn edit(&mut self, users: u32, spawn_rate: Option<f64>) -> Result<(), EngineError> {
        match &self.mode {
            Mode::Users => {
                self.retarget(users, spawn_rate);
                Ok(())
            }
            Mode::Stages { name, .. } | Mode::Arrival { name, .. } => {
                Err(EngineError::shape_sets_users(name))
            }
        }
    }

    /// Starts the open model's driver, for an arrival shape.
    fn start_arrivals(&mut self) {
        let Mode::Arrival {
            schedule,
            busy,
            stop,
            ..
        } = &mut self.mode
        else {
            return;
        };
        let (Some((schedule, max_users)), Some(batch_tx)) = (schedule.take(), &self.batch_tx)
        else {
            return;
        };
        let model = OpenModel {
            schedule,
            max_users: self.share.part_of(u64::from(max_users)) as u32,
            share: self.share,
            classes: self.classes.clone(),
            feeds: self.feeds.clone(),
            sequence: self.sequence.clone(),
            shared_vars: self.shared_vars.clone(),
            http: self.http.clone(),
            batch_tx: batch_tx.clone(),
            started: self.started.into_std(),
            stop: stop.clone(),
            kill: self.kill.clone(),
            stop_timeout: self.stop_timeout,
            busy: busy.clone(),
            tracker: self.tracker.clone(),
        };
        self.tracker.spawn(arrival::drive(model));
    }

    /// Retargets the users to the closed-model stage in force; returns when the next is due.
    fn follow_stages(&mut self) -> Option<Instant> {
        let Mode::Stages { stages, .. } = &self.mode else {
            return None;
        };
        let (target, end) = shape::stage_at(stages, self.started.elapsed())?;
        self.retarget(
            target.users,
            Some(target.spawn_rate.unwrap_or(f64::INFINITY)),
        );
        Some(self.started + end)
    }

    fn state(&self) -> RunState {
        if self.users.len() as u32 == self.target_users
            || self.sequence.capacity() == Some(self.users.len())
        {
            RunState::Running
        } else {
            RunState::Spawning
        }
    }

    /// Users running now: in the middle of an iteration for the open model; otherwise the
    /// spawned ones, less those that stopped on their own (`once` data ran out).
    fn user_count(&self) -> u32 {
        match &self.mode {
            Mode::Arrival { busy, .. } => busy.load(Ordering::Relaxed),
            Mode::Users | Mode::Stages { .. } => self.owned.min(self.population.present()) as u32,
        }
    }

    /// Every user the run wants was started and each has stopped on its own (`once` data ran
    /// out): nothing is left to run, so the run ends as if stopped.
    fn all_users_left(&self) -> bool {
        self.population.present() == 0
            && self.owned > 0
            && self.users.len() == self.effective_target()
    }

    fn note_users_left(&mut self) {
        let exhausted = self.feeders.exhausted();
        let why = if exhausted.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = exhausted.iter().map(|n| format!("data.{n}")).collect();
            format!(": {} (order = \"once\") ran out of rows", names.join(", "))
        };
        self.aggregator
            .add_warning(format!("the run ended when every user had stopped{why}"));
    }

    fn publish(&mut self, state: RunState) -> Arc<Snapshot> {
        let snapshot = Arc::new(self.aggregator.snapshot(
            self.started.elapsed(),
            self.user_count(),
            state,
        ));
        self.snapshot_tx.send_replace(snapshot.clone());
        snapshot
    }

    fn effective_target(&self) -> usize {
        let target = self.target_users as usize;
        self.sequence
            .capacity()
            .map_or(target, |cap| target.min(cap))
    }

    fn retarget(&mut self, users: u32, spawn_rate: Option<f64>) {
        self.target_users = users;
        if let Some(rate) = spawn_rate {
            self.spawn_rate = rate;
        }
        self.ramp = Ramp {
            start: Instant::now(),
            from: self.users.len(),
        };
    }

    /// When the next user should be started or stopped, if the count is not at its target.
    fn next_user_change(&self) -> Option<Instant> {
        let target = self.effective_target();
        let current = self.users.len();
        if current == target {
            return None;
        }
        // The k-th change of this ramp (0-based) is due at start + k / rate: the first at once.
        let k = current.abs_diff(self.ramp.from) as f64;
        Some(self.ramp.start + Duration::from_secs_f64(k / self.spawn_rate))
    }

    /// Starts or stops every user whose time has come (several at once at high rates).
    fn adjust_users(&mut self) {
        let target = self.effective_target();
        let elapsed = self.ramp.start.elapsed().as_secs_f64();
        let due = elapsed * self.spawn_rate;
        // An infinite rate (a stage without spawn_rate) makes every change due at once.
        let due = if due.is_finite() {
            due.floor() as usize + 1
        } else {
            usize::MAX
        };
        if self.users.len() < target {
            let goal = self.ramp.from.saturating_add(due).min(target);
            while self.users.len() < goal {
                if !self.spawn_user() {
                    break;
                }
            }
        } else {
            let goal = self.ramp.from.saturating_sub(due).max(target);
            while self.users.len() > goal {
                if let Some(UserSlot { stop: Some(stop) }) = self.users.pop() {
                    stop.cancel();
                    self.owned -= 1;
                }
            }
        }
    }

    fn spawn_user(&mut self) -> bool {
        let Some(class) = self.sequence.class_of(self.users.len()) else {
            return false;
        };
        let Some(batch_tx) = &self.batch_tx else {
            return false;
        };
        // Each user's seed follows its place in the whole run, whichever agent runs it.
        self.next_seed = self
            .next_seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        if !self.share.owns(self.users.len() as u64) {
            self.users.push(UserSlot { stop: None });
            return true;
        }
        let stop = CancellationToken::new();
        let mut ctx = UserContext::new(
            Vars::new(self.shared_vars.clone()),
            self.http.clone(),
            Recorder::new(batch_tx.clone())
                .with_identity(self.users.len() as u32, self.started.into_std()),
            rand::rngs::SmallRng::seed_from_u64(self.next_seed),
        );
        ctx.feeds = self.feeds[class].clone();
        ctx.presence = Some(self.population.enter());
        let ctl = UserControl {
            stop: stop.clone(),
            kill: self.kill.clone(),
            stop_timeout: self.stop_timeout,
        };
        self.tracker
            .spawn(run_user(self.classes[class].clone(), ctx, ctl));
        self.users.push(UserSlot { stop: Some(stop) });
        self.owned += 1;
        true
    }

    /// Stops every user (gracefully unless aborting), keeps counting their last samples, and
    /// returns whether the run ended aborted.
    async fn shutdown(
        &mut self,
        ending: Ending,
        commands: &mut mpsc::UnboundedReceiver<Command>,
        ticker: &mut tokio::time::Interval,
    ) -> bool {
        let mut aborted = matches!(ending, Ending::Abort);
        if aborted {
            self.kill.cancel();
        }
        self.publish(RunState::Stopping);
        self.owned = 0;
        for stop in self.users.drain(..).filter_map(|user| user.stop) {
            stop.cancel();
        }
        if let Mode::Arrival { stop, .. } = &self.mode {
            stop.cancel();
        }
        self.batch_tx = None;
        self.tracker.close();
        let kill_at = Instant::now() + self.stop_timeout + ON_STOP_GRACE;
        let tracker = self.tracker.clone();
        let users_done = tracker.wait();
        tokio::pin!(users_done);
        loop {
            tokio::select! {
                Some(batch) = self.batch_rx.recv() => self.ingest(batch),
                _ = &mut users_done => break,
                _ = tokio::time::sleep_until(kill_at), if !self.kill.is_cancelled() => self.kill.cancel(),
                _ = ticker.tick() => {
                    self.aggregator.tick(self.started.elapsed(), 0);
                    self.publish(RunState::Stopping);
                }
                command = commands.recv(), if !aborted => match command {
                    Some(Command::Abort) => {
                        aborted = true;
                        self.kill.cancel();
                    }
                    Some(Command::SetUsers { reply, .. }) => {
                        let _ = reply.send(Err(EngineError::Ended));
                    }
                    Some(Command::Warn(warning)) => self.aggregator.add_warning(warning),
                    Some(Command::Stop) | Some(Command::ResetStats) | None => {}
                },
            }
        }
        // Every user is gone and with it every sender: drain what is left.
        while let Some(batch) = self.batch_rx.recv().await {
            self.ingest(batch);
        }
        aborted
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
