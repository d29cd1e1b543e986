//! The one set of test helpers: the demo target and the app on ports chosen by the OS (each app
//! on its own fresh database file), the `hornet` binary as a child process, plans from text or
//! files, engine runs to their end with a hard time bound, and waits on conditions.

mod app;
mod process;
mod run;
mod wait;

use std::path::{Path, PathBuf};

use hornet::demo::{self, RunningTarget, TargetConfig};
use hornet::plan::Plan;
use hornet::stats::snapshot::{Snapshot, StatsRow};

pub(crate) use app::{
    cookie_pair, get_json, login, no_redirects, spawn_app, spawn_app_in, spawn_app_with_plan,
    start_run_at, AppDir, TestApp,
};
pub(crate) use process::{hornet, hornet_run, serve_process, Hornet, Running};
pub(crate) use run::{
    cut_at_stop, launch_refused, only_classes, run_cfg, run_to_end, shape_cfg, start_refused,
    start_run, wait_run_end, with_users,
};
pub(crate) use wait::{wait_until, wait_until_blocking, whole_lines};

/// The demo target in-process on a loopback port chosen by the OS.
pub(crate) async fn spawn_target() -> RunningTarget {
    spawn_target_with(TargetConfig::default()).await
}

pub(crate) async fn spawn_target_with(cfg: TargetConfig) -> RunningTarget {
    hornet::telemetry::init_for_tests();
    demo::spawn("127.0.0.1:0", cfg)
        .await
        .expect("demo target binds a loopback port")
}

pub(crate) fn plan(text: &str) -> Plan {
    hornet::plan::parse_str(text, "test.toml", None)
        .unwrap_or_else(|e| panic!("test plan invalid:\n{e}"))
}

pub(crate) fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Writes `contents` (a plan, a CSV) to `dir/name`, creating folders on the way; returns the
/// path.
pub(crate) fn write_file(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create the file's folder");
    }
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// A plan (or any file) `name` with `text` in a fresh temp dir: the dir (keep it alive) and
/// the file's path.
pub(crate) fn plan_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = temp_dir();
    let path = write_file(dir.path(), name, text);
    (dir, path)
}

/// A request to the demo target's `path` with its bearer token.
pub(crate) fn authed(
    target: &RunningTarget,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}{path}", target.url()))
        .bearer_auth("demo-token")
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

/// Waits until the demo target has counted at least `n` requests in all (it counts a request
/// when it arrives, before answering it).
pub(crate) async fn wait_served(target: &RunningTarget, n: u64) -> serde_json::Value {
    wait_until(
        &format!("the target has counted {n} requests"),
        std::time::Duration::from_secs(15),
        async || {
            let stats = served(target).await;
            if stats["total"].as_u64() >= Some(n) {
                Ok(stats)
            } else {
                Err(stats)
            }
        },
    )
    .await
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

/// A loopback port with nothing listening on it (when this returns: another process may take
/// it before the caller binds it).
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}
