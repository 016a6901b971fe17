//! The wire format of Entra External ID custom authentication extensions for the
//! attribute-collection events (`attributeCollectionStart` / `attributeCollectionSubmit`).
//!
//! Real traffic differs from the documentation, so reading is lenient: keys are matched
//! case-insensitively (`@odata.Type` appears), unknown keys are ignored, any part of the envelope
//! may be missing. Writing is exact: one action with the documented `@odata.type` strings.

use serde_json::{Map, Value, json};

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
pub enum SentValue {
    Text(String),
    Integer(i64),
    Boolean(bool),
    Other,
}

/// A request body that is a JSON object of the right event.
pub struct EventRequest {
    body: Map<String, Value>,
}

impl EventRequest {
    /// Parses a body and checks it is the `expected` event (when it says which it is).
    pub fn parse(body: &[u8], expected: Event) -> Result<Self, RequestError> {
        let body = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(body)) => body,
            Ok(_) => return Err(RequestError::NotAnObject),
            Err(_) => return Err(RequestError::NotJson),
        };
        let request = Self { body };
        let declared = [
            (request.text(&["type"]), expected.event_type()),
            (request.text(&["data", "@odata.type"]), expected.data_type()),
        ];
        for (received, wanted) in declared {
            if let Some(received) = received
                && !received.trim().eq_ignore_ascii_case(wanted)
            {
                return Err(RequestError::WrongEvent {
                    expected: wanted,
                    received: received.to_owned(),
                });
            }
        }
        Ok(request)
    }

    /// The value at a path of keys, each matched case-insensitively.
    fn at(&self, path: &[&str]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        let mut value = get(&self.body, first)?;
        for key in rest {
            value = get(value.as_object()?, key)?;
        }
        Some(value)
    }

    fn text(&self, path: &[&str]) -> Option<&str> {
        self.at(path).and_then(Value::as_str)
    }

    /// `authenticationContext.clientServicePrincipal.appId`: the application signed up to.
    pub fn application(&self) -> Option<String> {
        self.text(&[
            "data",
            "authenticationContext",
            "clientServicePrincipal",
            "appId",
        ])
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
    }

    fn attributes(&self) -> Option<&Map<String, Value>> {
        self.at(&["data", "userSignUpInfo", "attributes"])?
            .as_object()
    }

    /// Every attribute with the name as sent and its value.
    pub fn attribute_values(&self) -> Vec<(&str, SentValue)> {
        self.attributes()
            .map(|attributes| {
                attributes
                    .iter()
                    .map(|(name, value)| (name.as_str(), sent_value(value)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The address: an identity with `signInType` `email`/`emailAddress` or `issuer` `mail`
    /// (email one-time passcode) gives `issuerAssignedId`; otherwise the `email` or `EmailAddress`
    /// attribute. A social provider's subject id is never taken. The first source that holds a
    /// non-blank value decides.
    pub fn email(&self) -> EmailClaim {
        let identity = self
            .at(&["data", "userSignUpInfo", "identities"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .find(|identity| {
                let is = |key: &str, wanted: &str| {
                    get(identity, key)
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.trim().eq_ignore_ascii_case(wanted))
                };
                is("signInType", "email")
                    || is("signInType", "emailAddress")
                    || is("issuer", "mail")
            });
        if let Some(identity) = identity {
            match get(identity, "issuerAssignedId") {
                None | Some(Value::Null) => {}
                Some(Value::String(text)) if text.trim().is_empty() => {}
                Some(Value::String(text)) => return parse_email(text),
                Some(_) => return EmailClaim::Invalid,
            }
        }
        let attribute = self.attributes().and_then(|attributes| {
            attributes.iter().find(|(name, _)| {
                name.eq_ignore_ascii_case("email") || name.eq_ignore_ascii_case("EmailAddress")
            })
        });
        match attribute.map(|(_, value)| sent_value(value)) {
            None => EmailClaim::Missing,
            Some(SentValue::Text(text)) if text.trim().is_empty() => EmailClaim::Missing,
            Some(SentValue::Text(text)) => parse_email(&text),
            Some(_) => EmailClaim::Invalid,
        }
    }

    /// The `jobTitle` attribute (any case), with its name as sent; blank counts as absent.
    pub fn job_title(&self) -> Option<JobTitle> {
        let (name, value) = self
            .attribute_values()
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("jobTitle"))?;
        let value = match value {
            SentValue::Text(text) if text.trim().is_empty() => return None,
            SentValue::Text(text) => AttributeValue::Text(text),
            _ => AttributeValue::NotText,
        };
        Some(JobTitle {
            attribute: name.to_owned(),
            value,
        })
    }
}

/// A key, exactly or else in any case.
fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// `{"@odata.type": ..., "value": X}` or a bare `X`.
fn sent_value(value: &Value) -> SentValue {
    let value = value
        .as_object()
        .and_then(|object| get(object, "value"))
        .unwrap_or(value);
    match value {
        Value::String(text) => SentValue::Text(text.clone()),
        Value::Bool(flag) => SentValue::Boolean(*flag),
        Value::Number(number) => number.as_i64().map_or(SentValue::Other, SentValue::Integer),
        _ => SentValue::Other,
    }
}

fn parse_email(text: &str) -> EmailClaim {
    match EmailAddress::parse(text) {
        Ok(email) => EmailClaim::Valid(email),
        Err(_) => EmailClaim::Invalid,
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

    /// The whole response body for `event`.
    pub fn response(&self, event: Event) -> Value {
        let mut action = Map::new();
        action.insert(
            "@odata.type".to_owned(),
            Value::from(format!("{}.{}", event.action_prefix(), self.name())),
        );
        match self {
            Self::ContinueWithDefaultBehavior => {}
            Self::SetPrefillValues(inputs) => {
                action.insert("inputs".to_owned(), Value::Object(inputs.clone()));
            }
            Self::ModifyAttributeValues(attributes) => {
                action.insert("attributes".to_owned(), Value::Object(attributes.clone()));
            }
            Self::ShowValidationError {
                message,
                attribute_errors,
            } => {
                action.insert("message".to_owned(), Value::from(message.as_str()));
                action.insert(
                    "attributeErrors".to_owned(),
                    Value::Object(attribute_errors.clone()),
                );
            }
            Self::ShowBlockPage { title, message } => {
                action.insert("title".to_owned(), Value::from(title.as_str()));
                action.insert("message".to_owned(), Value::from(message.as_str()));
            }
        }
        json!({"data": {"@odata.type": event.response_type(), "actions": [action]}})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(data: Value) -> EventRequest {
        let body = json!({"type": Event::Start.event_type(), "data": data});
        EventRequest::parse(body.to_string().as_bytes(), Event::Start).unwrap()
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
    fn reads_attribute_values_with_their_json_type() {
        let request = start(json!({"userSignUpInfo": {"attributes": {
            "displayName": {"@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "value": "Ada"},
            "extension_0a1b2c_Year": {"value": 2010},
            "extension_0a1b2c_News": {"value": false},
            "JobTitle": {"value": "CTO"}}}}));
        let values = request.attribute_values();
        assert!(values.contains(&("displayName", SentValue::Text("Ada".to_owned()))));
        assert!(values.contains(&("extension_0a1b2c_Year", SentValue::Integer(2010))));
        assert!(values.contains(&("extension_0a1b2c_News", SentValue::Boolean(false))));
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
            block.response(Event::Start),
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
            invalid.response(Event::Submit),
            json!({"data": {"@odata.type": "microsoft.graph.onAttributeCollectionSubmitResponseData",
                "actions": [{"@odata.type": "microsoft.graph.attributeCollectionSubmit.showValidationError",
                    "message": "Fix.", "attributeErrors": {"jobTitle": "Too short."}}]}})
        );
        assert_eq!(
            Action::ContinueWithDefaultBehavior.response(Event::Submit)["data"]["actions"][0],
            json!({"@odata.type": "microsoft.graph.attributeCollectionSubmit.continueWithDefaultBehavior"})
        );
    }
}
