//! A run's files, live or stored: `/runs/{id}/report.json`, `stats.csv`, `history.csv`,
//! `failures.csv`, `report.html` and `results.jtl` — one handler, one lookup, one place that sets
//! the download headers. The bodies come from `report/`.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use axum::body::Body;
use axum::http::HeaderValue;
use bytes::Bytes;

use super::error::ApiError;
use super::state::AppState;
use crate::plan::model::RequestName;
use crate::report;
use crate::runs::lookup::KeptSamples;
use crate::store::samples::SampleReader;
use crate::store::RunRecord;

/// The files a run offers, by the name in its URL.
#[derive(Clone, Copy, Debug, PartialEq)]
enum RunFile {
    ReportJson,
    StatsCsv,
    HistoryCsv,
    FailuresCsv,
    ReportHtml,
    ResultsJtl,
}

impl RunFile {
    fn from_name(name: &str) -> Option<RunFile> {
        Some(match name {
            "report.json" => RunFile::ReportJson,
            "stats.csv" => RunFile::StatsCsv,
            "history.csv" => RunFile::HistoryCsv,
            "failures.csv" => RunFile::FailuresCsv,
            "report.html" => RunFile::ReportHtml,
            "results.jtl" => RunFile::ResultsJtl,
            _ => return None,
        })
    }
}

const CSV: &str = "text/csv; charset=utf-8";

/// `GET /runs/{id}/{file}`.
pub async fn get_run_file(
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let kind = RunFile::from_name(&file).ok_or_else(|| {
        ApiError::not_found(format!(
            "no file {file:?}: a run offers report.json, stats.csv, history.csv, failures.csv \
             and report.html"
        ))
    })?;
    let record = state.find_run(&id).await?;
    let snapshot = state.runs.snapshot_of(&record).await?;
    let safe = safe_id(&record.id);
    Ok(match kind {
        RunFile::ReportJson => {
            let verdicts = state.runs.verdicts_of(&record);
            let mut body = report::json::summary_with_verdicts(&snapshot, &verdicts);
            report::json::add_monitors(&mut body, &state.runs.monitors_of(&record).await?);
            if let Some(stages) = state.runs.stages_of(&record) {
                body["stages"] = serde_json::to_value(stages).unwrap_or_default();
            }
            body["id"] = serde_json::Value::String(id.clone());
            body["plan"] = serde_json::Value::String(record.plan_name.clone());
            body["settings"] = serde_json::to_value(&record.settings).unwrap_or_default();
            let disposition = format!("attachment; filename=\"hornet-{safe}.json\"");
            (
                [(header::CONTENT_DISPOSITION, disposition)],
                axum::Json(body),
            )
                .into_response()
        }
        RunFile::StatsCsv => attachment(&safe, "stats.csv", report::csv::stats_csv(&snapshot)),
        RunFile::HistoryCsv => attachment(
            &safe,
            "stats_history.csv",
            report::csv::history_csv(&snapshot, record.started_at_ms),
        ),
        // first/last seen are only known to `hornet run --csv`
        RunFile::FailuresCsv => attachment(
            &safe,
            "failures.csv",
            report::csv::failures_csv(&snapshot, None),
        ),
        RunFile::ReportHtml => {
            let lines = report::html::threshold_lines(&state.runs.verdicts_of(&record));
            let monitors = state.runs.monitors_of(&record).await?;
            let mut html =
                report::html::Report::new(&record, &snapshot, Some(lines)).with_monitors(&monitors);
            html.stages = state
                .runs
                .stages_of(&record)
                .as_ref()
                .map(report::stages::StageView::new);
            // Its scripts are inline (the file must open offline): allow exactly those by nonce.
            let nonce = uuid::Uuid::new_v4().simple().to_string();
            let csp = format!(
                "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; \
                 img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
            );
            html.nonce = Some(nonce);
            (
                StatusCode::OK,
                [
                    (header::CONTENT_SECURITY_POLICY, csp),
                    (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("inline; filename=\"hornet-{safe}_report.html\""),
                    ),
                ],
                html.to_html(),
            )
                .into_response()
        }
        RunFile::ResultsJtl => results_jtl(&state, &record, &safe)?,
    })
}

/// The run's kept samples as JMeter CSV, converted while it streams (a long run's file is far
/// bigger than its compressed samples). A note on what is missing goes in `X-Hornet-Samples`.
fn results_jtl(state: &AppState, record: &RunRecord, safe: &str) -> Result<Response, ApiError> {
    let (archive, note) = match state.runs.samples_of(record) {
        KeptSamples::Kept { archive, note } => (archive, note),
        KeptSamples::None(why) => return Err(ApiError::not_found(why)),
    };
    let reader = match archive.open(&record.id) {
        Ok(Some(reader)) => reader,
        Ok(None) => {
            return Err(ApiError::not_found(
                "this run kept no samples, so it has no JTL file",
            ))
        }
        Err(e) => {
            return Err(ApiError::internal(&format!(
                "its samples cannot be read: {e}"
            )))
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    let id = record.id.clone();
    tokio::task::spawn_blocking(move || stream_jtl(reader, &tx, &id));
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, CSV.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"hornet-{safe}_results.jtl\""),
            ),
        ],
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response();
    if let Some(value) = note.and_then(|n| HeaderValue::from_str(&n).ok()) {
        response.headers_mut().insert("x-hornet-samples", value);
    }
    Ok(response)
}

/// Lines in one chunk of the download, about 100 KiB.
const JTL_CHUNK: usize = 96 * 1024;

/// Converts `reader`'s batches to JTL lines into `tx`, a chunk at a time; stops when the client
/// has gone. A corrupt frame ends the file there (the log says so).
fn stream_jtl(
    mut reader: SampleReader,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    id: &str,
) {
    let names: Vec<RequestName> = reader
        .names()
        .iter()
        .map(|n| RequestName {
            kind: String::new(),
            name: n.clone(),
        })
        .collect();
    let fresh = || report::jtl::csv_writer(Vec::with_capacity(JTL_CHUNK + 4096));
    let mut w = fresh();
    if report::jtl::write_header(&mut w).is_err() {
        return;
    }
    loop {
        let batch = match reader.next_batch() {
            Ok(Some(batch)) => batch,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(run = %id, error = %e, "a run's samples end early");
                break;
            }
        };
        if report::jtl::write_batch(&mut w, &batch, &names).is_err() {
            return;
        }
        if w.get_ref().len() >= JTL_CHUNK && !send_chunk(std::mem::replace(&mut w, fresh()), tx) {
            return;
        }
    }
    send_chunk(w, tx);
}

/// Sends what `w` holds; false when the client has gone.
fn send_chunk(
    w: csv::Writer<Vec<u8>>,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
) -> bool {
    match w.into_inner() {
        Ok(chunk) => chunk.is_empty() || tx.blocking_send(Ok(Bytes::from(chunk))).is_ok(),
        Err(_) => false,
    }
}

/// Run ids are UUIDs; anything else would have failed the lookup, but keep the header sane.
fn safe_id(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

/// A CSV file to save, named as the browser offers it (`hornet-<id>_<suffix>`).
fn attachment(safe_id: &str, suffix: &str, body: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"hornet-{safe_id}_{suffix}\"");
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, CSV.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}
