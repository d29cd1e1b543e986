//! WebSocket steps against a real server: `tests/fixtures/ws_echo.py` on Python's `websockets`
//! (an echo after a delay, one message at a time per connection, optionally dropping every Nth
//! message), which logs each connection and each message it reads with its arrival time.
//!
//! The server runs on the venv's Python, `$HORNET_VENV` (default `target/hornet-venv`, where
//! `.ci/run` installs `websockets`); without it the tests are skipped with the reason printed,
//! except in CI (`CI=true`), where that is a failure.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hornet::stats::snapshot::{Snapshot, StatsRow, WsDelivery};

use crate::helpers::{hornet_run, plan, plan_file, row, run_cfg, run_to_end};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ws_echo.py");

/// The venv's Python when it has `websockets`; None (skipped, with the reason) when missing,
/// except in CI.
fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("HORNET_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/hornet-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin").join("python");
    let usable = python.is_file()
        && Command::new(&python)
            .args(["-c", "import websockets"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if usable {
        return Some(python);
    }
    let reason = format!("{} with `websockets` is missing", python.display());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the real WebSocket server cannot run in CI: {reason}");
    }
    eprintln!(
        "skipping the real WebSocket server tests: {reason} (python3 -m venv target/hornet-venv \
         && target/hornet-venv/bin/pip install 'websockets>=13,<16')"
    );
    None
}

/// The echo server as a child process, killed when dropped.
struct EchoServer {
    child: Child,
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl EchoServer {
    /// Starts the server (replies `delay_ms` after each message; no reply to every
    /// `drop_every`th message when > 0); None when the tests are skipped.
    fn start(delay_ms: u32, drop_every: u32) -> Option<EchoServer> {
        let python = python()?;
        let mut child = Command::new(python)
            .arg(SCRIPT)
            .args([delay_ms.to_string(), drop_every.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the echo server starts");
        let mut out = BufReader::new(child.stdout.take().expect("its stdout"));
        let mut first = String::new();
        out.read_line(&mut first)
            .expect("the echo server prints its port");
        let port: u16 = first
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("a port, got {first:?}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        Some(EchoServer { child, port, lines })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Paths of the connections so far.
    fn connections(&self) -> Vec<String> {
        let lines = self.lines.lock().expect("lines");
        lines
            .iter()
            .filter_map(|l| l.strip_prefix("conn ").map(str::to_string))
            .collect()
    }

    /// (arrival time in seconds, dropped) of each message read so far, in order.
    fn messages(&self) -> Vec<(f64, bool)> {
        let lines = self.lines.lock().expect("lines");
        lines
            .iter()
            .filter_map(|l| {
                let mut parts = l.strip_prefix("msg ")?.split(' ');
                let _n = parts.next()?;
                let t: f64 = parts.next()?.parse().ok()?;
                Some((t, parts.next()? == "1"))
            })
            .collect()
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn run_plan(text: &str, host: String, secs: f64) -> Arc<Snapshot> {
    let cfg = run_cfg(host, 1, Duration::from_secs_f64(secs));
    run_to_end(&plan(text), cfg, Duration::from_secs(30)).await
}

fn no_failures(r: &StatsRow, snapshot: &Snapshot) {
    assert_eq!(
        r.num_failures, 0,
        "{} {}: {:?}",
        r.method, r.name, snapshot.failures
    );
}

fn delivery(r: &StatsRow) -> WsDelivery {
    r.ws.unwrap_or_else(|| panic!("{} {} has delivery counts", r.method, r.name))
}

const FIVE: &str = r#"send = ["m1", "m2", "m3", "m4", "m5"]"#;

#[tokio::test]
async fn sequential_round_trips_are_the_servers_delay_not_the_queue() {
    let Some(server) = EchoServer::start(5, 0) else {
        return;
    };
    let text = format!(
        "[[users]]\nname = \"Seq\"\ntasks = [ {{ ws = \"/echo\", name = \"/echo\", {FIVE} }} ]\n"
    );
    let snapshot = run_plan(&text, server.url(), 2.0).await;
    let rtt = row(&snapshot, "WS", "/echo");
    let connect = row(&snapshot, "WS", "/echo [connect]");
    no_failures(rtt, &snapshot);
    no_failures(connect, &snapshot);
    assert!(connect.num_requests > 10, "too little load");
    assert_eq!(rtt.num_requests, 5 * connect.num_requests);
    let p50 = rtt.percentiles.p50;
    eprintln!(
        "sequential: {} round trips, p50 {p50} ms, p95 {} ms, max {} ms",
        rtt.num_requests, rtt.percentiles.p95, rtt.max_ms
    );
    assert!((5.0..=9.0).contains(&p50), "p50 {p50} ms");
    let d = delivery(rtt);
    assert_eq!(
        (d.sent, d.received, d.lost),
        (rtt.num_requests, rtt.num_requests, 0)
    );
}

#[tokio::test]
async fn pipelined_mode_sends_everything_then_collects_every_reply() {
    let Some(server) = EchoServer::start(5, 0) else {
        return;
    };
    let text = format!(
        "[[users]]\nname = \"Pipe\"\ntasks = [ {{ ws = \"/echo\", name = \"/echo\", \
         mode = \"pipelined\", {FIVE} }} ]\n"
    );
    let snapshot = run_plan(&text, server.url(), 1.5).await;
    let rtt = row(&snapshot, "WS", "/echo");
    let connect = row(&snapshot, "WS", "/echo [connect]");
    no_failures(rtt, &snapshot);
    assert!(connect.num_requests > 5, "too little load");
    assert_eq!(rtt.num_requests, 5 * connect.num_requests);
    let d = delivery(rtt);
    assert_eq!(
        (d.sent, d.received, d.lost),
        (rtt.num_requests, rtt.num_requests, 0)
    );
    // the server answers one at a time: replies queue behind each other (~5, 10 ... 25 ms)
    let p50 = rtt.percentiles.p50;
    eprintln!(
        "pipelined: {} round trips, p50 {p50} ms, max {} ms",
        rtt.num_requests, rtt.max_ms
    );
    assert!(p50 >= 10.0, "p50 {p50} ms: no queueing?");
}

#[tokio::test]
async fn a_rate_stream_sends_on_a_paced_grid_and_loses_nothing() {
    let Some(server) = EchoServer::start(1, 0) else {
        return;
    };
    // one stream of 2 s, then the user waits until the run ends
    let text = r#"
[[users]]
name = "Stream"
wait = "constant(1m)"
tasks = [ { ws = "/echo", name = "/echo", rate = "50/s", for = "2s", send = ["a", "b", "c"] } ]
"#;
    let snapshot = run_plan(text, server.url(), 3.0).await;
    let rtt = row(&snapshot, "WS", "/echo");
    no_failures(rtt, &snapshot);
    let d = delivery(rtt);
    eprintln!("stream: {d:?}, p50 {} ms", rtt.percentiles.p50);
    assert!((95..=105).contains(&d.sent), "{d:?}");
    assert_eq!((d.received, d.lost), (d.sent, 0), "{d:?}");
    assert_eq!(server.connections(), ["/echo"], "one connection");
    let arrivals = server.messages();
    assert_eq!(arrivals.len() as u64, d.sent);
    // spaced, not bursts: ~20 ms apart, ~50 in each second
    let t0 = arrivals[0].0;
    let mut per_second = [0u32; 3];
    for (t, _) in &arrivals {
        per_second[((t - t0) as usize).min(2)] += 1;
    }
    let mut gaps: Vec<f64> = arrivals.windows(2).map(|w| w[1].0 - w[0].0).collect();
    gaps.sort_by(f64::total_cmp);
    let median_gap_ms = gaps[gaps.len() / 2] * 1000.0;
    let max_gap_ms = gaps[gaps.len() - 1] * 1000.0;
    eprintln!("stream arrivals per second {per_second:?}, gap median {median_gap_ms:.1} ms, max {max_gap_ms:.1} ms");
    assert!(
        (45..=55).contains(&per_second[0]) && (45..=55).contains(&per_second[1]),
        "{per_second:?}"
    );
    assert!((15.0..=25.0).contains(&median_gap_ms), "{median_gap_ms} ms");
    // a one-second burst would show as a gap near 1 s; shared machines stall for tens of ms
    assert!(max_gap_ms < 200.0, "a burst or a stall: {max_gap_ms} ms");
}

#[tokio::test]
async fn dropped_messages_are_lost_and_fail_a_loss_threshold() {
    let Some(server) = EchoServer::start(1, 10) else {
        return;
    };
    let text = r#"
name = "lossy"
thresholds = ["'/echo'.loss < 1%"]
[defaults]
timeout = "300ms"
[[users]]
name = "Stream"
wait = "constant(1m)"
tasks = [ { ws = "/echo", name = "/echo", rate = "50/s", for = "2s", send = ["a"] } ]
"#;
    let (_dir, path) = plan_file("lossy.toml", text);
    let out = hornet_run(&path, &server.url())
        .args([
            "-u",
            "1",
            "-r",
            "10",
            "-t",
            "3s",
            "--no-history",
            "--json",
            "-",
        ])
        .output()
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    let rows = summary["requests"].as_array().expect("rows");
    let echo = rows
        .iter()
        .find(|r| r["name"] == "/echo" && r["method"] == "WS")
        .expect("the /echo row");
    let ws = &echo["ws"];
    let (sent, received, lost) = (
        ws["sent"].as_u64().expect("sent"),
        ws["received"].as_u64().expect("received"),
        ws["lost"].as_u64().expect("lost"),
    );
    let arrivals = server.messages();
    let dropped = arrivals.iter().filter(|(_, d)| *d).count() as u64;
    eprintln!("lossy: sent {sent}, received {received}, lost {lost}; server read {} and dropped {dropped}", arrivals.len());
    assert_eq!(arrivals.len() as u64, sent);
    assert_eq!(dropped, sent / 10);
    assert_eq!((lost, received), (dropped, sent - dropped));
    assert_eq!(echo["num_failures"].as_u64(), Some(lost));
    assert!(
        stderr.contains("✗ '/echo'.loss < 1% (observed 10%)"),
        "stderr: {stderr}"
    );
}

#[tokio::test]
async fn an_absolute_ws_url_connects_to_its_own_port() {
    let Some(server) = EchoServer::start(0, 0) else {
        return;
    };
    let text = format!(
        r#"
host = "http://127.0.0.1:9"
[[users]]
name = "Elsewhere"
wait = "constant(1m)"
tasks = [ {{ ws = "ws://127.0.0.1:{}/abs?x=1", name = "/abs", send = ["hi"] }} ]
"#,
        server.port
    );
    // the run's host is the plan's, where nothing listens
    let snapshot = run_plan(&text, "http://127.0.0.1:9".into(), 0.5).await;
    let rtt = row(&snapshot, "WS", "/abs");
    no_failures(row(&snapshot, "WS", "/abs [connect]"), &snapshot);
    no_failures(rtt, &snapshot);
    assert_eq!(rtt.num_requests, 1);
    assert_eq!(server.connections(), ["/abs?x=1"]);
}
