// Upstreams of the stateless era (MCP 2026-07-28): the Python SDK (mcp 2.3.0) as an
// upstream server over stdio and over Streamable HTTP (test/python/modern_server.py). The
// gateway asks server/discover first and, offered 2026-07-28, speaks it without a
// handshake: every request carries the envelope in _meta (and, over HTTP, the
// MCP-Protocol-Version, Mcp-Method and Mcp-Name headers, which the Python server checks).
// Clients of both eras use them through the gateway; a handshake-era upstream (the
// conformance fixture) keeps its handshake next to them. Multi round-trip requests (MRTR):
// the upstream's InputRequiredResult reaches a 2026-07-28 client with the gateway's sealed
// requestState, which must come back unchanged, for the same session and call, once; a
// 2025-11-25 client (the TypeScript SDK) is asked the questions on its call's stream, and
// the gateway retries the upstream with the answers.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ElicitRequestSchema,
  ResourceUpdatedNotificationSchema,
  type ElicitResult,
} from '@modelcontextprotocol/sdk/types.js';
import { startFixture, type Fixture } from '../conformance/harness.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { connectClient, rawPost } from './support/client.js';
import {
  FIXTURE_SERVERS,
  ROOT,
  startGatewayProcess,
  type GatewayProcess,
} from './support/gateway.js';
import { buildFixturePolicy } from './support/policies.js';
import { freePort } from './support/ports.js';
import { postStateless, sendStateless, textOfResult } from './support/stateless.js';

const PYTHON = join(ROOT, '.tools/python-mcp/bin/python');
const SERVER = join(ROOT, 'test/python/modern_server.py');

let issuer: TestIssuer;
let fixture: Fixture;
let httpServer: ChildProcess;
let gateway: GatewayProcess;
let client: Client;

async function listening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(100);
  }
  throw new Error(`the Python server on port ${port} did not start`);
}

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await sleep(50);
}

function textOf(result: unknown): string {
  const content = (result as { content: Array<{ type: string; text?: string }> }).content;
  return content.map((block) => block.text ?? block.type).join(' ');
}

beforeAll(async () => {
  [issuer, fixture] = await Promise.all([startIssuer(), startFixture()]);
  const port = await freePort();
  httpServer = spawn(PYTHON, [SERVER, 'http', String(port)], {
    env: { PATH: process.env.PATH ?? '', PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await listening(port);
  gateway = await startGatewayProcess({
    issuer,
    bundle: buildFixturePolicy('allow-all'),
    upstreams: {
      // Its tools keep their names (era, echo, confirm), as the Python client check calls them.
      pystdio: {
        transport: 'stdio',
        command: PYTHON,
        args: [SERVER, 'stdio'],
        prefix: '',
        roots: ['file:///srv/pyroot'],
      },
      pyhttp: { transport: 'http', url: `http://127.0.0.1:${port}/mcp` },
      fixture: { transport: 'http', url: fixture.url },
      updates: {
        transport: 'stdio',
        command: process.execPath,
        args: [join(FIXTURE_SERVERS, 'updates-server.js')],
      },
    },
  });
  client = await connectClient(gateway.mcpUrl, await issuer.mint({ aud: gateway.mcpUrl }));
}, 60_000);

afterAll(async () => {
  await client?.close();
  await gateway?.stop();
  httpServer?.kill('SIGTERM');
  await fixture?.stop();
  await issuer?.close();
});

describe('upstreams that speak MCP 2026-07-28', () => {
  it('lists their tools next to a handshake-era upstream', async () => {
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'era',
        'echo',
        'confirm',
        'pyhttp__era',
        'pyhttp__echo',
        'fixture__test_simple_text',
      ]),
    );
  });

  it('speaks 2026-07-28 with them over stdio and Streamable HTTP', async () => {
    for (const prefix of ['', 'pyhttp__']) {
      expect(textOf(await client.callTool({ name: `${prefix}era`, arguments: {} }))).toBe(
        '2026-07-28',
      );
      const echoed = await client.callTool({ name: `${prefix}echo`, arguments: { text: 'hé' } });
      expect(textOf(echoed)).toBe('echo: hé');
    }
  });

  it('hears their list changes on a subscriptions/listen of its own', async () => {
    for (const prefix of ['', 'pyhttp__']) {
      expect(textOf(await client.callTool({ name: `${prefix}grow`, arguments: {} }))).toBe('grew');
      let names: string[] = [];
      for (let i = 0; i < 100 && !names.includes(`${prefix}grown`); i++) {
        await sleep(50);
        names = (await client.listTools()).tools.map((tool) => tool.name);
      }
      expect(names).toContain(`${prefix}grown`);
    }
  });

  it('keeps the handshake with a server that does not speak it', async () => {
    expect(
      textOf(await client.callTool({ name: 'fixture__test_simple_text', arguments: {} })),
    ).toContain('simple text response');
  });

  it('gives clients of both eras their instructions (from server/discover), in every server/discover', async () => {
    const section = (server: string, names: string) =>
      [`## Instructions from upstream server "${server}"`, `Through this gateway ${names}`].join(
        '\n',
      );
    const stdioSection = section('pystdio', 'its tools and prompts keep their own names');
    const httpSection = section('pyhttp', 'its tools and prompts are named pyhttp__<name>');
    const handshake = client.getInstructions() ?? '';
    expect(handshake).toContain(stdioSection);
    expect(handshake).toContain(
      `${httpSection}, and its resources are mcpgate://pyhttp/<uri>.\n\nA Python server of both eras.`,
    );
    // A 2026-07-28 run whose first request was not server/discover asks it later: the same text.
    const token = await issuer.mint({ aud: gateway.mcpUrl });
    const run = { 'Mcp-Run': 'discover-later' };
    await sendStateless(gateway.mcpUrl, token, 'tools/list', {}, run);
    const later = await sendStateless(gateway.mcpUrl, token, 'server/discover', {}, run);
    expect(later.body.result?.instructions).toBe(handshake);
    // A 2025-11-25 client may ask too, in its session.
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId ?? '';
    const raw = await rawPost(
      gateway.mcpUrl,
      JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'server/discover', params: {} }),
      {
        authorization: `Bearer ${token}`,
        'mcp-session-id': sessionId,
        'mcp-protocol-version': '2025-11-25',
      },
    );
    const body = JSON.parse(raw.text) as { result?: { instructions?: string } };
    expect(body.result?.instructions).toBe(handshake);
  });

  it('says in its log which revision each upstream speaks', () => {
    const connected = gateway.logs.filter((line) => line.message === 'upstream connected');
    expect(connected).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ upstream: 'pystdio', protocol: '2026-07-28' }),
        expect.objectContaining({ upstream: 'pyhttp', protocol: '2026-07-28' }),
        expect.objectContaining({ upstream: 'fixture', protocol: '2025-11-25' }),
        expect.objectContaining({ upstream: 'updates', protocol: '2025-11-25' }),
      ]),
    );
  });
});

describe('multi round-trip requests (MRTR) through the gateway', () => {
  const confirm = { name: 'confirm', arguments: { action: 'deploy' } };
  const answers = { confirm: { action: 'accept', content: { sure: true } } };
  let token: string;
  const ask = (params: Record<string, unknown>, headers: Record<string, string> = {}) =>
    sendStateless(gateway.mcpUrl, token, 'tools/call', params, headers);

  beforeAll(async () => {
    token = await issuer.mint({ aud: gateway.mcpUrl });
  });

  it('passes the question on with a requestState of its own, and the answer back', async () => {
    const first = await ask(confirm, { 'Mcp-Run': 'mrtr-1' });
    expect(first.body.result).toMatchObject({
      resultType: 'input_required',
      inputRequests: { confirm: { method: 'elicitation/create' } },
    });
    const state = first.body.result?.requestState as string;
    // The client never sees the upstream's own state (the Python server's is "v1.…").
    expect(state).toMatch(/^mcpgate1\./);
    const retry = await ask(
      { ...confirm, inputResponses: answers, requestState: state },
      { 'Mcp-Run': 'mrtr-1' },
    );
    // The upstream got its own state back: its handler sees what it minted.
    expect(textOfResult(retry.body.result)).toBe("accept deploy {'sure': True} state=asked:deploy");
    // A replay of the same state is refused, on its second use.
    const replay = await ask(
      { ...confirm, inputResponses: answers, requestState: state },
      { 'Mcp-Run': 'mrtr-1' },
    );
    expect(replay.body.error).toMatchObject({
      code: -32602,
      message: expect.stringContaining('requestState was already used'),
    });
  });

  it('refuses a forged state, and one for another call or another session', async () => {
    const first = await ask(confirm, { 'Mcp-Run': 'mrtr-2' });
    const state = first.body.result?.requestState as string;
    const forged = `${state.slice(0, -2)}${state.endsWith('AA') ? 'BB' : 'AA'}`;
    const refusals = [
      await ask(
        { ...confirm, inputResponses: answers, requestState: forged },
        { 'Mcp-Run': 'mrtr-2' },
      ),
      await ask(
        {
          name: 'confirm',
          arguments: { action: 'delete' },
          inputResponses: answers,
          requestState: state,
        },
        { 'Mcp-Run': 'mrtr-2' },
      ),
      await ask(
        { ...confirm, inputResponses: answers, requestState: state },
        { 'Mcp-Run': 'mrtr-3' },
      ),
    ].map((answer) => answer.body.error?.message ?? `answered: ${JSON.stringify(answer.body)}`);
    expect(refusals).toEqual([
      expect.stringContaining('not issued by this gateway'),
      expect.stringContaining('belongs to another call'),
      expect.stringContaining('belongs to another session'),
    ]);
    // None of them used the state up.
    const retry = await ask(
      { ...confirm, inputResponses: answers, requestState: state },
      { 'Mcp-Run': 'mrtr-2' },
    );
    expect(textOfResult(retry.body.result)).toContain('accept deploy');
  });

  it('decides each question as the policy decides an elicitation, and refuses the call', async () => {
    const asked = await ask(
      { name: 'confirm', arguments: { action: 'delete' } },
      { 'Mcp-Run': 'mrtr-4' },
    );
    expect(asked.body.result).toMatchObject({ isError: true, resultType: 'complete' });
    expect(textOfResult(asked.body.result)).toContain(
      'asked the user (elicitation/create) and the policy refused it: upstreams may not ask users to confirm deletions',
    );
    const decided = (await gateway.auditText())
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as { input?: { action?: string; upstream?: { server?: string } } },
      )
      .filter((d) => d.input?.action === 'elicitation/create');
    expect(decided.map((d) => d.input?.upstream?.server)).toContain('pystdio');
  });

  it('lets the Python SDK pinned to 2026-07-28 answer the question itself', async () => {
    const child = spawn(
      PYTHON,
      [
        join(ROOT, 'test/python/client_check.py'),
        '--mode',
        '2026-07-28',
        '--check',
        'mrtr',
        gateway.mcpUrl,
      ],
      {
        env: { PATH: process.env.PATH ?? '', MCPGATE_TOKEN: token, PYTHONDONTWRITEBYTECODE: '1' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await new Promise((resolve) => child.once('exit', resolve));
    expect(JSON.parse(out)).toMatchObject({ check: 'mrtr', passed: true });
  }, 30_000);

  it('asks a 2026-07-28 client in the answer to its call when a 2025-11-25 upstream asks it something', async () => {
    const call = { name: 'fixture__test_elicitation', arguments: { message: 'Who are you?' } };
    const run = { 'Mcp-Run': 'held-1' };
    const first = await ask(call, run);
    expect(first.body.result).toMatchObject({
      resultType: 'input_required',
      inputRequests: {
        q1: { method: 'elicitation/create', params: { message: 'Who are you?' } },
      },
    });
    const state = first.body.result?.requestState as string;
    expect(state).toMatch(/^mcpgate1h\./);
    const answer = { q1: { action: 'accept', content: { username: 'ann', email: 'a@x.test' } } };
    const forged = `${state.slice(0, -2)}${state.endsWith('AA') ? 'BB' : 'AA'}`;
    const refused = await ask({ ...call, inputResponses: answer, requestState: forged }, run);
    expect(refused.body.error?.message).toContain('not issued by this gateway');
    // The upstream has waited for the answer all along; the retry gets the call's result.
    const retry = await ask({ ...call, inputResponses: answer, requestState: state }, run);
    expect(textOfResult(retry.body.result)).toContain('action=accept');
    expect(textOfResult(retry.body.result)).toContain('a@x.test');
    const replay = await ask({ ...call, inputResponses: answer, requestState: state }, run);
    expect(replay.body.error?.message).toContain('requestState was already used');
  });

  it('tells a 2025-11-25 client without the elicitation capability why the call cannot go on', async () => {
    const result = await client.callTool(confirm);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain(
      'upstream pystdio needs input from the user first (elicitation/create), and the gateway could not ask for it: the client of this session did not declare the elicitation.form capability',
    );
  });
});

describe('an InputRequiredResult for a 2025-11-25 client (TypeScript SDK)', () => {
  let asker: Client;
  const questions: string[] = [];
  let reply: ElicitResult = { action: 'accept', content: { sure: true } };

  beforeAll(async () => {
    asker = new Client(
      { name: 'legacy-asker', version: '1.0.0' },
      { capabilities: { elicitation: { form: {} } } },
    );
    asker.setRequestHandler(ElicitRequestSchema, (request) => {
      questions.push(request.params.message);
      return reply;
    });
    const token = await issuer.mint({ aud: gateway.mcpUrl });
    await asker.connect(
      new StreamableHTTPClientTransport(new URL(gateway.mcpUrl), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
  });

  afterAll(async () => {
    await asker?.close();
  });

  it('asks the question on the stream of the call and retries the upstream with the answer and its own state', async () => {
    for (const prefix of ['', 'pyhttp__']) {
      questions.length = 0;
      const result = await asker.callTool({
        name: `${prefix}confirm`,
        arguments: { action: 'deploy' },
      });
      expect(questions).toEqual(['Really deploy?']);
      // The upstream's state came back to it from the gateway; the client never saw it.
      expect(textOf(result)).toBe("accept deploy {'sure': True} state=asked:deploy");
    }
  });

  it('passes a declined question back as declined', async () => {
    reply = { action: 'decline' };
    try {
      const result = await asker.callTool({ name: 'confirm', arguments: { action: 'deploy' } });
      expect(textOf(result)).toBe('decline deploy None state=asked:deploy');
    } finally {
      reply = { action: 'accept', content: { sure: true } };
    }
  });

  it('decides each question: one the policy refuses is never asked, and the call is denied', async () => {
    questions.length = 0;
    const result = await asker.callTool({ name: 'confirm', arguments: { action: 'delete' } });
    expect(questions).toEqual([]);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain(
      'upstream pystdio asked the user (elicitation/create): Denied by policy: upstreams may not ask users to confirm deletions',
    );
  });

  it('answers roots/list from the configured roots, without asking the client', async () => {
    questions.length = 0;
    const result = await asker.callTool({ name: 'where', arguments: {} });
    expect(questions).toEqual([]);
    expect(textOf(result)).toBe('roots: file:///srv/pyroot');
  });

  it('stops an upstream that keeps asking after 8 rounds', async () => {
    questions.length = 0;
    const result = await asker.callTool({ name: 'nag', arguments: {} });
    expect(questions).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => `Question ${n}?`));
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain(
      'upstream pystdio still needs input from the user after 8 rounds of questions, the most the gateway asks for one call; denied',
    );
  });
});

type StreamEvent = { method?: string; params?: Record<string, unknown> };

/** Where each frame of a listen stream names the listen it belongs to. */
const SUBSCRIPTION_ID_META = 'io.modelcontextprotocol/subscriptionId';

/** A 2026-07-28 subscriptions/listen, read one event at a time. */
async function openListen(
  token: string,
  notifications: Record<string, unknown>,
  headers: Record<string, string>,
): Promise<{ response: Response; nextEvent: () => Promise<StreamEvent>; close: () => void }> {
  const aborted = new AbortController();
  const response = await postStateless(
    gateway.mcpUrl,
    token,
    'subscriptions/listen',
    { notifications },
    headers,
    aborted.signal,
  );
  const reader = response.body!.getReader();
  let buffered = '';
  const nextEvent = async (): Promise<StreamEvent> => {
    for (;;) {
      const end = buffered.indexOf('\n\n');
      if (end >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const data = block.split('\n').find((line) => line.startsWith('data: '));
        if (data) return JSON.parse(data.slice(6)) as StreamEvent;
        continue;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error('the listen stream ended');
      buffered += new TextDecoder().decode(value);
    }
  };
  return { response, nextEvent, close: () => aborted.abort() };
}

describe('resource subscriptions to a 2026-07-28 upstream', () => {
  const watched = 'note://watched';
  const secret = 'note://secret';
  const touch = async (tool: string, uri: string): Promise<void> => {
    expect(textOf(await client.callTool({ name: tool, arguments: { uri } }))).toBe(
      `touched ${uri}`,
    );
  };

  it('subscribes a 2025-11-25 client with a subscriptions/listen of the gateway, over stdio and HTTP', async () => {
    const legacy = await connectClient(gateway.mcpUrl, await issuer.mint({ aud: gateway.mcpUrl }));
    const updates: string[] = [];
    legacy.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
    });
    try {
      const stdioUri = watched; // pystdio keeps its own addresses (prefix "")
      const httpUri = `mcpgate://pyhttp/${watched}`;
      const listening = async (): Promise<number> =>
        Number(textOf(await client.callTool({ name: 'pyhttp__listening', arguments: {} })));
      const before = await listening();
      await legacy.subscribeResource({ uri: stdioUri });
      await legacy.subscribeResource({ uri: httpUri });
      expect(await listening()).toBe(before + 1);
      await touch('touch', watched);
      await touch('pyhttp__touch', watched);
      await until(() => updates.length >= 2);
      expect(updates.sort()).toEqual([httpUri, stdioUri].sort());
      // Unsubscribed: the upstream's listen for it ends, and nothing more comes.
      await legacy.unsubscribeResource({ uri: httpUri });
      // The gateway closed that listen's stream: the upstream has let go of it too.
      let now = await listening();
      for (let i = 0; i < 100 && now !== before; i++) {
        await sleep(50);
        now = await listening();
      }
      expect(now).toBe(before);
      await touch('pyhttp__touch', watched);
      await touch('touch', watched);
      await until(() => updates.length >= 3);
      await sleep(200);
      expect(updates.slice(2)).toEqual([stdioUri]);
    } finally {
      await legacy.close();
    }
  });

  it("carries a 2026-07-28 listen's updates only to sessions the policy lets see the resource", async () => {
    const token = await issuer.mint({ aud: gateway.mcpUrl });
    const plain = await openListen(
      token,
      { resourceSubscriptions: [watched, secret] },
      {
        'Mcp-Run': 'res-plain',
      },
    );
    const limited = await openListen(
      token,
      { resourceSubscriptions: [watched, secret] },
      {
        'Mcp-Run': 'res-limited',
        'Mcp-Purpose': 'no-secrets',
      },
    );
    try {
      // Every frame names its listen (the request's JSON-RPC id): one id per stream.
      const listenOf = (event: StreamEvent): unknown =>
        (event.params?._meta as Record<string, unknown> | undefined)?.[SUBSCRIPTION_ID_META];
      const acknowledged = (uris: string[]) => ({
        jsonrpc: '2.0',
        method: 'notifications/subscriptions/acknowledged',
        params: {
          notifications: { resourceSubscriptions: uris },
          _meta: { [SUBSCRIPTION_ID_META]: expect.any(Number) },
        },
      });
      const plainAck = await plain.nextEvent();
      expect(plainAck).toEqual(acknowledged([watched, secret]));
      // The policy refuses no-secrets the secret note: not honoured, never heard of.
      const limitedAck = await limited.nextEvent();
      expect(limitedAck).toEqual(acknowledged([watched]));
      expect(listenOf(limitedAck)).not.toBe(listenOf(plainAck));
      await touch('touch', secret);
      await touch('touch', watched);
      const updated = (uri: string, on: StreamEvent) => ({
        jsonrpc: '2.0',
        method: 'notifications/resources/updated',
        params: { uri, _meta: { [SUBSCRIPTION_ID_META]: listenOf(on) } },
      });
      // Two upstream listens, each update decided on its own: in either order.
      const heard = [await plain.nextEvent(), await plain.nextEvent()];
      expect(heard).toHaveLength(2);
      expect(heard).toEqual(
        expect.arrayContaining([updated(secret, plainAck), updated(watched, plainAck)]),
      );
      expect(await limited.nextEvent()).toEqual(updated(watched, limitedAck));
    } finally {
      plain.close();
      limited.close();
    }
  });
});

describe('subscriptions/listen for a 2026-07-28 client', () => {
  it('acknowledges what it honours and carries the updates of the resources it subscribed', async () => {
    const token = await issuer.mint({ aud: gateway.mcpUrl });
    const run = { 'Mcp-Run': 'listen-1' };
    const uri = 'mcpgate://updates/file:///watched';
    const { response, nextEvent, close } = await openListen(
      token,
      { toolsListChanged: true, resourceSubscriptions: [uri, 'mcpgate://no-such-upstream/x'] },
      run,
    );
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const acknowledged = await nextEvent();
    // Every frame names the listen request it belongs to: its JSON-RPC id.
    const listenId = (acknowledged.params?._meta as Record<string, unknown> | undefined)?.[
      SUBSCRIPTION_ID_META
    ];
    expect(typeof listenId).toBe('number');
    expect(acknowledged).toEqual({
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: {
        notifications: { toolsListChanged: true, resourceSubscriptions: [uri] },
        _meta: { [SUBSCRIPTION_ID_META]: listenId },
      },
    });
    const flooded = await sendStateless(
      gateway.mcpUrl,
      token,
      'tools/call',
      { name: 'updates__flood', arguments: { uri: 'file:///watched', count: 1 } },
      run,
    );
    expect(textOfResult(flooded.body.result)).toBe('sent 1');
    expect(await nextEvent()).toEqual({
      jsonrpc: '2.0',
      method: 'notifications/resources/updated',
      params: { uri, _meta: { [SUBSCRIPTION_ID_META]: listenId } },
    });
    close();
  });

  it('is not waited for at shutdown: the drain has no request left to wait for', async () => {
    const token = await issuer.mint({ aud: gateway.mcpUrl });
    const response = await postStateless(
      gateway.mcpUrl,
      token,
      'subscriptions/listen',
      { notifications: { toolsListChanged: true } },
      { 'Mcp-Run': 'listen-2' },
    );
    const reader = response.body!.getReader();
    await reader.read(); // the acknowledgement: the stream is open
    const exited = new Promise<number | null>((resolve) => gateway.child.once('exit', resolve));
    gateway.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(gateway.logs.map((line) => line.message)).not.toContain(
      'requests still in progress at the end of the drain are cut off',
    );
    await reader.cancel().catch(() => undefined);
  }, 30_000);
});
