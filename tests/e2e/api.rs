//! The REST API and its history: start → stats → edit → stop → report, with the numbers the
//! database keeps compared with what the demo target served.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    cookie_pair, login, no_redirects, serve_process, served, spawn_app, spawn_app_in, start_run_at,
    wait_until, AppDir, TestApp,
};

/// Waits until the database at `db` holds at least `n` per-second points of run `id` and its
/// statistics with requests (a live run saves a point every second, its statistics every two).
async fn wait_stored(db: &std::path::Path, id: &str, n: usize) {
    let store = hornet::store::Store::open(db).await.expect("db opens");
    wait_until(
        &format!("{n} points and the statistics of run {id} in the database"),
        Duration::from_secs(20),
        async || {
            let stored = store.load_stats(id).await.expect("stats");
            let requests = stored.total.as_ref().map_or(0, |t| t.num_requests);
            if stored.points.len() >= n && requests > 0 {
                Ok(())
            } else {
                Err(format!(
                    "{} points, {requests} requests",
                    stored.points.len()
                ))
            }
        },
    )
    .await;
    store.close().await;
}

/// The `key` of each object in the JSON array `list`, as text.
fn texts<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    let items = list
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"));
    items
        .iter()
        .map(|item| {
            item[key]
                .as_str()
                .unwrap_or_else(|| panic!("no {key}: {item}"))
        })
        .collect()
}

/// Waits until the live run has `users` users and has made requests.
async fn wait_users(app: &TestApp, id: &str, users: u64) -> Value {
    app.wait_json(
        &format!("{users} users running"),
        &format!("/api/runs/{id}/stats"),
        Duration::from_secs(15),
        |s| s["user_count"] == users && s["aggregated"]["num_requests"].as_u64() > Some(0),
    )
    .await
}

#[tokio::test]
async fn start_edit_stop_and_the_database_matches_the_target() {
    let app = spawn_app().await;
    let (status, plans) = app.get_json("/api/plans").await;
    assert_eq!(status, 200);
    let demo = &plans["plans"][0];
    assert_eq!(demo["key"], "demo.toml");
    assert!(demo["classes"].as_array().unwrap().len() >= 3, "{demo}");

    let body = json!({
        "plan": "demo",
        "host": app.target.url(),
        "users": 6,
        "spawn_rate": 20,
        "classes": { "HealthCheckUser": 1, "ReadOnlyAPIUser": 3 },
        "stop_timeout": "10s",
    });
    let (status, started) = app.send_json(Method::POST, "/api/runs", &body).await;
    assert_eq!(status, 201, "{started}");
    let id = started["id"].as_str().expect("id").to_string();
    assert_eq!(started["links"]["page"], format!("/runs/{id}"));

    // A second run while this one is live is refused.
    let (status, busy) = app.send_json(Method::POST, "/api/runs", &body).await;
    assert_eq!(status, 409, "{busy}");
    assert_eq!(busy["error"]["code"], "run_active");
    assert!(busy["error"]["message"].as_str().unwrap().contains(&id));

    let stats = wait_users(&app, &id, 6).await;
    let names = texts(&stats["stats"], "name");
    assert!(
        !names.contains(&"/tools [create]"),
        "WriteAPIUser was not chosen: {names:?}"
    );

    let (status, edited) = app
        .send_json(
            Method::PATCH,
            &format!("/api/runs/{id}"),
            &json!({ "users": 10, "spawn_rate": 50 }),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    wait_users(&app, &id, 10).await;
    // Points are kept once a second: the history below must have three.
    wait_stored(&app.db, &id, 3).await;

    let (status, _) = app
        .send_json(Method::POST, &format!("/api/runs/{id}/stop"), &json!({}))
        .await;
    assert_eq!(status, 202);
    let run = app.wait_final(&id, Duration::from_secs(30)).await;
    assert_eq!(run["state"], "stopped");
    assert_eq!(run["source"], "api");
    assert_eq!(run["summary"]["peak_users"], 10);

    // After the end: edits are refused, the report comes from the database.
    let (status, ended) = app
        .send_json(
            Method::PATCH,
            &format!("/api/runs/{id}"),
            &json!({ "users": 3 }),
        )
        .await;
    assert_eq!(status, 409, "{ended}");

    let served_total = served(&app.target).await["total"].as_u64().unwrap();
    let (_, stats) = app.get_json(&format!("/api/runs/{id}/stats")).await;
    let recorded = stats["aggregated"]["num_requests"].as_u64().unwrap();
    assert_eq!(
        recorded, served_total,
        "every request the target served is in the report"
    );
    assert_eq!(run["summary"]["requests"].as_u64().unwrap(), served_total);

    let dir = app.stop().await;
    // The file itself, opened afresh, has the run, its points and its histograms.
    let store = hornet::store::Store::open(&dir.db()).await.unwrap();
    let stored = store.load_stats(&id).await.unwrap();
    assert_eq!(stored.total.as_ref().unwrap().num_requests, served_total);
    assert!(stored.points.len() >= 3, "{} points", stored.points.len());
    let hists = store.load_histograms(&id).await.unwrap();
    let total = hists
        .iter()
        .find(|h| h.name == "Aggregated")
        .expect("aggregate histogram");
    let h = hornet::stats::histogram::LatencyHistogram::deserialize(&total.histogram).unwrap();
    assert_eq!(h.count(), served_total);
}

#[tokio::test]
async fn bad_requests_name_the_field() {
    let app = spawn_app().await;
    let host = app.target.url();
    let cases = [
        (json!({ "users": 3 }), 400, "plan"),
        (json!({ "plan": "nope" }), 400, "plan"),
        (json!({ "plan": "demo", "users": "ten" }), 400, "users"),
        (json!({ "plan": "demo", "users": -5 }), 400, "users"),
        (
            json!({ "plan": "demo", "spawn_rate": 0 }),
            400,
            "spawn_rate",
        ),
        (
            json!({ "plan": "demo", "run_time": "soon" }),
            400,
            "run_time",
        ),
        (
            json!({ "plan": "demo", "classes": { "Ghost": 1 } }),
            400,
            "classes",
        ),
        (
            json!({ "plan": "demo", "classes": { "HealthCheckUser": 0 } }),
            400,
            "classes",
        ),
        (
            json!({ "plan": "demo", "host": "localhost:1" }),
            400,
            "host",
        ),
        (json!({ "plan": "demo", "userz": 1 }), 400, "userz"),
        (
            json!({ "plan": "demo", "host": host, "shape": "nope" }),
            400,
            "shape",
        ),
    ];
    for (body, status, field) in cases {
        let (got, err) = app.send_json(Method::POST, "/api/runs", &body).await;
        assert_eq!(got, status, "{body} -> {err}");
        assert_eq!(err["error"]["field"], field, "{body} -> {err}");
        assert!(!err["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty());
    }
    let resp = app
        .client
        .post(app.api("/api/runs"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = app
        .client
        .post(app.api("/api/runs"))
        .body(vec![b' '; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413, "bodies are size-limited");
    let (status, err) = app.get_json("/api/runs/0000-nope").await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = app.get_json("/api/runs/0000-nope/stats").await;
    assert_eq!(status, 404);
    let (status, err) = app.get_json("/api/runs?state=flying").await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (400, Some("state"))
    );
    app.stop().await;
}

#[tokio::test]
async fn cross_site_writes_and_foreign_hosts_are_refused() {
    let app = spawn_app().await;
    let body = json!({ "plan": "demo", "host": app.target.url(), "run_time": "1s" });
    let start_from = async |header: &str, value: &str| {
        let resp = app
            .client
            .post(app.api("/api/runs"))
            .header(header, value)
            .json(&body)
            .send()
            .await
            .unwrap();
        resp.status()
    };
    assert_eq!(start_from("origin", "http://evil.example").await, 403);
    assert_eq!(start_from("sec-fetch-site", "cross-site").await, 403);
    let resp = app
        .client
        .get(app.api("/api/plans"))
        .header("host", "rebound.example:8089")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        421,
        "DNS rebinding: a foreign Host is refused"
    );
    let (status, runs) = app.get_json("/api/runs").await;
    assert_eq!(status, 200);
    assert_eq!(
        runs["runs"].as_array().unwrap().len(),
        0,
        "nothing was started"
    );
    let (status, ready) = app.get_json("/ready").await;
    assert_eq!((status, ready["ready"].as_bool()), (200, Some(true)));
    app.stop().await;
}

#[tokio::test]
async fn events_arrive_once_a_second_and_end_after_done() {
    use futures_util::StreamExt;
    let app = spawn_app().await;
    let body = json!({ "plan": "demo", "host": app.target.url(), "users": 3, "spawn_rate": 10, "run_time": "4s" });
    let id = app.start_run(&body).await;
    let resp = app
        .client
        .get(app.api(&format!("/api/runs/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let t0 = tokio::time::Instant::now();
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    let mut tick_times = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("stream chunk");
            let s = String::from_utf8_lossy(&chunk).to_string();
            for _ in s.matches("event: tick") {
                tick_times.push(t0.elapsed().as_secs_f64());
            }
            text.push_str(&s);
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ends after done");
    assert!(text.contains("event: done"), "{text}");
    assert!(text.contains("event: stats"));
    assert!(text.contains("<table"), "stats come as an HTML fragment");
    // warnings come live too (the Errors tab swaps them in)
    assert!(text.contains("event: warnings"), "{text}");
    // The thresholds are judged each second, and the last word is the final verdict (no
    // reload needed to stop saying "holding").
    let verdicts: Vec<&str> = text
        .split("event: thresholds")
        .skip(1)
        .map(|e| e.split("\n\n").next().unwrap_or(""))
        .collect();
    assert!(verdicts.len() >= 3, "{text}");
    assert!(
        verdicts[0].contains("judged so far") && verdicts[0].contains(">holding<"),
        "{}",
        verdicts[0]
    );
    let last = verdicts.last().expect("a final verdict");
    assert!(
        !last.contains("judged so far") && last.contains(">held<") && !last.contains("holding"),
        "{last}"
    );
    let points = text
        .lines()
        .filter(|l| l.starts_with("data: {") && l.contains("\"point\":{"))
        .count();
    assert!(
        (3..=6).contains(&points),
        "{points} chart points for a 4 s run"
    );
    // Ticks come about once a second: 4 s of run give 4..7 (the first, each second, the end).
    assert!((4..=8).contains(&tick_times.len()), "{tick_times:?}");
    let gaps: Vec<f64> = tick_times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().filter(|g| **g > 2.5).count() == 0, "{gaps:?}");
    let done_at = text.find("event: done").unwrap();
    assert!(
        text[done_at..].matches("event: ").count() == 1,
        "nothing after done"
    );

    // A finished run's stream says done at once.
    let resp = app
        .client
        .get(app.api(&format!("/api/runs/{id}/events")))
        .send()
        .await
        .unwrap();
    let body = tokio::time::timeout(Duration::from_secs(5), resp.text())
        .await
        .unwrap()
        .unwrap();
    assert!(
        body.contains("event: done") && body.contains("stopped"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn history_lists_newest_first_with_filters_and_a_cursor() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let body =
            json!({ "plan": "demo", "host": app.target.url(), "users": 1, "run_time": "1s" });
        let id = app.start_run(&body).await;
        app.wait_final(&id, Duration::from_secs(20)).await;
        ids.push(id);
    }
    let (_, page1) = app.get_json("/api/runs?limit=2").await;
    assert_eq!(texts(&page1["runs"], "id"), [&ids[2], &ids[1]]);
    let cursor = page1["next_before"].as_str().unwrap();
    let (_, page2) = app
        .get_json(&format!("/api/runs?limit=2&before={cursor}"))
        .await;
    assert_eq!(texts(&page2["runs"], "id"), [&ids[0]]);
    assert_eq!(page2["next_before"], Value::Null);
    let (_, stopped) = app.get_json("/api/runs?state=stopped&plan=Demo").await;
    assert_eq!(stopped["runs"].as_array().unwrap().len(), 3);
    let (_, none) = app.get_json("/api/runs?state=aborted").await;
    assert_eq!(none["runs"].as_array().unwrap().len(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_killed_server_leaves_its_run_aborted_with_its_points() {
    let dir = AppDir::new();
    let target = crate::helpers::spawn_target().await;
    let (server, url) = serve_process(&dir.db(), &dir.plans()).await;
    let client = reqwest::Client::new();
    let body = json!({ "plan": "demo", "host": target.url(), "users": 2, "spawn_rate": 10 });
    let id = start_run_at(&client, &url, &body).await;
    wait_stored(&dir.db(), &id, 2).await;
    server.signal("KILL");
    let killed = server.wait(Duration::from_secs(10)).await;
    assert_eq!(killed.status.code(), None, "killed by a signal");

    let app = spawn_app_in(dir, |_| {}).await;
    let run = app
        .wait_json(
            "the run is marked aborted",
            &format!("/api/runs/{id}"),
            Duration::from_secs(20),
            |run| run["state"] == "aborted",
        )
        .await;
    assert!(run["ended_at_ms"].as_i64().is_some());
    let store = hornet::store::Store::open(&app.db).await.unwrap();
    let stored = store.load_stats(&id).await.unwrap();
    assert!(
        stored.points.len() >= 2,
        "points written before the kill are kept: {}",
        stored.points.len()
    );
    let (_, stats) = app.get_json(&format!("/api/runs/{id}/stats")).await;
    assert!(
        stats["aggregated"]["num_requests"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_token_guards_the_api_and_the_pages() {
    let app = spawn_app_in(AppDir::new(), |s| s.token = Some("s3cret".into())).await;
    let url = app.url.clone();
    let client = no_redirects();
    let resp = client.get(format!("{url}/api/plans")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = client
        .get(format!("{url}/api/plans"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client.get(format!("{url}/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "probes stay open");
    let resp = client
        .get(format!("{url}/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/login");
    assert_eq!(login(&client, &url, "wrong").await, (401, None));
    let (status, cookie) = login(&client, &url, "s3cret").await;
    assert_eq!(status, 303);
    let cookie = cookie.expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("s3cret"),
        "the cookie does not carry the token"
    );
    let resp = client
        .get(format!("{url}/"))
        .header("cookie", cookie_pair(&cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app.stop().await;
}

/// The option of `plan` in the start form, if it is the selected one.
fn selected_option(page: &str) -> Option<&str> {
    page.split("<option ").find(|o| {
        o.split('>')
            .next()
            .is_some_and(|head| head.contains(" selected"))
    })
}

#[tokio::test]
async fn the_start_page_offers_the_demo_plan_with_the_demo_target_else_the_last_plan_used() {
    let dir = AppDir::new()
        .with_plan("admin_ui.toml", include_str!("../../plans/admin_ui.toml"))
        .with_plan("demo.toml", include_str!("../../plans/demo.toml"));
    // With the demo target (on a port of its own, not 8090): the Demo plan, aimed at it.
    let app = spawn_app_in(dir, |s| {
        s.no_demo_target = false;
        s.demo_target = "127.0.0.1:0".into();
    })
    .await;
    let page = app
        .client
        .get(app.api("/"))
        .send()
        .await
        .expect("GET /")
        .text()
        .await
        .expect("html");
    let option = selected_option(&page).unwrap_or_else(|| panic!("nothing selected: {page}"));
    assert!(option.starts_with(r#"value="demo.toml""#), "{option}");
    let host = option
        .split("data-host=\"")
        .nth(1)
        .and_then(|h| h.split('"').next())
        .expect("host");
    assert!(
        host.starts_with("http://127.0.0.1:") && !host.ends_with(":8090"),
        "{host}"
    );
    assert!(
        page.contains(&format!(r#"id="host" value="{host}""#)),
        "the Host field follows it"
    );
    let dir = app.stop().await;
    // Without it: the plan of the newest run.
    let app = spawn_app_in(dir, |_| {}).await;
    let body =
        json!({ "plan": "demo.toml", "host": app.target.url(), "users": 1, "run_time": "1s" });
    let id = app.start_run(&body).await;
    app.wait_final(&id, Duration::from_secs(20)).await;
    let page = app
        .client
        .get(app.api("/"))
        .send()
        .await
        .expect("GET /")
        .text()
        .await
        .expect("html");
    let option = selected_option(&page).unwrap_or_else(|| panic!("nothing selected: {page}"));
    assert!(option.starts_with(r#"value="demo.toml""#), "{option}");
    app.stop().await;
}
