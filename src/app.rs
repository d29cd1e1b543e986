//! `Application::build(Settings)`: the one constructor of the server, used by `main` and by every
//! test (bind port 0 there). It opens the store, marks dead processes' runs as aborted, starts
//! the demo target, binds the listener and builds the router; `run_until_stopped` serves until
//! the token is cancelled, stopping live runs through the one stop path first so their final
//! numbers are stored, then ending event streams, then giving connections a short deadline.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::agent::hub::AgentHub;
use crate::agent::local::LocalAgents;
use crate::config::{is_loopback_bind, public_base_url, ServerLimits, Settings};
use crate::demo::{self, RunningTarget, TargetConfig};
use crate::runs::Runs;
use crate::store::{Store, StoreError};
use crate::web::{self, auth::Guard, plan_cache::PlanCache, state::AppState};

/// How often a server looks for runs whose owner died (also done once at start).
const ORPHAN_SWEEP: Duration = Duration::from_secs(5);
/// How long shutdown waits for live runs to stop and be recorded.
const STOP_GRACE: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(
        "refusing to listen on {bind} without a token: anyone who can reach it could start load \
         tests. Pass --token TOKEN (or HORNET_TOKEN), or --allow-anonymous if you mean it"
    )]
    UnsafeBind { bind: String },
    #[error(
        "the token is empty: --token (or HORNET_TOKEN) must be a secret of at least one \
         non-space character; leave both unset to serve without a token (loopback only)"
    )]
    EmptyToken,
    #[error("cannot listen on {bind}: {source}")]
    Bind {
        bind: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    router: axum::Router,
    state: AppState,
    demo: Option<RunningTarget>,
    limits: ServerLimits,
    /// `--local-agents N`: agent processes of this binary dialling this server.
    local_agents: Option<LocalAgents>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, AppError> {
        // An empty token would make "log in with nothing" the password; even on loopback an
        // explicitly given empty one is a mistake worth stopping for.
        if settings
            .token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(AppError::EmptyToken);
        }
        if settings.token.is_none()
            && !settings.allow_anonymous
            && !is_loopback_bind(&settings.bind)
        {
            return Err(AppError::UnsafeBind {
                bind: settings.bind.clone(),
            });
        }
        let store = Store::open(&settings.db).await?;
        let agent_token = settings.fleet.token();
        let runs = Runs::with_agents(
            Some(store.clone()),
            AgentHub::new(agent_token.clone()),
            settings.fleet.agent_wait,
            settings.samples.archive(&settings.db),
        );
        let aborted = runs.abort_orphans().await?;
        if !aborted.is_empty() {
            tracing::warn!(runs = ?aborted, "marked runs of a stopped process as aborted");
        }
        let listener =
            TcpListener::bind(&settings.bind)
                .await
                .map_err(|source| AppError::Bind {
                    bind: settings.bind.clone(),
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| AppError::Bind {
            bind: settings.bind.clone(),
            source,
        })?;
        let demo = if settings.no_demo_target {
            None
        } else {
            match demo::spawn(&settings.demo_target, TargetConfig::default()).await {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!(bind = %settings.demo_target, error = %e, "demo target not started");
                    eprintln!(
                        "warning: the demo target could not listen on {}: {e}",
                        settings.demo_target
                    );
                    None
                }
            }
        };
        let bind_host = settings
            .bind
            .rsplit_once(':')
            .map_or(settings.bind.as_str(), |(h, _)| h);
        let guard = Guard::new(
            bind_host,
            addr.port(),
            settings.token.as_deref(),
            &settings.limits,
        );
        let state = AppState {
            runs,
            store,
            plan_cache: PlanCache::new(settings.plans.clone()),
            shutdown: CancellationToken::new(),
            guard: Arc::new(guard),
            ready: Arc::new(AtomicBool::new(false)),
            demo_url: demo.as_ref().map(RunningTarget::url),
        };
        // Reading the plans once here fills the cache before /ready says so (a missing directory
        // still offers the built-in demo plan).
        state.plans().await;
        state.ready.store(true, Ordering::SeqCst);
        let router = web::router(state.clone(), &settings.limits);
        let local_agents = match (settings.fleet.local_agents, agent_token) {
            (Some(n), Some(token)) => Some(LocalAgents::spawn(n, addr, &token).map_err(
                |source| AppError::Bind {
                    bind: "local agents".into(),
                    source,
                },
            )?),
            _ => None,
        };
        Ok(Application {
            listener,
            addr,
            router,
            state,
            demo,
            limits: settings.limits,
            local_agents,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT` of the UI.
    pub fn url(&self) -> String {
        public_base_url(&self.addr.to_string())
    }

    /// `http://IP:PORT` of the demo target started beside the UI, if any.
    pub fn demo_target_url(&self) -> Option<String> {
        self.demo.as_ref().map(RunningTarget::url)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `stop` is cancelled; live runs are then stopped and recorded (up to
    /// STOP_GRACE), event streams end, and open connections get `shutdown_deadline` to finish.
    pub async fn run_until_stopped(self, stop: CancellationToken) -> std::io::Result<()> {
        let Application {
            listener,
            router,
            state,
            demo,
            limits,
            local_agents,
            ..
        } = self;
        let sweeper = tokio::spawn(sweep_orphans(state.runs.clone(), stop.clone()));
        let shutdown = state.shutdown.clone();
        let runs = state.runs.clone();
        let graceful = async move {
            stop.cancelled().await;
            let live = runs.live();
            for run in &live {
                run.handle.stop();
            }
            let all_recorded = futures_util::future::join_all(live.iter().map(|r| r.recorded()));
            if tokio::time::timeout(STOP_GRACE, all_recorded)
                .await
                .is_err()
            {
                for run in &live {
                    run.handle.abort();
                }
            }
            shutdown.cancel();
        };
        let hub = state.runs.agent_hub();
        web::server::serve(listener, router, &limits, graceful).await;
        hub.close_all();
        if let Some(agents) = local_agents {
            agents.finish(Duration::from_secs(5)).await;
        }
        sweeper.abort();
        if let Some(demo) = demo {
            demo.stop().await;
        }
        Ok(())
    }
}

async fn sweep_orphans(runs: Runs, stop: CancellationToken) {
    let mut every = tokio::time::interval(ORPHAN_SWEEP);
    every.tick().await;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.cancelled() => return,
        }
        match runs.abort_orphans().await {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(runs = ?ids, "marked runs of a stopped process as aborted");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "orphan sweep failed"),
        }
    }
}
