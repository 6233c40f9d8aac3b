#!/usr/bin/env node
// Opens the gateway's status page in headless Chromium and checks that it renders:
//
//   STATUS_UPSTREAMS=catalogue,pricing STATUS_SCREENSHOT=/tmp/status.png \
//   node tests/js/status.mjs http://127.0.0.1:PORT/status
//
// Checks: the upstream table (#upstreams) has one row per name in STATUS_UPSTREAMS, in
// that order (rows are `tr[data-upstream]`, the first cell shows the name); at least one
// `svg.waterfall` is drawn, each with `rect` bars that have a visible size and lie inside
// their SVG; no script errors. Prints a JSON summary on success. Saves a full-page
// screenshot to STATUS_SCREENSHOT if set (also on failure). Exits 0 on success, 1 on
// failure or after STATUS_TIMEOUT_MS (default 30000) in all.
//
// Any request to a host other than 127.0.0.1 / localhost / [::1] fails the run: the
// page is plain HTML and SVG and needs nothing from the network.
// Chromium: CHROMIUM (default /usr/bin/chromium), with a fresh profile in a temp dir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const url = process.argv[2];
if (!url || !/^https?:\/\//.test(url)) {
  console.error('usage: node status.mjs http://HOST:PORT/status');
  process.exit(2);
}
const expected = (process.env.STATUS_UPSTREAMS || '').split(',').map((s) => s.trim()).filter(Boolean);
const screenshot = process.env.STATUS_SCREENSHOT || '';
const timeoutMs = Number(process.env.STATUS_TIMEOUT_MS || 30_000);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
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
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'status-chromium-'));

async function finish(code, message) {
  if (finishing) return;
  finishing = true;
  if (code !== 0) console.error(`status: FAILED while ${step}: ${message}`);
  if (foreign.length) {
    console.error('status: requests to non-local hosts (the page must not need the network):');
    for (const u of foreign) console.error(`  ${u}`);
  }
  if (code !== 0 && diagnostics.length) {
    console.error('status: browser messages:');
    for (const d of diagnostics.slice(-20)) console.error(`  ${d}`);
  }
  if (page && screenshot) {
    await page.screenshot({ path: screenshot, fullPage: true, timeout: 5_000 }).catch((e) =>
      console.error(`status: screenshot failed: ${e.message}`));
  }
  await context?.close().catch(() => {});
  try {
    fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
  } catch { /* a leftover temp dir is not worth failing for */ }
  if (code === 0) console.log(message);
  process.exit(code);
}

setTimeout(() => {
  finish(1, `timed out after ${timeoutMs} ms`).catch(() => process.exit(1));
  setTimeout(() => process.exit(1), 5_000).unref();
}, timeoutMs).unref();

try {
  if (!expected.length) throw new Error('STATUS_UPSTREAMS names no upstream');
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
  const isLocal = (u) => LOCAL_SCHEMES.has(u.protocol) || LOCAL_HOSTS.has(u.hostname);
  const onForeign = (method, u) => {
    if (!foreign.includes(`${method} ${u}`)) foreign.push(`${method} ${u}`);
    finish(1, `request to a non-local host: ${u}`);
  };
  await context.route((u) => !isLocal(u), (route) => {
    onForeign(route.request().method(), route.request().url());
    return route.abort('blockedbyclient').catch(() => {});
  });
  page = context.pages()[0] ?? (await context.newPage());
  const scriptErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') diagnostics.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => {
    scriptErrors.push(e.message);
    diagnostics.push(`page error: ${e.message}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) diagnostics.push(`HTTP ${r.status()}: ${r.url()}`);
  });

  step = `opening ${url}`;
  const response = await page.goto(url, { waitUntil: 'load', timeout: remaining() });
  if (!response || response.status() !== 200) {
    throw new Error(`HTTP ${response?.status()} for ${url}`);
  }
  const contentType = response.headers()['content-type'] || '';
  if (!contentType.startsWith('text/html')) throw new Error(`content-type ${contentType}`);

  step = 'reading the upstream table';
  const rows = await page.$$eval('#upstreams tr[data-upstream]', (trs) => trs.map((tr) => ({
    name: tr.dataset.upstream,
    cells: [...tr.cells].map((td) => td.textContent.trim()),
    visible: tr.getBoundingClientRect().height > 0,
  })));
  const names = rows.map((r) => r.name);
  if (JSON.stringify(names) !== JSON.stringify(expected)) {
    throw new Error(`upstream rows ${JSON.stringify(names)}, expected ${JSON.stringify(expected)}`);
  }
  for (const row of rows) {
    if (row.cells[0] !== row.name) throw new Error(`row ${row.name} shows ${JSON.stringify(row.cells[0])}`);
    if (!row.visible) throw new Error(`row ${row.name} is not rendered`);
  }
  const headers = await page.$$eval('#upstreams thead th', (ths) => ths.map((th) => th.textContent.trim()));

  step = 'measuring the waterfalls';
  const waterfalls = await page.$$eval('svg.waterfall', (svgs) => svgs.map((svg) => {
    const box = svg.getBoundingClientRect();
    const bars = [...svg.querySelectorAll('rect')].map((rect) => {
      const r = rect.getBoundingClientRect();
      return {
        width: r.width,
        height: r.height,
        inside: r.left >= box.left - 0.5 && r.right <= box.right + 0.5
          && r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5,
        fill: getComputedStyle(rect).fill,
        title: rect.querySelector('title')?.textContent ?? '',
      };
    });
    const labels = [...svg.querySelectorAll('text')].map((t) => t.textContent);
    return { width: box.width, height: box.height, bars, labels };
  }));
  if (!waterfalls.length) throw new Error('no svg.waterfall on the page');
  waterfalls.forEach((w, i) => {
    if (w.width <= 0 || w.height <= 0) throw new Error(`waterfall ${i} is not rendered`);
    if (!w.bars.length) throw new Error(`waterfall ${i} has no rect bars`);
    w.bars.forEach((b, j) => {
      if (!(b.width >= 1 && b.height >= 1)) throw new Error(`waterfall ${i} bar ${j} is ${b.width}x${b.height}`);
      if (!b.inside) throw new Error(`waterfall ${i} bar ${j} lies outside its SVG`);
      if (!b.fill || b.fill === 'none') throw new Error(`waterfall ${i} bar ${j} has no fill`);
    });
  });
  if (scriptErrors.length) throw new Error(`script errors: ${scriptErrors.join('; ')}`);

  step = 'finishing';
  const summary = {
    upstreams: rows,
    headers,
    waterfalls: waterfalls.map((w) => ({
      bars: w.bars.length,
      titles: w.bars.map((b) => b.title),
      labels: w.labels,
    })),
  };
  await finish(0, JSON.stringify(summary));
} catch (e) {
  await finish(1, e.message);
}
