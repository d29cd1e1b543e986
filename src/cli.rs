//! The command line: `hornet [serve] | run | check | target`. Exit codes live here: 0 done,
//! 2 bad input, 3 aborted (1 is kept for failed thresholds).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use tokio_util::sync::CancellationToken;

use crate::app::Application;
use crate::config::{public_base_url, Settings};
use crate::plan::{self, duration::parse_duration, Plan};
use crate::report;
use crate::runs::{Runs, StartRequest};
use crate::stats::snapshot::{RunState, Snapshot};
use crate::store::{ClassChoice, RunSettings, RunSource, Store};
use crate::target::{self, TargetConfig};

pub const EXIT_OK: i32 = 0;
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
    Serve(Settings),
    /// Run a plan headless and print Locust-style statistics.
    Run(RunArgs),
    /// Validate a plan; print its classes, tasks, shapes and thresholds.
    Check {
        /// The plan file (TOML).
        plan: PathBuf,
    },
    /// Serve the built-in demo target alone.
    Target(TargetArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The plan file (TOML).
    pub plan: PathBuf,
    /// Override the plan's host, e.g. http://127.0.0.1:8090.
    #[arg(short = 'H', long)]
    pub host: Option<String>,
    /// Peak number of concurrent users.
    #[arg(short = 'u', long, default_value_t = 1)]
    pub users: u32,
    /// Users started per second.
    #[arg(short = 'r', long = "spawn-rate", default_value_t = 1.0)]
    pub spawn_rate: f64,
    /// Stop after this long (e.g. 30s, 5m, 1h30m); without it, run until Ctrl-C.
    #[arg(short = 't', long = "run-time", value_parser = parse_duration)]
    pub run_time: Option<Duration>,
    /// Restrict to this user class, optionally re-weighted: NAME or NAME=WEIGHT (repeatable).
    #[arg(long = "class", value_name = "NAME[=WEIGHT]", value_parser = parse_class)]
    pub classes: Vec<(String, Option<u32>)>,
    /// Only run tasks with one of these tags (comma-separated, repeatable).
    #[arg(short = 'T', long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Follow this load shape of the plan instead of -u/-r; the run ends with it.
    #[arg(long, value_name = "NAME")]
    pub shape: Option<String>,
    /// Skip tasks with any of these tags (comma-separated, repeatable).
    #[arg(short = 'E', long = "exclude-tags", value_delimiter = ',')]
    pub exclude_tags: Vec<String>,
    /// How long stopping users may take to finish their current task.
    #[arg(long = "stop-timeout", value_parser = parse_duration, default_value = "0s")]
    pub stop_timeout: Duration,
    /// Write the final summary as JSON to FILE, or to stdout with `-`.
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<String>,
    /// SQLite file the run is recorded into.
    #[arg(long, env = "HORNET_DB", default_value = "hornet.db")]
    pub db: PathBuf,
    /// Do not record the run.
    #[arg(long = "no-history")]
    pub no_history: bool,
    /// The UI's address, for the run's link (as `hornet serve --bind`).
    #[arg(
        long = "ui",
        env = "HORNET_BIND",
        default_value = "127.0.0.1:8089",
        hide = true
    )]
    pub ui: String,
}

#[derive(Args, Debug)]
pub struct TargetArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090", env = "HORNET_TARGET_BIND")]
    pub bind: String,
    /// Bearer token the API routes require.
    #[arg(long, default_value = "demo-token")]
    pub token: String,
    /// Serve the API routes without a token.
    #[arg(long)]
    pub no_auth: bool,
}

fn parse_class(s: &str) -> Result<(String, Option<u32>), String> {
    match s.split_once('=') {
        None => Ok((s.to_string(), None)),
        Some((name, w)) => {
            let w: u32 = w
                .trim()
                .parse()
                .map_err(|_| format!("weight of {name} must be a whole number ≥ 1, got {w:?}"))?;
            if w == 0 {
                return Err(format!("weight of {name} must be at least 1"));
            }
            Ok((name.to_string(), Some(w)))
        }
    }
}

/// Runs the parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    let result = match cli.command {
        Some(Command::Run(args)) => run_plan(args).await,
        Some(Command::Check { plan }) => check_plan(&plan),
        Some(Command::Target(args)) => serve_target(args).await,
        Some(Command::Serve(settings)) => serve(settings).await,
        None => serve(cli.serve).await,
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        EXIT_BAD_INPUT
    })
}

fn load_plan(path: &Path) -> Result<Plan, i32> {
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

async fn run_plan(args: RunArgs) -> anyhow::Result<i32> {
    let plan = match load_plan(&args.plan) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let source = std::fs::read_to_string(&args.plan).unwrap_or_default();
    let mut classes = Vec::new();
    for (name, weight) in &args.classes {
        let Some(class) = plan.users.iter().find(|c| &c.name == name) else {
            let known: Vec<&str> = plan.users.iter().map(|c| c.name.as_str()).collect();
            eprintln!(
                "error: unknown user class {name:?}; the plan has {}",
                known.join(", ")
            );
            return Ok(EXIT_BAD_INPUT);
        };
        classes.push(ClassChoice {
            name: name.clone(),
            weight: weight.unwrap_or(class.weight),
        });
    }
    let settings = RunSettings {
        host: args
            .host
            .clone()
            .or_else(|| plan.host.clone())
            .unwrap_or_default(),
        users: args.users,
        spawn_rate: args.spawn_rate,
        run_time_s: args.run_time.map(|d| d.as_secs_f64()),
        classes,
        tags: args.tags,
        exclude_tags: args.exclude_tags,
        shape: args.shape.clone(),
        stop_timeout_s: args.stop_timeout.as_secs_f64(),
        thresholds: Vec::new(),
    };
    let store = if args.no_history {
        None
    } else {
        match Store::open(&args.db).await {
            Ok(store) => Some(store),
            Err(e) => {
                eprintln!("error: {e} (pass --no-history to run without recording)");
                return Ok(EXIT_BAD_INPUT);
            }
        }
    };
    let runs = Runs::new(store);
    let request = StartRequest {
        plan: Arc::new(plan),
        plan_file: Some(args.plan.display().to_string()),
        plan_source: source,
        settings,
        source: RunSource::Cli,
    };
    let link = (!args.no_history).then(|| public_base_url(&args.ui));
    execute(&runs, request, args.json.as_deref(), link).await
}

/// Starts the run, shows the live line, handles Ctrl-C, prints the table and writes outputs.
async fn execute(
    runs: &Runs,
    request: StartRequest,
    json: Option<&str>,
    base_url: Option<String>,
) -> anyhow::Result<i32> {
    let run_time = request.settings.run_time_s.map(Duration::from_secs_f64);
    // A shape ends the run: the live line counts down to whichever comes first.
    let shape_time = request.settings.shape.as_deref().and_then(|name| {
        let shape = request.plan.shapes.iter().find(|s| s.name == name)?;
        Some(crate::engine::shape::duration(&shape.kind))
    });
    let run_time = match (run_time, shape_time) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let live = match runs.start(request).await {
        Ok(live) => live,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let link = base_url.map(|base| format!("{base}/runs/{}", live.id));
    if let Some(link) = &link {
        eprintln!("run {} recorded at {link}", live.id);
    }
    let handle = live.handle.clone();
    let interrupted = Arc::new(AtomicBool::new(false));
    let ctrl_c = {
        let handle = handle.clone();
        let interrupted = interrupted.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            eprintln!("\nstopping: letting users finish (Ctrl-C again to abort)");
            handle.stop();
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("aborting");
                interrupted.store(true, Ordering::SeqCst);
                handle.abort();
            }
        })
    };
    let live_line = tokio::spawn(live_progress(handle.snapshots(), run_time));
    live.recorded().await;
    ctrl_c.abort();
    live_line.abort();
    // Wait for the live task to be gone so its last redraw cannot land after the table.
    let _ = live_line.await;
    let snapshot = live.snapshot();
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    for warning in &snapshot.warnings {
        eprintln!("warning: {warning}");
    }
    let table = report::table::stats_table(&snapshot);
    match json {
        Some("-") => {
            eprint!("{table}");
            println!(
                "{}",
                serde_json::to_string_pretty(&report::json::summary(&snapshot))?
            );
        }
        Some(path) => {
            print!("{table}");
            let text = serde_json::to_string_pretty(&report::json::summary(&snapshot))?;
            std::fs::write(path, text).with_context(|| format!("writing {path}"))?;
        }
        None => print!("{table}"),
    }
    std::io::stdout().flush()?;
    if let Some(link) = &link {
        eprintln!("report: {link}");
    }
    let aborted = interrupted.load(Ordering::SeqCst) || snapshot.state == RunState::Aborted;
    Ok(if aborted { EXIT_ABORTED } else { EXIT_OK })
}

/// One status line on stderr: redrawn in place on a terminal, a plain line every few seconds
/// otherwise (logs stay readable).
async fn live_progress(
    mut snapshots: tokio::sync::watch::Receiver<Arc<Snapshot>>,
    run_time: Option<Duration>,
) {
    let tty = std::io::stderr().is_terminal();
    let mut last_plain = 0.0f64;
    while snapshots.changed().await.is_ok() {
        let snapshot = snapshots.borrow_and_update().clone();
        let line = report::table::live_line(&snapshot, run_time);
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
        } else if snapshot.elapsed_s - last_plain >= 5.0 {
            last_plain = snapshot.elapsed_s;
            let _ = writeln!(err, "{line}");
        }
    }
}

async fn serve_target(args: TargetArgs) -> anyhow::Result<i32> {
    let cfg = TargetConfig {
        token: (!args.no_auth).then_some(args.token),
        ..TargetConfig::default()
    };
    let running = target::spawn(&args.bind, cfg)
        .await
        .with_context(|| format!("binding the demo target to {}", args.bind))?;
    eprintln!(
        "demo target listening on {} (Ctrl-C to stop)",
        running.url()
    );
    tokio::signal::ctrl_c().await?;
    running.stop().await;
    Ok(EXIT_OK)
}

/// `hornet [serve]`: the UI, the API and (unless told not to) the demo target, until Ctrl-C.
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
    eprintln!("Ctrl-C to stop");
    let stop = CancellationToken::new();
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nstopping: live runs are stopped and recorded first");
                stop.cancel();
            }
        });
    }
    app.run_until_stopped(stop).await?;
    Ok(EXIT_OK)
}
