//! Stop requests from the operating system. SIGINT (Ctrl-C) and SIGTERM (what `docker stop`,
//! systemd and Kubernetes send) take the same path everywhere: the first stops the run
//! gracefully and every output is still written; the second aborts.
//!
//! Install the listener before anything that should be stopped cleanly starts: once installed,
//! a signal no longer kills the process but waits here for [`StopSignals::next`].

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Which signal arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    Interrupt,
    Terminate,
}

impl StopSignal {
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }
}

/// SIGINT and SIGTERM, as one stream of stop requests.
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Starts listening (needs a tokio runtime).
    pub fn install() -> io::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignals {})
        }
    }

    /// The next stop request; `None` if the listener broke (then nothing more will come).
    pub async fn next(&mut self) -> Option<StopSignal> {
        #[cfg(unix)]
        {
            tokio::select! {
                s = self.interrupt.recv() => s.map(|_| StopSignal::Interrupt),
                s = self.terminate.recv() => s.map(|_| StopSignal::Terminate),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c()
                .await
                .ok()
                .map(|_| StopSignal::Interrupt)
        }
    }
}

/// The policy every command follows, in one place: the first signal calls `stop`, a second one
/// calls `abort`. The returned flag tells whether it came to an abort (exit 3); abort the task
/// once the command is done so later signals are no longer taken.
pub fn stop_then_abort(
    mut signals: StopSignals,
    stop: impl FnOnce(StopSignal) + Send + 'static,
    abort: impl FnOnce(StopSignal) + Send + 'static,
) -> (tokio::task::JoinHandle<()>, Arc<AtomicBool>) {
    let aborted = Arc::new(AtomicBool::new(false));
    let flag = aborted.clone();
    let task = tokio::spawn(async move {
        let Some(first) = signals.next().await else {
            return;
        };
        stop(first);
        if let Some(second) = signals.next().await {
            flag.store(true, Ordering::SeqCst);
            abort(second);
        }
    });
    (task, aborted)
}
