//! Thresholds: parsing, their errors, tables, and scopes the plan must record.

use super::*;

#[test]
fn thresholds_each_error() {
    let e = errors(&format!("thresholds = [\"p95 < 300\", \"p42x < 1s\", \"get.p95 < 1s\", \"p95 = 1s\", \"error_rate < 5\"]\n{HEAD}tasks = [ {{ get = \"/\" }} ]\n"));
    assert_eq!(
        e,
        vec![
            "x.toml:1:22: expected a duration such as 300ms or 1.5s, found \"300\"".to_string(),
            format!("x.toml:1:29: expected {METRIC_EXPECTED}, found \"p42x\""),
            "x.toml:1:42: expected a request kind in upper case (GET, POST, PUT, PATCH, DELETE, HEAD, SSE, WS, RPC, FANOUT) or a 'quoted name', found \"get\"".to_string(),
            "x.toml:1:62: expected a comparison: <, <=, > or >=, found \"= 1s\"".to_string(),
            "x.toml:1:83: expected a percentage such as 1% or a fraction from 0 to 1, found \"5\"".to_string(),
        ]
    );
}

#[test]
fn thresholds_parse() {
    let t = parse_threshold("p95 < 300ms").unwrap();
    assert_eq!(t.scope, ThresholdScope::Aggregate);
    assert_eq!(t.metric, ThresholdMetric::Percentile(0.95));
    assert_eq!(t.op, CompareOp::Lt);
    assert_eq!(t.value, 300_000.0);
    let t = parse_threshold("error_rate<1%").unwrap();
    assert_eq!((t.metric, t.value), (ThresholdMetric::ErrorRate, 0.01));
    let t = parse_threshold("'/tools/[id]'.p99 <= 500ms").unwrap();
    assert_eq!(t.scope, ThresholdScope::Name("/tools/[id]".into()));
    assert_eq!(t.op, CompareOp::Le);
    assert_eq!(t.source, "'/tools/[id]'.p99 <= 500ms");
    let t = parse_threshold("GET.p99.9 > 1.5s").unwrap();
    assert_eq!(t.scope, ThresholdScope::Kind("GET".into()));
    assert_eq!(t.metric, ThresholdMetric::Percentile(0.999));
    assert_eq!((t.op, t.value), (CompareOp::Gt, 1_500_000.0));
    let t = parse_threshold("p99.99 < 1s").unwrap();
    assert!(matches!(t.metric, ThresholdMetric::Percentile(p) if (p - 0.9999).abs() < 1e-12));
    let t = parse_threshold("rps >= 100/s").unwrap();
    assert_eq!(
        (t.metric, t.op, t.value),
        (ThresholdMetric::Rps, CompareOp::Ge, 100.0)
    );
    let t = parse_threshold("'/ws'.loss < 0.1%").unwrap();
    assert_eq!(t.scope, ThresholdScope::Name("/ws".into()));
    assert_eq!((t.metric, t.value), (ThresholdMetric::Loss, 0.001));
    let t = parse_threshold("'/sse'.drop < 1%").unwrap();
    assert_eq!(t.scope, ThresholdScope::Name("/sse".into()));
    assert_eq!((t.metric, t.value), (ThresholdMetric::Drop, 0.01));
    let t = parse_threshold("'alerts'.delivery > 99%").unwrap();
    assert_eq!(t.scope, ThresholdScope::Name("alerts".into()));
    assert_eq!(
        (t.metric, t.op, t.value),
        (ThresholdMetric::Delivery, CompareOp::Gt, 0.99)
    );
    assert!(parse_threshold("'alerts'.delivery > 2s").is_err());
    let t = parse_threshold("checks > 0.99").unwrap();
    assert_eq!((t.metric, t.value), (ThresholdMetric::Checks, 0.99));
    let t = parse_threshold("SSE.avg < 250us").unwrap();
    assert_eq!((t.metric, t.value), (ThresholdMetric::Avg, 250.0));
    assert!(parse_threshold("'x.p95 < 1s")
        .unwrap_err()
        .contains("unterminated"));
    assert!(parse_threshold("p0 < 1s").is_err());
    assert!(parse_threshold("p101 < 1s").is_err());
    // only the percentiles the rows report
    assert!(parse_threshold("p97 < 1s")
        .unwrap_err()
        .contains("p98, p99, p99.9, p99.99, p100,"));
    let t = parse_threshold("p100 <= 2s").unwrap();
    assert_eq!(t.metric, ThresholdMetric::Percentile(1.0));
    let t = parse_threshold("p66 < 2s").unwrap();
    assert_eq!(t.metric, ThresholdMetric::Percentile(0.66));
    assert!(parse_threshold("p95 <")
        .unwrap_err()
        .ends_with("found nothing"));
}

#[test]
fn threshold_tables() {
    let plan = ok(&format!("thresholds = [ {{ expr = \"p95 < 1s\", abort_on_fail = true, delay = \"10s\" }} ]\n{HEAD}tasks = [ {{ get = \"/\" }} ]\n"));
    assert!(plan.thresholds[0].abort_on_fail);
    assert_eq!(plan.thresholds[0].delay, Some(Duration::from_secs(10)));
}

#[test]
fn thresholds_must_name_rows_the_plan_records() {
    let plan = |th: &str| {
        show(&format!(
            "thresholds = [{th}]\n{HEAD}tasks = [ {{ get = \"/tools\" }}, {{ sse = \"/events\", for = \"1s\" }}, {{ rpc = \"tools/list\" }} ]\n"
        ))
    };
    assert_eq!(
        plan("\"'/nope'.p99 < 1s\""),
        ["x.toml:1:17: expected a name this plan records ('/tools', '/events [connect]', '/events [first event]', '/events [event gap]', '/events', '/rpc tools/list'), found '/nope'"]
    );
    assert_eq!(
        plan("\"'/tool'.p99 < 1s\""),
        ["x.toml:1:17: expected a name this plan records ('/tools', '/events [connect]', '/events [first event]', '/events [event gap]', '/events', '/rpc tools/list'), found '/tool' (did you mean '/tools'?)"]
    );
    assert_eq!(
        plan("\"WS.p95 < 1s\", \"RPC.avg < 1s\""),
        [
            "x.toml:1:16: expected a request kind this plan records (GET, SSE, POST), found \"WS\"",
            "x.toml:1:31: expected a request kind this plan records (GET, SSE, POST), found \"RPC\" (rpc steps record under POST)",
        ]
    );
    assert!(plan(
        "\"'/events [first event]'.p99 < 1s\", \"'/rpc tools/list'.p95 < 1s\", \"SSE.p50 < 1s\", \"POST.max < 2s\", \"p95 < 1s\""
    )
    .is_empty());
    let p = ok(&format!("{HEAD}tasks = [ {{ get = \"/tools\" }} ]\n"));
    let th = parse_threshold("'/nope'.p99 < 1s").unwrap();
    assert_eq!(
        check_threshold_scope(&p, &th).unwrap_err(),
        "expected a name this plan records ('/tools'), found '/nope'"
    );
}

#[test]
fn windowed_thresholds_parse() {
    use std::time::Duration;
    let t = parse_threshold("error_rate[1m] < 5%").unwrap();
    assert_eq!(
        (t.metric, t.value, t.window),
        (
            ThresholdMetric::ErrorRate,
            0.05,
            Some(Duration::from_secs(60))
        )
    );
    let t = parse_threshold("'/tools/[id]'.p99[10s] < 1s").unwrap();
    assert_eq!(t.scope, ThresholdScope::Name("/tools/[id]".into()));
    assert_eq!(
        (t.metric, t.window),
        (
            ThresholdMetric::Percentile(0.99),
            Some(Duration::from_secs(10))
        )
    );
    assert_eq!(t.source, "'/tools/[id]'.p99[10s] < 1s");
    let t = parse_threshold("GET.p99.9[30s]>=2s").unwrap();
    assert_eq!(t.scope, ThresholdScope::Kind("GET".into()));
    assert_eq!(t.metric, ThresholdMetric::Percentile(0.999));
    assert_eq!(t.window, Some(Duration::from_secs(30)));
    let t = parse_threshold("rps[10s] > 100").unwrap();
    assert_eq!((t.metric, t.value), (ThresholdMetric::Rps, 100.0));
    assert_eq!(parse_threshold("p95 < 1s").unwrap().window, None);
}

#[test]
fn windowed_threshold_errors_point_at_the_window() {
    let e = errors(&format!(
        "thresholds = [\"p95[30 < 1s\", \"p95[1.5s] < 1s\", \"checks[1m] > 99%\", \"p95[30s]x < 1s\", \"avg[0s] < 1s\"]\n{HEAD}tasks = [ {{ get = \"/\" }} ]\n"
    ));
    assert_eq!(
        e,
        vec![
            "x.toml:1:19: expected a window closed by ], e.g. p95[30s] < 500ms, found \"[30\"".to_string(),
            "x.toml:1:35: expected a window of whole seconds from 1s to 24h, such as 30s or 1m, found \"1.5s\"".to_string(),
            "x.toml:1:49: expected a metric a window can judge: p50 ... p100, avg, min, max, error_rate or rps, found \"checks\"".to_string(),
            "x.toml:1:77: expected a comparison after the window, e.g. p95[30s] < 500ms, found \"x\"".to_string(),
            "x.toml:1:91: expected a window of whole seconds from 1s to 24h, such as 30s or 1m, found \"0s\"".to_string(),
        ]
    );
    assert_eq!(
        parse_threshold("p95[2d] < 1s").unwrap_err(),
        "expected a window of whole seconds from 1s to 24h, such as 30s or 1m, found \"2d\""
    );
}

#[test]
fn recovery_needs_a_plan_with_shapes_and_an_upper_limit() {
    let e = errors(&format!(
        "thresholds = [\"p95 < 1s\", \"recovery < 30s\"]\n{HEAD}tasks = [ {{ get = \"/\" }} ]\n"
    ));
    assert_eq!(
        e,
        ["x.toml:1:28: expected a plan with [shapes.NAME] for recovery (it is judged on a shape's steps), found \"recovery < 30s\" in a plan without shapes"]
    );
    let shaped = |th: &str| {
        errors(&format!(
            "thresholds = [{th}]\n{HEAD}tasks = [ {{ get = \"/\" }} ]\n[shapes.spike]\nstages = [ {{ duration = \"10s\", users = 1 }}, {{ duration = \"10s\", users = 9 }} ]\n"
        ))
    };
    assert!(shaped("\"recovery < 30s\", { expr = \"recovery <= 1m\" }").is_empty());
    assert_eq!(
        shaped("\"recovery >= 30s\""),
        ["x.toml:1:25: expected < or <= after recovery (a limit on the seconds to recover), found \">=\""]
    );
    assert_eq!(
        shaped("\"GET.recovery < 30s\""),
        ["x.toml:1:16: expected recovery without a scope (it is the worst step of the shape), e.g. recovery < 30s, found a scoped recovery"]
    );
    let p = ok(&format!(
        "thresholds = [\"recovery < 30s\"]\n{HEAD}tasks = [ {{ get = \"/\" }} ]\n[shapes.s]\nstages = [ {{ duration = \"1s\", users = 1 }} ]\n"
    ));
    assert_eq!(p.thresholds[0].metric, ThresholdMetric::Recovery);
}
