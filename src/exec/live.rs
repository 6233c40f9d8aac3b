//! A subscription's root field: its plan, made once from the selection,
//! and its feed (`upstream::live`); each event the feed sends is shaped
//! for the selection with its bound children started, under a state of
//! its own (a fresh budget, dedupe and error list), as if it were the
//! answer of a root field's call.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::data::Data;
use super::plan::Plan;
use super::registry::CompiledField;
use super::state::{CancelOnDrop, RequestState};
use crate::config::{FieldSource, Overflow};
use crate::error::{ErrorCode, FieldError};
use crate::upstream::live::{FeedEvent, Next, Subscriber};

/// One subscription's root field, subscribed to its feed.
pub(crate) struct LiveField {
    plan: Arc<Plan>,
    subscriber: Subscriber,
    overflow: Overflow,
    /// Aborts what is left of the previous event's calls.
    current: Option<CancelOnDrop>,
    /// A supergraph's subscription: each event runs the rest of its plan.
    federated: Option<crate::federation::live::Live>,
}

impl LiveField {
    /// Plans `field` from `selection` and joins its feed (starting it when
    /// no other subscriber of the same request has).
    pub(crate) fn subscribe(
        state: &Arc<RequestState>,
        field: Arc<CompiledField>,
        args: Map<String, Value>,
        selection: async_graphql::SelectionField<'_>,
        overflow: Overflow,
    ) -> Result<LiveField, FieldError> {
        let key = selection.alias().unwrap_or(selection.name()).to_owned();
        let plan = Arc::new(Plan::new(&state.registry, field, key, args, selection));
        if matches!(plan.field.def.source, FieldSource::Federated) {
            let (live, subscriber) = crate::federation::live::subscribe(state, &plan)?;
            return Ok(LiveField {
                plan,
                subscriber,
                overflow,
                current: None,
                federated: Some(live),
            });
        }
        let (FieldSource::Rest(binding), Some(upstream), Some(spec)) = (
            &plan.field.def.source,
            &plan.field.upstream,
            &plan.field.call,
        ) else {
            return Err(internal(&plan));
        };
        let Some(live) = &binding.live else {
            return Err(internal(&plan));
        };
        let Some(request) = super::resolve::root_request(state, &plan)? else {
            return Err(FieldError::new(
                ErrorCode::BadUserInput,
                format!(
                    "`{}`: an argument its upstream path needs is missing or empty",
                    plan.field.def.coordinate
                ),
            ));
        };
        let subscriber =
            state
                .registry
                .feeds
                .subscribe(upstream, request, spec, live, &binding.select);
        Ok(LiveField {
            plan,
            subscriber,
            overflow,
            current: None,
            federated: None,
        })
    }

    /// The field's coordinate and upstream, for metrics.
    pub(crate) fn labels(&self) -> (&str, &str) {
        (
            &self.plan.field.def.coordinate,
            &self.subscriber.feed().upstream,
        )
    }

    /// The next event, shaped, and the state its fields resolve under;
    /// `Err` ends the subscription; `None`: the feed ended.
    pub(crate) async fn next(
        &mut self,
        subscription: &Arc<RequestState>,
    ) -> Option<Result<(Data, u64), FieldError>> {
        let mut dropped = 0;
        loop {
            match self.subscriber.next().await? {
                Next::Lagged(n) => match self.overflow {
                    Overflow::DropOldest => dropped += n,
                    Overflow::Close => {
                        return Some(Err(FieldError::new(
                            ErrorCode::OperationLimitExceeded,
                            format!(
                                "this subscription fell {n} events behind `{}` and was closed (overflow: CLOSE); read faster or subscribe again",
                                self.plan.field.def.coordinate
                            ),
                        )));
                    }
                },
                Next::Event(FeedEvent::Ended(error)) => return Some(Err(error)),
                Next::Event(FeedEvent::Completed) => return None,
                Next::Event(FeedEvent::Value(json)) => {
                    let (event, json) = match &self.federated {
                        Some(live) => match live.event(subscription, &self.plan, json).await {
                            Ok(done) => done,
                            Err(error) => return Some(Err(error)),
                        },
                        None => (subscription.event(), super::view::View::root(json)),
                    };
                    self.current = Some(CancelOnDrop(event.clone()));
                    let data = super::resolve::shape_event(&event, &self.plan, json);
                    return Some(Ok((data, dropped)));
                }
            }
        }
    }
}

fn internal(plan: &Plan) -> FieldError {
    FieldError::new(
        ErrorCode::InternalError,
        format!(
            "`{}` is not a live field of an upstream",
            plan.field.def.coordinate
        ),
    )
}
