//! Scale-out: one run on many `hornet agent` processes. The coordinator side is
//! [`hub`] (the agents connected and waiting, taken by a run) and [`coordinate`] (a run started
//! on them: setup here, the start order, their messages as the engine's remote-run events);
//! the agent side is [`worker`] (dial, hello, run each share, send its seconds, stop when the
//! coordinator is gone) and [`local`] (`--local-agents N`). [`protocol`] is what they say to each
//! other. Nothing here schedules users (the engine follows each agent's `crate::share`) or merges
//! statistics (`engine::remote` and `Aggregator::absorb` do); the socket is `web::agents`.

pub mod coordinate;
pub mod hub;
pub mod local;
pub mod protocol;
pub mod worker;
