//! Pure renderers of a finished or live [`Snapshot`](crate::stats::snapshot::Snapshot): text for
//! the terminal, JSON for `--json`, Locust's CSV files, JMeter's JTL lines, the HTML report,
//! JUnit verdicts, run comparisons and a run's configuration rows. Numbers get their display
//! text from `crate::format`; nothing here imports `web`. No file is opened here: callers decide
//! where the bytes go (writers take `io::Write`).

pub mod compare;
pub mod csv;
pub mod html;
pub mod json;
pub mod jtl;
pub mod junit;
pub mod monitor;
pub mod settings;
pub mod stages;
pub mod table;
