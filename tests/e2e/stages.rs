//! Stage analysis of shaped runs against the demo target: a spike whose `/__stall` makes every
//! response wait for a known time after the step is reported as recovered within a second of
//! that time (API, run page, report.json, HTML report, `recovery` thresholds, one of which
//! stops the run with `abort_on_fail`); a stress shape
//! against `/capacity/50` (4 permits held 50 ms: 80 answers a second at most) finds its knee in
//! the stage whose users pass the capacity (CLI table and JSON).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::helpers::{hornet_run, plan_file, spawn_app_with_plan, spawn_target};

/// 2 users for 5 s, then 4 users for 20 s (cut short by `abort_on_fail`); each request takes
/// 500 ms, so that a loaded machine's jitter stays inside the recovery band (+20 %: 100 ms),
/// and a 50 ms wait after it, before which a user hands its samples over (they are counted in
/// the second they were answered in).
const SPIKE: &str = r#"
name = "spike"
host = "http://127.0.0.1:1"
thresholds = ["recovery < 30s", { expr = "recovery < 2s", abort_on_fail = true }]

[[users]]
name = "U"
wait = "constant(50ms)"
tasks = [ { get = "/delay/500", name = "probe" } ]

[shapes.spike]
stages = [ { duration = "5s", users = 2 }, { duration = "20s", users = 4 } ]
"#;

/// The step to stage 2, at 5 s.
const STEP_S: f64 = 5.0;
/// How long the target stalls, from a quarter of a second after the step.
const STALL_S: f64 = 3.0;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[tokio::test]
async fn a_spike_recovers_when_the_stall_is_over() {
    let app = spawn_app_with_plan("spike.toml", SPIKE).await;
    let id = app
        .start_run(&json!({ "plan": "spike", "host": app.target.url(), "shape": "spike" }))
        .await;
    let (_, run) = app.get_json(&format!("/api/runs/{id}")).await;
    let started_ms = run["started_at_ms"].as_i64().expect("started_at_ms");
    // stall a quarter of a second after the step: the held requests answer 500 ms after it
    // ends, mid-second
    let at = started_ms + ((STEP_S + 0.25) * 1000.0) as i64;
    tokio::time::sleep(Duration::from_millis((at - now_ms()).max(0) as u64)).await;
    let stalled = app
        .client
        .post(format!("{}/__stall?for={STALL_S}s", app.target.url()))
        .send()
        .await
        .expect("stall");
    assert!(stalled.status().is_success());
    let stalled: Value = stalled.json().await.expect("JSON");
    // when the stall ends, by the target's clock (a loaded machine may deliver the POST late)
    let stall_end_ms = stalled["until_unix_ms"].as_i64().expect("until_unix_ms");
    // live: the stages so far, stage 2 under way
    let (_, live) = app.get_json(&format!("/api/runs/{id}")).await;
    if live["live"] == true {
        assert_eq!(live["stages"]["complete"], false, "{}", live["stages"]);
        assert_eq!(live["stages"]["stages"][1]["state"], "running");
    }
    let run = app.wait_final(&id, Duration::from_secs(40)).await;
    assert_eq!(run["state"], "stopped", "{run}");

    let stages = &run["stages"];
    assert_eq!(stages["model"], "users", "{stages}");
    assert_eq!(stages["complete"], true);
    let rows = stages["stages"].as_array().expect("stages");
    assert_eq!(rows.len(), 2, "{stages}");
    assert_eq!(
        (rows[0]["target"].as_f64(), rows[1]["target"].as_f64()),
        (Some(2.0), Some(4.0))
    );
    assert_eq!(
        (rows[0]["from_s"].as_f64(), rows[1]["from_s"].as_f64()),
        (Some(0.0), Some(5.0))
    );
    // 500 ms a request: ~3.6/s with 2 users; the stalled requests (one a user, over 1 % of
    // stage 2's) are in its p99
    let p95 = rows[0]["p95_ms"].as_f64().unwrap();
    assert!((500.0..650.0).contains(&p95), "{stages}");
    assert!(rows[1]["p99_ms"].as_f64().unwrap() > 2000.0, "{stages}");
    let requests: u64 = rows.iter().map(|r| r["requests"].as_u64().unwrap()).sum();
    let total = run["summary"]["requests"].as_u64().unwrap();
    // every request is in a stage, the run's last, part second's included
    assert!(
        requests <= total && requests * 100 >= total * 95,
        "{requests} of {total}"
    );

    // the recovery: the requests the stall held answer 500 ms after it ends, the last slow
    // ones; the second they are counted in is out of the band, the next one is back (within a
    // second)
    let step = &stages["steps"][0];
    assert_eq!(
        (step["stage"].as_u64(), step["at_s"].as_f64()),
        (Some(2), Some(STEP_S))
    );
    assert_eq!(step["outcome"], "recovered", "{step}");
    let recovered = step["seconds"].as_f64().unwrap();
    let known = (stall_end_ms - started_ms) as f64 / 1000.0 + 0.5 - STEP_S;
    if (recovered - known).abs() > 1.0 {
        let history = app
            .client
            .get(app.api(&format!("/runs/{id}/history.csv")))
            .send()
            .await
            .expect("history")
            .text()
            .await
            .expect("csv");
        panic!(
            "recovered after {recovered} s, the slow answers ended {known} s after the step\n\
             {stages}\n{history}"
        );
    }
    let verdicts = run["thresholds"].as_array().expect("verdicts");
    assert_eq!(verdicts[0]["passed"], true, "{}", verdicts[0]);
    let observed_ms = verdicts[0]["observed"].as_f64().expect("observed");
    assert!(
        (observed_ms - recovered * 1000.0).abs() < 1e-6,
        "{observed_ms}"
    );
    assert_eq!(verdicts[1]["passed"], false, "{}", verdicts[1]);
    assert_eq!(
        verdicts[1]["row"],
        "the step to stage 2 (2 → 4 users) at 5s"
    );
    // ... and stopped the run once the step was back (3 s in a row), long before its 25 s
    let at = verdicts[1]["stopped_run_at_s"]
        .as_f64()
        .expect("it stopped the run");
    assert!(
        at >= STEP_S + recovered + 2.0 && at < 20.0,
        "stopped at {at} s"
    );
    assert_eq!(rows[1]["state"], "closed", "cut short: {stages}");

    // the same on every surface
    let page = app
        .client
        .get(app.api(&format!("/runs/{id}")))
        .send()
        .await
        .expect("page");
    let html = page.text().await.expect("html");
    let recovered_text = format!("recovered in {}", hornet::format::fmt_duration(recovered));
    for needle in [
        "id=\"stages-table\"",
        recovered_text.as_str(),
        "Breaking point: <strong>",
    ] {
        assert!(html.contains(needle), "run page: no {needle}");
    }
    let (_, report) = app.get_json(&format!("/runs/{id}/report.json")).await;
    assert_eq!(&report["stages"], stages);
    let report_html = app
        .client
        .get(app.api(&format!("/runs/{id}/report.html")))
        .send()
        .await
        .expect("report")
        .text()
        .await
        .expect("html");
    assert!(report_html.contains("id=\"stages-table\"") && report_html.contains(&recovered_text));
    app.stop().await;
}

/// 2, 4, then 8 users for 4 s each, without waits, on a route of 80 answers a second.
const STRESS: &str = r#"
name = "stress"
host = "http://127.0.0.1:1"

[[users]]
name = "U"
tasks = [ { get = "/capacity/50", name = "capped" } ]

[shapes.stress]
stages = [
  { duration = "4s", users = 2 },
  { duration = "4s", users = 4 },
  { duration = "4s", users = 8 },
]
"#;

#[tokio::test]
async fn a_stress_shape_finds_the_knee_where_users_pass_the_capacity() {
    let target = spawn_target().await;
    let (_dir, path) = plan_file("stress.toml", STRESS);
    let out = hornet_run(&path, &target.url())
        .args(["--shape", "stress", "--json", "-"])
        .output()
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let stages = &summary["stages"];
    let rps: Vec<f64> = stages["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s["steady"]["rps"].as_f64().unwrap_or(0.0))
        .collect();
    // 20/s a user up to the capacity: ~40, ~80, then still ~80
    assert!((30.0..=42.0).contains(&rps[0]), "{rps:?}");
    assert!((60.0..=82.0).contains(&rps[1]), "{rps:?}");
    assert!(rps[2] <= 82.0, "{rps:?}");
    let knee = &stages["breaking_point"];
    assert_eq!(knee["stage"], 3, "{stages}");
    assert_eq!(knee["target"], 8.0);
    assert_eq!(knee["reason"], "rps_flat");
    assert_eq!(knee["load_growth"], 1.0);
    assert!(knee["rps_growth"].as_f64().unwrap() < 0.25, "{knee}");
    // the terminal: the table with the knee marked, and the sentence
    assert!(stderr.contains("Stages\n"), "{stderr}");
    assert!(stderr.contains("\n3* 8s–12s "), "{stderr}");
    assert!(
        stderr.contains("  Breaking point: stage 3: 8 users, "),
        "{stderr}"
    );
    target.stop().await;
}
