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
