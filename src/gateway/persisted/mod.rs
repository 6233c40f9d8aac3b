//! Persisted operations: documents a request names instead of sending.
//!
//! - Automatic persisted queries (APQ, the protocol of Apollo Client's
//!   persisted-queries link and urql's `persistedExchange`): a request sends
//!   `extensions.persistedQuery.sha256Hash` alone; an unknown hash answers
//!   `PersistedQueryNotFound`, and the client sends the query with its hash,
//!   which is checked and kept once the document has validated ([`store`]).
//! - Trusted documents: a manifest loaded at start-up ([`manifest`]) whose
//!   operations are prepared and validated by the engine then; requests name
//!   them by `documentId` (or hash), and operations not in it are refused
//!   (`ENFORCE`) or run and counted (`LOG`).
//!
//! [`Gateway::resolve`] turns what arrived into the document to run, before
//! anything else is done with the request.

pub(crate) mod manifest;
pub(crate) mod store;

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Request;
use async_graphql::parser::types::{DocumentOperations, OperationType, Selection, SelectionSet};
use futures_util::FutureExt;

use super::{Gateway, GraphqlRequest, Prepared, Refusal};
use crate::config::{TrustMode, TrustedDocumentsSettings};
use crate::error::ErrorCode;
use crate::exec::RequestState;
use crate::exec::state::{Budget, OperationFacts};

/// The lowercase hex SHA-256 of `text`: the APQ hash of a query.
pub fn sha256_hex(text: &str) -> String {
    use std::fmt::Write;
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest.as_ref() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// How a request names its document when it does not (only) send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentRef {
    /// `extensions.persistedQuery.sha256Hash` (version 1), lowercased.
    Hash(String),
    /// `documentId` (GraphQL over HTTP): a manifest id, or `sha256:<hash>`.
    DocumentId(String),
}

/// A GraphQL request as it arrived, before its document is known.
#[derive(Debug, Default)]
pub struct IncomingRequest {
    pub query: Option<String>,
    pub operation_name: Option<String>,
    pub variables: Option<serde_json::Map<String, serde_json::Value>>,
    pub reference: Option<DocumentRef>,
}

/// The request with its document, and what to do around its execution.
pub struct Resolved {
    pub request: GraphqlRequest,
    /// The manifest's prepared operation, when the document is one.
    pub(crate) known: Option<Arc<Prepared>>,
    /// Keep the query under this hash once it has executed (APQ).
    pub register: Option<String>,
    /// Not in an enforced manifest that allows introspection: it may run
    /// only if it is introspection alone.
    pub(crate) needs_introspection: bool,
}

/// Why a request's document could not be had, or may not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistedError {
    pub code: ErrorCode,
    pub message: String,
}

impl PersistedError {
    fn new(code: ErrorCode, message: impl Into<String>) -> PersistedError {
        PersistedError {
            code,
            message: message.into(),
        }
    }

    fn not_in_list() -> PersistedError {
        PersistedError::new(
            ErrorCode::PersistedQueryNotInList,
            "this operation is not in the trusted documents manifest; only operations in it may run here",
        )
    }
}

/// The loaded manifests: every operation prepared, found by id, by the
/// SHA-256 of its text, and by its text.
pub(crate) struct Trusted {
    entries: Vec<Entry>,
    by_id: HashMap<String, usize>,
    by_hash: HashMap<String, usize>,
    by_body: HashMap<Arc<str>, usize>,
    mode: TrustMode,
    allow_introspection: bool,
}

struct Entry {
    body: Arc<str>,
    prepared: Arc<Prepared>,
}

impl Trusted {
    /// How many distinct documents the manifests hold.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry `id` names: a manifest id as written, `sha256:<hash>`, or
    /// a bare SHA-256 of the document's text.
    fn by_id(&self, id: &str) -> Option<&Entry> {
        let index = self.by_id.get(id).or_else(|| {
            let hash = id.strip_prefix("sha256:").unwrap_or(id);
            self.by_hash
                .get(&hash.to_ascii_lowercase())
                .or_else(|| self.by_id.get(hash))
        })?;
        self.entries.get(*index)
    }

    fn by_hash(&self, hash: &str) -> Option<&Entry> {
        self.entries.get(*self.by_hash.get(hash)?)
    }

    fn by_body(&self, body: &str) -> Option<&Entry> {
        self.entries.get(*self.by_body.get(body)?)
    }
}

impl Gateway {
    /// The document `incoming` runs: its query, the manifest's entry it
    /// names, or the APQ store's; checked against the manifest when one is
    /// loaded. Nothing is parsed here.
    pub async fn resolve(&self, incoming: IncomingRequest) -> Result<Resolved, PersistedError> {
        let IncomingRequest {
            query,
            operation_name,
            variables,
            reference,
        } = incoming;
        let trusted = self.trusted.as_ref();
        let mut listed: Option<&Entry> = None;
        let mut register = None;
        let query: String = match (query, reference) {
            (Some(query), None) => query,
            (None, None) => {
                return Err(PersistedError::new(
                    ErrorCode::BadRequest,
                    "the request has no `query`",
                ));
            }
            (Some(_), Some(DocumentRef::DocumentId(_))) => {
                return Err(PersistedError::new(
                    ErrorCode::BadRequest,
                    "send `documentId` or `query`, not both",
                ));
            }
            (None, Some(DocumentRef::DocumentId(id))) => {
                if let Some(entry) = trusted.and_then(|t| t.by_id(&id)) {
                    listed = Some(entry);
                    entry.body.to_string()
                } else if let Some(store) = &self.apq
                    && let Some(hash) = id.strip_prefix("sha256:")
                    && let Some(query) = store.get(&hash.to_ascii_lowercase()).await
                {
                    query.to_string()
                } else {
                    return Err(PersistedError::new(
                        ErrorCode::PersistedQueryNotFound,
                        format!("no document has the id `{id}`"),
                    ));
                }
            }
            (None, Some(DocumentRef::Hash(hash))) => {
                if let Some(entry) = trusted.and_then(|t| t.by_hash(&hash)) {
                    listed = Some(entry);
                    entry.body.to_string()
                } else {
                    let Some(store) = &self.apq else {
                        return Err(PersistedError::new(
                            ErrorCode::PersistedQueryNotSupported,
                            "PersistedQueryNotSupported",
                        ));
                    };
                    match store.get(&hash).await {
                        Some(query) => query.to_string(),
                        None => {
                            return Err(PersistedError::new(
                                ErrorCode::PersistedQueryNotFound,
                                "PersistedQueryNotFound",
                            ));
                        }
                    }
                }
            }
            (Some(query), Some(DocumentRef::Hash(hash))) => {
                if sha256_hex(&query) != hash {
                    return Err(PersistedError::new(
                        ErrorCode::BadRequest,
                        "provided sha does not match query",
                    ));
                }
                // With the store off the hash is only checked: the query
                // itself is there to run.
                if self.apq.is_some() {
                    register = Some(hash);
                }
                query
            }
        };
        let mut needs_introspection = false;
        if let Some(trusted) = trusted {
            if listed.is_none() {
                listed = trusted.by_body(&query);
            }
            if listed.is_none() {
                match trusted.mode {
                    TrustMode::Log => {
                        self.metrics.persisted.unlisted.inc();
                        tracing::warn!(
                            operation = operation_name.as_deref().unwrap_or(""),
                            hash = %sha256_hex(&query),
                            "an operation not in the trusted documents manifest ran (mode LOG)"
                        );
                    }
                    TrustMode::Enforce if trusted.allow_introspection => {
                        needs_introspection = true;
                    }
                    TrustMode::Enforce => {
                        self.metrics.persisted.refused.inc();
                        return Err(PersistedError::not_in_list());
                    }
                }
            }
        }
        Ok(Resolved {
            known: listed.map(|e| e.prepared.clone()),
            request: GraphqlRequest {
                query,
                operation_name,
                variables,
            },
            register,
            needs_introspection,
        })
    }

    /// Refuses a prepared operation that may run only as introspection
    /// (not in an enforced manifest that allows introspection) when it
    /// selects anything else.
    pub fn admit(
        &self,
        resolved_needs_introspection: bool,
        prepared: &Prepared,
    ) -> Result<(), PersistedError> {
        if resolved_needs_introspection && !introspection_only(prepared) {
            self.metrics.persisted.refused.inc();
            return Err(PersistedError::not_in_list());
        }
        Ok(())
    }

    /// Keeps `query` under `hash` in the APQ store: called once the request
    /// that sent both has executed, so only documents that validated are
    /// kept.
    pub fn register(&self, hash: &str, query: &str) {
        if let Some(store) = &self.apq {
            store.register(hash, query);
        }
    }

    /// What the APQ store holds in memory now (bytes), if it is on.
    pub fn persisted_store_bytes(&self) -> Option<u64> {
        self.apq.as_ref().map(|s| s.weighted_size())
    }

    /// How many documents the trusted-documents manifests hold.
    pub fn trusted_documents(&self) -> Option<usize> {
        self.trusted.as_ref().map(Trusted::len)
    }

    /// Reads the manifests and prepares every operation in them: parsed,
    /// checked, measured against the limits and validated by the engine,
    /// so a request naming one does none of that. A document that fails is
    /// a load error naming the manifest and the entry's id.
    pub(crate) fn load_trusted(
        &self,
        settings: &TrustedDocumentsSettings,
    ) -> Result<Trusted, String> {
        let mut trusted = Trusted {
            entries: Vec::new(),
            by_id: HashMap::new(),
            by_hash: HashMap::new(),
            by_body: HashMap::new(),
            mode: settings.mode,
            allow_introspection: settings.allow_introspection,
        };
        for path in &settings.manifests {
            let shown = path.display();
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the manifest {shown}: {e}"))?;
            let entries = manifest::parse(&text).map_err(|e| format!("manifest {shown}: {e}"))?;
            for raw in entries {
                let fail = |why: String| format!("manifest {shown}: entry `{}`: {why}", raw.id);
                let index = match trusted.by_body.get(raw.body.as_str()) {
                    Some(index) => *index,
                    None => {
                        let prepared = self
                            .prepare_listed(&raw.body, raw.name.as_deref())
                            .map_err(fail)?;
                        let body: Arc<str> = Arc::from(raw.body.as_str());
                        trusted.entries.push(Entry {
                            body: body.clone(),
                            prepared,
                        });
                        let index = trusted.entries.len() - 1;
                        trusted.by_body.insert(body, index);
                        trusted.by_hash.insert(sha256_hex(&raw.body), index);
                        index
                    }
                };
                if let Some(kind) = &raw.kind {
                    let actual = match trusted.entries[index].prepared.kind {
                        Some(OperationType::Query) => "query",
                        Some(OperationType::Mutation) => "mutation",
                        Some(OperationType::Subscription) => "subscription",
                        None => "",
                    };
                    if !kind.eq_ignore_ascii_case(actual) {
                        return Err(fail(format!(
                            "its `type` is `{kind}`, but the document's operation is a {actual}"
                        )));
                    }
                }
                match trusted.by_id.get(&raw.id) {
                    Some(other) if *other != index => {
                        return Err(fail("the id names two different documents".to_owned()));
                    }
                    _ => {
                        trusted.by_id.insert(raw.id.clone(), index);
                    }
                }
            }
        }
        Ok(trusted)
    }

    /// One manifest operation, prepared as a request for it would be, then
    /// validated by the engine without running a resolver.
    fn prepare_listed(&self, body: &str, name: Option<&str>) -> Result<Arc<Prepared>, String> {
        // Clients send the operation's name (Apollo Client, urql): the
        // prepared operation is kept under it.
        let name = match name {
            Some(name) => Some(name.to_owned()),
            None => match async_graphql::parser::parse_query(body) {
                Ok(doc) => match &doc.operations {
                    DocumentOperations::Multiple(ops) if ops.len() == 1 => {
                        ops.keys().next().map(ToString::to_string)
                    }
                    _ => None,
                },
                Err(e) => return Err(format!("the document does not parse: {e}")),
            },
        };
        let request = GraphqlRequest {
            query: body.to_owned(),
            operation_name: name,
            variables: None,
        };
        let prepared = self
            .prepare_with(&request, false, None, false)
            .map_err(|refusal| match refusal {
                Refusal::Parse(e) => format!("the document does not parse: {e}"),
                Refusal::MutationOverGet => "a mutation over GET".to_owned(),
                Refusal::Limit(message) => message,
                Refusal::Invalid(errors) => describe(&errors),
            })?;
        let state = RequestState::new(
            self.registry.clone(),
            http::HeaderMap::new(),
            self.metrics.clone(),
            tracing::Span::none(),
            std::time::Instant::now(),
            Budget::new(0, 0),
            OperationFacts {
                validated: false,
                validate_only: true,
                projections: prepared.projections.clone(),
                federation: None,
                graphql: None,
                subscription: false,
                deadline: None,
            },
        );
        let mut engine_request = Request::new(body).data(state.clone());
        if let Some(name) = &prepared.operation_name {
            engine_request = engine_request.operation_name(name.clone());
        }
        engine_request.set_parsed_query((*prepared.document).clone());
        // Validation is synchronous and, with `validate_only`, no resolver
        // runs: the engine's future is ready at its first poll.
        let Some(response) = self.schema.execute(engine_request).now_or_never() else {
            return Err("the engine did not validate the document at once".to_owned());
        };
        if !response.errors.is_empty() {
            let mut errors = response.errors;
            super::engine_errors::reshape(
                &self.registry,
                &self.inputs,
                &prepared.document,
                |kind| self.root_type(kind).map(str::to_owned),
                &mut errors,
            );
            return Err(describe(&errors));
        }
        if !state.executed() {
            return Err("the engine did not validate the document".to_owned());
        }
        let prepared = Arc::new(prepared.validated());
        // A supergraph's plan of an operation without variables is the same
        // for every request: planned now, kept in the plan cache under this
        // prepared document.
        if let Some(subgraphs) = &self.federation
            && super::prepare::chosen(&prepared.document, prepared.operation_name.as_deref())
                .is_some_and(|op| op.node.variable_definitions.is_empty())
        {
            subgraphs
                .planned(
                    &prepared.document,
                    prepared.operation_name.as_deref(),
                    &serde_json::Map::new(),
                )
                .map_err(|e| format!("the operation cannot be planned: {}", e.message))?;
        }
        Ok(prepared)
    }
}

/// Errors as one line: each message with its first location.
fn describe(errors: &[async_graphql::ServerError]) -> String {
    errors
        .iter()
        .map(|e| match e.locations.first() {
            Some(at) => format!("{} (at {}:{})", e.message, at.line, at.column),
            None => e.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether the chosen operation selects only `__schema`, `__type` and
/// `__typename` at its root (fragments included).
fn introspection_only(prepared: &Prepared) -> bool {
    let document = &prepared.document;
    let Some(operation) = super::prepare::chosen(document, prepared.operation_name.as_deref())
    else {
        return false;
    };
    operation.node.ty == OperationType::Query
        && meta_only(document, &operation.node.selection_set.node, 0)
}

fn meta_only(
    document: &async_graphql::parser::types::ExecutableDocument,
    set: &SelectionSet,
    depth: usize,
) -> bool {
    depth <= 16
        && set.items.iter().all(|item| match &item.node {
            Selection::Field(field) => matches!(
                field.node.name.node.as_str(),
                "__schema" | "__type" | "__typename"
            ),
            Selection::InlineFragment(inline) => {
                meta_only(document, &inline.node.selection_set.node, depth + 1)
            }
            Selection::FragmentSpread(spread) => document
                .fragments
                .get(&spread.node.fragment_name.node)
                .is_some_and(|f| meta_only(document, &f.node.selection_set.node, depth + 1)),
        })
}
