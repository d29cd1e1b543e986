//! The one shape every step kind (http, rpc, sse, ws) has: what preparing a step reads
//! ([`PrepareCtx`]), the error it may fail with ([`PrepareError`]), what executing it borrows
//! from its user ([`StepCtx`]) and the [`Sample`] it records. Nothing here sends or parses; the
//! step kinds import this file, never the other way round.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::http_client::{OriginInfo, UserHttp};
use crate::engine::fanout::Topics;
use crate::engine::vars::Vars;
use crate::plan::model::{Defaults, NameId, Step};
use crate::stats::recorder::Recorder;
use crate::stats::sample::Sample;

/// What preparing any step reads besides the step itself: the plan's defaults, the run's base
/// origin and the variables known before the first user (for rendering static parts once).
pub struct PrepareCtx<'a> {
    pub defaults: &'a Defaults,
    pub base: &'a Arc<OriginInfo>,
    pub vars: &'a Vars,
    /// The run's fan-out boards (this process's), for `publish`/`subscribe` steps.
    pub topics: &'a Topics,
}

impl PrepareCtx<'_> {
    /// The step's timeout, else the plan's default.
    pub(crate) fn timeout(&self, step: &Step) -> Duration {
        step.timeout.unwrap_or(self.defaults.timeout)
    }
}

/// A problem found while preparing a step (an invalid header name, a bad host).
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct PrepareError {
    pub location: String,
    pub message: String,
}

impl PrepareError {
    pub(crate) fn at(step: &Step, message: String) -> PrepareError {
        PrepareError {
            location: step.location.clone(),
            message,
        }
    }

    /// The statistics row of a request step (validation gives every request step one).
    pub(crate) fn row(step: &Step) -> Result<NameId, PrepareError> {
        step.name.ok_or_else(|| {
            PrepareError::at(
                step,
                "internal: a request step without a statistics row".into(),
            )
        })
    }
}

/// What a step borrows from its user while it runs: the user's HTTP client (connection,
/// cookies, MCP session), its variables (templates read them, captures write them) and its
/// sample buffer.
pub struct StepCtx<'a> {
    pub http: &'a mut UserHttp,
    pub vars: &'a mut Vars,
    pub rec: &'a mut Recorder,
    /// How late this iteration started against its intended (paced) start, for the
    /// coordinated-omission-corrected twin; None when the user is not paced.
    pub lag: Option<Duration>,
    /// The user's stop deadline (its stop, the run's end or a ramp-down, plus the stop
    /// timeout): a long stream step (sse, a ws stream) ends soon after it, keeping its
    /// figures; request steps ignore it (they are cut off).
    pub stop: &'a CancellationToken,
}

impl StepCtx<'_> {
    /// Records that request `name` failed after `elapsed` without a usable response (no bytes,
    /// no status) with `message`, at `at`; returns the step's result, false.
    pub fn fail(&mut self, name: NameId, elapsed: Duration, message: String, at: Instant) -> bool {
        let failed = sample(name, elapsed, self.lag, 0, false);
        self.rec.record_failure(failed, message, at);
        false
    }
}

/// One sample of a step. `lag` (see [`StepCtx::lag`]) makes the corrected latency; the rows
/// measured inside a stream or a socket pass None.
pub(crate) fn sample(
    name: NameId,
    elapsed: Duration,
    lag: Option<Duration>,
    bytes: u64,
    ok: bool,
) -> Sample {
    let latency_us = micros(elapsed);
    Sample {
        name,
        latency_us,
        corrected_us: lag.map_or(0, |lag| micros(elapsed + lag).max(1)),
        bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
        end_ms: 0,
        status: 0,
        ok,
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}
