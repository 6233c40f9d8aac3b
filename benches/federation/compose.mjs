// Composes the shop's three subgraph SDLs (schema/federation/subgraphs/*.graphql,
// the same files the Rust subgraphs in src/demo/subgraphs/ serve) into
// schema/federation/supergraph.graphql with @theguild/federation-composition.
//
//   npm ci --prefix benches/federation && node benches/federation/compose.mjs [--check]
//
// --check composes and compares instead of writing (exit 1 when the committed
// supergraph is stale). The join__graph urls are the subgraphs' fixed default
// ports (`tributary::demo::subgraphs::DEFAULT_BASE_PORT` and up); tests that
// start the subgraphs on free ports rewrite them.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "graphql";
import {
  composeServices,
  compositionHasErrors,
} from "@theguild/federation-composition";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const dir = join(root, "schema", "federation");

// Name, default port: keep in step with `Subgraph::ALL` in src/demo/subgraphs/mod.rs.
const SUBGRAPHS = [
  ["products", 4201],
  ["reviews", 4202],
  ["inventory", 4203],
];

const services = SUBGRAPHS.map(([name, port]) => {
  const path = join(dir, "subgraphs", `${name}.graphql`);
  return {
    name,
    url: `http://127.0.0.1:${port}/graphql`,
    typeDefs: parse(readFileSync(path, "utf8")),
  };
});

const result = composeServices(services);
if (compositionHasErrors(result)) {
  for (const error of result.errors) {
    console.error(`composition error: ${error.message}`);
  }
  process.exit(1);
}

const out = join(dir, "supergraph.graphql");
const sdl = result.supergraphSdl.endsWith("\n")
  ? result.supergraphSdl
  : `${result.supergraphSdl}\n`;
if (process.argv.includes("--check")) {
  const committed = readFileSync(out, "utf8");
  if (committed !== sdl) {
    console.error(`${out} is stale: run node benches/federation/compose.mjs`);
    process.exit(1);
  }
  console.log(`${out} is up to date`);
} else {
  writeFileSync(out, sdl);
  console.log(`wrote ${out} (${SUBGRAPHS.map(([n]) => n).join(", ")})`);
}
