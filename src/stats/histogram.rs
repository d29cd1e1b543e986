//! The one HDR histogram wrapper every latency goes through: 1 µs ..= 1 h, 3 significant digits,
//! with the exact minimum, maximum and sum kept beside the buckets so that the mean is exact and
//! no reported percentile is ever above the largest value really seen. Pure: no I/O, no clock.

use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// Smallest recordable latency; 0 µs is recorded as this.
pub const LOWEST_US: u64 = 1;
/// Largest recordable latency (1 h); larger values are recorded as this and counted.
pub const HIGHEST_US: u64 = 3_600_000_000;
/// Significant decimal digits kept by every bucket.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// Why serialized bytes could not be turned back into a [`LatencyHistogram`].
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    #[error("not a valid HDR histogram: {0}")]
    Decode(#[from] hdrhistogram::serialization::DeserializeError),
    #[error("the histogram's range does not fit 1 µs ..= 1 h")]
    Range,
    #[error("a histogram taken out of one that does not hold it")]
    Subtract,
}

/// The exact numbers kept beside the buckets. They travel next to the serialized histogram (the
/// HDR format has no room for them) when interval snapshots are merged elsewhere.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExactStats {
    pub min_us: u64,
    pub max_us: u64,
    pub sum_us: u64,
    pub saturated: u64,
}

/// Latencies in microseconds.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    hist: Histogram<u32>,
    /// `u64::MAX` while empty.
    min_us: u64,
    max_us: u64,
    sum_us: u64,
    /// Values above [`HIGHEST_US`], recorded as [`HIGHEST_US`].
    saturated: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    pub fn new() -> Self {
        let hist = Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
            .expect("constant histogram bounds are valid");
        LatencyHistogram {
            hist,
            min_us: u64::MAX,
            max_us: 0,
            sum_us: 0,
            saturated: 0,
        }
    }

    #[inline]
    pub fn record(&mut self, us: u64) {
        let us = if us > HIGHEST_US {
            self.saturated += 1;
            HIGHEST_US
        } else {
            us.max(LOWEST_US)
        };
        self.hist.saturating_record(us);
        self.min_us = self.min_us.min(us);
        self.max_us = self.max_us.max(us);
        self.sum_us = self.sum_us.saturating_add(us);
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    /// Exact smallest value; 0 when empty.
    pub fn min_us(&self) -> u64 {
        if self.is_empty() {
            0
        } else {
            self.min_us
        }
    }

    /// Exact largest value; 0 when empty.
    pub fn max_us(&self) -> u64 {
        self.max_us
    }

    /// Exact mean (from the exact sum); 0 when empty.
    pub fn mean_us(&self) -> f64 {
        match self.count() {
            0 => 0.0,
            n => self.sum_us as f64 / n as f64,
        }
    }

    pub fn sum_us(&self) -> u64 {
        self.sum_us
    }

    /// How many values were above 1 h and recorded as 1 h.
    pub fn saturated(&self) -> u64 {
        self.saturated
    }

    /// The values at quantiles `qs` (each in 0..=1, any order), in one pass over the recorded
    /// buckets. Each equals `Histogram::value_at_quantile(q)` except that none is above the exact
    /// maximum (a bucket's highest equivalent value can be). All zeros when empty.
    pub fn percentiles(&self, qs: &[f64]) -> Vec<u64> {
        let mut out = vec![0; qs.len()];
        let total = self.hist.len();
        if total == 0 {
            return out;
        }
        // the same arithmetic as value_at_quantile: the count to reach, at least 1, at most all
        let targets: Vec<u64> = qs
            .iter()
            .map(|&q| {
                let q = if q > 1.0 { 1.0 } else { q };
                ((q * total as f64).ceil() as u64).max(1)
            })
            .collect();
        let mut order: Vec<usize> = (0..qs.len()).collect();
        order.sort_by_key(|&i| targets[i]);
        let mut buckets = self.hist.iter_recorded();
        let mut seen = 0u64;
        let mut value = 0u64;
        for i in order {
            let (q, target) = (qs[i], targets[i]);
            while seen < target {
                match buckets.next() {
                    Some(bucket) => {
                        seen += u64::from(bucket.count_at_value());
                        value = bucket.value_iterated_to();
                    }
                    None => break,
                }
            }
            let v = if q == 0.0 {
                self.hist.lowest_equivalent(value)
            } else {
                value
            };
            out[i] = v.min(self.max_us);
        }
        out
    }

    /// Merges `other` into this one (interval snapshots from several workers, windows).
    pub fn add(&mut self, other: &LatencyHistogram) {
        if other.is_empty() {
            return;
        }
        self.hist
            .add(&other.hist)
            .expect("histograms with the same bounds always add");
        self.min_us = self.min_us.min(other.min_us);
        self.max_us = self.max_us.max(other.max_us);
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
        self.saturated += other.saturated;
    }

    /// Takes `other`'s samples out of this one (a sliding window dropping its oldest second).
    /// The buckets stay exact; min, max and sum become the remaining buckets' own (the max is
    /// then at least the exact one), so a caller clamps percentiles with exact bounds it knows.
    pub fn subtract(&mut self, other: &LatencyHistogram) -> Result<(), HistogramError> {
        if other.is_empty() {
            return Ok(());
        }
        self.hist
            .subtract(&other.hist)
            .map_err(|_| HistogramError::Subtract)?;
        self.sum_us = self.sum_us.saturating_sub(other.sum_us);
        self.saturated = self.saturated.saturating_sub(other.saturated);
        if self.hist.is_empty() {
            self.clear();
        } else {
            self.min_us = self.hist.min().max(LOWEST_US);
            self.max_us = self.hist.max().min(HIGHEST_US);
        }
        Ok(())
    }

    /// Empties it, keeping its allocation.
    pub fn clear(&mut self) {
        self.hist.reset();
        self.min_us = u64::MAX;
        self.max_us = 0;
        self.sum_us = 0;
        self.saturated = 0;
    }

    /// The exact numbers kept beside the buckets, to send along with [`Self::serialize_v2_deflate`].
    pub fn exact(&self) -> ExactStats {
        ExactStats {
            min_us: self.min_us(),
            max_us: self.max_us,
            sum_us: self.sum_us,
            saturated: self.saturated,
        }
    }

    /// Replaces the bucket-derived numbers of a deserialized histogram by the exact ones.
    pub fn with_exact(mut self, exact: ExactStats) -> Self {
        if !self.is_empty() {
            self.min_us = exact.min_us;
            self.max_us = exact.max_us;
            self.sum_us = exact.sum_us;
            self.saturated = exact.saturated;
        }
        self
    }

    /// The buckets in HdrHistogram's V2 + deflate format (readable by every HDR implementation).
    pub fn serialize_v2_deflate(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.hist, &mut buf)
            .expect("u32 counts serialize into memory");
        buf
    }

    /// Reads V2 (deflated or not) bytes. The format holds only buckets, so min, max and sum come
    /// from bucket bounds until [`Self::with_exact`] restores the exact ones.
    pub fn deserialize(mut bytes: &[u8]) -> Result<Self, HistogramError> {
        let decoded: Histogram<u32> = Deserializer::new().deserialize(&mut bytes)?;
        let mut out = LatencyHistogram::new();
        if decoded.is_empty() {
            return Ok(out);
        }
        out.hist.add(&decoded).map_err(|_| HistogramError::Range)?;
        let count = decoded.len();
        out.min_us = decoded.min().max(LOWEST_US);
        out.max_us = decoded.max().min(HIGHEST_US);
        out.sum_us = (decoded.mean() * count as f64).round() as u64;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_to_thousand() -> LatencyHistogram {
        let mut h = LatencyHistogram::new();
        for us in 1..=1000 {
            h.record(us);
        }
        h
    }

    #[test]
    fn known_samples_give_exact_percentiles() {
        let h = one_to_thousand();
        assert_eq!(h.count(), 1000);
        assert_eq!(h.min_us(), 1);
        assert_eq!(h.max_us(), 1000);
        assert_eq!(h.mean_us(), 500.5);
        assert_eq!(
            h.percentiles(&[0.5, 0.9, 0.99, 0.999, 1.0]),
            vec![500, 900, 990, 999, 1000]
        );
        // any order, duplicates
        assert_eq!(h.percentiles(&[1.0, 0.5, 0.5]), vec![1000, 500, 500]);
    }

    #[test]
    fn empty_is_all_zeros() {
        let h = LatencyHistogram::new();
        assert_eq!(h.count(), 0);
        assert_eq!((h.min_us(), h.max_us(), h.mean_us()), (0, 0, 0.0));
        assert_eq!(h.percentiles(&[0.5, 1.0]), vec![0, 0]);
    }

    #[test]
    fn zero_records_as_one_microsecond() {
        let mut h = LatencyHistogram::new();
        h.record(0);
        assert_eq!((h.count(), h.min_us(), h.max_us()), (1, 1, 1));
        assert_eq!(h.percentiles(&[0.5]), vec![1]);
    }

    #[test]
    fn values_above_one_hour_saturate_and_are_counted() {
        let mut h = LatencyHistogram::new();
        h.record(5_000_000_000);
        h.record(HIGHEST_US + 1);
        h.record(1_000);
        assert_eq!(h.count(), 3);
        assert_eq!(h.saturated(), 2);
        assert_eq!(h.max_us(), HIGHEST_US);
        assert_eq!(h.percentiles(&[1.0]), vec![HIGHEST_US]);
        assert_eq!(h.sum_us(), 2 * HIGHEST_US + 1_000);
    }

    /// A small deterministic generator (xorshift) so the test needs no crate and never flakes.
    fn pseudo_random(n: usize, seed: u64) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // mostly milliseconds, a tail up to ~10 s
                match x % 100 {
                    0 => x % 10_000_000,
                    1..=9 => x % 1_000_000,
                    _ => x % 50_000,
                }
            })
            .collect()
    }

    #[test]
    fn percentiles_match_value_at_quantile_clamped_to_the_max() {
        let qs = [
            0.0, 0.001, 0.1, 0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
        ];
        for (n, seed) in [(1, 7), (17, 3), (1000, 11), (54_321, 99)] {
            let mut h = LatencyHistogram::new();
            let values = pseudo_random(n, seed);
            for &v in &values {
                h.record(v);
            }
            let exact_max = values.iter().copied().max().unwrap().max(1);
            assert_eq!(h.max_us(), exact_max);
            let got = h.percentiles(&qs);
            for (q, got) in qs.iter().zip(&got) {
                let want = h.hist.value_at_quantile(*q).min(exact_max);
                assert_eq!(*got, want, "q={q} n={n}");
            }
            // the bucket's top can be above the max; ours never is
            assert!(h.hist.value_at_quantile(1.0) >= exact_max);
            assert_eq!(got[qs.len() - 1], exact_max);
        }
    }

    #[test]
    fn add_merges_buckets_and_exact_numbers() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        for us in 1..=500 {
            a.record(us);
        }
        for us in 501..=1000 {
            b.record(us);
        }
        a.add(&b);
        a.add(&LatencyHistogram::new());
        let all = one_to_thousand();
        assert_eq!(a.count(), 1000);
        assert_eq!((a.min_us(), a.max_us(), a.mean_us()), (1, 1000, 500.5));
        assert_eq!(a.percentiles(&[0.5, 0.99]), all.percentiles(&[0.5, 0.99]));
    }

    #[test]
    fn serializes_round_trip_and_keeps_exact_numbers_aside() {
        let mut h = one_to_thousand();
        h.record(123_456);
        let bytes = h.serialize_v2_deflate();
        let back = LatencyHistogram::deserialize(&bytes).expect("round trip");
        assert_eq!(back.count(), h.count());
        assert_eq!(
            back.percentiles(&[0.5, 0.9, 0.99]),
            h.percentiles(&[0.5, 0.9, 0.99])
        );
        // the format has buckets only: the max is the bucket's top until the exact one is back
        assert!(back.max_us() >= 123_456);
        let back = back.with_exact(h.exact());
        assert_eq!(back.exact(), h.exact());
        assert_eq!(back.percentiles(&[1.0]), vec![123_456]);

        let empty = LatencyHistogram::deserialize(&LatencyHistogram::new().serialize_v2_deflate())
            .expect("empty round trip");
        assert!(empty.is_empty());
        assert!(LatencyHistogram::deserialize(b"nope").is_err());
    }

    #[test]
    fn clear_empties_it() {
        let mut h = one_to_thousand();
        h.clear();
        assert!(h.is_empty());
        assert_eq!((h.min_us(), h.max_us(), h.sum_us()), (0, 0, 0));
        h.record(7);
        assert_eq!((h.min_us(), h.max_us()), (7, 7));
    }
}
