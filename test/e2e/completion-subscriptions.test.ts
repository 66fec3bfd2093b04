// Completion and resource subscriptions through the gateway, end to end with the TS SDK
// client, against server-everything as a stdio child (`everything`) and over Streamable
// HTTP without a prefix (`remote`, whose names and addresses are the upstream's own):
// completion/complete reaches the upstream by the prompt or template as listed and its
// values come back as far as the policy shows them; a resource update
// reaches only the sessions subscribed to it, and only while the policy lets each read it
// (a policy change withdraws one resource mid-session); unsubscribing stops it; the shipped
// code-review policy refuses what it does not allow, with its reasons.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { callTool, connectEngineer, freshRequest } from './support/client.js';
import { startEverything, type EverythingServer } from './support/everything.js';
import {
  connectFeatureClient,
  featurePolicy,
  type FeaturePolicy,
} from './support/feature-purpose.js';
import {
  quickstartUpstreams,
  startGatewayProcess,
  type GatewayProcess,
} from './support/gateway.js';
import { labServer } from './support/policies.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';

const STATIC = 'demo://resource/static/document/';
const DOC_A = `mcpgate://everything/${STATIC}architecture.md`;
const DOC_B = `mcpgate://everything/${STATIC}features.md`;
// `remote` has prefix "": its resources keep their own addresses.
const REMOTE_A = `${STATIC}architecture.md`;

let issuer: TestIssuer;
let remote: EverythingServer;
let policy: FeaturePolicy;
let gateway: GatewayProcess;

/** A feature-test session and the resource updates it has been sent. */
interface Watcher {
  client: Client;
  updates: string[];
}

async function watcher(user: string): Promise<Watcher> {
  const client = await connectFeatureClient(gateway.mcpUrl, issuer, user);
  const updates: string[] = [];
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    updates.push(n.params.uri);
  });
  return { client, updates };
}

async function until(what: string, done: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Logged {
  path: string;
  session_id?: string;
  req_id?: unknown;
  input: {
    action: string;
    resource?: { id: string };
    completion?: { ref: { id: string }; argument: { value: string } };
  };
  result: { allow?: boolean; reasons?: string[] } | string[];
}

async function decisions(): Promise<Logged[]> {
  return (await gateway.auditText())
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Logged);
}

function sessionOf(client: Client): string {
  const transport = client.transport as { sessionId?: string } | undefined;
  return transport?.sessionId ?? '';
}

/** server-everything sends an update of every subscribed URI when updates are switched on. */
async function toggleUpdates(client: Client, server: 'everything' | 'remote'): Promise<void> {
  const prefix = server === 'remote' ? '' : `${server}__`;
  const result = await callTool(client, `${prefix}toggle-subscriber-updates`);
  expect(result.isError ?? false).toBe(false);
}

beforeAll(async () => {
  issuer = await startIssuer();
  remote = await startEverything('streamableHttp');
  policy = featurePolicy();
  gateway = await startGatewayProcess({
    issuer,
    bundle: policy.bundle,
    upstreams: {
      everything: quickstartUpstreams().everything,
      remote: { transport: 'http', url: remote.url, prefix: '' },
      lab: labServer(),
    },
  });
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  remote?.stop();
  await issuer?.close();
});

describe('capabilities', () => {
  it('declares completions, resource subscriptions and tasks, which the upstreams offer', async () => {
    const { client } = await watcher('caps');
    const capabilities = client.getServerCapabilities();
    expect(capabilities?.completions).toEqual({});
    expect(capabilities?.resources).toEqual({ listChanged: true, subscribe: true });
    expect(capabilities?.tasks?.requests?.tools?.call).toEqual({});
    await client.close();
  });
});

describe('completion/complete', () => {
  let alice: Watcher;
  beforeAll(async () => {
    alice = await watcher('alice-completes');
  });
  afterAll(async () => {
    await alice?.client.close();
  });

  it('completes a prompt argument by its namespaced name; the policy hides a value', async () => {
    const { completion } = await alice.client.complete({
      ref: { type: 'ref/prompt', name: 'everything__completable-prompt' },
      argument: { name: 'department', value: '' },
    });
    expect(completion.values).toEqual(['Engineering', 'Marketing', 'Support']);
    // A total would count the hidden value.
    expect(completion.total).toBeUndefined();
    const logged = await decisions();
    const decided = logged.filter(
      (d) => d.input.action === 'completion/complete' && d.session_id === sessionOf(alice.client),
    );
    expect(decided.map((d) => d.path)).toEqual(['mcp/authz/decision', 'mcp/authz/visible']);
    expect(decided[0]?.input.completion?.ref.id).toBe('everything.completable-prompt');
    expect(decided[1]?.result).toEqual(['Engineering', 'Marketing', 'Support']);
  });

  it('passes the arguments already chosen to the upstream', async () => {
    const { completion } = await alice.client.complete({
      ref: { type: 'ref/prompt', name: 'everything__completable-prompt' },
      argument: { name: 'name', value: '' },
      context: { arguments: { department: 'Engineering' } },
    });
    expect(completion.values).toEqual(['Alice', 'Bob', 'Charlie']);
  });

  it('completes a resource template of an unprefixed Streamable HTTP upstream as listed', async () => {
    const { completion } = await alice.client.complete({
      ref: {
        type: 'ref/resource',
        uri: 'demo://resource/dynamic/text/{resourceId}',
      },
      argument: { name: 'resourceId', value: '7' },
    });
    expect(completion.values).toEqual(['7']);
  });

  it('refuses an unknown prompt or template before anything is decided', async () => {
    await expect(
      alice.client.complete({
        ref: { type: 'ref/prompt', name: 'everything__no-such-prompt' },
        argument: { name: 'x', value: '' },
      }),
    ).rejects.toMatchObject({ code: -32602, message: expect.stringContaining('unknown prompt') });
    await expect(
      alice.client.complete({
        ref: { type: 'ref/resource', uri: 'mcpgate://everything/demo://nothing/{x}' },
        argument: { name: 'x', value: '' },
      }),
    ).rejects.toMatchObject({
      code: -32602,
      message: expect.stringContaining('unknown resource template'),
    });
  });

  it('is refused where the shipped code-review policy does not allow it', async () => {
    const reviewer = await connectEngineer(gateway.mcpUrl, issuer);
    await expect(
      reviewer.complete({
        ref: { type: 'ref/prompt', name: 'everything__completable-prompt' },
        argument: { name: 'department', value: 'E' },
      }),
    ).rejects.toMatchObject({
      code: -32010,
      message: expect.stringContaining(
        'completion for everything.completable-prompt is not allowed',
      ),
    });
    await reviewer.close();
  });
});

describe('resource subscriptions', () => {
  let alice: Watcher;
  let bob: Watcher;
  beforeAll(async () => {
    alice = await watcher('alice-subscribes');
    bob = await watcher('bob-subscribes');
    await alice.client.subscribeResource({ uri: DOC_A });
    await alice.client.subscribeResource({ uri: DOC_B });
    await alice.client.subscribeResource({ uri: REMOTE_A });
    await bob.client.subscribeResource({ uri: DOC_B });
  });
  afterAll(async () => {
    await alice?.client.close();
    await bob?.client.close();
  });

  it('delivers an update only to the sessions subscribed to it, under the address it was subscribed by', async () => {
    await toggleUpdates(alice.client, 'everything');
    await toggleUpdates(alice.client, 'remote');
    await until(
      'the first updates',
      () =>
        [DOC_A, DOC_B, REMOTE_A].every((u) => alice.updates.includes(u)) &&
        bob.updates.includes(DOC_B),
    );
    expect(new Set(bob.updates)).toEqual(new Set([DOC_B]));
    const delivered = (await decisions()).filter(
      (d) => d.input.action === 'notifications/resources/updated',
    );
    expect(delivered.length).toBeGreaterThanOrEqual(4);
    // Not a request of the client's: no request id; each names its session.
    for (const d of delivered) expect(d.req_id).toBeNull();
    expect(new Set(delivered.map((d) => d.session_id))).toEqual(
      new Set([sessionOf(alice.client), sessionOf(bob.client)]),
    );
  });

  it('stops delivering a resource the session may no longer read (the policy changed)', async () => {
    const revision = policy.amend(`deny contains "architecture.md was withdrawn" if {
\tdata.mcp.lib.tools.reads_resource
\tendswith(input.resource.uri, "architecture.md")
}`);
    await until('the new policy', async () => {
      // A connection of its own: a pooled one can be closed by the gateway as it goes out.
      const ready = JSON.parse((await freshRequest(`${gateway.url}/readyz`)).text) as {
        policy: { revision?: string };
      };
      return ready.policy.revision === revision;
    });
    const before = (await decisions()).length;
    alice.updates.length = 0;
    // Off and on again: server-everything sends every subscribed URI at once.
    await toggleUpdates(alice.client, 'everything');
    await toggleUpdates(alice.client, 'everything');
    const refusal = async (): Promise<Logged | undefined> =>
      (await decisions())
        .slice(before)
        .find(
          (d) =>
            d.input.action === 'notifications/resources/updated' &&
            d.session_id === sessionOf(alice.client) &&
            d.input.resource?.id === `everything:${STATIC}architecture.md`,
        );
    await until('the refused delivery', async () => (await refusal()) !== undefined);
    await until('the allowed update', () => alice.updates.includes(DOC_B));
    expect((await refusal())?.result).toMatchObject({
      allow: false,
      reasons: ['architecture.md was withdrawn'],
    });
    expect(alice.updates).not.toContain(DOC_A);
  });

  it('stops delivering after unsubscribe, and other sessions keep theirs', async () => {
    await alice.client.unsubscribeResource({ uri: DOC_B });
    const before = (await decisions()).length;
    bob.updates.length = 0;
    alice.updates.length = 0;
    await toggleUpdates(bob.client, 'everything');
    await toggleUpdates(bob.client, 'everything');
    await until('bob’s update', () => bob.updates.includes(DOC_B));
    const aliceDeliveries = (await decisions())
      .slice(before)
      .filter(
        (d) =>
          d.input.action === 'notifications/resources/updated' &&
          d.session_id === sessionOf(alice.client),
      );
    expect(aliceDeliveries.map((d) => d.input.resource?.id)).not.toContain(
      `everything:${STATIC}features.md`,
    );
    expect(alice.updates).not.toContain(DOC_B);
  });

  it('refuses, with the shipped policy, what code-review may not read', async () => {
    const reviewer = await connectEngineer(gateway.mcpUrl, issuer);
    await expect(reviewer.subscribeResource({ uri: DOC_B })).resolves.toEqual({});
    await expect(
      reviewer.subscribeResource({ uri: 'mcpgate://everything/demo://resource/dynamic/text/1' }),
    ).rejects.toMatchObject({
      code: -32010,
      message: expect.stringContaining(
        'resource everything:demo://resource/dynamic/text/1 is not allowed',
      ),
    });
    await reviewer.close();
  });

  it('refuses a subscription to an upstream that offers none', async () => {
    await expect(
      alice.client.subscribeResource({ uri: 'mcpgate://lab/x://y' }),
    ).rejects.toMatchObject({
      code: -32602,
      message: expect.stringContaining('upstream lab does not offer resource subscriptions'),
    });
  });

  it('holds at most 100 subscriptions per session, and says how to free one', async () => {
    const carol = await watcher('carol-subscribes');
    for (let i = 0; i < 100; i++) {
      await carol.client.subscribeResource({ uri: `mcpgate://everything/demo://carol/${i}` });
    }
    // Subscribing again to one it holds takes no more.
    await carol.client.subscribeResource({ uri: 'mcpgate://everything/demo://carol/0' });
    await expect(
      carol.client.subscribeResource({ uri: 'mcpgate://everything/demo://carol/100' }),
    ).rejects.toMatchObject({
      code: -32010,
      message: expect.stringContaining(
        'this session holds 100 resource subscriptions, the most it may; unsubscribe from one',
      ),
    });
    await carol.client.unsubscribeResource({ uri: 'mcpgate://everything/demo://carol/0' });
    await expect(
      carol.client.subscribeResource({ uri: 'mcpgate://everything/demo://carol/100' }),
    ).resolves.toEqual({});
    await carol.client.close();
  });
});
