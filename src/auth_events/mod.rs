//! Front door for Entra External ID custom authentication extensions: the attribute-collection
//! events `OnAttributeCollectionStart` and `OnAttributeCollectionSubmit`, which make sign-up
//! invite-only.
//!
//! Every decision is an HTTP 200 with exactly one action: Entra fails the sign-up with a generic
//! error on anything else, so only requests that are not events at all get a 4xx.

pub mod contract;

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Buf;
use futures_util::Stream;
use serde_json::{Map, Value};
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use self::contract::{Action, Event, EventRequest, RequestError, SentValue};
use crate::admission;
use crate::invitations::InvitationAttribute;
use crate::policy::{BlockReason, Decision, SignUp, Stage, TRY_AGAIN_LATER};
use crate::server::{self, AppState, RequestContext};

/// The functions' names: folders, routes, names in logs.
pub const START: &str = "OnAttributeCollectionStart";
pub const SUBMIT: &str = "OnAttributeCollectionSubmit";

/// Title of the block page shown while the invitation store cannot answer.
const TRY_AGAIN_TITLE: &str = "Please try again later";
/// Title of the block page shown when the set-up keeps anyone from signing up.
const UNAVAILABLE_TITLE: &str = "Sign-up unavailable";

/// The function that handles `event`.
pub fn function(event: Event) -> &'static str {
    match event {
        Event::Start => START,
        Event::Submit => SUBMIT,
    }
}

/// Handles one caller-checked call of the function for `event`.
pub async fn handle<S, B>(
    event: Event,
    context: RequestContext,
    state: Arc<AppState>,
    body: S,
) -> Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let function = function(event);
    let body = match server::read_function_body(
        function,
        &context,
        body,
        state.settings.connections.read_timeout,
    )
    .await
    {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    answer(event, &body, &state, &context).await
}

/// The answer to a body that arrived whole from a checked caller: parse, decide, respond.
/// Events always get HTTP 200 with exactly one action; bodies that are not events a 400 JSON
/// error.
pub async fn answer(
    event: Event,
    body: &[u8],
    state: &AppState,
    context: &RequestContext,
) -> Response {
    let function = function(event);
    let request = match EventRequest::parse(body, event) {
        Ok(request) => request,
        Err(error) => {
            let (code, message) = match &error {
                RequestError::NotJson => (
                    "invalid_request",
                    "The request body is not JSON.".to_owned(),
                ),
                RequestError::NotAnObject => (
                    "invalid_request",
                    "The request body is not a JSON object.".to_owned(),
                ),
                RequestError::WrongEvent { expected, received } => (
                    "wrong_event_type",
                    format!("{function} handles {expected}, but the request is {received}."),
                ),
            };
            server::log_outcome(function, context, "BadRequest", code, "-", "");
            return server::json_error(StatusCode::BAD_REQUEST, code, &message);
        }
    };
    let sign_up = SignUp {
        email: request.email(),
        job_title: request.job_title(),
        stage: match event {
            Event::Start => Stage::BeforeAttributes,
            Event::Submit => Stage::AfterAttributes,
        },
        application: request.application(),
        // Entra sends every attribute of the page: one that is missing is not on it.
        lists_page_attributes: true,
    };
    let decision = admission::decide(state, &sign_up, context).await;
    let (action, reason) = action_for(event, &decision, &request, state, context);
    let email = sign_up.email.for_log();
    server::log_outcome(function, context, action.name(), reason, &email, "");
    warp::reply::json(&action.response(event)).into_response()
}

/// The one action that carries out a decision, and the reason to log.
fn action_for(
    event: Event,
    decision: &Decision,
    request: &EventRequest,
    state: &AppState,
    context: &RequestContext,
) -> (Action, &'static str) {
    let block_page = &state.settings.block_page;
    let block = |reason: BlockReason, message: &str| {
        let (title, message) = match reason {
            BlockReason::StoreUnavailable => (TRY_AGAIN_TITLE, TRY_AGAIN_LATER),
            BlockReason::JobTitleNotCollected => {
                log::error!(
                    "configuration error: REQUIRE_JOB_TITLE is true but the user flow does not collect Job Title \
                     (the {} request carries no jobTitle attribute): add Job Title to the flow's user attributes \
                     or set REQUIRE_JOB_TITLE=false; blocking; correlation_id={}",
                    function(event),
                    context.correlation_id
                );
                (UNAVAILABLE_TITLE, message)
            }
            BlockReason::EmailMissing | BlockReason::EmailInvalid => {
                (block_page.title.as_str(), message)
            }
            BlockReason::DomainNotAllowed
            | BlockReason::InvitationExpired
            | BlockReason::InvitationForOtherApplication => {
                (block_page.title.as_str(), block_page.message.as_str())
            }
        };
        (
            Action::ShowBlockPage {
                title: title.to_owned(),
                message: message.to_owned(),
            },
            reason.as_str(),
        )
    };
    match decision {
        Decision::Block { reason, message } => block(*reason, message),
        Decision::Invalid { message, fields } => {
            let attribute_errors = fields
                .iter()
                .map(|field| (field.attribute.clone(), Value::from(field.message.as_str())))
                .collect();
            (
                Action::ShowValidationError {
                    message: message.clone(),
                    attribute_errors,
                },
                "invalid_attributes",
            )
        }
        Decision::Admit { reason, attributes } => {
            let sent = request.attribute_values();
            let action = match event {
                // Prefill is a convenience: a value that does not fit the attribute is left out.
                Event::Start => {
                    let (inputs, misfits) = typed_values(attributes.iter(), sent);
                    for name in misfits {
                        log::warn!(
                            "invitation value for {name} does not fit the attribute's type; not prefilled; correlation_id={}",
                            context.correlation_id
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
                            "enforced invitation values for {} do not fit the attributes' types; blocking; correlation_id={}",
                            misfits.join(", "),
                            context.correlation_id
                        );
                        let (action, _) = block(BlockReason::DomainNotAllowed, "");
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
