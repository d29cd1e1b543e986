//! The outgoing I/O edge: each step kind's executor sends, checks, captures and records samples
//! into the user's own buffer. It reads the validated plan and writes samples; it never spawns
//! users, schedules, or reads statistics back.

pub mod check;
pub(crate) mod common;
pub mod event_stream;
pub mod fanout;
pub mod h1;
pub mod http;
pub mod http_client;
pub mod rpc;
pub mod sse;
pub mod step;
pub mod ws;
