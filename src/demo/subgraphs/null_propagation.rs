//! Where a subgraph's answers get their nulls, as the GraphQL spec and
//! federation gateways expect them.
//!
//! async-graphql's dynamic executor raises every field error to the root
//! (`data: null`), and cannot put a null item in a list of a union. So this
//! extension, created per request, wraps each field and list item: an error
//! stops at the first nullable position, which becomes null and keeps the
//! error with its path; and an `_entities` item the resolver marked absent
//! (no such entity) is null without resolving it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest, NextResolve,
    ResolveInfo,
};
use async_graphql::{
    PathSegment, QueryPathNode, QueryPathSegment, Request, Response, ServerError, ServerResult,
    Value,
};

/// The `_entities` items of one request that have no entity: the field's
/// response key and the item's index. Filled by the `_entities` resolver,
/// which runs before its items resolve.
#[derive(Debug, Default)]
pub(super) struct Absent(Mutex<HashSet<(String, usize)>>);

impl Absent {
    pub(super) fn insert(&self, response_key: &str, index: usize) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((response_key.to_owned(), index));
    }

    /// Whether `node` is an absent item: index `i` of a root field `key`.
    fn contains(&self, node: &QueryPathNode<'_>) -> bool {
        let (QueryPathSegment::Index(index), Some(parent)) = (&node.segment, node.parent) else {
            return false;
        };
        let (QueryPathSegment::Name(key), None) = (&parent.segment, parent.parent) else {
            return false;
        };
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&((*key).to_owned(), *index))
    }
}

pub(super) struct NullPropagation;

impl ExtensionFactory for NullPropagation {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PerRequest::default())
    }
}

#[derive(Default)]
struct PerRequest {
    absent: Arc<Absent>,
    /// Errors stopped at a nullable position, reported with the response.
    absorbed: Mutex<Vec<ServerError>>,
}

#[async_trait::async_trait]
impl Extension for PerRequest {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        next.run(ctx, request.data(self.absent.clone())).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let mut errors =
            std::mem::take(&mut *self.absorbed.lock().unwrap_or_else(PoisonError::into_inner));
        if !errors.is_empty() {
            errors.append(&mut response.errors);
            response.errors = errors;
        }
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let node = info.path_node;
        if self.absent.contains(node) {
            return Ok(None);
        }
        let nullable = !info.return_type.ends_with('!');
        match next.run(ctx, info).await {
            Ok(value) => Ok(value),
            Err(mut error) => {
                if error.path.is_empty() {
                    error.path = path_of(node);
                }
                if !nullable {
                    return Err(error);
                }
                self.absorbed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(error);
                Ok(None)
            }
        }
    }
}

fn path_of(node: &QueryPathNode<'_>) -> Vec<PathSegment> {
    let mut path: Vec<PathSegment> = std::iter::once(node)
        .chain(node.parents())
        .map(|n| match n.segment {
            QueryPathSegment::Index(i) => PathSegment::Index(i),
            QueryPathSegment::Name(name) => PathSegment::Field(name.to_owned()),
        })
        .collect();
    path.reverse();
    path
}
