//! Selections in the one shape the planner reads: fragments inlined,
//! `@skip`/`@include` applied, variables substituted into argument values,
//! each field carrying the type conditions it sits under. Client operations
//! and the field sets of `@key`/`@requires`/`@provides` both become this.

use async_graphql::parser::types::{
    ExecutableDocument, Selection, SelectionSet, VariableDefinition,
};
use async_graphql::{Name, Positioned};
use async_graphql_value::Value;
use serde_json::{Map, Value as Json};

/// One selected field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sel {
    /// The response key: the alias, else the name.
    pub(crate) key: String,
    pub(crate) name: String,
    /// Argument values as given, variables substituted.
    pub(crate) args: Vec<(String, Json)>,
    /// The type conditions of the fragments it sits in: it applies to an
    /// object whose type is a possible type of every one of them.
    pub(crate) on: Vec<String>,
    pub(crate) sub: Vec<Sel>,
    /// Where it is in the client's document (`None` for field sets).
    pub(crate) pos: Option<async_graphql::Pos>,
}

impl Sel {
    pub(crate) fn is_typename(&self) -> bool {
        self.name == "__typename"
    }

    /// The same field without its type conditions.
    pub(crate) fn unconditioned(&self) -> Sel {
        Sel {
            on: Vec::new(),
            ..self.clone()
        }
    }
}

/// A `@key`, `@requires` or `@provides` field set.
pub(crate) type FieldSet = Vec<Sel>;

/// Parses a field set (`"id organization { id }"`).
pub(crate) fn parse_field_set(text: &str) -> Result<FieldSet, String> {
    let doc = async_graphql::parser::parse_query(format!("{{{text}}}"))
        .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_owned())?;
    let Some((_, op)) = doc.operations.iter().next() else {
        return Err("empty field set".to_owned());
    };
    let empty = Map::new();
    let norm = Normalizer {
        doc: &doc,
        variables: &empty,
        defaults: &[],
    };
    let mut out = Vec::new();
    norm.set(&op.node.selection_set.node, &[], &mut out, 0)?;
    Ok(out)
}

/// Deepest nesting of fields and fragments read (the gateway's depth limit
/// is far below it; this only bounds the recursion).
const MAX_DEPTH: usize = 256;

pub(crate) struct Normalizer<'a> {
    pub(crate) doc: &'a ExecutableDocument,
    pub(crate) variables: &'a Map<String, Json>,
    pub(crate) defaults: &'a [Positioned<VariableDefinition>],
}

impl Normalizer<'_> {
    pub(crate) fn set(
        &self,
        set: &SelectionSet,
        on: &[String],
        out: &mut Vec<Sel>,
        depth: usize,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("the selection is nested too deeply".to_owned());
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    if self.skipped(&f.node.directives)? {
                        continue;
                    }
                    let field = &f.node;
                    let mut args = Vec::with_capacity(field.arguments.len());
                    for (name, value) in &field.arguments {
                        args.push((name.node.to_string(), self.value(&value.node)?));
                    }
                    let mut sub = Vec::new();
                    self.set(&field.selection_set.node, &[], &mut sub, depth + 1)?;
                    out.push(Sel {
                        key: field.response_key().node.to_string(),
                        name: field.name.node.to_string(),
                        args,
                        on: on.to_vec(),
                        sub,
                        pos: Some(f.pos),
                    });
                }
                Selection::InlineFragment(i) => {
                    if self.skipped(&i.node.directives)? {
                        continue;
                    }
                    let on =
                        with_condition(on, i.node.type_condition.as_ref().map(|c| &c.node.on.node));
                    self.set(&i.node.selection_set.node, &on, out, depth + 1)?;
                }
                Selection::FragmentSpread(s) => {
                    if self.skipped(&s.node.directives)? {
                        continue;
                    }
                    let Some(fragment) = self.doc.fragments.get(&s.node.fragment_name.node) else {
                        return Err(format!("unknown fragment `{}`", s.node.fragment_name.node));
                    };
                    let on = with_condition(on, Some(&fragment.node.type_condition.node.on.node));
                    self.set(&fragment.node.selection_set.node, &on, out, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    fn skipped(
        &self,
        directives: &[Positioned<async_graphql::parser::types::Directive>],
    ) -> Result<bool, String> {
        for d in directives {
            let name = d.node.name.node.as_str();
            if name != "skip" && name != "include" {
                continue;
            }
            let condition = match d.node.get_argument("if") {
                Some(v) => self.value(&v.node)?,
                None => Json::Bool(false),
            };
            let yes = condition.as_bool().unwrap_or(false);
            if (name == "skip" && yes) || (name == "include" && !yes) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// An argument value with the request's variables in it.
    fn value(&self, value: &Value) -> Result<Json, String> {
        Ok(match value {
            Value::Variable(name) => self.variable(name),
            Value::Null => Json::Null,
            Value::Number(n) => Json::Number(n.clone()),
            Value::String(s) => Json::String(s.clone()),
            Value::Boolean(b) => Json::Bool(*b),
            Value::Binary(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
            Value::Enum(e) => Json::String(e.to_string()),
            Value::List(items) => Json::Array(
                items
                    .iter()
                    .map(|v| self.value(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(fields) => {
                let mut map = Map::new();
                for (k, v) in fields {
                    let value = self.value(v)?;
                    // An input field given as an absent variable is absent.
                    if let Value::Variable(var) = v
                        && !self.variables.contains_key(var.as_str())
                        && self.default_of(var).is_none()
                    {
                        continue;
                    }
                    map.insert(k.to_string(), value);
                }
                Json::Object(map)
            }
        })
    }

    fn variable(&self, name: &Name) -> Json {
        if let Some(v) = self.variables.get(name.as_str()) {
            return v.clone();
        }
        self.default_of(name).unwrap_or(Json::Null)
    }

    fn default_of(&self, name: &Name) -> Option<Json> {
        self.defaults
            .iter()
            .find(|d| d.node.name.node == *name)
            .and_then(|d| d.node.default_value.as_ref())
            .and_then(|v| v.node.clone().into_json().ok())
    }
}

fn with_condition(on: &[String], condition: Option<&Name>) -> Vec<String> {
    let mut out = on.to_vec();
    if let Some(c) = condition
        && !out.iter().any(|o| o == c.as_str())
    {
        out.push(c.to_string());
    }
    out
}
