//! Notification fan-out against the demo target's `/broadcast` (and JSON-RPC `broadcast`):
//! subscribers hold its SSE or WebSocket stream and `subscribe`, one publisher POSTs and
//! `publish`es the id its response names. Hornet's counts are compared with the target's own (`/__stats` broadcast): every
//! delivery the target made is one Hornet received, the expected count is subscribers ×
//! events, and with `drop_one_in` the delivery rate is the target's own ratio and a
//! `delivery > 99%` threshold fails the run with exit code 1.

use std::time::Duration;

use hornet::stats::snapshot::{FanoutFigures, Snapshot};
use serde_json::Value;

use crate::helpers::{
    hornet_run, plan, plan_file, row, run_cfg, run_to_end, served, served_count, spawn_target,
};

/// `subscribers` users on `stream` (an sse or ws step) and one publisher at 10/s that starts
/// after 1 s (every subscriber is connected by then).
fn plan_text(subscribers: u32, stream: &str) -> String {
    format!(
        r#"
name = "fanout"
[defaults]
headers = {{ Authorization = "Bearer demo-token" }}
[[users]]
name = "Publisher"
fixed_count = 1
wait = "throughput(10/s)"
on_start = [ {{ think = "1s" }} ]
tasks = [ {{ post = "/broadcast", name = "/broadcast", json = {{ text = "hi" }}, publish = {{ topic = "alerts", key = "json:$.id" }} }} ]
[[users]]
name = "Subscriber"
fixed_count = {subscribers}
tasks = [ {stream} ]
"#
    )
}

fn figures(snapshot: &Snapshot) -> FanoutFigures {
    row(snapshot, "FANOUT", "alerts")
        .fanout
        .unwrap_or_else(|| panic!("FANOUT alerts has figures: {:?}", snapshot.rows))
}

fn broadcast_stats(stats: &Value) -> (u64, u64, u64) {
    let b = &stats["broadcast"];
    let n = |k: &str| b[k].as_u64().unwrap_or_else(|| panic!("{k} in {b}"));
    (n("broadcasts"), n("deliveries"), n("skipped"))
}

/// Runs `text` with `users` users for `secs`; the snapshot and the target's counts.
async fn run(text: &str, users: u32, secs: f64) -> (std::sync::Arc<Snapshot>, Value) {
    let target = spawn_target().await;
    let cfg = run_cfg(target.url(), users, Duration::from_secs_f64(secs));
    let snapshot = run_to_end(&plan(text), cfg, Duration::from_secs(30)).await;
    (snapshot, served(&target).await)
}

fn check_exact(snapshot: &Snapshot, stats: &Value, subscribers: u64) {
    assert_eq!(snapshot.total.num_failures, 0, "{:?}", snapshot.failures);
    let f = figures(snapshot);
    let (broadcasts, deliveries, skipped) = broadcast_stats(stats);
    assert!(f.published >= 10, "{f:?}");
    assert_eq!(f.published, broadcasts, "{f:?} {stats}");
    assert_eq!(f.expected, subscribers * f.published, "{f:?}");
    assert_eq!((f.received, f.unmatched), (deliveries, 0), "{f:?} {stats}");
    assert_eq!(f.messages, deliveries, "{f:?}");
    assert_eq!(skipped, 0);
    assert_eq!(f.received, f.expected, "{f:?}");
    assert_eq!(f.delivery, 1.0);
    // every delivery has its send-to-receive latency
    let latency = row(snapshot, "FANOUT", "alerts [delivery]");
    assert_eq!(latency.num_requests, f.received);
    let p50 = latency.percentiles.p50;
    assert!(p50 > 0.0 && p50 < 200.0, "p50 {p50} ms");
}

#[tokio::test]
async fn sse_subscribers_receive_every_broadcast_and_hornet_counts_each() {
    let text = plan_text(
        20,
        r#"{ sse = "/broadcast/events", name = "/b", for = "1m", min_events = 0, subscribe = { topic = "alerts", key = "json:$.id" } }"#,
    );
    let (snapshot, stats) = run(&text, 21, 3.0).await;
    check_exact(&snapshot, &stats, 20);
}

#[tokio::test]
async fn ws_subscribers_that_only_listen_receive_every_broadcast() {
    let text = plan_text(
        10,
        r#"{ ws = "/broadcast/ws", name = "/bw", for = "1m", subscribe = { topic = "alerts", key = "json:$.id" } }"#,
    );
    let (snapshot, stats) = run(&text, 11, 2.5).await;
    check_exact(&snapshot, &stats, 10);
}

#[tokio::test]
async fn an_rpc_publisher_reads_its_key_from_the_json_rpc_result() {
    let text = plan_text(
        10,
        r#"{ sse = "/broadcast/events", name = "/b", for = "1m", min_events = 0, subscribe = { topic = "alerts", key = "json:$.id" } }"#,
    )
    .replace(
        r#"{ post = "/broadcast", name = "/broadcast", json = { text = "hi" }, publish = { topic = "alerts", key = "json:$.id" } }"#,
        r#"{ rpc = "broadcast", params = { text = "hi" }, publish = { topic = "alerts", key = "json:$.result.id" } }"#,
    );
    assert!(text.contains("rpc = \"broadcast\""), "{text}");
    let (snapshot, stats) = run(&text, 11, 2.5).await;
    assert_eq!(served_count(&stats, "POST /rpc"), broadcast_stats(&stats).0);
    check_exact(&snapshot, &stats, 10);
}

#[tokio::test]
async fn skipped_deliveries_lower_the_delivery_rate_and_fail_its_threshold() {
    let target = spawn_target().await;
    let text = plan_text(
        10,
        r#"{ sse = "/broadcast/events?drop_one_in=4", name = "/b", for = "1m", min_events = 0, subscribe = { topic = "alerts", key = "json:$.id" } }"#,
    );
    let (dir, plan) = plan_file("fanout.toml", &text);
    let json = dir.path().join("summary.json");
    let json_arg = json.display().to_string();
    let out = hornet_run(&plan, &target.url())
        .args([
            "-u",
            "11",
            "-r",
            "100",
            "-t",
            "2.5s",
            "--stop-timeout",
            "1s",
            "--no-history",
        ])
        .args([
            "--threshold",
            "'alerts'.delivery > 99%",
            "--json",
            &json_arg,
        ])
        .output()
        .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("Notification fan-out"), "{stdout}");
    assert!(
        stdout.contains("✗ 'alerts'.delivery > 99% (observed "),
        "{stdout}"
    );

    let (broadcasts, deliveries, skipped) = broadcast_stats(&served(&target).await);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written")).expect("JSON");
    let rows = summary["requests"].as_array().expect("rows");
    let topic = rows
        .iter()
        .find(|r| r["method"] == "FANOUT" && r["name"] == "alerts")
        .expect("the topic row");
    let f: FanoutFigures = serde_json::from_value(topic["fanout"].clone()).expect("figures");
    assert!(broadcasts >= 8, "{broadcasts}");
    // each subscriber skips every 4th broadcast it is offered
    assert_eq!(deliveries + skipped, 10 * broadcasts);
    assert_eq!(skipped, 10 * (broadcasts / 4));
    assert_eq!(
        (f.published, f.expected),
        (broadcasts, 10 * broadcasts),
        "{f:?}"
    );
    assert_eq!((f.received, f.unmatched), (deliveries, 0), "{f:?}");
    assert_eq!(f.messages, deliveries, "{f:?}");
    let ratio = deliveries as f64 / (10 * broadcasts) as f64;
    assert!((f.delivery - ratio).abs() < 1e-12, "{f:?} vs {ratio}");
    assert!(f.delivery < 0.99);
    let t = &summary["thresholds"][0];
    assert_eq!(t["passed"], false, "{summary}");
    assert!((t["observed"].as_f64().expect("observed") - ratio).abs() < 1e-9);
}
