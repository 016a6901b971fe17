//! The asynchronous steps of a decision: looking up the address's invitation, bounded by
//! `DECISION_DEADLINE_MS` (a failed or late lookup becomes [`InvitationLookup::Unavailable`],
//! which the policy turns into a block: never an admit on failure), and afterwards recording
//! the sign-up on the invitation, in the background and bounded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::invitations::{self, InvitationStore};
use crate::policy::email::EmailAddress;
use crate::policy::{AdmitReason, Decision, EmailClaim, InvitationLookup, SignUp, Stage};
use crate::server::{AppState, RequestContext};

/// How long one sign-up record may take (read and conditional write together).
pub const RECORD_DEADLINE: Duration = Duration::from_secs(5);
/// Records written at once; beyond this (a store that hangs), new ones are logged and dropped,
/// so that they cannot pile up connections and starve the decisions.
pub const MAX_RECORDS_IN_FLIGHT: usize = 64;

/// Decides one sign-up with the shared policy and store.
pub async fn decide(state: &AppState, sign_up: &SignUp, context: &RequestContext) -> Decision {
    let lookup = match &sign_up.email {
        EmailClaim::Valid(email) => {
            lookup(
                state.invitations.as_ref(),
                email,
                state.settings.decision_deadline,
                context,
            )
            .await
        }
        EmailClaim::Missing | EmailClaim::Invalid => InvitationLookup::NotFound,
    };
    let decision = state
        .settings
        .policy
        .decide(sign_up, &lookup, invitations::now());
    if let (
        Decision::Admit {
            reason: AdmitReason::Invitation,
            ..
        },
        Stage::AfterAttributes | Stage::Unspecified,
        EmailClaim::Valid(email),
    ) = (&decision, sign_up.stage, &sign_up.email)
    {
        state
            .recorder
            .record(email, sign_up.application.as_deref(), context);
    }
    decision
}

/// Writes sign-up records in the background: the answer does not wait for them, a failed write
/// is logged without changing the decision, at most [`MAX_RECORDS_IN_FLIGHT`] run at once, each
/// within [`RECORD_DEADLINE`], and [`Self::drain`] lets those in flight finish before the
/// process stops (scale-in and redeploys send SIGTERM while they run).
pub struct SignUpRecorder {
    store: Arc<dyn InvitationStore>,
    slots: Arc<Semaphore>,
    /// Masked address and correlation id of each record in flight, to name those a stop cut off.
    pending: Arc<Mutex<HashMap<u64, String>>>,
    next: AtomicU64,
}

impl SignUpRecorder {
    pub fn new(store: Arc<dyn InvitationStore>) -> Self {
        Self {
            store,
            slots: Arc::new(Semaphore::new(MAX_RECORDS_IN_FLIGHT)),
            pending: Arc::default(),
            next: AtomicU64::new(0),
        }
    }

    /// Starts recording the sign-up of `email` (to `application`), if the store records any.
    pub fn record(
        &self,
        email: &EmailAddress,
        application: Option<&str>,
        context: &RequestContext,
    ) {
        if !self.store.records_sign_ups() {
            return;
        }
        let correlation_id = context.correlation_id.clone();
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            log::error!(
                "the sign-up of {} is not recorded: {MAX_RECORDS_IN_FLIGHT} records are being written already \
                 (the invitation store is slow or not answering); correlation_id={correlation_id}",
                email.masked()
            );
            return;
        };
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let pending = self.pending.clone();
        pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id,
                format!("{} (correlation_id={correlation_id})", email.masked()),
            );
        let store = self.store.clone();
        let (email, application) = (email.clone(), application.map(str::to_owned));
        tokio::spawn(async move {
            let written = tokio::time::timeout(
                RECORD_DEADLINE,
                store.record_sign_up(&email, application.as_deref(), RECORD_DEADLINE),
            )
            .await;
            let failure = match written {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error.to_string()),
                Err(_) => Some(format!(
                    "no answer within {} ms",
                    RECORD_DEADLINE.as_millis()
                )),
            };
            if let Some(failure) = failure {
                log::error!(
                    "could not record the sign-up of {} on its invitation: {failure}; correlation_id={correlation_id}",
                    email.masked()
                );
            }
            pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
            drop(slot);
        });
    }

    /// Waits (at most `deadline`) for the records in flight; names those still unwritten.
    pub async fn drain(&self, deadline: Duration) {
        let all = u32::try_from(MAX_RECORDS_IN_FLIGHT).unwrap_or(u32::MAX);
        if tokio::time::timeout(deadline, self.slots.acquire_many(all))
            .await
            .is_ok()
        {
            return;
        }
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let mut left: Vec<&String> = pending.values().collect();
        left.sort();
        log::error!(
            "stopping with {} sign-up record(s) not written: {}",
            left.len(),
            left.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

async fn lookup(
    store: &dyn InvitationStore,
    email: &EmailAddress,
    deadline: std::time::Duration,
    context: &RequestContext,
) -> InvitationLookup {
    match tokio::time::timeout(deadline, store.find(email)).await {
        Ok(Ok(Some(invitation))) => InvitationLookup::Found(invitation),
        Ok(Ok(None)) => InvitationLookup::NotFound,
        Ok(Err(error)) => {
            log::error!(
                "{error} (looking up {}); answering with a block; correlation_id={}",
                email.masked(),
                context.correlation_id
            );
            InvitationLookup::Unavailable
        }
        Err(_) => {
            log::error!(
                "the invitation store did not answer within {} ms (looking up {}); answering with a block; correlation_id={}",
                deadline.as_millis(),
                email.masked(),
                context.correlation_id
            );
            InvitationLookup::Unavailable
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use futures_util::future::BoxFuture;
    use warp::http::HeaderMap;

    use super::*;
    use crate::invitations::{Invitation, StoreError};
    use crate::policy::{BlockReason, TRY_AGAIN_LATER};
    use crate::settings::{Environment, Settings};

    /// A store that answers after `delay`, or fails.
    struct FakeStore {
        delay: Duration,
        fail: bool,
    }

    impl InvitationStore for FakeStore {
        fn find<'a>(
            &'a self,
            _: &'a EmailAddress,
        ) -> BoxFuture<'a, Result<Option<Invitation>, StoreError>> {
            Box::pin(async move {
                tokio::time::sleep(self.delay).await;
                if self.fail {
                    Err(StoreError::Unavailable("connection refused".to_owned()))
                } else {
                    Ok(Some(Invitation::default()))
                }
            })
        }
    }

    fn state(store: FakeStore) -> AppState {
        let env = Environment::capture(
            [
                ("FUNCTIONS_CUSTOMHANDLER_PORT", "1"),
                ("ALLOWED_EMAIL_DOMAINS", "fabrikam.com"),
                ("DECISION_DEADLINE_MS", "50"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
            std::path::Path::new("."),
        )
        .unwrap();
        let store: Arc<dyn InvitationStore> = Arc::new(store);
        AppState {
            settings: Settings::from_env(&env).unwrap(),
            recorder: SignUpRecorder::new(store.clone()),
            invitations: store,
            auth_events: crate::caller_auth::AuthEventsGuard::None,
        }
    }

    fn sign_up(email: &str) -> SignUp {
        SignUp {
            email: EmailClaim::Valid(EmailAddress::parse(email).unwrap()),
            job_title: None,
            stage: Stage::BeforeAttributes,
            application: None,
            lists_page_attributes: false,
        }
    }

    fn context() -> RequestContext {
        RequestContext {
            correlation_id: "test".to_owned(),
            headers: HeaderMap::new(),
        }
    }

    fn try_again_later() -> Decision {
        Decision::Block {
            reason: BlockReason::StoreUnavailable,
            message: TRY_AGAIN_LATER.to_owned(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_that_misses_the_deadline_blocks_even_allowed_domains() {
        let state = state(FakeStore {
            delay: Duration::from_millis(51),
            fail: false,
        });
        for email in ["ada@contoso.com", "ada@fabrikam.com"] {
            assert_eq!(
                decide(&state, &sign_up(email), &context()).await,
                try_again_later(),
                "{email}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_store_blocks() {
        let state = state(FakeStore {
            delay: Duration::ZERO,
            fail: true,
        });
        assert_eq!(
            decide(&state, &sign_up("ada@contoso.com"), &context()).await,
            try_again_later()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_inside_the_deadline_is_believed() {
        let state = state(FakeStore {
            delay: Duration::from_millis(49),
            fail: false,
        });
        let decision = decide(&state, &sign_up("ada@contoso.com"), &context()).await;
        assert!(matches!(decision, Decision::Admit { .. }), "{decision:?}");
    }

    /// A store whose records take `record` to write (forever: `None`).
    struct SlowRecords {
        record: Option<Duration>,
    }

    impl InvitationStore for SlowRecords {
        fn find<'a>(
            &'a self,
            _: &'a EmailAddress,
        ) -> BoxFuture<'a, Result<Option<Invitation>, StoreError>> {
            Box::pin(std::future::ready(Ok(None)))
        }

        fn records_sign_ups(&self) -> bool {
            true
        }

        fn record_sign_up<'a>(
            &'a self,
            _: &'a EmailAddress,
            _: Option<&'a str>,
            _: Duration,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(async move {
                match self.record {
                    Some(time) => tokio::time::sleep(time).await,
                    None => std::future::pending().await,
                }
                Ok(())
            })
        }
    }

    fn pending(recorder: &SignUpRecorder) -> usize {
        recorder.pending.lock().unwrap().len()
    }

    #[tokio::test(start_paused = true)]
    async fn records_are_drained_within_the_deadline_and_bounded_in_number() {
        let email = EmailAddress::parse("ada@contoso.com").unwrap();
        let slow = SignUpRecorder::new(Arc::new(SlowRecords {
            record: Some(Duration::from_secs(2)),
        }));
        slow.record(&email, None, &context());
        assert_eq!(pending(&slow), 1);
        slow.drain(Duration::from_secs(3)).await;
        assert_eq!(pending(&slow), 0, "drained: the record was written");

        let hung = SignUpRecorder::new(Arc::new(SlowRecords { record: None }));
        for _ in 0..MAX_RECORDS_IN_FLIGHT + 10 {
            hung.record(&email, None, &context());
        }
        assert_eq!(
            pending(&hung),
            MAX_RECORDS_IN_FLIGHT,
            "the rest were dropped"
        );
        let started = tokio::time::Instant::now();
        hung.drain(Duration::from_millis(100)).await;
        assert_eq!(started.elapsed(), Duration::from_millis(100));
        assert_eq!(
            pending(&hung),
            MAX_RECORDS_IN_FLIGHT,
            "named in the log, still unwritten"
        );
        // Each gives up at its own deadline.
        tokio::time::sleep(RECORD_DEADLINE).await;
        hung.drain(Duration::from_millis(100)).await;
        assert_eq!(pending(&hung), 0);
    }
}
