// The three real Redis set-ups the session store suites run against: one redis-server, a
// Redis Cluster and Redis Sentinel, started once before a test file and stopped after it;
// and what a test opens on them (stores, plain clients), closed after each test.
import { afterAll, afterEach, beforeAll } from '@jest/globals';
import { Cluster, Redis } from 'ioredis';
import { MemoryStore } from '../../../src/sessions/memory-store.js';
import type { ReplicaAck } from '../../../src/sessions/redis-store.js';
import type { RedisTarget } from '../../../src/sessions/redis/target.js';
import {
  startRedis,
  startRedisCluster,
  startRedisSentinel,
  type RedisCluster,
  type RedisSentinelSetup,
  type RedisServer,
} from '../../support/redis.js';

/** What the configuration gives a cluster or Sentinel store by default (command timeout 500). */
export const REPLICA_ACK: ReplicaAck = { replicas: 1, timeoutMs: 250 };

/** One redis-server, a Redis Cluster, or a primary with its replica behind Redis Sentinel. */
export type Setup = 'server' | 'cluster' | 'sentinel';

export interface RedisSetups {
  server(): RedisServer;
  cluster(): RedisCluster;
  sentinel(): RedisSentinelSetup;
  /** The store's target on each set-up, as the configuration's url, nodes and sentinels forms make it. */
  target(setup: Setup): RedisTarget;
  /** A plain ioredis client of the set-up (the Sentinels' primary), to look at what a store wrote; closed after the current test. */
  raw(setup: 'server' | 'sentinel'): Redis;
  raw(setup: 'cluster'): Cluster;
  raw(setup: Setup): Redis | Cluster;
  /** Closes it after the current test; returns it. */
  closeAfterTest<T extends { close(): Promise<unknown> }>(opened: T): T;
  /** A MemoryStore closed after the current test. */
  memoryStore(): MemoryStore;
}

/** Registers the file's hooks: call it once, at the top level of a test file. */
export function useRedisSetups(): RedisSetups {
  let server: RedisServer | undefined;
  let cluster: RedisCluster | undefined;
  let sentinel: RedisSentinelSetup | undefined;
  const opened: Array<{ close(): Promise<unknown> }> = [];

  beforeAll(async () => {
    [server, cluster, sentinel] = await Promise.all([
      startRedis(),
      startRedisCluster(),
      startRedisSentinel(),
    ]);
  }, 30_000);

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((each) => each.close()));
  });

  afterAll(async () => {
    await Promise.all([server?.stop(), cluster?.stop(), sentinel?.stop()]);
  });

  const started = <T>(setup: T | undefined, what: string): T => {
    if (setup === undefined) throw new Error(`${what} has not been started`);
    return setup;
  };
  const setups: RedisSetups = {
    server: () => started(server, 'redis-server'),
    cluster: () => started(cluster, 'the Redis Cluster'),
    sentinel: () => started(sentinel, 'the Redis Sentinel set-up'),
    target: (setup) => {
      switch (setup) {
        case 'server':
          return { kind: 'url', url: setups.server().url };
        case 'cluster': {
          const { nodes, password } = setups.cluster();
          return { kind: 'cluster', nodes, password };
        }
        case 'sentinel': {
          const { sentinels, name, password, sentinelPassword } = setups.sentinel();
          return { kind: 'sentinel', sentinels, name, password, sentinelPassword };
        }
      }
    },
    raw: ((setup: Setup): Redis | Cluster => {
      let client: Redis | Cluster;
      if (setup === 'server') client = new Redis(setups.server().url);
      else if (setup === 'cluster') {
        const { nodes, password } = setups.cluster();
        client = new Cluster(nodes, { redisOptions: { password } });
      } else {
        const { sentinels, name, password, sentinelPassword } = setups.sentinel();
        client = new Redis({ sentinels, name, password, sentinelPassword });
      }
      setups.closeAfterTest({ close: () => client.quit().catch(() => undefined) });
      return client;
    }) as RedisSetups['raw'],
    closeAfterTest: (each) => {
      opened.push(each);
      return each;
    },
    memoryStore: () => setups.closeAfterTest(new MemoryStore()),
  };
  return setups;
}

/** The keys matching a pattern, on every primary of a cluster. */
export async function keysMatching(raw: Redis | Cluster, pattern = '*'): Promise<string[]> {
  if (!(raw instanceof Cluster)) return raw.keys(pattern);
  await raw.ping(); // connected, so the primaries are known
  const perNode = await Promise.all(raw.nodes('master').map((node) => node.keys(pattern)));
  return perNode.flat();
}
