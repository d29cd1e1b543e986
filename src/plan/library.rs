//! The plans a server offers: every valid `*.toml` in the plans directory, read again on each
//! look so edits show up without a restart, with the built-in demo plan when the directory has
//! none (so `hornet` works from any directory). Invalid files are listed with their errors.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{load_without_data, parse_str, Plan, PlanErrors};

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
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        for path in files {
            let key = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Bounded and UTF-8 checked; a file that fails is listed with load's error below.
            let source = super::read_text(&path, &key).unwrap_or_default();
            match load_without_data(&path) {
                Ok(plan) => lib.plans.push(PlanEntry {
                    key,
                    source,
                    plan: Arc::new(plan),
                }),
                Err(errors) => lib.invalid.push((key, errors)),
            }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
