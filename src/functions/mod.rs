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

pub use crate::callers::Caller;
use crate::messages::Catalog;
use futures_util::future::BoxFuture;
use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

pub use self::attribute_collection_start::OnAttributeCollectionStart;
pub use self::attribute_collection_submit::OnAttributeCollectionSubmit;
pub use self::sign_up_validation::SignUpValidation;
pub use self::token_issuance_start::OnTokenIssuanceStart;
pub use crate::decision_record::Outcome;
use crate::gate::Gate;

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

/// What the functions work with.
pub struct Shared {
    pub gate: Gate,
    /// The languages the answers speak.
    pub catalog: &'static Catalog,
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

/// The answer of a token function whose invitation store could not answer (the gate logged why):
/// a 503 that fails the sign-in rather than let a token out without the claims its application
/// relies on.
pub(crate) fn store_unavailable() -> Response {
    json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "The invitation store could not be read; no token is issued without its claims.",
    )
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
