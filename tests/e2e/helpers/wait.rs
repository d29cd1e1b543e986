//! Waiting on a condition, never on the clock: poll until the probe says yes, and on timeout
//! fail naming what was awaited and what was seen instead.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// How often a condition is polled: often enough that a test ends soon after its condition
/// holds, rarely enough that polling costs nothing on a busy 2-core machine.
const POLL: Duration = Duration::from_millis(50);

/// Polls `probe` until it returns `Ok(value)` and returns that value; panics after `limit` with
/// `what` and the last `Err` (what was seen instead).
pub(crate) async fn wait_until<T, E: Display>(
    what: &str,
    limit: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(seen) => assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not after {limit:?} (last seen: {seen})"
            ),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`wait_until`] for code off the async runtime (a `#[test]`, `Drop`, `spawn_blocking`).
pub(crate) fn wait_until_blocking<T, E: Display>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "{what}: not after {limit:?} (last seen: {seen})"
            ),
        }
        std::thread::sleep(POLL);
    }
}

/// The number of whole lines (ending in `\n`) in the file at `path` so far; 0 before it exists.
/// For polling a file another process is still streaming (its last line may be half written).
pub(crate) fn whole_lines(path: &std::path::Path) -> usize {
    std::fs::read(path)
        .map(|bytes| bytes.iter().filter(|b| **b == b'\n').count())
        .unwrap_or(0)
}
