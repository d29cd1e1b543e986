//! The one stop path, from outside: SIGTERM (docker stop, systemd, Kubernetes) does what Ctrl-C
//! does, a second signal aborts with exit 3, `kill -9` leaves whole lines in streamed files and
//! no end-of-run file at all, and requests cut off at the stop are counted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{
    get_json, hornet_run, plan_file, serve_process, served, spawn_target, start_run_at,
    wait_served, wait_until, whole_lines, AppDir, Hornet, Running,
};

const JTL_FIELDS: usize = 17;
const HISTORY_FIELDS: usize = 24;

const QUICK: &str = r#"
[[users]]
name = "Quick"
wait = "constant(5ms)"
tasks = [ { get = "/health" }, { get = "/status/500", name = "/status/[code]" } ]
"#;

const SLOW: &str = r#"
[[users]]
name = "Slow"
tasks = [ { get = "/delay/20000", name = "/delay/[ms]" } ]
"#;

/// Every requested output of `hornet run`, under `dir`.
struct Outputs {
    prefix: PathBuf,
    jtl: PathBuf,
    json: PathBuf,
    html: PathBuf,
    junit: PathBuf,
}

impl Outputs {
    fn new(dir: &Path) -> Outputs {
        Outputs {
            prefix: dir.join("out"),
            jtl: dir.join("results.jtl"),
            json: dir.join("summary.json"),
            html: dir.join("report.html"),
            junit: dir.join("junit.xml"),
        }
    }

    fn args(&self, cmd: Hornet) -> Hornet {
        cmd.arg("--csv")
            .arg(&self.prefix)
            .arg("--csv-full-history")
            .arg("--jtl")
            .arg(&self.jtl)
            .arg("--json")
            .arg(&self.json)
            .arg("--html")
            .arg(&self.html)
            .arg("--junit")
            .arg(&self.junit)
            .args(["--threshold", "error_rate < 100%"])
    }

    fn csv(&self, suffix: &str) -> PathBuf {
        PathBuf::from(format!("{}{suffix}", self.prefix.display()))
    }
}

fn spawn_run(plan: &Path, url: &str, users: &str, stop_timeout: &str, out: &Outputs) -> Running {
    let cmd = hornet_run(plan, url)
        .args(["-u", users, "-r", "100", "-t", "60s", "--no-history"])
        .args(["--stop-timeout", stop_timeout]);
    out.args(cmd).spawn()
}

/// Waits until the streamed JTL has `requests` lines below its header and the streamed history
/// has `seconds` lines below its header (one a second).
async fn wait_streamed(out: &Outputs, requests: usize, seconds: usize) {
    let history = out.csv("_stats_history.csv");
    wait_until(
        &format!("{requests} JTL lines and {seconds} history lines"),
        Duration::from_secs(20),
        async || {
            let lines = (whole_lines(&out.jtl), whole_lines(&history));
            if lines.0 > requests && lines.1 > seconds {
                Ok(())
            } else {
                Err(format!("{lines:?}"))
            }
        },
    )
    .await
}

/// Each line of a streamed CSV has `fields` fields; the file ends with a line end.
fn assert_whole_lines(path: &Path, fields: usize) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(text.ends_with('\n'), "{} ends mid-line", path.display());
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut lines = 0;
    for record in reader.records() {
        let record = record.expect("csv record");
        assert_eq!(record.len(), fields, "{}: {record:?}", path.display());
        lines += 1;
    }
    lines
}

fn no_part_files(dir: &Path) {
    let parts: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .map(|e| e.file_name())
        .collect();
    assert!(parts.is_empty(), "{parts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_a_run_stops_it_and_writes_every_output() {
    let target = spawn_target().await;
    let (dir, plan) = plan_file("quick.toml", QUICK);
    let out = Outputs::new(dir.path());
    let child = spawn_run(&plan, &target.url(), "3", "5s", &out);
    // what the checks below need: more than 20 requests and two seconds of history
    wait_streamed(&out, 21, 2).await;
    let started = Instant::now();
    child.signal("TERM");
    let output = child.wait(Duration::from_secs(30)).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SIGTERM: stopping"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(15));

    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&out.json).expect("json")).expect("json");
    assert_eq!(summary["state"], "stopped");
    let requests = summary["aggregated"]["num_requests"].as_u64().unwrap_or(0);
    assert!(requests > 20, "{summary}");
    // in-flight requests were awaited (stop timeout 5 s): every one counted, none cancelled
    assert_eq!(summary["cancelled"], 0);
    let served = served(&target).await;
    assert_eq!(served["total"].as_u64(), Some(requests), "{served}");
    // the JTL has exactly a line per request, all whole
    assert_eq!(
        assert_whole_lines(&out.jtl, JTL_FIELDS) as u64,
        requests + 1,
        "header + one line per request"
    );
    assert!(assert_whole_lines(&out.csv("_stats_history.csv"), HISTORY_FIELDS) > 2);
    let stats = std::fs::read_to_string(out.csv("_stats.csv")).expect("stats csv");
    assert!(stats.contains("Aggregated"), "{stats}");
    assert!(std::fs::read_to_string(out.csv("_failures.csv"))
        .expect("failures csv")
        .contains("/status/[code]"));
    let html = std::fs::read_to_string(&out.html).expect("html");
    assert!(html.contains("id=\"statistics\""));
    let junit = std::fs::read_to_string(&out.junit).expect("junit");
    assert!(junit.contains("error_rate &lt; 100%"), "{junit}");
    no_part_files(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_aborts_with_exit_3_counts_cut_requests_and_tears_nothing() {
    let target = spawn_target().await;
    let (dir, plan) = plan_file("slow.toml", SLOW);
    let out = Outputs::new(dir.path());
    // two users each waiting 20 s for a response; a 30 s stop timeout keeps the first stop busy
    let child = spawn_run(&plan, &target.url(), "2", "30s", &out);
    wait_served(&target, 2).await;
    child.signal("TERM");
    // Two signals close together may arrive as one: the second goes once the first is taken.
    child
        .wait_for_stderr("SIGTERM: stopping", Duration::from_secs(10))
        .await;
    child.signal("TERM");
    let output = child.wait(Duration::from_secs(20)).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("SIGTERM: aborting"), "{stderr}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&out.json).expect("json")).expect("json");
    assert_eq!(summary["state"], "aborted");
    assert_eq!(summary["aggregated"]["num_requests"], 0, "{summary}");
    // both requests were in flight: counted as cancelled, not lost
    assert_eq!(summary["cancelled"], 2, "{summary}");
    assert!(stderr.contains("2 requests in flight"), "{stderr}");
    let served = served(&target).await;
    assert_eq!(served["total"].as_u64(), Some(2), "{served}");
    assert_eq!(assert_whole_lines(&out.jtl, JTL_FIELDS), 1, "header only");
    assert!(out.html.exists() && out.junit.exists() && out.csv("_stats.csv").exists());
    no_part_files(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_leaves_whole_lines_and_no_end_of_run_files() {
    let target = spawn_target().await;
    let (dir, plan) = plan_file("quick.toml", QUICK);
    let out = Outputs::new(dir.path());
    let child = spawn_run(&plan, &target.url(), "20", "0s", &out);
    // killed while both files are being streamed
    wait_streamed(&out, 1, 1).await;
    child.signal("KILL");
    let killed = child.wait(Duration::from_secs(10)).await;
    assert_eq!(killed.status.code(), None, "killed by a signal");
    let lines = assert_whole_lines(&out.jtl, JTL_FIELDS);
    assert!(lines > 1, "the JTL was streamed: {lines} lines");
    assert!(assert_whole_lines(&out.csv("_stats_history.csv"), HISTORY_FIELDS) >= 2);
    for end_of_run in [
        out.json.clone(),
        out.html.clone(),
        out.junit.clone(),
        out.csv("_stats.csv"),
        out.csv("_failures.csv"),
    ] {
        assert!(!end_of_run.exists(), "{} exists", end_of_run.display());
    }
    no_part_files(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_cut_off_at_stop_are_counted_as_cancelled() {
    let target = spawn_target().await;
    let (_dir, plan) = plan_file(
        "delay.toml",
        "[[users]]\nname = \"D\"\ntasks = [ { get = \"/delay/300\", name = \"/delay\" } ]\n",
    );
    let output = hornet_run(&plan, &target.url())
        .args(["-u", "4", "-r", "100", "-t", "2s"])
        .args(["--no-history", "--stop-timeout", "0s", "--json", "-"])
        .spawn()
        .wait(Duration::from_secs(30))
        .await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).expect("json on stdout");
    let requests = summary["aggregated"]["num_requests"].as_u64().unwrap_or(0);
    let cancelled = summary["cancelled"].as_u64().unwrap_or(0);
    assert!(requests >= 8, "{summary}");
    // four users were each mid-request when the run time was up
    assert!((1..=4).contains(&cancelled), "{summary}");
    let served = served(&target).await;
    assert_eq!(
        served["total"].as_u64(),
        Some(requests + cancelled),
        "every request the target saw is a sample or a cancellation: {served}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_serve_stores_the_live_run_and_exits_0() {
    let dir = AppDir::new();
    let target = spawn_target().await;
    let (child, url) = serve_process(&dir.db(), &dir.plans()).await;
    let client = reqwest::Client::new();
    let body = json!({ "plan": "demo", "host": target.url(), "users": 3, "spawn_rate": 10 });
    let id = start_run_at(&client, &url, &body).await;
    // a page watching the run: it must get `done` before the server goes away
    let events = client
        .get(format!("{url}/api/runs/{id}/events"))
        .send()
        .await
        .expect("events stream");
    let watcher = tokio::spawn(async move {
        use futures_util::StreamExt;
        let mut text = String::new();
        let mut stream = events.bytes_stream();
        let read = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(Ok(chunk)) = stream.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk));
            }
        });
        read.await.expect("the stream ends within 30 s");
        text
    });
    // the run is live and has requests to store
    wait_until(
        "the live run has requests",
        Duration::from_secs(15),
        async || {
            let (_, stats) = get_json(&client, &format!("{url}/api/runs/{id}/stats")).await;
            match stats["aggregated"]["num_requests"].as_u64() {
                Some(1..) => Ok(()),
                _ => Err(stats),
            }
        },
    )
    .await;
    child.signal("TERM");
    let exited = child.wait(Duration::from_secs(30)).await;
    let (status, said) = (exited.status, String::from_utf8_lossy(&exited.stderr));
    let seen = watcher.await.expect("watcher");
    assert!(
        seen.contains("event: done"),
        "the page is told the run is done: {seen}"
    );
    assert_eq!(status.code(), Some(0), "{said}");
    assert!(said.contains("SIGTERM: stopping"), "{said}");
    let store = hornet::store::Store::open(&dir.db())
        .await
        .expect("db opens");
    let run = store.get_run(&id).await.expect("read").expect("the run");
    assert_eq!(
        run.state,
        hornet::stats::snapshot::RunState::Stopped,
        "{run:?}"
    );
    assert!(run.ended_at_ms.is_some());
    let summary = run.summary.expect("final summary stored");
    assert!(summary.requests > 0, "{summary:?}");
}
