//! What the policy answers: admit (and on which invitation), block (and why), or ask the user to
//! correct what they typed. Reasons name themselves for the decision line; texts are named, not
//! worded.

use super::codes::CodeRefusal;
use crate::domain::invitation::{InvitationAttribute, InvitationId, InvitationKey, UseKey, Uses};
use crate::messages::Text;

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Admit {
        reason: AdmitReason,
        /// The valid invitation's attributes (prefilled; the enforced ones also imposed).
        attributes: Vec<InvitationAttribute>,
        /// The invitation that admits, where one does.
        invitation: Option<Admitted>,
    },
    Block {
        reason: BlockReason,
        text: Text,
    },
    /// Attributes the user must correct; the message is the fields' texts together.
    Invalid {
        fields: Vec<FieldError>,
        reason: InvalidReason,
    },
}

/// The invitation an admit rests on: what the gate needs to claim its use and to name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Admitted {
    pub(crate) key: InvitationKey,
    pub(crate) id: InvitationId,
    pub(crate) uses: Uses,
    /// Whether it gives tokens claims (a code's redeemer is then noted for them).
    pub(crate) has_claims: bool,
    /// The sign-up's claim on a use.
    pub(crate) use_key: Option<UseKey>,
}

/// Why an address was admitted (for the decision log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdmitReason {
    AllowedDomain,
    Invitation,
    /// A valid invitation code.
    Code,
    /// Start, with a code attribute configured: the code is typed on the page, so only Submit
    /// can decide.
    AwaitingCode,
}

/// Why the user must correct what they typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvalidReason {
    Attributes,
    Code(CodeRefusal),
}

impl InvalidReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Attributes => "invalid_attributes",
            Self::Code(refusal) => refusal.as_str(),
        }
    }
}

/// Why a sign-up was blocked (for the decision log; the user sees the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockReason {
    EmailMissing,
    /// Entra's event carries no address (a federated identity provider gave none) and no code
    /// attribute is configured: no one can be recognised.
    NoEmailFromIdentityProvider,
    EmailInvalid,
    /// Neither an allowed domain nor an invitation.
    DomainNotAllowed,
    /// The domain is on the deny-list (and there is no invitation).
    DomainBlocked,
    /// The local part is on the deny-list (and there is no invitation).
    LocalPartBlocked,
    /// The domain or a parent of it is a disposable provider's (`BLOCK_DISPOSABLE_DOMAINS`, and
    /// there is no invitation).
    DisposableDomain,
    /// The address has a sub-address, `ada+tag@` (`BLOCK_SUBADDRESSES`, and there is no
    /// invitation).
    SubaddressBlocked,
    /// The only invitation has expired.
    InvitationExpired,
    /// The only invitation is for another application.
    InvitationForOtherApplication,
    /// The invitation was revoked.
    InvitationRevoked,
    /// The single-use invitation was used by another sign-up.
    AlreadyUsed,
    /// Neither invited nor in an allowed domain, and put on the waitlist.
    Waitlisted,
    /// The invitation store could not answer in time.
    StoreUnavailable,
    /// A rule needs an attribute the user flow does not collect (`REQUIRE_JOB_TITLE` without
    /// Job Title on the page): no user can correct that, so the operator must.
    JobTitleNotCollected,
    /// The invitation enforces a value the attribute's type cannot hold (`abc` for an int
    /// attribute): the promise cannot be kept, so the sign-up does not go ahead.
    EnforcedValueMismatch,
}

/// An attribute the user must correct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    /// The attribute's name exactly as the caller sent it.
    pub(crate) attribute: String,
    pub(crate) text: Text,
}

impl AdmitReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::AllowedDomain => "allowed_domain",
            Self::Invitation => "invitation",
            Self::Code => "code",
            Self::AwaitingCode => "awaiting_code",
        }
    }
}

impl BlockReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::EmailMissing => "email_missing",
            Self::NoEmailFromIdentityProvider => "no_email_from_identity_provider",
            Self::EmailInvalid => "email_invalid",
            Self::DomainNotAllowed => "domain_not_allowed",
            Self::DomainBlocked => "domain_blocked",
            Self::LocalPartBlocked => "local_part_blocked",
            Self::DisposableDomain => "disposable_domain",
            Self::SubaddressBlocked => "subaddress_blocked",
            Self::InvitationExpired => "invitation_expired",
            Self::InvitationForOtherApplication => "invitation_for_other_application",
            Self::InvitationRevoked => "invitation_revoked",
            Self::AlreadyUsed => "already_used",
            Self::Waitlisted => "waitlisted",
            Self::StoreUnavailable => "store_unavailable",
            Self::JobTitleNotCollected => "job_title_not_collected",
            Self::EnforcedValueMismatch => "enforced_value_mismatch",
        }
    }
}
