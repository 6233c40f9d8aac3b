// Runs one subscription against the gateway with a real client and prints
// what it saw as one JSON line: {"client", "events": [...], "errors": [...],
// "completed": bool}. tests/subscriptions.rs judges it.
//
//   SUBS_CLIENT  graphql-ws | legacy | urql | sse   (default graphql-ws)
//   SUBS_QUERY   the subscription document
//   SUBS_COUNT   stop (unsubscribe) after this many events; 0: wait for the
//                server to complete or fail the subscription
//   SUBS_INIT    JSON connection_init payload (WebSocket clients)
//   SUBS_TIMEOUT_MS  give up after this long (default 20000)
//
//   node tests/js/subscriptions.mjs http://127.0.0.1:PORT/graphql
import { createClient as wsClient } from 'graphql-ws';
import { createClient as sseClient } from 'graphql-sse';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import { Client, subscriptionExchange } from '@urql/core';
import { pipe, subscribe } from 'wonka';
import WebSocket from 'ws';

const url = process.argv[2];
const client = process.env.SUBS_CLIENT || 'graphql-ws';
const query = process.env.SUBS_QUERY;
const count = Number(process.env.SUBS_COUNT ?? '3');
const init = process.env.SUBS_INIT ? JSON.parse(process.env.SUBS_INIT) : undefined;
const timeoutMs = Number(process.env.SUBS_TIMEOUT_MS || '20000');
const wsUrl = url.replace(/^http/, 'ws');

const seen = { client, events: [], errors: [], completed: false };
let stop = () => {};
let finished = false;
function finish(code = 0) {
  if (finished) return;
  finished = true;
  try { stop(); } catch (_) { /* already closed */ }
  process.stdout.write(JSON.stringify(seen) + '\n');
  setTimeout(() => process.exit(code), 100);
}
setTimeout(() => { seen.errors.push('timeout'); finish(2); }, timeoutMs);

const sink = {
  next(value) {
    seen.events.push(value);
    if (count > 0 && seen.events.length >= count) finish();
  },
  error(error) {
    seen.errors.push(describe(error));
    finish();
  },
  complete() {
    seen.completed = true;
    finish();
  },
};

function describe(error) {
  if (Array.isArray(error)) return error.map(describe).join('; ');
  if (error && typeof error === 'object') {
    if ('code' in error && 'reason' in error) return `close ${error.code}: ${error.reason}`;
    if (error.message) return error.message;
    return JSON.stringify(error);
  }
  return String(error);
}

if (client === 'graphql-ws' || client === 'urql') {
  const ws = wsClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: init,
    retryAttempts: 0,
    lazy: true,
    on: { closed: (event) => { if (!finished && seen.events.length === 0 && event && event.code !== 1000) { seen.errors.push(`close ${event.code}: ${event.reason}`); } } },
  });
  if (client === 'graphql-ws') {
    const unsubscribe = ws.subscribe({ query }, sink);
    stop = () => { unsubscribe(); ws.dispose(); };
  } else {
    const urql = new Client({
      url,
      exchanges: [
        subscriptionExchange({
          forwardSubscription(request) {
            const input = { ...request, query: request.query || '' };
            return { subscribe: (observer) => ({ unsubscribe: ws.subscribe(input, observer) }) };
          },
        }),
      ],
    });
    const { unsubscribe } = pipe(
      urql.subscription(query, {}),
      subscribe((result) => {
        if (result.error && !result.data) {
          seen.errors.push(result.error.message);
          finish();
          return;
        }
        sink.next({ data: result.data, errors: result.error ? result.error.graphQLErrors.map((e) => e.message) : undefined });
      }),
    );
    stop = () => { unsubscribe(); ws.dispose(); };
  }
} else if (client === 'legacy') {
  const legacy = new SubscriptionClient(wsUrl, { reconnect: false, connectionParams: init, lazy: false }, WebSocket);
  legacy.onDisconnected(() => { if (!finished) { seen.completed = seen.completed || false; finish(); } });
  const observable = legacy.request({ query });
  const subscription = observable.subscribe(sink);
  stop = () => { subscription.unsubscribe(); legacy.close(); };
} else if (client === 'sse') {
  const sse = sseClient({ url, singleConnection: false, retryAttempts: 0 });
  const unsubscribe = sse.subscribe({ query }, sink);
  stop = () => { unsubscribe(); sse.dispose(); };
} else {
  seen.errors.push(`unknown SUBS_CLIENT ${client}`);
  finish(2);
}
