//! `--local-agents N`: N `hornet agent` processes of this same binary on this machine, dialling
//! this process over loopback (Locust's `--processes`). They are killed when this is dropped;
//! on their own they stop within 10 s of losing this process (their watchdog).

use std::net::SocketAddr;
use std::process::Stdio;

use tokio::process::{Child, Command};

pub struct LocalAgents {
    children: Vec<Child>,
}

impl LocalAgents {
    /// Starts agents 0..n of `n`, dialling the coordinator listening on `addr`.
    pub fn spawn(n: u32, addr: SocketAddr, token: &str) -> std::io::Result<LocalAgents> {
        let exe = std::env::current_exe()?;
        let host = if addr.ip().is_unspecified() {
            format!("127.0.0.1:{}", addr.port())
        } else {
            addr.to_string()
        };
        let coordinator = format!("ws://{host}/api/agents");
        let mut children = Vec::with_capacity(n as usize);
        for index in 0..n {
            let child = Command::new(&exe)
                .arg("agent")
                .args(["--coordinator", &coordinator])
                .args(["--index", &index.to_string()])
                .args(["--count", &n.to_string()])
                .env("HORNET_AGENT_TOKEN", token)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()?;
            children.push(child);
        }
        Ok(LocalAgents { children })
    }

    /// The agents' process ids.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().filter_map(Child::id).collect()
    }

    /// Waits up to `grace` for the agents to exit (they do once this process closes their
    /// connection), then kills the rest.
    pub async fn finish(mut self, grace: std::time::Duration) {
        let all = futures_util::future::join_all(self.children.iter_mut().map(Child::wait));
        if tokio::time::timeout(grace, all).await.is_err() {
            for child in &mut self.children {
                let _ = child.start_kill();
            }
        }
    }
}
