//! Hornet: a load tester in one binary.
//!
//! Data flows one way: `plan` (validated) → `engine` (users run steps through `protocols`) →
//! `stats` (samples → aggregator → Snapshot) → `report` / `cli` (read Snapshots).

pub mod agent;
pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod engine;
pub mod format;
pub mod import;
pub mod k8s;
pub mod monitor;
pub mod output;
pub mod plan;
pub mod protocols;
pub mod report;
pub mod request;
pub mod runs;
pub mod share;
pub mod signals;
pub mod stats;
pub mod store;
pub mod telemetry;
pub mod web;
