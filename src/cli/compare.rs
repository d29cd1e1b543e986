//! `hornet compare A B` / `--baseline TAG`: two stored runs side by side, exit 1 on a broken
//! `--max-regression` rule.

use std::io::Write;
use std::path::Path;

use super::args::CompareArgs;
use super::{EXIT_BAD_INPUT, EXIT_OK, EXIT_REGRESSION};
use crate::report::compare;
use crate::stats::snapshot::RunState;
use crate::store::{RunFilter, RunLookup, RunRecord, Store};

/// `hornet compare`: loads both runs from the database, prints the comparison, exits 1 when a
/// `--max-regression` rule is broken.
pub(super) async fn compare_runs(args: CompareArgs) -> anyhow::Result<i32> {
    match compare_or_refuse(&args).await? {
        Ok(code) => Ok(code),
        Err(bad_input) => {
            eprintln!("error: {bad_input}");
            Ok(EXIT_BAD_INPUT)
        }
    }
}

/// What is said and returned when the input is bad (exit 2): Err(message).
type Checked<T> = anyhow::Result<Result<T, String>>;

async fn compare_or_refuse(args: &CompareArgs) -> Checked<i32> {
    let rules = match compare::parse_rules(args.max_regression.as_deref().unwrap_or_default()) {
        Ok(rules) => rules,
        Err(e) => return Ok(Err(format!("--max-regression: {e}"))),
    };
    match (&args.baseline, args.runs.len()) {
        (None, 2) | (Some(_), 1) => {}
        (None, _) => {
            return Ok(Err(
                "give two run ids (BASE HEAD), or one with --baseline".into()
            ))
        }
        (Some(_), _) => return Ok(Err("with --baseline give only the head run id".into())),
    }
    let store = match open_history(&args.db).await {
        Ok(store) => store,
        Err(e) => return Ok(Err(e)),
    };
    let (base, head) = match base_and_head(&store, args).await? {
        Ok(runs) => runs,
        Err(e) => return Ok(Err(e)),
    };
    let mut data = Vec::with_capacity(2);
    for run in [&base, &head] {
        if !run.state.is_final() {
            eprintln!(
                "warning: run {} is {}; comparing the numbers saved so far",
                run.id,
                run.state.as_str()
            );
        }
        let stats = store.load_stats(&run.id).await?;
        let histograms = store.load_histograms(&run.id).await?;
        data.push(compare::RunData::decode(&run.id, &stats, &histograms)?);
    }
    let comparison = compare::compare(&data[0], &data[1], &rules);
    let label = |r: &RunRecord| {
        format!(
            "{} ({}, {}, {})",
            r.id,
            r.plan_name,
            crate::format::fmt_utc(r.started_at_ms),
            r.state.as_str()
        )
    };
    print!(
        "{}",
        compare::render_text(&comparison, &label(&base), &label(&head))
    );
    std::io::stdout().flush()?;
    Ok(Ok(if comparison.regressions.is_empty() {
        EXIT_OK
    } else {
        EXIT_REGRESSION
    }))
}

/// The history database; it must exist (Store::open would create an empty one, and a typo in
/// --db must be an error instead).
async fn open_history(db: &Path) -> Result<Store, String> {
    if !db.exists() {
        return Err(format!(
            "no history database at {} (give the file runs were recorded into with --db)",
            db.display()
        ));
    }
    Store::open(db).await.map_err(|e| e.to_string())
}

/// BASE and HEAD as named, or HEAD and the base `--baseline` picks.
async fn base_and_head(store: &Store, args: &CompareArgs) -> Checked<(RunRecord, RunRecord)> {
    let db = args.db.display();
    let plan = args.plan.as_deref();
    let label = args.label.as_ref();
    let head = match named_run(store, &args.runs[args.runs.len() - 1], plan, label, &db).await? {
        Ok(run) => run,
        Err(message) => return Ok(Err(message)),
    };
    let base = match &args.baseline {
        None => match named_run(store, &args.runs[0], plan, label, &db).await? {
            Ok(run) => run,
            Err(message) => return Ok(Err(message)),
        },
        Some(tag) => match baseline_run(store, tag, &head, label).await? {
            Some(run) => run,
            None => {
                let plan = if tag == "last-passing" {
                    &head.plan_name
                } else {
                    tag
                };
                let labelled = label
                    .map(|(k, v)| format!(" labelled {k}={v}"))
                    .unwrap_or_default();
                return Ok(Err(format!(
                    "no passing run of plan {plan:?}{labelled} before run {} in {db}",
                    head.id
                )));
            }
        },
    };
    Ok(Ok((base, head)))
}

/// The run `reference` names (id, unique prefix, `last`, `last~N`), or why none is.
async fn named_run(
    store: &Store,
    reference: &str,
    plan: Option<&str>,
    label: Option<&(String, String)>,
    db: &impl std::fmt::Display,
) -> Checked<RunRecord> {
    let mut of_plan = plan.map(|p| format!(" of plan {p:?}")).unwrap_or_default();
    if let Some((k, v)) = label {
        of_plan.push_str(&format!(" labelled {k}={v}"));
    }
    Ok(match store.lookup_run(reference, plan, label).await? {
        RunLookup::Found(run) => Ok(*run),
        RunLookup::Missing => Err(format!("no run {reference:?}{of_plan} in {db}")),
        RunLookup::Ambiguous(ids) => Err(format!(
            "{reference:?} is the start of several run ids{of_plan} ({}): give more of it",
            ids.join(", ")
        )),
    })
}

/// The base for `--baseline TAG`: the newest passing run, started before `head`, of head's plan
/// (`last-passing`) or of the plan named TAG.
async fn baseline_run(
    store: &Store,
    tag: &str,
    head: &RunRecord,
    label: Option<&(String, String)>,
) -> anyhow::Result<Option<RunRecord>> {
    let plan = if tag == "last-passing" {
        head.plan_name.clone()
    } else {
        tag.to_string()
    };
    let candidates = store
        .list_runs(&RunFilter {
            plan: Some(plan),
            state: Some(RunState::Stopped),
            limit: 500,
            before: Some(head.id.clone()),
            label: label.cloned(),
        })
        .await?;
    // Passing = ended stopped (not aborted) with every threshold verdict held.
    Ok(candidates
        .into_iter()
        .find(|r| r.state == RunState::Stopped && r.verdicts.iter().all(|v| v.passed)))
}
