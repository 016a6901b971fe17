//! Front door for Azure AD B2C user flows and External Identities self-service sign-up: the
//! API connector `SignUpValidation`.
//!
//! Translates the connector's flat claims object into a [`SignUp`], asks the policy, and answers
//! `Continue`, `ShowBlockPage` or `ValidationError` exactly as the connector contract requires.

pub mod contract;

use std::sync::Arc;

use bytes::Buf;
use futures_util::Stream;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use self::contract::{ConnectorRequest, ConnectorResponse, Step};
use crate::admission;
use crate::invitations::InvitationAttribute;
use crate::policy::{Decision, SignUp, Stage};
use crate::server::{self, AppState, RequestContext};

/// The function's name: its folder, its route, its name in logs.
pub const FUNCTION: &str = "SignUpValidation";

/// Shown when the body is not a JSON object (the original sample's wording).
const MALFORMED_REQUEST: &str = "There was a problem with your request.";

/// Handles one authenticated call.
pub async fn handle<S, B>(context: RequestContext, state: Arc<AppState>, body: S) -> Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let body = match server::read_function_body(
        FUNCTION,
        &context,
        body,
        state.settings.connections.read_timeout,
    )
    .await
    {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    answer(&body, &state, &context).await
}

/// The answer to a body that arrived whole from an authenticated caller: parse, decide,
/// respond. Every input gets an answer of the connector contract (200 or 400 with a JSON body).
pub async fn answer(body: &[u8], state: &AppState, context: &RequestContext) -> Response {
    let Some(request) = ConnectorRequest::parse(body) else {
        server::log_outcome(
            FUNCTION,
            context,
            "ShowBlockPage",
            "malformed_request",
            "-",
            "",
        );
        return reply(&ConnectorResponse::block(MALFORMED_REQUEST));
    };
    let step = request.step();
    let sign_up = SignUp {
        email: request.email(),
        job_title: request.job_title(),
        stage: step.stage(),
        application: request.client_id(),
        lists_page_attributes: false,
    };
    if step == Step::PreTokenIssuance {
        // The token step runs at every sign-in and allows nothing but Continue: a block here
        // would lock out every user whose invitation has since expired.
        let email = sign_up.email.for_log();
        let detail = format!("step={}", step.as_str());
        server::log_outcome(FUNCTION, context, "Continue", "token_step", &email, &detail);
        return reply(&ConnectorResponse::continue_());
    }
    let decision = admission::decide(state, &sign_up, context).await;
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
    let email = sign_up.email.for_log();
    let outcome = format!("{:?}", response.action);
    let detail = format!("step={}", step.as_str());
    server::log_outcome(FUNCTION, context, &outcome, reason, &email, &detail);
    reply(&response)
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
