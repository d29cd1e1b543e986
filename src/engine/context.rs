//! A virtual user's own state: its variables, its HTTP client (connection and cookies), its
//! sample buffer and its random numbers. Owned by the user's task alone: nothing here is shared
//! except through the read-only feeders and the run's count of present users.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::feeder::ClassFeeds;
use super::vars::Vars;
use crate::protocols::http_client::{HttpShared, UserHttp};
use crate::protocols::step::StepCtx;
use crate::stats::recorder::Recorder;

pub(crate) struct UserContext {
    pub(crate) vars: Vars,
    pub(crate) http: UserHttp,
    pub(crate) rec: Recorder,
    pub(crate) rng: SmallRng,
    /// The feeders the user's class reads (None: it reads none).
    pub(crate) feeds: Option<Arc<ClassFeeds>>,
    /// Dropped with the context when the user's task ends, whatever ended it.
    pub(crate) presence: Option<Presence>,
    /// True while a request step (http, rpc, sse, ws) is under way: if the user is stopped
    /// then, the request is counted as cancelled instead of vanishing.
    pub(crate) in_request: bool,
    /// What the stream steps watch to end before their user cuts them off.
    pub(crate) wind_down: WindDown,
}

/// The stop as stream steps (sse, ws) see it: `token` is cancelled when their user's stop
/// deadline comes (the stop plus its stop timeout: a step that can finish in that time does),
/// and a stream step running then has [`STREAM_WRAP_UP`] more to end on its own, keeping its
/// figures, before it is cut off. Shared with the user's stop deadline, which races the steps.
#[derive(Clone, Default)]
pub(crate) struct WindDown {
    pub(crate) token: CancellationToken,
    /// True while a stream step runs.
    pub(crate) streaming: Arc<AtomicBool>,
}

/// How long a stopped stream step has to wrap up (its replies in flight, the socket's close,
/// its figures) before its user cuts it off: the step itself ends within ~100 ms of the stop.
pub(crate) const STREAM_WRAP_UP: Duration = Duration::from_millis(250);

impl UserContext {
    pub(crate) fn new(vars: Vars, http: Arc<HttpShared>, rec: Recorder, rng: SmallRng) -> Self {
        UserContext {
            vars,
            http: UserHttp::new(http),
            rec,
            rng,
            feeds: None,
            presence: None,
            in_request: false,
            wind_down: WindDown::default(),
        }
    }

    /// What a step borrows from this user while it runs.
    pub(crate) fn step_ctx(&mut self, lag: Option<Duration>) -> StepCtx<'_> {
        StepCtx {
            http: &mut self.http,
            vars: &mut self.vars,
            rec: &mut self.rec,
            lag,
            stop: &self.wind_down.token,
        }
    }

    /// After a step sequence was cut off by a stop: counts the request it was waiting on.
    pub(crate) fn note_cut_off(&mut self) {
        if std::mem::take(&mut self.in_request) {
            self.rec.record_cancelled(std::time::Instant::now());
        }
    }

    /// Takes the rows `on_start` reads; false when a `once` feeder has run out.
    pub(crate) fn feed_on_start(&mut self) -> bool {
        match &self.feeds {
            Some(f) => f.on_start(&mut self.vars, &mut self.rng),
            None => true,
        }
    }

    /// Takes the rows task `task` reads, at the start of an iteration; false when a `once`
    /// feeder has run out.
    pub(crate) fn feed_task(&mut self, task: usize) -> bool {
        match &self.feeds {
            Some(f) => f.task(task, &mut self.vars, &mut self.rng),
            None => true,
        }
    }
}

/// How many of a run's users are still running; the run wakes when the last one leaves.
#[derive(Debug, Default)]
pub(crate) struct Population {
    present: AtomicUsize,
    emptied: Notify,
}

impl Population {
    /// Counts a user in; the returned token counts it out when dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> Presence {
        self.present.fetch_add(1, Ordering::AcqRel);
        Presence(self.clone())
    }

    pub(crate) fn present(&self) -> usize {
        self.present.load(Ordering::Acquire)
    }

    /// Resolves after the count dropped to zero (a permit is kept if nobody was waiting).
    pub(crate) async fn emptied(&self) {
        self.emptied.notified().await;
    }
}

/// One running user, counted in its run's [`Population`].
#[derive(Debug)]
pub(crate) struct Presence(Arc<Population>);

impl Drop for Presence {
    fn drop(&mut self) {
        if self.0.present.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.emptied.notify_one();
        }
    }
}
