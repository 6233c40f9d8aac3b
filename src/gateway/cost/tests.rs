use super::*;

fn model(sdl: &str) -> CostModel {
    let config = crate::config::load("t.graphql", sdl, &|_| None).expect("schema");
    CostModel::new(&config)
}

const SDL: &str = r#"
schema @upstream(name: "api", url: "http://127.0.0.1:1") { query: Query }
type Query {
  posts: [Post!]! @rest(upstream: "api", path: "/posts") @listSize(assumedSize: 100)
  page(first: Int): [Post!] @rest(upstream: "api", path: "/posts") @listSize(slicingArguments: ["first"])
  top(first: Int = 5): [Post!] @rest(upstream: "api", path: "/posts") @listSize(slicingArguments: ["first"])
}
type Post {
  id: ID!
  userId: Int!
  user: User @rest(upstream: "api", path: "/users", query: { id: "{$parent.userId}" }, batch: { key: "id", maxSize: 50 })
  author: User @rest(upstream: "api", path: "/users/{$parent.userId}")
}
type User { id: ID! posts: [Post!] @rest(upstream: "api", path: "/posts", query: { userId: "{$parent.id}" }) }
"#;

fn measure(model: &CostModel, query: &str) -> Result<Measure, String> {
    let doc = async_graphql::parser::parse_query(query).expect("query");
    let limits = Limits {
        max_cost: u64::MAX,
        max_depth: u64::MAX,
        max_upstream_calls: u64::MAX,
        max_aliases: usize::MAX,
        max_root_fields: usize::MAX,
    };
    model.measure(&doc, None, None, &limits)
}

#[test]
fn lists_multiply_their_selection() {
    let m = model(SDL);
    // posts(1) + 100 x (id + user(1 + name... id))
    let got = measure(&m, "{ posts { id user { id } } }").expect("measure");
    assert_eq!(got.cost, 1 + 100 * (1 + 2));
    // One call for posts, 100 / 50 = 2 batched chunks (+1 bound).
    assert_eq!(got.upstream_calls, 1 + 2 + 1);
    let got = measure(&m, "{ posts { author { id } } }").expect("measure");
    assert_eq!(got.upstream_calls, 1 + 100);
    assert_eq!(got.depth, 3);
}

#[test]
fn recursion_through_lists_grows_geometrically() {
    let m = model(SDL);
    let got = measure(
        &m,
        "{ posts { author { posts { author { posts { author { posts { id } } } } } } } }",
    )
    .expect("measure");
    // 100 x 10 x 10 x 10 posts at the bottom.
    assert!(got.cost > 100_000, "{got:?}");
}

#[test]
fn slicing_arguments_set_the_size() {
    let m = model(SDL);
    let got = measure(&m, "{ page(first: 3) { id } }").expect("measure");
    assert_eq!(got.cost, 1 + 3);
    let got = measure(&m, "{ page { id } }").expect("measure");
    assert_eq!(got.cost, 1 + 10, "defaultListSize without a slicing value");
    let got = measure(&m, "{ top { id } }").expect("measure");
    assert_eq!(got.cost, 1 + 5, "the slicing argument's default");
}

#[test]
fn typename_and_introspection_count() {
    let m = model(SDL);
    let got = measure(&m, "{ a: __typename b: __typename }").expect("measure");
    assert_eq!(got.cost, 2);
    assert_eq!(got.aliases, 2);
    let got = measure(&m, "{ __schema { types { fields { name } } } }").expect("measure");
    assert!(got.cost > 20, "{got:?}");
}

#[test]
fn fragments_are_measured_once_each() {
    let m = model(SDL);
    let mut query = String::from("query { posts { ...F30 } }\nfragment F0 on Post { id }\n");
    for i in 1..=30 {
        query.push_str(&format!(
            "fragment F{i} on Post {{ ...F{p} ...F{p} }}\n",
            p = i - 1
        ));
    }
    let started = std::time::Instant::now();
    let got = measure(&m, &query).expect("measure");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(got.cost, 1 + 100 * (1 << 30));
}

#[test]
fn fragment_cycles_are_refused() {
    let m = model(SDL);
    let err = measure(
        &m,
        "{ posts { ...A } } fragment A on Post { ...B } fragment B on Post { ...A }",
    )
    .expect_err("cycle");
    assert_eq!(err, "Cannot spread fragment \"A\" within itself via \"B\".");
    let err = measure(&m, "{ posts { ...A } } fragment A on Post { id ...A }").expect_err("cycle");
    assert_eq!(err, "Cannot spread fragment \"A\" within itself.");
}
