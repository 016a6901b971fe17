//! `SignUpValidation`: the API connector of Azure AD B2C user flows and External Identities
//! self-service sign-up.
//!
//! Translates the connector's flat claims object into a [`SignUp`], asks the gate, and answers
//! `Continue`, `ShowBlockPage` or `ValidationError` exactly as the connector contract requires.

pub(crate) mod contract;

use futures_util::future::BoxFuture;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use self::contract::{ConnectorRequest, ConnectorResponse, Step};
use super::{Answer, Caller, Function, Invocation, Outcome, Shared};
use crate::domain::invitation::InvitationAttribute;
use crate::policy::{Decision, SignUp, Stage};

/// Shown when the body is not a JSON object (the original sample's wording).
const MALFORMED_REQUEST: &str = "There was a problem with your request.";

/// The B2C / External Identities API connector.
pub struct SignUpValidation;

impl Function for SignUpValidation {
    fn name(&self) -> &'static str {
        "SignUpValidation"
    }

    fn caller(&self) -> Caller {
        Caller::ApiConnector
    }

    fn answer<'a>(
        &'a self,
        body: &'a [u8],
        shared: &'a Shared,
        invocation: &'a Invocation,
    ) -> BoxFuture<'a, Answer> {
        Box::pin(answer(body, shared, invocation))
    }
}

async fn answer(body: &[u8], shared: &Shared, invocation: &Invocation) -> Answer {
    let Some(request) = ConnectorRequest::parse(body) else {
        return Answer {
            response: reply(&ConnectorResponse::block(MALFORMED_REQUEST)),
            outcome: Outcome::new("ShowBlockPage", "malformed_request"),
        };
    };
    let step = request.step();
    let sign_up = SignUp {
        email: request.email(),
        job_title: request.job_title(),
        stage: step.stage(),
        application: request.client_id(),
        lists_page_attributes: false,
    };
    let outcome = |action, reason| Outcome {
        step: Some(step.as_str()),
        ..Outcome::new(action, reason).about(&sign_up.email)
    };
    if step == Step::PreTokenIssuance {
        // The token step runs at every sign-in and allows nothing but Continue: a block here
        // would lock out every user whose invitation has since expired.
        return Answer {
            response: reply(&ConnectorResponse::continue_()),
            outcome: outcome("Continue", "token_step"),
        };
    }
    let decision = shared
        .gate
        .decide(&sign_up, &invocation.correlation_id)
        .await;
    let (response, reason) = match &decision {
        Decision::Admit { reason, attributes } => (
            ConnectorResponse::continue_with(returned_claims(&step, attributes)),
            reason.as_str(),
        ),
        Decision::Block { reason, message } => (ConnectorResponse::block(message), reason.as_str()),
        Decision::Invalid { message, .. } => (
            ConnectorResponse::validation_error(message),
            "invalid_attributes",
        ),
    };
    Answer {
        response: reply(&response),
        outcome: outcome(response.action.as_str(), reason),
    }
}

/// Invitation attributes sent back with `Continue`: after federation they prefill the attribute
/// page; after it they override what the user typed, so only enforced ones go back then.
fn returned_claims(
    step: &Step,
    attributes: &[InvitationAttribute],
) -> serde_json::Map<String, serde_json::Value> {
    let wanted = |attribute: &&InvitationAttribute| match step.stage() {
        Stage::BeforeAttributes => true,
        Stage::AfterAttributes | Stage::Unspecified => attribute.enforced,
        Stage::BeforeToken => false,
    };
    attributes
        .iter()
        .filter(wanted)
        .map(|attribute| (attribute.name.to_string(), attribute.json()))
        .collect()
}

fn reply(response: &ConnectorResponse<'_>) -> Response {
    let status = StatusCode::from_u16(response.http_status()).unwrap_or(StatusCode::OK);
    warp::reply::with_status(warp::reply::json(response), status).into_response()
}
