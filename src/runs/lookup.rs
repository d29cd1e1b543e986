//! Finding a run again by id — the live one of this process, else the stored one — with its
//! statistics and verdicts (live from the engine, or as last saved). Pages, the API, Locust's
//! endpoints and compare all look runs up here; none has its own copy.

use std::sync::Arc;

use super::Runs;
use crate::stats::aggregator::AGGREGATED;
use crate::stats::snapshot::{Snapshot, StatsRow};
use crate::stats::stages::StageAnalysis;
use crate::stats::thresholds::Verdict;
use crate::store::samples::{ArchiveStatus, SampleArchive};
use crate::store::{RunLookup, RunRecord, StoreError};

impl Runs {
    /// The run named `reference` (its id, a unique prefix of it, `last` or `last~N`: see
    /// `Store::lookup_run`), live or stored.
    pub async fn find(&self, reference: &str) -> Result<RunLookup, StoreError> {
        if let Some(live) = self.get(reference) {
            return Ok(RunLookup::Found(Box::new(live.record.as_ref().clone())));
        }
        let found = match self.store() {
            Some(store) => store.lookup_run(reference, None, None).await?,
            None => RunLookup::Missing,
        };
        // The stored record of a live run lags behind: take the live one.
        Ok(match found {
            RunLookup::Found(r) => match self.get(&r.id) {
                Some(live) => RunLookup::Found(Box::new(live.record.as_ref().clone())),
                None => RunLookup::Found(r),
            },
            other => other,
        })
    }

    /// The statistics of a run: live from the engine, or the last saved ones.
    pub async fn snapshot_of(&self, record: &RunRecord) -> Result<Arc<Snapshot>, StoreError> {
        if let Some(live) = self.get(&record.id) {
            return Ok(live.snapshot());
        }
        let Some(store) = self.store() else {
            return Ok(Arc::new(stored_snapshot(record, Default::default())));
        };
        let stored = store.load_stats(&record.id).await?;
        Ok(Arc::new(stored_snapshot(record, stored)))
    }

    /// The monitor series of a run: live from its monitors, or as stored (empty: none).
    pub async fn monitors_of(
        &self,
        record: &RunRecord,
    ) -> Result<crate::stats::monitor::MonitorData, StoreError> {
        if let Some(live) = self.get(&record.id) {
            return Ok(live.monitors().map(|f| f.data()).unwrap_or_default());
        }
        match self.store() {
            Some(store) => store.load_monitors(&record.id).await,
            None => Ok(Default::default()),
        }
    }

    /// Whether run `record` can give its JTL, and what to say about it.
    pub fn samples_of(&self, record: &RunRecord) -> KeptSamples {
        if record.settings.agents > 0 {
            return KeptSamples::None(
                "A run on agents keeps no samples here: each agent holds its own (run `hornet \
                 agent` with a JTL of its own if you need every sample)."
                    .into(),
            );
        }
        let Some(archive) = &self.inner.samples else {
            return KeptSamples::None(
                "This server keeps no samples (it was started with --no-samples): use `hornet \
                 run --jtl FILE` for a JTL file."
                    .into(),
            );
        };
        match archive.status(&record.id) {
            ArchiveStatus::Missing => KeptSamples::None(
                "This run kept no samples (it ran with --no-samples, without history, or \
                 before Hornet kept them), so it has no JTL file."
                    .into(),
            ),
            ArchiveStatus::Complete(summary) => KeptSamples::Kept {
                archive: archive.clone(),
                note: summary
                    .shortfall()
                    .map(|s| format!("Not every sample is in it: {s}.")),
            },
            ArchiveStatus::Unfinished { .. } => KeptSamples::Kept {
                archive: archive.clone(),
                note: (self.get(&record.id).is_none()).then(|| {
                    "Its process stopped before the run ended: the file holds the samples up \
                     to its last second."
                        .to_string()
                }),
            },
        }
    }

    /// A shaped run's stage analysis: so far while it is live, else as stored with its final
    /// numbers (None: the run had no shape, or its process stopped before the end).
    pub fn stages_of(&self, record: &RunRecord) -> Option<StageAnalysis> {
        match self.get(&record.id) {
            Some(live) => live.stages(),
            None => record.summary.as_ref().and_then(|s| s.stages.clone()),
        }
    }

    /// The run's threshold verdicts: judged so far while it is live, else as stored.
    pub fn verdicts_of(&self, record: &RunRecord) -> Vec<Verdict> {
        match self.get(&record.id) {
            Some(live) => live.verdicts(),
            None => record.verdicts.clone(),
        }
    }
}

/// A run's samples for its JTL file.
pub enum KeptSamples {
    /// In `archive`, with a sentence when not every sample is there.
    Kept {
        archive: SampleArchive,
        note: Option<String>,
    },
    /// None kept: the sentence says why.
    None(String),
}

fn stored_snapshot(record: &RunRecord, stored: crate::store::StoredStats) -> Snapshot {
    let summary = record.summary.clone().unwrap_or_default();
    Snapshot {
        state: record.state,
        elapsed_s: summary.duration_s,
        users: 0,
        rows: stored.rows,
        total: stored.total.unwrap_or_else(|| StatsRow {
            name: AGGREGATED.into(),
            ..Default::default()
        }),
        failures: stored.failures,
        series: stored.points,
        current_p50_ms: 0.0,
        current_p95_ms: 0.0,
        warnings: summary.warnings,
        dropped: summary.dropped,
        cancelled: summary.cancelled,
        skipped: summary.skipped,
        agents: summary.agents,
        lag: summary.lag,
    }
}
