//! Monitors end to end: the demo target's own `/metrics` (its resident memory, a counter, the
//! bytes it leaks on purpose with `POST /__leak`) and `/proc` of a `hornet target` process read
//! beside a run: stored and read back through the API, growth thresholds failing on a leaking
//! target and holding on a steady one (`hornet run` exit codes), an unreachable monitor that is
//! a warning, not a failed run, the API's `monitor`, a real Prometheus' query API, `/metrics`
//! and the compare page.

use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{
    hornet, hornet_run, plan_file, spawn_app, spawn_app_with_plan, spawn_target, Running,
};

/// A `hornet target` of its own (its resident memory is its own, not the test process's).
async fn target_process() -> (Running, String) {
    let target = hornet().args(["target", "--bind", "127.0.0.1:0"]).spawn();
    let url = target.url().await;
    (target, url)
}

/// Light load on `/health` and the target's `/metrics` read every second after a 2 s warm-up.
fn soak_plan(metrics_url: &str) -> String {
    format!(
        r#"
name = "soak"
[[users]]
name = "Pinger"
wait = "constant(100ms)"
tasks = [ {{ get = "/health" }} ]

[monitor]
every = "1s"
warmup = "2s"
prometheus = [ {{ name = "target", url = "{metrics_url}", token = "{{{{ env('HORNET_TEST_MONITOR_TOKEN', 'demo-token') }}}}",
                 metrics = [ {{ name = "rss", select = "process_resident_memory_bytes" }},
                             "demo_leaked_bytes", "demo_target_requests_total" ] }} ]
"#
    )
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn soak_run(plan: &std::path::Path, host: &str) -> Output {
    hornet_run(plan, host)
        .args(["-u", "2", "-r", "20", "-t", "8s", "--no-history"])
        .args(["--threshold", "monitor.target.rss.growth < 10%"])
        .args(["--threshold", "monitor.target.rss.max < 1GiB"])
        .output()
        .await
}

#[tokio::test]
async fn a_leaking_target_fails_its_growth_threshold_and_a_steady_one_holds() {
    let (_steady, steady_url) = target_process().await;
    let (_leaky, leaky_url) = target_process().await;
    let leaking = reqwest::Client::new()
        .post(format!("{leaky_url}/__leak?bytes_per_s={}", 20 << 20))
        .send()
        .await
        .expect("POST /__leak");
    assert_eq!(leaking.status(), 200);
    let (_d1, steady_plan) = plan_file("steady.toml", &soak_plan(&format!("{steady_url}/metrics")));
    let (_d2, leaky_plan) = plan_file("leaky.toml", &soak_plan(&format!("{leaky_url}/metrics")));
    let (steady, leaky) = tokio::join!(
        soak_run(&steady_plan, &steady_url),
        soak_run(&leaky_plan, &leaky_url)
    );

    let (stdout, stderr) = text(&steady);
    assert_eq!(steady.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("Monitors (warm-up 2s"), "{stdout}");
    assert!(stdout.contains("target.rss"), "{stdout}");
    assert!(
        stdout.contains("✓ monitor.target.rss.growth < 10% (observed "),
        "{stdout}"
    );
    assert!(!stderr.contains("warning: monitor"), "{stderr}");

    let (stdout, stderr) = text(&leaky);
    assert_eq!(leaky.status.code(), Some(1), "{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.contains("✗ monitor.target.rss.growth < 10%"))
        .unwrap_or_else(|| panic!("no failed growth verdict in {stdout}"));
    // both ends and the warm-up are stated: "+85.2% from 31.4 MiB (mean 2s–4.5s) to ..."
    assert!(
        line.contains(" from ") && line.contains(" MiB (mean 2"),
        "{line}"
    );
    assert!(line.contains("after a 2s warm-up"), "{line}");
    let pct: f64 = line
        .split("(observed +")
        .nth(1)
        .and_then(|r| r.split('%').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no growth in {line}"));
    // 20 MiB/s for the ~3.5 s between the two windows' middles, on a base of a few tens of MiB
    assert!(pct > 50.0, "{line}");
    assert!(
        stdout.contains("✓ monitor.target.rss.max < 1GiB"),
        "{stdout}"
    );
}

#[tokio::test]
async fn monitor_series_are_stored_and_read_back_with_process_stats() {
    let (target, _url) = target_process().await;
    let pid = target.pid();
    // an in-process demo target serves /metrics and takes the load
    let plan = r#"
name = "monitored"
[[users]]
name = "Pinger"
wait = "constant(50ms)"
tasks = [ { get = "/health" } ]

[monitor]
every = "1s"
prometheus = [ { name = "demo", url = "TARGET/metrics", token = "demo-token",
                 metrics = [ "demo_target_requests_total", "process_resident_memory_bytes" ] } ]
process = [ { name = "sub", pid = PID } ]
"#;
    let demo = spawn_target().await;
    let plan = plan
        .replace("TARGET", &demo.url())
        .replace("PID", &pid.to_string());
    let app = spawn_app_with_plan("monitored.toml", &plan).await;
    let id = app
        .start_run(&json!({
            "plan": "monitored", "users": 2, "spawn_rate": 20, "run_time": "4s",
            "host": demo.url(),
        }))
        .await;
    let run = app.wait_final(&id, Duration::from_secs(30)).await;
    assert_eq!(run["state"], "stopped", "{run}");

    let (status, m) = app.get_json(&format!("/api/runs/{id}/monitors")).await;
    assert_eq!(status, 200, "{m}");
    let series = |name: &str| -> Value {
        m["series"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no series {name} in {m}"))
    };
    let points = |s: &Value| -> Vec<(f64, f64)> {
        s["points"]
            .as_array()
            .expect("points")
            .iter()
            .map(|p| (p["t_s"].as_f64().unwrap(), p["value"].as_f64().unwrap()))
            .collect()
    };
    // a 4 s run read every second: reads at about 0, 1, 2, 3 (and 4) s
    let rss = series("sub.rss");
    assert_eq!(rss["unit"], "bytes");
    let rss_points = points(&rss);
    assert!((4..=6).contains(&rss_points.len()), "{rss}");
    assert!(rss_points.windows(2).all(|w| w[0].0 < w[1].0), "{rss}");
    assert!(
        rss_points[0].0 < 1.0 && rss_points.last().unwrap().0 < 6.0,
        "{rss}"
    );
    assert!(rss_points.iter().all(|p| p.1 > 1024.0 * 1024.0), "{rss}");
    let fds = series("sub.fds");
    assert_eq!(fds["unit"], "count");
    assert!(points(&fds).iter().all(|p| p.1 >= 3.0), "{fds}");
    let cpu = series("sub.cpu");
    assert_eq!(cpu["unit"], "percent");
    // one read fewer: CPU is a difference between two reads
    let cpu_points = points(&cpu);
    assert_eq!(cpu_points.len(), rss_points.len() - 1, "{cpu}");
    assert!(
        cpu_points.iter().all(|p| (0.0..=400.0).contains(&p.1)),
        "{cpu}"
    );

    let requests = series("demo.demo_target_requests_total");
    assert_eq!(
        (&requests["unit"], &requests["kind"]),
        (&json!("per_second"), &json!("rate"))
    );
    // two users every 50 ms: ~40 requests a second (less on a loaded machine), never 0 after
    // the first second
    let rates = points(&requests);
    assert!(rates.len() >= 2, "{requests}");
    assert!(
        rates.iter().skip(1).all(|p| p.1 > 2.0 && p.1 < 200.0),
        "{requests}"
    );
    let demo_rss = series("demo.process_resident_memory_bytes");
    assert_eq!(
        (&demo_rss["unit"], &demo_rss["kind"]),
        (&json!("bytes"), &json!("gauge"))
    );

    // the run's own JSON carries the summaries
    let (_, run) = app.get_json(&format!("/api/runs/{id}")).await;
    let summaries = run["monitors"].as_array().expect("monitors");
    let sub = summaries
        .iter()
        .find(|s| s["name"] == "sub.rss")
        .expect("sub.rss summary");
    assert_eq!(sub["samples"].as_u64(), Some(rss_points.len() as u64));
    assert!(sub["max"].as_f64().unwrap() >= sub["first"].as_f64().unwrap());
    drop(target);
}

#[tokio::test]
async fn an_unreachable_monitor_is_a_warning_and_the_run_passes() {
    let (_target, url) = target_process().await;
    // a port nothing listens on: bound, then let go
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = dead.local_addr().expect("addr").port();
    drop(dead);
    let plan = format!(
        r#"
name = "dead monitor"
[[users]]
name = "Pinger"
wait = "constant(100ms)"
tasks = [ {{ get = "/health" }} ]
[monitor]
every = "1s"
prometheus = [ {{ name = "gone", url = "http://127.0.0.1:{port}/metrics", metrics = ["up"] }},
               {{ name = "live", url = "{url}/metrics", token = "demo-token",
                  metrics = ["demo_leaked_bytes", "no_such_metric"] }} ]
process = [ {{ name = "nothing", pid_file = "/nonexistent/hornet-test.pid" }} ]
"#
    );
    let (_dir, plan) = plan_file("dead.toml", &plan);
    let out = hornet_run(&plan, &url)
        // 4 s: a selector that matches nothing is said so from its third read on
        .args(["-u", "1", "-r", "10", "-t", "4s", "--no-history"])
        .args(["--threshold", "error_rate < 1%"])
        .output()
        .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // once per monitor and cause, though it failed at every read
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: monitor "))
        .collect();
    assert_eq!(warnings.len(), 3, "{stderr}");
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("warning: monitor live: ")
                && w.contains("has no sample for no_such_metric")),
        "{stderr}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("warning: monitor gone: http://127.0.0.1:")),
        "{stderr}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("monitor nothing: pid file /nonexistent/hornet-test.pid")),
        "{stderr}"
    );
    assert!(
        stdout.contains("gone.up") && stdout.contains("no reads"),
        "{stdout}"
    );
}

#[tokio::test]
async fn an_api_monitor_is_validated_and_its_errors_name_the_field() {
    let app = spawn_app().await;
    let start = |monitor: Value, thresholds: Value| {
        json!({
            "plan": "demo", "host": app.target.url(), "users": 1, "run_time": "1s",
            "monitor": monitor, "thresholds": thresholds,
        })
    };
    let bad_url = json!({ "every": "1s", "prometheus": [ { "name": "x", "url": "ftp://x", "metrics": ["m"] } ] });
    let (status, body) = app
        .send_json(
            reqwest::Method::POST,
            "/api/runs",
            &start(bad_url, json!([])),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["field"], "monitor.prometheus[0].url",
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("an http:// or https:// URL")),
        "{body}"
    );
    let bad_every = json!({ "every": "soon", "process": [ { "name": "me", "pid": 1 } ] });
    let (status, body) = app
        .send_json(
            reqwest::Method::POST,
            "/api/runs",
            &start(bad_every, json!([])),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (400, &json!("monitor.every")),
        "{body}"
    );
    // a threshold on a series the monitor does not give
    let good = json!({ "process": [ { "name": "me", "pid": 1 } ] });
    let (status, body) = app
        .send_json(
            reqwest::Method::POST,
            "/api/runs",
            &start(good, json!(["monitor.me.heap.max < 1GiB"])),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "thresholds", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("me.cpu, me.rss, me.fds")),
        "{body}"
    );
}

/// A real Prometheus (Debian's `prometheus`) scraping the demo target's `/metrics` every
/// second; a `query` monitor reads `demo_leaked_bytes` through its query API while the target
/// leaks. Skipped (with the reason) where `prometheus` is not installed, except in CI.
#[tokio::test]
async fn a_query_monitor_reads_a_real_prometheus() {
    let Ok(status) = std::process::Command::new("prometheus")
        .arg("--version")
        .output()
    else {
        // .ci/run installs it (Debian's `prometheus` package brings promtool too)
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("no `prometheus` on PATH in CI");
        }
        eprintln!("skipping: no `prometheus` on PATH (apt-get install prometheus)");
        return;
    };
    assert!(status.status.success());
    let target = spawn_target().await;
    let dir = crate::helpers::temp_dir();
    let addr = target.url().trim_start_matches("http://").to_string();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: demo\n    \
         authorization:\n      credentials: demo-token\n    static_configs:\n      - targets: ['{addr}']\n"
    );
    let config_path = crate::helpers::write_file(dir.path(), "prometheus.yml", config);
    let port = crate::helpers::free_port();
    let mut prometheus = std::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus starts");
    let server = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    // ready, and holding a sample of the target
    crate::helpers::wait_until(
        "prometheus has scraped the target",
        Duration::from_secs(30),
        async || {
            let answer = client
                .get(format!("{server}/api/v1/query?query=demo_leaked_bytes"))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let v: Value = answer.json().await.map_err(|e| e.to_string())?;
            if v["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                Ok(())
            } else {
                Err(v.to_string())
            }
        },
    )
    .await;
    client
        .post(format!("{}/__leak?bytes_per_s={}", target.url(), 4 << 20))
        .send()
        .await
        .expect("POST /__leak");
    let plan = format!(
        r#"
name = "query"
[[users]]
name = "Pinger"
wait = "constant(200ms)"
tasks = [ {{ get = "/health" }} ]
[monitor]
every = "1s"
query = [ {{ name = "leaked", url = "{server}", promql = "sum(demo_leaked_bytes)" }} ]
"#
    );
    let (_d, plan) = plan_file("query.toml", &plan);
    let out = hornet_run(&plan, &target.url())
        .args([
            "-u",
            "1",
            "-r",
            "10",
            "-t",
            "5s",
            "--no-history",
            "--json",
            "-",
        ])
        .args(["--threshold", "monitor.leaked.max > 1MiB"])
        .output()
        .await;
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let summary: Value = serde_json::from_str(&stdout).expect("--json - prints JSON");
    let series = &summary["monitors"]["series"][0];
    assert_eq!(
        (&series["name"], &series["unit"]),
        (&json!("leaked"), &json!("bytes")),
        "{summary}"
    );
    let values: Vec<f64> = series["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter_map(|p| p["value"].as_f64())
        .collect();
    assert!(values.len() >= 3, "{series}");
    // Prometheus saw the leak grow: its samples rise
    assert!(values.last() > values.first(), "{values:?}");
}

/// While a run with a monitor goes, `/metrics` carries each series' latest read; two such runs
/// overlay their series of the same name on the compare page.
#[tokio::test]
async fn metrics_export_live_monitor_values_and_compare_overlays_them() {
    let app = spawn_app().await;
    let monitor = json!({
        "every": "500ms",
        "process": [ { "name": "tests", "pid": std::process::id() } ],
    });
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = app
            .start_run(&json!({
                "plan": "demo", "host": app.target.url(), "users": 1,
                "classes": { "HealthCheckUser": 1 }, "monitor": monitor,
            }))
            .await;
        // live: the latest reads are on /metrics
        let line = crate::helpers::wait_until(
            "/metrics shows the monitor's reads",
            Duration::from_secs(15),
            async || {
                let text = app
                    .client
                    .get(app.api("/metrics"))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .text()
                    .await
                    .map_err(|e| e.to_string())?;
                let wanted = format!(
                    "hornet_monitor_value{{run_id=\"{id}\",plan=\"Demo\",series=\"tests.rss\",unit=\"bytes\"}} "
                );
                text.lines()
                    .find(|l| l.starts_with(&wanted))
                    .map(str::to_string)
                    .ok_or(text)
            },
        )
        .await;
        let rss: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        assert!(rss > 1024.0 * 1024.0, "{line}");
        let (status, _) = app
            .send_json(
                reqwest::Method::POST,
                &format!("/api/runs/{id}/stop"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 202);
        let run = app.wait_final(&id, Duration::from_secs(20)).await;
        // the start's own monitor is kept with the run, as TOML
        let kept = run["settings"]["monitor"].as_str().unwrap_or_default();
        assert!(
            kept.contains("[monitor]") && kept.contains("name = \"tests\""),
            "{run}"
        );
        ids.push(id);
    }
    let page = app
        .client
        .get(app.api(&format!("/runs/compare?base={}&head={}", ids[0], ids[1])))
        .send()
        .await
        .expect("compare page")
        .text()
        .await
        .expect("compare page text");
    assert!(page.contains("id=\"compare-monitors\""), "{page}");
    let data = page
        .split("id=\"compare-monitor-data\">")
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .expect("the compare page's monitor data");
    let data: Value = serde_json::from_str(data).expect("monitor JSON");
    for side in ["base", "head"] {
        let names: Vec<&str> = data[side]["series"]
            .as_array()
            .expect("series")
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert!(names.contains(&"tests.rss"), "{side}: {data}");
    }
}
