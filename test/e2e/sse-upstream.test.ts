// Upstreams on the legacy HTTP+SSE transport (MCP 2024-11-05, `transport: sse`), through the
// gateway with the TS SDK client: server-everything in its `sse` mode (tools, resources,
// prompts), and a small SSE server of the SDK's that reports the headers of each request, to
// show that configured headers and the call's credential reach both the stream and the
// POSTs, and that a dropped stream reconnects as a new upstream session.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Server as HttpServer, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { callTool, connectClient, textOf } from './support/client.js';
import { startEverything, type EverythingServer } from './support/everything.js';
import { startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { buildFixturePolicy } from './support/policies.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';

const API_KEY = 'sse-static-key-0123456789';
const TENANT = 'tenant-from-config';

interface Seen {
  method: string;
  apiKey: string;
  tenant: string;
}

/** An HTTP+SSE MCP server (the SDK's SSEServerTransport) that records every request's headers. */
async function startHeaderEchoSse(): Promise<{
  url: string;
  seen: Seen[];
  /** Ends every open event stream from the server's side, as a restart would. */
  dropStreams: () => void;
  close: () => Promise<void>;
}> {
  const seen: Seen[] = [];
  const transports = new Map<string, SSEServerTransport>();
  const streams = new Set<ServerResponse>();
  const app = express();
  app.use((req, _res, next) => {
    seen.push({
      method: req.method,
      apiKey: String(req.headers['x-api-key'] ?? ''),
      tenant: String(req.headers['x-tenant'] ?? ''),
    });
    next();
  });
  app.get('/sse', async (_req, res) => {
    const server = new McpServer({ name: 'sse-echo', version: '1.0.0' });
    server.registerTool(
      'whoami',
      { description: 'Reports the X-Api-Key of the POST that carried this call.' },
      (extra) => ({
        content: [
          {
            type: 'text' as const,
            text: `key=${String(extra.requestInfo?.headers['x-api-key'] ?? '')}`,
          },
        ],
      }),
    );
    const transport = new SSEServerTransport('/message', res);
    transports.set(transport.sessionId, transport);
    streams.add(res);
    res.on('close', () => {
      streams.delete(res);
      transports.delete(transport.sessionId);
    });
    await server.connect(transport);
  });
  app.post('/message', async (req, res) => {
    const sessionId = req.query.sessionId;
    const transport = typeof sessionId === 'string' ? transports.get(sessionId) : undefined;
    if (!transport) {
      res.status(404).end('unknown session');
      return;
    }
    await transport.handlePostMessage(req, res);
  });
  const http: HttpServer = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/sse`,
    seen,
    dropStreams: () => {
      for (const res of streams) res.end();
    },
    close: () =>
      new Promise<void>((r) => {
        http.closeAllConnections();
        http.close(() => r());
      }),
  };
}

let issuer: TestIssuer;
let echo: Awaited<ReturnType<typeof startHeaderEchoSse>>;
let everything: EverythingServer;
let gateway: GatewayProcess;
let client: Client;

beforeAll(async () => {
  issuer = await startIssuer();
  echo = await startHeaderEchoSse();
  everything = await startEverything('sse');
  gateway = await startGatewayProcess({
    issuer,
    env: { MCPGATE_TEST_API_KEY: API_KEY },
    bundle: buildFixturePolicy('allow-all'),
    upstreams: {
      everything: { transport: 'sse', url: everything.url },
      echo: {
        transport: 'sse',
        url: echo.url,
        headers: { 'X-Tenant': { literal: TENANT } },
        credential: {
          type: 'static-secret',
          value: 'env:MCPGATE_TEST_API_KEY',
          header: 'X-Api-Key',
          format: '{secret}',
        },
        restart: { initial_delay_ms: 100, max_delay_ms: 500 },
      },
    },
  });
  client = await connectClient(gateway.mcpUrl, await issuer.mint({ aud: gateway.mcpUrl }));
}, 60_000);

afterAll(async () => {
  await client?.close();
  await gateway?.stop();
  everything?.stop();
  await echo?.close();
  await issuer?.close();
});

describe('server-everything over HTTP+SSE', () => {
  it('lists its tools, prompts and resources under the gateway names', async () => {
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('everything__echo');
    expect((await client.listPrompts()).prompts.map((p) => p.name)).toContain(
      'everything__simple-prompt',
    );
    const { resources } = await client.listResources();
    expect(resources.some((r) => r.uri.startsWith('mcpgate://everything/demo://'))).toBe(true);
  });

  it('answers a call, a prompt and a read over the upstream event stream', async () => {
    expect(textOf(await callTool(client, 'everything__echo', { message: 'over sse' }))).toBe(
      'Echo: over sse',
    );
    const prompt = await client.getPrompt({ name: 'everything__simple-prompt' });
    expect(prompt.messages.length).toBeGreaterThan(0);
    const { resources } = await client.listResources();
    const uri = resources[0]!.uri;
    const read = await client.readResource({ uri });
    expect(read.contents[0]?.uri).toBe(uri);
  });
});

describe('headers on an HTTP+SSE upstream', () => {
  it('sends the configured header and the credential on the stream and on every POST', async () => {
    expect(textOf(await callTool(client, 'echo__whoami'))).toBe(`key=${API_KEY}`);
    const gets = echo.seen.filter((s) => s.method === 'GET');
    const posts = echo.seen.filter((s) => s.method === 'POST');
    expect(gets.length).toBeGreaterThan(0);
    expect(posts.length).toBeGreaterThan(2); // initialize, initialized, tools/list, the call
    for (const request of [...gets, ...posts]) {
      expect(request).toEqual({ method: request.method, apiKey: API_KEY, tenant: TENANT });
    }
  });
});

describe('a dropped event stream', () => {
  it('reconnects as a new upstream session, and calls work again', async () => {
    const streamsBefore = echo.seen.filter((s) => s.method === 'GET').length;
    echo.dropStreams();
    // The gateway notices the end of the stream, and reconnects after restart's delay.
    const deadline = Date.now() + 15_000;
    let text = '';
    while (Date.now() < deadline) {
      text = textOf(await callTool(client, 'echo__whoami'));
      if (text === `key=${API_KEY}`) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(text).toBe(`key=${API_KEY}`);
    expect(echo.seen.filter((s) => s.method === 'GET').length).toBeGreaterThan(streamsBefore);
    const reconnected = gateway.logs.filter(
      (l) => l.message === 'upstream connected' && l.upstream === 'echo',
    );
    expect(reconnected.length).toBeGreaterThanOrEqual(2);
  });
});
