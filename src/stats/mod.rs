//! Numbers people trust: samples from users, merged into HDR histograms per (kind, name), live
//! snapshots and a per-second series. Deterministic and clock-free: time comes in as arguments.

pub mod aggregator;
pub mod failures;
pub mod histogram;
pub mod interval;
pub mod monitor;
pub mod recorder;
pub mod sample;
pub mod seconds;
pub mod snapshot;
pub mod stages;
pub mod tap;
pub mod thresholds;
pub mod windows;
