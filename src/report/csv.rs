//! Locust's three CSV files, column for column: `_stats.csv` (one row per name, Aggregated
//! last), `_stats_history.csv` (one Aggregated row per second, per-name rows before it with
//! `--csv-full-history`) and `_failures.csv`. Headers and number formats follow Locust's
//! `stats.py` (`StatsCSV`, `StatsCSVFileWriter`): Python's `csv` module ends rows with `\r\n`,
//! prints floats with `repr` (`12.0`, `0.5`) and whole numbers without a point; history rates use
//! `"%2f"` (six decimals); percentiles are whole milliseconds, `N/A` before the first request.
//!
//! Where Hornet's numbers differ in meaning (same columns, documented here once):
//! - history `Requests/s`, `Failures/s` and the percentile columns of the Aggregated row are that
//!   second's own numbers (Locust: rates averaged over ~10 s, cumulative percentiles);
//! - per-name history rows (CLI only) carry the name's current rates (10 s) and its cumulative
//!   percentiles (Locust: a 10 s window);
//! - failures' `First Seen`/`Last Seen` are known to the second a run's snapshots were followed
//!   (`hornet run`); for stored runs they are empty, as Locust writes them when unknown.
//!
//! Writers take any `io::Write`: callers open the files. Nothing here reads the clock.

use std::collections::HashMap;
use std::io::{self, Write};

use crate::stats::snapshot::{Percentiles, Point, Snapshot, StatsRow};

/// `PREFIX_stats.csv` header (Locust's `requests_csv_columns`).
pub const STATS_COLUMNS: [&str; 22] = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
    "50%",
    "66%",
    "75%",
    "80%",
    "90%",
    "95%",
    "98%",
    "99%",
    "99.9%",
    "99.99%",
    "100%",
];

/// `PREFIX_stats_history.csv` header (Locust's `stats_history_csv_columns`).
pub const HISTORY_COLUMNS: [&str; 24] = [
    "Timestamp",
    "User Count",
    "Type",
    "Name",
    "Requests/s",
    "Failures/s",
    "50%",
    "66%",
    "75%",
    "80%",
    "90%",
    "95%",
    "98%",
    "99%",
    "99.9%",
    "99.99%",
    "100%",
    "Total Request Count",
    "Total Failure Count",
    "Total Median Response Time",
    "Total Average Response Time",
    "Total Min Response Time",
    "Total Max Response Time",
    "Total Average Content Size",
];

/// `PREFIX_failures.csv` header (Locust's `failures_columns`, 2.44+).
pub const FAILURE_COLUMNS: [&str; 6] = [
    "Method",
    "Name",
    "Error",
    "Occurrences",
    "First Seen",
    "Last Seen",
];

/// Python's csv writer as Locust uses it: minimal quoting, `\r\n` after each row.
fn writer<W: Write>(w: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(w)
}

/// A float as Python's `repr` prints it for the values a run produces: `12.0`, `0.5`,
/// `0.3333333333333333` (both languages print the shortest text that reads back the same).
pub fn py_float(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Whole milliseconds, as Locust's `int(...)` of its bucketed response times.
fn whole_ms(ms: f64) -> String {
    format!("{}", ms.round() as i64)
}

/// Locust's min/max: `0` before the first request, the float after.
fn ms_or_zero(ms: f64, n: u64) -> String {
    if n == 0 {
        "0".into()
    } else {
        py_float(ms)
    }
}

fn percentile_fields(values: [f64; 11], n: u64) -> impl Iterator<Item = String> {
    values
        .into_iter()
        .map(move |v| if n == 0 { "N/A".into() } else { whole_ms(v) })
}

fn stats_record(r: &StatsRow) -> Vec<String> {
    let n = r.num_requests;
    let mut out = vec![
        r.method.clone(),
        r.name.clone(),
        n.to_string(),
        r.num_failures.to_string(),
        whole_ms(r.median_ms),
        py_float(r.avg_ms),
        ms_or_zero(r.min_ms, n),
        ms_or_zero(r.max_ms, n),
        ms_or_zero(r.avg_bytes, n),
        py_float(r.total_rps),
        py_float(r.total_fail_per_s),
    ];
    out.extend(percentile_fields(r.percentiles.to_array(), n));
    out
}

/// `PREFIX_stats.csv`: every row of the snapshot, then Aggregated.
pub fn write_stats<W: Write>(w: W, s: &Snapshot) -> io::Result<()> {
    let mut csv = writer(w);
    csv.write_record(STATS_COLUMNS)?;
    for row in s.rows.iter().chain(std::iter::once(&s.total)) {
        csv.write_record(stats_record(row))?;
    }
    csv.flush()
}

pub fn stats_csv(s: &Snapshot) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_stats(&mut out, s);
    out
}

/// When each failure group was first and last seen, learnt by following a run's snapshots
/// (Locust's `First Seen`/`Last Seen`, to the second).
#[derive(Debug, Default)]
pub struct FailureClock {
    seen: HashMap<String, Seen>,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    occurrences: u64,
    first_s: i64,
    last_s: i64,
}

fn failure_key(method: &str, name: &str, error: &str) -> String {
    format!("{method}\u{0}{name}\u{0}{error}")
}

impl FailureClock {
    /// Notes the groups that appeared or grew in `s`, as of `unix_s`.
    pub fn observe(&mut self, s: &Snapshot, unix_s: i64) {
        for f in &s.failures {
            let seen = self
                .seen
                .entry(failure_key(&f.method, &f.name, &f.error))
                .or_insert(Seen {
                    occurrences: 0,
                    first_s: unix_s,
                    last_s: unix_s,
                });
            if f.occurrences != seen.occurrences {
                seen.occurrences = f.occurrences;
                seen.last_s = unix_s;
            }
        }
    }

    fn get(&self, method: &str, name: &str, error: &str) -> Option<Seen> {
        self.seen.get(&failure_key(method, name, error)).copied()
    }
}

/// Locust's `format_utc_timestamp`: `2026-01-02T03:04:05Z`.
pub fn utc_timestamp(unix_s: i64) -> String {
    crate::format::iso_utc(unix_s.saturating_mul(1000))
}

/// `PREFIX_failures.csv`, in the snapshot's order (most occurrences first).
pub fn write_failures<W: Write>(
    w: W,
    s: &Snapshot,
    clock: Option<&FailureClock>,
) -> io::Result<()> {
    let mut csv = writer(w);
    csv.write_record(FAILURE_COLUMNS)?;
    for f in &s.failures {
        let seen = clock.and_then(|c| c.get(&f.method, &f.name, &f.error));
        csv.write_record([
            f.method.clone(),
            f.name.clone(),
            f.error.clone(),
            f.occurrences.to_string(),
            seen.map(|s| utc_timestamp(s.first_s)).unwrap_or_default(),
            seen.map(|s| utc_timestamp(s.last_s)).unwrap_or_default(),
        ])?;
    }
    csv.flush()
}

pub fn failures_csv(s: &Snapshot, clock: Option<&FailureClock>) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = write_failures(&mut out, s, clock);
    out
}

/// Locust's history rates: `f"{x:2f}"`, six decimals.
fn rate(v: f64) -> String {
    format!("{v:.6}")
}

fn aggregated_history_record(p: &Point, unix_s: i64) -> Vec<String> {
    let e = &p.extra;
    let n = e.total_requests;
    let mut out = vec![
        unix_s.to_string(),
        p.users.to_string(),
        String::new(),
        crate::stats::aggregator::AGGREGATED.to_string(),
        rate(p.rps),
        rate(p.fail_per_s),
    ];
    out.extend(percentile_fields(p.percentiles(), n));
    out.extend([
        n.to_string(),
        e.total_failures.to_string(),
        whole_ms(e.total_median_ms),
        py_float(e.total_avg_ms),
        ms_or_zero(e.total_min_ms, n),
        ms_or_zero(e.total_max_ms, n),
        ms_or_zero(e.total_avg_bytes, n),
    ]);
    out
}

fn name_history_record(r: &StatsRow, users: u32, unix_s: i64) -> Vec<String> {
    let n = r.num_requests;
    let mut out = vec![
        unix_s.to_string(),
        users.to_string(),
        r.method.clone(),
        r.name.clone(),
        rate(r.current_rps),
        rate(r.current_fail_per_s),
    ];
    out.extend(percentile_fields(r.percentiles.to_array(), n));
    out.extend([
        n.to_string(),
        r.num_failures.to_string(),
        whole_ms(r.median_ms),
        py_float(r.avg_ms),
        ms_or_zero(r.min_ms, n),
        ms_or_zero(r.max_ms, n),
        ms_or_zero(r.avg_bytes, n),
    ]);
    out
}

/// `PREFIX_stats_history.csv`, written as the run goes: each snapshot's new seconds become
/// rows. With `full`, the newest second also gets a row per name (from the snapshot's rows,
/// which are that second's), so a snapshot the follower missed only loses its per-name rows.
pub struct HistoryWriter<W: Write> {
    csv: csv::Writer<W>,
    full: bool,
    started_unix_s: i64,
    written: usize,
}

impl<W: Write> HistoryWriter<W> {
    /// Writes the header. `started_unix_ms`: the run's start, for the `Timestamp` column.
    pub fn new(w: W, full: bool, started_unix_ms: i64) -> io::Result<Self> {
        let mut csv = writer(w);
        csv.write_record(HISTORY_COLUMNS)?;
        Ok(HistoryWriter {
            csv,
            full,
            started_unix_s: started_unix_ms.div_euclid(1000),
            written: 0,
        })
    }

    /// Rows for the seconds of `s` not written yet.
    pub fn observe(&mut self, s: &Snapshot) -> io::Result<()> {
        let new = s.series.get(self.written..).unwrap_or_default();
        let last = s.series.len().saturating_sub(1);
        for (i, p) in new.iter().enumerate() {
            let unix_s = self.started_unix_s + p.t_s as i64;
            if self.full && self.written + i == last {
                for row in &s.rows {
                    self.csv
                        .write_record(name_history_record(row, p.users, unix_s))?;
                }
            }
            self.csv
                .write_record(aggregated_history_record(p, unix_s))?;
        }
        self.written = s.series.len().max(self.written);
        Ok(())
    }

    /// Hands the rows written so far to `W` and flushes it (call at a record boundary: after
    /// [`observe`](Self::observe) or [`new`](Self::new)).
    pub fn flush(&mut self) -> io::Result<()> {
        self.csv.flush()
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.csv.flush()?;
        self.csv
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

/// The history of a stored run: its Aggregated rows (history keeps no per-name seconds).
pub fn history_csv(s: &Snapshot, started_unix_ms: i64) -> Vec<u8> {
    let run = || -> io::Result<Vec<u8>> {
        let mut h = HistoryWriter::new(Vec::new(), false, started_unix_ms)?;
        h.observe(s)?;
        h.finish()
    };
    run().unwrap_or_default()
}

/// The percentile labels of the CSV headers are Locust's readable percentiles.
const _: () = assert!(Percentiles::LABELS.len() == 11);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::snapshot::{FailureRow, PointExtra, RunState};

    fn row(method: &str, name: &str, n: u64) -> StatsRow {
        StatsRow {
            method: method.into(),
            name: name.into(),
            num_requests: n,
            num_failures: n / 4,
            avg_ms: 12.5,
            min_ms: 1.25,
            max_ms: 99.0,
            median_ms: 10.4,
            percentiles: Percentiles {
                p50: 10.4,
                p66: 11.0,
                p75: 12.0,
                p80: 13.0,
                p90: 20.0,
                p95: 30.6,
                p98: 40.0,
                p99: 50.0,
                p999: 90.0,
                p9999: 99.0,
                p100: 99.0,
            },
            avg_bytes: 120.0,
            total_rps: 2.0,
            total_fail_per_s: 0.5,
            current_rps: 1.0 / 3.0,
            current_fail_per_s: 0.0,
            ..StatsRow::default()
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            state: RunState::Stopped,
            elapsed_s: 2.0,
            users: 3,
            rows: vec![row("GET", "/a, \"quoted\"", 4), row("POST", "/b", 0)],
            total: row("", "Aggregated", 4),
            failures: vec![FailureRow {
                method: "GET".into(),
                name: "/a".into(),
                error: "HTTP 500, \"boom\"".into(),
                occurrences: 2,
            }],
            series: vec![
                Point {
                    t_s: 1,
                    users: 3,
                    rps: 4.0,
                    fail_per_s: 1.0,
                    p50_ms: 10.0,
                    p95_ms: 30.0,
                    extra: PointExtra {
                        max_ms: 99.0,
                        total_requests: 4,
                        total_failures: 1,
                        total_median_ms: 10.4,
                        total_avg_ms: 12.5,
                        total_min_ms: 1.25,
                        total_max_ms: 99.0,
                        total_avg_bytes: 120.0,
                        ..PointExtra::default()
                    },
                },
                Point {
                    t_s: 2,
                    users: 3,
                    ..Point::default()
                },
            ],
            ..Snapshot::default()
        }
    }

    #[test]
    fn headers_are_locusts_byte_for_byte() {
        let text = String::from_utf8(stats_csv(&snapshot())).unwrap();
        assert!(text.starts_with(
            "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
             Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,\
             50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\r\n"
        ));
        let text = String::from_utf8(history_csv(&snapshot(), 0)).unwrap();
        assert!(text.starts_with(
            "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,\
             99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,\
             Total Median Response Time,Total Average Response Time,Total Min Response Time,\
             Total Max Response Time,Total Average Content Size\r\n"
        ));
        let text = String::from_utf8(failures_csv(&snapshot(), None)).unwrap();
        assert!(text.starts_with("Method,Name,Error,Occurrences,First Seen,Last Seen\r\n"));
        // the labels are the snapshot's own
        assert_eq!(&STATS_COLUMNS[11..], &Percentiles::LABELS);
    }

    #[test]
    fn stats_rows_are_formatted_like_python_with_aggregated_last() {
        let text = String::from_utf8(stats_csv(&snapshot())).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(
            lines[1],
            "GET,\"/a, \"\"quoted\"\"\",4,1,10,12.5,1.25,99.0,120.0,2.0,0.5,10,11,12,13,20,31,40,50,90,99,99"
        );
        // no requests: Locust's zeros and N/A
        assert_eq!(
            lines[2],
            "POST,/b,0,0,10,12.5,0,0,0,2.0,0.5,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A"
        );
        assert!(lines[3].starts_with(",Aggregated,4,1,"), "{}", lines[3]);
        assert_eq!(lines[4], "");
    }

    #[test]
    fn history_has_one_aggregated_row_per_second_and_names_with_full_history() {
        let start_ms = 1_700_000_000_500;
        let text = String::from_utf8(history_csv(&snapshot(), start_ms)).unwrap();
        let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[1],
            "1700000001,3,,Aggregated,4.000000,1.000000,10,0,0,0,0,30,0,0,0,0,99,4,1,10,12.5,1.25,99.0,120.0"
        );
        assert_eq!(
            lines[2],
            "1700000002,3,,Aggregated,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0,0,0,0.0,0,0,0"
        );

        let mut h = HistoryWriter::new(Vec::new(), true, start_ms).unwrap();
        let mut s = snapshot();
        let second = s.series.pop().unwrap();
        h.observe(&s).unwrap();
        h.observe(&s).unwrap(); // nothing new: nothing written
        s.series.push(second);
        h.observe(&s).unwrap();
        let text = String::from_utf8(h.finish().unwrap()).unwrap();
        let names: Vec<&str> = text
            .trim_end()
            .split("\r\n")
            .skip(1)
            .map(|l| l.split(',').nth(3).unwrap_or(""))
            .collect();
        assert_eq!(
            names,
            ["\"/a", "/b", "Aggregated", "\"/a", "/b", "Aggregated"]
        );
        assert!(text.contains("\r\n1700000002,3,POST,/b,0.333333,0.000000,N/A,"));
    }

    #[test]
    fn failures_carry_first_and_last_seen_when_followed() {
        let mut s = snapshot();
        let mut clock = FailureClock::default();
        clock.observe(&s, 1_700_000_000);
        s.failures[0].occurrences = 5;
        clock.observe(&s, 1_700_000_003);
        clock.observe(&s, 1_700_000_009); // unchanged: not seen again
        let text = String::from_utf8(failures_csv(&s, Some(&clock))).unwrap();
        assert_eq!(
            text,
            "Method,Name,Error,Occurrences,First Seen,Last Seen\r\n\
             GET,/a,\"HTTP 500, \"\"boom\"\"\",5,2023-11-14T22:13:20Z,2023-11-14T22:13:23Z\r\n"
        );
        let text = String::from_utf8(failures_csv(&s, None)).unwrap();
        assert!(text.ends_with(",5,,\r\n"), "{text}");
    }

    #[test]
    fn floats_print_like_python_repr() {
        assert_eq!(py_float(0.0), "0.0");
        assert_eq!(py_float(12.0), "12.0");
        assert_eq!(py_float(0.5), "0.5");
        assert_eq!(py_float(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(rate(1.0 / 3.0), "0.333333");
    }
}
