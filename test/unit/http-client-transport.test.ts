// The gateway's HTTP upstream transport, driven by the gateway's upstream client, against the
// SDK's own server transport (event streams by default, or JSON answers): calls, progress
// before results, list_changed on the GET stream, a call's own credential headers (and the
// connection's for requests without one), and an HTTP error failing the call; the server's
// requests and log messages on a call's stream tell which call they belong to, those on the
// GET stream none.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  ElicitResultSchema,
  ListToolsRequestSchema,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import { HttpClientTransport } from '../../src/mcp/client/http-transport.js';
import { UpstreamRpc, type RequestOptions } from '../../src/mcp/client/rpc-client.js';

interface Upstream {
  url: URL;
  server: Server;
  seen: IncomingHttpHeaders[];
  close(): Promise<void>;
}

async function startUpstream(enableJsonResponse: boolean): Promise<Upstream> {
  const server = new Server(
    { name: 'up', version: '1' },
    { capabilities: { tools: { listChanged: true }, logging: {} } },
  );
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [] }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra): Promise<CallToolResult> => {
    if (req.params.name === 'ask') {
      await extra.sendNotification({
        method: 'notifications/message',
        params: { level: 'info', data: 'asking' },
      });
      const answer = await extra.sendRequest(
        {
          method: 'elicitation/create',
          params: { message: 'name?', requestedSchema: { type: 'object', properties: {} } },
        },
        ElicitResultSchema,
      );
      return { content: [{ type: 'text', text: `answer:${answer.action}` }] };
    }
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
  let client: UpstreamRpc;
  let credential: Record<string, string> = {};
  const callTool = (text: string, options: Partial<RequestOptions> = {}) =>
    client.request('tools/call', { name: 'echo', arguments: { text } }, CallToolResultSchema, {
      timeoutMs: 10_000,
      ...options,
    });

  beforeAll(async () => {
    upstream = await startUpstream(json);
    const transport = new HttpClientTransport(upstream.url, {
      headers: { 'X-Configured': 'config', Authorization: 'Bearer configured' },
      credentials: () => credential,
    });
    client = new UpstreamRpc(transport);
    await client.connect({ timeoutMs: 10_000 });
  });

  afterAll(async () => {
    await client.close();
    await upstream.close();
  });

  it('calls a tool in the upstream session, with the configured headers', async () => {
    const result = await callTool('hi');
    expect(result.content).toEqual([{ type: 'text', text: 'echo:hi' }]);
    const last = upstream.seen[upstream.seen.length - 1]!;
    expect(last['mcp-session-id']).toBe('upstream-session');
    expect(last['mcp-protocol-version']).toBeDefined();
    expect(last['x-configured']).toBe('config');
    expect(last.authorization).toBe('Bearer configured');
  });

  it("sends a call's own credential over a configured header of the same name", async () => {
    await callTool('x', { headers: { authorization: 'Bearer per-call' } });
    expect(upstream.seen[upstream.seen.length - 1]!.authorization).toBe('Bearer per-call');
  });

  it("sends the connection's credential with a request that brings none", async () => {
    credential = { authorization: 'Bearer connection' };
    await callTool('x');
    expect(upstream.seen[upstream.seen.length - 1]!.authorization).toBe('Bearer connection');
    credential = {};
  });

  it('delivers progress before the result', async () => {
    const progress: number[] = [];
    await callTool('p', { onprogress: (p) => progress.push(p.progress) });
    expect(progress).toEqual(json ? [] : [1]);
  });

  it('receives list_changed on the GET stream', async () => {
    const changed = new Promise<void>((resolve) => {
      client.onListChanged = (kind) => {
        if (kind === 'tools') resolve();
      };
    });
    await new Promise((r) => setTimeout(r, 100));
    await upstream.server.sendToolListChanged();
    await changed;
  });

  it('fails the call on an HTTP error, naming the status', async () => {
    credential = { 'x-fail': 'yes' };
    await expect(callTool('x')).rejects.toThrow(/HTTP 503.*try later/);
    credential = {};
  });

  it('follows a 307 within the origin, and not to another origin', async () => {
    const near = new URL('/moved', upstream.url);
    const moved = new UpstreamRpc(
      new HttpClientTransport(near, { headers: {}, credentials: () => ({}) }),
    );
    await expect(moved.connect({ timeoutMs: 10_000 })).rejects.toThrow(
      /already initialized|HTTP 400/,
    );
    const away = new URL('/elsewhere', upstream.url);
    const far = new UpstreamRpc(
      new HttpClientTransport(away, { headers: {}, credentials: () => ({}) }),
    );
    await expect(far.connect({ timeoutMs: 10_000 })).rejects.toThrow(/HTTP 307/);
  });
});

describe('HttpClientTransport: what the server sends of its own accord', () => {
  it('relates a request and a log message on a call’s stream to that call, and nothing on the GET stream', async () => {
    const upstream = await startUpstream(false);
    const transport = new HttpClientTransport(upstream.url, {
      headers: {},
      credentials: () => ({}),
    });
    expect(transport.relatesMessages).toBe(true);
    const client = new UpstreamRpc(transport, 'mcpgate', { elicitation: { form: {} } });
    const asked: unknown[] = [];
    const logged: unknown[] = [];
    client.onServerRequest = (request) => {
      asked.push({ method: request.method, related: request.related });
      return Promise.resolve({ action: 'accept', content: {} });
    };
    client.onServerNotification = (_method, _params, source) =>
      logged.push({ related: source.related, relatable: source.relatable });
    await client.connect({ timeoutMs: 10_000 });
    const result = await client.request(
      'tools/call',
      { name: 'ask', arguments: {} },
      CallToolResultSchema,
      { timeoutMs: 10_000, origin: 'the call' },
    );
    expect(result.content).toEqual([{ type: 'text', text: 'answer:accept' }]);
    expect(asked).toEqual([{ method: 'elicitation/create', related: 'the call' }]);
    expect(logged).toEqual([{ related: 'the call', relatable: true }]);
    await new Promise((r) => setTimeout(r, 100));
    await upstream.server.sendLoggingMessage({ level: 'info', data: 'on its own' });
    await new Promise((r) => setTimeout(r, 100));
    expect(logged.at(-1)).toEqual({ related: undefined, relatable: true });
    await client.close();
    await upstream.close();
  });
});
