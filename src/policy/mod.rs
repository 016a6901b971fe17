//! The admission policy: one rule set for every front door.
//!
//! A front door translates its wire format into a [`SignUp`], looks up the address's invitation,
//! and [`Policy::decide`] turns both into a [`Decision`]; the front door translates that back.
//! Nothing here knows HTTP, JSON wire names or which Microsoft service asked, so every front door
//! admits and refuses exactly the same people: an address is admitted when its domain is on the
//! allow-list and no deny-list refuses it (its domain, its local part, and where they are switched
//! on disposable providers and sub-addresses), *or* it holds a valid
//! invitation (not expired, for all applications or this one; an administrator chose that
//! person, so an invitation overrides the deny-lists).
//!
//! A decision names its texts ([`Text`]); the front door says them in the user's language with
//! [`Policy::say`]. [`PolicySet`] holds the rules of each application (the policy file).

mod codes;
mod decision;
pub mod disposable;
pub mod domains;
pub mod file;
mod set;
pub mod settings;
mod tokens;

use std::sync::Arc;

pub use self::codes::CodeAttribute;
pub(crate) use self::codes::{CodeLookup, CodeRefusal, use_key};
pub(crate) use self::decision::{
    AdmitReason, Admitted, BlockReason, Decision, FieldError, InvalidReason,
};
use self::disposable::DisposableDomains;
use self::domains::{DomainList, LocalParts};
pub use self::set::{PolicyName, PolicySet};
pub use self::tokens::TokenClaims;
use crate::domain::email::EmailAddress;
use crate::domain::invitation::{Invitation, InvitationAttribute, InvitationKey, SentType, UseKey};
use crate::messages::{Language, Text, Texts};

/// Longest Job Title the directory stores (Entra `jobTitle` is limited to 128 characters).
pub(crate) const MAX_JOB_TITLE_LENGTH: usize = 128;

/// Where in the sign-up journey the call was made; attribute rules only apply once the user has
/// seen the attribute page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Before the attribute page (after an identity provider); only admit or block.
    BeforeAttributes,
    /// After the attribute page, before the account is created; attribute errors can be shown.
    AfterAttributes,
    /// The caller does not say (External Identities self-service sign-up sends no step, before
    /// or after the page): a value that is present is checked, a missing one is never an error.
    Unspecified,
    /// Just before a token is issued; only admit or block.
    BeforeToken,
}

/// What the caller sent as the e-mail address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EmailClaim {
    /// No address anywhere in the request.
    Missing,
    /// Something was sent, but it is not an address.
    Invalid,
    Valid(EmailAddress),
}

impl EmailClaim {
    /// How the claim appears in logs: the masked address, `(invalid)` or `-`.
    pub(crate) fn for_log(&self) -> String {
        match self {
            Self::Valid(email) => email.masked().to_string(),
            Self::Invalid => "(invalid)".to_owned(),
            Self::Missing => "-".to_owned(),
        }
    }
}

/// An attribute value as the caller typed it; only text can be checked for length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AttributeValue {
    /// Text that is not blank.
    Text(String),
    /// Sent, but empty or only white space.
    Blank,
    /// A number, boolean, list or object where text was expected.
    NotText,
}

/// A Job Title attribute, with the name the caller used for it so errors can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobTitle {
    pub(crate) attribute: String,
    pub(crate) value: AttributeValue,
}

/// One sign-up attempt, as every front door describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignUp {
    pub(crate) email: EmailClaim,
    /// `None` when the request does not carry the attribute.
    pub(crate) job_title: Option<JobTitle>,
    pub(crate) stage: Stage,
    /// The application the user signs up to, when the caller says.
    pub(crate) application: Option<String>,
    /// Whether the request carries every attribute of the page, empty ones included (Entra's
    /// Submit does), so that one it lacks is not on the page at all. B2C omits the claims a
    /// user left empty, so there a missing one may just be empty.
    pub(crate) lists_page_attributes: bool,
    /// The JSON type the request shows for each attribute it carries (Entra), by name as sent:
    /// a value imposed on one must be sent back in that type.
    pub(crate) sent_types: Vec<(String, SentType)>,
    /// The text attributes the request carries, by name as sent (where a code is typed).
    pub(crate) texts: Vec<(String, String)>,
    /// Entra's `authenticationContext.correlationId`: one sign-up's, the same in its retries.
    pub(crate) entra_correlation_id: Option<String>,
    /// The user's locale as sent (Entra's `client.locale`, B2C's `ui_locales`), for the
    /// waitlist.
    pub(crate) locale: Option<String>,
    /// Whether Entra's events sent it (an address may then be missing because the identity
    /// provider gave none).
    pub(crate) from_entra: bool,
}

/// Nothing known: no address, no step, no application, no attributes (build a sign-up with
/// `..SignUp::default()` so that a new part never breaks it).
impl Default for SignUp {
    fn default() -> Self {
        Self {
            email: EmailClaim::Missing,
            job_title: None,
            stage: Stage::Unspecified,
            application: None,
            lists_page_attributes: false,
            sent_types: Vec::new(),
            texts: Vec::new(),
            entra_correlation_id: None,
            locale: None,
            from_entra: false,
        }
    }
}

impl SignUp {
    /// The type the request showed for the attribute `name` (matched in any case).
    pub(crate) fn sent_type(&self, name: &str) -> Option<SentType> {
        self.sent_types
            .iter()
            .find(|(sent, _)| sent.eq_ignore_ascii_case(name))
            .map(|(_, kind)| *kind)
    }
}

/// What the invitation store said about the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InvitationLookup {
    Found(Invitation),
    NotFound,
    /// The store failed or missed its deadline: nothing can be admitted on its word.
    Unavailable,
}

/// The rule set of one application (or of all), built from the settings and the policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub allowed_domains: DomainList,
    /// Domains refused even when allowed (`gmail.com`, `*.example.net`).
    pub blocked_domains: DomainList,
    /// Local parts refused on every domain (`admin`, `noreply`).
    pub blocked_local_parts: LocalParts,
    /// Whether addresses at disposable providers are refused (`BLOCK_DISPOSABLE_DOMAINS`).
    pub block_disposable_domains: bool,
    /// The disposable providers: the shipped list and the site's file, one for the process
    /// (`DISPOSABLE_DOMAINS_FILE`), shared by the rules of every application.
    pub disposable_domains: Arc<DisposableDomains>,
    /// Whether sub-addresses (`ada+tag@`) are refused (`BLOCK_SUBADDRESSES`).
    pub block_subaddresses: bool,
    /// Minimum Job Title length in Unicode scalar values, after trimming.
    pub min_job_title_length: usize,
    /// Whether a Job Title must be present after the attribute page.
    pub require_job_title: bool,
    /// The organization's name and the operator's own messages.
    pub texts: Texts,
    /// The attribute users type an invitation code into (`INVITATION_CODE_ATTRIBUTE`).
    pub code_attribute: Option<CodeAttribute>,
    /// Whether an address refused only for want of an invitation is put on the waitlist
    /// (`WAITLIST`).
    pub waitlist: bool,
}

/// The defaults of every setting ([`settings::POLICY_SETTINGS`] says them to people).
impl Default for Policy {
    fn default() -> Self {
        Self {
            allowed_domains: DomainList::from_entries(["fabrikam.com", "fabricam.com"])
                .unwrap_or_default(),
            blocked_domains: DomainList::default(),
            blocked_local_parts: LocalParts::default(),
            block_disposable_domains: false,
            disposable_domains: DisposableDomains::shipped_list(),
            block_subaddresses: false,
            min_job_title_length: 4,
            require_job_title: false,
            texts: Texts::new(crate::messages::OperatorText::plain("Contoso")),
            code_attribute: None,
            waitlist: false,
        }
    }
}

impl Policy {
    /// Decides one sign-up at `now` (seconds since the Unix epoch) by the address's
    /// invitation. Pure: the same input always gives the same decision.
    pub(crate) fn decide(
        &self,
        sign_up: &SignUp,
        invitation: &InvitationLookup,
        now: i64,
    ) -> Decision {
        self.decide_with(sign_up, invitation, None, now)
    }

    /// The same, where the sign-up may carry a code: a sent code decides alone
    /// ([`Self::decide_code`]); otherwise the address's invitation, then the domain policy.
    pub(crate) fn decide_with(
        &self,
        sign_up: &SignUp,
        invitation: &InvitationLookup,
        code: Option<&CodeLookup>,
        now: i64,
    ) -> Decision {
        if let Some(code) = code {
            return self.decide_code(sign_up, code, now);
        }
        let email = match &sign_up.email {
            EmailClaim::Valid(email) => email,
            _ if self.awaits_code(sign_up) => return Self::awaiting_code(),
            EmailClaim::Missing if sign_up.from_entra => {
                return Decision::Block {
                    reason: BlockReason::NoEmailFromIdentityProvider,
                    text: Text::EmailMandatory,
                };
            }
            EmailClaim::Missing => return Self::email_block(BlockReason::EmailMissing),
            EmailClaim::Invalid => return Self::email_block(BlockReason::EmailInvalid),
        };
        let use_key = use_key(sign_up, None);
        let invitation = match invitation {
            InvitationLookup::Unavailable => {
                return Decision::Block {
                    reason: BlockReason::StoreUnavailable,
                    text: Text::TryAgainLater,
                };
            }
            InvitationLookup::NotFound => Err(BlockReason::DomainNotAllowed),
            InvitationLookup::Found(invitation) => invitation_validity(
                invitation,
                sign_up.application.as_deref(),
                use_key.as_ref(),
                now,
            )
            .map(|()| invitation),
        };
        let reason = match &invitation {
            Ok(_) => AdmitReason::Invitation,
            Err(_) if let Some(reason) = self.deny_listed(email) => {
                return Decision::Block {
                    reason,
                    text: Text::AddressBlocked,
                };
            }
            Err(_) if self.allowed_domains.contains(email) => AdmitReason::AllowedDomain,
            Err(_) if self.awaits_code(sign_up) => return Self::awaiting_code(),
            Err(refusal) => {
                return Decision::Block {
                    reason: *refusal,
                    text: self.domain_text(),
                };
            }
        };
        let attributes = invitation
            .map(|i| i.attributes().to_vec())
            .unwrap_or_default();
        if let Some(decision) = self.attribute_decision(sign_up, &attributes) {
            return decision;
        }
        let admitted = invitation.ok().map(|invitation| Admitted {
            key: InvitationKey::Email(email.clone()),
            id: invitation.id().clone(),
            uses: invitation.uses(),
            has_claims: !invitation.claims().is_empty(),
            use_key,
        });
        Decision::Admit {
            reason,
            attributes,
            invitation: admitted,
        }
    }

    /// Start goes on to the page, where the code is typed.
    fn awaiting_code() -> Decision {
        Decision::Admit {
            reason: AdmitReason::AwaitingCode,
            attributes: Vec::new(),
            invitation: None,
        }
    }

    /// The deny-list that refuses `email`, if one does: the operator's own lists first, then
    /// the disposable providers, then sub-addresses.
    pub(crate) fn deny_listed(&self, email: &EmailAddress) -> Option<BlockReason> {
        if self.blocked_domains.contains(email) {
            Some(BlockReason::DomainBlocked)
        } else if self.blocked_local_parts.contains(email) {
            Some(BlockReason::LocalPartBlocked)
        } else if self.block_disposable_domains && self.disposable_domains.contains(email) {
            Some(BlockReason::DisposableDomain)
        } else if self.block_subaddresses && email.mailbox().tag.is_some() {
            Some(BlockReason::SubaddressBlocked)
        } else {
            None
        }
    }

    /// What the attributes typed decide once the user has seen the page, if anything: values to
    /// correct, a rule the page cannot meet, an enforced value that cannot be imposed.
    fn attribute_decision(
        &self,
        sign_up: &SignUp,
        attributes: &[InvitationAttribute],
    ) -> Option<Decision> {
        if matches!(sign_up.stage, Stage::AfterAttributes | Stage::Unspecified) {
            let errors = match self.attribute_errors(sign_up, attributes) {
                Ok(errors) => errors,
                Err(reason) => {
                    return Some(Decision::Block {
                        reason,
                        text: Text::UnavailableMessage,
                    });
                }
            };
            if !errors.is_empty() {
                return Some(Decision::Invalid {
                    fields: errors,
                    reason: InvalidReason::Attributes,
                });
            }
        }
        // Enforcement is a promise: a value that cannot be imposed in the attribute's type
        // blocks (a prefill that cannot is only left out).
        if sign_up.stage == Stage::AfterAttributes
            && attributes
                .iter()
                .filter(|attribute| attribute.enforced())
                .any(|attribute| {
                    attribute
                        .json_as(sign_up.sent_type(attribute.name()))
                        .is_none()
                })
        {
            return Some(Decision::Block {
                reason: BlockReason::EnforcedValueMismatch,
                text: Text::BlockPageMessage,
            });
        }
        None
    }

    /// `text` in `language`, as this policy words it: the operator's text where they wrote
    /// one, else the catalog's with this policy's organization, domains and lengths.
    pub fn say(&self, text: Text, language: Language) -> String {
        self.texts.say(
            text,
            language,
            &self.allowed_domains.to_string(),
            (self.min_job_title_length, MAX_JOB_TITLE_LENGTH),
        )
    }

    /// The fields' texts in `language`, one after the other (the message of a validation error).
    pub(crate) fn say_all(&self, fields: &[FieldError], language: Language) -> String {
        fields
            .iter()
            .map(|field| self.say(field.text, language))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Why an address without an invitation is refused: the allowed domains, or that only an
    /// invitation lets anyone in.
    fn domain_text(&self) -> Text {
        if self.allowed_domains.is_empty() {
            Text::InvitationRequired
        } else {
            Text::DomainNotAllowed
        }
    }

    fn email_block(reason: BlockReason) -> Decision {
        Decision::Block {
            reason,
            text: Text::EmailMandatory,
        }
    }

    /// Rule violations in what the user typed; an attribute the invitation enforces is replaced
    /// anyway, so what was typed for it does not matter. A missing value is an error only where
    /// the page is known to be behind the user; an error names only an attribute the request
    /// carries (the user cannot correct a field that is not on the page), and a rule that needs
    /// an attribute the page does not have is the operator's error, not the user's.
    fn attribute_errors(
        &self,
        sign_up: &SignUp,
        invited: &[InvitationAttribute],
    ) -> Result<Vec<FieldError>, BlockReason> {
        let enforced = |name: &str| {
            invited
                .iter()
                .any(|a| a.enforced() && a.name().eq_ignore_ascii_case(name))
        };
        if enforced("jobTitle") {
            return Ok(Vec::new());
        }
        let too_short = || Text::JobTitleTooShort;
        let required = self.require_job_title && sign_up.stage == Stage::AfterAttributes;
        let error = match &sign_up.job_title {
            None if required && sign_up.lists_page_attributes => {
                return Err(BlockReason::JobTitleNotCollected);
            }
            None if required => Some(("jobTitle".to_owned(), Text::JobTitleRequired)),
            Some(JobTitle {
                attribute,
                value: AttributeValue::Blank,
            }) if required => Some((attribute.clone(), Text::JobTitleRequired)),
            None
            | Some(JobTitle {
                value: AttributeValue::Blank,
                ..
            }) => None,
            Some(JobTitle {
                attribute,
                value: AttributeValue::NotText,
            }) => Some((attribute.clone(), too_short())),
            Some(JobTitle {
                attribute,
                value: AttributeValue::Text(text),
            }) => match text.trim().chars().count() {
                length if length > MAX_JOB_TITLE_LENGTH => {
                    Some((attribute.clone(), Text::JobTitleTooLong))
                }
                length if length < self.min_job_title_length => {
                    Some((attribute.clone(), too_short()))
                }
                _ => None,
            },
        };
        Ok(error
            .map(|(attribute, text)| FieldError { attribute, text })
            .into_iter()
            .collect())
    }
}

/// Whether an address's invitation admits this sign-up now; the refusal names why not.
fn invitation_validity(
    invitation: &Invitation,
    application: Option<&str>,
    use_key: Option<&UseKey>,
    now: i64,
) -> Result<(), BlockReason> {
    if invitation.revoked_at().is_some() {
        return Err(BlockReason::InvitationRevoked);
    }
    if invitation
        .expires_at()
        .is_some_and(|expiry| expiry.has_passed(now))
    {
        return Err(BlockReason::InvitationExpired);
    }
    if invitation.used_up_for(use_key) {
        return Err(BlockReason::AlreadyUsed);
    }
    if applies_to(invitation, application) {
        Ok(())
    } else {
        Err(BlockReason::InvitationForOtherApplication)
    }
}

/// Whether an invitation is for every application or for this one.
fn applies_to(invitation: &Invitation, application: Option<&str>) -> bool {
    match (invitation.application_id(), application) {
        (None, _) => true,
        (Some(invited), Some(asked)) => invited.is(asked),
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::invitation::ApplicationId;
    use crate::domain::invitation::{Expiry, InvitationClaim, InvitationParts, ValueType};

    const NOW: i64 = 1_800_000_000;

    fn policy() -> Policy {
        Policy {
            allowed_domains: DomainList::parse("fabrikam.com,fabricam.com").unwrap(),
            ..Policy::default()
        }
    }

    fn sign_up(email: &str, job_title: Option<&str>, stage: Stage) -> SignUp {
        SignUp {
            email: match EmailAddress::parse(email) {
                Ok(email) => EmailClaim::Valid(email),
                Err(_) => EmailClaim::Invalid,
            },
            job_title: job_title.map(|title| JobTitle {
                attribute: "jobTitle".to_owned(),
                value: AttributeValue::Text(title.to_owned()),
            }),
            stage,
            application: None,
            ..SignUp::default()
        }
    }

    fn admitted() -> Decision {
        Decision::Admit {
            reason: AdmitReason::AllowedDomain,
            attributes: Vec::new(),
            invitation: None,
        }
    }

    fn job_title_error(text: Text) -> Decision {
        Decision::Invalid {
            fields: vec![FieldError {
                attribute: "jobTitle".to_owned(),
                text,
            }],
            reason: InvalidReason::Attributes,
        }
    }

    #[test]
    fn admits_an_allowed_domain_with_a_valid_job_title() {
        let decision = policy().decide(
            &sign_up("ada@fabrikam.com", Some("Engineer"), Stage::AfterAttributes),
            &InvitationLookup::NotFound,
            NOW,
        );
        assert_eq!(decision, admitted());
    }

    #[test]
    fn blocks_missing_and_invalid_addresses_with_the_same_message() {
        for (email, reason) in [
            (EmailClaim::Missing, BlockReason::EmailMissing),
            (EmailClaim::Invalid, BlockReason::EmailInvalid),
        ] {
            let request = SignUp {
                email,
                job_title: None,
                stage: Stage::AfterAttributes,
                application: None,
                ..SignUp::default()
            };
            assert_eq!(
                policy().decide(&request, &InvitationLookup::NotFound, NOW),
                Decision::Block {
                    reason,
                    text: Text::EmailMandatory
                }
            );
        }
    }

    #[test]
    fn blocks_other_domains_naming_the_allowed_ones() {
        let decision = policy().decide(
            &sign_up("ada@contoso.com", None, Stage::BeforeAttributes),
            &InvitationLookup::NotFound,
            NOW,
        );
        assert_eq!(
            decision,
            Decision::Block {
                reason: BlockReason::DomainNotAllowed,
                text: Text::DomainNotAllowed
            }
        );
        assert_eq!(
            policy().say(
                Text::DomainNotAllowed,
                crate::messages::Catalog::built_in().english()
            ),
            "You must have an account from 'fabrikam.com, fabricam.com' to register as an external user for Contoso."
        );
    }

    #[test]
    fn the_domain_rule_comes_before_attribute_rules() {
        let decision = policy().decide(
            &sign_up("ada@contoso.com", Some("x"), Stage::AfterAttributes),
            &InvitationLookup::NotFound,
            NOW,
        );
        assert!(matches!(
            decision,
            Decision::Block {
                reason: BlockReason::DomainNotAllowed,
                ..
            }
        ));
    }

    #[test]
    fn job_title_length_counts_trimmed_unicode_scalar_values() {
        let policy = policy();
        let short = Text::JobTitleTooShort;
        for (title, expected) in [
            ("Eng", job_title_error(short)),
            ("  Eng  ", job_title_error(short)),
            ("Engr", admitted()),
            ("Ärzt", admitted()),
            ("日本語", job_title_error(short)),
            ("日本語人", admitted()),
        ] {
            let decision = policy.decide(
                &sign_up("ada@fabrikam.com", Some(title), Stage::AfterAttributes),
                &InvitationLookup::NotFound,
                NOW,
            );
            assert_eq!(decision, expected, "{title:?}");
        }
    }

    #[test]
    fn job_title_longer_than_the_directory_allows_is_refused() {
        let title = "x".repeat(MAX_JOB_TITLE_LENGTH + 1);
        let decision = policy().decide(
            &sign_up("ada@fabrikam.com", Some(&title), Stage::AfterAttributes),
            &InvitationLookup::NotFound,
            NOW,
        );
        assert_eq!(decision, job_title_error(Text::JobTitleTooLong));
        assert_eq!(
            policy().say(
                Text::JobTitleTooLong,
                crate::messages::Catalog::built_in().english()
            ),
            "Job Title must contain at most 128 characters."
        );
        let title = "x".repeat(MAX_JOB_TITLE_LENGTH);
        let decision = policy().decide(
            &sign_up("ada@fabrikam.com", Some(&title), Stage::AfterAttributes),
            &InvitationLookup::NotFound,
            NOW,
        );
        assert_eq!(decision, admitted());
    }

    #[test]
    fn a_job_title_that_is_not_text_is_refused() {
        let request = SignUp {
            job_title: Some(JobTitle {
                attribute: "jobTitle".to_owned(),
                value: AttributeValue::NotText,
            }),
            ..sign_up("ada@fabrikam.com", None, Stage::AfterAttributes)
        };
        assert_eq!(
            policy().decide(&request, &InvitationLookup::NotFound, NOW),
            job_title_error(Text::JobTitleTooShort)
        );
        assert_eq!(
            policy().say(
                Text::JobTitleTooShort,
                crate::messages::Catalog::built_in().english()
            ),
            "Job Title must contain at least 4 characters."
        );
    }

    #[test]
    fn attribute_rules_apply_only_after_the_attribute_page() {
        for stage in [Stage::BeforeAttributes, Stage::BeforeToken] {
            let decision = policy().decide(
                &sign_up("ada@fabrikam.com", Some("x"), stage),
                &InvitationLookup::NotFound,
                NOW,
            );
            assert_eq!(decision, admitted(), "{stage:?}");
        }
    }

    #[test]
    fn a_missing_job_title_is_fine_unless_required() {
        let decision = policy().decide(
            &sign_up("ada@fabrikam.com", None, Stage::AfterAttributes),
            &InvitationLookup::NotFound,
            NOW,
        );
        assert_eq!(decision, admitted());
        let strict = Policy {
            require_job_title: true,
            min_job_title_length: 2,
            ..policy()
        };
        let decision = strict.decide(
            &sign_up("ada@fabrikam.com", None, Stage::AfterAttributes),
            &InvitationLookup::NotFound,
            NOW,
        );
        assert_eq!(decision, job_title_error(Text::JobTitleRequired));
    }

    #[test]
    fn without_a_step_only_a_present_job_title_is_checked() {
        let strict = Policy {
            require_job_title: true,
            ..policy()
        };
        let decision = strict.decide(
            &sign_up("ada@fabrikam.com", None, Stage::Unspecified),
            &InvitationLookup::NotFound,
            NOW,
        );
        assert_eq!(decision, admitted());
        let decision = strict.decide(
            &sign_up("ada@fabrikam.com", Some("CEO"), Stage::Unspecified),
            &InvitationLookup::NotFound,
            NOW,
        );
        assert_eq!(decision, job_title_error(Text::JobTitleTooShort));
    }

    #[test]
    fn a_required_attribute_the_page_lacks_is_the_operators_error_not_the_users() {
        let strict = Policy {
            require_job_title: true,
            ..policy()
        };
        let listed = SignUp {
            lists_page_attributes: true,
            ..sign_up("ada@fabrikam.com", None, Stage::AfterAttributes)
        };
        assert_eq!(
            strict.decide(&listed, &InvitationLookup::NotFound, NOW),
            Decision::Block {
                reason: BlockReason::JobTitleNotCollected,
                text: Text::UnavailableMessage
            }
        );
        // On the page but left empty: the user can fill it in.
        let blank = SignUp {
            job_title: Some(JobTitle {
                attribute: "JobTitle".to_owned(),
                value: AttributeValue::Blank,
            }),
            ..listed
        };
        assert_eq!(
            strict.decide(&blank, &InvitationLookup::NotFound, NOW),
            Decision::Invalid {
                fields: vec![FieldError {
                    attribute: "JobTitle".to_owned(),
                    text: Text::JobTitleRequired,
                }],
                reason: InvalidReason::Attributes,
            }
        );
    }

    #[test]
    fn an_empty_allow_list_admits_no_one_by_domain() {
        let closed = Policy {
            allowed_domains: DomainList::default(),
            ..policy()
        };
        let decision = closed.decide(
            &sign_up("ada@fabrikam.com", None, Stage::BeforeAttributes),
            &InvitationLookup::NotFound,
            NOW,
        );
        assert_eq!(
            decision,
            Decision::Block {
                reason: BlockReason::DomainNotAllowed,
                text: Text::InvitationRequired
            }
        );
    }

    fn attribute(name: &str, value: &str, enforced: bool) -> InvitationAttribute {
        InvitationAttribute::new(name, value, enforced, ValueType::String).unwrap()
    }

    fn ada() -> InvitationKey {
        InvitationKey::Email(EmailAddress::parse("ada@contoso.com").unwrap())
    }

    fn invitation(parts: InvitationParts) -> Invitation {
        Invitation::new(parts, &ada()).unwrap()
    }

    fn invited(application: Option<&str>, expires_at: Option<i64>) -> InvitationLookup {
        InvitationLookup::Found(invitation(InvitationParts {
            application_id: application.map(|id| ApplicationId::parse(id).unwrap()),
            expires_at: expires_at.map(Expiry),
            attributes: vec![
                attribute("displayName", "Ada", false),
                attribute("jobTitle", "Engineer", true),
            ],
            ..InvitationParts::default()
        }))
    }

    fn for_app(email: &str, application: Option<&str>, stage: Stage) -> SignUp {
        SignUp {
            application: application.map(Into::into),
            ..sign_up(email, None, stage)
        }
    }

    /// An enforced value is a promise: one the attribute's type (as the request shows it)
    /// cannot hold blocks after the attribute page; before it nothing is imposed yet.
    #[test]
    fn an_enforced_value_that_cannot_take_the_attributes_type_blocks() {
        let invitation = InvitationLookup::Found(invitation(InvitationParts {
            attributes: vec![attribute("extension_0a1b_Level", "abc", true)],
            ..InvitationParts::default()
        }));
        let sent = |stage| SignUp {
            sent_types: vec![("extension_0a1b_LEVEL".to_owned(), SentType::Integer)],
            ..sign_up("ada@contoso.com", None, stage)
        };
        assert_eq!(
            policy().decide(&sent(Stage::AfterAttributes), &invitation, NOW),
            Decision::Block {
                reason: BlockReason::EnforcedValueMismatch,
                text: Text::BlockPageMessage,
            }
        );
        assert!(matches!(
            policy().decide(&sent(Stage::BeforeAttributes), &invitation, NOW),
            Decision::Admit { .. }
        ));
        let as_text = SignUp {
            sent_types: vec![("extension_0a1b_Level".to_owned(), SentType::Text)],
            ..sign_up("ada@contoso.com", None, Stage::AfterAttributes)
        };
        assert!(matches!(
            policy().decide(&as_text, &invitation, NOW),
            Decision::Admit { .. }
        ));
    }

    #[test]
    fn a_valid_invitation_admits_any_domain_with_its_attributes() {
        let decision = policy().decide(
            &for_app(
                "ada@contoso.com",
                Some("11111111-0000-0000-0000-00000000000a"),
                Stage::BeforeAttributes,
            ),
            &invited(None, Some(NOW + 1)),
            NOW,
        );
        let Decision::Admit {
            reason,
            attributes,
            invitation,
        } = decision
        else {
            panic!("{decision:?}");
        };
        assert_eq!(reason, AdmitReason::Invitation);
        assert_eq!(
            attributes,
            vec![
                attribute("displayName", "Ada", false),
                attribute("jobTitle", "Engineer", true)
            ]
        );
        assert_eq!(invitation.map(|admitted| admitted.key), Some(ada()));
    }

    #[test]
    fn invitations_are_scoped_to_their_application() {
        let policy = policy();
        let scoped = invited(Some("11111111-0000-0000-0000-00000000000A"), None);
        let admitted = policy.decide(
            &for_app(
                "ada@contoso.com",
                Some("11111111-0000-0000-0000-00000000000a"),
                Stage::BeforeAttributes,
            ),
            &scoped,
            NOW,
        );
        assert!(matches!(
            admitted,
            Decision::Admit {
                reason: AdmitReason::Invitation,
                ..
            }
        ));
        for application in [Some("22222222-0000-0000-0000-00000000000b"), None] {
            let decision = policy.decide(
                &for_app("ada@contoso.com", application, Stage::BeforeAttributes),
                &scoped,
                NOW,
            );
            assert!(
                matches!(
                    decision,
                    Decision::Block {
                        reason: BlockReason::InvitationForOtherApplication,
                        ..
                    }
                ),
                "{application:?}: {decision:?}"
            );
        }
    }

    #[test]
    fn expired_invitations_admit_no_one() {
        let decision = policy().decide(
            &for_app("ada@contoso.com", None, Stage::BeforeAttributes),
            &invited(None, Some(NOW)),
            NOW,
        );
        assert!(matches!(
            decision,
            Decision::Block {
                reason: BlockReason::InvitationExpired,
                ..
            }
        ));
        // An allowed domain still admits, without the stale invitation's attributes.
        let decision = policy().decide(
            &for_app("ada@fabrikam.com", None, Stage::BeforeAttributes),
            &invited(None, Some(NOW)),
            NOW,
        );
        assert_eq!(decision, admitted());
    }

    #[test]
    fn an_unavailable_store_blocks_even_allowed_domains() {
        let decision = policy().decide(
            &for_app("ada@fabrikam.com", None, Stage::BeforeAttributes),
            &InvitationLookup::Unavailable,
            NOW,
        );
        assert_eq!(
            decision,
            Decision::Block {
                reason: BlockReason::StoreUnavailable,
                text: Text::TryAgainLater
            }
        );
    }

    #[test]
    fn tokens_get_the_claims_of_an_invitation_for_their_application_even_expired() {
        let claims: Box<[InvitationClaim]> = vec![InvitationClaim {
            name: "department".into(),
            value: crate::domain::invitation::ClaimValue::One("Ops".into()),
        }]
        .into();
        let invitation = |application: Option<&str>| {
            invitation(InvitationParts {
                application_id: application.map(|id| ApplicationId::parse(id).unwrap()),
                expires_at: Some(Expiry(NOW - 1)),
                claims: claims.to_vec(),
                ..InvitationParts::default()
            })
        };
        assert_eq!(
            TokenClaims::of(
                Some(&invitation(None)),
                Some("11111111-0000-0000-0000-00000000000a")
            ),
            TokenClaims::Given(claims.clone())
        );
        assert_eq!(
            TokenClaims::of(
                Some(&invitation(Some("11111111-0000-0000-0000-00000000000A"))),
                Some("11111111-0000-0000-0000-00000000000a")
            )
            .claims(),
            &*claims
        );
        assert_eq!(
            TokenClaims::of(
                Some(&invitation(Some("11111111-0000-0000-0000-00000000000a"))),
                Some("22222222-0000-0000-0000-00000000000b")
            ),
            TokenClaims::OtherApplication
        );
        assert_eq!(
            TokenClaims::of(
                Some(&invitation(Some("11111111-0000-0000-0000-00000000000a"))),
                None
            ),
            TokenClaims::OtherApplication
        );
        assert_eq!(
            TokenClaims::of(None, Some("11111111-0000-0000-0000-00000000000a")),
            TokenClaims::NoInvitation
        );
    }

    #[test]
    fn an_enforced_job_title_is_not_validated_as_typed() {
        let request = sign_up("ada@contoso.com", Some("x"), Stage::AfterAttributes);
        let decision = policy().decide(&request, &invited(None, None), NOW);
        assert!(matches!(
            decision,
            Decision::Admit {
                reason: AdmitReason::Invitation,
                ..
            }
        ));
    }

    fn deny_listing() -> Policy {
        Policy {
            blocked_domains: DomainList::parse("gmail.com, *.fabrikam.com").unwrap(),
            blocked_local_parts: LocalParts::parse("admin, noreply").unwrap(),
            allowed_domains: DomainList::parse("*").unwrap(),
            ..policy()
        }
    }

    #[test]
    fn a_deny_list_overrides_the_allow_list() {
        for (email, reason) in [
            ("ada@gmail.com", Some(BlockReason::DomainBlocked)),
            ("ada@eu.fabrikam.com", Some(BlockReason::DomainBlocked)),
            ("ada@fabrikam.com", None),
            ("admin@contoso.com", Some(BlockReason::LocalPartBlocked)),
            ("noreply+x@contoso.com", Some(BlockReason::LocalPartBlocked)),
            ("admin@gmail.com", Some(BlockReason::DomainBlocked)),
            ("ada@contoso.com", None),
        ] {
            let decision = deny_listing().decide(
                &sign_up(email, None, Stage::BeforeAttributes),
                &InvitationLookup::NotFound,
                NOW,
            );
            let expected = match reason {
                Some(reason) => Decision::Block {
                    reason,
                    text: Text::AddressBlocked,
                },
                None => admitted(),
            };
            assert_eq!(decision, expected, "{email}");
        }
    }

    #[test]
    fn an_invitation_for_that_exact_address_overrides_the_deny_lists() {
        for email in ["ada@gmail.com", "admin@contoso.com"] {
            let decision = deny_listing().decide(
                &sign_up(email, None, Stage::BeforeAttributes),
                &invited(None, None),
                NOW,
            );
            assert!(
                matches!(
                    decision,
                    Decision::Admit {
                        reason: AdmitReason::Invitation,
                        ..
                    }
                ),
                "{email}: {decision:?}"
            );
            // An invitation that does not admit (expired, another application) does not.
            for lookup in [
                invited(None, Some(NOW)),
                invited(Some("22222222-0000-0000-0000-00000000000b"), None),
            ] {
                let decision = deny_listing().decide(
                    &for_app(
                        email,
                        Some("11111111-0000-0000-0000-00000000000a"),
                        Stage::BeforeAttributes,
                    ),
                    &lookup,
                    NOW,
                );
                assert!(
                    matches!(
                        decision,
                        Decision::Block {
                            text: Text::AddressBlocked,
                            ..
                        }
                    ),
                    "{email}: {decision:?}"
                );
            }
        }
    }

    fn restricting(disposable: bool, subaddresses: bool) -> Policy {
        Policy {
            allowed_domains: DomainList::parse("*").unwrap(),
            block_disposable_domains: disposable,
            block_subaddresses: subaddresses,
            disposable_domains: Arc::new(
                DisposableDomains::with_site_file("!eu.mailinator.com\n", "d.txt").unwrap(),
            ),
            ..policy()
        }
    }

    fn reason_of(decision: &Decision) -> Option<BlockReason> {
        match decision {
            Decision::Block {
                reason,
                text: Text::AddressBlocked,
            } => Some(*reason),
            Decision::Admit { .. } => None,
            other => panic!("{other:?}"),
        }
    }

    /// Each switch refuses only what it names, only when it is on; the operator's own lists
    /// name the reason first.
    #[test]
    fn disposable_domains_and_sub_addresses_are_refused_when_switched_on() {
        let disposable = Some(BlockReason::DisposableDomain);
        let tagged = Some(BlockReason::SubaddressBlocked);
        for (email, expected) in [
            ("ada@mailinator.com", [None, disposable, None, disposable]),
            (
                "ada@x.Mailinator.com.",
                [None, disposable, None, disposable],
            ),
            ("ada@eu.mailinator.com", [None; 4]),
            ("ada+x@contoso.com", [None, None, tagged, tagged]),
            ("\"ada+x\"@contoso.com", [None, None, tagged, tagged]),
            ("ada+@contoso.com", [None, None, tagged, tagged]),
            (
                "ada+x@mailinator.com",
                [None, disposable, tagged, disposable],
            ),
            ("ada@contoso.com", [None; 4]),
            ("ada-x@contoso.com", [None; 4]),
        ] {
            for (index, (disposable, subaddresses)) in
                [(false, false), (true, false), (false, true), (true, true)]
                    .into_iter()
                    .enumerate()
            {
                let decision = restricting(disposable, subaddresses).decide(
                    &sign_up(email, None, Stage::BeforeAttributes),
                    &InvitationLookup::NotFound,
                    NOW,
                );
                assert_eq!(
                    reason_of(&decision),
                    expected[index],
                    "{email} {disposable} {subaddresses}"
                );
            }
        }
        let both = Policy {
            blocked_local_parts: LocalParts::parse("ada").unwrap(),
            ..restricting(true, true)
        };
        let decision = both.decide(
            &sign_up("ada+x@mailinator.com", None, Stage::BeforeAttributes),
            &InvitationLookup::NotFound,
            NOW,
        );
        assert_eq!(reason_of(&decision), Some(BlockReason::LocalPartBlocked));
    }

    /// An invitation for the exact address admits; one that does not admit (expired) does not;
    /// a code does not get past them; Start with a code attribute refuses them before the page.
    #[test]
    fn an_invitation_for_the_exact_address_overrides_disposable_and_sub_address_refusals() {
        for email in ["ada@mailinator.com", "ada+x@contoso.com"] {
            let policy = restricting(true, true);
            let request = sign_up(email, None, Stage::BeforeAttributes);
            let admitted = policy.decide(&request, &invited(None, None), NOW);
            assert!(
                matches!(
                    admitted,
                    Decision::Admit {
                        reason: AdmitReason::Invitation,
                        ..
                    }
                ),
                "{email}: {admitted:?}"
            );
            let expired = policy.decide(&request, &invited(None, Some(NOW)), NOW);
            assert!(reason_of(&expired).is_some(), "{email}: {expired:?}");
            let with_code = Policy {
                code_attribute: CodeAttribute::parse("InvitationCode"),
                ..restricting(true, true)
            };
            let start = with_code.decide(&request, &InvitationLookup::NotFound, NOW);
            assert!(reason_of(&start).is_some(), "{email}: {start:?}");
            let code = CodeLookup {
                sent: codes::SentCode {
                    attribute: "InvitationCode".to_owned(),
                    code: crate::domain::invitation::InvitationCode::parse("0000-0000-0000-0000")
                        .ok(),
                },
                found: invited(None, None),
            };
            let submit = sign_up(email, None, Stage::AfterAttributes);
            let decision =
                with_code.decide_with(&submit, &InvitationLookup::NotFound, Some(&code), NOW);
            assert!(reason_of(&decision).is_some(), "{email}: {decision:?}");
        }
    }

    #[test]
    fn texts_are_said_in_the_language_asked_with_this_policys_values() {
        let german = crate::messages::Catalog::built_in()
            .from_code("de")
            .unwrap();
        let said = policy().say(Text::DomainNotAllowed, german);
        assert!(said.contains("fabrikam.com, fabricam.com"), "{said}");
        assert!(said.contains("Contoso"), "{said}");
        assert_ne!(
            said,
            policy().say(
                Text::DomainNotAllowed,
                crate::messages::Catalog::built_in().english()
            )
        );
        let fields = [
            FieldError {
                attribute: "jobTitle".to_owned(),
                text: Text::JobTitleTooShort,
            },
            FieldError {
                attribute: "x".to_owned(),
                text: Text::JobTitleRequired,
            },
        ];
        assert_eq!(
            policy().say_all(&fields, crate::messages::Catalog::built_in().english()),
            "Job Title must contain at least 4 characters. Job Title is required."
        );
    }
}
