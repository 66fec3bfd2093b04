// The session store shared by several gateway replicas, in Redis (one node; Redis Cluster is
// not supported because the keys of one session are not hash-tagged).
//
// Keys (p = keyPrefix, 'mcpgate:' by default), every one with a TTL:
//   p s:<id>                          hash: the SessionRecord (clientInfo/clientCapabilities as
//                                     JSON, expiresAt '' for none), idleMs, calls, denied,
//                                     untracked, lastUsedAt (epoch ms of the last use).
//                                     TTL min(idleMs, expiresAt - now), restarted by load()
//                                     and recordCall().
//   p h:<id>                          list of JSON HistoryEntry, oldest first, trimmed to
//                                     historyLimit; same TTL as the hash.
//   p t:<id>                          hash: the session's summary, one field per target,
//                                     "<action>\n<target>" -> "<allowed> <denied> <last_ns>",
//                                     at most summaryLimit fields; same TTL as the hash.
//                                     (Calls of new targets beyond that are counted in the
//                                     session hash's 'untracked'.)
//   p r:<windowMs>:<index>:<rule.key> counter of one fixed rate window (index =
//                                     floor(now / windowMs)); TTL: until the window ends
//                                     plus 1 s.
//   p idx                             sorted set of session ids scored by when each expires;
//                                     create() and list() drop the ids whose score has
//                                     passed. TTL: as long as its longest-lived session.
//   p o:{u.<digest>}                  sorted set: the ids of one principal's sessions,
//                                     scored by when each was claimed, for
//                                     sessions.max_sessions_per_principal (digest: sha256
//                                     of the principal, base64url, 22 characters; the
//                                     braces keep it in its own hash slot). TTL: idleMs
//                                     + 60 s from the last create or load of any of them,
//                                     so it outlives each member. Ids of sessions that
//                                     have ended are dropped when the set is full.
//   p events                          pub/sub channel (not a key): {type:'terminated', id,
//                                     reason, origin}.
// Nothing secret is stored: the record holds no tokens by design, the history holds digests.
//
// Round trips: load() and recordCall() are one Lua script each (scripts.ts; load() sends the
// PEXPIRE of its principal's set in the same round trip); create() is the claim of a place
// in the principal's set, then the script (plus, only when the set is full, one EXISTS per
// member and a second claim); terminate() is one; list() is two (prune+read the index, then
// the hashes in one pipeline).
// Times are the gateway's clock (Date.now()), passed to the scripts: replicas need
// synchronised clocks (NTP); a skew only blurs the edges of rate windows and expiries by as
// much.
//
// Faults: there is no offline queue and no retry of a command, and every command has a
// timeout (commandTimeoutMs), so when Redis is unreachable or slow every method rejects
// quickly with StoreUnavailableError (the gateway then denies: fail closed). Both
// connections (commands, and the subscriber for termination events) keep reconnecting in
// the background with a capped backoff, so the store recovers by itself when Redis is back.
// The store needs no persistence: after a restart of a Redis without it the sessions are
// gone and clients must open new ones, which is safe (fail closed). A replica whose
// subscriber is disconnected misses the termination events of that time; the sessions are
// gone from Redis all the same, so its next load() of them finds nothing.
//
// The constructor starts connecting at once (lazyConnect, then connect(), so the error
// listeners are in place first); calls made while that first attempt is still under way
// wait for it, up to commandTimeoutMs. ready() lets start-up wait for the connection.
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../util/logger.js';
import { checkIdleMs, checkLimit, checkRateRules, rateWindow } from './memory-store.js';
import {
  CLAIM_SCRIPT,
  CREATE_SCRIPT,
  LOAD_SCRIPT,
  RECORD_SCRIPT,
  TERMINATE_SCRIPT,
  FINDINGS_SCRIPT,
} from './redis/scripts.js';
import type { HistoryEntry, SessionSummary, TargetSummary } from './session.js';
import {
  StoreUnavailableError,
  type ListedSession,
  type CreateOutcome,
  type LoadedSession,
  type RateLimitRule,
  type RecordOptions,
  type RecordOutcome,
  type SessionRecord,
  type SessionStore,
  type SessionUse,
  type StoreHealth,
  MAX_SESSION_LABELS,
  type SessionDlp,
} from './store.js';

export interface RedisStoreOptions {
  /** redis://[user:password@]host:port[/db] or rediss://… (TLS). */
  url: string;
  /** Prepended to every key and to the events channel. Default 'mcpgate:'. */
  keyPrefix?: string;
  /** A command without a reply after this long fails. Default 500. */
  commandTimeoutMs?: number;
  logger: Logger;
}

/** A rate-window counter outlives its window by this much (clock skew between replicas). */
const COUNTER_SLACK_MS = 1000;
/** Reconnection backoff: 100 ms doubling up to this, plus up to 100 ms of jitter. */
const MAX_RECONNECT_DELAY_MS = 2000;
/** list() reads the session hashes in pipelines of this many. */
const LIST_BATCH = 500;
/** Claims of a place for one create(): the second one runs after ended sessions are found. */
const CLAIM_ATTEMPTS = 3;
/**
 * A principal's set outlives idleMs by this much: a request's recordCall() restarts the
 * session's idle time a little after its load() restarted the set's (a policy evaluation
 * and a token exchange apart).
 */
const OWNER_SET_SLACK_MS = 60_000;
/**
 * A place claimed this recently is not checked for its session, which may still be being
 * created (claim and create are two round trips); an older one without its session is a
 * create that failed, and is dropped.
 */
const CLAIM_GRACE_MS = 10_000;

/** The hash tag of one principal's keys (base64url: never a brace). */
function principalTag(principal: string): string {
  return `u.${createHash('sha256').update(principal).digest('base64url').slice(0, 22)}`;
}

type ScriptCall = (numKeys: number, ...args: Array<string | number>) => Promise<unknown>;

interface TerminatedMessage {
  type: 'terminated';
  id: string;
  reason: string;
  /** The store instance that published it; it has told its own listeners already. */
  origin: string;
}

type Role = 'commands' | 'events';

export class RedisStore implements SessionStore {
  private readonly redis: Redis;
  private readonly sub: Redis;
  private readonly prefix: string;
  private readonly channel: string;
  private readonly timeoutMs: number;
  private readonly logger: Logger;
  /** "host:port" for messages; never the password of the URL. */
  private readonly where: string;
  private readonly origin = randomUUID();
  private readonly listeners: Array<(id: string, reason: string) => void> = [];
  private readonly scripts: {
    claim: ScriptCall;
    create: ScriptCall;
    load: ScriptCall;
    record: ScriptCall;
    terminate: ScriptCall;
    findings: ScriptCall;
  };
  /** Why each connection is not usable, while it is not (for messages and health). */
  private readonly problem: Partial<Record<Role, string>> = {};
  private readonly firstConnect: Promise<void>;
  private firstConnectSettled = false;
  private subscribed = false;
  /** Message of the last failed command, until a command succeeds again. */
  private commandFailure: string | undefined;
  private probing = false;
  private closed = false;

  constructor(options: RedisStoreOptions) {
    this.prefix = options.keyPrefix ?? 'mcpgate:';
    this.channel = `${this.prefix}events`;
    this.timeoutMs = options.commandTimeoutMs ?? 500;
    this.logger = options.logger;
    this.where = describeTarget(options.url);
    const common: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // A script sent before a connection broke may have run: never send it twice.
      autoResendUnfulfilledCommands: false,
      commandTimeout: this.timeoutMs,
      connectTimeout: Math.max(1000, 4 * this.timeoutMs),
      retryStrategy: (times) =>
        Math.min(100 * 2 ** Math.min(times - 1, 10), MAX_RECONNECT_DELAY_MS) +
        Math.floor(Math.random() * 100),
    };
    this.redis = new Redis(options.url, { ...common, connectionName: 'mcpgate-sessions' });
    // The subscriber re-subscribes itself on every 'ready' (see watch()).
    this.sub = new Redis(options.url, {
      ...common,
      connectionName: 'mcpgate-session-events',
      autoResubscribe: false,
    });
    this.scripts = {
      claim: this.define('mcpgateSessionClaim', CLAIM_SCRIPT),
      create: this.define('mcpgateSessionCreate', CREATE_SCRIPT),
      load: this.define('mcpgateSessionLoad', LOAD_SCRIPT),
      record: this.define('mcpgateSessionRecord', RECORD_SCRIPT),
      terminate: this.define('mcpgateSessionTerminate', TERMINATE_SCRIPT),
      findings: this.define('mcpgateSessionFindings', FINDINGS_SCRIPT),
    };
    this.watch(this.redis, 'commands');
    this.watch(this.sub, 'events');
    this.sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    this.firstConnect = this.redis.connect().then(
      () => undefined,
      () => undefined, // recorded by the 'error' listener; reconnection goes on by itself
    );
    void this.firstConnect.then(() => {
      this.firstConnectSettled = true;
    });
    this.sub.connect().catch(() => undefined);
  }

  /**
   * Resolves once both connections are up and termination events are subscribed; for
   * start-up and tests (the store works without it, failing fast until connected).
   */
  async ready(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(this.redis.status === 'ready' && this.subscribed)) {
      if (this.closed || Date.now() >= deadline) {
        const health = this.health();
        throw new StoreUnavailableError(health.error ?? `${this.label()} is not ready`);
      }
      await sleep(20);
    }
  }

  async create(
    record: SessionRecord,
    idleMs: number,
    maxPerPrincipal?: number,
  ): Promise<CreateOutcome> {
    checkIdleMs(idleMs);
    const idle = Math.ceil(idleMs);
    if (maxPerPrincipal !== undefined) {
      checkLimit('maxPerPrincipal', maxPerPrincipal);
      const open = await this.claim(record, idle + OWNER_SET_SLACK_MS, maxPerPrincipal);
      if (open !== undefined) return { kind: 'principal_full', open, limit: maxPerPrincipal };
    }
    const expiresAt = record.expiresAt === null ? '' : String(record.expiresAt);
    const fields = [
      'principal',
      record.principal,
      'subject',
      record.subject,
      'purpose',
      record.purpose,
      'createdAt',
      String(record.createdAt),
      'expiresAt',
      expiresAt,
      'protocolVersion',
      record.protocolVersion,
      'clientInfo',
      JSON.stringify(record.clientInfo),
      'clientCapabilities',
      JSON.stringify(record.clientCapabilities),
      'idleMs',
      String(idle),
      'calls',
      '0',
      'denied',
      '0',
    ];
    const keys = this.sessionKeys(record.id);
    await this.run(() =>
      this.scripts.create(keys.length, ...keys, Date.now(), idle, expiresAt, record.id, ...fields),
    );
    return { kind: 'created' };
  }

  /**
   * Takes a place for the session in its principal's set: undefined once taken, else how
   * many sessions the principal has open. A full set is checked member by member (did the
   * session end?) and claimed again without the ended ones. A place whose create() then
   * fails stays until the set is next found full, and is dropped then.
   */
  private async claim(
    record: SessionRecord,
    ttlMs: number,
    limit: number,
  ): Promise<number | undefined> {
    const key = this.ownerKey(record.principal);
    // A session idle longer than idleMs is gone anyway, so never wait longer than that.
    const graceMs = Math.min(CLAIM_GRACE_MS, ttlMs - OWNER_SET_SLACK_MS);
    let gone: string[] = [];
    let open = limit;
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const reply = await this.run(() =>
        this.scripts.claim(1, key, Date.now(), record.id, limit, ttlMs, graceMs, ...gone),
      );
      if (!isStringArray(reply) || reply.length === 0) throw this.malformed(record.id, 'claim');
      if (reply[0] === 'claimed') return undefined;
      open = Number(reply[1]);
      const settled = reply.slice(2);
      const exists = await this.run(() =>
        Promise.all(settled.map((id) => this.redis.exists(this.sessionKeys(id)[0]))),
      );
      gone = settled.filter((_, i) => exists[i] === 0);
      if (gone.length === 0) return open;
    }
    return open;
  }

  async load(
    id: string,
    historyLimit: number,
    rateRules: RateLimitRule[],
    use?: SessionUse,
  ): Promise<LoadedSession | undefined> {
    checkRateRules(rateRules);
    const now = Date.now();
    const keys = [...this.sessionKeys(id), ...rateRules.map((rule) => this.counterKey(rule, now))];
    const reply = await this.run(() => {
      if (use !== undefined) {
        // Sent with the script, not awaited: the same round trip. The set then lives longer
        // than any of its sessions (each lives idleMs from its last use).
        this.redis
          .pexpire(this.ownerKey(use.principal), Math.ceil(use.idleMs) + OWNER_SET_SLACK_MS)
          .catch(() => undefined);
      }
      return this.scripts.load(
        keys.length,
        ...keys,
        now,
        id,
        Math.max(0, Math.floor(historyLimit)),
      );
    });
    if (reply === null) return undefined;
    if (!Array.isArray(reply) || reply.length !== 4) throw this.malformed(id, 'load reply');
    const [fields, history, summary, counts] = reply as unknown[];
    if (
      !isStringArray(fields) ||
      !isStringArray(history) ||
      !isStringArray(summary) ||
      !Array.isArray(counts)
    ) {
      throw this.malformed(id, 'load reply');
    }
    const hash = pairsToObject(fields);
    const rates: Record<string, number> = {};
    rateRules.forEach((rule, i) => {
      const count: unknown = counts[i];
      rates[rule.name] = typeof count === 'number' ? count : 0;
    });
    const loaded: LoadedSession = {
      record: this.decodeRecord(id, hash),
      history: history.map((json) => this.decodeEntry(id, json)),
      summary: this.decodeSummary(id, summary, hash.untracked),
      counters: {
        calls: this.decodeCount(id, hash.calls),
        denied: this.decodeCount(id, hash.denied),
      },
      rates,
    };
    if (hash.dlpLabels !== undefined || hash.dlpTypes !== undefined) {
      loaded.dlp = this.decodeDlp(id, hash);
    }
    return loaded;
  }

  async recordFindings(
    id: string,
    labels: readonly string[],
    counts: Readonly<Record<string, number>>,
  ): Promise<boolean> {
    const [key] = this.sessionKeys(id);
    const pairs = Object.entries(counts).flatMap(([type, n]) => [type, Math.floor(n)]);
    const reply = await this.run(() =>
      this.scripts.findings(1, key, MAX_SESSION_LABELS, labels.length, ...labels, ...pairs),
    );
    return reply === 1;
  }

  /** The session hash's `label:<label>` and `findings:<type>` fields (FINDINGS_SCRIPT). */
  private decodeDlp(id: string, hash: Record<string, string>): SessionDlp {
    const labels: string[] = [];
    const findingCounts: Record<string, number> = {};
    for (const field in hash) {
      if (field.startsWith('label:')) labels.push(field.slice('label:'.length));
      else if (field.startsWith('findings:')) {
        findingCounts[field.slice('findings:'.length)] = this.decodeCount(id, hash[field]);
      }
    }
    return { labels: labels.sort(), findingCounts };
  }

  async recordCall(
    id: string,
    entry: HistoryEntry,
    options: RecordOptions,
  ): Promise<RecordOutcome> {
    checkIdleMs(options.idleMs);
    checkLimit('summaryLimit', options.summaryLimit);
    if (!Number.isInteger(entry.at_ns) || entry.at_ns < 0) {
      throw new RangeError(`at_ns must be a non-negative integer, got ${entry.at_ns}`);
    }
    // Only allowed calls are counted against rate limits.
    const rules = entry.allowed ? options.rateRules : [];
    checkRateRules(rules);
    const now = Date.now();
    const keys = [...this.sessionKeys(id), ...rules.map((rule) => this.counterKey(rule, now))];
    const ruleArgs = rules.flatMap((rule) => [
      rule.limit,
      rateWindow(now, rule.windowMs).endsAt - now + COUNTER_SLACK_MS,
    ]);
    const entryJson = JSON.stringify({
      action: entry.action,
      target: entry.target,
      args_digest: entry.args_digest,
      allowed: entry.allowed,
      at_ns: entry.at_ns,
    } satisfies HistoryEntry);
    const reply = await this.run(() =>
      this.scripts.record(
        keys.length,
        ...keys,
        now,
        id,
        Math.ceil(options.idleMs),
        Math.max(0, Math.floor(options.historyLimit)),
        entryJson,
        entry.allowed ? '1' : '0',
        `${entry.action}\n${entry.target}`,
        BigInt(entry.at_ns).toString(),
        options.summaryLimit,
        ...ruleArgs,
      ),
    );
    if (!Array.isArray(reply)) throw this.malformed(id, 'record reply');
    const [kind, index] = reply as unknown[];
    if (kind === 'recorded') return { kind: 'recorded' };
    if (kind === 'gone') return { kind: 'gone' };
    const rule =
      kind === 'rate_limited' && typeof index === 'number' ? rules[index - 1] : undefined;
    if (!rule) throw this.malformed(id, 'record reply');
    return {
      kind: 'rate_limited',
      rule: rule.name,
      limit: rule.limit,
      windowMs: rule.windowMs,
      retryAfterMs: rateWindow(now, rule.windowMs).endsAt - now,
    };
  }

  async terminate(id: string, reason: string): Promise<boolean> {
    const message: TerminatedMessage = { type: 'terminated', id, reason, origin: this.origin };
    const keys = this.sessionKeys(id);
    const existed = await this.run(() =>
      this.scripts.terminate(keys.length, ...keys, id, this.channel, JSON.stringify(message)),
    );
    if (typeof existed !== 'string' && existed !== 1) return false;
    if (typeof existed === 'string') {
      // Its place among the principal's sessions is free now (a key of another hash slot).
      // If this fails, the place is found free when the principal's set is next full.
      await this.run(() => this.redis.zrem(this.ownerKey(existed), id)).catch(() => undefined);
    }
    // This replica's listeners hear it now, before terminate() resolves, whether or not the
    // subscriber connection is up; the published copy is for the other replicas.
    this.notify(id, reason);
    return true;
  }

  onTerminated(listener: (id: string, reason: string) => void): void {
    this.listeners.push(listener);
  }

  async list(): Promise<ListedSession[]> {
    const idx = `${this.prefix}idx`;
    const ids = await this.run(async () => {
      const results = await this.redis
        .pipeline()
        .zremrangebyscore(idx, '-inf', Date.now())
        .zrange(idx, '0', '-1')
        .exec();
      return pipelineValues(results)[1];
    });
    if (!isStringArray(ids)) throw this.malformed('(index)', 'index');
    const records: ListedSession[] = [];
    for (let start = 0; start < ids.length; start += LIST_BATCH) {
      const batch = ids.slice(start, start + LIST_BATCH);
      const hashes = await this.run(async () => {
        const pipeline = this.redis.pipeline();
        for (const id of batch) pipeline.hgetall(this.sessionKeys(id)[0]);
        return pipelineValues(await pipeline.exec());
      });
      batch.forEach((id, i) => {
        const hash = hashes[i];
        // Gone between the two round trips (expired or terminated): not listed.
        if (typeof hash !== 'object' || hash === null || Object.keys(hash).length === 0) return;
        const fields = hash as Record<string, string>;
        const record = this.decodeRecord(id, fields);
        // A session stored by a gateway that did not record lastUsedAt: its creation.
        const lastUsedAt = Number(fields.lastUsedAt);
        records.push({
          ...record,
          lastUsedAt: Number.isFinite(lastUsedAt) && lastUsedAt > 0 ? lastUsedAt : record.createdAt,
        });
      });
    }
    records.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return records;
  }

  health(): StoreHealth {
    const unhealthy = (error: string): StoreHealth => ({ ok: false, backend: 'redis', error });
    if (this.closed) return unhealthy(`${this.label()} is closed`);
    if (this.redis.status !== 'ready') {
      return unhealthy(
        `${this.label()} is unavailable: ${this.problem.commands ?? 'not connected yet'}`,
      );
    }
    if (!this.subscribed) {
      return unhealthy(
        `${this.label()}: termination events are not received: ${this.problem.events ?? 'not subscribed yet'}`,
      );
    }
    if (this.commandFailure !== undefined) {
      // Connected, but the last command failed (e.g. timed out): check again in the
      // background so health recovers without waiting for the next request.
      this.probe();
      return unhealthy(this.commandFailure);
    }
    return { ok: true, backend: 'redis' };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(
      [this.redis, this.sub].map(async (conn) => {
        if (conn.status === 'ready') {
          try {
            await conn.quit();
            return;
          } catch {
            // fall through: drop the connection
          }
        }
        conn.disconnect();
      }),
    );
  }

  private label(): string {
    return `session store (Redis at ${this.where})`;
  }

  private sessionKeys(id: string): [string, string, string, string] {
    return [
      `${this.prefix}s:${id}`,
      `${this.prefix}h:${id}`,
      `${this.prefix}t:${id}`,
      `${this.prefix}idx`,
    ];
  }

  /** The set of one principal's session ids (see the key list at the top). */
  private ownerKey(principal: string): string {
    return `${this.prefix}o:{${principalTag(principal)}}`;
  }

  private counterKey(rule: RateLimitRule, now: number): string {
    return `${this.prefix}r:${rule.windowMs}:${rateWindow(now, rule.windowMs).index}:${rule.key}`;
  }

  private define(name: string, lua: string): ScriptCall {
    this.redis.defineCommand(name, { lua });
    const fn: unknown = (this.redis as unknown as Record<string, unknown>)[name];
    if (typeof fn !== 'function') throw new Error(`ioredis did not define the command ${name}`);
    return (...args) => (fn as (...a: unknown[]) => Promise<unknown>).apply(this.redis, args);
  }

  /** Runs one round trip; any failure becomes a StoreUnavailableError naming the cause. */
  private async run<T>(op: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreUnavailableError(`${this.label()} is closed`);
    if (!this.firstConnectSettled) {
      await Promise.race([this.firstConnect, sleep(this.timeoutMs, undefined, { ref: false })]);
    }
    try {
      const result = await op();
      this.commandFailure = undefined;
      return result;
    } catch (err) {
      const error = this.unavailable(err);
      this.commandFailure = error.message;
      throw error;
    }
  }

  private unavailable(err: unknown): StoreUnavailableError {
    const message = err instanceof Error ? err.message : String(err);
    let cause: string;
    if (this.closed) cause = 'the store is closed';
    else if (/enableOfflineQueue|Connection is closed|MaxRetriesPerRequest/i.test(message)) {
      cause = this.problem.commands ?? 'not connected';
    } else if (/Command timed out/i.test(message)) cause = `no reply within ${this.timeoutMs} ms`;
    else cause = message;
    return new StoreUnavailableError(`${this.label()} is unavailable: ${cause}`, { cause: err });
  }

  private malformed(id: string, what: string): StoreUnavailableError {
    return new StoreUnavailableError(
      `${this.label()} returned a malformed ${what} for session ${JSON.stringify(id)}`,
    );
  }

  private decodeRecord(id: string, hash: Record<string, string>): SessionRecord {
    const { principal, subject, purpose, protocolVersion } = hash;
    const createdAt = Number(hash.createdAt);
    const expiresAt = hash.expiresAt === '' ? null : Number(hash.expiresAt);
    const clientInfo = parseJson(hash.clientInfo);
    const clientCapabilities = parseJson(hash.clientCapabilities);
    if (
      principal === undefined ||
      subject === undefined ||
      purpose === undefined ||
      protocolVersion === undefined ||
      !Number.isFinite(createdAt) ||
      (expiresAt !== null && !Number.isFinite(expiresAt)) ||
      !(clientInfo === null || isClientInfo(clientInfo)) ||
      !isPlainObject(clientCapabilities)
    ) {
      throw this.malformed(id, 'session record');
    }
    return {
      id,
      principal,
      subject,
      purpose,
      createdAt,
      expiresAt,
      protocolVersion,
      clientInfo:
        clientInfo === null ? null : { name: clientInfo.name, version: clientInfo.version },
      clientCapabilities,
    };
  }

  private decodeEntry(id: string, json: string): HistoryEntry {
    const value = parseJson(json);
    if (
      !isPlainObject(value) ||
      typeof value.action !== 'string' ||
      typeof value.target !== 'string' ||
      typeof value.args_digest !== 'string' ||
      typeof value.allowed !== 'boolean' ||
      !isTime(value.at_ns)
    ) {
      throw this.malformed(id, 'history entry');
    }
    return {
      action: value.action,
      target: value.target,
      args_digest: value.args_digest,
      allowed: value.allowed,
      at_ns: value.at_ns,
    };
  }

  /** The summary hash's "<action>\n<target>" -> "<allowed> <denied> <last_ns>" fields. */
  private decodeSummary(
    id: string,
    fields: string[],
    untracked: string | undefined,
  ): SessionSummary {
    const targets = new Map<string, Array<[string, TargetSummary]>>();
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const field = fields[i] as string;
      const newline = field.indexOf('\n');
      const counts = /^(\d+) (\d+) (\d+)$/.exec(fields[i + 1] as string);
      if (newline < 0 || !counts) throw this.malformed(id, 'summary');
      const action = field.slice(0, newline);
      const byTarget = targets.get(action) ?? [];
      targets.set(action, byTarget);
      byTarget.push([
        field.slice(newline + 1),
        { allowed: Number(counts[1]), denied: Number(counts[2]), last_ns: Number(counts[3]) },
      ]);
    }
    return {
      // fromEntries: any target string, "__proto__" too, becomes an own key.
      targets: Object.fromEntries(
        [...targets].map(([action, byTarget]) => [action, Object.fromEntries(byTarget)]),
      ),
      untracked: this.decodeCount(id, untracked),
    };
  }

  private decodeCount(id: string, value: string | undefined): number {
    const count = Number(value ?? '0');
    if (!Number.isSafeInteger(count) || count < 0) throw this.malformed(id, 'counter');
    return count;
  }

  private watch(conn: Redis, role: Role): void {
    conn.on('error', (err: unknown) => this.connectionProblem(role, describeConnectionError(err)));
    conn.on('close', () => {
      if (role === 'events') this.subscribed = false;
      if (!this.closed && this.problem[role] === undefined)
        this.connectionProblem(role, 'connection lost');
    });
    conn.on('ready', () => {
      if (this.problem[role] !== undefined && !this.closed) {
        this.logger.info('session store: Redis connection restored', {
          redis: this.where,
          connection: role,
        });
      }
      delete this.problem[role];
      if (role === 'commands') this.commandFailure = undefined; // a fresh connection
      if (role === 'events') this.subscribe();
    });
  }

  private connectionProblem(role: Role, problem: string): void {
    if (this.closed || this.problem[role] === problem) return;
    this.problem[role] = problem;
    this.logger.warn('session store: Redis unavailable, reconnecting in the background', {
      redis: this.where,
      connection: role,
      error: problem,
    });
  }

  private subscribe(): void {
    this.sub.subscribe(this.channel).then(
      () => {
        this.subscribed = true;
        delete this.problem.events;
      },
      (err: unknown) => {
        this.connectionProblem('events', `subscribing failed: ${describeConnectionError(err)}`);
        // Still connected (e.g. Redis was slow): try again soon; otherwise the next
        // 'ready' after the reconnection does.
        if (!this.closed && this.sub.status === 'ready') {
          setTimeout(() => {
            if (!this.closed && !this.subscribed && this.sub.status === 'ready') this.subscribe();
          }, 1000).unref();
        }
      },
    );
  }

  private onMessage(channel: string, message: string): void {
    if (channel !== this.channel) return;
    const value = parseJson(message);
    if (
      !isPlainObject(value) ||
      value.type !== 'terminated' ||
      typeof value.id !== 'string' ||
      typeof value.reason !== 'string'
    ) {
      this.logger.warn('session store: ignored a malformed event', { channel });
      return;
    }
    if (value.origin === this.origin) return; // told our listeners in terminate()
    this.notify(value.id, value.reason);
  }

  private notify(id: string, reason: string): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(id, reason);
      } catch (err) {
        this.logger.error('session store: an onTerminated listener threw', {
          session: id,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }

  private probe(): void {
    if (this.probing || this.closed) return;
    this.probing = true;
    this.redis
      .ping()
      .then(
        () => {
          this.commandFailure = undefined;
        },
        () => undefined,
      )
      .finally(() => {
        this.probing = false;
      });
  }
}

/** host:port of a Redis URL, without credentials. */
function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return 'the configured URL';
  }
}

function describeConnectionError(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isClientInfo(value: unknown): value is { name: string; version: string } {
  return (
    isPlainObject(value) && typeof value.name === 'string' && typeof value.version === 'string'
  );
}

/** A Unix time in ns: a non-negative integer (beyond 2^53, so not a safe one). */
function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function pairsToObject(pairs: string[]): Record<string, string> {
  const object: Record<string, string> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) object[pairs[i] as string] = pairs[i + 1] as string;
  return object;
}

/** The values of a pipeline's replies; the first failed command's error is thrown. */
function pipelineValues(results: Array<[Error | null, unknown]> | null): unknown[] {
  if (results === null) throw new Error('Connection is closed');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
