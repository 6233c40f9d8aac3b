//! Validation of a new document against every rule of the specification's
//! section 5, by apollo-compiler (the validator Apollo Router uses), over the
//! schema clients see (the engine's own SDL, so validation and introspection
//! agree). A document runs it once: one that validates is cached with its
//! outcome and never validated again.
//!
//! Schema introspection (`__schema`, `__type`) is answered by
//! apollo-compiler's executor over the same schema: the engine's leaves
//! `interfaces` of an interface null and gives `__Schema` a description of
//! its own.

mod index;
mod locate;

use apollo_compiler::collections::HashMap;
use apollo_compiler::diagnostic::ToCliReport;
use apollo_compiler::response::JsonMap;
use apollo_compiler::response::JsonValue;
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::schema::Implementers;
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Name, Schema};
use async_graphql::{Pos, ServerError};
use serde_json::{Map, Value};

use crate::error::ErrorCode;
use index::Index;
use locate::{Located, duplicate_input_fields, locate, repeated, syntax_at};

/// The client-visible schema, ready to validate documents against.
pub(crate) struct Validator {
    schema: Valid<Schema>,
    implementers: HashMap<Name, Implementers>,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator").finish_non_exhaustive()
    }
}

impl Validator {
    /// From the engine's SDL, its types in `order` (the operator's, which
    /// introspection lists implementations and members in); `Err` when
    /// apollo-compiler cannot read it.
    /// `interfaces`: what each interface implements (the engine's SDL
    /// leaves it out).
    pub(crate) fn new(
        sdl: &str,
        order: &[&str],
        interfaces: &[(&str, &[String])],
    ) -> Result<Validator, String> {
        let mut ast = apollo_compiler::ast::Document::parse(sdl, "schema.graphql")
            .map_err(|e| e.errors.to_string())?;
        for definition in &mut ast.definitions {
            if let apollo_compiler::ast::Definition::InterfaceTypeDefinition(def) = definition
                && let Some((_, implements)) = interfaces
                    .iter()
                    .find(|(name, _)| *name == def.name.as_str())
                && !implements.is_empty()
            {
                let def = def.make_mut();
                for interface in implements.iter() {
                    if !def
                        .implements_interfaces
                        .iter()
                        .any(|i| i.as_str() == interface)
                        && let Ok(name) = Name::new(interface)
                    {
                        def.implements_interfaces.push(name);
                    }
                }
            }
        }
        let rank = |d: &apollo_compiler::ast::Definition| {
            d.name()
                .and_then(|n| order.iter().position(|o| *o == n.as_str()))
                .unwrap_or(0)
        };
        // A stable sort: what the operator did not declare keeps its place.
        ast.definitions.sort_by_key(|d| rank(d));
        let schema = ast.to_schema_validate().map_err(|e| e.errors.to_string())?;
        let implementers = schema.implementers_map();
        Ok(Validator {
            schema,
            implementers,
        })
    }

    /// The values of the operation's root `__schema` and `__type` fields,
    /// by response key (`None`: it has none, or it does not validate).
    pub(crate) fn introspect(
        &self,
        query: &str,
        operation_name: Option<&str>,
        variables: Option<&Map<String, Value>>,
    ) -> Option<Vec<(String, async_graphql::Value)>> {
        let document =
            ExecutableDocument::parse_and_validate(&self.schema, query, "query.graphql").ok()?;
        let operation = document.operations.get(operation_name).ok()?;
        if !operation.operation_type.is_query() {
            return None;
        }
        let keys: Vec<String> = operation
            .root_fields(&document)
            .filter(|f| matches!(f.name.as_str(), "__schema" | "__type"))
            .map(|f| f.response_name().to_string())
            .collect();
        if keys.is_empty() {
            return None;
        }
        apollo_compiler::introspection::check_max_depth(&document, operation).ok()?;
        let values: JsonMap = match variables {
            Some(v) => serde_json::from_value(Value::Object(v.clone())).ok()?,
            None => JsonMap::new(),
        };
        let values =
            apollo_compiler::request::coerce_variable_values(&self.schema, operation, &values)
                .ok()?;
        let response = apollo_compiler::introspection::partial_execute(
            &self.schema,
            &self.implementers,
            &document,
            operation,
            &values,
        )
        .ok()?;
        Some(
            response
                .data?
                .into_iter()
                .filter(|(k, _)| keys.iter().any(|key| key.as_str() == k.as_str()))
                .map(|(k, v)| (k.as_str().to_owned(), engine_value(v)))
                .collect(),
        )
    }

    /// Every rule's errors for `query`, where graphql-js reports them
    /// (empty when it is valid).
    pub(crate) fn check(&self, query: &str) -> Vec<ServerError> {
        let validated =
            ExecutableDocument::parse_and_validate(&self.schema, query, "query.graphql");
        let ast = match apollo_compiler::ast::Document::parse(query, "query.graphql") {
            Ok(ast) => ast,
            Err(with) => with.partial,
        };
        let index = Index::new(&ast, query, Some(&self.schema));
        let Err(with) = validated else {
            // What apollo-compiler does not check.
            return duplicate_input_fields(&index)
                .into_iter()
                .map(|e| server_error(query, e, false))
                .collect();
        };
        let composite = |name: &str| {
            self.schema.types.get(name).map(|t| {
                matches!(
                    t,
                    ExtendedType::Object(_) | ExtendedType::Interface(_) | ExtendedType::Union(_)
                )
            })
        };
        let mut found: Vec<(Option<&str>, Located)> = Vec::new();
        for d in with.errors.iter() {
            let name = d.error.unstable_error_name();
            let message = d
                .error
                .unstable_compat_message()
                .unwrap_or_else(|| d.error.to_string());
            let main = d.error.location().map(|l| l.offset());
            let syntax = name.is_none();
            // `null` for a field of a @oneOf input: graphql-js reports the object.
            if message.ends_with("cannot represent value: null")
                && let Some((object, _, field)) = index
                    .one_of_nulls
                    .iter()
                    .find(|(_, null, _)| Some(*null) == main)
            {
                found.push((
                    name,
                    Located {
                        message: format!("Field \"{field}\" must be non-null."),
                        at: vec![*object],
                        syntax: false,
                    },
                ));
                continue;
            }
            let at = if syntax {
                Some(main.into_iter().collect())
            } else {
                locate(&index, &composite, name.unwrap_or_default(), &message, main)
            };
            if let Some(at) = at {
                let mut message = graphql_js_message(name, message);
                // With the field's whole type, as graphql-js words it.
                if matches!(
                    name,
                    Some("SubselectionOnScalarType" | "SubselectionOnEnumType")
                ) && let Some(field) = index.fields.iter().find(|f| Some(f.start) == main)
                    && let Some(ty) = &field.ty
                {
                    message = format!(
                        "Field \"{}\" must not have a selection since type \"{ty}\" has no subfields.",
                        field.name
                    );
                }
                found.push((
                    name,
                    Located {
                        message,
                        at,
                        syntax,
                    },
                ));
            }
        }
        // A document that does not parse gets the first syntax error alone,
        // as graphql-js's parser stops there.
        if let Some((_, first)) = found.iter().find(|(_, l)| l.syntax) {
            let mut first = first.clone();
            if let Some(at) = first.at.first_mut() {
                *at = syntax_at(query, &first.message, *at);
            }
            return vec![server_error(query, first, true)];
        }
        // One error per conflict: a pair that differs in name or arguments
        // is not reported again for its types.
        let conflicts: Vec<Vec<usize>> = found
            .iter()
            .filter(|(n, _)| matches!(n, Some("ConflictingFieldName" | "ConflictingFieldArgument")))
            .map(|(_, l)| l.at.clone())
            .collect();
        found.retain(|(n, l)| *n != Some("ConflictingFieldType") || !conflicts.contains(&l.at));
        let mut errors: Vec<Located> = found.into_iter().map(|(_, l)| l).collect();
        errors.dedup_by(|a, b| a.message == b.message && a.at == b.at);
        // A type condition on a leaf type, below a field that has no fields.
        for inline in &index.inline_fragments {
            if inline.in_field.is_some()
                && let Some(on) = &inline.type_condition
                && composite(&on.name) == Some(false)
                && !errors.iter().any(|e| e.at.contains(&on.at))
            {
                errors.push(Located {
                    message: format!(
                        "Fragment cannot condition on non composite type \"{}\".",
                        on.name
                    ),
                    at: vec![on.at],
                    syntax: false,
                });
            }
        }
        errors.extend(duplicate_input_fields(&index));
        errors
            .into_iter()
            .map(|e| server_error(query, e, false))
            .collect()
    }
}

impl Validator {
    /// A document the engine's parser refused, as graphql-js reports it:
    /// its first syntax error, or the rules that parser enforces (duplicate
    /// operation and fragment names, a lone anonymous operation). Only
    /// parsed and indexed (both linear, bounded), never validated, since the
    /// measure has not bounded it.
    pub(crate) fn unparsed(&self, query: &str) -> Vec<ServerError> {
        let ast = match apollo_compiler::ast::Document::parse(query, "query.graphql") {
            Ok(ast) => ast,
            Err(with) => {
                let Some(first) = with.errors.iter().next() else {
                    return Vec::new();
                };
                let message = first.error.to_string();
                let at = first.error.location().map_or(0, |l| l.offset());
                let error = Located {
                    at: vec![syntax_at(query, &message, at)],
                    message,
                    syntax: true,
                };
                return vec![server_error(query, error, true)];
            }
        };
        let index = Index::new(&ast, query, None);
        let mut errors = repeated(
            index.operations.iter().filter_map(|o| o.name.as_ref()),
            "operation",
        );
        if index.operations.len() > 1 {
            for op in index.operations.iter().filter(|o| o.name.is_none()) {
                errors.push(Located {
                    message: "This anonymous operation must be the only defined operation."
                        .to_owned(),
                    at: vec![op.start],
                    syntax: false,
                });
            }
        }
        errors.extend(repeated(
            index.fragments.iter().map(|f| &f.name),
            "fragment",
        ));
        errors
            .into_iter()
            .map(|e| server_error(query, e, false))
            .collect()
    }

    /// The measure's refusal of a fragment cycle (`message`, graphql-js's
    /// text) with the locations of the spreads on the way round, found
    /// without validating the rest of the document.
    pub(crate) fn cycle(&self, query: &str, message: &str) -> ServerError {
        let ast = match apollo_compiler::ast::Document::parse(query, "query.graphql") {
            Ok(ast) => ast,
            Err(with) => with.partial,
        };
        let index = Index::new(&ast, query, Some(&self.schema));
        let at = locate(
            &index,
            &|_| None,
            "RecursiveFragmentDefinition",
            message,
            None,
        )
        .unwrap_or_default();
        server_error(
            query,
            Located {
                message: message.to_owned(),
                at,
                syntax: false,
            },
            false,
        )
    }
}

/// graphql-js's text where apollo-compiler's differs in substance.
fn graphql_js_message(name: Option<&str>, message: String) -> String {
    // "Int cannot represent value: "x"": graphql-js says why, per scalar.
    if let Some((scalar, value)) = message.split_once(" cannot represent value: ") {
        let integer = value
            .trim_start_matches('-')
            .chars()
            .all(|c| c.is_ascii_digit());
        return match scalar {
            _ if value == "null" => format!("Expected value of type \"{scalar}!\", found null."),
            "Int" if integer && !value.is_empty() => {
                format!("Int cannot represent non 32-bit signed integer value: {value}")
            }
            "Int" => format!("Int cannot represent non-integer value: {value}"),
            "Float" => format!("Float cannot represent non numeric value: {value}"),
            "String" => format!("String cannot represent a non string value: {value}"),
            "Boolean" => format!("Boolean cannot represent a non boolean value: {value}"),
            "ID" => format!("ID cannot represent a non-string and non-integer value: {value}"),
            _ => message,
        };
    }
    if name != Some("RecursiveFragmentDefinition") {
        return message;
    }
    let names: Vec<&str> = message.split('"').skip(1).step_by(2).collect();
    let Some((first, via)) = names.split_first() else {
        return message;
    };
    let via: Vec<String> = via
        .iter()
        .filter(|n| *n != first)
        .map(|n| format!("\"{n}\""))
        .collect();
    if via.is_empty() {
        format!("Cannot spread fragment \"{first}\" within itself.")
    } else {
        format!(
            "Cannot spread fragment \"{first}\" within itself via {}.",
            via.join(", ")
        )
    }
}

/// `error` with its offsets as lines and columns of `query`.
fn server_error(query: &str, error: Located, syntax: bool) -> ServerError {
    let mut out = ServerError::new(error.message, None);
    out.locations = error.at.iter().map(|at| position(query, *at)).collect();
    if syntax {
        out.extensions
            .get_or_insert_with(Default::default)
            .set("code", ErrorCode::GraphqlParseFailed.as_str());
    }
    out
}

/// The line and column (in characters, from 1) of byte offset `at`.
fn position(query: &str, at: usize) -> Pos {
    let at = at.min(query.len());
    let before = query.get(..at).unwrap_or(query);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Pos { line, column }
}

/// An answer of apollo-compiler's executor as the engine's value, in its
/// order (the selection's).
fn engine_value(value: JsonValue) -> async_graphql::Value {
    use async_graphql::Value as V;
    match value {
        JsonValue::Null => V::Null,
        JsonValue::Bool(b) => V::Boolean(b),
        JsonValue::Number(n) => serde_json::from_str(&n.to_string())
            .map(V::Number)
            .unwrap_or(V::Null),
        JsonValue::String(s) => V::String(s.as_str().to_owned()),
        JsonValue::Array(items) => V::List(items.into_iter().map(engine_value).collect()),
        JsonValue::Object(map) => V::Object(
            map.into_iter()
                .map(|(k, v)| (async_graphql::Name::new(k.as_str()), engine_value(v)))
                .collect(),
        ),
    }
}
