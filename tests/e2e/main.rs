//! One integration-test binary: real servers on loopback ports chosen by the OS.

mod api;
mod browser;
mod cli;
mod compare;
mod data;
mod engine;
mod hardening_plan;
mod helpers;
mod load;
mod outputs;
mod plan;
mod protocols;
mod shipped;
mod target;
mod thresholds;
