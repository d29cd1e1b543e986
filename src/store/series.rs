//! A run's numbers: the per-second points (appended while it runs), the last saved statistics
//! rows, failures and summary (replaced as a whole on each save), and the per-name HDR
//! histograms kept as V2 + deflate blobs so that runs and workers can be merged later.

use std::sync::Arc;

use sqlx::SqliteConnection;

use super::{
    from_json, from_row, to_i64, to_json, NamedHistogram, RunSummary, Store, StoreError,
    StoredStats,
};
use crate::stats::histogram::{ExactStats, LatencyHistogram};
use crate::stats::seconds::Second;
use crate::stats::snapshot::{FailureRow, Point, StatsRow};

/// One batch of points for one run, as the writer task queues them.
#[derive(Debug)]
pub(crate) struct PointsBatch {
    pub(crate) id: Arc<str>,
    pub(crate) points: Vec<Point>,
    /// Closed seconds' histograms, written in the same transaction.
    pub(crate) seconds: Vec<Arc<Second>>,
    pub(crate) heartbeat_ms: i64,
}

struct PointRow {
    t_s: i64,
    users: i64,
    rps: f64,
    fail_per_s: f64,
    p50_ms: f64,
    p95_ms: f64,
    extra_json: Option<String>,
}

from_row!(PointRow {
    t_s,
    users,
    rps,
    fail_per_s,
    p50_ms,
    p95_ms,
    extra_json
});

struct StatsJsonRow {
    is_total: bool,
    row_json: String,
}

from_row!(StatsJsonRow { is_total, row_json });

struct FailureDbRow {
    method: String,
    name: String,
    error: String,
    occurrences: i64,
}

from_row!(FailureDbRow {
    method,
    name,
    error,
    occurrences
});

struct HistogramRow {
    method: String,
    name: String,
    histogram: Vec<u8>,
    exact_json: String,
    corrected: Option<Vec<u8>>,
    corrected_exact_json: Option<String>,
}

from_row!(HistogramRow {
    method,
    name,
    histogram,
    exact_json,
    corrected,
    corrected_exact_json
});

/// Replaces points with the same `t_s` (a retried batch must not duplicate seconds) and moves
/// the heartbeat forward.
async fn write_points(
    conn: &mut SqliteConnection,
    id: &str,
    points: &[Point],
    heartbeat_ms: i64,
) -> Result<(), sqlx::Error> {
    for p in points {
        sqlx::query(
            "INSERT OR REPLACE INTO run_points (run_id, t_s, users, rps, fail_per_s, p50_ms, \
             p95_ms, extra_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(id)
        .bind(to_i64(p.t_s))
        .bind(i64::from(p.users))
        .bind(p.rps)
        .bind(p.fail_per_s)
        .bind(p.p50_ms)
        .bind(p.p95_ms)
        // Plain numbers: serializing cannot fail (a NaN would become null, and read back as 0).
        .bind(serde_json::to_string(&p.extra).ok())
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("UPDATE runs SET heartbeat_ms = MAX(heartbeat_ms, ?2) WHERE id = ?1")
        .bind(id)
        .bind(heartbeat_ms)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Store {
    /// Adds (or replaces, by `t_s`) points of a run in one transaction and moves its heartbeat.
    pub async fn append_points(
        &self,
        id: &str,
        points: &[Point],
        heartbeat_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        write_points(tx.conn()?, id, points, heartbeat_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Several runs' point batches in one transaction (the writer's per-wake-up batch).
    pub(crate) async fn append_points_batches(
        &self,
        batches: &[PointsBatch],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for b in batches {
            write_points(tx.conn()?, &b.id, &b.points, b.heartbeat_ms).await?;
            super::seconds::write_seconds(tx.conn()?, &b.id, &b.seconds).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Replaces, in one transaction, a run's statistics rows (kept in the given order), its
    /// Aggregated row, failures, histograms and summary. Called every few seconds while the run
    /// goes and once at its end, so the history always holds one consistent set.
    pub async fn save_stats(
        &self,
        id: &str,
        rows: &[StatsRow],
        total: &StatsRow,
        failures: &[FailureRow],
        histograms: &[NamedHistogram],
        summary: &RunSummary,
    ) -> Result<(), StoreError> {
        // encode first: a JSON failure must not leave a half-written transaction behind
        let encoded: Vec<String> = rows
            .iter()
            .map(|r| to_json(id, "stats row", r))
            .collect::<Result<_, _>>()?;
        let total_json = to_json(id, "total row", total)?;
        let exact: Vec<(String, Option<String>)> = histograms
            .iter()
            .map(|h| {
                let corrected = match &h.corrected_exact {
                    Some(e) => Some(to_json(id, "corrected histogram bounds", e)?),
                    None => None,
                };
                Ok((to_json(id, "histogram bounds", &h.exact)?, corrected))
            })
            .collect::<Result<_, StoreError>>()?;
        let summary_json = to_json(id, "summary", summary)?;

        let mut tx = self.begin_write().await?;
        for table in [
            "DELETE FROM run_stats WHERE run_id = ?1",
            "DELETE FROM run_failures WHERE run_id = ?1",
            "DELETE FROM run_histograms WHERE run_id = ?1",
        ] {
            sqlx::query(table).bind(id).execute(tx.conn()?).await?;
        }
        for (ord, (row, json)) in rows.iter().zip(&encoded).enumerate() {
            sqlx::query(
                "INSERT OR REPLACE INTO run_stats (run_id, is_total, method, name, ord, row_json) \
                 VALUES (?1, 0, ?2, ?3, ?4, ?5)",
            )
            .bind(id)
            .bind(&row.method)
            .bind(&row.name)
            .bind(to_i64(ord as u64))
            .bind(json)
            .execute(tx.conn()?)
            .await?;
        }
        sqlx::query(
            "INSERT INTO run_stats (run_id, is_total, method, name, ord, row_json) \
             VALUES (?1, 1, ?2, ?3, 0, ?4)",
        )
        .bind(id)
        .bind(&total.method)
        .bind(&total.name)
        .bind(total_json)
        .execute(tx.conn()?)
        .await?;
        for (ord, f) in failures.iter().enumerate() {
            sqlx::query(
                "INSERT INTO run_failures (run_id, ord, method, name, error, occurrences) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .bind(id)
            .bind(to_i64(ord as u64))
            .bind(&f.method)
            .bind(&f.name)
            .bind(&f.error)
            .bind(to_i64(f.occurrences))
            .execute(tx.conn()?)
            .await?;
        }
        for (h, (exact, corrected_exact)) in histograms.iter().zip(exact) {
            sqlx::query(
                "INSERT OR REPLACE INTO run_histograms (run_id, method, name, histogram, \
                 exact_json, corrected, corrected_exact_json) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .bind(id)
            .bind(&h.method)
            .bind(&h.name)
            .bind(h.histogram.as_slice())
            .bind(exact)
            .bind(h.corrected.as_deref())
            .bind(corrected_exact)
            .execute(tx.conn()?)
            .await?;
        }
        sqlx::query("UPDATE runs SET summary_json = ?2 WHERE id = ?1")
            .bind(id)
            .bind(summary_json)
            .execute(tx.conn()?)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The last saved statistics of a run (empty for a run without any): rows in saved order,
    /// failures most frequent first, points by second.
    pub async fn load_stats(&self, id: &str) -> Result<StoredStats, StoreError> {
        // one read transaction: a save committing meanwhile is seen entirely or not at all
        let mut tx = self.pool().begin().await?;
        let stats: Vec<StatsJsonRow> = sqlx::query_as(
            "SELECT is_total, row_json FROM run_stats WHERE run_id = ?1 ORDER BY is_total, ord",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let failures: Vec<FailureDbRow> = sqlx::query_as(
            "SELECT method, name, error, occurrences FROM run_failures WHERE run_id = ?1 \
             ORDER BY occurrences DESC, ord",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let points: Vec<PointRow> = sqlx::query_as(
            "SELECT t_s, users, rps, fail_per_s, p50_ms, p95_ms, extra_json FROM run_points \
             WHERE run_id = ?1 ORDER BY t_s",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;

        let mut out = StoredStats::default();
        for row in stats {
            if row.is_total {
                out.total = Some(from_json(id, "total row", &row.row_json)?);
            } else {
                out.rows.push(from_json(id, "stats row", &row.row_json)?);
            }
        }
        out.failures = failures
            .into_iter()
            .map(|f| {
                Ok(FailureRow {
                    occurrences: u64::try_from(f.occurrences)
                        .map_err(|_| StoreError::corrupt(id, "failure count", f.occurrences))?,
                    method: f.method,
                    name: f.name,
                    error: f.error,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        out.points = points
            .into_iter()
            .map(|p| {
                Ok(Point {
                    t_s: u64::try_from(p.t_s)
                        .map_err(|_| StoreError::corrupt(id, "point second", p.t_s))?,
                    users: u32::try_from(p.users)
                        .map_err(|_| StoreError::corrupt(id, "point users", p.users))?,
                    rps: p.rps,
                    fail_per_s: p.fail_per_s,
                    p50_ms: p.p50_ms,
                    p95_ms: p.p95_ms,
                    // Extras only feed the history CSV: a point whose extras do not parse keeps
                    // its chart numbers rather than failing the whole run's load.
                    extra: p
                        .extra_json
                        .as_deref()
                        .and_then(|text| serde_json::from_str(text).ok())
                        .unwrap_or_default(),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(out)
    }

    /// The last saved histograms of a run, by (name, method); still serialized (see
    /// [`decode_histogram`]).
    pub async fn load_histograms(&self, id: &str) -> Result<Vec<NamedHistogram>, StoreError> {
        let rows: Vec<HistogramRow> = sqlx::query_as(
            "SELECT method, name, histogram, exact_json, corrected, corrected_exact_json \
             FROM run_histograms WHERE run_id = ?1 ORDER BY name, method",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                let corrected_exact = match &r.corrected_exact_json {
                    Some(text) => Some(from_json(id, "corrected histogram bounds", text)?),
                    None => None,
                };
                Ok(NamedHistogram {
                    exact: from_json(id, "histogram bounds", &r.exact_json)?,
                    method: r.method,
                    name: r.name,
                    histogram: r.histogram,
                    corrected: r.corrected,
                    corrected_exact,
                })
            })
            .collect()
    }
}

/// Decodes a stored histogram and its corrected twin with their exact min/max/sum restored,
/// naming the run and the entry when the bytes are not a valid HDR histogram.
pub fn decode_histogram(
    run_id: &str,
    named: &NamedHistogram,
) -> Result<(LatencyHistogram, Option<LatencyHistogram>), StoreError> {
    let what = |e: &dyn std::fmt::Display| format!("{} {:?}: {e}", named.method, named.name);
    let histogram = LatencyHistogram::deserialize(&named.histogram)
        .map_err(|e| StoreError::corrupt(run_id, "histogram", what(&e)))?;
    let corrected = match &named.corrected {
        Some(bytes) => Some(
            LatencyHistogram::deserialize(bytes)
                .map_err(|e| StoreError::corrupt(run_id, "corrected histogram", what(&e)))?,
        ),
        None => None,
    };
    Ok((
        with_exact(histogram, Some(named.exact)),
        corrected.map(|c| with_exact(c, named.corrected_exact)),
    ))
}

/// A non-empty histogram always has a max of at least 1 µs, so an all-zero `ExactStats` means
/// "not recorded" (e.g. `NamedHistogram::default()`): keep the bucket-derived numbers then
/// rather than clamping every percentile to 0.
fn with_exact(h: LatencyHistogram, exact: Option<ExactStats>) -> LatencyHistogram {
    match exact {
        Some(e) if e.max_us > 0 => h.with_exact(e),
        _ => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::snapshot::Percentiles;
    use crate::store::test_support::*;

    fn point(t_s: u64, rps: f64) -> Point {
        Point {
            t_s,
            users: 10,
            rps,
            fail_per_s: 0.25,
            p50_ms: 12.0,
            p95_ms: 48.5,
            ..Default::default()
        }
    }

    fn row(method: &str, name: &str, requests: u64) -> StatsRow {
        StatsRow {
            method: method.to_string(),
            name: name.to_string(),
            num_requests: requests,
            num_failures: requests / 10,
            avg_ms: 20.5,
            min_ms: 1.25,
            max_ms: 250.0,
            median_ms: 18.0,
            percentiles: Percentiles {
                p50: 18.0,
                p95: 90.0,
                p99: 200.0,
                p100: 250.0,
                ..Percentiles::default()
            },
            corrected: None,
            avg_bytes: 512.0,
            current_rps: 3.5,
            current_fail_per_s: 0.5,
            total_rps: 3.25,
            total_fail_per_s: 0.25,
            ws: None,
            sse: None,
            fanout: None,
        }
    }

    fn failure(name: &str, error: &str, occurrences: u64) -> FailureRow {
        FailureRow {
            method: "GET".to_string(),
            name: name.to_string(),
            error: error.to_string(),
            occurrences,
        }
    }

    #[tokio::test]
    async fn append_points_is_idempotent_per_second() {
        let (store, _dir) = temp_store().await;
        store
            .insert_run(&new_run("r1", "shop", 1_000))
            .await
            .expect("insert");
        store
            .append_points("r1", &[point(1, 10.0), point(2, 20.0)], 3_000)
            .await
            .expect("points");
        // the same seconds again (a retried batch), one of them with new numbers, plus a new one
        store
            .append_points(
                "r1",
                &[point(2, 22.0), point(3, 30.0), point(1, 10.0)],
                4_000,
            )
            .await
            .expect("points");
        let stats = store.load_stats("r1").await.expect("load");
        assert_eq!(
            stats.points,
            [point(1, 10.0), point(2, 22.0), point(3, 30.0)]
        );
        let run = store.get_run("r1").await.expect("get").expect("exists");
        assert_eq!(run.heartbeat_ms, 4_000);

        // a run that does not exist is refused by the foreign key, not silently stored
        assert!(store
            .append_points("ghost", &[point(1, 1.0)], 1)
            .await
            .is_err());
    }

    // One scenario in order (first save, second save, what a reader sees after each): it is
    // long because both saves spell out every table they replace.
    #[tokio::test]
    async fn save_stats_twice_replaces() {
        let (store, _dir) = temp_store().await;
        store
            .insert_run(&new_run("r1", "shop", 1_000))
            .await
            .expect("insert");
        store
            .append_points("r1", &[point(1, 5.0)], 2_000)
            .await
            .expect("points");

        let first_rows = [row("GET", "/", 100), row("POST", "/cart", 40)];
        let total1 = row("", "Aggregated", 140);
        let summary1 = RunSummary {
            requests: 140,
            failures: 14,
            rps: 4.5,
            p95_ms: 90.0,
            ..RunSummary::default()
        };
        let hist1 = NamedHistogram {
            method: "GET".to_string(),
            name: "/".to_string(),
            histogram: vec![1, 2, 3],
            corrected: Some(vec![4, 5]),
            exact: ExactStats {
                min_us: 1_250,
                max_us: 250_000,
                sum_us: 2_870_000,
                saturated: 0,
            },
            corrected_exact: Some(ExactStats {
                min_us: 1_250,
                max_us: 900_000,
                sum_us: 3_000_000,
                saturated: 1,
            }),
        };
        store
            .save_stats(
                "r1",
                &first_rows,
                &total1,
                &[failure("/", "HTTP 500", 3), failure("/cart", "timeout", 11)],
                std::slice::from_ref(&hist1),
                &summary1,
            )
            .await
            .expect("save 1");
        assert_eq!(store.load_histograms("r1").await.expect("hist"), [hist1]);
        let loaded = store.load_stats("r1").await.expect("load");
        assert_eq!(loaded.rows, first_rows);
        assert_eq!(loaded.total, Some(total1));
        assert_eq!(
            loaded.failures,
            [failure("/cart", "timeout", 11), failure("/", "HTTP 500", 3)]
        );
        assert_eq!(loaded.points.len(), 1);

        // the second save keeps its own order (z before a) and drops what it does not repeat
        let second_rows = [
            row("GET", "/z", 300),
            row("GET", "/a", 200),
            row("", "Aggregated", 7),
        ];
        let total2 = row("", "Aggregated", 507);
        let summary2 = RunSummary {
            requests: 507,
            failures: 50,
            rps: 8.25,
            peak_users: 20,
            duration_s: 61.5,
            ..RunSummary::default()
        };
        let hist2 = NamedHistogram {
            method: String::new(),
            name: "Aggregated".to_string(),
            histogram: vec![9, 9],
            ..NamedHistogram::default()
        };
        store
            .save_stats(
                "r1",
                &second_rows,
                &total2,
                &[failure("/z", "HTTP 502", 50)],
                std::slice::from_ref(&hist2),
                &summary2,
            )
            .await
            .expect("save 2");
        let loaded = store.load_stats("r1").await.expect("load");
        assert_eq!(loaded.rows, second_rows);
        assert_eq!(loaded.total.as_ref().map(|t| t.num_requests), Some(507));
        assert_eq!(loaded.failures, [failure("/z", "HTTP 502", 50)]);
        assert_eq!(loaded.points, [point(1, 5.0)]);
        assert_eq!(store.load_histograms("r1").await.expect("hist"), [hist2]);
        let run = store.get_run("r1").await.expect("get").expect("exists");
        assert_eq!(run.summary, Some(summary2));
        assert_eq!(
            run.summary.as_ref().map(RunSummary::fail_ratio),
            Some(50.0 / 507.0)
        );

        // a run without statistics loads as empty
        assert_eq!(
            store.load_stats("other").await.expect("load"),
            StoredStats::default()
        );
    }

    #[tokio::test]
    async fn histograms_round_trip_through_blobs() {
        let (store, _dir) = temp_store().await;
        store
            .insert_run(&new_run("r1", "shop", 1_000))
            .await
            .expect("insert");
        let mut plain = LatencyHistogram::new();
        for us in 1..=10_000 {
            plain.record(us * 10);
        }
        let mut corrected = plain.clone();
        for _ in 0..500 {
            corrected.record(2_000_000);
        }
        let mut other = LatencyHistogram::new();
        other.record(1_500);
        other.record(3_000);
        let saved = [
            NamedHistogram {
                method: "GET".to_string(),
                name: "/items".to_string(),
                histogram: plain.serialize_v2_deflate(),
                corrected: Some(corrected.serialize_v2_deflate()),
                exact: plain.exact(),
                corrected_exact: Some(corrected.exact()),
            },
            NamedHistogram {
                method: String::new(),
                name: "Aggregated".to_string(),
                histogram: other.serialize_v2_deflate(),
                corrected: None,
                exact: other.exact(),
                corrected_exact: None,
            },
        ];
        store
            .save_stats(
                "r1",
                &[],
                &row("", "Aggregated", 10_002),
                &[],
                &saved,
                &RunSummary::default(),
            )
            .await
            .expect("save");

        let loaded = store.load_histograms("r1").await.expect("load");
        // by name: "/items" < "Aggregated"
        assert_eq!(loaded, saved);
        let qs = [0.5, 0.95, 0.99, 1.0];
        let (h, c) = decode_histogram("r1", &loaded[0]).expect("decode");
        assert_eq!(h.count(), 10_000);
        assert_eq!(h.percentiles(&qs), plain.percentiles(&qs));
        assert_eq!(h.percentiles(&qs), [50_015, 95_039, 99_007, 100_000]);
        assert_eq!(
            (h.min_us(), h.max_us(), h.mean_us()),
            (10, 100_000, 50_005.0)
        );
        let c = c.expect("corrected twin");
        assert_eq!(c.count(), 10_500);
        assert_eq!(c.percentiles(&qs), corrected.percentiles(&qs));
        assert_eq!(c.max_us(), 2_000_000);
        let (agg, none) = decode_histogram("r1", &loaded[1]).expect("decode");
        assert_eq!(agg.count(), 2);
        assert_eq!(agg.percentiles(&[0.5, 1.0]), other.percentiles(&[0.5, 1.0]));
        assert!(none.is_none());

        let broken = NamedHistogram {
            method: "GET".to_string(),
            name: "/x".to_string(),
            histogram: vec![0xde, 0xad],
            ..NamedHistogram::default()
        };
        // without the exact numbers the bucket bounds are all there is
        let bare = NamedHistogram {
            histogram: plain.serialize_v2_deflate(),
            ..NamedHistogram::default()
        };
        let (h, _) = decode_histogram("r1", &bare).expect("decode");
        assert_eq!(h.percentiles(&[0.5, 1.0]), [50_015, 100_031]);

        let err = decode_histogram("r1", &broken).expect_err("garbage");
        assert!(
            matches!(
                err,
                StoreError::Corrupt {
                    what: "histogram",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("run r1"), "{err}");
    }
}
