//! Feeders: the rows of a plan's `[data.NAME]` sources (CSV files, inline lists), loaded once per
//! run into an `Arc`'d table shared by every user of the run, with one cursor per feeder per run
//! (an atomic index: no lock on the hot path). Locust/k6 semantics: a user takes the next row of
//! every feeder a task reads when it starts that task (and for `on_start`, when it starts), and
//! templates see it as `{{ NAME.column }}`. `order = "once"` hands each row out once; a user
//! that needs a row after the last one stops (like Locust's `StopUser`).
//!
//! Owns row tables and cursors only; a user's current row lives in its own variables.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rand::Rng;

use super::vars::{Row, Vars};
use crate::plan::data::{self, DataTable};
use crate::plan::fold::step_variables;
use crate::plan::model::{DataOrder, DataRows, DataSource, Step, StepKind, UserClass};
use crate::plan::template::Template;
use crate::share::Share;

/// Why a data source could not be loaded; the message names the source and the file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("data.{name}: {message}")]
pub(crate) struct FeederError {
    pub(crate) name: String,
    pub(crate) message: String,
}

/// Every data source of a run, loaded.
#[derive(Debug, Default)]
pub(crate) struct Feeders {
    feeders: Vec<Feeder>,
}

#[derive(Debug)]
struct Feeder {
    name: String,
    order: DataOrder,
    /// Never empty.
    rows: Rows,
    /// The next row for `cycle` (modulo the length) and `once`; unused by `random`.
    cursor: AtomicUsize,
    /// `once` rows this process may hand out: `first`, `first + every`, ... (one agent's part
    /// of a distributed run: every row goes to one agent only). 0 and 1 in a local run.
    first: usize,
    every: usize,
}

/// A CSV file's compact table (shared with the plan that read it), or inline rows.
#[derive(Debug)]
enum Rows {
    Table(Arc<DataTable>),
    Inline(Vec<Row>),
}

impl Rows {
    fn len(&self) -> usize {
        match self {
            Rows::Table(t) => t.len(),
            Rows::Inline(rows) => rows.len(),
        }
    }

    fn get(&self, i: usize) -> Option<Row> {
        match self {
            Rows::Table(t) => (i < t.len()).then(|| Row::of_table(t, i)),
            Rows::Inline(rows) => rows.get(i).cloned(),
        }
    }
}

impl Feeder {
    /// The next row, or None once a `once` feeder has handed out every row.
    fn take(&self, rng: &mut impl Rng) -> Option<Row> {
        let n = self.rows.len();
        match self.order {
            // Relaxed: the index is the only shared state, nothing else is published with it.
            DataOrder::Cycle => self
                .rows
                .get(self.cursor.fetch_add(1, Ordering::Relaxed) % n),
            DataOrder::Random => self.rows.get(rng.random_range(0..n)),
            DataOrder::Once => {
                let k = self.cursor.fetch_add(1, Ordering::Relaxed);
                self.rows
                    .get(k.checked_mul(self.every)?.checked_add(self.first)?)
            }
        }
    }

    /// Whether a `once` feeder has handed out every row of its part.
    fn is_exhausted(&self) -> bool {
        self.order == DataOrder::Once
            && self
                .cursor
                .load(Ordering::Relaxed)
                .saturating_mul(self.every)
                .saturating_add(self.first)
                >= self.rows.len()
    }
}

impl Feeders {
    /// Reads every source (CSV files from disk, once per run). An unreadable or malformed file, or
    /// a source without rows, is an error.
    pub(crate) fn load(sources: &[DataSource]) -> Result<Feeders, FeederError> {
        let mut feeders = Vec::with_capacity(sources.len());
        for source in sources {
            let err = |message: String| FeederError {
                name: source.name.clone(),
                message,
            };
            let rows = match &source.rows {
                // Read by `plan::load` already: reuse it.
                DataRows::Csv {
                    table: Some(table), ..
                } => Rows::Table(table.clone()),
                // A plan from the library: read now, with the same caps and checks.
                DataRows::Csv {
                    path, table: None, ..
                } => Rows::Table(Arc::new(
                    data::read_csv(path, &data::DataLimits::default())
                        .map_err(|e| err(e.to_string()))?,
                )),
                DataRows::Inline(rows) => Rows::Inline(
                    rows.iter()
                        .map(|cells| Row::new(cells.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
                        .collect(),
                ),
            };
            if rows.len() == 0 {
                return Err(err("has no rows".to_string()));
            }
            feeders.push(Feeder {
                name: source.name.clone(),
                order: source.order,
                rows,
                cursor: AtomicUsize::new(0),
                first: 0,
                every: 1,
            });
        }
        Ok(Feeders { feeders })
    }

    /// One agent's part of the feeders of a distributed run: the rows of `once` feeders are
    /// dealt like users (row r to agent r mod N), so no row is used twice across agents;
    /// `cycle` and `random` feeders read every row in each agent. Call before any row is taken.
    pub(crate) fn dealt(mut self, share: Share) -> Feeders {
        for f in &mut self.feeders {
            f.first = share.index() as usize;
            f.every = share.count() as usize;
        }
        self
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.feeders.iter().position(|f| f.name == name)
    }

    /// Sets the first row of every feeder without moving any cursor (what `setup` steps see).
    pub(crate) fn peek_first(&self, vars: &mut Vars) {
        for f in &self.feeders {
            if let Some(row) = f.rows.get(0) {
                vars.set_row(&f.name, &row);
            }
        }
    }

    /// Takes the next row of each feeder in `which` into `vars`; false if one ran out (`once`).
    fn feed(&self, which: &[usize], vars: &mut Vars, rng: &mut impl Rng) -> bool {
        for &i in which {
            let Some(f) = self.feeders.get(i) else {
                continue;
            };
            match f.take(rng) {
                Some(row) => vars.set_row(&f.name, &row),
                None => return false,
            }
        }
        true
    }

    /// Names of the `once` feeders that have handed out every row.
    pub(crate) fn exhausted(&self) -> Vec<&str> {
        self.feeders
            .iter()
            .filter(|f| f.is_exhausted())
            .map(|f| f.name.as_str())
            .collect()
    }
}

/// Which feeders a user class reads where: what `on_start` and each task take at their start.
#[derive(Debug)]
pub(crate) struct ClassFeeds {
    feeders: Arc<Feeders>,
    on_start: Vec<usize>,
    /// Indexed like the class's (selected) tasks.
    tasks: Vec<Vec<usize>>,
}

impl ClassFeeds {
    /// None when the class reads no feeder (the common case: then users do nothing per task).
    /// `default_headers` count for every step that sends a request.
    pub(crate) fn new(
        feeders: &Arc<Feeders>,
        class: &UserClass,
        default_headers: &[(String, Template)],
    ) -> Option<Arc<ClassFeeds>> {
        if feeders.feeders.is_empty() {
            return None;
        }
        let header_uses: Vec<usize> = default_headers
            .iter()
            .flat_map(|(_, t)| t.variables())
            .filter_map(|name| feeders.index(&name))
            .collect();
        let uses = |steps: &[Step]| -> Vec<usize> {
            let mut out: Vec<usize> = steps
                .iter()
                .flat_map(step_variables)
                .filter_map(|name| feeders.index(&name))
                .collect();
            if steps.iter().any(|s| !matches!(s.kind, StepKind::Think(_))) {
                out.extend(&header_uses);
            }
            out.sort_unstable();
            out.dedup();
            out
        };
        let feeds = ClassFeeds {
            feeders: feeders.clone(),
            on_start: uses(&class.on_start),
            tasks: class.tasks.iter().map(|t| uses(&t.steps)).collect(),
        };
        let reads_any = !feeds.on_start.is_empty() || feeds.tasks.iter().any(|t| !t.is_empty());
        reads_any.then(|| Arc::new(feeds))
    }

    /// Rows for `on_start`; false when a `once` feeder ran out (the user stops).
    pub(crate) fn on_start(&self, vars: &mut Vars, rng: &mut impl Rng) -> bool {
        self.feeders.feed(&self.on_start, vars, rng)
    }

    /// Rows for one iteration of task `task`; false when a `once` feeder ran out.
    pub(crate) fn task(&self, task: usize, vars: &mut Vars, rng: &mut impl Rng) -> bool {
        match self.tasks.get(task) {
            Some(which) => self.feeders.feed(which, vars, rng),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::vars::SharedVars;
    use rand::SeedableRng;
    use serde_json::json;
    use std::io::Write;

    fn source(order: DataOrder, values: &[&str]) -> DataSource {
        DataSource {
            name: "d".into(),
            order,
            rows: DataRows::Inline(
                values
                    .iter()
                    .map(|v| vec![("value".to_string(), v.to_string())])
                    .collect(),
            ),
        }
    }

    /// The `value` column of the next `n` takes (None once exhausted).
    fn takes(feeders: &Feeders, n: usize) -> Vec<Option<String>> {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let f = &feeders.feeders[0];
        (0..n)
            .map(|_| f.take(&mut rng).and_then(|r| r.get("value")))
            .collect()
    }

    fn some(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|s| Some(s.to_string())).collect()
    }

    #[test]
    fn cycle_wraps_around() {
        let f = Feeders::load(&[source(DataOrder::Cycle, &["a", "b", "c"])]).unwrap();
        assert_eq!(takes(&f, 7), some(&["a", "b", "c", "a", "b", "c", "a"]));
    }

    #[test]
    fn once_hands_out_each_row_then_nothing() {
        let f = Feeders::load(&[source(DataOrder::Once, &["a", "b", "c"])]).unwrap();
        assert!(f.exhausted().is_empty());
        let mut got = takes(&f, 5);
        assert_eq!(got.split_off(3), vec![None, None]);
        assert_eq!(got, some(&["a", "b", "c"]));
        assert_eq!(f.exhausted(), vec!["d"]);
    }

    #[test]
    fn once_rows_are_dealt_over_agents_and_each_is_used_once() {
        let rows = ["a", "b", "c", "d", "e", "f", "g"];
        let mut all = Vec::new();
        for index in 0..3 {
            let share = Share::new(index, 3).unwrap();
            let f = Feeders::load(&[source(DataOrder::Once, &rows)])
                .unwrap()
                .dealt(share);
            let got: Vec<String> = takes(&f, 5).into_iter().flatten().collect();
            assert_eq!(got.len() as u64, share.part_of(7), "agent {index}: {got:?}");
            assert_eq!(f.exhausted(), vec!["d"]);
            all.extend(got);
        }
        all.sort();
        assert_eq!(all, rows);
        // cycle and random read every row in each agent.
        let f = Feeders::load(&[source(DataOrder::Cycle, &["a", "b"])])
            .unwrap()
            .dealt(Share::new(1, 3).unwrap());
        assert_eq!(takes(&f, 3), some(&["a", "b", "a"]));
    }

    #[test]
    fn random_stays_within_the_rows_and_reaches_each() {
        let f = Feeders::load(&[source(DataOrder::Random, &["a", "b", "c"])]).unwrap();
        let got = takes(&f, 3000);
        let mut counts = [0u32; 3];
        for v in got {
            match v.as_deref() {
                Some("a") => counts[0] += 1,
                Some("b") => counts[1] += 1,
                Some("c") => counts[2] += 1,
                other => panic!("not a row: {other:?}"),
            }
        }
        // 1000 each expected; 5 standard deviations is about 130
        assert!(
            counts.iter().all(|&c| (870..=1130).contains(&c)),
            "{counts:?}"
        );
        assert!(f.exhausted().is_empty());
    }

    #[test]
    fn one_cursor_is_shared_by_every_user_across_threads() {
        let f = Arc::new(
            Feeders::load(&[source(
                DataOrder::Once,
                &(0..1000)
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            )])
            .unwrap(),
        );
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let f = f.clone();
                std::thread::spawn(move || {
                    let mut rng = rand::rngs::SmallRng::seed_from_u64(t);
                    let mut mine = Vec::new();
                    while let Some(row) = f.feeders[0].take(&mut rng) {
                        mine.push(row.get("value").unwrap().parse::<u32>().unwrap());
                    }
                    mine
                })
            })
            .collect();
        let mut all: Vec<u32> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<u32>>());
    }

    #[test]
    fn csv_header_names_the_columns_and_templates_read_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tz.csv");
        let mut file = std::fs::File::create(&path).unwrap();
        // a UTF-8 byte order mark, as spreadsheets write it, must not end up in the first name
        file.write_all(
            "\u{feff}tz,offset\nUTC,0\n\"Europe/Dublin\",\"+1, in summer\"\n".as_bytes(),
        )
        .unwrap();
        drop(file);
        let source = DataSource {
            name: "timezones".into(),
            order: DataOrder::Cycle,
            rows: DataRows::Csv {
                path: path.clone(),
                as_written: "tz.csv".into(),
                table: None,
            },
        };
        let feeders = Feeders::load(&[source]).unwrap();
        let mut vars = Vars::new(SharedVars::empty());
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let t = Template::parse("{{ timezones.tz }} ({{ timezones.offset }})").unwrap();
        assert!(feeders.feed(&[0], &mut vars, &mut rng));
        assert_eq!(t.render(&vars).unwrap(), "UTC (0)");
        assert!(feeders.feed(&[0], &mut vars, &mut rng));
        assert_eq!(t.render(&vars).unwrap(), "Europe/Dublin (+1, in summer)");
        assert_eq!(
            vars.get("timezones"),
            Some(json!({"tz": "Europe/Dublin", "offset": "+1, in summer"}))
        );
    }

    #[test]
    fn bad_csv_files_are_errors_naming_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let load = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let source = DataSource {
                name: "d".into(),
                order: DataOrder::Cycle,
                rows: DataRows::Csv {
                    path,
                    as_written: name.into(),
                    table: None,
                },
            };
            Feeders::load(&[source]).unwrap_err().to_string()
        };
        let e = load("empty.csv", "");
        assert!(
            e.starts_with("data.d: ")
                && e.ends_with(
                    ":1:1: expected a header row (the first row names the columns), found none"
                ),
            "{e}"
        );
        let e = load("header.csv", "a,b\n");
        assert!(
            e.ends_with(
                "expected rows below the header row (the first row names the columns), found none"
            ),
            "{e}"
        );
        let e = load("ragged.csv", "a,b\n1,2\n3\n");
        assert!(
            e.ends_with(
                "ragged.csv:3:1: expected 2 fields in every row, as in the header, found 1"
            ),
            "{e}"
        );
        let e = load("dup.csv", "a,a\n1,2\n");
        assert!(e.ends_with("found column \"a\" twice"), "{e}");
    }

    #[test]
    fn class_feeds_cover_only_the_tasks_that_read_a_feeder() {
        let plan = crate::plan::parse_str(
            r#"
[defaults]
headers = { X-Tenant = "{{ tenants.value }}" }
[data.tools]
values = ["a", "b"]
[data.tenants]
values = ["t1"]
[[users]]
name = "U"
on_start = [ { think = "1ms" } ]
tasks = [
  { get = "/tools/{{ tools.value }}" },
  { think = "1ms" },
]
"#,
            "x.toml",
            None,
        )
        .unwrap();
        let feeders = Arc::new(Feeders::load(&plan.data).unwrap());
        let feeds = ClassFeeds::new(&feeders, &plan.users[0], &plan.defaults.headers).unwrap();
        assert!(
            feeds.on_start.is_empty(),
            "think-only on_start sends no headers"
        );
        assert_eq!(feeds.tasks, vec![vec![0, 1], vec![]]);
    }
}
