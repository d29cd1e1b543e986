//! One second of a load generator's statistics, in the form that merges exactly: per row, the
//! second's latencies as an HDR histogram (V2 + deflate, with the exact min/max/sum beside it),
//! its corrected twin, counts and failure groups; plus the generator's lag, dropped starts,
//! cancelled requests and skipped tasks. An agent builds one a second from the same sample batches its users send
//! ([`IntervalBuilder`]); the coordinator adds them into one `Aggregator`
//! (`Aggregator::absorb`), which is bit-identical to one aggregator of all the samples: HDR
//! histograms add bucket by bucket. Pure: no clock, no I/O.

use serde::{Deserialize, Serialize};

use super::failures::{clip_error, FAILURE_GROUP_CAP, OTHER_ERRORS};
use super::histogram::{ExactStats, HistogramError, LatencyHistogram};
use super::sample::{Batch, FanoutCounts, SseDelivery, WsDelivery};

/// Latencies as they travel: HDR V2 + deflate, and the exact numbers the format has no room for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latencies {
    /// Base64 in JSON (a number per byte would be four times the size and slow to read).
    #[serde(with = "base64_bytes")]
    pub hdr: Vec<u8>,
    pub exact: ExactStats,
    /// Samples in `hdr` (to read without decoding it).
    #[serde(default)]
    pub count: u64,
}

impl Latencies {
    pub fn of(h: &LatencyHistogram) -> Latencies {
        Latencies {
            hdr: h.serialize_v2_deflate(),
            exact: h.exact(),
            count: h.count(),
        }
    }

    /// The histogram again, exact numbers included.
    pub fn histogram(&self) -> Result<LatencyHistogram, HistogramError> {
        Ok(LatencyHistogram::deserialize(&self.hdr)?.with_exact(self.exact))
    }
}

mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{de, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD.decode(text.as_bytes()).map_err(de::Error::custom)
    }
}

/// One statistics row's second.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalRow {
    /// The row's `NameId` in the plan (the same on every agent: names are interned at load).
    pub name: u32,
    pub latencies: Latencies,
    /// Present once the row had a sample with an intended start (as the aggregator's twin: it
    /// holds every sample of the second, corrected where it could be).
    pub corrected: Option<Latencies>,
    pub failures: u64,
    pub bytes: u64,
    /// Failure occurrences by error text.
    pub errors: Vec<(String, u64)>,
    /// WebSocket delivery counts of the second (zero for other rows).
    #[serde(default, skip_serializing_if = "WsDelivery::is_zero")]
    pub ws: WsDelivery,
    /// SSE stream counts of the second (zero for other rows).
    #[serde(default, skip_serializing_if = "SseDelivery::is_zero")]
    pub sse: SseDelivery,
    /// Fan-out counts of the second (zero for rows other than a topic's).
    #[serde(default, skip_serializing_if = "FanoutCounts::is_zero")]
    pub fanout: FanoutCounts,
}

/// One second of one generator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// In the order the rows first got samples this second.
    pub rows: Vec<IntervalRow>,
    pub lag: Option<Latencies>,
    pub dropped: u64,
    pub cancelled: u64,
    /// Task iterations skipped for a `requires` without a value (absent from older agents).
    #[serde(default)]
    pub skipped: u64,
}

/// A row's second while it is being counted.
struct DeltaRow {
    latencies: LatencyHistogram,
    /// Set at the row's first sample with an intended start *in the whole run*; from then on
    /// every sample of the row goes into it (corrected where it can be).
    corrected: Option<LatencyHistogram>,
    /// Whether the run-long twin exists, so that a second without paced samples still sends one.
    twin: bool,
    failures: u64,
    bytes: u64,
    errors: Vec<(String, u64)>,
    ws: WsDelivery,
    sse: SseDelivery,
    fanout: FanoutCounts,
    used: bool,
}

/// Counts sample batches into the open second and hands it over as an [`Interval`].
#[derive(Default)]
pub struct IntervalBuilder {
    /// Indexed by `NameId`; kept between seconds so their allocations are reused.
    rows: Vec<Option<Box<DeltaRow>>>,
    /// Rows with samples this second, in first-sample order.
    order: Vec<u32>,
    lag: LatencyHistogram,
    dropped: u64,
    cancelled: u64,
    skipped: u64,
    /// Distinct error texts this second, over every row.
    groups: usize,
}

impl IntervalBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a batch into the open second.
    pub fn ingest(&mut self, batch: &Batch) {
        for s in &batch.samples {
            let row = self.row(s.name.0);
            let latency = u64::from(s.latency_us);
            if s.corrected_us > 0 && !row.twin {
                // Earlier samples had no intended start: their corrected latency is their latency.
                row.twin = true;
                row.corrected = Some(row.latencies.clone());
            } else if row.twin && row.corrected.is_none() {
                row.corrected = Some(LatencyHistogram::new());
            }
            row.latencies.record(latency);
            if let Some(twin) = &mut row.corrected {
                let corrected = if s.corrected_us > 0 {
                    u64::from(s.corrected_us)
                } else {
                    latency
                };
                twin.record(corrected);
            }
            row.bytes += u64::from(s.bytes);
            if !s.ok {
                row.failures += 1;
            }
        }
        for f in &batch.failures {
            // Clipped and capped as the aggregator's failure groups are: a second of unique
            // error texts stays bounded on the wire.
            let full = self.groups >= FAILURE_GROUP_CAP;
            let error = clip_error(f.error.clone());
            let errors = &mut self.row(f.name.0).errors;
            match errors.iter_mut().find(|(e, _)| *e == error) {
                Some((_, n)) => *n += 1,
                None if full => match errors.iter_mut().find(|(e, _)| e == OTHER_ERRORS) {
                    Some((_, n)) => *n += 1,
                    None => errors.push((OTHER_ERRORS.to_string(), 1)),
                },
                None => {
                    errors.push((error, 1));
                    self.groups += 1;
                }
            }
        }
        for &(name, counts) in &batch.ws {
            self.row(name.0).ws.add(counts);
        }
        for &(name, counts) in &batch.sse {
            self.row(name.0).sse.add(counts);
        }
        for &(name, counts) in &batch.fanout {
            self.row(name.0).fanout.add(counts);
        }
        for &us in &batch.lags_us {
            self.lag.record(u64::from(us));
        }
        self.dropped += batch.dropped;
        self.cancelled += batch.cancelled;
        self.skipped += batch.skipped;
    }

    fn row(&mut self, name: u32) -> &mut DeltaRow {
        let i = name as usize;
        if i >= self.rows.len() {
            self.rows.resize_with(i + 1, || None);
        }
        let row = self.rows[i].get_or_insert_with(|| {
            Box::new(DeltaRow {
                latencies: LatencyHistogram::new(),
                corrected: None,
                twin: false,
                failures: 0,
                bytes: 0,
                errors: Vec::new(),
                ws: WsDelivery::default(),
                sse: SseDelivery::default(),
                fanout: FanoutCounts::default(),
                used: false,
            })
        });
        if !row.used {
            row.used = true;
            self.order.push(name);
        }
        row
    }

    /// The second counted so far; the builder starts the next one empty.
    pub fn take(&mut self) -> Interval {
        let mut rows = Vec::with_capacity(self.order.len());
        for name in std::mem::take(&mut self.order) {
            let Some(row) = self.rows.get_mut(name as usize).and_then(Option::as_mut) else {
                continue;
            };
            rows.push(IntervalRow {
                name,
                latencies: Latencies::of(&row.latencies),
                corrected: row.corrected.as_ref().map(Latencies::of),
                failures: std::mem::take(&mut row.failures),
                bytes: std::mem::take(&mut row.bytes),
                errors: std::mem::take(&mut row.errors),
                ws: std::mem::take(&mut row.ws),
                sse: std::mem::take(&mut row.sse),
                fanout: std::mem::take(&mut row.fanout),
            });
            row.latencies.clear();
            // The twin goes on existing (run-long), empty for the next second.
            row.corrected = None;
            row.used = false;
        }
        let lag = (!self.lag.is_empty()).then(|| Latencies::of(&self.lag));
        self.lag.clear();
        // Each second's error texts count afresh.
        self.groups = 0;
        Interval {
            rows,
            lag,
            dropped: std::mem::take(&mut self.dropped),
            cancelled: std::mem::take(&mut self.cancelled),
            skipped: std::mem::take(&mut self.skipped),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::plan::model::{NameId, RequestName};
    use crate::stats::aggregator::Aggregator;
    use crate::stats::sample::{Failure, Sample};
    use crate::stats::seconds::RowSelector;
    use crate::stats::snapshot::RunState;
    use std::time::Duration;

    /// (name, latency µs, corrected µs or 0, ok, generator, bytes)
    type Spec = (u32, u32, u32, bool, usize, u32);

    fn batch(specs: &[Spec]) -> Batch {
        let mut b = Batch::default();
        for &(name, latency_us, corrected_us, ok, _, bytes) in specs {
            b.samples.push(Sample {
                name: NameId(name),
                latency_us,
                corrected_us,
                bytes,
                end_ms: 0,
                status: 200,
                ok,
            });
            if !ok {
                b.failures.push(Failure {
                    name: NameId(name),
                    error: format!("HTTP {}", 500 + name),
                });
            }
            if corrected_us > 0 {
                b.lags_us.push(corrected_us - latency_us.min(corrected_us));
            }
        }
        // a start dropped beside every sample with a multiple of 7 bytes: counts add up by sample
        b.dropped = specs.iter().filter(|s| s.5 % 7 == 0).count() as u64;
        // and a task skipped beside every sample with a multiple of 5 bytes
        b.skipped = specs.iter().filter(|s| s.5 % 5 == 0).count() as u64;
        // name 3 is a WebSocket row: each sample a message sent, received when ok, else lost
        for &(name, _, _, ok, _, bytes) in specs.iter().filter(|s| s.0 == 3) {
            let counts = WsDelivery {
                sent: 1 + u64::from(bytes % 3),
                received: u64::from(ok),
                lost: u64::from(!ok),
                cut: u64::from(bytes % 5 == 0),
            };
            match b.ws.last_mut() {
                Some((n, c)) if n.0 == name => c.add(counts),
                _ => b.ws.push((NameId(name), counts)),
            }
            // and an SSE stream's counts, carried the same way
            let streams = SseDelivery {
                opened: 1,
                drops: u64::from(!ok),
                reconnects: u64::from(!ok && bytes % 2 == 0),
                events: u64::from(bytes % 11),
            };
            match b.sse.last_mut() {
                Some((n, c)) if n.0 == name => c.add(streams),
                _ => b.sse.push((NameId(name), streams)),
            }
            // and a fan-out topic's counts
            let fanout = FanoutCounts {
                published: u64::from(bytes % 2),
                expected: u64::from(bytes % 13),
                messages: u64::from(bytes % 3),
                received: u64::from(ok),
                unmatched: u64::from(bytes % 17 == 0),
            };
            match b.fanout.last_mut() {
                Some((n, c)) if n.0 == name => c.add(fanout),
                _ => b.fanout.push((NameId(name), fanout)),
            }
        }
        b
    }

    fn names() -> Vec<RequestName> {
        (0..4)
            .map(|i| RequestName {
                kind: "GET".into(),
                name: format!("/n{i}"),
            })
            .collect()
    }

    fn sample() -> impl Strategy<Value = Spec> {
        (
            0u32..4,
            1u32..5_000_000,
            prop_oneof![Just(0u32), 1u32..6_000_000],
            prop::bool::weighted(0.9),
            0usize..3,
            0u32..10_000,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Three generators' seconds, added by the coordinator, give the numbers of one
        /// aggregator that saw every sample: histograms byte for byte, every row and point.
        #[test]
        fn merged_seconds_equal_one_aggregator_of_all_samples(
            seconds in prop::collection::vec(prop::collection::vec(sample(), 0..60), 1..4)
        ) {
            let mut whole = Aggregator::new(names(), 3);
            let mut merged = Aggregator::new(names(), 3);
            let mut builders: Vec<IntervalBuilder> = (0..3).map(|_| IntervalBuilder::new()).collect();
            for (t, second) in seconds.iter().enumerate() {
                whole.ingest(batch(second));
                for (g, builder) in builders.iter_mut().enumerate() {
                    let mine: Vec<Spec> = second.iter().copied().filter(|s| s.4 == g).collect();
                    // in two batches, as users flush
                    let (a, b) = mine.split_at(mine.len() / 2);
                    builder.ingest(&batch(a));
                    builder.ingest(&batch(b));
                    let part = builder.take();
                    merged.absorb(&part).expect("absorbs");
                }
                let at = Duration::from_secs(t as u64 + 1);
                whole.tick(at, 3);
                merged.tick(at, 3);
            }
            let at = Duration::from_secs(seconds.len() as u64);
            prop_assert_eq!(whole.serialized_histograms(), merged.serialized_histograms());
            // the per-second histograms too, and all of them merge to the run's total
            prop_assert_eq!(whole.seconds().since(0), merged.seconds().since(0));
            let all = merged
                .seconds()
                .merge(0..seconds.len() as u64, RowSelector::Total)
                .expect("merges");
            let total = merged.total_histogram();
            prop_assert_eq!(all.latencies.serialize_v2_deflate(), total.serialize_v2_deflate());
            prop_assert_eq!(all.latencies.exact(), total.exact());
            let failures: u64 = seconds.iter().flatten().filter(|s| !s.3).count() as u64;
            prop_assert_eq!((all.requests, all.failures), (total.count(), failures));
            let a = serde_json::to_value(whole.snapshot(at, 3, RunState::Running)).expect("json");
            let b = serde_json::to_value(merged.snapshot(at, 3, RunState::Running)).expect("json");
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn an_interval_travels_as_json_and_back() {
        let mut builder = IntervalBuilder::new();
        builder.ingest(&batch(&[
            (1, 1500, 2500, false, 0, 10),
            (1, 900, 0, true, 0, 5),
        ]));
        let part = builder.take();
        assert_eq!(part.rows.len(), 1);
        assert_eq!((part.rows[0].failures, part.rows[0].bytes), (1, 15));
        assert_eq!(part.rows[0].errors, [("HTTP 501".to_string(), 1)]);
        let text = serde_json::to_string(&part).expect("json");
        assert!(
            text.contains(r#""hdr":""#),
            "histograms travel as base64: {text}"
        );
        let again: Interval = serde_json::from_str(&text).expect("back");
        assert_eq!(again, part);
        assert_eq!(again.rows[0].latencies.count, 2);
        let h = again.rows[0].latencies.histogram().expect("histogram");
        assert_eq!((h.count(), h.min_us(), h.max_us()), (2, 900, 1500));
        assert_eq!(
            builder.take(),
            Interval::default(),
            "the next second starts empty"
        );
    }

    #[test]
    fn a_second_of_unique_errors_is_capped_and_clipped() {
        let mut builder = IntervalBuilder::new();
        let samples: Vec<Spec> = (0..FAILURE_GROUP_CAP as u32 + 5)
            .map(|_| (0, 100, 0, false, 0, 0))
            .collect();
        let mut b = batch(&samples);
        for (i, f) in b.failures.iter_mut().enumerate() {
            f.error = format!("error {i} {}", "x".repeat(if i == 0 { 5_000 } else { 0 }));
        }
        builder.ingest(&b);
        let part = builder.take();
        let errors = &part.rows[0].errors;
        assert_eq!(errors.len(), FAILURE_GROUP_CAP + 1);
        assert_eq!(errors.last(), Some(&(OTHER_ERRORS.to_string(), 5)));
        assert!(errors[0].0.len() < 1_100 && errors[0].0.ends_with('…'));
    }
}
