//! A virtual user's variables at run time: the run's shared values (the rendered plan `[vars]`
//! and what `setup` captured), the user's own captures and feeder rows, and the JSON ↔ minijinja
//! conversions they need. Templates read them through [`Variables`]. Nothing here does I/O or
//! knows a protocol or the run actor: protocols read and set these values, each user owns one.
//!
//! A user's variables are an `Arc` exposed to minijinja as an `Object`: rendering clones the
//! `Arc`, never the variables.

use std::sync::Arc;

use minijinja::value::{Object, Value as MjValue};

use crate::plan::data::DataTable;
use crate::plan::fold::{self, PlanVars};
use crate::plan::model::Plan;
use crate::plan::template::{RenderError, Variables};

/// [`fold::prepare`], with the rendered plan vars as the run's shared values.
pub fn prepare(plan: &Plan) -> Result<(Plan, Arc<SharedVars>), RenderError> {
    let (plan, vars) = fold::prepare(plan)?;
    Ok((plan, SharedVars::of_plan(vars)))
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

    /// Whether `name` is here and [`has_value`] (what a task's `requires` asks).
    pub fn has_value(&self, name: &str) -> bool {
        self.lookup(name).is_some_and(has_value)
    }

    /// The plan vars as rendered by [`fold::prepare`].
    fn of_plan(vars: PlanVars) -> Arc<SharedVars> {
        Arc::new(SharedVars {
            values: vars.into_values(),
        })
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
    pub fn of_table(table: &Arc<DataTable>, index: usize) -> Row {
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

/// A row of a [`DataTable`] as templates see it: a map of column → text.
#[derive(Debug)]
struct TableRow {
    table: Arc<DataTable>,
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

/// What a task's `requires` accepts: anything but null (none, undefined) and an empty list.
fn has_value(v: &MjValue) -> bool {
    use minijinja::value::ValueKind;
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => false,
        ValueKind::Seq => v.len().is_some_and(|n| n > 0),
        _ => true,
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

    /// Whether `name` is set to something a task's `requires` accepts: not missing, not null,
    /// not an empty list.
    pub fn has_value(&self, name: &str) -> bool {
        self.scope.lookup(name).is_some_and(has_value)
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
}

impl Variables for Vars {
    fn context(&self) -> MjValue {
        MjValue::from_dyn_object(self.scope.clone())
    }

    fn contains(&self, name: &str) -> bool {
        Vars::contains(self, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::template::Template;
    use serde_json::json;

    #[test]
    fn rows_read_by_column() {
        let row = Row::new([("tz", "UTC"), ("offset", "0")]);
        let mut v = Vars::new(SharedVars::empty());
        v.set_row("timezones", &row);
        let t = Template::parse("{{ timezones.tz }}{{ timezones.offset }}").unwrap();
        assert_eq!(t.render(&v).unwrap(), "UTC0");
        assert_eq!(row.get("tz").as_deref(), Some("UTC"));
        assert_eq!(row.get("nope"), None);
    }

    #[test]
    fn has_value_is_false_for_missing_null_and_empty_lists_only() {
        let shared = SharedVars::from_values([
            ("empty".to_string(), json!([])),
            ("null".to_string(), json!(null)),
            ("ids".to_string(), json!(["a"])),
            ("blank".to_string(), json!("")),
            ("zero".to_string(), json!(0)),
            ("map".to_string(), json!({})),
        ]);
        let mut v = Vars::new(shared.clone());
        for (name, want) in [
            ("missing", false),
            ("empty", false),
            ("null", false),
            ("ids", true),
            ("blank", true),
            ("zero", true),
            ("map", true),
        ] {
            assert_eq!(v.has_value(name), want, "{name}");
            assert_eq!(shared.has_value(name), want, "shared {name}");
        }
        // A user's own capture shadows the shared value, both ways.
        v.set("empty", json!([1, 2]));
        v.set("ids", json!([]));
        assert!(v.has_value("empty"));
        assert!(!v.has_value("ids"));
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
}
