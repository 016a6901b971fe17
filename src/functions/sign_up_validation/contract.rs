//! The wire format of Azure AD B2C / External Identities API connectors.
//!
//! Requests are a flat JSON object of claims; claims without a value are omitted, so every
//! accessor here copes with a missing key or an unexpected type. Responses carry `version`
//! `1.0.0` and one of three actions.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::email::EmailAddress;
use crate::messages::{Catalog, Language};
use crate::policy::{AttributeValue, EmailClaim, JobTitle, Stage};

/// The only version of the API connector contract.
pub(crate) const VERSION: &str = "1.0.0";

/// A request body that is a JSON object.
pub(crate) struct ConnectorRequest(Map<String, Value>);

/// The `step` a request was sent at, as the wire names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    PostFederationSignup,
    PostAttributeCollection,
    /// The token step, `PreTokenIssuance` (one documentation example spells it
    /// `PreTokenApplicationClaims`): it runs at every sign-in and allows only `Continue`.
    PreTokenIssuance,
    /// No `step`: the External Identities self-service variant sends none, at either point.
    Absent,
    /// A value this version does not know; treated like no step.
    Unknown,
}

impl ConnectorRequest {
    /// `None` when the body is not JSON or not a JSON object.
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        match serde_json::from_slice(body) {
            Ok(Value::Object(claims)) => Some(Self(claims)),
            _ => None,
        }
    }

    /// The address from `email`, else `email_address` (2020 preview), else the first identity
    /// with `signInType` `emailAddress` or `email`. The first source that holds a non-blank value
    /// decides: a malformed `email` is not rescued by another claim.
    pub(crate) fn email(&self) -> EmailClaim {
        for claim in ["email", "email_address"] {
            match self.0.get(claim) {
                None | Some(Value::Null) => {}
                Some(Value::String(text)) if text.trim().is_empty() => {}
                Some(Value::String(text)) => return parse_email(text),
                Some(_) => return EmailClaim::Invalid,
            }
        }
        let identities = match self.0.get("identities") {
            Some(Value::Array(identities)) => identities,
            _ => return EmailClaim::Missing,
        };
        let email_identity = identities.iter().find(|identity| {
            identity
                .get("signInType")
                .and_then(Value::as_str)
                .is_some_and(|t| {
                    t.eq_ignore_ascii_case("emailAddress") || t.eq_ignore_ascii_case("email")
                })
        });
        match email_identity.map(|identity| identity.get("issuerAssignedId")) {
            None | Some(None) | Some(Some(Value::Null)) => EmailClaim::Missing,
            Some(Some(Value::String(text))) => parse_email(text),
            Some(Some(_)) => EmailClaim::Invalid,
        }
    }

    pub(crate) fn step(&self) -> Step {
        match self.0.get("step") {
            None | Some(Value::Null) => Step::Absent,
            Some(Value::String(step)) => match step.trim() {
                s if s.eq_ignore_ascii_case("PostFederationSignup") => Step::PostFederationSignup,
                s if s.eq_ignore_ascii_case("PostAttributeCollection") => {
                    Step::PostAttributeCollection
                }
                s if s.eq_ignore_ascii_case("PreTokenIssuance")
                    || s.eq_ignore_ascii_case("PreTokenApplicationClaims") =>
                {
                    Step::PreTokenIssuance
                }
                "" => Step::Absent,
                _ => Step::Unknown,
            },
            Some(_) => Step::Unknown,
        }
    }

    /// The application the user signs up to: `client_id`, or `clientId` (the token step's
    /// spelling in one documentation example).
    /// `ui_locales` as sent.
    pub(crate) fn ui_locales(&self) -> Option<String> {
        self.0
            .get("ui_locales")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    /// The top-level text claims (where a user types a code: custom attributes arrive as
    /// `extension_<app>_<Name>`).
    pub(crate) fn texts(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
            .collect()
    }

    pub(crate) fn client_id(&self) -> Option<String> {
        ["client_id", "clientId"]
            .iter()
            .filter_map(|name| self.0.get(*name).and_then(Value::as_str))
            .map(str::trim)
            .find(|id| !id.is_empty())
            .map(str::to_owned)
    }

    /// The user's language from `ui_locales` (the first the catalog has), else English.
    pub(crate) fn language(&self, catalog: &'static Catalog) -> Language {
        catalog.from_ui_locales(self.0.get("ui_locales").and_then(Value::as_str))
    }

    /// The `jobTitle` claim (B2C omits it when the user left it empty).
    pub(crate) fn job_title(&self) -> Option<JobTitle> {
        let value = match self.0.get("jobTitle")? {
            Value::Null => return None,
            Value::String(text) if text.trim().is_empty() => AttributeValue::Blank,
            Value::String(text) => AttributeValue::Text(text.clone()),
            _ => AttributeValue::NotText,
        };
        Some(JobTitle {
            attribute: "jobTitle".to_owned(),
            value,
        })
    }
}

impl Step {
    /// Where in the journey this step is, for the policy.
    pub(crate) fn stage(&self) -> Stage {
        match self {
            Self::PostFederationSignup => Stage::BeforeAttributes,
            Self::PreTokenIssuance => Stage::BeforeToken,
            Self::PostAttributeCollection => Stage::AfterAttributes,
            Self::Absent | Self::Unknown => Stage::Unspecified,
        }
    }

    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Self::PostFederationSignup => "PostFederationSignup",
            Self::PostAttributeCollection => "PostAttributeCollection",
            Self::PreTokenIssuance => "PreTokenIssuance",
            Self::Absent => "none",
            Self::Unknown => "unknown",
        }
    }
}

fn parse_email(text: &str) -> EmailClaim {
    match EmailAddress::parse(text) {
        Ok(email) => EmailClaim::Valid(email),
        Err(_) => EmailClaim::Invalid,
    }
}

/// What the API connector tells the user flow to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum Action {
    Continue,
    ShowBlockPage,
    ValidationError,
}

impl Action {
    /// The wire name, as in logs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Continue => "Continue",
            Self::ShowBlockPage => "ShowBlockPage",
            Self::ValidationError => "ValidationError",
        }
    }
}

/// A response body; field order follows Microsoft's documentation.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectorResponse<'a> {
    pub(crate) version: &'static str,
    /// Present (and 400) on `ValidationError` only; B2C needs it in the body too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<u16>,
    pub(crate) action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) user_message: Option<&'a str>,
    /// Claims returned with `Continue` (prefill or override, depending on the step).
    #[serde(flatten)]
    pub(crate) claims: Map<String, Value>,
}

/// The keys of the answer itself: a claim of the same name (in any case) would give B2C a
/// second `action` or `version`.
const RESPONSE_KEYS: [&str; 4] = ["version", "status", "action", "userMessage"];

/// Whether a claim or attribute named `name` may go into the answer; one named like the
/// answer's own keys is left out, with a warning.
pub(crate) fn fits_the_answer(name: &str, correlation_id: &str) -> bool {
    let own = RESPONSE_KEYS
        .iter()
        .any(|key| key.eq_ignore_ascii_case(name));
    if own {
        log::warn!(
            "left {} out of the answer: B2C's answer uses that key itself; rename the claim or attribute in the invitation; correlation_id={correlation_id}",
            crate::printable::Printable(name)
        );
    }
    !own
}

impl<'a> ConnectorResponse<'a> {
    /// `Continue` with `claims` (each checked with [`fits_the_answer`]).
    pub(crate) fn continue_with(claims: Map<String, Value>) -> Self {
        Self {
            version: VERSION,
            status: None,
            action: Action::Continue,
            user_message: None,
            claims,
        }
    }

    pub(crate) fn block(message: &'a str) -> Self {
        Self {
            version: VERSION,
            status: None,
            action: Action::ShowBlockPage,
            user_message: Some(message),
            claims: Map::new(),
        }
    }

    pub(crate) fn validation_error(message: &'a str) -> Self {
        Self {
            version: VERSION,
            status: Some(400),
            action: Action::ValidationError,
            user_message: Some(message),
            claims: Map::new(),
        }
    }

    /// The HTTP status to send: 400 for `ValidationError` (or the user sees a generic error),
    /// 200 otherwise.
    pub(crate) fn http_status(&self) -> u16 {
        self.status.unwrap_or(200)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(value: Value) -> ConnectorRequest {
        ConnectorRequest::parse(value.to_string().as_bytes()).unwrap()
    }

    fn valid(address: &str) -> EmailClaim {
        EmailClaim::Valid(EmailAddress::parse(address).unwrap())
    }

    #[test]
    fn only_json_objects_are_requests() {
        for body in [&b"not json"[..], b"[]", b"\"x\"", b"42", b"null", b""] {
            assert!(ConnectorRequest::parse(body).is_none(), "{body:?}");
        }
        assert!(ConnectorRequest::parse(b"{}").is_some());
    }

    #[test]
    fn email_sources_in_order() {
        assert_eq!(
            request(json!({"email": "a@fabrikam.com", "email_address": "b@x.com"})).email(),
            valid("a@fabrikam.com")
        );
        assert_eq!(
            request(json!({"email": "", "email_address": "b@fabrikam.com"})).email(),
            valid("b@fabrikam.com")
        );
        assert_eq!(
            request(json!({"email_address": "b@fabrikam.com"})).email(),
            valid("b@fabrikam.com")
        );
        let identities = json!({"identities": [
            {"signInType": "federated", "issuer": "facebook.com", "issuerAssignedId": "1234"},
            {"signInType": "emailAddress", "issuer": "contoso.onmicrosoft.com", "issuerAssignedId": "c@fabrikam.com"}
        ]});
        assert_eq!(request(identities).email(), valid("c@fabrikam.com"));
        let email_type =
            json!({"identities": [{"signInType": "email", "issuerAssignedId": "d@fabrikam.com"}]});
        assert_eq!(request(email_type).email(), valid("d@fabrikam.com"));
    }

    #[test]
    fn a_social_subject_id_is_never_an_email() {
        let social = json!({"identities": [{"signInType": "federated", "issuer": "google.com", "issuerAssignedId": "a@fabrikam.com"}]});
        assert_eq!(request(social).email(), EmailClaim::Missing);
    }

    #[test]
    fn missing_and_malformed_emails() {
        assert_eq!(request(json!({})).email(), EmailClaim::Missing);
        assert_eq!(request(json!({"email": null})).email(), EmailClaim::Missing);
        assert_eq!(
            request(json!({"identities": "x"})).email(),
            EmailClaim::Missing
        );
        assert_eq!(
            request(json!({"email": "nope"})).email(),
            EmailClaim::Invalid
        );
        assert_eq!(request(json!({"email": 7})).email(), EmailClaim::Invalid);
        assert_eq!(
            request(json!({"email": "nope", "email_address": "b@fabrikam.com"})).email(),
            EmailClaim::Invalid
        );
        assert_eq!(
            request(json!({"identities": [{"signInType": "emailAddress", "issuerAssignedId": 5}]}))
                .email(),
            EmailClaim::Invalid
        );
    }

    #[test]
    fn steps() {
        assert_eq!(request(json!({})).step(), Step::Absent);
        assert_eq!(
            request(json!({"step": "PostFederationSignup"})).step(),
            Step::PostFederationSignup
        );
        assert_eq!(
            request(json!({"step": "postattributecollection"})).step(),
            Step::PostAttributeCollection
        );
        assert_eq!(
            request(json!({"step": "PreTokenIssuance"})).step(),
            Step::PreTokenIssuance
        );
        assert_eq!(request(json!({"step": "Later"})).step(), Step::Unknown);
        assert_eq!(request(json!({"step": 3})).step(), Step::Unknown);
        assert_eq!(
            request(json!({"step": "PreTokenApplicationClaims"})).step(),
            Step::PreTokenIssuance
        );
        assert_eq!(Step::Unknown.stage(), Stage::Unspecified);
        assert_eq!(Step::Absent.stage(), Stage::Unspecified);
    }

    #[test]
    fn the_application_is_client_id_or_client_id_in_camel_case() {
        assert_eq!(
            request(json!({"client_id": " a "})).client_id().as_deref(),
            Some("a")
        );
        assert_eq!(
            request(json!({"clientId": "b"})).client_id().as_deref(),
            Some("b")
        );
        assert_eq!(
            request(json!({"client_id": "", "clientId": "b"}))
                .client_id()
                .as_deref(),
            Some("b")
        );
        assert_eq!(request(json!({"client_id": 5})).client_id(), None);
    }

    #[test]
    fn responses_serialise_exactly_as_documented() {
        let cases = [
            (
                ConnectorResponse::continue_with(Map::new()),
                r#"{"version":"1.0.0","action":"Continue"}"#,
                200,
            ),
            (
                ConnectorResponse::block("No."),
                r#"{"version":"1.0.0","action":"ShowBlockPage","userMessage":"No."}"#,
                200,
            ),
            (
                ConnectorResponse::validation_error("Fix it."),
                r#"{"version":"1.0.0","status":400,"action":"ValidationError","userMessage":"Fix it."}"#,
                400,
            ),
        ];
        for (response, body, status) in cases {
            assert_eq!(serde_json::to_string(&response).unwrap(), body);
            assert_eq!(response.http_status(), status);
        }
    }
}
