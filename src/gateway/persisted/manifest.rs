//! Trusted-document manifests, in the two formats clients' build tools
//! write: Apollo's persisted query manifest
//! (`{"format": "apollo-persisted-query-manifest", "version": 1,
//! "operations": [{"id", "name", "type", "body"}]}`) and GraphQL Codegen's
//! client preset `persisted-documents.json` (`{"<hash>": "<document>"}`).

use serde::Deserialize;
use serde_json::Value;

/// One operation of a manifest, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEntry {
    /// The id clients send (`documentId`, or the manifest's key).
    pub(crate) id: String,
    /// The operation to run (Apollo's `name`); `None`: the document's only one.
    pub(crate) name: Option<String>,
    /// Apollo's `type`: `query`, `mutation` or `subscription`.
    pub(crate) kind: Option<String>,
    pub(crate) body: String,
}

const APOLLO_FORMAT: &str = "apollo-persisted-query-manifest";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApolloManifest {
    format: String,
    version: u64,
    operations: Vec<ApolloOperation>,
}

#[derive(Deserialize)]
struct ApolloOperation {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    body: String,
}

/// The entries of manifest `text`, in file order; a message saying what is
/// wrong otherwise.
pub(crate) fn parse(text: &str) -> Result<Vec<RawEntry>, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the manifest is not valid JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("a manifest is a JSON object: Apollo's persisted query manifest or GraphQL Codegen's persisted-documents.json".to_owned());
    };
    if map.contains_key("format") || map.contains_key("operations") {
        let manifest: ApolloManifest = serde_json::from_value(Value::Object(map))
            .map_err(|e| format!("not an Apollo persisted query manifest: {e}"))?;
        if manifest.format != APOLLO_FORMAT {
            return Err(format!(
                "unknown manifest format `{}`; expected `{APOLLO_FORMAT}`",
                manifest.format
            ));
        }
        if manifest.version != 1 {
            return Err(format!(
                "Apollo persisted query manifest version {} is not supported; expected 1",
                manifest.version
            ));
        }
        return Ok(manifest
            .operations
            .into_iter()
            .map(|op| RawEntry {
                id: op.id,
                name: op.name.filter(|n| !n.is_empty()),
                kind: op.kind,
                body: op.body,
            })
            .collect());
    }
    map.into_iter()
        .map(|(id, body)| match body {
            Value::String(body) => Ok(RawEntry {
                id,
                name: None,
                kind: None,
                body,
            }),
            other => Err(format!(
                "entry `{id}`: a persisted-documents.json value is the document's text, not `{other}`"
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_apollo_manifests() {
        let entries = parse(
            r#"{"format":"apollo-persisted-query-manifest","version":1,
                "operations":[{"id":"abc","name":"A","type":"query","body":"query A { a }"}]}"#,
        )
        .expect("parses");
        assert_eq!(
            entries,
            vec![RawEntry {
                id: "abc".into(),
                name: Some("A".into()),
                kind: Some("query".into()),
                body: "query A { a }".into()
            }]
        );
    }

    #[test]
    fn reads_codegen_documents() {
        let entries = parse(r#"{"h1":"{ a }","h2":"query B { b }"}"#).expect("parses");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].id, "h2");
        assert_eq!(entries[1].name, None);
    }

    #[test]
    fn refuses_what_is_neither() {
        assert!(parse("[]").is_err());
        assert!(parse(r#"{"h1": 3}"#).expect_err("refused").contains("h1"));
        assert!(
            parse(r#"{"format":"apollo-persisted-query-manifest","version":2,"operations":[]}"#)
                .expect_err("refused")
                .contains("version 2")
        );
        assert!(parse(r#"{"format":"other","version":1,"operations":[]}"#).is_err());
    }
}
