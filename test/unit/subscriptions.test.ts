// The resource subscriptions a process holds (pipeline/subscriptions.ts), over a real
// upstream connection to a fixture stdio server: one upstream subscription per connection
// and URI however many sessions hold it, released by the last; an update goes only to the
// sessions subscribed to that URI; a flood of updates folds into few deliveries per
// session, the last update included (nothing piles up); a reconnected upstream is
// subscribed again.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { join, resolve } from 'node:path';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { parseConfig } from '../../src/config/load.js';
import {
  ResourceSubscriptions,
  type DeliveryFacts,
  type Subscriber,
} from '../../src/pipeline/subscriptions.js';
import { UpstreamConnection } from '../../src/upstreams/connection.js';
import { silentLogger } from '../../src/util/logger.js';
import { requestContext } from './support/context.js';

const FIXTURE = resolve(import.meta.dirname, '../fixtures/servers/updates-server.js');

let connection: UpstreamConnection;

/** Deliveries as the subscriptions asked for them; each waits until `release` is called. */
class Deliveries {
  readonly seen: Array<{ session: string; uri: string }> = [];
  private held: Array<() => void> = [];
  private holding = false;

  readonly deliver = async (_server: string, uri: string, subscriber: Subscriber) => {
    this.seen.push({ session: subscriber.sessionId, uri });
    if (this.holding) await new Promise<void>((r) => this.held.push(r));
  };

  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
    for (const r of this.held.splice(0)) r();
  }

  of(session: string): string[] {
    return this.seen.filter((s) => s.session === session).map((s) => s.uri);
  }
}

function facts(sessionId: string): DeliveryFacts {
  const ctx = requestContext('resources/subscribe');
  return {
    caller: ctx.caller,
    session: { ...ctx.session, record: { ...ctx.session.record, id: sessionId } },
    protocolVersion: undefined,
  };
}

async function tool(name: string, args: Record<string, unknown> = {}): Promise<string> {
  const result: CallToolResult = await connection.callTool({ name, arguments: args }, {});
  const [first] = result.content;
  return first?.type === 'text' ? first.text : '';
}

async function upstreamHolds(): Promise<{ uris: string[]; subscribes: number }> {
  return JSON.parse(await tool('subscribed')) as { uris: string[]; subscribes: number };
}

async function until(what: string, done: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let deliveries: Deliveries;
let subscriptions: ResourceSubscriptions;

beforeAll(async () => {
  const [config] = parseConfig(
    {
      auth: { issuers: [{ profile: 'oidc', issuer: 'https://idp.example.com' }] },
      policy: { bundle: 'b' },
      upstreams: {
        updates: {
          transport: 'stdio',
          command: process.execPath,
          args: [FIXTURE],
          restart: { initial_delay_ms: 50, max_delay_ms: 200 },
        },
      },
    },
    join(FIXTURE, '..'),
  ).upstreams;
  connection = new UpstreamConnection(config!, silentLogger, 'shared');
  await connection.start();
});

afterAll(async () => {
  await connection?.close();
});

beforeEach(() => {
  deliveries = new Deliveries();
  subscriptions = new ResourceSubscriptions(deliveries.deliver, silentLogger);
});

describe('ResourceSubscriptions', () => {
  it('subscribes upstream once per URI and lets go with the last session', async () => {
    const before = (await upstreamHolds()).subscribes;
    await subscriptions.subscribe(connection, 'u://shared', facts('a'), {});
    await subscriptions.subscribe(connection, 'u://shared', facts('b'), {});
    await subscriptions.subscribe(connection, 'u://shared', facts('a'), {});
    expect(await upstreamHolds()).toEqual({ uris: ['u://shared'], subscribes: before + 1 });
    expect(subscriptions.count('a')).toBe(1);

    await subscriptions.unsubscribe('a', 'updates', 'u://shared', {});
    expect((await upstreamHolds()).uris).toEqual(['u://shared']);
    await subscriptions.releaseSession('b');
    expect((await upstreamHolds()).uris).toEqual([]);
    expect(subscriptions.count('b')).toBe(0);
  });

  it('delivers an update only to the sessions subscribed to its URI', async () => {
    await subscriptions.subscribe(connection, 'u://one', facts('a'), {});
    await subscriptions.subscribe(connection, 'u://two', facts('b'), {});
    await tool('flood', { uri: 'u://two', count: 1 });
    await tool('flood', { uri: 'u://nobody', count: 1 });
    await until('the delivery', () => deliveries.seen.length > 0);
    expect(deliveries.seen).toEqual([{ session: 'b', uri: 'u://two' }]);
    await subscriptions.releaseSession('a');
    await subscriptions.releaseSession('b');
  });

  it('folds a flood into one delivery in progress and one after it, per session', async () => {
    await subscriptions.subscribe(connection, 'u://busy', facts('a'), {});
    await subscriptions.subscribe(connection, 'u://busy', facts('b'), {});
    deliveries.hold();
    // The upstream's notifications arrive before the tool's result (one ordered stream).
    expect(await tool('flood', { uri: 'u://busy', count: 2000 })).toBe('sent 2000');
    expect(deliveries.of('a')).toEqual(['u://busy']);
    expect(deliveries.of('b')).toEqual(['u://busy']);
    deliveries.release();
    // One more each: the updates that came while the first was delivered.
    await until('the folded deliveries', () => deliveries.seen.length === 4);
    await new Promise((r) => setTimeout(r, 50));
    expect(deliveries.of('a')).toEqual(['u://busy', 'u://busy']);
    expect(deliveries.of('b')).toEqual(['u://busy', 'u://busy']);
    await subscriptions.releaseSession('a');
    await subscriptions.releaseSession('b');
  });

  it('subscribes again when the upstream comes back after a crash', async () => {
    await subscriptions.subscribe(connection, 'u://kept', facts('a'), {});
    const ready = new Promise<void>((r) => connection.once('ready', () => r()));
    await tool('crash');
    await ready;
    await until('the new subscription', async () =>
      (await upstreamHolds()).uris.includes('u://kept'),
    );
    await tool('flood', { uri: 'u://kept', count: 1 });
    await until('the delivery', () => deliveries.of('a').includes('u://kept'));
    await subscriptions.releaseSession('a');
  });
});
