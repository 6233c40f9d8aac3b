#!/usr/bin/env node
// GraphQL over HTTP conformance audit (graphql-http's auditServer) of a running server.
//
//   node tests/js/audit.mjs http://127.0.0.1:PORT/graphql
//
// Prints one line per audit (status, name; the reason for anything not ok), then
//   graphql-http audit: N ok, N warn, N error
// Exits 1 if any audit has status `error` (a MUST of the spec), else 0. Audits of
// MAY requirements can come back as `notice`; they are listed and counted on a
// second summary line but never fail the run.
import { auditServer } from 'graphql-http';

const TIMEOUT_MS = Number(process.env.AUDIT_TIMEOUT_MS ?? 60_000);

const url = process.argv[2];
if (!url || !/^https?:\/\//.test(url)) {
  console.error('usage: node audit.mjs http://HOST:PORT/graphql');
  process.exit(2);
}

const timer = setTimeout(() => {
  console.error(`graphql-http audit: timed out after ${TIMEOUT_MS} ms against ${url}`);
  process.exit(1);
}, TIMEOUT_MS);

let results;
try {
  results = await auditServer({ url });
} catch (err) {
  console.error(`graphql-http audit: failed to run against ${url}: ${err?.stack ?? err}`);
  process.exit(1);
}
clearTimeout(timer);

const counts = { ok: 0, warn: 0, error: 0, notice: 0 };
for (const r of results) {
  counts[r.status] = (counts[r.status] ?? 0) + 1;
  let line = `${r.status.padEnd(6)} ${r.name}`;
  if (r.status !== 'ok' && r.reason) line += ` -- ${String(r.reason).replace(/\s+/g, ' ')}`;
  console.log(line);
}
console.log(`graphql-http audit: ${counts.ok} ok, ${counts.warn} warn, ${counts.error} error`);
if (counts.notice) console.log(`graphql-http audit: ${counts.notice} notice (MAY, not counted above)`);
process.exit(counts.error > 0 ? 1 : 0);
