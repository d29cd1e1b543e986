//! The generator's own CPU use, for the saturation warning (Locust warns at 90 % too): process
//! CPU time from `/proc/self/stat` against wall time, as a share of the cores this process may
//! run on (`taskset` and cgroup limits included, through `available_parallelism`). A generator
//! that uses all its CPU measures itself: its timers wake late and its latencies grow.
//!
//! Linux only; elsewhere nothing is measured and nothing is warned.

use std::time::Instant;

/// The share of the cores above which a second counts as saturated.
const SATURATED: f64 = 0.90;
/// Saturated seconds in a row before the warning (one busy second is not a verdict).
const SECONDS_IN_A_ROW: u32 = 3;
/// `USER_HZ`: the unit of `/proc/*/stat` times, 100 on every Linux ABI.
const TICKS_PER_SECOND: f64 = 100.0;

pub(crate) struct CpuMeter {
    last: Option<(Instant, u64)>,
    /// The share measured at the last reading.
    last_share: Option<f64>,
    cores: f64,
    saturated_for: u32,
    warned: bool,
}

impl CpuMeter {
    pub(crate) fn new() -> CpuMeter {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        CpuMeter {
            last: None,
            last_share: None,
            cores: cores as f64,
            saturated_for: 0,
            warned: false,
        }
    }

    /// Called about once a second. Returns the warning the first time the generator has been
    /// saturated for a few seconds in a row.
    pub(crate) fn sample(&mut self, now: Instant) -> Option<String> {
        let ticks = process_ticks()?;
        let share = self.share(now, ticks)?;
        self.last_share = Some(share);
        self.judge(share)
    }

    /// The share of the cores used over the last second measured (0..1), if one was.
    pub(crate) fn last_share(&self) -> Option<f64> {
        self.last_share
    }

    /// The share of the cores used since the previous reading.
    fn share(&mut self, now: Instant, ticks: u64) -> Option<f64> {
        let previous = self.last.replace((now, ticks));
        let (then, before) = previous?;
        let wall = now.saturating_duration_since(then).as_secs_f64();
        if wall < 0.5 {
            return None;
        }
        let cpu = ticks.saturating_sub(before) as f64 / TICKS_PER_SECOND;
        Some(cpu / wall / self.cores)
    }

    fn judge(&mut self, share: f64) -> Option<String> {
        if share < SATURATED {
            self.saturated_for = 0;
            return None;
        }
        self.saturated_for += 1;
        if self.warned || self.saturated_for < SECONDS_IN_A_ROW {
            return None;
        }
        self.warned = true;
        Some(format!(
            "generator CPU at {:.0}% of {} core(s) for {} s: the load generator is saturated; \
             numbers are suspect (fewer users, more cores or more agents)",
            share * 100.0,
            self.cores,
            self.saturated_for
        ))
    }
}

/// This process's resident memory (`/proc/self/statm`'s resident pages), if it can be read.
pub(crate) fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * PAGE_BYTES)
}

/// The page size of every platform Hornet's agents run on (x86-64 and arm64 Linux defaults).
const PAGE_BYTES: u64 = 4096;

/// utime + stime of this process, in ticks.
fn process_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_ticks(&stat)
}

/// Fields 14 and 15 of `/proc/PID/stat`; the command name (field 2) may hold spaces and
/// parentheses, so fields are counted after its last `)`.
fn parse_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ticks_come_from_fields_14_and_15() {
        let stat = "29455 (a (b) c) R 29451 29451 1107 0 -1 4194304 100 0 0 0 250 37 0 0 20 0";
        assert_eq!(parse_ticks(stat), Some(287));
        assert_eq!(parse_ticks("garbage"), None);
    }

    #[test]
    fn warns_once_after_three_saturated_seconds() {
        let mut m = CpuMeter {
            last: None,
            last_share: None,
            cores: 2.0,
            saturated_for: 0,
            warned: false,
        };
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(m.share(at(0), 0), None);
        // 1.9 cores of 2 for a second = 95 %
        assert!((m.share(at(1), 190).unwrap() - 0.95).abs() < 1e-9);
        assert_eq!(m.judge(0.95), None);
        assert_eq!(m.judge(0.5), None);
        assert_eq!(m.judge(0.95), None);
        assert_eq!(m.judge(0.95), None);
        let w = m.judge(0.97).unwrap();
        assert!(
            w.starts_with("generator CPU at 97% of 2 core(s) for 3 s"),
            "{w}"
        );
        assert_eq!(m.judge(0.99), None);
    }

    #[test]
    fn this_process_has_cpu_ticks_and_memory() {
        assert!(process_ticks().is_some());
        assert!(resident_bytes().is_some_and(|b| b > 1 << 20));
    }
}
