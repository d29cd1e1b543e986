//! A full disk, for real: a 2 MiB tmpfs holding the history database and the outputs. The run
//! keeps measuring, says "history write failed: no space left", never locks itself, ends on
//! time, leaves whole JTL lines, and the next run works once there is space again.
//!
//! Mounting needs root (CI here runs as root); elsewhere the test says why it is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::helpers::{hornet_run, spawn_target, temp_dir, write_file};

const PLAN: &str = r#"
[[users]]
name = "Quick"
wait = "constant(2ms)"
tasks = [ { get = "/health" } ]
"#;

/// A tmpfs of `size` mounted on a fresh directory; unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Result<SmallDisk, String> {
        let dir = temp_dir();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(SmallDisk { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let umounted = Command::new("umount").arg(self.dir.path()).status();
        // Not while a failed test unwinds: a second panic would abort the whole suite.
        if !std::thread::panicking() {
            assert!(
                umounted.as_ref().is_ok_and(|s| s.success()),
                "umount {}: {umounted:?}",
                self.dir.path().display()
            );
        }
    }
}

fn fill(path: &Path, bytes: usize) {
    std::fs::write(path, vec![0u8; bytes]).expect("filler written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_warns_keeps_measuring_ends_on_time_and_the_next_run_works() {
    // Mounting is a privilege of the machine, not a tool CI can install: without it the test
    // says so, and bench/reliability.sh (section 6) is the way to see the figures.
    let disk = match SmallDisk::mount("2m") {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!(
                "skipped: cannot mount a small tmpfs ({why}); run as root to test a full disk"
            );
            return;
        }
    };
    let target = spawn_target().await;
    let work = temp_dir();
    let plan = write_file(work.path(), "quick.toml", PLAN);
    let db = disk.path("hornet.db");
    let jtl = disk.path("results.jtl");
    let filler = disk.path("filler");
    // leave ~250 KiB: the database opens (its migrations, monitors' 0004 too, go through the
    // WAL first), then the history and the JTL run out of room
    fill(&filler, 1_800 * 1024);
    let run = async |jtl: Option<&Path>| {
        let mut cmd = hornet_run(&plan, &target.url())
            .args(["-u", "10", "-r", "100", "-t", "5s"])
            .args(["--stop-timeout", "2s", "--json", "-"])
            .arg("--db")
            .arg(&db);
        if let Some(jtl) = jtl {
            cmd = cmd.arg("--jtl").arg(jtl);
        }
        let started = Instant::now();
        let out = cmd.output().await;
        (out, started.elapsed())
    };
    let (out, took) = run(Some(&jtl)).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("history write failed: no space left on device"),
        "{stderr}"
    );
    assert!(!stderr.contains("database is locked"), "{stderr}");
    // a 5 s run with a 2 s stop timeout; the old lock-up made it take minutes
    assert!(took < Duration::from_secs(20), "took {took:?}: {stderr}");
    assert!(
        stderr.contains("writing"),
        "the JTL error is said: {stderr}"
    );
    // measuring went on: the summary counts far more requests than the JTL could hold
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let requests = summary["aggregated"]["num_requests"].as_u64().unwrap_or(0);
    let text = std::fs::read_to_string(&jtl).expect("jtl");
    assert!(text.ends_with('\n'), "the JTL ends on a whole line");
    let lines = text.lines().count() as u64;
    assert!(requests > lines, "{requests} requests, {lines} JTL lines");
    assert_eq!(
        out.status.code(),
        Some(1),
        "an output was not written: {stderr}"
    );

    // space is back: the next run records normally
    std::fs::remove_file(&filler).expect("filler removed");
    let (out, _) = run(None).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("history write failed"), "{stderr}");
    let store = hornet::store::Store::open(&db).await.expect("db opens");
    let runs = store
        .list_runs(&hornet::store::RunFilter::default())
        .await
        .expect("list");
    let newest = runs.first().expect("the second run is recorded");
    assert_eq!(newest.state, hornet::stats::snapshot::RunState::Stopped);
    assert!(newest.summary.as_ref().is_some_and(|s| s.requests > 0));
    store.close().await;
}
