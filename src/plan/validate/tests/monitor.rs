//! `[monitor]`: sources, series names, selectors, and `monitor.…` thresholds on them.

use super::*;
use crate::plan::monitor::{MatchOp, MonitorUnit, ProcessFind};

const TASKS: &str = "tasks = [ { get = \"/\" } ]\n";

fn with_monitor(thresholds: &str, monitor: &str) -> String {
    format!("thresholds = [{thresholds}]\n{HEAD}{TASKS}[monitor]\n{monitor}")
}

const SOURCES: &str = r#"every = "2s"
warmup = "1m"
prometheus = [ { name = "gw", url = "http://127.0.0.1:4444/metrics", token = "{{ env('GW_TOKEN', '') }}",
                 metrics = ["process_resident_memory_bytes", { name = "ok", select = "http_requests_total{code=\"200\"}" }] } ]
query = [ { name = "mem", url = "http://127.0.0.1:9090", promql = "sum(container_memory_usage_bytes{name=\"gw\"})" } ]
process = [ { name = "db", command = "postgres" }, { name = "x", pid = 1234 }, { name = "y", pid_file = "/tmp/y.pid" } ]
"#;

#[test]
fn a_monitor_names_its_series() {
    let plan = ok(&with_monitor(
        "\"monitor.gw.process_resident_memory_bytes.growth < 10%\", \"monitor.db.cpu.avg < 80%\", \"monitor.mem.max < 2GiB\"",
        SOURCES,
    ));
    let m = plan.monitor.expect("a monitor");
    assert_eq!(
        (m.every, m.warmup),
        (Duration::from_secs(2), Duration::from_secs(60))
    );
    assert_eq!(m.growth_window(), Duration::from_secs(5));
    assert_eq!(
        m.series_names(),
        [
            "gw.process_resident_memory_bytes",
            "gw.ok",
            "mem",
            "db.cpu",
            "db.rss",
            "db.fds",
            "x.cpu",
            "x.rss",
            "x.fds",
            "y.cpu",
            "y.rss",
            "y.fds"
        ]
    );
    let ok_sel = &m.prometheus[0].metrics[1];
    assert_eq!(ok_sel.metric, "http_requests_total");
    assert_eq!(
        (
            ok_sel.labels[0].label.as_str(),
            ok_sel.labels[0].op,
            ok_sel.labels[0].value.as_str()
        ),
        ("code", MatchOp::Equal, "200")
    );
    assert_eq!(m.query[0].unit, MonitorUnit::Bytes);
    assert_eq!(m.process[0].find, ProcessFind::Command("postgres".into()));
    assert_eq!(m.process[1].find, ProcessFind::Pid(1234));
    let t = &plan.thresholds;
    assert_eq!(
        t[0].scope,
        ThresholdScope::Monitor("gw.process_resident_memory_bytes".into())
    );
    assert_eq!(
        (t[0].metric, t[0].value),
        (ThresholdMetric::Monitor(MonitorStat::Growth), 0.1)
    );
    assert_eq!(
        (t[1].metric, t[1].value),
        (ThresholdMetric::Monitor(MonitorStat::Avg), 80.0)
    );
    assert_eq!(t[2].value, 2.0 * 1024.0 * 1024.0 * 1024.0);
}

#[test]
fn monitor_errors_say_where() {
    let e = errors(&with_monitor(
        "\"monitor.gw.rss.growth < 10%\"",
        r#"evry = "1s"
prometheus = [ { name = "gw", url = "ftp://x", metrics = ["m{code 200}"] } ]
process = [ { name = "db", pid = 1, command = "x" }, { name = "gw", pid = 2 } ]
"#,
    ));
    assert_eq!(
        e,
        vec![
            "x.toml:6:1: expected one of every, warmup, prometheus, query, process (keys of [monitor]), found unknown key \"evry\" (did you mean \"every\"?)".to_string(),
            "x.toml:7:37: expected an http:// or https:// URL, found the string \"ftp://x\"".to_string(),
            "x.toml:7:67: expected a matcher: =, !=, =~ or !~, found \"200}\"".to_string(),
            "x.toml:8:13: expected exactly one of pid, pid_file or command, found 2 of them".to_string(),
            "x.toml:8:63: expected a name no other monitor source has, found \"gw\" again".to_string(),
        ]
    );
    let e = errors(&with_monitor(
        "\"monitor.db.rss.growth < 10%\"",
        "process = []\n",
    ));
    assert_eq!(
        e,
        ["x.toml:5:1: expected at least one source: prometheus = [..], query = [..] or process = [..], found a [monitor] without sources"]
    );
    // a monitor threshold needs a [monitor], names a stat, and takes no abort_on_fail
    let e = errors(&format!(
        "thresholds = [\"monitor.gw.rss.growth < 10%\", \"monitor.gw.rss.mean < 1\", {{ expr = \"monitor.gw.rss.max < 1GiB\", abort_on_fail = true }}]\n{HEAD}{TASKS}"
    ));
    assert_eq!(
        e,
        vec![
            "x.toml:1:16: expected a series of the plan's [monitor] (it has none), found \"gw.rss\"".to_string(),
            "x.toml:1:62: expected monitor.SERIES.STAT with a stat: growth, avg, min, max or last, found \"mean\"".to_string(),
            "x.toml:1:83: expected no abort_on_fail on a monitor threshold (it is judged at the end of the run), found abort_on_fail = true".to_string(),
        ]
    );
    assert_eq!(
        parse_threshold("monitor.gw.rss.growth < 10MiB").unwrap_err(),
        "expected a growth in percent, such as 10%, found \"10MiB\""
    );
}

#[test]
fn a_monitor_on_its_own() {
    let m = crate::plan::parse_monitor(
        "[monitor]\nprocess = [ { name = \"me\", pid = 1 } ]\n",
        "Monitors",
    )
    .unwrap();
    assert_eq!(m.every, Duration::from_secs(5));
    let e = crate::plan::parse_monitor("[monitor]\nevery = \"0s\"\n", "Monitors").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Monitors:2:9: expected a duration > 0, found \"0s\""
    );
}
