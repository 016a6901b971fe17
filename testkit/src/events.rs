//! The requests Microsoft sends, built from their parts, written apart from the product (its
//! wire names are repeated here on purpose, as an oracle).

use serde_json::{Value, json};

/// Entra's two attribute-collection events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Start,
    Submit,
}

impl Event {
    /// The function that handles the event.
    pub fn function(self) -> &'static str {
        match self {
            Self::Start => "OnAttributeCollectionStart",
            Self::Submit => "OnAttributeCollectionSubmit",
        }
    }

    /// The envelope's `type` and `data.@odata.type`.
    pub fn types(self) -> (&'static str, &'static str) {
        match self {
            Self::Start => (
                "microsoft.graph.authenticationEvent.attributeCollectionStart",
                "microsoft.graph.onAttributeCollectionStartCalloutData",
            ),
            Self::Submit => (
                "microsoft.graph.authenticationEvent.attributeCollectionSubmit",
                "microsoft.graph.onAttributeCollectionSubmitCalloutData",
            ),
        }
    }

    /// `data.@odata.type` of the answer.
    pub fn response_type(self) -> &'static str {
        match self {
            Self::Start => "microsoft.graph.onAttributeCollectionStartResponseData",
            Self::Submit => "microsoft.graph.onAttributeCollectionSubmitResponseData",
        }
    }

    /// The actions that admit and those that do not.
    pub fn actions(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Self::Start => (
                &[
                    "microsoft.graph.attributeCollectionStart.continueWithDefaultBehavior",
                    "microsoft.graph.attributeCollectionStart.setPrefillValues",
                ],
                &["microsoft.graph.attributeCollectionStart.showBlockPage"],
            ),
            Self::Submit => (
                &[
                    "microsoft.graph.attributeCollectionSubmit.continueWithDefaultBehavior",
                    "microsoft.graph.attributeCollectionSubmit.modifyAttributeValues",
                ],
                &[
                    "microsoft.graph.attributeCollectionSubmit.showBlockPage",
                    "microsoft.graph.attributeCollectionSubmit.showValidationError",
                ],
            ),
        }
    }
}

/// A token-issuance event for the user `mail` signing in to `application`.
pub fn token_event(mail: &Value, application: &Value) -> Value {
    json!({
        "type": "microsoft.graph.authenticationEvent.tokenIssuanceStart",
        "source": "/tenants/11111111-2222-3333-4444-555555555555/applications/x",
        "data": {
            "@odata.type": "microsoft.graph.onTokenIssuanceStartCalloutData",
            "tenantId": "11111111-2222-3333-4444-555555555555",
            "authenticationEventListenerId": "l",
            "customAuthenticationExtensionId": "c",
            "authenticationContext": {
                "correlationId": "c",
                "client": {"ip": "127.0.0.1", "locale": "en-us", "market": "en-us"},
                "protocol": "OAUTH2.0",
                "clientServicePrincipal": {"appId": application},
                "resourceServicePrincipal": {"appId": application},
                "user": {"id": "u", "mail": mail, "displayName": "User", "userType": "Member",
                         "userPrincipalName": "u@contoso.onmicrosoft.com"}
            }
        }
    })
}

/// An attribute-collection event for `email`, with a Job Title unless it is null, from the
/// application `application`: every part a real event has.
pub fn event_body(event: Event, email: &Value, job_title: &Value, application: &Value) -> Value {
    let (event_type, data_type) = event.types();
    let mut attributes = serde_json::Map::new();
    attributes.insert("email".into(), json!({"value": email, "@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "attributeType": "builtIn"}));
    if !job_title.is_null() {
        attributes.insert("jobTitle".into(), json!({"value": job_title, "@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "attributeType": "builtIn"}));
    }
    json!({
        "type": event_type,
        "source": "/tenants/11111111-2222-3333-4444-555555555555/applications/x",
        "data": {
            "@odata.type": data_type,
            "tenantId": "11111111-2222-3333-4444-555555555555",
            "authenticationEventListenerId": "l",
            "customAuthenticationExtensionId": "c",
            "authenticationContext": {
                "correlationId": "c",
                "clientServiceRequestContext": {"app": "x"},
                "client": {"ip": "127.0.0.1", "locale": "en-us", "market": "en-us"},
                "protocol": "OAUTH2.0",
                "clientServicePrincipal": {"appId": application},
                "resourceServicePrincipal": {"appId": application},
                "user": {"mail": email, "userType": "Member"}
            },
            "userSignUpInfo": {
                "attributes": attributes,
                "identities": [{"signInType": "email", "issuer": "contoso.onmicrosoft.com", "issuerAssignedId": email}]
            }
        }
    })
}
