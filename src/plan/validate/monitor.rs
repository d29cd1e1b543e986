//! `[monitor]`: the sources read beside a run and the series they give, each problem at its
//! line:col. Also the selector syntax (`metric{label="value",other!~"re.*"}`).

use toml::de::{DeTable, DeValue};

use super::{field, is_identifier, Scope, Validator};
use crate::plan::monitor::*;
use crate::plan::parse::{entries, Val};
use crate::plan::template::Template;

const MONITOR_KEYS: &[&str] = &["every", "warmup", "prometheus", "query", "process"];
const PROMETHEUS_KEYS: &[&str] = &["name", "url", "token", "metrics"];
const METRIC_KEYS: &[&str] = &["name", "select", "unit"];
const QUERY_KEYS: &[&str] = &["name", "url", "promql", "token", "unit"];
const PROCESS_KEYS: &[&str] = &["name", "pid", "pid_file", "command"];
const UNITS: &str = "a unit: \"bytes\", \"percent\", \"per_second\" or \"count\"";
/// Sources of one kind in a monitor; series of one Prometheus source.
const MAX_SOURCES: usize = 100;

impl Validator<'_, '_> {
    pub(super) fn monitor(&mut self, v: &Val<'_>) -> Option<Monitor> {
        let t = self.table(
            v,
            "[monitor]: a table with every, prometheus, query, process",
        )?;
        self.keys(t, MONITOR_KEYS, MONITOR_KEYS, "keys of [monitor]");
        let before = self.errors.len();
        let every = field(t, "every")
            .and_then(|(_, d)| self.duration(d, true))
            .unwrap_or(std::time::Duration::from_secs(5));
        let warmup = field(t, "warmup")
            .and_then(|(_, d)| self.duration(d, false))
            .unwrap_or_default();
        let mut monitor = Monitor {
            every,
            warmup,
            prometheus: Vec::new(),
            query: Vec::new(),
            process: Vec::new(),
        };
        let mut names: Vec<String> = Vec::new();
        for (key, _, list) in entries(t) {
            let expected = format!("monitor.{key}: an array of {{ name = …, … }} tables");
            let items = match key {
                "prometheus" | "query" | "process" => match self.array(list, &expected) {
                    Some(items) if self.at_most(list, items.len(), MAX_SOURCES, "sources") => items,
                    _ => continue,
                },
                _ => continue,
            };
            for item in items {
                let Some(it) = self.table(item, &expected) else {
                    continue;
                };
                let Some(name) = self.source_name(it, item, &mut names) else {
                    continue;
                };
                match key {
                    "prometheus" => {
                        if let Some(p) = self.prometheus_source(it, name) {
                            monitor.prometheus.push(p);
                        }
                    }
                    "query" => {
                        if let Some(q) = self.query_source(it, item, name) {
                            monitor.query.push(q);
                        }
                    }
                    _ => {
                        if let Some(p) = self.process_source(it, item, name) {
                            monitor.process.push(p);
                        }
                    }
                }
            }
        }
        if monitor.prometheus.is_empty() && monitor.query.is_empty() && monitor.process.is_empty() {
            if self.errors.len() == before {
                self.err(
                    v.span().start,
                    "at least one source: prometheus = [..], query = [..] or process = [..]",
                    "a [monitor] without sources",
                );
            }
            return None;
        }
        (self.errors.len() == before).then_some(monitor)
    }

    /// The source's `name`: an identifier, unique among the monitor's sources.
    fn source_name(
        &mut self,
        t: &DeTable<'_>,
        at: &Val<'_>,
        names: &mut Vec<String>,
    ) -> Option<String> {
        let v = self.required(t, at, "name", "the source's name, e.g. \"gateway\"")?;
        let expected = "a source name of letters, digits and _ (the series are named NAME.…)";
        let name = self.string(v, expected)?;
        if !is_identifier(name) {
            self.wrong(v, expected);
            return None;
        }
        if names.iter().any(|n| n == name) {
            self.err(
                v.span().start,
                "a name no other monitor source has",
                format!("{name:?} again"),
            );
            return None;
        }
        names.push(name.to_string());
        Some(name.to_string())
    }

    fn monitor_url(&mut self, t: &DeTable<'_>, at: &Val<'_>) -> Option<String> {
        const EXPECTED: &str = "an http:// or https:// URL";
        let v = self.required(t, at, "url", EXPECTED)?;
        let s = self.string(v, EXPECTED)?;
        match url::Url::parse(s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Some(s.to_string()),
            _ => {
                self.wrong(v, EXPECTED);
                None
            }
        }
    }

    /// `token`: a template that may call `env()` (no plan variables: it is read before any).
    fn monitor_token(&mut self, t: &DeTable<'_>) -> Option<Template> {
        let (_, v) = field(t, "token")?;
        let saved = self.scope;
        self.scope = Scope::Var(0);
        let token = self.template(v, "a bearer token: a string (it may use env())");
        self.scope = saved;
        token
    }

    fn prometheus_source(&mut self, t: &DeTable<'_>, name: String) -> Option<PrometheusSource> {
        self.keys(
            t,
            PROMETHEUS_KEYS,
            PROMETHEUS_KEYS,
            "keys of a prometheus source",
        );
        let at = field(t, "name").map(|(_, v)| v)?;
        let url = self.monitor_url(t, at);
        let token = self.monitor_token(t);
        const EXPECTED: &str =
            "metrics: an array of selectors (\"process_resident_memory_bytes\", \
             \"http_requests_total{code=\\\"200\\\"}\") or { name, select } tables";
        let list = self.required(t, at, "metrics", EXPECTED)?;
        let items = self.array(list, EXPECTED)?;
        if items.is_empty() {
            self.wrong(list, EXPECTED);
            return None;
        }
        self.at_most(list, items.len(), MAX_SOURCES, "metrics");
        let mut metrics: Vec<MetricSelector> = Vec::new();
        for item in items {
            let (select_val, given_name) = match item.get_ref() {
                DeValue::String(_) => (item, None),
                DeValue::Table(mt) => {
                    self.keys(mt, METRIC_KEYS, METRIC_KEYS, "keys of a metric");
                    let Some(sel) = self.required(mt, item, "select", "the metric's selector")
                    else {
                        continue;
                    };
                    let series_name = field(mt, "name").and_then(|(_, n)| {
                        let expected = "a series name of letters, digits and _";
                        let s = self.string(n, expected)?;
                        if is_identifier(s) {
                            Some(s.to_string())
                        } else {
                            self.wrong(n, expected);
                            None
                        }
                    });
                    if let Some((_, u)) = field(mt, "unit") {
                        // Accepted for symmetry with query sources; units follow the metric.
                        self.monitor_unit(u);
                    }
                    (sel, series_name)
                }
                _ => {
                    self.wrong(item, EXPECTED);
                    continue;
                }
            };
            let Some(text) = self.string(select_val, EXPECTED) else {
                continue;
            };
            match parse_selector(text) {
                Ok((metric, labels)) => {
                    let series = format!("{name}.{}", given_name.as_deref().unwrap_or(&metric));
                    if metrics.iter().any(|m| m.series == series) {
                        self.err(
                            select_val.span().start,
                            "a series name used once: give this selector its own name \
                             ({ name = \"…\", select = \"…\" })",
                            format!("{series:?} again"),
                        );
                        continue;
                    }
                    metrics.push(MetricSelector {
                        series,
                        metric,
                        labels,
                        text: text.to_string(),
                    });
                }
                Err((index, expected, found)) => {
                    let at = self.src.offset_in_string(&select_val.span(), text, index);
                    self.err(at, expected, found);
                }
            }
        }
        Some(PrometheusSource {
            name,
            url: url?,
            token,
            metrics,
        })
    }

    fn monitor_unit(&mut self, v: &Val<'_>) -> Option<MonitorUnit> {
        let s = self.string(v, UNITS)?;
        let unit = MonitorUnit::parse(s);
        if unit.is_none() {
            self.wrong(v, UNITS);
        }
        unit
    }

    fn query_source(&mut self, t: &DeTable<'_>, at: &Val<'_>, name: String) -> Option<QuerySource> {
        self.keys(t, QUERY_KEYS, QUERY_KEYS, "keys of a query source");
        let url = self.monitor_url(t, at);
        let token = self.monitor_token(t);
        let expected = "promql: a PromQL expression, e.g. \"sum(container_memory_usage_bytes)\"";
        let promql = self
            .required(t, at, "promql", expected)
            .and_then(|v| self.string(v, expected))
            .map(str::to_string)?;
        let unit = match field(t, "unit") {
            Some((_, u)) => self.monitor_unit(u)?,
            None => unit_of_promql(&promql),
        };
        Some(QuerySource {
            series: name,
            url: url?,
            promql,
            token,
            unit,
        })
    }

    fn process_source(
        &mut self,
        t: &DeTable<'_>,
        at: &Val<'_>,
        name: String,
    ) -> Option<ProcessSource> {
        self.keys(t, PROCESS_KEYS, PROCESS_KEYS, "keys of a process source");
        let mut finds = Vec::new();
        if let Some((_, v)) = field(t, "pid") {
            if let Some(pid) = self.u32(v, "pid", 1, u32::MAX) {
                finds.push(ProcessFind::Pid(pid));
            }
        }
        for key in ["pid_file", "command"] {
            if let Some((_, v)) = field(t, key) {
                match self.string(v, &format!("{key}: a string")) {
                    Some("") => self.wrong(v, &format!("{key}: a non-empty string")),
                    Some(s) if key == "pid_file" => finds.push(ProcessFind::PidFile(s.into())),
                    Some(s) => finds.push(ProcessFind::Command(s.into())),
                    None => {}
                }
            }
        }
        if finds.len() != 1 {
            self.err(
                at.span().start,
                "exactly one of pid, pid_file or command",
                format!("{} of them", finds.len()),
            );
            return None;
        }
        Some(ProcessSource {
            name,
            find: finds.remove(0),
        })
    }
}

type SelectorFailure = (usize, String, String);

/// `metric{label="value", other!="x", re=~"a|b", not!~"c.*"}`: the metric's name and its
/// label matchers; the error carries the byte index where it went wrong.
pub(super) fn parse_selector(text: &str) -> Result<(String, Vec<LabelMatcher>), SelectorFailure> {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let name_end = text.find(|c: char| !is_name_char(c)).unwrap_or(text.len());
    let metric = &text[..name_end];
    if metric.is_empty() || metric.starts_with(|c: char| c.is_ascii_digit()) {
        return Err((
            0,
            "a metric name of letters, digits, _ and : (not starting with a digit)".into(),
            found(text),
        ));
    }
    let rest = &text[name_end..];
    if rest.trim().is_empty() {
        return Ok((metric.to_string(), Vec::new()));
    }
    if !rest.starts_with('{') {
        return Err((
            name_end,
            "{ label matchers } or the end".into(),
            found(rest),
        ));
    }
    let mut i = name_end + 1;
    let mut labels = Vec::new();
    let bytes = text.as_bytes();
    loop {
        i = skip_spaces(text, i);
        if bytes.get(i) == Some(&b'}') {
            i += 1;
            break;
        }
        let label_end = text[i..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(text.len(), |n| i + n);
        let label = &text[i..label_end];
        if label.is_empty() {
            return Err((i, "a label name or }".into(), found(&text[i..])));
        }
        i = skip_spaces(text, label_end);
        let (op, len) = match &text[i..] {
            r if r.starts_with("=~") => (MatchOp::Regex, 2),
            r if r.starts_with("!~") => (MatchOp::NotRegex, 2),
            r if r.starts_with("!=") => (MatchOp::NotEqual, 2),
            r if r.starts_with('=') => (MatchOp::Equal, 1),
            r => return Err((i, "a matcher: =, !=, =~ or !~".into(), found(r))),
        };
        i = skip_spaces(text, i + len);
        if bytes.get(i) != Some(&b'"') {
            return Err((i, "a \"quoted\" label value".into(), found(&text[i..])));
        }
        let (value, after) = crate::plan::monitor::quoted(text, i + 1).ok_or_else(|| {
            (
                i,
                "a label value closed by \"".to_string(),
                found(&text[i..]),
            )
        })?;
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                regex::Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| (i, "a valid regular expression".to_string(), e.to_string()))?,
            ),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        labels.push(LabelMatcher {
            label: label.to_string(),
            op,
            value,
            regex,
        });
        i = skip_spaces(text, after);
        match bytes.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => {
                i += 1;
                break;
            }
            _ => return Err((i, ", or }".into(), found(&text[i..]))),
        }
    }
    if !text[i..].trim().is_empty() {
        return Err((i, "the end of the selector".into(), found(&text[i..])));
    }
    Ok((metric.to_string(), labels))
}

fn skip_spaces(text: &str, i: usize) -> usize {
    text[i..]
        .find(|c: char| !c.is_whitespace())
        .map_or(text.len(), |n| i + n)
}

fn found(s: &str) -> String {
    let s = s.trim();
    if s.is_empty() {
        "nothing".to_string()
    } else {
        format!("{s:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_names_and_matchers() {
        let (m, l) = parse_selector("process_resident_memory_bytes").unwrap();
        assert_eq!(m, "process_resident_memory_bytes");
        assert!(l.is_empty());
        let (m, l) =
            parse_selector(r#"http_requests_total{code="200", path!~"/admin.*",x=~"a|b"}"#)
                .unwrap();
        assert_eq!(m, "http_requests_total");
        assert_eq!(l.len(), 3);
        assert_eq!((l[0].label.as_str(), l[0].op), ("code", MatchOp::Equal));
        assert!(l[0].matches("200") && !l[0].matches("500"));
        assert!(l[1].matches("/tools") && !l[1].matches("/admin/x"));
        assert!(l[2].matches("a") && !l[2].matches("ab"), "anchored");
        let (_, l) = parse_selector(r#"m{v="a \"q\" b"}"#).unwrap();
        assert_eq!(l[0].value, "a \"q\" b");
    }

    #[test]
    fn bad_selectors_say_where() {
        let e = parse_selector(r#"m{code 200}"#).unwrap_err();
        assert_eq!((e.0, e.1.as_str()), (7, "a matcher: =, !=, =~ or !~"));
        let e = parse_selector(r#"m{code="200""#).unwrap_err();
        assert_eq!((e.0, e.1.as_str()), (12, ", or }"));
        let e = parse_selector("9m").unwrap_err();
        assert_eq!(e.0, 0);
        assert!(parse_selector(r#"m{a=~"("}"#).is_err());
    }
}
