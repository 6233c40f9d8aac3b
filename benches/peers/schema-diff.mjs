// Compares the schema a running gateway exposes (by introspection) with a
// contract SDL file, ignoring descriptions and order. Needs graphql@16, e.g.
// from the peer harness's node_modules:
//   NODE_PATH=/tmp/peers/node_modules node schema-diff.mjs URL CONTRACT.graphql
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(join(process.env.NODE_PATH || process.cwd(), 'x.js'));
const { buildSchema, buildClientSchema, getIntrospectionQuery, printSchema, lexicographicSortSchema } =
  require('graphql');

const [url, contract] = process.argv.slice(2);
const res = await fetch(url, {
  method: 'POST',
  headers: { 'content-type': 'application/json', accept: 'application/json' },
  body: JSON.stringify({ query: getIntrospectionQuery({ descriptions: false }) }),
});
const json = await res.json();
if (json.errors) {
  console.error(JSON.stringify(json.errors));
  process.exit(2);
}
const normal = (schema) =>
  printSchema(lexicographicSortSchema(schema))
    .replace(/"""[\s\S]*?"""|"[^"\n]*"/g, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join('\n');
const ours = normal(buildClientSchema(json.data));
const theirs = normal(buildSchema(readFileSync(contract, 'utf8')));
if (ours === theirs) {
  console.log(`schema identical to ${contract}`);
} else {
  console.log(`DIFF\n--- served\n${ours}\n--- ${contract}\n${theirs}`);
  process.exit(1);
}
