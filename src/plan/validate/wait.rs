//! Wait functions between task runs: `constant(D)`, `between(A, B)`, `throughput(N/s)`,
//! `pacing(D)`.

use std::time::Duration;

use super::split_expected;
use crate::plan::duration::{format_duration, parse_duration};
use crate::plan::limits;
use crate::plan::model::*;

pub(super) const WAIT_EXPECTED: &str =
    "a wait function: constant(D), between(A, B), throughput(N/s) or pacing(D)";

/// `pacing(D)`. The error reads "expected ..., found ...".
pub fn parse_wait(s: &str) -> Result<Wait, String> {
    wait_parts(s).map_err(|(e, f)| format!("expected {e}, found {f}"))
}

pub(super) fn wait_parts(s: &str) -> Result<Wait, (String, String)> {
    let t = s.trim();
    let malformed = || (WAIT_EXPECTED.to_string(), format!("{s:?}"));
    let (fname, rest) = t.split_once('(').ok_or_else(malformed)?;
    let args = rest.strip_suffix(')').ok_or_else(malformed)?;
    let fname = fname.trim();
    let args: Vec<&str> = args.split(',').map(str::trim).collect();
    let arity = |n: usize, form: &str| -> Result<(), (String, String)> {
        if args.len() == n && args.iter().all(|a| !a.is_empty()) {
            Ok(())
        } else {
            Err((form.to_string(), format!("{s:?}")))
        }
    };
    let dur = |a: &str, form: &str| -> Result<Duration, (String, String)> {
        let d = parse_duration(a).map_err(|m| {
            let (_, found) = split_expected(&m);
            (format!("{form} with durations like 500ms or 2s"), found)
        })?;
        if d > limits::MAX_DURATION {
            return Err((
                format!(
                    "{form} with durations of at most {}",
                    format_duration(limits::MAX_DURATION)
                ),
                format!("{a:?}"),
            ));
        }
        Ok(d)
    };
    match fname {
        "constant" => {
            arity(1, "constant(D), e.g. constant(1s)")?;
            Ok(Wait::Constant(dur(args[0], "constant(D)")?))
        }
        "between" => {
            arity(2, "between(A, B), e.g. between(1s, 3s)")?;
            let a = dur(args[0], "between(A, B)")?;
            let b = dur(args[1], "between(A, B)")?;
            if a > b {
                return Err(("between(A, B) with A ≤ B".to_string(), format!("{s:?}")));
            }
            Ok(Wait::Between(a, b))
        }
        "throughput" | "constant_throughput" => {
            arity(1, "throughput(N/s), e.g. throughput(2/s)")?;
            let n = args[0].strip_suffix("/s").unwrap_or(args[0]).trim();
            match n.parse::<f64>() {
                Ok(f) if f.is_finite() && (limits::MIN_RATE..=limits::MAX_RATE).contains(&f) => {
                    Ok(Wait::Throughput(f))
                }
                _ => Err((
                    format!(
                        "throughput(N/s) with N from {} to {} task runs per second, e.g. \
                         throughput(2/s)",
                        limits::MIN_RATE,
                        limits::MAX_RATE
                    ),
                    format!("{s:?}"),
                )),
            }
        }
        "pacing" | "constant_pacing" => {
            arity(1, "pacing(D), e.g. pacing(2s)")?;
            let d = dur(args[0], "pacing(D)")?;
            if d.is_zero() {
                return Err(("pacing(D) with D > 0".to_string(), format!("{s:?}")));
            }
            Ok(Wait::Pacing(d))
        }
        other => Err((
            WAIT_EXPECTED.to_string(),
            format!("unknown function {other:?}"),
        )),
    }
}
