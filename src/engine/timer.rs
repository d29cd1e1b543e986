//! Precise wake-ups for paced users and open-model starts. tokio's timer wheel has a 1 ms
//! resolution and rounds up, so a paced start woke ~1 ms late on average, and every corrected
//! sample carried that lateness. Here a wait sleeps on tokio's timer until [`COARSE_MARGIN`]
//! before its instant, then hands the rest to one timer thread that sleeps with a 1 ns timer
//! slack (Linux's default slack is 50 µs) and spins the last [`SPIN`] before waking the task.
//!
//! The thread serves every run of the process: a heap of instants, fed by a channel, each woken
//! through a oneshot. Only the last ~2 ms of a wait passes through it, so its heap holds the
//! starts of the next 2 ms, and spinning costs at most [`SPIN`] per wake-up (wake-ups that fall
//! within one spin share it).
//!
//! The hop from the timer thread's oneshot to the task running again (tokio waking a parked
//! worker) took ~75 µs p50 on this machine kind: the thread therefore fires early by the hop
//! it has been seeing ([`Hop`]), and the task yields until its instant for what is left.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::OnceLock;
use std::thread::Thread;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// What tokio's timer sleeps of a wait: all but this much (its 1 ms ticks round up).
const COARSE_MARGIN: Duration = Duration::from_micros(2_000);
/// The timer thread spins instead of sleeping when the next instant is this close.
const SPIN: Duration = Duration::from_micros(40);
/// Bounds of how early the timer thread fires before an instant.
const MIN_LEAD: Duration = Duration::from_micros(10);
const MAX_LEAD: Duration = Duration::from_micros(500);

/// The hop from the timer thread's wake-up to the task running, as a moving average (ns): the
/// thread fires this much (and a half more, for the hop's spread) before each instant.
struct Hop(AtomicU64);

impl Hop {
    fn lead(&self) -> Duration {
        let ns = self.0.load(Ordering::Relaxed);
        Duration::from_nanos(ns + ns / 2).clamp(MIN_LEAD, MAX_LEAD)
    }

    /// Folds one observed hop in (weight 1/8). A lost update between two tasks only slows the
    /// average down.
    fn observe(&self, hop: Duration) {
        let ns = u64::try_from(hop.min(MAX_LEAD * 4).as_nanos()).unwrap_or(u64::MAX);
        let old = self.0.load(Ordering::Relaxed);
        self.0.store(old - old / 8 + ns / 8, Ordering::Relaxed);
    }
}

static HOP: Hop = Hop(AtomicU64::new(75_000));

/// Sleeps until `at`, waking within tens of microseconds of it on a quiet machine.
pub(crate) async fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at <= now {
        return;
    }
    if at - now > COARSE_MARGIN {
        tokio::time::sleep_until((at - COARSE_MARGIN).into()).await;
    }
    let Some(timer) = timer() else {
        // no timer thread (it could not start): tokio's timer, 1 ms-granular
        return tokio::time::sleep_until(at.into()).await;
    };
    let (tx, rx) = oneshot::channel();
    let fire = at.checked_sub(HOP.lead()).unwrap_or(at).max(now);
    if timer.tx.send(Wake { at: fire, tx }).is_err() {
        return tokio::time::sleep_until(at.into()).await;
    }
    timer.thread.unpark();
    // The thread never drops a wake-up unsent; if it died, the error ends the wait early.
    let _ = rx.await;
    let woke = Instant::now();
    HOP.observe(woke.saturating_duration_since(fire));
    // Woken early on purpose: the rest is a few tens of µs, yielding so that other tasks of
    // this worker run meanwhile.
    while Instant::now() < at {
        tokio::task::yield_now().await;
    }
}

struct Timer {
    tx: Sender<Wake>,
    thread: Thread,
}

struct Wake {
    at: Instant,
    tx: oneshot::Sender<()>,
}

/// Heap order: the earliest instant first; ties in arrival order.
struct Due {
    at: Instant,
    seq: u64,
    tx: oneshot::Sender<()>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

fn timer() -> Option<&'static Timer> {
    static TIMER: OnceLock<Option<Timer>> = OnceLock::new();
    TIMER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            let handle = std::thread::Builder::new()
                .name("hornet-timer".into())
                .spawn(move || serve(rx))
                .ok()?;
            Some(Timer {
                tx,
                thread: handle.thread().clone(),
            })
        })
        .as_ref()
}

/// The timer thread: fires what is due, sleeps until shortly before the next instant, spins the
/// rest. Ends when every sender is gone (never, in practice: the sender is static).
fn serve(rx: Receiver<Wake>) {
    // A 1 ns slack lets the kernel wake this thread at the instant asked instead of up to 50 µs
    // later. Not fatal when refused (a locked-down /proc): the spin then covers more.
    let _ = std::fs::write("/proc/thread-self/timerslack_ns", "1");
    let mut heap: BinaryHeap<Reverse<Due>> = BinaryHeap::new();
    let mut seq = 0u64;
    loop {
        loop {
            match rx.try_recv() {
                Ok(Wake { at, tx }) => {
                    seq += 1;
                    heap.push(Reverse(Due { at, seq, tx }));
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) if heap.is_empty() => return,
                Err(TryRecvError::Disconnected) => break,
            }
        }
        let now = Instant::now();
        while heap.peek().is_some_and(|Reverse(d)| d.at <= now) {
            if let Some(Reverse(due)) = heap.pop() {
                // the waiter may have gone (its run stopped): nothing to wake
                let _ = due.tx.send(());
            }
        }
        match heap.peek() {
            None => std::thread::park(),
            Some(Reverse(next)) => {
                let left = next.at - now;
                if left > SPIN {
                    // unparked early by a new wake-up: the loop takes it and sleeps again
                    std::thread::park_timeout(left - SPIN);
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_end_at_or_after_their_instant_in_order() {
        let start = Instant::now();
        let offsets_us = [5_000u64, 300, 2_500, 0, 1_200, 7_000];
        let mut waits = tokio::task::JoinSet::new();
        for (i, us) in offsets_us.into_iter().enumerate() {
            let at = start + Duration::from_micros(us);
            waits.spawn(async move {
                sleep_until(at).await;
                (i, at, Instant::now())
            });
        }
        let mut woke = Vec::new();
        while let Some(done) = waits.join_next().await {
            let (i, at, now) = done.expect("wait task");
            // never early: a paced start must not run before its intended instant
            assert!(now >= at, "wait {i} woke {:?} early", at - now);
            woke.push((now, i));
        }
        assert_eq!(woke.len(), offsets_us.len());
    }

    #[tokio::test]
    async fn a_past_instant_returns_at_once() {
        let at = Instant::now() - Duration::from_millis(5);
        tokio::time::timeout(Duration::from_secs(5), sleep_until(at))
            .await
            .expect("no wait");
    }
}
