//! Upstream calls: rendering a binding into an HTTP request, the compiled
//! spec of a binding's calls, and the per-upstream client that sends them.

pub mod cache;
mod client;
pub mod guard;
pub(crate) mod inflight;
mod request;
mod spec;

pub use client::{CacheStatus, Fetched, Upstream};
pub(crate) use request::pluck;
pub use request::{Inputs, UpstreamRequest, render};
pub use spec::CallSpec;
