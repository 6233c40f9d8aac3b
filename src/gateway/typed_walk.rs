//! One walk over an operation's selections with the type of each selection
//! known (through fragment spreads and inline fragments), for the checks
//! that need field and argument definitions: `Int` literals
//! (`gateway::literals`) and graphql-js-shaped validation errors
//! (`gateway::engine_errors`). Each fragment is walked once.

use std::collections::HashSet;

use async_graphql::parser::Positioned;
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql_value::{Name, Value};

use crate::config::ArgDef;
use crate::exec::{CompiledField, Registry};

/// What a check does at each field and argument it meets.
pub(crate) trait Visit<'a> {
    /// A field the schema knows, with its definition.
    fn field(&mut self, _field: &'a Positioned<Field>, _compiled: &CompiledField) {}

    /// An argument the field defines, as written in the document.
    fn argument(
        &mut self,
        _arg: &ArgDef,
        _name: &'a Positioned<Name>,
        _value: &'a Positioned<Value>,
    ) {
    }
}

/// Walks `set`, on type `ty`, calling `visit` at each known field and its
/// arguments. Unknown fields (introspection, or what the engine rejects) are
/// passed over.
pub(crate) fn walk<'a>(
    registry: &Registry,
    document: &'a ExecutableDocument,
    ty: &str,
    set: &'a SelectionSet,
    visit: &mut impl Visit<'a>,
) {
    let mut seen = HashSet::new();
    selection(registry, document, ty, set, visit, &mut seen);
}

fn selection<'a>(
    registry: &Registry,
    document: &'a ExecutableDocument,
    ty: &str,
    set: &'a SelectionSet,
    visit: &mut impl Visit<'a>,
    seen: &mut HashSet<&'a str>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let Some(compiled) = registry.field(ty, field.node.name.node.as_str()) else {
                    continue;
                };
                visit.field(field, compiled);
                for (name, value) in &field.node.arguments {
                    if let Some(arg) = compiled.def.args.iter().find(|a| a.name == name.node) {
                        visit.argument(arg, name, value);
                    }
                }
                let below = &field.node.selection_set.node;
                if !below.items.is_empty() {
                    selection(registry, document, &compiled.named, below, visit, seen);
                }
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if !seen.insert(name) {
                    continue;
                }
                if let Some(fragment) = document.fragments.get(name) {
                    let on = fragment.node.type_condition.node.on.node.as_str();
                    selection(
                        registry,
                        document,
                        on,
                        &fragment.node.selection_set.node,
                        visit,
                        seen,
                    );
                }
            }
            Selection::InlineFragment(inline) => {
                let on = super::prepare::inline_type(&inline.node, ty);
                selection(
                    registry,
                    document,
                    on,
                    &inline.node.selection_set.node,
                    visit,
                    seen,
                );
            }
        }
    }
}
