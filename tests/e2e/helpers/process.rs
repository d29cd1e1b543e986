//! The `hornet` binary as a child process: one runner for every test that runs the CLI.

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::wait::{wait_until, wait_until_blocking};

/// `hornet ARGS...` with its own history database (a fresh temp file: runs are recorded by
/// default, and each command keeps its own) and no `HORNET_*` setting from the environment.
pub(crate) struct Hornet {
    cmd: Command,
    home: tempfile::TempDir,
}

pub(crate) fn hornet() -> Hornet {
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hornet"));
    // No `HORNET_*` setting of the shell that runs the tests leaks into a test.
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("HORNET_") {
            cmd.env_remove(var);
        }
    }
    cmd.env("HORNET_DB", home.path().join("hornet.db"));
    Hornet { cmd, home }
}

/// `hornet run PLAN -H HOST`, to add flags to.
pub(crate) fn hornet_run(plan: &Path, host: &str) -> Hornet {
    hornet().arg("run").arg(plan).args(["-H", host])
}

impl Hornet {
    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Hornet {
        self.cmd.arg(arg);
        self
    }

    pub(crate) fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Hornet {
        self.cmd.args(args);
        self
    }

    pub(crate) fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Hornet {
        self.cmd.env(key, value);
        self
    }

    /// Runs to the end on this thread (for a `#[test]`).
    pub(crate) fn output_blocking(mut self) -> Output {
        let out = self.cmd.output().expect("hornet runs");
        drop(self.home);
        out
    }

    /// Runs to the end off the async runtime (the test's target and app keep serving).
    pub(crate) async fn output(self) -> Output {
        tokio::task::spawn_blocking(move || self.output_blocking())
            .await
            .expect("join")
    }

    /// Starts it with stdout and stderr read as they come (a full pipe never blocks it).
    pub(crate) fn spawn(mut self) -> Running {
        let mut child = self
            .cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hornet starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            drain(child.stdout.take().expect("stdout"), stdout.clone()),
            drain(child.stderr.take().expect("stderr"), stderr.clone()),
        ];
        Running {
            child,
            stdout,
            stderr,
            readers,
            _home: self.home,
        }
    }
}

fn drain(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            into.lock()
                .expect("pipe buffer")
                .extend_from_slice(&buf[..n]);
        }
    })
}

/// A `hornet` child started by [`Hornet::spawn`]; killed on drop if the test did not wait
/// for it (a failed test leaves no process behind).
pub(crate) struct Running {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    _home: tempfile::TempDir,
}

impl Running {
    /// `kill -NAME` (INT, TERM, KILL) to the child.
    pub(crate) fn signal(&self, name: &str) {
        let pid = self.child.id();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {pid}");
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it has written to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr")).into_owned()
    }

    /// Waits until its stderr says `text`.
    pub(crate) async fn wait_for_stderr(&self, text: &str, limit: Duration) {
        wait_until(&format!("stderr says {text:?}"), limit, async || {
            let said = self.stderr();
            if said.contains(text) {
                Ok(())
            } else {
                Err(said)
            }
        })
        .await
    }

    /// The URL it printed (`hornet serve`: "Hornet is running: open http://...").
    pub(crate) async fn url(&self) -> String {
        self.wait_for_stderr("http://", Duration::from_secs(30))
            .await;
        let said = self.stderr();
        let at = said.find("http://").expect("a URL");
        said[at..]
            .split_whitespace()
            .next()
            .expect("a URL")
            .to_string()
    }

    /// Waits for it to exit and returns what it wrote; kills it and fails after `limit` (a
    /// hung stop path fails the test instead of hanging the suite).
    pub(crate) async fn wait(mut self, limit: Duration) -> Output {
        let pid = self.child.id();
        let exited = wait_until(&format!("hornet {pid} exits"), limit, async || {
            match self.child.try_wait().expect("try_wait") {
                Some(status) => Ok(status),
                None => Err("still running"),
            }
        })
        .await;
        let readers = std::mem::take(&mut self.readers);
        tokio::task::spawn_blocking(move || {
            for reader in readers {
                reader.join().expect("pipe reader");
            }
        })
        .await
        .expect("join");
        let take = |buf: &Arc<Mutex<Vec<u8>>>| std::mem::take(&mut *buf.lock().expect("pipe"));
        Output {
            status: exited,
            stdout: take(&self.stdout),
            stderr: take(&self.stderr),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Best effort while a failed test unwinds: it may have exited since `try_wait`.
            let _ = self.child.kill();
            // Reap it: the kill cannot fail to end it, so this wait is short.
            wait_until_blocking(
                "a killed child exits",
                Duration::from_secs(10),
                || match self.child.try_wait() {
                    Ok(None) => Err("still running"),
                    _ => Ok(()),
                },
            );
        }
    }
}

/// `hornet serve` on a loopback port chosen by the OS, on `db` and `plans`, without its own
/// demo target; returns the process and its URL once it listens.
pub(crate) async fn serve_process(db: &Path, plans: &Path) -> (Running, String) {
    let server = hornet()
        .args(["serve", "--bind", "127.0.0.1:0", "--no-demo-target"])
        .arg("--db")
        .arg(db)
        .arg("--plans")
        .arg(plans)
        .spawn();
    let url = server.url().await;
    (server, url)
}
