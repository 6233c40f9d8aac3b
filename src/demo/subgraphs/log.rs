//! The request log: each request a subgraph received, read back as the
//! GraphQL request it carried, so tests can assert exactly which fetches the
//! gateway made.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql_value::Value as GraphqlValue;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::demo::Hit;

/// One request to a subgraph, oldest first in
/// [`SubgraphServer::requests`](super::SubgraphServer::requests).
#[derive(Debug, Clone)]
pub struct SubgraphRequest {
    /// The document text; empty when the body was not a GraphQL request
    /// (the raw body is in `hit`).
    pub query: String,
    pub variables: Map<String, Value>,
    pub operation_name: Option<String>,
    /// For each root `_entities` field of the operation, in document order,
    /// how many representations it carried (inline or in a variable).
    pub entities: Vec<usize>,
    /// The request as received: headers, body, arrival time.
    pub hit: Hit,
}

#[derive(Deserialize)]
struct Body {
    query: String,
    #[serde(default)]
    variables: Option<Map<String, Value>>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

/// How deep fragment spreads are followed: further than any real operation
/// goes, and a bound for cyclic ones (invalid, but the log records anything).
const MAX_FRAGMENT_DEPTH: usize = 16;

impl SubgraphRequest {
    pub(super) fn read(hit: Hit) -> SubgraphRequest {
        let Ok(body) = serde_json::from_slice::<Body>(&hit.body) else {
            return SubgraphRequest {
                query: String::new(),
                variables: Map::new(),
                operation_name: None,
                entities: Vec::new(),
                hit,
            };
        };
        let variables = body.variables.unwrap_or_default();
        let mut entities = Vec::new();
        if let Ok(document) = async_graphql::parser::parse_query(&body.query) {
            let operation = match &document.operations {
                DocumentOperations::Single(operation) => Some(operation),
                DocumentOperations::Multiple(operations) => match &body.operation_name {
                    Some(name) => operations.get(name.as_str()),
                    None if operations.len() == 1 => operations.values().next(),
                    None => None,
                },
            };
            if let Some(operation) = operation {
                count_entities(
                    &operation.node.selection_set.node,
                    &document,
                    &variables,
                    MAX_FRAGMENT_DEPTH,
                    &mut entities,
                );
            }
        }
        SubgraphRequest {
            query: body.query,
            variables,
            operation_name: body.operation_name,
            entities,
            hit,
        }
    }

    /// How many representations the request asked for in all, `None` when it
    /// had no `_entities` field.
    pub fn representations(&self) -> Option<usize> {
        (!self.entities.is_empty()).then(|| self.entities.iter().sum())
    }
}

fn count_entities(
    set: &SelectionSet,
    document: &ExecutableDocument,
    variables: &Map<String, Value>,
    depth: usize,
    out: &mut Vec<usize>,
) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) if field.node.name.node == "_entities" => {
                let n = field
                    .node
                    .get_argument("representations")
                    .map_or(0, |value| match &value.node {
                        GraphqlValue::Variable(name) => match variables.get(name.as_str()) {
                            Some(Value::Array(items)) => items.len(),
                            Some(Value::Null) | None => 0,
                            // Input coercion makes a single value a list of one.
                            Some(_) => 1,
                        },
                        GraphqlValue::List(items) => items.len(),
                        GraphqlValue::Null => 0,
                        _ => 1,
                    });
                out.push(n);
            }
            Selection::Field(_) => {}
            Selection::InlineFragment(fragment) => {
                count_entities(
                    &fragment.node.selection_set.node,
                    document,
                    variables,
                    depth,
                    out,
                );
            }
            Selection::FragmentSpread(spread) => {
                if let (Some(depth), Some(fragment)) = (
                    depth.checked_sub(1),
                    document.fragments.get(&spread.node.fragment_name.node),
                ) {
                    count_entities(
                        &fragment.node.selection_set.node,
                        document,
                        variables,
                        depth,
                        out,
                    );
                }
            }
        }
    }
}
