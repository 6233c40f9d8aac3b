//! The sizes of introspection's lists, from the schema itself, so that
//! `__schema { types { fields { args } } }` costs about what it returns.

use std::collections::HashMap;

use super::{Call, FieldCost};
use crate::config::ListSize;

/// Totals over the schema, for the sizes of introspection lists.
#[derive(Default)]
pub(super) struct SchemaCounts {
    pub(super) types: u64,
    pub(super) fields: u64,
    pub(super) args: u64,
    pub(super) implements: u64,
    pub(super) members: u64,
    pub(super) enum_values: u64,
    pub(super) input_fields: u64,
}

/// Introspection's own types, with list sizes from the schema: `types` is
/// every type (built-ins included) and each nested list the average per
/// parent, so `types { fields { args } }` costs about the schema's size.
pub(super) fn introspection(
    types: &mut HashMap<String, HashMap<String, FieldCost>>,
    counts: &SchemaCounts,
    query: &str,
) {
    // Built-in scalars and the introspection types themselves.
    let all_types = counts.types + 5 + 8;
    let per_type = |n: u64| n.div_ceil(all_types).max(1);
    let per_field = counts.args.div_ceil(counts.fields.max(1)).max(1);
    let list = |ty: &str, size: u64| FieldCost {
        ty: ty.to_owned(),
        lists: 1,
        size: Some(ListSize {
            assumed: Some(size),
            slicing: Vec::new(),
        }),
        slicing_defaults: Vec::new(),
        call: Call::None,
    };
    let one = |ty: &str| FieldCost {
        ty: ty.to_owned(),
        lists: 0,
        size: None,
        slicing_defaults: Vec::new(),
        call: Call::None,
    };
    let table: [(&str, Vec<(&str, FieldCost)>); 6] = [
        (
            "__Schema",
            vec![
                ("types", list("__Type", all_types)),
                ("queryType", one("__Type")),
                ("mutationType", one("__Type")),
                ("subscriptionType", one("__Type")),
                ("directives", list("__Directive", 8)),
            ],
        ),
        (
            "__Type",
            vec![
                ("fields", list("__Field", per_type(counts.fields + 40))),
                ("interfaces", list("__Type", per_type(counts.implements))),
                (
                    "possibleTypes",
                    list("__Type", per_type(counts.members + counts.implements)),
                ),
                (
                    "enumValues",
                    list("__EnumValue", per_type(counts.enum_values + 8)),
                ),
                (
                    "inputFields",
                    list("__InputValue", per_type(counts.input_fields)),
                ),
                ("ofType", one("__Type")),
            ],
        ),
        (
            "__Field",
            vec![
                ("args", list("__InputValue", per_field)),
                ("type", one("__Type")),
            ],
        ),
        ("__InputValue", vec![("type", one("__Type"))]),
        (
            "__Directive",
            vec![
                ("args", list("__InputValue", 2)),
                ("locations", list("", 4)),
            ],
        ),
        ("__EnumValue", vec![]),
    ];
    for (name, fields) in table {
        types
            .entry(name.to_owned())
            .or_default()
            .extend(fields.into_iter().map(|(f, c)| (f.to_owned(), c)));
    }
    let root = types.entry(query.to_owned()).or_default();
    root.insert("__schema".to_owned(), one("__Schema"));
    root.insert("__type".to_owned(), one("__Type"));
}
