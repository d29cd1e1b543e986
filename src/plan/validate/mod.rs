//! Plan validation: the spanned TOML tree → `model::Plan`, or every problem found, each at its
//! `file:line:col` with what was expected and what was found. Semantic errors are collected, not
//! stopped at. The only file access: checking that CSV data files exist (and reading them when
//! asked). This file holds the entry points, the [`Validator`] state and the top level of a plan
//! (name, host, `[vars]`, `[defaults]`); each other part of a plan has its own file.

mod checks;
mod classes;
mod data;
mod fanout;
mod monitor;
mod reads;
mod shapes;
mod steps;
mod thresholds;
mod uses;
mod values;
mod wait;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use sha2::Digest;
use toml::de::{DeTable, DeValue};

use super::limits;
use super::model::*;
use super::monitor::Monitor;
use super::parse::{self, as_f64, as_i64, entries, Source, Span, Val};
use super::template::Template;
use super::{PlanError, PlanErrors};

pub use thresholds::{check_monitor_series, check_threshold_scope, parse_threshold};
pub use wait::parse_wait;

const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "host",
    "vars",
    "defaults",
    "data",
    "setup",
    "users",
    "shapes",
    "thresholds",
    "monitor",
];
const DEFAULTS_KEYS: &[&str] = &["headers", "timeout", "rpc_path", "max_body"];
const MAX_ERRORS: usize = 100;

/// Validates plan text into a [`Plan`].
pub(crate) fn validate(
    text: &str,
    file: &str,
    base_dir: Option<&Path>,
    read_data: bool,
) -> Result<Plan, PlanErrors> {
    let src = Source::new(text, file);
    let doc = parse::parse_document(&src).map_err(|e| PlanErrors(vec![e]))?;
    let mut v = Validator::new(&src, base_dir, read_data);
    let plan = v.plan(doc.get_ref());
    v.check_uses();
    if v.errors.is_empty() {
        Ok(plan)
    } else {
        let mut errors = v.errors;
        errors.sort_by_key(|e| (e.line, e.col));
        errors.dedup();
        errors.truncate(MAX_ERRORS);
        Err(PlanErrors(errors))
    }
}

/// Validates a `[monitor]` table given on its own (the start form's Monitors field, the API's
/// `monitor` turned into TOML): the only key allowed is `monitor`.
pub(crate) fn validate_monitor(text: &str, file: &str) -> Result<Monitor, PlanErrors> {
    let src = Source::new(text, file);
    let doc = parse::parse_document(&src).map_err(|e| PlanErrors(vec![e]))?;
    let mut v = Validator::new(&src, None, false);
    v.keys(
        doc.get_ref(),
        &["monitor"],
        &["monitor"],
        "a [monitor] table",
    );
    let monitor = match field(doc.get_ref(), "monitor") {
        Some((_, m)) => v.monitor(m),
        None => {
            v.err(0, "a [monitor] table", "none");
            None
        }
    };
    v.check_uses();
    match monitor {
        Some(m) if v.errors.is_empty() => Ok(m),
        _ => {
            let mut errors = v.errors;
            errors.sort_by_key(|e| (e.line, e.col));
            errors.truncate(MAX_ERRORS);
            Err(PlanErrors(errors))
        }
    }
}

/// Which names a template may use.
#[derive(Clone, Copy, Debug)]
enum Scope {
    /// `[vars]` entry i: earlier vars only.
    Var(usize),
    /// `defaults`: vars, data, every capture.
    Global,
    Setup,
    Class(usize),
}

struct Use {
    scope: Scope,
    names: Vec<String>,
    span: Span,
    value: String,
    /// A task's `requires` entry (data sources do not count there), not a template.
    requires: bool,
}

struct Validator<'s, 't> {
    src: &'s Source<'t>,
    base_dir: Option<&'s Path>,
    /// Read and check CSV data files (else only that they exist).
    read_data: bool,
    errors: Vec<PlanError>,
    uses: Vec<Use>,
    scope: Scope,
    names: Vec<RequestName>,
    name_ids: HashMap<RequestName, NameId>,
    rpc_path: String,
    /// `defaults.max_body`, for steps without their own.
    max_body: u64,
    var_names: Vec<String>,
    data_names: Vec<String>,
    setup_captures: Vec<String>,
    class_names: Vec<String>,
    class_captures: Vec<Vec<String>>,
    /// `fixed_count` users of the classes so far.
    fixed_total: u64,
    /// Fan-out topics as steps publish or subscribe to them (both sides must be there).
    topic_uses: Vec<fanout::TopicUse>,
    /// The series `[monitor]` gives (None: no monitor), for `monitor.…` thresholds.
    monitor_series: Option<Vec<String>>,
    /// `[monitor]` is there but has errors (its thresholds are not checked then).
    monitor_failed: bool,
}

fn field<'a, 'i>(t: &'a DeTable<'i>, key: &str) -> Option<(Span, &'a Val<'i>)> {
    t.iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(k, v)| (k.span(), v))
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn list(items: &[&str]) -> String {
    items.join(", ")
}

/// "expected X, found Y" from the duration parser, split for a PlanError.
fn split_expected(message: &str) -> (String, String) {
    let rest = message.strip_prefix("expected ").unwrap_or(message);
    match rest.split_once(", found ") {
        Some((e, f)) => (e.to_string(), f.to_string()),
        None => ("a valid value".to_string(), rest.to_string()),
    }
}

fn scalar_string(v: &DeValue<'_>) -> Option<String> {
    match v {
        DeValue::String(s) => Some(s.to_string()),
        DeValue::Integer(_) => as_i64(v).map(|i| i.to_string()),
        DeValue::Float(_) => as_f64(v).map(|f| f.to_string()),
        DeValue::Boolean(b) => Some(b.to_string()),
        DeValue::Datetime(d) => Some(d.to_string()),
        DeValue::Array(_) | DeValue::Table(_) => None,
    }
}

/// First occurrence of `name` as a whole word after the first `{{`/`{%` of `text`.
fn find_word(text: &str, name: &str) -> Option<usize> {
    let start = [text.find("{{"), text.find("{%")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(0);
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut from = start;
    while let Some(i) = text[from..].find(name) {
        let at = from + i;
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        if !before.is_some_and(is_word) && !after.is_some_and(is_word) {
            return Some(at);
        }
        from = at + name.len();
    }
    None
}

impl<'s, 't> Validator<'s, 't> {
    fn new(src: &'s Source<'t>, base_dir: Option<&'s Path>, read_data: bool) -> Self {
        Validator {
            src,
            base_dir,
            read_data,
            errors: Vec::new(),
            uses: Vec::new(),
            scope: Scope::Global,
            names: Vec::new(),
            name_ids: HashMap::new(),
            rpc_path: "/rpc".to_string(),
            max_body: limits::DEFAULT_MAX_BODY,
            var_names: Vec::new(),
            data_names: Vec::new(),
            setup_captures: Vec::new(),
            class_names: Vec::new(),
            class_captures: Vec::new(),
            fixed_total: 0,
            topic_uses: Vec::new(),
            monitor_series: None,
            monitor_failed: false,
        }
    }

    fn plan(&mut self, root: &DeTable<'_>) -> Plan {
        self.keys(root, TOP_KEYS, TOP_KEYS, "top-level keys of a plan");
        let default_name = Path::new(self.src.file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plan".to_string());
        let name = field(root, "name")
            .and_then(|(_, v)| self.string(v, "the plan's name: a string"))
            .map(str::to_string)
            .unwrap_or(default_name);
        let description = field(root, "description")
            .and_then(|(_, v)| self.string(v, "the plan's description: a string"))
            .map(str::to_string)
            .unwrap_or_default();
        let host = field(root, "host").and_then(|(_, v)| self.host(v));
        let vars = field(root, "vars")
            .map(|(_, v)| self.vars(v))
            .unwrap_or_default();
        let data = field(root, "data")
            .map(|(_, v)| self.data(v))
            .unwrap_or_default();
        let defaults = self.defaults(field(root, "defaults").map(|(_, v)| v));

        self.scope = Scope::Setup;
        let setup = field(root, "setup")
            .map(|(_, v)| self.steps(v, "setup"))
            .unwrap_or_default();

        let users = match field(root, "users") {
            None => {
                self.err(
                    0,
                    "at least one user class ([[users]] with a name and tasks)",
                    "no users in the plan",
                );
                Vec::new()
            }
            Some((_, v)) => self.classes(v),
        };
        // A side with an error of its own is not recorded: pairing waits for a clean plan.
        if self.errors.is_empty() {
            self.check_topics();
        }
        let shapes = field(root, "shapes")
            .map(|(_, v)| self.shapes(v))
            .unwrap_or_default();
        // Before the thresholds: a `monitor.…` threshold must name one of its series.
        let monitor_text = field(root, "monitor").map(|(_, v)| v);
        let monitor = monitor_text.and_then(|v| self.monitor(v));
        self.monitor_series = monitor.as_ref().map(Monitor::series_names);
        // its own errors are reported: its thresholds wait for a valid one
        self.monitor_failed = monitor_text.is_some() && monitor.is_none();
        let thresholds = field(root, "thresholds")
            .map(|(_, v)| self.thresholds(v, !shapes.is_empty()))
            .unwrap_or_default();

        let hash = sha2::Sha256::digest(self.src.text.as_bytes());
        let content_hash = hash.iter().map(|b| format!("{b:02x}")).collect();
        Plan {
            name,
            description,
            host,
            path: None,
            content_hash,
            vars,
            defaults,
            data,
            setup,
            users,
            shapes,
            thresholds,
            monitor,
            names: std::mem::take(&mut self.names),
        }
    }

    fn host(&mut self, v: &Val<'_>) -> Option<String> {
        const EXPECTED: &str = "an http:// or https:// URL, e.g. \"http://127.0.0.1:8090\"";
        let s = self.string(v, EXPECTED)?;
        match url::Url::parse(s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Some(s.to_string()),
            Ok(u) => {
                self.err(
                    v.span().start,
                    EXPECTED,
                    format!("{s:?} (scheme {})", u.scheme()),
                );
                None
            }
            Err(e) => {
                self.err(v.span().start, EXPECTED, format!("{s:?} ({e})"));
                None
            }
        }
    }

    fn vars(&mut self, v: &Val<'_>) -> Vec<(String, Template)> {
        let Some(t) = self.table(v, "[vars]: a table of name = \"value\"") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, (name, span, value)) in entries(t).into_iter().enumerate() {
            self.name_var(name, &span, "a variable name");
            self.scope = Scope::Var(i);
            self.var_names.push(name.to_string());
            let expected = "a variable value: a string (it may use env() and earlier vars)";
            if let Some(tmpl) = self.template(value, expected) {
                out.push((name.to_string(), tmpl));
            }
        }
        self.scope = Scope::Global;
        out
    }

    fn defaults(&mut self, v: Option<&Val<'_>>) -> Defaults {
        let mut out = Defaults {
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
            rpc_path: "/rpc".to_string(),
            max_body: limits::DEFAULT_MAX_BODY,
        };
        let Some(t) = v.and_then(|v| self.table(v, "[defaults]: a table")) else {
            return out;
        };
        self.keys(t, DEFAULTS_KEYS, DEFAULTS_KEYS, "keys of [defaults]");
        self.scope = Scope::Global;
        if let Some((_, h)) = field(t, "headers") {
            out.headers = self.pairs(h, "headers", true, false);
        }
        if let Some(d) = field(t, "timeout").and_then(|(_, v)| self.duration(v, true)) {
            out.timeout = d;
        }
        if let Some((_, p)) = field(t, "rpc_path") {
            if let Some(s) = self.path_string(p, "rpc_path", steps::HTTP_SCHEMES) {
                out.rpc_path = s.to_string();
            }
        }
        if let Some(n) = field(t, "max_body").and_then(|(_, v)| self.size(v, "max_body")) {
            out.max_body = n;
        }
        self.rpc_path = out.rpc_path.clone();
        self.max_body = out.max_body;
        out
    }
}
