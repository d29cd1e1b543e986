//! A run's files, live or stored: `/runs/{id}/report.json`, `stats.csv`, `history.csv`,
//! `failures.csv`, `report.html` and `results.jtl` — one handler, one lookup, one place that sets
//! the download headers. The bodies come from `report/`.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;
use crate::report;

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
            let mut html = report::html::Report::new(&record, &snapshot, Some(lines));
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
        // JTL is one line per sample, which history does not keep (it keeps histograms).
        RunFile::ResultsJtl => {
            return Err(ApiError::not_found(
                "JTL is written by `hornet run --jtl FILE`: it holds one line per sample, which \
                 run history does not keep (use stats.csv, history.csv or report.html here)",
            ))
        }
    })
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
