//! Kubernetes manifests for one distributed run (`hornet k8s manifest`): a coordinator
//! (`hornet serve`) and an Indexed Job of `hornet agent`s, with the plan and its data files in a
//! ConfigMap and the tokens in a Secret. Owns the objects (typed, from `k8s-openapi`), their YAML,
//! and Kubernetes' rules for the names and sizes that go into them.
//!
//! Must not: read files, the clock or randomness (the CLI reads the plan and its data files and
//! makes the tokens; tests give fixed ones), or talk to a cluster.

pub mod manifest;
pub mod names;

pub use manifest::{build, render, to_yaml, Inputs, ManifestError, Object, PlanFile};
