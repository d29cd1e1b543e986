//! The imported plan as data ([`PlanDoc`]) and its TOML text: comments at the top (where it came
//! from, which environment variables to set), then `name`, `host`, `[vars]`, `[defaults]`, one
//! user class and its tasks, each step an inline table in a fixed key order (method first).
//! Every value is written by the `toml` crate, so quoting and escapes are its; text that came
//! from the input and holds `{{` is wrapped in a raw block, so a plan never runs it as a template.

use std::time::Duration;

use serde_json::Value;

use crate::plan::duration::format_duration;

/// One plan as an importer builds it.
#[derive(Debug, Default)]
pub(crate) struct PlanDoc {
    /// Lines of the comment at the top (without `# `).
    pub(crate) comments: Vec<String>,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) host: String,
    /// `[vars]`: name → template (e.g. `token` → `{{ env('API_TOKEN', '') }}`).
    pub(crate) vars: Vec<Secret>,
    /// `[defaults] headers`: sent with every request.
    pub(crate) default_headers: Vec<(String, String)>,
    pub(crate) class_name: String,
    pub(crate) wait: String,
    pub(crate) tasks: Vec<TaskDoc>,
}

/// A secret read from the environment: `var = "{{ env('ENV', 'default') }}"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Secret {
    pub(crate) var: String,
    pub(crate) env: String,
    /// The default when the variable is unset: empty, or a documented public example.
    pub(crate) default: String,
    /// What to put in it, for the comment ("the bearer token").
    pub(crate) what: String,
}

#[derive(Debug, Default)]
pub(crate) struct TaskDoc {
    pub(crate) name: String,
    pub(crate) weight: Option<u32>,
    /// `-T`/`--exclude-tags` select by these (OpenAPI's operation tags).
    pub(crate) tags: Vec<String>,
    pub(crate) steps: Vec<StepDoc>,
}

#[derive(Debug)]
pub(crate) enum StepDoc {
    Request(RequestDoc),
    /// A JSON-RPC 2.0 call: Hornet numbers it, reads SSE-framed replies and keeps the MCP
    /// session its `initialize` opened (a recorded session id would be stale).
    Rpc(RpcDoc),
    Think(Duration),
}

#[derive(Debug)]
pub(crate) struct RpcDoc {
    pub(crate) method: String,
    pub(crate) params: Option<Value>,
    /// The endpoint's path (a template, literal text escaped).
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
}

/// A POST whose JSON body is one JSON-RPC 2.0 call becomes an `rpc` step; anything else (a
/// batch, params TOML cannot hold) stays a request.
pub(crate) fn as_rpc(request: RequestDoc) -> StepDoc {
    let call = match &request.body {
        Some(BodyDoc::Json(Value::Object(body)))
            if request.method == "post" && body.get("jsonrpc") == Some(&Value::from("2.0")) =>
        {
            body.get("method")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty() && !m.contains("{{"))
                .map(|m| (m.to_string(), body.get("params").cloned()))
        }
        _ => None,
    };
    let Some((method, params)) = call else {
        return StepDoc::Request(request);
    };
    if params
        .as_ref()
        .is_some_and(|p| !(p.is_object() || p.is_array()))
    {
        return StepDoc::Request(request);
    }
    let headers = request
        .headers
        .into_iter()
        .filter(|(n, _)| {
            // The rpc step sets these itself.
            !(n.eq_ignore_ascii_case("content-type") || n.eq_ignore_ascii_case("accept"))
        })
        .collect();
    StepDoc::Rpc(RpcDoc {
        method,
        params,
        path: request.path,
        headers,
    })
}

#[derive(Debug, Default)]
pub(crate) struct RequestDoc {
    /// Lowercase: get, post, put, patch, delete, head.
    pub(crate) method: String,
    /// Path and query as sent (already a template: literal text escaped by the importer).
    pub(crate) path: String,
    /// The stats name, when it differs from the path.
    pub(crate) name: Option<String>,
    /// Headers as templates (values escaped by the importer).
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<BodyDoc>,
    pub(crate) check_status: Vec<u16>,
}

#[derive(Debug)]
pub(crate) enum BodyDoc {
    /// A JSON body; its strings are templates.
    Json(Value),
    /// Form fields (`application/x-www-form-urlencoded`).
    Form(Vec<(String, String)>),
    /// Any other body, as text (a template).
    Text(String),
}

/// `text` as a template that renders to exactly `text`.
pub(crate) fn literal(text: &str) -> String {
    if !(text.contains("{{") || text.contains("{%") || text.contains("{#")) {
        return text.to_string();
    }
    if !text.contains("endraw") {
        return format!("{{% raw %}}{text}{{% endraw %}}");
    }
    // Rare: the raw block cannot hold its own end; print the braces as strings instead.
    text.replace('{', "{{ '{' }}")
}

/// Every string of a JSON value made literal (see [`literal`]).
pub(crate) fn literal_json(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(literal(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(literal_json).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, literal_json(v))).collect())
        }
        other => other,
    }
}

/// Whether a JSON value can be a TOML value (TOML has no null).
pub(crate) fn fits_toml(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(items) => items.iter().all(fits_toml),
        Value::Object(map) => map.values().all(fits_toml),
        _ => true,
    }
}

impl PlanDoc {
    /// The environment variables the plan reads, in order.
    pub(crate) fn env_vars(&self) -> Vec<String> {
        self.vars.iter().map(|s| s.env.clone()).collect()
    }

    /// Adds `secret` unless a variable of that name is there already; returns the var name.
    pub(crate) fn add_secret(&mut self, secret: Secret) -> String {
        let var = secret.var.clone();
        if !self.vars.iter().any(|s| s.var == var) {
            self.vars.push(secret);
        }
        var
    }

    pub(crate) fn to_toml(&self) -> String {
        let mut out = String::new();
        for line in &self.comments {
            push_comment(&mut out, line);
        }
        if !self.vars.is_empty() {
            push_comment(&mut out, "");
            push_comment(
                &mut out,
                "Secrets are read from the environment, never kept here:",
            );
            for s in &self.vars {
                let unset = if s.default.is_empty() {
                    String::new()
                } else {
                    " (unset: the documented example value)".to_string()
                };
                push_comment(&mut out, &format!("  {}: {}{unset}", s.env, s.what));
            }
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("name = {}\n", string(&self.name)));
        if !self.description.is_empty() {
            out.push_str(&format!(
                "description = {}\n",
                string(&literal(&self.description))
            ));
        }
        out.push_str(&format!("host = {}\n", string(&self.host)));
        if !self.vars.is_empty() {
            out.push_str("\n[vars]\n");
            for s in &self.vars {
                let template = format!(
                    "{{{{ env({}, {}) }}}}",
                    jinja_string(&s.env),
                    jinja_string(&s.default)
                );
                out.push_str(&format!("{} = {}\n", key(&s.var), string(&template)));
            }
        }
        if !self.default_headers.is_empty() {
            out.push_str("\n[defaults]\n");
            out.push_str(&format!("headers = {}\n", pairs(&self.default_headers)));
        }
        out.push_str("\n[[users]]\n");
        out.push_str(&format!("name = {}\n", string(&self.class_name)));
        out.push_str(&format!("wait = {}\n", string(&self.wait)));
        for task in &self.tasks {
            out.push_str("\n  [[users.tasks]]\n");
            out.push_str(&format!("  name = {}\n", string(&literal(&task.name))));
            if let Some(w) = task.weight {
                out.push_str(&format!("  weight = {w}\n"));
            }
            if !task.tags.is_empty() {
                let tags: Vec<String> = task.tags.iter().map(|t| string(t)).collect();
                out.push_str(&format!("  tags = [{}]\n", tags.join(", ")));
            }
            out.push_str("  steps = [\n");
            for step in &task.steps {
                out.push_str(&format!("    {},\n", step_table(step)));
            }
            out.push_str("  ]\n");
        }
        out
    }
}

fn push_comment(out: &mut String, line: &str) {
    for part in line.lines().chain(line.is_empty().then_some("")) {
        if part.is_empty() {
            out.push_str("#\n");
        } else {
            out.push_str(&format!("# {part}\n"));
        }
    }
}

fn step_table(step: &StepDoc) -> String {
    match step {
        StepDoc::Think(d) => format!("{{ think = {} }}", string(&format_duration(*d))),
        StepDoc::Rpc(r) => {
            let mut fields = vec![
                format!("rpc = {}", string(&literal(&r.method))),
                format!("path = {}", string(&r.path)),
            ];
            if let Some(params) = &r.params {
                fields.push(format!("params = {}", json_value(params)));
            }
            if !r.headers.is_empty() {
                fields.push(format!("headers = {}", pairs(&r.headers)));
            }
            format!("{{ {} }}", fields.join(", "))
        }
        StepDoc::Request(r) => {
            let mut fields = vec![format!("{} = {}", r.method, string(&r.path))];
            if let Some(name) = &r.name {
                fields.push(format!("name = {}", string(&literal(name))));
            }
            if !r.headers.is_empty() {
                fields.push(format!("headers = {}", pairs(&r.headers)));
            }
            match &r.body {
                None => {}
                Some(BodyDoc::Json(v)) => fields.push(format!("json = {}", json_value(v))),
                Some(BodyDoc::Form(f)) => fields.push(format!("form = {}", pairs(f))),
                Some(BodyDoc::Text(t)) => fields.push(format!("body = {}", string(t))),
            }
            match r.check_status.as_slice() {
                [] => {}
                [one] => fields.push(format!("check.status = {one}")),
                many => fields.push(format!(
                    "check.status = [{}]",
                    many.iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
            format!("{{ {} }}", fields.join(", "))
        }
    }
}

/// A TOML string literal.
fn string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A bare key when TOML allows one, else a quoted one.
fn key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        k.to_string()
    } else {
        string(k)
    }
}

/// `{ A = "x", B = "y" }` in the given order.
fn pairs(items: &[(String, String)]) -> String {
    let fields: Vec<String> = items
        .iter()
        .map(|(k, v)| format!("{} = {}", key(k), string(v)))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

/// A JSON value as an inline TOML value (the caller checked [`fits_toml`]).
fn json_value(v: &Value) -> String {
    match v {
        Value::Null => string(""),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => toml::Value::Float(f).to_string(),
            (None, None) => string(&n.to_string()),
        },
        Value::String(s) => string(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(json_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) if map.is_empty() => "{}".to_string(),
        Value::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(k, v)| format!("{} = {}", key(k), json_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A string literal inside a `{{ }}` expression.
fn jinja_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc() -> PlanDoc {
        PlanDoc {
            comments: vec!["Imported from x.har".into()],
            name: "x".into(),
            host: "http://127.0.0.1:8090".into(),
            class_name: "RecordedUser".into(),
            wait: "constant(1s)".into(),
            tasks: vec![TaskDoc {
                name: "t".into(),
                weight: Some(1),
                tags: vec!["rest".into()],
                steps: vec![
                    StepDoc::Request(RequestDoc {
                        method: "post".into(),
                        path: "/tools".into(),
                        headers: vec![("X-Team".into(), "a b".into())],
                        body: Some(BodyDoc::Json(
                            json!({"name": "n", "n": 1.5, "tags": ["a"], "o": {}}),
                        )),
                        check_status: vec![200, 201],
                        ..RequestDoc::default()
                    }),
                    StepDoc::Think(Duration::from_millis(1500)),
                ],
            }],
            ..PlanDoc::default()
        }
    }

    #[test]
    fn a_plan_doc_is_valid_plan_text() {
        let mut d = doc();
        d.add_secret(Secret {
            var: "token".into(),
            env: "API_TOKEN".into(),
            default: String::new(),
            what: "the bearer token".into(),
        });
        d.default_headers
            .push(("Authorization".into(), "Bearer {{ token }}".into()));
        let text = d.to_toml();
        assert!(text.starts_with("# Imported from x.har\n"), "{text}");
        assert!(text.contains("#   API_TOKEN: the bearer token"), "{text}");
        assert!(
            text.contains("token = \"{{ env('API_TOKEN', '') }}\""),
            "{text}"
        );
        assert!(text.contains(
            "{ post = \"/tools\", headers = { X-Team = \"a b\" }, json = { n = 1.5, name = \"n\", o = {}, tags = [\"a\"] }, check.status = [200, 201] }"
        ), "{text}");
        assert!(text.contains("{ think = \"1.5s\" }"), "{text}");
        let plan = crate::plan::parse_str(&text, "imported.toml", None)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(plan.users[0].tasks[0].steps.len(), 2);
    }

    #[test]
    fn template_markup_from_the_input_stays_literal() {
        assert_eq!(literal("plain"), "plain");
        assert_eq!(literal("a {{ b }}"), "{% raw %}a {{ b }}{% endraw %}");
        let mut d = doc();
        if let Some(StepDoc::Request(r)) = d.tasks[0].steps.first_mut() {
            r.body = Some(BodyDoc::Text(literal("{{ x }} {% endraw %}")));
        }
        let text = d.to_toml();
        assert!(
            crate::plan::parse_str(&text, "i.toml", None).is_ok(),
            "{text}"
        );
        assert!(!fits_toml(&json!({"a": [1, null]})));
        assert!(fits_toml(&json!({"a": [1, "x"]})));
    }
}
