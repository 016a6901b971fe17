//! The gate: one decision, whatever the contract. It looks up the address's invitation within
//! the decision deadline (a failed or late lookup becomes [`InvitationLookup::Unavailable`],
//! which the policy turns into a block: never an admit on failure), asks the policy, and after
//! an admit by invitation records the sign-up on it (in the background, bounded). The rules
//! come from [`Policies`]: each application's, kept in step with the policy file.

mod policies;
mod recorder;

use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

pub use self::policies::{Policies, PolicyFileError};
use self::recorder::SignUpRecorder;
use crate::domain::email::EmailAddress;
use crate::domain::invitation::now;
use crate::invitations::InvitationStore;
use crate::messages::{Language, Text};
use crate::policy::{
    AdmitReason, BlockReason, Decision, EmailClaim, FieldError, InvitationLookup, Policy,
    PolicyName, SignUp, Stage, TokenClaims,
};
use crate::telemetry::{LookupResult, Telemetry};

/// The rules of one application, and whose they are.
pub(crate) struct Rules {
    pub(crate) policy: Arc<Policy>,
    pub(crate) name: PolicyName,
}

impl Rules {
    /// `text` in `language`, as these rules word it.
    pub(crate) fn say(&self, text: Text, language: Language) -> String {
        self.policy.say(text, language)
    }
}

/// A decision and the rules that made it (which word its texts).
pub(crate) struct Verdict {
    pub(crate) decision: Decision,
    pub(crate) rules: Rules,
}

impl Verdict {
    /// `text` in `language`, as the deciding rules word it.
    pub(crate) fn say(&self, text: Text, language: Language) -> String {
        self.rules.say(text, language)
    }

    /// The fields' texts in `language`, one after the other (a validation error's message).
    pub(crate) fn say_all(&self, fields: &[FieldError], language: Language) -> String {
        self.rules.policy.say_all(fields, language)
    }
}

/// The rules, the invitation store they consult, and the sign-up records.
pub struct Gate {
    pub(crate) policies: Arc<Policies>,
    store: Arc<dyn InvitationStore>,
    /// How long a decision may wait for the store.
    deadline: Duration,
    recorder: SignUpRecorder,
    /// Where each lookup's latency and result are reported.
    telemetry: Telemetry,
}

impl Gate {
    pub fn new(
        policies: Arc<Policies>,
        store: Arc<dyn InvitationStore>,
        deadline: Duration,
        telemetry: Telemetry,
    ) -> Self {
        Self {
            policies,
            recorder: SignUpRecorder::new(store.clone()),
            store,
            deadline,
            telemetry,
        }
    }

    /// The rules of `application` (its texts, for an answer that decides nothing: a request
    /// that cannot be read), and whose they are.
    pub(crate) fn rules(&self, application: Option<&str>) -> Rules {
        let (policy, name) = self.policies.for_application(application);
        Rules { policy, name }
    }

    /// Decides one sign-up by the rules of its application; `correlation_id` goes on every log
    /// line about it. A configuration error that no user can correct is logged here, once.
    pub(crate) async fn decide(&self, sign_up: &SignUp, correlation_id: &str) -> Verdict {
        let rules = self.rules(sign_up.application.as_deref());
        let decision = self.decide_by(sign_up, &rules.policy, correlation_id).await;
        match decision {
            Decision::Block {
                reason: BlockReason::JobTitleNotCollected,
                ..
            } => log::error!(
                "configuration error: REQUIRE_JOB_TITLE is true but the user flow does not collect Job Title \
                 (the request carries no jobTitle attribute): add Job Title to the flow's user attributes \
                 or set REQUIRE_JOB_TITLE=false; blocking; correlation_id={correlation_id}"
            ),
            Decision::Block {
                reason: BlockReason::EnforcedValueMismatch,
                ..
            } => log::error!(
                "enforced invitation values of {} do not fit the attributes' types the request shows; blocking \
                 (correct the invitation's values or types: handler invitations list); correlation_id={correlation_id}",
                sign_up.email.for_log()
            ),
            _ => {}
        }
        Verdict { decision, rules }
    }

    async fn decide_by(&self, sign_up: &SignUp, policy: &Policy, correlation_id: &str) -> Decision {
        let lookup = match &sign_up.email {
            EmailClaim::Valid(email) => {
                self.lookup(email, "answering with a block", correlation_id)
                    .await
            }
            EmailClaim::Missing | EmailClaim::Invalid => InvitationLookup::NotFound,
        };
        let decision = policy.decide(sign_up, &lookup, now());
        if let (
            Decision::Admit {
                reason: AdmitReason::Invitation,
                ..
            },
            Stage::AfterAttributes | Stage::Unspecified,
            EmailClaim::Valid(email),
        ) = (&decision, sign_up.stage, &sign_up.email)
        {
            self.recorder
                .record(email, sign_up.application.as_deref(), correlation_id);
        }
        decision
    }

    /// The claims a token of `email`'s user gets, signing in to `application`; `None` when the
    /// store failed or missed the deadline (a token must then not be issued without them; the
    /// failure is logged, once, here).
    pub(crate) async fn token_claims(
        &self,
        email: &EmailClaim,
        application: Option<&str>,
        correlation_id: &str,
    ) -> Option<TokenClaims> {
        let invitation = match email {
            EmailClaim::Valid(email) => match self
                .lookup(
                    email,
                    "failing the token (not issued without its claims)",
                    correlation_id,
                )
                .await
            {
                InvitationLookup::Found(invitation) => Some(invitation),
                InvitationLookup::NotFound => None,
                InvitationLookup::Unavailable => return None,
            },
            EmailClaim::Missing | EmailClaim::Invalid => None,
        };
        Some(TokenClaims::of(invitation.as_ref(), application))
    }

    /// Lets the sign-up records in flight finish (at most `deadline`) before the process stops.
    pub(crate) async fn drain(&self, deadline: Duration) {
        self.recorder.drain(deadline).await;
    }

    /// Finds `email`'s invitation within the deadline; a failure is logged with what the caller
    /// does about it (`then`).
    async fn lookup(
        &self,
        email: &EmailAddress,
        then: &str,
        correlation_id: &str,
    ) -> InvitationLookup {
        let timed = self.telemetry.enabled().then(Instant::now);
        let mut find = self.store.find(email);
        // A store that answers at once (the file: a lookup in memory) needs no timer; the
        // deadline is for one that has to wait.
        let first = find.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        let found = match first {
            Poll::Ready(found) => Ok(found),
            Poll::Pending => tokio::time::timeout(self.deadline, find).await,
        };
        if let Some(started) = timed {
            let result = match &found {
                Ok(Ok(_)) => LookupResult::Answered,
                Ok(Err(_)) => LookupResult::Failed,
                Err(_) => LookupResult::Late,
            };
            self.telemetry
                .lookup(self.store.kind(), started.elapsed(), result);
        }
        match found {
            Ok(Ok(Some(invitation))) => InvitationLookup::Found(invitation),
            Ok(Ok(None)) => InvitationLookup::NotFound,
            Ok(Err(error)) => {
                log::error!(
                    "{error} (looking up {}); {then}; correlation_id={correlation_id}",
                    email.masked(),
                );
                InvitationLookup::Unavailable
            }
            Err(_) => {
                log::error!(
                    "the invitation store did not answer within {} ms (looking up {}); {then}; correlation_id={correlation_id}",
                    self.deadline.as_millis(),
                    email.masked(),
                );
                InvitationLookup::Unavailable
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use futures_util::future::BoxFuture;

    use super::*;
    use crate::domain::invitation::Invitation;
    use crate::invitations::StoreError;
    use crate::messages::Text;
    use crate::policy::BlockReason;
    use crate::policy::domains::DomainList;

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
                    Err(StoreError::File(crate::invitations::csv::FileError::Io {
                        path: "invitations.csv".into(),
                        error: std::io::Error::other("connection refused"),
                    }))
                } else {
                    Ok(Some(Invitation::default()))
                }
            })
        }
    }

    fn gate(store: FakeStore) -> Gate {
        let policy = Policy {
            allowed_domains: DomainList::parse("fabrikam.com").unwrap(),
            ..Policy::default()
        };
        Gate::new(
            Arc::new(Policies::fixed(policy)),
            Arc::new(store),
            Duration::from_millis(50),
            Telemetry::off(),
        )
    }

    fn sign_up(email: &str) -> SignUp {
        SignUp {
            email: EmailClaim::Valid(EmailAddress::parse(email).unwrap()),
            job_title: None,
            stage: Stage::BeforeAttributes,
            application: None,
            ..SignUp::default()
        }
    }

    async fn decide(gate: &Gate, email: &str) -> Decision {
        gate.decide(&sign_up(email), "test").await.decision
    }

    fn try_again_later() -> Decision {
        Decision::Block {
            reason: BlockReason::StoreUnavailable,
            text: Text::TryAgainLater,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_that_misses_the_deadline_blocks_even_allowed_domains() {
        let gate = gate(FakeStore {
            delay: Duration::from_millis(51),
            fail: false,
        });
        for email in ["ada@contoso.com", "ada@fabrikam.com"] {
            assert_eq!(decide(&gate, email).await, try_again_later(), "{email}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_store_blocks() {
        let gate = gate(FakeStore {
            delay: Duration::ZERO,
            fail: true,
        });
        assert_eq!(decide(&gate, "ada@contoso.com").await, try_again_later());
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_inside_the_deadline_is_believed() {
        let gate = gate(FakeStore {
            delay: Duration::from_millis(49),
            fail: false,
        });
        let decision = decide(&gate, "ada@contoso.com").await;
        assert!(matches!(decision, Decision::Admit { .. }), "{decision:?}");
    }
}
