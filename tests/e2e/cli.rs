//! The `hornet` binary: exit codes, the final table, JSON output, Ctrl-C.

use std::time::{Duration, Instant};

use crate::helpers::{
    free_port, hornet, hornet_run, plan_file, served, spawn_target, temp_dir, wait_served,
    write_file,
};

const HEALTH: &str = r#"
name = "health"
[[users]]
name = "Probe"
wait = "constant(10ms)"
tasks = [ { get = "/health" } ]
"#;

#[tokio::test]
async fn run_prints_the_table_writes_json_and_exits_0() {
    let target = spawn_target().await;
    let (dir, plan) = plan_file("plan.toml", HEALTH);
    let json = dir.path().join("summary.json");
    let out = hornet_run(&plan, &target.url())
        .args(["-u", "4", "-r", "40", "-t", "2s"])
        .args(["--stop-timeout", "5s", "--json"])
        .arg(&json)
        .output()
        .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Aggregated") && stdout.contains("/health"),
        "{stdout}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written"))
            .expect("valid JSON");
    let served = served(&target).await;
    let total = served["total"].as_u64().expect("total");
    assert!(total > 20);
    assert_eq!(
        summary["aggregated"]["num_requests"].as_u64(),
        Some(total),
        "{summary}"
    );
}

#[test]
fn check_points_at_the_line_of_a_typo_and_exits_2() {
    let (_dir, plan) = plan_file(
        "plan.toml",
        "name = \"typo\"\n[[users]]\nname = \"A\"\ntasks = [ { gett = \"/health\" } ]\n",
    );
    let out = hornet().arg("check").arg(&plan).output_blocking();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("plan.toml:4:"),
        "no file:line:col in {stderr}"
    );
    assert!(stderr.contains("gett"), "{stderr}");
}

#[test]
fn check_describes_a_valid_plan() {
    let out = hornet()
        .args(["check", "plans/demo.toml"])
        .output_blocking();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ReadOnlyAPIUser"), "{stdout}");
}

#[test]
fn a_dead_target_is_failures_not_a_hang() {
    let (_dir, plan) = plan_file("plan.toml", HEALTH);
    let started = Instant::now();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = hornet_run(&plan, &dead)
        .args(["-u", "2", "-r", "10", "-t", "1s"])
        .output_blocking();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(
        stdout.contains("Error report") && stdout.to_lowercase().contains("connect"),
        "{stdout}"
    );
}

#[test]
fn bad_flags_exit_2() {
    let out = hornet()
        .args(["run", "plans/demo.toml", "-t", "ten seconds"])
        .output_blocking();
    assert_eq!(out.status.code(), Some(2));
    let missing = hornet()
        .args(["run", "no/such/plan.toml"])
        .output_blocking();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no/such/plan.toml"));
}

#[tokio::test]
async fn ctrl_c_once_stops_gracefully_with_the_table_twice_aborts() {
    let target = spawn_target().await;
    let (dir, plan) = plan_file("plan.toml", HEALTH);
    let slow = write_file(
        dir.path(),
        "slow.toml",
        "[[users]]\nname = \"Slow\"\ntasks = [ { get = \"/delay/20000\" } ]\n",
    );
    let spawn = |plan: &std::path::Path, stop_timeout: &str| {
        hornet_run(plan, &target.url())
            .args(["-u", "2", "-r", "20", "-t", "60s"])
            .args(["--stop-timeout", stop_timeout])
            .spawn()
    };
    let limit = Duration::from_secs(30);
    let child = spawn(&plan, "0s");
    // Once the target has requests, the run is on and Ctrl-C is its to handle.
    wait_served(&target, 1).await;
    child.signal("INT");
    let once = child.wait(limit).await;
    // Twice: slow requests and a long stop timeout keep the graceful stop busy.
    let before = served(&target).await["total"].as_u64().unwrap_or(0);
    let child = spawn(&slow, "30s");
    wait_served(&target, before + 2).await;
    child.signal("INT");
    // Two signals close together may arrive as one: the second goes once the first is taken.
    child
        .wait_for_stderr("SIGINT: stopping", Duration::from_secs(10))
        .await;
    child.signal("INT");
    let twice = child.wait(limit).await;
    assert_eq!(
        once.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&once.stderr)
    );
    assert!(String::from_utf8_lossy(&once.stdout).contains("Aggregated"));
    assert_eq!(
        twice.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&twice.stderr)
    );
    assert!(String::from_utf8_lossy(&twice.stdout).contains("Aggregated"));
}

#[tokio::test]
async fn run_records_into_history_and_prints_its_link() {
    let target = spawn_target().await;
    let (dir, plan) = plan_file("plan.toml", HEALTH);
    let db = dir.path().join("history.db");
    let out = hornet_run(&plan, &target.url())
        .args(["-u", "2", "-r", "20", "-t", "2s"])
        .args(["--stop-timeout", "5s", "--db"])
        .arg(&db)
        .env("HORNET_BIND", "127.0.0.1:9999")
        .output()
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let at = stderr
        .find("http://127.0.0.1:9999/runs/")
        .unwrap_or_else(|| panic!("no link in {stderr}"));
    let id: String = stderr[at + "http://127.0.0.1:9999/runs/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect();
    let store = hornet::store::Store::open(&db).await.expect("db opens");
    let run = store.get_run(&id).await.expect("read").expect("run stored");
    assert_eq!(run.source, hornet::store::RunSource::Cli);
    assert_eq!(run.state, hornet::stats::snapshot::RunState::Stopped);
    assert_eq!(run.settings.users, 2);
    let stats = store.load_stats(&id).await.expect("stats");
    let total = served(&target).await["total"].as_u64().expect("total");
    assert_eq!(stats.total.expect("total row").num_requests, total);
    assert!(!stats.points.is_empty());

    // --no-history writes nothing and prints no link.
    let out = hornet_run(&plan, &target.url())
        .args(["-t", "1s", "--no-history", "--db"])
        .arg(dir.path().join("unused.db"))
        .output()
        .await;
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("/runs/"));
    assert!(!dir.path().join("unused.db").exists());
}

#[test]
fn serving_beyond_loopback_needs_a_token() {
    let dir = temp_dir();
    let out = hornet()
        .args(["serve", "--bind", "0.0.0.0:0", "--no-demo-target", "--db"])
        .arg(dir.path().join("h.db"))
        .output_blocking();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--token"), "{stderr}");
    assert!(
        !dir.path().join("h.db").exists(),
        "refused before opening anything"
    );
}

#[tokio::test]
async fn labelled_runs_are_found_again_by_label() {
    let target = spawn_target().await;
    let (dir, plan) = plan_file("plan.toml", HEALTH);
    let db = dir.path().join("labels.db");
    let mut ids = Vec::new();
    for branch in ["main", "dev", "main"] {
        let out = hornet_run(&plan, &target.url())
            .args([
                "-u",
                "1",
                "-t",
                "1s",
                "--label",
                &format!("branch={branch}"),
            ])
            .args(["--label", "ci=yes", "--db"])
            .arg(&db)
            .output()
            .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let id = stderr
            .split("run ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .expect("the run id")
            .to_string();
        ids.push(id);
    }
    // The newest passing run of branch main before the newest main run: the first one.
    let out = hornet()
        .args([
            "compare",
            "--baseline",
            "last-passing",
            "--label",
            "branch=main",
            "last",
        ])
        .arg("--db")
        .arg(&db)
        .output()
        .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with(&format!("base: {} ", ids[0])),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("\nhead: {} ", ids[2])), "{stdout}");
    // last~1 among branch=dev runs does not exist; a bad label is bad input.
    let out = hornet()
        .args(["compare", "last~1", "last", "--label", "branch=dev", "--db"])
        .arg(&db)
        .output()
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no run \"last~1\" labelled branch=dev"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = hornet_run(&plan, &target.url())
        .args(["-t", "1s", "--label", "no spaces=x", "--no-history"])
        .output()
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("label key \"no spaces\""));
}
