//! Typed reading of directive arguments, with a diagnostic for every
//! unknown argument and every value of the wrong kind.

use async_graphql::parser::types::ConstDirective;
use async_graphql::{Pos, Positioned, Value as ConstValue};

use super::Diagnostic;

/// The arguments of one directive occurrence.
pub(crate) struct DirectiveArgs<'a> {
    pub(crate) name: &'a str,
    pub(crate) pos: Pos,
    args: &'a [(Positioned<async_graphql::Name>, Positioned<ConstValue>)],
}

impl<'a> DirectiveArgs<'a> {
    /// Reads `directive`, reporting arguments not in `known`.
    pub(crate) fn new(
        directive: &'a Positioned<ConstDirective>,
        known: &[&str],
        diags: &mut Vec<Diagnostic>,
    ) -> Self {
        let name = directive.node.name.node.as_str();
        for (arg, _) in &directive.node.arguments {
            if !known.contains(&arg.node.as_str()) {
                diags.push(Diagnostic {
                    pos: arg.pos,
                    message: format!(
                        "unknown argument `{}` on @{name}; expected one of: {}",
                        arg.node,
                        known.join(", ")
                    ),
                });
            }
        }
        DirectiveArgs {
            name,
            pos: directive.pos,
            args: &directive.node.arguments,
        }
    }

    /// Every argument as (name, value, position).
    pub(crate) fn all(&self) -> Vec<(&'a str, &'a ConstValue, Pos)> {
        self.args
            .iter()
            .map(|(name, value)| (name.node.as_str(), &value.node, value.pos))
            .collect()
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Positioned<ConstValue>> {
        self.args
            .iter()
            .find(|(name, _)| name.node == key)
            .map(|(_, value)| value)
    }

    pub(crate) fn string(&self, key: &str, diags: &mut Vec<Diagnostic>) -> Option<(&'a str, Pos)> {
        let value = self.get(key)?;
        match &value.node {
            ConstValue::String(s) => Some((s.as_str(), value.pos)),
            // Enum-looking values (method: GET) are accepted where strings are.
            ConstValue::Enum(e) => Some((e.as_str(), value.pos)),
            other => {
                diags.push(self.wrong_kind(key, "a string", other, value.pos));
                None
            }
        }
    }

    pub(crate) fn required_string(
        &self,
        key: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<(&'a str, Pos)> {
        if self.get(key).is_none() {
            diags.push(Diagnostic {
                pos: self.pos,
                message: format!("@{} needs `{key}`", self.name),
            });
            return None;
        }
        self.string(key, diags)
    }

    pub(crate) fn bool(&self, key: &str, diags: &mut Vec<Diagnostic>) -> Option<bool> {
        let value = self.get(key)?;
        match &value.node {
            ConstValue::Boolean(b) => Some(*b),
            other => {
                diags.push(self.wrong_kind(key, "true or false", other, value.pos));
                None
            }
        }
    }

    pub(crate) fn usize(&self, key: &str, diags: &mut Vec<Diagnostic>) -> Option<usize> {
        let value = self.get(key)?;
        match &value.node {
            ConstValue::Number(n) if n.as_u64().is_some_and(|n| n > 0) => {
                n.as_u64().and_then(|n| usize::try_from(n).ok())
            }
            other => {
                diags.push(self.wrong_kind(key, "a positive whole number", other, value.pos));
                None
            }
        }
    }

    /// A list of strings; a single string is accepted as a list of one.
    pub(crate) fn strings(&self, key: &str, diags: &mut Vec<Diagnostic>) -> Vec<(&'a str, Pos)> {
        let Some(value) = self.get(key) else {
            return Vec::new();
        };
        match &value.node {
            ConstValue::String(s) => vec![(s.as_str(), value.pos)],
            ConstValue::List(items) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        ConstValue::String(s) => out.push((s.as_str(), value.pos)),
                        other => {
                            diags.push(self.wrong_kind(key, "a list of strings", other, value.pos))
                        }
                    }
                }
                out
            }
            other => {
                diags.push(self.wrong_kind(key, "a list of strings", other, value.pos));
                Vec::new()
            }
        }
    }

    /// `[{ name: "x", value: "y" }]`, or `{ x: "y" }`.
    pub(crate) fn pairs(
        &self,
        key: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Vec<(String, String, Pos)> {
        let Some(value) = self.get(key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match &value.node {
            ConstValue::Object(map) => {
                for (k, v) in map {
                    match scalar_text(v) {
                        Some(text) => out.push((k.to_string(), text, value.pos)),
                        None => diags.push(self.wrong_kind(key, "string values", v, value.pos)),
                    }
                }
            }
            ConstValue::List(items) => {
                for item in items {
                    let pair = match item {
                        ConstValue::Object(map) => map
                            .get("name")
                            .and_then(scalar_text)
                            .zip(map.get("value").and_then(scalar_text)),
                        _ => None,
                    };
                    match pair {
                        Some((name, text)) => out.push((name, text, value.pos)),
                        None => diags.push(Diagnostic {
                            pos: value.pos,
                            message: format!(
                                "`{key}` on @{} takes a list of {{ name: \"...\", value: \"...\" }}",
                                self.name
                            ),
                        }),
                    }
                }
            }
            other => diags.push(self.wrong_kind(
                key,
                "an object or a list of {name, value}",
                other,
                value.pos,
            )),
        }
        out
    }

    fn wrong_kind(&self, key: &str, expected: &str, got: &ConstValue, pos: Pos) -> Diagnostic {
        Diagnostic {
            pos,
            message: format!("`{key}` on @{} must be {expected}, not `{got}`", self.name),
        }
    }
}

fn scalar_text(value: &ConstValue) -> Option<String> {
    match value {
        ConstValue::String(s) => Some(s.clone()),
        ConstValue::Number(n) => Some(n.to_string()),
        ConstValue::Boolean(b) => Some(b.to_string()),
        ConstValue::Enum(e) => Some(e.to_string()),
        _ => None,
    }
}
