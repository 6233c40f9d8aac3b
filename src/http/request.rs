//! A GraphQL-over-HTTP request, read from a body or a query string. Every
//! malformed input is a message for a 400, never a panic.

use serde_json::Value;

use crate::gateway::GraphqlRequest;

/// A `POST` body (`application/json`): `query`, `operationName`,
/// `variables`, `extensions`, each of its own type.
pub fn from_body(bytes: &[u8]) -> Result<GraphqlRequest, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let Value::Object(mut map) = value else {
        return Err(
            "the body must be a JSON object with a `query` (batched requests are not supported)"
                .to_owned(),
        );
    };
    let query = match map.remove("query") {
        Some(Value::String(q)) => q,
        Some(_) => return Err("`query` must be a string".to_owned()),
        None => return Err("the body has no `query`".to_owned()),
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
    match map.remove("extensions") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => return Err("`extensions` must be an object or null".to_owned()),
    }
    Ok(GraphqlRequest {
        query,
        operation_name,
        variables,
    })
}

/// A `GET` query string, as urql and GraphiQL send it (`variables` and
/// `extensions` as JSON text).
pub fn from_query_string(raw: &str) -> Result<GraphqlRequest, String> {
    let mut request = GraphqlRequest::default();
    let mut has_query = false;
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        match key.as_ref() {
            "query" => {
                request.query = value.into_owned();
                has_query = true;
            }
            "operationName" if !value.is_empty() => {
                request.operation_name = Some(value.into_owned())
            }
            "variables" if !value.is_empty() => {
                let parsed: Value = serde_json::from_str(&value)
                    .map_err(|e| format!("`variables` is not valid JSON: {e}"))?;
                request.variables = match parsed {
                    Value::Object(vars) => Some(vars),
                    Value::Null => None,
                    _ => return Err("`variables` must be a JSON object".to_owned()),
                };
            }
            "extensions" if !value.is_empty() => {
                let parsed: Value = serde_json::from_str(&value)
                    .map_err(|e| format!("`extensions` is not valid JSON: {e}"))?;
                if !matches!(parsed, Value::Object(_) | Value::Null) {
                    return Err("`extensions` must be a JSON object".to_owned());
                }
            }
            _ => {}
        }
    }
    if !has_query {
        return Err("the request has no `query` parameter".to_owned());
    }
    Ok(request)
}
