// The differential suite: every operation of tests/differential/corpus.mjs
// goes to Tributary and to graphql-js (graphql@16, pinned in package.json,
// served over HTTP by graphql-http) built from the same SDL, with resolvers
// that call the same mock upstream as Tributary's bindings do. `data` is
// compared as JSON text (key order counts), `errors` by count, `path` and
// `locations` (messages may differ), and the HTTP status. A difference is
// allowed only when tests/differential/allowlist.json names the operation,
// with the reason and the spec section; an allowlist entry whose operation
// now answers the same is stale and fails the run too.
//
//   node tests/js/differential.mjs SCHEMA CORPUS ALLOWLIST UPSTREAM_URL TRIBUTARY_URL
//
// Prints one line per difference and the summary line
// `differential: N operations, S the same, A allowed, D different`.
import fs from 'node:fs';
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { buildSchema, isAbstractType, isObjectType, valueFromASTUntyped } from 'graphql';
import { createHandler } from 'graphql-http/lib/use/http';

const [schemaPath, corpusPath, allowPath, upstream, tributary] = process.argv.slice(2);
if (!tributary) {
  console.error('usage: differential.mjs SCHEMA CORPUS ALLOWLIST UPSTREAM_URL TRIBUTARY_URL');
  process.exit(2);
}

// ---------------------------------------------------------------------------
// graphql-js, serving the same SDL.

const schema = buildSchema(fs.readFileSync(schemaPath, 'utf8'), { assumeValidSDL: true });

/** The string argument `name` of directive `d`. */
function stringArg(d, name) {
  const arg = d.arguments.find((a) => a.name.value === name);
  return arg ? valueFromASTUntyped(arg.value) : undefined;
}

/** `{$args.x}` / `{$parent.x}` in `template`, read from `args` and `parent`;
 * `undefined` when a value is missing (Tributary makes no call then). */
function render(template, args, parent, encode) {
  let missing = false;
  const out = template.replace(/\{\$(args|parent)\.([A-Za-z0-9_.]+)\}/g, (_, source, path) => {
    let value = source === 'args' ? args : parent;
    for (const key of path.split('.')) value = value == null ? undefined : value[key];
    if (value === undefined || value === null) {
      missing = true;
      return '';
    }
    return encode ? encodeURIComponent(String(value)) : String(value);
  });
  return missing ? undefined : out;
}

/** A JSON body whose strings are templates; a string that is exactly one
 * placeholder keeps the value's JSON type (null when it is missing). */
function renderBody(template, args, parent) {
  if (typeof template === 'string') {
    const single = template.match(/^\{\$(args|parent)\.([A-Za-z0-9_.]+)\}$/);
    if (single) {
      let value = single[1] === 'args' ? args : parent;
      for (const key of single[2].split('.')) value = value == null ? undefined : value[key];
      return value ?? null;
    }
    return render(template, args, parent, false) ?? null;
  }
  if (Array.isArray(template)) return template.map((t) => renderBody(t, args, parent));
  if (template && typeof template === 'object') {
    return Object.fromEntries(Object.entries(template).map(([k, t]) => [k, renderBody(t, args, parent)]));
  }
  return template;
}

/** A resolver doing what `@rest(upstream:, method:, path:, query:, body:)` does. */
function restResolver(directive) {
  const path = stringArg(directive, 'path');
  const query = stringArg(directive, 'query') ?? {};
  const method = stringArg(directive, 'method') ?? 'GET';
  const body = stringArg(directive, 'body');
  return async (parent, args) => {
    const rendered = render(path, args, parent ?? {}, true);
    if (rendered === undefined) return null;
    const params = new URLSearchParams();
    for (const [key, template] of Object.entries(query)) {
      const value = render(template, args, parent ?? {}, false);
      if (value !== undefined) params.append(key, value);
    }
    const qs = params.toString();
    const init = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(renderBody(body, args, parent ?? {}));
      init.headers = { 'content-type': 'application/json' };
    }
    const response = await fetch(`${upstream}${rendered}${qs ? `?${qs}` : ''}`, init);
    if (!response.ok) throw new Error(`upstream answered ${response.status}`);
    return response.json();
  };
}

for (const type of Object.values(schema.getTypeMap())) {
  if (type.name.startsWith('__')) continue;
  if (isAbstractType(type)) type.resolveType = (value) => value?.__typename;
  if (!isObjectType(type)) continue;
  const root = type === schema.getQueryType();
  for (const field of Object.values(type.getFields())) {
    const rest = field.astNode?.directives?.find((d) => d.name.value === 'rest');
    if (rest) field.resolve = restResolver(rest);
    // A root field of an object type without a binding is made of its arguments.
    else if (root) field.resolve = (_, args) => args;
  }
}

const reference = http.createServer(createHandler({ schema }));
await new Promise((resolve) => reference.listen(0, '127.0.0.1', resolve));
const referenceUrl = `http://127.0.0.1:${reference.address().port}/graphql`;

// ---------------------------------------------------------------------------
// The corpus, both servers, and the comparison.

const corpus = (await import(pathToFileURL(corpusPath).href)).default;
const allowlist = JSON.parse(fs.readFileSync(allowPath, 'utf8'));
const names = new Set();
for (const op of corpus) {
  if (names.has(op.name)) throw new Error(`two operations named ${op.name}`);
  names.add(op.name);
}
const allowed = new Map(allowlist.map((entry) => [entry.name, entry]));
for (const entry of allowlist) {
  if (!names.has(entry.name)) throw new Error(`the allowlist names ${entry.name}, which is not in the corpus`);
  if (!entry.reason || !entry.spec) throw new Error(`allowlist entry ${entry.name} needs a reason and a spec section`);
}

async function ask(url, op) {
  const body = { query: op.query };
  if (op.variables !== undefined) body.variables = op.variables;
  if (op.operationName !== undefined) body.operationName = op.operationName;
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = { unparsable: text };
  }
  return { status: response.status, json };
}

/** What is compared: status, data as JSON text, and each error's path and
 * locations (sorted: the order of errors is not specified). */
function shape({ status, json }) {
  const errors = (json.errors ?? []).map((e) =>
    JSON.stringify({ path: e.path ?? null, locations: e.locations ?? null }),
  );
  errors.sort();
  return {
    status,
    data: 'data' in json ? JSON.stringify(json.data) : '(absent)',
    errors,
  };
}

let same = 0;
let allowedCount = 0;
const different = [];
const stale = [];
for (const op of corpus) {
  const [ours, theirs] = await Promise.all([ask(tributary, op), ask(referenceUrl, op)]);
  const a = shape(ours);
  const b = shape(theirs);
  const equal = JSON.stringify(a) === JSON.stringify(b);
  if (equal && allowed.has(op.name)) stale.push(op.name);
  if (equal) {
    same += 1;
    continue;
  }
  if (allowed.has(op.name)) {
    allowedCount += 1;
    continue;
  }
  different.push({ op, ours, theirs });
}

for (const { op, ours, theirs } of different) {
  console.log(`DIFFERENT ${op.name}: ${op.query.replace(/\s+/g, ' ')}`);
  if (op.variables !== undefined) console.log(`  variables: ${JSON.stringify(op.variables)}`);
  console.log(`  tributary  ${ours.status} ${JSON.stringify(ours.json)}`);
  console.log(`  graphql-js ${theirs.status} ${JSON.stringify(theirs.json)}`);
}
for (const name of stale) {
  console.log(`STALE allowlist entry ${name}: both servers now answer the same; remove it`);
}
console.log(
  `differential: ${corpus.length} operations, ${same} the same, ${allowedCount} allowed, ${different.length} different`,
);
reference.close();
process.exit(different.length === 0 && stale.length === 0 ? 0 : 1);
