//! `[data.NAME]` sources: a CSV file (checked to exist, read when asked), inline `rows` or
//! `values`, and their `order`.

use std::path::Path;

use super::{field, scalar_string, Validator};
use crate::plan::model::*;
use crate::plan::parse::{entries, Span, Val};
use crate::plan::{data, limits};

const DATA_KEYS: &[&str] = &["csv", "rows", "values", "order"];

impl Validator<'_, '_> {
    pub(super) fn data(&mut self, v: &Val<'_>) -> Vec<DataSource> {
        let Some(t) = self.table(v, "[data.NAME] tables") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, span, value) in entries(t) {
            if self.name_var(name, &span, "a data source name")
                && self.var_names.iter().any(|n| n == name)
            {
                self.err(
                    span.start,
                    "a data source name not used by [vars]",
                    format!("{name:?}, also a variable"),
                );
            }
            self.data_names.push(name.to_string());
            if let Some(source) = self.data_source(name, value) {
                out.push(source);
            }
        }
        out
    }

    pub(super) fn data_source(&mut self, name: &str, v: &Val<'_>) -> Option<DataSource> {
        let t = self.table(
            v,
            "a data source table: csv = \"file.csv\", rows = [..] or values = [..]",
        )?;
        self.keys(t, DATA_KEYS, DATA_KEYS, "keys of a data source");
        let present: Vec<(&str, Span, &Val)> = entries(t)
            .into_iter()
            .filter(|(k, _, _)| matches!(*k, "csv" | "rows" | "values"))
            .collect();
        if present.len() > 1 {
            self.err(
                present[1].1.start,
                "one of csv, rows or values",
                format!("both {} and {}", present[0].0, present[1].0),
            );
            return None;
        }
        let order = match field(t, "order") {
            None => DataOrder::Cycle,
            Some((_, o)) => match self.string(o, "order: \"cycle\", \"random\" or \"once\"")? {
                "cycle" => DataOrder::Cycle,
                "random" => DataOrder::Random,
                "once" => DataOrder::Once,
                other => {
                    self.err(
                        o.span().start,
                        "order: \"cycle\", \"random\" or \"once\"",
                        format!("{other:?}"),
                    );
                    return None;
                }
            },
        };
        let Some(&(kind, _, value)) = present.first() else {
            self.err(
                v.span().start,
                "csv = \"file.csv\", rows = [ {..} ] or values = [..] in the data source",
                "none of them",
            );
            return None;
        };
        let rows = match kind {
            "csv" => self.csv_rows(value)?,
            "rows" => self.inline_rows(value)?,
            _ => self.inline_values(value)?,
        };
        Some(DataSource {
            name: name.to_string(),
            order,
            rows,
        })
    }

    /// `csv = "file.csv"`: resolved against the plan's directory; read now when asked.
    fn csv_rows(&mut self, value: &Val<'_>) -> Option<DataRows> {
        let s = self.string(value, "csv: a path to a CSV file (relative to the plan)")?;
        let p = Path::new(s);
        let resolved = if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.unwrap_or(Path::new("")).join(p)
        };
        if !resolved.is_file() {
            self.err(
                value.span().start,
                "an existing CSV file (paths are relative to the plan file)",
                format!("no file at {}", resolved.display()),
            );
            return None;
        }
        let table = if self.read_data {
            match data::read_csv(&resolved, &data::DataLimits::default()) {
                Ok(t) => Some(std::sync::Arc::new(t)),
                Err(e) => {
                    self.errors.push(e);
                    return None;
                }
            }
        } else {
            None
        };
        Some(DataRows::Csv {
            path: resolved,
            as_written: s.to_string(),
            table,
        })
    }

    /// `rows = [ { column = value }, .. ]`.
    fn inline_rows(&mut self, value: &Val<'_>) -> Option<DataRows> {
        let items = self.array(value, "rows: an array of tables")?;
        if !self.at_most(value, items.len(), limits::MAX_DATA_ROWS, "rows") {
            return None;
        }
        let mut rows = Vec::new();
        for item in items {
            let Some(row) = self.table(item, "a row: a table of column = value") else {
                continue;
            };
            let mut cells = Vec::new();
            for (col, _, cell) in entries(row) {
                match scalar_string(cell.get_ref()) {
                    Some(s) => cells.push((col.to_string(), s)),
                    None => self.wrong(cell, "a cell value: a string or a number"),
                }
            }
            rows.push(cells);
        }
        if rows.is_empty() {
            self.err(value.span().start, "at least one row", "an empty array");
        }
        Some(DataRows::Inline(rows))
    }

    /// `values = [..]`: one column, `value`.
    fn inline_values(&mut self, value: &Val<'_>) -> Option<DataRows> {
        let items = self.array(value, "values: an array of strings or numbers")?;
        if !self.at_most(value, items.len(), limits::MAX_DATA_ROWS, "values") {
            return None;
        }
        let mut rows = Vec::new();
        for item in items {
            match scalar_string(item.get_ref()) {
                Some(s) => rows.push(vec![("value".to_string(), s)]),
                None => self.wrong(item, "a value: a string or a number"),
            }
        }
        if rows.is_empty() {
            self.err(value.span().start, "at least one value", "an empty array");
        }
        Some(DataRows::Inline(rows))
    }
}
