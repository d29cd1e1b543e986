//! The engine's wall clock: the one place that reads the system time for run timestamps
//! (monotonic time is `tokio::time::Instant`, passed as arguments to the pure parts).

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the system clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
