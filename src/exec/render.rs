//! A binding plus its inputs -> one concrete, safe upstream request.
//!
//! Every value that comes from a client (arguments, headers) or from another
//! upstream (`$parent`) is percent-encoded into a single path segment or query
//! value, so it can never add path segments, change the host or start a query
//! string; header values with control characters are refused.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};
use url::Url;

use crate::config::{BodyTemplate, Expr, Piece, RestBinding, Source, Template};
use crate::error::{ErrorCode, FieldError};
use crate::upstream::UpstreamRequest;

/// Everything but RFC 3986 unreserved characters is encoded in a segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What templates read from.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    pub args: &'a Map<String, Value>,
    pub parent: &'a Value,
    pub headers: &'a HeaderMap,
}

impl<'a> Inputs<'a> {
    /// The value `expr` reads; `None` when it is missing or null. A header
    /// whose bytes are not UTF-8 text is refused rather than read lossily
    /// (two callers whose values differ only there must not look alike).
    fn lookup(&self, expr: &Expr) -> Result<Option<Cow<'a, Value>>, FieldError> {
        let value = match expr.source {
            Source::Args => expr
                .path
                .split_first()
                .and_then(|(first, rest)| pluck(self.args.get(first)?, rest))
                .map(Cow::Borrowed),
            Source::Parent => pluck(self.parent, &expr.path).map(Cow::Borrowed),
            Source::Header => match expr
                .path
                .first()
                .and_then(|name| self.headers.get(name.as_str()))
            {
                None => None,
                Some(value) => {
                    let text = std::str::from_utf8(value.as_bytes()).map_err(|_| {
                        FieldError::new(
                            ErrorCode::BadUserInput,
                            format!("`{expr}`: the header's value is not UTF-8 text"),
                        )
                    })?;
                    Some(Cow::Owned(Value::String(text.to_owned())))
                }
            },
        };
        Ok(value.filter(|v| !v.is_null()))
    }
}

/// Follows `path` (object keys, or indices into lists) below `value`.
pub(crate) fn pluck<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, key| match v {
        Value::Object(map) => map.get(key),
        Value::Array(items) => items.get(key.parse::<usize>().ok()?),
        _ => None,
    })
}

/// Renders `binding` against `inputs`. `Ok(None)` means a path input is null,
/// missing or renders an empty segment: the call is not made and the field
/// resolves to null.
pub fn render(
    binding: &RestBinding,
    base: &Url,
    inputs: Inputs<'_>,
) -> Result<Option<UpstreamRequest>, FieldError> {
    let mut path = base.path().trim_end_matches('/').to_owned();
    for segment in &binding.path {
        path.push('/');
        let start = path.len();
        for piece in &segment.pieces {
            match piece {
                Piece::Lit(text) => path.push_str(text),
                Piece::Expr(expr) => {
                    let Some(value) = inputs.lookup(expr)? else {
                        return Ok(None);
                    };
                    let text = scalar_text(&value, expr)?;
                    path.extend(utf8_percent_encode(&text, SEGMENT));
                }
            }
        }
        // An empty value would make `/users/` of `/users/{$args.id}`: another
        // resource (the collection). Like a missing value, it makes no call.
        if !segment.is_literal() && path.len() == start {
            return Ok(None);
        }
        if !segment.is_literal() && matches!(&path[start..], "." | "..") {
            return Err(FieldError::new(
                ErrorCode::BadUserInput,
                format!("`{}` cannot be a path segment", &path[start..]),
            ));
        }
    }
    let mut url = base.clone();
    url.set_path(&path);
    if !binding.query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, template) in &binding.query {
            match render_values(template, inputs)? {
                Rendered::Missing => {}
                Rendered::One(value) => {
                    pairs.append_pair(name, &value);
                }
                Rendered::Many(values) => {
                    for value in values {
                        pairs.append_pair(name, &value);
                    }
                }
            }
        }
        drop(pairs);
        // Every parameter absent: send `/p`, not `/p?`.
        if url.query() == Some("") {
            url.set_query(None);
        }
    }
    let mut headers = Vec::with_capacity(binding.headers.len() + binding.forward_headers.len());
    for name in &binding.forward_headers {
        for value in inputs.headers.get_all(name) {
            headers.push((name.clone(), value.clone()));
        }
    }
    for (name, template) in &binding.headers {
        let value = match render_values(template, inputs)? {
            Rendered::Missing => continue,
            Rendered::One(value) => value,
            Rendered::Many(values) => values.join(","),
        };
        let value = HeaderValue::try_from(value).map_err(|_| {
            FieldError::new(
                ErrorCode::BadUserInput,
                format!("the value for upstream header `{name}` contains characters a header cannot carry"),
            )
        })?;
        headers.push((name.clone(), value));
    }
    let body = match &binding.body {
        Some(template) => {
            let value = render_body(template, inputs)?;
            Some(Bytes::from(serde_json::to_vec(&value).map_err(|e| {
                FieldError::new(
                    ErrorCode::InternalError,
                    format!("cannot encode the body: {e}"),
                )
            })?))
        }
        None => None,
    };
    Ok(Some(UpstreamRequest {
        method: binding.method.clone(),
        url,
        headers,
        body,
        trace: Vec::new(),
        deadline: None,
    }))
}

enum Rendered {
    Missing,
    One(String),
    /// A template that is one placeholder whose value is a list.
    Many(Vec<String>),
}

fn render_values(template: &Template, inputs: Inputs<'_>) -> Result<Rendered, FieldError> {
    if let Some(expr) = template.single_expr() {
        return Ok(match inputs.lookup(expr)? {
            None => Rendered::Missing,
            Some(value) => match value.as_ref() {
                Value::Array(items) => Rendered::Many(
                    items
                        .iter()
                        .filter(|v| !v.is_null())
                        .map(|v| scalar_text(v, expr).map(Cow::into_owned))
                        .collect::<Result<_, _>>()?,
                ),
                other => Rendered::One(scalar_text(other, expr)?.into_owned()),
            },
        });
    }
    let mut out = String::new();
    for piece in &template.pieces {
        match piece {
            Piece::Lit(text) => out.push_str(text),
            Piece::Expr(expr) => match inputs.lookup(expr)? {
                Some(value) => out.push_str(&scalar_text(&value, expr)?),
                None => return Ok(Rendered::Missing),
            },
        }
    }
    Ok(Rendered::One(out))
}

pub(crate) fn render_body(
    template: &BodyTemplate,
    inputs: Inputs<'_>,
) -> Result<Value, FieldError> {
    Ok(match template {
        BodyTemplate::Null => Value::Null,
        BodyTemplate::Bool(b) => Value::Bool(*b),
        BodyTemplate::Number(n) => Value::Number(n.clone()),
        BodyTemplate::String(t) => match t.single_expr() {
            Some(expr) => inputs
                .lookup(expr)?
                .map(Cow::into_owned)
                .unwrap_or(Value::Null),
            None => {
                let mut out = String::new();
                for piece in &t.pieces {
                    match piece {
                        Piece::Lit(text) => out.push_str(text),
                        Piece::Expr(expr) => {
                            if let Some(v) = inputs.lookup(expr)? {
                                out.push_str(&scalar_text(&v, expr)?);
                            }
                        }
                    }
                }
                Value::String(out)
            }
        },
        BodyTemplate::List(items) => Value::Array(
            items
                .iter()
                .map(|i| render_body(i, inputs))
                .collect::<Result<_, _>>()?,
        ),
        BodyTemplate::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), render_body(v, inputs)?)))
                .collect::<Result<_, FieldError>>()?,
        ),
    })
}

fn scalar_text<'v>(value: &'v Value, expr: &Expr) -> Result<Cow<'v, str>, FieldError> {
    match value {
        Value::String(s) => Ok(Cow::Borrowed(s)),
        Value::Number(n) => Ok(Cow::Owned(n.to_string())),
        Value::Bool(b) => Ok(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => Err(FieldError::new(
            ErrorCode::BadUserInput,
            format!("`{expr}` is a list or object and cannot be placed in a URL or header"),
        )),
    }
}
