//! The command line: `hornet [serve] | run | check | compare | target`. Exit codes live here:
//! 0 done and every threshold held, 1 a threshold failed (or a request, with
//! `--exit-code-on-error`; or a regression, for `compare`), 2 bad input, 3 aborted.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use tokio_util::sync::CancellationToken;

use crate::app::Application;
use crate::config::{public_base_url, Settings};
use crate::output::{self, RecordFile};
use crate::plan::{self, limits, Plan};
use crate::report;
use crate::runs::{Runs, StartRequest};
use crate::signals::{self, StopSignals};
use crate::stats::snapshot::{RunState, Snapshot};
use crate::store::{ClassChoice, RunSettings, RunSource, Store};
use crate::target::{self, TargetConfig};

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
    Serve(Settings),
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
}

const COMPARE_HELP: &str = "\
Examples:
  hornet compare 0190a1b2-... 0190a1c9-...
  hornet compare A B --max-regression p95=10%,error_rate=0.5pp
  hornet compare --baseline last-passing B --max-regression p95=10%

Rules (--max-regression, comma-separated METRIC=LIMIT): requests, rps, p50, p95 and p99 take a
percentage (p95=10%: the head's p95 may be at most 10% above the base's; rps=10%: its RPS at
most 10% below); error_rate takes percentage points (error_rate=0.5pp: at most 0.5 points
higher). Rules apply to every name both runs have and to the Aggregated row.

--baseline TAG picks the base run instead of naming it: the newest run before B (started
earlier) of B's plan for TAG=last-passing, or of the plan named TAG, that passed: it ended
stopped (not aborted).

Exit codes: 0 no rule broken, 1 a rule broken (the regressions are listed), 2 bad input
(unknown run id, bad rule, no database).";

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Run ids: BASE HEAD, or only HEAD with --baseline.
    #[arg(value_name = "RUN", num_args = 1..=2, required = true)]
    pub runs: Vec<String>,
    /// Pick the base run: `last-passing` (the newest passing run of the head's plan before it)
    /// or a plan name (the newest passing run of that plan before the head).
    #[arg(long, value_name = "last-passing|PLAN")]
    pub baseline: Option<String>,
    /// Exit 1 when the head is worse than this, e.g. p95=10%,error_rate=0.5pp.
    #[arg(long = "max-regression", value_name = "RULES")]
    pub max_regression: Option<String>,
    /// SQLite file the runs were recorded into.
    #[arg(long, env = "HORNET_DB", default_value = "hornet.db")]
    pub db: PathBuf,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The plan file (TOML).
    pub plan: PathBuf,
    /// Override the plan's host, e.g. http://127.0.0.1:8090.
    #[arg(short = 'H', long)]
    pub host: Option<String>,
    /// Peak number of concurrent users.
    #[arg(short = 'u', long, default_value_t = 1, value_parser = parse_users)]
    pub users: u32,
    /// Users started per second.
    #[arg(short = 'r', long = "spawn-rate", default_value_t = 1.0, value_parser = parse_spawn_rate)]
    pub spawn_rate: f64,
    /// Stop after this long (e.g. 30s, 5m, 1h30m); without it, run until Ctrl-C.
    #[arg(short = 't', long = "run-time", value_parser = limits::parse_run_duration)]
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
    #[arg(long = "stop-timeout", value_parser = limits::parse_run_duration, default_value = "0s")]
    pub stop_timeout: Duration,
    /// Write the final summary as JSON to FILE, or to stdout with `-`.
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<String>,
    /// Add a threshold (repeatable), e.g. "p95<300ms", "error_rate<1%", "'/x'.p99<1s"; exit 1
    /// when one fails.
    #[arg(long = "threshold", value_name = "EXPR", value_parser = parse_threshold_arg)]
    pub thresholds: Vec<String>,
    /// Exit 1 when any request failed, even if every threshold held.
    #[arg(long = "exit-code-on-error")]
    pub exit_code_on_error: bool,
    /// Write the threshold verdicts as JUnit XML (one test case per threshold).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write Locust's CSV files: PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv.
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// With --csv: also a history row per name each second (Locust's --csv-full-history).
    #[arg(long = "csv-full-history", requires = "csv")]
    pub csv_full_history: bool,
    /// Write one JMeter CSV (JTL) line per sample to FILE, streamed while the run goes.
    #[arg(long, value_name = "FILE")]
    pub jtl: Option<PathBuf>,
    /// Write a self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
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
            let w: i64 = w.trim().parse().map_err(|_| {
                format!(
                    "weight of {name} must be a whole number from 1 to {}, got {w:?}",
                    limits::MAX_WEIGHT
                )
            })?;
            let w = limits::check_weight(w).map_err(|e| format!("{name}: {e}"))?;
            Ok((name.to_string(), Some(w)))
        }
    }
}

/// `-u`, bounded like every user count (`plan::limits`).
fn parse_users(s: &str) -> Result<u32, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("users must be a whole number, got {s:?}"))?;
    limits::check_users(n)
}

/// `-r`, bounded like every spawn rate (`plan::limits`).
fn parse_spawn_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("spawn rate must be a number, got {s:?}"))?;
    limits::check_spawn_rate(r)
}

/// Validated like a plan's threshold; clap exits 2 with the message on a bad one.
fn parse_threshold_arg(s: &str) -> Result<String, String> {
    plan::parse_threshold(s).map(|_| s.trim().to_string())
}

/// Runs the parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    let result = match cli.command {
        Some(Command::Run(args)) => run_plan(*args).await,
        Some(Command::Check { plan }) => check_plan(&plan),
        Some(Command::Compare(args)) => compare_runs(args).await,
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
    // A threshold on a row the plan never records would pass on zero samples.
    for text in &args.thresholds {
        let scoped =
            plan::parse_threshold(text).and_then(|t| plan::check_threshold_scope(&plan, &t));
        if let Err(e) = scoped {
            eprintln!("error: --threshold {text:?}: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    }
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
        thresholds: args.thresholds,
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
    // A run left `running` by a process that died (killed, disk full) is marked aborted here
    // too, not only by the next `hornet serve`.
    match runs.abort_orphans().await {
        Ok(ids) if !ids.is_empty() => {
            eprintln!(
                "marked {} run(s) of a stopped process as aborted",
                ids.len()
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "orphan sweep failed"),
    }
    let request = StartRequest {
        plan: Arc::new(plan),
        plan_file: Some(args.plan.display().to_string()),
        plan_source: source,
        settings,
        source: RunSource::Cli,
    };
    let link = (!args.no_history).then(|| public_base_url(&args.ui));
    let gate = Gate {
        junit: args.junit,
        exit_code_on_error: args.exit_code_on_error,
    };
    let outputs = Outputs {
        json: args.json,
        csv: args.csv,
        csv_full_history: args.csv_full_history,
        jtl: args.jtl,
        html: args.html,
    };
    execute(&runs, request, outputs, link, &gate).await
}

/// How the end of a headless run decides its exit code, and the JUnit file it writes.
struct Gate {
    junit: Option<PathBuf>,
    exit_code_on_error: bool,
}

/// The files a headless run writes; all of them go through the one end-of-run path in
/// [`execute`] (time up, Ctrl-C or an aborted run alike).
#[derive(Debug, Default)]
pub struct Outputs {
    pub json: Option<String>,
    pub csv: Option<PathBuf>,
    pub csv_full_history: bool,
    pub jtl: Option<PathBuf>,
    pub html: Option<PathBuf>,
}

/// `PREFIX` + `suffix`, as Locust names its files (`out` -> `out_stats.csv`).
fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The history CSV while the run goes: whole rows only reach the disk (see [`output`]).
type HistoryFile = report::csv::HistoryWriter<RecordFile>;
/// What [`follow_csv`] hands back at the end: the history so far (or why it stopped) and the
/// failure clock.
type Followed = (std::io::Result<HistoryFile>, report::csv::FailureClock);

/// Follows the run's snapshots for the outputs that need the run as it goes: the history CSV
/// (a row per second, per name with full history) and when each failure was first/last seen.
async fn follow_csv(
    mut snapshots: tokio::sync::watch::Receiver<Arc<Snapshot>>,
    mut history: HistoryFile,
    started_unix_ms: i64,
) -> Followed {
    let mut clock = report::csv::FailureClock::default();
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        let unix_s = (started_unix_ms as f64 / 1000.0 + snapshot.elapsed_s) as i64;
        clock.observe(&snapshot, unix_s);
        if let Err(e) = history.observe(&snapshot).and_then(|_| history.flush()) {
            return (Err(e), clock);
        }
        if snapshot.state.is_final() || snapshots.changed().await.is_err() {
            return (Ok(history), clock);
        }
    }
}

/// Every file path the run will write at its end, for the check before it starts.
fn final_paths(outputs: &Outputs, gate: &Gate) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(prefix) = &outputs.csv {
        paths.push(with_suffix(prefix, "_stats.csv"));
        paths.push(with_suffix(prefix, "_failures.csv"));
    }
    if let Some(json) = outputs.json.as_deref().filter(|j| *j != "-") {
        paths.push(PathBuf::from(json));
    }
    paths.extend(outputs.html.iter().cloned());
    paths.extend(gate.junit.iter().cloned());
    paths
}

/// Creates a streamed output and writes its first record at once: the file never exists empty.
fn create_streamed(path: &Path) -> anyhow::Result<RecordFile> {
    RecordFile::create(path).with_context(|| format!("creating {}", path.display()))
}

/// Starts the run, shows the live line, handles SIGINT/SIGTERM, prints the table and writes
/// outputs.
async fn execute(
    runs: &Runs,
    request: StartRequest,
    outputs: Outputs,
    base_url: Option<String>,
    gate: &Gate,
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
    let suite = request.plan.name.clone();
    // Every path is checked before the run, so that a bad path is bad input, not a lost run;
    // files written at the end are not created until they have their content.
    for path in final_paths(&outputs, gate) {
        output::check_writable(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    // From here on SIGINT and SIGTERM stop the run through the one stop path instead of killing
    // the process (a signal during setup waits for the run to exist, then stops it).
    let signals = StopSignals::install().context("listening for SIGINT/SIGTERM")?;
    let jtl = match &outputs.jtl {
        Some(path) => {
            let out = create_streamed(path)?;
            let (tap, writer) = report::jtl::spawn_writer(out, request.plan.names.clone())
                .context("starting the JTL writer")?;
            Some((tap, writer))
        }
        None => None,
    };
    let history = match &outputs.csv {
        Some(prefix) => Some(create_streamed(&with_suffix(prefix, "_stats_history.csv"))?),
        None => None,
    };
    let (tap, jtl_writer) = match jtl {
        Some((tap, writer)) => (Some(tap), Some(writer)),
        None => (None, None),
    };
    let live = match runs.start_with_tap(request, tap).await {
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
    let (stopper, interrupted) = {
        let (stopping, aborting) = (handle.clone(), handle.clone());
        signals::stop_then_abort(
            signals,
            move |first| {
                eprintln!(
                    "\n{}: stopping, letting users finish (Ctrl-C or SIGTERM again to abort)",
                    first.name()
                );
                stopping.stop();
            },
            move |second| {
                eprintln!("{}: aborting; the outputs are still written", second.name());
                aborting.abort();
            },
        )
    };
    // Warnings said live are not said again under the table.
    let said = Arc::new(std::sync::Mutex::new(Vec::new()));
    let live_line = tokio::spawn(live_progress(handle.snapshots(), run_time, said.clone()));
    let csv_follower = match history {
        Some(out) => {
            let mut writer = report::csv::HistoryWriter::new(
                out,
                outputs.csv_full_history,
                live.record.started_at_ms,
            )?;
            writer.flush().context("writing the history CSV's header")?;
            Some(tokio::spawn(follow_csv(
                handle.snapshots(),
                writer,
                live.record.started_at_ms,
            )))
        }
        None => None,
    };
    live.recorded().await;
    stopper.abort();
    live_line.abort();
    // Wait for the live task to be gone so its last redraw cannot land after the table.
    let _ = live_line.await;
    let snapshot = live.snapshot();
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    let said = said.lock().map(|s| s.clone()).unwrap_or_default();
    for warning in snapshot.warnings.iter().filter(|w| !said.contains(w)) {
        eprintln!("warning: {warning}");
    }
    if let Some(problem) = live.history_problem() {
        eprintln!("warning: {problem}");
    }
    let verdicts = live.verdicts();
    let table = report::table::stats_table(&snapshot) + &report::table::verdicts(&verdicts);
    let summary = report::json::summary_with_verdicts(&snapshot, &verdicts);
    let json = serde_json::to_string_pretty(&summary)?;
    match outputs.json.as_deref() {
        Some("-") => {
            eprint!("{table}");
            println!("{json}");
        }
        _ => print!("{table}"),
    }
    std::io::stdout().flush()?;
    let mut files = FileResults::default();
    if let Some(path) = outputs.json.as_deref().filter(|j| *j != "-") {
        files.atomic(Path::new(path), json.as_bytes());
    }
    if let Some(path) = &gate.junit {
        let xml = report::junit::junit_xml(&suite, &verdicts, snapshot.elapsed_s);
        files.atomic(path, xml.as_bytes());
    }
    write_files(
        &outputs,
        &live,
        &snapshot,
        &verdicts,
        csv_follower,
        jtl_writer,
        &mut files,
    )
    .await;
    if let Some(link) = &link {
        eprintln!("report: {link}");
    }
    let aborted = interrupted.load(Ordering::SeqCst) || snapshot.state == RunState::Aborted;
    let failed = verdicts.iter().filter(|v| !v.passed).count();
    if let Some(v) = verdicts.iter().find(|v| v.stopped_run_at_s.is_some()) {
        eprintln!(
            "stopped early: threshold {:?} failed (abort_on_fail)",
            v.expression
        );
    }
    if files.failed > 0 {
        eprintln!(
            "error: {} of the requested output files could not be written (see above)",
            files.failed
        );
    }
    Ok(if aborted {
        EXIT_ABORTED
    } else if failed > 0 {
        eprintln!("{failed} of {} thresholds failed", verdicts.len());
        EXIT_FAILED
    } else if gate.exit_code_on_error && snapshot.total.num_failures > 0 {
        eprintln!(
            "{} requests failed (--exit-code-on-error)",
            snapshot.total.num_failures
        );
        EXIT_FAILED
    } else if files.failed > 0 {
        // the run held, but CI asked for files it will not find
        EXIT_FAILED
    } else {
        EXIT_OK
    })
}

/// Output files written at the end: each one is tried even when another failed (a full disk
/// may take one and not the next), and each failure is said once.
#[derive(Default)]
struct FileResults {
    failed: usize,
}

impl FileResults {
    fn atomic(&mut self, path: &Path, bytes: &[u8]) {
        let result = output::write_atomic(path, bytes);
        self.note(path, result);
    }

    fn note<T, E: std::fmt::Display>(&mut self, path: &Path, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("error: writing {}: {e}", path.display());
                self.failed += 1;
                None
            }
        }
    }
}

/// Renders into memory, for [`FileResults::atomic`].
fn rendered(render: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    render(&mut out).map(|_| out)
}

/// The end of the one stop path: every requested file, from the final snapshot.
async fn write_files(
    outputs: &Outputs,
    live: &crate::runs::LiveRun,
    snapshot: &Snapshot,
    verdicts: &[crate::stats::thresholds::Verdict],
    csv_follower: Option<tokio::task::JoinHandle<Followed>>,
    jtl_writer: Option<report::jtl::JtlWriter>,
    files: &mut FileResults,
) {
    if let Some(prefix) = &outputs.csv {
        let clock = match csv_follower {
            Some(task) => {
                let path = with_suffix(prefix, "_stats_history.csv");
                match task.await {
                    Ok((history, mut clock)) => {
                        let started = live.record.started_at_ms;
                        let unix_s = (started as f64 / 1000.0 + snapshot.elapsed_s) as i64;
                        clock.observe(snapshot, unix_s);
                        let finished = history.and_then(|mut history| {
                            history.observe(snapshot)?;
                            history.finish()?.flush()
                        });
                        files.note(&path, finished);
                        Some(clock)
                    }
                    Err(e) => {
                        files.note(&path, Err::<(), _>(e));
                        None
                    }
                }
            }
            None => None,
        };
        let path = with_suffix(prefix, "_stats.csv");
        match rendered(|out| report::csv::write_stats(out, snapshot)) {
            Ok(bytes) => files.atomic(&path, &bytes),
            Err(e) => {
                files.note(&path, Err::<(), _>(e));
            }
        }
        let path = with_suffix(prefix, "_failures.csv");
        match rendered(|out| report::csv::write_failures(out, snapshot, clock.as_ref())) {
            Ok(bytes) => files.atomic(&path, &bytes),
            Err(e) => {
                files.note(&path, Err::<(), _>(e));
            }
        }
    }
    if let Some(writer) = jtl_writer {
        let path = outputs.jtl.as_deref().unwrap_or(Path::new("-"));
        if let Some(done) = files.note(path, writer.finish().await) {
            if done.lost > 0 {
                eprintln!(
                    "warning: {} of {} JTL lines lost: the disk could not keep up ({})",
                    done.lost,
                    done.lost + done.lines,
                    path.display()
                );
            }
        }
    }
    if let Some(path) = &outputs.html {
        let mut record = live.record.as_ref().clone();
        record.state = snapshot.state;
        record.ended_at_ms = Some(crate::runs::now_ms());
        let html = report::html::render(
            &record,
            snapshot,
            Some(report::html::threshold_lines(verdicts)),
        );
        files.atomic(path, html.as_bytes());
    }
}

/// One status line on stderr: redrawn in place on a terminal, a plain line every few seconds
/// otherwise (logs stay readable).
async fn live_progress(
    mut snapshots: tokio::sync::watch::Receiver<Arc<Snapshot>>,
    run_time: Option<Duration>,
    said: Arc<std::sync::Mutex<Vec<String>>>,
) {
    let tty = std::io::stderr().is_terminal();
    let mut last_plain = 0.0f64;
    while snapshots.changed().await.is_ok() {
        let snapshot = snapshots.borrow_and_update().clone();
        let line = report::table::live_line(&snapshot, run_time);
        let mut err = std::io::stderr().lock();
        // A warning (generator saturated, history write failed) is said when it happens, not
        // only in the summary at the end.
        if let Ok(mut warned) = said.lock() {
            for warning in &snapshot.warnings {
                if !warned.contains(warning) {
                    let clear = if tty { "\r\x1b[2K" } else { "" };
                    let _ = writeln!(err, "{clear}warning: {warning}");
                    warned.push(warning.clone());
                }
            }
        }
        if tty {
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
        } else if snapshot.elapsed_s - last_plain >= 5.0 {
            last_plain = snapshot.elapsed_s;
            let _ = writeln!(err, "{line}");
        }
    }
}

/// `hornet compare`: loads both runs from the database, prints the comparison, exits 1 when a
/// `--max-regression` rule is broken.
async fn compare_runs(args: CompareArgs) -> anyhow::Result<i32> {
    use crate::report::compare;

    let rules = match compare::parse_rules(args.max_regression.as_deref().unwrap_or_default()) {
        Ok(rules) => rules,
        Err(e) => {
            eprintln!("error: --max-regression: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    match (&args.baseline, args.runs.len()) {
        (None, 2) | (Some(_), 1) => {}
        (None, _) => {
            eprintln!("error: give two run ids (BASE HEAD), or one with --baseline");
            return Ok(EXIT_BAD_INPUT);
        }
        (Some(_), _) => {
            eprintln!("error: with --baseline give only the head run id");
            return Ok(EXIT_BAD_INPUT);
        }
    }
    // Store::open would create an empty database: a typo in --db must be an error instead.
    if !args.db.exists() {
        eprintln!(
            "error: no history database at {} (give the file runs were recorded into with --db)",
            args.db.display()
        );
        return Ok(EXIT_BAD_INPUT);
    }
    let store = match Store::open(&args.db).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let head_id = &args.runs[args.runs.len() - 1];
    let Some(head) = store.get_run(head_id).await? else {
        eprintln!("error: no run {head_id:?} in {}", args.db.display());
        return Ok(EXIT_BAD_INPUT);
    };
    let base = match &args.baseline {
        None => {
            let id = &args.runs[0];
            match store.get_run(id).await? {
                Some(run) => run,
                None => {
                    eprintln!("error: no run {id:?} in {}", args.db.display());
                    return Ok(EXIT_BAD_INPUT);
                }
            }
        }
        Some(tag) => match baseline_run(&store, tag, &head).await? {
            Some(run) => run,
            None => {
                let plan = if tag == "last-passing" {
                    &head.plan_name
                } else {
                    tag
                };
                eprintln!(
                    "error: no passing run of plan {plan:?} before run {} in {}",
                    head.id,
                    args.db.display()
                );
                return Ok(EXIT_BAD_INPUT);
            }
        },
    };
    let mut data = Vec::with_capacity(2);
    for run in [&base, &head] {
        if !run.state.is_final() {
            eprintln!(
                "warning: run {} is {}; comparing the numbers saved so far",
                run.id,
                run.state.as_str()
            );
        }
        let stats = store.load_stats(&run.id).await?;
        let histograms = store.load_histograms(&run.id).await?;
        data.push(compare::RunData::decode(&run.id, &stats, &histograms)?);
    }
    let comparison = compare::compare(&data[0], &data[1], &rules);
    let label = |r: &crate::store::RunRecord| {
        format!(
            "{} ({}, {}, {})",
            r.id,
            r.plan_name,
            crate::format::fmt_utc(r.started_at_ms),
            r.state.as_str()
        )
    };
    print!(
        "{}",
        compare::render_text(&comparison, &label(&base), &label(&head))
    );
    std::io::stdout().flush()?;
    Ok(if comparison.regressions.is_empty() {
        EXIT_OK
    } else {
        EXIT_REGRESSION
    })
}

/// The base for `--baseline TAG`: the newest passing run, started before `head`, of head's plan
/// (`last-passing`) or of the plan named TAG.
async fn baseline_run(
    store: &Store,
    tag: &str,
    head: &crate::store::RunRecord,
) -> anyhow::Result<Option<crate::store::RunRecord>> {
    let plan = if tag == "last-passing" {
        head.plan_name.clone()
    } else {
        tag.to_string()
    };
    let candidates = store
        .list_runs(&crate::store::RunFilter {
            plan: Some(plan),
            state: Some(RunState::Stopped),
            limit: 500,
            before: Some(head.id.clone()),
        })
        .await?;
    // Passing = ended stopped (not aborted) with every threshold verdict held.
    Ok(candidates
        .into_iter()
        .find(|r| r.state == RunState::Stopped && r.verdicts.iter().all(|v| v.passed)))
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
    let running = target::spawn(&args.bind, cfg)
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
