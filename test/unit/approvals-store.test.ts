// Approvals in the session store: one behavioural suite run against the memory store and the
// Redis store on one redis-server and on a Redis Cluster (where a script touching keys of two
// hash slots would fail with CROSSSLOT): created bounded per session and per user, decided
// once and atomically, heard by every replica, used once and only by the exact call, expired
// on time. Real Redis processes; nothing mocked.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  approvalBinding,
  newApprovalId,
  type ApprovalRequest,
  type ApprovalState,
} from '../../src/sessions/approvals.js';
import { MemoryStore } from '../../src/sessions/memory-store.js';
import { RedisStore } from '../../src/sessions/redis-store.js';
import type { SessionStore } from '../../src/sessions/store.js';
import { silentLogger } from '../../src/util/logger.js';
import {
  startRedis,
  startRedisCluster,
  type RedisCluster,
  type RedisServer,
} from '../support/redis.js';

let redisServer: RedisServer | undefined;
let redisCluster: RedisCluster | undefined;
const opened: SessionStore[] = [];

beforeAll(async () => {
  [redisServer, redisCluster] = await Promise.all([startRedis(), startRedisCluster()]);
}, 30_000);

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

afterAll(async () => {
  await Promise.all([redisServer?.stop(), redisCluster?.stop()]);
});

const LIMITS = { perSession: 3, perUser: 5 };

function request(overrides: Partial<ApprovalRequest> = {}): ApprovalRequest {
  const now = Date.now();
  const base = {
    sessionId: overrides.sessionId ?? `s${Math.random().toString(36).slice(2)}`,
    principal: overrides.principal ?? `https://idp\u0000${Math.random().toString(36).slice(2)}`,
    argsDigest: overrides.argsDigest ?? 'd'.repeat(64),
  };
  return {
    id: newApprovalId(),
    subject: 'olive',
    purpose: 'incident-response',
    tool: { id: 'filesystem.write_file', server: 'filesystem', name: 'write_file', exposed: 'x' },
    definitionHash: 'h'.repeat(64),
    arguments: '{"path":"a"}',
    decisionId: 'dec-1',
    reason: 'destructive',
    approvers: { roles: ['mcpgate.approver'], groups: [] },
    self: false,
    createdAt: now,
    expiresAt: now + 60_000,
    binding: approvalBinding({
      sessionId: base.sessionId,
      principal: base.principal,
      toolId: 'filesystem.write_file',
      definitionHash: 'h'.repeat(64),
      argsDigest: base.argsDigest,
    }),
    risk: { calls: 1, denied: 0, findings: [] },
    ...base,
    ...overrides,
  };
}

const verdict = (state: 'approved' | 'denied') => ({
  state,
  by: 'https://idp\u0000carol',
  comment: 'ok',
});

type Make = () => Promise<[SessionStore, SessionStore]>;

async function redisPair(target: ConstructorParameters<typeof RedisStore>[0]['target']) {
  const prefix = `t${Math.random().toString(36).slice(2)}:`;
  const stores = [0, 1].map(
    () => new RedisStore({ target, keyPrefix: prefix, logger: silentLogger }),
  ) as [RedisStore, RedisStore];
  opened.push(...stores);
  await Promise.all(stores.map((s) => s.ready()));
  return stores;
}

const backends: Array<[string, Make]> = [
  [
    'MemoryStore',
    () => {
      const store = new MemoryStore();
      opened.push(store);
      return Promise.resolve([store, store]);
    },
  ],
  ['RedisStore on one redis-server', () => redisPair({ kind: 'url', url: redisServer!.url })],
  [
    'RedisStore on a Redis Cluster',
    () =>
      redisPair({ kind: 'cluster', nodes: redisCluster!.nodes, password: redisCluster!.password }),
  ],
];

describe.each(backends)('approvals in the %s', (_name, make) => {
  it('creates, finds by id and by binding, decides once, and tells every replica', async () => {
    const [a, b] = await make();
    const heard: Array<[string, ApprovalState]> = [];
    a.approvals.onSettled((id, state) => heard.push([id, state]));
    const r = request();
    expect(await a.approvals.create(r, LIMITS)).toEqual({ kind: 'created' });
    expect((await b.approvals.get(r.id))?.state).toBe('pending');
    expect((await b.approvals.byBinding(r.sessionId, r.binding))?.id).toBe(r.id);
    expect(await b.approvals.byBinding(r.sessionId, 'other')).toBeUndefined();

    const decided = await b.approvals.decide(r.id, verdict('approved'));
    expect(decided.kind).toBe('decided');
    if (decided.kind === 'decided') {
      expect(decided.record.decidedBy).toBe('https://idp\u0000carol');
      expect(decided.record.comment).toBe('ok');
    }
    const again = await a.approvals.decide(r.id, verdict('denied'));
    expect(again.kind).toBe('not_pending');
    for (let i = 0; i < 100 && heard.length === 0; i++) await sleep(10);
    expect(heard).toEqual([[r.id, 'approved']]);
  });

  it('uses an approval once, for its own binding only', async () => {
    const [a, b] = await make();
    const r = request();
    await a.approvals.create(r, LIMITS);
    expect(await a.approvals.use(r.id, r.binding)).toEqual({
      kind: 'not_approved',
      state: 'pending',
    });
    await b.approvals.decide(r.id, verdict('approved'));
    expect(await a.approvals.use(r.id, 'another call')).toEqual({ kind: 'mismatch' });
    expect(await a.approvals.use(r.id, r.binding)).toEqual({ kind: 'used' });
    expect(await b.approvals.use(r.id, r.binding)).toEqual({ kind: 'not_approved', state: 'used' });
    expect(await b.approvals.use(newApprovalId(), r.binding)).toEqual({ kind: 'gone' });
  });

  it('lets only one of two concurrent verdicts win', async () => {
    const [a, b] = await make();
    const r = request();
    await a.approvals.create(r, LIMITS);
    const outcomes = await Promise.all([
      a.approvals.decide(r.id, verdict('approved')),
      b.approvals.decide(r.id, verdict('denied')),
    ]);
    expect(outcomes.filter((o) => o.kind === 'decided')).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === 'not_pending')).toHaveLength(1);
  });

  it('expires a pending approval on time; it can then be neither decided nor used', async () => {
    const [a, b] = await make();
    const heard: ApprovalState[] = [];
    a.approvals.onSettled((_id, state) => heard.push(state));
    const r = request({ expiresAt: Date.now() + 150 });
    await a.approvals.create(r, LIMITS);
    await sleep(200);
    expect((await b.approvals.get(r.id))?.state).toBe('expired');
    expect((await a.approvals.decide(r.id, verdict('approved'))).kind).toBe('not_pending');
    expect(await a.approvals.use(r.id, r.binding)).toEqual({
      kind: 'not_approved',
      state: 'expired',
    });
    for (let i = 0; i < 100 && heard.length === 0; i++) await sleep(10);
    expect(heard).toContain('expired');
  });

  it('bounds the pending approvals per session and per user; decided ones free a place', async () => {
    const [a] = await make();
    const sessionId = `s${Math.random().toString(36).slice(2)}`;
    const principal = `https://idp\u0000${Math.random().toString(36).slice(2)}`;
    const mine = () => request({ sessionId, principal, argsDigest: newApprovalId() });
    const first = mine();
    for (const r of [first, mine(), mine()]) {
      expect(await a.approvals.create(r, LIMITS)).toEqual({ kind: 'created' });
    }
    expect(await a.approvals.create(mine(), LIMITS)).toEqual({
      kind: 'full',
      scope: 'session',
      limit: 3,
    });
    await a.approvals.decide(first.id, verdict('denied'));
    expect(await a.approvals.create(mine(), LIMITS)).toEqual({ kind: 'created' });
    // The same user in other sessions: 3 pending there, so 2 more fit in all.
    const elsewhere = () => request({ principal, argsDigest: newApprovalId() });
    expect(await a.approvals.create(elsewhere(), LIMITS)).toEqual({ kind: 'created' });
    expect(await a.approvals.create(elsewhere(), LIMITS)).toEqual({ kind: 'created' });
    expect(await a.approvals.create(elsewhere(), LIMITS)).toEqual({
      kind: 'full',
      scope: 'user',
      limit: 5,
    });
  });

  it('lists kept approvals, newest first, and knows nothing of forged ids', async () => {
    const [a, b] = await make();
    const older = request({ createdAt: Date.now() - 1000 });
    const newer = request();
    await a.approvals.create(older, LIMITS);
    await a.approvals.create(newer, LIMITS);
    const ids = (await b.approvals.list()).map((r) => r.id);
    expect(ids.indexOf(newer.id)).toBeLessThan(ids.indexOf(older.id));
    for (const forged of [newApprovalId(), 'a}{', '']) {
      expect(await b.approvals.get(forged)).toBeUndefined();
      expect((await b.approvals.decide(forged, verdict('approved'))).kind).toBe('gone');
    }
  });
});
