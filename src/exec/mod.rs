//! Plan and execute: the operation's selection set plus the schema's bindings
//! become a tree of upstream calls, each started the moment its inputs exist.
//!
//! async-graphql's dynamic schema resolves the fields of a nested object one
//! after another, so the engine cannot be the source of concurrency below the
//! root. Instead, when an object's JSON is known, `resolve::start_children`
//! spawns every bound child call at once (and, as each answers, its own
//! children), and the engine's resolvers only await results already on their
//! way. The engine keeps validation (of documents not seen valid before),
//! coercion into the response and error
//! placement.

pub(crate) mod crossbatch;
pub(crate) mod data;
mod inputs;
pub(crate) mod live;
pub(crate) mod plan;
pub(crate) mod projection;
pub(crate) mod registry;
pub mod render;
pub(crate) mod resolve;
pub(crate) mod state;
pub(crate) mod view;

pub use state::RequestState;

// What the engine adapter (`schema::resolver`) uses, and nothing more.
pub(crate) use data::{Data, ObjRef, ObjectData};
pub(crate) use registry::{CompiledField, OutputKind, Registry};
pub(crate) use render::pluck;
pub(crate) use resolve::{call_facts, resolve_unplanned};
pub(crate) use view::View;
