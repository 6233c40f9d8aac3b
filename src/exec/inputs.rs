//! Argument values as the spec coerces them (3.10 Input Objects, 3.11 List
//! input coercion), before templates or an object made of arguments read
//! them: a single value where a list is expected becomes a one-item list (at
//! every depth: `1` into `[[Int]]` is `[[1]]`), and an input object's fields
//! that are not given take their defaults. Validation and the gateway's
//! variable check have refused what does not fit; this only completes.

use std::collections::HashMap;

use async_graphql::parser::types::{BaseType, Type};
use serde_json::{Map, Value};

use crate::config::{ArgDef, Config, TypeDef};

/// The input object types' fields, by type name.
#[derive(Debug, Default)]
pub(crate) struct InputTypes {
    fields: HashMap<String, Vec<ArgDef>>,
}

impl InputTypes {
    pub(crate) fn new(config: &Config) -> InputTypes {
        let fields = config
            .types
            .iter()
            .filter_map(|(name, def)| match def {
                TypeDef::Input(input) => Some((name.clone(), input.fields.clone())),
                _ => None,
            })
            .collect();
        InputTypes { fields }
    }

    /// `args` (the client's, variables substituted) with the declared
    /// defaults of those not given, each coerced to its declared type.
    pub(crate) fn arguments(
        &self,
        defs: &[ArgDef],
        mut args: Map<String, Value>,
    ) -> Map<String, Value> {
        self.complete(defs, &mut args);
        args
    }

    /// Fills in `object`'s missing fields from their defaults and coerces
    /// every field given.
    fn complete(&self, defs: &[ArgDef], object: &mut Map<String, Value>) {
        for def in defs {
            match object.get_mut(def.name.as_str()) {
                Some(value) => self.coerce(&def.ty, value),
                None => {
                    if let Some(default) = &def.default {
                        let mut value = default.clone().into_json().unwrap_or(Value::Null);
                        self.coerce(&def.ty, &mut value);
                        object.insert(def.name.to_string(), value);
                    }
                }
            }
        }
    }

    fn coerce(&self, ty: &Type, value: &mut Value) {
        match (&ty.base, value) {
            (_, Value::Null) => {}
            (BaseType::List(inner), Value::Array(items)) => {
                for item in items {
                    self.coerce(inner, item);
                }
            }
            (BaseType::List(inner), value) => {
                let mut item = value.take();
                self.coerce(inner, &mut item);
                *value = Value::Array(vec![item]);
            }
            (BaseType::Named(name), Value::Object(object)) => {
                if let Some(defs) = self.fields.get(name.as_str()) {
                    self.complete(defs, object);
                }
            }
            _ => {}
        }
    }
}
