// The parts of what an upstream asks of a client that need no network: the capabilities
// declared to an upstream (all the gateway relays on the shared connection, the client's own
// on a per-session one, roots only where there is an answer), the stage that checks the
// request and the client's capability, the stage that loads the session again (one that has
// ended is refused), and the URL elicitations remembered for their completion.
import { describe, expect, it } from '@jest/globals';
import type { UpstreamConfig } from '../../src/config/load.js';
import type { RpcError } from '../../src/mcp/jsonrpc/errors.js';
import type { UpstreamAskAction } from '../../src/policy/input.js';
import { checkUpstreamAsk } from '../../src/pipeline/stages/check-ask.js';
import {
  checkSessionOpen,
  type SessionLoadLimits,
} from '../../src/pipeline/stages/check-session.js';
import { MAX_URL_ELICITATIONS, UrlElicitations } from '../../src/pipeline/url-elicitations.js';
import { MemoryStore } from '../../src/sessions/memory-store.js';
import { capabilitiesFor } from '../../src/upstreams/client-capabilities.js';
import { CancellationSource } from '../../src/util/cancellation.js';
import { requestContext } from './support/context.js';

const upstream = (roots: UpstreamConfig['roots']): UpstreamConfig =>
  ({ name: 'up', roots }) as UpstreamConfig;

describe('capabilitiesFor', () => {
  it('declares on the shared connection all the gateway relays; roots only where it has an answer', () => {
    const relayed = {
      sampling: { context: {}, tools: {} },
      elicitation: { form: {}, url: {} },
    };
    expect(capabilitiesFor(upstream({ from: 'config', uris: [] }), undefined)).toEqual(relayed);
    expect(capabilitiesFor(upstream({ from: 'config', uris: ['file:///a'] }), undefined)).toEqual({
      ...relayed,
      roots: {},
    });
    expect(capabilitiesFor(upstream({ from: 'client' }), undefined)).toEqual({
      ...relayed,
      roots: {},
    });
  });

  it('declares on a per-session connection only what the session’s client declared', () => {
    const client = upstream({ from: 'client' });
    expect(capabilitiesFor(client, {})).toEqual({});
    expect(
      capabilitiesFor(client, {
        sampling: { tools: {}, extra: true },
        elicitation: { url: {} },
        roots: { listChanged: true },
        experimental: {},
      }),
    ).toEqual({ sampling: { tools: {} }, elicitation: { url: {} }, roots: {} });
    // An empty elicitation capability is form mode (as 2025-06-18 clients declare it).
    expect(capabilitiesFor(client, { elicitation: {} })).toEqual({ elicitation: { form: {} } });
    // Configured roots are the gateway's answer: declared whatever the client said.
    expect(capabilitiesFor(upstream({ from: 'config', uris: ['file:///a'] }), {})).toEqual({
      roots: {},
    });
  });
});

function ask(
  action: UpstreamAskAction,
  params: Record<string, unknown>,
  client: Record<string, unknown>,
  roots: UpstreamConfig['roots'] = { from: 'client' },
) {
  const ctx = requestContext(action);
  ctx.session.record.clientCapabilities = client;
  ctx.ask = {
    server: 'up',
    isolation: 'shared',
    transport: 'stdio',
    roots,
    params,
    cancellation: new CancellationSource(),
    related: undefined,
  };
  return ctx;
}

const check = checkUpstreamAsk();

function refusal(ctx: ReturnType<typeof ask>): { rpcCode: number; message: string } | undefined {
  try {
    // The stage is synchronous: it returns its outcome, or throws the refusal.
    expect(check.run(ctx)).toBeUndefined();
    return undefined;
  } catch (err) {
    return { rpcCode: (err as RpcError).rpcCode, message: (err as Error).message };
  }
}

const SAMPLING = {
  messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }],
  maxTokens: 5,
};
const FORM = { message: 'name?', requestedSchema: { type: 'object', properties: {} } };
const URL_MODE = { mode: 'url', message: 'go', url: 'https://x.example', elicitationId: 'e1' };

describe('check what the upstream asks', () => {
  it('passes a well-formed request the client declared it can answer', () => {
    expect(refusal(ask('sampling/createMessage', SAMPLING, { sampling: {} }))).toBeUndefined();
    expect(refusal(ask('elicitation/create', FORM, { elicitation: {} }))).toBeUndefined();
    expect(refusal(ask('elicitation/create', FORM, { elicitation: { form: {} } }))).toBeUndefined();
    expect(
      refusal(ask('elicitation/create', URL_MODE, { elicitation: { url: {} } })),
    ).toBeUndefined();
    expect(refusal(ask('roots/list', {}, { roots: {} }))).toBeUndefined();
  });

  it('refuses a request that is not what its method says (invalid params)', () => {
    expect(refusal(ask('sampling/createMessage', { messages: 'hi' }, { sampling: {} }))).toEqual({
      rpcCode: -32602,
      message: expect.stringMatching(
        /^Invalid sampling\/createMessage request: params\.messages: /,
      ),
    });
    expect(
      refusal(ask('sampling/createMessage', { ...SAMPLING, task: { ttl: 1 } }, { sampling: {} }))
        ?.message,
    ).toBe('mcpgate does not relay task-augmented sampling/createMessage requests (params.task)');
  });

  it.each([
    ['sampling/createMessage', SAMPLING, {}, 'sampling'],
    [
      'sampling/createMessage',
      { ...SAMPLING, tools: [{ name: 't', inputSchema: { type: 'object' } }] },
      { sampling: {} },
      'sampling.tools',
    ],
    [
      'sampling/createMessage',
      { ...SAMPLING, includeContext: 'allServers' },
      { sampling: {} },
      'sampling.context',
    ],
    ['elicitation/create', FORM, { elicitation: { url: {} } }, 'elicitation.form'],
    ['elicitation/create', URL_MODE, { elicitation: {} }, 'elicitation.url'],
    ['roots/list', {}, {}, 'roots'],
  ] as const)('refuses %s the client cannot answer (%#)', (action, params, client, needed) => {
    expect(refusal(ask(action, params, client))).toEqual({
      rpcCode: -32601,
      message: `the client of this session did not declare the ${needed} capability, so it cannot be asked ${action}`,
    });
  });

  it('does not need the client’s roots capability for configured roots (the gateway answers)', () => {
    expect(refusal(ask('roots/list', {}, {}, { from: 'config', uris: [] }))).toBeUndefined();
  });
});

describe('the session is still open', () => {
  const limits: SessionLoadLimits = {
    historyLimit: 20,
    idleTimeoutMs: 60_000,
    rateLimits: {},
  };

  it('loads the session as it is now, and refuses one that has ended (nothing is decided)', async () => {
    const store = new MemoryStore();
    const ctx = ask('elicitation/create', FORM, { elicitation: {} });
    await store.create(ctx.session.record, 60_000);
    const stage = checkSessionOpen(store, limits);
    expect(await stage.run(ctx)).toBeUndefined();
    expect(ctx.session.summary).toBeDefined();
    await store.terminate(ctx.session.record.id, 'test');
    await expect(stage.run(ctx)).rejects.toMatchObject({
      rpcCode: -32600,
      message:
        'the session this elicitation/create is for has ended (expired or terminated); its client can no longer be asked',
    });
  });
});

describe('UrlElicitations', () => {
  it('tells the session asked, once, and only for the upstream that asked', () => {
    const asked = new UrlElicitations();
    asked.remember('lab', 'e1', 'A');
    expect(asked.take('web', 'e1')).toBeUndefined();
    expect(asked.take('lab', 'e1')).toBe('A');
    expect(asked.take('lab', 'e1')).toBeUndefined();
  });

  it('forgets a session that ended, and the oldest beyond its bound', () => {
    const asked = new UrlElicitations();
    asked.remember('lab', 'e1', 'A');
    asked.forgetSession('A');
    expect(asked.take('lab', 'e1')).toBeUndefined();
    for (let i = 0; i <= MAX_URL_ELICITATIONS; i++) asked.remember('lab', `e${i}`, 'B');
    expect(asked.take('lab', 'e0')).toBeUndefined();
    expect(asked.take('lab', `e${MAX_URL_ELICITATIONS}`)).toBe('B');
  });
});
