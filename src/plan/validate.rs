//! The spanned TOML tree → `model::Plan`, or every problem found, each at its `file:line:col`
//! with what was expected and what was found. Semantic errors are collected, not stopped at.
//! The only file access: checking that CSV data files exist.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use sha2::Digest;
use toml::de::{DeTable, DeValue};

use super::data;
use super::duration::{format_duration, parse_duration};
use super::limits;
use super::model::*;
use super::parse::{self, as_f64, as_i64, describe, entries, suggest, Source, Span, Val};
use super::template::{JsonTemplate, Template, RESERVED_NAMES};
use super::{PlanError, PlanErrors};

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
];
const DEFAULTS_KEYS: &[&str] = &["headers", "timeout", "rpc_path", "max_body"];
const DATA_KEYS: &[&str] = &["csv", "rows", "values", "order"];
const CLASS_KEYS: &[&str] = &[
    "name",
    "weight",
    "fixed_count",
    "wait",
    "tags",
    "on_start",
    "on_stop",
    "tasks",
];
const STEPS_TASK_KEYS: &[&str] = &["steps", "weight", "tags", "name"];
const SINGLE_TASK_KEYS: &[&str] = &["weight", "tags", "name"];
const STEP_KINDS: &[&str] = &[
    "get", "post", "put", "patch", "delete", "head", "rpc", "sse", "ws", "think",
];
const COMMON_STEP_KEYS: &[&str] = &["name", "timeout", "check", "capture"];
const HTTP_KEYS: &[&str] = &["headers", "query", "json", "body", "form", "max_body"];
const RPC_KEYS: &[&str] = &["params", "path", "headers", "allow_codes", "max_body"];
const SSE_KEYS: &[&str] = &["events", "for", "post", "headers"];
const WS_KEYS: &[&str] = &["send", "expect", "for", "headers"];
const CHECK_KEYS: &[&str] = &["status", "body_contains", "json", "header", "max_time"];
const SHAPE_KEYS: &[&str] = &["stages", "arrival", "max_users"];
const STAGE_KEYS: &[&str] = &["duration", "users", "spawn_rate"];
const ARRIVAL_KEYS: &[&str] = &["duration", "rate"];
const THRESHOLD_KEYS: &[&str] = &["expr", "abort_on_fail", "delay"];
const KIND_SCOPES: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "SSE", "WS", "RPC",
];
const MAX_ERRORS: usize = 100;

const WAIT_EXPECTED: &str =
    "a wait function: constant(D), between(A, B), throughput(N/s) or pacing(D)";
const METRIC_EXPECTED: &str =
    "a metric: p50, p66, p75, p80, p90, p95, p98, p99, p99.9, p99.99, p100, avg, min, max, \
     error_rate, rps or checks";

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

/// Parses a wait function: `constant(D)`, `between(A, B)`, `throughput(N/s)` (or `N`),
/// `pacing(D)`. The error reads "expected ..., found ...".
pub fn parse_wait(s: &str) -> Result<Wait, String> {
    wait_parts(s).map_err(|(e, f)| format!("expected {e}, found {f}"))
}

/// Parses a threshold such as `p95 < 300ms`, `error_rate < 1%` or `'/tools/[id]'.p99 < 500ms`
/// (as `--threshold` takes it). The error reads "expected ..., found ...".
pub fn parse_threshold(expr: &str) -> Result<Threshold, String> {
    threshold_parts(expr).map_err(|(_, e, f)| format!("expected {e}, found {f}"))
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
        }
    }

    // ---- reporting and typed reads -------------------------------------------------------

    fn err(&mut self, at: usize, expected: impl Into<String>, found: impl Into<String>) {
        let e = self.src.error(at, expected, found);
        self.errors.push(e);
    }

    fn wrong(&mut self, v: &Val<'_>, expected: &str) {
        let found = describe(v.get_ref());
        self.err(v.span().start, expected, found);
    }

    fn string<'v>(&mut self, v: &'v Val<'_>, expected: &str) -> Option<&'v str> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.wrong(v, expected);
                None
            }
        }
    }

    fn table<'v, 'i>(&mut self, v: &'v Val<'i>, expected: &str) -> Option<&'v DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.wrong(v, expected);
                None
            }
        }
    }

    fn array<'v, 'i>(&mut self, v: &'v Val<'i>, expected: &str) -> Option<&'v [Val<'i>]> {
        match v.get_ref() {
            DeValue::Array(a) => Some(a),
            _ => {
                self.wrong(v, expected);
                None
            }
        }
    }

    /// A whole number in `min..=max`; `what` describes it ("a weight").
    fn int(&mut self, v: &Val<'_>, what: &str, min: i64, max: i64) -> Option<i64> {
        let expected = if max >= i64::from(u32::MAX) {
            format!("{what}: a whole number ≥ {min}")
        } else {
            format!("{what}: a whole number from {min} to {max}")
        };
        match as_i64(v.get_ref()) {
            Some(i) if (min..=max).contains(&i) => Some(i),
            _ => {
                self.wrong(v, &expected);
                None
            }
        }
    }

    /// A count in `min..=max` (every count a plan gives is bounded: see `limits`).
    fn u32(&mut self, v: &Val<'_>, what: &str, min: u32, max: u32) -> Option<u32> {
        self.int(v, what, i64::from(min), i64::from(max))
            .and_then(|i| u32::try_from(i).ok())
    }

    /// A number in `min..=max` (a rate: fractions allowed).
    fn number(&mut self, v: &Val<'_>, what: &str, min: f64, max: f64) -> Option<f64> {
        let expected = format!("{what}: a number from {min} to {max}");
        match as_f64(v.get_ref()) {
            Some(f) if f.is_finite() && (min..=max).contains(&f) => Some(f),
            _ => {
                self.wrong(v, &expected);
                None
            }
        }
    }

    /// Reports an array longer than `max` at its start; true when it is within the bound.
    fn at_most(&mut self, v: &Val<'_>, len: usize, max: usize, what: &str) -> bool {
        if len <= max {
            return true;
        }
        self.err(
            v.span().start,
            format!("at most {max} {what}"),
            format!("{len} {what}"),
        );
        false
    }

    fn boolean(&mut self, v: &Val<'_>, what: &str) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong(v, &format!("{what}: true or false"));
                None
            }
        }
    }

    fn duration(&mut self, v: &Val<'_>, positive: bool) -> Option<Duration> {
        let s = self.string(
            v,
            "a duration string like \"250ms\", \"1.5s\", \"2m\" or \"1h30m\"",
        )?;
        match parse_duration(s) {
            Ok(d) if positive && d.is_zero() => {
                self.err(v.span().start, "a duration > 0", format!("{s:?}"));
                None
            }
            Ok(d) if d > limits::MAX_DURATION => {
                self.err(
                    v.span().start,
                    format!(
                        "a duration of at most {}",
                        format_duration(limits::MAX_DURATION)
                    ),
                    format!("{s:?}"),
                );
                None
            }
            Ok(d) => Some(d),
            Err(message) => {
                let (e, f) = split_expected(&message);
                self.err(v.span().start, e, f);
                None
            }
        }
    }

    fn strings(&mut self, v: &Val<'_>, what: &str) -> Vec<String> {
        let expected = format!("{what}: an array of strings");
        let Some(items) = self.array(v, &expected) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            if let Some(s) = self.string(item, &expected) {
                out.push(s.to_string());
            }
        }
        out
    }

    fn string_or_strings(&mut self, v: &Val<'_>, what: &str) -> Vec<String> {
        match v.get_ref() {
            DeValue::String(s) => vec![s.to_string()],
            DeValue::Array(_) => self.strings(v, what),
            _ => {
                self.wrong(v, &format!("{what}: a string or an array of strings"));
                Vec::new()
            }
        }
    }

    /// Reports keys of `t` not in `allowed` at the key, listing what is allowed.
    fn keys(&mut self, t: &DeTable<'_>, allowed: &[&str], listed: &[&str], what: &str) {
        let nested = allowed != TOP_KEYS;
        for (key, span, _) in entries(t) {
            if !allowed.contains(&key) {
                let hint = if nested && TOP_KEYS.contains(&key) {
                    " (a top-level key: TOML puts it in the [table] above it, move it before the first [header])"
                        .to_string()
                } else {
                    suggest(key, allowed)
                        .map(|s| format!(" (did you mean {s:?}?)"))
                        .unwrap_or_default()
                };
                self.err(
                    span.start,
                    format!("one of {} ({what})", list(listed)),
                    format!("unknown key {key:?}{hint}"),
                );
            }
        }
    }

    fn name_var(&mut self, name: &str, span: &Span, what: &str) -> bool {
        if !is_identifier(name) {
            self.err(
                span.start,
                format!("{what}: a name of letters, digits and _ (not starting with a digit)"),
                format!("{name:?}"),
            );
            false
        } else if RESERVED_NAMES.contains(&name) {
            self.err(
                span.start,
                format!("{what}: a name other than {}", list(&RESERVED_NAMES)),
                format!("{name:?} (a template function)"),
            );
            false
        } else {
            true
        }
    }

    /// Compiles a template string found at `span` and records the names it uses.
    fn template_at(&mut self, s: &str, span: &Span) -> Option<Template> {
        match Template::parse(s) {
            Ok(t) => {
                let names = t.variables();
                if !names.is_empty() {
                    self.uses.push(Use {
                        scope: self.scope,
                        names,
                        span: span.clone(),
                        value: s.to_string(),
                    });
                }
                Some(t)
            }
            Err(e) => {
                self.err(span.start, "a valid {{ }} template", e);
                None
            }
        }
    }

    fn template(&mut self, v: &Val<'_>, expected: &str) -> Option<Template> {
        let s = self.string(v, expected)?;
        self.template_at(s, &v.span())
    }

    fn intern(&mut self, kind: &str, name: &str) -> NameId {
        let key = RequestName {
            kind: kind.to_string(),
            name: name.to_string(),
        };
        if let Some(id) = self.name_ids.get(&key) {
            return *id;
        }
        let id = NameId(self.names.len() as u32);
        self.names.push(key.clone());
        self.name_ids.insert(key, id);
        id
    }

    // ---- the plan ------------------------------------------------------------------------

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
        let shapes = field(root, "shapes")
            .map(|(_, v)| self.shapes(v))
            .unwrap_or_default();
        let thresholds = field(root, "thresholds")
            .map(|(_, v)| self.thresholds(v))
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

    fn data(&mut self, v: &Val<'_>) -> Vec<DataSource> {
        let Some(t) = self.table(v, "[data.NAME] tables") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, span, value) in entries(t) {
            if self.name_var(name, &span, "a data source name")
                && self.var_names.iter().any(|n| n == name)
            {
                self.err(
                    span.start,
                    "a data source name not used by [vars]",
                    format!("{name:?}, also a variable"),
                );
            }
            self.data_names.push(name.to_string());
            if let Some(source) = self.data_source(name, value) {
                out.push(source);
            }
        }
        out
    }

    fn data_source(&mut self, name: &str, v: &Val<'_>) -> Option<DataSource> {
        let t = self.table(
            v,
            "a data source table: csv = \"file.csv\", rows = [..] or values = [..]",
        )?;
        self.keys(t, DATA_KEYS, DATA_KEYS, "keys of a data source");
        let present: Vec<(&str, Span, &Val)> = entries(t)
            .into_iter()
            .filter(|(k, _, _)| matches!(*k, "csv" | "rows" | "values"))
            .collect();
        if present.len() > 1 {
            self.err(
                present[1].1.start,
                "one of csv, rows or values",
                format!("both {} and {}", present[0].0, present[1].0),
            );
            return None;
        }
        let order = match field(t, "order") {
            None => DataOrder::Cycle,
            Some((_, o)) => match self.string(o, "order: \"cycle\", \"random\" or \"once\"")? {
                "cycle" => DataOrder::Cycle,
                "random" => DataOrder::Random,
                "once" => DataOrder::Once,
                other => {
                    self.err(
                        o.span().start,
                        "order: \"cycle\", \"random\" or \"once\"",
                        format!("{other:?}"),
                    );
                    return None;
                }
            },
        };
        let Some(&(kind, _, value)) = present.first() else {
            self.err(
                v.span().start,
                "csv = \"file.csv\", rows = [ {..} ] or values = [..] in the data source",
                "none of them",
            );
            return None;
        };
        let rows = match kind {
            "csv" => {
                let s = self.string(value, "csv: a path to a CSV file (relative to the plan)")?;
                let p = Path::new(s);
                let resolved = if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    self.base_dir.unwrap_or(Path::new("")).join(p)
                };
                if !resolved.is_file() {
                    self.err(
                        value.span().start,
                        "an existing CSV file (paths are relative to the plan file)",
                        format!("no file at {}", resolved.display()),
                    );
                    return None;
                }
                let table = if self.read_data {
                    match data::read_csv(&resolved, &data::DataLimits::default()) {
                        Ok(t) => Some(std::sync::Arc::new(t)),
                        Err(e) => {
                            self.errors.push(e);
                            return None;
                        }
                    }
                } else {
                    None
                };
                DataRows::Csv {
                    path: resolved,
                    table,
                }
            }
            "rows" => {
                let items = self.array(value, "rows: an array of tables")?;
                if !self.at_most(value, items.len(), limits::MAX_DATA_ROWS, "rows") {
                    return None;
                }
                let mut rows = Vec::new();
                for item in items {
                    let Some(row) = self.table(item, "a row: a table of column = value") else {
                        continue;
                    };
                    let mut cells = Vec::new();
                    for (col, _, cell) in entries(row) {
                        match scalar_string(cell.get_ref()) {
                            Some(s) => cells.push((col.to_string(), s)),
                            None => self.wrong(cell, "a cell value: a string or a number"),
                        }
                    }
                    rows.push(cells);
                }
                if rows.is_empty() {
                    self.err(value.span().start, "at least one row", "an empty array");
                }
                DataRows::Inline(rows)
            }
            _ => {
                let items = self.array(value, "values: an array of strings or numbers")?;
                if !self.at_most(value, items.len(), limits::MAX_DATA_ROWS, "values") {
                    return None;
                }
                let mut rows = Vec::new();
                for item in items {
                    match scalar_string(item.get_ref()) {
                        Some(s) => rows.push(vec![("value".to_string(), s)]),
                        None => self.wrong(item, "a value: a string or a number"),
                    }
                }
                if rows.is_empty() {
                    self.err(value.span().start, "at least one value", "an empty array");
                }
                DataRows::Inline(rows)
            }
        };
        Some(DataSource {
            name: name.to_string(),
            order,
            rows,
        })
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
            if let Some(s) = self.path_string(p, "rpc_path") {
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

    /// A byte size such as "16MiB", from 1 byte to [`limits::MAX_MAX_BODY`].
    fn size(&mut self, v: &Val<'_>, what: &str) -> Option<u64> {
        let expected = format!(
            "{what}: a size like \"16MiB\" or \"64KiB\", at most {}",
            limits::format_bytes(limits::MAX_MAX_BODY)
        );
        let s = self.string(v, &expected)?;
        match limits::parse_size(s) {
            Ok(n) if (1..=limits::MAX_MAX_BODY).contains(&n) => Some(n),
            _ => {
                self.err(v.span().start, expected, format!("{s:?}"));
                None
            }
        }
    }

    /// A request path: `/...`, an absolute http(s)/ws(s) URL, or a template producing one.
    fn path_string<'v>(&mut self, v: &'v Val<'_>, what: &str) -> Option<&'v str> {
        let expected = format!("{what}: a path starting with / or an absolute URL");
        let s = self.string(v, &expected)?;
        let ok = s.starts_with('/')
            || s.starts_with("{{")
            || ["http://", "https://", "ws://", "wss://"]
                .iter()
                .any(|p| s.starts_with(p));
        if ok {
            Some(s)
        } else {
            self.err(v.span().start, expected, format!("{s:?}"));
            None
        }
    }

    fn path_template(&mut self, v: &Val<'_>, what: &str) -> Option<Template> {
        let s = self.path_string(v, what)?;
        self.template_at(s, &v.span())
    }

    /// A table of name = value (headers, query, form). Scalars become strings; `arrays` allows
    /// repeated names (`tag = ["a", "b"]`).
    fn pairs(
        &mut self,
        v: &Val<'_>,
        what: &str,
        header_names: bool,
        arrays: bool,
    ) -> Vec<(String, Template)> {
        let Some(t) = self.table(v, &format!("{what}: a table of name = \"value\"")) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, span, value) in entries(t) {
            if header_names && http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.err(span.start, "a valid HTTP header name", format!("{name:?}"));
                continue;
            }
            let items: Vec<&Val> = match value.get_ref() {
                DeValue::Array(a) if arrays => a.iter().collect(),
                _ => vec![value],
            };
            for item in items {
                match item.get_ref() {
                    DeValue::String(s) => {
                        if let Some(t) = self.template_at(s, &item.span()) {
                            out.push((name.to_string(), t));
                        }
                    }
                    other => match scalar_string(other) {
                        Some(s) => out.push((name.to_string(), Template::literal(s))),
                        None => self.wrong(item, &format!("a {what} value: a string")),
                    },
                }
            }
        }
        out
    }

    /// Any TOML value as JSON; strings are checked as templates when `templates` is set.
    fn json(&mut self, v: &Val<'_>, templates: bool) -> Option<serde_json::Value> {
        Some(match v.get_ref() {
            DeValue::String(s) => {
                if templates {
                    self.template_at(s, &v.span())?;
                }
                serde_json::Value::String(s.to_string())
            }
            DeValue::Integer(_) => match as_i64(v.get_ref()) {
                Some(i) => serde_json::Value::from(i),
                None => {
                    self.wrong(v, "an integer that fits 64 bits");
                    return None;
                }
            },
            DeValue::Float(_) => match as_f64(v.get_ref()).and_then(serde_json::Number::from_f64) {
                Some(n) => serde_json::Value::Number(n),
                None => {
                    self.wrong(v, "a finite number (JSON has no nan or inf)");
                    return None;
                }
            },
            DeValue::Boolean(b) => serde_json::Value::Bool(*b),
            DeValue::Datetime(d) => serde_json::Value::String(d.to_string()),
            DeValue::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items.iter() {
                    out.push(self.json(item, templates)?);
                }
                serde_json::Value::Array(out)
            }
            DeValue::Table(t) => {
                let mut map = serde_json::Map::new();
                for (k, _, item) in entries(t) {
                    map.insert(k.to_string(), self.json(item, templates)?);
                }
                serde_json::Value::Object(map)
            }
        })
    }

    fn json_template(&mut self, v: &Val<'_>) -> Option<JsonTemplate> {
        let value = self.json(v, true)?;
        match JsonTemplate::from_value(&value) {
            Ok(j) => Some(j),
            Err(e) => {
                self.err(v.span().start, "a valid {{ }} template", e);
                None
            }
        }
    }

    // ---- steps ---------------------------------------------------------------------------

    fn steps(&mut self, v: &Val<'_>, what: &str) -> Vec<Step> {
        let expected = format!("{what}: an array of steps, e.g. [ {{ get = \"/\" }} ]");
        let Some(items) = self.array(v, &expected) else {
            return Vec::new();
        };
        if !self.at_most(v, items.len(), limits::MAX_STEPS, "steps") {
            return Vec::new();
        }
        let mut out = Vec::new();
        for item in items {
            if let Some(t) = self.table(item, "a step table, e.g. { get = \"/\" }") {
                if let Some(step) = self.step(t, &item.span(), &[]) {
                    out.push(step);
                }
            }
        }
        out
    }

    /// One step; `extra` are keys the enclosing single-step task adds (weight, tags, name).
    fn step(&mut self, t: &DeTable<'_>, span: &Span, extra: &[&str]) -> Option<Step> {
        let ents = entries(t);
        // `post` is also an option of sse steps (the message to post to the stream's endpoint).
        let is_sse = ents.iter().any(|(k, _, _)| *k == "sse");
        let kinds: Vec<&(&str, Span, &Val)> = ents
            .iter()
            .filter(|(k, _, _)| STEP_KINDS.contains(k) && !(is_sse && *k == "post"))
            .collect();
        let kinds_list = format!("one of {} (a step kind)", list(STEP_KINDS));
        let &(kind, ref _kind_span, kind_value) = match kinds.as_slice() {
            [] => {
                let known = |k: &str| {
                    COMMON_STEP_KEYS
                        .iter()
                        .chain(HTTP_KEYS)
                        .chain(RPC_KEYS)
                        .chain(SSE_KEYS)
                        .chain(WS_KEYS)
                        .chain(extra)
                        .any(|a| *a == k)
                };
                if let Some((key, kspan, _)) = ents.iter().find(|(k, _, _)| !known(k)) {
                    let hint = suggest(key, STEP_KINDS)
                        .map(|s| format!(" (did you mean {s:?}?)"))
                        .unwrap_or_default();
                    self.err(
                        kspan.start,
                        kinds_list,
                        format!("unknown key {key:?}{hint}"),
                    );
                } else {
                    let keys: Vec<&str> = ents.iter().map(|(k, _, _)| *k).collect();
                    let found = if keys.is_empty() {
                        "an empty step".to_string()
                    } else {
                        format!("a step without one (it has {})", list(&keys))
                    };
                    self.err(span.start, kinds_list, found);
                }
                return None;
            }
            [one] => *one,
            [first, second, ..] => {
                self.err(
                    second.1.start,
                    "one step kind per step (write two steps)",
                    format!("both {:?} and {:?}", first.0, second.0),
                );
                return None;
            }
        };

        let specific: &[&str] = match kind {
            "rpc" => RPC_KEYS,
            "sse" => SSE_KEYS,
            "ws" => WS_KEYS,
            "think" => &[],
            _ => HTTP_KEYS,
        };
        let mut listed: Vec<&str> = Vec::new();
        if kind != "think" {
            listed.extend(specific);
            listed.extend(COMMON_STEP_KEYS);
        }
        for k in extra {
            if !listed.contains(k) {
                listed.push(k);
            }
        }
        let mut allowed = listed.clone();
        allowed.push(kind);
        let what = if extra.is_empty() {
            format!("keys of a {kind} step")
        } else {
            format!("keys of a {kind} task")
        };
        self.keys(t, &allowed, &listed, &what);

        let location = self.src.location(span.start);
        if kind == "think" {
            let d = self.duration(kind_value, false)?;
            return Some(Step {
                kind: StepKind::Think(d),
                name: None,
                checks: Checks::default(),
                captures: Vec::new(),
                timeout: None,
                location,
            });
        }

        let given_name = field(t, "name")
            .and_then(|(_, v)| self.string(v, "name: a string (the statistics row)"))
            .map(str::to_string);
        let timeout = field(t, "timeout").and_then(|(_, v)| self.duration(v, true));
        let checks = field(t, "check")
            .map(|(_, v)| self.checks(v))
            .unwrap_or_default();
        let captures = field(t, "capture")
            .map(|(_, v)| self.captures(v))
            .unwrap_or_default();
        let headers = field(t, "headers")
            .map(|(_, v)| self.pairs(v, "headers", true, false))
            .unwrap_or_default();
        let step_max_body = field(t, "max_body").and_then(|(_, v)| self.size(v, "max_body"));
        let max_body = BodyLimit {
            bytes: step_max_body.unwrap_or(self.max_body),
            set_by_step: step_max_body.is_some(),
        };

        let (step_kind, stats_kind, default_name) = match kind {
            "rpc" => {
                let method = self.string(kind_value, "rpc: the JSON-RPC method name")?;
                if method.is_empty() {
                    self.err(
                        kind_value.span().start,
                        "rpc: a JSON-RPC method name",
                        "an empty string",
                    );
                }
                let method = method.to_string();
                let params = field(t, "params").and_then(|(_, p)| match p.get_ref() {
                    DeValue::Table(_) | DeValue::Array(_) => self.json_template(p),
                    _ => {
                        self.wrong(p, "params: a table or an array");
                        None
                    }
                });
                let path = match field(t, "path") {
                    Some((_, p)) => self.path_template(p, "path")?,
                    None => Template::literal(self.rpc_path.clone()),
                };
                let allow_codes = match field(t, "allow_codes") {
                    None => Vec::new(),
                    Some((_, a)) => {
                        let items =
                            self.array(a, "allow_codes: an array of JSON-RPC error codes")?;
                        items
                            .iter()
                            .filter_map(|i| {
                                self.int(i, "a JSON-RPC error code", i64::MIN, i64::MAX)
                            })
                            .collect()
                    }
                };
                let name = format!("{} {method}", path.source());
                let rpc = RpcStep {
                    method,
                    params,
                    path,
                    headers,
                    allow_codes,
                    max_body,
                };
                (StepKind::Rpc(rpc), "POST", name)
            }
            "sse" => {
                let path = self.path_template(kind_value, "sse")?;
                let events = field(t, "events")
                    .and_then(|(_, e)| self.u32(e, "events", 1, limits::MAX_EVENTS));
                let duration = field(t, "for").and_then(|(_, d)| self.duration(d, true));
                let post_value = field(t, "post");
                if field(t, "events").is_none() && field(t, "for").is_none() && post_value.is_none()
                {
                    self.err(
                        span.start,
                        "events = N, for = \"10s\" and/or post (when the sse step ends)",
                        "none of them",
                    );
                }
                let mut post_method = None;
                let post = post_value.and_then(|(_, p)| match p.get_ref() {
                    DeValue::Table(pt) => {
                        match field(pt, "method").map(|(_, m)| (m, m.get_ref())) {
                            Some((_, DeValue::String(m))) if !m.is_empty() => {
                                post_method = Some(m.to_string());
                            }
                            Some((m, _)) => {
                                self.wrong(m, "post.method: the JSON-RPC method name (a string)");
                                return None;
                            }
                            None => {
                                self.err(
                                    p.span().start,
                                    "post: a JSON-RPC message with a `method`",
                                    "a table without one",
                                );
                                return None;
                            }
                        }
                        self.json_template(p)
                    }
                    _ => {
                        self.wrong(p, "post: a table (the JSON-RPC message to post)");
                        None
                    }
                });
                let name = path.source().to_string();
                let base = given_name.as_deref().unwrap_or(&name);
                let names = SseNames {
                    connect: self.intern("SSE", &format!("{base} [connect]")),
                    first_event: self.intern("SSE", &format!("{base} [first event]")),
                    event_gap: self.intern("SSE", &format!("{base} [event gap]")),
                    post: post.as_ref().map(|_| {
                        let label = match &post_method {
                            // A templated method would make one row per value: keep one.
                            Some(m) if !m.contains("{{") => m.as_str(),
                            _ => "post",
                        };
                        self.intern("SSE", &format!("{base} [{label}]"))
                    }),
                };
                let sse = SseStep {
                    path,
                    headers,
                    events,
                    duration,
                    post,
                    names,
                };
                (StepKind::Sse(sse), "SSE", name)
            }
            "ws" => {
                let path = self.path_template(kind_value, "ws")?;
                let mut send = Vec::new();
                if let Some((_, s)) = field(t, "send") {
                    let expected = "send: an array of strings or tables (sent as JSON)";
                    let items = self.array(s, expected).unwrap_or_default();
                    let items = if self.at_most(s, items.len(), limits::MAX_SEND, "messages") {
                        items
                    } else {
                        &[]
                    };
                    for item in items {
                        match item.get_ref() {
                            DeValue::String(text) => {
                                if let Some(t) = self.template_at(text, &item.span()) {
                                    send.push(WsMessage::Text(t));
                                }
                            }
                            DeValue::Table(_) => {
                                if let Some(j) = self.json_template(item) {
                                    send.push(WsMessage::Json(j));
                                }
                            }
                            _ => self.wrong(item, "a message: a string or a table (sent as JSON)"),
                        }
                    }
                }
                let expect = field(t, "expect")
                    .and_then(|(_, e)| self.u32(e, "expect", 0, limits::MAX_EVENTS));
                let duration = field(t, "for").and_then(|(_, d)| self.duration(d, true));
                let name = path.source().to_string();
                let base = given_name.as_deref().unwrap_or(&name);
                let connect_name = self.intern("WS", &format!("{base} [connect]"));
                let ws = WsStep {
                    path,
                    headers,
                    send,
                    expect,
                    duration,
                    connect_name,
                };
                (StepKind::Ws(ws), "WS", name)
            }
            method => {
                let method = match method {
                    "get" => Method::Get,
                    "post" => Method::Post,
                    "put" => Method::Put,
                    "patch" => Method::Patch,
                    "delete" => Method::Delete,
                    _ => Method::Head,
                };
                let path = self.path_template(kind_value, kind)?;
                let query = field(t, "query")
                    .map(|(_, q)| self.pairs(q, "query", false, true))
                    .unwrap_or_default();
                let bodies: Vec<&(&str, Span, &Val)> = ents
                    .iter()
                    .filter(|(k, _, _)| matches!(*k, "json" | "body" | "form"))
                    .collect();
                if let [first, second, ..] = bodies.as_slice() {
                    self.err(
                        second.1.start,
                        "one body: json, body or form",
                        format!("both {} and {}", first.0, second.0),
                    );
                }
                let body = match bodies.first() {
                    None => None,
                    Some(&&(b, _, bv)) => match b {
                        "json" => self.json_template(bv).map(Body::Json),
                        "body" => self
                            .template(bv, "body: a string (sent as is)")
                            .map(Body::Text),
                        _ => Some(Body::Form(self.pairs(bv, "form", false, true))),
                    },
                };
                let name = path.source().to_string();
                let http = HttpStep {
                    method,
                    path,
                    headers,
                    query,
                    body,
                    max_body,
                };
                (StepKind::Http(http), method.as_str(), name)
            }
        };
        let name = self.intern(stats_kind, given_name.as_deref().unwrap_or(&default_name));
        Some(Step {
            kind: step_kind,
            name: Some(name),
            checks,
            captures,
            timeout,
            location,
        })
    }

    fn checks(&mut self, v: &Val<'_>) -> Checks {
        let mut out = Checks::default();
        let Some(t) = self.table(v, "check: a table") else {
            return out;
        };
        self.keys(t, CHECK_KEYS, CHECK_KEYS, "keys of check");
        if let Some((_, s)) = field(t, "status") {
            let expected = "check.status: an HTTP status from 100 to 599, or an array of them";
            let items: Vec<&Val> = match s.get_ref() {
                DeValue::Array(a) => a.iter().collect(),
                _ => vec![s],
            };
            let mut statuses: Vec<u16> = Vec::new();
            for item in items {
                match as_i64(item.get_ref()).and_then(|n| u16::try_from(n).ok()) {
                    Some(n) if (100..=599).contains(&n) => statuses.push(n),
                    _ => self.wrong(item, expected),
                }
            }
            if statuses.is_empty() && matches!(s.get_ref(), DeValue::Array(a) if a.is_empty()) {
                self.err(s.span().start, "at least one status", "an empty array");
            }
            out.status = Some(statuses);
        }
        if let Some((_, b)) = field(t, "body_contains") {
            out.body_contains = self.string_or_strings(b, "check.body_contains");
        }
        if let Some((_, j)) = field(t, "json") {
            if let Some(jt) = self.table(
                j,
                "check.json: a table of \"$.path\" = \"exists\" or a value",
            ) {
                for (path, span, expect) in entries(jt) {
                    let Some(parsed) = self.json_path(path, &span) else {
                        continue;
                    };
                    let expect = match expect.get_ref() {
                        DeValue::String(s) if s.as_ref() == "exists" => JsonExpect::Exists,
                        _ => match self.json(expect, false) {
                            Some(value) => JsonExpect::Equals(value),
                            None => continue,
                        },
                    };
                    out.json.push(JsonCheck {
                        path_source: path.to_string(),
                        path: parsed,
                        expect,
                    });
                }
            }
        }
        if let Some((_, h)) = field(t, "header") {
            if let Some(ht) = self.table(
                h,
                "check.header: a table of Name = \"exists\" or a substring",
            ) {
                for (name, span, expect) in entries(ht) {
                    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                        self.err(span.start, "a valid HTTP header name", format!("{name:?}"));
                        continue;
                    }
                    let Some(s) =
                        self.string(expect, "\"exists\" or a substring of the header value")
                    else {
                        continue;
                    };
                    let expect = if s == "exists" {
                        HeaderExpect::Exists
                    } else {
                        HeaderExpect::Contains(s.to_string())
                    };
                    out.header.push(HeaderCheck {
                        name: name.to_ascii_lowercase(),
                        expect,
                    });
                }
            }
        }
        if let Some((_, m)) = field(t, "max_time") {
            out.max_time = self.duration(m, true);
        }
        out
    }

    /// A JSONPath written as a key at `span` (a key's span covers its quotes, if any).
    fn json_path(&mut self, path: &str, span: &Span) -> Option<serde_json_path::JsonPath> {
        match serde_json_path::JsonPath::parse(path) {
            Ok(p) => Some(p),
            Err(e) => {
                self.err(
                    span.start,
                    "a JSONPath such as $.result.tools or $[0].id",
                    format!("{path:?} ({e})"),
                );
                None
            }
        }
    }

    fn captures(&mut self, v: &Val<'_>) -> Vec<Capture> {
        const EXPECTED: &str =
            "a capture: \"json:$.path\", \"header:Name\", \"regex:...\" or \"status\"";
        let mut out = Vec::new();
        let Some(t) = self.table(
            v,
            "capture: a table of variable = \"json:$.path\" (or header:, regex:, status)",
        ) else {
            return out;
        };
        for (var, span, value) in entries(t) {
            self.name_var(var, &span, "a capture variable");
            match self.scope {
                Scope::Setup => self.setup_captures.push(var.to_string()),
                Scope::Class(i) => {
                    if let Some(list) = self.class_captures.get_mut(i) {
                        list.push(var.to_string());
                    }
                }
                Scope::Var(_) | Scope::Global => {}
            }
            let Some(s) = self.string(value, EXPECTED) else {
                continue;
            };
            let vspan = value.span();
            let source = if s == "status" {
                CaptureSource::Status
            } else if let Some(path) = s.strip_prefix("json:") {
                match serde_json_path::JsonPath::parse(path) {
                    Ok(p) if is_singular_path(path) => CaptureSource::Json(p),
                    Ok(p) => CaptureSource::JsonAll(p),
                    Err(e) => {
                        let at = self.src.offset_in_string(&vspan, s, 5 + e.position());
                        self.err(
                            at,
                            "a JSONPath such as $.result.tools or $[0].id",
                            format!("{path:?} ({e})"),
                        );
                        continue;
                    }
                }
            } else if let Some(name) = s.strip_prefix("header:") {
                if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    let at = self.src.offset_in_string(&vspan, s, 7);
                    self.err(at, "a valid HTTP header name", format!("{name:?}"));
                    continue;
                }
                CaptureSource::Header(name.to_ascii_lowercase())
            } else if let Some(pattern) = s.strip_prefix("regex:") {
                match regex::Regex::new(pattern) {
                    Ok(r) => CaptureSource::Regex(r),
                    Err(e) => {
                        let why = e
                            .to_string()
                            .lines()
                            .rev()
                            .find(|l| !l.trim().is_empty())
                            .unwrap_or("invalid")
                            .trim()
                            .trim_start_matches("error: ")
                            .to_string();
                        let at = self.src.offset_in_string(&vspan, s, 6);
                        self.err(
                            at,
                            "a valid regular expression",
                            format!("{pattern:?} ({why})"),
                        );
                        continue;
                    }
                }
            } else {
                self.err(vspan.start, EXPECTED, format!("{s:?}"));
                continue;
            };
            out.push(Capture {
                var: var.to_string(),
                source,
                source_text: s.to_string(),
            });
        }
        out
    }

    // ---- classes and tasks ---------------------------------------------------------------

    fn classes(&mut self, v: &Val<'_>) -> Vec<UserClass> {
        let expected = "[[users]]: an array of user classes";
        let Some(items) = self.array(v, expected) else {
            return Vec::new();
        };
        if items.is_empty() {
            self.err(
                v.span().start,
                "at least one user class ([[users]] with a name and tasks)",
                "an empty array",
            );
        }
        if !self.at_most(v, items.len(), limits::MAX_CLASSES, "user classes") {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut first_seen: HashMap<String, usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            self.class_captures.push(Vec::new());
            self.class_names.push(String::new());
            let Some(t) = self.table(item, "a user class table") else {
                continue;
            };
            if let Some(class) = self.class(t, &item.span(), i, &mut first_seen) {
                out.push(class);
            }
        }
        out
    }

    fn class(
        &mut self,
        t: &DeTable<'_>,
        span: &Span,
        index: usize,
        first_seen: &mut HashMap<String, usize>,
    ) -> Option<UserClass> {
        self.keys(t, CLASS_KEYS, CLASS_KEYS, "keys of a user class");
        let name = match field(t, "name") {
            None => {
                self.err(
                    span.start,
                    "a class name (name = \"...\")",
                    "a class without one",
                );
                None
            }
            Some((_, n)) => {
                let s = self.string(n, "the class name: a string")?;
                if s.is_empty() {
                    self.err(n.span().start, "a class name", "an empty string");
                }
                if let Some(&at) = first_seen.get(s) {
                    let (line, _) = self.src.line_col(at);
                    self.err(
                        n.span().start,
                        "a unique class name",
                        format!("{s:?} again (first on line {line})"),
                    );
                } else {
                    first_seen.insert(s.to_string(), n.span().start);
                }
                Some(s.to_string())
            }
        };
        if let (Some(n), Some(slot)) = (&name, self.class_names.get_mut(index)) {
            *slot = n.clone();
        }
        let weight = match field(t, "weight") {
            None => Some(1),
            Some((_, w)) => self.u32(w, "a class weight", 1, limits::MAX_WEIGHT),
        };
        let fixed_count = field(t, "fixed_count")
            .and_then(|(_, f)| {
                self.u32(f, "fixed_count", 0, limits::MAX_USERS)
                    .map(|n| (n, f))
            })
            .and_then(|(n, f)| {
                // The class sequence holds one entry per fixed-count user: bound them together.
                self.fixed_total += u64::from(n);
                if self.fixed_total > u64::from(limits::MAX_USERS) {
                    self.err(
                        f.span().start,
                        format!(
                            "fixed_count users of all classes together at most {}",
                            limits::MAX_USERS
                        ),
                        format!("{} in total with this class", self.fixed_total),
                    );
                    return None;
                }
                Some(n)
            });
        let wait = match field(t, "wait") {
            None => Some(Wait::Constant(Duration::ZERO)),
            Some((_, w)) => {
                let s = self.string(w, WAIT_EXPECTED)?;
                match wait_parts(s) {
                    Ok(wait) => Some(wait),
                    Err((e, f)) => {
                        self.err(w.span().start, e, f);
                        None
                    }
                }
            }
        };
        let tags = field(t, "tags")
            .map(|(_, v)| self.strings(v, "tags"))
            .unwrap_or_default();

        self.scope = Scope::Class(index);
        let on_start = field(t, "on_start")
            .map(|(_, v)| self.steps(v, "on_start"))
            .unwrap_or_default();
        let mut tasks = Vec::new();
        match field(t, "tasks") {
            None => self.err(
                span.start,
                "at least one task (tasks = [ { get = \"/\" } ] or [[users.tasks]])",
                "a class without tasks",
            ),
            Some((_, tv)) => {
                let expected = "tasks: an array of task tables";
                if let Some(items) = self.array(tv, expected) {
                    if items.is_empty() {
                        self.err(tv.span().start, "at least one task", "an empty array");
                    }
                    let items = if self.at_most(tv, items.len(), limits::MAX_TASKS, "tasks") {
                        items
                    } else {
                        &[]
                    };
                    for (i, item) in items.iter().enumerate() {
                        if let Some(task) = self.task(item, i, &tags) {
                            tasks.push(task);
                        }
                    }
                }
            }
        }
        let on_stop = field(t, "on_stop")
            .map(|(_, v)| self.steps(v, "on_stop"))
            .unwrap_or_default();
        self.scope = Scope::Global;
        Some(UserClass {
            name: name?,
            weight: weight?,
            fixed_count,
            wait: wait?,
            tags,
            on_start,
            on_stop,
            tasks,
        })
    }

    fn task(&mut self, v: &Val<'_>, index: usize, class_tags: &[String]) -> Option<Task> {
        let t = self.table(v, "a task: { get = \"/\" } or { steps = [..] }")?;
        let span = v.span();
        let steps = match field(t, "steps") {
            Some((_, sv)) => {
                self.keys(
                    t,
                    STEPS_TASK_KEYS,
                    STEPS_TASK_KEYS,
                    "keys of a task with steps",
                );
                let steps = self.steps(sv, "steps");
                if matches!(sv.get_ref(), DeValue::Array(a) if a.is_empty()) {
                    self.err(sv.span().start, "at least one step", "an empty array");
                }
                steps
            }
            None => vec![self.step(t, &span, SINGLE_TASK_KEYS)?],
        };
        let weight = match field(t, "weight") {
            None => Some(1),
            Some((_, w)) => self.u32(w, "a task weight", 1, limits::MAX_WEIGHT),
        };
        let mut tags = field(t, "tags")
            .map(|(_, v)| self.strings(v, "tags"))
            .unwrap_or_default();
        for tag in class_tags {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        let given = field(t, "name").and_then(|(_, n)| match n.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => None,
        });
        let name = given
            .or_else(|| match steps.as_slice() {
                [only] => only.name.map(|id| self.names[id.index()].name.clone()),
                _ => None,
            })
            .unwrap_or_else(|| format!("task {}", index + 1));
        if steps.is_empty() {
            return None;
        }
        Some(Task {
            name,
            weight: weight?,
            tags,
            steps,
        })
    }

    // ---- shapes and thresholds -----------------------------------------------------------

    fn shapes(&mut self, v: &Val<'_>) -> Vec<Shape> {
        let Some(t) = self.table(v, "[shapes.NAME] tables") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, _, value) in entries(t) {
            if let Some(kind) = self.shape(value) {
                out.push(Shape {
                    name: name.to_string(),
                    kind,
                });
            }
        }
        out
    }

    fn shape(&mut self, v: &Val<'_>) -> Option<ShapeKind> {
        let t = self.table(v, "a shape: stages = [..] or arrival = [..] with max_users")?;
        self.keys(t, SHAPE_KEYS, SHAPE_KEYS, "keys of a shape");
        match (field(t, "stages"), field(t, "arrival")) {
            (Some(_), Some((aspan, _))) => {
                self.err(aspan.start, "stages or arrival in a shape", "both");
                None
            }
            (None, None) => {
                self.err(
                    v.span().start,
                    "stages = [ { duration, users, spawn_rate } ] or arrival = [ { duration, rate } ]",
                    "neither",
                );
                None
            }
            (Some((_, sv)), None) => {
                if let Some((mspan, _)) = field(t, "max_users") {
                    self.err(
                        mspan.start,
                        "max_users only with arrival",
                        "max_users with stages",
                    );
                }
                let items =
                    self.array(sv, "stages: an array of { duration, users, spawn_rate }")?;
                if items.is_empty() {
                    self.err(sv.span().start, "at least one stage", "an empty array");
                }
                if !self.at_most(sv, items.len(), limits::MAX_STAGES, "stages") {
                    return None;
                }
                let mut stages = Vec::new();
                for item in items {
                    let Some(st) = self.table(item, "a stage: { duration, users, spawn_rate }")
                    else {
                        continue;
                    };
                    self.keys(st, STAGE_KEYS, STAGE_KEYS, "keys of a stage");
                    let duration = self
                        .required(st, item, "duration", "a stage duration")
                        .and_then(|d| self.duration(d, true));
                    let users = self
                        .required(st, item, "users", "the stage's users")
                        .and_then(|u| self.u32(u, "users", 0, limits::MAX_USERS));
                    let spawn_rate = field(st, "spawn_rate").map(|(_, r)| {
                        self.number(r, "spawn_rate", limits::MIN_RATE, limits::MAX_RATE)
                    });
                    if let (Some(duration), Some(users), None | Some(Some(_))) =
                        (duration, users, spawn_rate)
                    {
                        stages.push(Stage {
                            duration,
                            users,
                            spawn_rate: spawn_rate.flatten(),
                        });
                    }
                }
                Some(ShapeKind::Stages(stages))
            }
            (None, Some((_, av))) => {
                let max_users = match field(t, "max_users") {
                    Some((_, m)) => self.u32(m, "max_users", 1, limits::MAX_USERS),
                    None => {
                        self.err(
                            v.span().start,
                            "max_users (the cap on users in flight) with arrival",
                            "no max_users",
                        );
                        None
                    }
                };
                let items = self.array(av, "arrival: an array of { duration, rate }")?;
                if items.is_empty() {
                    self.err(
                        av.span().start,
                        "at least one arrival stage",
                        "an empty array",
                    );
                }
                if !self.at_most(av, items.len(), limits::MAX_STAGES, "stages") {
                    return None;
                }
                let mut stages = Vec::new();
                for item in items {
                    let Some(st) = self.table(item, "an arrival stage: { duration, rate }") else {
                        continue;
                    };
                    self.keys(st, ARRIVAL_KEYS, ARRIVAL_KEYS, "keys of an arrival stage");
                    let duration = self
                        .required(st, item, "duration", "a stage duration")
                        .and_then(|d| self.duration(d, true));
                    let rate = self
                        .required(st, item, "rate", "the rate (task starts per second)")
                        .and_then(|r| self.number(r, "rate", 0.0, limits::MAX_RATE));
                    if let (Some(duration), Some(rate)) = (duration, rate) {
                        stages.push(ArrivalStage { duration, rate });
                    }
                }
                Some(ShapeKind::Arrival {
                    stages,
                    max_users: max_users?,
                })
            }
        }
    }

    fn required<'v, 'i>(
        &mut self,
        t: &'v DeTable<'i>,
        at: &Val<'_>,
        key: &str,
        what: &str,
    ) -> Option<&'v Val<'i>> {
        match field(t, key) {
            Some((_, v)) => Some(v),
            None => {
                self.err(
                    at.span().start,
                    format!("{key} ({what})"),
                    format!("no {key}"),
                );
                None
            }
        }
    }

    fn thresholds(&mut self, v: &Val<'_>) -> Vec<Threshold> {
        let expected = "thresholds: an array of strings such as \"p95 < 300ms\"";
        let Some(items) = self.array(v, expected) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let (expr_val, abort_on_fail, delay) = match item.get_ref() {
                DeValue::String(_) => (item, false, None),
                DeValue::Table(t) => {
                    self.keys(t, THRESHOLD_KEYS, THRESHOLD_KEYS, "keys of a threshold");
                    let Some(e) =
                        self.required(t, item, "expr", "the threshold, e.g. \"p95 < 300ms\"")
                    else {
                        continue;
                    };
                    let abort = field(t, "abort_on_fail")
                        .and_then(|(_, a)| self.boolean(a, "abort_on_fail"))
                        .unwrap_or(false);
                    let delay = field(t, "delay").and_then(|(_, d)| self.duration(d, false));
                    (e, abort, delay)
                }
                _ => {
                    self.wrong(
                        item,
                        "a threshold: a string or { expr, abort_on_fail, delay }",
                    );
                    continue;
                }
            };
            let Some(expr) = self.string(expr_val, "a threshold such as \"p95 < 300ms\"") else {
                continue;
            };
            match threshold_parts(expr) {
                Ok(mut th) => {
                    if let Some((e, f)) = scope_problem(&self.names, &th.scope) {
                        let word = match &th.scope {
                            ThresholdScope::Name(n) | ThresholdScope::Kind(n) => n.as_str(),
                            ThresholdScope::Aggregate => "",
                        };
                        let index = expr.find(word).unwrap_or(0);
                        let at = self.src.offset_in_string(&expr_val.span(), expr, index);
                        self.err(at, e, f);
                        continue;
                    }
                    th.abort_on_fail = abort_on_fail;
                    th.delay = delay;
                    out.push(th);
                }
                Err((index, e, f)) => {
                    let at = self.src.offset_in_string(&expr_val.span(), expr, index);
                    self.err(at, e, f);
                }
            }
        }
        out
    }

    // ---- template variables --------------------------------------------------------------

    fn check_uses(&mut self) {
        let uses = std::mem::take(&mut self.uses);
        for u in uses {
            let mut known: Vec<&str> = Vec::new();
            match u.scope {
                Scope::Var(i) => known.extend(self.var_names.iter().take(i).map(String::as_str)),
                Scope::Global | Scope::Setup | Scope::Class(_) => {
                    known.extend(self.var_names.iter().map(String::as_str));
                    known.extend(self.data_names.iter().map(String::as_str));
                    known.extend(self.setup_captures.iter().map(String::as_str));
                }
            }
            match u.scope {
                Scope::Global => {
                    known.extend(self.class_captures.iter().flatten().map(String::as_str))
                }
                Scope::Class(i) => known.extend(
                    self.class_captures
                        .get(i)
                        .into_iter()
                        .flatten()
                        .map(String::as_str),
                ),
                Scope::Var(_) | Scope::Setup => {}
            }
            for name in &u.names {
                if known.contains(&name.as_str()) {
                    continue;
                }
                let hint = self.unknown_hint(u.scope, name);
                let mut shown: Vec<&str> = Vec::new();
                for k in &known {
                    if !shown.contains(k) {
                        shown.push(k);
                    }
                }
                let expected = if shown.is_empty() {
                    "a defined variable (none is defined here: [vars], [data.NAME] and capture define them)"
                        .to_string()
                } else if shown.len() > 12 {
                    format!("a defined variable (one of {}, …)", list(&shown[..12]))
                } else {
                    format!("a defined variable (one of {})", list(&shown))
                };
                let index = find_word(&u.value, name).unwrap_or(0);
                let at = self.src.offset_in_string(&u.span, &u.value, index);
                let e = self
                    .src
                    .error(at, expected, format!("undefined variable {name:?}{hint}"));
                self.errors.push(e);
            }
        }
    }

    fn unknown_hint(&self, scope: Scope, name: &str) -> String {
        if let Scope::Var(i) = scope {
            if self.var_names.iter().skip(i).any(|n| n == name) {
                return ", defined later in [vars]".to_string();
            }
            if self.data_names.iter().any(|n| n == name) {
                return " (vars are rendered once per run: data rows are not available)"
                    .to_string();
            }
        }
        let owners: Vec<&str> = self
            .class_captures
            .iter()
            .enumerate()
            .filter(|(i, caps)| {
                !matches!(scope, Scope::Class(c) if c == *i) && caps.iter().any(|c| c == name)
            })
            .filter_map(|(i, _)| self.class_names.get(i).map(String::as_str))
            .collect();
        if !owners.is_empty() {
            return format!(", captured only by class {}", list(&owners));
        }
        let known: Vec<&str> = self
            .var_names
            .iter()
            .chain(&self.data_names)
            .chain(&self.setup_captures)
            .chain(self.class_captures.iter().flatten())
            .map(String::as_str)
            .collect();
        suggest(name, &known)
            .map(|s| format!(" (did you mean {s:?}?)"))
            .unwrap_or_default()
    }
}

/// Whether a (valid) JSONPath is singular in RFC 9535's sense: child segments with one name or
/// index selector each, so it matches at most one node. Anything else (`*`, `..`, slices,
/// filters, several selectors) can match many. serde_json_path keeps this to itself, so the
/// path text is scanned, skipping quoted names.
fn is_singular_path(path: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut depth = 0usize;
    let mut prev = '\0';
    for c in path.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            prev = c;
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '*' | '?' => return false,
            ':' | ',' if depth > 0 => return false,
            '.' if prev == '.' => return false,
            _ => {}
        }
        prev = c;
    }
    true
}

// ---- wait functions and thresholds (also used by the CLI) -----------------------------------

/// Whether the plan can produce a row the threshold's scope names: a `'name'` scope must be
/// one of the plan's statistics names and a `KIND.` scope one of their kinds. A scope that
/// matches no row would be judged on zero samples and pass (k6 #1526), so it is refused. The
/// CLI's `--threshold` and the API's `thresholds` call this after parsing; the error reads
/// "expected ..., found ...".
pub fn check_threshold_scope(plan: &Plan, threshold: &Threshold) -> Result<(), String> {
    match scope_problem(&plan.names, &threshold.scope) {
        None => Ok(()),
        Some((e, f)) => Err(format!("expected {e}, found {f}")),
    }
}

fn scope_problem(names: &[RequestName], scope: &ThresholdScope) -> Option<(String, String)> {
    const SHOWN: usize = 12;
    let shown = |items: &[&str], quote: bool| -> String {
        let q = |s: &&str| {
            if quote {
                format!("'{s}'")
            } else {
                s.to_string()
            }
        };
        let mut text: Vec<String> = items.iter().take(SHOWN).map(q).collect();
        if items.len() > SHOWN {
            text.push("…".to_string());
        }
        text.join(", ")
    };
    match scope {
        ThresholdScope::Aggregate => None,
        ThresholdScope::Name(name) => {
            let mut known: Vec<&str> = Vec::new();
            for n in names {
                if !known.contains(&n.name.as_str()) {
                    known.push(&n.name);
                }
            }
            if known.contains(&name.as_str()) {
                return None;
            }
            let expected = if known.is_empty() {
                "a name this plan records (it records none)".to_string()
            } else {
                format!("a name this plan records ({})", shown(&known, true))
            };
            let hint = suggest(name, &known)
                .or_else(|| {
                    // Paths differ from typos: a name that only differs in case or a trailing
                    // slash is also a likely meaning.
                    let norm = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
                    known.iter().copied().find(|k| norm(k) == norm(name))
                })
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            Some((expected, format!("'{name}'{hint}")))
        }
        ThresholdScope::Kind(kind) => {
            let mut known: Vec<&str> = Vec::new();
            for n in names {
                if !known.contains(&n.kind.as_str()) {
                    known.push(&n.kind);
                }
            }
            if known.iter().any(|k| k.eq_ignore_ascii_case(kind)) {
                return None;
            }
            let hint = if kind == "RPC" {
                " (rpc steps record under POST)"
            } else {
                ""
            };
            Some((
                format!(
                    "a request kind this plan records ({})",
                    shown(&known, false)
                ),
                format!("{kind:?}{hint}"),
            ))
        }
    }
}

fn wait_parts(s: &str) -> Result<Wait, (String, String)> {
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

/// `[SCOPE.]METRIC OP VALUE`; the error carries the byte index in `expr` where it went wrong.
fn threshold_parts(expr: &str) -> Result<Threshold, (usize, String, String)> {
    let skip_ws = |i: usize| {
        expr[i..]
            .find(|c: char| !c.is_whitespace())
            .map_or(expr.len(), |n| i + n)
    };
    let mut i = skip_ws(0);
    let scope;
    let metric_start;
    if let Some(q) = expr[i..].chars().next().filter(|c| *c == '\'' || *c == '"') {
        let close = expr[i + 1..].find(q).ok_or_else(|| {
            (
                i,
                format!("a name closed by {q}, e.g. '/tools/[id]'.p99 < 500ms"),
                "an unterminated name".to_string(),
            )
        })?;
        let name = &expr[i + 1..i + 1 + close];
        i = i + 1 + close + 1;
        if !expr[i..].starts_with('.') {
            return Err((
                i,
                "'.' and a metric after the quoted name, e.g. 'name'.p95".to_string(),
                found_text(&expr[i..]),
            ));
        }
        scope = ThresholdScope::Name(name.to_string());
        metric_start = i + 1;
    } else {
        let word_end = expr[i..]
            .find(|c: char| c.is_whitespace() || "<>=!".contains(c))
            .map_or(expr.len(), |n| i + n);
        let word = &expr[i..word_end];
        match word.split_once('.') {
            Some((head, _))
                if !head.is_empty()
                    && head.chars().all(|c| c.is_ascii_alphabetic())
                    && parse_metric(head).is_none() =>
            {
                if !KIND_SCOPES.contains(&head) {
                    return Err((
                        i,
                        format!(
                            "a request kind in upper case ({}) or a 'quoted name'",
                            list(KIND_SCOPES)
                        ),
                        format!("{head:?}"),
                    ));
                }
                scope = ThresholdScope::Kind(head.to_string());
                metric_start = i + head.len() + 1;
            }
            _ => {
                scope = ThresholdScope::Aggregate;
                metric_start = i;
            }
        }
    }
    let metric_end = expr[metric_start..]
        .find(|c: char| c.is_whitespace() || "<>=!".contains(c))
        .map_or(expr.len(), |n| metric_start + n);
    let metric_text = &expr[metric_start..metric_end];
    let metric = parse_metric(metric_text).ok_or_else(|| {
        (
            metric_start,
            METRIC_EXPECTED.to_string(),
            found_text(metric_text),
        )
    })?;
    i = skip_ws(metric_end);
    let rest = &expr[i..];
    let (op, len) = if rest.starts_with("<=") {
        (CompareOp::Le, 2)
    } else if rest.starts_with(">=") {
        (CompareOp::Ge, 2)
    } else if rest.starts_with('<') {
        (CompareOp::Lt, 1)
    } else if rest.starts_with('>') {
        (CompareOp::Gt, 1)
    } else {
        return Err((
            i,
            "a comparison: <, <=, > or >=".to_string(),
            found_text(rest),
        ));
    };
    i = skip_ws(i + len);
    let value_text = expr[i..].trim_end();
    let value = match metric {
        ThresholdMetric::Percentile(_)
        | ThresholdMetric::Avg
        | ThresholdMetric::Min
        | ThresholdMetric::Max => match parse_duration(value_text) {
            Ok(d) => d.as_nanos() as f64 / 1000.0,
            Err(_) => {
                return Err((
                    i,
                    "a duration such as 300ms or 1.5s".to_string(),
                    found_text(value_text),
                ))
            }
        },
        ThresholdMetric::ErrorRate | ThresholdMetric::Checks => {
            let bad = || {
                (
                    i,
                    "a percentage such as 1% or a fraction from 0 to 1".to_string(),
                    found_text(value_text),
                )
            };
            let (number, scale) = match value_text.strip_suffix('%') {
                Some(n) => (n.trim(), 100.0),
                None => (value_text, 1.0),
            };
            let f: f64 = number.parse().map_err(|_| bad())?;
            let fraction = f / scale;
            if !(0.0..=1.0).contains(&fraction) {
                return Err(bad());
            }
            fraction
        }
        ThresholdMetric::Rps => {
            let number = value_text.strip_suffix("/s").unwrap_or(value_text).trim();
            match number.parse::<f64>() {
                Ok(f) if f.is_finite() && f >= 0.0 => f,
                _ => {
                    return Err((
                        i,
                        "a rate in requests per second, such as 100 or 100/s".to_string(),
                        found_text(value_text),
                    ))
                }
            }
        }
    };
    Ok(Threshold {
        source: expr.trim().to_string(),
        scope,
        metric,
        op,
        value,
        abort_on_fail: false,
        delay: None,
    })
}

fn found_text(s: &str) -> String {
    let s = s.trim();
    if s.is_empty() {
        "nothing".to_string()
    } else {
        format!("{s:?}")
    }
}

fn parse_metric(s: &str) -> Option<ThresholdMetric> {
    Some(match s {
        "avg" => ThresholdMetric::Avg,
        "min" => ThresholdMetric::Min,
        "max" => ThresholdMetric::Max,
        "med" | "median" => ThresholdMetric::Percentile(0.5),
        "error_rate" => ThresholdMetric::ErrorRate,
        "rps" => ThresholdMetric::Rps,
        "checks" => ThresholdMetric::Checks,
        _ => {
            let n = s.strip_prefix('p')?;
            if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit() || c == '.') {
                return None;
            }
            // "99.9e-2" parses straight to the nearest f64 of 0.999 (99.9 / 100.0 does not)
            let p: f64 = format!("{n}e-2").parse().ok()?;
            // only the percentiles every row reports: a threshold is then judged on the same
            // exact numbers live (abort_on_fail) and at the end, without the histograms
            if !THRESHOLD_PERCENTILES.contains(&p) {
                return None;
            }
            ThresholdMetric::Percentile(p)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match validate(text, "x.toml", None, true) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    fn one_error(text: &str) -> String {
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:#?}");
        e[0].clone()
    }

    const HEAD: &str = "[[users]]\nname = \"A\"\n";

    fn ok(text: &str) -> Plan {
        validate(text, "x.toml", None, true).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_minimal_plan_validates() {
        let plan = ok("[[users]]\nname = \"A\"\ntasks = [ { get = \"/health\" } ]\n");
        assert_eq!(plan.name, "x");
        assert_eq!(plan.users.len(), 1);
        let class = &plan.users[0];
        assert_eq!(class.weight, 1);
        assert_eq!(class.wait, Wait::Constant(Duration::ZERO));
        assert_eq!(class.tasks[0].name, "/health");
        assert_eq!(
            plan.names,
            vec![RequestName {
                kind: "GET".into(),
                name: "/health".into()
            }]
        );
        assert_eq!(plan.defaults.timeout, Duration::from_secs(30));
        assert_eq!(plan.content_hash.len(), 64);
        assert_eq!(class.tasks[0].steps[0].location, "x.toml:3:11");
    }

    #[test]
    fn unknown_step_key_points_at_the_key_and_lists_kinds() {
        let e = one_error(&format!("{HEAD}tasks = [ {{ fetch = \"/x\" }} ]\n"));
        assert_eq!(
            e,
            "x.toml:3:13: expected one of get, post, put, patch, delete, head, rpc, sse, ws, think \
             (a step kind), found unknown key \"fetch\""
        );
        let e = one_error(&format!("{HEAD}tasks = [ {{ gett = \"/x\" }} ]\n"));
        assert!(
            e.starts_with("x.toml:3:13: ")
                && e.ends_with("found unknown key \"gett\" (did you mean \"get\"?)"),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_in_a_step_lists_the_step_keys() {
        let e = one_error(&format!(
            "{HEAD}[[users.tasks]]\nget = \"/\"\nhedaers = {{ A = \"b\" }}\n"
        ));
        assert_eq!(
            e,
            "x.toml:5:1: expected one of headers, query, json, body, form, max_body, name, timeout, check, \
             capture, weight, tags (keys of a get task), found unknown key \"hedaers\" (did you mean \"headers\"?)"
        );
    }

    #[test]
    fn unknown_top_level_and_class_keys() {
        let e = errors(&format!(
            "nmae = \"x\"\n{HEAD}tasks = [ {{ get = \"/\" }} ]\nwieght = 2\n"
        ));
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(
            e[0].starts_with("x.toml:1:1: expected one of name, description, host"),
            "{}",
            e[0]
        );
        assert!(e[0].ends_with("found unknown key \"nmae\" (did you mean \"name\"?)"));
        assert!(
            e[1].starts_with("x.toml:5:1: expected one of name, weight, fixed_count, wait"),
            "{}",
            e[1]
        );
    }

    #[test]
    fn wrong_types_say_what_was_found() {
        let e = one_error(&format!(
            "{HEAD}weight = \"5\"\ntasks = [ {{ get = \"/\" }} ]\n"
        ));
        assert_eq!(
            e,
            "x.toml:3:10: expected a class weight: a whole number from 1 to 1000, found the string \"5\""
        );
        let e = one_error(&format!("{HEAD}tasks = [ {{ get = 5 }} ]\n"));
        assert_eq!(
            e,
            "x.toml:3:19: expected get: a path starting with / or an absolute URL, found the integer 5"
        );
    }

    #[test]
    fn weights_must_be_at_least_one() {
        let e = one_error(&format!(
            "{HEAD}weight = 0\ntasks = [ {{ get = \"/\" }} ]\n"
        ));
        assert_eq!(
            e,
            "x.toml:3:10: expected a class weight: a whole number from 1 to 1000, found the integer 0"
        );
        let e = one_error(&format!(
            "{HEAD}tasks = [ {{ get = \"/\", weight = -2 }} ]\n"
        ));
        assert_eq!(
            e,
            "x.toml:3:33: expected a task weight: a whole number from 1 to 1000, found the integer -2"
        );
    }

    #[test]
    fn bad_durations_and_wait_functions() {
        let e = one_error(&format!("{HEAD}tasks = [ {{ think = \"5\" }} ]\n"));
        assert_eq!(
            e,
            "x.toml:3:21: expected a duration like 250ms, 1.5s, 2m or 1h30m (units h, m, s, ms, us, ns), \
             found \"5\" (a unit is required, e.g. 5s)"
        );
        let e = one_error(&format!(
            "{HEAD}wait = \"sometimes(1s)\"\ntasks = [ {{ get = \"/\" }} ]\n"
        ));
        assert_eq!(
            e,
            "x.toml:3:8: expected a wait function: constant(D), between(A, B), throughput(N/s) or \
             pacing(D), found unknown function \"sometimes\""
        );
        let e = one_error(&format!(
            "{HEAD}wait = \"between(3s, 1s)\"\ntasks = [ {{ get = \"/\" }} ]\n"
        ));
        assert_eq!(
            e,
            "x.toml:3:8: expected between(A, B) with A ≤ B, found \"between(3s, 1s)\""
        );
    }

    #[test]
    fn wait_functions_parse() {
        let s = Duration::from_secs;
        assert_eq!(
            parse_wait("constant(0s)"),
            Ok(Wait::Constant(Duration::ZERO))
        );
        assert_eq!(parse_wait("between(1s, 3s)"), Ok(Wait::Between(s(1), s(3))));
        assert_eq!(
            parse_wait(" between( 300ms ,1.5s ) "),
            Ok(Wait::Between(
                Duration::from_millis(300),
                Duration::from_millis(1500)
            ))
        );
        assert_eq!(parse_wait("throughput(2/s)"), Ok(Wait::Throughput(2.0)));
        assert_eq!(parse_wait("throughput(0.5)"), Ok(Wait::Throughput(0.5)));
        assert_eq!(
            parse_wait("constant_throughput(4)"),
            Ok(Wait::Throughput(4.0))
        );
        assert_eq!(parse_wait("pacing(2s)"), Ok(Wait::Pacing(s(2))));
        assert!(parse_wait("pacing(0s)").unwrap_err().contains("D > 0"));
        assert!(parse_wait("throughput(0/s)").is_err());
        assert!(parse_wait("between(1s)")
            .unwrap_err()
            .contains("between(A, B), e.g."));
        assert!(parse_wait("constant(5)")
            .unwrap_err()
            .contains("\"5\" (a unit is required"));
        assert!(parse_wait("constant 1s").is_err());
    }

    #[test]
    fn unknown_template_variables_point_into_the_string() {
        let text = format!("{HEAD}tasks = [ {{ get = \"/tools/{{{{ tool }}}}\" }} ]\n");
        let e = one_error(&text);
        assert_eq!(
            e,
            "x.toml:3:30: expected a defined variable (none is defined here: [vars], [data.NAME] and \
             capture define them), found undefined variable \"tool\""
        );
        let text = "[vars]\nbase = \"{{ token }}\"\ntoken = \"x\"\n[[users]]\nname = \"A\"\ntasks = [ { get = \"/{{ tool_id }}\" } ]\n[[users]]\nname = \"B\"\ntasks = [ { get = \"/\", capture.tool_id = \"json:$.id\" } ]\n";
        let e = errors(text);
        assert_eq!(e.len(), 2, "{e:#?}");
        assert_eq!(
            e[0],
            "x.toml:2:12: expected a defined variable (none is defined here: [vars], [data.NAME] and \
             capture define them), found undefined variable \"token\", defined later in [vars]"
        );
        assert_eq!(
            e[1],
            "x.toml:6:24: expected a defined variable (one of base, token), found undefined variable \
             \"tool_id\", captured only by class B"
        );
    }

    #[test]
    fn known_variables_pass() {
        let plan = ok(r#"
[vars]
token = "{{ env('T', 'x') }}"
auth = "Bearer {{ token }}"
[data.tz]
values = ["UTC", "CET"]
[defaults]
headers = { Authorization = "{{ auth }}", X-Session = "{{ session }}" }
[[users]]
name = "A"
on_start = [ { post = "/login", capture.session = "header:x-session" } ]
tasks = [ { steps = [ { get = "/t", capture.id = "json:$[0].id" }, { get = "/t/{{ id }}?tz={{ tz.value }}&u={{ uuid() }}" } ] } ]
"#);
        assert_eq!(plan.vars.len(), 2);
        assert_eq!(plan.vars[0].0, "token");
        assert_eq!(plan.users[0].tasks[0].name, "task 1");
        assert_eq!(plan.names.len(), 3);
        assert_eq!(
            plan.names[2].name,
            "/t/{{ id }}?tz={{ tz.value }}&u={{ uuid() }}"
        );
    }

    #[test]
    fn empty_class_list_and_class_without_tasks() {
        let e = one_error("name = \"x\"\n");
        assert_eq!(e, "x.toml:1:1: expected at least one user class ([[users]] with a name and tasks), found no users in the plan");
        let e = one_error("users = []\n");
        assert_eq!(e, "x.toml:1:9: expected at least one user class ([[users]] with a name and tasks), found an empty array");
        let e = one_error("[[users]]\nname = \"A\"\n");
        assert_eq!(e, "x.toml:1:1: expected at least one task (tasks = [ { get = \"/\" } ] or [[users.tasks]]), found a class without tasks");
        let e = one_error(&format!("{HEAD}tasks = []\n"));
        assert_eq!(
            e,
            "x.toml:3:9: expected at least one task, found an empty array"
        );
    }

    #[test]
    fn steps_need_exactly_one_kind() {
        let e = one_error(&format!(
            "{HEAD}tasks = [ {{ name = \"x\", weight = 2 }} ]\n"
        ));
        assert_eq!(
            e,
            "x.toml:3:11: expected one of get, post, put, patch, delete, head, rpc, sse, ws, think \
             (a step kind), found a step without one (it has name, weight)"
        );
        let e = one_error(&format!(
            "{HEAD}tasks = [ {{ get = \"/\", post = \"/\" }} ]\n"
        ));
        assert_eq!(e, "x.toml:3:24: expected one step kind per step (write two steps), found both \"get\" and \"post\"");
    }

    #[test]
    fn bad_jsonpath_regex_and_capture() {
        let e = one_error(&format!(
            "{HEAD}tasks = [ {{ get = \"/\", check.json = {{ \"$.[\" = \"exists\" }} }} ]\n"
        ));
        assert!(e.starts_with("x.toml:3:39: expected a JSONPath such as $.result.tools or $[0].id, found \"$.[\" ("), "{e}");
        let e = one_error(&format!(
            "{HEAD}tasks = [ {{ get = \"/\", capture.id = \"json:$[0\" }} ]\n"
        ));
        assert!(e.starts_with("x.toml:3:46: expected a JSONPath"), "{e}");
        let e = one_error(&format!(
            "{HEAD}tasks = [ {{ get = \"/\", capture.id = \"regex:(abc\" }} ]\n"
        ));
        assert_eq!(
            e,
            "x.toml:3:44: expected a valid regular expression, found \"(abc\" (unclosed group)"
        );
        let e = one_error(&format!(
            "{HEAD}tasks = [ {{ get = \"/\", capture.id = \"xpath://a\" }} ]\n"
        ));
        assert_eq!(e, "x.toml:3:37: expected a capture: \"json:$.path\", \"header:Name\", \"regex:...\" or \"status\", found \"xpath://a\"");
    }

    #[test]
    fn singular_json_paths_capture_one_value_others_a_list() {
        for p in [
            "$",
            "$.a",
            "$[0].id",
            "$['a.b'][-1]",
            "$[\"x*\"]",
            "$.a['..']",
        ] {
            assert!(is_singular_path(p), "{p}");
        }
        for p in [
            "$[*].id",
            "$..id",
            "$[0:2]",
            "$[?@.n > 1]",
            "$[0,1]",
            "$.*",
            "$['a','b']",
        ] {
            assert!(!is_singular_path(p), "{p}");
        }
        let plan = ok(r#"
setup = [ { get = "/tools", capture.ids = "json:$[*].id", capture.first = "json:$[0].id" } ]
[[users]]
name = "U"
tasks = [ { get = "/tools/{{ pick(ids) }}/{{ first }}" } ]
"#);
        let kinds: Vec<bool> = plan.setup[0]
            .captures
            .iter()
            .map(|c| matches!(c.source, CaptureSource::JsonAll(_)))
            .collect();
        assert_eq!(kinds, vec![true, false]);
    }

    #[test]
    fn missing_csv_file() {
        let e = one_error(&format!(
            "[data.tz]\ncsv = \"nope/tz.csv\"\n{HEAD}tasks = [ {{ get = \"/\" }} ]\n"
        ));
        assert_eq!(e, "x.toml:2:7: expected an existing CSV file (paths are relative to the plan file), found no file at nope/tz.csv");
    }

    #[test]
    fn toml_syntax_errors() {
        let e = one_error("[[users]]\nname = \"A\ntasks = []\n");
        assert_eq!(e, "x.toml:2:10: expected `\"`, found invalid basic string");
    }

    #[test]
    fn several_errors_are_collected_in_file_order() {
        let e = errors(&format!(
            "thresholds = [\"p95 < fast\"]\n{HEAD}weight = 0\nwait = \"soon\"\ntasks = [ {{ get = \"/\", timeout = \"fast\" }}, {{ think = 1 }} ]\n"
        ));
        assert_eq!(e.len(), 5, "{e:#?}");
        assert!(
            e[0].starts_with("x.toml:1:22: expected a duration such as 300ms"),
            "{}",
            e[0]
        );
        assert!(
            e[1].starts_with("x.toml:4:10: expected a class weight"),
            "{}",
            e[1]
        );
        assert!(
            e[2].starts_with("x.toml:5:8: expected a wait function"),
            "{}",
            e[2]
        );
        assert!(
            e[3].starts_with("x.toml:6:34: expected a duration like 250ms"),
            "{}",
            e[3]
        );
        assert!(
            e[4].starts_with("x.toml:6:54: expected a duration string"),
            "{}",
            e[4]
        );
    }

    #[test]
    fn thresholds_each_error() {
        let e = errors(&format!("thresholds = [\"p95 < 300\", \"p42x < 1s\", \"get.p95 < 1s\", \"p95 = 1s\", \"error_rate < 5\"]\n{HEAD}tasks = [ {{ get = \"/\" }} ]\n"));
        assert_eq!(
            e,
            vec![
                "x.toml:1:22: expected a duration such as 300ms or 1.5s, found \"300\"".to_string(),
                format!("x.toml:1:29: expected {METRIC_EXPECTED}, found \"p42x\""),
                "x.toml:1:42: expected a request kind in upper case (GET, POST, PUT, PATCH, DELETE, HEAD, SSE, WS, RPC) or a 'quoted name', found \"get\"".to_string(),
                "x.toml:1:62: expected a comparison: <, <=, > or >=, found \"= 1s\"".to_string(),
                "x.toml:1:83: expected a percentage such as 1% or a fraction from 0 to 1, found \"5\"".to_string(),
            ]
        );
    }

    #[test]
    fn thresholds_parse() {
        let t = parse_threshold("p95 < 300ms").unwrap();
        assert_eq!(t.scope, ThresholdScope::Aggregate);
        assert_eq!(t.metric, ThresholdMetric::Percentile(0.95));
        assert_eq!(t.op, CompareOp::Lt);
        assert_eq!(t.value, 300_000.0);
        let t = parse_threshold("error_rate<1%").unwrap();
        assert_eq!((t.metric, t.value), (ThresholdMetric::ErrorRate, 0.01));
        let t = parse_threshold("'/tools/[id]'.p99 <= 500ms").unwrap();
        assert_eq!(t.scope, ThresholdScope::Name("/tools/[id]".into()));
        assert_eq!(t.op, CompareOp::Le);
        assert_eq!(t.source, "'/tools/[id]'.p99 <= 500ms");
        let t = parse_threshold("GET.p99.9 > 1.5s").unwrap();
        assert_eq!(t.scope, ThresholdScope::Kind("GET".into()));
        assert_eq!(t.metric, ThresholdMetric::Percentile(0.999));
        assert_eq!((t.op, t.value), (CompareOp::Gt, 1_500_000.0));
        let t = parse_threshold("p99.99 < 1s").unwrap();
        assert!(matches!(t.metric, ThresholdMetric::Percentile(p) if (p - 0.9999).abs() < 1e-12));
        let t = parse_threshold("rps >= 100/s").unwrap();
        assert_eq!(
            (t.metric, t.op, t.value),
            (ThresholdMetric::Rps, CompareOp::Ge, 100.0)
        );
        let t = parse_threshold("checks > 0.99").unwrap();
        assert_eq!((t.metric, t.value), (ThresholdMetric::Checks, 0.99));
        let t = parse_threshold("SSE.avg < 250us").unwrap();
        assert_eq!((t.metric, t.value), (ThresholdMetric::Avg, 250.0));
        assert!(parse_threshold("'x.p95 < 1s")
            .unwrap_err()
            .contains("unterminated"));
        assert!(parse_threshold("p0 < 1s").is_err());
        assert!(parse_threshold("p101 < 1s").is_err());
        // only the percentiles the rows report
        assert!(parse_threshold("p97 < 1s")
            .unwrap_err()
            .contains("p98, p99, p99.9, p99.99, p100,"));
        let t = parse_threshold("p100 <= 2s").unwrap();
        assert_eq!(t.metric, ThresholdMetric::Percentile(1.0));
        let t = parse_threshold("p66 < 2s").unwrap();
        assert_eq!(t.metric, ThresholdMetric::Percentile(0.66));
        assert!(parse_threshold("p95 <")
            .unwrap_err()
            .ends_with("found nothing"));
    }

    #[test]
    fn threshold_tables() {
        let plan = ok(&format!("thresholds = [ {{ expr = \"p95 < 1s\", abort_on_fail = true, delay = \"10s\" }} ]\n{HEAD}tasks = [ {{ get = \"/\" }} ]\n"));
        assert!(plan.thresholds[0].abort_on_fail);
        assert_eq!(plan.thresholds[0].delay, Some(Duration::from_secs(10)));
    }

    #[test]
    fn names_are_interned_in_order_of_appearance() {
        let plan = ok(r#"
setup = [ { post = "/reset" } ]
[[users]]
name = "A"
tasks = [ { get = "/a" }, { get = "/b/{{ x }}", capture.x = "status" }, { rpc = "tools/list" }, { sse = "/events", events = 3 }, { ws = "/ws", send = ["hi", { a = 1 }] } ]
[[users]]
name = "B"
tasks = [ { get = "/a" }, { delete = "/a", name = "/a [delete]" } ]
"#);
        let names: Vec<(&str, &str)> = plan
            .names
            .iter()
            .map(|n| (n.kind.as_str(), n.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("POST", "/reset"),
                ("GET", "/a"),
                ("GET", "/b/{{ x }}"),
                ("POST", "/rpc tools/list"),
                // a stream step's rows come before its own name (never recorded into)
                ("SSE", "/events [connect]"),
                ("SSE", "/events [first event]"),
                ("SSE", "/events [event gap]"),
                ("SSE", "/events"),
                ("WS", "/ws [connect]"),
                ("WS", "/ws"),
                ("DELETE", "/a [delete]"),
            ]
        );
        assert_eq!(plan.users[1].tasks[0].steps[0].name, Some(NameId(1)));
    }

    #[test]
    fn shapes_validate() {
        let plan = ok(&format!(
            "{HEAD}tasks = [ {{ get = \"/\" }} ]\n[shapes.ramp]\nstages = [ {{ duration = \"1m\", users = 10, spawn_rate = 2 }}, {{ duration = \"30s\", users = 0 }} ]\n[shapes.open]\narrival = [ {{ duration = \"5m\", rate = 100 }} ]\nmax_users = 50\n"
        ));
        assert_eq!(plan.shapes.len(), 2);
        assert_eq!(plan.shapes[0].name, "ramp");
        assert!(
            matches!(&plan.shapes[1].kind, ShapeKind::Arrival { max_users: 50, stages } if stages[0].rate == 100.0)
        );
        let e = one_error(&format!("{HEAD}tasks = [ {{ get = \"/\" }} ]\n[shapes.open]\narrival = [ {{ duration = \"5m\", rate = 100 }} ]\n"));
        assert_eq!(e, "x.toml:4:1: expected max_users (the cap on users in flight) with arrival, found no max_users");
    }

    #[test]
    fn step_options_are_built() {
        let plan = ok(r#"
[defaults]
rpc_path = "/mcp"
timeout = "5s"
[[users]]
name = "A"
tags = ["all"]
[[users.tasks]]
post = "/tools"
json = { name = "t-{{ uuid() }}", n = 1.5 }
check = { status = [201, 200], json = { "$.id" = "exists", "$.n" = 1.5 }, header = { Content-Type = "json" }, max_time = "1s", body_contains = "id" }
capture = { id = "json:$.id", s = "status", h = "header:X-Id", r = "regex:id=(\\d+)" }
tags = ["write"]
weight = 3
[[users.tasks]]
rpc = "initialize"
params = { protocolVersion = "2025-06-18" }
allow_codes = [-32601]
"#);
        let class = &plan.users[0];
        let t = &class.tasks[0];
        assert_eq!(t.weight, 3);
        assert_eq!(t.tags, ["write", "all"]);
        let step = &t.steps[0];
        assert_eq!(step.checks.status, Some(vec![201, 200]));
        assert_eq!(step.checks.json.len(), 2);
        assert_eq!(step.checks.header[0].name, "content-type");
        assert_eq!(step.captures.len(), 4);
        assert_eq!(step.captures[3].source_text, "regex:id=(\\d+)");
        let StepKind::Http(h) = &step.kind else {
            panic!()
        };
        assert!(matches!(&h.body, Some(Body::Json(j)) if !j.is_static()));
        let StepKind::Rpc(r) = &class.tasks[1].steps[0].kind else {
            panic!()
        };
        assert_eq!(r.path.source(), "/mcp");
        assert_eq!(r.allow_codes, [-32601]);
        assert_eq!(plan.names[1].name, "/mcp initialize");
    }

    #[test]
    fn stream_steps_intern_their_rows() {
        let plan = ok(r#"
[[users]]
name = "S"
tasks = [
  { sse = "/sse", post = { method = "tools/list" }, name = "mcp" },
  { sse = "/events", events = 3 },
  { ws = "/ws", send = ["hi"] },
]
"#);
        let name = |id: NameId| {
            let n = &plan.names[id.index()];
            format!("{} {}", n.kind, n.name)
        };
        let tasks = &plan.users[0].tasks;
        assert_eq!(tasks[0].name, "mcp");
        let StepKind::Sse(sse) = &tasks[0].steps[0].kind else {
            panic!()
        };
        assert_eq!(name(sse.names.connect), "SSE mcp [connect]");
        assert_eq!(name(sse.names.first_event), "SSE mcp [first event]");
        assert_eq!(name(sse.names.event_gap), "SSE mcp [event gap]");
        assert_eq!(
            sse.names.post.map(name).as_deref(),
            Some("SSE mcp [tools/list]")
        );
        let StepKind::Sse(events) = &tasks[1].steps[0].kind else {
            panic!()
        };
        assert_eq!(events.names.post, None);
        assert_eq!(name(events.names.event_gap), "SSE /events [event gap]");
        let StepKind::Ws(ws) = &tasks[2].steps[0].kind else {
            panic!()
        };
        assert_eq!(name(ws.connect_name), "WS /ws [connect]");
        assert_eq!(tasks[2].steps[0].name.map(name).as_deref(), Some("WS /ws"));
    }

    #[test]
    fn an_sse_post_needs_a_method_and_an_sse_step_an_end() {
        let e = one_error(&format!(
            "{HEAD}tasks = [ {{ sse = \"/sse\", post = {{ id = 1 }} }} ]"
        ));
        assert_eq!(
            e,
            "x.toml:3:34: expected post: a JSON-RPC message with a `method`, found a table without one"
        );
        let e = one_error(&format!(
            "{HEAD}tasks = [ {{ sse = \"/sse\", post = {{ method = 5 }} }} ]"
        ));
        assert!(
            e.starts_with("x.toml:3:45: expected post.method: the JSON-RPC method name (a string)"),
            "{e}"
        );
        let e = one_error(&format!("{HEAD}tasks = [ {{ sse = \"/sse\" }} ]"));
        assert_eq!(
            e,
            "x.toml:3:11: expected events = N, for = \"10s\" and/or post (when the sse step ends), found none of them"
        );
    }

    /// Prints each error (to fill the exact expectations below by reading them).
    fn show(text: &str) -> Vec<String> {
        let e = errors(text);
        for line in &e {
            println!("{line}");
        }
        e
    }

    #[test]
    fn counts_are_bounded_at_validation() {
        let t = |body: &str| show(&format!("{HEAD}{body}"));
        assert_eq!(
            t("fixed_count = 4000000000\ntasks = [ { get = \"/\" } ]\n"),
            ["x.toml:3:15: expected fixed_count: a whole number from 0 to 1000000, found the integer 4000000000"]
        );
        assert_eq!(
            show(
                "[[users]]\nname = \"A\"\nfixed_count = 600000\ntasks = [ { get = \"/\" } ]\n\
                 [[users]]\nname = \"B\"\nfixed_count = 600000\ntasks = [ { get = \"/\" } ]\n"
            ),
            ["x.toml:7:15: expected fixed_count users of all classes together at most 1000000, found 1200000 in total with this class"]
        );
        assert_eq!(
            t("weight = 1001\ntasks = [ { get = \"/\", weight = 4294967295 } ]\n"),
            [
                "x.toml:3:10: expected a class weight: a whole number from 1 to 1000, found the integer 1001",
                "x.toml:4:33: expected a task weight: a whole number from 1 to 1000, found the integer 4294967295",
            ]
        );
        assert_eq!(
            t("tasks = [ { sse = \"/e\", events = 1000001 }, { ws = \"/w\", expect = 4000000000 } ]\n"),
            [
                "x.toml:3:34: expected events: a whole number from 1 to 1000000, found the integer 1000001",
                "x.toml:3:67: expected expect: a whole number from 0 to 1000000, found the integer 4000000000",
            ]
        );
        let send = vec!["\"m\""; 1001].join(",");
        assert_eq!(
            t(&format!("tasks = [ {{ ws = \"/w\", send = [{send}] }} ]\n")),
            ["x.toml:3:31: expected at most 1000 messages, found 1001 messages"]
        );
        let tasks = vec!["{ get = \"/\" }"; 1001].join(",");
        assert_eq!(
            t(&format!("tasks = [{tasks}]\n")),
            ["x.toml:3:9: expected at most 1000 tasks, found 1001 tasks"]
        );
        let classes = "[[users]]\nname = \"A\"\ntasks = [ { get = \"/\" } ]\n".repeat(101);
        let e = show(&classes);
        assert!(
            e.contains(
                &"x.toml:1:1: expected at most 100 user classes, found 101 user classes"
                    .to_string()
            ),
            "{e:?}"
        );
    }

    #[test]
    fn shapes_rates_and_durations_are_bounded() {
        let plan = |shape: &str| {
            show(&format!(
                "{HEAD}tasks = [ {{ get = \"/\" }} ]\n[shapes.s]\n{shape}\n"
            ))
        };
        assert_eq!(
            plan("stages = [ { duration = \"1m\", users = 1000001, spawn_rate = 1e-300 } ]"),
            [
                "x.toml:5:39: expected users: a whole number from 0 to 1000000, found the integer 1000001",
                "x.toml:5:61: expected spawn_rate: a number from 0.001 to 1000000, found the number 1e-300",
            ]
        );
        assert_eq!(
            plan("arrival = [ { duration = \"721h\", rate = 1000001 } ]\nmax_users = 2000000"),
            [
                "x.toml:5:26: expected a duration of at most 720h, found \"721h\"",
                "x.toml:5:41: expected rate: a number from 0 to 1000000, found the integer 1000001",
                "x.toml:6:13: expected max_users: a whole number from 1 to 1000000, found the integer 2000000",
            ]
        );
        assert_eq!(
            show(&format!(
                "{HEAD}wait = \"between(1s, 9999h)\"\ntasks = [ {{ think = \"31d\" }}, {{ get = \"/\", timeout = \"99999999h\" }} ]\n"
            )),
            [
                "x.toml:3:8: expected between(A, B) with durations of at most 720h, found \"9999h\"",
                "x.toml:4:21: expected a duration like 250ms, 1.5s, 2m or 1h30m (units h, m, s, ms, us, ns), found \"31d\" (unknown unit \"d\")",
                "x.toml:4:53: expected a duration of at most 720h, found \"99999999h\"",
            ]
        );
        assert_eq!(
            show(&format!("{HEAD}wait = \"throughput(0.0001/s)\"\ntasks = [ {{ get = \"/\" }} ]\n")),
            ["x.toml:3:8: expected throughput(N/s) with N from 0.001 to 1000000 task runs per second, e.g. throughput(2/s), found \"throughput(0.0001/s)\""]
        );
    }

    #[test]
    fn max_body_comes_from_defaults_or_the_step() {
        let p = ok(&format!(
            "[defaults]\nmax_body = \"64KiB\"\n{HEAD}tasks = [ {{ get = \"/a\" }}, {{ get = \"/b\", max_body = \"1MiB\" }}, {{ rpc = \"m\" }} ]\n"
        ));
        let limit = |i: usize| match &p.users[0].tasks[i].steps[0].kind {
            StepKind::Http(h) => h.max_body,
            StepKind::Rpc(r) => r.max_body,
            _ => unreachable!(),
        };
        assert_eq!(
            limit(0),
            BodyLimit {
                bytes: 64 << 10,
                set_by_step: false
            }
        );
        assert_eq!(
            limit(1),
            BodyLimit {
                bytes: 1 << 20,
                set_by_step: true
            }
        );
        assert_eq!(
            limit(2),
            BodyLimit {
                bytes: 64 << 10,
                set_by_step: false
            }
        );
        assert_eq!(
            limit(0).exceeded_message(),
            "body too large to check: more than 64 KiB (raise defaults.max_body)"
        );
        assert_eq!(
            limit(1).exceeded_message(),
            "body too large to check: more than 1 MiB (raise the step's max_body)"
        );
        let d = ok(&format!("{HEAD}tasks = [ {{ get = \"/a\" }} ]\n"));
        assert_eq!(d.defaults.max_body, 16 << 20);
        assert_eq!(
            show(&format!("[defaults]\nmax_body = \"2GiB\"\n{HEAD}tasks = [ {{ get = \"/\", max_body = 5 }} ]\n")),
            [
                "x.toml:2:12: expected max_body: a size like \"16MiB\" or \"64KiB\", at most 1 GiB, found \"2GiB\"",
                "x.toml:5:35: expected max_body: a size like \"16MiB\" or \"64KiB\", at most 1 GiB, found the integer 5",
            ]
        );
    }

    #[test]
    fn thresholds_must_name_rows_the_plan_records() {
        let plan = |th: &str| {
            show(&format!(
                "thresholds = [{th}]\n{HEAD}tasks = [ {{ get = \"/tools\" }}, {{ sse = \"/events\", for = \"1s\" }}, {{ rpc = \"tools/list\" }} ]\n"
            ))
        };
        assert_eq!(
            plan("\"'/nope'.p99 < 1s\""),
            ["x.toml:1:17: expected a name this plan records ('/tools', '/events [connect]', '/events [first event]', '/events [event gap]', '/events', '/rpc tools/list'), found '/nope'"]
        );
        assert_eq!(
            plan("\"'/tool'.p99 < 1s\""),
            ["x.toml:1:17: expected a name this plan records ('/tools', '/events [connect]', '/events [first event]', '/events [event gap]', '/events', '/rpc tools/list'), found '/tool' (did you mean '/tools'?)"]
        );
        assert_eq!(
            plan("\"WS.p95 < 1s\", \"RPC.avg < 1s\""),
            [
                "x.toml:1:16: expected a request kind this plan records (GET, SSE, POST), found \"WS\"",
                "x.toml:1:31: expected a request kind this plan records (GET, SSE, POST), found \"RPC\" (rpc steps record under POST)",
            ]
        );
        assert!(plan(
            "\"'/events [first event]'.p99 < 1s\", \"'/rpc tools/list'.p95 < 1s\", \"SSE.p50 < 1s\", \"POST.max < 2s\", \"p95 < 1s\""
        )
        .is_empty());
        let p = ok(&format!("{HEAD}tasks = [ {{ get = \"/tools\" }} ]\n"));
        let th = parse_threshold("'/nope'.p99 < 1s").unwrap();
        assert_eq!(
            check_threshold_scope(&p, &th).unwrap_err(),
            "expected a name this plan records ('/tools'), found '/nope'"
        );
    }
}
