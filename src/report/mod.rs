//! Pure renderers of a finished or live [`Snapshot`](crate::stats::snapshot::Snapshot): text for
//! the terminal, JSON for `--json`. No I/O here: callers decide where the bytes go.

pub mod compare;
pub mod json;
pub mod junit;
pub mod table;
