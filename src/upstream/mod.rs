//! Upstream calls: rendering a binding into an HTTP request, and the
//! per-upstream client that sends it.

mod client;
pub mod guard;
mod request;

pub use client::Upstream;
pub(crate) use request::pluck;
pub use request::{Inputs, UpstreamRequest, render};
