//! OpenAPI 3.0 / 3.1 (JSON or YAML) → one user class with one task per operation, each
//! `weight = 1` so that the mix is easy to edit. A task is named `METHOD /path/{param}` and its
//! request's stats name is the path template; path parameters come from the document's
//! examples or defaults, else a placeholder of the right type; request bodies from the media
//! type's example(s), else built from the schema (`$ref` resolved, recursion bounded). The
//! security scheme becomes an `env()` variable. Each request checks for the 2xx statuses the
//! operation documents.
//!
//! A `serde_json::Value` walk: no OpenAPI model crate (the documents in the wild are too loose
//! for a strict one, and only a few fields matter here).

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::headers::{api_key_secret, basic_secret, bearer_secret, cookie_secret};
use super::paths::origin_of;
use super::plan_writer::{
    fits_toml, literal, literal_json, BodyDoc, PlanDoc, RequestDoc, Secret, StepDoc, TaskDoc,
};
use super::{ImportError, ImportOptions};

/// A built body's uuid-format strings, until [`with_fresh_uuids`] makes them `{{ uuid() }}`
/// (after the document's own text was made literal).
const FRESH_UUID: &str = "\u{1}hornet:uuid()\u{1}";
/// What a uuid is in a text body (no template there).
const FIXED_UUID: &str = "00000000-0000-4000-8000-000000000001";

/// The host of a plan whose document names no absolute server (and no --host was given).
const PLACEHOLDER_HOST: &str = "http://localhost:8080";

/// How deep a built example goes into nested (or recursive) schemas.
const MAX_DEPTH: usize = 6;
const METHODS: &[&str] = &["get", "post", "put", "patch", "delete", "head"];

pub(crate) fn import(input: &str, opts: &ImportOptions) -> Result<PlanDoc, ImportError> {
    let doc = parse(input)?;
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or("");
    if !version.starts_with("3.") {
        let found = match doc.get("swagger").and_then(Value::as_str) {
            Some(v) => format!("Swagger {v}; convert it to OpenAPI 3 first"),
            None if version.is_empty() => "no `openapi` field".to_string(),
            None => format!("openapi {version:?}"),
        };
        return Err(ImportError::content(format!(
            "expected an OpenAPI 3.0 or 3.1 document, found {found}"
        )));
    }
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return Err(ImportError::content("the OpenAPI document has no `paths`"));
    };
    let spec = Spec { root: &doc };
    let (host, base_path) = server(&doc, opts)?;
    let title = doc
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("API");
    let mut plan = PlanDoc {
        name: title.to_string(),
        description: format!("Every operation of {title} (OpenAPI {version}), one task each"),
        host: host.clone(),
        class_name: "ApiUser".into(),
        wait: "constant(1s)".into(),
        ..PlanDoc::default()
    };
    plan.comments.push(format!(
        "Imported by `hornet import openapi` from {}: one task per operation, weight 1 each",
        opts.source
    ));
    plan.comments.push(
        "(edit the weights for a realistic mix). Path parameters and bodies come from the".into(),
    );
    plan.comments.push(
        "document's examples, else placeholders: look them over before a real run. Tasks carry"
            .into(),
    );
    plan.comments
        .push("the operations' tags: `hornet run -T TAG` runs one part of the API.".into());
    if host == PLACEHOLDER_HOST && opts.host.is_none() {
        plan.comments.push(format!(
            "The document names no absolute server URL: the host is a placeholder ({PLACEHOLDER_HOST}); \
             give --host or run with -H."
        ));
    }
    let auth = security(&doc, &spec, &mut plan);
    let mut skipped = Vec::new();
    for (path, item) in paths {
        let item = spec.resolve(item);
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let op = spec.resolve(op);
            if streams(op, &spec) {
                skipped.push(format!("{} {path}", method.to_ascii_uppercase()));
                continue;
            }
            let request = operation(&spec, &base_path, path, method, item, op, &auth)?;
            let tags = op
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            plan.tasks.push(TaskDoc {
                name: format!("{} {base_path}{path}", method.to_ascii_uppercase()),
                weight: Some(1),
                tags,
                steps: vec![StepDoc::Request(request)],
            });
        }
    }
    if !skipped.is_empty() {
        plan.comments.push(format!(
            "Left out (event streams; use an sse step): {}.",
            skipped.join(", ")
        ));
    }
    if plan.tasks.is_empty() {
        return Err(ImportError::content(
            "the OpenAPI document has no operation (get, post, put, patch, delete, head) to import",
        ));
    }
    Ok(plan)
}

fn parse(input: &str) -> Result<Value, ImportError> {
    let trimmed = input.trim_start();
    let doc: Value = if trimmed.starts_with('{') {
        serde_json::from_str(trimmed).map_err(|e| {
            ImportError::content(format!(
                "not valid JSON: {e} at line {}, column {}",
                e.line(),
                e.column()
            ))
        })?
    } else {
        serde_saphyr::from_str(input)
            .map_err(|e| ImportError::content(format!("not valid YAML or JSON: {e}")))?
    };
    if !doc.is_object() {
        return Err(ImportError::content(
            "expected an OpenAPI document (an object with openapi, info, paths)",
        ));
    }
    Ok(doc)
}

/// `$ref`s inside the one document (`#/components/...`).
struct Spec<'d> {
    root: &'d Value,
}

impl<'d> Spec<'d> {
    /// The value a `$ref` points at (chains followed, at most a few hops); the value itself
    /// when it is no reference or the reference leads nowhere.
    fn resolve(&self, mut v: &'d Value) -> &'d Value {
        for _ in 0..8 {
            match self.target(v) {
                Some(next) => v = next,
                None => break,
            }
        }
        v
    }

    fn target(&self, v: &Value) -> Option<&'d Value> {
        let r = v.get("$ref")?.as_str()?;
        let pointer = r.strip_prefix('#')?;
        let pointer = pointer.replace("~1", "/").replace("~0", "~");
        self.root.pointer(&pointer)
    }
}

/// The plan's host and the path every operation is under (`servers[0].url`, its variables
/// filled with their defaults; a relative one joins the URL the document came from).
fn server(doc: &Value, opts: &ImportOptions) -> Result<(String, String), ImportError> {
    let mut url = doc
        .pointer("/servers/0/url")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(vars) = doc
        .pointer("/servers/0/variables")
        .and_then(Value::as_object)
    {
        for (name, var) in vars {
            let default = var.get("default").and_then(Value::as_str).unwrap_or("");
            url = url.replace(&format!("{{{name}}}"), default);
        }
    }
    let absolute = url::Url::parse(&url).ok().or_else(|| {
        let base = url::Url::parse(opts.base_url.as_deref()?).ok()?;
        base.join(if url.is_empty() { "/" } else { &url }).ok()
    });
    match absolute {
        Some(u) if matches!(u.scheme(), "http" | "https") => {
            Ok((origin_of(&u), u.path().trim_end_matches('/').to_string()))
        }
        _ if opts.host.is_some() => Ok((String::new(), url.trim_end_matches('/').to_string())),
        _ => {
            // A file without an absolute server: a placeholder host the user overrides.
            Ok((
                PLACEHOLDER_HOST.to_string(),
                url.trim_end_matches('/').to_string(),
            ))
        }
    }
}

/// How operations authenticate: headers for `[defaults]`-like use per request and query
/// pairs, from the document's global security (else the first operation's).
#[derive(Default)]
struct Auth {
    headers: Vec<(String, String)>,
    query: Vec<(String, String)>,
}

fn security(doc: &Value, spec: &Spec<'_>, plan: &mut PlanDoc) -> Auth {
    let requirement = doc
        .get("security")
        .and_then(Value::as_array)
        .and_then(|alts| {
            alts.iter()
                .find(|a| a.as_object().is_some_and(|o| !o.is_empty()))
        })
        .or_else(|| first_operation_security(doc));
    let mut auth = Auth::default();
    let Some(requirement) = requirement.and_then(Value::as_object) else {
        return auth;
    };
    for name in requirement.keys() {
        let Some(scheme) = doc
            .pointer(&format!(
                "/components/securitySchemes/{}",
                name.replace('~', "~0").replace('/', "~1")
            ))
            .map(|s| spec.resolve(s))
        else {
            continue;
        };
        // A documented public example credential (a demo's token) is the env() default.
        let example = scheme
            .get("x-example")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let kind = scheme.get("type").and_then(Value::as_str).unwrap_or("");
        let http_scheme = scheme
            .get("scheme")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase();
        match (kind, http_scheme.as_str()) {
            ("http", "basic") => {
                let var = plan.add_secret(Secret {
                    default: example,
                    ..basic_secret()
                });
                auth.headers
                    .push(("Authorization".into(), format!("Basic {{{{ {var} }}}}")));
            }
            ("http", _) | ("oauth2", _) | ("openIdConnect", _) => {
                let var = plan.add_secret(bearer_secret(example));
                auth.headers
                    .push(("Authorization".into(), format!("Bearer {{{{ {var} }}}}")));
            }
            ("apiKey", _) => {
                let key_name = scheme
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("X-API-Key");
                let location = scheme.get("in").and_then(Value::as_str).unwrap_or("header");
                if location == "cookie" {
                    let var = plan.add_secret(Secret {
                        default: example,
                        ..cookie_secret()
                    });
                    auth.headers
                        .push(("Cookie".into(), format!("{key_name}={{{{ {var} }}}}")));
                    continue;
                }
                let var = plan.add_secret(Secret {
                    default: example,
                    ..api_key_secret(key_name)
                });
                let value = format!("{{{{ {var} }}}}");
                if location == "query" {
                    auth.query.push((key_name.to_string(), value));
                } else {
                    auth.headers.push((key_name.to_string(), value));
                }
            }
            _ => {}
        }
    }
    if !auth.headers.is_empty() {
        plan.default_headers = auth.headers.clone();
    }
    auth
}

fn first_operation_security(doc: &Value) -> Option<&Value> {
    doc.get("paths")?.as_object()?.values().find_map(|item| {
        METHODS.iter().find_map(|m| {
            item.get(*m)?
                .get("security")?
                .as_array()?
                .iter()
                .find(|a| a.as_object().is_some_and(|o| !o.is_empty()))
        })
    })
}

/// An operation whose 2xx answer is an event stream would hold a request open until timeout.
fn streams(op: &Value, spec: &Spec<'_>) -> bool {
    op.get("responses")
        .and_then(Value::as_object)
        .is_some_and(|responses| {
            responses.iter().any(|(code, r)| {
                code.starts_with('2')
                    && spec
                        .resolve(r)
                        .get("content")
                        .and_then(Value::as_object)
                        .is_some_and(|c| {
                            !c.is_empty() && c.keys().all(|k| k.starts_with("text/event-stream"))
                        })
            })
        })
}

fn operation(
    spec: &Spec<'_>,
    base_path: &str,
    path: &str,
    method: &str,
    item: &Value,
    op: &Value,
    auth: &Auth,
) -> Result<RequestDoc, ImportError> {
    let params = parameters(spec, item, op);
    let mut concrete = format!("{base_path}{path}");
    let mut query: Vec<(String, String)> = Vec::new();
    let mut headers: Vec<(String, String)> = Vec::new();
    for p in &params {
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        let location = p.get("in").and_then(Value::as_str).unwrap_or("");
        let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
        match location {
            "path" => {
                let value = text_of(&param_value(spec, p, name));
                let encoded: String =
                    url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
                concrete = concrete.replace(&format!("{{{name}}}"), &encoded.replace('+', "%20"));
            }
            "query" if required || has_example(p) => {
                query.push((name.to_string(), text_of(&param_value(spec, p, name))));
            }
            "header" if required => {
                headers.push((
                    name.to_string(),
                    literal(&text_of(&param_value(spec, p, name))),
                ));
            }
            _ => {}
        }
    }
    query.extend(auth.query.iter().cloned());
    let mut path_and_query = literal(&concrete);
    if !query.is_empty() {
        let pairs: Vec<String> = query
            .iter()
            .map(|(k, v)| {
                let key: String = url::form_urlencoded::byte_serialize(k.as_bytes()).collect();
                // A template (the API key) stays as written; a literal value is encoded.
                if v.contains("{{") {
                    format!("{key}={v}")
                } else {
                    let value: String =
                        url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
                    format!("{key}={}", literal(&value))
                }
            })
            .collect();
        path_and_query = format!("{path_and_query}?{}", pairs.join("&"));
    }
    let body = request_body(spec, op, &mut headers);
    let template = format!("{base_path}{path}");
    Ok(RequestDoc {
        method: method.to_string(),
        name: (template != path_and_query).then_some(template),
        path: path_and_query,
        headers,
        body,
        check_status: documented_2xx(op),
    })
}

/// Path-item parameters overridden by the operation's (same name and location).
fn parameters<'d>(spec: &Spec<'d>, item: &'d Value, op: &'d Value) -> Vec<&'d Value> {
    let list = |v: &'d Value| -> Vec<&'d Value> {
        v.get("parameters")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|p| spec.resolve(p)).collect())
            .unwrap_or_default()
    };
    let own = list(op);
    let key = |p: &Value| {
        (
            p.get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            p.get("in")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        )
    };
    let overridden: HashSet<(String, String)> = own.iter().map(|p| key(p)).collect();
    let mut all: Vec<&Value> = list(item)
        .into_iter()
        .filter(|p| !overridden.contains(&key(p)))
        .collect();
    all.extend(own);
    all
}

fn has_example(p: &Value) -> bool {
    p.get("example").is_some()
        || p.get("examples").is_some()
        || p.pointer("/schema/example").is_some()
        || p.pointer("/schema/default").is_some()
}

/// A parameter's value: its example(s), its schema's example or default, else a placeholder.
fn param_value(spec: &Spec<'_>, p: &Value, name: &str) -> Value {
    if let Some(v) = p.get("example") {
        return v.clone();
    }
    if let Some(v) = first_example(spec, p.get("examples")) {
        return v;
    }
    let schema = p
        .get("schema")
        .map(|s| spec.resolve(s))
        .unwrap_or(&Value::Null);
    let mut seen = HashSet::new();
    match example(spec, schema, 0, &mut seen, false) {
        // A string id without an example: "1" reads better than "string".
        Value::String(s) if s == "string" && name.to_ascii_lowercase().contains("id") => json!("1"),
        v => v,
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The first of `examples` (a map of Example objects, or a list in 3.1 schemas).
fn first_example(spec: &Spec<'_>, examples: Option<&Value>) -> Option<Value> {
    match examples? {
        Value::Object(map) => map
            .values()
            .next()
            .map(|e| spec.resolve(e))
            .and_then(|e| e.get("value").cloned()),
        Value::Array(items) => items.first().cloned(),
        _ => None,
    }
}

/// The request body of the operation's preferred media type: JSON, then a form, then text.
fn request_body(
    spec: &Spec<'_>,
    op: &Value,
    headers: &mut Vec<(String, String)>,
) -> Option<BodyDoc> {
    let body = spec.resolve(op.get("requestBody")?);
    let content = body.get("content").and_then(Value::as_object)?;
    let pick =
        |pred: &dyn Fn(&str) -> bool| content.iter().find(|(k, _)| pred(&k.to_ascii_lowercase()));
    let chosen = pick(&|k| k.starts_with("application/json"))
        .or_else(|| pick(&|k| k.contains("+json")))
        .or_else(|| pick(&|k| k.starts_with("application/x-www-form-urlencoded")))
        .or_else(|| pick(&|k| k.starts_with("text/")))
        .or_else(|| content.iter().next());
    let (media_type, media) = chosen?;
    let value = media
        .get("example")
        .cloned()
        .or_else(|| first_example(spec, media.get("examples")))
        .unwrap_or_else(|| {
            let schema = media
                .get("schema")
                .map(|s| spec.resolve(s))
                .unwrap_or(&Value::Null);
            example(spec, schema, 0, &mut HashSet::new(), true)
        });
    let mt = media_type.to_ascii_lowercase();
    if mt.contains("json") {
        if fits_toml(&value) {
            return Some(BodyDoc::Json(with_fresh_uuids(literal_json(value))));
        }
        headers.push(("Content-Type".into(), media_type.clone()));
        let text = value.to_string().replace(FRESH_UUID, FIXED_UUID);
        return Some(BodyDoc::Text(literal(&text)));
    }
    if mt.starts_with("application/x-www-form-urlencoded") {
        let fields = value
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| match text_of(v) {
                        t if t == FRESH_UUID => (k.clone(), "{{ uuid() }}".to_string()),
                        t => (k.clone(), literal(&t)),
                    })
                    .collect()
            })
            .unwrap_or_default();
        return Some(BodyDoc::Form(fields));
    }
    headers.push(("Content-Type".into(), media_type.clone()));
    let text = text_of(&value).replace(FRESH_UUID, FIXED_UUID);
    Some(BodyDoc::Text(literal(&text)))
}

/// A built body's uuid placeholders as `{{ uuid() }}` templates: a fresh id per request.
fn with_fresh_uuids(v: Value) -> Value {
    match v {
        Value::String(s) if s == FRESH_UUID => Value::String("{{ uuid() }}".into()),
        Value::Array(items) => Value::Array(items.into_iter().map(with_fresh_uuids).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, with_fresh_uuids(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The 2xx statuses the operation documents (`2XX`: the usual four); none: no check.
fn documented_2xx(op: &Value) -> Vec<u16> {
    let mut out: Vec<u16> = Vec::new();
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        for code in responses.keys() {
            if code.eq_ignore_ascii_case("2XX") {
                out.extend([200, 201, 202, 204]);
            } else if let Ok(n) = code.parse::<u16>() {
                if (200..300).contains(&n) {
                    out.push(n);
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// An example value for `schema`: its example, default, const or first enum value, else one
/// built from its type. `seen` holds the `$ref`s being expanded (a recursive schema stops);
/// `in_body`: unique formats (uuid) render fresh per request.
fn example(
    spec: &Spec<'_>,
    schema: &Value,
    depth: usize,
    seen: &mut HashSet<String>,
    in_body: bool,
) -> Value {
    let reference = schema
        .get("$ref")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(r) = &reference {
        if !seen.insert(r.clone()) || depth > MAX_DEPTH {
            return Value::Null;
        }
        let v = example(spec, spec.resolve(schema), depth + 1, seen, in_body);
        seen.remove(r);
        return v;
    }
    for key in ["example", "default", "const"] {
        if let Some(v) = schema.get(key) {
            return v.clone();
        }
    }
    if let Some(v) = schema
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return v.clone();
    }
    if let Some(v) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return v.clone();
    }
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        let mut last = Value::Null;
        for part in all {
            match example(spec, part, depth + 1, seen, in_body) {
                Value::Object(o) => merged.extend(o),
                other => last = other,
            }
        }
        return if merged.is_empty() {
            last
        } else {
            Value::Object(merged)
        };
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(first) = schema.get(key).and_then(Value::as_array).and_then(|alts| {
            alts.iter()
                .find(|a| a.get("type").and_then(Value::as_str) != Some("null"))
        }) {
            return example(spec, first, depth + 1, seen, in_body);
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        // 3.1: ["string", "null"].
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_string(),
        _ if schema.get("properties").is_some() => "object".into(),
        _ if schema.get("items").is_some() => "array".into(),
        _ => String::new(),
    };
    match kind.as_str() {
        "object" => object_example(spec, schema, depth, seen, in_body),
        "array" => {
            let item = schema.get("items").unwrap_or(&Value::Null);
            let min = schema
                .get("minItems")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 3);
            match example(spec, item, depth + 1, seen, in_body) {
                Value::Null => json!([]),
                v => Value::Array(vec![v; min as usize]),
            }
        }
        "integer" => json!(number_in_range(schema).round() as i64),
        "number" => json!(number_in_range(schema)),
        "boolean" => json!(true),
        "string" => Value::String(string_example(schema, in_body)),
        _ => Value::Null,
    }
}

fn object_example(
    spec: &Spec<'_>,
    schema: &Value,
    depth: usize,
    seen: &mut HashSet<String>,
    in_body: bool,
) -> Value {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return json!({});
    };
    let required: HashSet<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Map::new();
    for (name, prop) in props {
        let resolved = spec.resolve(prop);
        if resolved.get("readOnly").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let documented = resolved.get("example").is_some() || resolved.get("default").is_some();
        // Required fields, those with an example; all of them when none is required.
        if !(required.is_empty() || required.contains(name.as_str()) || documented) {
            continue;
        }
        match example(spec, prop, depth + 1, seen, in_body) {
            Value::Null => {}
            v => {
                out.insert(name.clone(), v);
            }
        }
    }
    Value::Object(out)
}

fn number_in_range(schema: &Value) -> f64 {
    let min = schema
        .get("minimum")
        .or_else(|| schema.get("exclusiveMinimum"))
        .and_then(Value::as_f64);
    let max = schema
        .get("maximum")
        .or_else(|| schema.get("exclusiveMaximum"))
        .and_then(Value::as_f64);
    match (min, max) {
        (Some(lo), _) if lo > 0.0 || max.is_some_and(|hi| hi < 1.0) => {
            if schema.get("exclusiveMinimum").is_some() {
                lo + 1.0
            } else {
                lo
            }
        }
        (None, Some(hi)) if hi < 1.0 => hi,
        _ => 1.0,
    }
}

fn string_example(schema: &Value, in_body: bool) -> String {
    let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
    let s = match format {
        "date-time" => "2024-01-01T00:00:00Z",
        "date" => "2024-01-01",
        "time" => "12:00:00",
        "email" => "user@example.com",
        "uri" | "url" | "iri" => "https://example.com",
        "hostname" => "example.com",
        "ipv4" => "127.0.0.1",
        "ipv6" => "::1",
        "byte" => "aGVsbG8=",
        "password" => "password",
        "uuid" if in_body => FRESH_UUID,
        "uuid" => FIXED_UUID,
        _ => "string",
    };
    let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    if s.len() < min && format.is_empty() {
        return "x".repeat(min.min(64));
    }
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{import as import_any, ImportKind};

    const PETS: &str = r##"
openapi: 3.0.3
info: {title: Pets, version: "1"}
servers: [{url: "https://pets.example.com/v1"}]
security: [{bearerAuth: []}]
components:
  securitySchemes:
    bearerAuth: {type: http, scheme: bearer}
  schemas:
    Pet:
      type: object
      required: [name, kind]
      properties:
        id: {type: string, format: uuid, readOnly: true}
        name: {type: string}
        kind: {type: string, enum: [dog, cat]}
        age: {type: integer, minimum: 1}
        owner: {$ref: "#/components/schemas/Person"}
        tags: {type: array, items: {type: string}}
    Person:
      type: object
      required: [name, friend]
      properties:
        name: {type: string, example: Ada}
        friend: {$ref: "#/components/schemas/Person"}
paths:
  /pets:
    get:
      parameters:
        - {name: limit, in: query, schema: {type: integer, default: 20}}
        - {name: cursor, in: query, schema: {type: string}}
      responses: {"200": {description: ok}}
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Pet"}
      responses: {"201": {description: created}, "409": {description: taken}}
  /pets/{petId}:
    parameters:
      - {name: petId, in: path, required: true, schema: {type: integer}, example: 7}
    get:
      responses: {"200": {description: ok}, "404": {description: missing}}
    delete:
      responses: {"204": {description: gone}}
  /pets/{petId}/events:
    get:
      parameters: [{name: petId, in: path, required: true, schema: {type: string}}]
      responses: {"200": {content: {text/event-stream: {}}}}
"##;

    fn opts() -> ImportOptions {
        ImportOptions {
            source: "pets.yaml".into(),
            ..ImportOptions::default()
        }
    }

    #[test]
    fn one_task_per_operation_with_templates_and_checks() {
        let out = import_any(ImportKind::OpenApi, PETS, &opts()).unwrap();
        let text = out.text.as_str();
        assert!(
            text.contains("host = \"https://pets.example.com\""),
            "{text}"
        );
        assert_eq!(out.env_vars, ["API_TOKEN"]);
        assert!(
            text.contains("token = \"{{ env('API_TOKEN', '') }}\""),
            "{text}"
        );
        assert!(
            text.contains("headers = { Authorization = \"Bearer {{ token }}\" }"),
            "{text}"
        );
        assert!(text.contains("name = \"GET /v1/pets\""), "{text}");
        assert!(
            text.contains(
                "{ get = \"/v1/pets?limit=20\", name = \"/v1/pets\", check.status = 200 }"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "{ get = \"/v1/pets/7\", name = \"/v1/pets/{petId}\", check.status = 200 }"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "{ delete = \"/v1/pets/7\", name = \"/v1/pets/{petId}\", check.status = 204 }"
            ),
            "{text}"
        );
        assert!(
            text.contains("Left out (event streams; use an sse step): GET /pets/{petId}/events."),
            "{text}"
        );
        assert_eq!(text.matches("weight = 1").count(), 4, "{text}");
        let plan = crate::plan::parse_str(text, "pets.toml", None)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(plan.users[0].tasks.len(), 4);
    }

    #[test]
    fn bodies_are_built_from_the_schema_with_refs_and_bounded_recursion() {
        let doc = parse(PETS).unwrap();
        let spec = Spec { root: &doc };
        let schema = json!({"$ref": "#/components/schemas/Pet"});
        let v = example(&spec, &schema, 0, &mut HashSet::new(), true);
        assert_eq!(v["name"], "string");
        assert_eq!(v["kind"], "dog");
        assert!(v.get("id").is_none(), "readOnly left out: {v}");
        assert!(v.get("age").is_none(), "optional left out: {v}");
        let person = example(
            &spec,
            &json!({"$ref": "#/components/schemas/Person"}),
            0,
            &mut HashSet::new(),
            true,
        );
        assert_eq!(person["name"], "Ada");
        assert!(person.get("friend").is_none(), "recursion stops: {person}");
        let formats = example(
            &spec,
            &json!({"type": "object", "properties": {
                "at": {"type": "string", "format": "date-time"},
                "id": {"type": "string", "format": "uuid"},
                "n": {"type": "integer", "minimum": 5},
                "x": {"type": ["number", "null"]},
                "ok": {"type": "boolean"},
                "list": {"type": "array", "items": {"type": "integer"}, "minItems": 2},
                "pick": {"oneOf": [{"type": "null"}, {"type": "string", "enum": ["a"]}]},
            }}),
            0,
            &mut HashSet::new(),
            true,
        );
        assert_eq!(
            formats,
            json!({"at": "2024-01-01T00:00:00Z", "id": FRESH_UUID, "n": 5, "x": 1.0,
                   "ok": true, "list": [1, 1], "pick": "a"})
        );
    }

    #[test]
    fn json_documents_3_1_with_api_keys_and_examples() {
        let doc = json!({
            "openapi": "3.1.0",
            "info": {"title": "Keys", "version": "1"},
            "components": {"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-API-Key", "x-example": "public-demo"}}},
            "security": [{"key": []}],
            "paths": {"/items": {"post": {
                "requestBody": {"content": {"application/json": {"examples": {"one": {"value": {"name": "from example"}}}}}},
                "responses": {"2XX": {"description": "ok"}}
            }}}
        });
        let opts = ImportOptions {
            base_url: Some("http://127.0.0.1:9/openapi.json".into()),
            ..opts()
        };
        let out = import_any(ImportKind::OpenApi, &doc.to_string(), &opts).unwrap();
        let text = out.text.as_str();
        assert!(text.contains("host = \"http://127.0.0.1:9\""), "{text}");
        assert!(
            text.contains("api_key = \"{{ env('API_KEY', 'public-demo') }}\""),
            "{text}"
        );
        assert!(
            text.contains("headers = { X-API-Key = \"{{ api_key }}\" }"),
            "{text}"
        );
        assert!(
            text.contains(
                "json = { name = \"from example\" }, check.status = [200, 201, 202, 204]"
            ),
            "{text}"
        );
        assert!(
            crate::plan::parse_str(text, "k.toml", None).is_ok(),
            "{text}"
        );
    }

    #[test]
    fn document_text_stays_literal_and_uuids_render_fresh() {
        let doc = json!({
            "openapi": "3.0.0", "info": {"title": "T", "version": "1"},
            "servers": [{"url": "http://h:1"}],
            "paths": {"/things/{name}": {"post": {
                "parameters": [{"name": "name", "in": "path", "required": true, "example": "{{ x }}"}],
                "requestBody": {"content": {"application/json": {"schema": {"type": "object",
                    "required": ["id", "note"],
                    "properties": {"id": {"type": "string", "format": "uuid"},
                                   "note": {"type": "string", "example": "{{ not a template }}"}}}}}},
                "responses": {"201": {"description": "ok"}}}}}
        });
        let out = import_any(ImportKind::OpenApi, &doc.to_string(), &opts()).unwrap();
        let text = out.text.as_str();
        assert!(text.contains("json = { id = \"{{ uuid() }}\", note = \"{% raw %}{{ not a template }}{% endraw %}\" }"), "{text}");
        assert!(
            text.contains("post = \"{% raw %}/things/%7B%7B%20x%20%7D%7D{% endraw %}\"")
                || text.contains("post = \"/things/%7B%7B%20x%20%7D%7D\""),
            "{text}"
        );
        crate::plan::parse_str(text, "t.toml", None).unwrap_or_else(|e| panic!("{e}\n{text}"));
    }

    #[test]
    fn yaml_with_unquoted_status_codes_reads() {
        let yaml = "openapi: 3.0.0\ninfo: {title: T, version: '1'}\nservers: [{url: 'http://h:1'}]\npaths:\n  /x:\n    get:\n      responses:\n        200: {description: ok}\n        404: {description: no}\n";
        let doc = import(yaml, &opts()).unwrap();
        match &doc.tasks[0].steps[0] {
            StepDoc::Request(r) => assert_eq!(r.check_status, [200]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_documents_are_refused_naming_what_was_found() {
        let err = import("swagger: '2.0'\npaths: {}\n", &opts()).unwrap_err();
        assert!(err.message.contains("Swagger 2.0"), "{}", err.message);
        let err = import("{\"openapi\": \"3.0.0\", \"paths\": {}}", &opts()).unwrap_err();
        assert!(err.message.contains("no operation"), "{}", err.message);
        let relative = "{\"openapi\": \"3.1.0\", \"servers\": [{\"url\": \"/api\"}], \"paths\": {\"/x\": {\"get\": {}}}}";
        let doc = import(relative, &opts()).unwrap();
        assert_eq!(doc.host, PLACEHOLDER_HOST);
        assert!(
            doc.comments.iter().any(|c| c.contains("placeholder")),
            "{:?}",
            doc.comments
        );
        let err = import("{ not json", &opts()).unwrap_err();
        assert_eq!(err.field, "content");
    }
}
