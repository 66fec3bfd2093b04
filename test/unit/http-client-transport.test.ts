// The gateway's HTTP upstream transport against the SDK's own server transport (event
// streams by default, or JSON answers): calls, progress before results, list_changed on the
// GET stream, credential headers read per request, and an HTTP error failing the call.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  ToolListChangedNotificationSchema,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import { keepNotificationsBeforeResponses } from '../../src/upstreams/connection.js';
import { HttpClientTransport } from '../../src/upstreams/http-client-transport.js';

interface Upstream {
  url: URL;
  server: Server;
  seen: IncomingHttpHeaders[];
  close(): Promise<void>;
}

async function startUpstream(enableJsonResponse: boolean): Promise<Upstream> {
  const server = new Server(
    { name: 'up', version: '1' },
    { capabilities: { tools: { listChanged: true } } },
  );
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [] }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra): Promise<CallToolResult> => {
    const token = req.params._meta?.progressToken;
    if (token !== undefined) {
      await extra.sendNotification({
        method: 'notifications/progress',
        params: { progressToken: token, progress: 1 },
      });
    }
    return { content: [{ type: 'text', text: `echo:${String(req.params.arguments?.text)}` }] };
  });
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => 'upstream-session',
    enableJsonResponse,
  });
  await server.connect(transport);
  const seen: IncomingHttpHeaders[] = [];
  const http: HttpServer = createServer((req, res) => {
    seen.push(req.headers);
    if (req.url === '/moved') {
      res.writeHead(307, { location: '/mcp' }).end();
      return;
    }
    if (req.url === '/elsewhere') {
      res.writeHead(307, { location: 'http://localhost:1/mcp' }).end();
      return;
    }
    if (req.headers['x-fail'] === 'yes') {
      res.writeHead(503).end('try later');
      return;
    }
    void transport.handleRequest(req, res);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`),
    server,
    seen,
    close: async () => {
      await server.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

describe.each([
  ['event-stream answers', false],
  ['JSON answers', true],
])('HttpClientTransport with %s', (_name, json) => {
  let upstream: Upstream;
  let client: Client;
  let credential: Record<string, string> = {};

  beforeAll(async () => {
    upstream = await startUpstream(json);
    client = new Client({ name: 'gw', version: '1' });
    const transport = new HttpClientTransport(upstream.url, {
      headers: { 'X-Configured': 'config', Authorization: 'Bearer configured' },
      credentials: () => credential,
    });
    await client.connect(transport);
    // As the gateway's connection does: the SDK settles responses before notifications.
    keepNotificationsBeforeResponses(transport);
  });

  afterAll(async () => {
    await client.close();
    await upstream.close();
  });

  it('calls a tool in the upstream session, with the configured headers', async () => {
    const result = (await client.callTool({
      name: 'echo',
      arguments: { text: 'hi' },
    })) as CallToolResult;
    expect(result.content).toEqual([{ type: 'text', text: 'echo:hi' }]);
    const last = upstream.seen[upstream.seen.length - 1]!;
    expect(last['mcp-session-id']).toBe('upstream-session');
    expect(last['mcp-protocol-version']).toBeDefined();
    expect(last['x-configured']).toBe('config');
    expect(last.authorization).toBe('Bearer configured');
  });

  it('sends the credential of the request over a configured header of the same name', async () => {
    credential = { authorization: 'Bearer per-call' };
    await client.callTool({ name: 'echo', arguments: { text: 'x' } });
    expect(upstream.seen[upstream.seen.length - 1]!.authorization).toBe('Bearer per-call');
    credential = {};
  });

  it('delivers progress before the result', async () => {
    const progress: number[] = [];
    await client.callTool({ name: 'echo', arguments: { text: 'p' } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    expect(progress).toEqual(json ? [] : [1]);
  });

  it('receives list_changed on the GET stream', async () => {
    const changed = new Promise<void>((resolve) => {
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve());
    });
    await new Promise((r) => setTimeout(r, 100));
    await upstream.server.sendToolListChanged();
    await changed;
  });

  it('fails the call on an HTTP error, naming the status', async () => {
    credential = { 'x-fail': 'yes' };
    await expect(client.callTool({ name: 'echo', arguments: { text: 'x' } })).rejects.toThrow(
      /HTTP 503.*try later/,
    );
    credential = {};
  });

  it('follows a 307 within the origin, and not to another origin', async () => {
    const moved = new Client({ name: 'gw2', version: '1' });
    const near = new URL('/moved', upstream.url);
    await expect(
      moved.connect(new HttpClientTransport(near, { headers: {}, credentials: () => ({}) })),
    ).rejects.toThrow(/already initialized|HTTP 400/);
    const far = new Client({ name: 'gw3', version: '1' });
    const away = new URL('/elsewhere', upstream.url);
    await expect(
      far.connect(new HttpClientTransport(away, { headers: {}, credentials: () => ({}) })),
    ).rejects.toThrow(/HTTP 307/);
  });
});
