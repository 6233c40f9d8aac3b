//! Subscription metrics: client subscriptions open, responses delivered
//! and dropped for slow clients (per root field), upstream events executed
//! (per field and upstream), and the open WebSocket connections and SSE
//! streams. Each subscription resolves its counters once, so an event costs
//! an atomic add or two.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LiveLabels {
    field: String,
    upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabel {
    transport: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FieldLabel {
    field: String,
}

/// The metric families, registered once.
#[derive(Debug, Default)]
pub struct LiveFamilies {
    active: Family<FieldLabel, Gauge>,
    delivered: Family<FieldLabel, Counter>,
    dropped: Family<FieldLabel, Counter>,
    events: Family<LiveLabels, Counter>,
    connections: Family<TransportLabel, Gauge>,
}

/// The counters of one subscriber (a client's subscription).
#[derive(Debug, Clone)]
pub struct SubscriberCounters {
    pub active: Gauge,
    pub delivered: Counter,
    pub dropped: Counter,
}

impl LiveFamilies {
    pub(super) fn register(registry: &mut Registry) -> LiveFamilies {
        let families = LiveFamilies::default();
        registry.register(
            "tributary_subscriptions_active",
            "Client subscriptions open now, by root field",
            families.active.clone(),
        );
        registry.register(
            "tributary_subscription_deliveries",
            "Responses delivered to client subscriptions, by root field (rate() gives events per second)",
            families.delivered.clone(),
        );
        registry.register(
            "tributary_subscription_events_dropped",
            "Responses a slow client subscription lost when its buffer was full",
            families.dropped.clone(),
        );
        registry.register(
            "tributary_subscription_events",
            "Upstream events executed, by field and upstream: once per event for every group of identical subscriptions",
            families.events.clone(),
        );
        registry.register(
            "tributary_subscription_connections",
            "Open subscription transports: WebSocket connections and SSE streams",
            families.connections.clone(),
        );
        families
    }

    /// The counter of upstream events of `field` from `upstream`.
    pub fn events(&self, field: &str, upstream: &str) -> Counter {
        self.events.get_or_create_owned(&LiveLabels {
            field: field.to_owned(),
            upstream: upstream.to_owned(),
        })
    }

    /// The counters of a client subscription of the root field `field`.
    pub fn subscriber(&self, field: &str) -> SubscriberCounters {
        let label = FieldLabel {
            field: field.to_owned(),
        };
        SubscriberCounters {
            active: self.active.get_or_create_owned(&label),
            delivered: self.delivered.get_or_create_owned(&label),
            dropped: self.dropped.get_or_create_owned(&label),
        }
    }

    /// The gauge of open `transport` (`websocket`, `sse`) connections.
    pub fn connections(&self, transport: &str) -> Gauge {
        self.connections.get_or_create_owned(&TransportLabel {
            transport: transport.to_owned(),
        })
    }
}
