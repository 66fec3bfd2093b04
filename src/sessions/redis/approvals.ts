// Approvals in the Redis session store, so that an approval given on one replica releases
// the call held on another (redis-store.ts holds the connections; this file the keys and
// scripts of approvals).
//
// Keys (p = keyPrefix), every one with a TTL; the part in braces is the hash tag:
//   p a:{<session id>}:<approval id>  hash: json (the ApprovalRequest), state, binding,
//                                     expiresAt, decidedBy, decidedAt, comment. TTL: until
//                                     expiresAt + APPROVAL_RETAIN_MS.
//   p as:{<session id>}               sorted set: the session's pending approval ids by
//                                     expiresAt (approvals.max_pending_per_session).
//   p ab:{<session id>}               hash: binding -> the latest approval id of that exact
//                                     call (a retry of the call finds it).
//   p ap:{<approval id>}              string: the approval's session id (the console and the
//                                     admin API know an approval by its id alone).
//   p au:{u.<digest of principal>}    sorted set: the user's pending approval ids by
//                                     expiresAt (approvals.max_pending_per_user), in the
//                                     slot of the user's rate counters and sessions.
// An approval's own keys share its session's slot, so creating, deciding, expiring and
// using one is one script each. The user's set is another slot: it is claimed first and
// given back when the session's script refuses (as sessions are claimed per principal).
// Decisions and expiries are published on `p events` ({type: 'approval', id, state,
// origin}) inside the script, so every replica's held call hears it at once.
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../../util/logger.js';
import {
  APPROVAL_RETAIN_MS,
  type ApprovalLimits,
  type ApprovalRecord,
  type ApprovalRequest,
  type ApprovalState,
  type ApprovalStore,
  type CreateApprovalOutcome,
  type DecideApprovalOutcome,
  type UseApprovalOutcome,
  type Verdict,
} from '../approvals.js';
import { StoreUnavailableError } from '../store.js';

/** What the approvals need of the Redis store that owns the connections. */
export interface RedisApprovalHost {
  readonly prefix: string;
  readonly channel: string;
  /** The store instance's id in published events (its own are not heard twice). */
  readonly origin: string;
  readonly client: Redis | Cluster;
  /** One round trip; failures become StoreUnavailableError. */
  run<T>(op: () => Promise<T>): Promise<T>;
  /** The primaries to SCAN (one node, or every primary of a cluster). */
  primaries(): Redis[];
  /** The hash tag of one user's keys. */
  userTag(principal: string): string;
  logger: Logger;
}

const HELPERS = `
-- A key lives at least ttl ms more (never shortened: other approvals may need it longer).
local function extend(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
`;

/** KEYS au; ARGV now, id, expiresAt, limit, ttlMs. 1 when claimed, 0 when full. */
const CLAIM_USER = `${HELPERS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
extend(KEYS[1], tonumber(ARGV[5]))
return 1
`;

/**
 * KEYS a, as, ab; ARGV now, limit, id, expiresAt, ttlMs, binding, json. 1 when stored, 0
 * when the session has `limit` pending already.
 */
const CREATE = `${HELPERS}
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return 0 end
local ttl = tonumber(ARGV[5])
redis.call('HSET', KEYS[1], 'json', ARGV[7], 'state', 'pending', 'binding', ARGV[6], 'expiresAt', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
extend(KEYS[2], ttl)
redis.call('HSET', KEYS[3], ARGV[6], ARGV[3])
extend(KEYS[3], ttl)
return 1
`;

/** The record's state now, a pending one past its expiry becoming expired (and published). */
const SETTLE = `
local function settle(now, id, channel, expired_message)
  local state = redis.call('HGET', KEYS[1], 'state')
  if not state then return nil end
  if state == 'pending' and now >= tonumber(redis.call('HGET', KEYS[1], 'expiresAt')) then
    redis.call('HSET', KEYS[1], 'state', 'expired')
    redis.call('ZREM', KEYS[2], id)
    redis.call('PUBLISH', channel, expired_message)
    state = 'expired'
  end
  return state
end
`;

/**
 * decide: KEYS a, as; ARGV now, id, state, by, comment, channel, message, the message of an
 * expiry. {'gone'}, {'not_pending', fields...} or {'decided', fields...}.
 */
const DECIDE = `${SETTLE}
local state = settle(tonumber(ARGV[1]), ARGV[2], ARGV[6], ARGV[8])
if not state then return { 'gone' } end
if state ~= 'pending' then
  local fields = redis.call('HGETALL', KEYS[1])
  table.insert(fields, 1, 'not_pending')
  return fields
end
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'decidedBy', ARGV[4], 'decidedAt', ARGV[1], 'comment', ARGV[5])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[6], ARGV[7])
local fields = redis.call('HGETALL', KEYS[1])
table.insert(fields, 1, 'decided')
return fields
`;

/** expire: KEYS a, as; ARGV now, id, channel, message. The fields, or {} when gone. */
const EXPIRE = `${SETTLE}
local state = settle(tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4])
if not state then return {} end
return redis.call('HGETALL', KEYS[1])
`;

/** use: KEYS a; ARGV now, binding. {'gone'}, {'mismatch'}, {'not_approved', state}, {'used'}. */
const USE = `
local f = redis.call('HMGET', KEYS[1], 'state', 'binding', 'expiresAt')
if not f[1] then return { 'gone' } end
if f[2] ~= ARGV[2] then return { 'mismatch' } end
local past = tonumber(ARGV[1]) >= tonumber(f[3])
if f[1] ~= 'approved' or past then
  if f[1] == 'pending' and past then return { 'not_approved', 'expired' } end
  return { 'not_approved', f[1] }
end
redis.call('HSET', KEYS[1], 'state', 'used')
return { 'used' }
`;

const SCRIPTS = {
  claimUser: { command: 'mcpgateApprovalClaimUser', lua: CLAIM_USER },
  create: { command: 'mcpgateApprovalCreate', lua: CREATE },
  decide: { command: 'mcpgateApprovalDecide', lua: DECIDE },
  expire: { command: 'mcpgateApprovalExpire', lua: EXPIRE },
  use: { command: 'mcpgateApprovalUse', lua: USE },
} as const;
type ScriptName = keyof typeof SCRIPTS;
type ScriptCall = (numKeys: number, ...args: Array<string | number>) => Promise<unknown>;

const STATES: ReadonlySet<string> = new Set(['pending', 'approved', 'denied', 'expired', 'used']);
const SCAN_COUNT = 1000;

export class RedisApprovals implements ApprovalStore {
  private readonly scripts: Record<ScriptName, ScriptCall>;
  private readonly listeners: Array<(id: string, state: ApprovalState) => void> = [];

  constructor(private readonly host: RedisApprovalHost) {
    const scripts: Partial<Record<ScriptName, ScriptCall>> = {};
    for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
      const { command, lua } = SCRIPTS[name];
      host.client.defineCommand(command, { lua });
      const fn: unknown = (host.client as unknown as Record<string, unknown>)[command];
      if (typeof fn !== 'function') throw new Error(`ioredis did not define ${command}`);
      scripts[name] = (...args) =>
        (fn as (...a: unknown[]) => Promise<unknown>).apply(host.client, args);
    }
    this.scripts = scripts as Record<ScriptName, ScriptCall>;
  }

  async create(request: ApprovalRequest, limits: ApprovalLimits): Promise<CreateApprovalOutcome> {
    const now = Date.now();
    const ttl = Math.max(1, request.expiresAt + APPROVAL_RETAIN_MS - now);
    const userKey = this.userKey(request.principal);
    const claimed = await this.host.run(() =>
      this.scripts.claimUser(1, userKey, now, request.id, request.expiresAt, limits.perUser, ttl),
    );
    if (claimed !== 1) return { kind: 'full', scope: 'user', limit: limits.perUser };
    const keys = this.keys(request.sessionId, request.id);
    let created: unknown;
    try {
      created = await this.host.run(() =>
        this.scripts.create(
          3,
          keys.record,
          keys.pending,
          keys.bindings,
          now,
          limits.perSession,
          request.id,
          request.expiresAt,
          ttl,
          request.binding,
          JSON.stringify(request),
        ),
      );
      if (created === 1) {
        await this.host.run(() =>
          this.host.client.set(this.pointerKey(request.id), request.sessionId, 'PX', ttl),
        );
      }
    } finally {
      if (created !== 1) await this.unclaim(request.principal, request.id);
    }
    if (created !== 1) return { kind: 'full', scope: 'session', limit: limits.perSession };
    return { kind: 'created' };
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    const sessionId = await this.sessionOf(id);
    if (sessionId === undefined) return undefined;
    // Settled on the way, as the memory store does: a pending one past its expiry reads expired.
    return this.expire(id, sessionId);
  }

  async byBinding(sessionId: string, binding: string): Promise<ApprovalRecord | undefined> {
    const id = await this.host.run(() =>
      this.host.client.hget(this.keys(sessionId, '').bindings, binding),
    );
    return id === null ? undefined : this.expire(id, sessionId);
  }

  async decide(id: string, verdict: Verdict): Promise<DecideApprovalOutcome> {
    const sessionId = await this.sessionOf(id);
    if (sessionId === undefined) return { kind: 'gone' };
    const keys = this.keys(sessionId, id);
    const reply = await this.host.run(() =>
      this.scripts.decide(
        2,
        keys.record,
        keys.pending,
        Date.now(),
        id,
        verdict.state,
        verdict.by,
        verdict.comment,
        this.host.channel,
        this.event(id, verdict.state),
        this.event(id, 'expired'),
      ),
    );
    if (!isStringArray(reply) || reply.length === 0) throw this.malformed(id);
    const [kind, ...fields] = reply;
    if (kind === 'gone') return { kind: 'gone' };
    const record = this.decode(id, fields);
    if (kind === 'decided') {
      await this.unclaim(record.principal, id);
      this.tell(id, record.state);
      return { kind: 'decided', record };
    }
    return { kind: 'not_pending', record };
  }

  async expire(id: string, knownSession?: string): Promise<ApprovalRecord | undefined> {
    const sessionId = knownSession ?? (await this.sessionOf(id));
    if (sessionId === undefined) return undefined;
    const keys = this.keys(sessionId, id);
    const reply = await this.host.run(() =>
      this.scripts.expire(
        2,
        keys.record,
        keys.pending,
        Date.now(),
        id,
        this.host.channel,
        this.event(id, 'expired'),
      ),
    );
    if (!isStringArray(reply)) throw this.malformed(id);
    if (reply.length === 0) return undefined;
    return this.decode(id, reply);
  }

  async use(id: string, binding: string): Promise<UseApprovalOutcome> {
    const sessionId = await this.sessionOf(id);
    if (sessionId === undefined) return { kind: 'gone' };
    const reply = await this.host.run(() =>
      this.scripts.use(1, this.keys(sessionId, id).record, Date.now(), binding),
    );
    if (!isStringArray(reply) || reply.length === 0) throw this.malformed(id);
    switch (reply[0]) {
      case 'used':
        return { kind: 'used' };
      case 'mismatch':
        return { kind: 'mismatch' };
      case 'gone':
        return { kind: 'gone' };
      case 'not_approved':
        if (reply[1] !== undefined && STATES.has(reply[1])) {
          return { kind: 'not_approved', state: reply[1] as ApprovalState };
        }
    }
    throw this.malformed(id);
  }

  async list(): Promise<ApprovalRecord[]> {
    const start = `${this.host.prefix}ap:{`;
    const ids = new Set<string>();
    for (const node of this.host.primaries()) {
      let cursor = '0';
      do {
        const [next, keys] = await this.host.run(() =>
          node.scan(cursor, 'MATCH', `${start}*`, 'COUNT', SCAN_COUNT),
        );
        cursor = next;
        for (const key of keys) {
          if (key.startsWith(start) && key.endsWith('}')) ids.add(key.slice(start.length, -1));
        }
      } while (cursor !== '0');
    }
    const records = await Promise.all([...ids].map((id) => this.get(id)));
    return records
      .filter((r): r is ApprovalRecord => r !== undefined)
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1));
  }

  onSettled(listener: (id: string, state: ApprovalState) => void): void {
    this.listeners.push(listener);
  }

  /** An approval event another replica published (redis-store.ts's subscriber). */
  heard(id: string, state: string, origin: unknown): void {
    if (origin === this.host.origin || !STATES.has(state)) return;
    this.tell(id, state as ApprovalState);
  }

  private tell(id: string, state: ApprovalState): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(id, state);
      } catch (err) {
        this.host.logger.error('approvals: an onSettled listener threw', {
          approval: id.slice(0, 9),
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }

  private event(id: string, state: ApprovalState): string {
    return JSON.stringify({ type: 'approval', id, state, origin: this.host.origin });
  }

  private async sessionOf(id: string): Promise<string | undefined> {
    // Ids are base64url: no brace can move the hash tag.
    if (!/^[A-Za-z0-9_-]+$/.test(id)) return undefined;
    const sessionId = await this.host.run(() => this.host.client.get(this.pointerKey(id)));
    return sessionId === null || sessionId.includes('}') ? undefined : sessionId;
  }

  private async unclaim(principal: string, id: string): Promise<void> {
    try {
      await this.host.run(() => this.host.client.zrem(this.userKey(principal), id));
    } catch (err) {
      // The place is freed when the approval's expiry passes (ZREMRANGEBYSCORE on the next claim).
      this.host.logger.warn('approvals: could not free a place among the user pending approvals', {
        approval: id.slice(0, 9),
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  private keys(sessionId: string, id: string) {
    const p = this.host.prefix;
    return {
      record: `${p}a:{${sessionId}}:${id}`,
      pending: `${p}as:{${sessionId}}`,
      bindings: `${p}ab:{${sessionId}}`,
    };
  }

  private pointerKey(id: string): string {
    return `${this.host.prefix}ap:{${id}}`;
  }

  private userKey(principal: string): string {
    return `${this.host.prefix}au:{${this.host.userTag(principal)}}`;
  }

  private decode(id: string, pairs: string[]): ApprovalRecord {
    const hash: Record<string, string> = {};
    for (let i = 0; i + 1 < pairs.length; i += 2) hash[pairs[i]!] = pairs[i + 1]!;
    let request: unknown;
    try {
      request = JSON.parse(hash.json ?? '');
    } catch {
      throw this.malformed(id);
    }
    const state = hash.state ?? '';
    if (typeof request !== 'object' || request === null || !STATES.has(state)) {
      throw this.malformed(id);
    }
    const record: ApprovalRecord = {
      ...(request as ApprovalRequest),
      state: state as ApprovalState,
    };
    if (hash.decidedBy !== undefined) record.decidedBy = hash.decidedBy;
    if (hash.decidedAt !== undefined) record.decidedAt = Number(hash.decidedAt);
    if (hash.comment !== undefined) record.comment = hash.comment;
    return record;
  }

  private malformed(id: string): StoreUnavailableError {
    return new StoreUnavailableError(
      `session store (Redis) returned a malformed approval ${id.slice(0, 9)}…`,
    );
  }
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}
