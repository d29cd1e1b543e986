//! Load shapes as pure functions of the time since the run started: what a closed-model shape
//! asks for ([`Target`]: users and spawn rate) and when an open-model shape schedules its task
//! starts ([`ArrivalSchedule`]). No clock, no tokio: the run actor and the arrival driver pass
//! elapsed times in and sleep until the instants that come out.
//!
//! The shape knows nothing about workers: a run that is one share of a larger one (users × k/n)
//! scales what comes out of here, the stages stay as written.

use std::time::Duration;

use crate::plan::model::{ArrivalStage, Stage};

/// What a closed-model shape asks for at some moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Target {
    pub users: u32,
    /// Users started or stopped per second; None: reach `users` at once.
    pub spawn_rate: Option<f64>,
}

/// The task starts per second an open-model shape asks for at some moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arrival {
    pub rate: f64,
}

/// The stage in force at `elapsed` (Locust's `LoadTestShape.tick`): its target and the time at
/// which it ends (when the next target is due). None once every stage is over.
pub fn stage_at(stages: &[Stage], elapsed: Duration) -> Option<(Target, Duration)> {
    let mut end = Duration::ZERO;
    for stage in stages {
        end += stage.duration;
        if elapsed < end {
            let target = Target {
                users: stage.users,
                spawn_rate: stage.spawn_rate,
            };
            return Some((target, end));
        }
    }
    None
}

/// One arrival stage with its position on the time line and in the count of starts.
#[derive(Clone, Debug, PartialEq)]
struct Segment {
    /// Seconds since the run started.
    start_s: f64,
    duration_s: f64,
    /// Rate at the start and at the end of the stage (per second).
    from: f64,
    to: f64,
    /// Starts scheduled before this stage (a real number: the integral of the rate).
    before: f64,
}

impl Segment {
    /// Starts during the whole stage: the area under the (linear) rate.
    fn count(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.duration_s
    }

    fn rate_at(&self, tau_s: f64) -> f64 {
        self.from + (self.to - self.from) * tau_s / self.duration_s
    }
}

/// When each task start of an open-model shape is due. The first stage holds its rate from the
/// start; every later stage ramps linearly from the previous stage's rate to its own (so a step
/// is a short ramp stage, and a constant rate is two stages with the same rate). Start `k`
/// (0-based) is due when the integral of the rate reaches `k`: at a constant 100/s the starts
/// fall at 0, 10 ms, 20 ms, ... and exactly 100 × seconds of them fit in the run.
#[derive(Clone, Debug, PartialEq)]
pub struct ArrivalSchedule {
    segments: Vec<Segment>,
    total: f64,
    duration: Duration,
}

impl ArrivalSchedule {
    pub fn new(stages: &[ArrivalStage]) -> ArrivalSchedule {
        let mut segments = Vec::with_capacity(stages.len());
        let mut start_s = 0.0;
        let mut before = 0.0;
        let mut previous: Option<f64> = None;
        for stage in stages {
            let rate = stage.rate.max(0.0);
            let seg = Segment {
                start_s,
                duration_s: stage.duration.as_secs_f64(),
                from: previous.unwrap_or(rate),
                to: rate,
                before,
            };
            start_s += seg.duration_s;
            before += seg.count();
            previous = Some(rate);
            segments.push(seg);
        }
        ArrivalSchedule {
            segments,
            total: before,
            duration: stages.iter().map(|s| s.duration).sum(),
        }
    }

    /// The whole schedule's length; no start is due at or after it.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The rate asked for at `elapsed`; None once the schedule is over.
    pub fn rate_at(&self, elapsed: Duration) -> Option<Arrival> {
        let t = elapsed.as_secs_f64();
        self.segments
            .iter()
            .find(|s| t >= s.start_s && t < s.start_s + s.duration_s)
            .map(|s| Arrival {
                rate: s.rate_at(t - s.start_s),
            })
    }

    /// When start `k` (0-based) is due, counted from the run's start; None when the schedule
    /// ends first.
    pub fn start_time(&self, k: u64) -> Option<Duration> {
        let k = k as f64;
        if k >= self.total {
            return None;
        }
        let seg = self
            .segments
            .iter()
            .find(|s| k < s.before + s.count() && s.count() > 0.0)?;
        // Solve a·τ² + b·τ = c for the time τ into the stage, where the starts so far are
        // b·τ + a·τ² (a = slope / 2). This form stays exact when b = 0 (a ramp from zero) and
        // when a = 0 (a constant rate), and needs no case for a falling ramp.
        let a = (seg.to - seg.from) / (2.0 * seg.duration_s);
        let b = seg.from;
        let c = k - seg.before;
        let disc = (b * b + 4.0 * a * c).max(0.0);
        let denom = b + disc.sqrt();
        let tau = if denom > 0.0 { 2.0 * c / denom } else { 0.0 };
        let t = seg.start_s + tau.clamp(0.0, seg.duration_s);
        let at = Duration::from_secs_f64(t);
        (at < self.duration).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn stage(d: f64, users: u32, spawn_rate: Option<f64>) -> Stage {
        Stage {
            duration: secs(d),
            users,
            spawn_rate,
        }
    }

    fn arrival(d: f64, rate: f64) -> ArrivalStage {
        ArrivalStage {
            duration: secs(d),
            rate,
        }
    }

    #[test]
    fn stages_follow_each_other_and_end() {
        let stages = [
            stage(10.0, 20, Some(5.0)),
            stage(30.0, 50, None),
            stage(5.0, 0, Some(10.0)),
        ];
        let t = |users, spawn_rate| Target { users, spawn_rate };
        assert_eq!(
            stage_at(&stages, Duration::ZERO),
            Some((t(20, Some(5.0)), secs(10.0)))
        );
        assert_eq!(
            stage_at(&stages, secs(9.999)),
            Some((t(20, Some(5.0)), secs(10.0)))
        );
        assert_eq!(
            stage_at(&stages, secs(10.0)),
            Some((t(50, None), secs(40.0)))
        );
        assert_eq!(
            stage_at(&stages, secs(44.5)),
            Some((t(0, Some(10.0)), secs(45.0)))
        );
        assert_eq!(stage_at(&stages, secs(45.0)), None);
        assert_eq!(
            crate::plan::model::ShapeKind::Stages(stages.to_vec()).duration(),
            secs(45.0)
        );
    }

    #[test]
    fn a_constant_rate_starts_on_an_exact_grid() {
        let s = ArrivalSchedule::new(&[arrival(10.0, 100.0)]);
        assert_eq!(s.start_time(0), Some(Duration::ZERO));
        assert_eq!(s.start_time(1), Some(secs(0.01)));
        assert_eq!(s.start_time(250), Some(secs(2.5)));
        assert_eq!(s.start_time(999), Some(secs(9.99)));
        assert_eq!(s.start_time(1000), None);
        assert_eq!(s.rate_at(secs(3.0)), Some(Arrival { rate: 100.0 }));
        assert_eq!(s.rate_at(secs(10.0)), None);
        assert_eq!(s.duration(), secs(10.0));
        // a fractional rate: 2.5/s over 4 s is 10 starts, 400 ms apart
        let s = ArrivalSchedule::new(&[arrival(4.0, 2.5)]);
        assert_eq!(s.start_time(3), Some(secs(1.2)));
        assert_eq!(s.start_time(9), Some(secs(3.6)));
        assert_eq!(s.start_time(10), None);
    }

    #[test]
    fn later_stages_ramp_from_the_previous_rate() {
        // 10/s for 2 s (20 starts), then 10 -> 30/s over 2 s (40 starts), then 30 -> 0 over 1 s
        // (15 starts): 75 in all.
        let s = ArrivalSchedule::new(&[arrival(2.0, 10.0), arrival(2.0, 30.0), arrival(1.0, 0.0)]);
        assert_eq!(s.rate_at(secs(1.0)), Some(Arrival { rate: 10.0 }));
        assert_eq!(s.rate_at(secs(3.0)), Some(Arrival { rate: 20.0 }));
        assert_eq!(s.rate_at(secs(4.5)), Some(Arrival { rate: 15.0 }));
        assert_eq!(s.start_time(19), Some(secs(1.9)));
        assert_eq!(s.start_time(20), Some(secs(2.0)));
        // 10τ + 5τ² = 15 -> τ = 1 (the rate reached 20/s halfway)
        assert_eq!(s.start_time(35), Some(secs(3.0)));
        assert!(s.start_time(74).is_some());
        assert_eq!(s.start_time(75), None, "exactly 75 starts fit");
        // the falling ramp: 30τ - 15τ² = 11 -> τ = 1 - sqrt(1 - 11/15)
        let t = s
            .start_time(60 + 11)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let expected = 4.0 + 1.0 - (1.0f64 - 11.0 / 15.0).sqrt();
        assert!((t - expected).abs() < 1e-9, "{t} vs {expected}");
    }

    #[test]
    fn a_ramp_from_zero_and_a_stage_at_rate_zero() {
        // 0/s for 1 s: nothing; then 0 -> 20/s over 2 s: 20 starts, the k-th at 1 + sqrt(k/5)
        let s = ArrivalSchedule::new(&[arrival(1.0, 0.0), arrival(2.0, 20.0)]);
        assert_eq!(s.start_time(0), Some(secs(1.0)));
        let t = s.start_time(5).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        assert!((t - 2.0).abs() < 1e-9, "{t}");
        let t = s.start_time(19).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        assert!((t - (1.0 + (19.0f64 / 5.0).sqrt())).abs() < 1e-9, "{t}");
        assert_eq!(s.start_time(20), None);
        assert_eq!(
            crate::plan::model::ShapeKind::Arrival {
                stages: vec![arrival(1.0, 0.0), arrival(2.0, 20.0)],
                max_users: 1
            }
            .duration(),
            secs(3.0)
        );
    }

    #[test]
    fn starts_are_in_order_and_their_count_is_the_integral() {
        let s = ArrivalSchedule::new(&[
            arrival(3.0, 7.0),
            arrival(5.0, 113.0),
            arrival(2.0, 40.0),
            arrival(4.0, 40.0),
        ]);
        // 21 + 300 + 153 + 160
        let mut last = Duration::ZERO;
        let mut n = 0;
        while let Some(t) = s.start_time(n) {
            assert!(t >= last, "start {n} at {t:?} before {last:?}");
            last = t;
            n += 1;
        }
        assert_eq!(n, 634);
    }
}
