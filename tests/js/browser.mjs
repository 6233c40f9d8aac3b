// Shared by the browser checks (graphiql.mjs, status.mjs, cors.mjs): headless Chromium with a
// fresh profile that may only talk to loopback, a hard time cap, browser
// diagnostics shown on failure, and a screenshot on the way out.
//
// Any request to a host other than 127.0.0.1 / localhost / [::1] is aborted before
// it leaves the browser and fails the run: the pages must work offline.
// Chromium: CHROMIUM (default /usr/bin/chromium).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const LOCAL_SCHEMES = new Set(['data:', 'blob:', 'about:']);
const isLocal = (u) => LOCAL_SCHEMES.has(u.protocol) || LOCAL_HOSTS.has(u.hostname);

/// A run named `name` (prefix of every message). Browser waits should use
/// `remaining()`, which ends a little before the hard cap so failures are clean.
export function offlineRun(name, { timeoutMs = 30_000, screenshot = '', fullPage = false } = {}) {
  const deadline = Date.now() + timeoutMs - Math.min(3_000, timeoutMs / 5);
  const foreign = [];
  const diagnostics = [];
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-chromium-`));
  let context;
  let page;
  let finishing = false;
  const run = {
    step: 'starting',
    /// Uncaught script errors on the page.
    scriptErrors: [],
    remaining: () => Math.max(1, deadline - Date.now()),

    /// Reports, saves the screenshot, closes the browser and exits with `code`.
    async finish(code, message) {
      if (finishing) return;
      finishing = true;
      if (code !== 0) console.error(`${name}: FAILED while ${run.step}: ${message}`);
      if (foreign.length) {
        console.error(`${name}: requests to non-local hosts (the page must not need the network):`);
        for (const u of foreign) console.error(`  ${u}`);
      }
      if (code !== 0 && diagnostics.length) {
        console.error(`${name}: browser messages:`);
        for (const d of diagnostics.slice(-20)) console.error(`  ${d}`);
      }
      if (page && screenshot) {
        await page.screenshot({ path: screenshot, fullPage, timeout: 5_000 }).catch((e) =>
          console.error(`${name}: screenshot failed: ${e.message}`));
      }
      await context?.close().catch(() => {});
      try {
        fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
      } catch { /* a leftover temp dir is not worth failing for */ }
      if (code === 0) console.log(message);
      process.exit(code);
    },

    /// Launches Chromium and returns its page, with the loopback-only guard and
    /// the diagnostics listeners in place.
    async launch() {
      run.step = 'launching chromium';
      context = await chromium.launchPersistentContext(profile, {
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        viewport: { width: 1280, height: 800 },
        timeout: run.remaining(),
        args: [
          '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
          '--disable-quic', '--no-first-run', '--disable-background-networking',
          '--disable-component-update', '--disable-sync',
        ],
      });
      const onForeign = (method, u) => {
        if (!foreign.includes(`${method} ${u}`)) foreign.push(`${method} ${u}`);
        run.finish(1, `request to a non-local host: ${u}`);
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
      page.on('pageerror', (e) => {
        run.scriptErrors.push(e.message);
        diagnostics.push(`page error: ${e.message}`);
      });
      page.on('requestfailed', (r) => diagnostics.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
      page.on('response', (r) => {
        if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) diagnostics.push(`HTTP ${r.status()}: ${r.url()}`);
      });
      return page;
    },
  };
  // Hard cap, even if a browser call hangs.
  setTimeout(() => {
    run.finish(1, `timed out after ${timeoutMs} ms`).catch(() => process.exit(1));
    setTimeout(() => process.exit(1), 5_000).unref();
  }, timeoutMs).unref();
  return run;
}
