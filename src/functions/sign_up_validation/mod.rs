//! `SignUpValidation`: the API connector of Azure AD B2C user flows and External Identities
//! self-service sign-up.
//!
//! Translates the connector's flat claims object into a [`SignUp`], asks the gate, and answers
//! `Continue`, `ShowBlockPage` or `ValidationError` exactly as the connector contract requires.

pub(crate) mod contract;

use futures_util::future::BoxFuture;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use self::contract::{ConnectorRequest, ConnectorResponse, Step, fits_the_answer};
use super::{Answer, Caller, Function, Invocation, Outcome, Shared, store_unavailable};
use crate::decision_record::{Value, facts};
use crate::domain::invitation::{ClaimValue, InvitationAttribute, InvitationClaim};
use crate::messages::Text;
use crate::policy::{Decision, SignUp, Stage};

/// The B2C / External Identities API connector.
pub struct SignUpValidation;

impl Function for SignUpValidation {
    fn name(&self) -> &'static str {
        "SignUpValidation"
    }

    fn sample_body(&self, address: &str) -> serde_json::Value {
        serde_json::json!({"email": address, "step": "PostFederationSignup"})
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
        // Not an object: no language, no application to go by (the original sample's wording).
        let rules = shared.gate.rules(None);
        let english = shared.catalog.english();
        return Answer {
            response: reply(&ConnectorResponse::block(
                &rules.say(Text::BadRequest, english),
            )),
            outcome: Outcome::new("ShowBlockPage", "malformed_request")
                .said(english)
                .under(rules.name),
        };
    };
    let step = request.step();
    let language = request.language(shared.catalog);
    let sign_up = SignUp {
        email: request.email(),
        job_title: request.job_title(),
        stage: step.stage(),
        application: request.client_id(),
        texts: request.texts(),
        locale: request.ui_locales(),
        ..SignUp::default()
    };
    let outcome = |action, reason| {
        Outcome::new(action, reason)
            .with(&facts::STEP, Value::Static(step.as_str()))
            .about(&sign_up.email)
            .said(language)
            .for_application(sign_up.application.as_deref())
    };
    if step == Step::PreTokenIssuance {
        return token_step(&sign_up, shared, invocation, outcome).await;
    }
    let verdict = shared
        .gate
        .decide(&sign_up, &invocation.correlation_id)
        .await;
    let message;
    let (response, reason) = match &verdict.decision {
        Decision::Admit {
            reason, attributes, ..
        } => (
            ConnectorResponse::continue_with(returned_claims(
                &step,
                attributes,
                &invocation.correlation_id,
            )),
            reason.as_str(),
        ),
        Decision::Block { reason, text } => {
            message = verdict.say(*text, language);
            (ConnectorResponse::block(&message), reason.as_str())
        }
        Decision::Invalid { fields, reason } => {
            message = verdict.say_all(fields, language);
            (
                ConnectorResponse::validation_error(&message),
                reason.as_str(),
            )
        }
    };
    Answer {
        response: reply(&response),
        outcome: outcome(response.action.as_str(), reason)
            .under(verdict.rules.name.clone())
            .by_invitation(verdict.invitation.as_ref()),
    }
}

/// B2C's token step runs at every sign-in and sign-up and allows nothing but `Continue` (a
/// block would lock out everyone whose invitation has since expired): it carries the claims of
/// the invitation that applies to the application, as top-level keys (B2C returns
/// `extension_<app>_<Name>` custom attributes this way). A list claim becomes its items joined
/// by commas (user flows take no lists). A store that cannot answer fails the call instead of
/// letting a token out without the claims its application relies on.
async fn token_step(
    sign_up: &SignUp,
    shared: &Shared,
    invocation: &Invocation,
    outcome: impl Fn(&'static str, &'static str) -> Outcome,
) -> Answer {
    let claims = shared
        .gate
        .token_claims(
            &sign_up.email,
            sign_up.application.as_deref(),
            &invocation.correlation_id,
        )
        .await;
    let Some(claims) = claims else {
        return Answer {
            response: store_unavailable(),
            outcome: outcome("Unavailable", "store_unavailable"),
        };
    };
    let given: Vec<InvitationClaim> = claims
        .claims()
        .iter()
        .filter(|claim| fits_the_answer(&claim.name, &invocation.correlation_id))
        .cloned()
        .collect();
    let returned = given
        .iter()
        .map(|claim| {
            let value = match &claim.value {
                ClaimValue::One(text) => text.to_string(),
                ClaimValue::Many(items) => items.join(","),
            };
            (claim.name.to_string(), serde_json::Value::from(value))
        })
        .collect();
    Answer {
        response: reply(&ConnectorResponse::continue_with(returned)),
        outcome: outcome("Continue", claims.reason()).giving(&given),
    }
}

/// Invitation attributes sent back with `Continue`: after federation they prefill the attribute
/// page; after it they override what the user typed, so only enforced ones go back then.
fn returned_claims(
    step: &Step,
    attributes: &[InvitationAttribute],
    correlation_id: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let wanted = |attribute: &&InvitationAttribute| match step.stage() {
        Stage::BeforeAttributes => true,
        Stage::AfterAttributes | Stage::Unspecified => attribute.enforced(),
        Stage::BeforeToken => false,
    };
    attributes
        .iter()
        .filter(wanted)
        .filter(|attribute| fits_the_answer(attribute.name(), correlation_id))
        .map(|attribute| (attribute.name().to_owned(), attribute.json()))
        .collect()
}

fn reply(response: &ConnectorResponse<'_>) -> Response {
    let status = StatusCode::from_u16(response.http_status()).unwrap_or(StatusCode::OK);
    warp::reply::with_status(warp::reply::json(response), status).into_response()
}
