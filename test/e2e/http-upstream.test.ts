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
import { buildFixturePolicy } from './support/policies.js';
import { startIssuer, type TestIssuer } from './support/issuer.js';

const UPSTREAM_SECRET = 'upstream-api-key-from-env';

/** A real Streamable HTTP MCP server (stateless) that reports the headers it received. */
async function startHeaderEchoUpstream(): Promise<{
  url: string;
  seen: string[];
  close: () => Promise<void>;
}> {
  const seen: string[] = [];
  const app = express();
  app.use(express.json());
  app.post('/mcp', async (req, res) => {
    seen.push(String(req.headers.authorization ?? ''));
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
    close: () =>
      new Promise<void>((r) => {
        http.closeAllConnections();
        http.close(() => r());
      }),
  };
}

let issuer: TestIssuer;
let upstream: Awaited<ReturnType<typeof startHeaderEchoUpstream>>;
let gateway: GatewayProcess;

beforeAll(async () => {
  issuer = await startIssuer();
  upstream = await startHeaderEchoUpstream();
  gateway = await startGatewayProcess({
    issuer,
    env: { MCPGATE_TEST_UPSTREAM_KEY: UPSTREAM_SECRET },
    bundle: buildFixturePolicy('allow-all'),
    sessions: { idle_timeout_s: 1 },
    upstreams: {
      remote: {
        transport: 'http',
        url: upstream.url,
        headers: { Authorization: 'env:MCPGATE_TEST_UPSTREAM_KEY' },
      },
    },
  });
});

afterAll(async () => {
  await gateway?.stop();
  await upstream?.close();
  await issuer?.close();
});

describe('Streamable HTTP upstream', () => {
  it('forwards calls with the configured header and never the client token', async () => {
    const clientToken = await issuer.mint({ aud: gateway.mcpUrl });
    const client = await connectClient(gateway.mcpUrl, clientToken);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['remote__whoami']);
    const result = await callTool(client, 'remote__whoami', {});
    expect(textOf(result)).toBe(`authorization=${UPSTREAM_SECRET}`);
    expect(upstream.seen.length).toBeGreaterThan(0);
    expect(upstream.seen.every((h) => h === UPSTREAM_SECRET)).toBe(true);
    expect(upstream.seen.some((h) => h.includes(clientToken))).toBe(false);
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
