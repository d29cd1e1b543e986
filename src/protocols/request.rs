//! A prepared request step of any kind, and the one match that runs it: every kind has the
//! same `execute(&self, &mut StepCtx) -> bool`, so the engine needs no per-kind code. Static
//! dispatch (an enum), no trait object: the HTTP future stays inline in the user's future.

use super::http::PreparedHttp;
use super::rpc::PreparedRpc;
use super::sse::PreparedSse;
use super::step::StepCtx;
use super::ws::PreparedWs;

/// A step that talks to the target, prepared once per run (boxed: kinds differ in size, and a
/// class's step list stays compact).
#[derive(Debug)]
pub enum PreparedRequest {
    Http(Box<PreparedHttp>),
    Rpc(Box<PreparedRpc>),
    Sse(Box<PreparedSse>),
    Ws(Box<PreparedWs>),
}

impl PreparedRequest {
    /// Runs the step for the user, recording its samples. Returns whether it succeeded.
    pub async fn execute(&self, cx: &mut StepCtx<'_>) -> bool {
        match self {
            PreparedRequest::Http(p) => p.execute(cx).await,
            PreparedRequest::Rpc(p) => p.execute(cx).await,
            // Streams are boxed: their futures are large and rare, and inline they would make
            // every user's future larger for its whole life.
            PreparedRequest::Sse(p) => Box::pin(p.execute(cx)).await,
            PreparedRequest::Ws(p) => Box::pin(p.execute(cx)).await,
        }
    }
}
