//! The coordinator's agents: those connected and waiting for a run, and the one run (at most)
//! that has taken some. A connection (the WebSocket at `/api/agents`, `crate::web::agents`)
//! joins with its agent's hello and becomes two channels; a run on N agents takes agents
//! 0..N-1 of count N when all have joined (waiting up to a limit, then failing with the
//! missing indexes named), and hands them back when it ends.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, Notify};

use super::protocol::{check_build, AgentMessage, CoordinatorMessage, Hello};

/// One connected agent: its hello, where it connected from, and its connection as channels.
pub struct AgentConn {
    id: u64,
    pub hello: Hello,
    pub host: String,
    pub to_agent: mpsc::UnboundedSender<CoordinatorMessage>,
    pub from_agent: mpsc::UnboundedReceiver<AgentMessage>,
}

impl AgentConn {
    pub fn index(&self) -> u32 {
        self.hello.index
    }
}

/// What a joining connection keeps: the ends its socket pump drives.
pub struct Joined {
    pub id: u64,
    /// Messages from the agent go in here.
    pub from_agent: mpsc::UnboundedSender<AgentMessage>,
    /// Messages for the agent come out here.
    pub to_agent: mpsc::UnboundedReceiver<CoordinatorMessage>,
}

pub struct AgentHub {
    /// The token agents present; None: no agent may join (the coordinator was not given one).
    token: Option<String>,
    state: Mutex<HubState>,
    joined: Notify,
}

#[derive(Default)]
struct HubState {
    next_id: u64,
    /// Agents waiting for a run, by (count, index).
    idle: BTreeMap<(u32, u32), AgentConn>,
    /// The agent count of the run that has agents now, if one has.
    running: Option<u32>,
}

impl AgentHub {
    pub fn new(token: Option<String>) -> AgentHub {
        AgentHub {
            token: token.filter(|t| !t.is_empty()),
            state: Mutex::new(HubState::default()),
            joined: Notify::new(),
        }
    }

    /// Whether agents can join at all.
    pub fn accepts_agents(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `given` is the agents' token (constant-time; false when there is none).
    pub fn token_matches(&self, given: &str) -> bool {
        self.token
            .as_deref()
            .is_some_and(|t| bool::from(t.as_bytes().ct_eq(given.as_bytes())))
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // Every change is one insert or remove: a panic cannot leave it half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes an agent in, or says why not (another build; a run on agents is going on; its
    /// index is taken).
    pub fn join(&self, hello: Hello, host: String) -> Result<Joined, String> {
        check_build(&hello)?;
        let mut state = self.lock();
        if let Some(count) = state.running {
            return Err(format!(
                "a run on {count} agents is going on: agent {} cannot join it (an agent cannot \
                 re-join a running run); start it again after the run",
                hello.index
            ));
        }
        if let Some(other) = state.idle.get(&(hello.count, hello.index)) {
            if !other.to_agent.is_closed() {
                return Err(format!(
                    "agent index {} is already connected (from {}): give each agent its own index",
                    hello.index, other.host
                ));
            }
        }
        state.next_id += 1;
        let id = state.next_id;
        let (from_tx, from_rx) = mpsc::unbounded_channel();
        let (to_tx, to_rx) = mpsc::unbounded_channel();
        tracing::info!(index = hello.index, count = hello.count, %host, "agent joined");
        state.idle.insert(
            (hello.count, hello.index),
            AgentConn {
                id,
                hello,
                host,
                to_agent: to_tx,
                from_agent: from_rx,
            },
        );
        drop(state);
        self.joined.notify_waiters();
        Ok(Joined {
            id,
            from_agent: from_tx,
            to_agent: to_rx,
        })
    }

    /// A connection closed: if its agent was waiting, it waits no more.
    pub fn leave(&self, id: u64) {
        let mut state = self.lock();
        state.idle.retain(|_, a| a.id != id);
    }

    /// Indexes of the agents waiting now (for the UI and error messages).
    pub fn idle(&self) -> Vec<(u32, u32, String)> {
        self.lock()
            .idle
            .values()
            .map(|a| (a.hello.index, a.hello.count, a.host.clone()))
            .collect()
    }

    /// The largest N for which agents 0..N (each one of N) are all waiting: a run on N agents
    /// would start at once. 0 when there is none.
    pub fn ready_count(&self) -> u32 {
        let state = self.lock();
        let mut counts: Vec<u32> = state.idle.keys().map(|(count, _)| *count).collect();
        counts.dedup();
        counts
            .into_iter()
            .rev()
            .find(|&n| (0..n).all(|i| state.idle.contains_key(&(n, i))))
            .unwrap_or(0)
    }

    /// Takes agents 0..n (each started as one of `n`) for a run, waiting up to `wait` for them
    /// all; Err names the missing ones.
    pub async fn gather(&self, n: u32, wait: Duration) -> Result<Vec<AgentConn>, String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.joined.notified();
            {
                let mut state = self.lock();
                if let Some(count) = state.running {
                    return Err(format!("a run on {count} agents is going on"));
                }
                state.idle.retain(|_, a| !a.to_agent.is_closed());
                if (0..n).all(|i| state.idle.contains_key(&(n, i))) {
                    state.running = Some(n);
                    let agents = (0..n).filter_map(|i| state.idle.remove(&(n, i))).collect();
                    return Ok(agents);
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(self.missing(n, wait));
            }
        }
    }

    fn missing(&self, n: u32, wait: Duration) -> String {
        let state = self.lock();
        let fit = |i: &u32| state.idle.contains_key(&(n, *i));
        let present: Vec<String> = (0..n).filter(fit).map(|i| i.to_string()).collect();
        let missing: Vec<String> = (0..n).filter(|i| !fit(i)).map(|i| i.to_string()).collect();
        let mut message = format!(
            "waited {} s for {n} agents: missing index(es) {}; connected: {}",
            wait.as_secs(),
            missing.join(", "),
            if present.is_empty() {
                "none".to_string()
            } else {
                present.join(", ")
            }
        );
        let others: Vec<String> = state
            .idle
            .values()
            .filter(|a| a.hello.count != n)
            .map(|a| format!("{} (one of {})", a.hello.index, a.hello.count))
            .collect();
        if !others.is_empty() {
            message.push_str(&format!(
                "; agents started for another count: {}",
                others.join(", ")
            ));
        }
        message
    }

    /// Lets every waiting agent go: their connections close cleanly (the coordinator is
    /// going away) and they exit.
    pub fn close_all(&self) {
        let idle = std::mem::take(&mut self.lock().idle);
        drop(idle);
    }

    /// The run's agents come back (those still connected wait for the next run).
    pub fn release(&self, agents: Vec<AgentConn>) {
        let mut state = self.lock();
        state.running = None;
        for a in agents {
            if !a.to_agent.is_closed() {
                state.idle.insert((a.hello.count, a.hello.index), a);
            }
        }
        drop(state);
        self.joined.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(index: u32, count: u32) -> Hello {
        Hello::new(index, count, 0)
    }

    #[tokio::test]
    async fn a_run_takes_its_agents_and_names_the_missing_ones() {
        let hub = AgentHub::new(Some("t".into()));
        assert!(hub.token_matches("t") && !hub.token_matches("x") && !hub.token_matches(""));
        let _a0 = hub.join(hello(0, 3), "h0".into()).unwrap();
        let _a2 = hub.join(hello(2, 3), "h2".into()).unwrap();
        let _b = hub.join(hello(1, 4), "h1".into()).unwrap();
        let e = hub
            .gather(3, Duration::from_millis(50))
            .await
            .err()
            .unwrap();
        assert_eq!(
            e,
            "waited 0 s for 3 agents: missing index(es) 1; connected: 0, 2; agents started for \
             another count: 1 (one of 4)"
        );
        let dup = hub.join(hello(2, 3), "h9".into()).err().unwrap();
        assert!(
            dup.contains("agent index 2 is already connected (from h2)"),
            "{dup}"
        );
        let _a1 = hub.join(hello(1, 3), "h1b".into()).unwrap();
        let agents = hub.gather(3, Duration::from_millis(50)).await.unwrap();
        let hosts: Vec<&str> = agents.iter().map(|a| a.host.as_str()).collect();
        assert_eq!(hosts, ["h0", "h1b", "h2"]);
        let rejoin = hub.join(hello(0, 3), "h0".into()).err().unwrap();
        assert!(rejoin.contains("cannot re-join a running run"), "{rejoin}");
        hub.release(agents);
        assert_eq!(hub.idle().len(), 4, "the run's three and the one of 4");
    }

    #[tokio::test]
    async fn a_run_waits_for_late_agents() {
        let hub = std::sync::Arc::new(AgentHub::new(Some("t".into())));
        let waiting = {
            let hub = hub.clone();
            tokio::spawn(
                async move { hub.gather(2, Duration::from_secs(5)).await.map(|a| a.len()) },
            )
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let _a = hub.join(hello(1, 2), "b".into()).unwrap();
        let _b = hub.join(hello(0, 2), "a".into()).unwrap();
        assert_eq!(waiting.await.unwrap(), Ok(2));
    }

    #[test]
    fn another_build_is_refused() {
        let hub = AgentHub::new(None);
        assert!(!hub.accepts_agents() && !hub.token_matches(""));
        let old = Hello {
            version: "0.0.1".into(),
            ..hello(0, 1)
        };
        assert!(hub
            .join(old, "h".into())
            .err()
            .unwrap()
            .contains("runs Hornet 0.0.1"));
    }
}
