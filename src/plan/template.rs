//! `{{ }}` templates, compiled once at validation (minijinja), rendered per request.
//!
//! A template without `{{`, `{%` or `{#` is static: it is never compiled and renders to a borrow
//! of its source. [`prepare`] folds every template that depends only on the plan's `[vars]` and
//! `env()` into a static one, so per-request rendering is left to templates that use captures,
//! feeder rows, `uuid()`, `randint()` or `now_ms()`.
//!
//! A user's variables are an `Arc` exposed to minijinja as an `Object`: rendering clones the
//! `Arc`, never the variables.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use minijinja::value::{Object, Value as MjValue};
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};

use super::model::{Body, Plan, Step, StepKind, WsMessage};

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
        let dynamic = DYNAMIC_FUNCTIONS.iter().any(|f| names.contains(*f));
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

    pub fn render<'a>(&'a self, vars: &Vars) -> Result<Cow<'a, str>, RenderError> {
        let Some(compiled) = &self.compiled else {
            return Ok(Cow::Borrowed(&self.source));
        };
        let template = compiled
            .env
            .get_template(NAME)
            .map_err(|e| RenderError(error_text(&e)))?;
        match template.render(vars.as_context()) {
            Ok(s) => Ok(Cow::Owned(s)),
            Err(e) => Err(self.render_error(compiled, &e, vars)),
        }
    }

    fn render_error(&self, compiled: &Compiled, e: &minijinja::Error, vars: &Vars) -> RenderError {
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
    fn fold(&mut self, vars: &Vars, names: &HashSet<&str>) -> Result<(), RenderError> {
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

    fn value(&self, vars: &Vars) -> Result<serde_json::Value, RenderError> {
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
    fn write(&self, out: &mut Vec<u8>, vars: &Vars) -> Result<(), RenderError> {
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

    fn fold(&mut self, vars: &Vars, names: &HashSet<&str>) -> Result<(), RenderError> {
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

    pub fn render_value(&self, vars: &Vars) -> Result<serde_json::Value, RenderError> {
        self.node.value(vars)
    }

    /// The serialized JSON; a static value is serialized once and shared.
    pub fn render_bytes(&self, vars: &Vars) -> Result<Bytes, RenderError> {
        if let Some(b) = &self.static_bytes {
            return Ok(b.clone());
        }
        let mut out = Vec::with_capacity(128);
        self.node.write(&mut out, vars)?;
        Ok(Bytes::from(out))
    }

    fn fold(&mut self, vars: &Vars, names: &HashSet<&str>) -> Result<(), RenderError> {
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

/// Values shared by every user of a run: the rendered plan `[vars]`.
#[derive(Debug, Default)]
pub struct SharedVars {
    values: Vec<(String, MjValue)>,
}

impl SharedVars {
    pub fn empty() -> Arc<SharedVars> {
        Arc::new(SharedVars::default())
    }

    /// Shared values from JSON (e.g. values captured by `setup` steps added to the plan vars).
    pub fn from_values(
        values: impl IntoIterator<Item = (String, serde_json::Value)>,
    ) -> Arc<SharedVars> {
        Arc::new(SharedVars {
            values: values
                .into_iter()
                .map(|(k, v)| (k, json_to_mj(&v)))
                .collect(),
        })
    }

    pub fn get(&self, name: &str) -> Option<serde_json::Value> {
        self.lookup(name).and_then(mj_to_json)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(|(k, _)| k.as_str())
    }

    fn lookup(&self, name: &str) -> Option<&MjValue> {
        self.values.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// One data row (column -> text), built once when a feeder is loaded; templates read it as
/// `{{ NAME.column }}`. Cloning is an `Arc` clone.
#[derive(Clone, Debug)]
pub struct Row(MjValue);

impl Row {
    pub fn new<'a>(cells: impl IntoIterator<Item = (&'a str, &'a str)>) -> Row {
        Row(cells.into_iter().collect())
    }

    /// Row `index` of a CSV table, read in place: the cells are not copied, and the row costs
    /// one small allocation when a user takes it.
    pub fn of_table(table: &Arc<super::data::DataTable>, index: usize) -> Row {
        Row(MjValue::from_object(TableRow {
            table: table.clone(),
            index,
        }))
    }

    /// The cell of `column`, if the row has one.
    pub fn get(&self, column: &str) -> Option<String> {
        self.0
            .get_attr(column)
            .ok()
            .filter(|v| !v.is_undefined())
            .map(|v| v.to_string())
    }
}

/// A row of a [`super::data::DataTable`] as templates see it: a map of column → text.
#[derive(Debug)]
struct TableRow {
    table: Arc<super::data::DataTable>,
    index: usize,
}

impl Object for TableRow {
    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        let col = self.table.column_index(key.as_str()?)?;
        Some(MjValue::from(self.table.cell(self.index, col)))
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(
            self.table
                .columns()
                .iter()
                .map(|c| MjValue::from(c.as_str()))
                .collect(),
        )
    }
}

/// Every top-level name the step's templates read (path, headers, query, body, params,
/// messages), sorted and deduplicated.
pub fn step_variables(step: &Step) -> Vec<String> {
    let pairs = |pairs: &[(String, Template)]| -> Vec<String> {
        pairs.iter().flat_map(|(_, t)| t.variables()).collect()
    };
    let mut names: Vec<String> = match &step.kind {
        StepKind::Http(h) => {
            let mut n = h.path.variables();
            n.extend(pairs(&h.headers));
            n.extend(pairs(&h.query));
            match &h.body {
                Some(Body::Json(j)) => n.extend(j.variables()),
                Some(Body::Text(t)) => n.extend(t.variables()),
                Some(Body::Form(f)) => n.extend(pairs(f)),
                None => {}
            }
            n
        }
        StepKind::Rpc(r) => {
            let mut n = r.path.variables();
            n.extend(pairs(&r.headers));
            n.extend(r.params.iter().flat_map(JsonTemplate::variables));
            n
        }
        StepKind::Sse(e) => {
            let mut n = e.path.variables();
            n.extend(pairs(&e.headers));
            n.extend(e.post.iter().flat_map(JsonTemplate::variables));
            n
        }
        StepKind::Ws(w) => {
            let mut n = w.path.variables();
            n.extend(pairs(&w.headers));
            for m in &w.send {
                match m {
                    WsMessage::Text(t) => n.extend(t.variables()),
                    WsMessage::Json(j) => n.extend(j.variables()),
                }
            }
            n
        }
        StepKind::Think(_) => Vec::new(),
    };
    names.sort();
    names.dedup();
    names
}

/// A virtual user's variables: the run's shared values + its own captures and feeder rows
/// (its own win). Cloning is an `Arc` clone; the first `set` on a clone copies its own values.
#[derive(Clone)]
pub struct Vars {
    scope: Arc<Scope>,
}

#[derive(Clone, Debug)]
struct Scope {
    shared: Arc<SharedVars>,
    own: Vec<(String, MjValue)>,
}

impl Object for Scope {
    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        key.as_str().and_then(|k| self.lookup(k).cloned())
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<MjValue> {
        self.lookup(key).cloned()
    }
}

impl Scope {
    fn lookup(&self, name: &str) -> Option<&MjValue> {
        self.own
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .or_else(|| self.shared.lookup(name))
    }
}

impl std::fmt::Debug for Vars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let own: Vec<&str> = self.scope.own.iter().map(|(k, _)| k.as_str()).collect();
        let shared: Vec<&str> = self.scope.shared.names().collect();
        f.debug_struct("Vars")
            .field("own", &own)
            .field("shared", &shared)
            .finish()
    }
}

fn json_to_mj(v: &serde_json::Value) -> MjValue {
    match v {
        serde_json::Value::String(s) => MjValue::from(s.as_str()),
        serde_json::Value::Bool(b) => MjValue::from(*b),
        serde_json::Value::Null => MjValue::from(()),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                MjValue::from(i)
            } else if let Some(u) = n.as_u64() {
                MjValue::from(u)
            } else {
                MjValue::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        other => MjValue::from_serialize(other),
    }
}

fn mj_to_json(v: &MjValue) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

impl Vars {
    pub fn new(shared: Arc<SharedVars>) -> Vars {
        Vars {
            scope: Arc::new(Scope {
                shared,
                own: Vec::new(),
            }),
        }
    }

    /// Sets one of the user's own variables (captures, feeder rows as JSON objects).
    pub fn set(&mut self, name: &str, value: serde_json::Value) {
        self.set_mj(name, json_to_mj(&value));
    }

    /// Sets a feeder row (`{{ NAME.column }}`): an `Arc` clone, no copy of the row.
    pub fn set_row(&mut self, name: &str, row: &Row) {
        self.set_mj(name, row.0.clone());
    }

    /// Sets a string variable without building a JSON value first.
    pub fn set_str(&mut self, name: &str, value: &str) {
        self.set_mj(name, MjValue::from(value));
    }

    fn set_mj(&mut self, name: &str, value: MjValue) {
        let scope = Arc::make_mut(&mut self.scope);
        match scope.own.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => scope.own.push((name.to_string(), value)),
        }
    }

    pub fn get(&self, name: &str) -> Option<serde_json::Value> {
        self.scope.lookup(name).and_then(mj_to_json)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.scope.lookup(name).is_some()
    }

    pub fn shared(&self) -> &Arc<SharedVars> {
        &self.scope.shared
    }

    /// The shared values plus this user's own ones, as the shared values of other users
    /// (how values captured by `setup` reach every user).
    pub fn to_shared(&self) -> Arc<SharedVars> {
        let mut values = self.scope.own.clone();
        for (k, v) in &self.scope.shared.values {
            if !values.iter().any(|(name, _)| name == k) {
                values.push((k.clone(), v.clone()));
            }
        }
        Arc::new(SharedVars { values })
    }

    fn as_context(&self) -> MjValue {
        MjValue::from_dyn_object(self.scope.clone())
    }
}

/// Renders `plan.vars` once, in order (later vars may use earlier ones and `env()`), and returns
/// a copy of the plan in which every template that uses only plan vars and `env()` is folded into
/// a static template (so per-request rendering is free).
pub fn prepare(plan: &Plan) -> Result<(Plan, Arc<SharedVars>), RenderError> {
    let mut vars = Vars::new(SharedVars::empty());
    for (name, template) in &plan.vars {
        let value = template
            .render(&vars)
            .map_err(|e| RenderError(format!("vars.{name}: {e}")))?
            .into_owned();
        vars.set_str(name, &value);
    }
    let shared = vars.to_shared();
    let vars = Vars::new(shared.clone());

    // Captures and feeder rows are per user: a plan var they shadow cannot be folded.
    let mut per_user: HashSet<String> = plan.data.iter().map(|d| d.name.clone()).collect();
    let all_steps = plan.setup.iter().chain(plan.users.iter().flat_map(|c| {
        c.on_start
            .iter()
            .chain(c.on_stop.iter())
            .chain(c.tasks.iter().flat_map(|t| t.steps.iter()))
    }));
    for step in all_steps {
        per_user.extend(step.captures.iter().map(|c| c.var.clone()));
    }
    let names: HashSet<&str> = shared.names().filter(|n| !per_user.contains(*n)).collect();

    let mut out = plan.clone();
    for (_, t) in out.defaults.headers.iter_mut() {
        t.fold(&vars, &names)?;
    }
    let fold_steps = |steps: &mut [Step]| -> Result<(), RenderError> {
        steps
            .iter_mut()
            .try_for_each(|s| fold_step(s, &vars, &names))
    };
    fold_steps(&mut out.setup)?;
    for class in out.users.iter_mut() {
        fold_steps(&mut class.on_start)?;
        fold_steps(&mut class.on_stop)?;
        for task in class.tasks.iter_mut() {
            fold_steps(&mut task.steps)?;
        }
    }
    Ok((out, shared))
}

fn fold_step(step: &mut Step, vars: &Vars, names: &HashSet<&str>) -> Result<(), RenderError> {
    let pairs = |pairs: &mut Vec<(String, Template)>| -> Result<(), RenderError> {
        pairs.iter_mut().try_for_each(|(_, t)| t.fold(vars, names))
    };
    let location = step.location.clone();
    let at = |e: RenderError| RenderError(format!("{location}: {e}"));
    match &mut step.kind {
        StepKind::Http(h) => {
            h.path.fold(vars, names).map_err(at)?;
            pairs(&mut h.headers).map_err(at)?;
            pairs(&mut h.query).map_err(at)?;
            match &mut h.body {
                Some(Body::Json(j)) => j.fold(vars, names).map_err(at)?,
                Some(Body::Text(t)) => t.fold(vars, names).map_err(at)?,
                Some(Body::Form(f)) => pairs(f).map_err(at)?,
                None => {}
            }
        }
        StepKind::Rpc(r) => {
            r.path.fold(vars, names).map_err(at)?;
            pairs(&mut r.headers).map_err(at)?;
            if let Some(p) = &mut r.params {
                p.fold(vars, names).map_err(at)?;
            }
        }
        StepKind::Sse(s) => {
            s.path.fold(vars, names).map_err(at)?;
            pairs(&mut s.headers).map_err(at)?;
            if let Some(p) = &mut s.post {
                p.fold(vars, names).map_err(at)?;
            }
        }
        StepKind::Ws(w) => {
            w.path.fold(vars, names).map_err(at)?;
            pairs(&mut w.headers).map_err(at)?;
            for m in w.send.iter_mut() {
                match m {
                    WsMessage::Text(t) => t.fold(vars, names).map_err(at)?,
                    WsMessage::Json(j) => j.fold(vars, names).map_err(at)?,
                }
            }
        }
        StepKind::Think(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, serde_json::Value)]) -> Vars {
        let mut v = Vars::new(SharedVars::empty());
        for (k, val) in pairs {
            v.set(k, val.clone());
        }
        v
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
    fn rows_read_by_column_and_step_variables_cover_every_part() {
        let row = Row::new([("tz", "UTC"), ("offset", "0")]);
        let mut v = vars(&[]);
        v.set_row("timezones", &row);
        let t = Template::parse("{{ timezones.tz }}{{ timezones.offset }}").unwrap();
        assert_eq!(t.render(&v).unwrap(), "UTC0");
        assert_eq!(row.get("tz").as_deref(), Some("UTC"));
        assert_eq!(row.get("nope"), None);
        let plan = crate::plan::parse_str(
            r#"
[data.d]
values = ["x"]
[[users]]
name = "U"
tasks = [ { post = "/a/{{ a }}", headers = { X = "{{ b }}" }, query = { q = "{{ c }}" }, json = { k = ["{{ d.value }}"] }, capture.a = "status", capture.b = "status", capture.c = "status" } ]
"#,
            "x.toml",
            None,
        )
        .unwrap();
        assert_eq!(
            step_variables(&plan.users[0].tasks[0].steps[0]),
            vec!["a", "b", "c", "d"]
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
    fn own_values_shadow_shared_ones_and_clones_are_independent() {
        let shared = SharedVars::from_values([("a".to_string(), json!("shared"))]);
        let base = Vars::new(shared);
        let mut one = base.clone();
        one.set("a", json!("mine"));
        one.set_str("b", "x");
        assert_eq!(one.get("a"), Some(json!("mine")));
        assert_eq!(base.get("a"), Some(json!("shared")));
        assert_eq!(base.get("b"), None);
        let t = Template::parse("{{ a }}").unwrap();
        assert_eq!(t.render(&one).unwrap(), "mine");
        assert_eq!(t.render(&base).unwrap(), "shared");
        assert_eq!(one.to_shared().get("b"), Some(json!("x")));
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

    #[test]
    fn folding_keeps_per_user_templates() {
        let names: HashSet<&str> = ["token"].into_iter().collect();
        let v = Vars::new(SharedVars::from_values([(
            "token".to_string(),
            json!("t0k"),
        )]));
        let mut a = Template::parse("Bearer {{ token }}").unwrap();
        a.fold(&v, &names).unwrap();
        assert!(a.is_static());
        assert_eq!(a.source(), "Bearer t0k");
        let mut b = Template::parse("{{ token }}-{{ uuid() }}").unwrap();
        b.fold(&v, &names).unwrap();
        assert!(!b.is_static());
        let mut c = Template::parse("/tools/{{ tool_id }}").unwrap();
        c.fold(&v, &names).unwrap();
        assert!(!c.is_static());
        let mut j = JsonTemplate::from_value(&json!({"auth": "{{ token }}"})).unwrap();
        j.fold(&v, &names).unwrap();
        assert!(j.is_static());
        assert_eq!(&j.render_bytes(&v).unwrap()[..], br#"{"auth":"t0k"}"#);
    }
}
