//! Terminal text: the Locust-style end-of-run tables and the one-line live status. Names and
//! errors come from the target's side, so control characters are replaced before printing (no
//! escape sequences reach the terminal).

use std::fmt::Write as _;
use std::time::Duration;

use crate::format::{fmt_clock, fmt_ms, fmt_pct, fmt_rps};
use crate::stats::snapshot::{Percentiles, Snapshot, StatsRow};

/// Longer names are cut to this many characters, the last one an ellipsis.
const MAX_NAME_CHARS: usize = 60;
/// Numbers get at least this width, so that columns stay apart and steady between runs.
const MIN_NUMBER_WIDTH: usize = 6;

/// Requests, failures, times and rates per name, the Aggregated row last; then the response time
/// percentiles, the corrected ones when any row has them, and the error report when there were
/// failures. Every line ends with a newline; sections are separated by a blank line.
pub fn stats_table(s: &Snapshot) -> String {
    let mut out = String::new();

    let mut stats = Table::new(&[
        ("Type", Align::Left, false),
        ("Name", Align::Left, false),
        ("# reqs", Align::Right, false),
        ("# fails", Align::Right, false),
        ("Avg", Align::Right, true),
        ("Min", Align::Right, false),
        ("Max", Align::Right, false),
        ("Med", Align::Right, false),
        ("p90", Align::Right, false),
        ("p95", Align::Right, false),
        ("p99", Align::Right, false),
        ("req/s", Align::Right, true),
        ("failures/s", Align::Right, false),
    ]);
    let stats_cells = |r: &StatsRow| {
        vec![
            clean(&r.method),
            display_name(&r.name),
            r.num_requests.to_string(),
            format!("{}({})", r.num_failures, fmt_pct(r.fail_ratio())),
            fmt_ms(r.avg_ms),
            fmt_ms(r.min_ms),
            fmt_ms(r.max_ms),
            fmt_ms(r.median_ms),
            fmt_ms(r.percentiles.p90),
            fmt_ms(r.percentiles.p95),
            fmt_ms(r.percentiles.p99),
            fmt_rps(r.total_rps),
            fmt_rps(r.total_fail_per_s),
        ]
    };
    for r in &s.rows {
        stats.row(stats_cells(r));
    }
    stats.footer(stats_cells(&s.total));
    stats.render(&mut out);
    if s.dropped > 0 {
        let _ = writeln!(
            out,
            "Dropped task starts (every user busy; not queued): {}\n",
            s.dropped
        );
    }
    if s.cancelled > 0 {
        let _ = writeln!(
            out,
            "Requests cancelled in flight at stop (no response; not counted above): {}\n",
            s.cancelled
        );
    }
    if let Some(lag) = &s.lag {
        let _ = writeln!(
            out,
            "Generator lag (paced and open-model starts after their intended instant): p50 {} ms, \
             p99 {} ms, max {} ms over {} starts\n",
            fmt_ms(lag.p50_ms),
            fmt_ms(lag.p99_ms),
            fmt_ms(lag.max_ms),
            lag.starts
        );
    }
    if s.skipped > 0 {
        let _ = writeln!(
            out,
            "Tasks skipped (a variable in their `requires` had no value; no request sent): {}\n",
            s.skipped
        );
    }

    if s.rows.iter().any(|r| r.ws.is_some()) {
        out.push_str("WebSocket delivery (lost: no reply within the timeout, or cut off)\n");
        let mut ws = Table::new(&[
            ("Name", Align::Left, true),
            ("# sent", Align::Right, false),
            ("# received", Align::Right, false),
            ("# lost", Align::Right, false),
            ("loss", Align::Right, false),
        ]);
        for r in &s.rows {
            if let Some(d) = r.ws {
                ws.row(vec![
                    display_name(&r.name),
                    d.sent.to_string(),
                    d.received.to_string(),
                    d.lost.to_string(),
                    fmt_pct(d.loss()),
                ]);
            }
        }
        ws.render(&mut out);
    }

    if s.rows.iter().any(|r| r.sse.is_some()) {
        out.push_str("SSE streams (drop: streams ended or broken early / connections opened)\n");
        let mut sse = Table::new(&[
            ("Name", Align::Left, true),
            ("# opened", Align::Right, false),
            ("# drops", Align::Right, false),
            ("# reconnects", Align::Right, false),
            ("# events", Align::Right, false),
            ("events/s", Align::Right, false),
            ("drop", Align::Right, false),
        ]);
        for r in &s.rows {
            if let Some(d) = r.sse {
                sse.row(vec![
                    display_name(&r.name),
                    d.opened.to_string(),
                    d.drops.to_string(),
                    d.reconnects.to_string(),
                    d.events.to_string(),
                    format!("{:.2}", d.events_per_s),
                    fmt_pct(d.drop),
                ]);
            }
        }
        sse.render(&mut out);
    }

    if s.rows.iter().any(|r| r.fanout.is_some()) {
        out.push_str(
            "Notification fan-out (delivery: received / expected; expected: subscribers listening when each event was sent)\n",
        );
        let mut fanout = Table::new(&[
            ("Topic", Align::Left, true),
            ("# published", Align::Right, false),
            ("# expected", Align::Right, false),
            ("# messages", Align::Right, false),
            ("# received", Align::Right, false),
            ("# unmatched", Align::Right, false),
            ("delivery", Align::Right, false),
        ]);
        for r in &s.rows {
            if let Some(f) = r.fanout {
                fanout.row(vec![
                    display_name(&r.name),
                    f.published.to_string(),
                    f.expected.to_string(),
                    f.messages.to_string(),
                    f.received.to_string(),
                    f.unmatched.to_string(),
                    fmt_pct(f.delivery),
                ]);
            }
        }
        fanout.render(&mut out);
    }

    out.push_str("Response time percentiles (approximated)\n");
    percentile_table(
        s.rows.iter().map(|r| (r, &r.percentiles)),
        (&s.total, &s.total.percentiles),
    )
    .render(&mut out);

    if let Some(total) = &s.total.corrected {
        out.push_str(
            "Response time percentiles, corrected for coordinated omission (from the intended start)\n",
        );
        let rows = s
            .rows
            .iter()
            .filter_map(|r| Some((r, r.corrected.as_ref()?)));
        percentile_table(rows, (&s.total, total)).render(&mut out);
    }

    if !s.failures.is_empty() {
        out.push_str("Error report\n");
        let mut errors = Table::new(&[
            ("# occurrences", Align::Right, false),
            ("Error", Align::Left, true),
        ]);
        for f in &s.failures {
            let what = if f.method.is_empty() {
                format!("{}: {}", f.name, f.error)
            } else {
                format!("{} {}: {}", f.method, f.name, f.error)
            };
            errors.row(vec![f.occurrences.to_string(), clean(&what)]);
        }
        errors.render(&mut out);
    }
    out
}

fn percentile_table<'a>(
    rows: impl Iterator<Item = (&'a StatsRow, &'a Percentiles)>,
    total: (&StatsRow, &Percentiles),
) -> Table {
    let mut columns = vec![("Type", Align::Left, false), ("Name", Align::Left, false)];
    for (i, label) in Percentiles::LABELS.iter().enumerate() {
        columns.push((label, Align::Right, i == 0));
    }
    columns.push(("# reqs", Align::Right, true));
    let mut table = Table::new(&columns);
    let cells = |r: &StatsRow, p: &Percentiles| {
        let mut cells = vec![clean(&r.method), display_name(&r.name)];
        cells.extend(p.to_array().iter().map(|&ms| fmt_ms(ms)));
        cells.push(r.num_requests.to_string());
        cells
    };
    for (r, p) in rows {
        table.row(cells(r, p));
    }
    table.footer(cells(total.0, total.1));
    table
}

/// One status line: users, current req/s, failures so far, current p50/p95, elapsed / run time.
pub fn live_line(s: &Snapshot, run_time: Option<Duration>) -> String {
    let t = &s.total;
    let mut line = format!(
        "users {} | {} req/s | fails {} ({}) | p50 {} ms p95 {} ms | {}",
        s.users,
        fmt_rps(t.current_rps),
        t.num_failures,
        fmt_pct(t.fail_ratio()),
        fmt_ms(s.current_p50_ms),
        fmt_ms(s.current_p95_ms),
        fmt_clock(s.elapsed_s),
    );
    if let Some(run_time) = run_time {
        let _ = write!(line, " / {}", fmt_clock(run_time.as_secs_f64()));
    }
    if s.dropped > 0 {
        let _ = write!(line, " | dropped {}", s.dropped);
    }
    line
}

pub(crate) fn display_name(name: &str) -> String {
    let name = clean(name);
    if name.chars().count() <= MAX_NAME_CHARS {
        return name;
    }
    let mut cut: String = name.chars().take(MAX_NAME_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// The threshold verdicts after the tables: a `Thresholds` heading, then one line each,
/// `✓ p95 < 300ms (observed 212 ms)`. Empty without thresholds.
pub fn verdicts(verdicts: &[crate::stats::thresholds::Verdict]) -> String {
    if verdicts.is_empty() {
        return String::new();
    }
    let mut out = String::from("Thresholds\n");
    for v in verdicts {
        out.push_str("  ");
        out.push_str(&clean(&v.line()));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// The monitor series in a few numbers: first, after the warm-up (the mean of the first reads
/// past it), last, average, max and the growth between the two ends; empty without series.
pub fn monitors(data: &crate::stats::monitor::MonitorData) -> String {
    use crate::format::{fmt_duration, DASH};
    if data.series.is_empty() {
        return String::new();
    }
    let header = [
        "Series",
        "First",
        "After warm-up",
        "Last",
        "Avg",
        "Max",
        "Growth",
    ];
    let mut rows: Vec<[String; 7]> = vec![header.map(String::from)];
    let read = super::monitor::monitor_rows(data);
    for s in &data.series {
        match read.iter().find(|r| r[0] == s.name) {
            Some(r) => rows.push(r.clone().map(|cell| clean(&cell))),
            None => {
                let mut row = [DASH; 7].map(String::from);
                row[0] = clean(&s.name);
                row[1] = "no reads".into();
                rows.push(row);
            }
        }
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "Monitors (warm-up {}; each end of a growth is the mean of the reads within {})\n",
        fmt_duration(data.warmup_s),
        fmt_duration(data.window_s)
    );
    for r in &rows {
        out.push(' ');
        for (c, cell) in r.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            out.push(' ');
            if c == 0 {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
            out.push(' ');
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    }
    out.push('\n');
    out
}

/// Control characters (newlines, ESC...) from the target become spaces.
pub(crate) fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[derive(Clone, Copy)]
pub(crate) enum Align {
    Left,
    Right,
}

/// Columns sized to their widest cell; `|` before the columns flagged as a group start.
pub(crate) struct Table {
    heads: Vec<String>,
    align: Vec<Align>,
    group_start: Vec<bool>,
    rows: Vec<Vec<String>>,
    footer: Option<Vec<String>>,
}

impl Table {
    pub(crate) fn new(columns: &[(&str, Align, bool)]) -> Self {
        Table {
            heads: columns.iter().map(|c| c.0.to_string()).collect(),
            align: columns.iter().map(|c| c.1).collect(),
            group_start: columns.iter().map(|c| c.2).collect(),
            rows: Vec::new(),
            footer: None,
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// A last row, below a rule (the Aggregated row).
    pub(crate) fn footer(&mut self, cells: Vec<String>) {
        self.footer = Some(cells);
    }

    /// Header, rule, rows, [rule, footer,] blank line.
    pub(crate) fn render(&self, out: &mut String) {
        let widths: Vec<usize> = (0..self.heads.len())
            .map(|i| {
                std::iter::once(&self.heads)
                    .chain(&self.rows)
                    .chain(&self.footer)
                    .map(|cells| cells[i].chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(match self.align[i] {
                        Align::Left => 0,
                        Align::Right => MIN_NUMBER_WIDTH,
                    })
            })
            .collect();
        self.line(out, &self.heads, &widths);
        self.rule(out, &widths);
        for row in &self.rows {
            self.line(out, row, &widths);
        }
        if let Some(footer) = &self.footer {
            self.rule(out, &widths);
            self.line(out, footer, &widths);
        } else {
            self.rule(out, &widths);
        }
        out.push('\n');
    }

    fn line(&self, out: &mut String, cells: &[String], widths: &[usize]) {
        let start = out.len();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push_str(if self.group_start[i] { " | " } else { " " });
            }
            let w = widths[i];
            let _ = match self.align[i] {
                Align::Left => write!(out, "{cell:<w$}"),
                Align::Right => write!(out, "{cell:>w$}"),
            };
        }
        let trimmed = out[start..].trim_end().len();
        out.truncate(start + trimmed);
        out.push('\n');
    }

    fn rule(&self, out: &mut String, widths: &[usize]) {
        for (i, &w) in widths.iter().enumerate() {
            if i > 0 {
                out.push_str(if self.group_start[i] { "-|-" } else { "-" });
            }
            out.extend(std::iter::repeat_n('-', w));
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::snapshot::{FailureRow, RunState};

    #[test]
    fn verdicts_follow_the_tables_one_line_each() {
        use crate::stats::thresholds::{Unit, Verdict};
        assert_eq!(verdicts(&[]), "");
        let held = Verdict {
            expression: "p95 < 300ms".into(),
            passed: true,
            observed: 212.0,
            observed_text: "212 ms".into(),
            threshold: 300.0,
            unit: Unit::Ms,
            samples: 10,
            row: None,
            abort_on_fail: false,
            stopped_run_at_s: None,
            window: None,
        };
        let failed = Verdict {
            expression: "GET.error_rate < 1%".into(),
            passed: false,
            observed: 0.025,
            observed_text: "2.5%".into(),
            threshold: 0.01,
            unit: Unit::Ratio,
            row: Some("GET /a\x1b[2J".into()),
            ..held.clone()
        };
        assert_eq!(
            verdicts(&[held, failed]),
            "Thresholds\n  ✓ p95 < 300ms (observed 212 ms)\n  \
             ✗ GET.error_rate < 1% (observed 2.5% on GET /a [2J)\n\n"
        );
    }

    fn percentiles(base: f64) -> Percentiles {
        Percentiles {
            p50: base,
            p66: base * 1.2,
            p75: base * 1.5,
            p80: base * 2.0,
            p90: base * 3.0,
            p95: base * 4.0,
            p98: base * 5.0,
            p99: base * 6.0,
            p999: base * 10.0,
            p9999: base * 20.0,
            p100: base * 25.0,
        }
    }

    fn row(method: &str, name: &str, n: u64, fails: u64, base: f64) -> StatsRow {
        StatsRow {
            method: method.into(),
            name: name.into(),
            num_requests: n,
            num_failures: fails,
            avg_ms: base * 1.1,
            min_ms: base / 4.0,
            max_ms: base * 25.0,
            median_ms: base,
            percentiles: percentiles(base),
            corrected: None,
            avg_bytes: 120.0,
            current_rps: n as f64 / 10.0,
            current_fail_per_s: fails as f64 / 10.0,
            total_rps: n as f64 / 20.0,
            total_fail_per_s: fails as f64 / 20.0,
            ws: None,
            sse: None,
            fanout: None,
        }
    }

    fn snapshot() -> Snapshot {
        let long = format!("/very/long/{}", "x".repeat(80));
        let mut paced = row("POST", "/rpc tools/list", 400, 0, 12.5);
        paced.corrected = Some(percentiles(40.0));
        let mut total = row("", "Aggregated", 1600, 12, 3.2);
        total.corrected = Some(percentiles(20.0));
        Snapshot {
            state: RunState::Stopped,
            elapsed_s: 20.0,
            users: 50,
            rows: vec![
                row("GET", "/health", 1000, 10, 1.234),
                paced,
                row("GET", &long, 200, 2, 150.0),
            ],
            total,
            failures: vec![
                FailureRow {
                    method: "GET".into(),
                    name: "/health".into(),
                    error: "check.status: expected 200, got 503\nretry".into(),
                    occurrences: 10,
                },
                FailureRow {
                    method: "".into(),
                    name: "(other)".into(),
                    error: "connection refused".into(),
                    occurrences: 2,
                },
            ],
            series: Vec::new(),
            current_p50_ms: 12.34,
            current_p95_ms: 150.2,
            ..Snapshot::default()
        }
    }

    const GOLDEN: &str = concat!(
        "Type Name                                                         # reqs   # fails |    Avg    Min    Max    Med    p90    p95    p99 |  req/s failures/s\n",
        "-----------------------------------------------------------------------------------|--------------------------------------------------|------------------\n",
        "GET  /health                                                        1000 10(1.00%) |   1.36   0.31   30.9   1.23   3.70   4.94   7.40 |  50.00       0.50\n",
        "POST /rpc tools/list                                                 400  0(0.00%) |   13.8   3.12    312   12.5   37.5   50.0   75.0 |  20.00       0.00\n",
        "GET  /very/long/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…    200  2(1.00%) |    165   37.5   3750    150    450    600    900 |  10.00       0.10\n",
        "-----------------------------------------------------------------------------------|--------------------------------------------------|------------------\n",
        "     Aggregated                                                     1600 12(0.75%) |   3.52   0.80   80.0   3.20   9.60   12.8   19.2 |  80.00       0.60\n",
        "\n",
        "Response time percentiles (approximated)\n",
        "Type Name                                                         |    50%    66%    75%    80%    90%    95%    98%    99%  99.9% 99.99%   100% | # reqs\n",
        "------------------------------------------------------------------|------------------------------------------------------------------------------|-------\n",
        "GET  /health                                                      |   1.23   1.48   1.85   2.47   3.70   4.94   6.17   7.40   12.3   24.7   30.9 |   1000\n",
        "POST /rpc tools/list                                              |   12.5   15.0   18.8   25.0   37.5   50.0   62.5   75.0    125    250    312 |    400\n",
        "GET  /very/long/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx… |    150    180    225    300    450    600    750    900   1500   3000   3750 |    200\n",
        "------------------------------------------------------------------|------------------------------------------------------------------------------|-------\n",
        "     Aggregated                                                   |   3.20   3.84   4.80   6.40   9.60   12.8   16.0   19.2   32.0   64.0   80.0 |   1600\n",
        "\n",
        "Response time percentiles, corrected for coordinated omission (from the intended start)\n",
        "Type Name            |    50%    66%    75%    80%    90%    95%    98%    99%  99.9% 99.99%   100% | # reqs\n",
        "---------------------|------------------------------------------------------------------------------|-------\n",
        "POST /rpc tools/list |   40.0   48.0   60.0   80.0    120    160    200    240    400    800   1000 |    400\n",
        "---------------------|------------------------------------------------------------------------------|-------\n",
        "     Aggregated      |   20.0   24.0   30.0   40.0   60.0   80.0    100    120    200    400    500 |   1600\n",
        "\n",
        "Error report\n",
        "# occurrences | Error\n",
        "--------------|-------------------------------------------------------\n",
        "           10 | GET /health: check.status: expected 200, got 503 retry\n",
        "            2 | (other): connection refused\n",
        "--------------|-------------------------------------------------------\n",
        "\n",
    );

    #[test]
    fn golden_stats_table() {
        let got = stats_table(&snapshot());
        let want = GOLDEN;
        assert_eq!(got, want, "\n--- got ---\n{got}");
    }

    #[test]
    fn websocket_rows_get_a_delivery_table() {
        let mut s = snapshot();
        assert!(!stats_table(&s).contains("WebSocket delivery"));
        let mut ws = row("WS", "/ws", 990, 10, 5.0);
        ws.ws = Some(crate::stats::snapshot::WsDelivery {
            sent: 1000,
            received: 990,
            lost: 10,
            cut: 0,
        });
        s.rows.push(ws);
        let text = stats_table(&s);
        let at = text.find("WebSocket delivery").expect("a delivery table");
        let line = text[at..]
            .lines()
            .find(|l| l.contains("/ws"))
            .expect("the /ws line");
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells, ["/ws", "1000", "990", "10", "1.00%"], "{text}");
    }

    #[test]
    fn sse_stream_rows_get_a_streams_table() {
        let mut s = snapshot();
        assert!(!stats_table(&s).contains("SSE streams"));
        let mut sse = row("SSE", "/sse", 0, 0, 0.0);
        sse.sse = Some(crate::stats::snapshot::SseStreams::new(
            crate::stats::snapshot::SseDelivery {
                opened: 3,
                drops: 2,
                reconnects: 2,
                events: 30,
            },
            4.0,
        ));
        s.rows.push(sse);
        let text = stats_table(&s);
        let at = text.find("SSE streams").expect("a streams table");
        let line = text[at..]
            .lines()
            .find(|l| l.contains("/sse"))
            .expect("the /sse line");
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            cells,
            ["/sse", "3", "2", "2", "30", "7.50", "66.67%"],
            "{text}"
        );
    }

    #[test]
    fn fanout_rows_get_a_fanout_table() {
        let mut s = snapshot();
        assert!(!stats_table(&s).contains("Notification fan-out"));
        let mut topic = row("FANOUT", "alerts", 0, 0, 0.0);
        topic.fanout = Some(crate::stats::snapshot::FanoutFigures::new(
            crate::stats::snapshot::FanoutCounts {
                published: 10,
                expected: 200,
                messages: 195,
                received: 190,
                unmatched: 3,
            },
        ));
        s.rows.push(topic);
        let text = stats_table(&s);
        let at = text.find("Notification fan-out").expect("a fan-out table");
        let line = text[at..]
            .lines()
            .find(|l| l.starts_with("alerts"))
            .expect("the alerts line");
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            cells,
            ["alerts", "10", "200", "195", "190", "3", "95.00%"],
            "{text}"
        );
    }

    #[test]
    fn no_failure_section_and_no_corrected_section_when_absent() {
        let mut s = snapshot();
        s.failures.clear();
        s.total.corrected = None;
        for r in &mut s.rows {
            r.corrected = None;
        }
        let t = stats_table(&s);
        assert!(!t.contains("Error report"));
        assert!(!t.contains("coordinated omission"));
        assert!(t.contains("Response time percentiles (approximated)"));
    }

    #[test]
    fn empty_run_still_has_the_aggregated_row() {
        let s = Snapshot {
            state: RunState::Stopped,
            elapsed_s: 0.0,
            users: 0,
            rows: Vec::new(),
            total: StatsRow {
                name: "Aggregated".into(),
                ..StatsRow::default()
            },
            ..Snapshot::default()
        };
        let t = stats_table(&s);
        assert!(t
            .lines()
            .any(|l| l.trim_start().starts_with("Aggregated") && l.contains("0(0.00%)")));
    }

    #[test]
    fn live_line_shows_users_rates_failures_percentiles_and_time() {
        let mut s = snapshot();
        s.total.current_rps = 1234.54;
        s.elapsed_s = 12.7;
        assert_eq!(
            live_line(&s, Some(Duration::from_secs(20))),
            "users 50 | 1234.54 req/s | fails 12 (0.75%) | p50 12.3 ms p95 150 ms | 00:12 / 00:20"
        );
        s.elapsed_s = 3725.0;
        assert_eq!(
            live_line(&s, None),
            "users 50 | 1234.54 req/s | fails 12 (0.75%) | p50 12.3 ms p95 150 ms | 1:02:05"
        );
        s.dropped = 90;
        assert!(live_line(&s, None).ends_with("| 1:02:05 | dropped 90"));
        assert!(stats_table(&s).contains(
            "|  80.00       0.60\n\nDropped task starts (every user busy; not queued): 90\n\n"
        ));
        assert!(!GOLDEN.contains("Dropped"));
    }

    #[test]
    fn long_names_are_cut_and_control_characters_replaced() {
        let name = "a".repeat(61);
        let shown = display_name(&name);
        assert_eq!(shown.chars().count(), 60);
        assert!(shown.ends_with('…'));
        assert_eq!(display_name(&"b".repeat(60)), "b".repeat(60));
        assert_eq!(clean("a\x1b[2Jb\n"), "a [2Jb ");
    }
}
