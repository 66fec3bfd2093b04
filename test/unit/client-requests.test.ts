// The gateway asking a client something (for an upstream): SessionRpc.requestClient on the
// gateway's own transport, with the SDK's Client answering over real HTTP. On the stream of
// the request it belongs to, or on the session's GET stream; refused at once when no such
// stream is open; the client's error passed on; withdrawn (the client told) on cancellation
// and on timeout; a session's questions bounded; an answer the gateway is not waiting for
// (never sent, sent to another session, already answered) refused with 400.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CallToolRequestSchema,
  CancelledNotificationSchema,
  ElicitRequestSchema,
  ErrorCode,
  ListRootsRequestSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';
import {
  ClientRequestError,
  ClientRequests,
  ClientRpcError,
  MAX_CLIENT_REQUESTS_PER_SESSION,
} from '../../src/mcp/server/client-requests.js';
import { SessionRpc, type InboundRequest, type Method } from '../../src/mcp/server/dispatcher.js';
import { NodeStreamableHttpTransport } from '../../src/mcp/server/http-transport.js';
import { CancellationSource } from '../../src/util/cancellation.js';
import { postInSession, serveSession, type ServedSession } from './support/transport-server.js';

const SESSION = 'asking-session';
const requests = new ClientRequests(500);
let session: ServedSession;
let url: string;
let rpc: SessionRpc;

/** The tool `ask` asks the client for roots on its own stream and answers with them. */
const methods = new Map<string, Method>([
  [
    'tools/call',
    {
      schema: CallToolRequestSchema,
      handle: async (_params, request: InboundRequest) => {
        const answer = await request.sendRequest({ method: 'roots/list' });
        return { content: [{ type: 'text', text: JSON.stringify(answer) }] };
      },
    },
  ],
]);

beforeAll(async () => {
  rpc = new SessionRpc(
    {
      serverInfo: { name: 'gw', version: '1' },
      capabilities: { tools: {} },
      instructions: () => '',
      methods,
    },
    { sessionId: SESSION, clientRequests: requests },
  );
  session = await serveSession(rpc, {
    sessionId: SESSION,
    awaitsAnswer: (id) => requests.awaits(SESSION, id),
  });
  url = session.url;
});

afterAll(() => session.close());

/** One client per test: the session's transport takes one initialize, so it is reset. */
async function connect(
  configure: (client: Client) => void,
): Promise<{ client: Client; cancelled: unknown[] }> {
  const client = new Client(
    { name: 'asked', version: '1' },
    { capabilities: { roots: {}, elicitation: { form: {} } } },
  );
  const cancelled: unknown[] = [];
  client.setNotificationHandler(CancelledNotificationSchema, (n) => {
    cancelled.push(n.params);
  });
  configure(client);
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return { client, cancelled };
}

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('asking the client', () => {
  let connected: Awaited<ReturnType<typeof connect>>;
  let answerRoots: () => Promise<{ roots: Array<{ uri: string }> }>;

  beforeAll(async () => {
    answerRoots = () => Promise.resolve({ roots: [{ uri: 'file:///a' }] });
    connected = await connect((client) => {
      client.setRequestHandler(ListRootsRequestSchema, () => answerRoots());
      client.setRequestHandler(ElicitRequestSchema, () => {
        throw new McpError(ErrorCode.InvalidRequest, 'the user closed the dialog');
      });
    });
  });

  afterAll(async () => {
    await connected.client.close();
  });

  it('on the stream of the request it belongs to: the client’s answer comes back', async () => {
    const result = await connected.client.callTool({ name: 'ask', arguments: {} });
    expect(result.content).toEqual([{ type: 'text', text: '{"roots":[{"uri":"file:///a"}]}' }]);
    expect(requests.size).toBe(0);
  });

  it('on the session’s own stream (GET), once the client has one open', async () => {
    await wait(200);
    await expect(rpc.requestClient({ method: 'roots/list' }, undefined)).resolves.toEqual({
      roots: [{ uri: 'file:///a' }],
    });
  });

  it('passes the client’s own error on: its code and message', async () => {
    const error = await rpc
      .requestClient(
        {
          method: 'elicitation/create',
          params: { message: 'ok?', requestedSchema: { type: 'object', properties: {} } },
        },
        undefined,
      )
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ClientRpcError);
    expect(error).toMatchObject({ rpcCode: ErrorCode.InvalidRequest });
    // The SDK client's own "MCP error <code>: " goes: the upstream's SDK adds its own.
    expect((error as Error).message).toBe('the user closed the dialog');
  });

  it('withdraws a question when it is cancelled, and tells the client', async () => {
    answerRoots = () => new Promise(() => undefined);
    const cancellation = new CancellationSource();
    const asked = rpc.requestClient({ method: 'roots/list' }, undefined, cancellation);
    await wait(100);
    cancellation.cancel('the upstream withdrew it');
    await expect(asked).rejects.toThrow(/roots\/list was cancelled: the upstream withdrew it/);
    await wait(100);
    expect(connected.cancelled.at(-1)).toMatchObject({ reason: 'the upstream withdrew it' });
  });

  it('withdraws the question when the client cancels the call it belongs to, telling it on its own stream', async () => {
    answerRoots = () => new Promise(() => undefined);
    const before = connected.cancelled.length;
    const controller = new AbortController();
    const call = connected.client
      .callTool({ name: 'ask', arguments: {} }, undefined, { signal: controller.signal })
      .then(
        () => 'answered',
        () => 'cancelled',
      );
    await wait(200);
    controller.abort('changed my mind');
    expect(await call).toBe('cancelled');
    await wait(200);
    expect(connected.cancelled.slice(before)).toEqual([
      { requestId: expect.stringMatching(/^mcpgate-/), reason: expect.any(String) },
    ]);
    expect(requests.size).toBe(0);
  });

  it('gives up on a client that does not answer, and tells it', async () => {
    answerRoots = () => new Promise(() => undefined);
    await expect(rpc.requestClient({ method: 'roots/list' }, undefined)).rejects.toThrow(
      /the client did not answer roots\/list within 1 s/,
    );
    await wait(100);
    expect(connected.cancelled.at(-1)).toMatchObject({
      reason: 'the client did not answer roots/list within 1 s',
    });
  });

  it(`asks one session at most ${MAX_CLIENT_REQUESTS_PER_SESSION} questions at once`, async () => {
    answerRoots = () => new Promise(() => undefined);
    const pending = Array.from({ length: MAX_CLIENT_REQUESTS_PER_SESSION }, () =>
      rpc.requestClient({ method: 'roots/list' }, undefined).catch(() => undefined),
    );
    await expect(rpc.requestClient({ method: 'roots/list' }, undefined)).rejects.toThrow(
      /already has 16 requests of the gateway to answer; roots\/list is refused/,
    );
    requests.endSession(SESSION, 'the test ended it');
    await Promise.all(pending);
    expect(requests.size).toBe(0);
  });
});

describe('answers the gateway is not waiting for', () => {
  const post = async (body: unknown): Promise<{ status: number; text: string }> => {
    const res = await postInSession(url, SESSION, body);
    return { status: res.status, text: await res.text() };
  };

  it('refuses an answer to an id it never sent, or sent another session (400)', async () => {
    const other = requests.open('another-session', 'roots/list');
    for (const id of ['made-up', 7, other.id]) {
      const answer = await post({ jsonrpc: '2.0', id, result: { roots: [] } });
      expect(answer.status).toBe(400);
      expect(answer.text).toContain(
        `the gateway is not waiting for an answer to request id ${JSON.stringify(JSON.stringify(id)).slice(1, -1)} in this session`,
      );
    }
    // The other session's question still waits for its own client.
    expect(requests.awaits('another-session', other.id)).toBe(true);
    expect(requests.settle('another-session', other.id, { result: { roots: [] } })).toBe(true);
    await expect(other.answer).resolves.toEqual({ roots: [] });
  });

  it('refuses an error without an id', async () => {
    const answer = await post({ jsonrpc: '2.0', error: { code: -32601, message: 'no' } });
    expect(answer.status).toBe(400);
    expect(answer.text).toContain('an error without an id answers no request of the gateway');
  });

  it('fails a question that cannot reach the client: no stream is open for it', async () => {
    const lone = new SessionRpc(
      {
        serverInfo: { name: 'gw', version: '1' },
        capabilities: {},
        instructions: () => '',
        methods,
      },
      { sessionId: 'lone', clientRequests: requests },
    );
    await lone.connect(new NodeStreamableHttpTransport({ sessionId: 'lone' }));
    const error = await lone
      .requestClient({ method: 'roots/list' }, undefined)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientRequestError);
    expect((error as Error).message).toBe(
      'roots/list cannot reach the client: the client has no stream open for the session (GET /mcp)',
    );
    const related = await lone
      .requestClient({ method: 'roots/list' }, 'gone')
      .catch((e: unknown) => e);
    expect((related as Error).message).toBe(
      'roots/list cannot reach the client: the client request it belongs to is no longer open',
    );
    await lone.close();
    await expect(lone.requestClient({ method: 'roots/list' }, undefined)).rejects.toThrow(
      /its session is closed/,
    );
  });
});
