//! The validator's typed reads: a string, table, array, bounded number, duration, list of
//! strings, allowed keys, a variable name or a template, each reporting what it expected at the
//! value it read; and the interning of statistics names.

use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::{field, is_identifier, list, split_expected, Use, Validator, TOP_KEYS};
use crate::plan::duration::{format_duration, parse_duration};
use crate::plan::limits;
use crate::plan::model::*;
use crate::plan::parse::{as_f64, as_i64, describe, entries, suggest, Span, Val};
use crate::plan::template::{Template, RESERVED_NAMES};

impl Validator<'_, '_> {
    pub(super) fn err(&mut self, at: usize, expected: impl Into<String>, found: impl Into<String>) {
        let e = self.src.error(at, expected, found);
        self.errors.push(e);
    }

    pub(super) fn wrong(&mut self, v: &Val<'_>, expected: &str) {
        let found = describe(v.get_ref());
        self.err(v.span().start, expected, found);
    }

    pub(super) fn string<'v>(&mut self, v: &'v Val<'_>, expected: &str) -> Option<&'v str> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.wrong(v, expected);
                None
            }
        }
    }

    pub(super) fn table<'v, 'i>(
        &mut self,
        v: &'v Val<'i>,
        expected: &str,
    ) -> Option<&'v DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.wrong(v, expected);
                None
            }
        }
    }

    pub(super) fn array<'v, 'i>(
        &mut self,
        v: &'v Val<'i>,
        expected: &str,
    ) -> Option<&'v [Val<'i>]> {
        match v.get_ref() {
            DeValue::Array(a) => Some(a),
            _ => {
                self.wrong(v, expected);
                None
            }
        }
    }

    /// A whole number in `min..=max`; `what` describes it ("a weight").
    pub(super) fn int(&mut self, v: &Val<'_>, what: &str, min: i64, max: i64) -> Option<i64> {
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
    pub(super) fn u32(&mut self, v: &Val<'_>, what: &str, min: u32, max: u32) -> Option<u32> {
        self.int(v, what, i64::from(min), i64::from(max))
            .and_then(|i| u32::try_from(i).ok())
    }

    /// A number in `min..=max` (a rate: fractions allowed).
    pub(super) fn number(&mut self, v: &Val<'_>, what: &str, min: f64, max: f64) -> Option<f64> {
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
    pub(super) fn at_most(&mut self, v: &Val<'_>, len: usize, max: usize, what: &str) -> bool {
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

    pub(super) fn boolean(&mut self, v: &Val<'_>, what: &str) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong(v, &format!("{what}: true or false"));
                None
            }
        }
    }

    pub(super) fn duration(&mut self, v: &Val<'_>, positive: bool) -> Option<Duration> {
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

    pub(super) fn strings(&mut self, v: &Val<'_>, what: &str) -> Vec<String> {
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

    pub(super) fn string_or_strings(&mut self, v: &Val<'_>, what: &str) -> Vec<String> {
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
    pub(super) fn keys(&mut self, t: &DeTable<'_>, allowed: &[&str], listed: &[&str], what: &str) {
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

    pub(super) fn name_var(&mut self, name: &str, span: &Span, what: &str) -> bool {
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
    pub(super) fn template_at(&mut self, s: &str, span: &Span) -> Option<Template> {
        match Template::parse(s) {
            Ok(t) => {
                let names = t.variables();
                if !names.is_empty() {
                    self.uses.push(Use {
                        scope: self.scope,
                        names,
                        span: span.clone(),
                        value: s.to_string(),
                        requires: false,
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

    pub(super) fn template(&mut self, v: &Val<'_>, expected: &str) -> Option<Template> {
        let s = self.string(v, expected)?;
        self.template_at(s, &v.span())
    }

    pub(super) fn intern(&mut self, kind: &str, name: &str) -> NameId {
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

    pub(super) fn required<'v, 'i>(
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
}
