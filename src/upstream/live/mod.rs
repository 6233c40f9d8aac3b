//! Live feeds: the upstream side of subscriptions. A feed is one upstream
//! event stream (or one polled call) and every subscriber of the same
//! rendered request shares it: the request's bytes (forwarded credentials
//! included) are the feed's key, so subscribers with different credentials
//! never share one. The feed's task starts with its first subscriber and is
//! aborted when the last one goes away. Nothing here knows GraphQL.
//!
//! Events go to subscribers through a broadcast channel of `buffer` events:
//! a subscriber that falls further behind loses the oldest (it is told how
//! many, and the subscription layer applies the `overflow` setting).

mod parse;
mod socket;
mod source;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use super::{CallSpec, Upstream, UpstreamRequest};
use crate::config::Live;
use crate::error::FieldError;

/// What a feed sends its subscribers.
#[derive(Debug, Clone)]
pub enum FeedEvent {
    /// One event: the field's value.
    Value(Arc<Value>),
    /// The upstream cannot be reached (the first connect or poll failed, or
    /// reconnecting gave up): the subscriptions end with this error.
    Ended(FieldError),
    /// The upstream completed the stream (a subgraph's `complete`): the
    /// subscriptions end without an error.
    Completed,
}

/// Where a feed's task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Connecting = 0,
    Open = 1,
    /// Reconnecting after a break, or polling again after a failed poll.
    Retrying = 2,
    Failed = 3,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Connecting => "connecting",
            Phase::Open => "open",
            Phase::Retrying => "retrying",
            Phase::Failed => "failed",
        }
    }
}

/// A feed's counters, shared by the feed and its task.
#[derive(Debug, Default)]
pub struct FeedStatus {
    phase: AtomicU8,
    events: AtomicU64,
    reconnects: AtomicU64,
    skipped: AtomicU64,
    /// A polled feed's latest value: what a new subscriber gets first.
    last: Mutex<Option<Arc<Value>>>,
}

impl FeedStatus {
    fn set(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            1 => Phase::Open,
            2 => Phase::Retrying,
            3 => Phase::Failed,
            _ => Phase::Connecting,
        }
    }

    fn delivered(&self, value: &Arc<Value>) {
        self.events.fetch_add(1, Ordering::Relaxed);
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(value.clone());
    }

    fn reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    fn skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// Events the upstream sent (a poll: changes seen).
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
}

type FeedMap = Mutex<HashMap<Vec<u8>, Weak<Feed>>>;

/// Every live feed of one schema.
#[derive(Debug)]
pub struct Feeds {
    map: Arc<FeedMap>,
    buffer: usize,
}

/// One shared upstream stream or poll.
#[derive(Debug)]
pub struct Feed {
    pub upstream: Arc<str>,
    /// The path template, for the status page.
    pub path: Arc<str>,
    /// `stream`, `poll` or `subscription` (a subgraph's, over a socket).
    pub mode: &'static str,
    pub started: Instant,
    pub status: Arc<FeedStatus>,
    tx: broadcast::Sender<FeedEvent>,
    task: AbortHandle,
    key: Vec<u8>,
    map: Weak<FeedMap>,
    polled: bool,
}

impl Drop for Feed {
    fn drop(&mut self) {
        // The last subscriber left: the upstream connection (or the poll)
        // stops with the task.
        self.task.abort();
        if let Some(map) = self.map.upgrade() {
            let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
            if map.get(&self.key).is_some_and(|w| w.strong_count() == 0) {
                map.remove(&self.key);
            }
        }
    }
}

impl Feed {
    /// Subscribers now.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// One subscriber's end of a feed; dropping it leaves the feed.
pub struct Subscriber {
    feed: Arc<Feed>,
    rx: broadcast::Receiver<FeedEvent>,
    /// A polled feed's current value, delivered first.
    first: Option<Arc<Value>>,
}

/// What a subscriber reads next.
#[derive(Debug)]
pub enum Next {
    Event(FeedEvent),
    /// The subscriber fell behind by this many events, which are gone.
    Lagged(u64),
}

impl Subscriber {
    /// The next event; `None` when the feed's task ended.
    pub async fn next(&mut self) -> Option<Next> {
        if let Some(value) = self.first.take() {
            return Some(Next::Event(FeedEvent::Value(value)));
        }
        match self.rx.recv().await {
            Ok(event) => Some(Next::Event(event)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(Next::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    pub fn feed(&self) -> &Arc<Feed> {
        &self.feed
    }
}

impl Default for Feeds {
    fn default() -> Self {
        Feeds::new(crate::config::SubscriptionSettings::default().buffer)
    }
}

impl Feeds {
    /// `buffer`: events kept per subscriber that reads slower than they come.
    pub fn new(buffer: usize) -> Feeds {
        Feeds {
            map: Arc::default(),
            buffer: buffer.max(1),
        }
    }

    /// Joins the feed of `request` on `upstream`, starting it if no one
    /// else is subscribed. The map is locked only to look up or insert.
    pub fn subscribe(
        &self,
        upstream: &Arc<Upstream>,
        request: UpstreamRequest,
        spec: &Arc<CallSpec>,
        live: &Live,
        select: &[String],
    ) -> Subscriber {
        let mut key = request.identity();
        key.extend_from_slice(upstream.name().as_bytes());
        let (mode, every) = match live {
            Live::Stream { idle_timeout } => ("stream", *idle_timeout),
            Live::Poll { every } => ("poll", *every),
        };
        key.extend_from_slice(mode.as_bytes());
        key.extend_from_slice(&every.as_nanos().to_le_bytes());
        // Fields that read other parts of the same answers are other feeds.
        for part in select {
            key.extend_from_slice(&(part.len() as u64).to_le_bytes());
            key.extend_from_slice(part.as_bytes());
        }
        let polled = matches!(live, Live::Poll { .. });
        let path = spec.path_template.clone();
        let live = live.clone();
        let select = select.to_vec();
        let label = upstream.label.clone();
        let (upstream, spec) = (upstream.clone(), spec.clone());
        self.join(key, label, mode, path, polled, move |tx, status| {
            let source = source::Source {
                upstream,
                request,
                spec,
                select,
                tx,
                status,
            };
            match live {
                Live::Stream { idle_timeout } => tokio::spawn(source.stream(idle_timeout)),
                Live::Poll { every } => tokio::spawn(source.poll(every)),
            }
            .abort_handle()
        })
    }

    /// Joins the subscription `request` (a GraphQL `subscribe` payload in
    /// its body) of the subgraph `upstream`, over `graphql-transport-ws`:
    /// one socket for every subscriber of the same document, variables and
    /// forwarded headers. `label` names it on the status page.
    pub fn subscribe_graphql(
        &self,
        upstream: &Arc<Upstream>,
        request: UpstreamRequest,
        spec: &Arc<CallSpec>,
        label: Arc<str>,
    ) -> Subscriber {
        let mut key = request.identity();
        key.extend_from_slice(upstream.name().as_bytes());
        key.extend_from_slice(b"graphql-transport-ws");
        let name = upstream.label.clone();
        let (upstream, spec) = (upstream.clone(), spec.clone());
        self.join(
            key,
            name,
            "subscription",
            label,
            false,
            move |tx, status| {
                let socket = socket::Socket {
                    upstream,
                    request,
                    spec,
                    tx,
                    status,
                };
                tokio::spawn(socket.run()).abort_handle()
            },
        )
    }

    /// The feed `key`, started with `start` when there is none (or the one
    /// there has ended). The map is locked only to look up or insert.
    fn join(
        &self,
        key: Vec<u8>,
        upstream: Arc<str>,
        mode: &'static str,
        path: Arc<str>,
        polled: bool,
        start: impl FnOnce(broadcast::Sender<FeedEvent>, Arc<FeedStatus>) -> AbortHandle,
    ) -> Subscriber {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        // An ended feed found here is dropped only after the lock is given
        // back: if it was the last reference, its `Drop` takes the lock.
        let mut ended = None;
        if let Some(feed) = map.get(&key).and_then(Weak::upgrade) {
            // Subscribed before its phase is read: a feed that ends after
            // this sends its end to this receiver too.
            let rx = feed.tx.subscribe();
            if feed.status.phase() != Phase::Failed {
                let first = if feed.polled {
                    feed.status
                        .last
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone()
                } else {
                    None
                };
                return Subscriber { feed, rx, first };
            }
            ended = Some(feed);
        }
        let (tx, rx) = broadcast::channel(self.buffer);
        let status = Arc::new(FeedStatus::default());
        let task = start(tx.clone(), status.clone());
        let feed = Arc::new(Feed {
            upstream,
            path,
            mode,
            started: Instant::now(),
            status,
            tx,
            task,
            key: key.clone(),
            map: Arc::downgrade(&self.map),
            polled,
        });
        map.insert(key, Arc::downgrade(&feed));
        drop(map);
        drop(ended);
        Subscriber {
            feed,
            rx,
            first: None,
        }
    }

    /// Every feed with a subscriber, for the status page and metrics.
    pub fn live(&self) -> Vec<Arc<Feed>> {
        let weak: Vec<Weak<Feed>> = self
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        // Upgraded after the lock is given back (a feed dropped here takes it).
        weak.iter().filter_map(Weak::upgrade).collect()
    }
}

/// How long ago a feed started, for the status page.
pub fn age(feed: &Feed) -> Duration {
    feed.started.elapsed()
}
