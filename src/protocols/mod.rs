//! The outgoing I/O edge: each step kind's executor sends, checks, captures and records samples.

pub mod check;
pub(crate) mod common;
pub mod event_stream;
pub mod http;
pub mod http_client;
pub mod rpc;
pub mod sse;
pub mod ws;
