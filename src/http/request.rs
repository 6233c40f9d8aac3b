//! A GraphQL-over-HTTP request, read from a body or a query string. Every
//! malformed input is a message for a 400, never a panic.
//!
//! Besides `query`, a request may name its document: by
//! `extensions.persistedQuery` (`{ version: 1, sha256Hash }`, automatic
//! persisted queries) or by `documentId` (a trusted document's id). The
//! gateway resolves either (`Gateway::resolve`).

use serde_json::{Map, Value};

use crate::gateway::{DocumentRef, IncomingRequest};

/// A `POST` body (`application/json`): `query`, `operationName`,
/// `variables`, `extensions`, `documentId`, each of its own type.
pub fn from_body(bytes: &[u8]) -> Result<IncomingRequest, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let Value::Object(mut map) = value else {
        return Err(
            "the body must be a JSON object with a `query` (batched requests are not supported)"
                .to_owned(),
        );
    };
    let query = match map.remove("query") {
        None | Some(Value::Null) => None,
        Some(Value::String(q)) => Some(q),
        Some(_) => return Err("`query` must be a string".to_owned()),
    };
    let operation_name = match map.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => return Err("`operationName` must be a string or null".to_owned()),
    };
    let variables = match map.remove("variables") {
        None | Some(Value::Null) => None,
        Some(Value::Object(vars)) => Some(vars),
        Some(_) => return Err("`variables` must be an object or null".to_owned()),
    };
    let persisted = match map.remove("extensions") {
        None | Some(Value::Null) => None,
        Some(Value::Object(extensions)) => persisted_query(&extensions)?,
        Some(_) => return Err("`extensions` must be an object or null".to_owned()),
    };
    let document_id = match map.remove("documentId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id),
        Some(_) => return Err("`documentId` must be a string".to_owned()),
    };
    incoming(
        query,
        operation_name,
        variables,
        persisted,
        document_id,
        "the body",
    )
}

/// A `GET` query string, as urql and GraphiQL send it (`variables` and
/// `extensions` as JSON text).
pub fn from_query_string(raw: &str) -> Result<IncomingRequest, String> {
    let mut query = None;
    let mut operation_name = None;
    let mut variables = None;
    let mut persisted = None;
    let mut document_id = None;
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        match key.as_ref() {
            "query" => query = Some(value.into_owned()),
            "operationName" if !value.is_empty() => operation_name = Some(value.into_owned()),
            "documentId" if !value.is_empty() => document_id = Some(value.into_owned()),
            "variables" if !value.is_empty() => {
                let parsed: Value = serde_json::from_str(&value)
                    .map_err(|e| format!("`variables` is not valid JSON: {e}"))?;
                variables = match parsed {
                    Value::Object(vars) => Some(vars),
                    Value::Null => None,
                    _ => return Err("`variables` must be a JSON object".to_owned()),
                };
            }
            "extensions" if !value.is_empty() => {
                let parsed: Value = serde_json::from_str(&value)
                    .map_err(|e| format!("`extensions` is not valid JSON: {e}"))?;
                persisted = match parsed {
                    Value::Object(extensions) => persisted_query(&extensions)?,
                    Value::Null => None,
                    _ => return Err("`extensions` must be a JSON object".to_owned()),
                };
            }
            _ => {}
        }
    }
    incoming(
        query,
        operation_name,
        variables,
        persisted,
        document_id,
        "the request",
    )
}

fn incoming(
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<Map<String, Value>>,
    persisted: Option<String>,
    document_id: Option<String>,
    what: &str,
) -> Result<IncomingRequest, String> {
    let reference = match (persisted, document_id) {
        (Some(_), Some(_)) => {
            return Err("send `documentId` or `extensions.persistedQuery`, not both".to_owned());
        }
        (Some(hash), None) => Some(DocumentRef::Hash(hash)),
        (None, Some(id)) => Some(DocumentRef::DocumentId(id)),
        (None, None) => None,
    };
    if query.is_none() && reference.is_none() {
        return Err(if what == "the body" {
            "the body has no `query` (nor `documentId`, nor `extensions.persistedQuery`)".to_owned()
        } else {
            "the request has no `query` parameter (nor `documentId`, nor `extensions.persistedQuery`)"
                .to_owned()
        });
    }
    Ok(IncomingRequest {
        query,
        operation_name,
        variables,
        reference,
    })
}

/// The hash of `extensions.persistedQuery`, lowercased; `None` without one.
fn persisted_query(extensions: &Map<String, Value>) -> Result<Option<String>, String> {
    let Some(persisted) = extensions.get("persistedQuery") else {
        return Ok(None);
    };
    let Value::Object(persisted) = persisted else {
        return Err(
            "`extensions.persistedQuery` must be an object { version: 1, sha256Hash }".to_owned(),
        );
    };
    match persisted.get("version") {
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        Some(other) => {
            return Err(format!(
                "unsupported persisted query version {other}; only version 1 is supported"
            ));
        }
        None => return Err("`extensions.persistedQuery` has no `version` (1)".to_owned()),
    }
    match persisted.get("sha256Hash") {
        Some(Value::String(hash)) => Ok(Some(hash.to_ascii_lowercase())),
        _ => Err("`extensions.persistedQuery.sha256Hash` must be a string".to_owned()),
    }
}
