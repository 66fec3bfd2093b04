// The relay of held 2026-07-28 calls between replicas (src/sessions/redis/relay.ts), on a
// real Redis and a real Redis Cluster: a retry reaches the replica that serves it and its
// answer comes back; a replica nobody serves is gone, one that takes a retry and does not
// answer in time timed out, and a store that does not answer fails as the store.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  HeldCallUnreachableError,
  type RelayedAnswer,
  type RelayedRetry,
} from '../../src/mcp/server/held-calls.js';
import { RedisStore } from '../../src/sessions/redis-store.js';
import { StoreUnavailableError } from '../../src/sessions/store.js';
import { silentLogger } from '../../src/util/logger.js';
import {
  startRedis,
  startRedisCluster,
  type RedisCluster,
  type RedisServer,
} from '../support/redis.js';

let redisServer: RedisServer;
let redisCluster: RedisCluster;
const opened: RedisStore[] = [];

beforeAll(async () => {
  [redisServer, redisCluster] = await Promise.all([startRedis(), startRedisCluster()]);
}, 60_000);

afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await Promise.all([redisServer?.stop(), redisCluster?.stop()]);
});

const retry: RelayedRetry = {
  nonce: 'n1',
  bound: { session: 'r1', call: 'tools/call ask', args: 'a1' },
  responses: { q1: { action: 'accept' } },
};

type Target = ConstructorParameters<typeof RedisStore>[0]['target'];

/** Two replicas on one store, each serving its own channel with `serve`. */
async function replicas(
  target: Target,
  serve: (retry: RelayedRetry) => Promise<RelayedAnswer>,
): Promise<[RedisStore, RedisStore]> {
  const prefix = `t${Math.random().toString(36).slice(2)}:`;
  const stores = [0, 1].map(
    () => new RedisStore({ target, keyPrefix: prefix, logger: silentLogger }),
  ) as [RedisStore, RedisStore];
  opened.push(...stores);
  stores[0].relay.serve('gw.one', serve);
  stores[1].relay.serve('gw.two', serve);
  await Promise.all(stores.map((s) => s.ready()));
  // The replica channels are subscribed with the events channel; give them a moment.
  await sleep(50);
  return stores;
}

const targets: Array<[string, () => Target]> = [
  ['one Redis', () => ({ kind: 'url', url: redisServer.url })],
  [
    'a Redis Cluster',
    () => ({ kind: 'cluster', nodes: redisCluster.nodes, password: redisCluster.password }),
  ],
];

describe.each(targets)('the relay of held calls on %s', (_name, target) => {
  it('carries a retry to the replica that serves it and brings its answer back', async () => {
    const heard: RelayedRetry[] = [];
    const [, two] = await replicas(target(), (r) => {
      heard.push(r);
      return Promise.resolve({ result: { content: [{ type: 'text', text: 'resumed' }] } });
    });
    const answer = await two.relay.send('gw.one', retry, 5_000);
    expect(answer).toEqual({ result: { content: [{ type: 'text', text: 'resumed' }] } });
    expect(heard).toEqual([retry]);
    const error = { error: { code: -32602, message: 'requestState was already used' } };
    const [three] = await replicas(target(), () => Promise.resolve(error));
    expect(await three.relay.send('gw.two', retry, 5_000)).toEqual(error);
  });

  it('says a replica is gone when nobody takes the retry', async () => {
    const [one] = await replicas(target(), () => Promise.resolve({ result: {} }));
    const sent = one.relay.send('gw.restarted', retry, 5_000);
    await expect(sent).rejects.toBeInstanceOf(HeldCallUnreachableError);
    await expect(sent).rejects.toMatchObject({ reason: 'gone' });
  });

  it('says the holder timed out when it takes the retry and does not answer in time', async () => {
    let slow: Promise<RelayedAnswer> | undefined;
    const [one] = await replicas(target(), () => {
      slow = sleep(1_500).then(() => ({ result: {} }));
      return slow;
    });
    const sent = one.relay.send('gw.two', retry, 300);
    await expect(sent).rejects.toMatchObject({ reason: 'timeout' });
    await slow; // the holder's late answer goes nowhere
  });
});

it('fails as the store when Redis does not answer', async () => {
  const [one] = await replicas({ kind: 'url', url: redisServer.url }, () =>
    Promise.resolve({ result: {} }),
  );
  redisServer.pause();
  try {
    await expect(one.relay.send('gw.two', retry, 5_000)).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
  } finally {
    redisServer.resume();
  }
});
