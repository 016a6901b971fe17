//! What Entra's authentication events share: the envelope each event arrives in (read by
//! [`read`]), the one-action answer each gets, and the 400 for bodies that are not the event.
//!
//! Every decision is an HTTP 200 with exactly one action: Entra fails the sign-up or sign-in
//! with a generic error on anything else, so only requests that are not events at all get a
//! 4xx.

pub(crate) mod read;

use serde::ser::{Serialize, SerializeMap, Serializer};
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use super::{Answer, Outcome, json_error};

/// The names an event goes by on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTypes {
    /// The envelope's `type`.
    pub(crate) event_type: &'static str,
    /// `data.@odata.type` of the request.
    pub(crate) data_type: &'static str,
    /// `data.@odata.type` of the response.
    pub(crate) response_type: &'static str,
    /// What the actions' `@odata.type` start with (`microsoft.graph.attributeCollectionStart`).
    pub(crate) action_prefix: &'static str,
    /// Microsoft Graph's type of the custom authentication extension that sends this event.
    pub(crate) extension_type: &'static str,
}

/// Why a body was refused before any decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequestError {
    NotJson,
    NotAnObject,
    /// The payload is another event's: (what this function handles, what was sent).
    WrongEvent {
        expected: &'static str,
        received: String,
    },
}

/// The 400 for a body that is not this function's event: `{"error", "message"}`, nothing
/// admitted.
pub(crate) fn refuse(function: &str, error: &RequestError) -> Answer {
    let (code, message) = match error {
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
    Answer {
        response: json_error(StatusCode::BAD_REQUEST, code, &message),
        outcome: Outcome::new("BadRequest", code),
    }
}

/// One action of an answer: its name (after the event's prefix) and its fields.
pub(crate) trait Action {
    /// The wire name, as in logs (`showBlockPage`).
    fn name(&self) -> &'static str;

    /// Writes the action's fields after its `@odata.type`.
    fn fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error>;
}

/// The HTTP 200 answer carrying `action`, written straight from it (no JSON tree in between):
/// `{"data": {"@odata.type": ..., "actions": [{"@odata.type": ..., ...}]}}`.
pub(crate) fn respond<A: Action>(types: &EventTypes, action: &A) -> Response {
    warp::reply::json(&Body { types, action }).into_response()
}

struct Body<'a, A> {
    types: &'a EventTypes,
    action: &'a A,
}

impl<A: Action> Serialize for Body<'_, A> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut body = serializer.serialize_map(Some(1))?;
        body.serialize_entry("data", &Data(self))?;
        body.end()
    }
}

struct Data<'a, A>(&'a Body<'a, A>);

impl<A: Action> Serialize for Data<'_, A> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut data = serializer.serialize_map(Some(2))?;
        data.serialize_entry("@odata.type", self.0.types.response_type)?;
        data.serialize_entry("actions", &[Actions(self.0)])?;
        data.end()
    }
}

struct Actions<'a, A>(&'a Body<'a, A>);

impl<A: Action> Serialize for Actions<'_, A> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Body { types, action } = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(
            "@odata.type",
            &format_args!("{}.{}", types.action_prefix, action.name()),
        )?;
        action.fields(&mut map)?;
        map.end()
    }
}
