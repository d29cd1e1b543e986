//! Which of a plan's user classes a run uses: `--class NAME[=WEIGHT]`, `--tags`,
//! `--exclude-tags` (and the API's and form's equivalents). Pure: it filters a validated plan.
//! The start request checks a selection once ([`Selection::apply`] on the plan as loaded); the
//! engine applies the same selection to its template-folded copy of the plan.

use super::limits;
use super::model::{Plan, UserClass};

/// Which classes run, with what weight, and which tasks by tag.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    /// Restrict to these classes (empty: all), optionally re-weighted.
    pub classes: Vec<(String, Option<u32>)>,
    /// Keep only tasks with at least one of these tags (empty: all).
    pub tags: Vec<String>,
    /// Drop tasks with any of these tags.
    pub exclude_tags: Vec<String>,
}

impl Selection {
    /// The classes a run uses. Classes left with no task are dropped (Locust does the same);
    /// none left is an error, as is an unknown class or a weight out of bounds.
    pub fn apply(&self, plan: &Plan) -> Result<Vec<UserClass>, String> {
        let mut chosen = self.chosen(plan)?;
        for class in &mut chosen {
            class.tasks.retain(|t| {
                let included =
                    self.tags.is_empty() || t.tags.iter().any(|tag| self.tags.contains(tag));
                let excluded = t.tags.iter().any(|tag| self.exclude_tags.contains(tag));
                included && !excluded
            });
        }
        chosen.retain(|c| !c.tasks.is_empty());
        if chosen.is_empty() {
            return Err(
                "no user class is left to run (check --class, --tags and --exclude-tags)".into(),
            );
        }
        Ok(chosen)
    }

    fn chosen(&self, plan: &Plan) -> Result<Vec<UserClass>, String> {
        if self.classes.is_empty() {
            return Ok(plan.users.clone());
        }
        let mut out = Vec::with_capacity(self.classes.len());
        for (name, weight) in &self.classes {
            let Some(class) = plan.users.iter().find(|c| &c.name == name) else {
                let known: Vec<&str> = plan.users.iter().map(|c| c.name.as_str()).collect();
                return Err(format!(
                    "unknown user class {name:?}; the plan has {}",
                    known.join(", ")
                ));
            };
            let mut class = class.clone();
            if let Some(w) = weight {
                class.weight =
                    limits::check_weight(i64::from(*w)).map_err(|e| format!("{name}: {e}"))?;
            }
            out.push(class);
        }
        Ok(out)
    }
}
