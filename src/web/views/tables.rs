//! The run's statistics, failures and warnings as the run page shows them and as its SSE events
//! swap them in (`partials/*.html`, rendered alone for the `stats`, `failures` and `warnings`
//! events). View models and fragment templates only; the event stream is `web::events`.

use askama::Template;

use crate::format::{fmt_bytes, fmt_ms, fmt_rps, DASH};
use crate::stats::snapshot::{AgentState, AgentStatus, FailureRow, Snapshot, StatsRow};

/// One statistics row, formatted.
#[derive(Clone, Debug, Default)]
pub struct RowView {
    pub method: String,
    pub name: String,
    pub requests: String,
    pub fails: String,
    pub has_fails: bool,
    pub median: String,
    pub p90: String,
    pub p95: String,
    pub p99: String,
    pub avg: String,
    pub min: String,
    pub max: String,
    pub avg_bytes: String,
    pub rps: String,
    pub fail_per_s: String,
}

impl RowView {
    pub fn from_row(r: &StatsRow) -> RowView {
        let none = r.num_requests == 0;
        let ms = |v: f64| if none { DASH.to_string() } else { fmt_ms(v) };
        RowView {
            method: r.method.clone(),
            name: r.name.clone(),
            requests: r.num_requests.to_string(),
            fails: r.num_failures.to_string(),
            has_fails: r.num_failures > 0,
            median: ms(r.median_ms),
            p90: ms(r.percentiles.p90),
            p95: ms(r.percentiles.p95),
            p99: ms(r.percentiles.p99),
            avg: ms(r.avg_ms),
            min: ms(r.min_ms),
            max: ms(r.max_ms),
            avg_bytes: fmt_bytes(r.avg_bytes),
            rps: fmt_rps(r.current_rps),
            fail_per_s: fmt_rps(r.current_fail_per_s),
        }
    }
}

/// The statistics table's content: per-name rows and the Aggregated row.
#[derive(Clone, Debug, Default)]
pub struct StatsView {
    pub rows: Vec<RowView>,
    pub total: RowView,
}

impl StatsView {
    pub fn from_snapshot(s: &Snapshot) -> StatsView {
        StatsView {
            rows: s.rows.iter().map(RowView::from_row).collect(),
            total: RowView::from_row(&s.total),
        }
    }
}

/// The `stats` SSE event's data: `partials/stats_table.html` alone.
#[derive(Template)]
#[template(path = "partials/stats_table.html")]
pub struct StatsTable {
    pub stats: StatsView,
}

impl StatsTable {
    pub fn new(snapshot: &Snapshot) -> StatsTable {
        StatsTable {
            stats: StatsView::from_snapshot(snapshot),
        }
    }
}

/// The `failures` SSE event's data: `partials/failures_table.html` alone.
#[derive(Template)]
#[template(path = "partials/failures_table.html")]
pub struct FailuresTable {
    pub failures: Vec<FailureRow>,
}

impl FailuresTable {
    pub fn new(snapshot: &Snapshot) -> FailuresTable {
        FailuresTable {
            failures: snapshot.failures.clone(),
        }
    }
}

/// The `warnings` SSE event's data: `partials/warnings.html` alone (the generator saturated,
/// the history could not be written, requests cancelled at stop...).
#[derive(Template)]
#[template(path = "partials/warnings.html")]
pub struct WarningsList {
    pub warnings: Vec<String>,
}

impl WarningsList {
    pub fn new(snapshot: &Snapshot) -> WarningsList {
        WarningsList {
            warnings: snapshot.warnings.clone(),
        }
    }
}

/// The `agents` SSE event's data: `partials/agents_table.html` alone (a run on agents).
#[derive(Template)]
#[template(path = "partials/agents_table.html")]
pub struct AgentsTable {
    pub agents: Vec<AgentView>,
    /// Who was lost and when, for the degraded banner; empty when none was.
    pub lost: String,
}

/// One agent's row, formatted.
pub struct AgentView {
    pub index: u32,
    pub host: String,
    pub state: &'static str,
    /// Why it was lost, when it was.
    pub note: String,
    pub users: u32,
    pub peak_users: u32,
    pub requests: u64,
    pub rps: String,
    pub cpu: String,
    pub memory: String,
    pub lag: String,
    pub last_seen: String,
}

impl AgentsTable {
    pub fn new(snapshot: &Snapshot) -> AgentsTable {
        AgentsTable::of(&snapshot.agents)
    }

    pub fn of(agents: &[AgentStatus]) -> AgentsTable {
        let lost: Vec<String> = agents
            .iter()
            .filter(|a| a.state == AgentState::Lost)
            .map(|a| {
                format!(
                    "agent {} ({}) was lost at {} s; its share of the load is missing from then \
                     to the end",
                    a.index,
                    a.host,
                    fmt_seconds(a.lost_at_s.unwrap_or_default())
                )
            })
            .collect();
        AgentsTable {
            agents: agents.iter().map(AgentView::of).collect(),
            lost: lost.join("; "),
        }
    }
}

impl AgentView {
    fn of(a: &AgentStatus) -> AgentView {
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| DASH.to_string());
        AgentView {
            index: a.index,
            host: a.host.clone(),
            state: a.state.as_str(),
            note: a.lost_why.clone().unwrap_or_default(),
            users: a.users,
            peak_users: a.peak_users,
            requests: a.requests,
            rps: fmt_rps(a.rps),
            cpu: or_dash(a.cpu_percent.map(|c| format!("{c:.0}"))),
            memory: or_dash(
                a.rss_bytes
                    .map(|b| format!("{:.0} MiB", b as f64 / 1048576.0)),
            ),
            lag: or_dash(a.lag_p99_ms.map(fmt_ms)),
            last_seen: fmt_seconds(a.last_seen_s),
        }
    }
}

fn fmt_seconds(s: f64) -> String {
    format!("{s:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::snapshot::RunState;
    use crate::web::views::fixtures::{assert_escaped, snapshot};

    #[test]
    fn stats_fragment_has_every_column_and_the_aggregated_footer() {
        let html = StatsTable::new(&snapshot(RunState::Running))
            .render()
            .unwrap();
        for col in [
            "Type",
            "Name",
            "# Requests",
            "# Fails",
            "Median (ms)",
            "90%ile (ms)",
            "95%ile (ms)",
            "99%ile (ms)",
            "Average (ms)",
            "Min (ms)",
            "Max (ms)",
            "Average size (bytes)",
            "Current RPS",
            "Current Failures/s",
        ] {
            assert!(html.contains(&format!(">{col}</th>")), "column {col}");
        }
        let foot = &html[html.find("<tfoot>").unwrap()..];
        assert!(foot.contains("Aggregated") && foot.contains(">105<"));
        assert!(html.contains(">12.3<") && html.contains(">55.2<") && html.contains(">512<"));
        assert!(!html.contains("<html"), "a fragment, not a page");
        assert_escaped(&html);

        let mut empty = snapshot(RunState::Spawning);
        empty.rows.clear();
        empty.total = StatsRow::default();
        let html = StatsTable::new(&empty).render().unwrap();
        assert!(html.contains("No requests yet."));
    }

    #[test]
    fn failures_fragment_escapes_errors() {
        let html = FailuresTable::new(&snapshot(RunState::Running))
            .render()
            .unwrap();
        assert!(html.contains(">2<") && html.contains("/tools"));
        assert_escaped(&html);
        let mut none = snapshot(RunState::Running);
        none.failures.clear();
        assert!(FailuresTable::new(&none)
            .render()
            .unwrap()
            .contains("No failures."));
    }

    #[test]
    fn the_agents_fragment_names_a_lost_agent_and_escapes_hosts() {
        use crate::stats::snapshot::{AgentState, AgentStatus};
        use crate::web::views::fixtures::XSS;
        let agent = |index, state| AgentStatus {
            index,
            host: XSS.to_string(),
            state,
            users: 2,
            peak_users: 3,
            requests: 120,
            rps: 40.0,
            cpu_percent: Some(12.4),
            rss_bytes: Some(24 << 20),
            lag_p99_ms: None,
            last_seen_s: 3.0,
            lost_at_s: (state == AgentState::Lost).then_some(2.5),
            lost_why: (state == AgentState::Lost).then(|| "its connection closed".into()),
        };
        let table = AgentsTable::of(&[agent(0, AgentState::Connected), agent(1, AgentState::Lost)]);
        let html = table.render().unwrap();
        assert_escaped(&html);
        assert!(html.contains("Degraded:"), "{html}");
        assert!(html.contains("was lost at 2.5 s"), "{html}");
        assert!(html.contains("its connection closed"), "{html}");
        assert!(
            html.contains("2 (3)") && html.contains("24 MiB") && html.contains(">12<"),
            "{html}"
        );
        let none = AgentsTable::of(&[agent(0, AgentState::Ended)])
            .render()
            .unwrap();
        assert!(!none.contains("Degraded"), "{none}");
    }
}
