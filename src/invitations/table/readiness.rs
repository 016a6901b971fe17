//! Whether the table answers at all. A wrong endpoint path or an account the service does not
//! know answers every point read with the same 404 `ResourceNotFound` as a missing row, so every
//! lookup would read "not invited" without an error. So the table itself is asked first (a query
//! of at most one row, which needs no permission beyond the point read's): at start-up, in the
//! background, and again by the next lookup while it fails. Until it answers, the store counts as
//! unavailable: lookups fail, and a decision answers "try again later".
//!
//! A lookup that arrives while a check runs waits for it (within its own deadline) instead of
//! starting another, so concurrent lookups make one check; the check runs in a task of its own,
//! so a lookup that gives up does not cancel it. The lookup's own read runs alongside the check
//! ([`Readiness::alongside`]) rather than after it: the first decision after a start pays for
//! one exchange with the table, not two, and its answer still counts only once the check passed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};

use super::TableError;

/// A table that keeps failing its check is logged about at most this often.
const REPORT_EVERY: Duration = Duration::from_secs(60);

type Check = Shared<BoxFuture<'static, Result<(), TableError>>>;

enum State {
    /// Not checked yet, or the last check failed.
    Idle,
    Checking(Check),
}

/// The table's readiness, shared by every lookup.
pub(crate) struct Readiness {
    ready: AtomicBool,
    state: Mutex<State>,
    /// When a failed check was last logged.
    reported: Mutex<Option<Instant>>,
}

impl Readiness {
    pub(crate) fn new() -> Self {
        Self {
            ready: AtomicBool::new(false),
            state: Mutex::new(State::Idle),
            reported: Mutex::new(None),
        }
    }

    /// `Ok` once the table has answered; otherwise waits for the check in flight, or starts one
    /// (`check` makes it).
    pub(crate) async fn ensure(
        self: &Arc<Self>,
        check: impl FnOnce() -> BoxFuture<'static, Result<(), TableError>>,
    ) -> Result<(), TableError> {
        if self.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let running = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            match &*state {
                State::Checking(running) => running.clone(),
                State::Idle => {
                    let running = self.spawn(check());
                    *state = State::Checking(running.clone());
                    running
                }
            }
        };
        running.await
    }

    /// `work` (a lookup), once the table has answered: at once when it has, otherwise alongside
    /// the check in flight (or a new one), its result kept only if the check passes.
    pub(crate) async fn alongside<T>(
        self: &Arc<Self>,
        check: impl FnOnce() -> BoxFuture<'static, Result<(), TableError>>,
        work: impl Future<Output = T>,
    ) -> Result<T, TableError> {
        if self.ready.load(Ordering::Acquire) {
            return Ok(work.await);
        }
        let (ready, done) = tokio::join!(self.ensure(check), work);
        ready.map(|()| done)
    }

    fn spawn(self: &Arc<Self>, check: BoxFuture<'static, Result<(), TableError>>) -> Check {
        let this = self.clone();
        let task = tokio::spawn(async move {
            let outcome = check.await;
            this.settle(&outcome);
            outcome
        });
        async move {
            task.await.unwrap_or_else(|error| {
                Err(TableError::Client(format!("the check failed: {error}")))
            })
        }
        .boxed()
        .shared()
    }

    fn settle(&self, outcome: &Result<(), TableError>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(()) => {
                self.ready.store(true, Ordering::Release);
                let failed_before = self
                    .reported
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_some();
                if failed_before {
                    log::info!("the invitation table answers now");
                }
                *state = State::Idle;
            }
            Err(error) => {
                let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
                if reported.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
                    *reported = Some(Instant::now());
                    log::error!(
                        "{error}: until it answers, every lookup fails and sign-ups are answered \
                         'try again later' ({})",
                        error.fix()
                    );
                }
                *state = State::Idle;
            }
        }
    }
}
