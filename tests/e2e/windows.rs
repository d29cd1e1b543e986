//! Windowed thresholds end to end: a bad stretch hidden in a good run total (the demo target's
//! `POST /__fail?for=4s` answers 500 for four seconds of a twelve-second run) fails
//! `error_rate[3s] < 20%` in the stretch while `error_rate < 50%` holds on the total; the
//! stored per-second histograms merge back to the run's exact totals; `abort_on_fail` on a
//! windowed threshold stops a `hornet run` early with the threshold exit code.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{hornet_run, plan_file, spawn_app_with_plan, spawn_target};
use hornet::stats::seconds::RowSelector;

const STEADY: &str = r#"
name = "steady"
[[users]]
name = "Prober"
wait = "constant(100ms)"
tasks = [ { get = "/health" } ]
"#;

#[tokio::test]
async fn a_bad_stretch_fails_a_windowed_threshold_inside_a_good_total() {
    let app = spawn_app_with_plan("steady.toml", STEADY).await;
    let body = json!({
        "plan": "steady", "host": app.target.url(), "users": 3, "spawn_rate": 30,
        "run_time": "12s",
        "thresholds": ["error_rate < 50%", "error_rate[3s] < 20%", "p99[2s] < 10s"],
    });
    let id = app.start_run(&body).await;
    // Deliberate: the outage falls at a chosen moment of the run's timeline (4 s to 8 s).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let resp = app
        .client
        .post(format!("{}/__fail?for=4s", app.target.url()))
        .send()
        .await
        .expect("POST /__fail");
    assert_eq!(resp.status(), 200);
    // live: the window fails while the run goes (the run page and the API read the same)
    let live = app
        .wait_json(
            "the windowed threshold fails",
            &format!("/api/runs/{id}"),
            Duration::from_secs(30),
            |run| run["thresholds"][1]["passed"] == false || run["live"] == false,
        )
        .await;
    assert_eq!(live["live"], true, "judged while the run goes: {live}");
    assert_eq!(live["thresholds"][1]["window"]["window_s"], 3, "{live}");
    let run = app.wait_final(&id, Duration::from_secs(40)).await;
    let t = run["thresholds"].as_array().expect("thresholds").clone();
    assert_eq!(t[0]["passed"], true, "the run total holds: {run}");
    assert!(t[0].get("window").is_none(), "{run}");
    let total_rate = t[0]["observed"].as_f64().expect("rate");
    assert!(
        (0.15..0.5).contains(&total_rate),
        "about 4 s of 12 failed: {run}"
    );

    let w = &t[1];
    assert_eq!(w["passed"], false, "{run}");
    assert_eq!(
        w["observed"].as_f64(),
        Some(1.0),
        "a window wholly in the outage: {w}"
    );
    let window = &w["window"];
    assert_eq!(window["window_s"], 3);
    let worst = (
        window["worst"]["from_s"].as_u64().expect("from"),
        window["worst"]["to_s"].as_u64().expect("to"),
    );
    // the outage covers about seconds 4..8 of the run (a loaded machine starts late)
    assert!(
        (3..=7).contains(&worst.0) && worst.1 == worst.0 + 3,
        "worst {worst:?}"
    );
    let first = window["first_failed"]["from_s"]
        .as_u64()
        .expect("first failed");
    assert!(
        (1..=worst.0).contains(&first),
        "first {first}, worst {worst:?}"
    );
    let windows = window["windows"].as_u64().expect("windows");
    let failed = window["failed"].as_u64().expect("failed");
    assert!(
        (9..=14).contains(&windows) && (3..=8).contains(&failed),
        "{window}"
    );
    assert_eq!(t[2]["passed"], true, "{run}");

    // the run page says where it failed
    let page = app
        .client
        .get(app.api(&format!("/runs/{id}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let phrase = format!("worst 100% in {}", span(worst));
    assert!(page.contains(&phrase), "{phrase} not in the page");

    // stored: the verdict, and the per-second histograms merge to the run's exact totals
    let store = hornet::store::Store::open(&app.db).await.expect("store");
    let stored = store.get_run(&id).await.expect("get").expect("run");
    let kept = stored.verdicts[1].window.clone().expect("stored window");
    assert_eq!(kept.worst.map(|s| (s.from_s, s.to_s)), Some(worst));
    let all = store
        .merge_seconds(&id, 0..u64::MAX, RowSelector::Total)
        .await
        .expect("merge");
    let summary = &run["summary"];
    assert_eq!(Some(all.requests), summary["requests"].as_u64(), "{run}");
    assert_eq!(Some(all.failures), summary["failures"].as_u64(), "{run}");
    let rows = store
        .merge_seconds(&id, 0..u64::MAX, RowSelector::Name("/health"))
        .await
        .expect("merge");
    assert_eq!(rows.requests, all.requests);
    let seconds = store.load_seconds(&id, 0..u64::MAX).await.expect("load");
    assert!((12..=14).contains(&seconds.len()), "{}", seconds.len());
    let bad: u64 = seconds[worst.0 as usize..worst.1 as usize]
        .iter()
        .map(|s| s.total.failures)
        .sum();
    let requests: u64 = seconds[worst.0 as usize..worst.1 as usize]
        .iter()
        .map(|s| s.total.requests())
        .sum();
    assert_eq!(bad, requests, "the worst window failed every request");
    app.stop().await;
}

/// `01:10–01:40` as verdicts write spans.
fn span((from, to): (u64, u64)) -> String {
    format!(
        "{}–{}",
        hornet::format::fmt_clock(from as f64),
        hornet::format::fmt_clock(to as f64)
    )
}

#[tokio::test]
async fn abort_on_fail_on_a_window_stops_hornet_run_early() {
    let target = spawn_target().await;
    let text = r#"
name = "failing"
thresholds = [ { expr = "error_rate[2s] < 20%", abort_on_fail = true }, "error_rate < 100%" ]
[[users]]
name = "Breaker"
wait = "constant(50ms)"
tasks = [ { get = "/status/500" } ]
"#;
    let (dir, plan) = plan_file("failing.toml", text);
    let json_path = dir.path().join("summary.json");
    let out = hornet_run(&plan, &target.url())
        .args(["-u", "2", "-r", "20", "-t", "60s", "--no-history", "--json"])
        .arg(&json_path)
        .output()
        .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("stopped early: threshold \"error_rate[2s] < 20%\" failed"),
        "{stderr}"
    );
    assert!(
        stdout.contains("✗ error_rate[2s] < 20% (worst 100% in 00:00–00:02"),
        "{stdout}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json")).expect("JSON");
    let t = &summary["thresholds"][0];
    let at = t["stopped_run_at_s"].as_f64().expect("stopped the run");
    // the first full 2 s window fails: the run stops at about 2 s of its 60
    assert!((1.5..15.0).contains(&at), "{at}");
    assert!(
        summary["elapsed_s"].as_f64().unwrap_or(60.0) < 20.0,
        "{summary}"
    );
    assert_eq!(t["window"]["first_failed"]["from_s"], 0, "{t}");
}
