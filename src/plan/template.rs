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
