//! An invitation: who may sign up although their domain is not on the allow-list (an address,
//! or whoever holds a code), for which application, until when, how often, with which attribute
//! values (each with its JSON type) and token claims. Values only, and only valid ones: every
//! invitation is built by [`Invitation::new`], which checks all of it; stores read and write
//! them, the policy judges them.

mod attributes;
mod claims;
mod code;
mod expiry;
mod id;

use std::fmt;

pub use self::attributes::{InvalidAttribute, InvitationAttribute, SentType, ValueType};
pub(crate) use self::attributes::{check_attribute, is_attribute_name};
pub use self::claims::{
    ClaimValue, InvalidClaim, InvitationClaim, MAX_CLAIMS_BYTES, check_claim_name, check_claims,
    claims_json,
};
pub use self::code::{CODE_CHARS, CodeDigest, InvalidCode, InvitationCode};
pub use self::expiry::Expiry;
pub(crate) use self::expiry::now;
pub use self::id::InvitationId;
pub use super::application::ApplicationId;
use super::email::EmailAddress;

/// Most uses a limited invitation may have: each use is remembered (to recognise a retry of the
/// same sign-up), and a store keeps them with the invitation.
pub const MAX_USES: u32 = 1000;

/// How often an invitation may be used to sign up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Uses {
    /// Any number of times (every e-mail invitation before single use existed).
    #[default]
    Unlimited,
    /// At most this many sign-ups (1 to [`MAX_USES`]): each is claimed in the store before it
    /// is admitted.
    Limited(u32),
}

impl Uses {
    /// `unlimited` or the number, as the CLI, files and exports write it.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("unlimited") {
            return Some(Self::Unlimited);
        }
        text.parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_USES).contains(n))
            .map(Self::Limited)
    }
}

impl fmt::Display for Uses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unlimited => f.write_str("unlimited"),
            Self::Limited(n) => write!(f, "{n}"),
        }
    }
}

/// What a store finds an invitation by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvitationKey {
    Email(EmailAddress),
    Code(CodeDigest),
}

impl InvitationKey {
    /// The key as text: the normalised address, or `sha256:<hex>` (never both at once).
    pub fn text(&self) -> String {
        match self {
            Self::Email(email) => email.as_str().to_owned(),
            Self::Code(digest) => format!("sha256:{digest}"),
        }
    }
}

/// One sign-up's claim on a use: from Entra's correlation id (B2C, which sends none: the address
/// and the code), so that Entra's retry of the same sign-up is recognised and admitted again.
/// 64 bits of the SHA-256 of what it is made of.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UseKey([u8; 8]);

impl UseKey {
    pub fn of(parts: &[&str]) -> Self {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        let digest = hasher.finalize();
        let mut key = [0u8; 8];
        key.copy_from_slice(&digest[..8]);
        Self(key)
    }

    /// From its 16 hex digits.
    pub fn parse(hex: &str) -> Option<Self> {
        let hex = hex.trim();
        if hex.len() != 16 {
            return None;
        }
        u64::from_str_radix(hex, 16)
            .ok()
            .map(|value| Self(value.to_be_bytes()))
    }
}

impl fmt::Display for UseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", u64::from_be_bytes(self.0))
    }
}

impl fmt::Debug for UseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UseKey({self})")
    }
}

/// Where an invitation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not used yet, valid.
    Pending,
    /// Used to sign up (and, for a code, uses left).
    Accepted,
    Expired,
    Revoked,
    /// A code with no use left.
    UsedUp,
}

impl Status {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Accepted,
        Self::Expired,
        Self::Revoked,
        Self::UsedUp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::UsedUp => "used up",
        }
    }

    /// As typed after `--status` (`used up`, `used-up` and `used_up` alike).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase().replace(['-', '_'], " ");
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// Everything an invitation is made of, before it is checked ([`Invitation::new`]).
#[derive(Debug, Clone, Default)]
pub struct InvitationParts {
    /// `None`: derived from the key (an invitation written before ids existed).
    pub id: Option<InvitationId>,
    /// `None`: valid for every application.
    pub application_id: Option<ApplicationId>,
    /// `None`: never expires.
    pub expires_at: Option<Expiry>,
    pub attributes: Vec<InvitationAttribute>,
    pub claims: Vec<InvitationClaim>,
    pub uses: Uses,
    /// A code bound to an address: both must match.
    pub bound_to: Option<EmailAddress>,
    pub revoked_at: Option<Expiry>,
    /// Uses claimed so far, and by which sign-ups (the store's record).
    pub used: u32,
    pub use_keys: Vec<UseKey>,
}

/// Why parts do not make an invitation; for files, tables and the CLI (never a user).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInvitation {
    #[error(transparent)]
    Attribute(#[from] InvalidAttribute),
    #[error("attribute {0} is given twice (names are compared in any case)")]
    AttributeTwice(String),
    #[error(transparent)]
    Claims(#[from] InvalidClaim),
    #[error("only a code can be bound to an address")]
    BoundEmail,
    #[error("{0} sign-ups recorded, more than the {MAX_USES} a limited invitation may have")]
    TooManyUses(usize),
}

/// One invitation, checked; its key (address or code digest) lives beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    id: InvitationId,
    application_id: Option<ApplicationId>,
    expires_at: Option<Expiry>,
    attributes: Box<[InvitationAttribute]>,
    claims: Box<[InvitationClaim]>,
    uses: Uses,
    bound_to: Option<EmailAddress>,
    revoked_at: Option<Expiry>,
    used: u32,
    use_keys: Box<[UseKey]>,
}

/// Any application, never expires, nothing to prefill, no claims, unlimited.
impl Default for Invitation {
    fn default() -> Self {
        Self::trusted(InvitationParts::default(), &InvitationId::derived(""))
    }
}

impl Invitation {
    /// Checks every part: each attribute fits its name and type, no attribute twice, the
    /// claims together, a bound address only on a code, the uses recorded within bounds.
    pub fn new(parts: InvitationParts, key: &InvitationKey) -> Result<Self, InvalidInvitation> {
        for (index, attribute) in parts.attributes.iter().enumerate() {
            check_attribute(attribute.name(), attribute.value(), attribute.kind())?;
            if parts.attributes[..index]
                .iter()
                .any(|other| other.name().eq_ignore_ascii_case(attribute.name()))
            {
                return Err(InvalidInvitation::AttributeTwice(
                    attribute.name().to_owned(),
                ));
            }
        }
        check_claims(&parts.claims)?;
        if parts.bound_to.is_some() && matches!(key, InvitationKey::Email(_)) {
            return Err(InvalidInvitation::BoundEmail);
        }
        if parts.use_keys.len() > MAX_USES as usize {
            return Err(InvalidInvitation::TooManyUses(parts.use_keys.len()));
        }
        let id = match &parts.id {
            Some(id) => id.clone(),
            None => InvitationId::derived(&key.text()),
        };
        Ok(Self::trusted(parts, &id))
    }

    /// Parts a store checked with [`Self::new`] when it loaded them (the file's index rebuilds
    /// an invitation at every lookup).
    pub(crate) fn trusted(parts: InvitationParts, id: &InvitationId) -> Self {
        Self {
            id: parts.id.unwrap_or_else(|| id.clone()),
            application_id: parts.application_id,
            expires_at: parts.expires_at,
            attributes: parts.attributes.into(),
            claims: parts.claims.into(),
            uses: parts.uses,
            bound_to: parts.bound_to,
            revoked_at: parts.revoked_at,
            used: parts.used,
            use_keys: parts.use_keys.into(),
        }
    }

    /// Its parts, to change and check again.
    pub fn into_parts(self) -> InvitationParts {
        InvitationParts {
            id: Some(self.id),
            application_id: self.application_id,
            expires_at: self.expires_at,
            attributes: self.attributes.into_vec(),
            claims: self.claims.into_vec(),
            uses: self.uses,
            bound_to: self.bound_to,
            revoked_at: self.revoked_at,
            used: self.used,
            use_keys: self.use_keys.into_vec(),
        }
    }

    pub fn id(&self) -> &InvitationId {
        &self.id
    }

    /// `None`: valid for every application.
    pub fn application_id(&self) -> Option<&ApplicationId> {
        self.application_id.as_ref()
    }

    /// `None`: never expires.
    pub fn expires_at(&self) -> Option<Expiry> {
        self.expires_at
    }

    /// Values to prefill (and, when enforced, to impose at submit).
    pub fn attributes(&self) -> &[InvitationAttribute] {
        &self.attributes
    }

    /// Claims for the tokens of the user who holds the invitation (never prefilled).
    pub fn claims(&self) -> &[InvitationClaim] {
        &self.claims
    }

    pub fn uses(&self) -> Uses {
        self.uses
    }

    /// A code's bound address.
    pub fn bound_to(&self) -> Option<&EmailAddress> {
        self.bound_to.as_ref()
    }

    pub fn revoked_at(&self) -> Option<Expiry> {
        self.revoked_at
    }

    /// Uses claimed so far.
    pub fn used(&self) -> u32 {
        self.used
    }

    /// The sign-ups that claimed them.
    pub fn use_keys(&self) -> &[UseKey] {
        &self.use_keys
    }

    /// Whether every use is taken by other sign-ups than `key`'s (a retry of a sign-up that
    /// claimed one is not refused).
    pub fn used_up_for(&self, key: Option<&UseKey>) -> bool {
        match self.uses {
            Uses::Unlimited => false,
            Uses::Limited(max) => {
                self.used >= max && key.is_none_or(|key| !self.use_keys.contains(key))
            }
        }
    }

    /// Where it is in its life at `now`: `code` for a code invitation (only a code is ever
    /// "used up"; a single-use address that signed up is "accepted"), `signed_up` when the store
    /// recorded a sign-up with it.
    pub fn status(&self, code: bool, signed_up: bool, now: i64) -> Status {
        let used_up = matches!(self.uses, Uses::Limited(max) if self.used >= max);
        if self.revoked_at.is_some() {
            Status::Revoked
        } else if code && used_up {
            Status::UsedUp
        } else if signed_up || self.used > 0 {
            Status::Accepted
        } else if self.expires_at.is_some_and(|expiry| expiry.has_passed(now)) {
            Status::Expired
        } else {
            Status::Pending
        }
    }
}
