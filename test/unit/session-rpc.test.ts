// The gateway's own MCP server dispatcher (SessionRpc) behind its Node-native transport,
// with the SDK's Client in front and raw JSON-RPC for what a well-behaved client never sends:
// initialize and version negotiation, ping, method routing, params validated with the SDK's
// schemas, handler errors as JSON-RPC errors, progress on the request's stream, cancellation
// and list_changed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  ToolListChangedNotificationSchema,
  type CallToolRequest,
  type JSONRPCMessage,
} from '@modelcontextprotocol/sdk/types.js';
import { NodeStreamableHttpTransport } from '../../src/mcp/server/http-transport.js';
import { SessionRpc, type InboundRequest, type Method } from '../../src/mcp/server/dispatcher.js';
import { RpcError } from '../../src/mcp/jsonrpc/errors.js';
import {
  initializeMessage,
  postInSession,
  serveSession,
  type ServedSession,
} from './support/transport-server.js';

const SESSION = 'session-rpc-1';
let session: ServedSession;
let url: string;
let rpc: SessionRpc;
/** Resolves with the abort reason of the `slow` tool's request. */
let slowAborted: Promise<unknown>;
let slowStarted: () => void;
let slowRunning: Promise<void>;

function callTool(params: CallToolRequest['params'], request: InboundRequest): Promise<unknown> {
  switch (params.name) {
    case 'fail':
      throw new RpcError(-32010, 'Denied by policy: no', { decision_id: 'd1' });
    case 'boom':
      throw new Error('boom');
    case 'progress':
      return request
        .sendNotification({
          method: 'notifications/progress',
          params: { progressToken: params._meta?.progressToken ?? 0, progress: 1, total: 2 },
        })
        .then(() => ({ content: [{ type: 'text', text: 'done' }] }));
    case 'slow':
      slowAborted = new Promise((resolve) => {
        request.cancellation.onCancel(resolve);
      });
      slowStarted();
      return slowAborted.then(() => ({ content: [{ type: 'text', text: 'too late' }] }));
    default:
      return Promise.resolve({ content: [{ type: 'text', text: `called ${params.name}` }] });
  }
}

const methods = new Map<string, Method>([
  ['tools/list', { schema: ListToolsRequestSchema, handle: () => ({ tools: [] }) }],
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
    serverInfo: { name: 'gw', version: '9' },
    capabilities: { tools: { listChanged: true } },
    instructions: () => 'be nice',
    methods,
  });
  session = await serveSession(rpc, { sessionId: SESSION });
  url = session.url;
});

afterAll(() => session.close());

/** A session on a transport whose answers are collected instead of written to HTTP. */
async function detached(served: typeof methods = methods): Promise<{
  deliver: (message: JSONRPCMessage, context?: string) => void;
  answers: JSONRPCMessage[];
}> {
  const session = new SessionRpc<string>({
    serverInfo: { name: 'gw', version: '9' },
    capabilities: {},
    // What the HTTP layer passed with the initialize request (here a string) decides them.
    instructions: (context) => `for ${context ?? 'nobody'}`,
    methods: served,
  });
  const answers: JSONRPCMessage[] = [];
  const fake = new NodeStreamableHttpTransport({ sessionId: undefined });
  fake.send = (message) => {
    answers.push(message);
    return Promise.resolve();
  };
  await session.connect(fake);
  return {
    deliver: (message, context) =>
      fake.onmessage?.(message, context === undefined ? undefined : { context }),
    answers,
  };
}

/** Lets every pending promise callback run. */
function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function post(body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await postInSession(url, SESSION, body);
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** POSTs a notification; resolves with the status (202, without a body). */
async function notify(body: unknown): Promise<number> {
  const res = await postInSession(url, SESSION, body);
  await res.body?.cancel();
  return res.status;
}

describe('SessionRpc', () => {
  let client: Client;

  it('initializes the SDK client with its name, capabilities and instructions', async () => {
    client = new Client({ name: 'c', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    expect(client.getServerVersion()).toEqual({ name: 'gw', version: '9' });
    expect(client.getServerCapabilities()).toEqual({ tools: { listChanged: true } });
    expect(client.getInstructions()).toBe('be nice');
  });

  it('answers initialize with the instructions made from what came with the request', async () => {
    const { deliver, answers } = await detached();
    deliver(initializeMessage(1), 'alice');
    deliver(initializeMessage(2));
    await settled();
    expect(answers).toMatchObject([
      { id: 1, result: { instructions: 'for alice' } },
      { id: 2, result: { instructions: 'for nobody' } },
    ]);
  });

  it('negotiates the protocol version as the SDK server does', async () => {
    // A second initialize is the transport's to refuse, so this talks to a fresh session.
    const { deliver, answers } = await detached();
    deliver(initializeMessage(1, '2025-06-18'));
    deliver(initializeMessage(2, '1999-01-01'));
    await settled();
    expect(answers).toMatchObject([
      { id: 1, result: { protocolVersion: '2025-06-18' } },
      { id: 2, result: { protocolVersion: '2025-11-25' } },
    ]);
  });

  it('sends no answer to a cancelled request', async () => {
    const { deliver, answers } = await detached();
    slowRunning = new Promise((resolve) => (slowStarted = resolve));
    deliver({ jsonrpc: '2.0', id: 'c1', method: 'tools/call', params: { name: 'slow' } });
    await slowRunning;
    deliver({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: 'c1', reason: 'stop' },
    });
    await expect(slowAborted).resolves.toBe('stop');
    await settled();
    expect(answers).toEqual([]);
  });

  it('answers ping, and calls through the SDK client', async () => {
    await expect(client.ping()).resolves.toEqual({});
    const result = await client.callTool({ name: 'echo', arguments: { a: 1 } });
    expect(result.content).toEqual([{ type: 'text', text: 'called echo' }]);
  });

  it('answers an unknown method with -32601', async () => {
    const { json } = await post({ jsonrpc: '2.0', id: 3, method: 'resources/list' });
    expect(json).toEqual({
      jsonrpc: '2.0',
      id: 3,
      error: { code: -32601, message: 'Method not found' },
    });
  });

  it.each<[string, unknown, RegExp]>([
    ['a call without a tool name', { arguments: {} }, /Invalid tools\/call request: params\.name/],
    [
      'arguments that are not an object',
      { name: 'echo', arguments: 'x' },
      /Invalid tools\/call request: params\.arguments/,
    ],
    ['a task-augmented call', { name: 'echo', task: {} }, /does not support task creation/],
  ])('refuses %s with -32602', async (_name, params, message) => {
    const { json } = await post({ jsonrpc: '2.0', id: 4, method: 'tools/call', params });
    const error = json.error as { code: number; message: string };
    expect(json.id).toBe(4);
    expect(error.code).toBe(-32602);
    expect(error.message).toMatch(message);
  });

  it('hands params.task to a method that may run as a task', async () => {
    const { deliver, answers } = await detached(
      new Map([
        [
          'tools/call',
          {
            schema: CallToolRequestSchema,
            taskAugmented: true,
            handle: (params: unknown) => ({
              content: [
                { type: 'text', text: JSON.stringify((params as { task?: unknown }).task) },
              ],
            }),
          },
        ],
      ]),
    );
    deliver({
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: 'echo', task: { ttl: 5 } },
    });
    await settled();
    expect(answers).toEqual([
      { jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: '{"ttl":5}' }] } },
    ]);
  });

  it("passes a handler's code, message and data through", async () => {
    const { json } = await post({
      jsonrpc: '2.0',
      id: 5,
      method: 'tools/call',
      params: { name: 'fail' },
    });
    expect(json.error).toEqual({
      code: -32010,
      message: 'Denied by policy: no',
      data: { decision_id: 'd1' },
    });
  });

  it('answers any other handler failure with -32603 and its message', async () => {
    const { json } = await post({
      jsonrpc: '2.0',
      id: 6,
      method: 'tools/call',
      params: { name: 'boom' },
    });
    expect(json.error).toEqual({ code: -32603, message: 'boom' });
  });

  it('delivers progress to the SDK client before the result', async () => {
    const progress: number[] = [];
    const result = await client.callTool({ name: 'progress' }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    expect(progress).toEqual([1]);
    expect(result.content).toEqual([{ type: 'text', text: 'done' }]);
  });

  it('cancels a request when the SDK client cancels it', async () => {
    slowRunning = new Promise((resolve) => (slowStarted = resolve));
    const controller = new AbortController();
    const call = client.callTool({ name: 'slow' }, undefined, { signal: controller.signal });
    await slowRunning;
    controller.abort('changed my mind');
    await expect(call).rejects.toThrow();
    await expect(slowAborted).resolves.toBe('changed my mind');
  });

  it("ends a cancelled request's POST with an empty event stream instead of leaving it open", async () => {
    slowRunning = new Promise((resolve) => (slowStarted = resolve));
    const call = fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': SESSION,
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'p1',
        method: 'tools/call',
        params: { name: 'slow' },
      }),
    });
    await slowRunning;
    expect(
      await notify({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: 'p1', reason: 'stop' },
      }),
    ).toBe(202);
    const res = await call;
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('mcp-session-id')).toBe(SESSION);
    expect(await res.text()).toBe('');
    await expect(slowAborted).resolves.toBe('stop');
  });

  it('keeps a batch stream open for its other requests when one is cancelled', async () => {
    slowRunning = new Promise((resolve) => (slowStarted = resolve));
    const call = fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': SESSION,
      },
      body: JSON.stringify([
        { jsonrpc: '2.0', id: 'b1', method: 'tools/call', params: { name: 'slow' } },
        { jsonrpc: '2.0', id: 'b2', method: 'tools/call', params: { name: 'echo' } },
      ]),
    });
    await slowRunning;
    expect(
      await notify({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: 'b1' },
      }),
    ).toBe(202);
    const text = await (await call).text();
    const events = text.split('\n\n').filter((event) => event !== '');
    expect(events).toHaveLength(1);
    expect(events[0]).toContain('"id":"b2"');
  });

  it('sends list_changed on the session stream', async () => {
    const changed = new Promise<void>((resolve) => {
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve());
    });
    // The SDK client opens its GET stream after initialize; give it a moment.
    await new Promise((r) => setTimeout(r, 100));
    await rpc.notify('notifications/tools/list_changed');
    await changed;
  });

  it('answers requests still running when the session closes, and stops their handlers', async () => {
    slowRunning = new Promise((resolve) => (slowStarted = resolve));
    const pending = post({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'slow' } });
    await slowRunning;
    await rpc.close();
    const { json } = await pending;
    expect(json).toMatchObject({ id: 9, error: { message: /Session closed/ } });
    await expect(slowAborted).resolves.toBeInstanceOf(Error);
    await client.close();
  });
});
