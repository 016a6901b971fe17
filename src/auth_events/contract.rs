//! The wire format of Entra External ID custom authentication extensions for the
//! attribute-collection events (`attributeCollectionStart` / `attributeCollectionSubmit`).
//!
//! Real traffic differs from the documentation, so reading is lenient: keys are matched
//! case-insensitively (`@odata.Type` appears), unknown keys are ignored, any part of the envelope
//! may be missing. Writing is exact: one action with the documented `@odata.type` strings.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::policy::email::EmailAddress;
use crate::policy::{AttributeValue, EmailClaim, JobTitle};

/// Which of the two events a function handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Start,
    Submit,
}

impl Event {
    /// The envelope's `type`.
    pub fn event_type(self) -> &'static str {
        match self {
            Self::Start => "microsoft.graph.authenticationEvent.attributeCollectionStart",
            Self::Submit => "microsoft.graph.authenticationEvent.attributeCollectionSubmit",
        }
    }

    /// `data.@odata.type` of the request.
    pub fn data_type(self) -> &'static str {
        match self {
            Self::Start => "microsoft.graph.onAttributeCollectionStartCalloutData",
            Self::Submit => "microsoft.graph.onAttributeCollectionSubmitCalloutData",
        }
    }

    /// `data.@odata.type` of the response.
    fn response_type(self) -> &'static str {
        match self {
            Self::Start => "microsoft.graph.onAttributeCollectionStartResponseData",
            Self::Submit => "microsoft.graph.onAttributeCollectionSubmitResponseData",
        }
    }

    /// Prefix of the action types.
    fn action_prefix(self) -> &'static str {
        match self {
            Self::Start => "microsoft.graph.attributeCollectionStart",
            Self::Submit => "microsoft.graph.attributeCollectionSubmit",
        }
    }
}

/// Why a body was refused before any decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    NotJson,
    NotAnObject,
    /// The payload is another event's: (what this function handles, what was sent).
    WrongEvent {
        expected: &'static str,
        received: String,
    },
}

/// An attribute value as sent; its JSON type must be kept in anything sent back.
#[derive(Debug, Clone, PartialEq)]
pub enum SentValue<'a> {
    Text(Cow<'a, str>),
    Integer(i64),
    Boolean(bool),
    Other,
}

/// A request body that is a JSON object of the right event, holding only what the decision
/// reads, borrowed from the body where no escape had to be undone.
#[derive(Debug, Default)]
pub struct EventRequest<'a> {
    application: Option<Cow<'a, str>>,
    /// Identities that are JSON objects, in the order sent.
    identities: Vec<Identity<'a>>,
    /// Attributes by name as sent, sorted by name; of names sent twice the last one.
    attributes: Vec<(Cow<'a, str>, SentValue<'a>)>,
}

impl<'a> EventRequest<'a> {
    /// Parses a body and checks it is the `expected` event (when it says which it is).
    ///
    /// The body is read in one pass, without building a tree, but checked exactly as strictly
    /// as `serde_json::Value` checks it: anything that is not JSON is refused, however deep.
    pub fn parse(body: &'a [u8], expected: Event) -> Result<Self, RequestError> {
        let envelope = match serde_json::from_slice::<Read<Option<Envelope<'a>>>>(body) {
            Ok(Read(Some(envelope))) => envelope,
            Ok(Read(None)) => return Err(RequestError::NotAnObject),
            Err(_) => return Err(RequestError::NotJson),
        };
        let data = envelope.data.unwrap_or_default();
        let declared = [
            (envelope.event_type, expected.event_type()),
            (data.data_type, expected.data_type()),
        ];
        for (received, wanted) in declared {
            if let Some(received) = received
                && !received.trim().eq_ignore_ascii_case(wanted)
            {
                return Err(RequestError::WrongEvent {
                    expected: wanted,
                    received: received.into_owned(),
                });
            }
        }
        let sign_up_info = data.sign_up_info.unwrap_or_default();
        let mut attributes = sign_up_info.attributes.unwrap_or_default();
        // As a JSON object map would hold them: sorted, the last of a name sent twice.
        attributes.reverse();
        attributes.sort_by(|(a, _), (b, _)| a.cmp(b));
        attributes.dedup_by(|(a, _), (b, _)| a == b);
        Ok(Self {
            application: data
                .authentication_context
                .and_then(|context| context.client_service_principal)
                .and_then(|principal| principal.app_id),
            identities: sign_up_info.identities,
            attributes,
        })
    }

    /// `authenticationContext.clientServicePrincipal.appId`: the application signed up to.
    pub fn application(&self) -> Option<String> {
        self.application
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
    }

    /// Every attribute with the name as sent and its value, sorted by name.
    pub fn attribute_values(&self) -> &[(Cow<'a, str>, SentValue<'a>)] {
        &self.attributes
    }

    /// The address: an identity with `signInType` `email`/`emailAddress` or `issuer` `mail`
    /// (email one-time passcode) gives `issuerAssignedId`; otherwise the `email` or `EmailAddress`
    /// attribute. A social provider's subject id is never taken. The first source that holds a
    /// non-blank value decides.
    pub fn email(&self) -> EmailClaim {
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
    pub fn job_title(&self) -> Option<JobTitle> {
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

// Reading the event. Each part of the body the decision uses has a type below; every other value
// is read as `Skip`, which checks it as JSON (numbers in range, strings valid, nesting within
// serde_json's limit) and keeps nothing. A key matches in any case, the exact spelling first: a
// value under the exact key replaces one under another spelling, never the other way round.
// A value of an unexpected JSON type counts as absent, as a lookup in a JSON tree would.

/// Any JSON value, read as `T` reads it.
struct Read<T>(T);

/// How a part of the event is read from each JSON type; what a type does not override is
/// checked and dropped, and the part reads as it would from `null`-like `Scalar::Other`.
trait Shape<'de>: Sized {
    fn scalar(value: Scalar<'de>) -> Self;

    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_key::<Read<Skip>>()?.is_some() {
            map.next_value::<Read<Skip>>()?;
        }
        Ok(Self::scalar(Scalar::Other))
    }

    fn array<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<Read<Skip>>()?.is_some() {}
        Ok(Self::scalar(Scalar::Other))
    }
}

impl<'de, T: Shape<'de>> Deserialize<'de> for Read<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(ShapeVisitor(PhantomData))
            .map(Read)
    }
}

struct ShapeVisitor<T>(PhantomData<T>);

impl<'de, T: Shape<'de>> Visitor<'de> for ShapeVisitor<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<T, E> {
        Ok(T::scalar(Scalar::Boolean(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<T, E> {
        Ok(T::scalar(Scalar::Integer(value)))
    }

    fn visit_u64<E>(self, value: u64) -> Result<T, E> {
        Ok(T::scalar(
            i64::try_from(value).map_or(Scalar::Other, Scalar::Integer),
        ))
    }

    fn visit_f64<E>(self, _: f64) -> Result<T, E> {
        Ok(T::scalar(Scalar::Other))
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<T, E> {
        Ok(T::scalar(Scalar::Text(Cow::Borrowed(value))))
    }

    fn visit_str<E>(self, value: &str) -> Result<T, E> {
        Ok(T::scalar(Scalar::Text(Cow::Owned(value.to_owned()))))
    }

    fn visit_unit<E>(self) -> Result<T, E> {
        Ok(T::scalar(Scalar::Null))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::object(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::array(seq)
    }
}

/// A JSON value that is not an object or array (those read as `Other` here).
#[derive(Debug, Clone, PartialEq, Default)]
enum Scalar<'de> {
    #[default]
    Null,
    Text(Cow<'de, str>),
    Integer(i64),
    Boolean(bool),
    /// Another number, or an array or object.
    Other,
}

impl<'de> Shape<'de> for Scalar<'de> {
    fn scalar(value: Scalar<'de>) -> Self {
        value
    }
}

/// Checked and dropped.
struct Skip;

impl<'de> Shape<'de> for Skip {
    fn scalar(_: Scalar<'de>) -> Self {
        Skip
    }
}

/// Text, or absent when the value is not a string.
impl<'de> Shape<'de> for Option<Cow<'de, str>> {
    fn scalar(value: Scalar<'de>) -> Self {
        match value {
            Scalar::Text(text) => Some(text),
            _ => None,
        }
    }
}

/// A part that is a JSON object, or absent when the value is anything else.
trait Object<'de>: Default {
    /// Reads the value of `key` if this part uses it, and says whether it did. Keys it does not
    /// read are skipped by the caller.
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error>;
}

impl<'de, T: Object<'de>> Shape<'de> for Option<T> {
    fn scalar(_: Scalar<'de>) -> Self {
        None
    }

    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut object = T::default();
        while let Some(Read(Key(key))) = map.next_key::<Read<Key<'de>>>()? {
            if !object.field(&key, &mut map)? {
                map.next_value::<Read<Skip>>()?;
            }
        }
        Ok(Some(object))
    }
}

/// An object key (always a string in JSON).
struct Key<'de>(Cow<'de, str>);

impl<'de> Shape<'de> for Key<'de> {
    fn scalar(value: Scalar<'de>) -> Self {
        match value {
            Scalar::Text(text) => Key(text),
            _ => Key(Cow::Borrowed("")),
        }
    }
}

/// Whether `key` is `wanted`: exactly (and from then on only exactly, as `exact` records), or
/// in another case while the exact spelling has not been seen.
fn claims(key: &str, wanted: &str, exact: &mut bool) -> bool {
    if key == wanted {
        *exact = true;
        true
    } else {
        !*exact && key.eq_ignore_ascii_case(wanted)
    }
}

/// Reads the value of a claimed key into `slot`.
fn read_into<'de, A: MapAccess<'de>, T: Shape<'de>>(
    map: &mut A,
    slot: &mut T,
) -> Result<bool, A::Error> {
    *slot = map.next_value::<Read<T>>()?.0;
    Ok(true)
}

#[derive(Default)]
struct Envelope<'de> {
    /// `type`
    event_type: Option<Cow<'de, str>>,
    data: Option<Data<'de>>,
    exact: [bool; 2],
}

impl<'de> Object<'de> for Envelope<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        let [event_type, data] = &mut self.exact;
        if claims(key, "type", event_type) {
            read_into(map, &mut self.event_type)
        } else if claims(key, "data", data) {
            read_into(map, &mut self.data)
        } else {
            Ok(false)
        }
    }
}

#[derive(Default)]
struct Data<'de> {
    /// `@odata.type`
    data_type: Option<Cow<'de, str>>,
    authentication_context: Option<AuthenticationContext<'de>>,
    sign_up_info: Option<SignUpInfo<'de>>,
    exact: [bool; 3],
}

impl<'de> Object<'de> for Data<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        let [data_type, context, sign_up_info] = &mut self.exact;
        if claims(key, "@odata.type", data_type) {
            read_into(map, &mut self.data_type)
        } else if claims(key, "authenticationContext", context) {
            read_into(map, &mut self.authentication_context)
        } else if claims(key, "userSignUpInfo", sign_up_info) {
            read_into(map, &mut self.sign_up_info)
        } else {
            Ok(false)
        }
    }
}

#[derive(Default)]
struct AuthenticationContext<'de> {
    client_service_principal: Option<ServicePrincipal<'de>>,
    exact: bool,
}

impl<'de> Object<'de> for AuthenticationContext<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        if claims(key, "clientServicePrincipal", &mut self.exact) {
            read_into(map, &mut self.client_service_principal)
        } else {
            Ok(false)
        }
    }
}

#[derive(Default)]
struct ServicePrincipal<'de> {
    app_id: Option<Cow<'de, str>>,
    exact: bool,
}

impl<'de> Object<'de> for ServicePrincipal<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        if claims(key, "appId", &mut self.exact) {
            read_into(map, &mut self.app_id)
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

/// The one action of a response.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
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

impl Action {
    /// The wire name, as in logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ContinueWithDefaultBehavior => "continueWithDefaultBehavior",
            Self::SetPrefillValues(_) => "setPrefillValues",
            Self::ModifyAttributeValues(_) => "modifyAttributeValues",
            Self::ShowValidationError { .. } => "showValidationError",
            Self::ShowBlockPage { .. } => "showBlockPage",
        }
    }

    /// The whole response body for `event`, written straight from the action (no JSON tree in
    /// between).
    pub fn response(&self, event: Event) -> impl Serialize + '_ {
        Response {
            event,
            action: self,
        }
    }
}

/// `{"data": {"@odata.type": ..., "actions": [action]}}`; keys in sorted order, as a JSON object
/// map would write them.
struct Response<'a> {
    event: Event,
    action: &'a Action,
}

impl Serialize for Response<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut body = serializer.serialize_map(Some(1))?;
        body.serialize_entry("data", &ResponseData(self))?;
        body.end()
    }
}

struct ResponseData<'a>(&'a Response<'a>);

impl Serialize for ResponseData<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut data = serializer.serialize_map(Some(2))?;
        data.serialize_entry("@odata.type", self.0.event.response_type())?;
        data.serialize_entry("actions", &[ResponseAction(self.0)])?;
        data.end()
    }
}

struct ResponseAction<'a>(&'a Response<'a>);

impl Serialize for ResponseAction<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Response { event, action } = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(
            "@odata.type",
            &format_args!("{}.{}", event.action_prefix(), action.name()),
        )?;
        match action {
            Action::ContinueWithDefaultBehavior => {}
            Action::SetPrefillValues(inputs) => map.serialize_entry("inputs", inputs)?,
            Action::ModifyAttributeValues(attributes) => {
                map.serialize_entry("attributes", attributes)?;
            }
            Action::ShowValidationError {
                message,
                attribute_errors,
            } => {
                map.serialize_entry("attributeErrors", attribute_errors)?;
                map.serialize_entry("message", message)?;
            }
            Action::ShowBlockPage { title, message } => {
                map.serialize_entry("message", message)?;
                map.serialize_entry("title", title)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(action: &Action, event: Event) -> Value {
        let text = serde_json::to_string(&action.response(event)).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn start(data: Value) -> EventRequest<'static> {
        let body = json!({"type": Event::Start.event_type(), "data": data}).to_string();
        EventRequest::parse(
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
            EventRequest::parse(b"nope", Event::Start).err(),
            Some(RequestError::NotJson)
        );
        assert_eq!(
            EventRequest::parse(b"[1]", Event::Start).err(),
            Some(RequestError::NotAnObject)
        );
        let submit = json!({"type": Event::Submit.event_type()}).to_string();
        assert_eq!(
            EventRequest::parse(submit.as_bytes(), Event::Start).err(),
            Some(RequestError::WrongEvent {
                expected: Event::Start.event_type(),
                received: Event::Submit.event_type().to_owned()
            })
        );
        let mixed = json!({"type": Event::Start.event_type(), "data": {"@odata.Type": Event::Submit.data_type()}}).to_string();
        assert!(matches!(
            EventRequest::parse(mixed.as_bytes(), Event::Start),
            Err(RequestError::WrongEvent {
                expected: "microsoft.graph.onAttributeCollectionStartCalloutData",
                ..
            })
        ));
        assert!(EventRequest::parse(b"{}", Event::Submit).is_ok());
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
            let read = EventRequest::parse(body.as_bytes(), Event::Start);
            assert_eq!(
                tree.is_err(),
                matches!(read, Err(RequestError::NotJson)),
                "{body}"
            );
        }
        let invalid_utf8 = b"{\"data\": {\"unused\": \"\xff\"}}";
        assert_eq!(
            EventRequest::parse(invalid_utf8, Event::Start).err(),
            Some(RequestError::NotJson)
        );
    }

    #[test]
    fn matches_keys_in_any_case_the_exact_spelling_first() {
        let body = |text: &str| {
            let request = EventRequest::parse(text.as_bytes(), Event::Start).unwrap();
            (request.email(), request.application())
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
            EventRequest::parse(
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
            let request = EventRequest::parse(text.as_bytes(), Event::Start).unwrap();
            assert!(
                matches!(request.email(), EmailClaim::Missing | EmailClaim::Invalid),
                "{text}"
            );
            assert_eq!(request.application(), None);
        }
        let escaped = br#"{"data": {"userSignUpInfo": {"attributes": {"email": "a@fabrikam.com", "Email": "b@fabrikam.com", "email": "c@fabrikam.com"}}}}"#;
        let request = EventRequest::parse(escaped, Event::Start).unwrap();
        // As a JSON object would hold them: sorted ("Email" first), the last "email" kept.
        assert_eq!(request.email(), valid("b@fabrikam.com"));
        assert_eq!(request.attribute_values().len(), 2);
        assert_eq!(
            request.attribute_values()[1].1,
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
        let values = request.attribute_values();
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

    #[test]
    fn responses_carry_exactly_one_documented_action() {
        let block = Action::ShowBlockPage {
            title: "T".to_owned(),
            message: "M".to_owned(),
        };
        assert_eq!(
            body(&block, Event::Start),
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
            body(&invalid, Event::Submit),
            json!({"data": {"@odata.type": "microsoft.graph.onAttributeCollectionSubmitResponseData",
                "actions": [{"@odata.type": "microsoft.graph.attributeCollectionSubmit.showValidationError",
                    "message": "Fix.", "attributeErrors": {"jobTitle": "Too short."}}]}})
        );
        assert_eq!(
            body(&Action::ContinueWithDefaultBehavior, Event::Submit)["data"]["actions"][0],
            json!({"@odata.type": "microsoft.graph.attributeCollectionSubmit.continueWithDefaultBehavior"})
        );
    }
}
