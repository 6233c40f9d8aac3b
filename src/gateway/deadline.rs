//! The request's deadline (`@server(requestTimeout:, deadlineHeader:)`):
//! fixed when the request arrives and carried into every upstream call it
//! makes, so a dependent stage that starts late gets only what remains.

use std::time::{Duration, Instant};

use http::HeaderMap;

use super::Gateway;

impl Gateway {
    /// The request's deadline: `requestTimeout` from when it arrived, or
    /// sooner when the client's deadline header asks (never later).
    pub(super) fn deadline(
        &self,
        headers: &HeaderMap,
        started: Instant,
    ) -> Option<crate::upstream::Deadline> {
        let configured = self.settings.request_timeout;
        // The client may shorten it, in the operator's header.
        let asked = self.settings.deadline_header.as_ref().and_then(|name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_millis)
        });
        let budget = match (configured, asked) {
            (Some(c), Some(a)) => c.min(a),
            (Some(c), None) => c,
            (None, Some(a)) => a.min(self.settings.max_request_time),
            (None, None) => return None,
        };
        Some(crate::upstream::Deadline {
            at: started + budget,
            header: self.settings.deadline_header.clone(),
        })
    }
}
