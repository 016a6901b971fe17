//! The one asynchronous step of a decision: looking up the address's invitation, bounded by
//! `DECISION_DEADLINE_MS`. A failed or late lookup becomes [`InvitationLookup::Unavailable`],
//! which the policy turns into a block: never an admit on failure.

use crate::invitations::{self, InvitationStore};
use crate::policy::email::EmailAddress;
use crate::policy::{AdmitReason, Decision, EmailClaim, InvitationLookup, SignUp, Stage};
use crate::server::{AppState, RequestContext};

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
        Stage::AfterAttributes,
        EmailClaim::Valid(email),
    ) = (&decision, sign_up.stage, &sign_up.email)
        && state.invitations.records_sign_ups()
    {
        record_sign_up(state, email.clone(), sign_up.application.clone(), context);
    }
    decision
}

/// Notes the sign-up on the invitation in the background: the answer does not wait for it, and
/// a failed write is logged without changing the decision.
fn record_sign_up(
    state: &AppState,
    email: EmailAddress,
    application: Option<String>,
    context: &RequestContext,
) {
    let store = state.invitations.clone();
    let correlation_id = context.correlation_id.clone();
    tokio::spawn(async move {
        if let Err(error) = store.record_sign_up(&email, application.as_deref()).await {
            log::error!(
                "could not record the sign-up of {} on its invitation: {error}; correlation_id={correlation_id}",
                email.masked()
            );
        }
    });
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
        AppState {
            settings: Settings::from_env(&env).unwrap(),
            invitations: Arc::new(store),
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
}
