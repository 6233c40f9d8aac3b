//! `@poll(every:)` and `@stream(idleTimeout:)` on a field of the
//! subscription type: how its `@rest` call becomes a stream of events.

use std::time::Duration;

use async_graphql::Positioned;
use async_graphql::parser::types::ConstDirective;

use super::Loader;
use crate::config::directives::DirectiveArgs;
use crate::config::{Live, policy, vocabulary};

/// A stream with no event and no heartbeat for this long is reconnected.
const DEFAULT_IDLE: Duration = Duration::from_secs(30);

/// Polling faster than this would be a load test, not a subscription.
const MIN_POLL: Duration = Duration::from_millis(100);

impl Loader<'_> {
    /// The live mode of `coordinate`; `None` off the subscription type
    /// (with a diagnostic for a directive that does not belong there).
    pub(super) fn live(
        &mut self,
        coordinate: &str,
        subscription: bool,
        poll: Option<&Positioned<ConstDirective>>,
        stream: Option<&Positioned<ConstDirective>>,
    ) -> Option<Live> {
        if !subscription {
            for d in poll.iter().chain(stream.iter()) {
                self.error(
                    d.pos,
                    format!(
                        "@{} on `{coordinate}`: only fields of the subscription type are live",
                        d.node.name.node
                    ),
                );
            }
            return None;
        }
        if let (Some(_), Some(s)) = (poll, stream) {
            self.error(
                s.pos,
                format!("`{coordinate}` has @poll and @stream; a live field is polled or streamed, not both"),
            );
        }
        if let Some(p) = poll {
            let args = DirectiveArgs::new(p, &vocabulary::arg_names("poll"), &mut self.diags);
            let Some(value) = args.get("every") else {
                self.error(
                    p.pos,
                    format!("@poll on `{coordinate}` needs `every`, e.g. @poll(every: \"5s\")"),
                );
                return Some(Live::Poll { every: MIN_POLL });
            };
            let every = policy::duration("every", &value.node, value.pos, &mut self.diags)
                .unwrap_or(MIN_POLL);
            if every < MIN_POLL {
                self.error(
                    value.pos,
                    format!("`every` on @poll of `{coordinate}` must be at least 100ms"),
                );
            }
            return Some(Live::Poll { every });
        }
        let mut idle_timeout = DEFAULT_IDLE;
        if let Some(s) = stream {
            let args = DirectiveArgs::new(s, &vocabulary::arg_names("stream"), &mut self.diags);
            if let Some(value) = args.get("idleTimeout")
                && let Some(d) =
                    policy::duration("idleTimeout", &value.node, value.pos, &mut self.diags)
            {
                if d.is_zero() {
                    self.error(
                        value.pos,
                        format!("`idleTimeout` on @stream of `{coordinate}` must be longer than 0"),
                    );
                } else {
                    idle_timeout = d;
                }
            }
        }
        Some(Live::Stream { idle_timeout })
    }
}
