#!/usr/bin/env node
// Runs GraphQL requests from pages on other origins in headless Chromium, with `fetch`
// and with urql, and reports what the browser let each page see:
//
//   CORS_CASES='[{"name":"...","page":"http://127.0.0.1:PORT/","client":"fetch",
//                 "url":"http://127.0.0.1:GW/graphql","credentials":"include"}]' \
//   CORS_QUERY='{ me { cookie } }' node tests/js/cors.mjs
//
// Each case opens its `page` (navigating only when it changes), waits for the page's
// module script to set `window.pageReady` (it loads @urql/core and sets a cookie), then
// sends CORS_QUERY to `url` with `client` ("fetch": POST application/json; "urql":
// @urql/core's Client with fetchExchange, GET as urql prefers; "urql-post": the same
// with preferGetMethod: false) and `credentials` ("omit" or "include").
// Prints one JSON line: per case, {name, ok, status, body} when the page could read the
// answer, {name, ok: false, error} when the browser refused it, and the console lines
// that mention CORS while the case ran. The caller (tests/cors.rs) judges them; this
// script exits 1 only when it cannot run a case at all, or after CORS_TIMEOUT_MS
// (default 60000). Any request to a host other than 127.0.0.1 / localhost fails the run.
import { offlineRun } from './browser.mjs';

const cases = JSON.parse(process.env.CORS_CASES || '[]');
const query = process.env.CORS_QUERY || '{ __typename }';
const run = offlineRun('cors', {
  timeoutMs: Number(process.env.CORS_TIMEOUT_MS || 60_000),
  screenshot: process.env.CORS_SCREENSHOT || '',
});

try {
  if (!cases.length) throw new Error('CORS_CASES names no case');
  const page = await run.launch();
  let corsLines = [];
  page.on('console', (m) => {
    if (/CORS|Access-Control/i.test(m.text())) corsLines.push(m.text());
  });
  const results = [];
  let opened = null;
  for (const c of cases) {
    if (c.page !== opened) {
      run.step = `opening ${c.page}`;
      const response = await page.goto(c.page, { waitUntil: 'load', timeout: run.remaining() });
      if (!response || response.status() !== 200) throw new Error(`HTTP ${response?.status()} for ${c.page}`);
      await page.waitForFunction(() => window.pageReady === true, null, { timeout: run.remaining() });
      opened = c.page;
    }
    run.step = `case ${c.name}`;
    corsLines = [];
    const outcome = await page.evaluate(async ({ client, url, credentials, query }) => {
      if (client === 'fetch') {
        try {
          const response = await fetch(url, {
            method: 'POST',
            credentials,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ query }),
          });
          return { ok: true, status: response.status, body: await response.json() };
        } catch (e) {
          return { ok: false, error: String(e) };
        }
      }
      if (client === 'urql' || client === 'urql-post') {
        const { Client, fetchExchange } = window.urqlCore;
        const urql = new Client({
          url,
          exchanges: [fetchExchange],
          fetchOptions: { credentials },
          requestPolicy: 'network-only',
          // By default urql sends a query as GET while the URL is short enough.
          ...(client === 'urql-post' ? { preferGetMethod: false } : {}),
        });
        const result = await urql.query(query, {}).toPromise();
        if (result.error) {
          return { ok: false, error: String(result.error.message), network: Boolean(result.error.networkError) };
        }
        return { ok: true, body: { data: result.data } };
      }
      throw new Error(`unknown client ${client}`);
    }, { client: c.client, url: c.url, credentials: c.credentials, query });
    // Chromium logs the CORS refusal just after the promise rejects.
    if (!outcome.ok) await page.waitForTimeout(200);
    results.push({ name: c.name, ...outcome, cors: corsLines });
  }
  await run.finish(0, JSON.stringify(results));
} catch (e) {
  await run.finish(1, e?.stack || String(e));
}
