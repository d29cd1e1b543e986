//! Run history in SQLite through sqlx: the only module that knows SQL.
//!
//! This file owns opening the database (pragmas, migrations) and the error type; `runs.rs` the
//! run records, `series.rs` the per-second points and the saved statistics, `writer.rs` the one
//! task that writes while runs are live. Everything here returns `model` types, never rows, and
//! nothing here knows about HTTP, the engine or the clock (callers pass the times).

pub mod model;
pub mod runs;
pub mod samples;
pub mod seconds;
pub mod series;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteSynchronous,
};

pub use model::*;
pub use runs::{RunLookup, MIN_PREFIX};
pub use series::decode_histogram;
pub use writer::{spawn_writer, StoreWriter};

/// The schema's migrations, embedded in the binary. Written out rather than `sqlx::migrate!`:
/// that macro needs sqlx's `macros` feature, whose proc-macro links a second, host-built copy
/// of bundled SQLite (about a minute of a first build on two cores). A new migration is one
/// more line here (`tests` check that the folder and this list agree).
const MIGRATIONS: [(i64, &str, &str); 4] = [
    (1, "init", include_str!("../../migrations/0001_init.sql")),
    (
        2,
        "verdicts",
        include_str!("../../migrations/0002_verdicts.sql"),
    ),
    (
        3,
        "point extras",
        include_str!("../../migrations/0003_point_extras.sql"),
    ),
    (
        5,
        "run seconds",
        include_str!("../../migrations/0005_run_seconds.sql"),
    ),
];

fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sqlx::SqlStr::from_static(sql),
                    false,
                )
            })
            .collect(),
    )
}

/// `impl FromRow` for a struct whose fields are named like the query's columns (what
/// `#[derive(sqlx::FromRow)]` writes, without sqlx's proc-macros).
macro_rules! from_row {
    ($row:ident { $($field:ident),* $(,)? }) => {
        impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for $row {
            fn from_row(row: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
                use sqlx::Row as _;
                Ok($row {
                    $($field: row.try_get(stringify!($field))?,)*
                })
            }
        }
    };
}
pub(crate) use from_row;

/// How long a statement waits for another connection's (or process's) write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything that can go wrong with the history database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the history database {}: {source} (check that its directory exists and is \
         writable, or choose another file with --db)",
        path.display()
    )]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "cannot bring the history database {} up to date: {source} (was it written by a newer \
         Hornet? use another file with --db)",
        path.display()
    )]
    Migrate {
        path: PathBuf,
        #[source]
        source: MigrateError,
    },
    #[error("history database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error(
        "the history database holds unreadable data (run {run_id}, {what}): {detail}; delete that \
         run or use another file with --db"
    )]
    Corrupt {
        run_id: String,
        what: &'static str,
        detail: String,
    },
    #[error("the history writer has stopped; recent statistics may not be saved")]
    WriterStopped,
}

impl StoreError {
    pub(crate) fn corrupt(run_id: &str, what: &'static str, detail: impl ToString) -> Self {
        StoreError::Corrupt {
            run_id: run_id.to_string(),
            what,
            detail: detail.to_string(),
        }
    }
}

/// A write transaction that cannot outlive a failure. SQLite keeps a transaction open (and its
/// write lock held) when COMMIT fails on a full disk; handed back to the pool, such a connection
/// made every later write wait out the busy timeout and fail with "database is locked", for the
/// rest of the process. Here, any way out but a successful [`commit`](WriteTx::commit) closes
/// the connection instead of returning it (closing rolls the transaction back), so the next
/// write starts clean and works again once there is space.
pub(crate) struct WriteTx {
    conn: Option<PoolConnection<Sqlite>>,
}

impl WriteTx {
    /// The connection to run the transaction's statements on.
    pub(crate) fn conn(&mut self) -> Result<&mut SqliteConnection, StoreError> {
        match self.conn.as_mut() {
            Some(conn) => Ok(&mut **conn),
            None => Err(StoreError::WriterStopped),
        }
    }

    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        sqlx::query("COMMIT").execute(self.conn()?).await?;
        // committed: the connection is clean and goes back to the pool
        self.conn.take();
        Ok(())
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Some(conn) = &mut self.conn {
            conn.close_on_drop();
        }
    }
}

/// The history database: cheap to clone (a pool and a path behind `Arc`s).
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    path: Arc<Path>,
}

impl Store {
    /// Opens (creating it if missing) and migrates the database at `path`.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        // sqlx defaults to the rollback journal and to failing on a missing file; WAL lets the
        // pages read while the writer task commits every second, and NORMAL sync is durable
        // against a crash of the process (which is what we protect against) at a fraction of
        // FULL's fsyncs.
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        Store::open_with(path, options).await
    }

    async fn open_with(path: &Path, options: SqliteConnectOptions) -> Result<Store, StoreError> {
        let pool = SqlitePoolOptions::new()
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        migrator()
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        tracing::debug!(path = %path.display(), "history database open");
        Ok(Store {
            pool,
            path: Arc::from(path),
        })
    }

    /// The database file, as given to [`Store::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection (checkpointing the WAL); the store fails every call afterwards.
    /// Dropping the last clone without closing loses nothing already committed.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Whether the database answers (for `/ready`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Starts a write transaction on a connection of its own (see [`WriteTx`]).
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let mut conn = self.pool.acquire().await?;
        // IMMEDIATE takes the write lock now, so a busy database fails here, before any work.
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        Ok(WriteTx { conn: Some(conn) })
    }
}

/// Serializes a model value for a JSON column.
pub(crate) fn to_json<T: serde::Serialize>(
    run_id: &str,
    what: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::corrupt(run_id, what, e))
}

/// Reads a JSON column back, naming the run and column when it does not parse.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    run_id: &str,
    what: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(run_id, what, e))
}

/// SQLite integers are signed; counts above `i64::MAX` do not happen, so saturate.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A fresh database in its own temporary directory (kept alive by the returned guard).
    pub(crate) async fn temp_store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("history.db"))
            .await
            .expect("open store");
        (store, dir)
    }

    /// A database that holds at most `pages` pages (4 KiB each): SQLite then answers "database
    /// or disk is full" exactly as on a full disk.
    pub(crate) async fn capped_store(pages: u32) -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("history.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("max_page_count", pages.to_string());
        let store = Store::open_with(&path, options).await.expect("open store");
        (store, dir)
    }

    pub(crate) fn new_run(id: &str, plan: &str, started_at_ms: i64) -> NewRun {
        NewRun {
            id: id.to_string(),
            plan_name: plan.to_string(),
            plan_hash: format!("hash-{plan}"),
            plan_file: Some(format!("plans/{plan}.toml")),
            plan_source: format!("name = \"{plan}\"\n"),
            source: RunSource::Api,
            settings: RunSettings {
                host: "http://127.0.0.1:8089".to_string(),
                users: 10,
                spawn_rate: 2.5,
                run_time_s: Some(60.0),
                classes: vec![ClassChoice {
                    name: "Browser".to_string(),
                    weight: 3,
                }],
                tags: vec!["smoke".to_string()],
                exclude_tags: vec![],
                shape: None,
                stop_timeout_s: 5.0,
                thresholds: vec![],
                agents: 0,
                labels: Default::default(),
            },
            ratio: Ratio {
                classes: vec![ClassRatio {
                    name: "Browser".to_string(),
                    ratio: 1.0,
                    tasks: vec![TaskRatio {
                        name: "home".to_string(),
                        ratio: 0.75,
                    }],
                }],
            },
            owner: "owner-a".to_string(),
            started_at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn the_embedded_migrations_are_the_migrations_folder() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("migrations folder")
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        assert_eq!(files.len(), MIGRATIONS.len(), "{files:?}");
        for (file, &(version, description, sql)) in files.iter().zip(&MIGRATIONS) {
            let (number, rest) = file.split_once('_').expect("NNNN_name.sql");
            assert_eq!(number.parse::<i64>().ok(), Some(version), "{file}");
            assert_eq!(rest.trim_end_matches(".sql").replace('_', " "), description);
            let on_disk = std::fs::read_to_string(dir.join(file)).expect("read");
            assert_eq!(on_disk, sql, "{file}");
        }
    }

    #[tokio::test]
    async fn open_sets_wal_and_foreign_keys() {
        let (store, _dir) = temp_store().await;
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .expect("journal_mode");
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(store.pool())
            .await
            .expect("foreign_keys");
        assert_eq!(fk, 1);
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(store.pool())
            .await
            .expect("synchronous");
        assert_eq!(sync, 1, "NORMAL");
        assert!(store.path().ends_with("history.db"));
    }

    #[tokio::test]
    async fn open_names_the_path_when_it_cannot() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("no-such-dir").join("history.db");
        let err = Store::open(&path).await.expect_err("missing directory");
        assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("no-such-dir"), "{text}");
        assert!(text.contains("--db"), "{text}");
    }

    #[tokio::test]
    async fn reopening_keeps_everything() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("history.db");
        {
            let store = Store::open(&path).await.expect("open");
            store
                .insert_run(&new_run("run-1", "shop", 1_000))
                .await
                .expect("insert");
            let points = [crate::stats::snapshot::Point {
                t_s: 1,
                users: 4,
                rps: 12.5,
                fail_per_s: 0.5,
                p50_ms: 3.0,
                p95_ms: 9.0,
                ..Default::default()
            }];
            store
                .append_points("run-1", &points, 2_000)
                .await
                .expect("points");
            store
                .finish_run("run-1", crate::stats::snapshot::RunState::Stopped, 2_500)
                .await
                .expect("finish");
            // dropped without close(): committed WAL frames must survive
        }
        let store = Store::open(&path).await.expect("reopen");
        let run = store.get_run("run-1").await.expect("get").expect("exists");
        assert_eq!(run.state, crate::stats::snapshot::RunState::Stopped);
        assert_eq!(run.ended_at_ms, Some(2_500));
        let stats = store.load_stats("run-1").await.expect("stats");
        assert_eq!(stats.points.len(), 1);
        assert_eq!(stats.points[0].rps, 12.5);
    }
}
