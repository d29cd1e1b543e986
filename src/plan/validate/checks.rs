//! What a step checks in a response (`check`) and what it captures into variables (`capture`).

use toml::de::DeValue;

use super::{field, Scope, Validator};
use crate::plan::model::*;
use crate::plan::parse::{as_i64, entries, Span, Val};

const CHECK_KEYS: &[&str] = &["status", "body_contains", "json", "header", "max_time"];

impl Validator<'_, '_> {
    pub(super) fn checks(&mut self, v: &Val<'_>) -> Checks {
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
    pub(super) fn json_path(
        &mut self,
        path: &str,
        span: &Span,
    ) -> Option<serde_json_path::JsonPath> {
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

    pub(super) fn captures(&mut self, v: &Val<'_>) -> Vec<Capture> {
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
}

/// Whether a (valid) JSONPath is singular in RFC 9535's sense: child segments with one name or
/// index selector each, so it matches at most one node. Anything else (`*`, `..`, slices,
/// filters, several selectors) can match many. serde_json_path keeps this to itself, so the
/// path text is scanned, skipping quoted names.
pub(super) fn is_singular_path(path: &str) -> bool {
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
