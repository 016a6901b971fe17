//! `OnTokenIssuanceStart`: Entra's custom claims provider (the TokenIssuanceStart custom
//! authentication extension). Every token of an invited user carries the claims of the
//! invitation that applies to the application; removing the invitation revokes them at the next
//! token.
//!
//! Token issuance never blocks a sign-in for a missing invitation (no invitation: no claims).
//! But a store that fails or misses the deadline must not let a token out without the claims an
//! application relies on: the answer is then a 503 with a JSON error, which makes Entra fail
//! this sign-in (there is no way to show the user a message from this event).

use futures_util::future::BoxFuture;
use serde::ser::SerializeMap;
use serde_json::{Map, Value};

use super::entra::read::{NoPayload, parse};
use super::entra::{self, EventTypes};
use super::{Answer, Caller, Function, Invocation, Outcome, Shared, store_unavailable};
use crate::domain::email::EmailAddress;
use crate::domain::invitation::claims_json;
use crate::policy::EmailClaim;

const TYPES: EventTypes = EventTypes {
    event_type: "microsoft.graph.authenticationEvent.tokenIssuanceStart",
    data_type: "microsoft.graph.onTokenIssuanceStartCalloutData",
    response_type: "microsoft.graph.onTokenIssuanceStartResponseData",
    action_prefix: "microsoft.graph.tokenIssuanceStart",
    extension_type: "microsoft.graph.onTokenIssuanceStartCustomExtension",
};

pub struct OnTokenIssuanceStart;

impl Function for OnTokenIssuanceStart {
    fn name(&self) -> &'static str {
        "OnTokenIssuanceStart"
    }

    fn caller(&self) -> Caller {
        Caller::AuthenticationEvents
    }

    fn entra_event(&self) -> Option<&'static EventTypes> {
        Some(&TYPES)
    }

    fn answer<'a>(
        &'a self,
        body: &'a [u8],
        shared: &'a Shared,
        invocation: &'a Invocation,
    ) -> BoxFuture<'a, Answer> {
        Box::pin(answer(self.name(), body, shared, invocation))
    }
}

async fn answer(function: &str, body: &[u8], shared: &Shared, invocation: &Invocation) -> Answer {
    let (context, NoPayload) = match parse::<NoPayload>(body, &TYPES) {
        Ok(request) => request,
        Err(error) => return entra::refuse(function, &error),
    };
    let email = match context.user_mail().map(str::trim) {
        None | Some("") => EmailClaim::Missing,
        Some(mail) => match EmailAddress::parse(mail) {
            Ok(email) => EmailClaim::Valid(email),
            Err(_) => EmailClaim::Invalid,
        },
    };
    let application = context.application();
    let language = context.language(shared.catalog);
    let Some(claims) = shared
        .gate
        .token_claims(&email, application.as_deref(), &invocation.correlation_id)
        .await
    else {
        return Answer {
            response: store_unavailable(),
            outcome: Outcome::new("Unavailable", "store_unavailable")
                .about(&email)
                .said(language)
                .for_application(application.as_deref())
                .in_entra(context.tenant_id(), context.correlation_id()),
        };
    };
    let action = ProvideClaimsForToken(claims_json(claims.claims()));
    Answer {
        response: entra::respond(&TYPES, &action),
        outcome: Outcome::new("provideClaimsForToken", claims.reason())
            .about(&email)
            .giving(claims.claims())
            .said(language)
            .for_application(application.as_deref())
            .in_entra(context.tenant_id(), context.correlation_id()),
    }
}

/// `provideClaimsForToken` with the claims (an empty object when there are none).
struct ProvideClaimsForToken(Map<String, Value>);

impl entra::Action for ProvideClaimsForToken {
    fn name(&self) -> &'static str {
        "provideClaimsForToken"
    }

    fn fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("claims", &self.0)
    }
}
