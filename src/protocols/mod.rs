//! The outgoing I/O edge: each step kind's executor sends, checks, captures and records samples.

pub mod check;
pub mod http;
pub mod http_client;
