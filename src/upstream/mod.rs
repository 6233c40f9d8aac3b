//! Upstream calls: a rendered request and the compiled spec of its binding's
//! calls go in; the per-upstream client (cache, single-flight, guards,
//! transport) sends them. Nothing here knows GraphQL.

pub mod cache;
mod client;
pub mod guard;
pub(crate) mod inflight;
pub mod live;
mod projection;
mod request;
mod spec;

pub use client::{CacheStatus, Fetched, Upstream};
pub(crate) use projection::Mask;
pub use request::{Deadline, UpstreamRequest};
pub use spec::CallSpec;
