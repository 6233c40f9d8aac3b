//! Where things are in a document: the byte offsets of its operations,
//! fragments, fields, arguments, directives, variables and object values,
//! read once from apollo-compiler's syntax tree, so a diagnostic's location
//! can be moved to where graphql-js puts it.

use apollo_compiler::ast::{Argument, Definition, DirectiveList, Document, Selection, Value};
use apollo_compiler::{Node, Schema};

/// A name and where it starts.
#[derive(Debug, Clone)]
pub(super) struct Named {
    pub(super) name: String,
    pub(super) at: usize,
}

#[derive(Debug, Default)]
pub(super) struct Operation {
    pub(super) name: Option<Named>,
    pub(super) start: usize,
    pub(super) end: usize,
    /// `$a: Int`: the name (after `$`), the definition's start, its type.
    pub(super) variables: Vec<(Named, usize, usize)>,
    /// Fragments spread anywhere in it (directly).
    pub(super) spreads: Vec<String>,
}

#[derive(Debug)]
pub(super) struct Fragment {
    pub(super) name: Named,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) type_condition: Named,
    /// Spreads inside it: the spread fragment's name and where the spread
    /// (`...`) starts.
    pub(super) spreads: Vec<Named>,
}

#[derive(Debug)]
pub(super) struct Field {
    pub(super) start: usize,
    pub(super) end: usize,
    /// Its selection set's `{`, when it has one.
    pub(super) selection: Option<usize>,
    /// The response keys from the operation down to it (through fragments
    /// and spreads), its own last.
    pub(super) path: Vec<String>,
    /// The starts of the fields above it, outermost first.
    pub(super) ancestors: Vec<usize>,
    pub(super) name: String,
    /// Its declared type (`ID!`), when the schema has the field.
    pub(super) ty: Option<String>,
}

#[derive(Debug)]
pub(super) struct InlineFragment {
    pub(super) start: usize,
    pub(super) type_condition: Option<Named>,
    /// Inside a field whose type has no fields (the field's start).
    pub(super) in_field: Option<usize>,
}

/// Everything the relocation rules look up.
#[derive(Debug, Default)]
pub(super) struct Index {
    pub(super) operations: Vec<Operation>,
    pub(super) fragments: Vec<Fragment>,
    pub(super) fields: Vec<Field>,
    pub(super) inline_fragments: Vec<InlineFragment>,
    /// Argument lists (of fields and directives): each argument's name and
    /// where its value starts.
    pub(super) arguments: Vec<Vec<(Named, usize)>>,
    /// Directive lists: each directive's name and start (`@`).
    pub(super) directives: Vec<Vec<Named>>,
    /// Object values: each field's name and where its value starts.
    pub(super) objects: Vec<(usize, Vec<(Named, usize)>)>,
    /// Variable usages: the name and where `$` is.
    pub(super) usages: Vec<Named>,
    /// `null` given to a field of a @oneOf input object: the object's
    /// start, the null's, and `Type.field`.
    pub(super) one_of_nulls: Vec<(usize, usize, String)>,
}

/// How many fragment spreads deep the walk follows (cycles are a
/// validation error of their own; this only bounds the walk).
const MAX_SPREAD_DEPTH: usize = 16;

/// How many selections the walk visits in all, spreads expanded: a
/// document whose fragments multiply is indexed only that far (the measure
/// refused such documents before validation anyway).
const MAX_VISITS: usize = 20_000;

impl Index {
    pub(super) fn new(document: &Document, text: &str, schema: Option<&Schema>) -> Index {
        let mut index = Index::default();
        for definition in &document.definitions {
            if let Definition::FragmentDefinition(f) = definition {
                let (start, end) = span(f.location());
                let mut spreads = Vec::new();
                collect_spreads(&f.selection_set, &mut spreads);
                index.fragments.push(Fragment {
                    name: named(&f.name),
                    start,
                    end,
                    type_condition: named(&f.type_condition),
                    spreads,
                });
            }
        }
        for definition in &document.definitions {
            if let Definition::OperationDefinition(op) = definition {
                let (start, end) = span(op.location());
                let variables = op
                    .variables
                    .iter()
                    .map(|v| {
                        let (def_start, _) = span(v.location());
                        (named(&v.name), def_start, span(v.ty.location()).0)
                    })
                    .collect();
                let mut spreads = Vec::new();
                collect_spreads(&op.selection_set, &mut spreads);
                index.operations.push(Operation {
                    name: op.name.as_ref().map(named),
                    start,
                    end,
                    variables,
                    spreads: spreads.into_iter().map(|s| s.name).collect(),
                });
                for d in &op.variables {
                    index.directive_list(&d.directives);
                    if let Some(value) = &d.default_value {
                        index.value(value);
                    }
                }
                index.directive_list(&op.directives);
                let root = schema
                    .and_then(|s| s.root_operation(op.operation_type))
                    .map(ToString::to_string);
                let mut walk = Walk {
                    document,
                    text,
                    schema,
                    parent: root,
                    path: Vec::new(),
                    ancestors: Vec::new(),
                    depth: 0,
                    leaf: None,
                    visiting: Vec::new(),
                    visits: 0,
                };
                walk.set(&mut index, &op.selection_set);
            }
        }
        // What no operation reaches (an unused fragment) is still indexed.
        for definition in &document.definitions {
            if let Definition::FragmentDefinition(f) = definition {
                index.directive_list(&f.directives);
                let mut walk = Walk {
                    document,
                    text,
                    schema,
                    parent: Some(f.type_condition.to_string()),
                    path: Vec::new(),
                    ancestors: Vec::new(),
                    depth: MAX_SPREAD_DEPTH,
                    leaf: None,
                    visiting: Vec::new(),
                    visits: 0,
                };
                walk.set(&mut index, &f.selection_set);
            }
        }
        // A directive is where its `@` is.
        for list in &mut index.directives {
            for d in list.iter_mut() {
                if let Some(before) = text.get(..d.at)
                    && !text.get(d.at..).is_some_and(|t| t.starts_with('@'))
                    && let Some(offset) = before.trim_end().strip_suffix('@').map(str::len)
                {
                    d.at = offset;
                }
            }
        }
        index
    }

    fn directive_list(&mut self, list: &DirectiveList) {
        let mut items = Vec::new();
        for d in list.iter() {
            items.push(Named {
                name: d.name.to_string(),
                at: span(d.location()).0,
            });
            self.arguments_of(&d.arguments);
        }
        if !items.is_empty() {
            self.directives.push(items);
        }
    }

    fn arguments_of(&mut self, arguments: &[Node<Argument>]) {
        let list = arguments
            .iter()
            .map(|a| (named(&a.name), span(a.value.location()).0))
            .collect::<Vec<_>>();
        for a in arguments {
            self.value(&a.value);
        }
        if !list.is_empty() {
            self.arguments.push(list);
        }
    }

    fn value(&mut self, value: &Node<Value>) {
        match value.as_ref() {
            Value::Variable(name) => self.usages.push(Named {
                name: name.to_string(),
                at: span(value.location()).0,
            }),
            Value::List(items) => {
                for item in items {
                    self.value(item);
                }
            }
            Value::Object(fields) => {
                let start = span(value.location()).0;
                let list = fields
                    .iter()
                    .map(|(name, v)| (named(name), span(v.location()).0))
                    .collect();
                self.objects.push((start, list));
                for (_, v) in fields {
                    self.value(v);
                }
            }
            _ => {}
        }
    }

    /// The operation a location is in, or (in a fragment) the first
    /// operation that spreads that fragment, directly or not.
    pub(super) fn operation_of(&self, at: usize) -> Option<&Operation> {
        if let Some(op) = self.operations.iter().find(|o| o.start <= at && at < o.end) {
            return Some(op);
        }
        let fragment = self
            .fragments
            .iter()
            .find(|f| f.start <= at && at < f.end)?;
        self.operations
            .iter()
            .find(|op| self.reaches(&op.spreads, &fragment.name.name, 0))
    }

    fn reaches(&self, spreads: &[String], target: &str, depth: usize) -> bool {
        depth < MAX_SPREAD_DEPTH
            && spreads.iter().any(|s| {
                s == target
                    || self.fragments.iter().any(|f| {
                        f.name.name == *s
                            && self.reaches(
                                &f.spreads.iter().map(|n| n.name.clone()).collect::<Vec<_>>(),
                                target,
                                depth + 1,
                            )
                    })
            })
    }
}

struct Walk<'a> {
    document: &'a Document,
    text: &'a str,
    schema: Option<&'a Schema>,
    /// The type of the objects the selection set is on.
    parent: Option<String>,
    path: Vec<String>,
    ancestors: Vec<usize>,
    depth: usize,
    /// Inside the selection of this field (whose type may have no fields).
    leaf: Option<usize>,
    /// The fragments being expanded (a cycle is not followed).
    visiting: Vec<String>,
    visits: usize,
}

impl Walk<'_> {
    fn set(&mut self, index: &mut Index, set: &[Selection]) {
        for selection in set {
            self.visits += 1;
            if self.visits > MAX_VISITS {
                return;
            }
            match selection {
                Selection::Field(f) => {
                    let (start, end) = span(f.location());
                    let key = f.alias.as_ref().unwrap_or(&f.name).to_string();
                    self.path.push(key);
                    let selection = f
                        .selection_set
                        .is_some()
                        .then(|| open_brace(self.text, start, end))
                        .flatten();
                    let ty = match (self.schema, &self.parent) {
                        (Some(schema), Some(parent)) => schema
                            .type_field(parent, &f.name)
                            .ok()
                            .map(|d| d.ty.clone()),
                        _ => None,
                    };
                    index.fields.push(Field {
                        start,
                        end,
                        selection,
                        path: self.path.clone(),
                        ancestors: self.ancestors.clone(),
                        name: f.name.to_string(),
                        ty: ty.as_ref().map(ToString::to_string),
                    });
                    index.arguments_of(&f.arguments);
                    if let (Some(schema), Some(parent)) = (self.schema, &self.parent)
                        && let Ok(definition) = schema.type_field(parent, &f.name)
                    {
                        for a in &f.arguments {
                            if let Some(arg) = definition.argument_by_name(&a.name) {
                                one_of_nulls(
                                    schema,
                                    &a.value,
                                    arg.ty.inner_named_type(),
                                    &mut index.one_of_nulls,
                                );
                            }
                        }
                    }
                    index.directive_list(&f.directives);
                    self.ancestors.push(start);
                    let outer = self.leaf.replace(start);
                    let parent = std::mem::replace(
                        &mut self.parent,
                        ty.map(|t| t.inner_named_type().to_string()),
                    );
                    self.set(index, f.selection_set.as_deref().unwrap_or_default());
                    self.parent = parent;
                    self.leaf = outer;
                    self.ancestors.pop();
                    self.path.pop();
                }
                Selection::InlineFragment(inline) => {
                    index.inline_fragments.push(InlineFragment {
                        start: span(inline.location()).0,
                        type_condition: inline.type_condition.as_ref().map(named),
                        in_field: self.leaf,
                    });
                    index.directive_list(&inline.directives);
                    let parent = match &inline.type_condition {
                        Some(on) => self.parent.replace(on.to_string()),
                        None => self.parent.clone(),
                    };
                    self.set(index, &inline.selection_set);
                    self.parent = parent;
                }
                Selection::FragmentSpread(spread) => {
                    index.directive_list(&spread.directives);
                    let name = spread.fragment_name.as_str();
                    if self.depth >= MAX_SPREAD_DEPTH || self.visiting.iter().any(|v| v == name) {
                        continue;
                    }
                    let fragment = self.document.definitions.iter().find_map(|d| match d {
                        Definition::FragmentDefinition(f) if f.name == spread.fragment_name => {
                            Some(f)
                        }
                        _ => None,
                    });
                    if let Some(fragment) = fragment {
                        self.depth += 1;
                        self.visiting.push(name.to_owned());
                        let parent = self.parent.replace(fragment.type_condition.to_string());
                        self.set(index, &fragment.selection_set);
                        self.parent = parent;
                        self.visiting.pop();
                        self.depth -= 1;
                    }
                }
            }
        }
    }
}

/// The `null`s given to fields of @oneOf input objects in `value` (of the
/// input type `ty`).
fn one_of_nulls(
    schema: &Schema,
    value: &Node<Value>,
    ty: &str,
    out: &mut Vec<(usize, usize, String)>,
) {
    match value.as_ref() {
        Value::List(items) => {
            for item in items {
                one_of_nulls(schema, item, ty, out);
            }
        }
        Value::Object(fields) => {
            let Some(input) = schema.get_input_object(ty) else {
                return;
            };
            let one_of = input.directives.get("oneOf").is_some();
            for (name, v) in fields {
                if one_of && matches!(v.as_ref(), Value::Null) {
                    out.push((
                        span(value.location()).0,
                        span(v.location()).0,
                        format!("{ty}.{name}"),
                    ));
                }
                if let Some(field) = input.fields.get(name) {
                    one_of_nulls(schema, v, field.ty.inner_named_type(), out);
                }
            }
        }
        _ => {}
    }
}

fn collect_spreads(set: &[Selection], out: &mut Vec<Named>) {
    for selection in set {
        match selection {
            Selection::Field(f) => {
                collect_spreads(f.selection_set.as_deref().unwrap_or_default(), out)
            }
            Selection::InlineFragment(i) => collect_spreads(&i.selection_set, out),
            Selection::FragmentSpread(s) => out.push(Named {
                name: s.fragment_name.to_string(),
                at: span(s.location()).0,
            }),
        }
    }
}

fn named(name: &apollo_compiler::Name) -> Named {
    Named {
        name: name.to_string(),
        at: span(name.location()).0,
    }
}

fn span(location: Option<apollo_compiler::parser::SourceSpan>) -> (usize, usize) {
    location.map_or((0, 0), |l| (l.offset(), l.end_offset()))
}

/// The `{` that opens the selection set of the field spanning
/// `start..end`: the first one outside its arguments' parentheses and
/// strings.
fn open_brace(text: &str, start: usize, end: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = start;
    while i < end.min(bytes.len()) {
        match bytes[i] {
            b'"' => {
                // Skip the string (a block string's quotes included).
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b'{' if depth == 0 => return Some(i),
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}
