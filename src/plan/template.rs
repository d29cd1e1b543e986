//! `{{ }}` templates, compiled once at validation, rendered per request.

#[derive(Clone, Debug)]
pub struct Template {
    source: String,
}

#[derive(Clone, Debug)]
pub struct JsonTemplate {
    value: serde_json::Value,
}
