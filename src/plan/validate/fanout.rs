//! `publish = { topic, key }` on http/rpc steps and `subscribe = { topic, key }` on sse/ws
//! steps (a notification fan-out), their topic rows, and the check that every topic has both
//! sides.

use toml::de::DeTable;

use super::checks::is_singular_path;
use super::{field, Validator};
use crate::plan::model::{Fanout, FanoutRole, KeySelector};
use crate::plan::parse::Val;

/// The kind of a topic's statistics rows.
pub(crate) const FANOUT_KIND: &str = "FANOUT";
const FANOUT_KEYS: &[&str] = &["topic", "key"];
const KEY_EXPECTED: &str = "key: \"json:$.path\" (a singular path) or \"regex:...\"";

/// A topic seen on one side, where (for the error when the other side is missing).
pub(super) struct TopicUse {
    topic: String,
    role: FanoutRole,
    at: usize,
}

impl Validator<'_, '_> {
    /// The step's `publish`/`subscribe`, if any; `kind` is the step kind (which side it may
    /// take).
    pub(super) fn fanout(&mut self, t: &DeTable<'_>, kind: &str) -> Option<Fanout> {
        let publish = field(t, "publish");
        let subscribe = field(t, "subscribe");
        let (role, (_, v)) = match (publish, subscribe) {
            (None, None) => return None,
            (Some(p), Some(_)) => {
                self.err(
                    p.0.start,
                    "publish or subscribe (one side per step)",
                    "both",
                );
                return None;
            }
            (Some(p), None) => (FanoutRole::Publish, p),
            (None, Some(s)) => (FanoutRole::Subscribe, s),
        };
        // The other side's key is no key of this step kind: `keys` reported it already.
        let may = match role {
            FanoutRole::Publish => !matches!(kind, "sse" | "ws"),
            FanoutRole::Subscribe => matches!(kind, "sse" | "ws"),
        };
        if !may {
            return None;
        }
        let what = match role {
            FanoutRole::Publish => "publish",
            FanoutRole::Subscribe => "subscribe",
        };
        let table = self.table(
            v,
            &format!("{what}: a table such as {{ topic = \"alerts\", key = \"json:$.id\" }}"),
        )?;
        self.keys(table, FANOUT_KEYS, FANOUT_KEYS, &format!("keys of {what}"));
        let topic = self.required_string(table, v, "topic", "topic: a name such as \"alerts\"")?;
        self.topic_uses.push(TopicUse {
            topic: topic.clone(),
            role,
            at: v.span().start,
        });
        let (key_value, key_text) = match field(table, "key") {
            Some((_, k)) => (k, self.string(k, KEY_EXPECTED)?.to_string()),
            None => {
                self.err(
                    v.span().start,
                    KEY_EXPECTED,
                    format!("{what} without a key"),
                );
                return None;
            }
        };
        let key = self.key_selector(key_value, &key_text)?;
        Some(Fanout {
            role,
            counts_row: self.intern(FANOUT_KIND, &topic),
            delivery_row: self.intern(FANOUT_KIND, &format!("{topic} [delivery]")),
            topic,
            key,
            key_text,
        })
    }

    fn required_string(
        &mut self,
        t: &DeTable<'_>,
        owner: &Val<'_>,
        key: &str,
        expected: &str,
    ) -> Option<String> {
        match field(t, key) {
            Some((_, v)) => {
                let s = self.string(v, expected)?;
                if s.is_empty() {
                    self.err(v.span().start, expected, "an empty string");
                    return None;
                }
                Some(s.to_string())
            }
            None => {
                self.err(owner.span().start, expected, format!("no {key}"));
                None
            }
        }
    }

    fn key_selector(&mut self, v: &Val<'_>, text: &str) -> Option<KeySelector> {
        let vspan = v.span();
        if let Some(path) = text.strip_prefix("json:") {
            return match serde_json_path::JsonPath::parse(path) {
                Ok(p) if is_singular_path(path) => Some(KeySelector::Json(p)),
                Ok(_) => {
                    let at = self.src.offset_in_string(&vspan, text, 5);
                    self.err(
                        at,
                        "a singular JSONPath (names and indexes only: one key per event)",
                        format!("{path:?}"),
                    );
                    None
                }
                Err(e) => {
                    let at = self.src.offset_in_string(&vspan, text, 5 + e.position());
                    self.err(at, "a JSONPath such as $.id", format!("{path:?} ({e})"));
                    None
                }
            };
        }
        if let Some(pattern) = text.strip_prefix("regex:") {
            return match regex::Regex::new(pattern) {
                Ok(r) => Some(KeySelector::Regex(r)),
                Err(_) => {
                    let at = self.src.offset_in_string(&vspan, text, 6);
                    self.err(at, "a valid regular expression", format!("{pattern:?}"));
                    None
                }
            };
        }
        self.err(vspan.start, KEY_EXPECTED, format!("{text:?}"));
        None
    }

    /// Every topic needs a publisher and a subscriber: reports the first use of a topic whose
    /// other side is nowhere in the plan.
    pub(super) fn check_topics(&mut self) {
        let uses = std::mem::take(&mut self.topic_uses);
        let mut reported: Vec<&str> = Vec::new();
        for u in &uses {
            let paired = uses.iter().any(|o| o.topic == u.topic && o.role != u.role);
            if paired || reported.contains(&u.topic.as_str()) {
                continue;
            }
            reported.push(&u.topic);
            let (expected, found) = match u.role {
                FanoutRole::Publish => (
                    format!(
                        "a subscribe = {{ topic = {:?}, .. }} on an sse or ws step",
                        u.topic
                    ),
                    format!(
                        "topic {:?} is published but nobody subscribes to it",
                        u.topic
                    ),
                ),
                FanoutRole::Subscribe => (
                    format!(
                        "a publish = {{ topic = {:?}, .. }} on an http or rpc step",
                        u.topic
                    ),
                    format!(
                        "topic {:?} is subscribed to but nobody publishes it",
                        u.topic
                    ),
                ),
            };
            self.err(u.at, expected, found);
        }
    }
}
