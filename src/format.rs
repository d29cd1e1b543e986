//! Every number and time a person reads — the terminal tables and live line, the pages, the HTML
//! report, `hornet compare` — is turned into text here, so that one value has one text
//! everywhere. Pure functions of plain numbers: this module imports nothing of the crate, does
//! no I/O and never reads the clock.
//!
//! The rules, by kind of number:
//!
//! - **Response times** (ms): three significant digits, the precision of the HDR histograms
//!   they come from, with a fixed number of decimals for the size (`0.31`, `3.14`, `31.4`, `314`,
//!   `3142`). Locust's console prints whole ms and its UI rounds to whole ms, but a run against a
//!   fast target is all sub-millisecond and would read `0` everywhere; more than three digits
//!   would claim precision the histogram does not have.
//! - **Rates** (requests or failures per second): two decimals, as Locust's console (`12.30`).
//! - **Failure ratios**: a percentage with two decimals (`1.90%`), as Locust's console.
//! - **Changes** between two runs: percent with a sign and one decimal (`+12.3%`), or
//!   percentage points of a ratio with two (`+0.50pp`).
//! - **Shares** of a class or task (weights, the ratio tab): a percentage with at most one decimal
//!   (`66.7%`, `50%`), as `hornet check` prints them.
//! - **Sizes**: whole bytes. **Durations**: `1.5s`, `42s`, `3m 05s`, `2h 01m`; the live line's
//!   clock `MM:SS`. **Dates**: UTC, `YYYY-MM-DD HH:MM:SS UTC` for people, RFC 3339 for machines.
//! - Anything not finite shows as `—`, never `NaN`.
//!
//! Not here: file formats with their own rules (Locust's CSV floats and whole ms in
//! `report::csv`, JMeter's JTL, JUnit's `time`), Prometheus samples, and the threshold verdict
//! texts (`stats::thresholds::format_value`, two decimals: they are stored with the run and read
//! against the limit they were judged by), which use [`trimmed`] from here.

/// What a missing or impossible number shows as.
pub const DASH: &str = "—";

/// Rounds to `decimals` places and drops trailing zeros (`12.50` → `12.5`, `3.00` → `3`).
pub fn trimmed(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return DASH.to_string();
    }
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".to_string()
    } else {
        s
    }
}

/// Rounds to `decimals` places and keeps them (`12.30`); no `-0.00`.
fn fixed(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return DASH.to_string();
    }
    let s = format!("{v:.decimals$}");
    match s.strip_prefix('-') {
        Some(abs) if abs.bytes().all(|b| b == b'0' || b == b'.') => abs.to_string(),
        _ => s,
    }
}

/// A response time in milliseconds, three significant digits: `0.31`, `3.14`, `31.4`, `314`.
pub fn fmt_ms(ms: f64) -> String {
    if !ms.is_finite() {
        return DASH.to_string();
    }
    // A time is never negative; -0.001 from float noise reads 0.
    let ms = ms.max(0.0);
    // Decided on the rounded value, so 9.996 is `10.0`, not `10.00`.
    let decimals = if ms < 9.995 {
        2
    } else if ms < 99.95 {
        1
    } else {
        0
    };
    fixed(ms, decimals)
}

/// Requests (or failures) per second: two decimals (`12.30`, `0.05`, `1234.57`).
pub fn fmt_rps(rps: f64) -> String {
    fixed(rps, 2)
}

/// A failure ratio (0..=1) as a percentage with two decimals (`0.50%`, `33.33%`, `0.00%`).
pub fn fmt_pct(ratio: f64) -> String {
    if !ratio.is_finite() {
        return DASH.to_string();
    }
    format!("{}%", fixed(ratio * 100.0, 2))
}

/// A relative change in percent, signed, one decimal (`+12.3%`, `-20.0%`, `+0.0%`).
pub fn fmt_change_pct(pct: f64) -> String {
    if !pct.is_finite() {
        return DASH.to_string();
    }
    format!("{pct:+.1}%")
}

/// A change in percentage points (of a ratio ×100), signed, two decimals (`+1.50pp`).
pub fn fmt_change_pp(points: f64) -> String {
    if !points.is_finite() {
        return DASH.to_string();
    }
    format!("{points:+.2}pp")
}

/// A share (0..=1) of users or picks as a percentage with at most one decimal (`66.7%`, `50%`).
pub fn fmt_share(ratio: f64) -> String {
    if !ratio.is_finite() {
        return DASH.to_string();
    }
    format!("{}%", trimmed(ratio * 100.0, 1))
}

/// Bytes as a whole number (Locust's "Average size (bytes)").
pub fn fmt_bytes(bytes: f64) -> String {
    trimmed(bytes, 0)
}

/// A size for people, binary units with three significant digits: `512 B`, `48.2 MiB`,
/// `1.50 GiB` (monitor series, their thresholds).
pub fn fmt_size(bytes: f64) -> String {
    if !bytes.is_finite() {
        return DASH.to_string();
    }
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes.abs();
    let mut unit = 0;
    while v >= 1023.5 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let sign = if bytes < 0.0 && v > 0.0 { "-" } else { "" };
    if unit == 0 {
        return format!("{sign}{} B", trimmed(v, 0));
    }
    let decimals = if v < 9.995 {
        2
    } else if v < 99.95 {
        1
    } else {
        0
    };
    format!("{sign}{} {}", fixed(v, decimals), UNITS[unit])
}

/// A monitor series' value in its unit: `48.2 MiB`, `12.5%`, `105.3/s`, `17`.
pub fn fmt_monitor(value: f64, unit: crate::plan::monitor::MonitorUnit) -> String {
    use crate::plan::monitor::MonitorUnit;
    match unit {
        MonitorUnit::Bytes => fmt_size(value),
        MonitorUnit::Percent => format!("{}%", trimmed(value, 1)),
        MonitorUnit::PerSecond => format!("{}/s", trimmed(value, 2)),
        MonitorUnit::Count => trimmed(value, 2),
    }
}

/// A duration for people: `42s`, `1.5s`, `3m 05s`, `2h 01m`.
pub fn fmt_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return DASH.to_string();
    }
    if secs < 10.0 {
        return format!("{}s", trimmed(secs, 1));
    }
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// A running clock: `MM:SS`, or `H:MM:SS` from one hour on (whole seconds, rounded down).
pub fn fmt_clock(secs: f64) -> String {
    let secs = if secs.is_finite() && secs > 0.0 {
        secs as u64
    } else {
        0
    };
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

/// Milliseconds since the epoch as a UTC time, `None` outside the years `time` can print.
fn utc(ms: i64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// `YYYY-MM-DD HH:MM:SS UTC` from milliseconds since the epoch (`—` out of range).
pub fn fmt_utc(ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    utc(ms)
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| DASH.to_string())
}

/// RFC 3339 (`2024-05-01T12:00:00Z`) from milliseconds since the epoch, for `<time datetime>`
/// and Locust's CSV timestamps; empty out of range.
pub fn iso_utc(ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    utc(ms)
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_times_have_three_significant_digits() {
        assert_eq!(fmt_ms(0.0), "0.00");
        assert_eq!(fmt_ms(0.312), "0.31");
        assert_eq!(fmt_ms(1.234), "1.23");
        assert_eq!(fmt_ms(3.0), "3.00");
        assert_eq!(fmt_ms(9.996), "10.0");
        assert_eq!(fmt_ms(12.345), "12.3");
        // 55.25 is exact in binary: the tie goes to the even digit
        assert_eq!(fmt_ms(55.25), "55.2");
        assert_eq!(fmt_ms(99.96), "100");
        assert_eq!(fmt_ms(123.4), "123");
        assert_eq!(fmt_ms(1234.5678), "1235");
        assert_eq!(fmt_ms(3_600_000.0), "3600000");
        assert_eq!(fmt_ms(-0.001), "0.00");
        assert_eq!(fmt_ms(f64::NAN), "—");
    }

    #[test]
    fn rates_percentages_shares_and_sizes() {
        assert_eq!(fmt_rps(12.3), "12.30");
        assert_eq!(fmt_rps(12.345), "12.35");
        assert_eq!(fmt_rps(0.0), "0.00");
        assert_eq!(fmt_rps(-0.001), "0.00");
        assert_eq!(fmt_rps(1234.56), "1234.56");
        assert_eq!(fmt_rps(f64::INFINITY), "—");
        assert_eq!(fmt_pct(0.005), "0.50%");
        assert_eq!(fmt_pct(1.0 / 3.0), "33.33%");
        assert_eq!(fmt_pct(0.0), "0.00%");
        assert_eq!(fmt_change_pct(100.0), "+100.0%");
        assert_eq!(fmt_change_pct(-20.0), "-20.0%");
        assert_eq!(fmt_change_pp(1.5), "+1.50pp");
        assert_eq!(fmt_share(2.0 / 3.0), "66.7%");
        assert_eq!(fmt_share(0.5), "50%");
        assert_eq!(fmt_bytes(512.6), "513");
        assert_eq!(trimmed(12.50, 2), "12.5");
        assert_eq!(trimmed(-0.001, 2), "0");
    }

    #[test]
    fn durations_and_clocks() {
        assert_eq!(fmt_duration(1.5), "1.5s");
        assert_eq!(fmt_duration(42.0), "42s");
        assert_eq!(fmt_duration(185.0), "3m 05s");
        assert_eq!(fmt_duration(7260.0), "2h 01m");
        assert_eq!(fmt_duration(-1.0), "—");
        assert_eq!(fmt_clock(12.7), "00:12");
        assert_eq!(fmt_clock(3725.0), "1:02:05");
        assert_eq!(fmt_clock(f64::NAN), "00:00");
    }

    #[test]
    fn utc_times() {
        assert_eq!(fmt_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_utc(1_714_564_800_000), "2024-05-01 12:00:00 UTC");
        assert_eq!(fmt_utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(fmt_utc(4_102_444_799_999), "2099-12-31 23:59:59 UTC");
        assert_eq!(fmt_utc(-1000), "1969-12-31 23:59:59 UTC");
        assert_eq!(fmt_utc(-1), "1969-12-31 23:59:59 UTC");
        assert_eq!(fmt_utc(i64::MAX), "—");
        assert_eq!(iso_utc(1_714_564_801_500), "2024-05-01T12:00:01Z");
        assert_eq!(iso_utc(i64::MIN), "");
    }
}
