//! The web UI in a real headless Chromium driven through chromedriver (fantoccini): a run started
//! from the form streams its tables and charts over SSE, edits and stops from the page, the
//! history page and its filters, no JavaScript errors on any page, a phone-width run page, a
//! plan imported on the start page (preview, save, then offered in the plan list), and a shaped
//! run's Stages table, live and stored.
//!
//! Each test starts its own chromedriver on a free loopback port and kills it at the end, even
//! when the test fails. Without `chromium` and `chromedriver` on PATH the tests print why and
//! pass, except under `CI=true`, where a missing browser is a failure.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    free_port, spawn_app, spawn_app_with_plan, temp_dir, wait_until, wait_until_blocking,
    write_file, TestApp,
};

// ---------------------------------------------------------------------------------------------
// chromedriver + Chromium

/// A chromedriver child process on its own port; killed on drop.
struct Driver {
    child: Child,
    port: u16,
    chromium: PathBuf,
}

/// One browser session (its own fresh profile directory); closed on drop, even on a panic.
struct Session {
    client: Client,
    base: String,
    port: u16,
    id: Option<String>,
    _profile: tempfile::TempDir,
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// `None` (the test is skipped) when the browser or its driver is missing, except in CI.
fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let chromium = on_path(&["chromium", "chromium-browser", "google-chrome"]);
    let driver = on_path(&["chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        (c, d) => {
            let mut missing = Vec::new();
            if c.is_none() {
                missing.push("chromium");
            }
            if d.is_none() {
                missing.push("chromedriver");
            }
            let reason = format!("{} not found on PATH", missing.join(" and "));
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("browser tests cannot run in CI: {reason}");
            }
            eprintln!(
                "skipping browser test: {reason} (install Debian's chromium and chromium-driver)"
            );
            None
        }
    }
}

impl Driver {
    fn start() -> Option<Driver> {
        let (chromium, chromedriver) = browser_binaries()?;
        // The port is free when we look; another process may take it before chromedriver binds
        // it, so try a few.
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts");
            let mut driver = Driver {
                child,
                port,
                chromium: chromium.clone(),
            };
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            // Listening, or exited (port taken?): then try another port.
            let listening = wait_until_blocking(
                &format!("chromedriver listens on {addr}"),
                Duration::from_secs(10),
                || {
                    if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                        Ok(true)
                    } else if driver
                        .child
                        .try_wait()
                        .expect("chromedriver status")
                        .is_some()
                    {
                        Ok(false)
                    } else {
                        Err("neither listening nor exited")
                    }
                },
            );
            if listening {
                return Some(driver);
            }
        }
        panic!("chromedriver exited at start three times");
    }

    /// A new browser session with a fresh profile, at `base` (the app's URL).
    async fn session(&self, base: &str) -> Session {
        let profile = temp_dir();
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
            // Console messages and uncaught errors, read back with `Session::js_errors`.
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("chromedriver opens a Chromium session");
        let id = client.session_id().await.expect("session id");
        Session {
            client,
            base: base.to_string(),
            port: self.port,
            id,
            _profile: profile,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Best effort, also while a failed test unwinds (a panic here would abort the suite).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `DELETE /session/{id}` with a blocking socket: works in `Drop`, even while a test unwinds
/// (so it is best effort: nothing here may panic).
fn delete_session(port: u16, id: &str) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            delete_session(self.port, &id);
        }
    }
}

/// chromedriver's `POST /session/{id}/se/log` (`{"type": "browser"}`): the console messages
/// and uncaught errors logged since the last call, including those before any script of ours
/// could run (a failed asset, a CSP refusal, an exception while the page loads).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(r#"{"type":"browser"}"#.to_string()),
        )
    }
}

/// What a `#stats` table shows: per row (method, name, requests) and the Aggregated row.
#[derive(Debug)]
struct StatsView {
    rows: Vec<(String, String, u64)>,
    total_name: String,
    total: u64,
}

const STATS_JS: &str = r#"
    var t = document.querySelector('#stats table');
    if (!t || !t.tFoot) return null;
    var cell = function (r, i) { return r.cells[i] ? r.cells[i].textContent.trim() : ''; };
    var rows = Array.prototype.map.call(t.tBodies[0].querySelectorAll('tr:not(.empty)'),
        function (r) { return [cell(r, 0), cell(r, 1), cell(r, 2)]; });
    var f = t.tFoot.rows[0];
    return { rows: rows, total_name: cell(f, 1), total: cell(f, 2) };
"#;

/// How much of a chart's canvas is painted in a series colour: pixels, and the leftmost and
/// rightmost of them (a line needs two points; uPlot draws no dots here, `points.show = false`).
const CHART_PIXELS_JS: &str = r#"
    var c = document.querySelector('#' + arguments[0] + ' canvas');
    if (!c || !c.width || !c.height) return null;
    var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    var rgb = arguments[1], n = 0, minX = c.width, maxX = -1;
    for (var i = 0; i < d.length; i += 4) {
        if (d[i + 3] > 200 && Math.abs(d[i] - rgb[0]) < 40 && Math.abs(d[i + 1] - rgb[1]) < 40
            && Math.abs(d[i + 2] - rgb[2]) < 40) {
            var x = (i / 4) % c.width;
            n++; if (x < minX) minX = x; if (x > maxX) maxX = x;
        }
    }
    return { width: c.width, height: c.height, pixels: n, span: maxX - minX };
"#;

/// The RPS line (#18a558) and the users line (#0b6bcb) of app.js.
const RPS_GREEN: [u8; 3] = [0x18, 0xa5, 0x58];
const USERS_BLUE: [u8; 3] = [0x0b, 0x6b, 0xcb];

impl Session {
    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{}", self.base, path))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` until it returns something truthy; panics with `what` after `limit`.
    async fn wait_js(&self, what: &str, script: &str, args: Vec<Value>, limit: Duration) -> Value {
        wait_until(what, limit, async || {
            let v = self.js(script, args.clone()).await;
            let truthy = match &v {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                Ok(v)
            } else {
                Err(v)
            }
        })
        .await
    }

    /// The trimmed text of `#id` (also when it sits in a hidden tab), or None without it.
    async fn text_of(&self, id: &str) -> Option<String> {
        self.js(
            "var e = document.getElementById(arguments[0]); return e ? e.textContent.trim() : null;",
            vec![json!(id)],
        )
        .await
        .as_str()
        .map(str::to_string)
    }

    async fn wait_text(&self, id: &str, want: &str, limit: Duration) {
        self.wait_js(
            &format!("#{id} reads {want:?}"),
            "var e = document.getElementById(arguments[0]); return !!e && e.textContent.trim() === arguments[1];",
            vec![json!(id), json!(want)],
            limit,
        )
        .await;
    }

    async fn stats(&self) -> Option<StatsView> {
        let v = self.js(STATS_JS, vec![]).await;
        if v.is_null() {
            return None;
        }
        let count = |s: &Value| -> u64 {
            let s = s.as_str().unwrap_or_default();
            s.parse()
                .unwrap_or_else(|_| panic!("request count {s:?} is not a number"))
        };
        let rows = v["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| {
                (
                    r[0].as_str().unwrap_or_default().to_string(),
                    r[1].as_str().unwrap_or_default().to_string(),
                    count(&r[2]),
                )
            })
            .collect();
        Some(StatsView {
            rows,
            total_name: v["total_name"].as_str().unwrap_or_default().to_string(),
            total: count(&v["total"]),
        })
    }

    /// Polls the `#stats` table until `ready` holds for it.
    async fn wait_stats(
        &self,
        what: &str,
        limit: Duration,
        ready: impl Fn(&StatsView) -> bool,
    ) -> StatsView {
        wait_until(what, limit, async || match self.stats().await {
            Some(v) if ready(&v) => Ok(v),
            seen => Err(format!("{seen:?}")),
        })
        .await
    }

    async fn chart_pixels(&self, chart: &str, rgb: [u8; 3]) -> Value {
        self.js(CHART_PIXELS_JS, vec![json!(chart), json!(rgb)])
            .await
    }

    /// Waits until `chart`'s canvas holds a drawn line (≥ 2 points) in `rgb`.
    async fn wait_chart_line(&self, chart: &str, rgb: [u8; 3], limit: Duration) -> Value {
        wait_until(&format!("#{chart} draws a line"), limit, async || {
            let v = self.chart_pixels(chart, rgb).await;
            if v["pixels"].as_u64().unwrap_or(0) >= 10 && v["span"].as_i64().unwrap_or(0) >= 5 {
                Ok(v)
            } else {
                Err(v)
            }
        })
        .await
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    async fn fill(&self, css: &str, value: &str) {
        let input = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"));
        input.clear().await.expect("clear");
        input.send_keys(value).await.expect("type");
    }

    /// The errors logged since the last call: console errors, uncaught exceptions, failed
    /// loads and CSP refusals (chromedriver's SEVERE browser log entries).
    async fn js_errors(&self) -> Vec<String> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("chromedriver returns the browser log");
        log.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn assert_no_js_errors(&self, page: &str) {
        let errors = self.js_errors().await;
        assert!(
            errors.is_empty(),
            "JavaScript errors on {page}: {errors:#?}"
        );
    }

    /// Horizontal overflow of the page: (scrollWidth, innerWidth).
    async fn page_widths(&self) -> (u64, u64) {
        let v = self
            .js(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await;
        (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0))
    }

    async fn assert_no_horizontal_scroll(&self, page: &str) {
        let (scroll, inner) = self.page_widths().await;
        assert!(
            scroll <= inner + 1,
            "{page} scrolls sideways at {inner} px: scrollWidth {scroll}"
        );
    }

    async fn close(mut self) {
        if self.id.take().is_some() {
            self.client
                .clone()
                .close()
                .await
                .expect("the browser session closes");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// The id in `/runs/{id}` once the browser shows a run page.
async fn wait_run_page(s: &Session, limit: Duration) -> String {
    let path = s
        .wait_js(
            "the start form leads to /runs/{id}",
            "var p = location.pathname; return /^\\/runs\\/[^/]+$/.test(p) && p !== '/runs/start' ? p : null;",
            vec![],
            limit,
        )
        .await;
    path.as_str()
        .and_then(|p| p.strip_prefix("/runs/"))
        .expect("run path")
        .to_string()
}

/// Starts a run of the demo plan through the API, against the app's own demo target.
async fn start_api_run(app: &TestApp, extra: Value) -> String {
    let mut body = json!({
        "plan": "demo",
        "host": app.target.url(),
        "users": 2,
        "spawn_rate": 20,
        "stop_timeout": "5s",
    });
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    app.start_run(&body).await
}

/// Clicks Stop on a live run page and waits for the stream's `done`: the badge reads
/// `stopped`, the controls are gone and the page is no longer live.
async fn stop_from_page(s: &Session) {
    s.click("#stop").await;
    s.wait_text("run-state", "stopped", Duration::from_secs(15))
        .await;
    s.wait_js(
        "the page turns into a report after `done`",
        "return !document.getElementById('controls') && document.body.getAttribute('data-live') === 'false';",
        vec![],
        Duration::from_secs(15),
    )
    .await;
}

async fn aggregated_from_api(app: &TestApp, id: &str) -> u64 {
    let stats = app.run_stats(id).await;
    stats["aggregated"]["num_requests"]
        .as_u64()
        .unwrap_or_else(|| panic!("no aggregated count: {stats}"))
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_started_from_the_form_streams_stats_and_charts_then_reloads_as_the_same_report() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = spawn_app().await;
    let (_, plans) = app.get_json("/api/plans").await;
    let classes = plans["plans"][0]["classes"].as_array().expect("classes");
    let weight_of = |name: &str| {
        classes
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("demo plan has no {name}: {plans}"))["weight"]
            .as_u64()
            .expect("weight")
    };
    let health_weight = weight_of("HealthCheckUser");
    let s = driver.session(&app.url).await;

    // The start form.
    s.goto("/").await;
    s.assert_no_js_errors("/").await;
    let fs = r#"fieldset.classes[data-plan="demo.toml"]"#;
    s.fill("#host", &app.target.url()).await;
    s.fill("#users", "4").await;
    s.fill("#spawn_rate", "10").await;
    // Only HealthCheckUser (its plan weight) and ReadOnlyAPIUser (weight 3) stay ticked.
    for c in classes {
        let name = c["name"].as_str().expect("name");
        if name != "HealthCheckUser" && name != "ReadOnlyAPIUser" {
            let checkbox = format!(r#"{fs} input[name="class"][value="{name}"]"#);
            s.click(&checkbox).await;
            let ticked = s
                .client
                .find(Locator::Css(&checkbox))
                .await
                .expect("checkbox")
                .is_selected()
                .await
                .expect("checked?");
            assert!(!ticked, "{name} is still ticked");
        }
    }
    s.fill(
        &format!(r#"{fs} input[name="weight.ReadOnlyAPIUser"]"#),
        "3",
    )
    .await;
    s.click("#start").await;
    let id = wait_run_page(&s, Duration::from_secs(10)).await;
    assert_eq!(
        s.js("return document.body.getAttribute('data-run-id');", vec![])
            .await,
        json!(id)
    );

    // Live statistics, swapped in over SSE: rows with requests, the Aggregated row, and a count
    // that keeps growing without a reload.
    let first = s
        .wait_stats("#stats shows requests", Duration::from_secs(10), |v| {
            v.total > 0 && v.rows.iter().any(|r| r.2 > 0)
        })
        .await;
    assert_eq!(first.total_name, "Aggregated", "{first:?}");
    s.wait_stats(
        "the Aggregated count grows live",
        Duration::from_secs(5),
        |v| v.total > first.total,
    )
    .await;
    s.wait_text("run-users", "4", Duration::from_secs(10)).await;

    // Charts: uPlot draws into a canvas once the tab shows, and the lines grow with each tick.
    s.click(r#".tabs a[data-tab="tab-charts"]"#).await;
    let rps = s
        .wait_chart_line("chart-rps", RPS_GREEN, Duration::from_secs(10))
        .await;
    assert!(rps["width"].as_u64().unwrap() >= 200, "{rps}");
    s.wait_chart_line("chart-users", USERS_BLUE, Duration::from_secs(5))
        .await;
    assert!(
        s.js(
            "return !!document.querySelector('#chart-latency canvas');",
            vec![]
        )
        .await
            == json!(true),
        "no latency chart"
    );
    let live = s.stats().await.expect("stats table");
    let names: Vec<&str> = live.rows.iter().map(|r| r.1.as_str()).collect();
    for unticked in ["/tools [create]", "/tools/[id] [delete]", "/admin/"] {
        assert!(
            !names.contains(&unticked),
            "{unticked} was requested by an unticked class: {names:?}"
        );
    }
    assert!(
        names.contains(&"/health") || names.contains(&"/tools"),
        "{names:?}"
    );
    s.assert_no_js_errors("/runs/{id} (live)").await;

    // Stop from the page; the final numbers equal the API's.
    stop_from_page(&s).await;
    let page_total = s.stats().await.expect("stats table").total;
    assert_eq!(aggregated_from_api(&app, &id).await, page_total);
    s.assert_no_js_errors("/runs/{id} (after stop)").await;
    s.close().await;

    // The same page in a fresh browser: a report from the database, no stream.
    let fresh = driver.session(&app.url).await;
    fresh.goto(&format!("/runs/{id}")).await;
    let body = fresh
        .js(
            "var b = document.body; return [b.hasAttribute('sse-connect'), b.getAttribute('data-live'), !!document.getElementById('controls')];",
            vec![],
        )
        .await;
    assert_eq!(
        body,
        json!([false, "false", false]),
        "[sse-connect, data-live, controls]"
    );
    assert_eq!(fresh.text_of("run-state").await.as_deref(), Some("stopped"));
    // no paced class: no lag figure, and no empty "Lag p50/p99" box in the top bar
    let lag_shown = fresh
        .js(
            "var e = document.getElementById('run-lag-stat'); return !!e && getComputedStyle(e).display !== 'none';",
            vec![],
        )
        .await;
    assert_eq!(lag_shown, json!(false), "the lag box of an unpaced run");
    let report = fresh.stats().await.expect("stats table");
    assert_eq!(report.total_name, "Aggregated");
    assert_eq!(report.total, page_total, "the report shows the same count");
    fresh.click(r#".tabs a[data-tab="tab-charts"]"#).await;
    fresh
        .wait_chart_line("chart-rps", RPS_GREEN, Duration::from_secs(5))
        .await;
    fresh.assert_no_js_errors("/runs/{id} (report)").await;
    fresh.close().await;

    // What the form submitted, as the run keeps it.
    let (status, run) = app.get_json(&format!("/api/runs/{id}")).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["source"], "ui", "{run}");
    assert_eq!(run["state"], "stopped", "{run}");
    let settings = &run["settings"];
    assert_eq!(
        settings["classes"],
        json!([
            { "name": "HealthCheckUser", "weight": health_weight },
            { "name": "ReadOnlyAPIUser", "weight": 3 },
        ]),
        "{settings}"
    );
    assert_eq!(settings["users"], 4, "{settings}");
    assert_eq!(settings["spawn_rate"].as_f64(), Some(10.0), "{settings}");
    assert_eq!(settings["host"], app.target.url(), "{settings}");
    assert_eq!(
        run["summary"]["requests"].as_u64(),
        Some(page_total),
        "{run}"
    );
    drop(driver);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_changes_the_user_count_live() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = spawn_app().await;
    let id = start_api_run(&app, json!({})).await;
    let s = driver.session(&app.url).await;
    s.goto(&format!("/runs/{id}")).await;
    s.wait_text("run-users", "2", Duration::from_secs(10)).await;

    s.fill("#edit-form input[name=users]", "5").await;
    s.click("#edit-form button[type=submit]").await;
    s.wait_text("edit-status", "Updated", Duration::from_secs(5))
        .await;
    s.wait_text("run-users", "5", Duration::from_secs(10)).await;
    let (_, stats) = app.get_json(&format!("/api/runs/{id}/stats")).await;
    assert_eq!(stats["user_count"], 5, "{stats}");
    s.assert_no_js_errors("/runs/{id} (live, edited)").await;

    stop_from_page(&s).await;
    let run = app.wait_final(&id, Duration::from_secs(15)).await;
    assert_eq!(run["state"], "stopped", "{run}");
    assert_eq!(run["summary"]["peak_users"], 5, "{run}");
    s.assert_no_js_errors("/runs/{id} (stopped)").await;
    s.close().await;
    drop(driver);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_threshold_verdicts_turn_final_without_a_reload() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = spawn_app().await;
    // beside the plan's own, one threshold that holds and one that cannot (no request is
    // that fast)
    // No run time: the run goes until the test stops it, so the page is surely live first
    // (opening a browser session can take seconds on a loaded machine).
    let id = start_api_run(
        &app,
        json!({
            "classes": { "HealthCheckUser": 1 },
            "thresholds": ["error_rate<50%", "p50<0.001ms"],
        }),
    )
    .await;
    let s = driver.session(&app.url).await;
    s.goto(&format!("/runs/{id}")).await;
    let live = s
        .wait_js(
            "the live page judges the thresholds so far",
            "var t = document.getElementById('thresholds'); \
             return t && /judged so far/.test(t.textContent) && /failing|failed/.test(t.textContent) ? t.textContent : null;",
            vec![],
            Duration::from_secs(15),
        )
        .await;
    assert!(
        live.as_str().is_some_and(|t| t.contains("error_rate")),
        "{live}"
    );
    // the run ends: the same page (no reload) shows the final verdicts
    s.js("window.__same_page = true; return true;", vec![])
        .await;
    let (status, _) = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/runs/{id}/stop"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 202, "stop");
    let done = s
        .wait_js(
            "the verdicts turn final",
            "var t = document.getElementById('thresholds'); \
             return t && !/judged so far/.test(t.textContent) && document.body.getAttribute('data-live') === 'false' ? t.textContent : null;",
            vec![],
            Duration::from_secs(20),
        )
        .await;
    let text = done.as_str().unwrap_or_default().to_string();
    assert_eq!(
        s.js("return window.__same_page === true;", vec![]).await,
        json!(true),
        "the page reloaded"
    );
    let held = s
        .js(
            "return document.querySelectorAll('#thresholds .threshold-held').length;",
            vec![],
        )
        .await;
    let failed = s
        .js(
            "return document.querySelectorAll('#thresholds .threshold-failed').length;",
            vec![],
        )
        .await;
    // the demo plan's two thresholds and ours: three hold, one fails
    assert_eq!((held, failed), (json!(3), json!(1)), "{text}");
    assert!(
        text.contains("p50<0.001ms") && text.contains("failed"),
        "{text}"
    );
    let run = app.wait_final(&id, Duration::from_secs(15)).await;
    assert_eq!(run["state"], "stopped", "{run}");
    s.assert_no_js_errors("/runs/{id} (verdicts)").await;
    s.close().await;
    drop(driver);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_page_lists_runs_and_filters() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = spawn_app().await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        let id = start_api_run(&app, json!({ "run_time": "1s" })).await;
        let run = app.wait_final(&id, Duration::from_secs(15)).await;
        assert_eq!(run["state"], "stopped", "{run}");
        let requests = run["summary"]["requests"].as_u64().expect("requests");
        runs.push((id, requests));
    }
    let s = driver.session(&app.url).await;

    // Each run's row: its link and the Requests column.
    let row_js = r#"
        var a = document.querySelector('table.runs a[href="/runs/' + arguments[0] + '"]');
        if (!a) return null;
        var heads = Array.prototype.map.call(document.querySelectorAll('table.runs thead th'),
            function (th) { return th.textContent.trim(); });
        var tr = a.closest('tr');
        return { requests: tr.cells[heads.indexOf('Requests')].textContent.trim(),
                 state: tr.querySelector('.badge').textContent.trim() };
    "#;
    let check_rows = |page: &'static str| {
        let s = &s;
        let runs = &runs;
        async move {
            for (id, requests) in runs {
                let row = s.js(row_js, vec![json!(id)]).await;
                assert!(!row.is_null(), "{page} has no link to run {id}");
                assert_eq!(row["requests"], requests.to_string(), "{page}: {row}");
                assert_eq!(row["state"], "stopped", "{page}: {row}");
            }
        }
    };

    s.goto("/runs").await;
    check_rows("/runs").await;
    s.assert_no_js_errors("/runs").await;

    // Filter by state: `stopped` keeps both, `aborted` none.
    s.client
        .find(Locator::Css("#filter-form select[name=state]"))
        .await
        .expect("state filter")
        .select_by_value("stopped")
        .await
        .expect("select stopped");
    s.click("#filter-form button[type=submit]").await;
    s.wait_js(
        "the filter reloads /runs?state=stopped",
        "return new URLSearchParams(location.search).get('state') === 'stopped';",
        vec![],
        Duration::from_secs(5),
    )
    .await;
    check_rows("/runs?state=stopped").await;
    let badges = s
        .js(
            "return Array.prototype.map.call(document.querySelectorAll('table.runs .badge'), function (b) { return b.textContent.trim(); });",
            vec![],
        )
        .await;
    assert_eq!(badges, json!(["stopped", "stopped"]));
    s.assert_no_js_errors("/runs?state=stopped").await;

    s.client
        .find(Locator::Css("#filter-form select[name=state]"))
        .await
        .expect("state filter")
        .select_by_value("aborted")
        .await
        .expect("select aborted");
    s.click("#filter-form button[type=submit]").await;
    s.wait_js(
        "the filter reloads /runs?state=aborted",
        "return new URLSearchParams(location.search).get('state') === 'aborted';",
        vec![],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        s.js(
            "return document.querySelectorAll('table.runs tbody tr').length;",
            vec![]
        )
        .await,
        json!(0)
    );
    assert!(s
        .js("return document.body.textContent;", vec![])
        .await
        .as_str()
        .unwrap_or_default()
        .contains("No runs match."));

    // The start page's recent runs.
    s.goto("/").await;
    check_rows("/ (recent runs)").await;
    s.assert_no_js_errors("/ (with runs)").await;
    s.close().await;
    drop(driver);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_page_fits_a_phone_screen() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = spawn_app().await;
    let id = start_api_run(&app, json!({})).await;
    let s = driver.session(&app.url).await;
    s.client
        .set_window_size(375, 812)
        .await
        .expect("set window size");
    s.goto(&format!("/runs/{id}")).await;
    let (_, inner) = s.page_widths().await;
    assert!(inner <= 400, "the window is {inner} px wide, not a phone's");
    s.wait_stats("#stats shows requests", Duration::from_secs(10), |v| {
        v.total > 0
    })
    .await;
    s.assert_no_horizontal_scroll("/runs/{id} (live, statistics)")
        .await;
    s.click(r#".tabs a[data-tab="tab-charts"]"#).await;
    s.wait_js(
        "a chart canvas",
        "return !!document.querySelector('#chart-rps canvas');",
        vec![],
        Duration::from_secs(5),
    )
    .await;
    s.assert_no_horizontal_scroll("/runs/{id} (live, charts)")
        .await;
    s.click(r#".tabs a[data-tab="tab-config"]"#).await;
    s.assert_no_horizontal_scroll("/runs/{id} (live, configuration)")
        .await;

    let (status, _) = app
        .send_json(Method::POST, &format!("/api/runs/{id}/stop"), &json!({}))
        .await;
    assert_eq!(status, 202);
    app.wait_final(&id, Duration::from_secs(15)).await;
    s.goto(&format!("/runs/{id}")).await;
    s.assert_no_horizontal_scroll("/runs/{id} (report)").await;
    s.goto("/").await;
    s.assert_no_horizontal_scroll("/").await;
    s.goto("/runs").await;
    s.assert_no_horizontal_scroll("/runs").await;
    s.assert_no_js_errors("phone-width pages").await;
    s.close().await;
    drop(driver);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_draws_its_charts_served_and_offline_without_errors() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = spawn_app().await;
    let id = start_api_run(&app, json!({ "run_time": "3s" })).await;
    app.wait_final(&id, Duration::from_secs(20)).await;
    let path = format!("/runs/{id}/report.html");
    let body = app
        .client
        .get(app.api(&path))
        .send()
        .await
        .expect("GET report")
        .text()
        .await
        .expect("report body");
    let dir = temp_dir();
    let file = write_file(dir.path(), "report.html", &body);

    let s = driver.session(&app.url).await;
    // Served: its inline scripts run under the page's CSP by nonce.
    s.goto(&path).await;
    s.wait_chart_line("chart-rps", RPS_GREEN, Duration::from_secs(10))
        .await;
    s.assert_no_js_errors("report.html (served)").await;

    // Offline: the saved file, with the server gone.
    app.stop().await;
    s.client
        .goto(&format!("file://{}", file.display()))
        .await
        .expect("open the saved report");
    s.wait_chart_line("chart-users", USERS_BLUE, Duration::from_secs(10))
        .await;
    let rows = s
        .js(
            "return document.querySelectorAll('#statistics tbody tr').length;",
            vec![],
        )
        .await;
    assert!(rows.as_u64().unwrap_or(0) >= 1, "{rows}");
    s.assert_no_js_errors("report.html (offline file)").await;
    s.close().await;
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_curl_command_pasted_on_the_start_page_is_previewed_saved_and_offered() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = spawn_app().await;
    let s = driver.session(&app.url).await;
    s.goto("/").await;
    s.js(
        "document.getElementById('import-kind').value = 'curl';",
        vec![],
    )
    .await;
    let command = format!(
        "curl '{}/tools/70010000000000000000000000000001' -H 'Authorization: Bearer demo-token'",
        app.target.url()
    );
    s.fill("#import-content", &command).await;
    s.click("#import-preview").await;
    s.wait_text(
        "import-check",
        "hornet check: OK · secrets come from the environment: API_TOKEN",
        Duration::from_secs(10),
    )
    .await;
    let plan = s
        .js(
            "return document.getElementById('import-plan').value;",
            vec![],
        )
        .await;
    let plan = plan.as_str().unwrap_or_default();
    assert!(plan.contains("name = \"/tools/{id}\""), "{plan}");
    assert!(!plan.contains("demo-token"), "{plan}");
    let summary = s.text_of("import-summary").await.unwrap_or_default();
    assert!(summary.contains("CurlUser"), "{summary}");

    s.assert_no_js_errors("/ (import preview)").await;

    // A name the list has already: refused on the page, nothing navigates.
    s.fill("#import-file", "demo").await;
    s.click("#import-save-button").await;
    s.wait_text(
        "import-error",
        "a plan named demo.toml exists already",
        Duration::from_secs(10),
    )
    .await;
    // Chromium logs the refused request itself; nothing else may be there.
    let logged = s.js_errors().await;
    assert!(
        logged.iter().all(|e| e.contains("409 (Conflict)")),
        "{logged:#?}"
    );
    s.fill("#import-file", "pasted_curl").await;
    s.click("#import-save-button").await;
    s.wait_js(
        "the saved plan is offered and selected",
        "var p = document.getElementById('plan'); return !!p && p.value === 'pasted_curl.toml';",
        vec![],
        Duration::from_secs(10),
    )
    .await;
    s.assert_no_js_errors("/ (import saved)").await;
    s.close().await;
    drop(driver);
    let dir = app.stop().await;
    assert!(dir.plans().join("pasted_curl.toml").is_file());
}

/// A run whose `monitor` came with the API start (the app's demo target's `/metrics`, every
/// second): the run page draws the monitor charts live under the load charts, then, reloaded
/// as a stored report, draws the stored points (as many as the API gives); the HTML report
/// draws them too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_page_draws_monitor_charts_live_and_stored() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = spawn_app().await;
    let metrics = format!("{}/metrics", app.target.url());
    let id = start_api_run(
        &app,
        json!({
            "classes": { "HealthCheckUser": 1 },
            "monitor": {
                "every": "1s",
                "prometheus": [ { "name": "demo", "url": metrics, "token": "demo-token",
                                  "metrics": ["process_resident_memory_bytes"] } ],
            },
        }),
    )
    .await;
    let s = driver.session(&app.url).await;
    s.goto(&format!("/runs/{id}#tab-charts")).await;
    // live: the SSE stream's `monitor` events add the reads
    let live_points = s
        .wait_js(
            "the live page charts three monitor reads",
            "var c = document.getElementById('monitor-chart-bytes'); \
             var n = c ? parseInt(c.getAttribute('data-points'), 10) : 0; return n >= 3 ? n : null;",
            vec![],
            Duration::from_secs(20),
        )
        .await;
    assert!(live_points.as_u64().unwrap_or(0) >= 3, "{live_points}");
    s.wait_chart_line("monitor-chart-bytes", USERS_BLUE, Duration::from_secs(10))
        .await;
    let (status, _) = app
        .send_json(Method::POST, &format!("/api/runs/{id}/stop"), &json!({}))
        .await;
    assert_eq!(status, 202, "stop");
    app.wait_final(&id, Duration::from_secs(20)).await;
    let (_, stored) = app.get_json(&format!("/api/runs/{id}/monitors")).await;
    let points = stored["series"][0]["points"].as_array().map_or(0, Vec::len);
    assert_eq!(
        stored["series"][0]["name"],
        "demo.process_resident_memory_bytes"
    );
    assert!(points >= 3, "{stored}");

    // stored: the page as a report draws what the history holds (a query string: a new load,
    // not a jump within the live page)
    s.goto(&format!("/runs/{id}?stored#tab-charts")).await;
    let drawn = s
        .wait_js(
            "the stored page charts the stored reads",
            "var c = document.getElementById('monitor-chart-bytes'); \
             return c && c.querySelector('canvas') ? parseInt(c.getAttribute('data-points'), 10) : null;",
            vec![],
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(drawn.as_u64(), Some(points as u64));
    s.wait_chart_line("monitor-chart-bytes", USERS_BLUE, Duration::from_secs(10))
        .await;
    let rows = s
        .js(
            "return document.querySelectorAll('#monitor-summary tbody tr').length;",
            vec![],
        )
        .await;
    assert_eq!(rows, json!(1));
    s.assert_no_js_errors("/runs/{id} (monitors)").await;

    s.goto(&format!("/runs/{id}/report.html")).await;
    s.wait_chart_line("monitor-chart-bytes", USERS_BLUE, Duration::from_secs(10))
        .await;
    s.assert_no_js_errors("report.html (monitors)").await;
    s.close().await;
    drop(driver);
    app.stop().await;
}

/// 1, 2, then 4 users for 3 s each, without waits, on the demo target's `/capacity/50` (4
/// permits held 50 ms: 20 answers a second a user, 80 at most).
const STEPPED: &str = r#"
name = "stepped"
host = "http://127.0.0.1:1"

[[users]]
name = "U"
tasks = [ { get = "/capacity/50", name = "capped" } ]

[shapes.steps]
stages = [
  { duration = "3s", users = 1 },
  { duration = "3s", users = 2 },
  { duration = "3s", users = 4 },
]
"#;

/// The users each stage of [`STEPPED`] asks for.
const STEPPED_USERS: [u64; 3] = [1, 2, 4];

/// What the Stages section shows: each row's cells (#, span, users, running, requests, RPS,
/// p50, p95, p99, errors, state), its heading, each step's line and outcome, the breaking
/// point, and whether the table is not the one marked by `data-seen` (htmx swapped it in).
const STAGES_JS: &str = r#"
    var t = document.getElementById('stages-table');
    if (!t) return null;
    var text = function (e) { return e ? e.textContent.replace(/\s+/g, ' ').trim() : ''; };
    var rows = Array.prototype.map.call(t.tBodies[0].rows, function (r) {
        return Array.prototype.map.call(r.cells, text);
    });
    var steps = Array.prototype.map.call(document.querySelectorAll('#stage-steps li'),
        function (li) { return [text(li), text(li.querySelector('strong'))]; });
    return {
        rows: rows,
        heading: text(document.querySelector('#stages h3')),
        steps: steps,
        breaking_point: text(document.querySelector('#breaking-point strong')),
        swapped: !t.hasAttribute('data-seen'),
        live: document.body.getAttribute('data-live') === 'true',
    };
"#;

/// The RPS cell of a Stages row as a number.
fn stage_rps(row: &Value) -> f64 {
    let cell = row[5].as_str().unwrap_or_default();
    cell.parse()
        .unwrap_or_else(|_| panic!("RPS {cell:?} is not a number: {row}"))
}

/// A shaped run (three stages of 1, 2 and 4 users): the live run page's Stages table, updated
/// over SSE without a reload, shows every stage with its users and the closed ones with their
/// RPS, and the step to stage 2; when the run ends the same page turns final, and reloaded as a
/// stored report it shows the same table, whose requests, RPS, users and recoveries are the
/// API's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stages_table_updates_live_and_matches_the_api_when_stored() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = spawn_app_with_plan("stepped.toml", STEPPED).await;
    // the browser first: opening a session can take seconds, and stage 2 only lasts 3 s
    let s = driver.session(&app.url).await;
    let id = app
        .start_run(&json!({ "plan": "stepped", "host": app.target.url(), "shape": "steps" }))
        .await;
    s.goto(&format!("/runs/{id}")).await;
    // mark this page and the table it was served with: a swapped table has no mark
    let first = s
        .js(
            &format!(
                "window.__same_page = true; \
                 var t = document.getElementById('stages-table'); \
                 if (t) t.setAttribute('data-seen', '1'); {STAGES_JS}"
            ),
            vec![],
        )
        .await;
    assert!(!first.is_null(), "a live shaped run shows its Stages table");

    // live: stage 2 has closed seconds, stage 1 is over
    let live = s
        .wait_js(
            "the live Stages table shows RPS for two stages",
            &format!(
                "var v = (function () {{ {STAGES_JS} }})(); \
                 return v && v.swapped && v.live && v.rows.filter(function (r) {{ \
                   return parseFloat(r[5]) > 0; }}).length >= 2 ? v : null;"
            ),
            vec![],
            Duration::from_secs(15),
        )
        .await;
    let rows = live["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 3, "every stage, pending ones too: {live}");
    for (i, (row, users)) in rows.iter().zip(STEPPED_USERS).enumerate() {
        assert_eq!(row[0], json!((i + 1).to_string()), "{live}");
        assert_eq!(
            row[2],
            json!(if users == 1 {
                "1 user".to_string()
            } else {
                format!("{users} users")
            }),
            "{live}"
        );
    }
    assert!(
        stage_rps(&rows[0]) > 0.0 && stage_rps(&rows[1]) > 0.0,
        "{live}"
    );
    assert_eq!(rows[0][10], "closed", "{live}");
    assert!(
        live["heading"]
            .as_str()
            .is_some_and(|h| h.contains("so far")),
        "{live}"
    );
    let steps = live["steps"].as_array().expect("steps");
    assert!(
        steps
            .first()
            .and_then(|s| s[0].as_str())
            .is_some_and(|t| t.starts_with("the step to stage 2 (1 → 2 users) at 3s:")),
        "{live}"
    );

    // the run ends by itself: the same page (no reload) turns final
    let ended = s
        .wait_js(
            "the Stages table turns final without a reload",
            &format!(
                "var v = (function () {{ {STAGES_JS} }})(); \
                 return v && !v.live && !/so far/.test(v.heading) ? v : null;"
            ),
            vec![],
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(
        s.js("return window.__same_page === true;", vec![]).await,
        json!(true),
        "the page reloaded"
    );
    let run = app.wait_final(&id, Duration::from_secs(15)).await;
    assert_eq!(run["state"], "stopped", "{run}");
    let api = &run["stages"];
    assert_eq!(api["complete"], true, "{api}");
    let api_rows = api["stages"].as_array().expect("API stages");
    assert_eq!(api_rows.len(), 3, "{api}");

    // stored: a new load shows the history's table, the same as the live page's last one
    s.goto(&format!("/runs/{id}?stored")).await;
    let stored = s.js(STAGES_JS, vec![]).await;
    assert!(!stored.is_null(), "the stored run page has no Stages table");
    assert_eq!(stored["live"], false);
    for key in ["rows", "heading", "steps", "breaking_point"] {
        assert_eq!(
            stored[key], ended[key],
            "{key}: stored vs. the live page's final"
        );
    }
    let rows = stored["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 3, "{stored}");
    let mut rps = Vec::new();
    for (i, ((row, api_row), users)) in rows.iter().zip(api_rows).zip(STEPPED_USERS).enumerate() {
        let what = format!("stage {}: page {row}, API {api_row}", i + 1);
        assert_eq!(row[0], json!((i + 1).to_string()), "{what}");
        assert_eq!(api_row["target"].as_f64(), Some(users as f64), "{what}");
        assert_eq!(
            row[2],
            json!(if users == 1 {
                "1 user".to_string()
            } else {
                format!("{users} users")
            }),
            "{what}"
        );
        assert_eq!(row[10], "closed", "{what}");
        let requests = api_row["requests"].as_u64().expect("requests");
        assert!(requests > 0, "{what}");
        assert_eq!(row[4], json!(requests.to_string()), "{what}");
        let api_rps = api_row["rps"].as_f64().expect("rps");
        assert_eq!(row[5], json!(hornet::format::fmt_rps(api_rps)), "{what}");
        // 20 answers a second a user at most, 80 in all (the route's 4 permits)
        assert!(
            api_rps > 0.0 && api_rps <= 80.0 * 1.05,
            "{what}: {api_rps} req/s"
        );
        assert_eq!(
            row[9],
            json!(hornet::format::fmt_pct(
                api_row["error_rate"].as_f64().expect("error_rate")
            )),
            "{what}"
        );
        rps.push(api_rps);
    }
    // twice the users, more answers a second (the route is not full before 4 users)
    assert!(rps[0] < rps[1] && rps[1] < rps[2], "{rps:?}");
    let in_stages: u64 = api_rows
        .iter()
        .map(|r| r["requests"].as_u64().unwrap_or(0))
        .sum();
    // (Nearly) every request is in a stage, the run's last, part second's too: the shape ends
    // a few ms before its last tick, and that second once fell out of the last stage (a fifth
    // of the requests with 4 users).
    let total = aggregated_from_api(&app, &id).await;
    assert!(
        in_stages > 0 && in_stages <= total && in_stages * 100 >= total * 95,
        "{in_stages} of {total} requests in the stages"
    );

    // the recovery after each step, as the API judged it
    let api_steps = api["steps"].as_array().expect("API steps");
    let steps = stored["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2, "{stored}");
    assert_eq!(api_steps.len(), 2, "{api}");
    for (i, (step, api_step)) in steps.iter().zip(api_steps).enumerate() {
        let (from, to) = (STEPPED_USERS[i], STEPPED_USERS[i + 1]);
        let label = format!(
            "the step to stage {} ({from} → {to} users) at {}s:",
            i + 2,
            3 * (i + 1)
        );
        let line = step[0].as_str().unwrap_or_default();
        assert!(line.starts_with(&label), "{line:?} / {label:?}");
        let outcome = match api_step["outcome"].as_str() {
            Some("recovered") => format!(
                "recovered in {}",
                hornet::format::fmt_duration(api_step["seconds"].as_f64().expect("seconds"))
            ),
            Some("not_recovered") => format!(
                "not recovered within {}",
                hornet::format::fmt_duration(api_step["within_s"].as_f64().expect("within_s"))
            ),
            other => panic!("a step of an ended run is {other:?}: {api_step}"),
        };
        assert_eq!(step[1], json!(outcome), "{api_step}");
    }
    if api["breaking_point"].is_null() {
        assert_eq!(
            stored["breaking_point"],
            "no breaking point within the shape"
        );
    } else {
        let stage = api["breaking_point"]["stage"].as_u64().expect("knee stage");
        assert!(
            stored["breaking_point"]
                .as_str()
                .is_some_and(|b| b.starts_with(&format!("stage {stage}: "))),
            "{stored}"
        );
    }
    s.assert_no_js_errors("/runs/{id} (stages)").await;
    s.close().await;
    drop(driver);
    app.stop().await;
}
