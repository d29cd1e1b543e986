//! Test plans: TOML text → validated `model::Plan`. Pure: no sockets, no tokio.

pub mod model;
pub mod template;
