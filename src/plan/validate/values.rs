//! The parts of a request a step gives: byte sizes, paths, name = value tables (headers,
//! query, form) and JSON bodies whose strings may be templates.

use toml::de::DeValue;

use super::{scalar_string, Validator};
use crate::plan::limits;
use crate::plan::parse::{as_f64, as_i64, entries, Val};
use crate::plan::template::{JsonTemplate, Template};

impl Validator<'_, '_> {
    /// A byte size such as "16MiB", from 1 byte to [`limits::MAX_MAX_BODY`].
    pub(super) fn size(&mut self, v: &Val<'_>, what: &str) -> Option<u64> {
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
    /// A path joined to the host, or an absolute URL of one of `schemes` (a WebSocket step's
    /// are ws/wss, every other step's http/https), or a template that renders one at run time.
    pub(super) fn path_string<'v>(
        &mut self,
        v: &'v Val<'_>,
        what: &str,
        schemes: &[&str],
    ) -> Option<&'v str> {
        let urls: Vec<String> = schemes.iter().map(|s| format!("{s}://")).collect();
        let expected = format!(
            "{what}: a path starting with / or an absolute {} URL",
            urls.join(" or ")
        );
        let s = self.string(v, &expected)?;
        let ok = s.starts_with('/')
            || s.starts_with("{{")
            || urls.iter().any(|p| s.starts_with(p.as_str()));
        if ok {
            Some(s)
        } else {
            self.err(v.span().start, expected, format!("{s:?}"));
            None
        }
    }

    pub(super) fn path_template(
        &mut self,
        v: &Val<'_>,
        what: &str,
        schemes: &[&str],
    ) -> Option<Template> {
        let s = self.path_string(v, what, schemes)?;
        self.template_at(s, &v.span())
    }

    /// A table of name = value (headers, query, form). Scalars become strings; `arrays` allows
    /// repeated names (`tag = ["a", "b"]`).
    pub(super) fn pairs(
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
    pub(super) fn json(&mut self, v: &Val<'_>, templates: bool) -> Option<serde_json::Value> {
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

    pub(super) fn json_template(&mut self, v: &Val<'_>) -> Option<JsonTemplate> {
        let value = self.json(v, true)?;
        match JsonTemplate::from_value(&value) {
            Ok(j) => Some(j),
            Err(e) => {
                self.err(v.span().start, "a valid {{ }} template", e);
                None
            }
        }
    }
}
