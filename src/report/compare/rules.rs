//! `--max-regression` rules (`p95=10%,error_rate=0.5pp`): their types and their parser, which
//! names the mistake in a bad rule. Pure text to values; applying a rule is `compare`'s job.

use super::Metric;
use crate::format::trimmed;

/// What the web page highlights when the URL names no rules.
pub const DEFAULT_RULES: &str = "p50=10%,p95=10%,p99=10%,rps=10%,error_rate=0.5pp";

/// How much worse a metric may get.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    /// Relative to the base, e.g. `10%`.
    Percent(f64),
    /// Absolute, in percentage points of a rate, e.g. `0.5pp`.
    Points(f64),
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Percent(p) => write!(f, "{}%", trimmed(*p, 6)),
            Limit::Points(p) => write!(f, "{}pp", trimmed(*p, 6)),
        }
    }
}

/// One `--max-regression` rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    pub metric: Metric,
    pub limit: Limit,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CompareError {
    #[error("bad regression rule {rule:?}: {message}")]
    Rule { rule: String, message: String },
}

/// Parses `p95=10%,error_rate=0.5pp`: comma-separated `METRIC=LIMIT`, percent (`%`) for
/// requests, rps and p50/p95/p99, percentage points (`pp`) for error_rate. Empty text: no rules.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, CompareError> {
    let mut rules = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = |message: String| CompareError::Rule {
            rule: part.to_string(),
            message,
        };
        let (key, limit) = part
            .split_once('=')
            .ok_or_else(|| bad("expected METRIC=LIMIT, e.g. p95=10%".into()))?;
        let key = key.trim();
        let metric = Metric::parse(key).ok_or_else(|| {
            let known: Vec<&str> = Metric::ALL.iter().map(|m| m.key()).collect();
            bad(format!(
                "unknown metric {key:?}; expected one of {}",
                known.join(", ")
            ))
        })?;
        let limit = limit.trim();
        let (number, limit) = if let Some(n) = limit.strip_suffix("pp") {
            (n, Limit::Points(0.0))
        } else if let Some(n) = limit.strip_suffix('%') {
            (n, Limit::Percent(0.0))
        } else {
            return Err(bad(format!(
                "the limit {limit:?} needs a unit: % (e.g. {key}=10%) or pp for rates \
                 (e.g. error_rate=0.5pp)"
            )));
        };
        let value: f64 = number
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| bad(format!("the limit must be a number ≥ 0, got {number:?}")))?;
        let limit = match limit {
            Limit::Points(_) if metric.is_rate() => Limit::Points(value),
            Limit::Percent(_) if !metric.is_rate() => Limit::Percent(value),
            Limit::Points(_) => {
                return Err(bad(format!(
                    "{key} changes by percent, e.g. {key}={}%",
                    trimmed(value, 6)
                )))
            }
            Limit::Percent(_) => {
                return Err(bad(format!(
                    "{key} is a rate: give its limit in percentage points, e.g. {key}={}pp",
                    trimmed(value, 6)
                )))
            }
        };
        rules.push(Rule { metric, limit });
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_name_their_mistakes() {
        assert_eq!(
            parse_rules("p95=10%,error_rate=0.5pp").unwrap(),
            [
                Rule {
                    metric: Metric::P95,
                    limit: Limit::Percent(10.0)
                },
                Rule {
                    metric: Metric::ErrorRate,
                    limit: Limit::Points(0.5)
                },
            ]
        );
        assert_eq!(parse_rules(" ").unwrap(), []);
        let msg = |t: &str| parse_rules(t).unwrap_err().to_string();
        assert!(
            msg("p97=10%").contains("unknown metric \"p97\""),
            "{}",
            msg("p97=10%")
        );
        assert!(msg("p95=10").contains("needs a unit"));
        assert!(msg("p95").contains("METRIC=LIMIT"));
        assert!(
            msg("error_rate=1%").contains("error_rate=1pp"),
            "{}",
            msg("error_rate=1%")
        );
        assert!(msg("p95=2pp").contains("p95=2%"));
        assert!(msg("p95=-1%").contains("≥ 0"));
        assert!(msg("p95=abc%").contains("\"abc\""));
        assert_eq!(Limit::Percent(12.5).to_string(), "12.5%");
        assert_eq!(Limit::Points(0.5).to_string(), "0.5pp");
    }
}
