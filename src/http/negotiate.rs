//! `Accept` negotiation for GraphQL responses.

use http::HeaderMap;

/// The media type a GraphQL response is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseType {
    /// `application/graphql-response+json`: request errors get 4xx.
    GraphqlResponse,
    /// `application/json`: the legacy type, always 200 for well-formed requests.
    Json,
}

impl ResponseType {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            ResponseType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            ResponseType::Json => "application/json; charset=utf-8",
        }
    }
}

/// Picks the response type from `Accept`; `None` when nothing acceptable is
/// offered (answer 406). No `Accept` at all means `application/json`.
pub(crate) fn response_type(headers: &HeaderMap) -> Option<ResponseType> {
    let mut ranges: Vec<(f32, usize, &str)> = Vec::new();
    for value in headers.get_all(http::header::ACCEPT) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let mut parts = item.split(';');
            let media = parts.next().unwrap_or_default().trim();
            let mut q = 1.0_f32;
            for param in parts {
                if let Some(v) = param.trim().strip_prefix("q=") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            if q > 0.0 && !media.is_empty() {
                ranges.push((q, ranges.len(), media));
            }
        }
    }
    if ranges.is_empty() {
        return Some(ResponseType::Json);
    }
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges
        .iter()
        .find_map(|(_, _, media)| match media.to_ascii_lowercase().as_str() {
            "application/graphql-response+json" => Some(ResponseType::GraphqlResponse),
            "application/json" | "application/*" | "*/*" => Some(ResponseType::Json),
            _ => None,
        })
}

/// Whether a browser asked for a page rather than a GraphQL response.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT, value.parse().expect("valid header"));
        h
    }

    #[test]
    fn negotiates() {
        assert_eq!(response_type(&HeaderMap::new()), Some(ResponseType::Json));
        assert_eq!(
            response_type(&accept(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(ResponseType::GraphqlResponse)
        );
        assert_eq!(
            response_type(&accept(
                "application/json;q=0.5, application/graphql-response+json"
            )),
            Some(ResponseType::GraphqlResponse)
        );
        assert_eq!(response_type(&accept("*/*")), Some(ResponseType::Json));
        assert_eq!(response_type(&accept("text/plain")), None);
    }
}
