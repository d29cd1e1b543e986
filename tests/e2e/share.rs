//! One run split over several engines in this process (what `hornet agent`s will run): the
//! users, the class mix and the open-model starts of the shares add up to the whole run.

use std::time::Duration;

use hornet::share::Share;

use crate::helpers::{
    plan, row, run_cfg, served, served_count, shape_cfg, spawn_target, start_run, wait_run_end,
    wait_until,
};

const CLASSES: &str = r#"
[[users]]
name = "Reader"
weight = 3
wait = "constant(100ms)"
tasks = [ { get = "/health" } ]

[[users]]
name = "Writer"
weight = 1
wait = "constant(100ms)"
tasks = [ { get = "/version" } ]
"#;

#[tokio::test]
async fn three_shares_run_the_users_and_class_mix_of_one_process() {
    let target = spawn_target().await;
    let plan = plan(CLASSES);
    let mut runs = Vec::new();
    for i in 0..3 {
        let mut cfg = run_cfg(target.url(), 8, Duration::from_secs(2));
        cfg.share = Some(Share::new(i, 3).expect("a share"));
        runs.push(start_run(&plan, cfg).await);
    }
    // Users 0..8 of the whole sequence are dealt 0,3,6 / 1,4,7 / 2,5: 3 + 3 + 2.
    let users = wait_until("every share at its users", Duration::from_secs(10), || {
        let counts: Vec<u32> = runs
            .iter()
            .map(|(h, _)| h.snapshots().borrow().users)
            .collect();
        async move {
            if counts == [3, 3, 2] {
                Ok(counts)
            } else {
                Err(format!("{counts:?}"))
            }
        }
    })
    .await;
    assert_eq!(users.iter().sum::<u32>(), 8);
    let mut requests = (0, 0);
    for (_, done) in runs {
        let s = wait_run_end(done, Duration::from_secs(30)).await.snapshot;
        assert_eq!(s.total.num_failures, 0);
        requests.0 += s
            .rows
            .iter()
            .find(|r| r.name == "/health")
            .map_or(0, |r| r.num_requests);
        requests.1 += s
            .rows
            .iter()
            .find(|r| r.name == "/version")
            .map_or(0, |r| r.num_requests);
    }
    // Every request is counted once, by the share that made it.
    let stats = served(&target).await;
    assert_eq!(requests.0, served_count(&stats, "GET /health"));
    assert_eq!(requests.1, served_count(&stats, "GET /version"));
    // 6 Readers and 2 Writers in all (Locust's 3:1 of 8), as in one process: about 3:1.
    let ratio = requests.0 as f64 / requests.1.max(1) as f64;
    assert!((2.4..=3.6).contains(&ratio), "{requests:?}");
}

#[tokio::test]
async fn open_model_starts_are_dealt_and_add_up() {
    let target = spawn_target().await;
    let plan = plan(
        r#"
[[users]]
name = "Probe"
tasks = [ { get = "/health" } ]

[shapes.open]
arrival = [ { duration = "2s", rate = 150 } ]
max_users = 30
"#,
    );
    let mut runs = Vec::new();
    for i in 0..3 {
        let mut cfg = shape_cfg(target.url(), "open");
        cfg.share = Some(Share::new(i, 3).expect("a share"));
        runs.push(start_run(&plan, cfg).await);
    }
    let mut total = 0;
    for (_, done) in runs {
        let s = wait_run_end(done, Duration::from_secs(30)).await.snapshot;
        let made = row(&s, "GET", "/health").num_requests + s.dropped;
        // 300 starts on the grid, 100 each (the last may still be in flight at the end).
        assert!((98..=100).contains(&made), "{made} starts in one share");
        total += made;
    }
    assert!((297..=300).contains(&total), "{total} starts in all");
}

#[tokio::test]
async fn a_live_edit_is_dealt_the_same_way() {
    let target = spawn_target().await;
    let plan = plan(CLASSES);
    let mut runs = Vec::new();
    for i in 0..3 {
        let mut cfg = run_cfg(target.url(), 2, None);
        cfg.share = Some(Share::new(i, 3).expect("a share"));
        runs.push(start_run(&plan, cfg).await);
    }
    // Every agent is told the whole run's new count; each runs its part of it.
    for (handle, _) in &runs {
        handle.set_users(11, Some(100.0)).await.expect("edit");
    }
    let users = |runs: &Vec<(hornet::engine::RunHandle, _)>| -> Vec<u32> {
        runs.iter()
            .map(|(h, _)| h.snapshots().borrow().users)
            .collect()
    };
    let grown = wait_until("11 users dealt 4 + 4 + 3", Duration::from_secs(10), || {
        let now = users(&runs);
        async move {
            (now == [4, 4, 3])
                .then_some(now.clone())
                .ok_or(format!("{now:?}"))
        }
    })
    .await;
    assert_eq!(grown.iter().sum::<u32>(), 11);
    for (handle, _) in &runs {
        handle.set_users(4, None).await.expect("edit");
    }
    wait_until("4 users dealt 2 + 1 + 1", Duration::from_secs(10), || {
        let now = users(&runs);
        async move { (now == [2, 1, 1]).then_some(()).ok_or(format!("{now:?}")) }
    })
    .await;
    for (handle, done) in runs {
        handle.stop();
        wait_run_end(done, Duration::from_secs(30)).await;
    }
}
