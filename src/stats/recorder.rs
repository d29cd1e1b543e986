//! A virtual user's own sample buffer. Recording is a push into a local `Vec`; the buffer goes
//! to the aggregator as one batch every `MAX_AGE` or `MAX_SAMPLES`, with `try_send`: no lock and
//! no channel operation per request. If the channel is full the batch is kept and grows.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::sample::{Batch, Failure, FanoutCounts, Sample, SseDelivery, WsDelivery};
use crate::plan::model::NameId;

/// Flush after this many samples...
const MAX_SAMPLES: usize = 512;
/// ...or when the oldest unsent sample is this old (keeps the per-second series honest).
const MAX_AGE: Duration = Duration::from_millis(100);

pub struct Recorder {
    tx: mpsc::Sender<Batch>,
    batch: Batch,
    oldest: Option<Instant>,
    /// The run's start: samples are stamped with their end relative to it.
    epoch: Instant,
    user: u32,
}

impl Recorder {
    pub fn new(tx: mpsc::Sender<Batch>) -> Self {
        Recorder {
            tx,
            batch: Batch::default(),
            oldest: None,
            epoch: Instant::now(),
            user: 0,
        }
    }

    /// Who records (the user's slot) and since when (the run's start).
    pub fn with_identity(mut self, user: u32, epoch: Instant) -> Self {
        self.user = user;
        self.batch.user = user;
        self.epoch = epoch;
        self
    }

    /// The run's start, which samples are stamped from.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    pub fn record(&mut self, mut sample: Sample, now: Instant) {
        sample.end_ms = self.stamp(now);
        self.batch.samples.push(sample);
        self.after_push(now);
    }

    /// Records a failed sample and the message it failed with.
    pub fn record_failure(&mut self, mut sample: Sample, error: String, now: Instant) {
        debug_assert!(!sample.ok);
        sample.end_ms = self.stamp(now);
        self.batch.failures.push(Failure {
            name: sample.name,
            error,
        });
        self.batch.samples.push(sample);
        self.after_push(now);
    }

    #[inline]
    fn stamp(&self, now: Instant) -> u32 {
        // u64 arithmetic (Duration::as_millis goes through u128); runs once per request.
        let d = now.saturating_duration_since(self.epoch);
        u32::try_from(d.as_secs() * 1000 + u64::from(d.subsec_millis())).unwrap_or(u32::MAX)
    }

    /// Records how late a paced or scheduled start woke up (the generator's own lag).
    pub fn record_lag(&mut self, lag: Duration, now: Instant) {
        let us = u32::try_from(lag.as_micros()).unwrap_or(u32::MAX);
        self.batch.lags_us.push(us);
        self.after_push(now);
    }

    /// Counts a request cut off by the end of the run (no response, so no sample).
    pub fn record_cancelled(&mut self, now: Instant) {
        self.batch.cancelled += 1;
        self.after_push(now);
    }

    /// Adds WebSocket delivery counts to `name`'s row.
    pub fn record_ws(&mut self, name: NameId, counts: WsDelivery, now: Instant) {
        if counts.is_zero() {
            return;
        }
        match self.batch.ws.last_mut() {
            Some((last, c)) if *last == name => c.add(counts),
            _ => self.batch.ws.push((name, counts)),
        }
        self.after_push(now);
    }

    /// Adds SSE stream counts to `name`'s row (consecutive counts of one row add into one entry).
    pub fn record_sse(&mut self, name: NameId, counts: SseDelivery, now: Instant) {
        if counts.is_zero() {
            return;
        }
        match self.batch.sse.last_mut() {
            Some((last, c)) if *last == name => c.add(counts),
            _ => self.batch.sse.push((name, counts)),
        }
        self.after_push(now);
    }

    /// Counts a task iteration skipped because a variable it `requires` had no value.
    pub fn record_skipped(&mut self, now: Instant) {
        self.batch.skipped += 1;
        self.after_push(now);
    }

    /// Adds fan-out counts to a topic's row (consecutive counts of one row add into one entry).
    pub fn record_fanout(&mut self, name: NameId, counts: FanoutCounts, now: Instant) {
        if counts.is_zero() {
            return;
        }
        match self.batch.fanout.last_mut() {
            Some((last, c)) if *last == name => c.add(counts),
            _ => self.batch.fanout.push((name, counts)),
        }
        self.after_push(now);
    }

    /// Counts an open-model start that found every user busy.
    pub fn record_dropped(&mut self, now: Instant) {
        self.batch.dropped += 1;
        self.after_push(now);
    }

    fn after_push(&mut self, now: Instant) {
        let oldest = *self.oldest.get_or_insert(now);
        let len = self.batch.samples.len() + self.batch.lags_us.len();
        if len >= MAX_SAMPLES || now.duration_since(oldest) >= MAX_AGE {
            self.flush();
        }
    }

    fn empty(&self) -> Batch {
        Batch {
            user: self.user,
            ..Batch::default()
        }
    }

    /// Whether samples are waiting to be sent (a user about to sleep should flush them).
    pub fn has_pending(&self) -> bool {
        !self.batch.is_empty()
    }

    /// Hands the pending batch to the aggregator if the channel has room; keeps it otherwise.
    pub fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let empty = self.empty();
        let batch = std::mem::replace(&mut self.batch, empty);
        match self.tx.try_send(batch) {
            Ok(()) => self.oldest = None,
            Err(mpsc::error::TrySendError::Full(batch)) => self.batch = batch,
            // The run is gone: nobody will read these samples.
            Err(mpsc::error::TrySendError::Closed(_)) => self.oldest = None,
        }
    }

    /// Sends whatever is pending, waiting for room: used once when the user ends, so that no
    /// sample is lost to a full channel.
    pub async fn finish(mut self) {
        let empty = self.empty();
        let batch = std::mem::replace(&mut self.batch, empty);
        if !batch.is_empty() {
            // An Err means the aggregator is gone; nothing is left to count into.
            let _ = self.tx.send(batch).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ok: bool) -> Sample {
        Sample {
            name: NameId(0),
            latency_us: 100,
            corrected_us: 0,
            bytes: 10,
            end_ms: 0,
            status: 200,
            ok,
        }
    }

    #[test]
    fn batches_instead_of_sending_per_sample() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut rec = Recorder::new(tx);
        let t0 = Instant::now();
        for _ in 0..10 {
            rec.record(sample(true), t0);
        }
        assert!(
            rx.try_recv().is_err(),
            "nothing sent before the batch is due"
        );
        rec.record(sample(true), t0 + MAX_AGE);
        let batch = rx.try_recv().expect("a batch after MAX_AGE");
        assert_eq!(batch.samples.len(), 11);
        assert!(!rec.has_pending());
    }

    #[test]
    fn stamps_samples_and_batches_with_time_and_user() {
        let (tx, mut rx) = mpsc::channel(8);
        let t0 = Instant::now();
        let mut rec = Recorder::new(tx).with_identity(7, t0);
        rec.record(sample(true), t0 + Duration::from_millis(1_234));
        rec.record_failure(sample(false), "x".into(), t0 + Duration::from_millis(1_500));
        rec.flush();
        let batch = rx.try_recv().expect("a batch");
        assert_eq!(batch.user, 7);
        let ends: Vec<u32> = batch.samples.iter().map(|s| s.end_ms).collect();
        assert_eq!(ends, [1_234, 1_500]);
        rec.record(sample(true), t0);
        rec.flush();
        assert_eq!(rx.try_recv().map(|b| b.user).ok(), Some(7));
    }

    #[test]
    fn ws_counts_of_a_row_add_into_one_entry() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut rec = Recorder::new(tx);
        let t0 = Instant::now();
        let c = |sent, received, lost| WsDelivery {
            sent,
            received,
            lost,
            cut: 0,
        };
        rec.record_ws(NameId(3), c(5, 4, 1), t0);
        rec.record_ws(NameId(3), c(2, 2, 0), t0);
        rec.record_ws(NameId(1), c(1, 1, 0), t0);
        rec.record_ws(NameId(1), WsDelivery::default(), t0);
        rec.flush();
        let batch = rx.try_recv().expect("a batch");
        assert_eq!(batch.ws, [(NameId(3), c(7, 6, 1)), (NameId(1), c(1, 1, 0))]);
    }

    #[test]
    fn keeps_the_batch_when_the_channel_is_full() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut rec = Recorder::new(tx);
        let t0 = Instant::now();
        for _ in 0..MAX_SAMPLES {
            rec.record(sample(true), t0);
        }
        // the channel now holds one batch; the next one must stay with the user
        for _ in 0..MAX_SAMPLES {
            rec.record(sample(true), t0);
        }
        rec.record_failure(sample(false), "boom".into(), t0);
        assert!(rec.has_pending());
        assert_eq!(
            rx.try_recv().map(|b| b.samples.len()).ok(),
            Some(MAX_SAMPLES)
        );
        rec.flush();
        let kept = rx.try_recv().expect("kept batch sent once there is room");
        assert_eq!(kept.samples.len(), MAX_SAMPLES + 1);
        assert_eq!(kept.failures.len(), 1);
    }
}
