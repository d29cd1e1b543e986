//! Human durations: `250ms`, `1.5s`, `2m`, `1h30m`, `500us`. Exact (no floating point): a
//! formatted duration parses back to the same value. Pure: no clock.

use std::time::Duration;

const EXPECTED: &str = "a duration like 250ms, 1.5s, 2m or 1h30m (units h, m, s, ms, us, ns)";

/// Parses a duration made of one or more `<number><unit>` parts (`1h30m`, `1.5s`, `0s`).
/// Bare numbers are rejected: a unit is always required.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if text.is_empty() {
        return Err(format!("expected {EXPECTED}, found an empty string"));
    }
    let bad = |why: &str| format!("expected {EXPECTED}, found {s:?} ({why})");
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut total: u128 = 0; // nanoseconds
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let int_part = &text[start..i];
        let mut frac_part = "";
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let f = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            frac_part = &text[f..i];
            if frac_part.is_empty() {
                return Err(bad("a digit must follow the decimal point"));
            }
        }
        if int_part.is_empty() && frac_part.is_empty() {
            let why = if text.starts_with('-') {
                "durations cannot be negative".to_string()
            } else if start == 0 {
                "it does not start with a number".to_string()
            } else {
                format!("a number was expected at {:?}", &text[start..])
            };
            return Err(bad(&why));
        }
        let u = i;
        while i < bytes.len() && !bytes[i].is_ascii_digit() && bytes[i] != b'.' {
            i += 1;
        }
        let unit = &text[u..i];
        let unit_ns: u128 = match unit {
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" | "µs" => 1_000,
            "ns" => 1,
            "" => {
                return Err(if start == 0 && i == bytes.len() {
                    bad("a unit is required, e.g. 5s")
                } else {
                    bad("every number needs a unit")
                })
            }
            other => return Err(bad(&format!("unknown unit {other:?}"))),
        };
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| bad("number too large"))?
        };
        let mut part = int.checked_mul(unit_ns).ok_or_else(|| bad("too large"))?;
        if !frac_part.is_empty() {
            // exact: fraction digits × unit / 10^digits, digits beyond nanoseconds are dropped
            let digits = frac_part.len().min(20);
            let frac: u128 = frac_part[..digits]
                .parse()
                .map_err(|_| bad("bad fraction"))?;
            part += frac * unit_ns / 10u128.pow(digits as u32);
        }
        total = total.checked_add(part).ok_or_else(|| bad("too large"))?;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| bad("too large"))?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// The shortest form that [`parse_duration`] reads back to the same value:
/// `0s`, `250ms`, `500us`, `1.5s`, `45s`, `2m`, `1h30m`, `1m30s`.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    let secs = d.as_secs();
    if secs == 0 && nanos == 0 {
        return "0s".to_string();
    }
    if nanos != 0 {
        if secs == 0 {
            return if nanos.is_multiple_of(1_000_000) {
                format!("{}ms", nanos / 1_000_000)
            } else if nanos.is_multiple_of(1_000) {
                format!("{}us", nanos / 1_000)
            } else {
                format!("{nanos}ns")
            };
        }
        let frac = format!("{nanos:09}");
        return format!("{secs}.{}s", frac.trim_end_matches('0'));
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("1s"), Ok(ms(1000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("2m"), Ok(ms(120_000)));
        assert_eq!(parse_duration("1h30m"), Ok(ms(5_400_000)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("500us"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_duration("500µs"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration(" 1m30s "), Ok(ms(90_000)));
        assert_eq!(parse_duration(".5s"), Ok(ms(500)));
        assert_eq!(parse_duration("0.001ms"), Ok(Duration::from_micros(1)));
    }

    #[test]
    fn rejects_with_what_was_expected() {
        let e = parse_duration("5").unwrap_err();
        assert_eq!(
            e,
            "expected a duration like 250ms, 1.5s, 2m or 1h30m (units h, m, s, ms, us, ns), \
             found \"5\" (a unit is required, e.g. 5s)"
        );
        assert!(parse_duration("1h30")
            .unwrap_err()
            .contains("every number needs a unit"));
        assert!(parse_duration("5 sec")
            .unwrap_err()
            .contains("unknown unit \" sec\""));
        assert!(parse_duration("-1s")
            .unwrap_err()
            .contains("cannot be negative"));
        assert!(parse_duration("")
            .unwrap_err()
            .contains("found an empty string"));
        assert!(parse_duration("1.s").unwrap_err().contains("decimal point"));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("99999999999999999999999h").is_err());
    }

    #[test]
    fn formats_shortest_and_round_trips() {
        let cases = [
            (Duration::ZERO, "0s"),
            (ms(250), "250ms"),
            (Duration::from_micros(500), "500us"),
            (Duration::from_nanos(7), "7ns"),
            (ms(1500), "1.5s"),
            (ms(1000), "1s"),
            (ms(45_000), "45s"),
            (ms(120_000), "2m"),
            (ms(90_000), "1m30s"),
            (ms(5_400_000), "1h30m"),
            (ms(3_600_000), "1h"),
            (Duration::new(3661, 0), "1h1m1s"),
            (Duration::new(90, 250_000_000), "90.25s"),
        ];
        for (d, text) in cases {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Ok(d), "{text}");
        }
        for n in [1u64, 999, 1_000_001, 123_456_789_012] {
            let d = Duration::from_nanos(n);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
