//! A run's monitor series: written while the run goes (the writer's batches), read back whole.

use sqlx::sqlite::SqliteConnection;

use super::{from_row, Store, StoreError};
use crate::plan::monitor::MonitorUnit;
use crate::stats::monitor::{MonitorData, MonitorPoint, MonitorSeries, SeriesKind};

/// A series as first written: what it is, and how its growth is judged.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesHead {
    pub name: String,
    pub unit: MonitorUnit,
    pub kind: SeriesKind,
    /// Its place among the run's series (their order on the page).
    pub position: usize,
    pub warmup_ms: i64,
    pub window_ms: i64,
}

/// One read of one series, `t_ms` after the run's start.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitorRead {
    pub series: String,
    pub t_ms: i64,
    pub value: f64,
}

/// What one scrape of a run's monitors adds: series seen for the first time, and the reads.
#[derive(Clone, Debug, Default)]
pub struct MonitorBatch {
    pub new_series: Vec<SeriesHead>,
    pub reads: Vec<MonitorRead>,
}

struct SeriesRow {
    series: String,
    unit: String,
    kind: String,
    warmup_ms: i64,
    window_ms: i64,
}

from_row!(SeriesRow {
    series,
    unit,
    kind,
    warmup_ms,
    window_ms
});

struct PointRow {
    series: String,
    t_ms: i64,
    value: f64,
}

from_row!(PointRow {
    series,
    t_ms,
    value
});

pub(crate) async fn write_monitor_batch(
    conn: &mut SqliteConnection,
    id: &str,
    batch: &MonitorBatch,
) -> Result<(), sqlx::Error> {
    for s in &batch.new_series {
        sqlx::query(
            "INSERT OR IGNORE INTO run_monitor_series (run_id, series, unit, kind, position, \
             warmup_ms, window_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(id)
        .bind(&s.name)
        .bind(s.unit.as_str())
        .bind(s.kind.as_str())
        .bind(s.position as i64)
        .bind(s.warmup_ms)
        .bind(s.window_ms)
        .execute(&mut *conn)
        .await?;
    }
    for r in &batch.reads {
        sqlx::query(
            "INSERT OR REPLACE INTO run_monitor_points (run_id, series, t_ms, value) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(id)
        .bind(&r.series)
        .bind(r.t_ms)
        .bind(r.value)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Adds one scrape's series and reads of run `id` in one transaction.
    pub async fn append_monitor_batch(
        &self,
        id: &str,
        batch: &MonitorBatch,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        write_monitor_batch(tx.conn()?, id, batch).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every monitor series of run `id` in the order they were first read (empty: none).
    pub async fn load_monitors(&self, id: &str) -> Result<MonitorData, StoreError> {
        let heads: Vec<SeriesRow> = sqlx::query_as(
            "SELECT series, unit, kind, warmup_ms, window_ms FROM run_monitor_series \
             WHERE run_id = ?1 ORDER BY position, series",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        let points: Vec<PointRow> = sqlx::query_as(
            "SELECT series, t_ms, value FROM run_monitor_points WHERE run_id = ?1 \
             ORDER BY series, t_ms",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        let mut data = MonitorData::default();
        for h in &heads {
            data.warmup_s = h.warmup_ms as f64 / 1000.0;
            data.window_s = h.window_ms as f64 / 1000.0;
            data.series.push(MonitorSeries {
                name: h.series.clone(),
                // a unit this version does not know reads as a plain number
                unit: MonitorUnit::parse(&h.unit).unwrap_or(MonitorUnit::Count),
                kind: SeriesKind::parse(&h.kind),
                points: Vec::new(),
            });
        }
        for p in points {
            if let Some(s) = data.series.iter_mut().find(|s| s.name == p.series) {
                s.points.push(MonitorPoint {
                    t_s: p.t_ms as f64 / 1000.0,
                    value: p.value,
                });
            }
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::*;

    #[tokio::test]
    async fn monitor_batches_read_back_in_order() {
        let (store, _dir) = temp_store().await;
        let id = "r1";
        store.insert_run(&new_run(id, "soak", 1_000)).await.unwrap();
        let head = |name: &str, position| SeriesHead {
            name: name.into(),
            unit: MonitorUnit::Bytes,
            kind: SeriesKind::Gauge,
            position,
            warmup_ms: 2000,
            window_ms: 3000,
        };
        let read = |series: &str, t_ms, value| MonitorRead {
            series: series.into(),
            t_ms,
            value,
        };
        let first = MonitorBatch {
            new_series: vec![head("gw.rss", 0), head("db.rss", 1)],
            reads: vec![read("gw.rss", 0, 10.0), read("db.rss", 0, 5.0)],
        };
        store.append_monitor_batch(id, &first).await.unwrap();
        let second = MonitorBatch {
            new_series: vec![],
            reads: vec![read("gw.rss", 1000, 12.0), read("gw.rss", 1000, 13.0)],
        };
        store.append_monitor_batch(id, &second).await.unwrap();
        let data = store.load_monitors(id).await.unwrap();
        assert_eq!((data.warmup_s, data.window_s), (2.0, 3.0));
        let names: Vec<&str> = data.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["gw.rss", "db.rss"]);
        let gw: Vec<(f64, f64)> = data.series[0]
            .points
            .iter()
            .map(|p| (p.t_s, p.value))
            .collect();
        assert_eq!(
            gw,
            [(0.0, 10.0), (1.0, 13.0)],
            "a retried second is replaced"
        );
        assert!(store.load_monitors("none").await.unwrap().series.is_empty());
    }
}
