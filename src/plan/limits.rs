//! Upper bounds on every number a run takes, from a plan, the CLI or the API, in one place so
//! that each edge refuses the same values with the same words. They exist because the engine
//! sizes things by these numbers (the class sequence, per-user state, timers, row tables): a
//! typo such as `fixed_count = 4000000000` must be a validation error, not a 32 GB allocation.
//! Each bound is far above what one machine drives and low enough that nothing proportional to
//! it can exhaust memory or overflow a timer.

use std::time::Duration;

/// Users per run (`-u`, the API's `users`, a stage's `users`, `max_users`), and `fixed_count`
/// users of all classes together.
pub const MAX_USERS: u32 = 1_000_000;
/// Users started per second (`spawn_rate`, `-r`) and task starts per second (`arrival` rates,
/// `throughput(N/s)`).
pub const MAX_RATE: f64 = 1_000_000.0;
/// The smallest positive spawn rate and `throughput(N/s)`: one per ~17 minutes. Smaller values
/// make the time to the next user overflow a `Duration`.
pub const MIN_RATE: f64 = 0.001;
/// A class or task weight, and `--class NAME=W`. Locust's dispatch builds one period of the
/// weighted round-robin, `2 × Σweight ÷ min weight` entries long: with at most [`MAX_CLASSES`]
/// classes that stays ≤ 200 000 entries.
pub const MAX_WEIGHT: u32 = 1_000;
/// User classes in a plan.
pub const MAX_CLASSES: usize = 100;
/// Tasks in a class (their weights' running sum then fits a `u32` many times over).
pub const MAX_TASKS: usize = 1_000;
/// Steps in a task, `on_start`, `on_stop` or `setup`.
pub const MAX_STEPS: usize = 1_000;
/// Stages in a shape.
pub const MAX_STAGES: usize = 1_000;
/// `events = N` of an SSE step and `expect = N` of a WebSocket step.
pub const MAX_EVENTS: u32 = 1_000_000;
/// Messages in a WebSocket step's `send` (each is kept pending until its reply).
pub const MAX_SEND: usize = 1_000;
/// Messages a second on one WebSocket (`rate = "N/s"` of a ws step): each may wait for its
/// reply for the step's timeout, so this bounds what one connection holds pending.
pub const MAX_WS_RATE: f64 = 10_000.0;
/// Any duration in a plan (timeouts, think times, waits, stages, `for`, delays) and a run's
/// `run_time`: `Instant + d` can then never overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);
/// A plan file; also bounds how many names, rows and steps a plan can write out.
pub const MAX_PLAN_BYTES: u64 = 16 * 1024 * 1024;
/// Instructions one template render may execute (minijinja's fuel): far above any header or
/// body template (a loop over 10 000 captured ids fits, a test checks it), far below a runaway loop.
pub const TEMPLATE_FUEL: u64 = 100_000;

/// What a check or capture reads of a response body unless `max_body` says otherwise; beyond
/// it the request fails and the rest of the body is drained without being kept.
pub const DEFAULT_MAX_BODY: u64 = 16 * 1024 * 1024;
/// The largest `max_body` a plan may set (each user running such a step may hold this much).
pub const MAX_MAX_BODY: u64 = 1024 * 1024 * 1024;

/// A CSV data file: checked before reading, so a huge file is refused without reading it.
pub const MAX_DATA_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Rows of a data source (CSV rows below the header, or inline rows).
pub const MAX_DATA_ROWS: usize = 1_000_000;
/// One CSV field; also bounds one record, so a 300 MB single-line file stops early.
pub const MAX_DATA_FIELD_BYTES: usize = 64 * 1024;
/// Columns of a CSV data file.
pub const MAX_DATA_COLUMNS: usize = 1_000;

/// Checks a run's user count (`-u`, the API's `users`).
pub fn check_users(users: u64) -> Result<u32, String> {
    u32::try_from(users)
        .ok()
        .filter(|u| *u <= MAX_USERS)
        .ok_or_else(|| format!("users must be at most {MAX_USERS}, got {users}"))
}

/// Checks a spawn rate (`-r`, the API's `spawn_rate`): from [`MIN_RATE`] to [`MAX_RATE`].
pub fn check_spawn_rate(rate: f64) -> Result<f64, String> {
    if rate.is_finite() && (MIN_RATE..=MAX_RATE).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!(
            "spawn rate must be a number of users per second from {MIN_RATE} to {MAX_RATE}, got {rate:?}"
        ))
    }
}

/// Checks a class weight given at run time (`--class NAME=W`, the API's `classes`).
pub fn check_weight(weight: i64) -> Result<u32, String> {
    u32::try_from(weight)
        .ok()
        .filter(|w| (1..=MAX_WEIGHT).contains(w))
        .ok_or_else(|| {
            format!("a weight must be a whole number from 1 to {MAX_WEIGHT}, got {weight}")
        })
}

/// Checks a run's duration (`-t`, the API's `run_time`, `stop_timeout`).
pub fn check_duration(d: Duration) -> Result<Duration, String> {
    if d <= MAX_DURATION {
        Ok(d)
    } else {
        Err(format!(
            "a duration must be at most {}, got {}",
            super::duration::format_duration(MAX_DURATION),
            super::duration::format_duration(d)
        ))
    }
}

/// A duration for a command-line flag: parsed, then bounded by [`MAX_DURATION`].
pub fn parse_run_duration(s: &str) -> Result<Duration, String> {
    super::duration::parse_duration(s).and_then(check_duration)
}

/// Sizes for messages: `16 MiB`, `64 KiB`, `123 bytes`.
pub fn format_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;
    let (unit, name) = match n {
        n if n >= GIB && n % GIB == 0 => (GIB, "GiB"),
        n if n >= MIB && n % MIB == 0 => (MIB, "MiB"),
        n if n >= MIB => return format!("{:.1} MiB", n as f64 / MIB as f64),
        n if n >= KIB && n % KIB == 0 => (KIB, "KiB"),
        n if n >= KIB => return format!("{:.1} KiB", n as f64 / KIB as f64),
        _ => return format!("{n} bytes"),
    };
    format!("{} {name}", n / unit)
}

/// Parses a size: `16MiB`, `64 KiB`, `1GiB`, `512kB`, `1000` (bytes). Binary and decimal units.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let expected = "a size like \"16MiB\", \"64KiB\" or \"1GiB\"";
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad = || format!("expected {expected}, found {s:?}");
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let scale: u64 = match unit.trim() {
        "" | "B" | "b" => 1,
        "KiB" | "kib" => 1 << 10,
        "MiB" | "mib" => 1 << 20,
        "GiB" | "gib" => 1 << 30,
        "kB" | "KB" | "kb" => 1_000,
        "MB" | "mb" => 1_000_000,
        "GB" | "gb" => 1_000_000_000,
        _ => return Err(bad()),
    };
    n.checked_mul(scale).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_format() {
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size(" 64 KiB "), Ok(64 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("2kB"), Ok(2000));
        assert!(parse_size("1.5MiB").is_err());
        assert!(parse_size("-1MiB").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
        assert_eq!(format_bytes(16 << 20), "16 MiB");
        assert_eq!(format_bytes(64 << 10), "64 KiB");
        assert_eq!(format_bytes(100), "100 bytes");
        assert_eq!(format_bytes(79 * 1024 * 1024 + 300 * 1024), "79.3 MiB");
    }

    #[test]
    fn run_level_numbers_are_bounded() {
        assert_eq!(check_users(1_000_000), Ok(1_000_000));
        assert!(check_users(1_000_001).is_err());
        assert!(check_users(4_000_000_000).is_err());
        assert!(check_spawn_rate(0.0).is_err());
        assert!(check_spawn_rate(1e-300).is_err());
        assert!(check_spawn_rate(f64::INFINITY).is_err());
        assert_eq!(check_spawn_rate(10.0), Ok(10.0));
        assert_eq!(check_weight(1000), Ok(1000));
        assert!(check_weight(0).is_err());
        assert!(check_weight(1001).is_err());
        assert!(parse_run_duration("31d").is_err());
        assert!(parse_run_duration("721h").is_err());
        assert_eq!(parse_run_duration("720h"), Ok(MAX_DURATION));
    }
}
