//! Shared test helpers: the demo target on a port chosen by the OS, plans from text, runs to
//! their end with a hard time bound.

use std::sync::Arc;
use std::time::Duration;

use hornet::engine::{self, RunConfig};
use hornet::plan::Plan;
use hornet::stats::snapshot::{Snapshot, StatsRow};
use hornet::target::{self, RunningTarget, TargetConfig};

pub(crate) async fn spawn_target() -> RunningTarget {
    hornet::telemetry::init_for_tests();
    target::spawn("127.0.0.1:0", TargetConfig::default())
        .await
        .expect("demo target binds a loopback port")
}

pub(crate) fn plan(text: &str) -> Plan {
    hornet::plan::parse_str(text, "test.toml", None)
        .unwrap_or_else(|e| panic!("test plan invalid:\n{e}"))
}

/// Runs `plan` to its end; panics if it does not end within `limit`.
pub(crate) async fn run_to_end(plan: &Plan, cfg: RunConfig, limit: Duration) -> Arc<Snapshot> {
    let (_handle, done) = engine::start(plan, cfg).expect("run starts");
    tokio::time::timeout(limit, done.wait())
        .await
        .expect("run ends in time")
        .expect("run completes")
        .snapshot
}

/// The demo target's own count of requests per "METHOD /route".
pub(crate) async fn served(target: &RunningTarget) -> serde_json::Value {
    reqwest::get(format!("{}/__stats", target.url()))
        .await
        .expect("GET /__stats")
        .json()
        .await
        .expect("/__stats is JSON")
}

pub(crate) fn served_count(stats: &serde_json::Value, route: &str) -> u64 {
    stats["routes"][route].as_u64().unwrap_or(0)
}

pub(crate) fn row<'a>(snapshot: &'a Snapshot, method: &str, name: &str) -> &'a StatsRow {
    snapshot
        .rows
        .iter()
        .find(|r| r.method == method && r.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no row {method} {name} in {:?}",
                snapshot
                    .rows
                    .iter()
                    .map(|r| (&r.method, &r.name))
                    .collect::<Vec<_>>()
            )
        })
}

/// A loopback port with nothing listening on it.
pub(crate) fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

/// A Hornet server on a loopback port chosen by the OS, with a fresh database file, an empty
/// plans directory (so the built-in demo plan is offered) and its own demo target.
pub(crate) struct TestApp {
    pub(crate) url: String,
    pub(crate) db: std::path::PathBuf,
    pub(crate) target: RunningTarget,
    pub(crate) client: reqwest::Client,
    stop: tokio_util::sync::CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

pub(crate) async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("hornet.db");
    let plans = dir.path().join("plans");
    std::fs::create_dir_all(&plans).expect("plans dir");
    spawn_app_on(dir, db, plans).await
}

pub(crate) async fn spawn_app_on(
    dir: tempfile::TempDir,
    db: std::path::PathBuf,
    plans: std::path::PathBuf,
) -> TestApp {
    let target = spawn_target().await;
    let settings = hornet::config::Settings {
        bind: "127.0.0.1:0".into(),
        db: db.clone(),
        plans: plans.clone(),
        no_demo_target: true,
        ..hornet::config::Settings::default()
    };
    let app = hornet::app::Application::build(settings)
        .await
        .expect("application builds");
    let url = app.url();
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(app.run_until_stopped(stop.clone()));
    TestApp {
        url,
        db,
        target,
        client: reqwest::Client::new(),
        stop,
        task: Some(task),
        _dir: dir,
    }
}

impl TestApp {
    pub(crate) fn api(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    pub(crate) async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self.client.get(self.api(path)).send().await.expect("GET");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub(crate) async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let resp = self
            .client
            .request(method, self.api(path))
            .json(body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Polls the run until its state is final; panics after `limit`.
    pub(crate) async fn wait_final(&self, id: &str, limit: Duration) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let (status, run) = self.get_json(&format!("/api/runs/{id}")).await;
            assert_eq!(status, 200, "{run}");
            let state = run["state"].as_str().unwrap_or_default().to_string();
            if (state == "stopped" || state == "aborted") && run["live"] == false {
                return run;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {id} still {state} after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops the server (live runs are stopped and recorded first) and its target.
    pub(crate) async fn stop(mut self) -> tempfile::TempDir {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("server stops in time")
                .expect("server task")
                .expect("server ran");
        }
        std::mem::replace(&mut self._dir, tempfile::tempdir().expect("tempdir"))
    }
}
