//! What a call's timeline record says of its result.

use crate::error::FieldError;
use crate::telemetry::timeline::{CacheUse, CallOutcome};
use crate::upstream::{CacheStatus, Fetched};

/// What a call's record says of its result: outcome, status, attempts and
/// where the value came from.
pub(crate) fn call_facts(
    result: &Result<Fetched, FieldError>,
) -> (CallOutcome, Option<u16>, u32, CacheUse) {
    match result {
        Ok(fetched) => (
            CallOutcome::Ok,
            fetched.status,
            fetched.attempts,
            cache_use(fetched),
        ),
        Err(e) => (
            CallOutcome::Failed(e.code),
            e.status,
            e.attempts,
            CacheUse::Bypass,
        ),
    }
}

fn cache_use(fetched: &Fetched) -> CacheUse {
    match fetched.cache {
        _ if fetched.shared => CacheUse::Shared,
        CacheStatus::Bypass => CacheUse::Bypass,
        CacheStatus::Miss => CacheUse::Miss,
        CacheStatus::Hit => CacheUse::Hit,
        CacheStatus::Stale(_) => CacheUse::Stale,
    }
}
