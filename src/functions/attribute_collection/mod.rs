//! What Entra's two attribute-collection events share (`OnAttributeCollectionStart` before the
//! attribute page, `OnAttributeCollectionSubmit` after it): they make sign-up invite-only. A
//! request is read into a sign-up ([`request`]), the gate decides, and the decision becomes one
//! action of the event's answer ([`action`]).

mod action;
mod request;

use self::action::action_for;
pub(crate) use self::request::SignUpRequest;
use super::entra::{self, EventTypes};
use super::{Answer, Invocation, Outcome, Shared};
use crate::policy::{BlockReason, Decision, InvalidReason, SignUp, Stage};

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

pub(super) const START: EventTypes = EventTypes {
    event_type: "microsoft.graph.authenticationEvent.attributeCollectionStart",
    data_type: "microsoft.graph.onAttributeCollectionStartCalloutData",
    response_type: "microsoft.graph.onAttributeCollectionStartResponseData",
    action_prefix: "microsoft.graph.attributeCollectionStart",
    extension_type: "microsoft.graph.onAttributeCollectionStartCustomExtension",
};

pub(super) const SUBMIT: EventTypes = EventTypes {
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
    let request = match SignUpRequest::parse(body, event, shared.catalog) {
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
        application: request.application().map(str::to_owned),
        // Entra sends every attribute of the page: one that is missing is not on it.
        lists_page_attributes: true,
        sent_types: request.sent_types(),
        texts: request.texts(),
        entra_correlation_id: request.entra_ids().1.map(str::to_owned),
        locale: request.locale.clone(),
        from_entra: true,
    };
    let verdict = shared
        .gate
        .decide(&sign_up, &invocation.correlation_id)
        .await;
    let language = request.language;
    let (action, reason) = action_for(
        event,
        &verdict,
        &request,
        language,
        &invocation.correlation_id,
    );
    let (tenant, correlation_id) = request.entra_ids();
    let code_refused = matches!(
        verdict.decision,
        Decision::Invalid {
            reason: InvalidReason::Code(_),
            ..
        }
    );
    if matches!(
        verdict.decision,
        Decision::Block {
            reason: BlockReason::NoEmailFromIdentityProvider,
            ..
        }
    ) {
        log::error!(
            "{function}: the request carries no e-mail address (a federated identity provider sent none) and no \
             invitation code attribute is configured, so no one can be recognised; blocking. Ways out: set \
             INVITATION_CODE_ATTRIBUTE (docs/invitations.md#codes), or map the identity provider's e-mail claim \
             (docs/entra.md#federated-sign-ups-without-an-e-mail); correlation_id={}",
            invocation.correlation_id
        );
    }
    let outcome = Outcome::new(entra::Action::name(&action), reason)
        .about(&sign_up.email)
        .said(language)
        .under(verdict.rules.name)
        .for_application(request.application())
        .in_entra(tenant, correlation_id)
        .by_invitation(verdict.invitation.as_ref());
    Answer {
        response: entra::respond(event.types(), &action),
        outcome: if code_refused {
            outcome.with_client_ip(request.client_ip.as_deref())
        } else {
            outcome
        },
    }
}
