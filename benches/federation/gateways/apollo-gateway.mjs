// Peer: @apollo/gateway 2.14 behind @apollo/server 5 (standalone Node HTTP server),
// serving the committed supergraph (schema/federation/supergraph.graphql, or SUPERGRAPH).
// Defaults throughout: the gateway's own fetcher and data sources, no caching plugins.
//
//   PORT=4000 HOST=127.0.0.1 node apollo-gateway.mjs
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ApolloGateway } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";

const here = dirname(fileURLToPath(import.meta.url));
const supergraph =
  process.env.SUPERGRAPH ?? join(here, "..", "..", "..", "schema", "federation", "supergraph.graphql");

const gateway = new ApolloGateway({ supergraphSdl: readFileSync(supergraph, "utf8") });
const server = new ApolloServer({ gateway });
const { url } = await startStandaloneServer(server, {
  listen: { host: process.env.HOST ?? "127.0.0.1", port: Number(process.env.PORT ?? 4000) },
});
console.log(`apollo-gateway ready at ${url}`);

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, async () => {
    await server.stop();
    process.exit(0);
  });
}
