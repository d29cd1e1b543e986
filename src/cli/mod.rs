//! The command line: `hornet [serve] | run | check | compare | target | agent | k8s | import`. Exit codes live here:
//! 0 done and every threshold held, 1 a threshold failed (or a request, with
//! `--exit-code-on-error`; or a regression, for `compare`), 2 bad input, 3 aborted.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::app::Application;
use crate::config::Settings;
use crate::demo::{self, TargetConfig};
use crate::plan::{self, Plan};
use crate::signals::{self, StopSignals};

mod agent;
mod args;
mod compare;
mod headless;
mod import;
mod k8s;

use args::COMPARE_HELP;
pub use args::{CompareArgs, RunArgs, TargetArgs};
pub use import::{ImportArgs, KindArg, MAX_IMPORT_BYTES};
pub use k8s::{K8sArgs, K8sCommand, ManifestArgs};

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
/// `hornet compare`: a `--max-regression` rule was broken.
pub const EXIT_REGRESSION: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;
pub const EXIT_ABORTED: i32 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "hornet",
    version,
    about = "A load tester in one binary",
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `hornet` alone serves the UI with these settings.
    #[command(flatten)]
    pub serve: Settings,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the web UI and REST API (the default command).
    Serve(Box<Settings>),
    /// Run a plan headless and print Locust-style statistics.
    Run(Box<RunArgs>),
    /// Validate a plan; print its classes, tasks, shapes and thresholds.
    Check {
        /// The plan file (TOML).
        plan: PathBuf,
    },
    /// Compare two stored runs: per name and Aggregated, requests, RPS, p50/p95/p99 (from the
    /// stored HDR histograms) and error rate, with deltas.
    #[command(after_long_help = COMPARE_HELP)]
    Compare(CompareArgs),
    /// Serve the built-in demo target alone.
    Target(TargetArgs),
    /// Run a share of a coordinator's runs (`serve`/`run --agents N` elsewhere): dial it, run
    /// this agent's part of each run, send its statistics every second.
    Agent(agent::AgentArgs),
    /// Run on Kubernetes: `hornet k8s manifest` prints the objects of a distributed test.
    K8s(K8sArgs),
    /// Write a plan from a HAR recording, an OpenAPI document (file or URL) or a curl command;
    /// to stdout, or -o FILE.
    Import(ImportArgs),
}

/// Runs the parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    let result = match cli.command {
        Some(Command::Run(args)) => headless::run_plan(*args).await,
        Some(Command::Check { plan }) => check_plan(&plan),
        Some(Command::Compare(args)) => compare::compare_runs(args).await,
        Some(Command::Target(args)) => serve_target(args).await,
        Some(Command::Agent(args)) => agent::run(args).await,
        Some(Command::K8s(args)) => k8s::run(args),
        Some(Command::Import(args)) => import::run(args).await,
        Some(Command::Serve(settings)) => serve(*settings).await,
        None => serve(cli.serve).await,
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        EXIT_BAD_INPUT
    })
}

pub(super) fn load_plan(path: &Path) -> Result<Plan, i32> {
    plan::load(path).map_err(|errors| {
        eprintln!("{errors}");
        EXIT_BAD_INPUT
    })
}

fn check_plan(path: &Path) -> anyhow::Result<i32> {
    match load_plan(path) {
        Ok(plan) => {
            print!("{}", plan::describe::describe(&plan));
            Ok(EXIT_OK)
        }
        Err(code) => Ok(code),
    }
}

async fn serve_target(args: TargetArgs) -> anyhow::Result<i32> {
    if !args.no_auth && args.token.trim().is_empty() {
        eprintln!(
            "error: --token is empty: give the demo target a token, or --no-auth to serve its \
             API without one"
        );
        return Ok(EXIT_BAD_INPUT);
    }
    let cfg = TargetConfig {
        token: (!args.no_auth).then_some(args.token),
        ..TargetConfig::default()
    };
    let running = demo::spawn(&args.bind, cfg)
        .await
        .with_context(|| format!("binding the demo target to {}", args.bind))?;
    eprintln!(
        "demo target listening on {} (Ctrl-C to stop)",
        running.url()
    );
    StopSignals::install()?.next().await;
    running.stop().await;
    Ok(EXIT_OK)
}

/// `hornet [serve]`: the UI, the API and (unless told not to) the demo target, until Ctrl-C or
/// SIGTERM.
async fn serve(settings: Settings) -> anyhow::Result<i32> {
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    eprintln!("Hornet is running: open {}", app.url());
    if let Some(demo) = app.demo_target_url() {
        eprintln!("the demo target is on {demo} (plan demo.toml)");
    }
    eprintln!("Ctrl-C (or SIGTERM) to stop");
    let stop = CancellationToken::new();
    let signals = StopSignals::install().context("listening for SIGINT/SIGTERM")?;
    let runs = app.state().runs.clone();
    let stopping = stop.clone();
    let (_, aborted) = signals::stop_then_abort(
        signals,
        move |first| {
            eprintln!(
                "\n{}: stopping; live runs are stopped and recorded first (again to abort)",
                first.name()
            );
            stopping.cancel();
        },
        move |second| {
            eprintln!("{}: aborting live runs", second.name());
            for run in runs.live() {
                run.handle.abort();
            }
        },
    );
    app.run_until_stopped(stop).await?;
    Ok(if aborted.load(Ordering::SeqCst) {
        EXIT_ABORTED
    } else {
        EXIT_OK
    })
}
