//! What a virtual user records per request: small `Copy` values, no strings on the success path.

use crate::plan::model::NameId;

/// One finished request (or stream phase).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub name: NameId,
    /// Measured from the actual send to the end of the response, in microseconds.
    pub latency_us: u32,
    /// Measured from the intended start (paced or open-model requests), in microseconds;
    /// 0 when the request had no intended start (then only `latency_us` is recorded).
    pub corrected_us: u32,
    /// Response size in bytes (body), saturating.
    pub bytes: u32,
    pub ok: bool,
}

/// The message of a failed sample, grouped later by (name, error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub name: NameId,
    pub error: String,
}

/// What a user's recorder hands to the aggregator at once.
#[derive(Debug, Default)]
pub struct Batch {
    pub samples: Vec<Sample>,
    pub failures: Vec<Failure>,
    /// How late each paced or open-model start woke up against its intended instant (the
    /// generator's own scheduling lag), in microseconds.
    pub lags_us: Vec<u32>,
    /// Open-model starts dropped because every user was busy (k6's dropped_iterations).
    pub dropped: u64,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
            && self.failures.is_empty()
            && self.lags_us.is_empty()
            && self.dropped == 0
    }
}
