//! The HTML report: ONE file with its CSS, its JavaScript and its chart library (uPlot, vendored
//! in `static/vendor/`) inline, so that it opens offline, from a mail attachment or a CI
//! artifact: summary, thresholds, statistics, response-time percentiles, charts over time,
//! failures, warnings and configuration. Rendered by askama (`templates/report.html`), which
//! escapes every value from the plan, the run or the target; the only unescaped values are the
//! vendored assets and JSON whose `<` are escaped (it cannot close its `<script>`).

use askama::Template;

use super::settings::settings_rows;
use super::stages::StageView;
use crate::format::{fmt_bytes, fmt_duration, fmt_ms, fmt_pct, fmt_rps, fmt_utc};
use crate::stats::snapshot::{FailureRow, Percentiles, Point, Snapshot, StatsRow};
use crate::store::RunRecord;

const UPLOT_JS: &str = include_str!("../../static/vendor/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../static/vendor/uPlot.min.css");
/// The monitor charts, the run page's own script.
const MONITOR_JS: &str = include_str!("../../static/monitor_charts.js");

/// One threshold's verdict as the report shows it (filled by the thresholds evaluation).
#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdLine {
    pub expression: String,
    pub observed: String,
    pub passed: bool,
}

/// The report's lines for threshold verdicts.
pub fn threshold_lines(verdicts: &[crate::stats::thresholds::Verdict]) -> Vec<ThresholdLine> {
    verdicts
        .iter()
        .map(|v| ThresholdLine {
            expression: v.expression.clone(),
            // a windowed threshold's value needs its window's span beside it
            observed: match &v.window {
                Some(_) => v.observed_phrase(),
                None => v.observed_text.clone(),
            },
            passed: v.passed,
        })
        .collect()
}

/// A statistics row, formatted.
#[derive(Clone, Debug)]
pub struct RowLine {
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub fails: u64,
    pub fail_pct: String,
    pub avg: String,
    pub min: String,
    pub max: String,
    pub median: String,
    pub avg_bytes: String,
    pub rps: String,
    pub fail_per_s: String,
    /// p50 ... p100 in [`Percentiles::LABELS`] order.
    pub percentiles: Vec<String>,
}

impl RowLine {
    fn new(r: &StatsRow) -> RowLine {
        let none = r.num_requests == 0;
        let ms = |v: f64| if none { "—".to_string() } else { fmt_ms(v) };
        RowLine {
            method: r.method.clone(),
            name: r.name.clone(),
            requests: r.num_requests,
            fails: r.num_failures,
            fail_pct: fmt_pct(r.fail_ratio()),
            avg: ms(r.avg_ms),
            min: ms(r.min_ms),
            max: ms(r.max_ms),
            median: ms(r.median_ms),
            avg_bytes: fmt_bytes(r.avg_bytes),
            rps: fmt_rps(r.total_rps),
            fail_per_s: fmt_rps(r.total_fail_per_s),
            percentiles: r.percentiles.to_array().into_iter().map(ms).collect(),
        }
    }
}

/// A WebSocket row's delivery: messages sent, replies received, lost, loss.
pub struct WsLine {
    pub method: String,
    pub name: String,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub loss: String,
}

/// An SSE stream row: connections opened, drops, reconnects, events, events/s, drop.
pub struct SseLine {
    pub name: String,
    pub opened: u64,
    pub drops: u64,
    pub reconnects: u64,
    pub events: u64,
    pub events_per_s: String,
    pub drop: String,
}

/// A fan-out topic row: events published, deliveries expected, messages, deliveries received,
/// unmatched messages, delivery.
pub struct FanoutLine {
    pub name: String,
    pub published: u64,
    pub expected: u64,
    pub messages: u64,
    pub received: u64,
    pub unmatched: u64,
    pub delivery: String,
}

#[derive(Template)]
#[template(path = "report.html")]
pub struct Report {
    pub id: String,
    pub plan_name: String,
    pub state: String,
    pub started: String,
    pub duration: String,
    pub users: u32,
    pub summary: RowLine,
    pub rows: Vec<RowLine>,
    /// Rows with WebSocket delivery counts (the section is left out when empty).
    pub ws_rows: Vec<WsLine>,
    /// Rows with SSE stream counts (the section is left out when empty).
    pub sse_rows: Vec<SseLine>,
    /// Rows with fan-out counts (the section is left out when empty).
    pub fanout_rows: Vec<FanoutLine>,
    pub labels: [&'static str; 11],
    /// None: no threshold was evaluated for this run (the section says so).
    pub thresholds: Option<Vec<ThresholdLine>>,
    pub failures: Vec<FailureRow>,
    pub warnings: Vec<String>,
    pub settings: Vec<(&'static str, String)>,
    /// JSON for the charts, `<` escaped.
    pub series_json: String,
    pub started_ms: i64,
    pub uplot_js: &'static str,
    pub uplot_css: &'static str,
    /// The CSP nonce of the inline scripts when served over HTTP; None in a file.
    pub nonce: Option<String>,
    /// The monitor series for the charts, `<` escaped, and their summary (see
    /// [`Report::with_monitors`]).
    pub monitor_json: String,
    pub monitor_rows: Vec<[String; 7]>,
    pub monitor_js: &'static str,
    /// A shaped run's stage analysis (its callers set it).
    pub stages: Option<StageView>,
}

impl Report {
    pub fn new(run: &RunRecord, s: &Snapshot, thresholds: Option<Vec<ThresholdLine>>) -> Report {
        let peak = run
            .summary
            .as_ref()
            .map_or(0, |x| x.peak_users)
            .max(s.series.iter().map(|p| p.users).max().unwrap_or(0))
            .max(s.users);
        Report {
            id: run.id.clone(),
            plan_name: run.plan_name.clone(),
            state: s.state.as_str().to_string(),
            started: fmt_utc(run.started_at_ms),
            duration: fmt_duration(s.elapsed_s),
            users: peak,
            summary: RowLine::new(&s.total),
            rows: s.rows.iter().map(RowLine::new).collect(),
            ws_rows: s
                .rows
                .iter()
                .filter_map(|r| {
                    let d = r.ws?;
                    Some(WsLine {
                        method: r.method.clone(),
                        name: r.name.clone(),
                        sent: d.sent,
                        received: d.received,
                        lost: d.lost,
                        loss: fmt_pct(d.loss()),
                    })
                })
                .collect(),
            sse_rows: s
                .rows
                .iter()
                .filter_map(|r| {
                    let d = r.sse?;
                    Some(SseLine {
                        name: r.name.clone(),
                        opened: d.opened,
                        drops: d.drops,
                        reconnects: d.reconnects,
                        events: d.events,
                        events_per_s: format!("{:.2}", d.events_per_s),
                        drop: fmt_pct(d.drop),
                    })
                })
                .collect(),
            fanout_rows: s
                .rows
                .iter()
                .filter_map(|r| {
                    let f = r.fanout?;
                    Some(FanoutLine {
                        name: r.name.clone(),
                        published: f.published,
                        expected: f.expected,
                        messages: f.messages,
                        received: f.received,
                        unmatched: f.unmatched,
                        delivery: fmt_pct(f.delivery),
                    })
                })
                .collect(),
            labels: Percentiles::LABELS,
            thresholds,
            failures: s.failures.clone(),
            warnings: s.warnings.clone(),
            settings: settings_rows(run),
            series_json: chart_json(&s.series),
            started_ms: run.started_at_ms,
            uplot_js: UPLOT_JS,
            uplot_css: UPLOT_CSS,
            nonce: None,
            monitor_json: "{\"series\":[]}".to_string(),
            monitor_rows: Vec::new(),
            monitor_js: MONITOR_JS,
            stages: None,
        }
    }

    /// The report as one HTML document.
    /// Adds the run's monitor series: their charts and summary table.
    pub fn with_monitors(mut self, data: &crate::stats::monitor::MonitorData) -> Report {
        self.monitor_json = super::monitor::monitor_json(&data.series);
        self.monitor_rows = super::monitor::monitor_rows(data);
        self
    }

    pub fn to_html(&self) -> String {
        // Rendering into a String only fails if a Display impl does; ours do not.
        self.render()
            .unwrap_or_else(|e| format!("<!doctype html><title>report</title><p>{e}</p>"))
    }
}

/// `value` as JSON safe inside a `<script>` element: every `<` becomes `\u003c`, so no
/// `</script>` (or `<!--`) can appear inside. `[]` if it cannot be serialized.
pub fn script_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "[]".to_string())
        .replace('<', "\\u003c")
}

/// The charts' series as JSON safe inside `<script>`.
fn chart_json(points: &[Point]) -> String {
    let rows: Vec<[f64; 7]> = points
        .iter()
        .map(|p| {
            [
                p.t_s as f64,
                f64::from(p.users),
                p.rps,
                p.fail_per_s,
                p.p50_ms,
                p.p95_ms,
                p.extra.p99_ms,
            ]
        })
        .collect();
    script_json(&rows)
}

/// The report as one HTML document.
pub fn render(run: &RunRecord, s: &Snapshot, thresholds: Option<Vec<ThresholdLine>>) -> String {
    Report::new(run, s, thresholds).to_html()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::snapshot::RunState;
    use crate::store::RunSettings;

    fn record() -> RunRecord {
        RunRecord {
            plan_name: "Plan <script>alert(1)</script>".into(),
            settings: RunSettings {
                host: "http://127.0.0.1:1/?a=<b>".into(),
                users: 2,
                spawn_rate: 1.0,
                run_time_s: Some(3.0),
                ..RunSettings::default()
            },
            started_at_ms: 1_700_000_000_000,
            ended_at_ms: Some(1_700_000_003_000),
            ..RunRecord::example("run-<1>")
        }
    }

    fn snapshot() -> Snapshot {
        let row = StatsRow {
            method: "GET".into(),
            name: "/x/<img src=x onerror=alert(1)>".into(),
            num_requests: 10,
            num_failures: 1,
            percentiles: Percentiles {
                p50: 12.5,
                p9999: 77.0,
                ..Percentiles::default()
            },
            ..StatsRow::default()
        };
        Snapshot {
            state: RunState::Stopped,
            elapsed_s: 3.0,
            users: 2,
            rows: vec![row.clone()],
            total: StatsRow {
                name: "Aggregated".into(),
                method: String::new(),
                ..row
            },
            failures: vec![FailureRow {
                method: "GET".into(),
                name: "/x".into(),
                error: "</script><script>alert(2)</script>".into(),
                occurrences: 1,
            }],
            series: vec![Point {
                t_s: 1,
                users: 2,
                rps: 3.0,
                ..Point::default()
            }],
            current_p50_ms: 0.0,
            current_p95_ms: 0.0,
            warnings: vec!["careful <now>".into()],
            ..Snapshot::default()
        }
    }

    #[test]
    fn websocket_rows_get_a_delivery_section() {
        let html = render(&record(), &snapshot(), None);
        assert!(!html.contains("WebSocket delivery"), "only with ws rows");
        let mut s = snapshot();
        s.rows.push(StatsRow {
            method: "WS".into(),
            name: "/ws".into(),
            num_requests: 990,
            ws: Some(crate::stats::snapshot::WsDelivery {
                sent: 1000,
                received: 990,
                lost: 10,
                cut: 0,
            }),
            ..StatsRow::default()
        });
        let html = render(&record(), &s, None);
        assert!(html.contains("<h2>WebSocket delivery</h2>"), "{html}");
        assert!(
            html.contains(r#"<td class="num">1000</td>"#)
                && html.contains(r#"<td class="num">10</td>"#),
            "{html}"
        );
    }

    #[test]
    fn sse_stream_rows_get_a_streams_section() {
        let html = render(&record(), &snapshot(), None);
        assert!(!html.contains("SSE streams"), "only with sse rows");
        let mut s = snapshot();
        s.rows.push(StatsRow {
            method: "SSE".into(),
            name: "/sse".into(),
            sse: Some(crate::stats::snapshot::SseStreams::new(
                crate::stats::snapshot::SseDelivery {
                    opened: 3,
                    drops: 2,
                    reconnects: 2,
                    events: 30,
                },
                4.0,
            )),
            ..StatsRow::default()
        });
        let html = render(&record(), &s, None);
        assert!(html.contains("<h2>SSE streams</h2>"), "{html}");
        assert!(
            html.contains(r#"<td class="num">7.50</td>"#)
                && html.contains(r#"<td class="num">66.67%</td>"#),
            "{html}"
        );
    }

    #[test]
    fn fanout_rows_get_a_fanout_section() {
        let html = render(&record(), &snapshot(), None);
        assert!(
            !html.contains("Notification fan-out"),
            "only with fan-out rows"
        );
        let mut s = snapshot();
        s.rows.push(StatsRow {
            method: "FANOUT".into(),
            name: "alerts".into(),
            fanout: Some(crate::stats::snapshot::FanoutFigures::new(
                crate::stats::snapshot::FanoutCounts {
                    published: 4,
                    expected: 80,
                    messages: 79,
                    received: 79,
                    unmatched: 0,
                },
            )),
            ..StatsRow::default()
        });
        let html = render(&record(), &s, None);
        assert!(html.contains("<h2>Notification fan-out</h2>"), "{html}");
        assert!(
            html.contains(r#"<td class="num">79</td>"#)
                && html.contains(r#"<td class="num">98.75%</td>"#),
            "{html}"
        );
    }

    #[test]
    fn one_self_contained_file_with_every_section_and_nothing_unescaped() {
        let html = render(&record(), &snapshot(), None);
        for needle in [
            "id=\"summary\"",
            "id=\"thresholds\"",
            "id=\"statistics\"",
            "id=\"percentiles\"",
            "id=\"charts\"",
            "id=\"failures\"",
            "id=\"configuration\"",
            "99.99%",
            "77",
            "Plan &#60;script&#62;alert(1)&#60;/script&#62;",
            "/x/&#60;img src=x onerror=alert(1)&#62;",
            "&#60;/script&#62;&#60;script&#62;alert(2)&#60;/script&#62;",
            "careful &#60;now&#62;",
            "No thresholds were evaluated",
            "uPlot",
        ] {
            assert!(html.contains(needle), "missing {needle:?}");
        }
        assert!(!html.contains("alert(1)</script>"));
        assert!(!html.contains("<img src=x"));
        assert_no_remote_resources(&html);
    }

    #[test]
    fn thresholds_show_their_verdicts() {
        let html = render(
            &record(),
            &snapshot(),
            Some(vec![
                ThresholdLine {
                    expression: "p95 < 300ms".into(),
                    observed: "12 ms".into(),
                    passed: true,
                },
                ThresholdLine {
                    expression: "error_rate < 1%".into(),
                    observed: "10%".into(),
                    passed: false,
                },
            ]),
        );
        assert!(html.contains("p95 &#60; 300ms"));
        assert!(html.contains("class=\"verdict fail\""));
        assert!(html.contains("class=\"verdict pass\""));
    }

    #[test]
    fn inline_scripts_carry_the_nonce_when_served() {
        let mut report = Report::new(&record(), &snapshot(), None);
        assert!(!report.to_html().contains("nonce="));
        report.nonce = Some("abc123".into());
        assert_eq!(
            report
                .to_html()
                .matches("<script nonce=\"abc123\">")
                .count(),
            // uPlot, the monitor charts, the page's own
            3
        );
    }

    #[test]
    fn script_json_cannot_close_the_script() {
        assert_eq!(
            script_json(&["</script><!--"]),
            r#"["\u003c/script>\u003c!--"]"#
        );
    }

    /// No `src`, `href`, `url()` or `@import` reaching outside the file.
    pub(crate) fn assert_no_remote_resources(html: &str) {
        let lower = html.to_ascii_lowercase();
        for bad in [
            "src=\"http",
            "src='http",
            "href=\"http",
            "href='http",
            "url(http",
            "url(\"http",
            "url('http",
            "@import",
            "src=\"//",
            "href=\"//",
        ] {
            assert!(!lower.contains(bad), "remote resource: {bad}");
        }
        assert!(!lower.contains("<link "), "no external stylesheet");
        assert!(!lower.contains("<script src"), "no external script");
    }
}
