//! Run records: insert, state changes, heartbeats, the history list, orphan sweep, deletion.
//! Returns `model` types; the row struct and the state text never leave this file.

use super::{from_json, to_json, NewRun, RunFilter, RunRecord, RunSource, Store, StoreError};
use crate::stats::snapshot::RunState;
use crate::stats::thresholds::Verdict;

/// The history list never returns more than this many runs per page.
pub const MAX_LIST_LIMIT: u32 = 500;
/// Page size when the filter asks for 0.
pub const DEFAULT_LIST_LIMIT: u32 = 50;

struct RunRow {
    id: String,
    plan_name: String,
    plan_hash: String,
    plan_file: Option<String>,
    plan_source: String,
    source: String,
    state: String,
    settings_json: String,
    ratio_json: String,
    owner: String,
    started_at_ms: i64,
    ended_at_ms: Option<i64>,
    heartbeat_ms: i64,
    summary_json: Option<String>,
    verdicts_json: Option<String>,
}

super::from_row!(RunRow {
    id,
    plan_name,
    plan_hash,
    plan_file,
    plan_source,
    source,
    state,
    settings_json,
    ratio_json,
    owner,
    started_at_ms,
    ended_at_ms,
    heartbeat_ms,
    summary_json,
    verdicts_json
});

impl RunRow {
    fn into_record(self) -> Result<RunRecord, StoreError> {
        let id = self.id;
        let source = RunSource::parse(&self.source)
            .ok_or_else(|| StoreError::corrupt(&id, "source", format!("{:?}", self.source)))?;
        let state = parse_state(&self.state)
            .ok_or_else(|| StoreError::corrupt(&id, "state", format!("{:?}", self.state)))?;
        let settings = from_json(&id, "settings", &self.settings_json)?;
        let ratio = from_json(&id, "ratio", &self.ratio_json)?;
        let summary = match &self.summary_json {
            Some(text) => Some(from_json(&id, "summary", text)?),
            None => None,
        };
        let verdicts = match &self.verdicts_json {
            Some(text) => from_json(&id, "verdicts", text)?,
            None => Vec::new(),
        };
        Ok(RunRecord {
            id,
            plan_name: self.plan_name,
            plan_hash: self.plan_hash,
            plan_file: self.plan_file,
            plan_source: self.plan_source,
            source,
            state,
            settings,
            ratio,
            owner: self.owner,
            started_at_ms: self.started_at_ms,
            ended_at_ms: self.ended_at_ms,
            heartbeat_ms: self.heartbeat_ms,
            summary,
            verdicts,
        })
    }
}

fn parse_state(s: &str) -> Option<RunState> {
    match s {
        "spawning" => Some(RunState::Spawning),
        "running" => Some(RunState::Running),
        "stopping" => Some(RunState::Stopping),
        "stopped" => Some(RunState::Stopped),
        "aborted" => Some(RunState::Aborted),
        _ => None,
    }
}

/// Characters a run id prefix must have (fewer would match too much to be meant).
pub const MIN_PREFIX: usize = 4;

/// What a run reference ([`Store::lookup_run`]) names.
#[derive(Debug)]
pub enum RunLookup {
    Found(Box<RunRecord>),
    Missing,
    /// A prefix of several runs' ids (up to five of them).
    Ambiguous(Vec<String>),
}

/// `last` -> Some(Some(0)), `last~3` -> Some(Some(3)), `last~x` -> Some(None); None otherwise.
fn last_offset(reference: &str) -> Option<Option<u32>> {
    let rest = reference.strip_prefix("last")?;
    if rest.is_empty() {
        return Some(Some(0));
    }
    Some(rest.strip_prefix('~').and_then(|n| n.parse().ok()))
}

impl Store {
    /// Records a run as it starts: state `spawning`, heartbeat = start.
    pub async fn insert_run(&self, run: &NewRun) -> Result<(), StoreError> {
        let settings = to_json(&run.id, "settings", &run.settings)?;
        let ratio = to_json(&run.id, "ratio", &run.ratio)?;
        sqlx::query(
            "INSERT INTO runs (id, plan_name, plan_hash, plan_file, plan_source, source, state, \
             settings_json, ratio_json, owner, started_at_ms, ended_at_ms, heartbeat_ms, \
             summary_json) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, ?11, NULL)",
        )
        .bind(&run.id)
        .bind(&run.plan_name)
        .bind(&run.plan_hash)
        .bind(&run.plan_file)
        .bind(&run.plan_source)
        .bind(run.source.as_str())
        .bind(RunState::Spawning.as_str())
        .bind(settings)
        .bind(ratio)
        .bind(&run.owner)
        .bind(run.started_at_ms)
        .execute(self.pool())
        .await?;
        tracing::debug!(run = %run.id, plan = %run.plan_name, "run recorded");
        Ok(())
    }

    pub async fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let row: Option<RunRow> = sqlx::query_as(
            "SELECT id, plan_name, plan_hash, plan_file, plan_source, source, state, \
             settings_json, ratio_json, owner, started_at_ms, ended_at_ms, heartbeat_ms, \
             summary_json, verdicts_json FROM runs WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(RunRow::into_record).transpose()
    }

    /// The history, newest first by (start, id). `before` pages on: only runs strictly older
    /// than that run (an unknown id gives an empty page).
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let limit = match filter.limit {
            0 => DEFAULT_LIST_LIMIT,
            n => n.min(MAX_LIST_LIMIT),
        };
        // a row-value comparison against the cursor run keeps paging stable when several runs
        // start in the same millisecond
        let rows: Vec<RunRow> = sqlx::query_as(
            "SELECT id, plan_name, plan_hash, plan_file, plan_source, source, state, \
             settings_json, ratio_json, owner, started_at_ms, ended_at_ms, heartbeat_ms, \
             summary_json, verdicts_json FROM runs \
             WHERE (?1 IS NULL OR plan_name = ?1) \
               AND (?2 IS NULL OR state = ?2) \
               AND (?3 IS NULL OR (started_at_ms, id) < \
                    (SELECT c.started_at_ms, c.id FROM runs AS c WHERE c.id = ?3)) \
               AND (?5 IS NULL OR EXISTS (SELECT 1 FROM json_each(runs.settings_json, '$.labels') \
                    AS l WHERE l.key = ?5 AND l.value = ?6)) \
             ORDER BY started_at_ms DESC, id DESC \
             LIMIT ?4",
        )
        .bind(filter.plan.as_deref())
        .bind(filter.state.map(RunState::as_str))
        .bind(filter.before.as_deref())
        .bind(i64::from(limit))
        .bind(filter.label.as_ref().map(|(k, _)| k.as_str()))
        .bind(filter.label.as_ref().map(|(_, v)| v.as_str()))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(RunRow::into_record).collect()
    }

    /// A run named the way people name runs: its id; a unique prefix of it (4 characters or
    /// more); `last`, or `last~N` for the N-th run before the newest — of the plan named `plan`
    /// when given (otherwise of any plan), and with `label` when given (for `last`).
    pub async fn lookup_run(
        &self,
        reference: &str,
        plan: Option<&str>,
        label: Option<&(String, String)>,
    ) -> Result<RunLookup, StoreError> {
        let reference = reference.trim();
        if let Some(back) = last_offset(reference) {
            let Some(back) = back else {
                return Ok(RunLookup::Missing);
            };
            let filter = RunFilter {
                plan: plan.map(str::to_string),
                label: label.cloned(),
                limit: back.saturating_add(1),
                ..RunFilter::default()
            };
            let mut runs = self.list_runs(&filter).await?;
            return Ok(match runs.len() > back as usize {
                true => RunLookup::Found(Box::new(runs.swap_remove(back as usize))),
                false => RunLookup::Missing,
            });
        }
        if let Some(run) = self.get_run(reference).await? {
            return Ok(RunLookup::Found(Box::new(run)));
        }
        let is_prefix = reference.len() >= MIN_PREFIX
            && reference
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b'-');
        if !is_prefix {
            return Ok(RunLookup::Missing);
        }
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM runs WHERE substr(id, 1, length(?1)) = lower(?1)              AND (?2 IS NULL OR plan_name = ?2) ORDER BY id LIMIT 5",
        )
        .bind(reference)
        .bind(plan)
        .fetch_all(self.pool())
        .await?;
        match ids.as_slice() {
            [] => Ok(RunLookup::Missing),
            [one] => Ok(self
                .get_run(one)
                .await?
                .map_or(RunLookup::Missing, |r| RunLookup::Found(Box::new(r)))),
            many => Ok(RunLookup::Ambiguous(many.to_vec())),
        }
    }

    /// Every plan name in the history, sorted (for the history filter).
    pub async fn plan_names(&self) -> Result<Vec<String>, StoreError> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT plan_name FROM runs ORDER BY plan_name")
                .fetch_all(self.pool())
                .await?;
        Ok(names)
    }

    pub async fn set_state(&self, id: &str, state: RunState) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET state = ?2 WHERE id = ?1")
            .bind(id)
            .bind(state.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Stores the run's threshold verdicts (replacing any stored before).
    pub async fn set_verdicts(&self, id: &str, verdicts: &[Verdict]) -> Result<(), StoreError> {
        let text = to_json(id, "verdicts", &verdicts)?;
        sqlx::query("UPDATE runs SET verdicts_json = ?2 WHERE id = ?1")
            .bind(id)
            .bind(text)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The owner's sign of life: a run whose heartbeat stops is aborted by the next process.
    pub async fn heartbeat(&self, id: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET heartbeat_ms = MAX(heartbeat_ms, ?2) WHERE id = ?1")
            .bind(id)
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Marks a run ended (`state` should be final).
    pub async fn finish_run(
        &self,
        id: &str,
        state: RunState,
        ended_at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE runs SET state = ?2, ended_at_ms = ?3, heartbeat_ms = MAX(heartbeat_ms, ?3) \
             WHERE id = ?1",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(ended_at_ms)
        .execute(self.pool())
        .await?;
        tracing::debug!(run = %id, state = state.as_str(), "run finished");
        Ok(())
    }

    /// Marks `aborted` every unfinished run of another owner that has not heartbeaten for
    /// `stale_after_ms` (its process died); it ended at its last heartbeat. Runs of `my_owner`
    /// and live runs of other processes sharing the file are left alone. Returns the ids.
    pub async fn abort_orphans(
        &self,
        my_owner: &str,
        now_ms: i64,
        stale_after_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let cutoff = now_ms.saturating_sub(stale_after_ms);
        let mut ids: Vec<String> = sqlx::query_scalar(
            "UPDATE runs SET state = 'aborted', ended_at_ms = heartbeat_ms \
             WHERE state IN ('spawning', 'running', 'stopping') \
               AND owner <> ?1 AND heartbeat_ms < ?2 \
             RETURNING id",
        )
        .bind(my_owner)
        .bind(cutoff)
        .fetch_all(self.pool())
        .await?;
        ids.sort();
        if !ids.is_empty() {
            tracing::info!(count = ids.len(), runs = ?ids, "aborted runs whose owner stopped");
        }
        Ok(ids)
    }

    /// Deletes a run and everything stored for it; false when there was no such run.
    pub async fn delete_run(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM runs WHERE id = ?1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::*;
    use crate::store::RunSummary;

    #[test]
    fn state_text_round_trips() {
        for state in [
            RunState::Spawning,
            RunState::Running,
            RunState::Stopping,
            RunState::Stopped,
            RunState::Aborted,
        ] {
            assert_eq!(parse_state(state.as_str()), Some(state));
        }
        assert_eq!(parse_state("Running"), None);
    }

    #[tokio::test]
    async fn runs_are_found_by_prefix_and_by_last() {
        let (store, _dir) = temp_store().await;
        for (id, plan, at) in [
            ("0190a0b0-0000-7000-8000-00000000000a", "shop", 10),
            ("0190a0b0-0000-7000-8000-00000000000b", "shop", 20),
            ("0190a0c0-0000-7000-8000-00000000000c", "blog", 30),
        ] {
            store
                .insert_run(&new_run(id, plan, at))
                .await
                .expect("insert");
        }
        let id = |l: RunLookup| match l {
            RunLookup::Found(r) => r.id,
            other => format!("{other:?}"),
        };
        let find = |r: &'static str, plan: Option<&'static str>| {
            let store = store.clone();
            async move { id(store.lookup_run(r, plan, None).await.expect("lookup")) }
        };
        assert_eq!(
            find("0190a0c", None).await,
            "0190a0c0-0000-7000-8000-00000000000c"
        );
        assert_eq!(
            find("0190A0C0", None).await,
            "0190a0c0-0000-7000-8000-00000000000c"
        );
        assert_eq!(
            find("0190a0b", None).await,
            "Ambiguous([\"0190a0b0-0000-7000-8000-00000000000a\", \"0190a0b0-0000-7000-8000-00000000000b\"])"
        );
        assert_eq!(find("019", None).await, "Missing", "too short to mean one");
        assert_eq!(find("0190%", None).await, "Missing", "no wildcards");
        assert_eq!(
            find("last", None).await,
            "0190a0c0-0000-7000-8000-00000000000c"
        );
        assert_eq!(
            find("last~1", None).await,
            "0190a0b0-0000-7000-8000-00000000000b"
        );
        assert_eq!(
            find("last", Some("shop")).await,
            "0190a0b0-0000-7000-8000-00000000000b"
        );
        assert_eq!(
            find("last~1", Some("shop")).await,
            "0190a0b0-0000-7000-8000-00000000000a"
        );
        assert_eq!(find("last~2", Some("shop")).await, "Missing");
        assert_eq!(find("last~x", None).await, "Missing");
        assert_eq!(
            find("0190a0b0-0000-7000-8000-00000000000a", None).await,
            "0190a0b0-0000-7000-8000-00000000000a"
        );
    }

    #[tokio::test]
    async fn the_history_filters_by_label() {
        let (store, _dir) = temp_store().await;
        for (id, branch, at) in [("a", "main", 10), ("b", "dev", 20), ("c", "main", 30)] {
            let mut run = new_run(id, "shop", at);
            run.settings.labels.insert("branch".into(), branch.into());
            run.settings
                .labels
                .insert("sha".into(), format!("{id}{id}"));
            store.insert_run(&run).await.expect("insert");
        }
        let ids = |label: Option<(&str, &str)>| {
            let store = store.clone();
            let label = label.map(|(k, v)| (k.to_string(), v.to_string()));
            async move {
                let filter = RunFilter {
                    label,
                    ..RunFilter::default()
                };
                let runs = store.list_runs(&filter).await.expect("list");
                runs.into_iter().map(|r| r.id).collect::<Vec<_>>()
            }
        };
        assert_eq!(ids(Some(("branch", "main"))).await, ["c", "a"]);
        assert_eq!(ids(Some(("sha", "bb"))).await, ["b"]);
        assert_eq!(ids(Some(("branch", "nope"))).await, Vec::<String>::new());
        assert_eq!(ids(None).await, ["c", "b", "a"]);
        let got = store.get_run("a").await.expect("get").expect("a");
        assert_eq!(got.settings.labels["branch"], "main");
        let last_main = store
            .lookup_run("last~1", None, Some(&("branch".into(), "main".into())))
            .await
            .expect("lookup");
        assert!(matches!(last_main, RunLookup::Found(r) if r.id == "a"));
    }

    #[tokio::test]
    async fn run_round_trips() {
        let (store, _dir) = temp_store().await;
        let new = new_run(
            "0190a0b0-0000-7000-8000-000000000001",
            "shop",
            1_700_000_000_123,
        );
        store.insert_run(&new).await.expect("insert");

        let got = store.get_run(&new.id).await.expect("get").expect("exists");
        assert_eq!(
            got,
            RunRecord {
                id: new.id.clone(),
                plan_name: "shop".to_string(),
                plan_hash: "hash-shop".to_string(),
                plan_file: Some("plans/shop.toml".to_string()),
                plan_source: "name = \"shop\"\n".to_string(),
                source: RunSource::Api,
                state: RunState::Spawning,
                settings: new.settings.clone(),
                ratio: new.ratio.clone(),
                owner: "owner-a".to_string(),
                started_at_ms: 1_700_000_000_123,
                ended_at_ms: None,
                heartbeat_ms: 1_700_000_000_123,
                summary: None,
                verdicts: Vec::new(),
            }
        );
        assert_eq!(got.settings.spawn_rate, 2.5);
        assert_eq!(got.ratio.classes[0].tasks[0].ratio, 0.75);

        store
            .set_state(&new.id, RunState::Running)
            .await
            .expect("state");
        store
            .heartbeat(&new.id, 1_700_000_005_000)
            .await
            .expect("heartbeat");
        // a late heartbeat never moves the clock back
        store
            .heartbeat(&new.id, 1_700_000_004_000)
            .await
            .expect("heartbeat");
        let got = store.get_run(&new.id).await.expect("get").expect("exists");
        assert_eq!(got.state, RunState::Running);
        assert_eq!(got.heartbeat_ms, 1_700_000_005_000);

        store
            .finish_run(&new.id, RunState::Stopped, 1_700_000_060_000)
            .await
            .expect("finish");
        let got = store.get_run(&new.id).await.expect("get").expect("exists");
        assert_eq!(got.state, RunState::Stopped);
        assert_eq!(got.ended_at_ms, Some(1_700_000_060_000));
        assert_eq!(got.heartbeat_ms, 1_700_000_060_000);

        assert_eq!(store.get_run("nope").await.expect("get"), None);
        let mut dup = new_run(&new.id, "shop", 1);
        dup.owner = "other".to_string();
        assert!(matches!(
            store.insert_run(&dup).await,
            Err(StoreError::Sql(_))
        ));
    }

    #[tokio::test]
    async fn verdicts_round_trip_and_show_in_the_list() {
        let (store, _dir) = temp_store().await;
        store
            .insert_run(&new_run("r1", "shop", 10))
            .await
            .expect("insert");
        let verdict = Verdict {
            expression: "p95 < 300ms".to_string(),
            passed: false,
            observed: 412.5,
            observed_text: "412.5 ms".to_string(),
            threshold: 300.0,
            unit: crate::stats::thresholds::Unit::Ms,
            samples: 40,
            row: None,
            abort_on_fail: true,
            stopped_run_at_s: Some(3.0),
            window: None,
        };
        store
            .set_verdicts("r1", std::slice::from_ref(&verdict))
            .await
            .expect("verdicts");
        let got = store.get_run("r1").await.expect("get").expect("exists");
        assert_eq!(got.verdicts, vec![verdict.clone()]);
        let listed = store.list_runs(&RunFilter::default()).await.expect("list");
        assert_eq!(listed[0].verdicts, vec![verdict]);
    }

    #[tokio::test]
    async fn corrupt_json_is_reported_with_the_run_and_column() {
        let (store, _dir) = temp_store().await;
        store
            .insert_run(&new_run("r1", "shop", 10))
            .await
            .expect("insert");
        sqlx::query("UPDATE runs SET settings_json = '{\"host\": 3}' WHERE id = 'r1'")
            .execute(store.pool())
            .await
            .expect("damage");
        let err = store.get_run("r1").await.expect_err("corrupt");
        match &err {
            StoreError::Corrupt { run_id, what, .. } => {
                assert_eq!(run_id, "r1");
                assert_eq!(*what, "settings");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert!(err.to_string().contains("run r1, settings"), "{err}");
    }

    async fn seed(store: &Store) {
        // (id, plan, started) — r3 and r4 share a start to exercise the id tiebreak
        for (id, plan, started) in [
            ("r1", "shop", 1_000),
            ("r2", "blog", 2_000),
            ("r3", "shop", 3_000),
            ("r4", "shop", 3_000),
            ("r5", "blog", 5_000),
        ] {
            store
                .insert_run(&new_run(id, plan, started))
                .await
                .expect("insert");
        }
        store
            .finish_run("r1", RunState::Stopped, 1_500)
            .await
            .expect("finish");
        store
            .finish_run("r4", RunState::Aborted, 3_500)
            .await
            .expect("finish");
        store
            .set_state("r5", RunState::Running)
            .await
            .expect("state");
    }

    fn ids(runs: &[RunRecord]) -> Vec<&str> {
        runs.iter().map(|r| r.id.as_str()).collect()
    }

    #[tokio::test]
    async fn list_orders_filters_and_pages() {
        let (store, _dir) = temp_store().await;
        seed(&store).await;

        let all = store.list_runs(&RunFilter::default()).await.expect("list");
        assert_eq!(ids(&all), ["r5", "r4", "r3", "r2", "r1"]);

        let shop = RunFilter {
            plan: Some("shop".to_string()),
            ..RunFilter::default()
        };
        assert_eq!(
            ids(&store.list_runs(&shop).await.expect("list")),
            ["r4", "r3", "r1"]
        );

        let stopped = RunFilter {
            state: Some(RunState::Stopped),
            ..RunFilter::default()
        };
        assert_eq!(ids(&store.list_runs(&stopped).await.expect("list")), ["r1"]);
        let spawning_shop = RunFilter {
            plan: Some("shop".to_string()),
            state: Some(RunState::Spawning),
            ..RunFilter::default()
        };
        assert_eq!(
            ids(&store.list_runs(&spawning_shop).await.expect("list")),
            ["r3"]
        );

        // pages of two, following the cursor to the end
        let mut pages = Vec::new();
        let mut before = None;
        loop {
            let page = store
                .list_runs(&RunFilter {
                    limit: 2,
                    before: before.clone(),
                    ..RunFilter::default()
                })
                .await
                .expect("page");
            if page.is_empty() {
                break;
            }
            before = page.last().map(|r| r.id.clone());
            pages.push(ids(&page).join(","));
        }
        assert_eq!(pages, ["r5,r4", "r3,r2", "r1"]);

        // the cursor combines with the plan filter; r4 and r3 share a start
        let after_r4 = RunFilter {
            plan: Some("shop".to_string()),
            before: Some("r4".to_string()),
            ..RunFilter::default()
        };
        assert_eq!(
            ids(&store.list_runs(&after_r4).await.expect("list")),
            ["r3", "r1"]
        );

        let unknown = RunFilter {
            before: Some("missing".to_string()),
            ..RunFilter::default()
        };
        assert!(store.list_runs(&unknown).await.expect("list").is_empty());
    }

    #[tokio::test]
    async fn list_limit_is_clamped() {
        let (store, _dir) = temp_store().await;
        for i in 0..520 {
            store
                .insert_run(&new_run(&format!("r{i:04}"), "bulk", 10_000 + i))
                .await
                .expect("insert");
        }
        let len = |limit| {
            let store = store.clone();
            async move {
                store
                    .list_runs(&RunFilter {
                        limit,
                        ..RunFilter::default()
                    })
                    .await
                    .expect("list")
                    .len()
            }
        };
        assert_eq!(len(0).await, 50);
        assert_eq!(len(1).await, 1);
        assert_eq!(len(500).await, 500);
        assert_eq!(len(10_000).await, 500);
        let newest = store
            .list_runs(&RunFilter {
                limit: 1,
                ..RunFilter::default()
            })
            .await
            .expect("list");
        assert_eq!(newest[0].id, "r0519");
    }

    #[tokio::test]
    async fn plan_names_are_distinct_and_sorted() {
        let (store, _dir) = temp_store().await;
        assert!(store.plan_names().await.expect("names").is_empty());
        seed(&store).await;
        store
            .insert_run(&new_run("r6", "api", 6_000))
            .await
            .expect("insert");
        assert_eq!(
            store.plan_names().await.expect("names"),
            ["api", "blog", "shop"]
        );
    }

    #[tokio::test]
    async fn abort_orphans_only_touches_stale_foreign_runs() {
        let (store, _dir) = temp_store().await;
        let now = 1_000_000;
        let stale = 30_000;
        let mut runs = Vec::new();
        // (id, owner, heartbeat, state)
        for (id, owner, heartbeat, state) in [
            ("dead-running", "owner-b", now - 60_000, RunState::Running),
            ("dead-spawning", "owner-b", now - 31_000, RunState::Spawning),
            ("dead-stopping", "owner-c", now - 45_000, RunState::Stopping),
            ("live-foreign", "owner-b", now - 5_000, RunState::Running),
            ("edge-foreign", "owner-b", now - 30_000, RunState::Running),
            ("mine-stale", "owner-a", now - 600_000, RunState::Running),
            ("done-foreign", "owner-b", now - 900_000, RunState::Stopped),
        ] {
            let mut run = new_run(id, "shop", heartbeat - 1_000);
            run.owner = owner.to_string();
            store.insert_run(&run).await.expect("insert");
            store.heartbeat(id, heartbeat).await.expect("heartbeat");
            store.set_state(id, state).await.expect("state");
            runs.push((id, state));
        }

        let aborted = store
            .abort_orphans("owner-a", now, stale)
            .await
            .expect("abort");
        assert_eq!(aborted, ["dead-running", "dead-spawning", "dead-stopping"]);

        let dead = store
            .get_run("dead-running")
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(dead.state, RunState::Aborted);
        assert_eq!(dead.ended_at_ms, Some(now - 60_000));
        for (id, state) in runs.iter().skip(3) {
            let run = store.get_run(id).await.expect("get").expect("exists");
            assert_eq!(run.state, *state, "{id}");
            assert_eq!(run.ended_at_ms, None, "{id}");
        }
        // nothing left to abort the second time
        assert!(store
            .abort_orphans("owner-a", now, stale)
            .await
            .expect("abort")
            .is_empty());
    }

    #[tokio::test]
    async fn delete_cascades() {
        let (store, _dir) = temp_store().await;
        seed(&store).await;
        let point = crate::stats::snapshot::Point {
            t_s: 1,
            users: 1,
            rps: 1.0,
            fail_per_s: 0.0,
            p50_ms: 1.0,
            p95_ms: 2.0,
            ..Default::default()
        };
        store
            .append_points("r1", &[point], 1_100)
            .await
            .expect("points");
        let total = crate::stats::snapshot::StatsRow {
            name: "Aggregated".to_string(),
            num_requests: 7,
            ..Default::default()
        };
        store
            .save_stats("r1", &[], &total, &[], &[], &RunSummary::default())
            .await
            .expect("stats");

        assert!(store.delete_run("r1").await.expect("delete"));
        assert!(!store.delete_run("r1").await.expect("delete"));
        assert_eq!(store.get_run("r1").await.expect("get"), None);
        for table in [
            "SELECT COUNT(*) FROM run_points",
            "SELECT COUNT(*) FROM run_stats",
        ] {
            let n: i64 = sqlx::query_scalar(table)
                .fetch_one(store.pool())
                .await
                .expect("count");
            assert_eq!(n, 0, "{table}");
        }
        assert_eq!(
            store
                .list_runs(&RunFilter::default())
                .await
                .expect("list")
                .len(),
            4
        );
    }
}
