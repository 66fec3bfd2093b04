// The gateway's upstream client (UpstreamRpc) against the SDK's own Server, and against a raw
// peer for what a good server never does: initialize, the server's ping and other requests,
// an upstream error, a result that does not fit the method (refused), a timeout and a
// cancellation (both tell the server), a closed connection, an unsupported version; the
// server's own requests and notifications, handed over with the calls in flight, withdrawn
// when the server cancels them or the connection closes, and bounded.
import { describe, expect, it } from '@jest/globals';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  ErrorCode,
  McpError,
  type JSONRPCMessage,
} from '@modelcontextprotocol/sdk/types.js';
import {
  MAX_SERVER_REQUESTS,
  UpstreamCancelledError,
  UpstreamClosedError,
  UpstreamResultError,
  UpstreamRpc,
  UpstreamRpcError,
  UpstreamTimeoutError,
  type MessageSource,
  type ServerRequest,
} from '../../src/mcp/client/rpc-client.js';
import { RpcError } from '../../src/mcp/jsonrpc/errors.js';
import { CancellationSource } from '../../src/util/cancellation.js';

const OPTIONS = { timeoutMs: 10_000 };

async function withSdkServer(
  instructions?: string,
): Promise<{ client: UpstreamRpc; server: Server }> {
  const server = new Server(
    { name: 'up', version: '1' },
    { capabilities: { tools: {} }, ...(instructions === undefined ? {} : { instructions }) },
  );
  server.setRequestHandler(CallToolRequestSchema, (req) => {
    if (req.params.name === 'refuse') {
      throw new McpError(ErrorCode.InvalidParams, 'no thanks', { field: 'x' });
    }
    return { content: [{ type: 'text', text: `called ${req.params.name}` }] };
  });
  const [near, far] = InMemoryTransport.createLinkedPair();
  await server.connect(far);
  const client = new UpstreamRpc(near);
  await client.connect(OPTIONS);
  return { client, server };
}

/** A peer that answers initialize and hands every other message to `onMessage`. */
/** Answers server/discover as a server of the handshake era does: no such method. */
function refusesDiscover(message: JSONRPCMessage, peer: InMemoryTransport): boolean {
  if (!('method' in message) || message.method !== 'server/discover' || !('id' in message)) {
    return false;
  }
  void peer.send({
    jsonrpc: '2.0',
    id: message.id,
    error: { code: -32601, message: 'Method not found' },
  });
  return true;
}

async function withRawPeer(
  onMessage: (message: JSONRPCMessage, reply: (m: JSONRPCMessage) => void) => void,
  protocolVersion = '2025-11-25',
): Promise<{ client: UpstreamRpc; seen: JSONRPCMessage[]; peer: InMemoryTransport }> {
  const [near, peer] = InMemoryTransport.createLinkedPair();
  const seen: JSONRPCMessage[] = [];
  const reply = (m: JSONRPCMessage): void => void peer.send(m);
  peer.onmessage = (message) => {
    seen.push(message);
    if (refusesDiscover(message, peer)) return;
    if ('method' in message && message.method === 'initialize' && 'id' in message) {
      reply({
        jsonrpc: '2.0',
        id: message.id,
        result: { protocolVersion, capabilities: {}, serverInfo: { name: 'raw', version: '1' } },
      });
      return;
    }
    onMessage(message, reply);
  };
  await peer.start();
  const client = new UpstreamRpc(near);
  await client.connect(OPTIONS);
  return { client, seen, peer };
}

const call = (client: UpstreamRpc, name: string, options: object = {}) =>
  client.request('tools/call', { name }, CallToolResultSchema, { ...OPTIONS, ...options });

describe('UpstreamRpc with the SDK server', () => {
  it('initializes, calls, and answers the server’s ping', async () => {
    const { client, server } = await withSdkServer();
    expect(client.serverCapabilities).toEqual({ tools: {} });
    expect((await call(client, 'echo')).content).toEqual([{ type: 'text', text: 'called echo' }]);
    await expect(server.ping()).resolves.toEqual({});
    await client.close();
  });

  it('keeps the instructions of the initialize result, if the server gave any', async () => {
    const { client } = await withSdkServer('Search before you read.');
    expect(client.instructions).toBe('Search before you read.');
    await client.close();
    const without = await withSdkServer();
    expect(without.client.instructions).toBeUndefined();
    await without.client.close();
  });

  it('refuses the server’s other requests: the gateway offers the server nothing', async () => {
    const { client, server } = await withSdkServer();
    await expect(server.listRoots()).rejects.toThrow(/Method not found/);
    await client.close();
  });

  it('rejects with the upstream’s own code, message and data', async () => {
    const { client } = await withSdkServer();
    const error = await call(client, 'refuse').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(UpstreamRpcError);
    expect(error).toMatchObject({ rpcCode: -32602, data: { field: 'x' } });
    expect((error as Error).message).toMatch(/no thanks/);
    await client.close();
  });
});

describe('UpstreamRpc with a raw peer', () => {
  it('refuses a result that does not fit the method, naming the field', async () => {
    const { client } = await withRawPeer((m, reply) => {
      if ('method' in m && 'id' in m)
        reply({ jsonrpc: '2.0', id: m.id, result: { content: 'not a list' } });
    });
    const error = await call(client, 'echo').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(UpstreamResultError);
    expect((error as Error).message).toMatch(/^invalid tools\/call result: content: /);
  });

  it('times out a request the server never answers, and tells the server', async () => {
    const { client, seen } = await withRawPeer(() => undefined);
    await expect(call(client, 'silent', { timeoutMs: 20 })).rejects.toBeInstanceOf(
      UpstreamTimeoutError,
    );
    expect(seen.at(-1)).toMatchObject({
      method: 'notifications/cancelled',
      params: { reason: 'Request timed out' },
    });
  });

  it('cancels a request when its caller does, and tells the server why', async () => {
    const { client, seen } = await withRawPeer(() => undefined);
    const cancellation = new CancellationSource();
    const pending = call(client, 'slow', { cancellation });
    cancellation.cancel('client went away');
    await expect(pending).rejects.toBeInstanceOf(UpstreamCancelledError);
    const request = seen.find((m) => 'method' in m && m.method === 'tools/call') as { id: number };
    expect(seen.at(-1)).toEqual({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: request.id, reason: 'client went away' },
    });
  });

  it('delivers progress for its request and asks for it with a progressToken', async () => {
    const { client, seen } = await withRawPeer((m, reply) => {
      if (!('id' in m) || !('params' in m)) return;
      const token = (m.params?._meta as { progressToken: number }).progressToken;
      reply({
        jsonrpc: '2.0',
        method: 'notifications/progress',
        params: { progressToken: token, progress: 1, total: 2 },
      });
      reply({ jsonrpc: '2.0', id: m.id, result: { content: [] } });
    });
    const progress: unknown[] = [];
    await call(client, 'p', { onprogress: (p: unknown) => progress.push(p) });
    expect(progress).toEqual([{ progress: 1, total: 2 }]);
    const last = seen.at(-1) as { id: number };
    expect(last).toMatchObject({ params: { _meta: { progressToken: last.id } } });
  });

  it('refuses a request whose caller has already cancelled it, sending nothing', async () => {
    const { client, seen } = await withRawPeer(() => undefined);
    const cancellation = new CancellationSource();
    cancellation.cancel('too late');
    const before = seen.length;
    await expect(call(client, 'x', { cancellation })).rejects.toBeInstanceOf(
      UpstreamCancelledError,
    );
    expect(seen.length).toBe(before);
  });

  it('fails every pending request when the connection closes', async () => {
    const { client, peer } = await withRawPeer(() => undefined);
    let closed = false;
    client.onclose = () => (closed = true);
    const pending = call(client, 'slow');
    await peer.close();
    await expect(pending).rejects.toBeInstanceOf(UpstreamClosedError);
    expect(closed).toBe(true);
    await expect(call(client, 'later')).rejects.toBeInstanceOf(UpstreamClosedError);
  });

  it('refuses a server that speaks an unsupported protocol version', async () => {
    await expect(withRawPeer(() => undefined, '1999-01-01')).rejects.toThrow(
      /protocol version is not supported: 1999-01-01/,
    );
  });
});

/** A raw peer and a client that serves the server's requests with `serve`. */
async function withServingClient(
  serve: (request: ServerRequest) => Promise<Record<string, unknown>>,
): Promise<{
  client: UpstreamRpc;
  seen: JSONRPCMessage[];
  send: (m: JSONRPCMessage) => Promise<void>;
  peer: InMemoryTransport;
}> {
  const [near, peer] = InMemoryTransport.createLinkedPair();
  const seen: JSONRPCMessage[] = [];
  peer.onmessage = (message) => {
    seen.push(message);
    if (refusesDiscover(message, peer)) return;
    if ('method' in message && message.method === 'initialize' && 'id' in message) {
      void peer.send({
        jsonrpc: '2.0',
        id: message.id,
        result: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          serverInfo: { name: 'raw', version: '1' },
        },
      });
    }
  };
  await peer.start();
  const client = new UpstreamRpc(near, 'mcpgate', { sampling: {}, elicitation: { form: {} } });
  client.onServerRequest = serve;
  await client.connect(OPTIONS);
  return { client, seen, send: (m) => peer.send(m), peer };
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 10));

describe('UpstreamRpc and the server’s own requests', () => {
  it('declares the client capabilities it is given at initialize', async () => {
    const { seen } = await withServingClient(() => Promise.resolve({}));
    expect(seen[0]).toMatchObject({ method: 'server/discover' });
    expect(seen[1]).toMatchObject({
      method: 'initialize',
      params: { capabilities: { sampling: {}, elicitation: { form: {} } } },
    });
  });

  it('hands a request over with the origins of the calls in flight, and answers with its result', async () => {
    const served: ServerRequest[] = [];
    const { client, seen, send } = await withServingClient((request) => {
      served.push(request);
      return Promise.resolve({ roots: [] });
    });
    const inFlight = call(client, 'slow', { origin: 'call of session A' });
    await send({ jsonrpc: '2.0', id: 'r1', method: 'roots/list', params: { _meta: {} } });
    await settle();
    expect(served).toHaveLength(1);
    expect(served[0]).toMatchObject({
      id: 'r1',
      method: 'roots/list',
      related: undefined,
      relatable: false,
      inFlight: ['call of session A'],
    });
    expect(seen.at(-1)).toEqual({ jsonrpc: '2.0', id: 'r1', result: { roots: [] } });
    void inFlight.catch(() => undefined);
    await client.close();
  });

  it('answers with the error the request was refused with: its code, message and data', async () => {
    const { client, seen, send } = await withServingClient(() =>
      Promise.reject(new RpcError(-32010, 'Denied by policy: no', { decision_id: 'd1' })),
    );
    await send({ jsonrpc: '2.0', id: 7, method: 'sampling/createMessage', params: {} });
    await settle();
    expect(seen.at(-1)).toEqual({
      jsonrpc: '2.0',
      id: 7,
      error: { code: -32010, message: 'Denied by policy: no', data: { decision_id: 'd1' } },
    });
    await client.close();
  });

  it('withdraws a request the server cancels, and sends no answer', async () => {
    let cancelled: unknown;
    let answer = (): void => undefined;
    const { client, seen, send } = await withServingClient(
      (request) =>
        new Promise((resolve) => {
          request.cancellation.onCancel((reason) => (cancelled = reason));
          answer = () => resolve({ action: 'decline' });
        }),
    );
    await send({ jsonrpc: '2.0', id: 'e1', method: 'elicitation/create', params: {} });
    await settle();
    await send({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: 'e1', reason: 'user gave up' },
    });
    await settle();
    expect(cancelled).toBe('user gave up');
    const before = seen.length;
    answer();
    await settle();
    expect(seen.length).toBe(before);
    await client.close();
  });

  it('withdraws the requests it serves when the connection closes', async () => {
    const reasons: unknown[] = [];
    const { send, peer } = await withServingClient(
      (request) =>
        new Promise(() => {
          request.cancellation.onCancel((reason) => reasons.push(reason));
        }),
    );
    await send({ jsonrpc: '2.0', id: 1, method: 'roots/list' });
    await settle();
    await peer.close();
    expect(reasons).toEqual(['the upstream connection closed']);
  });

  it(`serves at most ${MAX_SERVER_REQUESTS} at once; the next gets an error at once`, async () => {
    const { client, seen, send } = await withServingClient(() => new Promise(() => undefined));
    for (let i = 0; i <= MAX_SERVER_REQUESTS; i++) {
      await send({ jsonrpc: '2.0', id: i, method: 'roots/list' });
    }
    await settle();
    expect(seen.at(-1)).toMatchObject({
      id: MAX_SERVER_REQUESTS,
      error: {
        code: -32603,
        message: expect.stringMatching(/^too many requests from this server/),
      },
    });
    await send({ jsonrpc: '2.0', id: 0, method: 'roots/list' });
    await settle();
    expect(seen.at(-1)).toMatchObject({ id: 0, error: { code: -32600 } });
    await client.close();
  });

  it('hands other notifications over with where they came from', async () => {
    const heard: Array<{ method: string; source: MessageSource }> = [];
    const { client, send } = await withServingClient(() => Promise.resolve({}));
    client.onServerNotification = (method, _params, source) => heard.push({ method, source });
    const inFlight = call(client, 'slow', { origin: 'call 1' });
    await send({
      jsonrpc: '2.0',
      method: 'notifications/message',
      params: { level: 'info', data: 'hello' },
    });
    await settle();
    expect(heard).toEqual([
      {
        method: 'notifications/message',
        source: { related: undefined, relatable: false, inFlight: ['call 1'] },
      },
    ]);
    void inFlight.catch(() => undefined);
    await client.close();
  });
});

describe('UpstreamRpc with a server of the stateless era (2026-07-28)', () => {
  it('speaks 2026-07-28 without a handshake when server/discover offers it', async () => {
    const [near, peer] = InMemoryTransport.createLinkedPair();
    const seen: JSONRPCMessage[] = [];
    peer.onmessage = (message) => {
      seen.push(message);
      if (!('id' in message) || !('method' in message)) return;
      const result =
        message.method === 'server/discover'
          ? {
              supportedVersions: ['2025-11-25', '2026-07-28'],
              capabilities: { tools: {} },
              serverInfo: { name: 'modern', version: '2.0.0' },
              instructions: 'be kind',
              ttlMs: 0,
              cacheScope: 'public',
              resultType: 'complete',
            }
          : { content: [{ type: 'text', text: 'ok' }], resultType: 'complete' };
      void peer.send({ jsonrpc: '2.0', id: message.id, result });
    };
    await peer.start();
    const client = new UpstreamRpc(near, 'mcpgate', { elicitation: { form: {} } });
    await client.connect(OPTIONS);
    expect(client.protocolVersion).toBe('2026-07-28');
    expect(client.serverCapabilities).toEqual({ tools: {} });
    expect(client.instructions).toBe('be kind');
    // What the registry's serverInfo pin is checked against (upstreams/trust/identity.ts).
    expect(client.serverInfo).toEqual({ name: 'modern', version: '2.0.0' });
    const result = await call(client, 'read');
    expect(result.content).toEqual([{ type: 'text', text: 'ok' }]);
    expect(seen.map((m) => ('method' in m ? m.method : 'answer'))).toEqual([
      'server/discover',
      'tools/call',
    ]);
    expect(seen[1]).toMatchObject({
      params: {
        name: 'read',
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } },
          'io.modelcontextprotocol/clientInfo': { name: 'mcpgate' },
        },
      },
    });
    await client.close();
  });

  it('falls back to initialize when server/discover lists no 2026-07-28', async () => {
    const { client, seen } = await withRawPeer(() => undefined);
    expect(client.protocolVersion).toBe('2025-11-25');
    expect(seen.map((m) => ('method' in m ? m.method : 'answer')).slice(0, 3)).toEqual([
      'server/discover',
      'initialize',
      'notifications/initialized',
    ]);
    await client.close();
  });
});
