// A real MCP client (the SDK's Client over Streamable HTTP) with a bearer token.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { request } from 'node:http';
import type { TestIssuer } from '../../support/issuer.js';

/** A client whose bearer token can change between requests of one session. */
export interface SwitchingClient {
  client: Client;
  transport: StreamableHTTPClientTransport;
  setToken: (token: string) => void;
  sessionId: () => string;
}

/**
 * A real MCP client that sends whatever token `setToken` last gave it, on every request:
 * one session presenting several tokens, as the gateway does upstream or an attacker might.
 */
export async function connectSwitching(
  mcpUrl: string,
  initialToken: string,
  name = 'e2e-client',
): Promise<SwitchingClient> {
  let token = initialToken;
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
    fetch: (input, init) => {
      const headers = new Headers(init?.headers);
      headers.set('authorization', `Bearer ${token}`);
      return fetch(input, { ...init, headers });
    },
  });
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(transport);
  return {
    client,
    transport,
    setToken: (t) => {
      token = t;
    },
    sessionId: () => transport.sessionId ?? '',
  };
}

export async function connectClient(
  mcpUrl: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<Client> {
  const client = new Client({ name: 'e2e-client', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
    requestInit: { headers: { Authorization: `Bearer ${token}`, ...headers } },
  });
  await client.connect(transport);
  return client;
}

/** A client of the `engineering` group (alice), whom the shipped policy lets work. */
export async function connectEngineer(mcpUrl: string, issuer: TestIssuer): Promise<Client> {
  return connectClient(mcpUrl, await issuer.mint({ aud: mcpUrl, groups: ['engineering'] }));
}

export async function callTool(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

export function textOf(result: CallToolResult): string {
  return result.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n');
}

/**
 * A client whose requests alternate between gateway replicas (a naive load balancer: no
 * stickiness); `hits` counts the requests each replica got.
 */
export async function roundRobinClient(
  token: string,
  replicas: Array<{ url: string; mcpUrl: string }>,
): Promise<{ client: Client; hits: number[] }> {
  const hits = replicas.map(() => 0);
  let next = 0;
  const balance: typeof fetch = (input, init) => {
    const index = next++ % replicas.length;
    hits[index] = (hits[index] ?? 0) + 1;
    const url = new URL(input instanceof Request ? input.url : String(input));
    const rewritten = new URL(url.pathname + url.search, replicas[index]?.url);
    return fetch(rewritten, init);
  };
  const [first] = replicas;
  if (!first) throw new Error('no replica to balance over');
  const client = new Client({ name: 'rr-client', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(first.mcpUrl), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
      fetch: balance,
    }),
  );
  return { client, hits };
}

/** Raw JSON-RPC over HTTP, for requests a well-behaved client would never send. */
export async function rawPost(
  mcpUrl: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(mcpUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body,
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** A raw initialize request, with `_meta` in its params when given. */
export function initializeRequest(meta?: Record<string, unknown>): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'raw', version: '1' },
      ...(meta ? { _meta: meta } : {}),
    },
  });
}

export const INITIALIZE = initializeRequest();

/**
 * One request on a connection of its own, closed after the answer. While the gateway drains
 * it closes idle keep-alive sockets, and a pooled socket (fetch's) can be closed just as a
 * request goes out on it: ECONNRESET, a race on the client's side that retrying clients hide.
 */
export async function freshRequest(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: init.method ?? 'GET', headers: init.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (value !== undefined)
              headers.set(name, Array.isArray(value) ? value.join(', ') : value);
          }
          resolve({
            status: res.statusCode ?? 0,
            headers,
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}
