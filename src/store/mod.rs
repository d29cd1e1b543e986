//! Run history in SQLite through sqlx: the only module that knows SQL.

pub mod model;

pub use model::*;
