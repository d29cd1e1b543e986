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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::monitor::{MonitorPoint, SeriesKind};

    fn data() -> MonitorData {
        MonitorData {
            warmup_s: 1.0,
            window_s: 2.5,
            series: vec![
                MonitorSeries {
                    name: "gw.</script><b>".into(),
                    unit: MonitorUnit::Bytes,
                    kind: SeriesKind::Gauge,
                    points: (0..5)
                        .map(|t| MonitorPoint {
                            t_s: f64::from(t),
                            value: f64::from(100 + 10 * t) * 1048576.0,
                        })
                        .collect(),
                },
                MonitorSeries {
                    name: "gw.requests".into(),
                    unit: MonitorUnit::PerSecond,
                    kind: SeriesKind::Rate,
                    points: Vec::new(),
                },
            ],
        }
    }

    #[test]
    fn chart_json_is_compact_and_cannot_close_its_script() {
        let json = monitor_json(&data().series);
        assert!(json.starts_with(
            r#"{"series":[{"name":"gw.\u003c/script>\u003cb>","unit":"bytes","points":[[0.0,104857600.0],"#
        ));
        assert!(!json.contains("</"));
        assert!(json.ends_with(r#"{"name":"gw.requests","unit":"per_second","points":[]}]}"#));
    }

    #[test]
    fn summary_rows_are_formatted_and_skip_series_without_reads() {
        let rows = monitor_rows(&data());
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0],
            [
                "gw.</script><b>",
                "100 MiB",
                "120 MiB",
                "140 MiB",
                "120 MiB",
                "140 MiB",
                "+8.3%"
            ]
        );
    }
}
