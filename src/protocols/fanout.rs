//! A step's part in a notification fan-out (see `engine::fanout`): a publisher (http/rpc step)
//! reads the topic's listeners when it sends and posts the key its response names; a
//! subscriber (sse/ws step) listens from its stream's connect to its end and matches each
//! message by key. Counts go to the topic's row `FANOUT <topic>`, send-to-receive latencies to
//! `FANOUT <topic> [delivery]`. A message whose key cannot be read (a keep-alive, a greeting)
//! is no fan-out message and is left out.

use std::sync::Arc;
use std::time::Instant;

use super::step::sample;
use crate::engine::fanout::{Board, Listener, Matched, Topics};
use crate::plan::model::{Fanout, FanoutRole, KeySelector, NameId};
use crate::stats::recorder::Recorder;
use crate::stats::sample::FanoutCounts;

/// The key `selector` reads from `text`: a JSON string unquoted, other JSON values as JSON, a
/// regex's first group (else its whole match). None when there is none.
pub fn key_of(selector: &KeySelector, text: &[u8]) -> Option<String> {
    match selector {
        KeySelector::Json(path) => {
            let doc: serde_json::Value = serde_json::from_slice(text).ok()?;
            match path.query(&doc).first()? {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            }
        }
        KeySelector::Regex(re) => {
            let text = String::from_utf8_lossy(text);
            let caps = re.captures(&text)?;
            let m = caps.get(1).or_else(|| caps.get(0))?;
            Some(m.as_str().to_string())
        }
    }
}

/// A fan-out side ready to run: the topic's board and rows.
#[derive(Debug)]
pub struct PreparedFanout {
    board: Arc<Board>,
    key: KeySelector,
    key_text: String,
    counts_row: NameId,
    delivery_row: NameId,
}

impl PreparedFanout {
    /// The step's side of `role`, if it has one.
    pub fn new(fanout: Option<&Fanout>, role: FanoutRole, topics: &Topics) -> Option<Self> {
        let f = fanout.filter(|f| f.role == role)?;
        Some(PreparedFanout {
            board: topics.board(&f.topic),
            key: f.key.clone(),
            key_text: f.key_text.clone(),
            counts_row: f.counts_row,
            delivery_row: f.delivery_row,
        })
    }

    /// Publisher: subscribers listening now, as the request goes out.
    pub fn listening(&self) -> u64 {
        self.board.listening()
    }

    /// Publisher: the response `body` of the request sent at `sent` (when `expected` listened)
    /// names the event. Err when it names none (the step fails).
    pub fn published(
        &self,
        body: &[u8],
        sent: Instant,
        expected: u64,
        rec: &mut Recorder,
        now: Instant,
    ) -> Result<(), String> {
        let Some(key) = key_of(&self.key, body) else {
            return Err(format!("publish key ({}): nothing matched", self.key_text));
        };
        let matched = self.board.publish(key, sent, expected, now);
        let counts = FanoutCounts {
            published: 1,
            expected,
            ..FanoutCounts::default()
        };
        self.record(counts, matched, rec, now);
        Ok(())
    }

    /// Subscriber: its stream is connected; it listens until the guard drops.
    pub fn listen(&self, since: Instant) -> Listener {
        self.board.listen(since)
    }

    /// Subscriber: a message `text` came at `at`.
    pub fn message(&self, listener: &Listener, text: &[u8], at: Instant, rec: &mut Recorder) {
        let Some(key) = key_of(&self.key, text) else {
            return;
        };
        let matched = self.board.receive(key, at, listener.since);
        let one = FanoutCounts {
            messages: 1,
            ..FanoutCounts::default()
        };
        self.record(one, matched, rec, at);
    }

    fn record(&self, mut counts: FanoutCounts, matched: Matched, rec: &mut Recorder, now: Instant) {
        counts.received += matched.latencies.len() as u64;
        counts.unmatched += matched.unmatched;
        rec.record_fanout(self.counts_row, counts, now);
        for latency in matched.latencies {
            rec.record(sample(self.delivery_row, latency, None, 0, true), now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(p: &str) -> KeySelector {
        KeySelector::Json(serde_json_path::JsonPath::parse(p).expect("a path"))
    }

    #[test]
    fn keys_read_json_values_and_regex_groups() {
        assert_eq!(key_of(&json("$.id"), br#"{"id": 42}"#), Some("42".into()));
        assert_eq!(
            key_of(&json("$.id"), br#"{"id": "a-1"}"#),
            Some("a-1".into())
        );
        assert_eq!(key_of(&json("$.id"), br#"{"id": null}"#), None);
        assert_eq!(key_of(&json("$.id"), b"ping"), None);
        assert_eq!(key_of(&json("$.id"), br#"{"other": 1}"#), None);
        let re = KeySelector::Regex(regex::Regex::new(r"id=(\d+)").expect("a regex"));
        assert_eq!(key_of(&re, b"x id=17 y"), Some("17".into()));
        assert_eq!(key_of(&re, b"nothing"), None);
    }
}
