//! The subscription root type: each field's resolver joins its feed
//! (`exec::live`) and turns every event into the field's value; the engine
//! then resolves the selection below it, event by event, with the event's
//! own request state (handed over by the null propagation extension).

use std::sync::Arc;

use async_graphql::dynamic::{
    FieldValue, InputValue, ResolverContext, Subscription, SubscriptionField,
    SubscriptionFieldFuture,
};

use super::resolver::to_field_value;
use crate::config::Overflow;
use crate::error::{ErrorCode, FieldError};
use crate::exec::live::LiveField;
use crate::exec::{CompiledField, RequestState};

impl super::OutputType for Subscription {
    type Field = SubscriptionField;
    fn description(self, text: &str) -> Self {
        Subscription::description(self, text)
    }
    /// The loader refuses `implements` on the subscription type.
    fn implement(self, _interface: &str) -> Self {
        self
    }
    fn field(self, field: SubscriptionField) -> Self {
        Subscription::field(self, field)
    }
}

impl super::OutputField for SubscriptionField {
    fn deprecation(self, reason: Option<&str>) -> Self {
        SubscriptionField::deprecation(self, reason)
    }
    fn description(self, text: &str) -> Self {
        SubscriptionField::description(self, text)
    }
    fn argument(self, arg: InputValue) -> Self {
        SubscriptionField::argument(self, arg)
    }
}

/// The resolver of the live field `field`.
pub(super) fn resolver(
    field: Arc<CompiledField>,
    overflow: Overflow,
) -> impl for<'a> Fn(ResolverContext<'a>) -> SubscriptionFieldFuture<'a> + Send + Sync + 'static {
    move |rc| {
        let field = field.clone();
        SubscriptionFieldFuture::new(async move {
            let state = rc
                .ctx
                .data::<Arc<RequestState>>()
                .map_err(|_| {
                    FieldError::new(ErrorCode::InternalError, "request state missing")
                        .into_graphql()
                })?
                .clone();
            let args = super::resolver::arguments(&rc);
            let live = LiveField::subscribe(&state, field.clone(), args, rc.ctx.field(), overflow)
                .map_err(FieldError::into_graphql)?;
            let (coordinate, upstream) = live.labels();
            let watch = Watch {
                events: state.metrics.live.events(coordinate, upstream),
                state: state.clone(),
            };
            Ok(futures_util::stream::unfold(
                (live, watch, field),
                |(mut live, watch, field)| async move {
                    let value = match live.next(&watch.state).await? {
                        Err(error) => Err(error.into_graphql()),
                        Ok((data, dropped)) => {
                            watch.events.inc();
                            // A span event of the subscription (not a log line).
                            tracing::info!(
                                target: crate::telemetry::otel::SPAN_TARGET,
                                parent: &watch.state.span,
                                dropped,
                                "event"
                            );
                            to_field_value(&field, &field.def.ty, &data)
                                .map(|value| value.unwrap_or(FieldValue::NULL))
                                .map_err(FieldError::into_graphql)
                        }
                    };
                    Some((value, (live, watch, field)))
                },
            ))
        })
    }
}

/// What the stream of one execution keeps.
struct Watch {
    state: Arc<RequestState>,
    events: prometheus_client::metrics::counter::Counter,
}
