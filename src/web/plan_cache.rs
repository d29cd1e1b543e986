//! The plans the server offers, cached. Each look takes a fingerprint of the plans folder (names,
//! sizes and modification times, one level of subfolders for data files) on tokio's blocking
//! pool, and reads and validates the plans again only when it changed: an edited plan shows at
//! the next look, and no async worker reads a file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use crate::plan::library::PlanLibrary;

/// What the folder looked like when the library was read.
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// The plans folder's library; cheap to clone.
#[derive(Clone)]
pub struct PlanCache {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    /// A std mutex: held to compare or swap, never across an await or a folder read.
    last: Mutex<Option<(Fingerprint, Arc<PlanLibrary>)>>,
}

impl PlanCache {
    pub fn new(dir: PathBuf) -> PlanCache {
        PlanCache {
            inner: Arc::new(Inner {
                dir,
                last: Mutex::new(None),
            }),
        }
    }

    /// The plans folder.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The plans as the folder holds them now.
    pub async fn get(&self) -> Arc<PlanLibrary> {
        let inner = self.inner.clone();
        match tokio::task::spawn_blocking(move || inner.refresh()).await {
            Ok(lib) => lib,
            // The blocking pool is shutting down: the last library read is still the best answer.
            Err(_) => self.inner.cached().unwrap_or_default(),
        }
    }
}

impl Inner {
    fn cached(&self) -> Option<Arc<PlanLibrary>> {
        self.lock().as_ref().map(|(_, lib)| lib.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Fingerprint, Arc<PlanLibrary>)>> {
        // A panic while holding it cannot leave it half-written (one assignment).
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refresh(&self) -> Arc<PlanLibrary> {
        let now = fingerprint(&self.dir);
        if let Some((seen, lib)) = self.lock().as_ref() {
            if *seen == now {
                return lib.clone();
            }
        }
        let lib = Arc::new(PlanLibrary::load(&self.dir));
        *self.lock() = Some((now, lib.clone()));
        lib
    }
}

/// Every entry of `dir` and of its subfolders, with size and modification time (links followed).
fn fingerprint(dir: &Path) -> Fingerprint {
    let mut seen = Vec::new();
    let mut add = |path: PathBuf| {
        let meta = std::fs::metadata(&path).ok();
        let size = meta.as_ref().map_or(0, std::fs::Metadata::len);
        let modified = meta.as_ref().and_then(|m| m.modified().ok());
        let is_dir = meta.as_ref().is_some_and(std::fs::Metadata::is_dir);
        seen.push((path.clone(), size, modified));
        is_dir
    };
    for entry in entries(dir) {
        if add(entry.clone()) {
            for inner in entries(&entry) {
                add(inner);
            }
        }
    }
    seen.sort();
    seen
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|it| it.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_plan_is_read_again_only_when_the_folder_changed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = PlanCache::new(dir.path().to_path_buf());
        let first = cache.get().await;
        assert_eq!(first.plans.len(), 1, "the built-in demo plan");
        assert!(Arc::ptr_eq(&first, &cache.get().await), "unchanged: cached");
        let text = "name = \"x\"\nhost = \"http://127.0.0.1:1\"\n[[users]]\nname = \"A\"\ntasks = [ { get = \"/\" } ]\n";
        std::fs::write(dir.path().join("x.toml"), text).unwrap();
        let second = cache.get().await;
        assert_eq!(second.plans.len(), 2);
        std::fs::write(
            dir.path().join("x.toml"),
            text.replace("\"x\"", "\"renamed x\""),
        )
        .unwrap();
        let third = cache.get().await;
        assert!(
            third.plans.iter().any(|p| p.plan.name == "renamed x"),
            "a rewrite shows at the next look"
        );
    }
}
