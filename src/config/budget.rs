//! The longest chain of dependent calls a schema allows, by the calls'
//! configured timeouts: what `tributary check` compares with
//! `@server(requestTimeout:)`. A bound field's call starts only after its
//! parent's answered, so a path from a root field down the types adds up;
//! siblings run at once, so only the slowest path counts.

use std::collections::HashMap;
use std::time::Duration;

use async_graphql::parser::types::{BaseType, Type};

use super::{Config, FieldSource, TypeDef};

/// The slowest chain: its total and its fields, root first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub total: Duration,
    pub fields: Vec<String>,
}

/// The longest chain below the query and mutation roots (`None`: no call).
pub fn longest_chain(config: &Config) -> Option<Chain> {
    let mut memo = HashMap::new();
    let mut roots = vec![config.query_type.as_str()];
    roots.extend(config.mutation_type.as_deref());
    roots
        .into_iter()
        .filter_map(|root| chain(config, root, &mut memo, &mut Vec::new()))
        .max_by_key(|c| c.total)
        .filter(|c| !c.total.is_zero())
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

/// The longest chain starting at a field of `ty`. A type already on the
/// path (a cycle) adds nothing more: the deeper repeats are bounded by the
/// operation limits, not by the schema.
fn chain(
    config: &Config,
    ty: &str,
    memo: &mut HashMap<String, Option<Chain>>,
    path: &mut Vec<String>,
) -> Option<Chain> {
    if let Some(known) = memo.get(ty) {
        return known.clone();
    }
    if path.iter().any(|t| t == ty) {
        return None;
    }
    let Some(TypeDef::Object(object) | TypeDef::Interface(object)) = config.types.get(ty) else {
        return None;
    };
    path.push(ty.to_owned());
    let mut best: Option<Chain> = None;
    for field in object.fields.values() {
        let own = match &field.source {
            FieldSource::Rest(binding) => {
                let upstream = binding.upstream.policies.timeout;
                binding.timeout.map_or(upstream, |t| t.min(upstream))
            }
            FieldSource::Graphql(binding) => binding.upstream.policies.timeout,
            _ => Duration::ZERO,
        };
        let below = chain(config, named(&field.ty), memo, path);
        let total = own + below.as_ref().map_or(Duration::ZERO, |c| c.total);
        if best.as_ref().is_none_or(|b| total > b.total) {
            let mut fields = Vec::new();
            if !own.is_zero() {
                fields.push(field.coordinate.clone());
            }
            fields.extend(below.map(|c| c.fields).unwrap_or_default());
            best = Some(Chain { total, fields });
        }
    }
    path.pop();
    // Memoized only when no cycle cut it short.
    if path.is_empty() || best.is_some() {
        memo.insert(ty.to_owned(), best.clone());
    }
    best
}

/// The warning `check` prints when the chain can outlast the deadline.
pub fn deadline_warning(config: &Config) -> Option<String> {
    let limit = config.server.request_timeout?;
    let chain = longest_chain(config)?;
    (chain.total > limit).then(|| {
        format!(
            "the longest chain of dependent calls ({}) can take {} by its timeouts, more than requestTimeout ({}): its last calls would get only what remains",
            chain.fields.join(" -> "),
            humantime::format_duration(chain.total),
            humantime::format_duration(limit)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(sdl: &str) -> Config {
        crate::config::load("t.graphql", sdl, &|_| Some("http://127.0.0.1:1".into()))
            .unwrap_or_else(|d| panic!("{d}"))
    }

    #[test]
    fn dependent_calls_add_up_and_siblings_do_not() {
        let c = config(
            r#"schema @server(requestTimeout: "1s")
                 @upstream(name: "a", url: "${A}", timeout: "600ms")
                 @upstream(name: "b", url: "${B}", timeout: "300ms") { query: Query }
               type Query { p(id: ID!): P }
               type P { id: ID!
                 x: X @rest(upstream: "a", path: "/x/{$parent.id}")
                 y: X @rest(upstream: "b", path: "/y/{$parent.id}", timeout: "100ms") }
               type X { id: ID! next: X @rest(upstream: "b", path: "/n/{$parent.id}") }"#,
        );
        let chain = longest_chain(&c).expect("a chain");
        // p (no call) -> x (600 ms) -> next (300 ms); the cycle X -> X stops.
        assert_eq!(chain.total, Duration::from_millis(900));
        assert_eq!(chain.fields, ["P.x", "X.next"]);
        assert_eq!(deadline_warning(&c), None);
        let tight = config(
            r#"schema @server(requestTimeout: "800ms")
                 @upstream(name: "a", url: "${A}", timeout: "600ms") { query: Query }
               type Query { p: P @rest(upstream: "a", path: "/p") }
               type P { id: ID! q: P @rest(upstream: "a", path: "/q/{$parent.id}") }"#,
        );
        let warning = deadline_warning(&tight).expect("a warning");
        assert!(
            warning.contains("Query.p -> P.q") && warning.contains("1s 200ms"),
            "{warning}"
        );
    }
}
