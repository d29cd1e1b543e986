//! A comparison as text: the cells of the web page and `hornet compare`'s terminal table, and
//! one line per regression. Every number's text comes from `crate::format`, so a value reads the
//! same here as in the run's own table; this file only lays the texts out.

use std::fmt::Write as _;

use super::{CompareRow, Comparison, Delta, Limit, Measures, Metric, Regression};
use crate::format::{fmt_change_pct, fmt_change_pp, fmt_ms, fmt_pct, fmt_rps, DASH};
use crate::report::table::{clean, display_name, Align, Table};

impl std::fmt::Display for Regression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.method.is_empty() {
            clean(&self.name)
        } else {
            format!("{} {}", clean(&self.method), clean(&self.name))
        };
        let (base, head, change) = match self.limit {
            Limit::Points(_) => (
                fmt_pct(self.base),
                fmt_pct(self.head),
                fmt_change_pp(self.worse_by),
            ),
            Limit::Percent(_) => (
                value_text(self.metric, self.base),
                value_text(self.metric, self.head),
                format!(
                    "{} {}",
                    if self.metric.higher_is_worse() {
                        "up"
                    } else {
                        "down"
                    },
                    // worse_by is beyond a limit ≥ 0, so positive: the word carries the sign
                    fmt_change_pct(self.worse_by).trim_start_matches('+')
                ),
            ),
        };
        write!(
            f,
            "{what}: {} {base} → {head} ({change}, limit {})",
            self.metric.key(),
            self.limit
        )
    }
}

/// The cell text of one run's value, as the run's own table shows it: integers for counts,
/// `crate::format` for rates, times and the error rate.
pub fn value_text(m: Metric, v: f64) -> String {
    match m {
        Metric::Requests => format!("{}", v as u64),
        Metric::Rps => fmt_rps(v),
        Metric::P50 | Metric::P95 | Metric::P99 => fmt_ms(v),
        Metric::ErrorRate => fmt_pct(v),
    }
}

/// The change: `+12.3%` (percent), `+0.50pp` for the error rate; from a base of 0, `+0.0%`
/// when the head is 0 too and `new` otherwise.
pub fn delta_text(m: Metric, d: &Delta) -> String {
    if m.is_rate() {
        return fmt_change_pp(d.delta * 100.0);
    }
    match d.pct {
        Some(p) => fmt_change_pct(p),
        None if d.delta == 0.0 => fmt_change_pct(0.0),
        None => "new".to_string(),
    }
}

/// The comparison for the terminal: one table (base, head and change per metric; `!` marks a
/// broken rule), then the regressions, one per line.
pub fn render_text(c: &Comparison, base_label: &str, head_label: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "base: {}", clean(base_label));
    let _ = writeln!(out, "head: {}", clean(head_label));
    out.push('\n');
    let mut columns: Vec<(String, Align, bool)> = vec![
        ("Type".into(), Align::Left, false),
        ("Name".into(), Align::Left, false),
    ];
    for m in Metric::ALL {
        columns.push((format!("{} base", m.label()), Align::Right, true));
        columns.push(("head".into(), Align::Right, false));
        columns.push(("change".into(), Align::Right, false));
    }
    let heads: Vec<(&str, Align, bool)> = columns
        .iter()
        .map(|(h, a, g)| (h.as_str(), *a, *g))
        .collect();
    let mut table = Table::new(&heads);
    let cells = |r: &CompareRow| {
        let mut cells = vec![clean(&r.method), display_name(&r.name)];
        for m in Metric::ALL {
            let side =
                |s: Option<Measures>| s.map_or(DASH.to_string(), |s| value_text(m, s.get(m)));
            cells.push(side(r.base));
            cells.push(side(r.head));
            let change = r.delta(m).map_or(DASH.to_string(), |d| delta_text(m, &d));
            cells.push(if r.is_regressed(m) {
                format!("{change} !")
            } else {
                change
            });
        }
        cells
    };
    for r in c.rows.iter().filter(|r| !r.is_total()) {
        table.row(cells(r));
    }
    if let Some(total) = c.rows.iter().find(|r| r.is_total()) {
        table.footer(cells(total));
    }
    table.render(&mut out);
    if c.regressions.is_empty() {
        out.push_str("No regressions.\n");
    } else {
        let _ = writeln!(out, "Regressions ({}):", c.regressions.len());
        for r in &c.regressions {
            let _ = writeln!(out, "  {r}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::compare;
    use crate::report::compare::rules::parse_rules;
    use crate::report::compare::tests::{hist, run};

    #[test]
    fn text_marks_regressions_and_lists_them() {
        let base = run(&hist([10_000]), &hist([1000]), 0, 10.0);
        let head = run(&hist([50_000]), &hist([1000]), 0, 10.0);
        let c = compare(&base, &head, &parse_rules("p95=10%").unwrap());
        let text = render_text(&c, "run A", "run B");
        assert!(text.starts_with("base: run A\nhead: run B\n\n"), "{text}");
        let a = text.lines().find(|l| l.starts_with("GET  /a")).unwrap();
        assert!(a.contains("+400.0% !"), "{a}");
        assert!(
            text.contains("Regressions (2):\n  GET /a: p95 10.0 → 50.0 (up 400.0%, limit 10%)\n"),
            "{text}"
        );
        assert!(text.contains("  Aggregated: p95"), "{text}");
        let same = render_text(&compare(&base, &base, &[]), "a", "a");
        assert!(same.ends_with("No regressions.\n"), "{same}");
        assert!(!same.contains(" !"));
    }
}
