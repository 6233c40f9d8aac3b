//! Upstream calls: rendering a binding into an HTTP request, and the
//! per-upstream client that sends it.

pub mod cache;
mod client;
pub mod guard;
pub(crate) mod inflight;
mod request;

pub use client::{CacheStatus, Fetched, Upstream};
pub(crate) use request::pluck;
pub use request::{Inputs, UpstreamRequest, render};
