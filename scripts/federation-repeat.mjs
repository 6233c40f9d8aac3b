// Every query of the federation audit, sent twice to tributary: the first
// answer comes from the engine's resolvers (a document not seen before is
// validated and executed by the engine), the second from the plan-shaped path
// (a validated supergraph operation with nothing bound below its root fields
// is shaped straight from the subgraphs' answers). The two must be identical,
// data and errors, for every case; the timeline's `executor` proves which
// path answered. Mutations are sent once only (their effects are not
// idempotent), so they are not compared.
//
//   node scripts/federation-repeat.mjs AUDIT_PORT GATEWAY_PORT TRIBUTARY_BIN WORK_DIR
//
// AUDIT_PORT: the audit's subgraph server (`npm start -- serve`); the gateway
// is started on GATEWAY_PORT for each suite with the suite's supergraph,
// written to WORK_DIR. Prints each difference, then one line
// `federation audit repeat: SAME/COMPARED queries answered the same the second time (P of them
// first by the engine, then by the plan path)`; a query the suite sent before is planned already
// the first time, and a refused one is never executed. Exit 1 when any answer differs, or when
// no pair went engine then plan (the check would prove nothing).
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";

const [auditPort, gatewayPort, bin, work] = process.argv.slice(2);
if (!work) {
  console.error("usage: federation-repeat.mjs AUDIT_PORT GATEWAY_PORT TRIBUTARY_BIN WORK_DIR");
  process.exit(2);
}
const base = `http://localhost:${auditPort}`;
const gateway = `http://127.0.0.1:${gatewayPort}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// The timeline says which path answered; the overlay only turns it on.
const overlay = `${work}/repeat-overlay.graphql`;
writeFileSync(overlay, "extend schema @server(timeline: true)\n");

async function post(query) {
  try {
    const response = await fetch(`${gateway}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", "tributary-timeline": "1" },
      body: JSON.stringify({ query }),
      signal: AbortSignal.timeout(20000),
    });
    const body = await response.json();
    const executor = body.extensions?.timeline?.executor ?? null;
    if (body.extensions) delete body.extensions.timeline;
    if (body.extensions && Object.keys(body.extensions).length === 0) delete body.extensions;
    return { status: response.status, body, executor };
  } catch (e) {
    return { status: 0, body: { fetchError: String(e) }, executor: null };
  }
}

const ids = await (await fetch(`${base}/ids`)).json();
let compared = 0;
let same = 0;
let planned = 0;
const problems = [];
for (const id of ids) {
  const supergraph = await (await fetch(`${base}/${id}/supergraph`)).text();
  const tests = await (await fetch(`${base}/${id}/tests`, { headers: { accept: "application/json" } })).json();
  const file = `${work}/repeat-${id}.graphql`;
  writeFileSync(file, supergraph);
  const child = spawn(bin, ["serve", file, "--overlay", overlay, "--listen", `127.0.0.1:${gatewayPort}`], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  let up = false;
  for (let i = 0; i < 200 && child.exitCode === null; i++) {
    try {
      if ((await fetch(`${gateway}/healthz`)).ok) {
        up = true;
        break;
      }
    } catch {}
    await sleep(50);
  }
  if (!up) {
    // A supergraph tributary refuses is the audit's business, not this check's.
    console.log(`  ${id}: not served (${stderr.split("\n")[0].slice(0, 200)})`);
  } else {
    for (const [i, test] of tests.entries()) {
      if (/^\s*mutation\b/.test(test.query)) continue;
      compared++;
      const first = await post(test.query);
      const second = await post(test.query);
      const problem = [];
      if (!isDeepStrictEqual(first.body, second.body) || first.status !== second.status) problem.push("the answers differ");
      // Not executed (a validation error) has no timeline: both null.
      if ((first.executor === null) !== (second.executor === null)) problem.push("only one was executed");
      if (problem.length) {
        problems.push(`${id} #${i}`);
        console.log(`=== ${id} #${i}: ${problem.join("; ")}\n${test.query.trim()}`);
        console.log(`first  (${first.executor}) ${first.status} ${JSON.stringify(first.body)}`);
        console.log(`second (${second.executor}) ${second.status} ${JSON.stringify(second.body)}`);
      } else {
        same++;
        if (first.executor === "engine" && second.executor === "plan") planned++;
      }
    }
  }
  const exited = child.exitCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}
console.log(
  `federation audit repeat: ${same}/${compared} queries answered the same the second time (${planned} of them first by the engine, then by the plan path)`,
);
process.exit(problems.length || planned === 0 ? 1 : 0);
