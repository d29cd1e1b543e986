//! A run's configuration as label/value rows: the Configuration tab of the run page and the
//! Configuration section of the HTML report show the same rows. Plain text only (the templates
//! escape it); no I/O. It lives in `report/` so that the report never reaches up into `web/`.

use crate::format::{fmt_duration, fmt_utc, trimmed, DASH};
use crate::store::RunRecord;

/// The Configuration section: label, value pairs (all plain text).
pub fn settings_rows(run: &RunRecord) -> Vec<(&'static str, String)> {
    let s = &run.settings;
    let list = |v: &[String]| {
        if v.is_empty() {
            DASH.to_string()
        } else {
            v.join(", ")
        }
    };
    let classes = if s.classes.is_empty() {
        "all (plan weights)".to_string()
    } else {
        s.classes
            .iter()
            .map(|c| format!("{} ×{}", c.name, c.weight))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut rows = vec![
        ("Plan", run.plan_name.clone()),
        (
            "Plan file",
            run.plan_file.clone().unwrap_or_else(|| DASH.into()),
        ),
        ("Plan hash", run.plan_hash.clone()),
        ("Host", s.host.clone()),
        ("Users", s.users.to_string()),
        ("Spawn rate", format!("{}/s", trimmed(s.spawn_rate, 2))),
        (
            "Run time",
            s.run_time_s
                .map_or_else(|| "until stopped".into(), fmt_duration),
        ),
        ("Classes", classes),
        ("Tags", list(&s.tags)),
        ("Excluded tags", list(&s.exclude_tags)),
        ("Shape", s.shape.clone().unwrap_or_else(|| DASH.into())),
        ("Stop timeout", fmt_duration(s.stop_timeout_s)),
        (
            "Agents",
            match s.agents {
                0 => "none (one process)".to_string(),
                n => n.to_string(),
            },
        ),
        (
            "Labels",
            list(
                &s.labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>(),
            ),
        ),
        ("Source", run.source.as_str().to_string()),
        ("Started", fmt_utc(run.started_at_ms)),
        (
            "Ended",
            run.ended_at_ms.map_or_else(|| DASH.into(), fmt_utc),
        ),
        ("Run id", run.id.clone()),
    ];
    if let Some(monitor) = &s.monitor {
        rows.insert(
            rows.len() - 4,
            ("Monitor (given at start)", monitor.clone()),
        );
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ClassChoice, RunSettings};

    #[test]
    fn every_setting_is_one_labelled_row() {
        let run = RunRecord {
            settings: RunSettings {
                host: "http://x".into(),
                users: 4,
                spawn_rate: 0.5,
                run_time_s: None,
                classes: vec![ClassChoice {
                    name: "Reader".into(),
                    weight: 3,
                }],
                tags: vec!["a".into(), "b".into()],
                exclude_tags: Vec::new(),
                shape: None,
                stop_timeout_s: 90.0,
                thresholds: Vec::new(),
                agents: 0,
                labels: Default::default(),
                monitor: None,
            },
            started_at_ms: 1_714_564_800_000,
            ..RunRecord::example("run-1")
        };
        let rows = settings_rows(&run);
        let get = |label: &str| {
            rows.iter()
                .find(|(l, _)| *l == label)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("Plan file"), Some("—"));
        assert_eq!(get("Spawn rate"), Some("0.5/s"));
        assert_eq!(get("Run time"), Some("until stopped"));
        assert_eq!(get("Classes"), Some("Reader ×3"));
        assert_eq!(get("Tags"), Some("a, b"));
        assert_eq!(get("Stop timeout"), Some("1m 30s"));
        assert_eq!(get("Started"), Some("2024-05-01 12:00:00 UTC"));
        assert_eq!(get("Ended"), Some("—"));
    }
}
