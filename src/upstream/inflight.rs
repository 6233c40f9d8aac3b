//! The one single-flight primitive: concurrent callers with the same key
//! share one call. Two lifetimes, chosen when the map is made:
//!
//! - [`Inflight::detached`]: across requests (cache misses, `dedupe: true`,
//!   whole-operation coalescing). The call runs as its own task, so it
//!   finishes, and leaves the map, even when every caller has gone away.
//! - [`Inflight::memo`]: within one operation. The call runs in its callers'
//!   futures (cancelled with the request) and its result is kept for the
//!   operation's lifetime, so a later identical request is answered by it.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tracing::Instrument;

use crate::error::{ErrorCode, FieldError};

type Call<T> = Shared<BoxFuture<'static, Result<T, FieldError>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifetime {
    Detached,
    Memo,
}

pub(crate) struct Inflight<K, T> {
    calls: Arc<Mutex<HashMap<K, Call<T>>>>,
    lifetime: Lifetime,
}

impl<K, T> std::fmt::Debug for Inflight<K, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Inflight({:?})", self.lifetime)
    }
}

impl<K, T> Inflight<K, T>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// Calls run as tasks of their own and are forgotten when they finish.
    pub(crate) fn detached() -> Self {
        Inflight {
            calls: Arc::default(),
            lifetime: Lifetime::Detached,
        }
    }

    /// Calls run in their callers and their results are kept.
    pub(crate) fn memo() -> Self {
        Inflight {
            calls: Arc::default(),
            lifetime: Lifetime::Memo,
        }
    }

    /// Joins the call for `key`, or starts `call` as it.
    /// Returns whether this caller joined another's call.
    pub(crate) async fn run<F>(&self, key: K, call: F) -> (Result<T, FieldError>, bool)
    where
        F: Future<Output = Result<T, FieldError>> + Send + 'static,
    {
        match self.join_or_start(key, || Ok(call)) {
            Ok((shared, joined)) => (shared.await, joined),
            Err(e) => (Err(e), false),
        }
    }

    /// Like [`Inflight::run`], but the call is made by `start` only when no
    /// identical one exists, and `start` may refuse (a spent budget) without
    /// leaving anything in the map.
    pub(crate) async fn run_with<F>(
        &self,
        key: K,
        start: impl FnOnce() -> Result<F, FieldError>,
    ) -> Result<T, FieldError>
    where
        F: Future<Output = Result<T, FieldError>> + Send + 'static,
    {
        let (shared, _) = self.join_or_start(key, start)?;
        shared.await
    }

    fn join_or_start<F>(
        &self,
        key: K,
        start: impl FnOnce() -> Result<F, FieldError>,
    ) -> Result<(Call<T>, bool), FieldError>
    where
        F: Future<Output = Result<T, FieldError>> + Send + 'static,
    {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = calls.get(&key) {
            return Ok((shared.clone(), true));
        }
        let call = start()?;
        let shared = match self.lifetime {
            Lifetime::Memo => call.boxed().shared(),
            Lifetime::Detached => {
                let map = self.calls.clone();
                let owned = key.clone();
                // In the caller's span, so the call's spans keep their parent
                // (and its trace) across the task boundary.
                let task = tokio::spawn(Box::pin(
                    async move {
                        let result = call.await;
                        map.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .remove(&owned);
                        result
                    }
                    .instrument(if crate::telemetry::otel::enabled() {
                        tracing::Span::current()
                    } else {
                        tracing::Span::none()
                    }),
                ));
                task.map(|joined| {
                    joined.unwrap_or_else(|e| {
                        Err(FieldError::new(
                            ErrorCode::InternalError,
                            format!("upstream call task failed: {e}"),
                        ))
                    })
                })
                .boxed()
                .shared()
            }
        };
        calls.insert(key, shared.clone());
        Ok((shared, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counted(calls: &Arc<AtomicUsize>) -> impl Future<Output = Result<u32, FieldError>> + use<> {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Ok(7)
        }
    }

    #[tokio::test]
    async fn detached_calls_are_shared_while_in_flight_then_forgotten() {
        let flights: Inflight<u8, u32> = Inflight::detached();
        let made = Arc::new(AtomicUsize::new(0));
        let (a, b) = tokio::join!(
            flights.run(1, counted(&made)),
            flights.run(1, counted(&made))
        );
        assert_eq!((a.0.ok(), b.0.ok()), (Some(7), Some(7)));
        assert!(a.1 != b.1, "one started, one joined");
        assert_eq!(made.load(Ordering::SeqCst), 1);
        let _ = flights.run(1, counted(&made)).await;
        assert_eq!(
            made.load(Ordering::SeqCst),
            2,
            "a finished call is not kept"
        );
    }

    #[tokio::test]
    async fn memo_calls_are_kept_and_a_refused_start_leaves_nothing() {
        let flights: Inflight<u8, u32> = Inflight::memo();
        let made = Arc::new(AtomicUsize::new(0));
        let refused = flights
            .run_with(1, || {
                Err::<std::future::Ready<_>, _>(FieldError::new(ErrorCode::InternalError, "no"))
            })
            .await;
        assert!(refused.is_err());
        assert_eq!(
            flights.run_with(1, || Ok(counted(&made))).await.ok(),
            Some(7)
        );
        assert_eq!(
            flights.run_with(1, || Ok(counted(&made))).await.ok(),
            Some(7)
        );
        assert_eq!(made.load(Ordering::SeqCst), 1, "the result is kept");
    }
}
