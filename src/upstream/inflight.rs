//! Cross-request single-flight: concurrent identical calls to one upstream
//! share one call. Used for cache misses (so a popular key expiring sends one
//! request, not hundreds) and for `dedupe: true` upstreams.
//!
//! The shared call runs as its own task, so it finishes (and leaves the map)
//! even when every request that waited for it has gone away.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tracing::Instrument;

use super::cache::CacheKey;
use crate::error::{ErrorCode, FieldError};

type Call<T> = Shared<BoxFuture<'static, Result<T, FieldError>>>;

pub(crate) struct Inflight<T> {
    calls: Arc<Mutex<HashMap<CacheKey, Call<T>>>>,
}

impl<T> Default for Inflight<T> {
    fn default() -> Self {
        Inflight {
            calls: Arc::default(),
        }
    }
}

impl<T> std::fmt::Debug for Inflight<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inflight")
    }
}

impl<T: Clone + Send + Sync + 'static> Inflight<T> {
    /// Joins the call under way for `key`, or starts `call` as it.
    /// Returns whether this caller joined another's call.
    pub(crate) async fn run<F>(&self, key: CacheKey, call: F) -> (Result<T, FieldError>, bool)
    where
        F: Future<Output = Result<T, FieldError>> + Send + 'static,
    {
        let (shared, joined) = {
            let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
            match calls.get(&key) {
                Some(shared) => (shared.clone(), true),
                None => {
                    let map = self.calls.clone();
                    // In the caller's span, so the call's spans keep their
                    // parent (and its trace) across the task boundary.
                    let task = tokio::spawn(Box::pin(
                        async move {
                            let result = call.await;
                            map.lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .remove(&key);
                            result
                        }
                        .instrument(if crate::telemetry::otel::enabled() {
                            tracing::Span::current()
                        } else {
                            tracing::Span::none()
                        }),
                    ));
                    let shared = task
                        .map(|joined| {
                            joined.unwrap_or_else(|e| {
                                Err(FieldError::new(
                                    ErrorCode::InternalError,
                                    format!("upstream call task failed: {e}"),
                                ))
                            })
                        })
                        .boxed()
                        .shared();
                    calls.insert(key, shared.clone());
                    (shared, false)
                }
            }
        };
        (shared.await, joined)
    }
}
