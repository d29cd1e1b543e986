//! `hornet compare A B` / `--baseline TAG`: two stored runs side by side, exit 1 on a broken
//! `--max-regression` rule.

use std::io::Write;

use super::args::CompareArgs;
use super::{EXIT_BAD_INPUT, EXIT_OK, EXIT_REGRESSION};
use crate::report::compare;
use crate::stats::snapshot::RunState;
use crate::store::{RunFilter, RunRecord, Store};

/// `hornet compare`: loads both runs from the database, prints the comparison, exits 1 when a
/// `--max-regression` rule is broken.
pub(super) async fn compare_runs(args: CompareArgs) -> anyhow::Result<i32> {
    let rules = match compare::parse_rules(args.max_regression.as_deref().unwrap_or_default()) {
        Ok(rules) => rules,
        Err(e) => {
            eprintln!("error: --max-regression: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    match (&args.baseline, args.runs.len()) {
        (None, 2) | (Some(_), 1) => {}
        (None, _) => {
            eprintln!("error: give two run ids (BASE HEAD), or one with --baseline");
            return Ok(EXIT_BAD_INPUT);
        }
        (Some(_), _) => {
            eprintln!("error: with --baseline give only the head run id");
            return Ok(EXIT_BAD_INPUT);
        }
    }
    // Store::open would create an empty database: a typo in --db must be an error instead.
    if !args.db.exists() {
        eprintln!(
            "error: no history database at {} (give the file runs were recorded into with --db)",
            args.db.display()
        );
        return Ok(EXIT_BAD_INPUT);
    }
    let store = match Store::open(&args.db).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let head_id = &args.runs[args.runs.len() - 1];
    let Some(head) = store.get_run(head_id).await? else {
        eprintln!("error: no run {head_id:?} in {}", args.db.display());
        return Ok(EXIT_BAD_INPUT);
    };
    let base = match &args.baseline {
        None => {
            let id = &args.runs[0];
            match store.get_run(id).await? {
                Some(run) => run,
                None => {
                    eprintln!("error: no run {id:?} in {}", args.db.display());
                    return Ok(EXIT_BAD_INPUT);
                }
            }
        }
        Some(tag) => match baseline_run(&store, tag, &head).await? {
            Some(run) => run,
            None => {
                let plan = if tag == "last-passing" {
                    &head.plan_name
                } else {
                    tag
                };
                eprintln!(
                    "error: no passing run of plan {plan:?} before run {} in {}",
                    head.id,
                    args.db.display()
                );
                return Ok(EXIT_BAD_INPUT);
            }
        },
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
            crate::web::views::fmt_utc(r.started_at_ms),
            r.state.as_str()
        )
    };
    print!(
        "{}",
        compare::render_text(&comparison, &label(&base), &label(&head))
    );
    std::io::stdout().flush()?;
    Ok(if comparison.regressions.is_empty() {
        EXIT_OK
    } else {
        EXIT_REGRESSION
    })
}

/// The base for `--baseline TAG`: the newest passing run, started before `head`, of head's plan
/// (`last-passing`) or of the plan named TAG.
async fn baseline_run(
    store: &Store,
    tag: &str,
    head: &RunRecord,
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
        })
        .await?;
    // Passing = ended stopped (not aborted) with every threshold verdict held.
    Ok(candidates
        .into_iter()
        .find(|r| r.state == RunState::Stopped && r.verdicts.iter().all(|v| v.passed)))
}
