//! The app in-process on a loopback port chosen by the OS, each on its own folder: a fresh
//! database file, a plans directory, and its own demo target.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hornet::config::Settings;
use hornet::demo::RunningTarget;
use tokio_util::sync::CancellationToken;

use super::{spawn_target, wait_until, write_file};

/// An app's folder: `hornet.db` and `plans/` (empty: the built-in demo plan is offered).
pub(crate) struct AppDir(tempfile::TempDir);

impl AppDir {
    pub(crate) fn new() -> AppDir {
        let dir = AppDir(super::temp_dir());
        std::fs::create_dir_all(dir.plans()).expect("plans dir");
        dir
    }

    /// Adds `plans/file` with `text`.
    pub(crate) fn with_plan(self, file: &str, text: &str) -> AppDir {
        write_file(&self.plans(), file, text);
        self
    }

    pub(crate) fn path(&self) -> &Path {
        self.0.path()
    }

    pub(crate) fn db(&self) -> PathBuf {
        self.path().join("hornet.db")
    }

    pub(crate) fn plans(&self) -> PathBuf {
        self.path().join("plans")
    }
}

/// A Hornet server with its demo target, serving until [`TestApp::stop`].
pub(crate) struct TestApp {
    pub(crate) url: String,
    pub(crate) addr: SocketAddr,
    pub(crate) db: PathBuf,
    pub(crate) target: RunningTarget,
    pub(crate) client: reqwest::Client,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    dir: AppDir,
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_in(AppDir::new(), |_| {}).await
}

/// An app whose plans directory holds `file` with `text` (listed before the built-in demo).
pub(crate) async fn spawn_app_with_plan(file: &str, text: &str) -> TestApp {
    spawn_app_in(AppDir::new().with_plan(file, text), |_| {}).await
}

/// An app on `dir` (a new one, or one a stopped app handed back), with `settings` changed by
/// `tweak` (a token, shorter limits).
pub(crate) async fn spawn_app_in(dir: AppDir, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let target = spawn_target().await;
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        db: dir.db(),
        plans: dir.plans(),
        no_demo_target: true,
        ..Settings::default()
    };
    tweak(&mut settings);
    let app = hornet::app::Application::build(settings)
        .await
        .expect("application builds");
    let (url, addr) = (app.url(), app.addr());
    let stop = CancellationToken::new();
    let task = tokio::spawn(app.run_until_stopped(stop.clone()));
    TestApp {
        url,
        addr,
        db: dir.db(),
        target,
        client: reqwest::Client::new(),
        stop,
        task,
        dir,
    }
}

impl TestApp {
    pub(crate) fn api(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    pub(crate) async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        get_json(&self.client, &self.api(path)).await
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

    /// `POST /api/runs` with `body`; asserts 201 and returns the run's id.
    pub(crate) async fn start_run(&self, body: &serde_json::Value) -> String {
        start_run_at(&self.client, &self.url, body).await
    }

    /// The run's live or stored statistics (`GET /api/runs/{id}/stats`, asserted 200).
    pub(crate) async fn run_stats(&self, id: &str) -> serde_json::Value {
        let (status, stats) = self.get_json(&format!("/api/runs/{id}/stats")).await;
        assert_eq!(status, 200, "{stats}");
        stats
    }

    /// Polls `GET path` until `done` holds for its JSON; panics after `limit` with `what`.
    pub(crate) async fn wait_json(
        &self,
        what: &str,
        path: &str,
        limit: Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        wait_until(what, limit, async || {
            let (status, body) = self.get_json(path).await;
            assert_eq!(status, 200, "GET {path}: {body}");
            if done(&body) {
                Ok(body)
            } else {
                Err(body)
            }
        })
        .await
    }

    /// Polls the run until its state is final; panics after `limit`.
    pub(crate) async fn wait_final(&self, id: &str, limit: Duration) -> serde_json::Value {
        self.wait_json(
            &format!("run {id} ends"),
            &format!("/api/runs/{id}"),
            limit,
            |run| (run["state"] == "stopped" || run["state"] == "aborted") && run["live"] == false,
        )
        .await
    }

    /// Stops the server (live runs are stopped and recorded first) and its target; hands back
    /// the folder, to open the database or start the app again on it.
    pub(crate) async fn stop(self) -> AppDir {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("server stops in time")
            .expect("server task")
            .expect("server ran");
        self.dir
    }
}

/// `GET url`: the status and the JSON body (null when it is not JSON).
pub(crate) async fn get_json(client: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    let resp = client.get(url).send().await.expect("GET");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// `POST /api/runs` with `body` to the server at `url` (in-process or a `hornet serve`);
/// asserts 201 and returns the run's id.
pub(crate) async fn start_run_at(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> String {
    let resp = client
        .post(format!("{url}/api/runs"))
        .json(body)
        .send()
        .await
        .expect("POST /api/runs");
    let status = resp.status().as_u16();
    let started: serde_json::Value = resp.json().await.unwrap_or_default();
    assert_eq!(status, 201, "{body} -> {started}");
    started["id"].as_str().expect("id").to_string()
}

/// A client that shows redirects instead of following them (the login form answers 303).
pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// Posts the login form of the app at `url` with `token`; returns the status and the
/// `Set-Cookie` it answered with, if any.
pub(crate) async fn login(
    client: &reqwest::Client,
    url: &str,
    token: &str,
) -> (u16, Option<String>) {
    let resp = client
        .post(format!("{url}/login"))
        .form(&[("token", token)])
        .send()
        .await
        .expect("POST /login");
    let cookie = resp
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().expect("an ASCII cookie").to_string());
    (resp.status().as_u16(), cookie)
}

/// The `name=value` of a `Set-Cookie`, as a browser sends it back.
pub(crate) fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().expect("a cookie").to_string()
}
