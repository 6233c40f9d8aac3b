//! Identical subscriptions share one execution. Subscribers of the same
//! document, operation and variables, with the same values of every inbound
//! header a binding reads (credentials included), would get the same
//! responses: the first one's execution becomes a group, each event is
//! executed once and its response goes to every member. A member that
//! falls `buffer` responses behind loses the oldest (or, with
//! `overflow: CLOSE`, is ended). The last member to leave ends the
//! execution, and with it the upstream feed it reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use async_graphql::Response;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use crate::config::Overflow;
use crate::error::{ErrorCode, FieldError};
use crate::telemetry::live::SubscriberCounters;

type GroupMap = Mutex<HashMap<u128, Weak<Group>>>;

/// Every group of one gateway.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    map: Arc<GroupMap>,
}

/// One shared execution.
#[derive(Debug)]
struct Group {
    /// `None` ends the group: its execution finished.
    tx: broadcast::Sender<Option<Arc<Response>>>,
    ended: std::sync::atomic::AtomicBool,
    /// The latest response, for a member that joins a polled field's group
    /// (a poll sends only changes; a new member needs the current value).
    last: Mutex<Option<Arc<Response>>>,
    replay: bool,
    task: AbortHandle,
    key: u128,
    map: Weak<GroupMap>,
}

impl Drop for Group {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(map) = self.map.upgrade() {
            let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
            if map.get(&self.key).is_some_and(|w| w.strong_count() == 0) {
                map.remove(&self.key);
            }
        }
    }
}

/// How a member reads its group.
pub(crate) struct Membership {
    pub(crate) buffer: usize,
    pub(crate) overflow: Overflow,
    /// Replay the latest response to a new member (polled fields).
    pub(crate) replay: bool,
    pub(crate) counters: SubscriberCounters,
}

impl Groups {
    /// The responses of the group `key`, started with `start` when there
    /// is none. The map is locked only to look up or insert.
    pub(crate) fn join(
        &self,
        key: u128,
        membership: Membership,
        start: impl FnOnce() -> BoxStream<'static, Response>,
    ) -> BoxStream<'static, Response> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        // An ended group found here is dropped only after the lock is given
        // back: if it was the last reference, its `Drop` takes the lock.
        let mut ended = None;
        let mut alive = None;
        if let Some(group) = map.get(&key).and_then(Weak::upgrade) {
            // Subscribed before `ended` and `last` are read: a group that
            // ends (or answers) after this sends that to this receiver too.
            let rx = group.tx.subscribe();
            if group.ended.load(std::sync::atomic::Ordering::Acquire) {
                ended = Some(group);
            } else {
                alive = Some((group, rx));
            }
        }
        let (group, rx, first) = match alive {
            Some((group, rx)) => {
                let first = if group.replay {
                    group
                        .last
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone()
                } else {
                    None
                };
                (group, rx, first)
            }
            None => {
                // The first member's receiver exists before the execution
                // starts, so its first response has somewhere to go.
                let (tx, rx) = broadcast::channel(membership.buffer.max(1));
                let group = Arc::new_cyclic(|weak: &Weak<Group>| {
                    let task = tokio::spawn(run(start(), tx.clone(), weak.clone()));
                    Group {
                        tx,
                        ended: std::sync::atomic::AtomicBool::new(false),
                        last: Mutex::default(),
                        replay: membership.replay,
                        task: task.abort_handle(),
                        key,
                        map: Arc::downgrade(&self.map),
                    }
                });
                map.insert(key, Arc::downgrade(&group));
                (group, rx, None)
            }
        };
        drop(map);
        drop(ended);
        membership.counters.active.inc();
        let member = Member {
            _group: group,
            rx,
            first,
            membership,
            done: false,
        };
        futures_util::stream::unfold(member, |mut member| async move {
            let response = member.next().await?;
            Some((response, member))
        })
        .boxed()
    }
}

/// Runs the group's execution, handing every response to the members.
async fn run(
    mut responses: BoxStream<'static, Response>,
    tx: broadcast::Sender<Option<Arc<Response>>>,
    group: Weak<Group>,
) {
    while let Some(response) = responses.next().await {
        let response = Arc::new(response);
        if let Some(group) = group.upgrade()
            && group.replay
        {
            *group.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(response.clone());
        }
        // No member: the group is being dropped, and this task with it.
        if tx.send(Some(response)).is_err() {
            break;
        }
    }
    if let Some(group) = group.upgrade() {
        group
            .ended
            .store(true, std::sync::atomic::Ordering::Release);
    }
    let _ = tx.send(None);
}

struct Member {
    /// Held: the group lives while a member does.
    _group: Arc<Group>,
    rx: broadcast::Receiver<Option<Arc<Response>>>,
    first: Option<Arc<Response>>,
    membership: Membership,
    done: bool,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.membership.counters.active.dec();
    }
}

impl Member {
    async fn next(&mut self) -> Option<Response> {
        if self.done {
            return None;
        }
        if let Some(first) = self.first.take() {
            self.membership.counters.delivered.inc();
            return Some(copy(&first));
        }
        loop {
            match self.rx.recv().await {
                Ok(Some(response)) => {
                    self.membership.counters.delivered.inc();
                    return Some(copy(&response));
                }
                Ok(None) => return None,
                Err(broadcast::error::RecvError::Lagged(n)) => match self.membership.overflow {
                    Overflow::DropOldest => {
                        self.membership.counters.dropped.inc_by(n);
                    }
                    Overflow::Close => {
                        self.done = true;
                        self.membership.counters.dropped.inc_by(n);
                        let error = FieldError::new(
                            ErrorCode::OperationLimitExceeded,
                            format!(
                                "this subscription fell {n} events behind and was closed (overflow: CLOSE); read faster or subscribe again"
                            ),
                        );
                        return Some(Response::from_errors(vec![
                            error
                                .into_graphql()
                                .into_server_error(async_graphql::Pos::default()),
                        ]));
                    }
                },
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// A member's own copy of a shared response.
fn copy(response: &Response) -> Response {
    let mut copy = Response::new(response.data.clone());
    copy.errors = response.errors.clone();
    copy.extensions = response.extensions.clone();
    copy
}
