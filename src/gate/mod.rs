//! The gate: one decision, whatever the contract. It looks up the address's invitation within
//! the decision deadline (a failed or late lookup becomes [`InvitationLookup::Unavailable`],
//! which the policy turns into a block: never an admit on failure), asks the policy, and after
//! an admit by invitation records the sign-up on it (in the background, bounded). The rules
//! come from [`Policies`]: each application's, kept in step with the policy file.

mod policies;
mod recorder;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

pub use self::policies::{Policies, PolicyFileError};
use self::recorder::SignUpRecorder;
use crate::domain::email::EmailAddress;
use crate::domain::invitation::{Invitation, InvitationId, InvitationKey, Uses, now};
use crate::invitations::requests::{Cap, JoinRequest, Requested, WaitlistLimits};
use crate::invitations::{Claim, InvitationStore, StoreError};
use crate::messages::{Language, Text};
use crate::policy::{
    Admitted, BlockReason, CodeLookup, CodeRefusal, Decision, EmailClaim, FieldError,
    InvalidReason, InvitationLookup, Policy, PolicyName, SignUp, Stage, TokenClaims,
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

/// A decision, the rules that made it (which word its texts), and the invitation it is about
/// (for the decision line: the id, never the address or the code).
pub(crate) struct Verdict {
    pub(crate) decision: Decision,
    pub(crate) rules: Rules,
    pub(crate) invitation: Option<InvitationId>,
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
    /// How much the waitlist may hold.
    waitlist: WaitlistLimits,
    /// When a full or unusable waitlist was last said (at most once a minute).
    waitlist_reported: std::sync::Mutex<Option<Instant>>,
}

/// A full or unusable waitlist is said at most this often.
const WAITLIST_REPORT_EVERY: Duration = Duration::from_secs(60);

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
            waitlist: WaitlistLimits::default(),
            waitlist_reported: std::sync::Mutex::new(None),
        }
    }

    /// The same, with these waitlist limits.
    pub fn with_waitlist(mut self, limits: WaitlistLimits) -> Self {
        self.waitlist = limits;
        self
    }

    /// Deletes waitlist requests past their days and counts the open ones again, now and then
    /// once a day, where a policy has a waitlist and the store keeps one. Runs inside the
    /// runtime; a failed sweep is logged and tried again the next day.
    pub(crate) fn sweep_waitlist(&self) {
        if !self.store.records_requests() || !self.policies.current().any_waitlist() {
            return;
        }
        let (store, limits) = (self.store.clone(), self.waitlist);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(24 * 3600));
            loop {
                every.tick().await;
                if let Err(error) = store.sweep_requests(&limits).await {
                    log::error!("waitlist sweep failed: {error}; tried again tomorrow");
                }
            }
        });
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
        let (decision, invitation) = self.decide_by(sign_up, &rules.policy, correlation_id).await;
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
        Verdict {
            decision,
            rules,
            invitation,
        }
    }

    /// Looks up what the sign-up presents (a code it carries, else its address's invitation),
    /// asks the policy, and for an admit by a limited invitation claims the use before it
    /// answers; records the sign-up on the invitation after.
    async fn decide_by(
        &self,
        sign_up: &SignUp,
        policy: &Policy,
        correlation_id: &str,
    ) -> (Decision, Option<InvitationId>) {
        const THEN: &str = "answering with a block";
        let started = Instant::now();
        let (lookup, code) = match policy.sent_code(sign_up) {
            Some(sent) => {
                let found = match &sent.code {
                    Some(code) => {
                        let digest = code.digest();
                        let find = self.store.find_code(&digest);
                        self.timed(find, "a code", THEN, correlation_id).await
                    }
                    None => InvitationLookup::NotFound,
                };
                (InvitationLookup::NotFound, Some(CodeLookup { sent, found }))
            }
            None => {
                let lookup = match &sign_up.email {
                    EmailClaim::Valid(email) => self.lookup(email, THEN, correlation_id).await,
                    EmailClaim::Missing | EmailClaim::Invalid => InvitationLookup::NotFound,
                };
                (lookup, None)
            }
        };
        let looked_up = match code.as_ref().map_or(&lookup, |code| &code.found) {
            InvitationLookup::Found(invitation) => Some(invitation.id().clone()),
            _ => None,
        };
        let decision = policy.decide_with(sign_up, &lookup, code.as_ref(), now());
        if let Decision::Block {
            reason: BlockReason::DomainNotAllowed | BlockReason::InvitationForOtherApplication,
            ..
        } = decision
            && policy.waitlist
            && sign_up.stage != Stage::BeforeToken
            && let EmailClaim::Valid(email) = &sign_up.email
        {
            let decision = self
                .waitlisted(sign_up, email, decision, started, correlation_id)
                .await;
            return (decision, looked_up);
        }
        let Decision::Admit {
            invitation: Some(admitted),
            ..
        } = &decision
        else {
            return (decision, looked_up);
        };
        let id = Some(admitted.id.clone());
        // A use is claimed, and a sign-up recorded, once the user has seen the page.
        if !matches!(sign_up.stage, Stage::AfterAttributes | Stage::Unspecified) {
            return (decision, id);
        }
        let attribute = code.as_ref().map(|code| code.sent.attribute.as_str());
        if let Some(refusal) = self
            .claim(sign_up, admitted, attribute, started, correlation_id)
            .await
        {
            return (refusal, id);
        }
        let whose = match &admitted.key {
            InvitationKey::Email(email) => email.masked().to_string(),
            InvitationKey::Code(_) => admitted.id.to_string(),
        };
        self.recorder.record(
            &admitted.key,
            whose,
            sign_up.application.as_deref(),
            correlation_id,
        );
        (decision, id)
    }

    /// Puts an address refused for want of an invitation on the waitlist within what is left of
    /// the deadline: told it was received only once it is recorded; "try again later" when the
    /// store cannot record in time; refused as before (`refused`) when it was denied lately or
    /// the waitlist is full.
    async fn waitlisted(
        &self,
        sign_up: &SignUp,
        email: &EmailAddress,
        refused: Decision,
        started: Instant,
        correlation_id: &str,
    ) -> Decision {
        let application = sign_up.application.as_deref();
        if !self.store.records_requests() {
            self.report_waitlist(&format!(
                "WAITLIST is on but the {} store keeps no waitlist; refusing as without one \
                 (INVITATION_STORE=table keeps one); correlation_id={correlation_id}",
                self.store.kind()
            ));
            return refused;
        }
        let text = |name: &str| {
            sign_up
                .texts
                .iter()
                .find(|(sent, _)| sent.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.clone())
        };
        let request = JoinRequest {
            email: email.clone(),
            application: application.map(str::to_owned),
            display_name: text("displayName"),
            given_name: text("givenName"),
            surname: text("surname"),
            locale: sign_up.locale.clone(),
            entra_correlation_id: sign_up.entra_correlation_id.clone(),
        }
        .capped();
        let left = self.deadline.saturating_sub(started.elapsed());
        let recorded =
            tokio::time::timeout(left, self.store.request(&request, &self.waitlist, left)).await;
        let unavailable = Decision::Block {
            reason: BlockReason::StoreUnavailable,
            text: Text::TryAgainLater,
        };
        match recorded {
            Ok(Ok(Requested::Recorded)) => Decision::Block {
                reason: BlockReason::Waitlisted,
                text: Text::Waitlisted,
            },
            Ok(Ok(Requested::Denied)) => refused,
            Ok(Ok(Requested::Full(cap))) => {
                let (setting, limit) = match cap {
                    Cap::Application => ("WAITLIST_MAX", self.waitlist.max),
                    Cap::Domain => ("WAITLIST_MAX_PER_DOMAIN", self.waitlist.max_per_domain),
                };
                self.report_waitlist(&format!(
                    "the waitlist is full ({setting}={limit}{}): {} is refused as without a waitlist; \
                     approve or deny requests (handler invitations requests); correlation_id={correlation_id}",
                    match cap {
                        Cap::Application => format!(
                            " for application {}",
                            application.unwrap_or("any")
                        ),
                        Cap::Domain => format!(" for {}", email.domain()),
                    },
                    email.masked()
                ));
                refused
            }
            Ok(Ok(Requested::Unsupported)) => refused,
            Ok(Err(error)) => {
                log::error!(
                    "{error} (recording the waitlist request of {}); answering with a block; \
                     correlation_id={correlation_id}",
                    email.masked()
                );
                unavailable
            }
            Err(_) => {
                log::error!(
                    "the invitation store could not record the waitlist request of {} within {} ms; \
                     answering with a block; correlation_id={correlation_id}",
                    email.masked(),
                    self.deadline.as_millis()
                );
                unavailable
            }
        }
    }

    /// Logs a waitlist problem, at most once every [`WAITLIST_REPORT_EVERY`].
    fn report_waitlist(&self, message: &str) {
        let mut last = self
            .waitlist_reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_none_or(|at| at.elapsed() >= WAITLIST_REPORT_EVERY) {
            *last = Some(Instant::now());
            log::error!("{message}");
        }
    }

    /// Claims a use of the admitting invitation within what is left of the deadline, where it
    /// is limited (or is a code whose claims the redeemer's tokens will need). `Some` refusal
    /// when the use cannot be had: used up meanwhile, gone, or the store did not answer in time
    /// ("try again later": never an admit without the claim).
    async fn claim(
        &self,
        sign_up: &SignUp,
        admitted: &Admitted,
        code_attribute: Option<&str>,
        started: Instant,
        correlation_id: &str,
    ) -> Option<Decision> {
        let redeemer = match (&admitted.key, &sign_up.email) {
            (InvitationKey::Code(_), EmailClaim::Valid(email)) => Some(email),
            _ => None,
        };
        let limited = matches!(admitted.uses, Uses::Limited(_));
        if !(limited || redeemer.is_some() && admitted.has_claims) {
            return None;
        }
        let unavailable = || Decision::Block {
            reason: BlockReason::StoreUnavailable,
            text: Text::TryAgainLater,
        };
        let Some(use_key) = admitted.use_key else {
            log::error!(
                "invitation {} is limited, but the sign-up names nothing to claim its use by; blocking; \
                 correlation_id={correlation_id}",
                admitted.id
            );
            return Some(unavailable());
        };
        let left = self.deadline.saturating_sub(started.elapsed());
        let claimed = tokio::time::timeout(
            left,
            self.store.claim_use(&admitted.key, use_key, redeemer, left),
        )
        .await;
        let code_refused = |refusal: CodeRefusal| Decision::Invalid {
            fields: vec![FieldError {
                attribute: code_attribute.unwrap_or_default().to_owned(),
                text: Text::InvitationCodeInvalid,
            }],
            reason: InvalidReason::Code(refusal),
        };
        match claimed {
            Ok(Ok(Claim::Claimed | Claim::AlreadyMine)) => None,
            Ok(Ok(Claim::CannotCount)) if !limited => None,
            Ok(Ok(Claim::CannotCount)) => {
                log::error!(
                    "invitation {} is limited but the {} store cannot count uses; blocking (keep limited \
                     invitations in a table: INVITATION_STORE=table); correlation_id={correlation_id}",
                    admitted.id,
                    self.store.kind()
                );
                Some(unavailable())
            }
            Ok(Ok(Claim::UsedUp)) => Some(match admitted.key {
                InvitationKey::Code(_) => code_refused(CodeRefusal::UsedUp),
                InvitationKey::Email(_) => Decision::Block {
                    reason: BlockReason::AlreadyUsed,
                    text: Text::BlockPageMessage,
                },
            }),
            Ok(Ok(Claim::Gone)) => Some(match admitted.key {
                InvitationKey::Code(_) => code_refused(CodeRefusal::NotFound),
                InvitationKey::Email(_) => Decision::Block {
                    reason: BlockReason::DomainNotAllowed,
                    text: Text::BlockPageMessage,
                },
            }),
            Ok(Err(error)) => {
                log::error!(
                    "{error} (claiming a use of invitation {}); answering with a block; \
                     correlation_id={correlation_id}",
                    admitted.id
                );
                Some(unavailable())
            }
            Err(_) => {
                log::error!(
                    "the invitation store could not claim a use of invitation {} within {} ms; answering \
                     with a block; correlation_id={correlation_id}",
                    admitted.id,
                    self.deadline.as_millis()
                );
                Some(unavailable())
            }
        }
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
        const THEN: &str = "failing the token (not issued without its claims)";
        let EmailClaim::Valid(email) = email else {
            return Some(TokenClaims::of(None, application));
        };
        let invitation = match self.lookup(email, THEN, correlation_id).await {
            InvitationLookup::Found(invitation) => Some(invitation),
            InvitationLookup::Unavailable => return None,
            // The code this address signed up with, if any, gives the claims.
            InvitationLookup::NotFound => {
                let find = self.store.find_redeemed(email);
                match self
                    .timed(find, "a redeemed code", THEN, correlation_id)
                    .await
                {
                    InvitationLookup::Found(invitation) => Some(invitation),
                    InvitationLookup::NotFound => None,
                    InvitationLookup::Unavailable => return None,
                }
            }
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
        let what = email.masked().to_string();
        self.timed(self.store.find(email), &what, then, correlation_id)
            .await
    }

    /// Runs one lookup (`what` names it in a log line) within the deadline, measured for
    /// telemetry; a failure is logged with what the caller does about it (`then`).
    async fn timed(
        &self,
        find: impl Future<Output = Result<Option<Invitation>, StoreError>>,
        what: &str,
        then: &str,
        correlation_id: &str,
    ) -> InvitationLookup {
        let timed = self.telemetry.enabled().then(Instant::now);
        let mut find = pin!(find);
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
                log::error!("{error} (looking up {what}); {then}; correlation_id={correlation_id}");
                InvitationLookup::Unavailable
            }
            Err(_) => {
                log::error!(
                    "the invitation store did not answer within {} ms (looking up {what}); {then}; correlation_id={correlation_id}",
                    self.deadline.as_millis(),
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
