//! `GET /api/runs/{id}/events`: one SSE stream per page. Once a second (each new snapshot) it
//! sends the statistics, failures and warnings as HTML fragments (`stats`, `failures`,
//! `warnings`, `thresholds`, for a shaped run `stages` and, for a run on agents, `agents`, swapped in
//! by htmx's `sse-swap`), the header numbers and the newest chart point as JSON (`tick`), the
//! state when it changes (`state`), the monitor reads not sent yet (`monitor`), and `done` once the run's final numbers are stored; then it
//! ends. It also ends when the server shuts down, or graceful shutdown would wait for it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::error::ApiError;
use super::state::AppState;
use super::views::{
    AgentsTable, FailuresTable, StagesSection, StatsTable, ThresholdsList, WarningsList,
};
use crate::report::stages::StageView;
use crate::runs::LiveRun;
use crate::stats::snapshot::Snapshot;

pub async fn stream_run_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (tx, rx) = mpsc::channel::<Event>(8);
    match state.runs.get(&id) {
        Some(live) => {
            tokio::spawn(follow(live, tx, state.shutdown.clone()));
        }
        None => {
            let record = state
                .store
                .get_run(&id)
                .await?
                .ok_or_else(|| ApiError::run_not_found(&id))?;
            let done = Event::default()
                .event("done")
                .data(json!({ "state": record.state }).to_string());
            // The channel has room: this cannot fail.
            let _ = tx.try_send(done);
        }
    }
    let stream = futures_util::StreamExt::map(ReceiverStream::new(rx), Ok::<_, Infallible>);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// Sends the run's snapshots until it is recorded, the client leaves or the server stops.
async fn follow(
    live: LiveRun,
    tx: mpsc::Sender<Event>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut snapshots = live.handle.snapshots();
    let mut last_state = None;
    let mut last_t = None;
    // monitor points already sent, per series
    let mut monitor_sent = Vec::new();
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        let mut events = snapshot_events(&snapshot, &mut last_state, &mut last_t);
        events.extend(thresholds_event(&live, true));
        events.extend(monitor_event(&live, &mut monitor_sent));
        events.extend(stages_event(&live));
        for event in events {
            if tx.send(event).await.is_err() {
                return;
            }
        }
        if snapshot.state.is_final() {
            break;
        }
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { break },
            // The server stops its runs and waits for them to be recorded before it cancels
            // this: the page still gets the final numbers and `done` below.
            _ = shutdown.cancelled() => break,
            _ = tx.closed() => return,
        }
    }
    tokio::select! {
        biased;
        _ = live.recorded() => {}
        _ = shutdown.cancelled() => if !live.is_recorded() { return },
    }
    let final_snapshot = live.snapshot();
    let mut events = snapshot_events(&final_snapshot, &mut last_state, &mut last_t);
    // Recorded: the verdicts are the final ones.
    events.extend(thresholds_event(&live, false));
    events.extend(monitor_event(&live, &mut monitor_sent));
    events.extend(stages_event(&live));
    for event in events {
        if tx.send(event).await.is_err() {
            return;
        }
    }
    let done = Event::default()
        .event("done")
        .data(json!({ "state": final_snapshot.state }).to_string());
    let _ = tx.send(done).await;
}

/// The monitor points read since the last `monitor` event (`static/monitor_charts.js` adds
/// them), as `{"series": [{"name", "unit", "points": [[t_s, value]]}]}`; none when nothing new.
fn monitor_event(live: &LiveRun, sent: &mut Vec<usize>) -> Option<Event> {
    let new = live.monitors()?.since(sent);
    if new.is_empty() {
        return None;
    }
    Some(
        Event::default()
            .event("monitor")
            .data(crate::report::monitor::monitor_json(&new)),
    )
}

/// The thresholds as judged now (`judged_so_far`) or finally; none when the run has none.
fn thresholds_event(live: &LiveRun, judged_so_far: bool) -> Option<Event> {
    let verdicts = live.verdicts();
    if verdicts.is_empty() {
        return None;
    }
    match askama::Template::render(&ThresholdsList::new(&verdicts, judged_so_far)) {
        Ok(html) => Some(Event::default().event("thresholds").data(html)),
        Err(e) => {
            tracing::warn!(error = %e, "thresholds fragment not rendered");
            None
        }
    }
}

/// A shaped run's stage analysis, so far or final; none for a run without a shape.
fn stages_event(live: &LiveRun) -> Option<Event> {
    let stages = StageView::new(&live.stages()?);
    match askama::Template::render(&StagesSection { stages }) {
        Ok(html) => Some(Event::default().event("stages").data(html)),
        Err(e) => {
            tracing::warn!(error = %e, "stages fragment not rendered");
            None
        }
    }
}

fn snapshot_events(
    s: &Arc<Snapshot>,
    last_state: &mut Option<crate::stats::snapshot::RunState>,
    last_t: &mut Option<u64>,
) -> Vec<Event> {
    let mut events = Vec::with_capacity(4);
    match askama::Template::render(&StatsTable::new(s)) {
        Ok(html) => events.push(Event::default().event("stats").data(html)),
        Err(e) => tracing::warn!(error = %e, "stats fragment not rendered"),
    }
    match askama::Template::render(&FailuresTable::new(s)) {
        Ok(html) => events.push(Event::default().event("failures").data(html)),
        Err(e) => tracing::warn!(error = %e, "failures fragment not rendered"),
    }
    match askama::Template::render(&WarningsList::new(s)) {
        Ok(html) => events.push(Event::default().event("warnings").data(html)),
        Err(e) => tracing::warn!(error = %e, "warnings fragment not rendered"),
    }
    if !s.agents.is_empty() {
        match askama::Template::render(&AgentsTable::new(s)) {
            Ok(html) => events.push(Event::default().event("agents").data(html)),
            Err(e) => tracing::warn!(error = %e, "agents fragment not rendered"),
        }
    }
    let point = s.series.last().filter(|p| Some(p.t_s) != *last_t);
    if let Some(p) = point {
        *last_t = Some(p.t_s);
    }
    let tick = json!({
        "point": point,
        "state": s.state,
        "users": s.users,
        "rps": s.total.current_rps,
        "fail_pct": s.total.fail_ratio() * 100.0,
        "elapsed_s": s.elapsed_s,
        "requests": s.total.num_requests,
        "p50_ms": s.current_p50_ms,
        "p95_ms": s.current_p95_ms,
        "dropped": s.dropped,
        "lag": s.lag.map(|l| l.text()),
        "warnings": s.warnings.len(),
    });
    events.push(Event::default().event("tick").data(tick.to_string()));
    if *last_state != Some(s.state) {
        *last_state = Some(s.state);
        events.push(
            Event::default()
                .event("state")
                .data(json!({ "state": s.state }).to_string()),
        );
    }
    events
}
