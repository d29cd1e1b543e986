//! The messages between a coordinator and its agents (JSON over one long-lived connection the
//! agent opens), and the checks that refuse an agent that cannot take part: another Hornet
//! version, another histogram configuration, an index outside the run. An agent is one more edge
//! that builds the run's `RunRequest`: the coordinator sends the run's settings as stored
//! ([`RunSettings`]), and [`start_input`] turns them back into the same start, plus the share.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::run::AgentSecond;
use crate::request::StartInput;
use crate::share::Share;
use crate::stats::histogram::{HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS};
use crate::store::RunSettings;

/// Bumped whenever a message changes shape (3: ws cut and SSE stream counts in the seconds;
/// 4: fan-out counts).
pub const PROTOCOL_VERSION: u32 = 4;

/// The HDR histograms' configuration: merged histograms must have the same one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramConfig {
    pub lowest_us: u64,
    pub highest_us: u64,
    pub significant_digits: u8,
}

impl HistogramConfig {
    /// This build's.
    pub fn ours() -> HistogramConfig {
        HistogramConfig {
            lowest_us: LOWEST_US,
            highest_us: HIGHEST_US,
            significant_digits: SIGNIFICANT_DIGITS,
        }
    }
}

/// An agent's first message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Hornet's version (`CARGO_PKG_VERSION`).
    pub version: String,
    pub protocol: u32,
    pub histogram: HistogramConfig,
    /// This agent's index (0-based: Kubernetes' `JOB_COMPLETION_INDEX`) and the agent count.
    pub index: u32,
    pub count: u32,
    /// The agent's wall clock when it sent this, for the coordinator's clock-offset estimate.
    pub sent_unix_ms: i64,
}

impl Hello {
    /// This build's hello for agent `index` of `count`.
    pub fn new(index: u32, count: u32, sent_unix_ms: i64) -> Hello {
        Hello {
            version: env!("CARGO_PKG_VERSION").to_string(),
            protocol: PROTOCOL_VERSION,
            histogram: HistogramConfig::ours(),
            index,
            count,
            sent_unix_ms,
        }
    }
}

/// What an agent sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMessage {
    Hello(Hello),
    /// One closed second of the agent's share.
    Second(AgentSecond),
    /// The agent's share ended (after its last second); `reason` says why when it did not
    /// start or ended early.
    Ended {
        aborted: bool,
        reason: String,
    },
}

/// What a coordinator sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CoordinatorMessage {
    /// The hello is accepted; `received_unix_ms` is the coordinator's clock when it arrived.
    Welcome {
        received_unix_ms: i64,
    },
    /// The agent cannot take part (the reason names the mismatch); the connection closes.
    Refused {
        reason: String,
    },
    Start(Box<StartOrder>),
    /// A live edit of the whole run (each agent runs its part of it).
    Edit {
        users: u32,
        spawn_rate: Option<f64>,
    },
    Stop,
    Abort,
}

/// The run an agent takes a share of, and when it starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartOrder {
    /// The plan's file name and text, and its data files (name, text) beside it.
    pub plan_file: String,
    pub plan_source: String,
    pub data_files: Vec<(String, String)>,
    pub settings: RunSettings,
    /// Captures of the coordinator's `setup` steps, for every agent's users.
    pub setup_vars: Vec<(String, serde_json::Value)>,
    /// The one start instant (coordinator clock, Unix ms).
    pub t0_unix_ms: i64,
}

/// Checks an agent's hello against this build and the run; Ok: the agent's share.
pub fn check_hello(hello: &Hello, agents: u32) -> Result<Share, String> {
    check_build(hello)?;
    if hello.count != agents {
        return Err(format!(
            "agent {} was started as one of {} agents; this run has {agents}",
            hello.index, hello.count
        ));
    }
    Share::new(hello.index, hello.count).map_err(|e| format!("agent hello: {e}"))
}

/// Checks that an agent runs this build (version, protocol, histogram configuration) and that
/// its index fits its count.
pub fn check_build(hello: &Hello) -> Result<(), String> {
    let ours = env!("CARGO_PKG_VERSION");
    if hello.version != ours || hello.protocol != PROTOCOL_VERSION {
        return Err(format!(
            "agent {} runs Hornet {} (protocol {}); this coordinator runs {ours} (protocol \
             {PROTOCOL_VERSION}): run the same version everywhere",
            hello.index, hello.version, hello.protocol
        ));
    }
    if hello.histogram != HistogramConfig::ours() {
        return Err(format!(
            "agent {} records histograms as {:?}; this coordinator as {:?}: they would not merge",
            hello.index,
            hello.histogram,
            HistogramConfig::ours()
        ));
    }
    Share::new(hello.index, hello.count)
        .map(|_| ())
        .map_err(|e| format!("agent hello: {e}"))
}

/// The agent's edge: the run's stored settings (as the coordinator resolved them) back into a
/// start, with this agent's share.
pub fn start_input(settings: &RunSettings, share: Share) -> StartInput {
    StartInput {
        host: Some(settings.host.clone()),
        users: Some(i64::from(settings.users)),
        spawn_rate: Some(settings.spawn_rate),
        run_time: settings.run_time_s.map(Duration::from_secs_f64),
        stop_timeout: Some(Duration::from_secs_f64(settings.stop_timeout_s.max(0.0))),
        classes: (!settings.classes.is_empty()).then(|| {
            settings
                .classes
                .iter()
                .map(|c| (c.name.clone(), Some(i64::from(c.weight))))
                .collect()
        }),
        shape: settings.shape.clone(),
        tags: settings.tags.clone(),
        exclude_tags: settings.exclude_tags.clone(),
        thresholds: settings.thresholds.clone(),
        name_cap: None,
        // an agent reads no monitors (its coordinator does); `hornet run`: the plan's
        monitor: None,
        share: Some(share),
        agents: None,
        // The history is the coordinator's: an agent's part needs no labels.
        labels: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{resolve, PlanChoice};
    use crate::store::RunSource;

    #[test]
    fn a_hello_is_refused_naming_the_mismatch() {
        let hello = Hello::new(2, 3, 0);
        assert_eq!(check_hello(&hello, 3), Ok(Share::new(2, 3).unwrap()));
        let old = Hello {
            version: "0.0.1".into(),
            ..hello.clone()
        };
        let e = check_hello(&old, 3).unwrap_err();
        assert!(e.contains("agent 2 runs Hornet 0.0.1"), "{e}");
        let coarse = Hello {
            histogram: HistogramConfig {
                significant_digits: 2,
                ..HistogramConfig::ours()
            },
            ..hello.clone()
        };
        assert!(check_hello(&coarse, 3)
            .unwrap_err()
            .contains("would not merge"));
        assert!(check_hello(&hello, 4)
            .unwrap_err()
            .contains("one of 3 agents; this run has 4"));
        let outside = Hello { index: 3, ..hello };
        assert!(check_hello(&outside, 3)
            .unwrap_err()
            .contains("index 3 is out of range"));
    }

    #[test]
    fn messages_are_tagged_json() {
        let m = AgentMessage::Hello(Hello::new(0, 1, 42));
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.starts_with(r#"{"type":"hello","version":"#), "{text}");
        assert_eq!(serde_json::from_str::<AgentMessage>(&text).unwrap(), m);
        let stop: CoordinatorMessage = serde_json::from_str(r#"{"type":"stop"}"#).unwrap();
        assert_eq!(stop, CoordinatorMessage::Stop);
    }

    #[test]
    fn the_agent_edge_rebuilds_the_coordinators_request() {
        let text = r#"
name = "r"
host = "http://127.0.0.1:1"
[[users]]
name = "A"
weight = 3
tasks = [ { get = "/a", tags = ["x"] } ]
[[users]]
name = "B"
tasks = [ { get = "/b" } ]
"#;
        let plan = crate::plan::parse_str(text, "r.toml", None).unwrap();
        let asked = StartInput {
            host: Some("http://127.0.0.1:9".into()),
            users: Some(12),
            spawn_rate: Some(4.0),
            run_time: Some(Duration::from_millis(90_500)),
            stop_timeout: Some(Duration::from_secs(5)),
            classes: Some(vec![("A".into(), Some(7))]),
            tags: vec!["x".into()],
            thresholds: vec!["p95<300ms".into()],
            ..StartInput::default()
        };
        let whole = resolve(PlanChoice::of(plan.clone()), asked, RunSource::Api).unwrap();
        let share = Share::new(1, 2).unwrap();
        let again = start_input(&whole.settings(), share);
        let part = resolve(PlanChoice::of(plan), again, RunSource::Api).unwrap();
        assert_eq!(part.settings(), whole.settings());
        assert_eq!(part.share, share);
        assert_eq!(part.ends_after(), whole.ends_after());
        assert_eq!(part.classes.len(), whole.classes.len());
        assert_eq!(part.thresholds.len(), whole.thresholds.len());
    }
}
