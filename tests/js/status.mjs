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
// page is plain HTML and SVG and needs nothing from the network (browser.mjs).
import { offlineRun } from './browser.mjs';

const url = process.argv[2];
if (!url || !/^https?:\/\//.test(url)) {
  console.error('usage: node status.mjs http://HOST:PORT/status');
  process.exit(2);
}
const expected = (process.env.STATUS_UPSTREAMS || '').split(',').map((s) => s.trim()).filter(Boolean);
const run = offlineRun('status', {
  timeoutMs: Number(process.env.STATUS_TIMEOUT_MS || 30_000),
  screenshot: process.env.STATUS_SCREENSHOT || '',
  fullPage: true,
});

try {
  if (!expected.length) throw new Error('STATUS_UPSTREAMS names no upstream');
  const page = await run.launch();

  run.step = `opening ${url}`;
  const response = await page.goto(url, { waitUntil: 'load', timeout: run.remaining() });
  if (!response || response.status() !== 200) {
    throw new Error(`HTTP ${response?.status()} for ${url}`);
  }
  const contentType = response.headers()['content-type'] || '';
  if (!contentType.startsWith('text/html')) throw new Error(`content-type ${contentType}`);

  run.step = 'reading the upstream table';
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

  run.step = 'measuring the waterfalls';
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
  if (run.scriptErrors.length) throw new Error(`script errors: ${run.scriptErrors.join('; ')}`);

  run.step = 'finishing';
  const summary = {
    upstreams: rows,
    headers,
    waterfalls: waterfalls.map((w) => ({
      bars: w.bars.length,
      titles: w.bars.map((b) => b.title),
      labels: w.labels,
    })),
  };
  await run.finish(0, JSON.stringify(summary));
} catch (e) {
  await run.finish(1, e.message);
}
