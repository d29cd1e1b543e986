//! The machine's own timer floor, for reading `bench/timers.sh`: how late a bare thread wakes from
//! an absolute sleep 5 ms ahead (timer slack 1 ns, as Hornet's timer thread asks), with no spin
//! and with the last 100 µs spun. If this thread cannot wake within 200 µs p99, neither can a
//! paced user: the difference is the virtual machine (steal time, an idle vCPU's wake-up).
//!
//!   cargo run --release --example sleep_floor [WAKES]      # default 2000 wake-ups per line

use std::time::{Duration, Instant};

fn main() {
    let wakes: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000)
        .max(1);
    // Not fatal when refused: the figures then include the default 50 µs slack.
    let _ = std::fs::write("/proc/thread-self/timerslack_ns", "1");
    for spin in [Duration::ZERO, Duration::from_micros(100)] {
        let mut late: Vec<Duration> = (0..wakes)
            .map(|_| {
                let at = Instant::now() + Duration::from_millis(5);
                std::thread::sleep((at - spin).saturating_duration_since(Instant::now()));
                while Instant::now() < at {
                    std::hint::spin_loop();
                }
                Instant::now() - at
            })
            .collect();
        late.sort();
        let q = |p: f64| late[((late.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
        println!(
            "spin {:>4} µs: late p50 {:>6.0} µs  p90 {:>6.0} µs  p99 {:>6.0} µs  max {:>6.0} µs",
            spin.as_micros(),
            q(0.5),
            q(0.9),
            q(0.99),
            q(1.0)
        );
    }
}
