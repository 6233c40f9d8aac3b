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
// fails the run: the page must work offline, with its assets served locally
// (browser.mjs).
import { offlineRun } from './browser.mjs';

const url = process.argv[2];
if (!url || !/^https?:\/\//.test(url)) {
  console.error('usage: node graphiql.mjs http://HOST:PORT/');
  process.exit(2);
}
const query = process.env.GRAPHIQL_QUERY || '{ __typename }';
// One or more strings, one per line, that must all appear in the result pane.
const expect = (process.env.GRAPHIQL_EXPECT || '"data": {').split('\n').filter(Boolean);
const run = offlineRun('graphiql', {
  timeoutMs: Number(process.env.GRAPHIQL_TIMEOUT_MS || 30_000),
  screenshot: process.env.GRAPHIQL_SCREENSHOT || '',
});

try {
  const page = await run.launch();

  run.step = `opening ${url}`;
  await page.goto(url, { waitUntil: 'load', timeout: run.remaining() });

  run.step = 'waiting for the GraphiQL query editor';
  await page.waitForFunction(
    () => document.querySelector('.graphiql-query-editor .CodeMirror')?.CodeMirror,
    null, { timeout: run.remaining() });

  run.step = 'setting the query';
  await page.evaluate((q) => {
    document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q);
  }, query);

  // GraphiQL re-parses the editor 100 ms after a change (debounced) and only then
  // updates the operation name it sends; clicking earlier sends the old query's
  // name (`ProductPage`) with the new query, which the server rightly refuses.
  run.step = 'waiting for GraphiQL to parse the query';
  await page.waitForFunction(
    (q) => document.querySelector('.graphiql-query-editor .CodeMirror')
      .CodeMirror.documentAST?.loc?.source?.body === q,
    query, { timeout: run.remaining() });

  run.step = 'clicking the execute button';
  await page.click('.graphiql-execute-button', { timeout: run.remaining() });

  run.step = `waiting for the result pane to contain ${JSON.stringify(expect)}`;
  // The result pane is CodeMirror 5, which only renders visible lines: read its model.
  const resultText = `(() => {
    const cm = document.querySelector('.graphiql-response .CodeMirror')?.CodeMirror;
    return cm ? cm.getValue() : (document.querySelector('.graphiql-response')?.textContent ?? '');
  })()`;
  try {
    await page.waitForFunction(`${JSON.stringify(expect)}.every((e) => ${resultText}.includes(e))`, null,
      { timeout: run.remaining() });
  } catch (e) {
    const got = await page.evaluate(resultText).catch(() => '');
    throw new Error(`${e.message.split('\n')[0]}\nresult pane:\n${got || '(empty)'}`);
  }
  run.step = 'finishing';
  await run.finish(0, `graphiql: ok, result contains ${JSON.stringify(expect)}`);
} catch (e) {
  await run.finish(1, e.message);
}
