//! Invitation codes in a decision: where the user types one (the application's code attribute),
//! which sign-up claims a use, and what a sent code decides. A sent code decides alone: valid,
//! it admits (deny-lists still refuse); otherwise the user is asked to type it again, with the
//! same words whether it does not exist, has expired, was revoked, is used up or is bound to
//! another address.

use super::{
    AdmitReason, Admitted, BlockReason, Decision, EmailClaim, FieldError, InvalidReason,
    InvitationLookup, Policy, SignUp, Stage,
};
use crate::domain::invitation::{InvitationCode, InvitationKey, UseKey};
use crate::messages::Text;

/// The attribute the user types a code into (`INVITATION_CODE_ATTRIBUTE`): Entra sends a custom
/// attribute as `extension_<app id without dashes>_<Name>`, so either that full name or the
/// short `<Name>` is configured; both match either, in any case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeAttribute(String);

impl CodeAttribute {
    /// A name of letters, digits and `_`, starting with a letter.
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim();
        crate::domain::invitation::is_attribute_name(name).then(|| Self(name.to_owned()))
    }

    pub fn name(&self) -> &str {
        &self.0
    }

    /// Whether an attribute sent as `sent` is this one.
    pub fn matches(&self, sent: &str) -> bool {
        let short = |name: &'_ str| -> String {
            match name.get(..10) {
                Some(prefix) if prefix.eq_ignore_ascii_case("extension_") => name[10..]
                    .split_once('_')
                    .map_or(name, |(_, short)| short)
                    .to_owned(),
                _ => name.to_owned(),
            }
        };
        sent.eq_ignore_ascii_case(&self.0) || short(sent).eq_ignore_ascii_case(&short(&self.0))
    }
}

/// A code a sign-up carries: the attribute it came in (named as sent), and the code (`None` when
/// what was typed cannot be a code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentCode {
    pub(crate) attribute: String,
    pub(crate) code: Option<InvitationCode>,
}

/// A sent code and what the store said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodeLookup {
    pub(crate) sent: SentCode,
    pub(crate) found: InvitationLookup,
}

/// Why a sent code does not admit (for the decision log: the user reads the same words for
/// each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeRefusal {
    NotFound,
    Expired,
    Revoked,
    UsedUp,
    BoundToAnotherAddress,
    ForOtherApplication,
}

impl CodeRefusal {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "code_not_found",
            Self::Expired => "code_expired",
            Self::Revoked => "code_revoked",
            Self::UsedUp => "code_used_up",
            Self::BoundToAnotherAddress => "code_bound_to_another_address",
            Self::ForOtherApplication => "code_for_other_application",
        }
    }
}

impl Policy {
    /// The code the sign-up carries in this application's code attribute, where one is
    /// configured and the user has seen the page (Entra's Submit, B2C's attribute step).
    pub(crate) fn sent_code(&self, sign_up: &SignUp) -> Option<SentCode> {
        let attribute = self.code_attribute.as_ref()?;
        if !matches!(sign_up.stage, Stage::AfterAttributes | Stage::Unspecified) {
            return None;
        }
        let (name, value) = sign_up
            .texts
            .iter()
            .find(|(name, value)| attribute.matches(name) && !value.trim().is_empty())?;
        Some(SentCode {
            attribute: name.clone(),
            code: InvitationCode::parse(value).ok(),
        })
    }

    /// Whether Start lets every address that no deny-list refuses go on to the page, since the
    /// code is typed there and only Submit can see it.
    pub(crate) fn awaits_code(&self, sign_up: &SignUp) -> bool {
        self.code_attribute.is_some() && sign_up.stage == Stage::BeforeAttributes
    }

    /// What a sent code decides.
    pub(crate) fn decide_code(&self, sign_up: &SignUp, lookup: &CodeLookup, now: i64) -> Decision {
        if let EmailClaim::Valid(email) = &sign_up.email
            && let Some(reason) = self.deny_listed(email)
        {
            return Decision::Block {
                reason,
                text: Text::AddressBlocked,
            };
        }
        let refused = |refusal: CodeRefusal| Decision::Invalid {
            fields: vec![FieldError {
                attribute: lookup.sent.attribute.clone(),
                text: Text::InvitationCodeInvalid,
            }],
            reason: InvalidReason::Code(refusal),
        };
        let (invitation, code) = match (&lookup.found, &lookup.sent.code) {
            (InvitationLookup::Unavailable, _) => {
                return Decision::Block {
                    reason: BlockReason::StoreUnavailable,
                    text: Text::TryAgainLater,
                };
            }
            (InvitationLookup::Found(invitation), Some(code)) => (invitation, code),
            _ => return refused(CodeRefusal::NotFound),
        };
        let use_key = use_key(sign_up, Some(code));
        let refusal = if invitation.revoked_at().is_some() {
            Some(CodeRefusal::Revoked)
        } else if invitation
            .expires_at()
            .is_some_and(|expiry| expiry.has_passed(now))
        {
            Some(CodeRefusal::Expired)
        } else if !super::applies_to(invitation, sign_up.application.as_deref()) {
            Some(CodeRefusal::ForOtherApplication)
        } else if invitation
            .bound_to()
            .is_some_and(|bound| match &sign_up.email {
                EmailClaim::Valid(email) => email != bound,
                _ => true,
            })
        {
            Some(CodeRefusal::BoundToAnotherAddress)
        } else if invitation.used_up_for(use_key.as_ref()) {
            Some(CodeRefusal::UsedUp)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            return refused(refusal);
        }
        let attributes = invitation.attributes().to_vec();
        if let Some(decision) = self.attribute_decision(sign_up, &attributes) {
            return decision;
        }
        Decision::Admit {
            reason: AdmitReason::Code,
            attributes,
            invitation: Some(Admitted {
                key: InvitationKey::Code(code.digest()),
                id: invitation.id().clone(),
                uses: invitation.uses(),
                has_claims: !invitation.claims().is_empty(),
                use_key,
            }),
        }
    }
}

/// The sign-up's claim on a use: Entra's correlation id; B2C, which sends none, the address and
/// the code. `None` when neither is known.
pub(crate) fn use_key(sign_up: &SignUp, code: Option<&InvitationCode>) -> Option<UseKey> {
    if let Some(correlation) = &sign_up.entra_correlation_id {
        return Some(UseKey::of(&["entra", correlation]));
    }
    let EmailClaim::Valid(email) = &sign_up.email else {
        return None;
    };
    let code = code.map(ToString::to_string).unwrap_or_default();
    Some(UseKey::of(&["connector", email.as_str(), &code]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_attribute_matches_its_short_and_full_names_in_any_case() {
        let short = CodeAttribute::parse("InvitationCode").unwrap();
        let full =
            CodeAttribute::parse("extension_0a1b2c3d4e5f60718293a4b5c6d7e8f9_InvitationCode")
                .unwrap();
        for attribute in [&short, &full] {
            for sent in [
                "InvitationCode",
                "invitationcode",
                "extension_0a1b2c3d4e5f60718293a4b5c6d7e8f9_InvitationCode",
                "EXTENSION_0A1B2C3D4E5F60718293A4B5C6D7E8F9_invitationcode",
            ] {
                assert!(attribute.matches(sent), "{attribute:?} {sent}");
            }
            for sent in [
                "InvitationCodes",
                "extension_0a1b_Team",
                "email",
                "extension_",
            ] {
                assert!(!attribute.matches(sent), "{attribute:?} {sent}");
            }
        }
        assert_eq!(CodeAttribute::parse("not a name"), None);
    }

    #[test]
    fn use_keys_come_from_entras_correlation_id_or_the_address_and_code() {
        let email = crate::domain::email::EmailAddress::parse("ada@contoso.com").unwrap();
        let entra = SignUp {
            entra_correlation_id: Some("c-1".to_owned()),
            email: EmailClaim::Valid(email.clone()),
            ..SignUp::default()
        };
        assert_eq!(use_key(&entra, None), Some(UseKey::of(&["entra", "c-1"])));
        let connector = SignUp {
            email: EmailClaim::Valid(email),
            ..SignUp::default()
        };
        let code = InvitationCode::parse("0000-0000-0000-0000").unwrap();
        assert_ne!(use_key(&connector, Some(&code)), use_key(&connector, None));
        assert_eq!(use_key(&SignUp::default(), None), None);
    }
}
