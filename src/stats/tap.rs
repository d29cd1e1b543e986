//! A copy of every sample batch for outputs that need each sample (the JTL file), handed over
//! by the run actor after the users already sent the batch: users never see it. The channel is
//! bounded and never waited on: when the consumer (a disk) falls behind, the batch's samples are
//! counted as lost instead, and the run says so at the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::sample::{Batch, Failure, Sample};

/// Batches in flight to the consumer (each up to a few hundred samples).
pub const TAP_CHANNEL: usize = 1024;

/// One user's batch with what a per-sample line needs besides the samples.
#[derive(Debug)]
pub struct TapBatch {
    pub samples: Vec<Sample>,
    /// One per failed sample, in the same order.
    pub failures: Vec<Failure>,
    /// The user's class and its slot in spawn order (0-based).
    pub class: Arc<str>,
    pub user: u32,
    /// Users running when the batch arrived.
    pub users: u32,
    /// The run's start (ms since the Unix epoch); samples' `end_ms` count from it.
    pub started_unix_ms: i64,
}

/// The sending side, given to `engine::launch` beside the run request; cheap to clone. One tap
/// may feed several consumers ([`SampleTap::joined`]), each with its own channel and loss count.
#[derive(Clone, Debug)]
pub struct SampleTap {
    outs: Vec<TapOut>,
}

#[derive(Clone, Debug)]
struct TapOut {
    tx: mpsc::Sender<TapBatch>,
    lost: Arc<AtomicU64>,
}

/// Counts what the tap could not hand over; kept by whoever reports at the end.
#[derive(Clone, Debug, Default)]
pub struct TapLoss(Arc<AtomicU64>);

impl TapLoss {
    pub fn samples(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl SampleTap {
    pub fn channel(capacity: usize) -> (SampleTap, TapLoss, mpsc::Receiver<TapBatch>) {
        let (tx, rx) = mpsc::channel(capacity);
        let lost = Arc::new(AtomicU64::new(0));
        (
            SampleTap {
                outs: vec![TapOut {
                    tx,
                    lost: lost.clone(),
                }],
            },
            TapLoss(lost),
            rx,
        )
    }

    /// One tap that copies every batch to the consumers of both.
    pub fn joined(mut self, other: SampleTap) -> SampleTap {
        self.outs.extend(other.outs);
        self
    }

    /// Copies `batch` to each consumer that has room; counts its samples as lost for the others.
    pub fn offer(&self, batch: &Batch, class: &Arc<str>, users: u32, started_unix_ms: i64) {
        if batch.samples.is_empty() {
            return;
        }
        for out in &self.outs {
            let copy = TapBatch {
                samples: batch.samples.clone(),
                failures: batch.failures.clone(),
                class: class.clone(),
                user: batch.user,
                users,
                started_unix_ms,
            };
            if out.tx.try_send(copy).is_err() {
                out.lost
                    .fetch_add(batch.samples.len() as u64, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::model::NameId;

    fn batch(n: usize) -> Batch {
        let s = Sample {
            name: NameId(0),
            latency_us: 1,
            corrected_us: 0,
            bytes: 0,
            end_ms: 0,
            status: 200,
            ok: true,
        };
        Batch {
            samples: vec![s; n],
            user: 3,
            ..Batch::default()
        }
    }

    #[test]
    fn a_full_channel_counts_lost_samples_and_never_waits() {
        let (tap, loss, mut rx) = SampleTap::channel(1);
        let class: Arc<str> = Arc::from("Reader");
        tap.offer(&batch(5), &class, 2, 1_000);
        tap.offer(&batch(7), &class, 2, 1_000);
        tap.offer(&batch(0), &class, 2, 1_000);
        assert_eq!(loss.samples(), 7);
        let got = rx.try_recv().expect("the first batch");
        assert_eq!(
            (got.samples.len(), got.user, got.users, &*got.class),
            (5, 3, 2, "Reader")
        );
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_joined_tap_feeds_both_consumers_and_counts_each_ones_loss() {
        let (a, loss_a, mut rx_a) = SampleTap::channel(2);
        let (b, loss_b, mut rx_b) = SampleTap::channel(1);
        let tap = a.joined(b);
        let class: Arc<str> = Arc::from("Reader");
        tap.offer(&batch(5), &class, 1, 0);
        tap.offer(&batch(3), &class, 1, 0);
        assert_eq!((loss_a.samples(), loss_b.samples()), (0, 3));
        assert_eq!(rx_a.try_recv().map(|b| b.samples.len()).ok(), Some(5));
        assert_eq!(rx_a.try_recv().map(|b| b.samples.len()).ok(), Some(3));
        assert_eq!(rx_b.try_recv().map(|b| b.samples.len()).ok(), Some(5));
        assert!(rx_b.try_recv().is_err());
    }
}
