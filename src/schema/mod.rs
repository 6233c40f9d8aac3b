//! Typed configuration -> async-graphql dynamic schema, every field served by
//! the one generic resolver.

pub(crate) mod coerce;
mod null_propagation;
mod resolver;
mod subscription;

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dynamic::{
    Enum, EnumItem, Field, InputObject, InputValue, Interface, InterfaceField, Object, Scalar,
    Schema, Subscription, SubscriptionField, TypeRef, Union,
};
use async_graphql::parser::types::{BaseType, Type};

use crate::config::{ArgDef, Config, FieldDef, ObjectDef, TypeDef};
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
    let mut builder = Schema::build(
        &config.query_type,
        config.mutation_type.as_deref(),
        config.subscription_type.as_deref(),
    )
    .extension(null_propagation::NullPropagation);
    if !config.server.introspection {
        builder = builder.disable_introspection();
    }
    for (name, def) in &config.types {
        builder = match def {
            TypeDef::Object(object)
                if config.subscription_type.as_deref() == Some(name.as_str()) =>
            {
                let overflow = config.server.subscriptions.overflow;
                let ty = output_type(Subscription::new(name), object, |fname, fdef| {
                    let rt = registry
                        .field(name, fname)
                        .cloned()
                        .ok_or_else(|| format!("{name}.{fname} missing from the registry"))?;
                    let ty = crate::exec::registry::engine_type(config, name, fname, &fdef.ty);
                    Ok(SubscriptionField::new(
                        fname,
                        type_ref(&ty),
                        subscription::resolver(rt, overflow),
                    ))
                })?;
                builder.register(ty)
            }
            TypeDef::Object(object) => {
                let ty = output_type(Object::new(name), object, |fname, fdef| {
                    let rt = registry
                        .field(name, fname)
                        .cloned()
                        .ok_or_else(|| format!("{name}.{fname} missing from the registry"))?;
                    let ty = crate::exec::registry::engine_type(config, name, fname, &fdef.ty);
                    Ok(Field::new(fname, type_ref(&ty), resolver::resolver(rt)))
                })?;
                builder.register(ty)
            }
            TypeDef::Interface(object) => {
                let ty = output_type(Interface::new(name), object, |fname, fdef| {
                    let ty = crate::exec::registry::engine_type(config, name, fname, &fdef.ty);
                    Ok(InterfaceField::new(fname, type_ref(&ty)))
                })?;
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

/// An object or interface type described by `object`: its description, the
/// interfaces it implements and its fields. `new_field` makes each bare field
/// (an object's carries its resolver, an interface's has none); the field's
/// deprecation, description and arguments are added here, so both kinds of
/// type are described by the same code.
fn output_type<T: OutputType>(
    mut ty: T,
    object: &ObjectDef,
    mut new_field: impl FnMut(&str, &FieldDef) -> Result<T::Field, String>,
) -> Result<T, String> {
    if let Some(d) = &object.description {
        ty = ty.description(d);
    }
    for i in &object.implements {
        ty = ty.implement(i);
    }
    for (fname, fdef) in &object.fields {
        let mut field = new_field(fname, fdef)?;
        // `deprecation(None)` would mark it deprecated without a reason.
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
    Ok(ty)
}

/// The builder methods [`Object`] and [`Interface`] have alike. The engine's
/// dynamic API gives them (and their fields) the same methods but no common
/// trait; naming the methods lets [`output_type`] serve both.
trait OutputType: Sized {
    type Field: OutputField;
    fn description(self, text: &str) -> Self;
    fn implement(self, interface: &str) -> Self;
    fn field(self, field: Self::Field) -> Self;
}

/// The builder methods [`Field`] and [`InterfaceField`] have alike.
trait OutputField: Sized {
    fn deprecation(self, reason: Option<&str>) -> Self;
    fn description(self, text: &str) -> Self;
    fn argument(self, arg: InputValue) -> Self;
}

/// Implements the two traits for a type builder and its field builder by
/// calling their inherent methods of the same names.
macro_rules! impl_output_type {
    ($ty:ty, $field:ty) => {
        impl OutputType for $ty {
            type Field = $field;
            fn description(self, text: &str) -> Self {
                <$ty>::description(self, text)
            }
            fn implement(self, interface: &str) -> Self {
                <$ty>::implement(self, interface)
            }
            fn field(self, field: $field) -> Self {
                <$ty>::field(self, field)
            }
        }

        impl OutputField for $field {
            fn deprecation(self, reason: Option<&str>) -> Self {
                <$field>::deprecation(self, reason)
            }
            fn description(self, text: &str) -> Self {
                <$field>::description(self, text)
            }
            fn argument(self, arg: InputValue) -> Self {
                <$field>::argument(self, arg)
            }
        }
    };
}

impl_output_type!(Object, Field);
impl_output_type!(Interface, InterfaceField);

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
