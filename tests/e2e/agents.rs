//! One run on several `hornet agent` processes (`hornet run --local-agents N`), against the demo
//! target: the merged statistics are exactly those of all the agents' samples, the target's
//! own count agrees, the agents start together, `once` rows are used once across agents, and
//! faults (a lost agent, a lost coordinator, a wrong token, another version) lose nothing.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hornet::stats::histogram::LatencyHistogram;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{
    free_port, get_json, hornet, hornet_run, plan_file, served, spawn_target, start_run_at,
    temp_dir, wait_served, wait_until, write_file,
};

/// Parses `--json -` output (the last JSON document on stdout).
fn summary(out: &std::process::Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let start = stdout
        .find("{\n")
        .unwrap_or_else(|| panic!("no JSON in {stdout}"));
    serde_json::from_str(&stdout[start..]).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The sample logs the agents wrote (`HORNET_SAMPLE_LOG` = PREFIX, one file PREFIX.INDEX each):
/// per agent, (latency µs, start Unix ms) of each sample.
fn sample_logs(prefix: &Path, agents: u32) -> Vec<Vec<(u64, i64)>> {
    (0..agents)
        .map(|i| {
            let path = format!("{}.{i}", prefix.display());
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            text.lines()
                .map(|line| {
                    let f: Vec<&str> = line.split(' ').collect();
                    (f[1].parse().expect("latency"), f[4].parse().expect("start"))
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn three_local_agents_merge_exactly_what_they_measured() {
    let target = spawn_target().await;
    let (dir, plan) = plan_file(
        "agents.toml",
        r#"
name = "agents"
host = "http://127.0.0.1:1"
[[users]]
name = "U"
wait = "constant(5ms)"
tasks = [ { get = "/delay/1", weight = 2 }, { get = "/delay/4" }, { get = "/health" } ]
"#,
    );
    let log = dir.path().join("samples");
    let out = hornet_run(&plan, &target.url())
        .args(["-u", "6", "-r", "100", "-t", "3s", "--local-agents", "3"])
        // In-flight requests finish at the end: every request the target saw is a sample.
        .args(["--stop-timeout", "2s"])
        .args(["--json", "-", "--no-history"])
        .env("HORNET_SAMPLE_LOG", &log)
        .output()
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = summary(&out);
    let logs = sample_logs(&log, 3);
    let mut union = LatencyHistogram::new();
    for agent in &logs {
        assert!(
            agent.len() > 50,
            "each agent ran its two users: {}",
            agent.len()
        );
        for &(us, _) in agent {
            union.record(us);
        }
    }
    // Every request the target saw was counted once, and only once.
    let requests = s["aggregated"]["num_requests"].as_u64().expect("requests");
    let per_agent: Vec<usize> = logs.iter().map(Vec::len).collect();
    assert_eq!(
        requests,
        union.count(),
        "logged {per_agent:?}; agents said {}; target {}",
        s["agents"],
        served(&target).await
    );
    let cancelled = s["cancelled"].as_u64().expect("cancelled");
    assert_eq!(
        served(&target).await["total"].as_u64(),
        Some(requests + cancelled),
        "{requests} requests + {cancelled} cancelled; {}",
        stderr(&out)
    );
    // The merged percentiles are the HDR histogram of the union of the agents' samples.
    let p = union.percentiles(&[0.5, 0.99, 0.999]);
    let got = &s["aggregated"]["percentiles"];
    for (key, us) in [("p50", p[0]), ("p99", p[1]), ("p999", p[2])] {
        assert_eq!(got[key].as_f64(), Some(us as f64 / 1000.0), "{key}: {got}");
    }
    // Users 0..6 dealt over 3 agents: two each; every agent reported.
    let agents = s["agents"].as_array().expect("agents in the summary");
    assert_eq!(agents.len(), 3);
    for a in agents {
        assert_eq!(a["state"], "ended", "{a}");
    }
    let total: u64 = agents
        .iter()
        .map(|a| a["requests"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(total, requests);
    // One start barrier: every agent's first request begins at the instant the coordinator
    // sent, within a few ms (one clock on loopback; the log's milliseconds round either way,
    // and an agent's clock offset is estimated within half its hello's round trip). The bounds
    // leave room for a loaded machine: -3 ms and 69 ms were seen under compilers.
    let said = stderr(&out);
    let t0: i64 = said
        .lines()
        .find_map(|l| l.split("the run starts at ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no start instant in {said}"));
    for (i, log) in logs.iter().enumerate() {
        let first = log.iter().map(|&(_, start)| start).min().expect("a sample");
        assert!(
            (-10..=150).contains(&(first - t0)),
            "agent {i}'s first request began {} ms after t0",
            first - t0
        );
    }
}

#[tokio::test]
async fn once_rows_are_each_used_once_across_agents() {
    let target = spawn_target().await;
    let values: Vec<String> = (1..=40).map(|i| format!("\"{i}\"")).collect();
    let (_dir, plan) = plan_file(
        "once.toml",
        &format!(
            r#"
name = "once"
host = "http://127.0.0.1:1"
[data.ids]
values = [{}]
order = "once"
[[users]]
name = "U"
wait = "constant(10ms)"
tasks = [ {{ get = "/echo?id={{{{ ids.value }}}}", name = "/echo" }} ]
"#,
            values.join(", ")
        ),
    );
    let out = hornet_run(&plan, &target.url())
        .args(["-u", "5", "-r", "50", "-t", "30s", "--local-agents", "3"])
        .args(["--json", "-", "--no-history"])
        .output()
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = summary(&out);
    // 40 rows dealt 14 + 13 + 13: each agent's users stop when its rows run out, and the run
    // ends by itself long before its 30 s.
    assert_eq!(s["aggregated"]["num_requests"], 40, "{}", stderr(&out));
    assert!(s["elapsed_s"].as_f64() < Some(20.0), "{}", s["elapsed_s"]);
    let stats = served(&target).await;
    assert_eq!(stats["total"].as_u64(), Some(40), "{stats}");
}

#[tokio::test]
async fn an_arrival_rate_is_dealt_over_agents_and_adds_up() {
    let target = spawn_target().await;
    let (_dir, plan) = plan_file(
        "rate.toml",
        r#"
name = "rate"
host = "http://127.0.0.1:1"
[[users]]
name = "U"
tasks = [ { get = "/health" } ]
[shapes.steady]
arrival = [ { duration = "4s", rate = 300 } ]
max_users = 60
"#,
    );
    let out = hornet_run(&plan, &target.url())
        .args(["--shape", "steady", "--local-agents", "3"])
        .args(["--json", "-", "--no-history"])
        .output()
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = summary(&out);
    let requests = s["aggregated"]["num_requests"].as_u64().expect("requests");
    let dropped = s["dropped"].as_u64().expect("dropped");
    // 300/s for 4 s over three agents: 1 200 starts in all, within 2 % (a start finding its
    // agent's 20 users busy on a loaded machine is dropped, and said).
    assert!(dropped <= 12, "{dropped} starts dropped");
    assert!(
        (1176..=1224).contains(&(requests + dropped)),
        "{requests} requests + {dropped} dropped for 300/s x 4 s"
    );
    let cancelled = s["cancelled"].as_u64().expect("cancelled");
    assert_eq!(
        served(&target).await["total"].as_u64(),
        Some(requests + cancelled)
    );
}

/// The pids of `parent`'s children.
fn children_of(parent: u32) -> Vec<u32> {
    let out = Command::new("ps")
        .args(["-o", "pid=", "--ppid", &parent.to_string()])
        .output()
        .expect("ps runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn kill9(pid: u32) {
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -KILL {pid}");
}

const STEADY: &str = r#"
name = "steady"
host = "http://127.0.0.1:1"
[[users]]
name = "U"
wait = "constant(20ms)"
tasks = [ { get = "/health" } ]
"#;

#[tokio::test]
async fn a_lost_agent_degrades_the_run_which_goes_on() {
    let target = spawn_target().await;
    let (_dir, plan) = plan_file("steady.toml", STEADY);
    let run = hornet_run(&plan, &target.url())
        .args(["-u", "3", "-r", "30", "-t", "6s", "--local-agents", "3"])
        .args(["--json", "-", "--no-history", "--fail-on-degraded"])
        .spawn();
    wait_served(&target, 20).await;
    let agents = wait_until(
        "three agents running",
        Duration::from_secs(10),
        async || {
            let pids = children_of(run.pid());
            if pids.len() == 3 {
                Ok(pids)
            } else {
                Err(format!("{pids:?}"))
            }
        },
    )
    .await;
    // The agents were started in index order: the second is agent 1.
    kill9(agents[1]);
    let out = run.wait(Duration::from_secs(40)).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "--fail-on-degraded: {stderr}");
    assert!(
        stderr.contains("the run was degraded: agent(s) 1 lost"),
        "{stderr}"
    );
    let s = summary(&out);
    assert_eq!(s["state"], "stopped", "the run went on to its end");
    let lost = &s["agents"][1];
    assert_eq!(lost["state"], "lost", "{lost}");
    assert!(lost["lost_at_s"].as_f64() > Some(0.0), "{lost}");
    let warnings = s["warnings"].to_string();
    assert!(
        warnings.contains("degraded: agent 1") && warnings.contains("missing from"),
        "{warnings}"
    );
    // The others ran to the end: requests kept coming after the loss.
    assert_eq!(s["agents"][0]["state"], "ended");
    assert_eq!(s["agents"][2]["state"], "ended");
    assert!(s["elapsed_s"].as_f64() >= Some(5.0), "{}", s["elapsed_s"]);
}

#[tokio::test]
async fn a_killed_coordinator_stops_all_load_within_ten_seconds() {
    let target = spawn_target().await;
    let (_dir, plan) = plan_file("steady.toml", STEADY);
    let run = hornet_run(&plan, &target.url())
        .args(["-u", "2", "-r", "20", "-t", "60s", "--local-agents", "2"])
        .arg("--no-history")
        .spawn();
    wait_served(&target, 20).await;
    let agents = children_of(run.pid());
    assert_eq!(agents.len(), 2, "{agents:?}");
    run.signal("KILL");
    let count = async || served(&target).await["total"].as_u64().unwrap_or(0);
    // Within 10 s the count stops growing: every agent stopped its load.
    let settled = wait_until("the load stopped", Duration::from_secs(10), async || {
        let before = count().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = count().await;
        if after == before {
            Ok(after)
        } else {
            Err(format!("{before} -> {after}"))
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        count().await,
        settled,
        "load resumed after the coordinator died"
    );
    // The agents exited by themselves.
    wait_until("the agents exited", Duration::from_secs(10), async || {
        let alive: Vec<&u32> = agents
            .iter()
            .filter(|p| Path::new(&format!("/proc/{p}")).exists() && !is_zombie(**p))
            .collect();
        if alive.is_empty() {
            Ok(())
        } else {
            Err(format!("{alive:?}"))
        }
    })
    .await;
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

#[tokio::test]
async fn wrong_tokens_other_versions_and_missing_agents_are_refused_by_name() {
    let target = spawn_target().await;
    let (_dir, plan) = plan_file("steady.toml", STEADY);
    let port = free_port();
    let coordinator = hornet_run(&plan, &target.url())
        .args(["-u", "2", "-t", "2s", "--agents", "2", "--agent-wait", "6s"])
        .args(["--agent-token", "right-token", "--no-history"])
        .args(["--agent-bind", &format!("127.0.0.1:{port}")])
        .spawn();
    let url = format!("ws://127.0.0.1:{port}/api/agents");
    coordinator
        .wait_for_stderr("waiting for 2 agent(s)", Duration::from_secs(10))
        .await;
    // A wrong token: 401 before any upgrade; the agent exits 2 saying so.
    let wrong = hornet()
        .args([
            "agent",
            "--coordinator",
            &url,
            "--token",
            "wrong",
            "--index",
            "0",
        ])
        .args(["--count", "2"])
        .output()
        .await;
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("the coordinator answered HTTP 401"),
        "{}",
        stderr(&wrong)
    );
    // Another Hornet version: refused after the hello, naming both versions.
    let mut request = url.as_str().into_client_request().expect("request");
    request.headers_mut().insert(
        "authorization",
        "Bearer right-token".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the socket opens");
    let hello = serde_json::json!({
        "type": "hello", "version": "0.0.1", "protocol": 1,
        "histogram": { "lowest_us": 1, "highest_us": 3_600_000_000u64, "significant_digits": 3 },
        "index": 0, "count": 2, "sent_unix_ms": 0
    });
    socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .expect("hello sent");
    let answer = loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => break text.to_string(),
            Some(Ok(_)) => continue,
            other => panic!("no answer: {other:?}"),
        }
    };
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(answer["type"], "refused", "{answer}");
    let reason = answer["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("agent 0 runs Hornet 0.0.1") && reason.contains(env!("CARGO_PKG_VERSION")),
        "{reason}"
    );
    // One good agent of two: after --agent-wait the start fails naming the missing index.
    let one = hornet()
        .args([
            "agent",
            "--coordinator",
            &url,
            "--token",
            "right-token",
            "--index",
            "0",
        ])
        .args(["--count", "2"])
        .spawn();
    let out = coordinator.wait(Duration::from_secs(30)).await;
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("waited 6 s for 2 agents: missing index(es) 1; connected: 0"),
        "{said}"
    );
    // The lone agent is let go when the coordinator exits.
    let agent = one.wait(Duration::from_secs(15)).await;
    assert_eq!(agent.status.code(), Some(0), "{}", stderr(&agent));
}

#[tokio::test]
async fn serve_runs_on_its_local_agents_and_a_stop_reaches_them_within_a_second() {
    let target = spawn_target().await;
    let dir = temp_dir();
    write_file(&dir.path().join("plans"), "steady.toml", STEADY);
    let server = hornet()
        .args(["serve", "--bind", "127.0.0.1:0", "--no-demo-target"])
        .args(["--local-agents", "2"])
        .arg("--db")
        .arg(dir.path().join("hornet.db"))
        .arg("--plans")
        .arg(dir.path().join("plans"))
        .spawn();
    let url = server.url().await;
    let client = reqwest::Client::new();
    // The start form offers the agents once both are waiting.
    wait_until("two agents waiting", Duration::from_secs(20), async || {
        let page = client
            .get(format!("{url}/"))
            .send()
            .await
            .expect("GET /")
            .text()
            .await
            .expect("a page");
        if page.contains("2 waiting") {
            Ok(())
        } else {
            Err("not yet")
        }
    })
    .await;
    let body = serde_json::json!({
        "plan": "steady.toml", "host": target.url(), "users": 4, "spawn_rate": 100, "agents": 2
    });
    let id = start_run_at(&client, &url, &body).await;
    let stats = wait_until("merged seconds", Duration::from_secs(20), async || {
        let (_, stats) = get_json(&client, &format!("{url}/api/runs/{id}/stats")).await;
        if stats["aggregated"]["num_requests"].as_u64() > Some(0) {
            Ok(stats)
        } else {
            Err(stats)
        }
    })
    .await;
    let agents = stats["agents"].as_array().expect("agents");
    assert_eq!(agents.len(), 2, "{stats}");
    // A live edit is split like the start: 4 users are 2 + 2, 7 are 4 + 3.
    wait_until("2 + 2 users", Duration::from_secs(10), async || {
        let (_, s) = get_json(&client, &format!("{url}/api/runs/{id}/stats")).await;
        let users: Vec<u64> = s["agents"].as_array().map_or(Vec::new(), |a| {
            a.iter().filter_map(|a| a["users"].as_u64()).collect()
        });
        if users == [2, 2] {
            Ok(())
        } else {
            Err(format!("{users:?}"))
        }
    })
    .await;
    let edit = client
        .patch(format!("{url}/api/runs/{id}"))
        .json(&serde_json::json!({ "users": 7, "spawn_rate": 100 }))
        .send()
        .await
        .expect("PATCH");
    assert!(edit.status().is_success(), "{}", edit.status());
    wait_until("4 + 3 users", Duration::from_secs(10), async || {
        let (_, s) = get_json(&client, &format!("{url}/api/runs/{id}/stats")).await;
        let users: Vec<u64> = s["agents"].as_array().map_or(Vec::new(), |a| {
            a.iter().filter_map(|a| a["users"].as_u64()).collect()
        });
        if users == [4, 3] && s["user_count"] == 7 {
            Ok(())
        } else {
            Err(s)
        }
    })
    .await;
    let resp = client
        .post(format!("{url}/api/runs/{id}/stop"))
        .send()
        .await
        .expect("stop");
    assert!(resp.status().is_success(), "{}", resp.status());
    // Within a second every agent has stopped sending.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_stop = served(&target).await["total"].as_u64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(served(&target).await["total"].as_u64(), after_stop);
    let run = wait_until("the run is recorded", Duration::from_secs(20), async || {
        let (_, run) = get_json(&client, &format!("{url}/api/runs/{id}")).await;
        if run["state"] == "stopped" && run["live"] == false {
            Ok(run)
        } else {
            Err(run)
        }
    })
    .await;
    assert_eq!(run["settings"]["agents"], 2, "{run}");
    assert_eq!(
        run["summary"]["agents"].as_array().map(Vec::len),
        Some(2),
        "{run}"
    );
    // The coordinator stored each merged second: together they are the run's total.
    let store = hornet::store::Store::open(&dir.path().join("hornet.db"))
        .await
        .expect("store");
    let all = store
        .merge_seconds(&id, 0..u64::MAX, hornet::stats::seconds::RowSelector::Total)
        .await
        .expect("merge");
    assert_eq!(
        Some(all.requests),
        run["summary"]["requests"].as_u64(),
        "{run}"
    );
    assert_eq!(
        Some(all.failures),
        run["summary"]["failures"].as_u64(),
        "{run}"
    );
    let page = client
        .get(format!("{url}/runs/{id}"))
        .send()
        .await
        .expect("GET run page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("id=\"tab-agents\"") && page.contains("agent-ended"),
        "{page}"
    );
    // A second run on the same agents: they came back after the first.
    let again = start_run_at(
        &client,
        &url,
        &serde_json::json!({
            "plan": "steady.toml", "host": target.url(), "users": 2, "run_time": "2s", "agents": 2
        }),
    )
    .await;
    let (_, bad) = {
        let resp = client
            .post(format!("{url}/api/runs"))
            .json(&serde_json::json!({ "plan": "steady.toml", "agents": -1 }))
            .send()
            .await
            .expect("POST");
        (
            resp.status().as_u16(),
            resp.json::<serde_json::Value>().await.unwrap_or_default(),
        )
    };
    assert!(bad.to_string().contains("agents"), "{bad}");
    wait_until("the second run ends", Duration::from_secs(30), async || {
        let (_, run) = get_json(&client, &format!("{url}/api/runs/{again}")).await;
        if run["state"] == "stopped" && run["live"] == false {
            Ok(())
        } else {
            Err(run)
        }
    })
    .await;
    drop(server);
}

#[tokio::test]
async fn setup_runs_once_on_the_coordinator_and_every_agent_uses_its_captures() {
    let target = spawn_target().await;
    let (_dir, plan) = plan_file(
        "setup.toml",
        r#"
name = "setup"
host = "http://127.0.0.1:1"
setup = [ { get = "/__stats", name = "setup", check.status = 200, capture.setup_ms = "json:$.total" } ]
[[users]]
name = "U"
wait = "constant(20ms)"
tasks = [ { get = "/delay/{{ setup_ms }}", name = "/delay" } ]
"#,
    );
    // `setup_ms` exists only as setup's capture (the target's count then: 0): without it on
    // the agents every request would fail to render.
    let out = hornet_run(&plan, &target.url())
        .args(["-u", "3", "-r", "30", "-t", "2s", "--local-agents", "3"])
        .args(["--json", "-", "--no-history", "--stop-timeout", "2s"])
        .output()
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = summary(&out);
    let rows = s["requests"].as_array().expect("rows");
    let count = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .and_then(|r| r["num_requests"].as_u64())
    };
    assert_eq!(
        count("setup"),
        Some(1),
        "setup ran once, on the coordinator: {rows:?}"
    );
    assert!(count("/delay") > Some(30), "{rows:?}");
    assert_eq!(s["aggregated"]["num_failures"], 0, "{}", s["failures"]);
    let stats = served(&target).await;
    assert_eq!(
        stats["routes"]["GET /delay/{ms}"].as_u64(),
        count("/delay"),
        "{stats}"
    );
}
