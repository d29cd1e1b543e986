//! `hornet run --junit FILE`: the threshold verdicts as JUnit XML, one `<testcase>` per threshold,
//! so a CI server lists them beside the unit tests. A failed threshold carries a `<failure>`
//! whose message holds the observed value. Pure: the caller writes the text.
//!
//! Written by hand (a dozen elements do not need an XML crate); every text goes through
//! [`escape`], which also replaces the characters XML 1.0 cannot hold at all, escaped or not.

use std::fmt::Write as _;

use crate::stats::thresholds::{format_value, Verdict};

/// The JUnit document for one run's verdicts. `suite` names the test suite (the plan's name),
/// `elapsed_s` is the run's length; `<testsuites>` and `<testsuite>` carry the counts.
pub fn junit_xml(suite: &str, verdicts: &[Verdict], elapsed_s: f64) -> String {
    let failures = verdicts.iter().filter(|v| !v.passed).count();
    let time = format!("{:.3}", elapsed_s.max(0.0));
    let suite = escape(suite);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // writing into a String cannot fail
    let _ = writeln!(
        out,
        "<testsuites name=\"hornet\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{time}\">",
        verdicts.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time}\">",
        verdicts.len()
    );
    for v in verdicts {
        let name = escape(&v.expression);
        if v.passed {
            let _ = writeln!(
                out,
                "    <testcase name=\"{name}\" classname=\"{suite}.thresholds\" time=\"0\">"
            );
            let _ = writeln!(
                out,
                "      <system-out>{}</system-out>",
                escape(&v.observed_phrase())
            );
            out.push_str("    </testcase>\n");
        } else {
            let message = format!(
                "{}, threshold {}",
                v.observed_phrase(),
                format_value(v.threshold, v.unit)
            );
            let _ = writeln!(
                out,
                "    <testcase name=\"{name}\" classname=\"{suite}.thresholds\" time=\"0\">"
            );
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"threshold\">{}</failure>",
                escape(&message),
                escape(&v.line())
            );
            out.push_str("    </testcase>\n");
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Text safe both inside an element and inside a double- or single-quoted attribute: the five
/// markup characters as entities, tab/newline/return as character references (an attribute
/// would otherwise normalize them to spaces), and characters XML 1.0 forbids (other control
/// characters, U+FFFE, U+FFFF) as U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::thresholds::Unit;

    fn verdict(expr: &str, passed: bool, observed: f64, text: &str, threshold: f64) -> Verdict {
        Verdict {
            expression: expr.into(),
            passed,
            observed,
            observed_text: text.into(),
            threshold,
            unit: Unit::Ms,
            samples: 100,
            row: None,
            abort_on_fail: false,
            stopped_run_at_s: None,
            window: None,
        }
    }

    #[test]
    fn one_testcase_per_threshold_failures_carry_the_observed_value() {
        let mut slow = verdict("'/tools/[id]'.p99 < 500ms", false, 612.5, "612.5 ms", 500.0);
        slow.row = Some("GET /tools/[id]".into());
        let xml = junit_xml(
            "Demo <gateway>",
            &[verdict("p95 < 300ms", true, 212.0, "212 ms", 300.0), slow],
            12.3456,
        );
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <testsuites name=\"hornet\" tests=\"2\" failures=\"1\" errors=\"0\" time=\"12.346\">\n\
             \x20 <testsuite name=\"Demo &lt;gateway&gt;\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"12.346\">\n\
             \x20   <testcase name=\"p95 &lt; 300ms\" classname=\"Demo &lt;gateway&gt;.thresholds\" time=\"0\">\n\
             \x20     <system-out>observed 212 ms</system-out>\n\
             \x20   </testcase>\n\
             \x20   <testcase name=\"&apos;/tools/[id]&apos;.p99 &lt; 500ms\" classname=\"Demo &lt;gateway&gt;.thresholds\" time=\"0\">\n\
             \x20     <failure message=\"observed 612.5 ms on GET /tools/[id], threshold 500 ms\" type=\"threshold\">✗ &apos;/tools/[id]&apos;.p99 &lt; 500ms (observed 612.5 ms on GET /tools/[id])</failure>\n\
             \x20   </testcase>\n\
             \x20 </testsuite>\n\
             </testsuites>\n"
        );
    }

    #[test]
    fn no_thresholds_is_an_empty_suite() {
        let xml = junit_xml("p", &[], 1.0);
        assert!(xml.contains("<testsuite name=\"p\" tests=\"0\" failures=\"0\""));
        assert!(!xml.contains("<testcase"));
    }

    #[test]
    fn escape_covers_markup_whitespace_and_forbidden_characters() {
        assert_eq!(escape("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
        assert_eq!(escape("x\ty\nz\r"), "x&#9;y&#10;z&#13;");
        assert_eq!(
            escape("\u{1b}[2J\u{0}\u{FFFF}ok"),
            "\u{FFFD}[2J\u{FFFD}\u{FFFD}ok"
        );
        assert_eq!(escape("µs ✓ 日本"), "µs ✓ 日本");
        // an attribute cannot be closed early, whatever the name holds
        let xml = junit_xml(
            "s",
            &[verdict("'\"/><x a=\"", false, 1.0, "1 ms", 0.5)],
            0.0,
        );
        assert!(xml.contains("name=\"&apos;&quot;/&gt;&lt;x a=&quot;\""));
        assert_eq!(xml.matches('<').count(), xml.matches('>').count());
    }
}
