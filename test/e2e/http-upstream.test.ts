// A Streamable HTTP upstream: headers come from secret references in the config, the
// client's own bearer token never reaches the upstream, and an idle session expires.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { callTool, connectClient, rawPost, textOf } from './support/client.js';
import { startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { buildFixturePolicy, labServer } from './support/policies.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';

const UPSTREAM_SECRET = 'upstream-api-key-from-env';
const API_KEY = 'static-api-key-0123456789';

/** A real Streamable HTTP MCP server (stateless) that reports the headers it received. */
async function startHeaderEchoUpstream(): Promise<{
  url: string;
  seen: string[];
  apiKeys: string[];
  close: () => Promise<void>;
}> {
  const seen: string[] = [];
  const apiKeys: string[] = [];
  const app = express();
  app.use(express.json());
  app.post('/mcp', async (req, res) => {
    seen.push(String(req.headers.authorization ?? ''));
    apiKeys.push(String(req.headers['x-api-key'] ?? ''));
    const server = new McpServer({ name: 'header-echo', version: '1.0.0' });
    server.registerTool(
      'whoami',
      {
        description: 'Returns the Authorization header this upstream received.',
        annotations: { readOnlyHint: true },
      },
      () => ({
        content: [
          { type: 'text', text: `authorization=${String(req.headers.authorization ?? '')}` },
        ],
      }),
    );
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  const http: HttpServer = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    seen,
    apiKeys,
    close: () =>
      new Promise<void>((r) => {
        http.closeAllConnections();
        http.close(() => r());
      }),
  };
}

let issuer: TestIssuer;
let upstream: Awaited<ReturnType<typeof startHeaderEchoUpstream>>;
let keyed: Awaited<ReturnType<typeof startHeaderEchoUpstream>>;
let gateway: GatewayProcess;

beforeAll(async () => {
  issuer = await startIssuer();
  upstream = await startHeaderEchoUpstream();
  keyed = await startHeaderEchoUpstream();
  gateway = await startGatewayProcess({
    issuer,
    env: { MCPGATE_TEST_UPSTREAM_KEY: UPSTREAM_SECRET, MCPGATE_TEST_API_KEY: API_KEY },
    bundle: buildFixturePolicy('allow-all'),
    sessions: { idle_timeout_s: 1 },
    upstreams: {
      remote: {
        transport: 'http',
        url: upstream.url,
        headers: { Authorization: 'env:MCPGATE_TEST_UPSTREAM_KEY' },
      },
      keyed: {
        transport: 'http',
        url: keyed.url,
        credential: {
          type: 'static-secret',
          value: 'env:MCPGATE_TEST_API_KEY',
          header: 'X-Api-Key',
          format: '{secret}',
        },
      },
      lab: {
        ...labServer(),
        credential: {
          type: 'static-secret',
          value: 'env:MCPGATE_TEST_API_KEY',
          env_var: 'LAB_API_KEY',
        },
      },
    },
  });
});

afterAll(async () => {
  await gateway?.stop();
  await upstream?.close();
  await keyed?.close();
  await issuer?.close();
});

describe('Streamable HTTP upstream', () => {
  it('forwards calls with the configured header and never the client token', async () => {
    const clientToken = await issuer.mint({ aud: gateway.mcpUrl });
    const client = await connectClient(gateway.mcpUrl, clientToken);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('remote__whoami');
    const result = await callTool(client, 'remote__whoami', {});
    expect(textOf(result)).toBe(`authorization=${UPSTREAM_SECRET}`);
    expect(upstream.seen.length).toBeGreaterThan(0);
    expect(upstream.seen.every((h) => h === UPSTREAM_SECRET)).toBe(true);
    expect(upstream.seen.some((h) => h.includes(clientToken))).toBe(false);
    await client.close();
  });
});

describe('static-secret credentials', () => {
  it('sends the secret as the configured header on every request to an HTTP upstream', async () => {
    const client = await connectClient(gateway.mcpUrl, await issuer.mint({ aud: gateway.mcpUrl }));
    const result = await callTool(client, 'keyed__whoami', {});
    expect(result.isError ?? false).toBe(false);
    expect(keyed.apiKeys.length).toBeGreaterThan(0);
    expect(keyed.apiKeys.every((k) => k === API_KEY)).toBe(true);
    // The client's token is not what the keyed upstream authenticates with.
    expect(keyed.seen.every((h) => h === '')).toBe(true);
    await client.close();
  });

  it('puts the secret in the environment of a stdio child', async () => {
    const client = await connectClient(gateway.mcpUrl, await issuer.mint({ aud: gateway.mcpUrl }));
    expect(textOf(await callTool(client, 'lab__key_length', {}))).toBe(
      `LAB_API_KEY length=${API_KEY.length}`,
    );
    await client.close();
  });
});

describe('idle sessions', () => {
  it('expire after sessions.idle_timeout_s and then answer 404', async () => {
    const token = await issuer.mint({ aud: gateway.mcpUrl });
    const client = await connectClient(gateway.mcpUrl, token);
    const sessionId =
      client.transport && 'sessionId' in client.transport ? String(client.transport.sessionId) : '';
    expect(sessionId).not.toBe('');
    // Past the idle timeout (1 s) plus one sweep.
    await new Promise((r) => setTimeout(r, 2000));
    const res = await rawPost(
      gateway.mcpUrl,
      JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
      {
        authorization: `Bearer ${token}`,
        'mcp-session-id': sessionId,
        'mcp-protocol-version': '2025-11-25',
      },
    );
    expect(res.status).toBe(404);
    expect(res.text).toContain('initialize a new session');
    await client.close();
  });
});
