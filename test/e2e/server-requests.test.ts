// What upstreams ask of clients and log, end to end through the gateway with the SDK client
// answering: sampling and elicitation from server-everything over stdio and Streamable HTTP,
// roots from the client (stdio during a call, a per-session HTTP connection outside one),
// never to the filesystem server, whose configured roots narrow its sandbox instead; log
// messages at the session's level with namespaced loggers; a URL elicitation's completion
// to the session asked. Each question is decided by the shipped policy engine (a test
// profile allows sampling for everything and web, not for lab) and logged. Bad input, from
// the lab fixture server and raw HTTP: questions outside any call or while two sessions are
// in flight on a shared stdio connection, a question for a session that ended, a flood of
// log messages no session can be told, answers to requests the gateway never sent (or sent
// another session), a client that did not declare the capability. Nothing crosses sessions.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitationCompleteNotificationSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  type ClientCapabilities,
  type LoggingMessageNotification,
} from '@modelcontextprotocol/sdk/types.js';
import { callTool, rawPost, textOf } from './support/client.js';
import {
  ROOT,
  quickstartUpstreams,
  scratchDir,
  startGatewayProcess,
  type GatewayProcess,
} from './support/gateway.js';
import { labServer } from './support/policies.js';
import { freePort } from './support/ports.js';
import { buildInto, copyRego } from './support/rego-copy.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';

// A purpose that uses every upstream here, and lets two of them ask for sampling.
const PROFILE = `session: {purpose: asks}
sampling:
  everything: {allowed: true, max_tokens: 1000}
  web: {allowed: true}
tools:
${[
  'everything.trigger-sampling-request',
  'everything.trigger-elicitation-request',
  'everything.get-roots-list',
  'web.trigger-sampling-request',
  'web.trigger-elicitation-request',
  'webps.get-roots-list',
  'webps.toggle-simulated-logging',
  'filesystem.list_allowed_directories',
  'narrowfs.list_allowed_directories',
  ...['ask', 'ask_later', 'last_ask', 'complete_url', 'log', 'flood', 'slow'].map(
    (t) => `lab.${t}`,
  ),
  'labps.ask_later',
  'labps.last_ask',
]
  .map((id) => `  ${id}: {allowed: true}`)
  .join('\n')}
`;

const CLIENT_ROOT = 'file:///home/ada/project';
const ALL: ClientCapabilities = {
  sampling: {},
  elicitation: { form: {}, url: {} },
  roots: {},
};

let issuer: TestIssuer;
let gateway: GatewayProcess;
let web: ChildProcess;
let dir: string;

/** A client that answers every question and records what it was asked and told. */
interface Asker {
  client: Client;
  transport: StreamableHTTPClientTransport;
  asked: Array<{ method: string; params: unknown; id: string | number }>;
  logs: Array<LoggingMessageNotification['params']>;
  completed: string[];
  /** Runs before the answer to an elicitation (a test can hold it there). */
  beforeElicitationAnswer: (id: string | number) => Promise<void>;
}

async function connectAsker(capabilities: ClientCapabilities = ALL): Promise<Asker> {
  const client = new Client({ name: 'asker', version: '1.0.0' }, { capabilities });
  const asker: Asker = {
    client,
    transport: new StreamableHTTPClientTransport(new URL(gateway.mcpUrl), {
      requestInit: {
        headers: { Authorization: `Bearer ${await issuer.mint({ aud: gateway.mcpUrl })}` },
      },
    }),
    asked: [],
    logs: [],
    completed: [],
    beforeElicitationAnswer: () => Promise.resolve(),
  };
  if (capabilities.sampling) {
    client.setRequestHandler(CreateMessageRequestSchema, (req, extra) => {
      asker.asked.push({ method: req.method, params: req.params, id: extra.requestId });
      return { role: 'assistant', content: { type: 'text', text: 'sampled by ada' }, model: 'm1' };
    });
  }
  if (capabilities.elicitation) {
    client.setRequestHandler(ElicitRequestSchema, async (req, extra) => {
      asker.asked.push({ method: req.method, params: req.params, id: extra.requestId });
      await asker.beforeElicitationAnswer(extra.requestId);
      return req.params.mode === 'url'
        ? { action: 'accept' }
        : { action: 'accept', content: { name: 'Ada' } };
    });
  }
  if (capabilities.roots) {
    client.setRequestHandler(ListRootsRequestSchema, (req, extra) => {
      asker.asked.push({ method: req.method, params: req.params, id: extra.requestId });
      return { roots: [{ uri: CLIENT_ROOT, name: 'project' }] };
    });
  }
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    asker.logs.push(n.params);
  });
  client.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => {
    asker.completed.push(n.params.elicitationId);
  });
  await client.connect(asker.transport);
  return asker;
}

interface Logged {
  path: string;
  session_id: string;
  input: {
    action: string;
    upstream?: { server: string; isolation: string; transport: string };
    related?: { action: string; target?: string };
    roots?: { from: string; uris: string[] };
    catalog?: Array<{ kind: string; id: string }>;
  };
  result: { allow?: boolean; reasons?: string[] } | string[];
}

async function decisions(action: string): Promise<Logged[]> {
  return (await gateway.auditText())
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Logged)
    .filter((d) => d.input.action === action);
}

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  issuer = await startIssuer();
  const port = await freePort();
  web = spawn(join(ROOT, 'node_modules/.bin/mcp-server-everything'), ['streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve) => {
    web.stderr!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('listening')) resolve();
    });
  });
  const rego = copyRego();
  mkdirSync(join(rego, 'profiles/asks'));
  writeFileSync(join(rego, 'profiles/asks/data.yaml'), PROFILE);
  dir = scratchDir();
  const bundle = join(dir, 'bundle.tar.gz');
  buildInto(rego, bundle);
  const url = `http://127.0.0.1:${port}/mcp`;
  const filesystem = quickstartUpstreams().filesystem as Record<string, unknown>;
  gateway = await startGatewayProcess({
    issuer,
    dir,
    bundle,
    sessions: { default_purpose: 'asks' },
    upstreams: {
      everything: { ...quickstartUpstreams().everything!, roots: 'client' },
      web: { transport: 'http', url },
      webps: { transport: 'http', url, isolation: 'per-session', roots: 'client' },
      filesystem: { ...filesystem, isolation: 'per-session', roots: 'client' },
      narrowfs: {
        ...filesystem,
        isolation: 'per-session',
        roots: [`file://${join(dir, 'demo/src')}`],
      },
      lab: labServer(),
      labps: { ...labServer(), isolation: 'per-session', roots: 'client' },
    },
  });
}, 120_000);

afterAll(async () => {
  await gateway?.stop();
  if (web && web.exitCode === null) {
    const exited = new Promise((resolve) => web.once('exit', resolve));
    web.kill();
    await exited;
  }
  await issuer?.close();
});

describe('sampling and elicitation reach the client of the call', () => {
  it('sampling from a stdio upstream: answered by the client, decided with the upstream as the requester, logged', async () => {
    const ada = await connectAsker();
    const result = await callTool(ada.client, 'everything__trigger-sampling-request', {
      prompt: 'review this',
    });
    expect(textOf(result)).toContain('sampled by ada');
    expect(ada.asked.map((a) => a.method)).toEqual(['sampling/createMessage']);
    const [logged] = await decisions('sampling/createMessage');
    expect(logged?.input.upstream).toEqual({
      server: 'everything',
      isolation: 'shared',
      transport: 'stdio',
    });
    expect(logged?.input.related).toEqual({
      action: 'tools/call',
      target: 'everything.trigger-sampling-request',
    });
    expect(logged?.result).toMatchObject({ allow: true });
    expect(logged?.session_id).toBe(ada.transport.sessionId);
    await ada.client.close();
  });

  it('sampling and a form elicitation over Streamable HTTP (on the call’s own stream)', async () => {
    const ada = await connectAsker();
    const sampled = await callTool(ada.client, 'web__trigger-sampling-request', { prompt: 'hi' });
    expect(textOf(sampled)).toContain('sampled by ada');
    const elicited = await callTool(ada.client, 'web__trigger-elicitation-request');
    expect(textOf(elicited)).toContain('Name: Ada');
    expect(ada.asked.map((a) => a.method)).toEqual([
      'sampling/createMessage',
      'elicitation/create',
    ]);
    const logged = await decisions('elicitation/create');
    expect(logged.at(-1)?.input.upstream).toMatchObject({ server: 'web', transport: 'http' });
    await ada.client.close();
  });

  it('a URL elicitation; its completion reaches the session asked and no other', async () => {
    const ada = await connectAsker();
    const bob = await connectAsker();
    expect(textOf(await callTool(ada.client, 'lab__ask', { kind: 'url' }))).toContain(
      'answered: {"action":"accept"}',
    );
    await callTool(bob.client, 'lab__complete_url', { elicitation_id: 'lab-url-1' });
    await eventually(
      () => Promise.resolve(ada.completed),
      (c) => c.length > 0,
    );
    expect(ada.completed).toEqual(['lab-url-1']);
    expect(bob.completed).toEqual([]);
    await ada.client.close();
    await bob.client.close();
  });

  it('sampling the purpose does not allow: the upstream gets the reason, the client is not asked', async () => {
    const ada = await connectAsker();
    const text = textOf(await callTool(ada.client, 'lab__ask', { kind: 'sampling' }));
    expect(text).toContain(
      'refused: MCP error -32010: Denied by policy: purpose asks does not let upstream lab ask its client for sampling',
    );
    expect(ada.asked).toEqual([]);
    const logged = (await decisions('sampling/createMessage')).at(-1);
    expect(logged?.input.upstream?.server).toBe('lab');
    expect(logged?.result).toMatchObject({ allow: false });
    await ada.client.close();
  });

  it('a client that did not declare sampling is not asked; the upstream hears why', async () => {
    const plain = await connectAsker({});
    const result = await callTool(plain.client, 'everything__trigger-sampling-request', {
      prompt: 'hi',
    });
    expect(textOf(result)).toContain(
      'the client of this session did not declare the sampling capability',
    );
    await plain.client.close();
  });
});

describe('roots', () => {
  it('the client’s roots reach an upstream that asks during a call (stdio, roots: client)', async () => {
    const ada = await connectAsker();
    const text = textOf(await callTool(ada.client, 'everything__get-roots-list'));
    expect(text).toContain(CLIENT_ROOT);
    await ada.client.close();
  });

  it('a per-session HTTP connection asks for its session’s roots on no request’s stream', async () => {
    const ada = await connectAsker();
    const text = await eventually(
      async () => textOf(await callTool(ada.client, 'webps__get-roots-list')),
      (t) => t.includes(CLIENT_ROOT),
    );
    expect(text).toContain(CLIENT_ROOT);
    expect(ada.asked.some((a) => a.method === 'roots/list')).toBe(true);
    await ada.client.close();
  });

  it('a per-session connection asks its session after the call has ended: on the session’s own stream', async () => {
    const ada = await connectAsker();
    await callTool(ada.client, 'labps__ask_later', { kind: 'roots', ms: 100 });
    const outcome = await eventually(
      async () => textOf(await callTool(ada.client, 'labps__last_ask')),
      (t) => t !== 'pending',
    );
    expect(outcome).toBe(`answered: {"roots":[{"uri":"${CLIENT_ROOT}","name":"project"}]}`);
    const logged = (await decisions('roots/list')).at(-1);
    expect(logged?.input.upstream).toMatchObject({ server: 'labps', isolation: 'per-session' });
    expect(logged?.input.related).toBeUndefined();
    await ada.client.close();
  });

  it('never widens the filesystem server’s sandbox: a client’s roots are refused, configured roots narrow it', async () => {
    const ada = await connectAsker();
    await callTool(ada.client, 'filesystem__list_allowed_directories');
    const refused = await eventually(
      () => decisions('roots/list'),
      (d) => d.some((l) => l.input.upstream?.server === 'filesystem'),
    );
    const line = refused.find((l) => l.input.upstream?.server === 'filesystem');
    expect(line?.result).toMatchObject({
      allow: false,
      reasons: [
        "upstream filesystem takes the roots it is given as its sandbox, so a client's roots would widen it; configure its roots (upstreams.filesystem.roots) instead",
      ],
    });
    const demo = join(dir, 'demo');
    expect(textOf(await callTool(ada.client, 'filesystem__list_allowed_directories'))).toContain(
      demo,
    );
    const narrowed = await eventually(
      async () => textOf(await callTool(ada.client, 'narrowfs__list_allowed_directories')),
      (t) => t.includes(join(demo, 'src')),
    );
    expect(narrowed).toContain(join(demo, 'src'));
    expect(ada.asked.filter((a) => a.method === 'roots/list')).toEqual([]);
    await ada.client.close();
  });
});

describe('log messages', () => {
  it('reach the session of the call at its level, with the server in the logger name; no other session', async () => {
    const ada = await connectAsker();
    const bob = await connectAsker();
    await ada.client.setLoggingLevel('warning');
    await callTool(ada.client, 'lab__log', { levels: ['debug', 'info', 'warning', 'error'] });
    expect(ada.logs).toEqual([
      { level: 'warning', logger: 'lab/lab-logger', data: 'lab says warning' },
      { level: 'error', logger: 'lab/lab-logger', data: 'lab says error' },
    ]);
    expect(bob.logs).toEqual([]);
    const [visible] = (await decisions('notifications/message')).filter(
      (d) => d.session_id === ada.transport.sessionId,
    );
    expect(visible?.path).toBe('mcp/authz/visible');
    expect(visible?.result).toEqual(expect.arrayContaining(['lab', 'webps']));
    await ada.client.close();
    await bob.client.close();
  });

  it('a per-session connection’s messages reach its session', async () => {
    const ada = await connectAsker();
    await ada.client.setLoggingLevel('debug');
    await callTool(ada.client, 'webps__toggle-simulated-logging');
    const logs = await eventually(
      () => Promise.resolve(ada.logs),
      (l) => l.length > 0,
    );
    expect(logs[0]?.logger).toBe('webps');
    await ada.client.close();
  });
});

describe('bad input from upstreams and clients', () => {
  it('a question outside any call on a shared connection is refused, saying why', async () => {
    const ada = await connectAsker();
    await callTool(ada.client, 'lab__ask_later', { kind: 'elicitation', ms: 100 });
    // No call of any session may be in flight when lab asks: a call then would be taken for
    // the one it belongs to (stdio says nothing), so the outcome is read only afterwards.
    await sleep(600);
    const outcome = textOf(await callTool(ada.client, 'lab__last_ask'));
    expect(outcome).toContain(
      'refused: MCP error -32600: elicitation/create refused: no request is in flight on the shared connection of upstream lab',
    );
    expect(ada.asked).toEqual([]);
    expect(gateway.logs.some((l) => l.message === 'upstream request refused')).toBe(true);
    await ada.client.close();
  });

  it('while calls of two sessions are in flight on a stdio connection, neither session is asked', async () => {
    const ada = await connectAsker();
    const bob = await connectAsker();
    const slow = callTool(bob.client, 'lab__slow', { ms: 1500 });
    await sleep(200);
    const text = textOf(await callTool(ada.client, 'lab__ask', { kind: 'elicitation' }));
    expect(text).toContain('requests of 2 sessions are in flight on the shared connection');
    await slow;
    expect(ada.asked).toEqual([]);
    expect(bob.asked).toEqual([]);
    await ada.client.close();
    await bob.client.close();
  });

  it('a question for a session that has ended is refused', async () => {
    const ada = await connectAsker();
    const bob = await connectAsker();
    void callTool(ada.client, 'lab__ask', { kind: 'elicitation', wait_ms: 800 }).catch(
      () => undefined,
    );
    await sleep(200);
    await ada.transport.terminateSession();
    await sleep(1000);
    const outcome = textOf(await callTool(bob.client, 'lab__last_ask'));
    expect(outcome).toContain('elicitation/create refused');
    expect(ada.asked).toEqual([]);
    expect(bob.asked).toEqual([]);
    await ada.client.close();
    await bob.client.close();
  });

  it('a flood of log messages no session can be told is dropped, counted in /readyz and the log', async () => {
    const ada = await connectAsker();
    await ada.client.setLoggingLevel('debug');
    await callTool(ada.client, 'lab__flood', { count: 500, after_ms: 50 });
    const readyz = await eventually(
      async () =>
        (await (await fetch(`${gateway.url}/readyz`)).json()) as {
          upstream_notifications: { dropped: { unattributed: number } };
        },
      (r) => r.upstream_notifications.dropped.unattributed >= 500,
    );
    expect(readyz.upstream_notifications.dropped.unattributed).toBeGreaterThanOrEqual(500);
    expect(ada.logs).toEqual([]);
    const warning = gateway.logs.find((l) => l.message === 'upstream notifications dropped');
    expect(warning).toMatchObject({ upstream: 'lab', reason: 'unattributed' });
    await ada.client.close();
  });

  it('an answer to a request the gateway never sent, or sent another session, is refused (400)', async () => {
    const ada = await connectAsker();
    const bob = await connectAsker();
    const bobToken = await issuer.mint({ aud: gateway.mcpUrl });
    const answerAs = (id: string | number) =>
      rawPost(
        gateway.mcpUrl,
        JSON.stringify({ jsonrpc: '2.0', id, result: { action: 'accept', content: {} } }),
        {
          authorization: `Bearer ${bobToken}`,
          'mcp-session-id': bob.transport.sessionId ?? '',
        },
      );
    const forged = await answerAs('mcpgate-forged-1');
    expect(forged.status).toBe(400);
    expect(forged.text).toContain(
      'the gateway is not waiting for an answer to request id \\"mcpgate-forged-1\\" in this session',
    );
    // Bob answers the question the gateway put to Ada, while Ada's user is still typing.
    let bobsTry: { status: number; text: string } | undefined;
    ada.beforeElicitationAnswer = async (id) => {
      bobsTry = await answerAs(id);
    };
    const text = textOf(await callTool(ada.client, 'lab__ask', { kind: 'elicitation' }));
    expect(bobsTry?.status).toBe(400);
    expect(text).toBe('answered: {"action":"accept","content":{"name":"Ada"}}');
    await ada.client.close();
    await bob.client.close();
  });
});
