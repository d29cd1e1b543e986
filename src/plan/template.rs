//! `{{ }}` templates, compiled once at validation (minijinja), rendered per request: the compiled
//! types ([`Template`], [`JsonTemplate`]), the functions templates may call, and the
//! [`Variables`] a render reads. It knows nothing of plans or runs: the plan model holds
//! templates, `fold` folds them, and the engine's variable store implements [`Variables`].
//!
//! A template without `{{`, `{%` or `{#` is static: it is never compiled and renders to a borrow
//! of its source.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use minijinja::value::Value as MjValue;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};

/// The name each compiled template has inside its own environment.
const NAME: &str = "t";
/// Functions whose result changes from call to call: a template using one is never folded.
const DYNAMIC_FUNCTIONS: [&str; 4] = ["uuid", "randint", "now_ms", "pick"];
/// Names a plan variable, data source or capture may not take (functions and minijinja globals).
pub(crate) const RESERVED_NAMES: [&str; 10] = [
    "env",
    "uuid",
    "randint",
    "now_ms",
    "pick",
    "range",
    "dict",
    "namespace",
    "debug",
    "loop",
];

/// The environment every template starts from: strict undefined, no escaping, our functions.
/// Cloning it is cheap (its filter/test/global tables are `Arc`s).
static BASE: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_debug(false);
    // A template is run per request: a loop that never ends (or runs 10^10 times, growing its
    // output until the process is killed) must fail the request instead.
    env.set_fuel(Some(super::limits::TEMPLATE_FUEL));
    env.add_function("env", env_fn);
    env.add_function("uuid", uuid_fn);
    env.add_function("randint", randint_fn);
    env.add_function("now_ms", now_ms_fn);
    env.add_function("pick", pick_fn);
    env
});

fn env_fn(name: &str, default: Option<MjValue>) -> Result<MjValue, minijinja::Error> {
    match std::env::var(name) {
        Ok(v) => Ok(MjValue::from(v)),
        Err(_) => default.ok_or_else(|| {
            minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "environment variable {name} is not set (give a default: env('{name}', '...'))"
                ),
            )
        }),
    }
}

fn uuid_fn() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn randint_fn(a: i64, b: i64) -> Result<i64, minijinja::Error> {
    use rand::Rng;
    if a > b {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("randint(a, b) needs a <= b, got randint({a}, {b})"),
        ));
    }
    Ok(rand::rng().random_range(a..=b))
}

/// `pick(pool)`: a random element of a list (e.g. ids captured by `setup` with `json:$[*].id`).
fn pick_fn(pool: MjValue) -> Result<MjValue, minijinja::Error> {
    use minijinja::value::ValueKind;
    use rand::Rng;
    if pool.kind() != ValueKind::Seq {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "pick(pool) needs a list (capture one with a path such as json:$[*].id), got {}",
                pool.kind()
            ),
        ));
    }
    let len = pool.len().unwrap_or(0);
    if len == 0 {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "pick(pool): the list is empty",
        ));
    }
    pool.get_item_by_index(rand::rng().random_range(0..len))
}

fn now_ms_fn() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn has_markup(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

fn is_global(name: &str) -> bool {
    RESERVED_NAMES.contains(&name)
}

/// What a template reads while it renders.
pub trait Variables {
    /// The variables as the template's root context (an object looked up by name).
    fn context(&self) -> MjValue;
    /// Whether `name` is set (to name the missing variable when a render fails).
    fn contains(&self, name: &str) -> bool;
}

/// Why rendering failed; the message names the template and, when it can, the variable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

/// A string that may contain `{{ }}` expressions.
#[derive(Clone)]
pub struct Template {
    source: String,
    compiled: Option<Arc<Compiled>>,
}

struct Compiled {
    env: Environment<'static>,
    /// The template as plain pieces, when it has that shape ([`plain_pieces`]).
    plain: Option<Vec<Piece>>,
    /// Undeclared top-level names, functions and globals excluded; sorted.
    variables: Vec<String>,
    /// Uses `uuid()`, `randint()` or `now_ms()`.
    dynamic: bool,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("source", &self.source)
            .field("static", &self.is_static())
            .finish()
    }
}

fn short(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{:?}…", &s[..i]),
        None => format!("{s:?}"),
    }
}

/// `kind: detail` of a minijinja error, without its internal template name.
fn error_text(e: &minijinja::Error) -> String {
    if e.kind() == ErrorKind::OutOfFuel {
        return format!(
            "the template ran more than {} instructions (a runaway loop?)",
            super::limits::TEMPLATE_FUEL
        );
    }
    let mut text = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(line) = e.line().filter(|&l| l > 1) {
        text.push_str(&format!(" (template line {line})"));
    }
    text
}

/// Whether `source` calls one of [`DYNAMIC_FUNCTIONS`], read from the text: minijinja's
/// undeclared-variable walk misses a call inside some expressions (`uuid()[:8]` was folded into
/// one value for the whole run). A false positive (the name in a string) only keeps a template
/// from being folded.
fn calls_dynamic(source: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    DYNAMIC_FUNCTIONS.iter().any(|f| {
        source.match_indices(f).any(|(i, _)| {
            let before = source[..i].chars().next_back();
            let after = source[i + f.len()..].trim_start();
            !before.is_some_and(is_word) && after.starts_with('(')
        })
    })
}

impl Template {
    /// Compiles `source` once. The error says what is wrong with the template syntax.
    pub fn parse(source: &str) -> Result<Template, String> {
        if !has_markup(source) {
            return Ok(Template::literal(source.to_string()));
        }
        let mut env = BASE.clone();
        env.add_template_owned(NAME, source.to_string())
            .map_err(|e| error_text(&e))?;
        let names = env
            .get_template(NAME)
            .map_err(|e| error_text(&e))?
            .undeclared_variables(false);
        let dynamic = DYNAMIC_FUNCTIONS.iter().any(|f| names.contains(*f)) || calls_dynamic(source);
        let mut variables: Vec<String> = names.into_iter().filter(|n| !is_global(n)).collect();
        variables.sort();
        Ok(Template {
            source: source.to_string(),
            compiled: Some(Arc::new(Compiled {
                plain: plain_pieces(source),
                env,
                variables,
                dynamic,
            })),
        })
    }

    /// A template that renders to `text` exactly (even if it contains `{{`).
    pub fn literal(text: String) -> Template {
        Template {
            source: text,
            compiled: None,
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// No `{{ }}`, `{% %}` or `{# #}`: renders to its source without allocating.
    pub fn is_static(&self) -> bool {
        self.compiled.is_none()
    }

    /// Undeclared top-level names the template reads (functions excluded), sorted.
    pub fn variables(&self) -> Vec<String> {
        self.compiled
            .as_ref()
            .map(|c| c.variables.clone())
            .unwrap_or_default()
    }

    /// Whether it calls `uuid()`, `randint()` or `now_ms()` (so it differs per render).
    pub fn is_dynamic(&self) -> bool {
        self.compiled.as_ref().is_some_and(|c| c.dynamic)
    }

    pub fn render<'a>(&'a self, vars: &impl Variables) -> Result<Cow<'a, str>, RenderError> {
        let Some(compiled) = &self.compiled else {
            return Ok(Cow::Borrowed(&self.source));
        };
        if let Some(text) = compiled
            .plain
            .as_deref()
            .and_then(|p| render_plain(p, vars))
        {
            return Ok(Cow::Owned(text));
        }
        let template = compiled
            .env
            .get_template(NAME)
            .map_err(|e| RenderError(error_text(&e)))?;
        match template.render(vars.context()) {
            Ok(s) => Ok(Cow::Owned(s)),
            Err(e) => Err(self.render_error(compiled, &e, vars)),
        }
    }

    fn render_error(
        &self,
        compiled: &Compiled,
        e: &minijinja::Error,
        vars: &impl Variables,
    ) -> RenderError {
        if e.kind() == ErrorKind::UndefinedError {
            if let Some(missing) = compiled.variables.iter().find(|v| !vars.contains(v)) {
                return RenderError(format!(
                    "undefined variable {missing} in template {}",
                    short(&self.source)
                ));
            }
        }
        RenderError(format!(
            "template {}: {}",
            short(&self.source),
            error_text(e)
        ))
    }

    /// Renders now and becomes static if the template needs nothing but `names` and `env()`.
    pub(super) fn fold(
        &mut self,
        vars: &impl Variables,
        names: &HashSet<&str>,
    ) -> Result<(), RenderError> {
        let foldable = match &self.compiled {
            Some(c) => !c.dynamic && c.variables.iter().all(|v| names.contains(v.as_str())),
            None => false,
        };
        if foldable {
            let text = self.render(vars)?.into_owned();
            *self = Template::literal(text);
        }
        Ok(())
    }
}

/// One piece of a template of the plain shape most plan templates have (`/tools/{{ id }}`,
/// `{{ uuid() }}`, `page={{ randint(1, 100) }}`, `{{ pick(ids) }}`). These render without
/// minijinja's VM, which allocates a 3 KiB frame stack per render: with thousands of users
/// that one allocation made glibc consolidate its free lists on every render
/// (`malloc_consolidate` + `unlink_chunk`, ~15 % of the generator's CPU; bench/README.md).
/// minijinja stays the reference: anything else, and any value that is not a string or an
/// integer, renders through it (and the tests compare the two).
#[derive(Debug)]
enum Piece {
    Text(String),
    /// `a` or `a.b.c`
    Var(Vec<String>),
    Uuid,
    NowMs,
    Randint(i64, i64),
    Pick(String),
}

/// The template as plain pieces, or None when it uses anything else (statements, comments,
/// whitespace control, filters, operators, literals, other calls).
fn plain_pieces(source: &str) -> Option<Vec<Piece>> {
    if source.contains("{%") || source.contains("{#") {
        return None;
    }
    let mut pieces = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_string()));
        }
        let inside = &rest[open + 2..];
        let close = inside.find("}}")?;
        let expr = &inside[..close];
        if expr.starts_with(['-', '+']) || expr.ends_with(['-', '+']) {
            return None;
        }
        pieces.push(plain_expr(expr.trim())?);
        rest = &inside[close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Some(pieces)
}

fn plain_expr(expr: &str) -> Option<Piece> {
    let is_name = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    // Names minijinja reads as literals or globals, not as the plan's variables.
    let is_variable = |s: &str| {
        is_name(s)
            && !is_global(s)
            && !["true", "false", "none", "True", "False", "None"].contains(&s)
    };
    if let Some(call) = expr.strip_suffix(')') {
        let (name, args) = call.split_once('(')?;
        let args = args.trim();
        return match (name.trim(), args) {
            ("uuid", "") => Some(Piece::Uuid),
            ("now_ms", "") => Some(Piece::NowMs),
            ("randint", _) => {
                let (a, b) = args.split_once(',')?;
                let (a, b) = (int_literal(a.trim())?, int_literal(b.trim())?);
                // a > b: minijinja's call says what is wrong
                (a <= b).then_some(Piece::Randint(a, b))
            }
            ("pick", pool) if is_variable(pool) => Some(Piece::Pick(pool.to_string())),
            _ => None,
        };
    }
    let path: Vec<&str> = expr.split('.').collect();
    (is_variable(path[0]) && path.iter().all(|p| is_name(p)))
        .then(|| Piece::Var(path.into_iter().map(str::to_string).collect()))
}

/// A decimal integer as minijinja reads one (digits, an optional minus).
fn int_literal(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Renders plain pieces; None sends the render through minijinja (a value that is missing,
/// or not a string or an integer, or an empty pool: its error or its formatting is minijinja's).
fn render_plain(pieces: &[Piece], vars: &impl Variables) -> Option<String> {
    use rand::Rng;
    use std::fmt::Write;
    let mut out = String::new();
    let mut context = None;
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Var(path) => {
                let root = context.get_or_insert_with(|| vars.context());
                let mut value = root.get_attr(&path[0]).ok()?;
                for name in &path[1..] {
                    value = value.get_attr(name).ok()?;
                }
                push_plain_value(&mut out, &value)?;
            }
            Piece::Uuid => {
                let mut buf = uuid::Uuid::encode_buffer();
                out.push_str(uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf));
            }
            Piece::NowMs => write!(out, "{}", now_ms_fn()).ok()?,
            Piece::Randint(a, b) => write!(out, "{}", rand::rng().random_range(*a..=*b)).ok()?,
            Piece::Pick(pool) => {
                let root = context.get_or_insert_with(|| vars.context());
                let picked = pick_fn(root.get_attr(pool).ok()?).ok()?;
                push_plain_value(&mut out, &picked)?;
            }
        }
    }
    Some(out)
}

fn push_plain_value(out: &mut String, value: &MjValue) -> Option<()> {
    use minijinja::value::ValueKind;
    use std::fmt::Write;
    match value.kind() {
        ValueKind::String => out.push_str(value.as_str()?),
        ValueKind::Number if value.is_integer() => write!(out, "{value}").ok()?,
        _ => return None,
    }
    Some(())
}

/// A JSON value whose strings may be templates (object keys are literal).
#[derive(Clone, Debug)]
pub struct JsonTemplate {
    node: JsonNode,
    /// The serialized value when nothing in it is a template.
    static_bytes: Option<Bytes>,
}

#[derive(Clone, Debug)]
enum JsonNode {
    Literal(serde_json::Value),
    Text(Template),
    Array(Vec<JsonNode>),
    Object(Vec<(String, JsonNode)>),
}

impl JsonNode {
    fn build(v: &serde_json::Value) -> Result<JsonNode, String> {
        Ok(match v {
            serde_json::Value::String(s) if has_markup(s) => JsonNode::Text(Template::parse(s)?),
            serde_json::Value::Array(items) => {
                let nodes = items
                    .iter()
                    .map(JsonNode::build)
                    .collect::<Result<Vec<_>, _>>()?;
                if nodes.iter().all(|n| matches!(n, JsonNode::Literal(_))) {
                    JsonNode::Literal(v.clone())
                } else {
                    JsonNode::Array(nodes)
                }
            }
            serde_json::Value::Object(map) => {
                let mut fields = Vec::with_capacity(map.len());
                for (k, item) in map {
                    fields.push((k.clone(), JsonNode::build(item)?));
                }
                if fields
                    .iter()
                    .all(|(_, n)| matches!(n, JsonNode::Literal(_)))
                {
                    JsonNode::Literal(v.clone())
                } else {
                    JsonNode::Object(fields)
                }
            }
            other => JsonNode::Literal(other.clone()),
        })
    }

    fn templates<'a>(&'a self, out: &mut Vec<&'a Template>) {
        match self {
            JsonNode::Literal(_) => {}
            JsonNode::Text(t) => out.push(t),
            JsonNode::Array(items) => items.iter().for_each(|n| n.templates(out)),
            JsonNode::Object(fields) => fields.iter().for_each(|(_, n)| n.templates(out)),
        }
    }

    fn value(&self, vars: &impl Variables) -> Result<serde_json::Value, RenderError> {
        Ok(match self {
            JsonNode::Literal(v) => v.clone(),
            JsonNode::Text(t) => serde_json::Value::String(t.render(vars)?.into_owned()),
            JsonNode::Array(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(|n| n.value(vars))
                    .collect::<Result<_, _>>()?,
            ),
            JsonNode::Object(fields) => {
                let mut map = serde_json::Map::with_capacity(fields.len());
                for (k, n) in fields {
                    map.insert(k.clone(), n.value(vars)?);
                }
                serde_json::Value::Object(map)
            }
        })
    }

    /// Serializes straight into `out`, without building the rendered value.
    fn write(&self, out: &mut Vec<u8>, vars: &impl Variables) -> Result<(), RenderError> {
        let json_err = |e: serde_json::Error| RenderError(format!("JSON serialization: {e}"));
        match self {
            JsonNode::Literal(v) => serde_json::to_writer(&mut *out, v).map_err(json_err)?,
            JsonNode::Text(t) => {
                serde_json::to_writer(&mut *out, t.render(vars)?.as_ref()).map_err(json_err)?
            }
            JsonNode::Array(items) => {
                out.push(b'[');
                for (i, n) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    n.write(out, vars)?;
                }
                out.push(b']');
            }
            JsonNode::Object(fields) => {
                out.push(b'{');
                for (i, (k, n)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut *out, k).map_err(json_err)?;
                    out.push(b':');
                    n.write(out, vars)?;
                }
                out.push(b'}');
            }
        }
        Ok(())
    }

    fn fold(&mut self, vars: &impl Variables, names: &HashSet<&str>) -> Result<(), RenderError> {
        match self {
            JsonNode::Literal(_) => {}
            JsonNode::Text(t) => {
                t.fold(vars, names)?;
                if t.is_static() {
                    *self = JsonNode::Literal(serde_json::Value::String(t.source().to_string()));
                }
            }
            JsonNode::Array(items) => {
                for n in items.iter_mut() {
                    n.fold(vars, names)?;
                }
            }
            JsonNode::Object(fields) => {
                for (_, n) in fields.iter_mut() {
                    n.fold(vars, names)?;
                }
            }
        }
        Ok(())
    }
}

impl JsonTemplate {
    pub fn from_value(v: &serde_json::Value) -> Result<JsonTemplate, String> {
        Ok(JsonTemplate::from_node(JsonNode::build(v)?))
    }

    fn from_node(node: JsonNode) -> JsonTemplate {
        let static_bytes = match &node {
            JsonNode::Literal(v) => serde_json::to_vec(v).ok().map(Bytes::from),
            _ => None,
        };
        JsonTemplate { node, static_bytes }
    }

    pub fn is_static(&self) -> bool {
        self.static_bytes.is_some()
    }

    pub fn variables(&self) -> Vec<String> {
        let mut templates = Vec::new();
        self.node.templates(&mut templates);
        let mut names: Vec<String> = templates.iter().flat_map(|t| t.variables()).collect();
        names.sort();
        names.dedup();
        names
    }

    pub fn render_value(&self, vars: &impl Variables) -> Result<serde_json::Value, RenderError> {
        self.node.value(vars)
    }

    /// The serialized JSON; a static value is serialized once and shared.
    pub fn render_bytes(&self, vars: &impl Variables) -> Result<Bytes, RenderError> {
        if let Some(b) = &self.static_bytes {
            return Ok(b.clone());
        }
        let mut out = Vec::with_capacity(128);
        self.node.write(&mut out, vars)?;
        Ok(Bytes::from(out))
    }

    pub(super) fn fold(
        &mut self,
        vars: &impl Variables,
        names: &HashSet<&str>,
    ) -> Result<(), RenderError> {
        let mut node = self.node.clone();
        node.fold(vars, names)?;
        // A container whose parts all became literal becomes one literal.
        if let JsonNode::Array(_) | JsonNode::Object(_) = node {
            let mut templates = Vec::new();
            node.templates(&mut templates);
            if templates.is_empty() {
                node = JsonNode::Literal(node.value(vars)?);
            }
        }
        *self = JsonTemplate::from_node(node);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Variables as a plain map (the engine's store is tested in `engine::vars`).
    struct Map(serde_json::Map<String, serde_json::Value>);

    impl Variables for Map {
        fn context(&self) -> MjValue {
            MjValue::from_serialize(&self.0)
        }

        fn contains(&self, name: &str) -> bool {
            self.0.contains_key(name)
        }
    }

    fn vars(pairs: &[(&str, serde_json::Value)]) -> Map {
        Map(pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect())
    }

    /// What minijinja alone renders (the reference the plain path must match).
    fn by_minijinja(t: &Template, v: &Map) -> Result<String, String> {
        let compiled = t.compiled.as_ref().expect("a compiled template");
        compiled
            .env
            .get_template(NAME)
            .and_then(|t| t.render(v.context()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn plain_templates_render_as_minijinja_does() {
        let v = vars(&[
            ("tool_id", json!("abc")),
            ("n", json!(42)),
            ("neg", json!(-7)),
            ("big", json!(u64::MAX)),
            ("half", json!(1.5)),
            ("flag", json!(true)),
            ("nothing", json!(null)),
            ("list", json!([1, 2])),
            ("one", json!(["only"])),
            ("empty", json!([])),
            ("tz", json!({"zone": "UTC", "deep": {"x": "é€"}})),
        ]);
        let plain = [
            "/tools/{{ tool_id }}",
            "{{tool_id}}-{{ n }}-{{ neg }}-{{ big }}",
            "{{ tz.zone }}/{{ tz.deep.x }}\n",
            "x={{ pick(one) }}&y={{ randint(5, 5) }}&z={{ randint(-3,-3) }}",
            "stray }} and { and {{ n }}",
        ];
        for src in plain {
            let t = Template::parse(src).unwrap();
            let c = t.compiled.as_ref().unwrap();
            let pieces = c
                .plain
                .as_deref()
                .unwrap_or_else(|| panic!("{src} is plain"));
            let fast = render_plain(pieces, &v).unwrap_or_else(|| panic!("{src} renders plain"));
            assert_eq!(Ok(fast), by_minijinja(&t, &v), "{src}");
        }
        // Plain in shape, but a value minijinja formats (or fails on) itself: its output stands.
        for src in [
            "{{ half }}",
            "{{ flag }}",
            "{{ nothing }}",
            "{{ list }}",
            "{{ tz }}",
            "{{ missing }}",
            "{{ tz.missing }}",
            "{{ pick(empty) }}",
            "{{ pick(n) }}",
        ] {
            let t = Template::parse(src).unwrap();
            let pieces = t.compiled.as_ref().unwrap().plain.as_deref().unwrap();
            assert_eq!(render_plain(pieces, &v), None, "{src}");
            let full = t.render(&v).map(|s| s.into_owned()).map_err(|e| e.0);
            assert_eq!(full.is_ok(), by_minijinja(&t, &v).is_ok(), "{src}");
            if let Ok(text) = full {
                assert_eq!(Ok(text), by_minijinja(&t, &v), "{src}");
            }
        }
        // Not plain: minijinja renders them.
        for src in [
            "{{ n + 1 }}",
            "{{ tool_id | upper }}",
            "{{ uuid()[:8] }}",
            "{{ '}}' }}",
            "{{- n }}",
            "{{ true }}",
            "{{ randint(3, 1) }}",
            "{{ randint(1, x) }}",
            "{{ env('HOME', 'x') }}",
            "{{ tool_id }}{% if n %}!{% endif %}",
            "{{ loop }}",
        ] {
            let t = Template::parse(src).unwrap();
            assert!(t.compiled.as_ref().unwrap().plain.is_none(), "{src}");
        }
        let t = Template::parse("{{ uuid() }} {{ now_ms() }} {{ randint(1, 3) }}").unwrap();
        let out = t.render(&v).unwrap().into_owned();
        let parts: Vec<&str> = out.split(' ').collect();
        assert_eq!(
            uuid::Uuid::parse_str(parts[0]).unwrap().get_version_num(),
            4
        );
        assert_eq!(parts[0], parts[0].to_lowercase());
        assert!(parts[1].parse::<u64>().unwrap() > 1_600_000_000_000);
        assert!(["1", "2", "3"].contains(&parts[2]), "{out}");
    }

    #[test]
    fn a_runaway_loop_fails_the_render_instead_of_the_process() {
        let bomb = Template::parse(
            "{% for i in range(100000) %}{% for j in range(100000) %}xxxxxxxxxx{% endfor %}\
             {% endfor %}",
        )
        .unwrap();
        let e = bomb.render(&vars(&[])).unwrap_err().to_string();
        assert!(e.contains("ran more than 100000 instructions"), "{e}");
        // an ordinary loop over a captured list is far below the limit
        let ids: Vec<serde_json::Value> = (0..10_000).map(serde_json::Value::from).collect();
        let list = Template::parse("{% for id in ids %}{{ id }},{% endfor %}").unwrap();
        let out = list
            .render(&vars(&[("ids", serde_json::Value::Array(ids))]))
            .unwrap();
        assert_eq!(out.matches(',').count(), 10_000);
    }

    #[test]
    fn static_templates_borrow() {
        let t = Template::parse("/tools/list").unwrap();
        assert!(t.is_static());
        assert!(t.variables().is_empty());
        let out = t.render(&vars(&[])).unwrap();
        assert!(matches!(out, Cow::Borrowed("/tools/list")));
    }

    #[test]
    fn renders_variables_and_lists_them() {
        let t = Template::parse("/tools/{{ tool_id }}?tz={{ timezones.tz }}").unwrap();
        assert!(!t.is_static());
        assert_eq!(t.variables(), vec!["timezones", "tool_id"]);
        let v = vars(&[
            ("tool_id", json!("abc")),
            ("timezones", json!({"tz": "UTC"})),
        ]);
        let out = t.render(&v).unwrap();
        assert!(matches!(out, Cow::Owned(_)));
        assert_eq!(out, "/tools/abc?tz=UTC");
        let n = Template::parse("{{ n + 1 }}").unwrap();
        assert_eq!(n.render(&vars(&[("n", json!(41))])).unwrap(), "42");
    }

    #[test]
    fn keeps_trailing_newlines_and_does_not_escape() {
        let t = Template::parse("<b>{{ x }}</b>\n").unwrap();
        assert_eq!(
            t.render(&vars(&[("x", json!("a&b"))])).unwrap(),
            "<b>a&b</b>\n"
        );
    }

    #[test]
    fn functions_are_not_variables() {
        let t = Template::parse(
            "{{ uuid() }}-{{ randint(1, 3) }}-{{ now_ms() }}-{{ env('HOME', 'x') }}",
        )
        .unwrap();
        assert!(t.variables().is_empty());
        assert!(t.is_dynamic());
        let out = t.render(&vars(&[])).unwrap().into_owned();
        let parts: Vec<&str> = out.rsplitn(4, '-').collect();
        assert!(["1", "2", "3"].contains(&parts[2]), "{out}");
        assert!(parts[1].parse::<u64>().unwrap() > 1_600_000_000_000);
        assert_eq!(
            uuid::Uuid::parse_str(parts[3]).unwrap().get_version_num(),
            4
        );
        assert!(!Template::parse("{{ env('X', 'y') }}").unwrap().is_dynamic());
    }

    #[test]
    fn a_function_call_inside_an_expression_is_still_dynamic() {
        for source in [
            "{{ uuid()[:8] }}",
            "x-{{ (uuid() ~ 'a')|upper }}",
            "{{ [randint(1, 9)][0] }}",
            "{{ now_ms() // 1000 }}",
            "{% if true %}{{ uuid()[0:4] }}{% endif %}",
        ] {
            let t = Template::parse(source).unwrap();
            assert!(t.is_dynamic(), "{source}");
        }
        let t = Template::parse("loadtest-{{ uuid()[:8] }}").unwrap();
        let a = t.render(&vars(&[])).unwrap().into_owned();
        let b = t.render(&vars(&[])).unwrap().into_owned();
        assert_eq!(a.len(), "loadtest-".len() + 8, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn randint_is_inclusive_and_checked() {
        let t = Template::parse("{{ randint(5, 5) }}").unwrap();
        assert_eq!(t.render(&vars(&[])).unwrap(), "5");
        let bad = Template::parse("{{ randint(3, 1) }}").unwrap();
        let e = bad.render(&vars(&[])).unwrap_err();
        assert!(
            e.0.contains("randint(a, b) needs a <= b, got randint(3, 1)"),
            "{e}"
        );
    }

    #[test]
    fn pick_returns_an_element_of_the_list() {
        let t = Template::parse("{{ pick(pool) }}").unwrap();
        assert_eq!(t.variables(), vec!["pool"]);
        assert!(t.is_dynamic(), "pick() differs per render: never folded");
        let v = vars(&[("pool", json!(["a", "b", "c"])), ("one", json!([7]))]);
        let mut seen = HashSet::new();
        for _ in 0..200 {
            seen.insert(t.render(&v).unwrap().into_owned());
        }
        let mut seen: Vec<String> = seen.into_iter().collect();
        seen.sort();
        assert_eq!(seen, vec!["a", "b", "c"]);
        let one = Template::parse("/tools/{{ pick(one) }}").unwrap();
        assert_eq!(one.render(&v).unwrap(), "/tools/7");
        let rows = vars(&[("pool", json!([{"id": "x"}]))]);
        let attr = Template::parse("{{ pick(pool).id }}").unwrap();
        assert_eq!(attr.render(&rows).unwrap(), "x");
    }

    #[test]
    fn pick_refuses_empty_lists_and_non_lists() {
        let t = Template::parse("{{ pick(pool) }}").unwrap();
        let e = t.render(&vars(&[("pool", json!([]))])).unwrap_err();
        assert!(e.0.contains("pick(pool): the list is empty"), "{e}");
        let e = t.render(&vars(&[("pool", json!("abc"))])).unwrap_err();
        assert!(
            e.0.contains("pick(pool) needs a list (capture one with a path such as json:$[*].id), got string"),
            "{e}"
        );
    }

    #[test]
    fn env_without_default_names_the_variable() {
        let t = Template::parse("{{ env('HORNET_SURELY_UNSET_VAR') }}").unwrap();
        let e = t.render(&vars(&[])).unwrap_err();
        assert!(
            e.0.contains("environment variable HORNET_SURELY_UNSET_VAR is not set"),
            "{e}"
        );
        let d = Template::parse("{{ env('HORNET_SURELY_UNSET_VAR', 'fallback') }}").unwrap();
        assert_eq!(d.render(&vars(&[])).unwrap(), "fallback");
    }

    #[test]
    fn undefined_variables_are_errors_naming_them() {
        let t = Template::parse("/tools/{{ tool_id }}").unwrap();
        let e = t.render(&vars(&[])).unwrap_err();
        assert_eq!(
            e.0,
            "undefined variable tool_id in template \"/tools/{{ tool_id }}\""
        );
    }

    #[test]
    fn syntax_errors_say_what_is_wrong() {
        let e = Template::parse("/tools/{{ tool_id ").unwrap_err();
        assert!(e.starts_with("syntax error"), "{e}");
        assert!(Template::parse("{% if x %}").is_err());
    }

    #[test]
    fn json_templates_render_strings_only() {
        let v =
            json!({"name": "tool-{{ n }}", "n": 1, "tags": ["a", "{{ n }}"], "fixed": {"x": true}});
        let j = JsonTemplate::from_value(&v).unwrap();
        assert!(!j.is_static());
        assert_eq!(j.variables(), vec!["n"]);
        let vars = vars(&[("n", json!(7))]);
        let rendered = j.render_value(&vars).unwrap();
        assert_eq!(
            rendered,
            json!({"name": "tool-7", "n": 1, "tags": ["a", "7"], "fixed": {"x": true}})
        );
        let bytes = j.render_bytes(&vars).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, rendered);
    }

    #[test]
    fn static_json_is_serialized_once() {
        let j = JsonTemplate::from_value(&json!({"a": [1, "b"]})).unwrap();
        assert!(j.is_static());
        let one = j.render_bytes(&vars(&[])).unwrap();
        let two = j.render_bytes(&vars(&[])).unwrap();
        assert_eq!(one.as_ptr(), two.as_ptr());
        assert_eq!(&one[..], br#"{"a":[1,"b"]}"#);
    }
}
