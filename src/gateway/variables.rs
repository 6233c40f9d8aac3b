//! Coercing a request's variable values against the operation's variable
//! definitions (GraphQL spec, CoerceVariableValues), before execution.
//!
//! The input types are compiled once per schema into [`InputTypes`]; a
//! request only walks its own values. Errors follow graphql-js: one per
//! variable, located at the variable's definition, with the same texts
//! (`Variable "$id" got invalid value 3.5; Int cannot represent non-integer
//! value: 3.5`). Because every value is checked here, a document that has
//! validated once needs no second validation by the engine (see
//! `schema::null_propagation`'s validation hook).

use std::collections::{HashMap, HashSet};

use async_graphql::ServerError;
use async_graphql::parser::types::{BaseType, OperationDefinition, Type};
use serde_json::{Map, Value};

use crate::config::{Config, TypeDef};

/// The schema's input types, by name.
#[derive(Debug, Default)]
pub(crate) struct InputTypes {
    types: HashMap<String, InputKind>,
}

#[derive(Debug)]
enum InputKind {
    /// A custom scalar: any value is accepted (its upstream judges it).
    Custom,
    Enum(HashSet<String>),
    Object {
        /// Field name, its type, and whether it has a default.
        fields: Vec<(String, Type, bool)>,
        one_of: bool,
    },
}

impl InputTypes {
    pub(crate) fn new(config: &Config) -> InputTypes {
        let types = config
            .types
            .iter()
            .filter_map(|(name, def)| {
                let kind = match def {
                    TypeDef::Scalar(_) => InputKind::Custom,
                    TypeDef::Enum(e) => {
                        InputKind::Enum(e.values.iter().map(|v| v.name.clone()).collect())
                    }
                    TypeDef::Input(input) => InputKind::Object {
                        fields: input
                            .fields
                            .iter()
                            .map(|f| (f.name.to_string(), f.ty.clone(), f.default.is_some()))
                            .collect(),
                        one_of: input.one_of,
                    },
                    _ => return None,
                };
                Some((name.clone(), kind))
            })
            .collect();
        InputTypes { types }
    }

    /// The names of the enums and custom scalars.
    pub(crate) fn leaf_names(&self) -> impl Iterator<Item = &str> {
        self.types
            .iter()
            .filter(|(_, kind)| matches!(kind, InputKind::Custom | InputKind::Enum(_)))
            .map(|(name, _)| name.as_str())
    }

    /// Why `value` does not fit `ty` (`None`: it fits).
    pub(crate) fn problem(&self, ty: &Type, value: &Value) -> Option<String> {
        self.value(ty, value, &mut String::new()).err()
    }

    /// The type of `field` of input object `ty`.
    pub(crate) fn field_type(&self, ty: &str, field: &str) -> Option<&Type> {
        match self.types.get(ty)? {
            InputKind::Object { fields, .. } => fields
                .iter()
                .find(|(f, _, _)| f == field)
                .map(|(_, t, _)| t),
            _ => None,
        }
    }

    /// Every error in `variables` against `operation`'s definitions: values
    /// of the wrong type, and non-null variables without a value or default.
    pub(crate) fn check(
        &self,
        operation: &OperationDefinition,
        variables: Option<&Map<String, Value>>,
    ) -> Vec<ServerError> {
        let mut errors = Vec::new();
        for def in &operation.variable_definitions {
            let name = def.node.name.node.as_str();
            let ty = &def.node.var_type.node;
            match variables.and_then(|v| v.get(name)) {
                None if !ty.nullable && def.node.default_value().is_none() => {
                    errors.push(ServerError::new(
                        format!("Variable \"${name}\" of required type \"{ty}\" was not provided."),
                        Some(def.pos),
                    ));
                }
                None => {}
                Some(Value::Null) if !ty.nullable => errors.push(ServerError::new(
                    format!("Variable \"${name}\" of non-null type \"{ty}\" must not be null."),
                    Some(def.pos),
                )),
                Some(value) => {
                    let mut path = String::new();
                    if let Err(problem) = self.value(ty, value, &mut path) {
                        let at = if path.is_empty() {
                            String::new()
                        } else {
                            format!(" at \"{name}{path}\"")
                        };
                        errors.push(ServerError::new(
                            format!(
                                "Variable \"${name}\" got invalid value {}{at}; {problem}",
                                inspect(value_at(value, &path).unwrap_or(value))
                            ),
                            Some(def.pos),
                        ));
                    }
                }
            }
        }
        errors
    }

    /// Checks `value` against `ty`; on failure `path` is where, inside the
    /// variable (`.field`, `[2]`), and the error says what is wrong there.
    fn value(&self, ty: &Type, value: &Value, path: &mut String) -> Result<(), String> {
        if value.is_null() {
            return if ty.nullable {
                Ok(())
            } else {
                Err(format!(
                    "Expected non-nullable type \"{ty}\" not to be null."
                ))
            };
        }
        match &ty.base {
            BaseType::List(inner) => match value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let len = path.len();
                        path.push_str(&format!("[{i}]"));
                        self.value(inner, item, path)?;
                        path.truncate(len);
                    }
                    Ok(())
                }
                // Input coercion: a single value stands for a list of one.
                single => self.value(inner, single, path),
            },
            BaseType::Named(name) => self.named(name.as_str(), value, path),
        }
    }

    fn named(&self, name: &str, value: &Value, path: &mut String) -> Result<(), String> {
        let (fits, problem) = match name {
            "Int" => return int(value),
            "Float" => (
                value.is_number(),
                "Float cannot represent non numeric value",
            ),
            "String" => (
                value.is_string(),
                "String cannot represent a non string value",
            ),
            "Boolean" => (
                value.is_boolean(),
                "Boolean cannot represent a non boolean value",
            ),
            "ID" => (
                value.is_string() || value.is_i64() || value.is_u64(),
                "ID cannot represent value",
            ),
            _ => return self.defined(name, value, path),
        };
        if fits {
            Ok(())
        } else {
            Err(format!("{problem}: {}", inspect(value)))
        }
    }

    /// A value of a type the schema defines: a custom scalar, an enum or an
    /// input object.
    fn defined(&self, name: &str, value: &Value, path: &mut String) -> Result<(), String> {
        match self.types.get(name) {
            None | Some(InputKind::Custom) => Ok(()),
            Some(InputKind::Enum(values)) => match value {
                Value::String(s) if values.contains(s) => Ok(()),
                Value::String(s) => {
                    Err(format!("Value \"{s}\" does not exist in \"{name}\" enum."))
                }
                other => Err(format!(
                    "Enum \"{name}\" cannot represent non-string value: {}.",
                    inspect(other)
                )),
            },
            Some(InputKind::Object { fields, one_of }) => {
                let Value::Object(object) = value else {
                    return Err(format!("Expected type \"{name}\" to be an object."));
                };
                for key in object.keys() {
                    if !fields.iter().any(|(f, _, _)| f == key) {
                        return Err(format!(
                            "Field \"{key}\" is not defined by type \"{name}\"."
                        ));
                    }
                }
                for (field, ty, has_default) in fields {
                    match object.get(field) {
                        None if !ty.nullable && !has_default => {
                            return Err(format!(
                                "Field \"{field}\" of required type \"{ty}\" was not provided."
                            ));
                        }
                        None => {}
                        Some(inner) => {
                            let len = path.len();
                            path.push('.');
                            path.push_str(field);
                            self.value(ty, inner, path)?;
                            path.truncate(len);
                        }
                    }
                }
                if *one_of {
                    let given = object.values().filter(|v| !v.is_null()).count();
                    if object.len() != 1 || given != 1 {
                        return Err(format!(
                            "Exactly one key must be specified for OneOf type \"{name}\"."
                        ));
                    }
                }
                Ok(())
            }
        }
    }
}

/// An `Int`: integral and within 32 bits.
fn int(value: &Value) -> Result<(), String> {
    let Value::Number(n) = value else {
        return Err(format!(
            "Int cannot represent non-integer value: {}",
            inspect(value)
        ));
    };
    match n.as_i64().or_else(|| integral(n.as_f64())) {
        Some(i) if i32::try_from(i).is_ok() => Ok(()),
        Some(_) => Err(format!(
            "Int cannot represent non 32-bit signed integer value: {n}"
        )),
        None => Err(format!("Int cannot represent non-integer value: {n}")),
    }
}

/// `1.0` is the integer 1 (JSON does not tell integers from floats).
fn integral(f: Option<f64>) -> Option<i64> {
    let f = f?;
    // Outside i64 the cast saturates, which is out of Int's range too.
    (f.fract() == 0.0 && f.is_finite()).then_some(f as i64)
}

/// The value inside `value` at `path` (as built by [`InputTypes::value`]).
fn value_at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = value;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let (index, tail) = after.split_once(']')?;
            current = current.get(index.parse::<usize>().ok()?)?;
            rest = tail;
        } else if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            current = current.get(&after[..end])?;
            rest = &after[end..];
        } else {
            return None;
        }
    }
    Some(current)
}

/// A value as graphql-js prints it in messages: JSON, objects with bare keys.
fn inspect(value: &Value) -> String {
    match value {
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}: {}", inspect(v)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(inspect).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn types() -> InputTypes {
        let sdl = r#"
            schema @upstream(name: "api", url: "http://127.0.0.1:1") { query: Query }
            enum Color { RED GREEN }
            input Filter { color: Color! limit: Int = 3 tags: [String!] }
            input By @oneOf { id: ID name: String }
            type Query { a(f: Filter, b: By): Int @rest(upstream: "api", path: "/a") }
        "#;
        let config = crate::config::load("t.graphql", sdl, &|_| None).expect("the test SDL loads");
        InputTypes::new(&config)
    }

    fn errors(vars: &str, values: Value) -> Vec<String> {
        let doc = async_graphql::parser::parse_query(format!("query Q({vars}) {{ a }}"))
            .expect("the test query parses");
        let op = match &doc.operations {
            async_graphql::parser::types::DocumentOperations::Single(op) => op.node.clone(),
            async_graphql::parser::types::DocumentOperations::Multiple(ops) => {
                ops.values().next().expect("one operation").node.clone()
            }
        };
        let Value::Object(values) = values else {
            panic!("variables are an object")
        };
        types()
            .check(&op, Some(&values))
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    #[test]
    fn scalars_follow_the_reference_messages() {
        assert_eq!(
            errors("$i: Int", json!({"i": 3000000000u64})),
            [
                "Variable \"$i\" got invalid value 3000000000; Int cannot represent non 32-bit signed integer value: 3000000000"
            ]
        );
        assert_eq!(
            errors("$i: Int", json!({"i": 1.5})),
            ["Variable \"$i\" got invalid value 1.5; Int cannot represent non-integer value: 1.5"]
        );
        assert!(errors("$i: Int", json!({"i": 2.0})).is_empty());
        assert_eq!(
            errors("$s: String!", json!({"s": 5})),
            ["Variable \"$s\" got invalid value 5; String cannot represent a non string value: 5"]
        );
        assert_eq!(
            errors("$s: String!", json!({})),
            ["Variable \"$s\" of required type \"String!\" was not provided."]
        );
        assert_eq!(
            errors("$s: String!", json!({"s": null})),
            ["Variable \"$s\" of non-null type \"String!\" must not be null."]
        );
        assert!(errors("$id: ID!", json!({"id": 7})).is_empty());
        assert_eq!(
            errors("$id: ID!", json!({"id": true})),
            ["Variable \"$id\" got invalid value true; ID cannot represent value: true"]
        );
        assert!(errors("$s: String! = \"x\"", json!({})).is_empty());
    }

    #[test]
    fn input_objects_enums_and_lists_say_where() {
        assert_eq!(
            errors("$f: Filter", json!({"f": {"color": "BLUE"}})),
            [
                "Variable \"$f\" got invalid value \"BLUE\" at \"f.color\"; Value \"BLUE\" does not exist in \"Color\" enum."
            ]
        );
        assert_eq!(
            errors("$f: Filter", json!({"f": {}})),
            [
                "Variable \"$f\" got invalid value {}; Field \"color\" of required type \"Color!\" was not provided."
            ]
        );
        assert_eq!(
            errors("$f: Filter", json!({"f": {"color": "RED", "x": 1}})),
            [
                "Variable \"$f\" got invalid value { color: \"RED\", x: 1 }; Field \"x\" is not defined by type \"Filter\"."
            ]
        );
        assert_eq!(
            errors(
                "$f: Filter",
                json!({"f": {"color": "RED", "tags": ["a", 2]}})
            ),
            [
                "Variable \"$f\" got invalid value 2 at \"f.tags[1]\"; String cannot represent a non string value: 2"
            ]
        );
        assert!(errors("$f: Filter", json!({"f": {"color": "RED", "tags": "one"}})).is_empty());
        assert_eq!(
            errors("$b: By", json!({"b": {"id": "1", "name": "x"}})),
            [
                "Variable \"$b\" got invalid value { id: \"1\", name: \"x\" }; Exactly one key must be specified for OneOf type \"By\"."
            ]
        );
        assert!(errors("$b: By", json!({"b": {"id": "1"}})).is_empty());
    }
}
