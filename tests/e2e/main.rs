//! One integration-test binary: real servers on loopback ports chosen by the OS.

mod api;
mod browser;
mod cli;
mod engine;
mod helpers;
mod plan;
mod protocols;
mod target;
