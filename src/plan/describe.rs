//! A plan as text, for `hornet check`: classes with their share of users, tasks with their
//! share of a class's iterations, shapes, thresholds, data sources. Pure.

use std::fmt::Write;

use super::duration::format_duration;
use super::model::*;

/// `between(1s, 3s)`, `throughput(2/s)`, ... as a plan would write it.
pub fn format_wait(w: &Wait) -> String {
    match *w {
        Wait::Constant(d) => format!("constant({})", format_duration(d)),
        Wait::Between(a, b) => format!("between({}, {})", format_duration(a), format_duration(b)),
        Wait::Throughput(n) => format!("throughput({}/s)", trim_float(n)),
        Wait::Pacing(d) => format!("pacing({})", format_duration(d)),
    }
}

fn trim_float(f: f64) -> String {
    let s = format!("{f:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".to_string();
    }
    let s = format!("{:.1}", part as f64 * 100.0 / whole as f64);
    s.trim_end_matches(".0").to_string() + "%"
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The summary `hornet check` prints.
pub fn describe(plan: &Plan) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_plan(&mut out, plan);
    out
}

fn write_plan(out: &mut String, plan: &Plan) -> std::fmt::Result {
    write_header(out, plan)?;
    write_classes(out, plan)?;
    write_topics(out, plan)?;
    write_shapes(out, plan)?;
    write_thresholds(out, plan)?;
    write_monitor(out, plan)?;
    write_data(out, plan)?;
    writeln!(out)?;
    writeln!(out, "Statistics names: {}", plan.names.len())?;
    Ok(())
}

/// Name, description, host, the names of the vars, the setup steps.
fn write_header(out: &mut String, plan: &Plan) -> std::fmt::Result {
    writeln!(out, "Plan: {}", plan.name)?;
    if !plan.description.is_empty() {
        writeln!(out, "  {}", plan.description)?;
    }
    if let Some(host) = &plan.host {
        writeln!(out, "  host: {host}")?;
    }
    if !plan.vars.is_empty() {
        let names: Vec<&str> = plan.vars.iter().map(|(n, _)| n.as_str()).collect();
        writeln!(out, "  vars: {}", names.join(", "))?;
    }
    if !plan.setup.is_empty() {
        writeln!(out, "  setup: {}", plural(plan.setup.len(), "step"))?;
    }
    Ok(())
}

/// Each class with its share of users, then its tasks with their share of its iterations.
fn write_classes(out: &mut String, plan: &Plan) -> std::fmt::Result {
    let weighted: u64 = plan
        .users
        .iter()
        .filter(|c| c.fixed_count.is_none())
        .map(|c| u64::from(c.weight))
        .sum();
    writeln!(out)?;
    writeln!(out, "User classes ({}):", plan.users.len())?;
    for class in &plan.users {
        write_class(out, plan, class, weighted)?;
    }
    Ok(())
}

fn write_class(
    out: &mut String,
    plan: &Plan,
    class: &UserClass,
    weighted: u64,
) -> std::fmt::Result {
    let share = match class.fixed_count {
        Some(n) => format!("fixed_count {n}"),
        None => format!(
            "weight {} ({} of users)",
            class.weight,
            percent(u64::from(class.weight), weighted)
        ),
    };
    writeln!(
        out,
        "  {}  {share}  wait {}",
        class.name,
        format_wait(&class.wait)
    )?;
    if !class.tags.is_empty() {
        writeln!(out, "    tags: {}", class.tags.join(", "))?;
    }
    if !class.on_start.is_empty() || !class.on_stop.is_empty() {
        writeln!(
            out,
            "    on_start: {}, on_stop: {}",
            plural(class.on_start.len(), "step"),
            plural(class.on_stop.len(), "step")
        )?;
    }
    let total: u64 = class.tasks.iter().map(|t| u64::from(t.weight)).sum();
    for task in &class.tasks {
        let mut line = format!(
            "    - {}  weight {} ({})",
            task.name,
            task.weight,
            percent(u64::from(task.weight), total)
        );
        if task.steps.len() > 1 {
            line.push_str(&format!("  {}", plural(task.steps.len(), "step")));
        } else if let Some(kind) = task.steps.first().and_then(|s| step_kind(plan, s)) {
            line.push_str(&format!("  {kind}"));
        }
        if !task.tags.is_empty() {
            line.push_str(&format!("  [{}]", task.tags.join(", ")));
        }
        if !task.requires.is_empty() {
            line.push_str(&format!("  requires {}", task.requires.join(", ")));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The fan-out topics, with how many steps publish and subscribe to each and the keys.
fn write_topics(out: &mut String, plan: &Plan) -> std::fmt::Result {
    // (topic, publishing steps, subscribing steps, keys), in order of first appearance
    let mut topics: Vec<(&str, usize, usize, Vec<&str>)> = Vec::new();
    let steps = plan.setup.iter().chain(plan.users.iter().flat_map(|c| {
        c.on_start
            .iter()
            .chain(&c.on_stop)
            .chain(c.tasks.iter().flat_map(|t| &t.steps))
    }));
    for f in steps.filter_map(|s| s.fanout.as_ref()) {
        let at = match topics.iter().position(|t| t.0 == f.topic) {
            Some(i) => i,
            None => {
                topics.push((&f.topic, 0, 0, Vec::new()));
                topics.len() - 1
            }
        };
        let topic = &mut topics[at];
        match f.role {
            FanoutRole::Publish => topic.1 += 1,
            FanoutRole::Subscribe => topic.2 += 1,
        }
        if !topic.3.contains(&f.key_text.as_str()) {
            topic.3.push(&f.key_text);
        }
    }
    if topics.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "Fan-out topics:")?;
    for (topic, publishers, subscribers, keys) in topics {
        writeln!(
            out,
            "  {topic}  published by {}, subscribed by {}, key {}",
            plural(publishers, "step"),
            plural(subscribers, "step"),
            keys.join(" / ")
        )?;
    }
    Ok(())
}

fn write_shapes(out: &mut String, plan: &Plan) -> std::fmt::Result {
    if !plan.shapes.is_empty() {
        writeln!(out)?;
        writeln!(out, "Shapes:")?;
        for shape in &plan.shapes {
            match &shape.kind {
                ShapeKind::Stages(stages) => {
                    let parts: Vec<String> = stages
                        .iter()
                        .map(|s| {
                            let rate = s
                                .spawn_rate
                                .map(|r| format!(" at {}/s", trim_float(r)))
                                .unwrap_or_default();
                            format!(
                                "{} users{rate} for {}",
                                s.users,
                                format_duration(s.duration)
                            )
                        })
                        .collect();
                    writeln!(out, "  {} (stages): {}", shape.name, parts.join(", then "))?;
                }
                ShapeKind::Arrival { stages, max_users } => {
                    let parts: Vec<String> = stages
                        .iter()
                        .map(|s| {
                            format!(
                                "{}/s for {}",
                                trim_float(s.rate),
                                format_duration(s.duration)
                            )
                        })
                        .collect();
                    writeln!(
                        out,
                        "  {} (arrival, max {max_users} users): {}",
                        shape.name,
                        parts.join(", then ")
                    )?;
                }
            }
        }
    }
    Ok(())
}

fn write_thresholds(out: &mut String, plan: &Plan) -> std::fmt::Result {
    if !plan.thresholds.is_empty() {
        writeln!(out)?;
        writeln!(out, "Thresholds:")?;
        for t in &plan.thresholds {
            let mut line = format!("  {}", t.source);
            if t.abort_on_fail {
                line.push_str("  (aborts the run");
                if let Some(d) = t.delay {
                    line.push_str(&format!(" after {}", format_duration(d)));
                }
                line.push(')');
            }
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// `[monitor]`: how often, the warm-up, and the series each source gives.
fn write_monitor(out: &mut String, plan: &Plan) -> std::fmt::Result {
    let Some(m) = &plan.monitor else {
        return Ok(());
    };
    writeln!(out)?;
    writeln!(
        out,
        "Monitors (every {}, growth after a {} warm-up):",
        format_duration(m.every),
        format_duration(m.warmup)
    )?;
    for p in &m.prometheus {
        let series: Vec<&str> = p.metrics.iter().map(|s| s.series.as_str()).collect();
        writeln!(out, "  {} (Prometheus text): {}", p.url, series.join(", "))?;
    }
    for q in &m.query {
        writeln!(out, "  {} (query {:?}): {}", q.url, q.promql, q.series)?;
    }
    for p in &m.process {
        let how = match &p.find {
            super::monitor::ProcessFind::Pid(pid) => format!("pid {pid}"),
            super::monitor::ProcessFind::PidFile(f) => format!("pid file {f}"),
            super::monitor::ProcessFind::Command(c) => format!("command line with {c:?}"),
        };
        writeln!(out, "  process by {how}: {0}.cpu, {0}.rss, {0}.fds", p.name)?;
    }
    Ok(())
}

fn write_data(out: &mut String, plan: &Plan) -> std::fmt::Result {
    if !plan.data.is_empty() {
        writeln!(out)?;
        writeln!(out, "Data:")?;
        for d in &plan.data {
            let order = match d.order {
                DataOrder::Cycle => "cycle",
                DataOrder::Random => "random",
                DataOrder::Once => "once",
            };
            let rows = match &d.rows {
                DataRows::Csv { path, table, .. } => match table {
                    Some(t) => format!("csv {} ({} rows)", path.display(), t.len()),
                    None => format!("csv {}", path.display()),
                },
                DataRows::Inline(rows) => format!("{} inline", plural(rows.len(), "row")),
            };
            writeln!(out, "  {}: {rows} ({order})", d.name)?;
        }
    }
    Ok(())
}

fn step_kind(plan: &Plan, step: &Step) -> Option<String> {
    let id = step.name?;
    let name = plan.names.get(id.index())?;
    Some(format!("{} {}", name.kind, name.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn waits_format_as_written() {
        assert_eq!(
            format_wait(&Wait::Between(
                Duration::from_millis(300),
                Duration::from_millis(1500)
            )),
            "between(300ms, 1.5s)"
        );
        assert_eq!(format_wait(&Wait::Throughput(2.0)), "throughput(2/s)");
        assert_eq!(format_wait(&Wait::Constant(Duration::ZERO)), "constant(0s)");
        assert_eq!(
            format_wait(&Wait::Pacing(Duration::from_secs(90))),
            "pacing(1m30s)"
        );
    }

    #[test]
    fn describes_classes_tasks_shapes_and_thresholds() {
        let text = r#"
name = "Demo"
thresholds = [ "p95 < 300ms", { expr = "error_rate < 1%", abort_on_fail = true, delay = "10s" } ]
[[users]]
name = "Reader"
weight = 3
wait = "between(1s, 3s)"
on_start = [ { get = "/login", capture.ids = "json:$[*].id" } ]
tasks = [ { get = "/a", weight = 3 }, { name = "browse", requires = ["ids"], steps = [ { get = "/b/{{ pick(ids) }}", name = "/b/[id]" }, { think = "1s" } ] } ]
[[users]]
name = "Writer"
tasks = [ { post = "/a" } ]
[[users]]
name = "Admin"
fixed_count = 2
tasks = [ { get = "/admin" } ]
[shapes.ramp]
stages = [ { duration = "1m", users = 10, spawn_rate = 2 } ]
[shapes.open]
arrival = [ { duration = "5m", rate = 100 } ]
max_users = 50
"#;
        let plan = crate::plan::parse_str(text, "d.toml", None).unwrap();
        let out = describe(&plan);
        let expected = "\
Plan: Demo

User classes (3):
  Reader  weight 3 (75% of users)  wait between(1s, 3s)
    on_start: 1 step, on_stop: 0 steps
    - /a  weight 3 (75%)  GET /a
    - browse  weight 1 (25%)  2 steps  requires ids
  Writer  weight 1 (25% of users)  wait constant(0s)
    - /a  weight 1 (100%)  POST /a
  Admin  fixed_count 2  wait constant(0s)
    - /admin  weight 1 (100%)  GET /admin

Shapes:
  ramp (stages): 10 users at 2/s for 1m
  open (arrival, max 50 users): 100/s for 5m

Thresholds:
  p95 < 300ms
  error_rate < 1%  (aborts the run after 10s)

Statistics names: 5
";
        assert_eq!(out, expected);
    }

    #[test]
    fn lists_the_fan_out_topics() {
        let text = r#"
[[users]]
name = "P"
tasks = [ { post = "/b", publish = { topic = "alerts", key = "json:$.id" } } ]
[[users]]
name = "S"
tasks = [
  { sse = "/e", for = "1m", subscribe = { topic = "alerts", key = "json:$.id" } },
  { ws = "/w", for = "1m", subscribe = { topic = "alerts", key = "regex:(\\d+)" } },
]
"#;
        let plan = crate::plan::parse_str(text, "f.toml", None).unwrap();
        let out = describe(&plan);
        assert!(
            out.contains(
                "\nFan-out topics:\n  alerts  published by 1 step, subscribed by 2 steps, key json:$.id / regex:(\\d+)\n"
            ),
            "{out}"
        );
    }
}
