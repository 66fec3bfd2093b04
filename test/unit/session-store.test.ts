// The session store: one behavioural suite run against MemoryStore, and RedisStore on one
// redis-server and on a Redis Cluster (six nodes: three primaries with a replica each), then
// what only Redis can show, on one redis-server, the cluster and through Redis Sentinel (a
// primary, a replica, three Sentinels): several replicas on one Redis, TTLs on every key,
// hash slots, atomicity under concurrency, and Redis hanging, stopping, coming back on the
// same port and failing over. All real processes on loopback reached with the real ioredis
// client; nothing mocked.
import { describe, expect, it } from '@jest/globals';
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cluster, Redis } from 'ioredis';
import { RedisStore, type ReplicaAck } from '../../src/sessions/redis-store.js';
import type { RedisTarget } from '../../src/sessions/redis/target.js';
import type { HistoryEntry } from '../../src/sessions/session.js';
import {
  StoreUnavailableError,
  type RateLimitRule,
  type RecordOutcome,
  type SessionRecord,
  type SessionStore,
  MAX_SESSION_LABELS,
  MAX_SESSION_SKETCHES,
  minuteOf,
} from '../../src/sessions/store.js';
import { argumentProvenance, sketchOf } from '../../src/inspect/provenance.js';
import { silentLogger } from '../../src/util/logger.js';
import { keysMatching, REPLICA_ACK, useRedisSetups } from './support/redis-setups.js';

const HOUR = 3_600_000;

const redis = useRedisSetups();

function openRedisStore(
  target: RedisTarget,
  keyPrefix?: string,
  replicaAck?: ReplicaAck,
  commandTimeoutMs?: number,
): RedisStore {
  return redis.closeAfterTest(
    new RedisStore({
      target,
      keyPrefix,
      logger: silentLogger,
      ...(commandTimeoutMs === undefined ? {} : { commandTimeoutMs }),
      ...(replicaAck ? { replicaAck } : {}),
    }),
  );
}

/**
 * A store on the one redis-server. Its command timeout is 2 s unless a test is about the
 * timeout (the configuration's default, 500 ms): a loaded machine must not fail the others.
 */
function redisStore(keyPrefix?: string, commandTimeoutMs = 2000): RedisStore {
  return openRedisStore(redis.target('server'), keyPrefix, undefined, commandTimeoutMs);
}

/** A store on the cluster, as the configuration's nodes form makes it (replica_ack on). */
function clusterStore(keyPrefix?: string): RedisStore {
  return openRedisStore(redis.target('cluster'), keyPrefix, REPLICA_ACK);
}

/** A store on the primary the Sentinels name, as the sentinels form makes it. */
function sentinelStore(keyPrefix?: string): RedisStore {
  return openRedisStore(redis.target('sentinel'), keyPrefix, REPLICA_ACK);
}

function makeRecord(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const user = `alice-${randomUUID()}`;
  return {
    id: randomUUID(),
    principal: `https://idp.example.com/\u0000${user}`,
    subject: user,
    purpose: 'review PR #42 — résumé ✓',
    createdAt: Date.now(),
    expiresAt: Date.now() + HOUR,
    protocolVersion: '2025-06-18',
    clientInfo: { name: 'inspector', version: '1.2.3' },
    clientCapabilities: {
      roots: { listChanged: true },
      sampling: {},
      experimental: { x: [1, 'two', null] },
    },
    ...overrides,
  };
}

/**
 * The key of a user's set of sessions under the default prefix: its hash tag is the first 22
 * base64url characters of the sha256 of the principal (as docs/scaling.md describes it).
 */
function ownerKey(principal: string): string {
  return `mcpgate:o:{u.${createHash('sha256').update(principal).digest('base64url').slice(0, 22)}}`;
}

/** Unix ns of call n (past 2^53, as real times are). */
function atNs(n: number): number {
  return (1_700_000_000_000 + n) * 1_000_000;
}

function entry(n: number, allowed = true, target = `fs.read_${n}`): HistoryEntry {
  return {
    action: 'tools/call',
    target,
    args_digest: `digest-${n}`,
    allowed,
    at_ns: atNs(n),
  };
}

/** A limit on the calls of the session (counted with it: on a cluster, in its slot). */
function sessionRule(
  name: string,
  record: SessionRecord,
  limit: number,
  windowMs = HOUR,
  key = `session:${record.id}`,
): RateLimitRule {
  return { name, key, scope: { kind: 'session' }, limit, windowMs };
}

/** A limit on the calls of the session's user, over all their sessions. */
function userRule(
  name: string,
  record: SessionRecord,
  limit: number,
  windowMs = HOUR,
  key = `user:${record.principal}`,
): RateLimitRule {
  return { name, key, scope: { kind: 'user', principal: record.principal }, limit, windowMs };
}

function options(
  rateRules: RateLimitRule[] = [],
  historyLimit = 50,
  idleMs = HOUR,
  summaryLimit = 256,
) {
  return { historyLimit, summaryLimit, idleMs, rateRules };
}

/** Waits, if needed, until at least needMs are left in the current fixed window. */
async function roomInWindow(windowMs: number, needMs: number): Promise<void> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < needMs) await sleep(left + 5);
}

/** Resolves with the first termination a store's listeners hear about. */
function nextTermination(store: SessionStore): Promise<{ id: string; reason: string }> {
  return new Promise((resolve) => store.onTerminated((id, reason) => resolve({ id, reason })));
}

function rejectAfter(ms: number, what: string): Promise<never> {
  return sleep(ms).then(() => {
    throw new Error(`${what} did not happen within ${ms} ms`);
  });
}

/** Polls fn until it resolves (returning its value) or timeoutMs passes (rethrowing). */
async function eventually<T>(fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

/** The promise must reject with StoreUnavailableError, and soon (a generous bound). */
async function unavailable(promise: Promise<unknown>): Promise<StoreUnavailableError> {
  const started = Date.now();
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(StoreUnavailableError);
  expect(Date.now() - started).toBeLessThan(2000);
  return error as StoreUnavailableError;
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

describe.each([
  { name: 'MemoryStore', backend: 'memory', open: (): SessionStore => redis.memoryStore() },
  { name: 'RedisStore', backend: 'redis', open: (): SessionStore => redisStore() },
  { name: 'RedisStore on a Redis Cluster', backend: 'redis', open: () => clusterStore() },
])('$name', ({ backend, open }) => {
  it('loads a created session with every record field, no history, zero counters', async () => {
    const store = open();
    const full = makeRecord();
    const bare = makeRecord({ expiresAt: null, clientInfo: null, clientCapabilities: {} });
    await store.create(full, HOUR);
    await store.create(bare, HOUR);
    expect(await store.load(full.id, 10, [])).toEqual({
      record: full,
      history: [],
      summary: { targets: {}, untracked: 0 },
      counters: { calls: 0, denied: 0 },
      rates: {},
    });
    expect((await store.load(bare.id, 10, []))?.record).toEqual(bare);
  });

  it('keeps the DLP context: labels (each once, sorted) and finding counts by type', async () => {
    const store = open();
    const record = makeRecord();
    await store.create(record, HOUR);
    expect((await store.load(record.id, 10, []))?.dlp).toBeUndefined();
    expect(await store.recordFindings(record.id, ['secret', 'pii'], { secret: 2, pii: 1 })).toBe(
      true,
    );
    expect(
      await store.recordFindings(record.id, ['secret', 'injection'], { secret: 1, injection: 3 }),
    ).toBe(true);
    expect((await store.load(record.id, 10, []))?.dlp).toEqual({
      labels: ['injection', 'pii', 'secret'],
      findingCounts: { secret: 3, pii: 1, injection: 3 },
    });
    expect(await store.recordFindings(randomUUID(), ['secret'], { secret: 1 })).toBe(false);
  });

  it('keeps at most MAX_SESSION_LABELS labels and finding types', async () => {
    const store = open();
    const record = makeRecord();
    await store.create(record, HOUR);
    const many = Array.from({ length: MAX_SESSION_LABELS + 5 }, (_, i) => `l${i}`);
    await store.recordFindings(record.id, many, Object.fromEntries(many.map((l) => [l, 1])));
    const dlp = (await store.load(record.id, 10, []))?.dlp;
    expect(dlp?.labels).toHaveLength(MAX_SESSION_LABELS);
    expect(Object.keys(dlp?.findingCounts ?? {})).toHaveLength(MAX_SESSION_LABELS);
  });

  it('keeps the behaviour state: calls per minute, novelty, and sketches merged by label', async () => {
    const store = open();
    const record = makeRecord();
    await store.create(record, HOUR);
    expect((await store.load(record.id, 10, []))?.behaviour).toBeUndefined();
    const minute = minuteOf(Date.now());
    const update = (m: number, novelNgrams = 0, novelTools = 0) => ({
      ...options(),
      behaviour: { minute: m, novelNgrams, novelTools },
    });
    await store.recordCall(record.id, entry(1), update(minute - 12));
    await store.recordCall(record.id, entry(2), update(minute - 1, 1, 1));
    await store.recordCall(record.id, entry(3, false), update(minute, 1));
    await store.recordCall(record.id, entry(4), update(minute));
    // A call recorded without a behaviour update leaves the state alone.
    await store.recordCall(record.id, entry(5), options());
    const first = sketchOf(['Northwind Traders renews in March']);
    const second = sketchOf(['Contoso negotiates a discount']);
    await store.recordFindings(record.id, ['private'], {}, { private: first });
    await store.recordFindings(record.id, [], {}, { private: second, secret: second });
    const behaviour = (await store.load(record.id, 10, []))?.behaviour;
    // The minute twelve minutes ago is out of the window.
    expect(behaviour?.minutes).toEqual([
      [minute - 1, 1],
      [minute, 2],
    ]);
    expect(behaviour?.novelNgrams).toBe(2);
    expect(behaviour?.novelTools).toBe(1);
    const merged = Uint8Array.from(first, (byte, i) => byte | (second[i] as number));
    expect(behaviour?.sketches).toEqual({ private: merged, secret: second });
    expect(
      argumentProvenance({ q: 'northwind traders renews' }, behaviour?.sketches ?? {})?.labels,
    ).toEqual(['private']);
  });

  it(`keeps at most ${MAX_SESSION_SKETCHES} sketches`, async () => {
    const store = open();
    const record = makeRecord();
    await store.create(record, HOUR);
    const sketch = sketchOf(['some result text']);
    const labels = Array.from({ length: MAX_SESSION_SKETCHES + 2 }, (_, i) => `l${i}`);
    await store.recordFindings(
      record.id,
      [],
      {},
      Object.fromEntries(labels.map((l) => [l, sketch])),
    );
    const sketches = (await store.load(record.id, 10, []))?.behaviour?.sketches ?? {};
    expect(Object.keys(sketches)).toHaveLength(MAX_SESSION_SKETCHES);
  });

  it('does not know ids it never created', async () => {
    const store = open();
    expect(await store.load(randomUUID(), 10, [])).toBeUndefined();
    expect(await store.recordCall(randomUUID(), entry(1), options())).toEqual({ kind: 'gone' });
    expect(await store.terminate(randomUUID(), 'test')).toBe(false);
  });

  it('keeps history oldest first, trimmed to historyLimit', async () => {
    const store = open();
    const record = makeRecord();
    await store.create(record, HOUR);
    for (let n = 1; n <= 5; n++) {
      expect(await store.recordCall(record.id, entry(n), options([], 3))).toEqual({
        kind: 'recorded',
      });
    }
    expect((await store.load(record.id, 10, []))?.history).toEqual([entry(3), entry(4), entry(5)]);
    expect((await store.load(record.id, 2, []))?.history).toEqual([entry(4), entry(5)]);
    expect((await store.load(record.id, 0, []))?.history).toEqual([]);
    expect((await store.load(record.id, 10, []))?.counters).toEqual({ calls: 5, denied: 0 });
  });

  it('counts calls and denied calls; historyLimit 0 keeps no history', async () => {
    const store = open();
    const record = makeRecord();
    await store.create(record, HOUR);
    await store.recordCall(record.id, entry(1), options());
    await store.recordCall(record.id, entry(2, false), options());
    await store.recordCall(record.id, entry(3), options());
    await store.recordCall(record.id, entry(4, false), options());
    const loaded = await store.load(record.id, 10, []);
    expect(loaded?.counters).toEqual({ calls: 4, denied: 2 });
    expect(loaded?.history).toEqual([entry(1), entry(2, false), entry(3), entry(4, false)]);

    await store.recordCall(record.id, entry(5), options([], 0));
    const after = await store.load(record.id, 10, []);
    expect(after?.history).toEqual([]);
    expect(after?.counters).toEqual({ calls: 5, denied: 2 });
  });

  it('summarises the whole session by action and target, beyond the history window', async () => {
    const store = open();
    const record = makeRecord();
    await store.create(record, HOUR);
    const read = (n: number, allowed = true): HistoryEntry => entry(n, allowed, 'fs.read');
    const prompt: HistoryEntry = { ...read(5), action: 'prompts/get' };
    // Targets no object key may be mistaken for, and a newline (the Redis field separator).
    const odd: HistoryEntry = { ...entry(6), action: 'resources/read', target: '__proto__' };
    const multiline: HistoryEntry = {
      ...entry(7, false),
      action: 'resources/read',
      target: 'a:x\ny z',
    };
    for (const e of [read(1), read(2, false), read(3), entry(4), prompt, odd, multiline]) {
      expect(await store.recordCall(record.id, e, options([], 2))).toEqual({ kind: 'recorded' });
    }
    const loaded = await store.load(record.id, 10, []);
    expect(loaded?.history).toEqual([odd, multiline]);
    expect(loaded?.summary).toEqual({
      targets: {
        'tools/call': {
          'fs.read': { allowed: 2, denied: 1, last_ns: atNs(3) },
          'fs.read_4': { allowed: 1, denied: 0, last_ns: atNs(4) },
        },
        // The prompt of the same id is its own target.
        'prompts/get': { 'fs.read': { allowed: 1, denied: 0, last_ns: atNs(5) } },
        'resources/read': {
          ['__proto__']: { allowed: 1, denied: 0, last_ns: atNs(6) },
          'a:x\ny z': { allowed: 0, denied: 1, last_ns: atNs(7) },
        },
      },
      untracked: 0,
    });
    expect(Object.keys(loaded?.summary?.targets['resources/read'] ?? {})).toContain('__proto__');
    expect(loaded?.counters).toEqual({ calls: 7, denied: 2 });
  });

  it('holds at most summaryLimit targets; calls of further new targets count as untracked', async () => {
    const store = open();
    const record = makeRecord();
    await store.create(record, HOUR);
    const limited = options([], 5, HOUR, 2);
    for (const e of [entry(1), entry(2), entry(3), entry(4, false), entry(5, true, 'fs.read_1')]) {
      expect(await store.recordCall(record.id, e, limited)).toEqual({ kind: 'recorded' });
    }
    const loaded = await store.load(record.id, 10, []);
    expect(loaded?.summary).toEqual({
      targets: {
        'tools/call': {
          // A target already summarised keeps counting.
          'fs.read_1': { allowed: 2, denied: 0, last_ns: atNs(5) },
          'fs.read_2': { allowed: 1, denied: 0, last_ns: atNs(2) },
        },
      },
      untracked: 2,
    });
    expect(loaded?.history).toHaveLength(5);
    expect(loaded?.counters).toEqual({ calls: 5, denied: 1 });
    // Memory rejects synchronously, Redis asynchronously: either way nothing is recorded.
    await expect(
      Promise.resolve().then(() =>
        store.recordCall(record.id, entry(6), { ...limited, summaryLimit: -1 }),
      ),
    ).rejects.toThrow(RangeError);
  });

  it('ends a session idle for idleMs; load and recordCall restart the idle time', async () => {
    const store = open();
    const record = makeRecord();
    await store.create(record, 400);
    await sleep(250);
    expect(await store.load(record.id, 10, [])).toBeDefined();
    await sleep(250); // 500 ms after create, 250 after the load
    expect(await store.recordCall(record.id, entry(1), options([], 10, 400))).toEqual({
      kind: 'recorded',
    });
    await sleep(250);
    expect(await store.load(record.id, 10, [])).toBeDefined();
    await sleep(600);
    expect(await store.load(record.id, 10, [])).toBeUndefined();
    expect(await store.recordCall(record.id, entry(2), options([], 10, 400))).toEqual({
      kind: 'gone',
    });
    expect((await store.list()).map((r) => r.id)).not.toContain(record.id);
  });

  it('ends a session at expiresAt, however much it is used', async () => {
    const store = open();
    const record = makeRecord({ expiresAt: Date.now() + 400 });
    await store.create(record, HOUR);
    expect(await store.load(record.id, 10, [])).toBeDefined();
    await sleep(200);
    expect(await store.recordCall(record.id, entry(1), options())).toEqual({ kind: 'recorded' });
    await sleep(300);
    expect(await store.load(record.id, 10, [])).toBeUndefined();
    expect(await store.recordCall(record.id, entry(2), options())).toEqual({ kind: 'gone' });

    const stale = makeRecord({ expiresAt: Date.now() - 1 });
    await store.create(stale, HOUR);
    expect(await store.load(stale.id, 10, [])).toBeUndefined();
  });

  it('allows N calls per window, then rate-limits without counting or recording anything', async () => {
    const store = open();
    const record = makeRecord();
    await store.create(record, HOUR);
    const rules = [userRule('user', record, 100), sessionRule('session', record, 3)];
    await roomInWindow(HOUR, 10_000);
    for (let n = 1; n <= 3; n++) {
      expect(await store.recordCall(record.id, entry(n), options(rules))).toEqual({
        kind: 'recorded',
      });
    }
    const limited = await store.recordCall(record.id, entry(4), options(rules));
    expect(limited).toMatchObject({
      kind: 'rate_limited',
      rule: 'session',
      limit: 3,
      windowMs: HOUR,
    });
    const retryAfterMs = limited.kind === 'rate_limited' ? limited.retryAfterMs : NaN;
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(HOUR);

    const loaded = await store.load(record.id, 10, rules);
    expect(loaded?.rates).toEqual({ user: 3, session: 3 }); // the user rule did not count it
    expect(loaded?.counters).toEqual({ calls: 3, denied: 0 });
    expect(loaded?.history).toEqual([entry(1), entry(2), entry(3)]);
    expect(Object.keys(loaded?.summary?.targets['tools/call'] ?? {})).not.toContain('fs.read_4');

    // A limit of 0 refuses the first call.
    const closed = userRule('tool:x', record, 0, HOUR, `user:${record.principal}:tool:x`);
    expect(await store.recordCall(record.id, entry(5), options([closed]))).toMatchObject({
      kind: 'rate_limited',
      rule: 'tool:x',
      limit: 0,
    });
  });

  it('counts again once the window rolls over', async () => {
    const store = open();
    const record = makeRecord();
    await store.create(record, HOUR);
    const rules = [sessionRule('session', record, 2, 600)];
    await roomInWindow(600, 350);
    expect(await store.recordCall(record.id, entry(1), options(rules))).toEqual({
      kind: 'recorded',
    });
    expect(await store.recordCall(record.id, entry(2), options(rules))).toEqual({
      kind: 'recorded',
    });
    const limited = await store.recordCall(record.id, entry(3), options(rules));
    expect(limited.kind).toBe('rate_limited');
    const retryAfterMs = limited.kind === 'rate_limited' ? limited.retryAfterMs : NaN;
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(600);
    await sleep(retryAfterMs + 20);
    expect(await store.recordCall(record.id, entry(4), options(rules))).toEqual({
      kind: 'recorded',
    });
    expect((await store.load(record.id, 10, rules))?.rates).toEqual({ session: 1 });
  });

  it('shares a user-key rule between sessions of one user, but not a session-key rule', async () => {
    const store = open();
    const first = makeRecord();
    const second = makeRecord({ principal: first.principal, subject: first.subject });
    const other = makeRecord();
    for (const record of [first, second, other]) await store.create(record, HOUR);
    const rulesOf = (record: SessionRecord): RateLimitRule[] => [
      sessionRule('session', record, 2),
      userRule('user', record, 3),
    ];
    await roomInWindow(HOUR, 10_000);
    expect(await store.recordCall(first.id, entry(1), options(rulesOf(first)))).toEqual({
      kind: 'recorded',
    });
    expect(await store.recordCall(first.id, entry(2), options(rulesOf(first)))).toEqual({
      kind: 'recorded',
    });
    expect(await store.recordCall(second.id, entry(3), options(rulesOf(second)))).toEqual({
      kind: 'recorded',
    });
    expect((await store.load(first.id, 10, rulesOf(first)))?.rates).toEqual({
      session: 2,
      user: 3,
    });
    expect((await store.load(second.id, 10, rulesOf(second)))?.rates).toEqual({
      session: 1,
      user: 3,
    });
    // The second session has room of its own, but the user's window is full.
    expect(await store.recordCall(second.id, entry(4), options(rulesOf(second)))).toMatchObject({
      kind: 'rate_limited',
      rule: 'user',
    });
    // Another user is not affected.
    expect(await store.recordCall(other.id, entry(5), options(rulesOf(other)))).toEqual({
      kind: 'recorded',
    });
    expect((await store.load(other.id, 10, rulesOf(other)))?.rates).toEqual({
      session: 1,
      user: 1,
    });
  });

  it('records denied calls but never counts them against rate limits', async () => {
    const store = open();
    const record = makeRecord();
    await store.create(record, HOUR);
    const rules = [sessionRule('session', record, 1)];
    await roomInWindow(HOUR, 10_000);
    for (let n = 1; n <= 3; n++) {
      expect(await store.recordCall(record.id, entry(n, false), options(rules))).toEqual({
        kind: 'recorded',
      });
    }
    expect((await store.load(record.id, 10, rules))?.rates).toEqual({ session: 0 });
    expect(await store.recordCall(record.id, entry(4), options(rules))).toEqual({
      kind: 'recorded',
    });
    expect((await store.recordCall(record.id, entry(5), options(rules))).kind).toBe('rate_limited');
    const loaded = await store.load(record.id, 10, rules);
    expect(loaded?.counters).toEqual({ calls: 4, denied: 3 });
    expect(loaded?.history).toHaveLength(4);
  });

  it('counts a call once when two rules share one counter', async () => {
    const store = open();
    const record = makeRecord();
    await store.create(record, HOUR);
    const key = `session:${record.id}`;
    const rules = [
      sessionRule('session', record, 5, HOUR, key),
      sessionRule('policy:session', record, 2, HOUR, key),
    ];
    await roomInWindow(HOUR, 10_000);
    await store.recordCall(record.id, entry(1), options(rules));
    expect((await store.load(record.id, 10, rules))?.rates).toEqual({
      session: 1,
      'policy:session': 1,
    });
    await store.recordCall(record.id, entry(2), options(rules));
    expect(await store.recordCall(record.id, entry(3), options(rules))).toMatchObject({
      kind: 'rate_limited',
      rule: 'policy:session',
    });
  });

  it('never mixes the history or counters of two sessions', async () => {
    const store = open();
    const a = makeRecord();
    const b = makeRecord({ principal: a.principal, subject: a.subject });
    await store.create(a, HOUR);
    await store.create(b, HOUR);
    await store.recordCall(a.id, entry(1), options());
    await store.recordCall(b.id, entry(2, false), options());
    await store.recordCall(a.id, entry(3), options());
    const loadedA = await store.load(a.id, 10, []);
    const loadedB = await store.load(b.id, 10, []);
    expect(loadedA?.history).toEqual([entry(1), entry(3)]);
    expect(loadedA?.counters).toEqual({ calls: 2, denied: 0 });
    expect(loadedB?.history).toEqual([entry(2, false)]);
    expect(loadedB?.counters).toEqual({ calls: 1, denied: 1 });
  });

  it('terminates a session: gone everywhere, listeners told once', async () => {
    const store = open();
    const record = makeRecord();
    const kept = makeRecord();
    await store.create(record, HOUR);
    await store.create(kept, HOUR);
    const heard: Array<[string, string]> = [];
    store.onTerminated((id, reason) => heard.push([id, reason]));
    expect(await store.terminate(record.id, 'revoked by admin')).toBe(true);
    expect(heard).toEqual([[record.id, 'revoked by admin']]); // before terminate() resolved
    expect(await store.load(record.id, 10, [])).toBeUndefined();
    expect(await store.recordCall(record.id, entry(1), options())).toEqual({ kind: 'gone' });
    expect(await store.terminate(record.id, 'again')).toBe(false);
    await sleep(200); // a published copy must not reach this replica's listeners again
    expect(heard).toHaveLength(1);
    expect(await store.load(kept.id, 10, [])).toBeDefined();
  });

  it('keeps an end note: left by terminate for the idle time, and set by noteEnd', async () => {
    const store = open();
    const record = makeRecord();
    await store.create(record, HOUR);
    expect(await store.endOf(record.id)).toBeUndefined();
    const before = Date.now();
    await store.terminate(record.id, 'terminated by policy obligation');
    const end = await store.endOf(record.id);
    expect(end?.reason).toBe('terminated by policy obligation');
    expect(end?.at).toBeGreaterThanOrEqual(before);
    // A session that never existed leaves no note when "terminated".
    const never = makeRecord();
    await store.terminate(never.id, 'nothing');
    expect(await store.endOf(never.id)).toBeUndefined();
    const noted = makeRecord();
    await store.noteEnd(
      noted.id,
      { at: 42, reason: 'its lifetime (TTL) ran out' },
      Date.now() + 150,
    );
    expect(await store.endOf(noted.id)).toEqual({ at: 42, reason: 'its lifetime (TTL) ran out' });
    await sleep(300);
    expect(await store.endOf(noted.id)).toBeUndefined();
  });

  it('takes a token once, whichever replica asks, until it may be forgotten', async () => {
    const store = open();
    const other = open();
    const token = randomUUID();
    expect(await store.claimOnce(token, Date.now() + 150)).toBe(true);
    expect(await store.claimOnce(token, Date.now() + 150)).toBe(false);
    // Replicas share a Redis; two memory stores are two processes.
    expect(await other.claimOnce(token, Date.now() + 150)).toBe(backend === 'memory');
    await sleep(300);
    expect(await store.claimOnce(token, Date.now() + 150)).toBe(true);
  });

  it('lists the live sessions only', async () => {
    const store = open();
    const a = makeRecord({ createdAt: Date.now() - 2000 });
    const b = makeRecord({ createdAt: Date.now() - 1000 });
    const idle = makeRecord();
    const terminated = makeRecord();
    await store.create(a, HOUR);
    await store.create(b, HOUR);
    await store.create(idle, 100);
    await store.create(terminated, HOUR);
    await store.terminate(terminated.id, 'test');
    await sleep(250);
    const ours = new Set([a.id, b.id, idle.id, terminated.id]);
    const listed = (await store.list()).filter((r) => ours.has(r.id));
    expect(listed.map(({ lastUsedAt: _lastUsed, ...record }) => record)).toEqual([a, b]);
  });

  it('lists when each session was last used: load and recordCall are uses, listing is not', async () => {
    const store = open();
    const record = makeRecord();
    const created = Date.now();
    await store.create(record, HOUR);
    const lastUsed = async (): Promise<number | undefined> =>
      (await store.list()).find((r) => r.id === record.id)?.lastUsedAt;
    const first = await lastUsed();
    expect(first).toBeGreaterThanOrEqual(created);
    expect(first).toBeLessThanOrEqual(Date.now());
    await sleep(30);
    expect(await lastUsed()).toBe(first);
    await store.load(record.id, 10, []);
    const loaded = await lastUsed();
    expect(loaded).toBeGreaterThanOrEqual((first ?? 0) + 30);
    await sleep(30);
    await store.recordCall(record.id, entry(1), options());
    expect(await lastUsed()).toBeGreaterThanOrEqual((loaded ?? 0) + 30);
  });

  it('reports itself healthy once connected', async () => {
    const store = open();
    await eventually(
      () => Promise.resolve(expect(store.health()).toEqual({ ok: true, backend })),
      5000,
    );
  });
});

describe('MemoryStore hands out its own frozen state', () => {
  it('refuses changes to a loaded record or history entry, and its state stays as recorded', async () => {
    const store = redis.memoryStore();
    const record = makeRecord();
    await store.create(record, HOUR);
    await store.recordCall(record.id, entry(1), options());
    const loaded = await store.load(record.id, 50, []);
    expect(() => {
      loaded!.record.clientCapabilities.sampling = 'changed';
    }).toThrow(TypeError);
    expect(() => {
      loaded!.history[0]!.allowed = false;
    }).toThrow(TypeError);
    // The caller's own record was copied at create, and stays the caller's to change.
    record.purpose = 'changed after create';
    const again = await store.load(record.id, 50, []);
    expect(again?.record.purpose).toBe('review PR #42 — résumé ✓');
    expect(again?.record.clientCapabilities).toEqual(makeRecord().clientCapabilities);
    expect(again?.history).toEqual([entry(1)]);
  });
});

describe.each([
  {
    name: 'one redis-server',
    open: redisStore,
    raw: (): Redis | Cluster => redis.raw('server'),
    cluster: false,
  },
  {
    name: 'a Redis Cluster',
    open: clusterStore,
    raw: (): Redis | Cluster => redis.raw('cluster'),
    cluster: true,
  },
  {
    name: 'Redis Sentinel',
    open: sentinelStore,
    raw: (): Redis | Cluster => redis.raw('sentinel'),
    cluster: false,
  },
])('RedisStore replicas sharing $name', ({ open, raw: openRaw, cluster: onCluster }) => {
  it('reports ok once connected and subscribed', async () => {
    const store = open();
    await store.ready();
    expect(store.health()).toEqual({ ok: true, backend: 'redis' });
  });

  it('lets two replicas see the same session, history and counters', async () => {
    const a = open();
    const b = open();
    const record = makeRecord();
    await a.create(record, HOUR);
    expect((await b.load(record.id, 10, []))?.record).toEqual(record);
    const rules = [sessionRule('session', record, 3)];
    await roomInWindow(HOUR, 10_000);
    expect(await a.recordCall(record.id, entry(1), options(rules))).toEqual({ kind: 'recorded' });
    expect(await b.recordCall(record.id, entry(2), options(rules))).toEqual({ kind: 'recorded' });
    expect(await a.recordCall(record.id, entry(3, false), options(rules))).toEqual({
      kind: 'recorded',
    });
    expect(await b.recordCall(record.id, entry(4), options(rules))).toEqual({ kind: 'recorded' });
    expect((await a.recordCall(record.id, entry(5), options(rules))).kind).toBe('rate_limited');
    for (const store of [a, b]) {
      const loaded = await store.load(record.id, 10, rules);
      expect(loaded?.history).toEqual([entry(1), entry(2), entry(3, false), entry(4)]);
      expect(loaded?.summary?.targets['tools/call']).toEqual({
        'fs.read_1': { allowed: 1, denied: 0, last_ns: atNs(1) },
        'fs.read_2': { allowed: 1, denied: 0, last_ns: atNs(2) },
        'fs.read_3': { allowed: 0, denied: 1, last_ns: atNs(3) },
        'fs.read_4': { allowed: 1, denied: 0, last_ns: atNs(4) },
      });
      expect(loaded?.counters).toEqual({ calls: 4, denied: 1 });
      expect(loaded?.rates).toEqual({ session: 3 });
    }
  });

  it('deletes every key of a terminated session, the summary too', async () => {
    const store = open();
    const record = makeRecord();
    await store.create(record, HOUR);
    await store.recordCall(record.id, entry(1), options());
    const raw = openRaw();
    const keys = ['s', 'h', 't'].map((kind) => `mcpgate:${kind}:{${record.id}}`);
    expect(await raw.exists(...keys)).toBe(3);
    expect(await store.terminate(record.id, 'test')).toBe(true);
    expect(await raw.exists(...keys)).toBe(0);
  });

  it('fails closed on a malformed summary, changing nothing', async () => {
    const store = open();
    const record = makeRecord();
    await store.create(record, HOUR);
    await store.recordCall(record.id, entry(1), options());
    const raw = openRaw();
    await raw.hset(`mcpgate:t:{${record.id}}`, 'tools/call\nfs.read_1', 'garbage');
    await expect(store.recordCall(record.id, entry(1), options())).rejects.toThrow(
      StoreUnavailableError,
    );
    await expect(store.load(record.id, 10, [])).rejects.toThrow(/malformed summary/);
    expect(await raw.hget(`mcpgate:s:{${record.id}}`, 'calls')).toBe('1');
  });

  it('knows no session whose id would move the hash tag, and keeps none', async () => {
    const store = open();
    for (const id of ['}', '}x', 'a}b', '']) {
      expect(await store.load(id, 10, [])).toBeUndefined();
      expect(await store.recordCall(id, entry(1), options())).toEqual({ kind: 'gone' });
      expect(await store.terminate(id, 'test')).toBe(false);
      await expect(store.create(makeRecord({ id }), HOUR)).rejects.toThrow(RangeError);
    }
    // A brace the tag tolerates is an id like any other.
    const braced = makeRecord({ id: `{${randomUUID()}` });
    await store.create(braced, HOUR);
    expect((await store.load(braced.id, 10, []))?.record).toEqual(braced);
    // Healthy afterwards; polled, because on a loaded machine a store opened just now may
    // still be subscribing to the termination channel.
    await eventually(
      () => Promise.resolve(expect(store.health()).toEqual({ ok: true, backend: 'redis' })),
      5000,
    );
  });

  it('tells the other replicas about a termination within 1 s', async () => {
    const a = open();
    const b = open();
    const c = open();
    await Promise.all([a.ready(), b.ready(), c.ready()]);
    const record = makeRecord();
    await a.create(record, HOUR);
    const heardByB = nextTermination(b);
    const heardByC = nextTermination(c);
    expect(await a.terminate(record.id, 'policy: terminate_session')).toBe(true);
    const expected = { id: record.id, reason: 'policy: terminate_session' };
    await expect(Promise.race([heardByB, rejectAfter(1000, 'notification')])).resolves.toEqual(
      expected,
    );
    await expect(Promise.race([heardByC, rejectAfter(1000, 'notification')])).resolves.toEqual(
      expected,
    );
    expect(await b.load(record.id, 10, [])).toBeUndefined();
  });

  it('counts exactly up to the limit under 50 concurrent calls from two replicas', async () => {
    const a = open();
    const b = open();
    const record = makeRecord();
    await a.create(record, HOUR);
    const rules = [sessionRule('session', record, 10), userRule('user', record, 1000)];
    await roomInWindow(HOUR, 10_000);
    const outcomes: RecordOutcome[] = await Promise.all(
      Array.from({ length: 50 }, (_, n) =>
        (n % 2 ? a : b).recordCall(record.id, entry(n), options(rules, 100)),
      ),
    );
    expect(outcomes.filter((o) => o.kind === 'recorded')).toHaveLength(10);
    expect(outcomes.filter((o) => o.kind === 'rate_limited')).toHaveLength(40);
    const loaded = await a.load(record.id, 100, rules);
    expect(loaded?.counters).toEqual({ calls: 10, denied: 0 });
    expect(loaded?.history).toHaveLength(10);
    // The 40 refused calls are in neither counter (on a cluster: taken back from the user's).
    expect(loaded?.rates).toEqual({ session: 10, user: 10 });
  });

  it('lets one user, over two sessions and two replicas, make no call beyond their limit', async () => {
    const a = open();
    const b = open();
    const first = makeRecord();
    const second = makeRecord({ principal: first.principal, subject: first.subject });
    await a.create(first, HOUR);
    await a.create(second, HOUR);
    const rulesOf = (record: SessionRecord): RateLimitRule[] => [
      sessionRule('session', record, 5),
      userRule('user', record, 8),
    ];
    await roomInWindow(HOUR, 10_000);
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, (_, n) => {
        const record = n % 2 ? first : second;
        return (n % 4 < 2 ? a : b).recordCall(record.id, entry(n), options(rulesOf(record), 100));
      }),
    );
    const recorded = outcomes.filter((o) => o.kind === 'recorded').length;
    const [loadedFirst, loadedSecond] = await Promise.all(
      [first, second].map((record) => a.load(record.id, 100, rulesOf(record))),
    );
    const calls = (loadedFirst?.counters.calls ?? NaN) + (loadedSecond?.counters.calls ?? NaN);
    // Never more than the user's 8 nor a session's 5; on one node exactly 8 (one script
    // counts both). On a cluster a call refused by its full session window holds a user
    // count for a moment, which can refuse another call too: at least the first session's
    // 5 get through, and every count is given back, so the counter equals what was recorded.
    if (onCluster) {
      expect(recorded).toBeLessThanOrEqual(8);
      expect(recorded).toBeGreaterThanOrEqual(5);
    } else {
      expect(recorded).toBe(8);
    }
    expect(calls).toBe(recorded);
    expect(loadedFirst?.counters.calls).toBeLessThanOrEqual(5);
    expect(loadedSecond?.counters.calls).toBeLessThanOrEqual(5);
    expect(loadedFirst?.rates.user).toBe(recorded);
    expect(outcomes.filter((o) => o.kind === 'rate_limited')).toHaveLength(40 - recorded);
  });

  it('gives every key a TTL, keeps to its prefix and stores nothing token-like', async () => {
    const store = open();
    const other = open('tenant-b:');
    const record = makeRecord();
    await store.create(record, HOUR);
    await other.create(makeRecord(), HOUR);
    const rules = [sessionRule('session', record, 5), userRule('user', record, 5, 60_000)];
    await store.recordCall(record.id, entry(1), options(rules));
    await store.recordCall(record.id, entry(2, false), options(rules));
    await store.load(record.id, 10, rules);

    const raw = openRaw();
    const keys = await keysMatching(raw);
    expect(keys.length).toBeGreaterThan(0);
    const text: string[] = [];
    for (const key of keys) {
      expect(key).toMatch(/^(mcpgate|tenant-b):([shten]:\{[^}]+\}$|r:\{[^}]+\}:\d+:\d+:)/);
      const pttl = await raw.pttl(key);
      // -2: the key expired since KEYS listed it (short rate windows do); -1: no TTL at all.
      if (pttl === -2) continue;
      if (pttl <= 0) throw new Error(`key ${key} has no TTL (PTTL ${pttl})`);
      const type = await raw.type(key);
      if (type === 'hash') text.push(...Object.values(await raw.hgetall(key)));
      else if (type === 'list') text.push(...(await raw.lrange(key, 0, -1)));
      else if (type === 'string') text.push((await raw.get(key)) ?? '');
      else throw new Error(`unexpected key type ${type} for ${key}`);
      text.push(key);
    }
    expect(keys).toEqual(
      expect.arrayContaining([
        `mcpgate:s:{${record.id}}`,
        `mcpgate:h:{${record.id}}`,
        `mcpgate:t:{${record.id}}`,
      ]),
    );
    const all = text.join('\n');
    expect(all).not.toMatch(/eyJ[\w-]+\.[\w-]+/); // a JWT
    expect(all).not.toMatch(/bearer|authorization|access_token|refresh_token|secret/i);
  });

  it('lists the sessions of its prefix only, from every primary', async () => {
    const store = open('list-test:');
    const other = open('list-other:');
    const records = Array.from({ length: 30 }, (_, i) =>
      makeRecord({ createdAt: Date.now() - 1000 + i }),
    );
    for (const record of records) await store.create(record, HOUR);
    await other.create(makeRecord(), HOUR);
    const listed = await store.list();
    expect(listed.map(({ lastUsedAt: _lastUsed, ...record }) => record)).toEqual(records);
  });
});

describe('RedisStore on one redis-server', () => {
  it('fails fast with StoreUnavailableError while Redis hangs, and recovers when it answers', async () => {
    const store = redisStore(undefined, 500);
    await store.ready();
    const record = makeRecord();
    await store.create(record, HOUR);
    redis.server().pause();
    try {
      const error = await unavailable(store.load(record.id, 10, []));
      expect(error.message).toBe(
        `session store (Redis at 127.0.0.1:${redis.server().port}) is unavailable: no reply within 500 ms`,
      );
      await unavailable(store.recordCall(record.id, entry(1), options()));
      expect(store.health()).toMatchObject({ ok: false, backend: 'redis' });
    } finally {
      redis.server().resume();
    }
    await eventually(async () => expect(await store.load(record.id, 10, [])).toBeDefined(), 5000);
    await eventually(() => Promise.resolve(expect(store.health().ok).toBe(true)), 5000);
  });

  it('rejects quickly while Redis is down and recovers by itself when it is back on its port', async () => {
    const a = redisStore();
    const b = redisStore();
    await Promise.all([a.ready(), b.ready()]);
    const record = makeRecord();
    await a.create(record, HOUR);
    await redis.server().stop();

    const error = await unavailable(a.load(record.id, 10, []));
    expect(error.message).toMatch(
      new RegExp(
        `^session store \\(Redis at 127\\.0\\.0\\.1:${redis.server().port}\\) is unavailable: `,
      ),
    );
    await unavailable(
      a.recordCall(record.id, entry(1), options([sessionRule('session', record, 5)])),
    );
    await unavailable(a.create(makeRecord(), HOUR));
    await unavailable(a.terminate(record.id, 'test'));
    await unavailable(a.list());
    // Once a reconnection attempt has been refused, the cause is named.
    await eventually(async () => {
      const refused = await unavailable(b.load(record.id, 10, []));
      expect(refused.message).toMatch(/connection refused$/);
    }, 3000);
    expect(a.health().ok).toBe(false);
    expect(a.health().error).toMatch(
      /^session store \(Redis at 127\.0\.0\.1:\d+\) is unavailable: /,
    );

    await redis.server().restart();
    const fresh = makeRecord();
    await eventually(async () => {
      await a.create(fresh, HOUR);
      expect((await b.load(fresh.id, 10, []))?.record).toEqual(fresh);
    }, 10_000);
    // Without persistence the restart lost every session: clients must open new ones.
    expect(await a.load(record.id, 10, [])).toBeUndefined();
    await Promise.all([a.ready(), b.ready()]);
    expect(a.health()).toEqual({ ok: true, backend: 'redis' });
    // The subscriber is back too.
    const heard = nextTermination(b);
    await a.terminate(fresh.id, 'after restart');
    await expect(Promise.race([heard, rejectAfter(1000, 'notification')])).resolves.toEqual({
      id: fresh.id,
      reason: 'after restart',
    });
  });

  it('survives a killed Redis the same way', async () => {
    const store = redisStore();
    await store.ready();
    await redis.server().kill();
    await unavailable(store.load(randomUUID(), 10, []));
    expect(store.health().ok).toBe(false);
    await redis.server().restart();
    const record = makeRecord();
    await eventually(async () => {
      await store.create(record, HOUR);
      expect(await store.load(record.id, 10, [])).toBeDefined();
    }, 10_000);
  });

  it('rejects with StoreUnavailableError once closed', async () => {
    const store = redisStore();
    await store.ready();
    await store.close();
    const error = await unavailable(store.load(randomUUID(), 10, []));
    expect(error.message).toMatch(/is closed$/);
    expect(store.health().ok).toBe(false);
  });
});

// Not assertions: numbers for the design notes. Run last so the faults above do not skew them.
describe('RedisStore on a Redis Cluster', () => {
  it("keeps a session's keys and counters in its slot and a user's counters in the user's, spreading sessions over the primaries", async () => {
    const store = clusterStore('slots:');
    const raw = redis.raw('cluster');
    const records = Array.from({ length: 12 }, () => makeRecord());
    const primaries = new Set<number>();
    for (const record of records) {
      await store.create(record, HOUR);
      const rules = [
        sessionRule('session', record, 100),
        userRule('user', record, 100),
        userRule('tool:x', record, 100, HOUR, `user:${record.principal}:tool:x`),
      ];
      expect(await store.recordCall(record.id, entry(1), options(rules))).toEqual({
        kind: 'recorded',
      });
      primaries.add(await redis.cluster().primaryOf(`slots:s:{${record.id}}`));
    }
    const keys = (await keysMatching(raw)).filter((key) => key.startsWith('slots:'));
    const slotOf = async (key: string): Promise<number> =>
      Number(await raw.call('CLUSTER', 'KEYSLOT', key));
    for (const record of records) {
      const sessions = keys.filter((key) => key.includes(`{${record.id}}`));
      const users = keys.filter((key) => key.includes(`:user:${record.principal}`));
      // s, h, t and the session's counter; the user's and the user+tool counters.
      expect(sessions).toHaveLength(4);
      expect(users).toHaveLength(2);
      expect(new Set(await Promise.all(sessions.map(slotOf))).size).toBe(1);
      expect(new Set(await Promise.all(users.map(slotOf))).size).toBe(1);
    }
    // Twelve random ids on one of three primaries would be a 1 in 177 000 chance.
    expect(primaries.size).toBeGreaterThan(1);
  });

  it('fails fast, naming the cause, while no configured node answers', async () => {
    const store = openRedisStore({ kind: 'cluster', nodes: [{ host: '127.0.0.1', port: 1 }] });
    const where = 'session store (Redis Cluster at 127.0.0.1:1) is unavailable: ';
    // Before it has reached any node the client knows no primary: that is no empty listing.
    await unavailable(store.list());
    await eventually(async () => {
      expect((await unavailable(store.list())).message).toBe(`${where}no cluster node answered`);
    }, 3000);
    expect((await unavailable(store.load(randomUUID(), 10, []))).message).toBe(
      `${where}no cluster node answered`,
    );
    await unavailable(store.create(makeRecord(), HOUR));
    expect(store.health()).toEqual({
      ok: false,
      backend: 'redis',
      error: `${where}no cluster node answered`,
    });
  });
});

/** Times n sequential runs of fn, in ms. */
async function time(fn: () => Promise<unknown>, n = 1000): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return samples;
}

function p50p99(samples: number[]): string {
  return `p50 ${percentile(samples, 50).toFixed(3)} ms, p99 ${percentile(samples, 99).toFixed(3)} ms`;
}

/**
 * load and recordCall of one session that uses 20 tools over and over, with the default
 * history_limit (20), under the given rules.
 */
async function callLatencies(
  store: SessionStore,
  record: SessionRecord,
  rules: RateLimitRule[],
  n = 1000,
): Promise<{ load: number[]; record: number[] }> {
  let call = 0;
  const recorded = await time(() => {
    call++;
    return store.recordCall(
      record.id,
      entry(call, true, `fs.tool_${call % 20}`),
      options(rules, 20),
    );
  }, n);
  return { record: recorded, load: await time(() => store.load(record.id, 20, rules), n) };
}

/**
 * Opening sessions without and with sessions.max_sessions_per_principal (the claim in the
 * user's set, then the session's script), and terminating the capped ones (the script, then
 * the ZREM that frees the place), n sequential runs each.
 */
async function openCloseLatencies(
  store: SessionStore,
  n: number,
): Promise<{ create: number[]; capped: number[]; terminate: number[] }> {
  const create = await time(() => store.create(makeRecord(), HOUR), n);
  const principal = makeRecord().principal;
  const ids: string[] = [];
  const capped = await time(async () => {
    const record = makeRecord({ principal });
    ids.push(record.id);
    expect(await store.create(record, HOUR, n)).toEqual({ kind: 'created' });
  }, n);
  let next = 0;
  const terminate = await time(() => store.terminate(ids[next++] ?? '', 'measured'), n);
  return { create, capped, terminate };
}

// Not assertions: numbers for the design notes. Run after the tests that fault the one
// redis-server, before those that fail the cluster and Sentinel primaries over.
describe('RedisStore measurements (reported, not asserted)', () => {
  it('measures round-trip latency and memory per session', async () => {
    const store = redisStore('bench:');
    await store.ready();
    const raw = redis.raw('server');
    const record = makeRecord();
    await store.create(record, HOUR);
    const rules = [sessionRule('session', record, 1_000_000), userRule('user', record, 1_000_000)];
    const calls = await callLatencies(store, record, rules);
    const opens = await openCloseLatencies(store, 1000);

    const memory = async (): Promise<number> => {
      const info = await raw.info('memory');
      return Number(/used_memory:(\d+)/.exec(info)?.[1]);
    };
    const before = await memory();
    const idle: SessionRecord[] = [];
    for (let i = 0; i < 1000; i++) {
      const r = makeRecord();
      idle.push(r);
      await store.create(r, HOUR);
    }
    const after = await memory();
    const one = idle[0]?.id ?? '';
    const usage = async (key: string): Promise<number> =>
      Number(await raw.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    const hashBytes = await usage(`bench:s:{${one}}`);
    const historyBytes = await usage(`bench:h:{${record.id}}`);
    const summaryBytes = await usage(`bench:t:{${record.id}}`);

    console.log(
      [
        'RedisStore against a local redis-server (loopback), 1000 sequential calls each:',
        `  load        ${p50p99(calls.load)} (history 20, summary of 20 targets, 2 rate rules)`,
        `  recordCall  ${p50p99(calls.record)} (2 rate rules)`,
        `  create      ${p50p99(opens.create)} (no cap per user: one script)`,
        `  create      ${p50p99(opens.capped)} (max_sessions_per_principal: the claim, then the script)`,
        `  terminate   ${p50p99(opens.terminate)} (the script, then the ZREM of the user's place)`,
        `  idle session: ${((after - before) / 1000).toFixed(0)} bytes each (INFO used_memory over 1000 sessions); MEMORY USAGE of its hash ${hashBytes} bytes`,
        `  history of 20 entries: MEMORY USAGE ${historyBytes} bytes; summary of 20 targets: ${summaryBytes} bytes`,
      ].join('\n'),
    );
    const keys = await raw.keys('bench:*');
    if (keys.length > 0) await raw.del(...keys);
  });

  it('measures a Redis Cluster: one slot, a user rule in another, and creating with WAIT', async () => {
    const store = clusterStore('bench-cluster:');
    await store.ready();
    const record = makeRecord();
    await store.create(record, HOUR);
    const sessionOnly = await callLatencies(
      store,
      record,
      [sessionRule('session', record, 1_000_000)],
      300,
    );
    const withUser = await callLatencies(
      store,
      record,
      [sessionRule('session', record, 1_000_000), userRule('user', record, 1_000_000)],
      300,
    );
    const created = await time(() => store.create(makeRecord(), HOUR), 300);
    const plain = openRedisStore(redis.target('cluster'), 'bench-cluster:');
    const createdWithoutWait = await time(() => plain.create(makeRecord(), HOUR), 300);
    const opens = await openCloseLatencies(store, 300);
    const plainOpens = await openCloseLatencies(plain, 300);
    console.log(
      [
        'RedisStore on a local Redis Cluster (3 primaries, 3 replicas, loopback), 300 sequential calls each:',
        `  load        ${p50p99(sessionOnly.load)} (a session rule: one script)`,
        `  load        ${p50p99(withUser.load)} (a session and a user rule: the script and an MGET side by side)`,
        `  recordCall  ${p50p99(sessionOnly.record)} (a session rule: one script)`,
        `  recordCall  ${p50p99(withUser.record)} (a session and a user rule: count in the user's slot, then the script)`,
        `  create      ${p50p99(created)} (with WAIT 1: a replica holds it)`,
        `  create      ${p50p99(createdWithoutWait)} (replica_ack: false)`,
        `  create      ${p50p99(opens.create)} / ${p50p99(opens.capped)} (WAIT 1; no cap / max_sessions_per_principal: the claim and its WAIT in the user's slot, then the script and its WAIT)`,
        `  create      ${p50p99(plainOpens.create)} / ${p50p99(plainOpens.capped)} (replica_ack: false; no cap / the claim, then the script)`,
        `  terminate   ${p50p99(opens.terminate)} (WAIT 1: the script and its WAIT, then the ZREM in the user's slot)`,
      ].join('\n'),
    );
  });
});

// Last: these fail primaries over, and leave each set-up without a spare replica.
describe('RedisStore when a Redis Cluster primary fails', () => {
  it('denies calls of its slots with the reason, then serves the sessions it acknowledged', async () => {
    const first = redis.cluster().nodes[0];
    if (!first) throw new Error('the cluster has no nodes');
    // A session in a slot of the first configured node, which both stores' subscribers
    // connect to first: they must move to another node.
    let record = makeRecord();
    for (
      let i = 0;
      (await redis.cluster().primaryOf(`mcpgate:s:{${record.id}}`)) !== first.port;
      i++
    ) {
      if (i > 300) throw new Error(`node ${first.port} holds no slot: not a primary?`);
      record = makeRecord();
    }
    // A user whose set of sessions (sessions.max_sessions_per_principal) is on that node too.
    let principal = makeRecord().principal;
    for (let i = 0; (await redis.cluster().primaryOf(ownerKey(principal))) !== first.port; i++) {
      if (i > 300) throw new Error(`node ${first.port} holds no slot: not a primary?`);
      principal = makeRecord().principal;
    }
    const a = clusterStore();
    const b = clusterStore();
    await Promise.all([a.ready(), b.ready()]);
    await a.create(record, HOUR);
    for (let i = 0; i < 2; i++) {
      expect(await a.create(makeRecord({ principal }), HOUR, 2)).toEqual({ kind: 'created' });
    }
    const killedAt = Date.now();
    await redis.cluster().killPrimaryOf(`mcpgate:s:{${record.id}}`);

    const refused: StoreUnavailableError[] = [];
    let loaded: Awaited<ReturnType<SessionStore['load']>>;
    for (;;) {
      try {
        loaded = await b.load(record.id, 10, []);
        break;
      } catch (err) {
        if (!(err instanceof StoreUnavailableError) || Date.now() - killedAt > 20_000) throw err;
        refused.push(err);
        await sleep(50);
      }
    }
    const servedAfter = Date.now() - killedAt;
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]?.message).toMatch(
      /^session store \(Redis Cluster at 127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+){5}\) is unavailable: /,
    );
    expect(loaded?.record).toEqual(record);
    // The user's two places were confirmed by the replica before the kill: still counted.
    expect(await b.create(makeRecord({ principal }), HOUR, 2)).toEqual({
      kind: 'principal_full',
      open: 2,
      limit: 2,
    });
    // Both subscribers moved to a live node: a termination is heard across replicas again.
    await eventually(
      () => Promise.resolve(expect(b.health()).toEqual({ ok: true, backend: 'redis' })),
      15_000,
    );
    const heard = nextTermination(b);
    expect(await a.terminate(record.id, 'after the failover')).toBe(true);
    await expect(Promise.race([heard, rejectAfter(1000, 'notification')])).resolves.toEqual({
      id: record.id,
      reason: 'after the failover',
    });
    console.log(
      `Redis Cluster (cluster-node-timeout 1000 ms): a primary killed; its slots were served again after ${servedAfter} ms; ${refused.length} loads refused meanwhile, saying: ${[...new Set(refused.map((e) => e.message))].join(' | ')}`,
    );
  });
});

let killedSentinelPrimary: number | undefined;

describe('RedisStore through Redis Sentinel when the primary fails', () => {
  it('denies with the store-unavailable reason during the failover, then serves every session it acknowledged', async () => {
    const a = sentinelStore();
    const b = sentinelStore();
    await Promise.all([a.ready(), b.ready()]);
    const records = Array.from({ length: 20 }, () => makeRecord());
    for (const record of records) await a.create(record, HOUR);
    // Two sessions of one user under sessions.max_sessions_per_principal 2.
    const { principal } = makeRecord();
    for (let i = 0; i < 2; i++) {
      expect(await a.create(makeRecord({ principal }), HOUR, 2)).toEqual({ kind: 'created' });
    }
    const [watched] = records;
    if (!watched) throw new Error('no session');

    const killedAt = Date.now();
    killedSentinelPrimary = await redis.sentinel().killPrimary();
    // When the Sentinels name the replica as the primary (polled alongside).
    let promotedAfter: number | undefined;
    const promotion = (async () => {
      while (promotedAfter === undefined && Date.now() - killedAt < 20_000) {
        if (
          (await redis
            .sentinel()
            .primary()
            .catch(() => killedSentinelPrimary)) !== killedSentinelPrimary
        ) {
          promotedAfter = Date.now() - killedAt;
        } else await sleep(50);
      }
    })();
    // Both gateway replicas keep calling; each reconnects on its own.
    const refused: StoreUnavailableError[] = [];
    const servedAfter: Record<string, number> = {};
    const keepCalling = async (name: string, call: () => Promise<unknown>): Promise<void> => {
      for (;;) {
        try {
          await call();
          servedAfter[name] = Date.now() - killedAt;
          return;
        } catch (err) {
          if (!(err instanceof StoreUnavailableError) || Date.now() - killedAt > 20_000) throw err;
          refused.push(err);
          await sleep(50);
        }
      }
    };
    await Promise.all([
      keepCalling('a', () => a.load(watched.id, 10, [])),
      keepCalling('b', async () =>
        expect(await b.recordCall(watched.id, entry(1), options())).toEqual({ kind: 'recorded' }),
      ),
    ]);
    await promotion;
    expect(refused.length).toBeGreaterThan(0);
    for (const error of refused) {
      expect(error.message).toMatch(
        /^session store \(Redis "mcpgate" via Sentinel at 127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\) is unavailable: /,
      );
    }
    expect(await redis.sentinel().primary()).not.toBe(killedSentinelPrimary);
    // Every session acknowledged before the kill is there, on both replicas of the gateway.
    for (const record of records) {
      expect((await a.load(record.id, 10, []))?.record).toEqual(record);
    }
    expect((await b.load(watched.id, 10, []))?.history).toEqual([entry(1)]);
    // The user's places came through the failover with their sessions.
    expect(await b.create(makeRecord({ principal }), HOUR, 2)).toEqual({
      kind: 'principal_full',
      open: 2,
      limit: 2,
    });
    console.log(
      `Redis Sentinel (down-after-milliseconds 1000): the primary killed; the Sentinels named the replica after ${promotedAfter} ms; the two stores served again after ${servedAfter.a} and ${servedAfter.b} ms; ${refused.length} calls refused meanwhile, saying: ${[...new Set(refused.map((e) => e.message))].join(' | ')}`,
    );
  });

  it('refuses a new session no replica can confirm (replica_ack), and opens them again once one can', async () => {
    const store = sentinelStore();
    await store.ready(10_000);
    // The promoted primary has no replica now.
    const refusedRecord = makeRecord();
    const error = await unavailable(store.create(refusedRecord, HOUR));
    expect(error.message).toMatch(
      /^session store \(Redis "mcpgate" via Sentinel at [^)]+\) is unavailable: the new session was not confirmed by 1 replica within 250 ms \(0 confirmed\); it was not opened$/,
    );
    await eventually(
      async () => expect(await store.load(refusedRecord.id, 10, [])).toBeUndefined(),
      2000,
    );
    // The killed primary comes back as a replica of the new one.
    if (killedSentinelPrimary === undefined) throw new Error('the failover test did not run');
    await redis.sentinel().restartAsReplica(killedSentinelPrimary);
    const record = makeRecord();
    await store.create(record, HOUR);
    expect((await store.load(record.id, 10, []))?.record).toEqual(record);
  });
});
