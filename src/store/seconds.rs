//! A run's per-second histograms (`stats::seconds`) in SQLite: written with the points each
//! second (so a killed server keeps every second written), read back by range and merged
//! exactly for any window of a stored run.

use std::ops::Range;
use std::sync::Arc;

use sqlx::SqliteConnection;

use super::{from_row, to_i64, Store, StoreError};
use crate::stats::aggregator::AGGREGATED;
use crate::stats::histogram::ExactStats;
use crate::stats::interval::Latencies;
use crate::stats::seconds::{self, RowSelector, Second, SecondRow, WindowStats};

struct SecondDbRow {
    start_s: i64,
    method: String,
    name: String,
    secs: f64,
    requests: i64,
    failures: i64,
    histogram: Vec<u8>,
    min_us: i64,
    max_us: i64,
    sum_us: i64,
    saturated: i64,
    corrected: Option<Vec<u8>>,
    corrected_min_us: Option<i64>,
    corrected_max_us: Option<i64>,
    corrected_sum_us: Option<i64>,
    corrected_saturated: Option<i64>,
}

from_row!(SecondDbRow {
    start_s,
    method,
    name,
    secs,
    requests,
    failures,
    histogram,
    min_us,
    max_us,
    sum_us,
    saturated,
    corrected,
    corrected_min_us,
    corrected_max_us,
    corrected_sum_us,
    corrected_saturated
});

fn exact(min: i64, max: i64, sum: i64, saturated: i64) -> ExactStats {
    let u = |v: i64| u64::try_from(v).unwrap_or(0);
    ExactStats {
        min_us: u(min),
        max_us: u(max),
        sum_us: u(sum),
        saturated: u(saturated),
    }
}

impl SecondDbRow {
    fn into_row(self) -> SecondRow {
        let count = u64::try_from(self.requests).unwrap_or(0);
        let corrected = match (
            self.corrected,
            self.corrected_min_us,
            self.corrected_max_us,
            self.corrected_sum_us,
            self.corrected_saturated,
        ) {
            (Some(hdr), Some(min), Some(max), Some(sum), Some(saturated)) => Some(Latencies {
                hdr,
                exact: exact(min, max, sum, saturated),
                count,
            }),
            _ => None,
        };
        SecondRow {
            method: self.method,
            name: self.name,
            latencies: Latencies {
                hdr: self.histogram,
                exact: exact(self.min_us, self.max_us, self.sum_us, self.saturated),
                count,
            },
            corrected,
            failures: u64::try_from(self.failures).unwrap_or(0),
        }
    }
}

/// Writes seconds of run `id`, replacing any with the same (second, row): a retried batch
/// does not count twice.
pub(crate) async fn write_seconds(
    conn: &mut SqliteConnection,
    id: &str,
    seconds: &[Arc<Second>],
) -> Result<(), sqlx::Error> {
    for second in seconds {
        for row in std::iter::once(&second.total).chain(&second.rows) {
            let c = row.corrected.as_ref();
            sqlx::query(
                "INSERT OR REPLACE INTO run_seconds (run_id, start_s, method, name, secs, \
                 requests, failures, histogram, min_us, max_us, sum_us, saturated, corrected, \
                 corrected_min_us, corrected_max_us, corrected_sum_us, corrected_saturated) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            )
            .bind(id)
            .bind(to_i64(second.start_s))
            .bind(&row.method)
            .bind(&row.name)
            .bind(second.secs)
            .bind(to_i64(row.requests()))
            .bind(to_i64(row.failures))
            .bind(&row.latencies.hdr)
            .bind(to_i64(row.latencies.exact.min_us))
            .bind(to_i64(row.latencies.exact.max_us))
            .bind(to_i64(row.latencies.exact.sum_us))
            .bind(to_i64(row.latencies.exact.saturated))
            .bind(c.map(|c| &c.hdr))
            .bind(c.map(|c| to_i64(c.exact.min_us)))
            .bind(c.map(|c| to_i64(c.exact.max_us)))
            .bind(c.map(|c| to_i64(c.exact.sum_us)))
            .bind(c.map(|c| to_i64(c.exact.saturated)))
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

impl Store {
    /// The stored seconds `range` of run `id` (every row's), in order; a second whose
    /// aggregate row is missing is left out.
    pub async fn load_seconds(
        &self,
        id: &str,
        range: Range<u64>,
    ) -> Result<Vec<Second>, StoreError> {
        let rows: Vec<SecondDbRow> = sqlx::query_as(
            "SELECT start_s, method, name, secs, requests, failures, histogram, min_us, max_us, \
             sum_us, saturated, corrected, corrected_min_us, corrected_max_us, \
             corrected_sum_us, corrected_saturated FROM run_seconds \
             WHERE run_id = ?1 AND start_s >= ?2 AND start_s < ?3 ORDER BY start_s, name, method",
        )
        .bind(id)
        .bind(to_i64(range.start))
        .bind(to_i64(range.end))
        .fetch_all(self.pool())
        .await?;
        let mut out: Vec<Second> = Vec::new();
        let mut open: Option<(u64, f64, Option<SecondRow>, Vec<SecondRow>)> = None;
        for row in rows {
            let start_s = u64::try_from(row.start_s).unwrap_or(0);
            let secs = row.secs;
            if open.as_ref().is_some_and(|o| o.0 != start_s) {
                out.extend(open.take().and_then(assemble));
            }
            let (_, _, total, rows) = open.get_or_insert((start_s, secs, None, Vec::new()));
            let row = row.into_row();
            if row.method.is_empty() && row.name == AGGREGATED {
                *total = Some(row);
            } else {
                rows.push(row);
            }
        }
        out.extend(open.and_then(assemble));
        Ok(out)
    }

    /// Seconds `range` of stored run `id` merged for `row` (exact, as for a live run).
    pub async fn merge_seconds(
        &self,
        id: &str,
        range: Range<u64>,
        row: RowSelector<'_>,
    ) -> Result<WindowStats, StoreError> {
        let stored = self.load_seconds(id, range.clone()).await?;
        seconds::merge(&stored, range, row)
            .map_err(|e| StoreError::corrupt(id, "per-second histogram", e))
    }
}

fn assemble(
    (start_s, secs, total, rows): (u64, f64, Option<SecondRow>, Vec<SecondRow>),
) -> Option<Second> {
    Some(Second {
        start_s,
        secs,
        total: total?,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::model::{NameId, RequestName};
    use crate::stats::aggregator::Aggregator;
    use crate::stats::sample::{Batch, Sample};
    use crate::store::test_support::*;
    use std::time::Duration;

    #[tokio::test]
    async fn stored_seconds_read_back_and_merge_to_the_run_total() {
        let (store, _dir) = temp_store().await;
        store
            .insert_run(&new_run("r1", "p", 1_000))
            .await
            .expect("run");
        let names = ["/a", "/b"]
            .iter()
            .map(|n| RequestName {
                kind: "GET".into(),
                name: n.to_string(),
            })
            .collect();
        let mut agg = Aggregator::new(names, 10);
        for t in 0..6u32 {
            let samples = (0..=t)
                .map(|i| Sample {
                    name: NameId(i % 2),
                    latency_us: 1_000 + 311 * t + i,
                    // the second half of the run is paced: its rows get twins
                    corrected_us: if t >= 3 { 9_000 + i } else { 0 },
                    bytes: 10,
                    end_ms: 0,
                    status: 200,
                    ok: i != 1,
                })
                .collect();
            agg.ingest(Batch {
                samples,
                ..Batch::default()
            });
            agg.tick(Duration::from_secs(u64::from(t) + 1), 1);
        }
        let log = agg.seconds();
        // written in two batches, the second one twice (a retry replaces, never doubles)
        let mut conn = store.pool().acquire().await.expect("conn");
        write_seconds(&mut conn, "r1", &log.since(0)[..4])
            .await
            .expect("write");
        write_seconds(&mut conn, "r1", &log.since(4))
            .await
            .expect("write");
        write_seconds(&mut conn, "r1", &log.since(4))
            .await
            .expect("write");
        drop(conn);

        let back = store.load_seconds("r1", 0..100).await.expect("load");
        let kept: Vec<Second> = log.since(0).iter().map(|s| (**s).clone()).collect();
        assert_eq!(back, kept);
        let all = store
            .merge_seconds("r1", 0..6, RowSelector::Total)
            .await
            .expect("merge");
        let total = agg.total_histogram();
        assert_eq!((all.requests, all.failures), (21, 5));
        assert_eq!(
            all.latencies.serialize_v2_deflate(),
            total.serialize_v2_deflate()
        );
        assert_eq!(all.latencies.exact(), total.exact());
        let b = store
            .merge_seconds("r1", 2..5, RowSelector::Name("/b"))
            .await
            .expect("merge");
        // seconds 2, 3, 4 hold 3, 4, 5 samples: i = 1, 3 (and 1) are /b
        assert_eq!((b.requests, b.failures), (5, 3));
        assert!(
            b.corrected.is_some(),
            "paced seconds give the window a twin"
        );
    }
}
