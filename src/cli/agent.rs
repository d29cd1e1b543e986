//! `hornet agent`: the flags (and Kubernetes' `JOB_COMPLETION_INDEX`) into the agent's
//! settings; the agent itself is `crate::agent::worker`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::agent::worker::{self, AgentSettings, EXIT_REFUSED};
use crate::plan::limits;
use crate::share::Share;

#[derive(Args, Debug)]
pub struct AgentArgs {
    /// The coordinator: `ws://HOST:PORT/api/agents` (or `http://HOST:PORT`).
    #[arg(long, env = "HORNET_COORDINATOR")]
    pub coordinator: String,
    /// The coordinator's agent token (its --agent-token).
    #[arg(long, env = "HORNET_AGENT_TOKEN", hide_env_values = true)]
    pub token: String,
    /// This agent's index, from 0 (an Indexed Job's pods get it as JOB_COMPLETION_INDEX).
    #[arg(long, env = "JOB_COMPLETION_INDEX")]
    pub index: u32,
    /// How many agents the run has.
    #[arg(long, env = "HORNET_AGENTS", value_parser = crate::config::parse_agents)]
    pub count: u32,
    /// How long to keep trying to reach the coordinator at first.
    #[arg(long = "connect-wait", default_value = "60s", value_parser = limits::parse_run_duration)]
    pub connect_wait: Duration,
    /// Test aid: each sample's name id and latencies to FILE.INDEX.
    #[arg(long = "sample-log", env = "HORNET_SAMPLE_LOG", hide = true)]
    pub sample_log: Option<PathBuf>,
}

pub(super) async fn run(args: AgentArgs) -> anyhow::Result<i32> {
    let share = match Share::new(args.index, args.count) {
        Ok(share) => share,
        Err(e) => {
            eprintln!("error: --index/--count: {e}");
            return Ok(EXIT_REFUSED);
        }
    };
    if args.token.trim().is_empty() {
        eprintln!(
            "error: --token (or HORNET_AGENT_TOKEN) is empty: give the coordinator's agent token"
        );
        return Ok(EXIT_REFUSED);
    }
    let sample_log = args.sample_log.map(|p| {
        let mut name = p.into_os_string();
        name.push(format!(".{}", args.index));
        PathBuf::from(name)
    });
    let settings = AgentSettings {
        coordinator: args.coordinator,
        token: args.token.trim().to_string(),
        share,
        connect_wait: args.connect_wait,
        sample_log,
    };
    Ok(worker::run_agent(settings).await)
}
