//! The plans a server offers: every valid `*.toml` in the plans directory (the server caches the
//! library and reads it again when the folder changes: `web/plan_cache.rs`), with the built-in
//! demo plan when the directory has none (so `hornet` works from any directory). Invalid files
//! are listed with their errors.
//!
//! Only files inside the folder are read: a `*.toml` (or a link) whose real path is elsewhere,
//! one that is not a regular file (a FIFO would block the reader) or one above
//! [`super::limits::MAX_PLAN_BYTES`] is listed as invalid with the reason and never opened — the API would
//! otherwise run, and show, whatever a link points at.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{parse_str, parse_str_without_data, Plan, PlanError, PlanErrors};

/// The demo plan, built in so that a server started anywhere has one plan to run.
pub const DEMO_PLAN: &str = include_str!("../../plans/demo.toml");
/// The key under which the built-in demo plan is offered.
pub const DEMO_KEY: &str = "demo.toml";

/// One offered plan: its key (file name in the plans directory), source text and the plan.
#[derive(Clone, Debug)]
pub struct PlanEntry {
    pub key: String,
    pub source: String,
    pub plan: Arc<Plan>,
}

/// What a plans directory holds right now.
#[derive(Clone, Debug, Default)]
pub struct PlanLibrary {
    /// Sorted by key.
    pub plans: Vec<PlanEntry>,
    /// Files that failed validation: key and every error.
    pub invalid: Vec<(String, PlanErrors)>,
}

impl PlanLibrary {
    /// Reads `dir` (a missing directory is an empty one) and adds the built-in demo plan when no
    /// file is called `demo.toml`.
    pub fn load(dir: &Path) -> PlanLibrary {
        let mut lib = PlanLibrary::default();
        // Links are judged by where they really lead, so the folder is too.
        if let Ok(root) = std::fs::canonicalize(dir) {
            lib.read_folder(dir, &root);
        }
        if !lib.plans.iter().any(|p| p.key == DEMO_KEY) {
            if let Ok(plan) = parse_str(DEMO_PLAN, "plans/demo.toml", None) {
                lib.plans.push(PlanEntry {
                    key: DEMO_KEY.into(),
                    source: DEMO_PLAN.into(),
                    plan: Arc::new(plan),
                });
                lib.plans.sort_by(|a, b| a.key.cmp(&b.key));
            }
        }
        lib
    }

    /// Adds every `*.toml` of `dir` (whose canonical path is `root`), sorted by name.
    fn read_folder(&mut self, dir: &Path, root: &Path) {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        for path in files {
            let key = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let file = path.display().to_string();
            let source = match read_inside(&path, root, &file) {
                Ok(Some(source)) => source,
                Ok(None) => continue,
                Err(e) => {
                    self.invalid.push((key, PlanErrors(vec![e])));
                    continue;
                }
            };
            // What `plan::load_without_data` does, on the text already read (reading again
            // would reopen whatever the path points at by then). Data files are only checked
            // to exist here: a run reads them at its start.
            let base = path.parent().unwrap_or(Path::new(""));
            match parse_str_without_data(&source, &file, Some(base)) {
                Ok(plan) if data_outside(&plan, root).is_some() => {
                    let outside = data_outside(&plan, root).unwrap_or_default();
                    self.invalid.push((
                        key,
                        PlanErrors(vec![PlanError {
                            file: file.clone(),
                            line: 0,
                            col: 0,
                            expected: "data files inside the plans folder".into(),
                            found: format!("{outside}; refused, not read"),
                        }]),
                    ));
                }
                Ok(mut plan) => {
                    plan.path = Some(path.clone());
                    self.plans.push(PlanEntry {
                        key,
                        source,
                        plan: Arc::new(plan),
                    })
                }
                Err(errors) => self.invalid.push((key, errors)),
            }
        }
    }

    /// The errors of the invalid file with this key (`x.toml`) or key without `.toml`.
    pub fn find_invalid(&self, wanted: &str) -> Option<&PlanErrors> {
        self.invalid
            .iter()
            .find(|(key, _)| key == wanted || key.strip_suffix(".toml") == Some(wanted))
            .map(|(_, errors)| errors)
    }

    /// The plan with this key (`demo.toml`), key without `.toml`, or name (`Demo gateway`).
    pub fn find(&self, wanted: &str) -> Option<&PlanEntry> {
        self.plans
            .iter()
            .find(|p| p.key == wanted)
            .or_else(|| {
                self.plans
                    .iter()
                    .find(|p| p.key.strip_suffix(".toml") == Some(wanted))
            })
            .or_else(|| self.plans.iter().find(|p| p.plan.name == wanted))
    }
}

/// The first CSV data file of `plan` that does not really lie inside `root` (a served plan may
/// only read what the plans folder holds: `csv = "/etc/shadow"` or a link out is refused).
fn data_outside(plan: &Plan, root: &Path) -> Option<String> {
    plan.data.iter().find_map(|d| match &d.rows {
        super::model::DataRows::Csv { path, .. } => match std::fs::canonicalize(path) {
            Ok(real) if real.starts_with(root) => None,
            Ok(real) => Some(format!(
                "data.{} points outside it ({})",
                d.name,
                real.display()
            )),
            Err(e) => Some(format!("data.{}: {} ({e})", d.name, path.display())),
        },
        super::model::DataRows::Inline(_) => None,
    })
}

/// The text of the plan file `path` if it really is a file inside `root` (canonical) of at most
/// [`super::limits::MAX_PLAN_BYTES`]; `None` for a directory (not a plan, not an error); else why not.
fn read_inside(path: &Path, root: &Path, file: &str) -> Result<Option<String>, PlanError> {
    let refuse = |expected: &str, found: String| PlanError {
        file: file.to_string(),
        line: 0,
        col: 0,
        expected: expected.to_string(),
        found,
    };
    let real = std::fs::canonicalize(path).map_err(|e| {
        refuse(
            "a readable plan file",
            format!("a link that leads nowhere ({e})"),
        )
    })?;
    if !real.starts_with(root) {
        return Err(refuse(
            "a file inside the plans folder",
            format!(
                "one that points outside it ({}); refused, not read",
                real.display()
            ),
        ));
    }
    let meta =
        std::fs::metadata(&real).map_err(|e| refuse("a readable plan file", e.to_string()))?;
    if meta.is_dir() {
        return Ok(None);
    }
    if !meta.is_file() {
        return Err(refuse(
            "a regular file",
            "a special file (FIFO, socket or device); refused, not read".into(),
        ));
    }
    let too_big = |len: u64| {
        refuse(
            &format!(
                "a plan of at most {}",
                super::limits::format_bytes(super::limits::MAX_PLAN_BYTES)
            ),
            format!("{len} bytes; refused, not read"),
        )
    };
    if meta.len() > super::limits::MAX_PLAN_BYTES {
        return Err(too_big(meta.len()));
    }
    let opened =
        std::fs::File::open(&real).map_err(|e| refuse("a readable plan file", e.to_string()))?;
    // The file may grow between the size check and the read: never read past the limit.
    let mut bytes = Vec::new();
    opened
        .take(super::limits::MAX_PLAN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| refuse("a readable plan file", e.to_string()))?;
    if bytes.len() as u64 > super::limits::MAX_PLAN_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    super::decode_text(bytes, file).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_files_outside_the_folder_are_refused() {
        let outer = tempfile::tempdir().unwrap();
        let secret = outer.path().join("secret.csv");
        std::fs::write(&secret, "a\n1\n").unwrap();
        let dir = outer.path().join("plans");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("inside.csv"), "a\n1\n").unwrap();
        let plan = |csv: &str| {
            format!(
                "name = \"P\"\nhost = \"http://127.0.0.1:1\"\n[data.d]\ncsv = \"{csv}\"\n\
                 [[users]]\nname = \"U\"\ntasks = [ {{ get = \"/{{{{ d.a }}}}\" }} ]\n"
            )
        };
        std::fs::write(dir.join("ok.toml"), plan("inside.csv")).unwrap();
        std::fs::write(dir.join("out.toml"), plan("../secret.csv")).unwrap();
        let lib = PlanLibrary::load(&dir);
        assert!(lib.find("ok").is_some(), "{:?}", lib.invalid);
        assert!(lib.find("out").is_none());
        let errors = lib.find_invalid("out").unwrap().to_string();
        assert!(
            errors.contains("expected data files inside the plans folder")
                && errors.contains("data.d points outside it"),
            "{errors}"
        );
    }

    #[test]
    fn an_empty_directory_offers_the_demo_plan() {
        let dir = tempfile::tempdir().unwrap();
        let lib = PlanLibrary::load(dir.path());
        assert_eq!(lib.plans.len(), 1);
        assert_eq!(lib.plans[0].key, "demo.toml");
        assert!(lib.find("demo").is_some());
        assert!(lib.find(&lib.plans[0].plan.name.clone()).is_some());
        assert!(lib.find("nope").is_none());
    }

    #[test]
    fn files_are_loaded_sorted_and_invalid_ones_listed() {
        let dir = tempfile::tempdir().unwrap();
        let ok = "name = \"B\"\nhost = \"http://127.0.0.1:1\"\n[[users]]\nname = \"U\"\ntasks = [ { get = \"/\" } ]\n";
        std::fs::write(dir.path().join("b.toml"), ok).unwrap();
        std::fs::write(dir.path().join("a.toml"), ok.replace("\"B\"", "\"A\"")).unwrap();
        std::fs::write(dir.path().join("bad.toml"), "name = 3\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a plan").unwrap();
        let lib = PlanLibrary::load(dir.path());
        let keys: Vec<&str> = lib.plans.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["a.toml", "b.toml", "demo.toml"]);
        assert_eq!(lib.invalid.len(), 1);
        assert_eq!(lib.invalid[0].0, "bad.toml");
        assert!(lib.invalid[0].1.to_string().contains("bad.toml:1:"));
        assert_eq!(lib.find("b").map(|p| p.plan.name.as_str()), Some("B"));
    }

    #[cfg(unix)]
    #[test]
    fn links_outside_the_folder_and_big_files_are_refused_unread() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret.toml");
        let ok = "name = \"S\"\nhost = \"http://127.0.0.1:1\"\n[[users]]\nname = \"U\"\ntasks = [ { get = \"/\" } ]\n";
        std::fs::write(&secret, ok).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&secret, dir.path().join("x.toml")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("gone"), dir.path().join("dangling.toml"))
            .unwrap();
        // A link to a file inside the folder is fine.
        std::fs::write(dir.path().join("real.toml"), ok.replace("\"S\"", "\"R\"")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("real.toml"), dir.path().join("alias.toml"))
            .unwrap();
        let big = format!(
            "{ok}\n# {}\n",
            "x".repeat(crate::plan::limits::MAX_PLAN_BYTES as usize)
        );
        std::fs::write(dir.path().join("big.toml"), big).unwrap();
        std::fs::create_dir(dir.path().join("folder.toml")).unwrap();

        let lib = PlanLibrary::load(dir.path());
        let keys: Vec<&str> = lib.plans.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["alias.toml", "demo.toml", "real.toml"]);
        let invalid: Vec<(&str, String)> = lib
            .invalid
            .iter()
            .map(|(k, e)| (k.as_str(), e.to_string()))
            .collect();
        assert_eq!(invalid.len(), 3, "{invalid:?}");
        assert_eq!(invalid[0].0, "big.toml");
        assert!(invalid[0].1.contains("at most 16 MiB"), "{}", invalid[0].1);
        assert_eq!(invalid[1].0, "dangling.toml");
        assert!(invalid[1].1.contains("leads nowhere"), "{}", invalid[1].1);
        assert_eq!(invalid[2].0, "x.toml");
        let real_secret = std::fs::canonicalize(&secret).unwrap();
        assert!(
            invalid[2].1.contains("points outside")
                && invalid[2].1.contains(&real_secret.display().to_string()),
            "{}",
            invalid[2].1
        );
        assert!(lib.find("x").is_none());
        assert!(lib.find_invalid("x").is_some());
    }
}
