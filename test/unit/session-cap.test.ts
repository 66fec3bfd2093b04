// sessions.max_sessions_per_principal in the store: MemoryStore and RedisStore refuse a
// user's session beyond the cap, count across replicas and under concurrent opens, and free
// a place when a session ends (terminated or idle). RedisStore runs on one redis-server, on
// a Redis Cluster (the user's set of sessions in the user's hash slot, apart from the
// sessions' slots) and through Redis Sentinel, each a real set-up on loopback.
import { describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisStore, type ReplicaAck } from '../../src/sessions/redis-store.js';
import {
  StoreUnavailableError,
  type SessionRecord,
  type SessionStore,
} from '../../src/sessions/store.js';
import { silentLogger } from '../../src/util/logger.js';
import { keysMatching, REPLICA_ACK, useRedisSetups, type Setup } from './support/redis-setups.js';

const HOUR = 3_600_000;

const redis = useRedisSetups();

function recordOf(principal: string): SessionRecord {
  return {
    id: `s${randomUUID()}`,
    principal,
    subject: principal.split('\u0000')[1] ?? principal,
    purpose: 'default',
    createdAt: Date.now(),
    expiresAt: null,
    protocolVersion: '2025-11-25',
    clientInfo: null,
    clientCapabilities: {},
  };
}

function user(): string {
  return `https://idp.example.com\u0000user-${randomUUID()}`;
}

/** How a test reaches one of the three Redis set-ups. */
interface Deployment {
  name: string;
  setup: Setup;
  /** What the configuration gives this form by default. */
  replicaAck: ReplicaAck | undefined;
}

const deployments: Deployment[] = [
  { name: 'one redis-server', setup: 'server', replicaAck: undefined },
  { name: 'a Redis Cluster', setup: 'cluster', replicaAck: REPLICA_ACK },
  { name: 'Redis Sentinel', setup: 'sentinel', replicaAck: REPLICA_ACK },
];

function redisStore(
  deployment: Deployment,
  keyPrefix = 'cap:',
  replicaAck = deployment.replicaAck,
): RedisStore {
  return redis.closeAfterTest(
    new RedisStore({
      target: redis.target(deployment.setup),
      keyPrefix,
      logger: silentLogger,
      // No test here is about a slow Redis: a loaded machine must not fail one with a timeout.
      commandTimeoutMs: 2000,
      ...(replicaAck ? { replicaAck } : {}),
    }),
  );
}

describe.each([
  { name: 'MemoryStore', open: (): SessionStore => redis.memoryStore() },
  ...deployments.map((deployment) => ({
    name: `RedisStore on ${deployment.name}`,
    open: (): SessionStore => redisStore(deployment),
  })),
])('$name: sessions per principal', ({ open: makeStore }) => {
  it('creates up to the cap, then refuses that user only', async () => {
    const store = makeStore();
    const alice = user();
    for (let i = 0; i < 3; i++) {
      expect(await store.create(recordOf(alice), HOUR, 3)).toEqual({ kind: 'created' });
    }
    const refused = recordOf(alice);
    expect(await store.create(refused, HOUR, 3)).toEqual({
      kind: 'principal_full',
      open: 3,
      limit: 3,
    });
    expect(await store.load(refused.id, 0, [])).toBeUndefined();
    expect(await store.create(recordOf(user()), HOUR, 3)).toEqual({ kind: 'created' });
    // Without a cap nothing is counted against one.
    expect(await store.create(recordOf(alice), HOUR)).toEqual({ kind: 'created' });
  });

  it('gives a place back when a session is terminated', async () => {
    const store = makeStore();
    const alice = user();
    const first = recordOf(alice);
    await store.create(first, HOUR, 2);
    await store.create(recordOf(alice), HOUR, 2);
    expect((await store.create(recordOf(alice), HOUR, 2)).kind).toBe('principal_full');
    await store.terminate(first.id, 'closed by client (DELETE)');
    expect((await store.create(recordOf(alice), HOUR, 2)).kind).toBe('created');
  });

  it('gives a place back when a session ends unused', async () => {
    const store = makeStore();
    const alice = user();
    await store.create(recordOf(alice), 150, 1);
    expect((await store.create(recordOf(alice), 150, 1)).kind).toBe('principal_full');
    await sleep(250);
    expect((await store.create(recordOf(alice), 150, 1)).kind).toBe('created');
  });

  it('lets no more than the cap through when opens race', async () => {
    const store = makeStore();
    const alice = user();
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, () => store.create(recordOf(alice), HOUR, 4)),
    );
    expect(outcomes.filter((o) => o.kind === 'created')).toHaveLength(4);
  });
});

describe.each(deployments)(
  'RedisStore on $name: the count is shared and kept alive by use',
  (deployment) => {
    it('counts one user across replicas sharing the Redis, also when they race', async () => {
      const replicas = [0, 1, 2].map(() => redisStore(deployment, 'shared:'));
      const alice = user();
      const outcomes = await Promise.all(
        Array.from({ length: 9 }, (_, i) => replicas[i % 3]!.create(recordOf(alice), HOUR, 5)),
      );
      expect(outcomes.filter((o) => o.kind === 'created')).toHaveLength(5);
      expect(await replicas[0]!.create(recordOf(alice), HOUR, 5)).toEqual({
        kind: 'principal_full',
        open: 5,
        limit: 5,
      });
    });

    it('gives the count a TTL, restarted by every load that names the user', async () => {
      const store = redisStore(deployment, 'ttl:');
      const raw = redis.raw(deployment.setup);
      const alice = user();
      const session = recordOf(alice);
      await store.create(session, 1000, 3);
      const [key] = await keysMatching(raw, 'ttl:o:*');
      expect(key).toMatch(/^ttl:o:\{u\.[A-Za-z0-9_-]{22}\}$/);
      const afterCreate = await raw.pttl(key!);
      // idleMs plus the slack that covers one request's load-to-record time.
      expect(afterCreate).toBeGreaterThan(1000);
      expect(afterCreate).toBeLessThanOrEqual(61_000);
      await store.load(session.id, 0, [], { principal: alice, idleMs: HOUR });
      expect(await raw.pttl(key!)).toBeGreaterThan(HOUR);
      expect(await raw.zrange(key!, '0', '-1')).toEqual([session.id]);
    });

    it('when full, drops the sessions that ended unused and keeps counting the used ones', async () => {
      const store = redisStore(deployment, 'gone:');
      const raw = redis.raw(deployment.setup);
      const alice = user();
      const idleMs = 300;
      const unused = recordOf(alice);
      const used = recordOf(alice);
      await store.create(unused, idleMs, 2);
      await store.create(used, idleMs, 2);
      for (let i = 0; i < 4; i++) {
        await sleep(100);
        await store.load(used.id, 0, [], { principal: alice, idleMs });
      }
      const third = recordOf(alice);
      expect((await store.create(third, idleMs, 2)).kind).toBe('created');
      const [key] = await keysMatching(raw, 'gone:o:*');
      expect((await raw.zrange(key!, '0', '-1')).sort()).toEqual([used.id, third.id].sort());
      expect((await store.create(recordOf(alice), idleMs, 2)).kind).toBe('principal_full');
    });

    it('gives the place back when no replica confirms the new session', async () => {
      // Two replicas asked for, one (or, on one redis-server, none) there: never confirmed.
      const unconfirmed = redisStore(deployment, 'unacked:', { replicas: 2, timeoutMs: 100 });
      const alice = user();
      const error = await unconfirmed.create(recordOf(alice), HOUR, 1).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(StoreUnavailableError);
      // On a cluster the user's place is on another primary than the session, so the claim
      // waits for a replica of its own, and is what is refused first.
      const what =
        deployment.name === 'a Redis Cluster'
          ? "the new session's place among its user's sessions"
          : 'the new session';
      expect((error as Error).message).toMatch(
        new RegExp(
          `is unavailable: ${what} was not confirmed by 2 replicas within 100 ms \\(\\d confirmed\\); it was not opened$`,
        ),
      );
      // The refused session took no place: a cap of 1 still has room.
      expect((await redisStore(deployment, 'unacked:').create(recordOf(alice), HOUR, 1)).kind).toBe(
        'created',
      );
    });
  },
);

describe('RedisStore on a Redis Cluster: where the count lives', () => {
  it("keeps a user's set of sessions in the slot of the user's counters", async () => {
    const deployment = deployments[1]!;
    const store = redisStore(deployment, 'slots:');
    const raw = redis.raw('cluster');
    const alice = user();
    const sessions = [recordOf(alice), recordOf(alice), recordOf(alice)];
    for (const session of sessions) await store.create(session, HOUR, 5);
    const [key] = await keysMatching(raw, 'slots:o:*');
    const slotOf = async (k: string): Promise<number> =>
      Number(await raw.call('CLUSTER', 'KEYSLOT', k));
    const tag = /\{(u\.[A-Za-z0-9_-]{22})\}/.exec(key!)?.[1];
    expect(await slotOf(key!)).toBe(await slotOf(`slots:r:{${tag}}:3600000:0:user:${alice}`));
    expect((await raw.zrange(key!, '0', '-1')).sort()).toEqual(sessions.map((s) => s.id).sort());
  });
});
