//! Preparing a document once: parse (or find it in the cache), directive
//! and literal checks, the variable values of this request, the cost
//! measure, and what the operation reads of each upstream's answers.

use std::sync::Arc;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    SelectionSet,
};

use super::{Gateway, GraphqlRequest, cost, directives, literals};
use crate::exec::projection::Projections;

/// Why a document was refused before execution.
pub enum Refusal {
    Parse(async_graphql::parser::Error),
    /// A mutation sent over GET.
    MutationOverGet,
    /// The operation's measure exceeds a limit (`maxCost`, `maxDepth`, ...).
    Limit(String),
    /// Validation errors the engine does not check for (directives, `Int`
    /// literals), and variable values that do not fit their definitions.
    Invalid(Vec<async_graphql::ServerError>),
}

/// A document ready to execute: parsed (or found in the cache) and measured.
/// Cached as it is once it has validated, so a repeated request re-derives
/// nothing.
pub struct Prepared {
    pub document: Arc<ExecutableDocument>,
    /// The operation the client named, which the measure is of.
    pub(super) operation_name: Option<String>,
    /// The chosen operation's type (`None`: the name matches no operation,
    /// or several operations and no name; the engine reports that).
    pub(super) kind: Option<OperationType>,
    /// The operation's name for spans and metrics: the client's, else the
    /// document's name for its only operation.
    pub(super) label_name: Option<String>,
    pub measure: cost::Measure,
    /// What the operation reads of each upstream's answers.
    pub(super) projections: Arc<Projections>,
    /// Every root field of the operation is a supergraph field with no REST
    /// binding below it: once validated, its response is shaped straight
    /// from the plan's answers (`federation::shape`), without the engine.
    pub(super) federated_only: bool,
    /// The operation has root `__schema` or `__type` fields.
    pub(super) introspects: bool,
    /// Whether the document validated before for this operation (it came
    /// from the cache): the engine does not validate it again. A new one is
    /// kept once it validates.
    pub(super) cached: bool,
}

impl Prepared {
    /// The operation's name: the client's `operationName`, else the name of
    /// the document's only operation.
    pub fn operation_label(&self) -> Option<&str> {
        self.label_name.as_deref()
    }

    /// This prepared operation, marked as validated by the engine.
    pub(super) fn validated(&self) -> Prepared {
        Prepared {
            document: self.document.clone(),
            operation_name: self.operation_name.clone(),
            kind: self.kind,
            label_name: self.label_name.clone(),
            measure: self.measure,
            projections: self.projections.clone(),
            federated_only: self.federated_only,
            introspects: self.introspects,
            cached: true,
        }
    }
}

impl Gateway {
    /// Parses the request's document (or finds it in the cache), refuses
    /// mutations when `read_only`, and measures the operation against the
    /// limits: nothing is validated by the engine or sent upstream for a
    /// document whose measure is over a limit.
    pub fn prepare(
        &self,
        request: &GraphqlRequest,
        read_only: bool,
    ) -> Result<Arc<Prepared>, Refusal> {
        self.prepare_with(request, read_only, None, true)
    }

    /// [`Gateway::prepare`] for a request whose document was resolved
    /// first (`resolved.known`: the trusted documents manifest's entry).
    pub fn prepare_resolved(
        &self,
        resolved: &super::persisted::Resolved,
        read_only: bool,
    ) -> Result<Arc<Prepared>, Refusal> {
        self.prepare_with(&resolved.request, read_only, resolved.known.clone(), true)
    }

    /// `known`: a prepared operation of this document found elsewhere (the
    /// manifest), used in place of the document cache. Without
    /// `check_variables` (at load, for the manifest) no variable values are
    /// checked.
    pub(super) fn prepare_with(
        &self,
        request: &GraphqlRequest,
        read_only: bool,
        known: Option<Arc<Prepared>>,
        check_variables: bool,
    ) -> Result<Arc<Prepared>, Refusal> {
        let query = request.query.as_str();
        let operation_name = request.operation_name.as_deref();
        let cached = known.or_else(|| self.documents.get(query));
        let cached_valid = cached.is_some();
        let mut document = match &cached {
            Some(prepared) => prepared.document.clone(),
            None => match async_graphql::parser::parse_query(query) {
                Ok(document) => Arc::new(document),
                // Syntax errors, and the rules the engine's parser checks
                // (duplicate names), as graphql-js reports them.
                Err(e) => {
                    return Err(match self.validator.as_ref().map(|v| v.unparsed(query)) {
                        Some(errors) if !errors.is_empty() => Refusal::Invalid(errors),
                        _ => Refusal::Parse(e),
                    });
                }
            },
        };
        // Variable values are checked on every request (before the measure,
        // which may read them), so a document that validated once is not
        // validated again by the engine.
        if check_variables && let Some(operation) = chosen(&document, operation_name) {
            let invalid = self
                .inputs
                .check(&operation.node, request.variables.as_ref());
            if !invalid.is_empty() {
                return Err(Refusal::Invalid(invalid));
            }
        }
        // Validated already, for this operation (a measure that reads
        // variables is taken again, below).
        let mut validated = false;
        if let Some(prepared) = &cached
            && prepared.operation_name.as_deref() == operation_name
        {
            validated = true;
            if read_only && prepared.kind == Some(OperationType::Mutation) {
                return Err(Refusal::MutationOverGet);
            }
            if !prepared.measure.reads_variables {
                return Ok(prepared.clone());
            }
        }
        let kind = operation_type(&document, operation_name);
        if read_only && kind == Some(OperationType::Mutation) {
            return Err(Refusal::MutationOverGet);
        }
        // `Int` literals outside 32 bits, before the measure reads them as
        // list sizes (once per document).
        if !cached_valid
            && self.validator.is_some()
            && let Some(operation) = chosen(&document, operation_name)
            && let Some(root) = self.root_type(operation.node.ty)
        {
            let errors = literals::check(
                &self.registry,
                &self.inputs,
                &document,
                &operation.node,
                root,
            );
            if !errors.is_empty() {
                return Err(Refusal::Invalid(errors));
            }
        }
        let measure = self
            .cost
            .measure(
                &document,
                operation_name,
                request.variables.as_ref(),
                &self.limits,
            )
            .map_err(|message| {
                // A fragment cycle is a validation rule (5.5.2.2): reported
                // with the spreads' locations, as the validator finds them.
                match &self.validator {
                    Some(validator) if message.starts_with(cost::CYCLE) => {
                        Refusal::Invalid(vec![validator.cycle(query, &message)])
                    }
                    _ => Refusal::Limit(message),
                }
            })?;
        // Every rule of the spec, once per document (after the measure has
        // bounded what it may cost). Without the validator (a schema it
        // cannot read), the checks the engine lacks.
        if !cached_valid {
            let errors = match &self.validator {
                Some(validator) => validator.check(query),
                None => {
                    let mut errors = directives::check(&document);
                    if let Some(operation) = chosen(&document, operation_name)
                        && let Some(root) = self.root_type(operation.node.ty)
                    {
                        errors.extend(literals::check(
                            &self.registry,
                            &self.inputs,
                            &document,
                            &operation.node,
                            root,
                        ));
                    }
                    errors
                }
            };
            if !errors.is_empty() {
                return Err(Refusal::Invalid(errors));
            }
        }
        // Once per document: the engine cannot match fragments on unions.
        if !cached_valid && self.unions.needed(&document) {
            let mut rewritten = (*document).clone();
            self.unions
                .rewrite(&self.registry, &mut rewritten, &|kind| {
                    self.root_type(kind).map(str::to_owned)
                });
            document = Arc::new(rewritten);
        }
        // Worked out once per document; a re-measured one keeps its own.
        let (projections, federated_only) = match (&cached, validated) {
            (Some(prepared), true) => (prepared.projections.clone(), prepared.federated_only),
            _ => (
                Arc::new(self.projections(&document, operation_name)),
                self.federated_only(&document, operation_name),
            ),
        };
        // The document's name for its only operation when the client gave
        // no `operationName` (curl, most clients).
        let label_name = operation_name
            .map(str::to_owned)
            .or_else(|| match &document.operations {
                DocumentOperations::Multiple(ops) if ops.len() == 1 => {
                    ops.keys().next().map(ToString::to_string)
                }
                _ => None,
            });
        let introspects = match (&cached, validated) {
            (Some(prepared), true) => prepared.introspects,
            _ => chosen(&document, operation_name)
                .is_some_and(|op| introspects(&document, &op.node.selection_set.node, 0)),
        };
        Ok(Arc::new(Prepared {
            document,
            operation_name: operation_name.map(str::to_owned),
            kind,
            label_name,
            measure,
            projections,
            federated_only,
            introspects,
            cached: validated,
        }))
    }

    /// Whether every root field of the chosen query or mutation is a
    /// supergraph field with nothing bound below it (or `__typename`).
    fn federated_only(&self, document: &ExecutableDocument, name: Option<&str>) -> bool {
        if self.federation.is_none() {
            return false;
        }
        let Some(operation) = chosen(document, name) else {
            return false;
        };
        let Some(root) = self.root_type(operation.node.ty) else {
            return false;
        };
        plain_roots(
            &self.registry,
            document,
            root,
            &operation.node.selection_set.node,
            0,
        )
    }

    /// The root type an operation of `kind` starts at, if the schema has one.
    pub(super) fn root_type(&self, kind: OperationType) -> Option<&str> {
        match kind {
            OperationType::Query => Some(self.roots.0.as_str()),
            OperationType::Mutation => self.roots.1.as_deref(),
            OperationType::Subscription => self.roots.2.as_deref(),
        }
    }

    /// What the chosen operation reads of each upstream's answers.
    fn projections(&self, document: &ExecutableDocument, name: Option<&str>) -> Projections {
        let Some(operation) = chosen(document, name) else {
            return Projections::default();
        };
        match self.root_type(operation.node.ty) {
            Some(root) => Projections::of(
                &self.registry,
                document,
                root,
                &operation.node.selection_set.node,
            ),
            None => Projections::default(),
        }
    }
}

/// Whether every field of root selection `set` (fragments included, each
/// fragment at most [`MAX_FRAGMENT_DEPTH`] deep) is plain federated.
fn plain_roots(
    registry: &crate::exec::Registry,
    document: &ExecutableDocument,
    root: &str,
    set: &SelectionSet,
    depth: usize,
) -> bool {
    if depth > MAX_FRAGMENT_DEPTH {
        return false;
    }
    set.items.iter().all(|item| match &item.node {
        Selection::Field(field) => {
            let name = field.node.name.node.as_str();
            name == "__typename"
                || registry
                    .field(root, name)
                    .is_some_and(|f| f.plain_federated)
        }
        Selection::InlineFragment(fragment) => plain_roots(
            registry,
            document,
            root,
            &fragment.node.selection_set.node,
            depth + 1,
        ),
        Selection::FragmentSpread(spread) => document
            .fragments
            .get(&spread.node.fragment_name.node)
            .is_some_and(|fragment| {
                plain_roots(
                    registry,
                    document,
                    root,
                    &fragment.node.selection_set.node,
                    depth + 1,
                )
            }),
    })
}

/// How deep [`plain_roots`] follows fragments in fragments (cycles are
/// refused by validation; this bounds the walk regardless).
const MAX_FRAGMENT_DEPTH: usize = 16;

/// Whether `set` (a root selection) holds `__schema` or `__type`, through
/// its fragments (bounded: the measure refused deep nesting already).
fn introspects(document: &ExecutableDocument, set: &SelectionSet, depth: usize) -> bool {
    depth < 32
        && set.items.iter().any(|item| match &item.node {
            Selection::Field(f) => matches!(f.node.name.node.as_str(), "__schema" | "__type"),
            Selection::InlineFragment(inline) => {
                introspects(document, &inline.node.selection_set.node, depth + 1)
            }
            Selection::FragmentSpread(spread) => document
                .fragments
                .get(&spread.node.fragment_name.node)
                .is_some_and(|f| introspects(document, &f.node.selection_set.node, depth + 1)),
        })
}

/// The operation a request runs: the named one, else the only one (`None`
/// when the name matches nothing or the choice is ambiguous; the engine
/// reports that).
pub(super) fn chosen<'a>(
    doc: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a async_graphql::parser::Positioned<OperationDefinition>> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// The request's variable values with the operation's defaults filled in
/// for the variables it omits (CoerceVariableValues): the engine reads only
/// given values when it applies `@skip`/`@include`, so an omitted
/// `$flag: Boolean = true` would count as false there.
pub(super) fn with_defaults(
    doc: &ExecutableDocument,
    name: Option<&str>,
    variables: Option<serde_json::Map<String, serde_json::Value>>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let Some(op) = chosen(doc, name) else {
        return variables;
    };
    let mut defaults = op
        .node
        .variable_definitions
        .iter()
        .filter_map(|d| Some((d.node.name.node.as_str(), d.node.default_value.as_ref()?)))
        .peekable();
    if defaults.peek().is_none() {
        return variables;
    }
    let mut out = variables.unwrap_or_default();
    for (name, value) in defaults {
        if !out.contains_key(name)
            && let Ok(json) = value.node.clone().into_json()
        {
            out.insert(name.to_owned(), json);
        }
    }
    Some(out)
}

/// The type an inline fragment's selections are on: its condition, else the
/// enclosing type.
pub(super) fn inline_type<'a>(
    inline: &'a async_graphql::parser::types::InlineFragment,
    outer: &'a str,
) -> &'a str {
    inline
        .type_condition
        .as_ref()
        .map_or(outer, |c| c.node.on.node.as_str())
}

fn operation_type(doc: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    chosen(doc, name).map(|op| op.node.ty)
}
