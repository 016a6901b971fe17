//! `OnAttributeCollectionStart`: Entra's custom authentication extension before the attribute
//! page. Blocks addresses without an invitation (or allowed domain) and prefills the page from
//! the invitation.

use futures_util::future::BoxFuture;

use super::attribute_collection::{Event, answer};
use super::entra::EventTypes;
use super::{Answer, Caller, Function, Invocation, Shared};

pub struct OnAttributeCollectionStart;

impl Function for OnAttributeCollectionStart {
    fn name(&self) -> &'static str {
        "OnAttributeCollectionStart"
    }

    fn caller(&self) -> Caller {
        Caller::AuthenticationEvents
    }

    fn entra_event(&self) -> Option<&'static EventTypes> {
        Some(Event::Start.types())
    }

    fn answer<'a>(
        &'a self,
        body: &'a [u8],
        shared: &'a Shared,
        invocation: &'a Invocation,
    ) -> BoxFuture<'a, Answer> {
        Box::pin(answer(Event::Start, self.name(), body, shared, invocation))
    }
}
