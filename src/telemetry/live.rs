//! Subscription metrics: active subscriptions, events delivered and
//! events dropped for slow clients, per field and upstream, and the open
//! WebSocket connections and SSE streams. Each subscription resolves its
//! counters once ([`LiveFamilies::counters`]), so an event costs two atomic
//! adds.

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

/// The metric families, registered once.
#[derive(Debug, Default)]
pub struct LiveFamilies {
    active: Family<LiveLabels, Gauge>,
    events: Family<LiveLabels, Counter>,
    dropped: Family<LiveLabels, Counter>,
    connections: Family<TransportLabel, Gauge>,
}

/// One subscription's counters.
#[derive(Debug, Clone)]
pub struct LiveCounters {
    pub active: Gauge,
    pub events: Counter,
    pub dropped: Counter,
}

impl LiveFamilies {
    pub(super) fn register(registry: &mut Registry) -> LiveFamilies {
        let families = LiveFamilies::default();
        registry.register(
            "tributary_subscriptions_active",
            "Subscriptions open now, by field and upstream",
            families.active.clone(),
        );
        registry.register(
            "tributary_subscription_events",
            "Events delivered to subscribers, by field and upstream (rate() gives events per second)",
            families.events.clone(),
        );
        registry.register(
            "tributary_subscription_events_dropped",
            "Events a slow subscriber lost when its buffer was full (overflow: DROP_OLDEST)",
            families.dropped.clone(),
        );
        registry.register(
            "tributary_subscription_connections",
            "Open subscription transports: WebSocket connections and SSE streams",
            families.connections.clone(),
        );
        families
    }

    /// The counters of a subscription of `field` fed by `upstream`.
    pub fn counters(&self, field: &str, upstream: &str) -> LiveCounters {
        let labels = LiveLabels {
            field: field.to_owned(),
            upstream: upstream.to_owned(),
        };
        LiveCounters {
            active: self.active.get_or_create_owned(&labels),
            events: self.events.get_or_create_owned(&labels),
            dropped: self.dropped.get_or_create_owned(&labels),
        }
    }

    /// The gauge of open `transport` (`websocket`, `sse`) connections.
    pub fn connections(&self, transport: &str) -> Gauge {
        self.connections.get_or_create_owned(&TransportLabel {
            transport: transport.to_owned(),
        })
    }
}
