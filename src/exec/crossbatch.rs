//! What the cross-request windows share (`exec::resolve::window` for REST
//! bindings, `federation::execute::window` for subgraph entities): keys
//! grouped by the request they render without the batched values, one
//! call per `maxSize` keys of a group, the latest deadline, and what each
//! request's timeline says of a call it shared.

// Keys hold their group, whose request state has interior mutability;
// equality and hashing read only the group's identity bytes and the key's
// text, which never change.
#![allow(clippy::mutable_key_type)]

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures_util::future::join_all;
use futures_util::task::{FutureObj, Spawn, SpawnError};
use serde_json::Value;

use crate::error::{ErrorCode, FieldError};
use crate::telemetry::timeline::{CacheUse, CallOutcome};
use crate::upstream::{Deadline, UpstreamRequest};

/// Spawns the loader's batches on the runtime of the request that started
/// them (there always is one: keys are loaded only while executing).
pub(crate) struct Spawner;

impl Spawn for Spawner {
    fn spawn_obj(&self, future: FutureObj<'static, ()>) -> Result<(), SpawnError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| SpawnError::shutdown())?;
        handle.spawn(future);
        Ok(())
    }
}

/// A group's identity: the bytes of the request rendered without the
/// batched keys (hashed once).
pub(crate) struct GroupId {
    identity: Vec<u8>,
    hash: u64,
}

impl GroupId {
    pub(crate) fn of(request: &UpstreamRequest) -> GroupId {
        let identity = request.identity();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        identity.hash(&mut hasher);
        GroupId {
            hash: hasher.finish(),
            identity,
        }
    }

    pub(crate) fn same(&self, other: &GroupId) -> bool {
        std::ptr::eq(self, other) || (self.hash == other.hash && self.identity == other.identity)
    }

    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }
}

/// What a key's group tells: its identity.
pub(crate) trait Grouped: Send + Sync + 'static {
    fn id(&self) -> &GroupId;
}

/// One key of one request: its group, its text (what makes it equal to
/// another key of the group), its value as sent, and the request's deadline
/// (not part of what makes keys equal). Equal keys of a group load once.
pub(crate) struct Key<G> {
    pub(crate) group: Arc<G>,
    pub(crate) text: Arc<str>,
    pub(crate) value: Value,
    pub(crate) deadline: Option<Deadline>,
}

impl<G> Clone for Key<G> {
    fn clone(&self) -> Self {
        Key {
            group: self.group.clone(),
            text: self.text.clone(),
            value: self.value.clone(),
            deadline: self.deadline.clone(),
        }
    }
}

impl<G: Grouped> PartialEq for Key<G> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text && self.group.id().same(other.group.id())
    }
}

impl<G: Grouped> Eq for Key<G> {}

impl<G: Grouped> Hash for Key<G> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.group.id().hash().hash(state);
        self.text.hash(state);
    }
}

/// `keys` by group, in first-seen order.
pub(crate) fn by_group<G: Grouped>(keys: &[Key<G>]) -> Vec<Vec<&Key<G>>> {
    let mut groups: Vec<Vec<&Key<G>>> = Vec::new();
    for key in keys {
        match groups
            .iter_mut()
            .find(|g| g[0].group.id().same(key.group.id()))
        {
            Some(group) => group.push(key),
            None => groups.push(vec![key]),
        }
    }
    groups
}

/// How many client requests `keys` came from: each request makes its own
/// group value, so distinct allocations are distinct requests.
pub(crate) fn requests<G>(keys: &[&Key<G>]) -> usize {
    let mut seen: Vec<usize> = keys
        .iter()
        .map(|k| Arc::as_ptr(&k.group) as usize)
        .collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

/// A loader's batch: the keys by group, in first-seen order, and a `call`
/// per `max_size` keys of a group, all at once.
pub(crate) async fn load_grouped<'k, G, V, Fut>(
    keys: &'k [Key<G>],
    max_size: usize,
    call: impl Fn(Vec<&'k Key<G>>) -> Fut,
) -> HashMap<Key<G>, V>
where
    G: Grouped,
    Fut: std::future::Future<Output = Vec<(Key<G>, V)>>,
{
    let groups = by_group(keys);
    let calls = groups
        .iter()
        .flat_map(|group| group.chunks(max_size))
        .map(|chunk| call(chunk.to_vec()));
    let mut out = HashMap::with_capacity(keys.len());
    for answered in join_all(calls).await {
        out.extend(answered);
    }
    out
}

/// The latest of the keys' deadlines, or none if some key has none: a
/// call shared by several requests lasts as long as the last may wait.
pub(crate) fn latest<'a>(
    deadlines: impl IntoIterator<Item = &'a Option<Deadline>>,
) -> Option<Deadline> {
    let mut latest: Option<&Deadline> = None;
    for deadline in deadlines {
        let deadline = deadline.as_ref()?;
        if latest.is_none_or(|l| deadline.at > l.at) {
            latest = Some(deadline);
        }
    }
    latest.cloned()
}

/// What a shared call's record says, as each request that had keys in it
/// sees it.
pub(crate) struct SharedFacts {
    pub(crate) outcome: CallOutcome,
    pub(crate) status: Option<u16>,
    pub(crate) attempts: u32,
    pub(crate) cache: CacheUse,
    /// How many client requests had keys in it.
    pub(crate) requests: usize,
}

impl SharedFacts {
    pub(crate) fn of(
        result: &Result<crate::upstream::Fetched, FieldError>,
        requests: usize,
    ) -> SharedFacts {
        let (outcome, status, attempts, cache) = crate::exec::call_facts(result);
        SharedFacts {
            outcome,
            status,
            attempts,
            cache,
            requests,
        }
    }

    /// Outcome, status, attempts and cache use for a request's record
    /// (`None`: its deadline passed before the call answered); a call other
    /// requests' keys went in is `shared`.
    pub(crate) fn seen(facts: Option<&SharedFacts>) -> (CallOutcome, Option<u16>, u32, CacheUse) {
        match facts {
            Some(f) => (
                f.outcome,
                f.status,
                f.attempts,
                if f.requests > 1 {
                    CacheUse::Shared
                } else {
                    f.cache
                },
            ),
            None => (
                CallOutcome::Failed(ErrorCode::UpstreamTimeout),
                None,
                0,
                CacheUse::Bypass,
            ),
        }
    }
}

/// Waits for `load` until `deadline` at the latest (`None`: it passed).
pub(crate) async fn within_deadline<T, E>(
    deadline: Option<&Deadline>,
    load: impl std::future::Future<Output = Result<T, E>>,
) -> Option<T> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline.at.into(), load)
            .await
            .ok()
            .and_then(Result::ok),
        None => load.await.ok(),
    }
}
