//! `OnAttributeCollectionSubmit`: Entra's custom authentication extension after the attribute
//! page. Checks admission again, validates the attributes, and imposes the invitation's enforced
//! values.

use futures_util::future::BoxFuture;

use super::attribute_collection::{Event, answer};
use super::entra::EventTypes;
use super::{Answer, Caller, Function, Invocation, Shared};

pub struct OnAttributeCollectionSubmit;

impl Function for OnAttributeCollectionSubmit {
    fn name(&self) -> &'static str {
        "OnAttributeCollectionSubmit"
    }

    fn caller(&self) -> Caller {
        Caller::AuthenticationEvents
    }

    fn entra_event(&self) -> Option<&'static EventTypes> {
        Some(Event::Submit.types())
    }

    fn answer<'a>(
        &'a self,
        body: &'a [u8],
        shared: &'a Shared,
        invocation: &'a Invocation,
    ) -> BoxFuture<'a, Answer> {
        Box::pin(answer(Event::Submit, self.name(), body, shared, invocation))
    }
}
