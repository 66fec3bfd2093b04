// The bounds of a session's transport, behind a real HTTP server: unanswered requests per
// session (sessions.max_requests_in_flight), request ids reused while unanswered, and a
// client that stops reading its event stream (notifications dropped and counted, the answer
// still delivered). Nothing here grows with what a client sends.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from 'node:net';
import {
  CallToolRequestSchema,
  type CallToolRequest,
  type ServerNotification,
} from '@modelcontextprotocol/sdk/types.js';
import { MAX_UNREAD_STREAM_BYTES, TransportCounters } from '../../src/mcp/server/http-transport.js';
import { SessionRpc, type InboundRequest, type Method } from '../../src/mcp/server/dispatcher.js';
import { initializeMessage, serveSession, type ServedSession } from './support/transport-server.js';

const SESSION = 'bounds-1';
const MAX_IN_FLIGHT = 2;
/** Progress notifications the flood tool sends: far more than the kernel and the bound hold. */
const FLOOD = 20_000;

let session: ServedSession;
let url: string;
let port: number;
let rpc: SessionRpc;
const counters = new TransportCounters();
let flooded: () => void;

function callTool(params: CallToolRequest['params'], request: InboundRequest): Promise<unknown> {
  if (params.name === 'slow') {
    return new Promise((resolve) =>
      request.cancellation.onCancel(() => resolve({ content: [{ type: 'text', text: 'late' }] })),
    );
  }
  if (params.name === 'flood') {
    const progressToken = params._meta?.progressToken ?? 0;
    for (let progress = 1; progress <= FLOOD; progress++) {
      const notification: ServerNotification = {
        method: 'notifications/progress',
        params: { progressToken, progress, total: FLOOD, message: 'x'.repeat(1000) },
      };
      void request.sendNotification(notification);
    }
    flooded();
    return Promise.resolve({ content: [{ type: 'text', text: 'flooded' }] });
  }
  return Promise.resolve({ content: [{ type: 'text', text: `called ${params.name}` }] });
}

const methods = new Map<string, Method>([
  [
    'tools/call',
    {
      schema: CallToolRequestSchema,
      handle: (params, request) => callTool(params as CallToolRequest['params'], request),
    },
  ],
]);

beforeAll(async () => {
  rpc = new SessionRpc({
    serverInfo: { name: 'gw', version: '1' },
    capabilities: {},
    instructions: () => '',
    methods,
  });
  session = await serveSession(rpc, {
    sessionId: SESSION,
    maxInFlight: MAX_IN_FLIGHT,
    counters,
  });
  url = session.url;
  port = Number(new URL(url).port);
  // The session must be initialized before it takes calls.
  const init = await post(initializeMessage('init'));
  expect(init.status).toBe(200);
});

afterAll(() => session.close());

const HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-session-id': SESSION,
};

async function post(body: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: HEADERS, body: JSON.stringify(body) });
  return { status: res.status, text: await res.text() };
}

function call(id: string, name: string): Record<string, unknown> {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name } };
}

function cancel(id: string): Promise<{ status: number; text: string }> {
  return post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id } });
}

describe('requests in flight', () => {
  it('refuses a request beyond max_requests_in_flight with 429, counted, until one is answered', async () => {
    const first = post(call('a', 'slow'));
    const second = post(call('b', 'slow'));
    // Both are delivered once their POSTs are in; a third is one too many.
    let refused: { status: number; text: string } | undefined;
    for (let attempt = 0; attempt < 100 && refused?.status !== 429; attempt++) {
      refused = await post(call(`c${attempt}`, 'echo'));
    }
    expect(refused?.status).toBe(429);
    expect(JSON.parse(refused!.text)).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: {
        code: -32600,
        message: `Too Many Requests: this session has ${MAX_IN_FLIGHT} requests unanswered and may have ${MAX_IN_FLIGHT} (sessions.max_requests_in_flight); wait for their answers`,
      },
    });
    expect(counters.refusedInFlight).toBeGreaterThanOrEqual(1);
    // A batch that would pass the bound is refused whole.
    expect((await post([call('d1', 'echo'), call('d2', 'echo')])).status).toBe(429);

    expect((await cancel('a')).status).toBe(202);
    expect((await first).text).toBe('');
    expect(JSON.parse((await post(call('e', 'echo'))).text)).toMatchObject({ id: 'e' });
    expect((await cancel('b')).status).toBe(202);
    await second;
  });

  it('counts a request whose client dropped the connection until it is answered', async () => {
    const controller = new AbortController();
    const dropped = fetch(url, {
      method: 'POST',
      headers: HEADERS,
      body: JSON.stringify(call('gone', 'slow')),
      signal: controller.signal,
    }).catch(() => undefined);
    const other = post(call('other', 'slow'));
    // Both are running once an echo is refused.
    for (let attempt = 0; attempt < 100; attempt++) {
      if ((await post(call(`probe${attempt}`, 'echo'))).status === 429) break;
    }
    controller.abort();
    await dropped;
    // The handler of "gone" still runs: the session is still at its bound.
    expect((await post(call('f', 'echo'))).status).toBe(429);
    await cancel('gone');
    await cancel('other');
    await other;
    expect((await post(call('g', 'echo'))).status).toBe(200);
  });

  it('refuses a request id that is still unanswered in the session', async () => {
    const running = post(call('same', 'slow'));
    let reused: { status: number; text: string } | undefined;
    for (let attempt = 0; attempt < 100 && reused?.status !== 400; attempt++) {
      reused = await post(call('same', 'echo'));
      if (reused.status === 200) throw new Error('the first request was not running yet');
    }
    expect(reused?.status).toBe(400);
    expect(JSON.parse(reused!.text)).toMatchObject({
      error: {
        code: -32600,
        message:
          'Invalid Request: request id "same" is already in use in this session; give every request a new id',
      },
    });
    expect((await post([call('twice', 'echo'), call('twice', 'echo')])).status).toBe(400);
    await cancel('same');
    await running;
  });
});

describe('a client that stops reading', () => {
  it('drops (and counts) notifications past the unread bound, and still delivers the answer', async () => {
    const done = new Promise<void>((resolve) => (flooded = resolve));
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 'flood-1',
      method: 'tools/call',
      params: { name: 'flood', _meta: { progressToken: 'p' } },
    });
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      `POST /mcp HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        `Accept: application/json, text/event-stream\r\nMcp-Session-Id: ${SESSION}\r\n` +
        `Connection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    // HTTP/1.0, so the stream is not chunked and its events can be counted as they are.
    // Nothing is read until the tool has sent every notification.
    socket.pause();
    await done;
    const before = counters.droppedNotifications;
    expect(before).toBeGreaterThan(0);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    const stream = text.slice(text.indexOf('\r\n\r\n') + 4);
    const events = stream.split('\n\n').filter((e) => e.startsWith('event: message'));
    const progress = events.filter((e) => e.includes('notifications/progress')).length;
    expect(progress + before).toBe(FLOOD);
    expect(events.at(-1)).toContain('"id":"flood-1"');
    expect(events.at(-1)).toContain('flooded');
    // What was kept stayed near the bound (plus what the kernel held), not 20 MB.
    expect(progress * 1000).toBeLessThan(MAX_UNREAD_STREAM_BYTES * 16);
  });
});
