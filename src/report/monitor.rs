//! A run's monitor series for people: the charts' JSON (`static/monitor_charts.js`, on the run
//! page, live and stored, and in the HTML report) and the summary rows (the page, the report,
//! the terminal). Pure: formats what `stats::monitor` computed.

use crate::format::{fmt_change_pct, fmt_monitor, DASH};
use crate::plan::monitor::MonitorUnit;
use crate::report::html::script_json;
use crate::stats::monitor::{MonitorData, MonitorSeries};

/// A run's monitor series for the charts (`static/monitor_charts.js`): `{"series": [{"name",
/// "unit", "points": [[t_s, value], ...]}]}`, safe inside `<script>`.
pub fn monitor_json(series: &[MonitorSeries]) -> String {
    #[derive(serde::Serialize)]
    struct ChartSeries<'a> {
        name: &'a str,
        unit: MonitorUnit,
        points: Vec<(f64, f64)>,
    }
    #[derive(serde::Serialize)]
    struct Charts<'a> {
        series: Vec<ChartSeries<'a>>,
    }
    script_json(&Charts {
        series: series
            .iter()
            .map(|s| ChartSeries {
                name: &s.name,
                unit: s.unit,
                points: s.points.iter().map(|p| (p.t_s, p.value)).collect(),
            })
            .collect(),
    })
}

/// The monitor summary's rows, formatted: series, first, after warm-up, last, avg, max, growth.
/// A series without a read yet has none.
pub fn monitor_rows(data: &MonitorData) -> Vec<[String; 7]> {
    data.summaries()
        .into_iter()
        .map(|m| {
            let f = |v: f64| fmt_monitor(v, m.unit);
            [
                m.name.clone(),
                f(m.first),
                m.after_warmup.map_or(DASH.to_string(), f),
                f(m.last),
                f(m.avg),
                f(m.max),
                m.growth
                    .and_then(|g| g.ratio)
                    .map_or(DASH.to_string(), |r| fmt_change_pct(r * 100.0)),
            ]
        })
        .collect()
}
