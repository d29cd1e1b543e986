//! The one validated start of a run. Every edge — the JSON API, the start form, Locust's
//! `/swarm`, the CLI's flags (and later an agent's hello) — parses its own syntax into a
//! [`StartInput`] and calls [`resolve`] once. The [`RunRequest`] it returns is the only thing the
//! engine accepts: nothing after it validates again or re-encodes a value (durations stay
//! [`Duration`]). A new start field is one field here, one check in [`resolve`], and its parsers
//! at the edges.

use std::sync::Arc;
use std::time::Duration;

use crate::plan::library::{PlanEntry, PlanLibrary};
use crate::plan::model::{Plan, Shape, Threshold, ThresholdMetric, UserClass};
use crate::plan::selection::Selection;
use crate::plan::{check_threshold_scope, limits, parse_threshold};
use crate::protocols::http_client::OriginInfo;
use crate::share::{Share, MAX_AGENTS};
use crate::store::{ClassChoice, RunSettings, RunSource};
use std::collections::BTreeMap;

/// Distinct statistics names before the rest go to `(other)`.
pub const DEFAULT_NAME_CAP: usize = 1000;

/// A start as an edge read it: typed, not yet checked against limits or the plan. `None` takes
/// the default (the plan's host, 1 user, 1 user/s, until stopped, every class).
#[derive(Clone, Debug, Default)]
pub struct StartInput {
    pub host: Option<String>,
    pub users: Option<i64>,
    pub spawn_rate: Option<f64>,
    pub run_time: Option<Duration>,
    pub stop_timeout: Option<Duration>,
    /// Classes to run, each with an optional weight (None: the plan's); None: all of them.
    pub classes: Option<Vec<(String, Option<i64>)>>,
    pub shape: Option<String>,
    pub tags: Vec<String>,
    pub exclude_tags: Vec<String>,
    /// Thresholds beside the plan's, as written (`p95<300ms`).
    pub thresholds: Vec<String>,
    /// None: [`DEFAULT_NAME_CAP`].
    pub name_cap: Option<usize>,
    /// This process's part of a run over several agents; None: the whole run.
    pub share: Option<Share>,
    /// Agents (`hornet agent` processes) to run the load on; None or 0: this process runs it.
    pub agents: Option<i64>,
    /// Labels for the history (`branch=main`), as given.
    pub labels: Vec<(String, String)>,
    /// A `[monitor]` in place of the plan's, validated by the edge, with its TOML text (kept
    /// with the run); None: the plan's.
    pub monitor: Option<(crate::plan::monitor::Monitor, String)>,
}

/// Why a start was refused: the input field at fault (the API's `field`) and what is wrong.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    pub field: &'static str,
    pub message: String,
}

impl RequestError {
    fn new(field: &'static str, message: impl Into<String>) -> RequestError {
        RequestError {
            field,
            message: message.into(),
        }
    }
}

/// The plan a start names, with where it came from.
#[derive(Clone, Debug)]
pub struct PlanChoice {
    pub plan: Arc<Plan>,
    /// The plan's key in the plans directory, or the path given to `hornet run`.
    pub file: Option<String>,
    /// The plan's text as loaded (kept with the run).
    pub source: String,
}

impl PlanChoice {
    /// A plan that came from no file (built in code: tests, benchmarks).
    pub fn of(plan: Plan) -> PlanChoice {
        PlanChoice {
            plan: Arc::new(plan),
            file: None,
            source: String::new(),
        }
    }
}

impl From<&PlanEntry> for PlanChoice {
    fn from(e: &PlanEntry) -> PlanChoice {
        PlanChoice {
            plan: e.plan.clone(),
            file: Some(e.key.clone()),
            source: e.source.clone(),
        }
    }
}

/// The plan called `wanted` in the library (by key, key without `.toml`, or name).
pub fn pick_plan(lib: &PlanLibrary, wanted: Option<&str>) -> Result<PlanChoice, RequestError> {
    let wanted = wanted
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| RequestError::new("plan", "`plan` is required (see GET /api/plans)"))?;
    if let Some(entry) = lib.find(wanted) {
        return Ok(entry.into());
    }
    if let Some(errors) = lib.find_invalid(wanted) {
        return Err(RequestError::new(
            "plan",
            format!("plan {wanted:?} cannot be run: {errors}"),
        ));
    }
    let known: Vec<&str> = lib.plans.iter().map(|p| p.key.as_str()).collect();
    Err(RequestError::new(
        "plan",
        format!("unknown plan {wanted:?}; available: {}", known.join(", ")),
    ))
}

/// A run to start, checked against the limits and the plan.
#[derive(Clone, Debug)]
pub struct RunRequest {
    pub plan: Arc<Plan>,
    pub plan_file: Option<String>,
    pub plan_source: String,
    pub source: RunSource,
    /// The target, as given (`http://127.0.0.1:8090`, no trailing slash).
    pub host: String,
    pub origin: Arc<OriginInfo>,
    pub users: u32,
    /// Users started (or stopped) per second.
    pub spawn_rate: f64,
    /// As asked; the run ends after [`RunRequest::ends_after`].
    pub run_time: Option<Duration>,
    /// How long a stopping user may take to finish its task (Locust's --stop-timeout; 0: at once).
    pub stop_timeout: Duration,
    /// Which classes and tasks run; [`RunRequest::classes`] is the result on the plan.
    pub selection: Selection,
    /// The classes that run, re-weighted and filtered by tag.
    pub classes: Vec<UserClass>,
    /// A load shape of the plan: its stages set the users (or the arrival rate) instead of
    /// `users`/`spawn_rate`, and the run ends with it (or with `run_time`).
    pub shape: Option<Shape>,
    /// The plan's thresholds, then the start's.
    pub thresholds: Vec<Threshold>,
    /// How many of [`RunRequest::thresholds`] the start added (the last ones).
    pub extra_thresholds: usize,
    /// The `[monitor]` read beside the run: the start's, else the plan's.
    pub monitor: Option<Arc<crate::plan::monitor::Monitor>>,
    /// The start's own `[monitor]` as TOML (the history keeps it); None: the plan's.
    pub monitor_text: Option<String>,
    pub name_cap: usize,
    /// This process's part of the run (`engine::share`): which users and starts it runs.
    pub share: Share,
    /// The agents the load runs on; 0: this process runs it.
    pub agents: u32,
    pub labels: BTreeMap<String, String>,
}

impl RunRequest {
    /// When the run ends by itself: `run_time` or the shape's length, whichever is shorter.
    pub fn ends_after(&self) -> Option<Duration> {
        let shape = self.shape.as_ref().map(|s| s.kind.duration());
        match (self.run_time, shape) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The choices as the history keeps and shows them.
    pub fn settings(&self) -> RunSettings {
        RunSettings {
            host: self.host.clone(),
            users: self.users,
            spawn_rate: self.spawn_rate,
            run_time_s: self.run_time.map(|d| d.as_secs_f64()),
            classes: self
                .selection
                .classes
                .iter()
                .filter_map(|(name, weight)| {
                    let class = self.plan.users.iter().find(|c| &c.name == name)?;
                    Some(ClassChoice {
                        name: name.clone(),
                        weight: weight.unwrap_or(class.weight),
                    })
                })
                .collect(),
            tags: self.selection.tags.clone(),
            exclude_tags: self.selection.exclude_tags.clone(),
            shape: self.shape.as_ref().map(|s| s.name.clone()),
            stop_timeout_s: self.stop_timeout.as_secs_f64(),
            thresholds: self.thresholds[self.thresholds.len() - self.extra_thresholds..]
                .iter()
                .map(|t| t.source.clone())
                .collect(),
            agents: self.agents,
            labels: self.labels.clone(),
            monitor: self.monitor_text.clone(),
        }
    }
}

/// Checks a start against the limits (`plan::limits`) and the plan; the one place that does.
pub fn resolve(
    choice: PlanChoice,
    input: StartInput,
    source: RunSource,
) -> Result<RunRequest, RequestError> {
    let plan = &choice.plan;
    let users = users(input.users)?;
    let spawn_rate = limits::check_spawn_rate(input.spawn_rate.unwrap_or(1.0))
        .map_err(|e| RequestError::new("spawn_rate", e))?;
    let run_time = match input.run_time {
        None => None,
        Some(d) if d.is_zero() => {
            return Err(RequestError::new(
                "run_time",
                "run_time must be more than 0s",
            ))
        }
        Some(d) => Some(
            limits::check_duration(d)
                .map_err(|e| RequestError::new("run_time", format!("run_time: {e}")))?,
        ),
    };
    let stop_timeout = limits::check_duration(input.stop_timeout.unwrap_or_default())
        .map_err(|e| RequestError::new("stop_timeout", format!("stop_timeout: {e}")))?;
    let (host, origin) = host(plan, input.host.as_deref())?;
    let selection = selection(input.classes, input.tags, input.exclude_tags)?;
    let classes = selection
        .apply(plan)
        .map_err(|e| RequestError::new("classes", e))?;
    let shape = input
        .shape
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| find_shape(plan, name))
        .transpose()?;
    let agents = agents(input.agents, input.share)?;
    let labels = labels(input.labels)?;
    // an agent's part reads no monitors (its coordinator does, and judges their thresholds)
    let is_part = input.share.is_some();
    let (monitor, monitor_text) = match input.monitor {
        Some((m, text)) => (Some(m), Some(text)),
        None => (plan.monitor.clone(), None),
    };
    let monitor = monitor.filter(|_| !is_part);
    let mut thresholds = plan.thresholds.clone();
    for text in &input.thresholds {
        let t = parse_threshold(text)
            .and_then(|t| check_monitor_scope(plan, monitor.as_ref(), is_part, &t).map(|()| t))
            .and_then(|t| {
                if t.metric == ThresholdMetric::Recovery && shape.is_none() {
                    Err(
                        "expected a run with a shape (recovery is judged on its steps), found \
                         none chosen"
                            .to_string(),
                    )
                } else {
                    Ok(t)
                }
            })
            .map_err(|e| RequestError::new("thresholds", format!("{text:?}: {e}")))?;
        thresholds.push(t);
    }
    // a start's own monitor must still give the series the plan's thresholds read
    for t in &plan.thresholds {
        check_monitor_scope(plan, monitor.as_ref(), is_part, t).map_err(|e| {
            RequestError::new(
                "monitor",
                format!("the plan's threshold {:?}: {e}", t.source),
            )
        })?;
    }
    Ok(RunRequest {
        plan_file: choice.file,
        plan_source: choice.source,
        source,
        host,
        origin,
        users,
        spawn_rate,
        run_time,
        stop_timeout,
        selection,
        classes,
        shape,
        extra_thresholds: input.thresholds.len(),
        thresholds,
        monitor: monitor.map(Arc::new),
        monitor_text,
        name_cap: input.name_cap.unwrap_or(DEFAULT_NAME_CAP),
        share: input.share.unwrap_or_default(),
        agents,
        labels,
        plan: choice.plan,
    })
}

/// [`check_threshold_scope`], with a `monitor.…` threshold checked against `monitor` (the
/// start's own, or the plan's); not at all on an agent's part (`is_part`).
fn check_monitor_scope(
    plan: &Plan,
    monitor: Option<&crate::plan::monitor::Monitor>,
    is_part: bool,
    t: &Threshold,
) -> Result<(), String> {
    match &t.scope {
        crate::plan::ThresholdScope::Monitor(_) if is_part => Ok(()),
        crate::plan::ThresholdScope::Monitor(series) => {
            crate::plan::check_monitor_series(monitor, series)
        }
        _ => check_threshold_scope(plan, t),
    }
}

/// Labels a run may carry.
pub const MAX_LABELS: usize = 20;

/// `key=value` (the CLI's `--label`, the history's `label` filter): a key of letters, digits,
/// `_ . / -` (at most 64), a value of at most 256 characters.
pub fn parse_label(text: &str) -> Result<(String, String), String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!("a label is key=value, got {text:?}"));
    };
    let (key, value) = (key.trim(), value.trim());
    let key_ok = !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./-".contains(&b));
    if !key_ok {
        return Err(format!(
            "label key {key:?}: 1 to 64 letters, digits or _ . / -"
        ));
    }
    if value.chars().count() > 256 || value.chars().any(char::is_control) {
        return Err(format!(
            "label {key}: the value must be at most 256 characters without control characters"
        ));
    }
    Ok((key.to_string(), value.to_string()))
}

fn labels(given: Vec<(String, String)>) -> Result<BTreeMap<String, String>, RequestError> {
    if given.len() > MAX_LABELS {
        return Err(RequestError::new(
            "labels",
            format!("at most {MAX_LABELS} labels, got {}", given.len()),
        ));
    }
    let mut labels = BTreeMap::new();
    for (key, value) in given {
        let (key, value) =
            parse_label(&format!("{key}={value}")).map_err(|e| RequestError::new("labels", e))?;
        labels.insert(key, value);
    }
    Ok(labels)
}

fn agents(agents: Option<i64>, share: Option<Share>) -> Result<u32, RequestError> {
    let agents = agents.unwrap_or(0);
    let n = u32::try_from(agents)
        .ok()
        .filter(|&n| n <= MAX_AGENTS)
        .ok_or_else(|| {
            RequestError::new(
                "agents",
                format!("agents must be from 0 (this process) to {MAX_AGENTS}, got {agents}"),
            )
        })?;
    if n > 0 && share.is_some() {
        return Err(RequestError::new(
            "agents",
            "an agent's part of a run cannot itself be spread over agents",
        ));
    }
    Ok(n)
}

fn users(users: Option<i64>) -> Result<u32, RequestError> {
    let users = users.unwrap_or(1);
    let max = i64::from(limits::MAX_USERS);
    u32::try_from(users)
        .ok()
        .filter(|u| (1..=limits::MAX_USERS).contains(u))
        .ok_or_else(|| {
            RequestError::new(
                "users",
                format!("users must be a whole number from 1 to {max}, got {users}"),
            )
        })
}

/// The start's host, else the plan's; it must be an http(s) URL with a host.
fn host(plan: &Plan, given: Option<&str>) -> Result<(String, Arc<OriginInfo>), RequestError> {
    let host = match given.map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) => h.trim_end_matches('/').to_string(),
        None => plan.host.clone().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err(RequestError::new(
            "host",
            "no host: set `host` in the plan or give one (-H/--host, the API's and form's host), \
             e.g. http://127.0.0.1:8090",
        ));
    }
    if !(host.starts_with("http://") || host.starts_with("https://")) {
        return Err(RequestError::new(
            "host",
            format!("host must start with http:// or https://, got {host:?}"),
        ));
    }
    let origin = OriginInfo::parse(&host).map_err(|e| RequestError::new("host", e.to_string()))?;
    Ok((host, origin))
}

fn selection(
    classes: Option<Vec<(String, Option<i64>)>>,
    tags: Vec<String>,
    exclude_tags: Vec<String>,
) -> Result<Selection, RequestError> {
    let classes = classes
        .unwrap_or_default()
        .into_iter()
        .map(|(name, weight)| {
            let weight = weight
                .map(limits::check_weight)
                .transpose()
                .map_err(|e| RequestError::new("classes", format!("{name}: {e}")))?;
            Ok((name, weight))
        })
        .collect::<Result<_, RequestError>>()?;
    Ok(Selection {
        classes,
        tags,
        exclude_tags,
    })
}

/// The plan's shape called `name`; an unknown name is an error naming the known ones.
fn find_shape(plan: &Plan, name: &str) -> Result<Shape, RequestError> {
    if let Some(shape) = plan.shapes.iter().find(|s| s.name == name) {
        return Ok(shape.clone());
    }
    let known: Vec<&str> = plan.shapes.iter().map(|s| s.name.as_str()).collect();
    let known = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    Err(RequestError::new(
        "shape",
        format!("unknown shape {name:?}; the plan has {known}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = r#"
name = "r"
host = "http://127.0.0.1:1"
[[users]]
name = "A"
weight = 3
tasks = [ { get = "/a", tags = ["x"] }, { get = "/b" } ]
[[users]]
name = "B"
tasks = [ { get = "/c", tags = ["x"] } ]
[shapes.short]
stages = [ { duration = "5s", users = 2 } ]
"#;

    fn choice() -> PlanChoice {
        PlanChoice {
            plan: Arc::new(crate::plan::parse_str(PLAN, "r.toml", None).unwrap()),
            file: Some("r.toml".into()),
            source: PLAN.into(),
        }
    }

    fn refused(input: StartInput) -> (&'static str, String) {
        let e = resolve(choice(), input, RunSource::Api).unwrap_err();
        (e.field, e.message)
    }

    #[test]
    fn every_value_is_checked_and_named() {
        let field = |input| refused(input).0;
        assert_eq!(
            field(StartInput {
                users: Some(0),
                ..Default::default()
            }),
            "users"
        );
        assert_eq!(
            field(StartInput {
                users: Some(2_000_000),
                ..Default::default()
            }),
            "users"
        );
        assert_eq!(
            field(StartInput {
                spawn_rate: Some(0.0),
                ..Default::default()
            }),
            "spawn_rate"
        );
        assert_eq!(
            field(StartInput {
                run_time: Some(Duration::ZERO),
                ..Default::default()
            }),
            "run_time"
        );
        assert_eq!(
            field(StartInput {
                run_time: Some(Duration::from_secs(800 * 3600)),
                ..Default::default()
            }),
            "run_time"
        );
        assert_eq!(
            field(StartInput {
                stop_timeout: Some(Duration::from_secs(800 * 3600)),
                ..Default::default()
            }),
            "stop_timeout"
        );
        assert_eq!(
            field(StartInput {
                host: Some("ftp://x".into()),
                ..Default::default()
            }),
            "host"
        );
        assert_eq!(
            field(StartInput {
                classes: Some(vec![("Ghost".into(), None)]),
                ..Default::default()
            }),
            "classes"
        );
        assert_eq!(
            field(StartInput {
                classes: Some(vec![("A".into(), Some(0))]),
                ..Default::default()
            }),
            "classes"
        );
        assert_eq!(
            field(StartInput {
                shape: Some("nope".into()),
                ..Default::default()
            }),
            "shape"
        );
        assert_eq!(
            field(StartInput {
                thresholds: vec!["p95 <".into()],
                ..Default::default()
            }),
            "thresholds"
        );
        // recovery is judged on a shape's steps: a run without a shape has none
        let (field, message) = refused(StartInput {
            thresholds: vec!["recovery < 30s".into()],
            ..Default::default()
        });
        assert_eq!(field, "thresholds");
        assert_eq!(
            message,
            "\"recovery < 30s\": expected a run with a shape (recovery is judged on its steps), \
             found none chosen"
        );
        let shaped = StartInput {
            thresholds: vec!["recovery < 30s".into()],
            shape: Some("short".into()),
            ..Default::default()
        };
        assert!(resolve(choice(), shaped, RunSource::Api).is_ok());
        let (field, message) = refused(StartInput {
            tags: vec!["none".into()],
            ..Default::default()
        });
        assert_eq!(field, "classes");
        assert!(message.contains("no user class is left"), "{message}");
        let (_, message) = refused(StartInput {
            shape: Some("nope".into()),
            ..Default::default()
        });
        assert_eq!(message, "unknown shape \"nope\"; the plan has short");
    }

    #[test]
    fn a_resolved_request_keeps_durations_and_what_was_chosen() {
        let req = resolve(
            choice(),
            StartInput {
                host: Some("http://127.0.0.1:9/".into()),
                users: Some(4),
                run_time: Some(Duration::from_secs(60)),
                classes: Some(vec![("A".into(), Some(5))]),
                tags: vec!["x".into()],
                thresholds: vec!["p95<300ms".into()],
                ..Default::default()
            },
            RunSource::Cli,
        )
        .unwrap();
        assert_eq!(req.host, "http://127.0.0.1:9", "trailing slash dropped");
        assert_eq!((req.users, req.spawn_rate), (4, 1.0));
        assert_eq!(req.ends_after(), Some(Duration::from_secs(60)));
        assert_eq!(req.classes.len(), 1);
        assert_eq!((req.classes[0].weight, req.classes[0].tasks.len()), (5, 1));
        assert_eq!(req.thresholds.len(), 1);
        let s = req.settings();
        assert_eq!(
            s.classes,
            vec![ClassChoice {
                name: "A".into(),
                weight: 5
            }]
        );
        assert_eq!((s.run_time_s, s.stop_timeout_s), (Some(60.0), 0.0));
        assert_eq!(s.thresholds, ["p95<300ms"]);
    }

    #[test]
    fn a_shape_ends_the_run_unless_run_time_is_shorter() {
        let with = |run_time| {
            resolve(
                choice(),
                StartInput {
                    shape: Some("short".into()),
                    run_time,
                    ..Default::default()
                },
                RunSource::Api,
            )
            .unwrap()
            .ends_after()
        };
        assert_eq!(with(None), Some(Duration::from_secs(5)));
        assert_eq!(
            with(Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            with(Some(Duration::from_secs(60))),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn the_library_names_the_plan_or_says_what_it_has() {
        let lib = PlanLibrary::load(std::path::Path::new("/nonexistent-plans-dir"));
        assert_eq!(
            pick_plan(&lib, Some("demo")).unwrap().file.as_deref(),
            Some("demo.toml")
        );
        assert_eq!(pick_plan(&lib, None).unwrap_err().field, "plan");
        let e = pick_plan(&lib, Some("nope")).unwrap_err();
        assert!(e.message.contains("available: demo.toml"), "{}", e.message);
    }
}
