//! Fields and their types: `@listSize`, `@onError`, arguments, and whether
//! a literal value fits a type.

use super::*;

impl Loader<'_> {
    pub(super) fn field(
        &mut self,
        parent: &str,
        field: &Positioned<FieldDefinition>,
        is_root: bool,
        json_keys: &HashSet<String>,
        scope: &Scope<'_>,
    ) -> FieldDef {
        let node = &field.node;
        let coordinate = format!("{parent}.{}", node.name.node);
        self.check_type(&node.ty.node, node.ty.pos, scope, false);
        let args: Vec<ArgDef> = node
            .arguments
            .iter()
            .map(|a| self.arg(a, scope, false))
            .collect();
        let mut rest = None;
        let mut from = None;
        let mut on_error = None;
        let mut cache = None;
        let mut list_size = None;
        for d in &node.directives {
            match d.node.name.node.as_str() {
                "rest" => {
                    if rest.is_some() {
                        self.error(d.pos, format!("`{coordinate}` has two @rest bindings"));
                    }
                    rest = Some(d);
                }
                "from" => from = Some(d),
                "onError" => on_error = Some(d),
                "cache" => cache = Some(d),
                "listSize" => list_size = self.list_size(d, &coordinate, &node.ty.node, &args),
                name if PASSTHROUGH_DIRECTIVES.contains(&name) => {}
                other => self.error(
                    d.pos,
                    format!(
                        "unknown directive @{other} on `{coordinate}`; expected @rest, @from, @cache, @onError or @listSize"
                    ),
                ),
            }
        }
        let source = match (rest, from) {
            (Some(_), Some(f)) => {
                self.error(f.pos, format!("`{coordinate}` has both @rest and @from; a bound field's value is its own call's response (use `select` to pick a part of it)"));
                FieldSource::Parent(vec![])
            }
            (Some(r), None) => {
                let ctx = FieldCtx {
                    coordinate: &coordinate,
                    args: &args,
                    is_root,
                    json_keys,
                    parent,
                };
                match self.rest(r, cache.take(), &ctx, scope) {
                    Some(binding) => FieldSource::Rest(Arc::new(binding)),
                    None => FieldSource::Parent(vec![]),
                }
            }
            (None, Some(f)) => {
                let args = DirectiveArgs::new(f, &vocabulary::arg_names("from"), &mut self.diags);
                let path = args
                    .required_string("path", &mut self.diags)
                    .map(|(p, _)| p.split('.').map(str::to_owned).collect())
                    .unwrap_or_default();
                if is_root {
                    self.error(
                        f.pos,
                        format!("`{coordinate}` is a root field: it has no parent to read from"),
                    );
                }
                FieldSource::Parent(path)
            }
            (None, None) if is_root => {
                if matches!(named_kind(&node.ty.node, scope), Some(TypeKind::Object(_))) {
                    FieldSource::Arguments
                } else {
                    self.error(field.pos, format!("root field `{coordinate}` needs a @rest binding (only a root field of an object type may go without one: its object is made of its arguments)"));
                    FieldSource::Arguments
                }
            }
            (None, None) => FieldSource::Parent(vec![node.name.node.to_string()]),
        };
        if let Some(d) = cache {
            self.error(
                d.pos,
                format!(
                    "@cache on `{coordinate}` needs a @rest binding: only upstream calls are cached"
                ),
            );
        }
        let on_error = match on_error {
            Some(d) => self.on_error(d, &coordinate, &node.ty.node, &source, scope),
            None => OnError::Fail,
        };
        FieldDef {
            deprecation: deprecation(&node.directives),
            on_error,
            list_size,
            coordinate,
            pos: field.pos,
            name: node.name.node.to_string(),
            description: node.description.as_ref().map(|d| d.node.clone()),
            ty: node.ty.node.clone(),
            args,
            source,
        }
    }

    /// `@listSize(assumedSize:, slicingArguments:)` on a list field.
    pub(super) fn list_size(
        &mut self,
        directive: &Positioned<ConstDirective>,
        coordinate: &str,
        ty: &Type,
        args: &[ArgDef],
    ) -> Option<ListSize> {
        let reader = DirectiveArgs::new(
            directive,
            &vocabulary::arg_names("listSize"),
            &mut self.diags,
        );
        if !matches!(ty.base, BaseType::List(_)) {
            self.error(
                directive.pos,
                format!("@listSize on `{coordinate}`: the field is not a list"),
            );
            return None;
        }
        let assumed = reader
            .usize("assumedSize", &mut self.diags)
            .map(|n| u64::try_from(n).unwrap_or(u64::MAX));
        let mut slicing = Vec::new();
        for (name, pos) in reader.strings("slicingArguments", &mut self.diags) {
            match args.iter().find(|a| a.name.as_str() == name) {
                Some(arg) if matches!(&arg.ty.base, BaseType::Named(n) if n == "Int") => {
                    slicing.push(name.to_owned())
                }
                Some(arg) => self.error(
                    pos,
                    format!(
                        "@listSize on `{coordinate}`: slicing argument `{name}` is `{}`, not Int",
                        arg.ty
                    ),
                ),
                None => self.error(
                    pos,
                    format!("@listSize on `{coordinate}`: the field has no argument `{name}`"),
                ),
            }
        }
        if assumed.is_none() && slicing.is_empty() {
            self.error(
                directive.pos,
                format!("@listSize on `{coordinate}` needs `assumedSize` or `slicingArguments`"),
            );
            return None;
        }
        Some(ListSize { assumed, slicing })
    }

    pub(super) fn arg(
        &mut self,
        arg: &Positioned<InputValueDefinition>,
        scope: &Scope<'_>,
        _input: bool,
    ) -> ArgDef {
        self.check_type(&arg.node.ty.node, arg.node.ty.pos, scope, true);
        ArgDef {
            name: arg.node.name.node.clone(),
            description: arg.node.description.as_ref().map(|d| d.node.clone()),
            ty: arg.node.ty.node.clone(),
            default: arg.node.default_value.as_ref().map(|v| v.node.clone()),
            deprecation: deprecation(&arg.node.directives),
        }
    }

    pub(super) fn check_type(&mut self, ty: &Type, pos: Pos, scope: &Scope<'_>, input: bool) {
        let name = base_name(ty);
        if BUILTIN_SCALARS.contains(&name) {
            return;
        }
        match scope.kinds.get(name) {
            None => self.error(pos, format!("unknown type `{name}`")),
            Some(TypeKind::InputObject(_)) if !input => self.error(
                pos,
                format!("`{name}` is an input type and cannot be a field's type"),
            ),
            Some(TypeKind::Object(_) | TypeKind::Interface(_) | TypeKind::Union(_)) if input => {
                self.error(
                    pos,
                    format!("`{name}` is an output type and cannot be an argument's type"),
                )
            }
            Some(_) => {}
        }
    }

    pub(super) fn on_error(
        &mut self,
        directive: &Positioned<ConstDirective>,
        coordinate: &str,
        ty: &Type,
        source: &FieldSource,
        scope: &Scope<'_>,
    ) -> OnError {
        let args = DirectiveArgs::new(
            directive,
            &vocabulary::arg_names("onError"),
            &mut self.diags,
        );
        let Some((policy, pos)) = args.required_string("use", &mut self.diags) else {
            return OnError::Fail;
        };
        let value = args.get("value");
        match policy {
            "FAIL" => OnError::Fail,
            "NULL" if !ty.nullable => {
                self.error(pos, format!("`{coordinate}` is non-null ({ty}), so it cannot become null; use DEFAULT with a value, or make the field nullable"));
                OnError::Fail
            }
            "NULL" => OnError::Null,
            "DEFAULT" => match value {
                None => {
                    self.error(
                        pos,
                        format!("@onError(use: DEFAULT) on `{coordinate}` needs a `value`"),
                    );
                    OnError::Fail
                }
                Some(v) => {
                    if let Err(problem) = value_fits(&v.node, ty, scope) {
                        self.error(
                            v.pos,
                            format!("the default for `{coordinate}` does not fit {ty}: {problem}"),
                        );
                    }
                    OnError::Default(v.node.clone())
                }
            },
            "STALE" => {
                let stale_window = match source {
                    FieldSource::Rest(b) => {
                        b.upstream.policies.cache.as_ref().map(|c| c.stale_if_error)
                    }
                    _ => None,
                };
                if stale_window.is_none_or(|w| w.is_zero()) {
                    self.error(pos, format!("@onError(use: STALE) on `{coordinate}` needs its upstream's `cache: {{ staleIfError: \"...\" }}`, which bounds how old a stale answer may be"));
                }
                if let Some(v) = value
                    && let Err(problem) = value_fits(&v.node, ty, scope)
                {
                    self.error(
                        v.pos,
                        format!("the fallback for `{coordinate}` does not fit {ty}: {problem}"),
                    );
                }
                OnError::Stale {
                    fallback: value.map(|v| v.node.clone()),
                }
            }
            other => {
                self.error(
                    pos,
                    format!("unknown @onError policy `{other}`; use FAIL, NULL, DEFAULT or STALE"),
                );
                OnError::Fail
            }
        }
    }
}

/// Whether a literal `value` (from the SDL) is a valid result of type `ty`.
pub(super) fn value_fits(value: &ConstValue, ty: &Type, scope: &Scope<'_>) -> Result<(), String> {
    if let ConstValue::Null = value {
        return if ty.nullable {
            Ok(())
        } else {
            Err("null for a non-null type".to_owned())
        };
    }
    match &ty.base {
        BaseType::List(inner) => match value {
            ConstValue::List(items) => items.iter().try_for_each(|i| value_fits(i, inner, scope)),
            other => Err(format!("`{other}` is not a list")),
        },
        BaseType::Named(name) => {
            let ok = match (name.as_str(), value) {
                ("Int", ConstValue::Number(n)) => {
                    n.as_i64().is_some_and(|i| i32::try_from(i).is_ok())
                }
                ("Float", ConstValue::Number(_)) => true,
                ("String" | "ID", ConstValue::String(_)) => true,
                ("ID", ConstValue::Number(n)) => n.is_i64(),
                ("Boolean", ConstValue::Boolean(_)) => true,
                (other, value) => match (scope.kinds.get(other), value) {
                    (Some(TypeKind::Enum(e)), ConstValue::Enum(v)) => {
                        e.values.iter().any(|ev| ev.node.value.node == *v)
                    }
                    (Some(TypeKind::Enum(e)), ConstValue::String(v)) => e
                        .values
                        .iter()
                        .any(|ev| ev.node.value.node.as_str() == v.as_str()),
                    (Some(TypeKind::Object(object)), ConstValue::Object(map)) => {
                        for key in map.keys() {
                            if !object.fields.iter().any(|f| f.node.name.node == *key) {
                                return Err(format!("`{other}` has no field `{key}`"));
                            }
                        }
                        for f in &object.fields {
                            match map.get(f.node.name.node.as_str()) {
                                Some(v) => value_fits(v, &f.node.ty.node, scope)
                                    .map_err(|e| format!("{}: {e}", f.node.name.node))?,
                                None if !f.node.ty.node.nullable
                                    && !has_directive(&f.node.directives, "rest") =>
                                {
                                    return Err(format!(
                                        "the non-null field `{}` is missing",
                                        f.node.name.node
                                    ));
                                }
                                None => {}
                            }
                        }
                        true
                    }
                    (Some(TypeKind::Scalar), _) => true,
                    _ => false,
                },
            };
            if ok {
                Ok(())
            } else {
                Err(format!("`{value}` is not a {name}"))
            }
        }
    }
}

/// Whether a value of argument type `arg` always fits output type `field`.
pub(super) fn arg_fits(arg: &Type, has_default: bool, field: &Type) -> bool {
    if !field.nullable && arg.nullable && !has_default {
        return false;
    }
    match (&arg.base, &field.base) {
        (BaseType::Named(a), BaseType::Named(f)) => {
            a == f
                || matches!(
                    (a.as_str(), f.as_str()),
                    ("ID" | "String" | "Int", "ID")
                        | ("ID" | "Int" | "Float" | "Boolean", "String")
                        | ("Int", "Float")
                )
        }
        (BaseType::List(a), BaseType::List(f)) => arg_fits(a, false, f),
        _ => false,
    }
}
