//! An invitation: who may sign up although their domain is not on the allow-list, for which
//! application, until when, and with which attribute values (each with its JSON type). Values
//! only: stores read and write them, the policy judges them.

mod attributes;
mod claims;
mod expiry;

pub use self::attributes::{InvitationAttribute, SentType, ValueType};
pub(crate) use self::attributes::{check_attribute, is_attribute_name};
pub use self::claims::{
    ClaimValue, InvalidClaim, InvitationClaim, MAX_CLAIMS_BYTES, check_claim_name, check_claims,
    claims_json,
};
pub use self::expiry::Expiry;
pub(crate) use self::expiry::now;
pub use super::application::ApplicationId;

/// One invitation (the address is its key and lives beside it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invitation {
    /// `None`: valid for every application.
    pub application_id: Option<ApplicationId>,
    /// `None`: never expires.
    pub expires_at: Option<Expiry>,
    /// Values to prefill (and, when enforced, to impose at submit).
    pub attributes: Box<[InvitationAttribute]>,
    /// Claims for the tokens of the user who holds the invitation (never prefilled).
    pub claims: Box<[InvitationClaim]>,
}
