//! Test plans: TOML text → validated `model::Plan`, and what is derived from a plan without
//! running it (`describe`, `fold`, the compiled `template`s). Owns reading plan files ([`load`],
//! `library` for the plans directory) and their CSV data files (`data`); nothing else here
//! touches files. Rendering a template reads the environment (`env()`), the clock (`now_ms()`)
//! and randomness (`uuid()`, `randint()`, `pick()`) — that happens when the engine renders, or
//! once per run in `fold::prepare`.
//!
//! Must not: import `engine`, `protocols`, `web`, `store` or `runs` (data flows plan → engine,
//! never back); use tokio, sockets or threads; hold run-time state (a user's variables live in
//! `engine::vars` and reach templates through `template::Variables`).

pub mod data;
pub mod describe;
pub mod duration;
pub mod fold;
pub mod library;
pub mod limits;
pub mod model;
pub mod monitor;
mod parse;
pub mod selection;
pub mod template;
mod validate;

use std::fmt;
use std::path::Path;

pub use model::*;
pub use validate::{check_monitor_series, check_threshold_scope, parse_threshold, parse_wait};

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

/// Validates a `[monitor]` table on its own (`file` names it in errors): the start form's
/// Monitors field and the API's `monitor`.
pub fn parse_monitor(text: &str, file: &str) -> Result<monitor::Monitor, PlanErrors> {
    validate::validate_monitor(text, file)
}

/// Reads and validates a plan file, reading and checking its CSV data files too (what
/// `hornet check` and `hornet run` do); CSV paths are resolved against its directory.
pub fn load(path: &Path) -> Result<Plan, PlanErrors> {
    load_with(path, true)
}

/// Like [`load`] but only checks that data files exist: the plan library validates every plan
/// on each look, and a run started from it reads its data files at start.
pub fn load_without_data(path: &Path) -> Result<Plan, PlanErrors> {
    load_with(path, false)
}

fn load_with(path: &Path, read_data: bool) -> Result<Plan, PlanErrors> {
    let file = path.display().to_string();
    let text = read_text(path, &file).map_err(|e| PlanErrors(vec![e]))?;
    let base = path.parent().unwrap_or(Path::new(""));
    let mut plan = validate::validate(&text, &file, Some(base), read_data)?;
    plan.path = Some(path.to_path_buf());
    Ok(plan)
}

/// The plan file as text: at most [`limits::MAX_PLAN_BYTES`], and UTF-8 (a bad byte is
/// reported at its line and column).
pub fn read_text(path: &Path, file: &str) -> Result<String, PlanError> {
    use std::io::Read;
    let error = |line: usize, col: usize, expected: String, found: String| PlanError {
        file: file.to_string(),
        line,
        col,
        expected,
        found,
    };
    let unreadable = |e: std::io::Error| error(0, 0, "a readable plan file".into(), e.to_string());
    let handle = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    // One byte over the cap tells a file at the cap from a larger one.
    handle
        .take(limits::MAX_PLAN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limits::MAX_PLAN_BYTES {
        return Err(error(
            0,
            0,
            format!(
                "a plan file of at most {}",
                limits::format_bytes(limits::MAX_PLAN_BYTES)
            ),
            "a larger file".into(),
        ));
    }
    decode_text(bytes, file)
}

/// Plan bytes as text; a byte that is not UTF-8 is reported at its line and column.
pub(crate) fn decode_text(bytes: Vec<u8>, file: &str) -> Result<String, PlanError> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let before = &bytes[..at];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        // The prefix is valid UTF-8 up to `at`: count characters for the column.
        let col = std::str::from_utf8(&before[line_start..]).map_or(1, |s| s.chars().count() + 1);
        PlanError {
            file: file.to_string(),
            line,
            col,
            expected: "UTF-8 text".into(),
            found: format!("byte 0x{:02X}", bytes[at]),
        }
    })
}

/// Validates plan text, reading its CSV data files. `file` names it in errors; relative CSV
/// paths are resolved against `base_dir` (the current directory when None).
pub fn parse_str(text: &str, file: &str, base_dir: Option<&Path>) -> Result<Plan, PlanErrors> {
    validate::validate(text, file, base_dir, true)
}

/// [`parse_str`] that only checks that data files exist (see [`load_without_data`]).
pub fn parse_str_without_data(
    text: &str,
    file: &str,
    base_dir: Option<&Path>,
) -> Result<Plan, PlanErrors> {
    validate::validate(text, file, base_dir, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_plans_name_the_byte_and_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, b"name = \"x\"\ndescription = \"caf\xe9\"\n").unwrap();
        let e = load(&path).unwrap_err().to_string();
        let shown = path.display().to_string();
        assert_eq!(
            e,
            format!("{shown}:2:19: expected UTF-8 text, found byte 0xE9")
        );
    }

    #[test]
    fn huge_plans_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(limits::MAX_PLAN_BYTES + 1).unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(
            e.ends_with("expected a plan file of at most 16 MiB, found a larger file"),
            "{e}"
        );
    }
}
