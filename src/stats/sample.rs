//! What a virtual user records per request: small `Copy` values, no strings on the success path.

use serde::{Deserialize, Serialize};

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
    /// Milliseconds from the run's start to the end of the request; stamped by the recorder
    /// (per-sample outputs such as the JTL file need it).
    pub end_ms: u32,
    /// The response's status code (HTTP), 0 when there was no response.
    pub status: u16,
    pub ok: bool,
}

impl Sample {
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

/// The message of a failed sample, grouped later by (name, error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub name: NameId,
    pub error: String,
}

/// WebSocket delivery counts of one statistics row (a ws step's messages): pushed once a second
/// or so per stream and once at its end, never per message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsDelivery {
    /// Messages sent.
    pub sent: u64,
    /// Replies matched to a message sent.
    pub received: u64,
    /// Messages whose reply did not come within the step's timeout, or were outstanding when
    /// the connection closed or failed.
    pub lost: u64,
    /// Messages still awaiting their reply, within their timeout, when the run stopped the
    /// stream: neither received nor lost, and left out of the loss.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub cut: u64,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

impl WsDelivery {
    pub fn add(&mut self, other: WsDelivery) {
        self.sent += other.sent;
        self.received += other.received;
        self.lost += other.lost;
        self.cut += other.cut;
    }

    pub fn is_zero(&self) -> bool {
        *self == WsDelivery::default()
    }

    /// lost / messages judged (sent, less those cut by a stop), 0 when none was.
    pub fn loss(&self) -> f64 {
        let judged = self.sent.saturating_sub(self.cut);
        if judged == 0 {
            0.0
        } else {
            self.lost as f64 / judged as f64
        }
    }
}

/// SSE stream counts of one statistics row (an sse step's own name): added as they happen
/// (an event is a `+1`, merged into the batch's last entry), never a sample each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SseDelivery {
    /// Connections whose response head passed (the first one and every reconnection).
    pub opened: u64,
    /// Streams the server ended or broke before the step had its `events`/`for`.
    pub drops: u64,
    /// Connections opened again after a drop (`reconnect = true`).
    pub reconnects: u64,
    /// Events received (every dispatched event, on every connection).
    pub events: u64,
}

impl SseDelivery {
    pub fn add(&mut self, other: SseDelivery) {
        self.opened += other.opened;
        self.drops += other.drops;
        self.reconnects += other.reconnects;
        self.events += other.events;
    }

    pub fn is_zero(&self) -> bool {
        *self == SseDelivery::default()
    }

    /// drops / connections opened (reconnections included: each connection is one trial that
    /// can drop, so the figure stays within 0..=1), 0 when none was opened.
    pub fn drop_ratio(&self) -> f64 {
        if self.opened == 0 {
            0.0
        } else {
            self.drops as f64 / self.opened as f64
        }
    }
}

/// Notification fan-out counts of one topic's row (`FANOUT <topic>`): a publisher adds the
/// events it published and the subscribers listening then; subscribers add what they matched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanoutCounts {
    /// Events published (publisher requests whose key was read).
    pub published: u64,
    /// Deliveries expected: for each event, the subscribers listening when it was sent.
    pub expected: u64,
    /// Messages with a key the subscribers received (matched or not, and those still waiting
    /// for their publish when the run ended).
    pub messages: u64,
    /// Deliveries received: messages matched to an event published while their subscriber
    /// listened (at most the event's expected count).
    pub received: u64,
    /// Messages matched to no such event: an unknown key (none published within the board's
    /// memory), a subscriber that joined after the send, or more copies than were expected.
    pub unmatched: u64,
}

impl FanoutCounts {
    pub fn add(&mut self, other: FanoutCounts) {
        self.published += other.published;
        self.expected += other.expected;
        self.messages += other.messages;
        self.received += other.received;
        self.unmatched += other.unmatched;
    }

    pub fn is_zero(&self) -> bool {
        *self == FanoutCounts::default()
    }

    /// received / expected (0..=1); 1 when nothing was expected (nothing was missed).
    pub fn delivery_ratio(&self) -> f64 {
        if self.expected == 0 {
            1.0
        } else {
            self.received as f64 / self.expected as f64
        }
    }
}

/// What a user's recorder hands to the aggregator at once.
#[derive(Debug, Default)]
pub struct Batch {
    pub samples: Vec<Sample>,
    /// One per failed sample, in the same order.
    pub failures: Vec<Failure>,
    /// The user's slot in spawn order (0-based): who recorded the batch.
    pub user: u32,
    /// How late each paced or open-model start woke up against its intended instant (the
    /// generator's own scheduling lag), in microseconds.
    pub lags_us: Vec<u32>,
    /// Open-model starts dropped because every user was busy (k6's dropped_iterations).
    pub dropped: u64,
    /// Requests in flight when the user was stopped (stop timeout over, or an abort): cut off
    /// without a response, so not in the statistics, but counted here.
    pub cancelled: u64,
    /// Task iterations skipped because a variable the task `requires` had no value.
    pub skipped: u64,
    /// WebSocket delivery counts by row, in the order they came (consecutive counts of one
    /// row are added into one entry).
    pub ws: Vec<(NameId, WsDelivery)>,
    /// SSE stream counts by row, likewise.
    pub sse: Vec<(NameId, SseDelivery)>,
    /// Fan-out counts by topic row, likewise.
    pub fanout: Vec<(NameId, FanoutCounts)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
            && self.failures.is_empty()
            && self.lags_us.is_empty()
            && self.dropped == 0
            && self.cancelled == 0
            && self.skipped == 0
            && self.ws.is_empty()
            && self.sse.is_empty()
            && self.fanout.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_sample_stays_small() {
        // Every request is pushed as one of these: keep it to three words.
        assert_eq!(std::mem::size_of::<super::Sample>(), 24);
    }
}
