//! The variables templates use, checked once the whole plan is read: each name must be
//! defined where the template is (a var, a data source or a capture in scope).

use super::{find_word, list, Scope, Validator};
use crate::plan::parse::suggest;

impl Validator<'_, '_> {
    pub(super) fn check_uses(&mut self) {
        let uses = std::mem::take(&mut self.uses);
        for u in uses {
            let mut known: Vec<&str> = Vec::new();
            match u.scope {
                Scope::Var(i) => known.extend(self.var_names.iter().take(i).map(String::as_str)),
                Scope::Global | Scope::Setup | Scope::Class(_) => {
                    known.extend(self.var_names.iter().map(String::as_str));
                    if !u.requires {
                        known.extend(self.data_names.iter().map(String::as_str));
                    }
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
                let hint = if u.requires && self.data_names.contains(name) {
                    " (a data source: its row is taken when the task starts, after requires \
                     is checked)"
                        .to_string()
                } else {
                    self.unknown_hint(u.scope, name)
                };
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

    pub(super) fn unknown_hint(&self, scope: Scope, name: &str) -> String {
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
