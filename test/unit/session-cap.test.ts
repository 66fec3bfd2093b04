// sessions.max_sessions_per_principal in the store: MemoryStore and RedisStore (a real
// redis-server) refuse a user's session beyond the cap, count across replicas and under
// concurrent opens, and free a place when a session ends (terminated or idle).
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { MemoryStore } from '../../src/sessions/memory-store.js';
import { RedisStore } from '../../src/sessions/redis-store.js';
import type { SessionRecord, SessionStore } from '../../src/sessions/store.js';
import { silentLogger } from '../../src/util/logger.js';
import { startRedis, type RedisServer } from '../support/redis.js';

const HOUR = 3_600_000;
let redis: RedisServer;
const opened: Array<{ close(): Promise<unknown> }> = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

afterAll(async () => {
  await redis?.stop();
});

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

function memoryStore(): MemoryStore {
  const store = new MemoryStore();
  opened.push(store);
  return store;
}

function redisStore(keyPrefix = 'cap:'): RedisStore {
  const store = new RedisStore({ url: redis.url, keyPrefix, logger: silentLogger });
  opened.push(store);
  return store;
}

describe.each([
  ['MemoryStore', () => memoryStore()],
  ['RedisStore', () => redisStore()],
])('%s: sessions per principal', (_name, makeStore: () => SessionStore) => {
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

describe('RedisStore: the count is shared and kept alive by use', () => {
  it('counts one user across replicas sharing the Redis, also when they race', async () => {
    const replicas = [redisStore('shared:'), redisStore('shared:'), redisStore('shared:')];
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
    const store = redisStore('ttl:');
    const raw = new Redis(redis.url);
    opened.push({ close: () => raw.quit() });
    const alice = user();
    const session = recordOf(alice);
    await store.create(session, 1000, 3);
    const [key] = await raw.keys('ttl:o:*');
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
    const store = redisStore('gone:');
    const raw = new Redis(redis.url);
    opened.push({ close: () => raw.quit() });
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
    const [key] = await raw.keys('gone:o:*');
    expect((await raw.zrange(key!, '0', '-1')).sort()).toEqual([used.id, third.id].sort());
    expect((await store.create(recordOf(alice), idleMs, 2)).kind).toBe('principal_full');
  });
});
