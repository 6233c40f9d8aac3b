//! The directive rules of GraphQL validation that the engine leaves out
//! (spec 5.7.1 Directives Are Defined, 5.7.2 Directives Are In Valid
//! Locations, 5.7.3 Directives Are Unique Per Location, 5.4.2.1 Required
//! Arguments and 5.4.1 Argument Names for directives). The only executable
//! directives are `@skip(if: Boolean!)` and `@include(if: Boolean!)`, on
//! fields, fragment spreads and inline fragments. One walk over the document
//! as written (fragment definitions once each), so linear in its size.

use async_graphql::parser::types::{Directive, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Pos, Positioned, ServerError};
use async_graphql_value::Value;

/// Every directive error in `doc`, in document order.
pub(crate) fn check(doc: &ExecutableDocument) -> Vec<ServerError> {
    let mut errors = Vec::new();
    for (_, op) in doc.operations.iter() {
        not_here(&op.node.directives, "an operation", &mut errors);
        for var in &op.node.variable_definitions {
            not_here(&var.node.directives, "a variable definition", &mut errors);
        }
        set(&op.node.selection_set.node, &mut errors);
    }
    for fragment in doc.fragments.values() {
        not_here(
            &fragment.node.directives,
            "a fragment definition",
            &mut errors,
        );
        set(&fragment.node.selection_set.node, &mut errors);
    }
    errors
}

fn set(selections: &SelectionSet, errors: &mut Vec<ServerError>) {
    for selection in &selections.items {
        match &selection.node {
            Selection::Field(field) => {
                allowed(&field.node.directives, errors);
                set(&field.node.selection_set.node, errors);
            }
            Selection::FragmentSpread(spread) => allowed(&spread.node.directives, errors),
            Selection::InlineFragment(inline) => {
                allowed(&inline.node.directives, errors);
                set(&inline.node.selection_set.node, errors);
            }
        }
    }
}

fn error(message: String, pos: Pos) -> ServerError {
    ServerError::new(message, Some(pos))
}

/// Directives where `@skip`/`@include` may stand.
fn allowed(directives: &[Positioned<Directive>], errors: &mut Vec<ServerError>) {
    let mut seen: Vec<&str> = Vec::new();
    for d in directives {
        let name = d.node.name.node.as_str();
        if !matches!(name, "skip" | "include") {
            errors.push(error(format!("Unknown directive \"@{name}\"."), d.pos));
            continue;
        }
        if seen.contains(&name) {
            errors.push(error(
                format!("The directive \"@{name}\" can only be used once at this location."),
                d.pos,
            ));
        }
        seen.push(name);
        arguments(name, d, errors);
    }
}

/// `if: Boolean!` and nothing else.
fn arguments(name: &str, d: &Positioned<Directive>, errors: &mut Vec<ServerError>) {
    let mut has_if = false;
    for (arg, value) in &d.node.arguments {
        if arg.node != "if" {
            errors.push(error(
                format!(
                    "Unknown argument \"{}\" on directive \"@{name}\".",
                    arg.node
                ),
                arg.pos,
            ));
            continue;
        }
        has_if = true;
        match &value.node {
            Value::Boolean(_) | Value::Variable(_) => {}
            other => errors.push(error(
                format!("Argument \"if\" of directive \"@{name}\" must be a Boolean, not {other}."),
                value.pos,
            )),
        }
    }
    if !has_if {
        errors.push(error(
            format!(
                "Directive \"@{name}\" argument \"if\" of type \"Boolean!\" is required, but it was not provided."
            ),
            d.pos,
        ));
    }
}

/// Places where no executable directive may stand.
fn not_here(directives: &[Positioned<Directive>], place: &str, errors: &mut Vec<ServerError>) {
    for d in directives {
        let name = d.node.name.node.as_str();
        let message = if matches!(name, "skip" | "include") {
            format!("Directive \"@{name}\" may not be used on {place}.")
        } else {
            format!("Unknown directive \"@{name}\".")
        };
        errors.push(error(message, d.pos));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(query: &str) -> Vec<String> {
        let doc = async_graphql::parser::parse_query(query).expect("parses");
        check(&doc).into_iter().map(|e| e.message).collect()
    }

    #[test]
    fn the_directive_rules() {
        assert!(errors("{ a @skip(if: true) b @include(if: $v) ...F @skip(if: false) } fragment F on Q { c }").is_empty());
        assert_eq!(
            errors("{ __typename @nope }"),
            ["Unknown directive \"@nope\"."]
        );
        assert!(errors("{ __typename @skip }")[0].contains("is required"));
        assert!(errors("{ a @skip(if: false) @skip(if: false) }")[0].contains("only be used once"));
        assert!(errors("{ a @skip(if: false, also: 1) }")[0].contains("Unknown argument \"also\""));
        assert!(errors("{ a @include(if: \"yes\") }")[0].contains("must be a Boolean"));
        assert!(
            errors("query Q @skip(if: true) { a }")[0].contains("may not be used on an operation")
        );
        assert!(
            errors("{ a } fragment F on Q @include(if: true) { a }")[0]
                .contains("fragment definition")
        );
    }
}
