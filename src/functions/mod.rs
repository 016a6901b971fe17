//! The functions: one module per Microsoft contract, each a thin translator between its wire
//! format and the gate. A function reads a body that arrived whole from a checked caller,
//! describes the sign-up to the [`Gate`], and writes the decision back in its contract's
//! answer, with the [`Outcome`] the server logs. Functions never see HTTP beyond that.
//!
//! Adding a Microsoft event is one new module here and one line in [`ALL`].

mod attribute_collection;
mod attribute_collection_start;
mod attribute_collection_submit;
pub mod entra;
pub(crate) mod sign_up_validation;
mod token_issuance_start;

use futures_util::future::BoxFuture;
use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

pub use self::attribute_collection_start::OnAttributeCollectionStart;
pub use self::attribute_collection_submit::OnAttributeCollectionSubmit;
pub use self::sign_up_validation::SignUpValidation;
pub use self::token_issuance_start::OnTokenIssuanceStart;
use crate::domain::invitation::InvitationClaim;
use crate::gate::Gate;
use crate::messages::Language;
use crate::policy::{EmailClaim, PolicyName};

/// Every function this binary serves, as `func start` lists them (each has a folder with its
/// `function.json`).
pub const ALL: &[&dyn Function] = &[
    &SignUpValidation,
    &OnAttributeCollectionStart,
    &OnAttributeCollectionSubmit,
    &OnTokenIssuanceStart,
];

/// The function a custom authentication extension of this Graph type calls (`#` and case aside).
pub(crate) fn for_extension_type(kind: &str) -> Option<&'static dyn Function> {
    let kind = kind.trim_start_matches('#');
    ALL.iter().copied().find(|function| {
        function
            .entra_event()
            .is_some_and(|event| event.extension_type.eq_ignore_ascii_case(kind))
    })
}

/// The names of the functions this caller calls, in [`ALL`]'s order.
pub(crate) fn names_of(caller: Caller) -> Vec<&'static str> {
    ALL.iter()
        .filter(|function| function.caller() == caller)
        .map(|function| function.name())
        .collect()
}

/// One of Microsoft's contracts, served at `/api/<name>`.
pub trait Function: Sync {
    /// The function's name: its folder, its route, its name in logs.
    fn name(&self) -> &'static str;

    /// Who may call it (checked by the server before the body is read).
    fn caller(&self) -> Caller;

    /// The Entra event it answers, with that event's Microsoft Graph types; `None` for a
    /// function Entra's events do not call.
    fn entra_event(&self) -> Option<&'static entra::EventTypes> {
        None
    }

    /// A request of its own kind about `address` (what `handler doctor` calls it with; a
    /// protected deployment refuses it before reading it).
    fn sample_body(&self, address: &str) -> serde_json::Value {
        let kind = self.entra_event().map_or("", |types| types.event_type);
        serde_json::json!({"type": kind,
            "data": {"authenticationContext": {"user": {"mail": address}},
                     "userSignUpInfo": {"identities": [{"signInType": "email", "issuerAssignedId": address}]}}})
    }

    /// The answer to a body that arrived whole from a checked caller. Every body gets an answer
    /// of the function's contract (or, for one that is not a request at all, a JSON error).
    fn answer<'a>(
        &'a self,
        body: &'a [u8],
        shared: &'a Shared,
        invocation: &'a Invocation,
    ) -> BoxFuture<'a, Answer>;
}

/// Who calls a function, and so how the caller proves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A B2C / External Identities API connector: HTTP Basic.
    ApiConnector,
    /// Entra's authentication events service: its bearer token (or Easy Auth's principal).
    AuthenticationEvents,
}

/// What the functions work with.
pub struct Shared {
    pub gate: Gate,
}

/// One call of a function.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The host's invocation id (or one made up); on every log line about the call.
    pub correlation_id: String,
}

/// A function's answer, and what to log about it.
pub struct Answer {
    pub response: Response,
    pub outcome: Outcome,
}

/// What the one `decision` log line of a call says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The action answered (`Continue`, `showBlockPage`, ...) or what happened instead
    /// (`Unauthorized`, `BadRequest`, ...).
    pub action: &'static str,
    pub reason: &'static str,
    /// The address as it may appear in logs: masked, `(invalid)` or `-`.
    pub email: String,
    /// B2C's `step`, where the contract has one.
    pub step: Option<&'static str>,
    /// The names (never the values) of the claims given to a token, where one is issued.
    pub claims: Option<String>,
    /// The language the user was answered in (negotiated from the request).
    pub language: Option<Language>,
    /// Whose rules decided: the default ones or an application's.
    pub policy: Option<PolicyName>,
    /// The application signed up or in to (B2C's `client_id`, Entra's
    /// `clientServicePrincipal.appId`), when it is a plausible id.
    pub application: Option<String>,
    /// Entra's `data.tenantId`.
    pub tenant: Option<String>,
    /// Entra's `authenticationContext.correlationId`: the id of the sign-in logs' entry.
    pub entra_correlation_id: Option<String>,
}

impl Outcome {
    pub(crate) fn new(action: &'static str, reason: &'static str) -> Self {
        Self {
            action,
            reason,
            email: "-".to_owned(),
            step: None,
            claims: None,
            language: None,
            policy: None,
            application: None,
            tenant: None,
            entra_correlation_id: None,
        }
    }

    /// The same, for this application (an implausible id is left out: it goes into logs).
    pub(crate) fn for_application(mut self, application: Option<&str>) -> Self {
        self.application = application.and_then(plausible_id);
        self
    }

    /// The same, with the ids Entra sends (tenant, correlation id); implausible ones are left out.
    pub(crate) fn in_entra(mut self, tenant: Option<&str>, correlation_id: Option<&str>) -> Self {
        self.tenant = tenant.and_then(plausible_id);
        self.entra_correlation_id = correlation_id.and_then(plausible_id);
        self
    }

    /// The same, answered in `language`.
    pub(crate) fn said(mut self, language: Language) -> Self {
        self.language = Some(language);
        self
    }

    /// The same, decided by the rules `policy` names.
    pub(crate) fn under(mut self, policy: PolicyName) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The same, about this address.
    pub(crate) fn about(mut self, email: &EmailClaim) -> Self {
        self.email = email.for_log();
        self
    }

    /// The same, naming the claims given.
    pub(crate) fn giving(mut self, claims: &[InvitationClaim]) -> Self {
        let names: Vec<&str> = claims.iter().map(|claim| &*claim.name).collect();
        self.claims = Some(if names.is_empty() {
            "-".to_owned()
        } else {
            names.join(",")
        });
        self
    }
}

/// An id from a request as it may go into a log line or telemetry: letters, digits, `-`, `_`
/// and `.`, at most 128 characters; anything else is left out.
pub(crate) fn plausible_id(id: &str) -> Option<String> {
    let id = id.trim();
    let plausible = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    plausible.then(|| id.to_owned())
}

/// Body of every error answer that is not in a caller's own contract.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

/// A JSON error answer: `{"error": "<code>", "message": "<text>"}`.
pub(crate) fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    warp::reply::with_status(
        warp::reply::json(&ErrorBody {
            error: code,
            message,
        }),
        status,
    )
    .into_response()
}
