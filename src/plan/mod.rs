//! Test plans: TOML text → validated `model::Plan`. Pure: no sockets, no tokio; the only file
//! access is reading the plan in [`load`] and checking that CSV data files exist.

pub mod describe;
pub mod duration;
pub mod library;
pub mod model;
mod parse;
pub mod template;
mod validate;

use std::fmt;
use std::path::Path;

pub use model::*;
pub use validate::{parse_threshold, parse_wait};

/// One problem in a plan, at a 1-based `line:col` of `file` (line 0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PlanError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub expected: String,
    pub found: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(
                f,
                "{}: expected {}, found {}",
                self.file, self.expected, self.found
            )
        } else {
            write!(
                f,
                "{}:{}:{}: expected {}, found {}",
                self.file, self.line, self.col, self.expected, self.found
            )
        }
    }
}

/// Every problem found in a plan, in file order; displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanErrors(pub Vec<PlanError>);

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanErrors {}

/// Reads and validates a plan file; CSV paths are resolved against its directory.
pub fn load(path: &Path) -> Result<Plan, PlanErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        PlanErrors(vec![PlanError {
            file: file.clone(),
            line: 0,
            col: 0,
            expected: "a readable plan file".to_string(),
            found: e.to_string(),
        }])
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    let mut plan = parse_str(&text, &file, Some(base))?;
    plan.path = Some(path.to_path_buf());
    Ok(plan)
}

/// Validates plan text. `file` names it in errors; relative CSV paths are resolved against
/// `base_dir` (the current directory when None).
pub fn parse_str(text: &str, file: &str, base_dir: Option<&Path>) -> Result<Plan, PlanErrors> {
    validate::validate(text, file, base_dir)
}
