//! A memory leak on purpose, for monitor tests and demos: `POST /__leak?bytes_per_s=N` makes the
//! target keep N more bytes every second (every page written, so its resident memory really
//! grows), `POST /__leak?stop` stops and frees them. `GET /metrics` reports the bytes kept as
//! `demo_leaked_bytes` and the process's resident memory. Nothing here is on a request's path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{json_error, TargetState};

/// The most a leak keeps (the machine running tests must survive it).
const MAX_LEAK_BYTES: u64 = 1 << 30;
/// How often the leak grows (by a tenth of its rate).
const STEP: Duration = Duration::from_millis(100);

/// The leak: its rate (0: none) and what it keeps.
#[derive(Default)]
pub(crate) struct Leak {
    bytes_per_s: AtomicU64,
    /// A std mutex: the growing task and `stop` hold it for one push or one clear.
    kept: Mutex<Vec<Vec<u8>>>,
    kept_bytes: AtomicU64,
    /// Bumped by every start and stop, so an older growing task ends.
    generation: AtomicU64,
}

impl Leak {
    pub(crate) fn kept_bytes(&self) -> u64 {
        self.kept_bytes.load(Ordering::Relaxed)
    }

    fn stop(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.bytes_per_s.store(0, Ordering::Relaxed);
        self.kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.kept_bytes.store(0, Ordering::Relaxed);
    }

    fn grow(&self, bytes: u64) {
        let room = MAX_LEAK_BYTES.saturating_sub(self.kept_bytes());
        let n = bytes.min(room) as usize;
        if n == 0 {
            return;
        }
        // written, not just allocated: untouched pages are not resident
        let block = vec![0xA5u8; n];
        self.kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(block);
        self.kept_bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

#[derive(Deserialize)]
pub(crate) struct LeakQuery {
    bytes_per_s: Option<u64>,
    stop: Option<String>,
}

/// `POST /__leak?bytes_per_s=N` (starts or changes the leak) or `POST /__leak?stop`.
pub(crate) async fn leak(
    State(state): State<TargetState>,
    query: Result<Query<LeakQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bytes_per_s=N (a whole number) or stop is required",
        );
    };
    let leak: Arc<Leak> = state.leak.clone();
    if q.stop.is_some() {
        leak.stop();
        return Json(json!({ "leaking_bytes_per_s": 0, "kept_bytes": 0 })).into_response();
    }
    let Some(rate) = q.bytes_per_s.filter(|r| *r > 0) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bytes_per_s=N (a whole number > 0) or stop is required",
        );
    };
    let generation = leak.generation.fetch_add(1, Ordering::Relaxed) + 1;
    leak.bytes_per_s.store(rate, Ordering::Relaxed);
    let shutdown = state.shutdown.clone();
    let grower = leak.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(STEP);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            if grower.generation.load(Ordering::Relaxed) != generation {
                return;
            }
            grower.grow(grower.bytes_per_s.load(Ordering::Relaxed) / 10);
        }
    });
    Json(json!({ "leaking_bytes_per_s": rate, "kept_bytes": leak.kept_bytes() })).into_response()
}

/// This process's resident memory from `/proc/self/statm` (pages × 4 KiB); 0 off Linux.
pub(crate) fn resident_bytes() -> u64 {
    const PAGE: u64 = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * PAGE)
}
