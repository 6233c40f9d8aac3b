#!/usr/bin/env node
// Drives the gateway's GraphiQL page in headless Chromium and runs one query.
//
//   GRAPHIQL_QUERY='{ __typename }' GRAPHIQL_EXPECT='"__typename": "Query"' \
//   GRAPHIQL_SCREENSHOT=/tmp/graphiql.png node tests/js/graphiql.mjs http://127.0.0.1:PORT/
//
// Opens URL, waits for the GraphiQL query editor, replaces its content with
// GRAPHIQL_QUERY (default `{ __typename }`), clicks the execute button and waits
// until the result pane contains GRAPHIQL_EXPECT (default `"data": {`, i.e. a
// non-null data object in GraphiQL's pretty-printed JSON). Saves a screenshot to
// GRAPHIQL_SCREENSHOT if set (also on failure). Exits 0 on success, 1 on failure
// or after GRAPHIQL_TIMEOUT_MS (default 30000) in all.
//
// Any request from the browser to a host other than 127.0.0.1 / localhost / [::1]
// fails the run: the page must work offline, with its assets served locally.
// Chromium: CHROMIUM (default /usr/bin/chromium), with a fresh profile in a temp dir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const url = process.argv[2];
if (!url || !/^https?:\/\//.test(url)) {
  console.error('usage: node graphiql.mjs http://HOST:PORT/');
  process.exit(2);
}
const query = process.env.GRAPHIQL_QUERY || '{ __typename }';
const expect = process.env.GRAPHIQL_EXPECT || '"data": {';
const screenshot = process.env.GRAPHIQL_SCREENSHOT || '';
const timeoutMs = Number(process.env.GRAPHIQL_TIMEOUT_MS || 30_000);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
// Browser waits end a little before the hard cap so that a failure is reported cleanly.
const deadline = Date.now() + timeoutMs - Math.min(3_000, timeoutMs / 5);
const remaining = () => Math.max(1, deadline - Date.now());

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const LOCAL_SCHEMES = new Set(['data:', 'blob:', 'about:']);
const foreign = [];
const diagnostics = [];
let context;
let page;
let step = 'starting';
let finishing = false;
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'graphiql-chromium-'));

async function finish(code, message) {
  if (finishing) return;
  finishing = true;
  if (code !== 0) console.error(`graphiql: FAILED while ${step}: ${message}`);
  if (foreign.length) {
    console.error('graphiql: requests to non-local hosts (the page must not need the network):');
    for (const u of foreign) console.error(`  ${u}`);
  }
  if (code !== 0 && diagnostics.length) {
    console.error('graphiql: browser messages:');
    for (const d of diagnostics.slice(-20)) console.error(`  ${d}`);
  }
  if (page && screenshot) {
    await page.screenshot({ path: screenshot, timeout: 5_000 }).catch((e) =>
      console.error(`graphiql: screenshot failed: ${e.message}`));
  }
  await context?.close().catch(() => {});
  try {
    fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
  } catch { /* a leftover temp dir is not worth failing for */ }
  if (code === 0) console.log(message);
  process.exit(code);
}

// Hard cap, even if a browser call hangs.
setTimeout(() => {
  finish(1, `timed out after ${timeoutMs} ms`).catch(() => process.exit(1));
  setTimeout(() => process.exit(1), 5_000).unref();
}, timeoutMs).unref();

try {
  step = 'launching chromium';
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 800 },
    timeout: remaining(),
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
  // Non-local requests are aborted before they leave the browser, and fail the run.
  const isLocal = (u) => LOCAL_SCHEMES.has(u.protocol) || LOCAL_HOSTS.has(u.hostname);
  const onForeign = (method, u) => {
    if (!foreign.includes(`${method} ${u}`)) foreign.push(`${method} ${u}`);
    finish(1, `request to a non-local host: ${u}`);
  };
  await context.route((u) => !isLocal(u), (route) => {
    onForeign(route.request().method(), route.request().url());
    return route.abort('blockedbyclient').catch(() => {});
  });
  context.on('request', (req) => {
    if (!isLocal(new URL(req.url()))) onForeign(req.method(), req.url());
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') diagnostics.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => diagnostics.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => diagnostics.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) diagnostics.push(`HTTP ${r.status()}: ${r.url()}`);
  });

  step = `opening ${url}`;
  await page.goto(url, { waitUntil: 'load', timeout: remaining() });

  step = 'waiting for the GraphiQL query editor';
  await page.waitForFunction(
    () => document.querySelector('.graphiql-query-editor .CodeMirror')?.CodeMirror,
    null, { timeout: remaining() });

  step = 'setting the query';
  await page.evaluate((q) => {
    document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q);
  }, query);

  // GraphiQL re-parses the editor 100 ms after a change (debounced) and only then
  // updates the operation name it sends; clicking earlier sends the old query's
  // name (`ProductPage`) with the new query, which the server rightly refuses.
  step = 'waiting for GraphiQL to parse the query';
  await page.waitForFunction(
    (q) => document.querySelector('.graphiql-query-editor .CodeMirror')
      .CodeMirror.documentAST?.loc?.source?.body === q,
    query, { timeout: remaining() });

  step = 'clicking the execute button';
  await page.click('.graphiql-execute-button', { timeout: remaining() });

  step = `waiting for the result pane to contain ${JSON.stringify(expect)}`;
  // The result pane is CodeMirror 5, which only renders visible lines: read its model.
  const resultText = `(() => {
    const cm = document.querySelector('.graphiql-response .CodeMirror')?.CodeMirror;
    return cm ? cm.getValue() : (document.querySelector('.graphiql-response')?.textContent ?? '');
  })()`;
  try {
    await page.waitForFunction(`${resultText}.includes(${JSON.stringify(expect)})`, null,
      { timeout: remaining() });
  } catch (e) {
    const got = await page.evaluate(resultText).catch(() => '');
    throw new Error(`${e.message.split('\n')[0]}\nresult pane:\n${got || '(empty)'}`);
  }
  step = 'finishing';
  await finish(0, `graphiql: ok, result contains ${JSON.stringify(expect)}`);
} catch (e) {
  await finish(1, e.message);
}
