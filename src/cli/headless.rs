//! `hornet run PLAN`: a run without the UI, for CI. It starts the run through the same
//! `Runs` as the server, shows a live line, stops on SIGINT/SIGTERM through the one stop path,
//! prints Locust's table and writes every requested file at the end (time up, Ctrl-C or an
//! aborted run alike). Exit codes: see `cli`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::args::RunArgs;
use super::{load_plan, EXIT_ABORTED, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK};
use crate::agent::hub::AgentHub;
use crate::agent::local::LocalAgents;
use crate::config::public_base_url;
use crate::output::{self, RecordFile};
use crate::report;
use crate::request::{self, PlanChoice, RequestError, RunRequest};
use crate::runs::{LiveRun, Runs};
use crate::signals::{self, StopSignals};
use crate::stats::snapshot::{RunState, Snapshot};
use crate::stats::tap::SampleTap;
use crate::stats::thresholds::Verdict;
use crate::store::{RunSource, Store};

pub(super) async fn run_plan(args: RunArgs) -> anyhow::Result<i32> {
    let plan = match load_plan(&args.plan) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let choice = PlanChoice {
        plan: Arc::new(plan),
        file: Some(args.plan.display().to_string()),
        source: std::fs::read_to_string(&args.plan).unwrap_or_default(),
    };
    let req = match request::resolve(choice, args.start_input(), RunSource::Cli) {
        Ok(req) => req,
        Err(e) => {
            eprintln!("error: {}", flag_message(&e));
            return Ok(EXIT_BAD_INPUT);
        }
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
    let token = args.fleet.token();
    let samples = store.as_ref().and_then(|_| args.samples.archive(&args.db));
    let runs = Runs::with_agents(
        store,
        AgentHub::new(token.clone()),
        args.fleet.agent_wait,
        samples,
    );
    let agents = if req.agents > 0 {
        match AgentsEdge::open(&args, &runs, req.agents, token).await {
            Ok(edge) => Some(edge),
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(EXIT_BAD_INPUT);
            }
        }
    } else {
        None
    };
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
    let link = (!args.no_history).then(|| public_base_url(&args.ui));
    let gate = Gate {
        junit: args.junit,
        exit_code_on_error: args.exit_code_on_error,
        fail_on_degraded: args.fail_on_degraded,
    };
    let outputs = Outputs {
        json: args.json,
        csv: args.csv,
        csv_full_history: args.csv_full_history,
        jtl: args.jtl,
        html: args.html,
    };
    let code = execute(&runs, req, outputs, link, &gate).await;
    if let Some(agents) = agents {
        agents.close(&runs).await;
    }
    code
}

/// `hornet run --agents N`: the socket agents dial, and the agents started here.
struct AgentsEdge {
    server: tokio::task::JoinHandle<()>,
    local: Option<LocalAgents>,
}

impl AgentsEdge {
    async fn open(
        args: &RunArgs,
        runs: &Runs,
        n: u32,
        token: Option<String>,
    ) -> anyhow::Result<AgentsEdge> {
        let local = args.fleet.local_agents.unwrap_or(0);
        if local > n {
            anyhow::bail!("--local-agents {local} is more than --agents {n}");
        }
        let given = args
            .fleet
            .agent_token
            .as_deref()
            .is_some_and(|t| !t.trim().is_empty());
        let token = match token {
            Some(token) if given || local == n => token,
            _ => anyhow::bail!(
                "--agents {n} with {} of them elsewhere needs --agent-token (or \
                 HORNET_AGENT_TOKEN): the remote agents must present it",
                n - local
            ),
        };
        let bind = args.agent_bind.clone().unwrap_or_else(|| {
            if local == n {
                "127.0.0.1:0"
            } else {
                "0.0.0.0:8089"
            }
            .to_string()
        });
        let listener = tokio::net::TcpListener::bind(&bind)
            .await
            .with_context(|| format!("agents' socket: cannot listen on {bind}"))?;
        let addr = listener.local_addr()?;
        if local < n {
            eprintln!(
                "waiting for {} agent(s) at ws://{addr}/api/agents (up to {} s)",
                n - local,
                args.fleet.agent_wait.as_secs()
            );
        }
        let router = crate::web::agents::agents_router(runs.agent_hub());
        let server = tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
            if let Err(e) = axum::serve(listener, service).await {
                tracing::warn!(error = %e, "agents' socket stopped");
            }
        });
        let local = if local > 0 {
            Some(LocalAgents::spawn(local, addr, &token).context("starting local agents")?)
        } else {
            None
        };
        Ok(AgentsEdge { server, local })
    }

    /// Closes the agents' connections (they exit) and waits a little for the local ones.
    async fn close(self, runs: &Runs) {
        // Their sockets send a close frame once the hub lets go of them; give that a moment.
        runs.agent_hub().close_all();
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.server.abort();
        let _ = self.server.await;
        if let Some(local) = self.local {
            local.finish(Duration::from_secs(5)).await;
        }
    }
}

/// A refused start as the command line says it: by its flag where the message needs one.
fn flag_message(e: &RequestError) -> String {
    match e.field {
        "thresholds" => format!("--threshold {}", e.message),
        _ => e.message.clone(),
    }
}

/// How the end of a headless run decides its exit code, and the JUnit file it writes.
struct Gate {
    junit: Option<PathBuf>,
    exit_code_on_error: bool,
    /// `--fail-on-degraded`: an agent lost during the run fails it.
    fail_on_degraded: bool,
}

/// The files a headless run writes; all of them go through the one end-of-run path in
/// [`execute`] (time up, Ctrl-C or an aborted run alike).
#[derive(Debug, Default)]
pub(super) struct Outputs {
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

/// The files written while the run goes: the JTL (through a sample tap) and the history CSV.
struct Streams {
    jtl: Option<(SampleTap, report::jtl::JtlWriter)>,
    history: Option<RecordFile>,
}

impl Streams {
    fn open(outputs: &Outputs, req: &RunRequest) -> anyhow::Result<Streams> {
        let jtl = match &outputs.jtl {
            Some(path) => {
                let out = create_streamed(path)?;
                let (tap, writer) = report::jtl::spawn_writer(out, req.plan.names.clone())
                    .context("starting the JTL writer")?;
                Some((tap, writer))
            }
            None => None,
        };
        let history = match &outputs.csv {
            Some(prefix) => Some(create_streamed(&with_suffix(prefix, "_stats_history.csv"))?),
            None => None,
        };
        Ok(Streams { jtl, history })
    }

    /// Starts following the run for the history CSV, if one was asked for.
    fn follow(
        history: Option<RecordFile>,
        outputs: &Outputs,
        live: &LiveRun,
    ) -> anyhow::Result<Option<tokio::task::JoinHandle<Followed>>> {
        let Some(out) = history else { return Ok(None) };
        let started = live.record.started_at_ms;
        let mut writer = report::csv::HistoryWriter::new(out, outputs.csv_full_history, started)?;
        writer.flush().context("writing the history CSV's header")?;
        let snapshots = live.handle.snapshots();
        Ok(Some(tokio::spawn(follow_csv(snapshots, writer, started))))
    }
}

/// From here on SIGINT and SIGTERM stop the run through the one stop path instead of killing
/// the process; a second signal aborts. Returns the listener and whether it aborted.
fn stop_on_signals(
    signals: StopSignals,
    live: &LiveRun,
) -> (tokio::task::JoinHandle<()>, Arc<AtomicBool>) {
    let (stopping, aborting) = (live.handle.clone(), live.handle.clone());
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
}

/// Starts the run, shows the live line, handles SIGINT/SIGTERM, prints the table and writes
/// outputs.
async fn execute(
    runs: &Runs,
    req: RunRequest,
    outputs: Outputs,
    base_url: Option<String>,
    gate: &Gate,
) -> anyhow::Result<i32> {
    // A shape ends the run: the live line counts down to whichever comes first.
    let run_time = req.ends_after();
    let suite = req.plan.name.clone();
    // Every path is checked before the run, so that a bad path is bad input, not a lost run;
    // files written at the end are not created until they have their content.
    for path in final_paths(&outputs, gate) {
        output::check_writable(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    // A signal during setup waits for the run to exist, then stops it.
    let signals = StopSignals::install().context("listening for SIGINT/SIGTERM")?;
    let Streams { jtl, history } = Streams::open(&outputs, &req)?;
    let (tap, jtl_writer) = jtl.map_or((None, None), |(t, w)| (Some(t), Some(w)));
    let live = match runs.start(req, tap).await {
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
    let (stopper, interrupted) = stop_on_signals(signals, &live);
    // Warnings said live are not said again under the table.
    let said = Arc::new(std::sync::Mutex::new(Vec::new()));
    let live_line = tokio::spawn(live_progress(
        live.handle.snapshots(),
        run_time,
        said.clone(),
    ));
    let csv_follower = Streams::follow(history, &outputs, &live)?;
    live.recorded().await;
    stopper.abort();
    live_line.abort();
    // Wait for the live task to be gone so its last redraw cannot land after the table.
    let _ = live_line.await;
    let snapshot = live.snapshot();
    let verdicts = live.verdicts();
    let said = said.lock().map(|s| s.clone()).unwrap_or_default();
    let json = print_end(&live, &snapshot, &verdicts, &said, &outputs)?;
    let mut files = FileResults::default();
    if let Some(path) = outputs.json.as_deref().filter(|j| *j != "-") {
        files.atomic(Path::new(path), json.as_bytes());
    }
    if let Some(path) = &gate.junit {
        let xml = report::junit::junit_xml(&suite, &verdicts, snapshot.elapsed_s);
        files.atomic(path, xml.as_bytes());
    }
    let finals = Finals {
        live: &live,
        snapshot: &snapshot,
        verdicts: &verdicts,
    };
    write_files(&outputs, &finals, csv_follower, jtl_writer, &mut files).await;
    if let Some(link) = &link {
        eprintln!("report: {link}");
    }
    let aborted = interrupted.load(Ordering::SeqCst) || snapshot.state == RunState::Aborted;
    Ok(exit_code(gate, &snapshot, &verdicts, aborted, &files))
}

/// The run's final numbers, for the files written at the end.
struct Finals<'a> {
    live: &'a LiveRun,
    snapshot: &'a Snapshot,
    verdicts: &'a [Verdict],
}

/// Prints the warnings not said live, Locust's table, the verdicts and (with `--json -`) the
/// JSON summary; returns the JSON summary.
fn print_end(
    live: &LiveRun,
    snapshot: &Snapshot,
    verdicts: &[Verdict],
    said: &[String],
    outputs: &Outputs,
) -> anyhow::Result<String> {
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    for warning in snapshot.warnings.iter().filter(|w| !said.contains(w)) {
        eprintln!("warning: {warning}");
    }
    if let Some(problem) = live.history_problem() {
        eprintln!("warning: {problem}");
    }
    let monitors = live.monitors().map(|feed| feed.data()).unwrap_or_default();
    let stages = live.stages();
    let mut table = report::table::stats_table(snapshot);
    if let Some(stages) = &stages {
        table.push_str(&report::stages::stages_table(stages));
    }
    table.push_str(&report::table::monitors(&monitors));
    table.push_str(&report::table::verdicts(verdicts));
    let mut summary = report::json::summary_with_verdicts(snapshot, verdicts);
    report::json::add_monitors(&mut summary, &monitors);
    if let Some(stages) = stages {
        summary["stages"] = serde_json::to_value(stages)?;
    }
    let json = serde_json::to_string_pretty(&summary)?;
    match outputs.json.as_deref() {
        Some("-") => {
            eprint!("{table}");
            println!("{json}");
        }
        _ => print!("{table}"),
    }
    std::io::stdout().flush()?;
    Ok(json)
}

/// 3 aborted, 1 a threshold failed (or a request, with `--exit-code-on-error`; or an output file
/// could not be written), else 0.
fn exit_code(
    gate: &Gate,
    snapshot: &Snapshot,
    verdicts: &[Verdict],
    aborted: bool,
    files: &FileResults,
) -> i32 {
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
    if aborted {
        EXIT_ABORTED
    } else if failed > 0 {
        eprintln!("{failed} of {} thresholds failed", verdicts.len());
        EXIT_FAILED
    } else if gate.fail_on_degraded && snapshot.lost_agents().next().is_some() {
        let lost: Vec<String> = snapshot
            .lost_agents()
            .map(|a| a.index.to_string())
            .collect();
        eprintln!(
            "the run was degraded: agent(s) {} lost (--fail-on-degraded)",
            lost.join(", ")
        );
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
    }
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
    finals: &Finals<'_>,
    csv_follower: Option<tokio::task::JoinHandle<Followed>>,
    jtl_writer: Option<report::jtl::JtlWriter>,
    files: &mut FileResults,
) {
    let Finals {
        live,
        snapshot,
        verdicts,
    } = *finals;
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
        record.ended_at_ms = Some(crate::engine::clock::now_ms());
        let monitors = live.monitors().map(|f| f.data()).unwrap_or_default();
        let mut html = report::html::Report::new(
            &record,
            snapshot,
            Some(report::html::threshold_lines(verdicts)),
        )
        .with_monitors(&monitors);
        html.stages = live.stages().as_ref().map(report::stages::StageView::new);
        files.atomic(path, html.to_html().as_bytes());
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
