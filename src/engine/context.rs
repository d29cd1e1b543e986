//! A virtual user's own state: its variables, its HTTP client (connection and cookies), its
//! sample buffer and its random numbers. Owned by the user's task alone: nothing here is shared.

use std::sync::Arc;

use rand::rngs::SmallRng;

use crate::plan::template::Vars;
use crate::protocols::http_client::{HttpShared, UserHttp};
use crate::stats::recorder::Recorder;

pub(crate) struct UserContext {
    pub(crate) vars: Vars,
    pub(crate) http: UserHttp,
    pub(crate) rec: Recorder,
    pub(crate) rng: SmallRng,
}

impl UserContext {
    pub(crate) fn new(vars: Vars, http: Arc<HttpShared>, rec: Recorder, rng: SmallRng) -> Self {
        UserContext {
            vars,
            http: UserHttp::new(http),
            rec,
            rng,
        }
    }
}
