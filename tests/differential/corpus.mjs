// The operations of the differential suite (tests/differential.rs), over
// tests/differential/schema.graphql. Each has a unique `name` (the allowlist
// refers to it), a `query`, and optionally `variables` and `operationName`.
// Grouped by what they exercise: validation rules (spec section 5), input
// coercion of literals and variables (3.5, 5.6, 6.1.2), null propagation,
// aliases and merged fields, fragments, @skip/@include, introspection,
// operation selection, and syntax errors.

const ops = [];
const op = (name, query, extra = {}) => ops.push({ name, query, ...extra });

// ---------------------------------------------------------------------------
// Executing: plain answers.

op('product', '{ product(id: "1") { id name price rating tags status } }');
op('product-missing', '{ product(id: "99") { id name } }');
op('product-nested-lists', '{ product(id: "1") { matrix } p2: product(id: "2") { matrix } p3: product(id: "3") { matrix } }');
op('product-float-from-int', '{ product(id: "2") { rating } }');
op('product-deprecated-field', '{ product(id: "1") { code } }');
op('product-brand', '{ product(id: "1") { brand { id name country } } }');
op('product-brand-null', '{ product(id: "2") { brand { id name } } }');
op('reviews-default-arg', '{ product(id: "1") { reviews { id stars body } } }');
op('reviews-first-arg', '{ product(id: "1") { reviews(first: 3) { id stars } } }');
op('reviews-authors', '{ product(id: "1") { reviews(first: 3) { id author { id name } } } }');
op('related-with-null', '{ product(id: "1") { related { id name } } }');
op('products-list', '{ products { id name } }');
op('typename-root', '{ __typename }');
op('typename-object', '{ product(id: "1") { __typename id } }');
op('user', '{ user(id: "u1") { id name email } }');

// Abstract types.
op('search-union', '{ search(text: "x") { __typename ... on Product { id name } ... on User { id name } ... on Brand { id country } } }');
op('search-union-typename-only', '{ search(text: "x") { __typename } }');
op('search-union-interface-fragment', '{ search(text: "x") { ... on Node { id } ... on Named { name } } }');
op('search-empty', '{ search(text: "none") { __typename } }');
op('node-interface', '{ node(id: "1") { id __typename ... on Product { name } } }');
op('node-user', '{ node(id: "u1") { id ... on Named { name } ... on User { email } } }');
op('node-brand', '{ node(id: "b1") { id ... on Brand { name country } } }');
op('node-missing', '{ node(id: "zz") { id } }');
op('named-interface-on-interface', '{ named(id: "u2") { id name ... on Node { id } } }');

// ---------------------------------------------------------------------------
// Null propagation.

op('null-nonnull-field-to-parent', '{ product(id: "3") { id broken } }');
op('null-nonnull-field-deep', '{ product(id: "1") { related { id broken } } }');
op('null-nonnull-in-strict-list', '{ strictProducts { id } }');
op('null-nonnull-in-allproducts', '{ allProducts { id } }');
op('null-nullable-list-item', '{ products { id name } }');
op('null-broken-in-list', '{ products { id broken } }');
op('null-broken-in-strict-list', '{ strictProducts { id broken } }');
op('null-review-stars', '{ product(id: "2") { id reviews { id stars } } }');
op('null-review-body-nullable', '{ product(id: "1") { reviews { body } } }');
op('failing-nullable-root', '{ failing { id } product(id: "1") { id } }');
op('failing-required-root', '{ failingRequired { id } product(id: "1") { id } }');
op('failing-reviews-nonnull', '{ product(id: "4") { id name reviews { id } } }');
op('failing-reviews-in-list', '{ products { id reviews { id } } }');
op('failing-author-404', '{ product(id: "1") { reviews(first: 3) { id author { name } } } }');
op('null-two-errors-same-parent', '{ product(id: "3") { broken b2: broken } }');
op('null-merged-field-errors', '{ product(id: "3") { broken } product(id: "3") { broken } }');
op('null-echo-required-default', '{ echo { required } }');

// ---------------------------------------------------------------------------
// Aliases, merged fields, fragments, directives.

op('aliases', '{ a: product(id: "1") { n: name } b: product(id: "2") { n: name id } }');
op('alias-of-typename', '{ t: __typename product(id: "1") { t: __typename } }');
op('merged-fields', '{ product(id: "1") { id } product(id: "1") { name } }');
op('merged-nested', '{ product(id: "1") { brand { id } } product(id: "1") { brand { name } } }');
op('fragment-spread', 'query { product(id: "1") { ...P } } fragment P on Product { id name }');
op('fragment-nested', 'query { product(id: "1") { ...P } } fragment P on Product { id brand { ...B } } fragment B on Brand { name }');
op('fragment-on-interface', 'query { product(id: "1") { ...N } } fragment N on Named { name }');
op('inline-fragment-no-type', '{ product(id: "1") { ... { id } ... @include(if: true) { name } } }');
op('fragment-key-order', '{ product(id: "1") { name ... on Product { id name price } id } }');
op('skip-literal', '{ product(id: "1") { id name @skip(if: true) price @skip(if: false) } }');
op('include-literal', '{ product(id: "1") { id name @include(if: false) price @include(if: true) } }');
op('skip-and-include', '{ product(id: "1") { id name @skip(if: false) @include(if: false) } }');
op('skip-variable', 'query ($s: Boolean!) { product(id: "1") { id name @skip(if: $s) } }', { variables: { s: true } });
op('include-variable-default', 'query ($i: Boolean = false) { product(id: "1") { id name @include(if: $i) } }');
op('skip-on-fragment', 'query { product(id: "1") { id ...P @skip(if: true) } } fragment P on Product { name }');
op('skip-inline-fragment', '{ product(id: "1") { id ... on Product @skip(if: true) { name } } }');
op('skip-root-field', '{ product(id: "1") @skip(if: true) { id } __typename }');

// ---------------------------------------------------------------------------
// Operations and operationName.

op('named-operation', 'query One { product(id: "1") { id } }');
op('operation-name-picks', 'query A { a: __typename } query B { b: __typename }', { operationName: 'B' });
op('operation-name-missing', 'query A { a: __typename } query B { b: __typename }');
op('operation-name-unknown', 'query A { a: __typename }', { operationName: 'C' });
op('operation-name-with-single', 'query A { a: __typename }', { operationName: 'A' });
op('mutation-not-supported', 'mutation { x }');
op('subscription-not-supported', 'subscription { x }');
op('variables-in-named-op', 'query Q($id: ID!) { product(id: $id) { id } }', { variables: { id: '2' } });

// ---------------------------------------------------------------------------
// Syntax errors.

op('syntax-unclosed-brace', '{ product(id: "1") { id }');
op('syntax-bad-token', '{ product(id: "1") { id ! } }');
op('syntax-empty-document', '');
op('syntax-unterminated-string', '{ product(id: "1) { id } }');
op('syntax-empty-selection', '{ }');
op('syntax-variable-without-type', 'query ($a) { __typename }');

// ---------------------------------------------------------------------------
// Validation (section 5), one rule at a time.

op('v-executable-definitions', '{ __typename } type Extra { a: Int }');
op('v-operation-name-uniqueness', 'query A { __typename } query A { __typename }', { operationName: 'A' });
op('v-lone-anonymous-operation', '{ __typename } query B { __typename }');
op('v-field-unknown', '{ product(id: "1") { nope } }');
op('v-field-unknown-root', '{ nope }');
op('v-field-on-union', '{ search(text: "x") { id } }');
op('v-field-on-interface-not-declared', '{ node(id: "1") { name } }');
op('v-merge-different-fields', '{ product(id: "1") { x: id x: name } }');
op('v-merge-different-args', '{ product(id: "1") { id } product(id: "2") { id } }');
op('v-merge-different-shapes', '{ search(text: "x") { ... on Product { v: price } ... on User { v: name } } }');
op('v-merge-nested-conflict', '{ product(id: "1") { brand { x: id } } product(id: "1") { brand { x: name } } }');
op('v-leaf-with-selection', '{ product(id: "1") { name { x } } }');
op('v-object-without-selection', '{ product(id: "1") }');
op('v-object-without-selection-nested', '{ product(id: "1") { brand } }');
op('v-argument-unknown', '{ product(id: "1", size: 3) { id } }');
op('v-argument-unknown-on-directive', '{ __typename @skip(if: true, when: 1) }');
op('v-argument-uniqueness', '{ product(id: "1", id: "2") { id } }');
op('v-required-argument-missing', '{ product { id } }');
op('v-required-argument-null', '{ product(id: null) { id } }');
op('v-required-directive-argument', '{ __typename @skip }');
op('v-fragment-name-uniqueness', '{ ...F } fragment F on Query { __typename } fragment F on Query { __typename }');
op('v-fragment-unknown-type', '{ ...F } fragment F on Nope { __typename }');
op('v-inline-fragment-unknown-type', '{ ... on Nope { __typename } }');
op('v-fragment-on-scalar', '{ product(id: "1") { ...F } } fragment F on String { length }');
op('v-inline-fragment-on-scalar', '{ product(id: "1") { name { ... on String { x } } } }');
op('v-fragment-unused', '{ __typename } fragment F on Query { __typename }');
op('v-fragment-undefined', '{ ...Missing }');
op('v-fragment-cycle', '{ product(id: "1") { ...A } } fragment A on Product { ...B } fragment B on Product { ...A }');
op('v-fragment-self-cycle', '{ product(id: "1") { ...A } } fragment A on Product { id ...A }');
op('v-fragment-impossible-object', '{ product(id: "1") { ... on User { id } } }');
op('v-fragment-impossible-named', 'query { product(id: "1") { ...U } } fragment U on User { id }');
op('v-fragment-impossible-union', '{ user(id: "u1") { ... on SearchResult { __typename } } }');
op('v-fragment-possible-interface-union', '{ search(text: "x") { ... on Node { id } } }');
op('v-input-field-unknown', '{ echoFilter(filter: { status: ACTIVE, color: "red" }) { filter { status } } }');
op('v-input-field-uniqueness', '{ echoFilter(filter: { status: ACTIVE, status: ACTIVE }) { filter { status } } }');
op('v-input-required-field', '{ echoPage(page: { after: "x" }) { page { size } } }');
op('v-input-required-field-null', '{ echoPage(page: { size: null }) { page { size } } }');
op('lit-input-required-given', '{ echoPage(page: { size: 2 }) { page { size after } } }');
op('var-input-required-missing', 'query ($p: Page) { echoPage(page: $p) { page { size } } }', { variables: { p: { after: 'x' } } });
op('v-directive-undefined', '{ __typename @nope }');
op('v-directive-wrong-location', 'query @skip(if: true) { __typename }');
op('v-directive-unique', '{ __typename @skip(if: false) @skip(if: false) }');
op('v-directive-repeated-different', '{ __typename @skip(if: false) @include(if: true) }');
op('v-variable-uniqueness', 'query ($a: Int, $a: Int) { echo(int: $a) { int } }');
op('v-variable-not-input-type', 'query ($a: Product) { __typename }');
op('v-variable-unknown-type', 'query ($a: Nope) { __typename }');
op('v-variable-undefined', '{ echo(int: $a) { int } }');
op('v-variable-undefined-in-fragment', 'query Q { ...F } fragment F on Query { echo(int: $a) { int } }');
op('v-variable-unused', 'query ($a: Int) { __typename }');
op('v-usage-string-into-id', 'query ($id: String!) { product(id: $id) { id } }', { variables: { id: '1' } });
op('v-usage-nullable-into-nonnull', 'query ($id: ID) { product(id: $id) { id } }', { variables: { id: '1' } });
op('v-usage-nullable-with-default-into-nonnull', 'query ($id: ID = "1") { product(id: $id) { id } }');
op('v-usage-float-into-int', 'query ($v: Float) { echo(int: $v) { int } }', { variables: { v: 1 } });
op('v-usage-int-into-float', 'query ($v: Int) { echo(float: $v) { float } }', { variables: { v: 1 } });
op('v-usage-list-into-scalar', 'query ($v: [Int]) { echo(int: $v) { int } }', { variables: { v: [1] } });
op('v-usage-scalar-into-list', 'query ($v: Int) { echo(list: $v) { list } }', { variables: { v: 1 } });
op('v-usage-in-directive', 'query ($v: String) { __typename @skip(if: $v) }', { variables: { v: 'x' } });
op('v-usage-nonnull-list-item', 'query ($v: [Int]) { echo(nested: [$v]) { nested } }', { variables: { v: [1] } });
op('v-usage-in-input-object', 'query ($v: String) { echoFilter(filter: { price: { min: $v } }) { filter { price { min } } } }', { variables: { v: 'x' } });
op('v-subscription-unsupported-multiple', 'subscription { a: __typename b: __typename }');

// ---------------------------------------------------------------------------
// Literal coercion (3.5, 5.6.1).

op('lit-int', '{ echo(int: 42) { int } }');
op('lit-int-negative', '{ echo(int: -7) { int } }');
op('lit-int-max', '{ echo(int: 2147483647) { int } }');
op('lit-int-min', '{ echo(int: -2147483648) { int } }');
op('lit-int-over', '{ echo(int: 2147483648) { int } }');
op('lit-int-under', '{ echo(int: -2147483649) { int } }');
op('lit-int-huge', '{ echo(int: 3000000000) { int } }');
op('lit-int-from-float', '{ echo(int: 1.0) { int } }');
op('lit-int-from-string', '{ echo(int: "1") { int } }');
op('lit-int-from-bool', '{ echo(int: true) { int } }');
op('lit-float', '{ echo(float: 1.5) { float } }');
op('lit-float-from-int', '{ echo(float: 1) { float } }');
op('lit-float-exponent', '{ echo(float: 1e3) { float } }');
op('lit-float-from-string', '{ echo(float: "1.5") { float } }');
op('lit-string', '{ echo(string: "hi") { string } }');
op('lit-string-escapes', '{ echo(string: "a\\"b\\\\c\\u00e9") { string } }');
op('lit-block-string', '{ echo(string: """\n    two\n      lines\n  """) { string } }');
op('lit-string-from-int', '{ echo(string: 1) { string } }');
op('lit-string-from-enum', '{ echo(string: ACTIVE) { string } }');
op('lit-bool', '{ echo(bool: false) { bool } }');
op('lit-bool-from-int', '{ echo(bool: 1) { bool } }');
op('lit-bool-from-string', '{ echo(bool: "true") { bool } }');
op('lit-id-from-string', '{ echo(id: "abc") { id } }');
op('lit-id-from-int', '{ echo(id: 12) { id } }');
op('lit-id-from-float', '{ echo(id: 1.5) { id } }');
op('lit-id-from-bool', '{ echo(id: true) { id } }');
op('lit-enum', '{ echo(status: COMING_SOON) { status } }');
op('lit-enum-deprecated', '{ echo(status: DISCONTINUED) { status } }');
op('lit-enum-unknown', '{ echo(status: SOLD) { status } }');
op('lit-enum-from-string', '{ echo(status: "ACTIVE") { status } }');
op('lit-list', '{ echo(list: [1, 2, null]) { list } }');
op('lit-list-single-value', '{ echo(list: 3) { list } }');
op('lit-list-wrong-item', '{ echo(list: [1, "two"]) { list } }');
op('lit-nested-list', '{ echo(nested: [[1], [2, 3]]) { nested } }');
op('lit-nested-list-null-item', '{ echo(nested: [[1, null]]) { nested } }');
op('lit-nested-list-single', '{ echo(nested: 1) { nested } }');
op('lit-null-into-nullable', '{ echo(int: null) { int } }');
op('lit-null-into-required', '{ echo(required: null) { required } }');
op('lit-required-default', '{ echo { required } }');
op('lit-custom-scalar', '{ echo(when: "2026-12-01T00:00:00Z") { when } }');
op('lit-custom-scalar-object', '{ echo(when: { at: 1 }) { when } }');
op('lit-input-object', '{ echoFilter(filter: { ids: ["1", "2"], status: COMING_SOON, price: { min: 1, max: 9 } }) { filter { ids status price { min max } } } }');
op('lit-input-object-defaults', '{ echoFilter(filter: { price: { max: 5 } }) { filter { status price { min max } } } }');
op('lit-input-object-empty', '{ echoFilter(filter: {}) { filter { ids status price { min } } } }');
op('lit-input-object-not-object', '{ echoFilter(filter: 3) { filter { status } } }');
op('lit-input-object-wrong-field-type', '{ echoFilter(filter: { price: { min: "x" } }) { filter { status } } }');
op('lit-input-object-null-list-item', '{ echoFilter(filter: { ids: ["1", null] }) { filter { ids } } }');
op('lit-input-object-single-id', '{ echoFilter(filter: { ids: "1" }) { filter { ids } } }');
op('lit-input-object-deprecated-field', '{ echoFilter(filter: { nameContains: "a" }) { filter { nameContains } } }');
op('lit-oneof-one', '{ echoBy(by: { id: "1" }) { by { id name } } }');
op('lit-oneof-two', '{ echoBy(by: { id: "1", name: "Chair" }) { by { id } } }');
op('lit-oneof-null', '{ echoBy(by: { id: null }) { by { id } } }');
op('lit-oneof-none', '{ echoBy(by: {}) { by { id } } }');

// ---------------------------------------------------------------------------
// Variable coercion (6.1.2).

const v = (name, type, arg, value, select = arg) =>
  op(`var-${name}`, `query ($v: ${type}) { echo(${arg}: $v) { ${select} } }`, { variables: { v: value } });
v('int', 'Int', 'int', 5);
v('int-over', 'Int', 'int', 3000000000);
v('int-under', 'Int', 'int', -2147483649);
v('int-max', 'Int', 'int', 2147483647);
v('int-from-float-whole', 'Int', 'int', 2.0);
v('int-from-float', 'Int', 'int', 2.5);
v('int-from-string', 'Int', 'int', '5');
v('int-null', 'Int', 'int', null);
v('float', 'Float', 'float', 2.5);
v('float-from-int', 'Float', 'float', 2);
v('float-from-string', 'Float', 'float', '2.5');
v('string', 'String', 'string', 'x');
v('string-from-int', 'String', 'string', 1);
v('string-from-object', 'String', 'string', { a: 1 });
v('bool', 'Boolean', 'bool', true);
v('bool-from-string', 'Boolean', 'bool', 'true');
v('id-from-int', 'ID', 'id', 12);
v('id-from-string', 'ID', 'id', 'x');
v('id-from-float', 'ID', 'id', 1.5);
v('enum', 'Status', 'status', 'ACTIVE');
v('enum-unknown', 'Status', 'status', 'SOLD');
v('enum-from-int', 'Status', 'status', 1);
v('list', '[Int]', 'list', [1, null, 3]);
v('list-single-value', '[Int]', 'list', 4);
v('list-wrong-item', '[Int]', 'list', [1, 'x']);
v('nested', '[[Int!]]', 'nested', [[1], [2]]);
v('nested-null-item', '[[Int!]]', 'nested', [[1, null]]);
v('nested-single', '[[Int!]]', 'nested', 1);
v('custom-scalar', 'DateTime', 'when', '2026-12-01');
op('var-required-missing', 'query ($v: Int!) { echo(int: $v) { int } }', { variables: {} });
op('var-required-null', 'query ($v: Int!) { echo(int: $v) { int } }', { variables: { v: null } });
op('var-default-used', 'query ($v: Int = 9) { echo(int: $v) { int } }', { variables: {} });
op('var-default-overridden-by-null', 'query ($v: Int = 9) { echo(int: $v) { int } }', { variables: { v: null } });
op('var-default-wrong-type', 'query ($v: Int = "x") { echo(int: $v) { int } }');
op('var-omitted-arg-default', 'query ($v: Int) { echo(required: $v) { required } }', { variables: {} });
op('var-null-into-arg-with-default', 'query ($v: Int) { echo(required: $v) { required } }', { variables: { v: null } });
op('var-input-object', 'query ($f: ProductFilter) { echoFilter(filter: $f) { filter { ids status price { min max } } } }', { variables: { f: { ids: ['1'], price: { max: 3 } } } });
op('var-input-object-unknown-field', 'query ($f: ProductFilter) { echoFilter(filter: $f) { filter { status } } }', { variables: { f: { color: 'red' } } });
op('var-input-object-wrong-type', 'query ($f: ProductFilter) { echoFilter(filter: $f) { filter { status } } }', { variables: { f: 'x' } });
op('var-input-object-nested-wrong', 'query ($f: ProductFilter) { echoFilter(filter: $f) { filter { status } } }', { variables: { f: { price: { min: 'x' } } } });
op('var-input-object-null-id', 'query ($f: ProductFilter) { echoFilter(filter: $f) { filter { ids } } }', { variables: { f: { ids: [null] } } });
op('var-oneof-one', 'query ($b: ProductBy!) { echoBy(by: $b) { by { id name } } }', { variables: { b: { name: 'Chair' } } });
op('var-oneof-two', 'query ($b: ProductBy!) { echoBy(by: $b) { by { id } } }', { variables: { b: { id: '1', name: 'Chair' } } });
op('var-oneof-null-field', 'query ($b: ProductBy!) { echoBy(by: $b) { by { id } } }', { variables: { b: { id: null } } });
op('var-oneof-field-variable', 'query ($i: ID) { echoBy(by: { id: $i }) { by { id } } }', { variables: { i: '1' } });
op('var-in-list-literal', 'query ($a: Int) { echo(list: [$a, 2]) { list } }', { variables: { a: 1 } });
op('var-in-input-literal', 'query ($m: Int) { echoFilter(filter: { price: { min: $m } }) { filter { price { min max } } } }', { variables: { m: 4 } });
op('var-in-input-literal-missing', 'query ($m: Int) { echoFilter(filter: { price: { min: $m } }) { filter { price { min max } } } }', { variables: {} });
op('var-extra-unused-value', 'query ($a: Int) { echo(int: $a) { int } }', { variables: { a: 1, b: 2 } });
op('var-not-an-object', 'query ($a: Int) { echo(int: $a) { int } }', { variables: 'nope' });

// ---------------------------------------------------------------------------
// Introspection.

op('i-schema-roots', '{ __schema { queryType { name } mutationType { name } subscriptionType { name } } }');
op('i-schema-type-names', '{ __schema { types { name kind } } }');
op('i-schema-directives', '{ __schema { directives { name locations isRepeatable args { name type { name kind ofType { name } } defaultValue } } } }');
op('i-type-product', '{ __type(name: "Product") { kind name description fields { name description isDeprecated deprecationReason type { kind name ofType { kind name ofType { kind name } } } } interfaces { name } } }');
op('i-type-product-deprecated', '{ __type(name: "Product") { fields(includeDeprecated: false) { name } } }');
op('i-field-args', '{ __type(name: "Product") { fields { name args { name description defaultValue isDeprecated deprecationReason type { name kind } } } } }');
op('i-field-args-deprecated', '{ __type(name: "Product") { fields { name args(includeDeprecated: true) { name isDeprecated deprecationReason } } } }');
op('i-interface-of-interface', '{ __type(name: "Named") { kind interfaces { name } possibleTypes { name } fields { name } } }');
op('i-interface-no-interfaces', '{ __type(name: "Node") { kind interfaces { name } possibleTypes { name } } }');
op('i-union', '{ __type(name: "SearchResult") { kind description possibleTypes { name } fields { name } interfaces { name } } }');
op('i-enum', '{ __type(name: "Status") { kind enumValues { name description isDeprecated deprecationReason } } }');
op('i-enum-all', '{ __type(name: "Status") { enumValues(includeDeprecated: true) { name isDeprecated deprecationReason } } }');
op('i-input', '{ __type(name: "ProductFilter") { kind description inputFields { name defaultValue type { name kind ofType { name } } } } }');
op('i-input-deprecated', '{ __type(name: "ProductFilter") { inputFields(includeDeprecated: true) { name isDeprecated deprecationReason } } }');
op('i-oneof', '{ __type(name: "ProductBy") { kind isOneOf inputFields { name type { name kind } } } }');
op('i-not-oneof', '{ __type(name: "Range") { isOneOf } }');
op('i-scalar-specified-by', '{ __type(name: "DateTime") { kind description specifiedByURL } }');
op('i-builtin-scalar', '{ __type(name: "Int") { kind name description specifiedByURL } }');
op('i-type-unknown', '{ __type(name: "Nope") { name } }');
op('i-type-missing-arg', '{ __type { name } }');
op('i-object-fields-of-scalar', '{ __type(name: "String") { fields { name } interfaces { name } possibleTypes { name } enumValues { name } inputFields { name } ofType { name } } }');
op('i-typename-of-type', '{ __type(name: "Product") { __typename name } __schema { __typename } }');
op('i-schema-description', '{ __schema { description } }');
op('i-query-type-fields', '{ __schema { queryType { fields { name type { name kind ofType { name kind } } } } } }');
op('i-deprecated-reason-default', '{ __type(name: "User") { fields(includeDeprecated: true) { name isDeprecated deprecationReason } } }');
op('i-aliased', '{ t: __type(name: "Brand") { n: name f: fields { n: name } } }');
op('i-with-data', '{ __typename product(id: "1") { id } __type(name: "Review") { name } }');
op('i-fragment', 'query { __type(name: "Product") { ...T } } fragment T on __Type { name kind }');
op('i-type-field-on-non-root', '{ product(id: "1") { __type(name: "Product") { name } } }');
op('i-schema-field-on-non-root', '{ product(id: "1") { __schema { queryType { name } } } }');

export default ops;
