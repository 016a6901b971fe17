//! An attribute-collection event as the decision reads it: the address (from the identities or
//! the attributes, never a social provider's subject id), the Job Title, the application,
//! Entra's ids and every attribute with the JSON type it was sent in. Read in one pass, lenient
//! about case, unknown keys and missing parts, and exactly as strict as a JSON tree about what is
//! JSON.

use std::borrow::Cow;

use serde::de::{MapAccess, SeqAccess};

use super::Event;
use crate::domain::email::EmailAddress;
use crate::domain::invitation::SentType;
use crate::functions::entra::RequestError;
use crate::functions::entra::read::{
    Key, Object, Read, Scalar, Shape, Skip, claims, parse, read_into,
};
use crate::messages::{Catalog, Language};
use crate::policy::{AttributeValue, EmailClaim, JobTitle};

/// An attribute value as sent; its JSON type must be kept in anything sent back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SentValue<'a> {
    Text(Cow<'a, str>),
    Integer(i64),
    Boolean(bool),
    Other,
}

impl SentValue<'_> {
    fn kind(&self) -> SentType {
        match self {
            Self::Text(_) => SentType::Text,
            Self::Integer(_) => SentType::Integer,
            Self::Boolean(_) => SentType::Boolean,
            Self::Other => SentType::Other,
        }
    }
}

/// An attribute-collection event, holding only what the decision reads, borrowed from the body
/// where no escape had to be undone.
#[derive(Debug)]
pub(crate) struct SignUpRequest<'a> {
    /// `authenticationContext.clientServicePrincipal.appId`: the application signed up to.
    application: Option<String>,
    /// From `authenticationContext.client.locale` (then `market`).
    pub(crate) language: Language,
    /// `data.tenantId` and `authenticationContext.correlationId`, for the decision line.
    tenant: Option<String>,
    correlation_id: Option<String>,
    /// `authenticationContext.client.ip`, masked.
    pub(crate) client_ip: Option<String>,
    /// `authenticationContext.client.locale` as sent.
    pub(crate) locale: Option<String>,
    /// Identities that are JSON objects, in the order sent.
    identities: Vec<Identity<'a>>,
    /// Attributes by name as sent, sorted by name; of names sent twice the last one.
    attributes: Vec<(Cow<'a, str>, SentValue<'a>)>,
}

impl<'a> SignUpRequest<'a> {
    /// The application signed up to, when Entra names it.
    pub(crate) fn application(&self) -> Option<&str> {
        self.application.as_deref()
    }

    /// Entra's `data.tenantId` and `authenticationContext.correlationId`.
    pub(crate) fn entra_ids(&self) -> (Option<&str>, Option<&str>) {
        (self.tenant.as_deref(), self.correlation_id.as_deref())
    }

    /// The text attributes sent, by name as sent (where a user types a code).
    pub(crate) fn texts(&self) -> Vec<(String, String)> {
        self.attributes
            .iter()
            .filter_map(|(name, value)| match value {
                SentValue::Text(text) => Some((name.to_string(), text.to_string())),
                _ => None,
            })
            .collect()
    }

    /// The JSON type of each attribute sent, by name as sent.
    pub(crate) fn sent_types(&self) -> Vec<(String, SentType)> {
        self.attributes
            .iter()
            .map(|(name, value)| (name.to_string(), value.kind()))
            .collect()
    }

    /// The attribute `name` as sent (matched in any case): its spelling and its JSON type.
    pub(crate) fn sent(&self, name: &str) -> Option<(&str, SentType)> {
        self.attributes
            .iter()
            .find(|(sent, _)| sent.eq_ignore_ascii_case(name))
            .map(|(sent, value)| (&**sent, value.kind()))
    }

    /// Parses a body and checks it is the `expected` event (when it says which it is). Read in
    /// one pass, but refused exactly when a JSON tree would refuse it.
    pub(crate) fn parse(
        body: &'a [u8],
        expected: Event,
        catalog: &'static Catalog,
    ) -> Result<Self, RequestError> {
        let (context, payload) = parse::<Payload<'a>>(body, expected.types())?;
        let sign_up_info = payload.sign_up_info.unwrap_or_default();
        let mut attributes = sign_up_info.attributes.unwrap_or_default();
        // As a JSON object map would hold them: sorted, the last of a name sent twice.
        attributes.reverse();
        attributes.sort_by(|(a, _), (b, _)| a.cmp(b));
        attributes.dedup_by(|(a, _), (b, _)| a == b);
        Ok(Self {
            application: context.application(),
            language: context.language(catalog),
            tenant: context.tenant_id().map(str::to_owned),
            correlation_id: context.correlation_id().map(str::to_owned),
            client_ip: context.masked_client_ip(),
            locale: context.client_locale().map(str::to_owned),
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
    use serde_json::{Value, json};

    use super::*;
    use crate::functions::attribute_collection::{START, SUBMIT};

    fn start(data: Value) -> SignUpRequest<'static> {
        let body = json!({"type": START.event_type, "data": data}).to_string();
        SignUpRequest::parse(
            Box::leak(body.into_bytes().into_boxed_slice()),
            Event::Start,
            Catalog::built_in(),
        )
        .unwrap()
    }

    fn valid(address: &str) -> EmailClaim {
        EmailClaim::Valid(EmailAddress::parse(address).unwrap())
    }

    #[test]
    fn refuses_what_is_not_an_event_object() {
        assert_eq!(
            SignUpRequest::parse(b"nope", Event::Start, Catalog::built_in()).err(),
            Some(RequestError::NotJson)
        );
        assert_eq!(
            SignUpRequest::parse(b"[1]", Event::Start, Catalog::built_in()).err(),
            Some(RequestError::NotAnObject)
        );
        let submit = json!({"type": SUBMIT.event_type}).to_string();
        assert_eq!(
            SignUpRequest::parse(submit.as_bytes(), Event::Start, Catalog::built_in()).err(),
            Some(RequestError::WrongEvent {
                expected: START.event_type,
                received: SUBMIT.event_type.to_owned()
            })
        );
        let mixed = json!({"type": START.event_type, "data": {"@odata.Type": SUBMIT.data_type}})
            .to_string();
        assert!(matches!(
            SignUpRequest::parse(mixed.as_bytes(), Event::Start, Catalog::built_in()),
            Err(RequestError::WrongEvent {
                expected: "microsoft.graph.onAttributeCollectionStartCalloutData",
                ..
            })
        ));
        assert!(SignUpRequest::parse(b"{}", Event::Submit, Catalog::built_in()).is_ok());
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
            let read = SignUpRequest::parse(body.as_bytes(), Event::Start, Catalog::built_in());
            assert_eq!(
                tree.is_err(),
                matches!(read, Err(RequestError::NotJson)),
                "{body}"
            );
        }
        let invalid_utf8 = b"{\"data\": {\"unused\": \"\xff\"}}";
        assert_eq!(
            SignUpRequest::parse(invalid_utf8, Event::Start, Catalog::built_in()).err(),
            Some(RequestError::NotJson)
        );
    }

    #[test]
    fn matches_keys_in_any_case_the_exact_spelling_first() {
        let body = |text: &str| {
            let request =
                SignUpRequest::parse(text.as_bytes(), Event::Start, Catalog::built_in()).unwrap();
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
                Event::Start,
                Catalog::built_in(),
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
            let request =
                SignUpRequest::parse(text.as_bytes(), Event::Start, Catalog::built_in()).unwrap();
            assert!(
                matches!(request.email(), EmailClaim::Missing | EmailClaim::Invalid),
                "{text}"
            );
            assert_eq!(request.application, None);
        }
        let escaped = br#"{"data": {"userSignUpInfo": {"attributes": {"email": "a@fabrikam.com", "Email": "b@fabrikam.com", "email": "c@fabrikam.com"}}}}"#;
        let request = SignUpRequest::parse(escaped, Event::Start, Catalog::built_in()).unwrap();
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
}
