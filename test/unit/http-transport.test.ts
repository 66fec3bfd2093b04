// The gateway's Streamable HTTP server transport with the SDK on both ends: an SDK Server
// behind it, the SDK's own client in front. Plain answers are application/json; progress
// switches the POST to an event stream; list_changed arrives on the GET stream; the
// session and protocol-version headers are checked as the spec says.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  ToolListChangedNotificationSchema,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import type { NodeStreamableHttpTransport } from '../../src/mcp/server/http-transport.js';
import { initializeMessage, serveSession, type ServedSession } from './support/transport-server.js';

const SESSION = 'session-1';
let session: ServedSession;
let url: string;
let server: Server;
let transport: NodeStreamableHttpTransport;
let seenVersion: unknown;

function mcpServer(): Server {
  const s = new Server(
    { name: 't', version: '1' },
    { capabilities: { tools: { listChanged: true } } },
  );
  s.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [] }));
  s.setRequestHandler(CallToolRequestSchema, async (req, extra): Promise<CallToolResult> => {
    seenVersion = extra.requestInfo?.headers['mcp-protocol-version'];
    const token = req.params._meta?.progressToken;
    if (token !== undefined) {
      await extra.sendNotification({
        method: 'notifications/progress',
        params: { progressToken: token, progress: 1, total: 2 },
      });
    }
    return { content: [{ type: 'text', text: `called ${req.params.name}` }] };
  });
  return s;
}

beforeAll(async () => {
  server = mcpServer();
  session = await serveSession(server, { sessionId: SESSION });
  ({ url, transport } = session);
});

afterAll(() => session.close());

const HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
};

async function post(
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...HEADERS, 'mcp-session-id': SESSION, ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

describe('NodeStreamableHttpTransport', () => {
  let client: Client;

  it('initializes with the SDK client and names the session', async () => {
    client = new Client({ name: 'c', version: '1' });
    const clientTransport = new StreamableHTTPClientTransport(new URL(url));
    await client.connect(clientTransport);
    expect(clientTransport.sessionId).toBe(SESSION);
  });

  it('answers a plain call as application/json, with the version header visible to handlers', async () => {
    const res = await post(
      { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo' } },
      { 'mcp-protocol-version': '2025-06-18' },
    );
    expect(res.status).toBe(200);
    expect(res.type).toBe('application/json');
    expect(JSON.parse(res.text)).toMatchObject({
      id: 7,
      result: { content: [{ text: 'called echo' }] },
    });
    expect(seenVersion).toBe('2025-06-18');
  });

  it('switches to an event stream when progress comes before the answer', async () => {
    const res = await post({
      jsonrpc: '2.0',
      id: 8,
      method: 'tools/call',
      params: { name: 'echo', _meta: { progressToken: 'p' } },
    });
    expect(res.type).toBe('text/event-stream');
    const events = res.text
      .split('\n\n')
      .filter((e) => e.startsWith('event: message'))
      .map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)) as Record<string, unknown>);
    expect(events.map((e) => e.method ?? e.id)).toEqual(['notifications/progress', 8]);
  });

  it('delivers progress to the SDK client before the result', async () => {
    const progress: number[] = [];
    const result = await client.callTool({ name: 'echo' }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    expect(progress).toEqual([1]);
    expect(result.content).toEqual([{ type: 'text', text: 'called echo' }]);
  });

  it('streams the answers of a batch', async () => {
    const res = await post([
      { jsonrpc: '2.0', id: 'a', method: 'tools/list' },
      { jsonrpc: '2.0', id: 'b', method: 'tools/list' },
    ]);
    expect(res.type).toBe('text/event-stream');
    expect(res.text.match(/^event: message$/gm)).toHaveLength(2);
  });

  it('accepts notifications with 202 and no body', async () => {
    const res = await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    expect(res.status).toBe(202);
    expect(res.text).toBe('');
  });

  it('sends list_changed on the GET stream', async () => {
    const changed = new Promise<void>((resolve) => {
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve());
    });
    // The SDK client opens its GET stream after initialize; give it a moment.
    await new Promise((r) => setTimeout(r, 100));
    await server.sendToolListChanged();
    await changed;
  });

  it.each<[string, unknown, Record<string, string>, number, RegExp]>([
    [
      'an unsupported protocol version',
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { 'mcp-protocol-version': '1999-01-01' },
      400,
      /Unsupported protocol version/,
    ],
    [
      'another session id',
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { 'mcp-session-id': 'other' },
      404,
      /Session not found/,
    ],
    [
      'a message that is not JSON-RPC',
      { jsonrpc: '1.0', id: 1, method: 'tools/list' },
      {},
      400,
      /Invalid JSON-RPC message/,
    ],
    [
      'an unknown top-level key',
      { jsonrpc: '2.0', id: 1, method: 'tools/list', extra: 1 },
      {},
      400,
      /Invalid JSON-RPC message/,
    ],
    ['a second initialize', initializeMessage(1), {}, 400, /already initialized/],
    [
      'an Accept without event streams',
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { accept: 'application/json' },
      406,
      /Not Acceptable/,
    ],
    [
      'a body that is not JSON',
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { 'content-type': 'text/plain' },
      415,
      /Unsupported Media Type/,
    ],
    [
      'a batch of more than 100 messages',
      Array.from({ length: 101 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' })),
      {},
      400,
      /Batch must not exceed 100 messages/,
    ],
  ])('refuses %s', async (_name, body, headers, status, message) => {
    const res = await post(body, headers);
    expect(res.status).toBe(status);
    expect(res.text).toMatch(message);
  });

  it('refuses an initialize batched with another message', async () => {
    const fresh = await serveSession(mcpServer(), { sessionId: 'fresh' });
    const res = await fetch(fresh.url, {
      method: 'POST',
      headers: HEADERS,
      body: JSON.stringify([initializeMessage(1), { jsonrpc: '2.0', id: 2, method: 'ping' }]),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Only one initialization request is allowed');
    await fresh.close();
  });

  it('refuses another HTTP method with 405 and a second GET stream with 409', async () => {
    const put = await fetch(url, { method: 'PUT', headers: { 'mcp-session-id': SESSION } });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST, DELETE');
    expect(await put.json()).toMatchObject({
      error: { code: -32000, message: 'Method not allowed.' },
    });
    // The SDK client holds the session's GET stream open (opened after initialize).
    const second = await fetch(url, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': SESSION },
    });
    expect(second.status).toBe(409);
    expect(await second.text()).toContain('Only one SSE stream is allowed per session');
  });

  it('refuses every request with 404 once the session is closed', async () => {
    await client.close();
    await transport.close();
    const res = await post({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    expect(res.status).toBe(404);
  });
});
