#!/usr/bin/env node
// Runs automatic persisted queries against a gateway with the clients' own links:
//
//   node tests/js/persisted.mjs http://127.0.0.1:PORT/graphql
//
// Four clients, each with its own document (so each starts with a miss): Apollo
// Client with its PersistedQueryLink (POST, then `useGETForHashedQueries`), and urql
// with persistedExchange (POST, then `preferGetForPersistedQueries`). Each runs its
// query twice, with ids `<client>-0` and `<client>-1`, bypassing its cache. SHA-256
// comes from Node's crypto. Every request the clients send is recorded (method,
// whether it carried the query text, whether it carried a hash).
// Prints one JSON object: per client, the two results and the requests; exits 1
// when a client cannot run at all, or after PERSISTED_TIMEOUT_MS (default 30000).
import { createHash } from 'node:crypto';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { Client, fetchExchange, gql as urqlGql } from '@urql/core';
import { persistedExchange } from '@urql/exchange-persisted';

const url = process.argv[2];
if (!url) {
  console.error('usage: persisted.mjs http://127.0.0.1:PORT/graphql');
  process.exit(2);
}
const timer = setTimeout(() => {
  console.error('persisted.mjs: timed out');
  process.exit(1);
}, Number(process.env.PERSISTED_TIMEOUT_MS || 30_000));

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

/** A fetch that records what each request carried. */
function recording(requests) {
  return async (input, init = {}) => {
    const target = new URL(typeof input === 'string' ? input : input.url);
    const method = (init.method || 'GET').toUpperCase();
    let payload = {};
    if (method === 'POST' && typeof init.body === 'string') payload = JSON.parse(init.body);
    if (method === 'GET') {
      payload = {
        query: target.searchParams.get('query') || undefined,
        extensions: JSON.parse(target.searchParams.get('extensions') || '{}'),
      };
    }
    const response = await fetch(input, init);
    requests.push({
      method,
      query: Boolean(payload.query),
      hash: Boolean(payload.extensions?.persistedQuery?.sha256Hash),
      status: response.status,
    });
    return response;
  };
}

const document = (name) => `query ${name}($id: ID!) { product(id: $id) { id name } }`;

async function apollo(name, useGET) {
  const requests = [];
  const link = new PersistedQueryLink({ sha256, useGETForHashedQueries: useGET }).concat(
    new HttpLink({ uri: url, fetch: recording(requests) }),
  );
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  const query = gql(document(name));
  const results = [];
  for (const n of [0, 1]) {
    const result = await client.query({ query, variables: { id: `${useGET ? 'apollo-get' : 'apollo'}-${n}` }, fetchPolicy: 'no-cache' });
    results.push({ data: result.data, error: result.error ? String(result.error) : undefined });
  }
  return { results, requests };
}

async function urql(name, useGET) {
  const requests = [];
  const client = new Client({
    url,
    fetch: recording(requests),
    preferGetMethod: false,
    requestPolicy: 'network-only',
    exchanges: [
      persistedExchange({ preferGetForPersistedQueries: useGET, generateHash: async (query) => sha256(query) }),
      fetchExchange,
    ],
  });
  const query = urqlGql(document(name));
  const results = [];
  for (const n of [0, 1]) {
    const result = await client.query(query, { id: `${useGET ? 'urql-get' : 'urql'}-${n}` }).toPromise();
    results.push({ data: result.data, error: result.error ? String(result.error) : undefined });
  }
  return { results, requests };
}

try {
  const out = {};
  for (const [key, run] of [
    ['apollo', () => apollo('ApolloProduct', false)],
    ['apollo-get', () => apollo('ApolloGetProduct', true)],
    ['urql', () => urql('UrqlProduct', false)],
    ['urql-get', () => urql('UrqlGetProduct', true)],
  ]) {
    const { results, requests } = await run();
    out[key] = results;
    out[`${key}-requests`] = requests;
  }
  console.log(JSON.stringify(out));
  clearTimeout(timer);
} catch (e) {
  console.error(`persisted.mjs: ${e?.stack || e}`);
  process.exit(1);
}
