//! `Int` literals outside 32 bits (GraphQL spec 3.5.1, and 5.6.1 Values of
//! Correct Type): the engine's validator accepts `limit: 3000000000` and the
//! value would reach the upstream. One walk over the operation, with the
//! type of every selection tracked through fragments, checks each literal
//! argument value against its argument's type (lists and input object
//! fields included). Variables are checked per request
//! (`gateway::variables`); this runs once per document.

use async_graphql::ServerError;
use async_graphql::parser::Positioned;
use async_graphql::parser::types::{BaseType, ExecutableDocument, OperationDefinition, Type};
use async_graphql_value::{Name, Value};

use super::typed_walk::{self, Visit};
use super::variables::InputTypes;
use crate::config::ArgDef;
use crate::exec::Registry;

/// Every `Int` literal of `operation` (on root type `root`) outside 32 bits.
pub(crate) fn check(
    registry: &Registry,
    inputs: &InputTypes,
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    root: &str,
) -> Vec<ServerError> {
    let mut check = Check {
        inputs,
        errors: Vec::new(),
    };
    typed_walk::walk(
        registry,
        document,
        root,
        &operation.selection_set.node,
        &mut check,
    );
    check.errors
}

struct Check<'a> {
    inputs: &'a InputTypes,
    errors: Vec<ServerError>,
}

impl<'a> Visit<'a> for Check<'_> {
    fn argument(
        &mut self,
        arg: &ArgDef,
        _name: &'a Positioned<Name>,
        value: &'a Positioned<Value>,
    ) {
        self.value(&arg.ty, value);
    }
}

impl Check<'_> {
    fn value(&mut self, ty: &Type, value: &Positioned<Value>) {
        self.at(ty, &value.node, value.pos);
    }

    /// Literals carry one position for the whole argument value; nested
    /// values are reported there.
    fn at(&mut self, ty: &Type, value: &Value, pos: async_graphql::Pos) {
        match (&ty.base, value) {
            (_, Value::Variable(_) | Value::Null) => {}
            (BaseType::List(inner), Value::List(items)) => {
                for item in items {
                    self.at(inner, item, pos);
                }
            }
            (BaseType::List(inner), single) => self.at(inner, single, pos),
            (BaseType::Named(name), Value::Number(n)) if name == "Int" => {
                let fits = n.as_i64().is_some_and(|i| i32::try_from(i).is_ok());
                if !fits && (n.is_i64() || n.is_u64()) {
                    self.errors.push(ServerError::new(
                        format!("Int cannot represent non 32-bit signed integer value: {n}"),
                        Some(pos),
                    ));
                }
            }
            (BaseType::Named(name), Value::Object(fields)) => {
                for (field, inner) in fields {
                    if let Some(field_ty) = self.inputs.field_type(name.as_str(), field.as_str()) {
                        self.at(field_ty, inner, pos);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SDL: &str = r#"
schema @upstream(name: "api", url: "http://127.0.0.1:1") { query: Query }
input Page { size: Int, sizes: [Int!] }
type Query {
  items(limit: Int, page: Page, ids: [Int!]): [Item!] @rest(upstream: "api", path: "/items")
  node: Item @rest(upstream: "api", path: "/node")
}
type Item { id: ID! more(limit: Int): [Item!] @rest(upstream: "api", path: "/more") }
"#;

    fn errors(query: &str) -> Vec<String> {
        let config = crate::config::load("t.graphql", SDL, &|_| None).expect("the test SDL loads");
        let registry = Registry::build(&config, &HashMap::new());
        let inputs = InputTypes::new(&config);
        let doc = async_graphql::parser::parse_query(query).expect("the test query parses");
        let op = match &doc.operations {
            async_graphql::parser::types::DocumentOperations::Single(op) => op,
            async_graphql::parser::types::DocumentOperations::Multiple(ops) => {
                ops.values().next().expect("one operation")
            }
        };
        check(&registry, &inputs, &doc, &op.node, "Query")
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    #[test]
    fn int_literals_outside_32_bits_are_refused_wherever_they_stand() {
        let too_big = "Int cannot represent non 32-bit signed integer value: 3000000000";
        assert_eq!(errors("{ items(limit: 3000000000) { id } }"), [too_big]);
        assert_eq!(
            errors("{ items(page: { size: 3000000000 }) { id } }"),
            [too_big]
        );
        assert_eq!(
            errors("{ items(page: { sizes: [1, 3000000000] }) { id } }"),
            [too_big]
        );
        assert_eq!(errors("{ items(ids: 3000000000) { id } }"), [too_big]);
        assert_eq!(
            errors("{ node { ...F } } fragment F on Item { more(limit: -3000000000) { id } }"),
            ["Int cannot represent non 32-bit signed integer value: -3000000000"]
        );
        assert!(errors("{ items(limit: 2147483647, ids: [-2147483648]) { id } }").is_empty());
        assert!(errors("query Q($n: Int) { items(limit: $n) { id } }").is_empty());
    }
}
