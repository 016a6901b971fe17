//! How a decision becomes the one action of an attribute-collection answer: a block page with
//! the title and message its reason calls for, a validation error on the attributes to correct,
//! or an admit that prefills (Start) or imposes (Submit) the invitation's values in the JSON type
//! the request uses for each attribute. The decision is the gate's: nothing here decides.

use serde::ser::SerializeMap;
use serde_json::{Map, Value};

use super::Event;
use super::request::SignUpRequest;
use crate::domain::invitation::InvitationAttribute;
use crate::functions::entra;
use crate::gate::Verdict;
use crate::messages::{Language, Text};
use crate::policy::{AdmitReason, BlockReason, Decision};

/// The action that carries out `verdict`, and the reason to log.
pub(super) fn action_for(
    event: Event,
    verdict: &Verdict,
    request: &SignUpRequest<'_>,
    language: Language,
    correlation_id: &str,
) -> (Action, &'static str) {
    let say = |text: Text| verdict.say(text, language);
    match &verdict.decision {
        Decision::Block { reason, text } => {
            let (title, message) = match reason {
                BlockReason::StoreUnavailable => (Text::TryAgainTitle, Text::TryAgainLater),
                BlockReason::JobTitleNotCollected => (Text::UnavailableTitle, *text),
                BlockReason::Waitlisted
                | BlockReason::EmailMissing
                | BlockReason::NoEmailFromIdentityProvider
                | BlockReason::EmailInvalid
                | BlockReason::DomainBlocked
                | BlockReason::LocalPartBlocked
                | BlockReason::DisposableDomain
                | BlockReason::SubaddressBlocked => (Text::BlockPageTitle, *text),
                BlockReason::DomainNotAllowed
                | BlockReason::InvitationExpired
                | BlockReason::InvitationForOtherApplication
                | BlockReason::InvitationRevoked
                | BlockReason::AlreadyUsed
                | BlockReason::EnforcedValueMismatch => {
                    (Text::BlockPageTitle, Text::BlockPageMessage)
                }
            };
            (
                Action::ShowBlockPage {
                    title: say(title),
                    message: say(message),
                },
                reason.as_str(),
            )
        }
        Decision::Invalid { fields, reason } => {
            let attribute_errors = fields
                .iter()
                .map(|field| (field.attribute.clone(), Value::from(say(field.text))))
                .collect();
            (
                Action::ShowValidationError {
                    message: verdict.say_all(fields, language),
                    attribute_errors,
                },
                reason.as_str(),
            )
        }
        Decision::Admit {
            reason,
            attributes,
            invitation,
        } => {
            let action = match event {
                // Prefill is a convenience: a value that does not fit the attribute is left out.
                Event::Start => {
                    let (inputs, misfits) = typed_values(attributes.iter(), request);
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
                // Enforcement is a promise, which the policy checked can be kept. A code typed
                // into an attribute Entra may save on the user is replaced by the invitation's
                // id, so that the code is never stored.
                Event::Submit => {
                    let (mut imposed, _) =
                        typed_values(attributes.iter().filter(|a| a.enforced()), request);
                    let code_attribute = verdict.rules.policy.code_attribute.as_ref();
                    let sent = code_attribute.and_then(|attribute| {
                        request
                            .texts()
                            .into_iter()
                            .map(|(name, _)| name)
                            .find(|name| attribute.matches(name))
                    });
                    if let (AdmitReason::Code, Some(admitted), Some(sent)) =
                        (reason, invitation, sent)
                    {
                        imposed.insert(sent, Value::from(admitted.id.as_str()));
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
    request: &SignUpRequest<'_>,
) -> (Map<String, Value>, Vec<String>) {
    let mut values = Map::new();
    let mut misfits = Vec::new();
    for attribute in attributes {
        let sent = request.sent(attribute.name());
        let name = sent.map_or(attribute.name(), |(name, _)| name).to_owned();
        match attribute.json_as(sent.map(|(_, kind)| kind)) {
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
