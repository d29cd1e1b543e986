//! One integration-test binary: real servers on loopback ports chosen by the OS.

mod agents;
mod api;
mod browser;
mod cli;
mod compare;
mod data;
mod disk;
mod engine;
mod fanout;
mod hardening_plan;
mod hardening_web;
mod helpers;
mod import;
mod k8s;
mod load;
mod outputs;
mod plan;
mod protocols;
mod real_mcp;
mod real_ws;
mod share;
mod shipped;
mod signals;
mod sse_streams;
mod target;
mod thresholds;
