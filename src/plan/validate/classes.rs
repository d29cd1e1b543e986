//! `[[users]]` classes and their tasks: names, weights, fixed counts, wait functions, tags,
//! `on_start`/`on_stop` steps.

use std::collections::HashMap;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::wait::{wait_parts, WAIT_EXPECTED};
use super::{field, is_identifier, Scope, Use, Validator};
use crate::plan::limits;
use crate::plan::model::*;
use crate::plan::parse::{Span, Val};

const CLASS_KEYS: &[&str] = &[
    "name",
    "weight",
    "fixed_count",
    "wait",
    "tags",
    "on_start",
    "on_stop",
    "tasks",
];
const STEPS_TASK_KEYS: &[&str] = &["steps", "weight", "tags", "name", "requires"];
const SINGLE_TASK_KEYS: &[&str] = &["weight", "tags", "name", "requires"];

impl Validator<'_, '_> {
    pub(super) fn classes(&mut self, v: &Val<'_>) -> Vec<UserClass> {
        let expected = "[[users]]: an array of user classes";
        let Some(items) = self.array(v, expected) else {
            return Vec::new();
        };
        if items.is_empty() {
            self.err(
                v.span().start,
                "at least one user class ([[users]] with a name and tasks)",
                "an empty array",
            );
        }
        if !self.at_most(v, items.len(), limits::MAX_CLASSES, "user classes") {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut first_seen: HashMap<String, usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            self.class_captures.push(Vec::new());
            self.class_names.push(String::new());
            let Some(t) = self.table(item, "a user class table") else {
                continue;
            };
            if let Some(class) = self.class(t, &item.span(), i, &mut first_seen) {
                out.push(class);
            }
        }
        out
    }

    pub(super) fn class(
        &mut self,
        t: &DeTable<'_>,
        span: &Span,
        index: usize,
        first_seen: &mut HashMap<String, usize>,
    ) -> Option<UserClass> {
        self.keys(t, CLASS_KEYS, CLASS_KEYS, "keys of a user class");
        let name = match field(t, "name") {
            None => {
                self.err(
                    span.start,
                    "a class name (name = \"...\")",
                    "a class without one",
                );
                None
            }
            Some((_, n)) => {
                let s = self.string(n, "the class name: a string")?;
                if s.is_empty() {
                    self.err(n.span().start, "a class name", "an empty string");
                }
                if let Some(&at) = first_seen.get(s) {
                    let (line, _) = self.src.line_col(at);
                    self.err(
                        n.span().start,
                        "a unique class name",
                        format!("{s:?} again (first on line {line})"),
                    );
                } else {
                    first_seen.insert(s.to_string(), n.span().start);
                }
                Some(s.to_string())
            }
        };
        if let (Some(n), Some(slot)) = (&name, self.class_names.get_mut(index)) {
            *slot = n.clone();
        }
        let weight = match field(t, "weight") {
            None => Some(1),
            Some((_, w)) => self.u32(w, "a class weight", 1, limits::MAX_WEIGHT),
        };
        let fixed_count = self.fixed_count(t);
        let wait = match field(t, "wait") {
            None => Some(Wait::Constant(Duration::ZERO)),
            Some((_, w)) => {
                let s = self.string(w, WAIT_EXPECTED)?;
                match wait_parts(s) {
                    Ok(wait) => Some(wait),
                    Err((e, f)) => {
                        self.err(w.span().start, e, f);
                        None
                    }
                }
            }
        };
        let tags = field(t, "tags")
            .map(|(_, v)| self.strings(v, "tags"))
            .unwrap_or_default();

        self.scope = Scope::Class(index);
        let on_start = field(t, "on_start")
            .map(|(_, v)| self.steps(v, "on_start"))
            .unwrap_or_default();
        let tasks = self.class_tasks(t, span, &tags);
        let on_stop = field(t, "on_stop")
            .map(|(_, v)| self.steps(v, "on_stop"))
            .unwrap_or_default();
        self.scope = Scope::Global;
        Some(UserClass {
            name: name?,
            weight: weight?,
            fixed_count,
            wait: wait?,
            tags,
            on_start,
            on_stop,
            tasks,
        })
    }

    /// `fixed_count`: bounded per class and, summed over the classes so far, in total.
    fn fixed_count(&mut self, t: &DeTable<'_>) -> Option<u32> {
        field(t, "fixed_count")
            .and_then(|(_, f)| {
                self.u32(f, "fixed_count", 0, limits::MAX_USERS)
                    .map(|n| (n, f))
            })
            .and_then(|(n, f)| {
                // The class sequence holds one entry per fixed-count user: bound them together.
                self.fixed_total += u64::from(n);
                if self.fixed_total > u64::from(limits::MAX_USERS) {
                    self.err(
                        f.span().start,
                        format!(
                            "fixed_count users of all classes together at most {}",
                            limits::MAX_USERS
                        ),
                        format!("{} in total with this class", self.fixed_total),
                    );
                    return None;
                }
                Some(n)
            })
    }

    /// The class's `tasks` (the class tags are added to each task's own).
    fn class_tasks(&mut self, t: &DeTable<'_>, span: &Span, tags: &[String]) -> Vec<Task> {
        let mut tasks = Vec::new();
        match field(t, "tasks") {
            None => self.err(
                span.start,
                "at least one task (tasks = [ { get = \"/\" } ] or [[users.tasks]])",
                "a class without tasks",
            ),
            Some((_, tv)) => {
                let expected = "tasks: an array of task tables";
                if let Some(items) = self.array(tv, expected) {
                    if items.is_empty() {
                        self.err(tv.span().start, "at least one task", "an empty array");
                    }
                    let items = if self.at_most(tv, items.len(), limits::MAX_TASKS, "tasks") {
                        items
                    } else {
                        &[]
                    };
                    for (i, item) in items.iter().enumerate() {
                        if let Some(task) = self.task(item, i, tags) {
                            tasks.push(task);
                        }
                    }
                }
            }
        }
        tasks
    }

    pub(super) fn task(
        &mut self,
        v: &Val<'_>,
        index: usize,
        class_tags: &[String],
    ) -> Option<Task> {
        let t = self.table(v, "a task: { get = \"/\" } or { steps = [..] }")?;
        let span = v.span();
        let steps = match field(t, "steps") {
            Some((_, sv)) => {
                self.keys(
                    t,
                    STEPS_TASK_KEYS,
                    STEPS_TASK_KEYS,
                    "keys of a task with steps",
                );
                let steps = self.steps(sv, "steps");
                if matches!(sv.get_ref(), DeValue::Array(a) if a.is_empty()) {
                    self.err(sv.span().start, "at least one step", "an empty array");
                }
                steps
            }
            None => vec![self.step(t, &span, SINGLE_TASK_KEYS)?],
        };
        let weight = match field(t, "weight") {
            None => Some(1),
            Some((_, w)) => self.u32(w, "a task weight", 1, limits::MAX_WEIGHT),
        };
        let mut tags = field(t, "tags")
            .map(|(_, v)| self.strings(v, "tags"))
            .unwrap_or_default();
        for tag in class_tags {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        let requires = field(t, "requires")
            .map(|(_, v)| self.requires(v))
            .unwrap_or_default();
        let given = field(t, "name").and_then(|(_, n)| match n.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => None,
        });
        let name = given
            .or_else(|| match steps.as_slice() {
                [only] => only.name.map(|id| self.names[id.index()].name.clone()),
                _ => None,
            })
            .unwrap_or_else(|| format!("task {}", index + 1));
        if steps.is_empty() {
            return None;
        }
        Some(Task {
            name,
            weight: weight?,
            tags,
            requires,
            steps,
        })
    }

    /// `requires = ["pool", ..]`: variable names, each checked (once the whole plan is read)
    /// to be a var or a capture of the task's class; data sources are refused (their rows are
    /// taken when the task starts, after the check).
    fn requires(&mut self, v: &Val<'_>) -> Vec<String> {
        let expected = "requires: an array of variable names, e.g. [\"tool_ids\"]";
        let Some(items) = self.array(v, expected) else {
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        for item in items {
            let Some(name) = self.string(item, "a variable name (a string)") else {
                continue;
            };
            if !is_identifier(name) {
                self.err(
                    item.span().start,
                    "a variable name (letters, digits and _, not starting with a digit)",
                    format!("{name:?}"),
                );
                continue;
            }
            if out.iter().any(|n| n == name) {
                self.err(
                    item.span().start,
                    "each variable once",
                    format!("{name:?} again"),
                );
                continue;
            }
            self.uses.push(Use {
                scope: self.scope,
                names: vec![name.to_string()],
                span: item.span(),
                value: name.to_string(),
                requires: true,
            });
            out.push(name.to_string());
        }
        out
    }
}
