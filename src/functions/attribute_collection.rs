//! What Entra's two attribute-collection events share (`OnAttributeCollectionStart` before the
//! attribute page, `OnAttributeCollectionSubmit` after it): the sign-up as they describe it, the
//! actions they answer with, and how a decision becomes one of those actions. They make sign-up
//! invite-only.

use std::borrow::Cow;

use serde::de::{MapAccess, SeqAccess};
use serde::ser::SerializeMap;
use serde_json::{Map, Value};

use super::entra::read::{Key, Object, Read, Scalar, Shape, Skip, claims, parse, read_into};
use super::entra::{self, EventTypes, RequestError};
use super::{Answer, Invocation, Outcome, Shared};
use crate::domain::email::EmailAddress;
use crate::domain::invitation::InvitationAttribute;
use crate::messages::{Language, Text};
use crate::policy::{
    AttributeValue, BlockReason, Decision, EmailClaim, JobTitle, Policy, SignUp, Stage,
};

/// Which of the two events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Start,
    Submit,
}

impl Event {
    pub(crate) fn types(self) -> &'static EventTypes {
        match self {
            Self::Start => &START,
            Self::Submit => &SUBMIT,
        }
    }
}

const START: EventTypes = EventTypes {
    event_type: "microsoft.graph.authenticationEvent.attributeCollectionStart",
    data_type: "microsoft.graph.onAttributeCollectionStartCalloutData",
    response_type: "microsoft.graph.onAttributeCollectionStartResponseData",
    action_prefix: "microsoft.graph.attributeCollectionStart",
    extension_type: "microsoft.graph.onAttributeCollectionStartCustomExtension",
};

const SUBMIT: EventTypes = EventTypes {
    event_type: "microsoft.graph.authenticationEvent.attributeCollectionSubmit",
    data_type: "microsoft.graph.onAttributeCollectionSubmitCalloutData",
    response_type: "microsoft.graph.onAttributeCollectionSubmitResponseData",
    action_prefix: "microsoft.graph.attributeCollectionSubmit",
    extension_type: "microsoft.graph.onAttributeCollectionSubmitCustomExtension",
};

/// Answers one event: parse, decide, respond.
pub(crate) async fn answer(
    event: Event,
    function: &'static str,
    body: &[u8],
    shared: &Shared,
    invocation: &Invocation,
) -> Answer {
    let request = match SignUpRequest::parse(body, event) {
        Ok(request) => request,
        Err(error) => return entra::refuse(function, &error),
    };
    let sign_up = SignUp {
        email: request.email(),
        job_title: request.job_title(),
        stage: match event {
            Event::Start => Stage::BeforeAttributes,
            Event::Submit => Stage::AfterAttributes,
        },
        application: request.application.clone(),
        // Entra sends every attribute of the page: one that is missing is not on it.
        lists_page_attributes: true,
    };
    let (policy, policy_name) = shared.gate.policy_for(sign_up.application.as_deref());
    let decision = shared
        .gate
        .decide(&sign_up, &policy, &invocation.correlation_id)
        .await;
    let says = Says {
        policy: &policy,
        language: request.language,
    };
    let (action, reason) = action_for(event, function, &decision, &request, says, invocation);
    Answer {
        response: entra::respond(event.types(), &action),
        outcome: Outcome::new(entra::Action::name(&action), reason)
            .about(&sign_up.email)
            .said(request.language)
            .under(policy_name)
            .for_application(request.application.as_deref())
            .in_entra(request.tenant.as_deref(), request.correlation_id.as_deref()),
    }
}

/// Who words the answer, in which language.
#[derive(Clone, Copy)]
struct Says<'a> {
    policy: &'a Policy,
    language: Language,
}

impl Says<'_> {
    fn say(self, text: Text) -> String {
        self.policy.say(text, self.language)
    }
}

/// The one action that carries out a decision, and the reason to log.
fn action_for(
    event: Event,
    function: &str,
    decision: &Decision,
    request: &SignUpRequest,
    says: Says<'_>,
    invocation: &Invocation,
) -> (Action, &'static str) {
    let correlation_id = &invocation.correlation_id;
    let block = |reason: BlockReason, text: Text| {
        let (title, message) = match reason {
            BlockReason::StoreUnavailable => (Text::TryAgainTitle, Text::TryAgainLater),
            BlockReason::JobTitleNotCollected => {
                log::error!(
                    "configuration error: REQUIRE_JOB_TITLE is true but the user flow does not collect Job Title \
                     (the {function} request carries no jobTitle attribute): add Job Title to the flow's user attributes \
                     or set REQUIRE_JOB_TITLE=false; blocking; correlation_id={correlation_id}"
                );
                (Text::UnavailableTitle, text)
            }
            BlockReason::EmailMissing
            | BlockReason::EmailInvalid
            | BlockReason::DomainBlocked
            | BlockReason::LocalPartBlocked => (Text::BlockPageTitle, text),
            BlockReason::DomainNotAllowed
            | BlockReason::InvitationExpired
            | BlockReason::InvitationForOtherApplication => {
                (Text::BlockPageTitle, Text::BlockPageMessage)
            }
        };
        (
            Action::ShowBlockPage {
                title: says.say(title),
                message: says.say(message),
            },
            reason.as_str(),
        )
    };
    match decision {
        Decision::Block { reason, text } => block(*reason, *text),
        Decision::Invalid { fields } => {
            let attribute_errors = fields
                .iter()
                .map(|field| (field.attribute.clone(), Value::from(says.say(field.text))))
                .collect();
            (
                Action::ShowValidationError {
                    message: says.policy.say_all(fields, says.language),
                    attribute_errors,
                },
                "invalid_attributes",
            )
        }
        Decision::Admit { reason, attributes } => {
            let sent = &request.attributes;
            let action = match event {
                // Prefill is a convenience: a value that does not fit the attribute is left out.
                Event::Start => {
                    let (inputs, misfits) = typed_values(attributes.iter(), sent);
                    for name in misfits {
                        log::warn!(
                            "invitation value for {name} does not fit the attribute's type; not prefilled; correlation_id={correlation_id}"
                        );
                    }
                    if inputs.is_empty() {
                        Action::ContinueWithDefaultBehavior
                    } else {
                        Action::SetPrefillValues(inputs)
                    }
                }
                // Enforcement is a promise: a value that cannot be imposed blocks the sign-up.
                Event::Submit => {
                    let (imposed, misfits) =
                        typed_values(attributes.iter().filter(|a| a.enforced), sent);
                    if !misfits.is_empty() {
                        log::error!(
                            "enforced invitation values for {} do not fit the attributes' types; blocking; correlation_id={correlation_id}",
                            misfits.join(", "),
                        );
                        let (action, _) =
                            block(BlockReason::DomainNotAllowed, Text::BlockPageMessage);
                        return (action, "enforced_value_mismatch");
                    }
                    if imposed.is_empty() {
                        Action::ContinueWithDefaultBehavior
                    } else {
                        Action::ModifyAttributeValues(imposed)
                    }
                }
            };
            (action, reason.as_str())
        }
    }
}

/// Invitation values in the JSON type the request used for the same attribute (matched in any
/// case, sent back under the request's spelling); where the request did not send it, in the
/// type the invitation declares (text unless it says `int` or `boolean`). The names of values
/// that cannot take the request's type are returned apart.
fn typed_values<'a>(
    attributes: impl Iterator<Item = &'a InvitationAttribute>,
    sent: &[(Cow<str>, SentValue)],
) -> (Map<String, Value>, Vec<String>) {
    let mut values = Map::new();
    let mut misfits = Vec::new();
    for attribute in attributes {
        let known = sent
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&attribute.name));
        let name = known.map_or(&*attribute.name, |(name, _)| name).to_owned();
        let text = attribute.value.trim();
        let value = match known.map(|(_, value)| value) {
            Some(SentValue::Integer(_)) => text.parse::<i64>().ok().map(Value::from),
            Some(SentValue::Boolean(_)) => match text.to_ascii_lowercase().as_str() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            Some(SentValue::Text(_) | SentValue::Other) => Some(Value::from(&*attribute.value)),
            None => Some(attribute.json()),
        };
        match value {
            Some(value) => {
                values.insert(name, value);
            }
            None => misfits.push(name),
        }
    }
    (values, misfits)
}

/// The one action of an attribute-collection answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    ContinueWithDefaultBehavior,
    /// Start only: `inputs` to prefill.
    SetPrefillValues(Map<String, Value>),
    /// Submit only: `attributes` to impose.
    ModifyAttributeValues(Map<String, Value>),
    /// Submit only: a page message and one message per attribute.
    ShowValidationError {
        message: String,
        attribute_errors: Map<String, Value>,
    },
    ShowBlockPage {
        title: String,
        message: String,
    },
}

/// Fields in sorted order, as a JSON object map would write them.
impl entra::Action for Action {
    fn name(&self) -> &'static str {
        match self {
            Self::ContinueWithDefaultBehavior => "continueWithDefaultBehavior",
            Self::SetPrefillValues(_) => "setPrefillValues",
            Self::ModifyAttributeValues(_) => "modifyAttributeValues",
            Self::ShowValidationError { .. } => "showValidationError",
            Self::ShowBlockPage { .. } => "showBlockPage",
        }
    }

    fn fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        match self {
            Self::ContinueWithDefaultBehavior => Ok(()),
            Self::SetPrefillValues(inputs) => map.serialize_entry("inputs", inputs),
            Self::ModifyAttributeValues(attributes) => {
                map.serialize_entry("attributes", attributes)
            }
            Self::ShowValidationError {
                message,
                attribute_errors,
            } => {
                map.serialize_entry("attributeErrors", attribute_errors)?;
                map.serialize_entry("message", message)
            }
            Self::ShowBlockPage { title, message } => {
                map.serialize_entry("message", message)?;
                map.serialize_entry("title", title)
            }
        }
    }
}

/// An attribute value as sent; its JSON type must be kept in anything sent back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SentValue<'a> {
    Text(Cow<'a, str>),
    Integer(i64),
    Boolean(bool),
    Other,
}

/// An attribute-collection event, holding only what the decision reads, borrowed from the body
/// where no escape had to be undone.
#[derive(Debug, Default)]
pub(crate) struct SignUpRequest<'a> {
    /// `authenticationContext.clientServicePrincipal.appId`: the application signed up to.
    application: Option<String>,
    /// From `authenticationContext.client.locale` (then `market`).
    pub(crate) language: Language,
    /// `data.tenantId` and `authenticationContext.correlationId`, for the decision line.
    tenant: Option<String>,
    correlation_id: Option<String>,
    /// Identities that are JSON objects, in the order sent.
    identities: Vec<Identity<'a>>,
    /// Attributes by name as sent, sorted by name; of names sent twice the last one.
    attributes: Vec<(Cow<'a, str>, SentValue<'a>)>,
}

impl<'a> SignUpRequest<'a> {
    /// Parses a body and checks it is the `expected` event (when it says which it is). Read in
    /// one pass, but refused exactly when a JSON tree would refuse it.
    pub(crate) fn parse(body: &'a [u8], expected: Event) -> Result<Self, RequestError> {
        let (context, payload) = parse::<Payload<'a>>(body, expected.types())?;
        let sign_up_info = payload.sign_up_info.unwrap_or_default();
        let mut attributes = sign_up_info.attributes.unwrap_or_default();
        // As a JSON object map would hold them: sorted, the last of a name sent twice.
        attributes.reverse();
        attributes.sort_by(|(a, _), (b, _)| a.cmp(b));
        attributes.dedup_by(|(a, _), (b, _)| a == b);
        Ok(Self {
            application: context.application(),
            language: context.language(),
            tenant: context.tenant_id().map(str::to_owned),
            correlation_id: context.correlation_id().map(str::to_owned),
            identities: sign_up_info.identities,
            attributes,
        })
    }

    /// The address: an identity with `signInType` `email`/`emailAddress` or `issuer` `mail`
    /// (email one-time passcode) gives `issuerAssignedId`; otherwise the `email` or `EmailAddress`
    /// attribute. A social provider's subject id is never taken. The first source that holds a
    /// non-blank value decides.
    pub(crate) fn email(&self) -> EmailClaim {
        let identity = self.identities.iter().find(|identity| {
            let is = |value: &Option<Cow<str>>, wanted: &str| {
                value
                    .as_deref()
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case(wanted))
            };
            is(&identity.sign_in_type, "email")
                || is(&identity.sign_in_type, "emailAddress")
                || is(&identity.issuer, "mail")
        });
        if let Some(identity) = identity {
            match &identity.issuer_assigned_id {
                Scalar::Null => {}
                Scalar::Text(text) if text.trim().is_empty() => {}
                Scalar::Text(text) => return parse_email(text),
                _ => return EmailClaim::Invalid,
            }
        }
        let attribute = self.attributes.iter().find(|(name, _)| {
            name.eq_ignore_ascii_case("email") || name.eq_ignore_ascii_case("EmailAddress")
        });
        match attribute.map(|(_, value)| value) {
            None => EmailClaim::Missing,
            Some(SentValue::Text(text)) if text.trim().is_empty() => EmailClaim::Missing,
            Some(SentValue::Text(text)) => parse_email(text),
            Some(_) => EmailClaim::Invalid,
        }
    }

    /// The `jobTitle` attribute (any case), with its name as sent.
    pub(crate) fn job_title(&self) -> Option<JobTitle> {
        let (name, value) = self
            .attributes
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("jobTitle"))?;
        let value = match value {
            SentValue::Text(text) if text.trim().is_empty() => AttributeValue::Blank,
            SentValue::Text(text) => AttributeValue::Text(text.clone().into_owned()),
            _ => AttributeValue::NotText,
        };
        Some(JobTitle {
            attribute: name.clone().into_owned(),
            value,
        })
    }
}

fn parse_email(text: &str) -> EmailClaim {
    match EmailAddress::parse(text) {
        Ok(email) => EmailClaim::Valid(email),
        Err(_) => EmailClaim::Invalid,
    }
}

/// `data`'s own part of the attribute-collection events: `userSignUpInfo`.
#[derive(Default)]
struct Payload<'de> {
    sign_up_info: Option<SignUpInfo<'de>>,
    exact: bool,
}

impl<'de> Object<'de> for Payload<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        if claims(key, "userSignUpInfo", &mut self.exact) {
            read_into(map, &mut self.sign_up_info)
        } else {
            Ok(false)
        }
    }
}

#[derive(Default)]
struct SignUpInfo<'de> {
    attributes: Option<Vec<(Cow<'de, str>, SentValue<'de>)>>,
    identities: Vec<Identity<'de>>,
    exact: [bool; 2],
}

impl<'de> Object<'de> for SignUpInfo<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        let [attributes, identities] = &mut self.exact;
        if claims(key, "attributes", attributes) {
            read_into(map, &mut self.attributes)
        } else if claims(key, "identities", identities) {
            read_into(map, &mut self.identities)
        } else {
            Ok(false)
        }
    }
}

/// `attributes`: every entry, in the order sent; absent when not an object.
impl<'de> Shape<'de> for Option<Vec<(Cow<'de, str>, SentValue<'de>)>> {
    fn scalar(_: Scalar<'de>) -> Self {
        None
    }

    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut attributes = Vec::new();
        while let Some(Read(Key(name))) = map.next_key::<Read<Key<'de>>>()? {
            let Read(value) = map.next_value::<Read<SentValue<'de>>>()?;
            attributes.push((name, value));
        }
        Ok(Some(attributes))
    }
}

/// `{"@odata.type": ..., "value": X}` or a bare `X`.
impl<'de> Shape<'de> for SentValue<'de> {
    fn scalar(value: Scalar<'de>) -> Self {
        match value {
            Scalar::Text(text) => SentValue::Text(text),
            Scalar::Integer(number) => SentValue::Integer(number),
            Scalar::Boolean(flag) => SentValue::Boolean(flag),
            Scalar::Null | Scalar::Other => SentValue::Other,
        }
    }

    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let (mut value, mut exact) = (SentValue::Other, false);
        while let Some(Read(Key(key))) = map.next_key::<Read<Key<'de>>>()? {
            if claims(&key, "value", &mut exact) {
                // An object or array under `value` is no value of an attribute.
                value = Self::scalar(map.next_value::<Read<Scalar<'de>>>()?.0);
            } else {
                map.next_value::<Read<Skip>>()?;
            }
        }
        Ok(value)
    }
}

/// `identities`: the entries that are objects, in the order sent; none when not an array.
impl<'de> Shape<'de> for Vec<Identity<'de>> {
    fn scalar(_: Scalar<'de>) -> Self {
        Vec::new()
    }

    fn array<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut identities = Vec::new();
        while let Some(Read(identity)) = seq.next_element::<Read<Option<Identity<'de>>>>()? {
            identities.extend(identity);
        }
        Ok(identities)
    }
}

#[derive(Debug, Default)]
struct Identity<'de> {
    sign_in_type: Option<Cow<'de, str>>,
    issuer: Option<Cow<'de, str>>,
    /// `Null` when absent.
    issuer_assigned_id: Scalar<'de>,
    exact: [bool; 3],
}

impl<'de> Object<'de> for Identity<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        let [sign_in_type, issuer, issuer_assigned_id] = &mut self.exact;
        if claims(key, "signInType", sign_in_type) {
            read_into(map, &mut self.sign_in_type)
        } else if claims(key, "issuer", issuer) {
            read_into(map, &mut self.issuer)
        } else if claims(key, "issuerAssignedId", issuer_assigned_id) {
            read_into(map, &mut self.issuer_assigned_id)
        } else {
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;
    use serde_json::json;

    use super::*;

    async fn body(action: &Action, event: Event) -> Value {
        let response = entra::respond(event.types(), action);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn start(data: Value) -> SignUpRequest<'static> {
        let body = json!({"type": START.event_type, "data": data}).to_string();
        SignUpRequest::parse(
            Box::leak(body.into_bytes().into_boxed_slice()),
            Event::Start,
        )
        .unwrap()
    }

    fn valid(address: &str) -> EmailClaim {
        EmailClaim::Valid(EmailAddress::parse(address).unwrap())
    }

    #[test]
    fn refuses_what_is_not_an_event_object() {
        assert_eq!(
            SignUpRequest::parse(b"nope", Event::Start).err(),
            Some(RequestError::NotJson)
        );
        assert_eq!(
            SignUpRequest::parse(b"[1]", Event::Start).err(),
            Some(RequestError::NotAnObject)
        );
        let submit = json!({"type": SUBMIT.event_type}).to_string();
        assert_eq!(
            SignUpRequest::parse(submit.as_bytes(), Event::Start).err(),
            Some(RequestError::WrongEvent {
                expected: START.event_type,
                received: SUBMIT.event_type.to_owned()
            })
        );
        let mixed = json!({"type": START.event_type, "data": {"@odata.Type": SUBMIT.data_type}})
            .to_string();
        assert!(matches!(
            SignUpRequest::parse(mixed.as_bytes(), Event::Start),
            Err(RequestError::WrongEvent {
                expected: "microsoft.graph.onAttributeCollectionStartCalloutData",
                ..
            })
        ));
        assert!(SignUpRequest::parse(b"{}", Event::Submit).is_ok());
    }

    #[test]
    fn finds_the_email_in_every_shape_seen() {
        let identity = |sign_in: &str, issuer: &str, id: &str| {
            start(
                json!({"userSignUpInfo": {"identities": [{"signInType": sign_in, "issuer": issuer, "issuerAssignedId": id}]}}),
            )
        };
        assert_eq!(
            identity("email", "contoso.onmicrosoft.com", "a@fabrikam.com").email(),
            valid("a@fabrikam.com")
        );
        assert_eq!(
            identity("emailAddress", "contoso.onmicrosoft.com", "a@fabrikam.com").email(),
            valid("a@fabrikam.com")
        );
        assert_eq!(
            identity("federated", "mail", "a@fabrikam.com").email(),
            valid("a@fabrikam.com")
        );
        assert_eq!(
            identity("federated", "google.com", "a@fabrikam.com").email(),
            EmailClaim::Missing
        );
        let attribute = start(
            json!({"userSignUpInfo": {"attributes": {"EmailAddress": {"value": "b@fabrikam.com"}}}}),
        );
        assert_eq!(attribute.email(), valid("b@fabrikam.com"));
        let bare = start(json!({"userSignUpInfo": {"attributes": {"email": "c@fabrikam.com"}}}));
        assert_eq!(bare.email(), valid("c@fabrikam.com"));
        let social_with_attribute = start(json!({"userSignUpInfo": {
            "identities": [{"signInType": "federated", "issuer": "google.com", "issuerAssignedId": "1234"}],
            "attributes": {"email": {"value": "d@fabrikam.com"}}}}));
        assert_eq!(social_with_attribute.email(), valid("d@fabrikam.com"));
        assert_eq!(start(json!({})).email(), EmailClaim::Missing);
        let number = start(json!({"userSignUpInfo": {"attributes": {"email": {"value": 3}}}}));
        assert_eq!(number.email(), EmailClaim::Invalid);
    }

    #[test]
    fn refuses_exactly_what_a_json_tree_refuses() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let bodies = [
            r#"{"data": {"unused": 1e400}}"#.to_owned(),
            r#"{"data": {"unused": "\ud800"}}"#.to_owned(),
            r#"{"data": {"unused": "\x"}}"#.to_owned(),
            r#"{"data": {"unused": [1, 2,]}}"#.to_owned(),
            r#"{"data": {}} trailing"#.to_owned(),
            format!(r#"{{"data": {{"unused": {deep}}}}}"#),
            r#"{"data": {"unused": [1e300, -0, "\u00e9", {"a": null}], "b": true}}"#.to_owned(),
            r#"{"data": {"userSignUpInfo": {"attributes": {"email": {"value": 1.5}}}}}"#.to_owned(),
        ];
        for body in &bodies {
            let tree = serde_json::from_slice::<Value>(body.as_bytes());
            let read = SignUpRequest::parse(body.as_bytes(), Event::Start);
            assert_eq!(
                tree.is_err(),
                matches!(read, Err(RequestError::NotJson)),
                "{body}"
            );
        }
        let invalid_utf8 = b"{\"data\": {\"unused\": \"\xff\"}}";
        assert_eq!(
            SignUpRequest::parse(invalid_utf8, Event::Start).err(),
            Some(RequestError::NotJson)
        );
    }

    #[test]
    fn matches_keys_in_any_case_the_exact_spelling_first() {
        let body = |text: &str| {
            let request = SignUpRequest::parse(text.as_bytes(), Event::Start).unwrap();
            (request.email(), request.application.clone())
        };
        let identity = r#"{"signInType": "email", "issuerAssignedId": "a@fabrikam.com"}"#;
        assert_eq!(
            body(&format!(
                r#"{{"DATA": {{"UserSignUpInfo": {{"IDENTITIES": [{}]}}}}}}"#,
                identity.replace("signInType", "SIGNINTYPE")
            ))
            .0,
            valid("a@fabrikam.com")
        );
        for (first, second) in [("appId", "APPID"), ("APPID", "appId")] {
            let text = format!(
                r#"{{"data": {{"authenticationContext": {{"clientServicePrincipal": {{"{first}": "{first}", "{second}": "{second}"}}}}}}}}"#
            );
            assert_eq!(body(&text).1.as_deref(), Some("appId"), "{text}");
        }
        assert!(matches!(
            SignUpRequest::parse(
                br#"{"data": {"@odata.Type": "microsoft.graph.onAttributeCollectionSubmitCalloutData"}}"#,
                Event::Start
            ),
            Err(RequestError::WrongEvent { .. })
        ));
    }

    #[test]
    fn parts_of_another_json_type_count_as_absent() {
        for text in [
            r#"{"data": 5}"#,
            r#"{"data": {"userSignUpInfo": []}}"#,
            r#"{"data": {"userSignUpInfo": {"identities": {"signInType": "email"}, "attributes": ["email"]}}}"#,
            r#"{"data": {"userSignUpInfo": {"identities": [5, "email", null]}}}"#,
            r#"{"data": {"userSignUpInfo": {"attributes": {"email": {"value": {"value": "a@fabrikam.com"}}}}}}"#,
        ] {
            let request = SignUpRequest::parse(text.as_bytes(), Event::Start).unwrap();
            assert!(
                matches!(request.email(), EmailClaim::Missing | EmailClaim::Invalid),
                "{text}"
            );
            assert_eq!(request.application, None);
        }
        let escaped = br#"{"data": {"userSignUpInfo": {"attributes": {"email": "a@fabrikam.com", "Email": "b@fabrikam.com", "email": "c@fabrikam.com"}}}}"#;
        let request = SignUpRequest::parse(escaped, Event::Start).unwrap();
        // As a JSON object would hold them: sorted ("Email" first), the last "email" kept.
        assert_eq!(request.email(), valid("b@fabrikam.com"));
        assert_eq!(request.attributes.len(), 2);
        assert_eq!(
            request.attributes[1].1,
            SentValue::Text(Cow::Borrowed("c@fabrikam.com"))
        );
    }

    #[test]
    fn reads_attribute_values_with_their_json_type() {
        let request = start(json!({"userSignUpInfo": {"attributes": {
            "displayName": {"@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "value": "Ada"},
            "extension_0a1b2c_Year": {"value": 2010},
            "extension_0a1b2c_News": {"value": false},
            "JobTitle": {"value": "CTO"}}}}));
        let values = &request.attributes;
        let has = |name: &str, value: SentValue| values.contains(&(Cow::Borrowed(name), value));
        assert!(has("displayName", SentValue::Text(Cow::Borrowed("Ada"))));
        assert!(has("extension_0a1b2c_Year", SentValue::Integer(2010)));
        assert!(has("extension_0a1b2c_News", SentValue::Boolean(false)));
        assert_eq!(
            request.job_title(),
            Some(JobTitle {
                attribute: "JobTitle".to_owned(),
                value: AttributeValue::Text("CTO".to_owned())
            })
        );
    }

    #[tokio::test]
    async fn responses_carry_exactly_one_documented_action() {
        let block = Action::ShowBlockPage {
            title: "T".to_owned(),
            message: "M".to_owned(),
        };
        assert_eq!(
            body(&block, Event::Start).await,
            json!({"data": {"@odata.type": "microsoft.graph.onAttributeCollectionStartResponseData",
                "actions": [{"@odata.type": "microsoft.graph.attributeCollectionStart.showBlockPage", "title": "T", "message": "M"}]}})
        );
        let mut errors = Map::new();
        errors.insert("jobTitle".to_owned(), Value::from("Too short."));
        let invalid = Action::ShowValidationError {
            message: "Fix.".to_owned(),
            attribute_errors: errors,
        };
        assert_eq!(
            body(&invalid, Event::Submit).await,
            json!({"data": {"@odata.type": "microsoft.graph.onAttributeCollectionSubmitResponseData",
                "actions": [{"@odata.type": "microsoft.graph.attributeCollectionSubmit.showValidationError",
                    "message": "Fix.", "attributeErrors": {"jobTitle": "Too short."}}]}})
        );
        assert_eq!(
            body(&Action::ContinueWithDefaultBehavior, Event::Submit).await["data"]["actions"][0],
            json!({"@odata.type": "microsoft.graph.attributeCollectionSubmit.continueWithDefaultBehavior"})
        );
    }
}
