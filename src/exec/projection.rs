//! What of each upstream's answers an operation reads, worked out once per
//! prepared operation, so an answer no other request shares is parsed only
//! as far as the selection needs: `{ posts { title } }` keeps one string of
//! each of 100 posts and skips the rest of the 25 KB while parsing.
//!
//! A [`Mask`] (the upstream layer's: it knows JSON, not GraphQL) is a tree
//! of object keys; lists are transparent. Each upstream's mask is the union over every field of the
//! operation bound to that upstream, so two calls that are the same request
//! (and share one answer inside the operation) read through the same mask.
//! Leaves, custom scalars and numeric path segments read everything below
//! them. Where the walk cannot see which fields will be resolved (below an
//! interface or union, where the concrete type comes from the data; an
//! unknown field or fragment), the operation gets no projections at all:
//! a bound field the walk missed could otherwise read an answer through
//! another field's mask.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

use super::registry::{CompiledField, OutputKind, Registry};
use crate::config::{FieldSource, RestBinding, Source};
use crate::upstream::Mask;

/// Per upstream (by name), what the operation reads of its answers.
#[derive(Debug, Default)]
pub(crate) struct Projections {
    by_upstream: Vec<(String, Arc<Mask>)>,
}

impl Projections {
    /// The projections of the operation whose root selection is `root` on
    /// type `root_type`.
    pub(crate) fn of(
        registry: &Registry,
        document: &ExecutableDocument,
        root_type: &str,
        root: &SelectionSet,
    ) -> Projections {
        let mut walk = Walk {
            registry,
            document,
            out: Projections::default(),
            fragments: HashSet::new(),
            complete: true,
        };
        walk.selection(root_type, root);
        if walk.complete {
            walk.out
        } else {
            Projections::default()
        }
    }

    /// What is read of `upstream`'s answers (`None`: nothing is known, so
    /// everything is).
    pub(crate) fn get(&self, upstream: &str) -> Option<&Arc<Mask>> {
        self.by_upstream
            .iter()
            .find(|(name, _)| name == upstream)
            .map(|(_, mask)| mask)
            .filter(|mask| ***mask != Mask::All)
    }

    fn add(&mut self, upstream: &str, mask: Mask) {
        match self
            .by_upstream
            .iter_mut()
            .find(|(name, _)| name == upstream)
        {
            Some((_, existing)) => Arc::make_mut(existing).union(mask),
            None => self.by_upstream.push((upstream.to_owned(), Arc::new(mask))),
        }
    }
}

struct Walk<'a> {
    registry: &'a Registry,
    document: &'a ExecutableDocument,
    out: Projections,
    /// Fragments being walked (a cycle was refused before; this only
    /// keeps the walk finite whatever the document).
    fragments: HashSet<&'a str>,
    /// False once the walk met a selection it cannot follow.
    complete: bool,
}

impl<'a> Walk<'a> {
    /// What `set` (on type `ty`) reads of its parent's JSON; bound fields
    /// below add their own calls' masks to `out`.
    fn selection(&mut self, ty: &str, set: &'a SelectionSet) -> Mask {
        let mut reads = Mask::none();
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    // `__typename` and introspection read no answer.
                    if name.starts_with("__") {
                        continue;
                    }
                    let Some(compiled) = self.registry.field(ty, name) else {
                        self.complete = false;
                        continue;
                    };
                    let below = &field.node.selection_set.node;
                    reads.union(self.field(compiled, below));
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    let Some(fragment) = self.document.fragments.get(name) else {
                        self.complete = false;
                        continue;
                    };
                    if !self.fragments.insert(name) {
                        self.complete = false;
                        continue;
                    }
                    let inner = self.selection(ty, &fragment.node.selection_set.node);
                    self.fragments.remove(name);
                    reads.union(inner);
                }
                Selection::InlineFragment(inline) => {
                    let inner = self.selection(ty, &inline.node.selection_set.node);
                    reads.union(inner);
                }
            }
        }
        reads
    }

    /// What one field reads of its parent's JSON.
    fn field(&mut self, field: &CompiledField, below: &'a SelectionSet) -> Mask {
        match &field.def.source {
            FieldSource::Parent(path) => Mask::at(path, self.value(field, below)),
            FieldSource::Federated => Mask::at(
                std::slice::from_ref(&field.def.name),
                self.value(field, below),
            ),
            FieldSource::Arguments => {
                // Its children read the arguments, not an answer; bound
                // ones below still make calls.
                self.value(field, below);
                Mask::none()
            }
            // The answer is the client's selection, read whole; the parent
            // keeps what the binding's templates may read.
            FieldSource::Graphql(_) => Mask::All,
            // The subgraphs answer below it; the parent gives the
            // representations.
            FieldSource::Entity(binding) => {
                let mut reads = Mask::none();
                for path in binding.parent_paths() {
                    reads.union(Mask::at(&path, Mask::All));
                }
                reads
            }
            FieldSource::Rest(binding) => {
                let mut call = self.value(field, below);
                if let Some(batch) = &binding.batch {
                    call.union(Mask::at(&batch.key, Mask::All));
                }
                self.out
                    .add(&binding.upstream.name, Mask::at(&binding.select, call));
                parent_inputs(binding)
            }
        }
    }

    /// What is read of a field's own value.
    fn value(&mut self, field: &CompiledField, below: &'a SelectionSet) -> Mask {
        match field.out {
            OutputKind::Object => self.selection(&field.named, below),
            // The concrete type is known only from the data, and so are
            // the fields (and calls) below it.
            OutputKind::Abstract => {
                if !below.items.is_empty() {
                    self.complete = false;
                }
                Mask::All
            }
            _ => Mask::All,
        }
    }
}

/// What a binding's templates read of the parent object.
fn parent_inputs(binding: &RestBinding) -> Mask {
    let mut reads = Mask::none();
    for path in parent_paths(binding) {
        reads.union(Mask::at(path, Mask::All));
    }
    reads
}

/// The paths into its parent's JSON that `binding`'s requests read
/// (`{$parent.id}`).
pub(crate) fn parent_paths(binding: &RestBinding) -> Vec<&[String]> {
    let templates = binding
        .path
        .iter()
        .chain(binding.query.iter().map(|(_, t)| t))
        .chain(binding.headers.iter().map(|(_, t)| t));
    let mut exprs: Vec<&crate::config::Expr> = templates.flat_map(|t| t.exprs()).collect();
    if let Some(body) = &binding.body {
        exprs.extend(body.exprs());
    }
    if let Some(batch) = &binding.batch {
        exprs.push(&batch.input);
    }
    exprs
        .into_iter()
        .filter(|e| e.source == Source::Parent)
        .map(|e| e.path.as_slice())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = r#"
schema @upstream(name: "api", url: "http://127.0.0.1:1") @upstream(name: "users", url: "http://127.0.0.1:2") { query: Query }
type Query {
  posts: [Post!]! @rest(upstream: "api", path: "/posts", select: "data.items")
  node: Node @rest(upstream: "api", path: "/node")
}
interface Node { id: ID! }
type Post implements Node {
  id: ID!
  title: String!
  meta: Meta @from(path: "extra.meta")
  authorId: ID
  who: Who
  author: User @rest(upstream: "users", path: "/users", query: { id: "{$parent.authorId}" }, batch: { key: "uid", maxSize: 50 })
  first: User @rest(upstream: "users", path: "/users/{$parent.who.id}")
}
type Meta { tags: [String!] }
type Who { id: ID }
type User { uid: ID! name: String! }
"#;

    fn projections(query: &str) -> Projections {
        let config = crate::config::load("t.graphql", SDL, &|_| None).expect("the test SDL loads");
        let upstreams = config
            .upstreams
            .iter()
            .map(|(name, up)| {
                let client =
                    crate::upstream::Upstream::new(up.clone(), None, None).expect("a client");
                (name.clone(), Arc::new(client))
            })
            .collect();
        let registry = Registry::build(&config, &upstreams);
        let doc = async_graphql::parser::parse_query(query).expect("the test query parses");
        let async_graphql::parser::types::DocumentOperations::Single(op) = &doc.operations else {
            panic!("one operation")
        };
        Projections::of(&registry, &doc, "Query", &op.node.selection_set.node)
    }

    #[test]
    fn a_selection_reads_its_fields_the_inputs_of_bound_children_and_batch_keys() {
        let p = projections(
            "{ posts { title ...M author { name } first { __typename } } } fragment M on Post { meta { tags } }",
        );
        let api = p.get("api").expect("api is projected");
        assert_eq!(
            **api,
            Mask::keys(&[(
                "data",
                Mask::keys(&[(
                    "items",
                    Mask::keys(&[
                        ("title", Mask::All),
                        (
                            "extra",
                            Mask::keys(&[("meta", Mask::keys(&[("tags", Mask::All)]))])
                        ),
                        ("authorId", Mask::All),
                        ("who", Mask::keys(&[("id", Mask::All)])),
                    ])
                )])
            )])
        );
        // `author` (batched: its key `uid` is read) and `first` (only
        // `__typename`) share the upstream, so one mask for both.
        let users = p.get("users").expect("users is projected");
        assert_eq!(
            **users,
            Mask::keys(&[("name", Mask::All), ("uid", Mask::All)])
        );
    }

    #[test]
    fn below_an_interface_nothing_is_projected() {
        let p = projections("{ node { id } }");
        assert!(p.get("api").is_none(), "an interface is read whole");
        // `author` below the interface is resolved from the data; the walk
        // cannot see it, so no upstream may be read through a mask.
        let p = projections("{ posts { title } node { ... on Post { author { name } } } }");
        assert!(p.get("api").is_none() && p.get("users").is_none());
        // Introspection beside other fields does not stop the walk.
        let p = projections("{ __typename posts { title } }");
        assert!(p.get("api").is_some());
    }
}
