//! Notification fan-out boards: one per topic, shared by the users of the run in this process
//! (like the feeders). A publisher reads how many subscribers listen when it sends, then posts
//! the event's key once its response names it; each subscriber message is matched by key. The
//! subscribers' messages may come before the publisher's response (the server pushes first,
//! then answers): those wait on the board for their publish. Not the hot path of plain steps:
//! only fan-out steps touch a board, one short lock per event or message.
//!
//! The board remembers an event for [`EVENT_MEMORY`] after it was sent (or first received)
//! and at most [`MAX_EVENTS`] events; a message that waited that long for its publish is
//! unmatched. A board is per process: with agents, a publish is matched by the subscribers
//! of the same agent only, and its expected count is theirs.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long an event is remembered.
pub const EVENT_MEMORY: Duration = Duration::from_secs(60);
/// Events remembered at most (the oldest go first).
pub const MAX_EVENTS: usize = 100_000;

/// The boards of the run, by topic.
#[derive(Debug, Default)]
pub struct Topics {
    boards: Mutex<HashMap<String, Arc<Board>>>,
}

impl Topics {
    /// The board of `topic` (made on first use; steps ask once, when they are prepared).
    pub fn board(&self, topic: &str) -> Arc<Board> {
        let mut boards = self.boards.lock().unwrap_or_else(PoisonError::into_inner);
        boards.entry(topic.to_string()).or_default().clone()
    }
}

/// One topic: who listens, and the recent events.
#[derive(Debug, Default)]
pub struct Board {
    listening: AtomicU64,
    events: Mutex<Events>,
}

#[derive(Debug, Default)]
struct Events {
    by_key: HashMap<String, Event>,
    /// Keys in the order they were first seen, with that instant (for forgetting).
    order: VecDeque<(Instant, String)>,
}

#[derive(Debug)]
struct Event {
    /// When the publisher sent it and how many listened then; None until its publish.
    published: Option<(Instant, u64)>,
    received: u64,
    /// Messages that came before the publish: when, and since when their subscriber listened.
    early: Vec<(Instant, Instant)>,
}

/// What a publish or a message adds to the topic's figures.
#[derive(Debug, Default, PartialEq)]
pub struct Matched {
    /// Deliveries matched now, with their send-to-receive latencies.
    pub latencies: Vec<Duration>,
    /// Messages found unmatched now (an early message forgotten unclaimed, a late joiner, one
    /// more copy than expected).
    pub unmatched: u64,
}

/// A subscriber listening on a board (from its stream's connect to its end, the drop).
#[derive(Debug)]
pub struct Listener {
    board: Arc<Board>,
    pub since: Instant,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.board.listening.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Board {
    /// Subscribers listening now (a publisher reads it when it sends).
    pub fn listening(&self) -> u64 {
        self.listening.load(Ordering::Relaxed)
    }

    /// A subscriber starts listening (its stream is connected); it stops when the guard drops.
    pub fn listen(self: &Arc<Board>, since: Instant) -> Listener {
        self.listening.fetch_add(1, Ordering::Relaxed);
        Listener {
            board: self.clone(),
            since,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Events> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The event `key`, sent at `sent` while `expected` subscribers listened, is published:
    /// the messages that came before it are matched (up to `expected`).
    pub fn publish(&self, key: String, sent: Instant, expected: u64, now: Instant) -> Matched {
        let mut events = self.lock();
        let mut out = Matched {
            unmatched: events.forget(now),
            ..Matched::default()
        };
        let event = events.entry(key, now);
        if event.published.is_some() {
            // The same key again: a new event under it; what the old one had is kept.
            event.received = 0;
        }
        event.published = Some((sent, expected));
        for (at, since) in std::mem::take(&mut event.early) {
            if since <= sent && event.received < expected {
                event.received += 1;
                out.latencies.push(at.saturating_duration_since(sent));
            } else {
                out.unmatched += 1;
            }
        }
        out
    }

    /// A subscriber that listened since `since` received `key` at `at`.
    pub fn receive(&self, key: String, at: Instant, since: Instant) -> Matched {
        let mut events = self.lock();
        let mut out = Matched {
            unmatched: events.forget(at),
            ..Matched::default()
        };
        let event = events.entry(key, at);
        match event.published {
            None => event.early.push((at, since)),
            Some((sent, expected)) if since <= sent && event.received < expected => {
                event.received += 1;
                out.latencies.push(at.saturating_duration_since(sent));
            }
            Some(_) => out.unmatched += 1,
        }
        out
    }
}

impl Events {
    fn entry(&mut self, key: String, now: Instant) -> &mut Event {
        if !self.by_key.contains_key(&key) {
            self.order.push_back((now, key.clone()));
        }
        self.by_key.entry(key).or_insert_with(|| Event {
            published: None,
            received: 0,
            early: Vec::new(),
        })
    }

    /// Forgets the events older than [`EVENT_MEMORY`] and beyond [`MAX_EVENTS`]; returns the
    /// messages that waited for a publish that never came.
    fn forget(&mut self, now: Instant) -> u64 {
        let mut unmatched = 0;
        while let Some((first_seen, _)) = self.order.front() {
            let too_old = now.saturating_duration_since(*first_seen) > EVENT_MEMORY;
            if !too_old && self.order.len() < MAX_EVENTS {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                if let Some(event) = self.by_key.remove(&key) {
                    unmatched += event.early.len() as u64;
                }
            }
        }
        unmatched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn listeners_count_while_their_guard_lives() {
        let board = Arc::new(Board::default());
        let t0 = Instant::now();
        let a = board.listen(t0);
        let b = board.listen(t0);
        assert_eq!(board.listening(), 2);
        drop(a);
        assert_eq!(board.listening(), 1);
        drop(b);
        assert_eq!(board.listening(), 0);
    }

    #[test]
    fn messages_after_the_publish_match_up_to_the_expected_count() {
        let board = Board::default();
        let t0 = Instant::now();
        let p = board.publish("7".into(), t0, 2, t0 + ms(5));
        assert_eq!(p, Matched::default());
        let r = board.receive("7".into(), t0 + ms(10), t0);
        assert_eq!(r.latencies, [ms(10)]);
        let r = board.receive("7".into(), t0 + ms(12), t0);
        assert_eq!(r.latencies, [ms(12)]);
        // a third copy was not expected
        let r = board.receive("7".into(), t0 + ms(13), t0);
        assert_eq!((r.latencies.len(), r.unmatched), (0, 1));
    }

    #[test]
    fn messages_before_the_publish_wait_for_it() {
        let board = Board::default();
        let t0 = Instant::now();
        let listened = t0 - ms(100);
        assert_eq!(
            board.receive("a".into(), t0 + ms(3), listened),
            Matched::default()
        );
        assert_eq!(
            board.receive("a".into(), t0 + ms(4), listened),
            Matched::default()
        );
        let p = board.publish("a".into(), t0, 3, t0 + ms(6));
        assert_eq!(p.latencies, [ms(3), ms(4)]);
        assert_eq!(p.unmatched, 0);
        let r = board.receive("a".into(), t0 + ms(8), listened);
        assert_eq!(r.latencies, [ms(8)]);
    }

    #[test]
    fn a_subscriber_that_joined_after_the_send_is_unmatched() {
        let board = Board::default();
        let t0 = Instant::now();
        board.publish("k".into(), t0, 1, t0);
        let r = board.receive("k".into(), t0 + ms(5), t0 + ms(1));
        assert_eq!((r.latencies.len(), r.unmatched), (0, 1));
        // early and late alike
        board.receive("e".into(), t0 + ms(5), t0 + ms(1));
        let p = board.publish("e".into(), t0, 1, t0 + ms(6));
        assert_eq!((p.latencies.len(), p.unmatched), (0, 1));
    }

    #[test]
    fn messages_never_published_are_unmatched_once_forgotten() {
        let board = Board::default();
        let t0 = Instant::now();
        board.receive("lost".into(), t0, t0);
        board.receive("lost".into(), t0, t0);
        board.publish("old".into(), t0, 5, t0);
        let later = t0 + EVENT_MEMORY + ms(1);
        let r = board.receive("new".into(), later, t0);
        assert_eq!(r.unmatched, 2);
        // the forgotten publish matches nothing any more: its key waits as a new event
        assert_eq!(board.receive("old".into(), later, t0), Matched::default());
        assert_eq!(board.lock().by_key.len(), 2);
    }

    #[test]
    fn at_most_max_events_are_remembered() {
        let board = Board::default();
        let t0 = Instant::now();
        for i in 0..MAX_EVENTS + 10 {
            board.publish(i.to_string(), t0, 1, t0);
        }
        assert!(board.lock().by_key.len() <= MAX_EVENTS);
        assert!(!board.lock().by_key.contains_key("0"));
        let r = board.receive((MAX_EVENTS + 9).to_string(), t0 + ms(1), t0);
        assert_eq!(r.latencies, [ms(1)]);
    }
}
