// The session store: one behavioural suite run against MemoryStore and RedisStore (a real
// redis-server on loopback, reached with the real ioredis client; nothing mocked), then what
// only Redis can show: several replicas on one Redis, TTLs on every key, atomicity under
// concurrency, and Redis hanging, stopping and coming back on the same port.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { MemoryStore } from '../../src/sessions/memory-store.js';
import { RedisStore } from '../../src/sessions/redis-store.js';
import type { HistoryEntry } from '../../src/sessions/session.js';
import {
  StoreUnavailableError,
  type RateLimitRule,
  type RecordOutcome,
  type SessionRecord,
  type SessionStore,
  MAX_SESSION_LABELS,
} from '../../src/sessions/store.js';
import { silentLogger } from '../../src/util/logger.js';
import { startRedis, type RedisServer } from '../support/redis.js';

const HOUR = 3_600_000;

let redisServer: RedisServer | undefined;
const opened: SessionStore[] = [];
const rawClients: Redis[] = [];

beforeAll(async () => {
  redisServer = await startRedis();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
  await Promise.all(rawClients.splice(0).map((client) => client.quit()));
});

afterAll(async () => {
  await redisServer?.stop();
});

function server(): RedisServer {
  if (!redisServer) throw new Error('redis-server has not been started');
  return redisServer;
}

function memoryStore(): MemoryStore {
  const store = new MemoryStore();
  opened.push(store);
  return store;
}

function redisStore(keyPrefix?: string): RedisStore {
  const store = new RedisStore({ url: server().url, keyPrefix, logger: silentLogger });
  opened.push(store);
  return store;
}

/** A plain ioredis client, to look at what the store wrote. */
function rawClient(): Redis {
  const client = new Redis(server().url);
  rawClients.push(client);
  return client;
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

function rule(name: string, key: string, limit: number, windowMs = HOUR): RateLimitRule {
  return { name, key, limit, windowMs };
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
  { name: 'MemoryStore', backend: 'memory', open: (): SessionStore => memoryStore() },
  { name: 'RedisStore', backend: 'redis', open: (): SessionStore => redisStore() },
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
    const rules = [
      rule('user', `user:${record.principal}`, 100),
      rule('session', `session:${record.id}`, 3),
    ];
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
    const closed = rule('tool:x', `user:${record.principal}:tool:x`, 0);
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
    const rules = [rule('session', `session:${record.id}`, 2, 600)];
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
      rule('session', `session:${record.id}`, 2),
      rule('user', `user:${record.principal}`, 3),
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
    const rules = [rule('session', `session:${record.id}`, 1)];
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
    const rules = [rule('session', key, 5), rule('policy:session', key, 2)];
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
    const store = memoryStore();
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

describe('RedisStore on a shared Redis', () => {
  it('reports ok once connected and subscribed', async () => {
    const store = redisStore();
    await store.ready();
    expect(store.health()).toEqual({ ok: true, backend: 'redis' });
  });

  it('lets two replicas see the same session, history and counters', async () => {
    const a = redisStore();
    const b = redisStore();
    const record = makeRecord();
    await a.create(record, HOUR);
    expect((await b.load(record.id, 10, []))?.record).toEqual(record);
    const rules = [rule('session', `session:${record.id}`, 3)];
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
    const store = redisStore();
    const record = makeRecord();
    await store.create(record, HOUR);
    await store.recordCall(record.id, entry(1), options());
    const raw = rawClient();
    const keys = ['s', 'h', 't'].map((kind) => `mcpgate:${kind}:${record.id}`);
    expect(await raw.exists(...keys)).toBe(3);
    expect(await store.terminate(record.id, 'test')).toBe(true);
    expect(await raw.exists(...keys)).toBe(0);
  });

  it('fails closed on a malformed summary, changing nothing', async () => {
    const store = redisStore();
    const record = makeRecord();
    await store.create(record, HOUR);
    await store.recordCall(record.id, entry(1), options());
    const raw = rawClient();
    await raw.hset(`mcpgate:t:${record.id}`, 'tools/call\nfs.read_1', 'garbage');
    await expect(store.recordCall(record.id, entry(1), options())).rejects.toThrow(
      StoreUnavailableError,
    );
    await expect(store.load(record.id, 10, [])).rejects.toThrow(/malformed summary/);
    expect(await raw.hget(`mcpgate:s:${record.id}`, 'calls')).toBe('1');
  });

  it('tells the other replicas about a termination within 1 s', async () => {
    const a = redisStore();
    const b = redisStore();
    const c = redisStore();
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
    const a = redisStore();
    const b = redisStore();
    const record = makeRecord();
    await a.create(record, HOUR);
    const rules = [
      rule('session', `session:${record.id}`, 10),
      rule('user', `user:${record.principal}`, 1000),
    ];
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
    expect(loaded?.rates).toEqual({ session: 10, user: 10 });
  });

  it('gives every key a TTL, keeps to its prefix and stores nothing token-like', async () => {
    const store = redisStore();
    const other = redisStore('tenant-b:');
    const record = makeRecord();
    await store.create(record, HOUR);
    await other.create(makeRecord(), HOUR);
    const rules = [
      rule('session', `session:${record.id}`, 5),
      rule('user', `user:${record.principal}`, 5, 60_000),
    ];
    await store.recordCall(record.id, entry(1), options(rules));
    await store.recordCall(record.id, entry(2, false), options(rules));
    await store.load(record.id, 10, rules);

    const raw = rawClient();
    const keys = await raw.keys('*');
    expect(keys.length).toBeGreaterThan(0);
    const text: string[] = [];
    for (const key of keys) {
      expect(key).toMatch(/^(mcpgate|tenant-b):(s:|h:|t:|r:\d+:\d+:|idx$)/);
      const pttl = await raw.pttl(key);
      // -2: the key expired since KEYS listed it (short rate windows do); -1: no TTL at all.
      if (pttl === -2) continue;
      if (pttl <= 0) throw new Error(`key ${key} has no TTL (PTTL ${pttl})`);
      const type = await raw.type(key);
      if (type === 'hash') text.push(...Object.values(await raw.hgetall(key)));
      else if (type === 'list') text.push(...(await raw.lrange(key, 0, -1)));
      else if (type === 'zset') text.push(...(await raw.zrange(key, '0', '-1')));
      else if (type === 'string') text.push((await raw.get(key)) ?? '');
      else throw new Error(`unexpected key type ${type} for ${key}`);
      text.push(key);
    }
    expect(keys).toEqual(
      expect.arrayContaining([
        `mcpgate:s:${record.id}`,
        `mcpgate:h:${record.id}`,
        `mcpgate:t:${record.id}`,
        'mcpgate:idx',
      ]),
    );
    const all = text.join('\n');
    expect(all).not.toMatch(/eyJ[\w-]+\.[\w-]+/); // a JWT
    expect(all).not.toMatch(/bearer|authorization|access_token|refresh_token|secret/i);
  });

  it('fails fast with StoreUnavailableError while Redis hangs, and recovers when it answers', async () => {
    const store = redisStore();
    await store.ready();
    const record = makeRecord();
    await store.create(record, HOUR);
    server().pause();
    try {
      const error = await unavailable(store.load(record.id, 10, []));
      expect(error.message).toBe(
        `session store (Redis at 127.0.0.1:${server().port}) is unavailable: no reply within 500 ms`,
      );
      await unavailable(store.recordCall(record.id, entry(1), options()));
      expect(store.health()).toMatchObject({ ok: false, backend: 'redis' });
    } finally {
      server().resume();
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
    await server().stop();

    const error = await unavailable(a.load(record.id, 10, []));
    expect(error.message).toMatch(
      new RegExp(`^session store \\(Redis at 127\\.0\\.0\\.1:${server().port}\\) is unavailable: `),
    );
    await unavailable(
      a.recordCall(record.id, entry(1), options([rule('session', `session:${record.id}`, 5)])),
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

    await server().restart();
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
    await server().kill();
    await unavailable(store.load(randomUUID(), 10, []));
    expect(store.health().ok).toBe(false);
    await server().restart();
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
describe('RedisStore measurements (reported, not asserted)', () => {
  it('measures round-trip latency and memory per session', async () => {
    const store = redisStore('bench:');
    await store.ready();
    const raw = rawClient();
    const record = makeRecord();
    await store.create(record, HOUR);
    const rules = [
      rule('session', `session:${record.id}`, 1_000_000),
      rule('user', `user:${record.principal}`, 1_000_000),
    ];
    const time = async (fn: () => Promise<unknown>): Promise<number[]> => {
      const samples: number[] = [];
      for (let i = 0; i < 1000; i++) {
        const started = process.hrtime.bigint();
        await fn();
        samples.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
      return samples;
    };
    // A session that uses 20 tools over and over, with the default history_limit (20).
    let n = 0;
    const record1000 = await time(() => {
      n++;
      return store.recordCall(record.id, entry(n, true, `fs.tool_${n % 20}`), options(rules, 20));
    });
    const load1000 = await time(() => store.load(record.id, 20, rules));

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
    const hashBytes = Number(await raw.call('MEMORY', 'USAGE', `bench:s:${one}`, 'SAMPLES', '0'));
    const historyBytes = Number(
      await raw.call('MEMORY', 'USAGE', `bench:h:${record.id}`, 'SAMPLES', '0'),
    );
    const summaryBytes = Number(
      await raw.call('MEMORY', 'USAGE', `bench:t:${record.id}`, 'SAMPLES', '0'),
    );

    console.log(
      [
        'RedisStore against a local redis-server (loopback), 1000 sequential calls each:',
        `  load        p50 ${percentile(load1000, 50).toFixed(3)} ms, p99 ${percentile(load1000, 99).toFixed(3)} ms (history 20, summary of 20 targets, 2 rate rules)`,
        `  recordCall  p50 ${percentile(record1000, 50).toFixed(3)} ms, p99 ${percentile(record1000, 99).toFixed(3)} ms (2 rate rules)`,
        `  idle session: ${((after - before) / 1000).toFixed(0)} bytes each (INFO used_memory over 1000 sessions, index included); MEMORY USAGE of its hash ${hashBytes} bytes`,
        `  history of 20 entries: MEMORY USAGE ${historyBytes} bytes; summary of 20 targets: ${summaryBytes} bytes`,
      ].join('\n'),
    );
    const keys = await raw.keys('bench:*');
    if (keys.length > 0) await raw.del(...keys);
  });
});
