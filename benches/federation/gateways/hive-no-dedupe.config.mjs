// Hive Gateway configuration for the apples-to-apples peers (hive-gateway,
// hive-gateway-router): Hive deduplicates identical in-flight subgraph requests
// across client requests by default, which shares upstream work between clients
// (the peer harness's rule: such sharing is a separately labelled peer, here
// hive-gateway-dedupe / hive-gateway-router-dedupe, which run without this file).
export const gatewayConfig = {
  transportEntries: {
    "*.http": { options: { deduplicateInflightRequests: false } },
  },
};
