//! Typed configuration -> async-graphql dynamic schema, every field served by
//! the one generic resolver.

mod coerce;
mod null_propagation;
mod resolver;

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dynamic::{
    Enum, EnumItem, Field, InputObject, InputValue, Interface, InterfaceField, Object, Scalar,
    Schema, TypeRef, Union,
};
use async_graphql::parser::types::{BaseType, Type};

use crate::config::{ArgDef, Config, TypeDef};
use crate::exec::registry::Registry;
use crate::upstream::Upstream;

/// A schema ready to execute, plus the runtime view its resolvers share.
pub struct BuiltSchema {
    pub schema: Schema,
    pub(crate) registry: Arc<Registry>,
}

/// Builds the executable schema. Fails only on what the engine itself
/// rejects (the configuration was validated already).
pub fn build(
    config: &Config,
    upstreams: &HashMap<String, Arc<Upstream>>,
) -> Result<BuiltSchema, String> {
    let registry = Arc::new(Registry::build(config, upstreams));
    // Depth and cost are checked before the engine sees a document
    // (`gateway::cost`), with list sizes and fragments accounted for.
    let mut builder = Schema::build(&config.query_type, config.mutation_type.as_deref(), None)
        .extension(null_propagation::NullPropagation);
    if !config.server.introspection {
        builder = builder.disable_introspection();
    }
    for (name, def) in &config.types {
        builder = match def {
            TypeDef::Object(object) => {
                let mut ty = Object::new(name);
                if let Some(d) = &object.description {
                    ty = ty.description(d);
                }
                for i in &object.implements {
                    ty = ty.implement(i);
                }
                for (fname, fdef) in &object.fields {
                    let rt = registry
                        .field(name, fname)
                        .cloned()
                        .ok_or_else(|| format!("{name}.{fname} missing from the registry"))?;
                    let mut field = Field::new(fname, type_ref(&fdef.ty), resolver::resolver(rt));
                    if let Some(reason) = &fdef.deprecation {
                        field = field.deprecation(Some(reason));
                    }
                    if let Some(d) = &fdef.description {
                        field = field.description(d);
                    }
                    for arg in &fdef.args {
                        field = field.argument(input_value(arg));
                    }
                    ty = ty.field(field);
                }
                builder.register(ty)
            }
            TypeDef::Interface(object) => {
                let mut ty = Interface::new(name);
                if let Some(d) = &object.description {
                    ty = ty.description(d);
                }
                for i in &object.implements {
                    ty = ty.implement(i);
                }
                for (fname, fdef) in &object.fields {
                    let mut field = InterfaceField::new(fname, type_ref(&fdef.ty));
                    if let Some(reason) = &fdef.deprecation {
                        field = field.deprecation(Some(reason));
                    }
                    if let Some(d) = &fdef.description {
                        field = field.description(d);
                    }
                    for arg in &fdef.args {
                        field = field.argument(input_value(arg));
                    }
                    ty = ty.field(field);
                }
                builder.register(ty)
            }
            TypeDef::Union(union) => {
                let mut ty = Union::new(name);
                if let Some(d) = &union.description {
                    ty = ty.description(d);
                }
                for m in &union.members {
                    ty = ty.possible_type(m);
                }
                builder.register(ty)
            }
            TypeDef::Enum(e) => {
                let mut ty = Enum::new(name).items(e.values.iter().map(|v| {
                    let mut item = EnumItem::new(v.name.as_str());
                    if let Some(d) = &v.description {
                        item = item.description(d);
                    }
                    match &v.deprecation {
                        Some(reason) => item.deprecation(Some(reason)),
                        None => item,
                    }
                }));
                if let Some(d) = &e.description {
                    ty = ty.description(d);
                }
                builder.register(ty)
            }
            TypeDef::Scalar(s) => {
                let mut ty = Scalar::new(name);
                if let Some(d) = &s.description {
                    ty = ty.description(d);
                }
                if let Some(url) = &s.specified_by {
                    ty = ty.specified_by_url(url);
                }
                builder.register(ty)
            }
            TypeDef::Input(input) => {
                let mut ty = InputObject::new(name);
                if let Some(d) = &input.description {
                    ty = ty.description(d);
                }
                if input.one_of {
                    ty = ty.oneof();
                }
                for f in &input.fields {
                    ty = ty.field(input_value(f));
                }
                builder.register(ty)
            }
        };
    }
    let schema = builder.finish().map_err(|e| e.0)?;
    Ok(BuiltSchema { schema, registry })
}

fn input_value(arg: &ArgDef) -> InputValue {
    let mut value = InputValue::new(arg.name.as_str(), type_ref(&arg.ty));
    // `deprecation(None)` would mark it deprecated without a reason.
    if let Some(reason) = &arg.deprecation {
        value = value.deprecation(Some(reason));
    }
    if let Some(default) = &arg.default {
        value = value.default_value(default.clone());
    }
    if let Some(d) = &arg.description {
        value = value.description(d);
    }
    value
}

fn type_ref(ty: &Type) -> TypeRef {
    let inner = match &ty.base {
        BaseType::Named(name) => TypeRef::Named(name.to_string().into()),
        BaseType::List(inner) => TypeRef::List(Box::new(type_ref(inner))),
    };
    if ty.nullable {
        inner
    } else {
        TypeRef::NonNull(Box::new(inner))
    }
}
