//! Result files: `hornet run --csv --csv-full-history --jtl --html` (Locust's and JMeter's exact
//! headers, row counts equal to request counts) and the downloads of a stored run.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{hornet_run, plan_file, served, spawn_app, spawn_app_in, spawn_target};

const STATS_HEADER: &str = "Type,Name,Request Count,Failure Count,Median Response Time,\
Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,\
Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\r\n";
const HISTORY_HEADER: &str = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,\
80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,\
Total Median Response Time,Total Average Response Time,Total Min Response Time,\
Total Max Response Time,Total Average Content Size\r\n";
const FAILURES_HEADER: &str = "Method,Name,Error,Occurrences,First Seen,Last Seen\r\n";
const JTL_HEADER: &str = "timeStamp,elapsed,label,responseCode,responseMessage,threadName,\
dataType,success,failureMessage,bytes,sentBytes,grpThreads,allThreads,URL,Latency,IdleTime,\
Connect\n";

const PLAN: &str = r#"
name = "files"
[[users]]
name = "Probe"
wait = "constant(20ms)"
tasks = [
  { get = "/health", weight = 3 },
  { get = "/status/500", name = "/status/[code]" },
]
"#;

fn records(text: &str) -> Vec<csv::StringRecord> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("a valid CSV record"))
        .collect()
}

fn num(r: &csv::StringRecord, i: usize) -> u64 {
    r[i].parse()
        .unwrap_or_else(|_| panic!("column {i} of {r:?} is not a count"))
}

/// No `src`/`href`/`url()` reaching outside the file.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "url(http",
        "url(\"http",
        "@import",
        "<link ",
        "<script src",
    ] {
        assert!(!lower.contains(bad), "the report loads a resource: {bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_writes_locust_csvs_a_jtl_line_per_request_and_an_html_report() {
    let target = spawn_target().await;
    let (dir, plan) = plan_file("plan.toml", PLAN);
    let prefix = dir.path().join("out");
    let jtl = dir.path().join("results.jtl");
    let html = dir.path().join("report.html");
    let out = hornet_run(&plan, &target.url())
        .args(["-u", "3", "-r", "30", "-t", "2500ms"])
        // in-flight requests finish at the stop: every sample is counted and written
        .args(["--stop-timeout", "5s", "--no-history", "--csv-full-history"])
        .arg("--csv")
        .arg(&prefix)
        .arg("--jtl")
        .arg(&jtl)
        .arg("--html")
        .arg(&html)
        .output()
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("lost"), "{stderr}");
    let read = |suffix: &str| {
        let path = format!("{}{suffix}", prefix.display());
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };

    // _stats.csv: Locust's header, a row per name, Aggregated last, counts = what was served
    let stats = read("_stats.csv");
    assert!(stats.starts_with(STATS_HEADER), "{stats}");
    let rows = records(&stats);
    let names: Vec<(&str, &str)> = rows.iter().map(|r| (&r[0], &r[1])).collect();
    assert_eq!(
        names,
        [
            ("GET", "/health"),
            ("GET", "/status/[code]"),
            ("", "Aggregated")
        ]
    );
    let (health, status, total) = (&rows[0], &rows[1], &rows[2]);
    let requests = num(total, 2);
    let failures = num(total, 3);
    assert_eq!(requests, num(health, 2) + num(status, 2));
    assert_eq!((num(health, 3), num(status, 3)), (0, num(status, 2)));
    assert_eq!(failures, num(status, 2));
    assert!(requests > 30, "{stats}");
    let served = served(&target).await;
    assert_eq!(served["total"].as_u64(), Some(requests), "{served}");

    // JTL: JMeter's header, exactly one line per request, failures where Locust counts them
    let text = std::fs::read_to_string(&jtl).expect("jtl written");
    assert!(
        text.starts_with(JTL_HEADER),
        "{}",
        &text[..200.min(text.len())]
    );
    let lines = records(&text);
    assert_eq!(lines.len() as u64, requests);
    let failed: Vec<_> = lines.iter().filter(|l| &l[7] == "false").collect();
    assert_eq!(failed.len() as u64, failures);
    assert!(failed
        .iter()
        .all(|l| &l[2] == "/status/[code]" && &l[3] == "500" && !l[8].is_empty()));
    assert!(lines
        .iter()
        .filter(|l| &l[7] == "true")
        .all(|l| &l[2] == "/health" && &l[3] == "200" && &l[4] == "OK"));
    assert!(lines.iter().all(|l| l[5].starts_with("Probe 1-")));
    let stamps: Vec<i64> = lines.iter().map(|l| l[0].parse().expect("ms")).collect();
    let (first, last) = (stamps.iter().min().unwrap(), stamps.iter().max().unwrap());
    assert!(
        *first > 1_600_000_000_000 && last - first < 10_000,
        "{first}..{last}"
    );

    // _stats_history.csv: an Aggregated row per second, per-name rows before it
    let history = read("_stats_history.csv");
    assert!(history.starts_with(HISTORY_HEADER), "{history}");
    let rows = records(&history);
    let aggregated: Vec<_> = rows.iter().filter(|r| &r[3] == "Aggregated").collect();
    assert!(aggregated.len() >= 2, "{history}");
    assert!(rows.iter().any(|r| &r[3] == "/health" && &r[2] == "GET"));
    let totals: Vec<u64> = aggregated.iter().map(|r| num(r, 17)).collect();
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");
    assert!(*totals.last().unwrap() <= requests);
    assert!(totals[0] > 0);
    let stamps: Vec<u64> = aggregated.iter().map(|r| num(r, 0)).collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");

    // _failures.csv: the one group, with its count and when it was seen
    let failures_csv = read("_failures.csv");
    assert!(failures_csv.starts_with(FAILURES_HEADER), "{failures_csv}");
    let groups = records(&failures_csv);
    assert_eq!(groups.len(), 1, "{failures_csv}");
    let g = &groups[0];
    assert_eq!((&g[0], &g[1]), ("GET", "/status/[code]"));
    assert_eq!(num(g, 3), failures);
    assert!(
        g[4].ends_with('Z') && g[4].len() == 20 && g[4] <= g[5],
        "{g:?}"
    );

    // the HTML report: one file, every section, nothing fetched
    let page = std::fs::read_to_string(&html).expect("html written");
    for section in [
        "summary",
        "thresholds",
        "statistics",
        "percentiles",
        "charts",
        "failures",
        "configuration",
    ] {
        assert!(page.contains(&format!("id=\"{section}\"")), "{section}");
    }
    assert!(page.contains("/status/[code]"));
    assert_self_contained(&page);
}

#[tokio::test]
async fn a_bad_output_path_is_bad_input() {
    let (dir, plan) = plan_file("plan.toml", PLAN);
    let out = hornet_run(&plan, "http://127.0.0.1:9")
        .args(["-t", "1s", "--no-history"])
        .arg("--jtl")
        .arg(dir.path().join("no/such/dir/x.jtl"))
        .output()
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("x.jtl"));
}

#[tokio::test]
async fn a_stored_run_downloads_its_csvs_report_and_jtl_also_after_a_restart() {
    let app = spawn_app().await;
    let body = json!({
        "plan": "demo",
        "host": app.target.url(),
        "users": 2,
        "spawn_rate": 20,
        "run_time": "2s",
        "stop_timeout": "5s",
        "classes": { "HealthCheckUser": 1 },
    });
    let id = app.start_run(&body).await;
    app.wait_final(&id, Duration::from_secs(20)).await;
    let stats = app.run_stats(&id).await;
    let requests = stats["aggregated"]["num_requests"].as_u64().expect("count");
    assert!(requests > 0);

    let get = |path: String| {
        let client = app.client.clone();
        let url = app.api(&path);
        async move { client.get(url).send().await.expect("GET") }
    };
    for (file, suffix, header) in [
        ("stats.csv", "stats.csv", STATS_HEADER),
        ("history.csv", "stats_history.csv", HISTORY_HEADER),
        ("failures.csv", "failures.csv", FAILURES_HEADER),
    ] {
        let resp = get(format!("/runs/{id}/{file}")).await;
        assert_eq!(resp.status(), 200, "{file}");
        let h = resp.headers();
        assert_eq!(h["content-type"], "text/csv; charset=utf-8", "{file}");
        assert_eq!(
            h["content-disposition"],
            format!("attachment; filename=\"hornet-{id}_{suffix}\"").as_str()
        );
        let text = resp.text().await.expect("body");
        assert!(text.starts_with(header), "{file}: {text}");
        if file == "stats.csv" {
            let rows = records(&text);
            let total = rows.last().expect("Aggregated row");
            assert_eq!((&total[1], num(total, 2)), ("Aggregated", requests));
        }
        if file == "history.csv" {
            let rows = records(&text);
            assert!(rows.len() >= 2, "{text}");
            assert!(rows.iter().all(|r| &r[3] == "Aggregated"));
            // the extras survived the database
            assert!(rows.iter().any(|r| num(r, 17) > 0), "{text}");
        }
    }

    let resp = get(format!("/runs/{id}/report.html")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("a script nonce");
    let page = resp.text().await.expect("body");
    assert!(page.contains(&format!("<script nonce=\"{nonce}\">")));
    assert!(page.contains("id=\"statistics\""));
    assert_self_contained(&page);

    // the JTL of a stored run: one line per request, from its kept samples
    let jtl_lines = |text: &str| {
        assert!(
            text.starts_with(JTL_HEADER),
            "{}",
            &text[..200.min(text.len())]
        );
        let lines = records(text);
        assert!(lines
            .iter()
            .all(|l| &l[2] == "/health" && &l[3] == "200" && &l[7] == "true"));
        assert!(lines.iter().all(|l| l[5].starts_with("HealthCheckUser 1-")));
        lines.len() as u64
    };
    let resp = get(format!("/runs/{id}/results.jtl")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-disposition"],
        format!("attachment; filename=\"hornet-{id}_results.jtl\"").as_str()
    );
    assert!(resp.headers().get("x-hornet-samples").is_none());
    assert_eq!(jtl_lines(&resp.text().await.expect("body")), requests);
    let resp = get("/runs/no-such-run/stats.csv".to_string()).await;
    assert_eq!(resp.status(), 404);
    let page = get(format!("/runs/{id}")).await.text().await.expect("page");
    assert!(page.contains(&format!("href=\"/runs/{id}/results.jtl\"")));

    // after a restart, from the files beside the database
    let dir = app.stop().await;
    let app = spawn_app_in(dir, |_| {}).await;
    let resp = app
        .client
        .get(app.api(&format!("/runs/{}/results.jtl", &id[..8])))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), 200);
    assert_eq!(jtl_lines(&resp.text().await.expect("body")), requests);

    // a server that keeps no samples says why instead of offering the file
    let dir = app.stop().await;
    let app = spawn_app_in(dir, |s| s.samples.no_samples = true).await;
    let resp = app
        .client
        .get(app.api(&format!("/runs/{id}/results.jtl")))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), 404);
    let err: serde_json::Value = resp.json().await.expect("json error");
    assert_eq!(err["error"]["code"], "not_found");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--no-samples") && m.contains("hornet run --jtl")),
        "{err}"
    );
    let page = app
        .client
        .get(app.api(&format!("/runs/{id}")))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("page");
    assert!(!page.contains(&format!("href=\"/runs/{id}/results.jtl\"")));
    assert!(page.contains("started with --no-samples"), "{page}");
    app.stop().await;
}
