//! Starting a run on agents: take the run's agents from the hub, run `setup` here once, send
//! every agent the plan (with its data files), the settings, setup's values and one start
//! instant about 2 s ahead, then let the engine's remote run (`engine::remote`) follow them.
//! Each agent's connection becomes the run's events (its seconds, its end, its loss) and gets
//! the run's orders (edit, stop, abort); when the run ends the agents still connected go back
//! to the hub for the next run.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::hub::{AgentConn, AgentHub};
use super::protocol::{AgentMessage, CoordinatorMessage, StartOrder};
use crate::engine::clock::now_ms;
use crate::engine::remote::{self, AgentEvent, AgentOrder, Fleet};
use crate::engine::run::{RunCompletion, RunHandle};
use crate::engine::EngineError;
use crate::plan::model::{DataRows, Plan};
use crate::request::RunRequest;

/// How far ahead of now the agents' common start is: time for the order to reach them all.
const START_AHEAD: Duration = Duration::from_secs(2);

/// Starts `req` (with `req.agents` > 0) on the hub's agents, waiting up to `wait` for them.
pub async fn start_on_agents(
    hub: &Arc<AgentHub>,
    req: &RunRequest,
    wait: Duration,
) -> Result<(RunHandle, RunCompletion), EngineError> {
    if !hub.accepts_agents() {
        return Err(EngineError::invalid(
            "agents",
            "this Hornet takes no agents: start it with --agent-token (or --local-agents N)",
        ));
    }
    let data_files = data_files(&req.plan)?;
    let agents = hub
        .gather(req.agents, wait)
        .await
        .map_err(|e| EngineError::invalid("agents", e))?;
    let setup = match remote::coordinator_setup(req).await {
        Ok(setup) => setup,
        Err(e) => {
            hub.release(agents);
            return Err(e);
        }
    };
    let start_at = Instant::now() + START_AHEAD;
    let order = StartOrder {
        plan_file: req
            .plan
            .path
            .as_ref()
            .and_then(|p| p.file_name())
            .map_or_else(
                || "plan.toml".to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
        plan_source: req.plan_source.clone(),
        data_files,
        settings: req.settings(),
        setup_vars: setup.vars.clone(),
        t0_unix_ms: now_ms() + START_AHEAD.as_millis() as i64,
    };
    for a in &agents {
        let _ = a
            .to_agent
            .send(CoordinatorMessage::Start(Box::new(order.clone())));
    }
    let (events_tx, events) = mpsc::unbounded_channel();
    let (orders, orders_rx) = mpsc::unbounded_channel();
    let hosts = agents.iter().map(|a| a.host.clone()).collect();
    let fleet = Fleet {
        hosts,
        start_at,
        events,
        orders,
    };
    let (handle, completion) = remote::launch_remote(req, setup, fleet);
    tokio::spawn(follow_agents(hub.clone(), agents, events_tx, orders_rx));
    Ok((handle, completion))
}

/// Relays each agent's messages as the run's events and the run's orders to every agent, until
/// the run is over (its event receiver gone) or every agent ended; then hands the agents back.
async fn follow_agents(
    hub: Arc<AgentHub>,
    mut agents: Vec<AgentConn>,
    events: mpsc::UnboundedSender<AgentEvent>,
    mut orders: mpsc::UnboundedReceiver<AgentOrder>,
) {
    let mut done = vec![false; agents.len()];
    let (merged_tx, mut merged) = mpsc::unbounded_channel();
    let mut readers = Vec::new();
    // Each reader takes its agent's receiver and gives it back when the share ends.
    for (i, a) in agents.iter_mut().enumerate() {
        let (_, placeholder) = mpsc::unbounded_channel();
        let mut from_agent = std::mem::replace(&mut a.from_agent, placeholder);
        let merged_tx = merged_tx.clone();
        readers.push(tokio::spawn(async move {
            while let Some(message) = from_agent.recv().await {
                let ended = matches!(message, AgentMessage::Ended { .. });
                if merged_tx.send((i, Some(message))).is_err() || ended {
                    return from_agent;
                }
            }
            let _ = merged_tx.send((i, None));
            from_agent
        }));
    }
    drop(merged_tx);
    loop {
        tokio::select! {
            _ = events.closed() => break,
            order = orders.recv() => {
                let Some(order) = order else { continue };
                let message = match order {
                    AgentOrder::Edit { users, spawn_rate } => CoordinatorMessage::Edit { users, spawn_rate },
                    AgentOrder::Stop => CoordinatorMessage::Stop,
                    AgentOrder::Abort => CoordinatorMessage::Abort,
                };
                for a in &agents {
                    let _ = a.to_agent.send(message.clone());
                }
            }
            next = merged.recv() => {
                let Some((i, message)) = next else { break };
                let agent = i as u32;
                let event = match message {
                    Some(AgentMessage::Second(second)) => AgentEvent::Second { agent, second },
                    Some(AgentMessage::Ended { aborted, reason }) => {
                        done[i] = true;
                        if !reason.is_empty() {
                            tracing::info!(agent, reason, "agent's share ended");
                        }
                        AgentEvent::Ended { agent, aborted }
                    }
                    Some(AgentMessage::Hello(_)) => continue,
                    None => {
                        done[i] = true;
                        AgentEvent::Lost { agent, why: "its connection closed".into() }
                    }
                };
                if events.send(event).is_err() {
                    break;
                }
            }
        }
    }
    // The run is over: an agent still in it (the run gave up on it) is told to stop at once.
    for (a, done) in agents.iter().zip(&done) {
        if !done {
            let _ = a.to_agent.send(CoordinatorMessage::Abort);
        }
    }
    for (a, reader) in agents.iter_mut().zip(readers) {
        reader.abort();
        if let Ok(from_agent) = reader.await {
            a.from_agent = from_agent;
        }
    }
    // Agents whose reader was cut off mid-share keep a closed receiver: they do not come back.
    hub.release(
        agents
            .into_iter()
            .zip(done)
            .filter(|(_, d)| *d)
            .map(|(a, _)| a)
            .collect(),
    );
}

/// The plan's CSV files as (path as the plan writes it, text), for the agents' copy of the
/// plan. Paths must stay inside the plan's folder (an agent rebuilds them under its own).
fn data_files(plan: &Plan) -> Result<Vec<(String, String)>, EngineError> {
    let mut files = Vec::new();
    for source in &plan.data {
        let DataRows::Csv {
            path, as_written, ..
        } = &source.rows
        else {
            continue;
        };
        if !is_inside(as_written) {
            return Err(EngineError::invalid(
                "agents",
                format!(
                    "data.{}: agents rebuild the plan's folder, so its CSV files must be inside \
                     it (a relative path without ..), found {as_written:?}",
                    source.name
                ),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            EngineError::invalid(
                "data",
                format!("data.{}: cannot read {}: {e}", source.name, path.display()),
            )
        })?;
        files.push((as_written.clone(), text));
    }
    Ok(files)
}

/// A relative path that stays inside its base folder.
pub fn is_inside(path: &str) -> bool {
    let p = std::path::Path::new(path);
    !path.is_empty()
        && p.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_paths_must_stay_inside_the_plans_folder() {
        assert!(is_inside("users.csv") && is_inside("data/users.csv") && is_inside("./a.csv"));
        assert!(!is_inside("../users.csv") && !is_inside("/etc/passwd") && !is_inside(""));
        assert!(!is_inside("data/../../x.csv"));
    }
}
