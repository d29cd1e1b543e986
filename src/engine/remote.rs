//! A run whose load runs on agents (`hornet agent` processes, each running its share of the
//! run: `crate::share`): the coordinator's side. No users here: the actor takes each agent's
//! closed seconds (`AgentSecond`, one HDR interval a second), adds the agents' same second into
//! one `Aggregator` (`Aggregator::absorb`, exact) and closes the second once every agent's
//! arrived (or 1.5 s after it ended), so the snapshots, thresholds, history and every output
//! work on the merged numbers as on a local run. It answers the same [`RunHandle`] and turns
//! its commands into orders for every agent. It does no I/O: the connections to the agents
//! (`crate::agent`) feed it [`AgentEvent`]s and carry its [`AgentOrder`]s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::run::{AgentSecond, Command, RunCompletion, RunHandle, RunOutcome, ON_STOP_GRACE};
use super::setup::run_setup;
use super::vars::prepare;
use super::EngineError;
use crate::request::RunRequest;
use crate::stats::aggregator::Aggregator;
use crate::stats::interval::Interval;
use crate::stats::sample::Batch;
use crate::stats::snapshot::{AgentState, AgentStatus, RunState, Snapshot};

/// A second is closed this long after it ended even if an agent's is missing.
const CLOSE_AFTER: Duration = Duration::from_millis(1500);
/// An agent that sent nothing for this long (after the start) is lost.
const SILENT_FOR: Duration = Duration::from_secs(10);
/// After their run time (and stop timeout), agents get this long to say they ended.
const END_GRACE: Duration = Duration::from_secs(5);

/// What the agents' connections tell the run.
#[derive(Debug)]
pub enum AgentEvent {
    Second {
        agent: u32,
        second: AgentSecond,
    },
    /// The agent's share ended (it sent its last second before this).
    Ended {
        agent: u32,
        aborted: bool,
    },
    /// The agent's connection broke.
    Lost {
        agent: u32,
        why: String,
    },
}

/// What the run asks of every agent.
#[derive(Clone, Debug, PartialEq)]
pub enum AgentOrder {
    /// A live edit of the whole run: each agent runs its part.
    Edit {
        users: u32,
        spawn_rate: Option<f64>,
    },
    Stop,
    Abort,
}

/// The agents of one run, connected and told to start at `start_at`.
pub struct Fleet {
    /// Each agent's address, by index.
    pub hosts: Vec<String>,
    pub start_at: Instant,
    pub events: mpsc::UnboundedReceiver<AgentEvent>,
    /// Orders to every agent (their connections copy them to each).
    pub orders: mpsc::UnboundedSender<AgentOrder>,
}

/// What the coordinator's `setup` left, for the agents and the run's statistics.
pub struct CoordinatorSetup {
    /// The run's shared values (plan vars and captures) when the plan has setup steps; empty
    /// otherwise (agents render the plan vars themselves).
    pub vars: Vec<(String, serde_json::Value)>,
    batches: Vec<Batch>,
}

/// Runs the plan's `setup` steps here, once, for a run on agents. A failing step refuses the
/// run (as [`super::launch`] does).
pub async fn coordinator_setup(req: &RunRequest) -> Result<CoordinatorSetup, EngineError> {
    let (plan, shared) =
        prepare(&req.plan).map_err(|e| EngineError::invalid("plan", e.to_string()))?;
    if plan.setup.is_empty() {
        return Ok(CoordinatorSetup {
            vars: Vec::new(),
            batches: Vec::new(),
        });
    }
    let feeders = super::feeder::Feeders::load(&plan.data)
        .map_err(|e| EngineError::invalid("data", e.to_string()))?;
    let outcome = run_setup(&plan, &req.origin, shared, &feeders).await?;
    let vars = outcome
        .shared
        .names()
        .filter_map(|name| Some((name.to_string(), outcome.shared.get(name)?)))
        .collect();
    Ok(CoordinatorSetup {
        vars,
        batches: outcome.batches,
    })
}

/// Follows `fleet` as the run `req`; must be called inside a tokio runtime.
pub fn launch_remote(
    req: &RunRequest,
    setup: CoordinatorSetup,
    fleet: Fleet,
) -> (RunHandle, RunCompletion) {
    let mut aggregator = Aggregator::new(req.plan.names.clone(), req.name_cap);
    for batch in setup.batches {
        aggregator.ingest(batch);
    }
    let agents: Vec<AgentView> = fleet
        .hosts
        .iter()
        .enumerate()
        .map(|(i, host)| AgentView::new(i as u32, host.clone()))
        .collect();
    let mut first = aggregator.snapshot(Duration::ZERO, 0, RunState::Spawning);
    first.agents = agents.iter().map(|a| a.status.clone()).collect();
    let first = Arc::new(first);
    let (snapshot_tx, snapshots) = watch::channel(first);
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = oneshot::channel();
    let shape = req.shape.as_ref().map(|s| s.name.clone());
    let seconds = aggregator.seconds();
    let started_unix_ms = super::clock::now_ms()
        + fleet
            .start_at
            .saturating_duration_since(Instant::now())
            .as_millis() as i64;
    let actor = RemoteRun {
        aggregator,
        agents,
        pending: BTreeMap::new(),
        closed: 0,
        started: fleet.start_at,
        target_users: if shape.is_some() { 0 } else { req.users },
        shape,
        ends_by: req
            .ends_after()
            .map(|t| fleet.start_at + t + req.stop_timeout + ON_STOP_GRACE + END_GRACE),
        stop_timeout: req.stop_timeout,
        orders: fleet.orders,
        snapshot_tx,
        aborted: false,
    };
    tokio::spawn(async move {
        let outcome = actor.run(command_rx, fleet.events).await;
        let _ = done_tx.send(outcome);
    });
    (
        RunHandle {
            commands,
            snapshots,
            seconds,
            started_unix_ms,
        },
        RunCompletion(done_rx),
    )
}

struct AgentView {
    status: AgentStatus,
    /// The last second it sent (0: none yet).
    last_second: u64,
    last_seen: Option<Instant>,
}

impl AgentView {
    fn new(index: u32, host: String) -> AgentView {
        AgentView {
            status: AgentStatus {
                index,
                host,
                state: AgentState::Connected,
                users: 0,
                peak_users: 0,
                requests: 0,
                rps: 0.0,
                cpu_percent: None,
                rss_bytes: None,
                lag_p99_ms: None,
                last_seen_s: 0.0,
                lost_at_s: None,
                lost_why: None,
            },
            last_second: 0,
            last_seen: None,
        }
    }

    /// Still expected to send seconds.
    fn is_live(&self) -> bool {
        matches!(self.status.state, AgentState::Connected | AgentState::Late)
    }
}

struct RemoteRun {
    aggregator: Aggregator,
    agents: Vec<AgentView>,
    /// Seconds received but not closed yet, by second.
    pending: BTreeMap<u64, Vec<Interval>>,
    /// The last second closed.
    closed: u64,
    started: Instant,
    /// Users asked for (0 for a shape, whose stages set them).
    target_users: u32,
    shape: Option<String>,
    /// When agents that have not said they ended are given up on.
    ends_by: Option<Instant>,
    stop_timeout: Duration,
    orders: mpsc::UnboundedSender<AgentOrder>,
    snapshot_tx: watch::Sender<Arc<Snapshot>>,
    aborted: bool,
}

impl RemoteRun {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut events: mpsc::UnboundedReceiver<AgentEvent>,
    ) -> RunOutcome {
        let mut stopping: Option<Instant> = None;
        loop {
            if self.agents.iter().all(|a| !a.is_live()) {
                break;
            }
            let close_at = self.started + Duration::from_secs(self.closed + 1) + CLOSE_AFTER;
            let give_up = match (stopping, self.ends_by) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.on_event(event),
                    None => {
                        self.lose_live("the coordinator's link to its agents closed");
                        break;
                    }
                },
                _ = tokio::time::sleep_until(close_at) => {
                    let next = self.closed + 1;
                    self.mark_late(next);
                    self.lose_silent();
                    self.close(next);
                }
                _ = sleep_until_opt(give_up), if give_up.is_some() => {
                    self.lose_live("it did not end with the run");
                    break;
                }
                command = commands.recv() => match command {
                    Some(Command::SetUsers { users, spawn_rate, reply }) => {
                        let _ = reply.send(self.edit(users, spawn_rate, stopping.is_some()));
                    }
                    Some(Command::Stop) | None => {
                        if stopping.is_none() {
                            let _ = self.orders.send(AgentOrder::Stop);
                            stopping = Some(
                                Instant::now() + self.stop_timeout + ON_STOP_GRACE + END_GRACE,
                            );
                            self.publish(RunState::Stopping);
                        }
                    }
                    Some(Command::Abort) => {
                        self.aborted = true;
                        let _ = self.orders.send(AgentOrder::Abort);
                        stopping = Some(Instant::now() + END_GRACE);
                        self.publish(RunState::Stopping);
                    }
                    Some(Command::ResetStats) => self.aggregator.reset(),
                    Some(Command::Warn(warning)) => self.aggregator.add_warning(warning),
                },
            }
        }
        // Every agent ended or was lost: close what arrived, in order.
        let last = self.pending.keys().next_back().copied().unwrap_or(0);
        while self.closed < last {
            self.close(self.closed + 1);
        }
        // Late parts absorbed after the last close: the second log's last, partial second.
        self.aggregator
            .close_last_second(self.started.elapsed().max(Duration::from_secs(self.closed)));
        if self
            .agents
            .iter()
            .all(|a| a.status.state == AgentState::Lost)
        {
            self.aborted = true;
        }
        let snapshot = self.publish(RunState::ended(self.aborted));
        RunOutcome {
            snapshot,
            histograms: self.aggregator.serialized_histograms(),
        }
    }

    fn on_event(&mut self, event: AgentEvent) {
        let elapsed = self.started.elapsed().as_secs_f64();
        match event {
            AgentEvent::Second { agent, second } => {
                let Some(view) = self.agents.get_mut(agent as usize) else {
                    return;
                };
                if !view.is_live() {
                    return;
                }
                view.last_seen = Some(Instant::now());
                view.status.last_seen_s = elapsed;
                view.status.state = AgentState::Connected;
                view.last_second = view.last_second.max(second.t_s);
                let requests: u64 = second.interval.rows.iter().map(|r| r.latencies.count).sum();
                view.status.requests += requests;
                view.status.rps = requests as f64;
                view.status.users = second.users;
                view.status.peak_users = view.status.peak_users.max(second.users);
                view.status.cpu_percent = second.cpu.map(|c| c * 100.0);
                view.status.rss_bytes = second.rss_bytes;
                view.status.lag_p99_ms = second
                    .interval
                    .lag
                    .as_ref()
                    .and_then(|l| l.histogram().ok())
                    .filter(|h| h.count() > 0)
                    .map(|h| h.percentiles(&[0.99])[0] as f64 / 1000.0);
                for w in second.warnings {
                    self.aggregator.add_warning(format!("agent {agent}: {w}"));
                }
                if second.t_s <= self.closed {
                    // Late: it counts in the open second (totals stay exact).
                    self.absorb(&second.interval);
                } else {
                    self.pending
                        .entry(second.t_s)
                        .or_default()
                        .push(second.interval);
                }
                self.close_ready();
            }
            AgentEvent::Ended { agent, aborted } => {
                if let Some(view) = self.agents.get_mut(agent as usize) {
                    if view.is_live() {
                        view.status.state = AgentState::Ended;
                        view.status.last_seen_s = elapsed;
                        view.status.users = 0;
                        // From now on: its share's average.
                        view.status.rps = if elapsed > 0.0 {
                            view.status.requests as f64 / elapsed
                        } else {
                            0.0
                        };
                    }
                }
                if aborted && !self.aborted {
                    self.aggregator
                        .add_warning(format!("agent {agent} aborted its share of the run"));
                }
                self.close_ready();
            }
            AgentEvent::Lost { agent, why } => {
                self.lose(agent, &why);
                self.close_ready();
            }
        }
    }

    fn lose(&mut self, agent: u32, why: &str) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let Some(view) = self.agents.get_mut(agent as usize) else {
            return;
        };
        if !view.is_live() {
            return;
        }
        view.status.state = AgentState::Lost;
        view.status.lost_at_s = Some(elapsed);
        view.status.lost_why = Some(why.to_string());
        view.status.users = 0;
        view.status.rps = 0.0;
        let host = view.status.host.clone();
        self.aggregator.add_warning(format!(
            "degraded: agent {agent} ({host}) was lost at {elapsed:.1} s ({why}); its share of \
             the load is missing from {elapsed:.1} s to the end"
        ));
        tracing::warn!(agent, %host, why, "agent lost");
    }

    fn lose_live(&mut self, why: &str) {
        let live: Vec<u32> = self
            .agents
            .iter()
            .filter(|a| a.is_live())
            .map(|a| a.status.index)
            .collect();
        for agent in live {
            self.lose(agent, why);
        }
    }

    /// Agents that sent nothing for [`SILENT_FOR`] since the start are lost.
    fn lose_silent(&mut self) {
        let now = Instant::now();
        let silent: Vec<u32> = self
            .agents
            .iter()
            .filter(|a| {
                let since = a.last_seen.unwrap_or(self.started).max(self.started);
                a.is_live() && now.saturating_duration_since(since) > SILENT_FOR
            })
            .map(|a| a.status.index)
            .collect();
        for agent in silent {
            self.lose(agent, "silent for 10 s");
        }
    }

    fn mark_late(&mut self, second: u64) {
        for a in &mut self.agents {
            if a.status.state == AgentState::Connected && a.last_second < second {
                a.status.state = AgentState::Late;
            }
        }
    }

    /// Closes every second that each live agent has sent.
    fn close_ready(&mut self) {
        let ready = self
            .agents
            .iter()
            .filter(|a| a.is_live())
            .map(|a| a.last_second)
            .min();
        // No live agent: everything received can be closed.
        let ready = ready.unwrap_or_else(|| self.pending.keys().next_back().copied().unwrap_or(0));
        while self.closed < ready {
            self.close(self.closed + 1);
        }
    }

    fn close(&mut self, second: u64) {
        if let Some(parts) = self.pending.remove(&second) {
            for part in &parts {
                self.absorb(part);
            }
        }
        self.closed = second;
        let users = self.users();
        self.aggregator.tick(Duration::from_secs(second), users);
        let state = self.state();
        self.publish(state);
    }

    fn absorb(&mut self, part: &Interval) {
        if let Err(e) = self.aggregator.absorb(part) {
            self.aggregator
                .add_warning(format!("an agent's second could not be read: {e}"));
        }
    }

    fn users(&self) -> u32 {
        self.agents.iter().map(|a| a.status.users).sum()
    }

    fn state(&self) -> RunState {
        if self.shape.is_some() || self.users() >= self.target_users {
            RunState::Running
        } else {
            RunState::Spawning
        }
    }

    fn edit(
        &mut self,
        users: u32,
        spawn_rate: Option<f64>,
        stopping: bool,
    ) -> Result<(), EngineError> {
        if stopping {
            return Err(EngineError::Ended);
        }
        if let Some(name) = &self.shape {
            return Err(EngineError::shape_sets_users(name));
        }
        self.target_users = users;
        self.orders
            .send(AgentOrder::Edit { users, spawn_rate })
            .map_err(|_| EngineError::Ended)
    }

    fn publish(&mut self, state: RunState) -> Arc<Snapshot> {
        // The merged numbers reach to the last closed second.
        let elapsed = Duration::from_secs(self.closed);
        let mut snapshot = self.aggregator.snapshot(elapsed, self.users(), state);
        snapshot.agents = self.agents.iter().map(|a| a.status.clone()).collect();
        let snapshot = Arc::new(snapshot);
        self.snapshot_tx.send_replace(snapshot.clone());
        snapshot
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
