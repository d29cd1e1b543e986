//! The virtual-user loop: `on_start` once, then pick a task by weight, run its steps, wait per
//! the class's `wait`, repeat; `on_stop` when the user is stopped. Stopping is cooperative
//! (`stop` token: finish the task within the stop timeout) or immediate (`kill` token).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::context::{UserContext, WindDown, STREAM_WRAP_UP};
use super::prepare::{PreparedClass, PreparedStep};
use crate::plan::model::Wait;

/// The pause after a skipped task when the class has no wait (`constant(0s)`).
const SKIP_PAUSE: Duration = Duration::from_millis(1);
/// Think times this long or longer end on a shared grid ([`think_until`]).
const THINK_GRID_FROM: Duration = Duration::from_millis(200);
/// The coarsest grid (thinks of 1 s and more).
const THINK_GRID_MAX: Duration = Duration::from_millis(5);

/// How a user is told to end.
pub(crate) struct UserControl {
    /// Graceful: finish the current task (up to `stop_timeout`), run `on_stop`, exit.
    pub(crate) stop: CancellationToken,
    /// Immediate: drop whatever is in flight; no `on_stop`.
    pub(crate) kill: CancellationToken,
    pub(crate) stop_timeout: Duration,
}

pub(crate) async fn run_user(class: Arc<PreparedClass>, mut ctx: UserContext, ctl: UserControl) {
    let kill = ctl.kill.clone();
    tokio::select! {
        biased;
        _ = kill.cancelled() => {}
        _ = lifecycle(&class, &mut ctx, &ctl) => {}
    }
    ctx.note_cut_off();
    ctx.rec.finish().await;
}

async fn lifecycle(class: &PreparedClass, ctx: &mut UserContext, ctl: &UserControl) {
    // A `once` feeder that ran out stops the user before it starts (Locust's StopUser).
    if !ctx.feed_on_start() {
        return;
    }
    let wind_down = ctx.wind_down.clone();
    if !class.on_start.is_empty() {
        let finished = tokio::select! {
            biased;
            _ = stop_deadline(ctl, &wind_down) => false,
            _ = run_steps(&class.on_start, ctx, None) => true,
        };
        if !finished {
            ctx.note_cut_off();
            return;
        }
    }
    let period = class.wait.period();
    // Paced users keep a fixed grid of intended starts and catch up when late, so that latency
    // measured from the intended start (the corrected twin) counts the time lost to a stall.
    let mut intended = Instant::now();
    // One deadline for the user's life, not one per iteration: each one registers with the
    // user's stop token and deregisters again (two locks per request, measured in profiles).
    let deadline = stop_deadline(ctl, &wind_down);
    tokio::pin!(deadline);
    while !ctl.stop.is_cancelled() {
        let lag = period.map(|_| Instant::now().saturating_duration_since(intended));
        let task = pick_task(class, ctx);
        // A skipped task sends nothing and takes no data row, but still takes its wait.
        let skipped = skip_unready(class, task, ctx);
        let completed = if skipped {
            true
        } else {
            if !ctx.feed_task(task) {
                // A `once` feeder ran out: this user stops (on_stop still runs).
                break;
            }
            tokio::select! {
                biased;
                _ = &mut deadline => false,
                // Not boxed: boxing the ~3.4 KiB request future saves ~2.4 KiB per idle user
                // but cost ~20% of requests per CPU-second (bench/peers.sh, 79 k -> 60-66 k).
                _ = run_steps(&class.tasks[task].steps, ctx, lag) => true,
            }
        };
        if !completed {
            ctx.note_cut_off();
            break;
        }
        let wake = match (class.wait, period) {
            (_, Some(period)) => {
                intended += period;
                Some(intended)
            }
            (Wait::Constant(d), None) if d.is_zero() => None,
            (Wait::Constant(d), None) => Some(think_until(Instant::now(), d, ctx.rec.epoch())),
            (Wait::Between(a, b), None) => {
                let d = if b > a {
                    ctx.rng.random_range(a..=b)
                } else {
                    a
                };
                Some(think_until(Instant::now(), d, ctx.rec.epoch()))
            }
            (Wait::Throughput(_) | Wait::Pacing(_), None) => None,
        };
        match wake {
            Some(at) if at > Instant::now() => {
                // About to sleep: hand over what was recorded so the live numbers stay current.
                ctx.rec.flush();
                // Paced starts wait precisely (their lateness is in every corrected sample);
                // think times on tokio's 1 ms timer, which costs less.
                if period.is_some() {
                    tokio::select! {
                        biased;
                        _ = ctl.stop.cancelled() => break,
                        _ = super::timer::sleep_until(at) => {}
                    }
                } else {
                    tokio::select! {
                        biased;
                        _ = ctl.stop.cancelled() => break,
                        _ = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                if period.is_some() {
                    // How late the timer woke us: the generator's own error, not the target's.
                    let now = Instant::now();
                    ctx.rec.record_lag(now.saturating_duration_since(at), now);
                }
            }
            // No wait after a skip: a short pause, so that a user whose every task is skipped
            // does not spin a core.
            _ if skipped => {
                tokio::select! {
                    biased;
                    _ = ctl.stop.cancelled() => break,
                    _ = tokio::time::sleep(SKIP_PAUSE) => {}
                }
            }
            _ => tokio::task::consume_budget().await,
        }
    }
    run_on_stop(class, ctx).await;
}

/// The end of a think time (`constant`/`between` wait) of `think` begun at `now`. A think of
/// [`THINK_GRID_FROM`] or more ends on the nearest point of a grid of think / 200 (at most
/// [`THINK_GRID_MAX`]) counted from the run's start, so that users thinking alike wake together:
/// one worker wake-up, and one target wake-up, serve a few users instead of one. With 2 000 users
/// at 1 s this took the generator's CPU from 54.8 to 40.6 µs per request (bench/README.md). The
/// error is within ±0.25 % of the think and averages zero; paced and open-model starts never
/// pass through here (they wait precisely, see `timer`).
pub(crate) fn think_until(now: Instant, think: Duration, epoch: Instant) -> Instant {
    let grid = (think / 200).min(THINK_GRID_MAX);
    if think < THINK_GRID_FROM || grid.is_zero() {
        return now + think;
    }
    let since = (now + think).saturating_duration_since(epoch);
    let (Ok(since_ns), Ok(grid_ns)) = (
        u64::try_from(since.as_nanos()),
        u64::try_from(grid.as_nanos()),
    ) else {
        return now + think;
    };
    let nearest = (since_ns + grid_ns / 2) / grid_ns * grid_ns;
    epoch + Duration::from_nanos(nearest)
}

/// `on_stop`, whose stream steps do not see the stop that led to it.
pub(crate) async fn run_on_stop(class: &PreparedClass, ctx: &mut UserContext) {
    if !class.on_stop.is_empty() {
        ctx.rec.flush();
        ctx.wind_down.token = CancellationToken::new();
        run_steps(&class.on_stop, ctx, None).await;
    }
}

/// Resolves once the user was asked to stop and its stop timeout has passed. Then it tells the
/// stream steps (`wind_down`); one running has [`STREAM_WRAP_UP`] more to end on its own.
pub(crate) async fn stop_deadline(ctl: &UserControl, wind_down: &WindDown) {
    ctl.stop.cancelled().await;
    if !ctl.stop_timeout.is_zero() {
        tokio::time::sleep(ctl.stop_timeout).await;
    }
    wind_down.token.cancel();
    if wind_down.streaming.load(Ordering::Acquire) {
        tokio::time::sleep(STREAM_WRAP_UP).await;
    }
}

pub(crate) fn pick_task(class: &PreparedClass, ctx: &mut UserContext) -> usize {
    let total = class.cumulative_weights.last().copied().unwrap_or(0);
    if class.tasks.len() <= 1 || total == 0 {
        return 0;
    }
    let r = ctx.rng.random_range(0..total);
    class.cumulative_weights.partition_point(|&c| c <= r)
}

/// True (and counted) when task `task` is skipped because a variable it `requires` is missing,
/// null or an empty list for this user: upstream Locust's `if not self.tool_ids: return`.
pub(crate) fn skip_unready(class: &PreparedClass, task: usize, ctx: &mut UserContext) -> bool {
    let ready = class.tasks.get(task).is_none_or(|t| t.is_ready(&ctx.vars));
    if !ready {
        ctx.rec.record_skipped(Instant::now());
    }
    !ready
}

/// Runs steps in order; a failed step ends the sequence (later steps usually need its result).
pub(crate) async fn run_steps(
    steps: &[PreparedStep],
    ctx: &mut UserContext,
    lag: Option<Duration>,
) -> bool {
    for s in steps {
        if let PreparedStep::Think(d) = s {
            ctx.rec.flush();
            tokio::time::sleep_until(think_until(Instant::now(), *d, ctx.rec.epoch()).into()).await;
            continue;
        }
        ctx.in_request = true;
        let stream = matches!(s, PreparedStep::Sse(_) | PreparedStep::Ws(_));
        if stream {
            ctx.wind_down.streaming.store(true, Ordering::Release);
        }
        let cx = &mut ctx.step_ctx(lag);
        // One execute shape for every kind; static dispatch keeps the HTTP future inline.
        let ok = match s {
            PreparedStep::Http(p) => p.execute(cx).await,
            PreparedStep::Rpc(p) => p.execute(cx).await,
            // Streams are boxed: their futures are large and rare, and inline they would make
            // every user's future larger for its whole life.
            PreparedStep::Sse(p) => Box::pin(p.execute(cx)).await,
            PreparedStep::Ws(p) => Box::pin(p.execute(cx)).await,
            PreparedStep::Think(_) => true,
        };
        ctx.in_request = false;
        if stream {
            ctx.wind_down.streaming.store(false, Ordering::Release);
        }
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::prepare::PreparedTask;
    use rand::SeedableRng;

    #[test]
    fn tasks_are_picked_by_weight() {
        let class = PreparedClass {
            wait: Wait::Constant(Duration::ZERO),
            on_start: vec![],
            on_stop: vec![],
            tasks: (0..3)
                .map(|_| PreparedTask {
                    steps: vec![],
                    requires: vec![],
                })
                .collect(),
            cumulative_weights: vec![1, 4, 10],
        };
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let shared = crate::engine::vars::SharedVars::empty();
        let mut ctx = UserContext::new(
            crate::engine::vars::Vars::new(shared),
            crate::protocols::http_client::HttpShared::new(),
            crate::stats::recorder::Recorder::new(tx),
            rand::rngs::SmallRng::seed_from_u64(7),
        );
        let mut counts = [0u32; 3];
        for _ in 0..10_000 {
            counts[pick_task(&class, &mut ctx)] += 1;
        }
        // expected 1000, 3000, 6000; allow 5 standard deviations
        assert!((counts[0] as i32 - 1000).abs() < 150, "{counts:?}");
        assert!((counts[1] as i32 - 3000).abs() < 230, "{counts:?}");
        assert!((counts[2] as i32 - 6000).abs() < 250, "{counts:?}");
    }

    #[test]
    fn a_task_whose_requires_has_no_value_is_skipped_and_counted() {
        use serde_json::json;
        let task = |requires: &[&str]| PreparedTask {
            steps: vec![],
            requires: requires.iter().map(|s| s.to_string()).collect(),
        };
        let class = PreparedClass {
            wait: Wait::Constant(Duration::ZERO),
            on_start: vec![],
            on_stop: vec![],
            tasks: vec![task(&[]), task(&["ids"]), task(&["ids", "token"])],
            cumulative_weights: vec![1, 2, 3],
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let shared = crate::engine::vars::SharedVars::from_values([
            ("ids".to_string(), json!([])),
            ("token".to_string(), json!("t")),
        ]);
        let mut ctx = UserContext::new(
            crate::engine::vars::Vars::new(shared),
            crate::protocols::http_client::HttpShared::new(),
            crate::stats::recorder::Recorder::new(tx),
            rand::rngs::SmallRng::seed_from_u64(7),
        );
        // Setup left the pool empty: both tasks that need it are skipped, the other runs.
        let skipped: Vec<bool> = (0..3).map(|t| skip_unready(&class, t, &mut ctx)).collect();
        assert_eq!(skipped, [false, true, true]);
        // The user's own capture fills the pool: nothing is skipped any more.
        ctx.vars.set("ids", json!(["a", "b"]));
        let skipped: Vec<bool> = (0..3).map(|t| skip_unready(&class, t, &mut ctx)).collect();
        assert_eq!(skipped, [false, false, false]);
        // ...until a later capture empties it again (null counts as no value).
        ctx.vars.set("ids", json!(null));
        assert!(skip_unready(&class, 1, &mut ctx));
        ctx.rec.flush();
        let batch = rx.try_recv().expect("the skips were recorded");
        assert_eq!(batch.skipped, 3);
        assert!(batch.samples.is_empty(), "a skip records no request");
    }

    #[test]
    fn long_thinks_end_on_a_shared_grid_within_a_quarter_percent() {
        let epoch = Instant::now();
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        // 1 s thinks begun 1.3 ms apart end on the same 5 ms point.
        let a = think_until(epoch + us(100_100), ms(1000), epoch);
        let b = think_until(epoch + us(101_400), ms(1000), epoch);
        assert_eq!(a, b);
        assert_eq!(a - epoch, ms(1100));
        // Nearest, not later: 2.4 ms past a point goes back to it, 2.6 ms goes on to the next.
        assert_eq!(
            think_until(epoch + us(2_400), ms(1000), epoch) - epoch,
            ms(1000)
        );
        assert_eq!(
            think_until(epoch + us(2_600), ms(1000), epoch) - epoch,
            ms(1005)
        );
        // Every start: the end is within think / 400 of the exact one, and averages to it.
        let mut sum_error_ns = 0i128;
        for start_us in (0..20_000u64).step_by(7) {
            for think in [ms(200), ms(450), ms(1000), ms(3000)] {
                let now = epoch + us(start_us);
                let exact = now + think;
                let got = think_until(now, think, epoch);
                let error = if got > exact {
                    got - exact
                } else {
                    exact - got
                };
                assert!(
                    error <= think / 400,
                    "{think:?} from {start_us} µs: {error:?}"
                );
                sum_error_ns += got.duration_since(epoch).as_nanos() as i128
                    - exact.duration_since(epoch).as_nanos() as i128;
            }
        }
        let mean_error_ns = sum_error_ns / (4 * 20_000 / 7 + 4);
        assert!(
            mean_error_ns.abs() < 50_000,
            "mean error {mean_error_ns} ns"
        );
        // Short thinks are exact.
        let now = epoch + us(1_234);
        assert_eq!(think_until(now, ms(199), epoch), now + ms(199));
        assert_eq!(think_until(now, ms(10), epoch), now + ms(10));
    }
}
