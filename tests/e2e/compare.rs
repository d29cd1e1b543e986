//! Comparing runs (`hornet compare`, `/runs/compare`), `/metrics`, and the Locust-compatible
//! endpoints driven the way a Locust script drives them.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{hornet, spawn_app_with_plan, TestApp};

/// One stats name, `probe`, served fast (`Fast`) or 50 ms slower (`Slow`).
const PLAN: &str = r#"
name = "cmp"
host = "http://127.0.0.1:1"
thresholds = ["'probe'.p95 < 10s", "error_rate < 0.01%"]

[defaults]
headers = { Authorization = "Bearer demo-token" }

[[users]]
name = "Fast"
wait = "constant(20ms)"
tasks = [ { get = "/delay/1", name = "probe" } ]

[[users]]
name = "Slow"
wait = "constant(20ms)"
tasks = [ { get = "/delay/50", name = "probe" } ]
"#;

/// A server whose plans directory holds `cmp.toml` (listed before the built-in demo plan).
async fn app_with_plan() -> TestApp {
    spawn_app_with_plan("cmp.toml", PLAN).await
}

/// Runs class `class` for 2 s through the API; returns its id and final `probe` row.
async fn api_run(app: &TestApp, class: &str) -> (String, Value) {
    let body = json!({
        "plan": "cmp",
        "host": app.target.url(),
        "users": 2,
        "spawn_rate": 50,
        "run_time": "2s",
        "classes": { class: 1 },
    });
    let id = app.start_run(&body).await;
    let run = app.wait_final(&id, Duration::from_secs(30)).await;
    assert_eq!(run["state"], "stopped", "{run}");
    let stats = app.run_stats(&id).await;
    let row = stats["stats"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "probe"))
        .cloned()
        .unwrap_or_else(|| panic!("no probe row: {stats}"));
    assert!(row["num_requests"].as_u64().unwrap() > 0, "{row}");
    (id, row)
}

async fn compare(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let out = hornet()
        .arg("compare")
        .args(args)
        .arg("--db")
        .arg(&app.db)
        .output()
        .await;
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// How the CLI (and every page) prints milliseconds.
fn fmt_ms(ms: f64) -> String {
    hornet::format::fmt_ms(ms)
}

/// `promtool check metrics` on `text`; skipped with a reason when promtool is missing, except
/// in CI.
fn promtool_check(text: &str) {
    use std::io::Write;
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "promtool is required in CI: {e}"
            );
            eprintln!(
                "skipping promtool check: promtool not found ({e}); apt-get install prometheus"
            );
            return;
        }
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write metrics");
    let out = child.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn get_text(app: &TestApp, path: &str) -> (u16, String, String) {
    let resp = app.client.get(app.api(path)).send().await.expect("GET");
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, ctype, resp.text().await.expect("body"))
}

#[tokio::test]
async fn a_slowed_run_is_a_regression_in_the_cli_the_page_and_metrics_match_the_api() {
    let app = app_with_plan().await;
    let (a, fast) = api_run(&app, "Fast").await;
    let (b, slow) = api_run(&app, "Slow").await;
    let p95 = |row: &Value| row["percentiles"]["p95"].as_f64().expect("p95");
    assert!(p95(&slow) > 40.0 && p95(&fast) < 40.0, "{fast} {slow}");

    // CLI: A → B broke p95=10%, for the name and the Aggregated row; exact p95 from histograms
    let (code, out, err) = compare(&app, &[&a, &b, "--max-regression", "p95=10%"]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with(&format!("base: {a} (cmp, ")), "{out}");
    assert!(out.contains(&format!("\nhead: {b} (cmp, ")), "{out}");
    assert!(out.contains("Regressions (2):\n"), "{out}");
    let expected = format!(
        "  GET probe: p95 {} → {} (up ",
        fmt_ms(p95(&fast)),
        fmt_ms(p95(&slow))
    );
    assert!(out.contains(&expected), "{expected}\n{out}");
    assert!(out.contains("  Aggregated: p95 "), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("GET ") && l.contains("probe"))
        .expect("probe line");
    let cells: Vec<&str> = line.split_whitespace().filter(|c| *c != "|").collect();
    // Type Name | requests base head change | ...
    assert_eq!(
        cells[2],
        fast["num_requests"].as_u64().unwrap().to_string(),
        "{line}"
    );
    assert_eq!(
        cells[3],
        slow["num_requests"].as_u64().unwrap().to_string(),
        "{line}"
    );

    // The same by `last~1 last` (of the plan) and by id prefixes.
    let (code, out, err) = compare(
        &app,
        &[
            "last~1",
            "last",
            "--plan",
            "cmp",
            "--max-regression",
            "p95=10%",
        ],
    )
    .await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with(&format!("base: {a} (cmp, ")), "{out}");
    let (code, out, err) = compare(&app, &[&a[..13], &b[..], "--max-regression", "p95=10%"]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with(&format!("base: {a} ")), "{out}");
    let (code, _, err) = compare(&app, &["last~5", "last"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("no run \"last~5\""), "{err}");
    // The API takes them too.
    let (status, run) = app.get_json("/api/runs/last").await;
    assert_eq!(
        (status, run["id"].as_str()),
        (200, Some(b.as_str())),
        "{run}"
    );
    let (status, run) = app.get_json(&format!("/api/runs/{}", &a[..13])).await;
    assert_eq!(
        (status, run["id"].as_str()),
        (200, Some(a.as_str())),
        "{run}"
    );

    // the other way round nothing regressed on p95
    let (code, out, _) = compare(&app, &[&b, &a, "--max-regression", "p95=10%"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("No regressions.\n"), "{out}");

    // --baseline last-passing B picks A (the newest stopped run of the plan before B)
    let (code, out, err) = compare(
        &app,
        &[
            "--baseline",
            "last-passing",
            &b,
            "--max-regression",
            "p95=10%",
        ],
    )
    .await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with(&format!("base: {a} ")), "{out}");
    let (code, _, err) = compare(&app, &["--baseline", "last-passing", &a]).await;
    assert_eq!(code, 2);
    assert!(
        err.contains("no passing run of plan \"cmp\" before run"),
        "{err}"
    );

    // bad input: unknown id, bad rule, wrong count
    let (code, _, err) = compare(&app, &[&a, "nope"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("no run \"nope\""), "{err}");
    let (code, _, err) = compare(&app, &[&a, &b, "--max-regression", "p95=10"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("needs a unit"), "{err}");
    let (code, _, _) = compare(&app, &[&a]).await;
    assert_eq!(code, 2);

    // the page: both runs, the regression highlighted; run=B&run=A makes the older (A) the base
    let (status, _, html) = get_text(&app, &format!("/runs/compare?base={a}&head={b}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("href=\"/runs/{a}\" id=\"base-run\"")),
        "{html}"
    );
    assert!(html.contains(&format!("href=\"/runs/{b}\" id=\"head-run\"")));
    assert!(html.contains("<td class=\"name\">probe</td>"));
    assert!(html.contains("class=\"num regression\""), "{html}");
    assert!(
        html.contains("id=\"compare-data\">{\"base\":[{\"t_s\":1"),
        "{html}"
    );
    let (status, _, html) = get_text(&app, &format!("/runs/compare?run={b}&run={a}")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("href=\"/runs/{a}\" id=\"base-run\"")),
        "{html}"
    );
    let (status, _, _) = get_text(&app, &format!("/runs/compare?base={a}&head=nope")).await;
    assert_eq!(status, 404);

    // /metrics: the newest finished run (B), counters equal to the API's numbers
    let (status, ctype, text) = get_text(&app, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    let labels = format!("run_id=\"{b}\",plan=\"cmp\",method=\"GET\",name=\"probe\"");
    for line in [
        format!("hornet_requests_total{{{labels}}} {}", slow["num_requests"]),
        format!("hornet_request_failures_total{{{labels}}} 0"),
        format!(
            "hornet_response_time_seconds_count{{{labels}}} {}",
            slow["num_requests"]
        ),
        format!("hornet_run_state{{run_id=\"{b}\",plan=\"cmp\",state=\"stopped\"}} 1"),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    // its threshold verdicts: the stored ones, the observed p95 in seconds
    let (_, run) = app.get_json(&format!("/api/runs/{b}")).await;
    let p95_ms = run["thresholds"][0]["observed"].as_f64().expect("observed");
    let run_labels = format!("run_id=\"{b}\",plan=\"cmp\"");
    let p95 = format!("{run_labels},threshold=\"'probe'.p95 < 10s\"");
    let errors = format!("{run_labels},threshold=\"error_rate < 0.01%\"");
    for line in [
        format!("hornet_threshold_passed{{{p95}}} 1"),
        format!("hornet_threshold_passed{{{errors}}} 1"),
        format!("hornet_threshold_limit{{{p95},unit=\"seconds\"}} 10"),
        format!("hornet_threshold_limit{{{errors},unit=\"ratio\"}} 0.0001"),
        format!("hornet_threshold_observed{{{errors},unit=\"ratio\"}} 0"),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    let observed = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!(
                "hornet_threshold_observed{{{p95},unit=\"seconds\"}} "
            ))
        })
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no observed p95\n{text}"));
    assert!(
        (observed - p95_ms / 1000.0).abs() < 1e-9,
        "{observed} vs {p95_ms} ms"
    );
    assert!(p95_ms > 50.0, "the slow class waits 50 ms: {p95_ms}");
    assert!(!text.contains(&a), "only the newest finished run: {text}");
    promtool_check(&text);
    app.stop().await;
}

async fn form(app: &TestApp, path: &str, body: &str) -> Value {
    let resp = app
        .client
        .post(app.api(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.expect("JSON")
}

/// Polls `/stats/requests` until `done` holds; panics after 15 s.
async fn stats_until(app: &TestApp, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    app.wait_json(what, "/stats/requests", Duration::from_secs(15), done)
        .await
}

#[tokio::test]
async fn a_locust_script_swarms_reads_resets_and_stops() {
    let app = app_with_plan().await;
    let (_, ready) = app.get_json("/stats/requests").await;
    assert_eq!(ready["state"], "ready", "{ready}");
    assert_eq!(ready["stats"], json!([]));

    let refused = form(&app, "/swarm", "spawn_rate=5").await;
    assert_eq!(refused["success"], false);
    assert_eq!(
        refused["message"],
        "Missing user_count or spawn_rate from /swarm request"
    );

    let host = app.target.url();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("user_count", "2")
        .append_pair("spawn_rate", "20")
        .append_pair("host", &host)
        .append_pair("run_time", "")
        .append_pair("user_classes", "Fast")
        .finish();
    let started = form(&app, "/swarm", &body).await;
    assert_eq!(started["success"], true, "{started}");
    assert_eq!(started["message"], "Swarming started");
    assert_eq!(started["host"], host.as_str());
    assert_eq!(started["user_classes"], json!(["Fast"]));
    let id = started["run_id"].as_str().expect("run_id").to_string();

    let stats = stats_until(&app, "2 users running", |s| {
        s["state"] == "running"
            && s["user_count"] == 2
            && s["stats"][0]["num_requests"].as_u64() > Some(0)
    })
    .await;
    let mut keys: Vec<&str> = stats
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "current_fail_per_sec",
            "current_response_time_percentiles",
            "current_rps",
            "errors",
            "fail_ratio",
            "state",
            "stats",
            "total_fail_per_sec",
            "total_rps",
            "user_count",
        ]
    );
    let rows = stats["stats"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{stats}");
    assert_eq!(
        (rows[0]["method"].as_str(), rows[0]["name"].as_str()),
        (Some("GET"), Some("probe"))
    );
    assert_eq!(rows[1]["name"], "Aggregated");
    assert!(rows[1]["method"].is_null());
    assert_eq!(rows[1]["num_requests"], rows[0]["num_requests"]);
    for key in [
        "response_time_percentile_0.95",
        "response_time_percentile_0.99",
        "avg_content_length",
        "median_response_time",
    ] {
        assert!(rows[0][key].is_number(), "{key}: {}", rows[0]);
    }
    let cur = &stats["current_response_time_percentiles"];
    assert!(
        cur["response_time_percentile_0.5"].is_number()
            && cur["response_time_percentile_0.95"].is_number(),
        "{cur}"
    );
    assert_eq!(stats["fail_ratio"], 0.0);

    // while running, /metrics shows the live run
    let (_, _, metrics) = get_text(&app, "/metrics").await;
    assert!(
        metrics.contains(&format!(
            "hornet_run_state{{run_id=\"{id}\",plan=\"cmp\",state=\"running\"}} 1"
        )),
        "{metrics}"
    );
    // and its thresholds as judged so far
    assert!(
        metrics.contains(&format!(
            "hornet_threshold_passed{{run_id=\"{id}\",plan=\"cmp\",threshold=\"error_rate < 0.01%\"}} 1"
        )),
        "{metrics}"
    );
    promtool_check(&metrics);

    // a second /swarm re-targets the running test
    let again = form(&app, "/swarm", "user_count=4&spawn_rate=20").await;
    assert_eq!(again["success"], true, "{again}");
    assert_eq!(again["run_id"], id.as_str());
    let before = stats_until(&app, "4 users and 200 requests", |s| {
        s["user_count"] == 4 && s["stats"][1]["num_requests"].as_u64() >= Some(200)
    })
    .await;
    let n0 = before["stats"][1]["num_requests"].as_u64().unwrap();

    let (status, ctype, csv) = get_text(&app, "/stats/requests/csv").await;
    assert_eq!((status, ctype.as_str()), (200, "text/csv"));
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
         Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,\
         50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
    );
    assert!(lines[1].starts_with("GET,probe,"), "{csv}");
    assert!(lines[2].starts_with(",Aggregated,"), "{csv}");
    assert_eq!((lines.len(), lines[3]), (4, ""), "{csv}");

    let (status, _, ok) = get_text(&app, "/stats/reset").await;
    assert_eq!((status, ok.as_str()), (200, "ok"));
    stats_until(&app, "counts start over", |s| {
        s["stats"][1]["num_requests"]
            .as_u64()
            .is_some_and(|n| n < n0)
    })
    .await;

    // another site cannot stop the test; the script can
    let resp = app
        .client
        .get(app.api("/stop"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("GET /stop");
    assert_eq!(resp.status().as_u16(), 403);
    let (status, stopped) = app.get_json("/stop").await;
    assert_eq!(status, 200);
    assert_eq!(
        stopped,
        json!({ "success": true, "message": "Test stopped" })
    );
    let end = stats_until(&app, "stopped", |s| s["state"] == "stopped").await;
    assert!(end["stats"][1]["num_requests"].as_u64() > Some(0), "{end}");
    let run = app.wait_final(&id, Duration::from_secs(15)).await;
    assert_eq!(run["source"], "api");
    app.stop().await;
}
