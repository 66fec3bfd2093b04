// The session store shared by several gateway replicas, in Redis: one node (by URL), a Redis
// Cluster, or the primary that Redis Sentinel names (redis/target.ts).
//
// Keys (p = keyPrefix, 'mcpgate:' by default), every one with a TTL. The part in braces is
// the hash tag: Redis Cluster puts keys with the same tag in the same hash slot.
//   p s:{<id>}                             hash: the SessionRecord (clientInfo/clientCapabilities
//                                          as JSON, expiresAt '' for none), idleMs, calls,
//                                          denied, untracked, lastUsedAt (epoch ms of the last
//                                          use).
//                                          TTL min(idleMs, expiresAt - now), restarted by load()
//                                          and recordCall().
//   p h:{<id>}                             list of JSON HistoryEntry, oldest first, trimmed to
//                                          historyLimit; same TTL as the hash.
//   p t:{<id>}                             hash: the session's summary, one field per target,
//                                          "<action>\n<target>" -> "<allowed> <denied> <last_ns>",
//                                          at most summaryLimit fields; same TTL as the hash.
//                                          (Calls of new targets beyond that are counted in the
//                                          session hash's 'untracked'.)
//   p r:{<tag>}:<windowMs>:<index>:<key>   counter of one fixed rate window (index =
//                                          floor(now / windowMs)); tag = the session id for a
//                                          session's rule, u.<digest of the principal> for a
//                                          user's (digest: sha256 of the principal, base64url,
//                                          22 characters); TTL: until the window ends plus 1 s.
//   p o:{u.<digest>}                       sorted set: the ids of one principal's sessions,
//                                          scored by when each was claimed, for
//                                          sessions.max_sessions_per_principal; in the slot of
//                                          the principal's counters. TTL: idleMs + 60 s from
//                                          the last create or load of any of them, so it
//                                          outlives each member. Ids of sessions that have
//                                          ended are dropped when the set is full.
//   p e:{<id>}                             string: the session's end note (JSON SessionEnd),
//                                          written by terminate() (TTL: the session's idleMs)
//                                          and noteEnd() (TTL: until its keepUntil).
//   p n:{<token>}                          string: a token claimOnce() took (a requestState's
//                                          nonce); TTL: until its keepUntil.
//   p events                               pub/sub channel (not a key): {type:'terminated', id,
//                                          reason, origin}, and {type:'approval', id, state,
//                                          origin} (redis/approvals.ts, which lists the keys
//                                          of approvals).
//   p r:<replica>                          pub/sub channel (not a key): retries of held calls
//                                          relayed to the replica that holds them, and its
//                                          answers (redis/relay.ts).
// Nothing secret is stored: the record holds no tokens by design, the history holds digests.
// There is no index of sessions: list() scans for p s:{* on every primary (an admin
// operation), so no key is shared by all sessions and written on every call.
//
// Round trips: load(), recordCall() and terminate() are one Lua script each (scripts.ts),
// each touching one hash slot; create() is one too without a cap per principal. On a
// cluster, a call counted against user rules also touches the user's slot: load() reads
// those counters with an MGET sent alongside the script (still one round trip of waiting),
// and recordCall() counts the call in them first (COUNT_SCRIPT) and then records it in the
// session's slot; if the session's script then refuses it (a full session window, a session
// gone), the user counters are given the call back (UNCOUNT_SCRIPT). So all-or-none holds,
// at the cost of a second round trip, and of a moment in which a concurrent call of the same
// user sees a count one too high (it is denied, never wrongly allowed). On one node all
// counters are in the session's script.
// The cap per principal lives in the principal's slot on every deployment: create() first
// claims a place there (CLAIM_SCRIPT; when the set is full, one EXISTS per member, sent
// together, and a second claim), then runs the session's script: two round trips. load()
// restarts the set's TTL with a PEXPIRE sent alongside its script; terminate() frees the
// place with a ZREM after its script (which returns the principal): a second round trip.
// Times are the gateway's clock (Date.now()), passed to the scripts: replicas need
// synchronised clocks (NTP); a skew only blurs the edges of rate windows and expiries by as
// much.
//
// Replicas: with replicaAck, create() and terminate() are followed (in the same pipeline, so
// on the same node) by WAIT <replicas> <timeoutMs>: a session is handed to its client only
// once a replica holds it, so a failover cannot lose it, and a session not confirmed in time
// is removed again and refused. Calls recorded afterwards replicate asynchronously.
//
// Faults: there is no offline queue and no retry of a command, and every command has a
// timeout (commandTimeoutMs), so when Redis is unreachable or slow every method rejects
// quickly with StoreUnavailableError (the gateway then denies: fail closed). Both
// connections (commands, and the subscriber for termination events) keep reconnecting in
// the background with a capped backoff, so the store recovers by itself when Redis is back
// (through Sentinel: at the primary it names now; on a cluster: at the nodes that hold the
// slots now, the subscriber moving from node to node). The store needs no persistence:
// after a restart of a Redis without it the sessions are gone and clients must open new
// ones, which is safe (fail closed). A replica whose subscriber is disconnected misses the
// termination events of that time; the sessions are gone from Redis all the same, so its
// next load() of them finds nothing.
//
// The constructor starts connecting at once (lazyConnect, then connect(), so the error
// listeners are in place first); calls made while that first attempt is still under way
// wait for it, up to commandTimeoutMs. ready() lets start-up wait for the connection.
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, type ChainableCommander, type Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../util/logger.js';
import { checkIdleMs, checkLimit, checkRateRules, rateWindow } from './memory-store.js';
import { RedisApprovals } from './redis/approvals.js';
import { RedisRelay } from './redis/relay.js';
import {
  CLAIM_SCRIPT,
  COUNT_SCRIPT,
  CREATE_SCRIPT,
  FINDINGS_SCRIPT,
  LOAD_SCRIPT,
  RECORD_SCRIPT,
  TERMINATE_SCRIPT,
  UNCOUNT_SCRIPT,
} from './redis/scripts.js';
import {
  commandClient,
  describeTarget,
  subscriberClient,
  type HostPort,
  type RedisTarget,
} from './redis/target.js';
import { SKETCH_BYTES } from '../inspect/provenance.js';
import type { HistoryEntry, SessionSummary, TargetSummary } from './session.js';
import {
  MAX_SESSION_LABELS,
  MAX_SESSION_SKETCHES,
  BEHAVIOUR_MINUTES,
  minuteOf,
  type SessionBehaviour,
  StoreUnavailableError,
  type ListedSession,
  type CreateOutcome,
  type LoadedSession,
  type RateLimitRule,
  type RecordOptions,
  type RecordOutcome,
  type SessionDlp,
  type SessionEnd,
  type SessionRecord,
  type SessionStore,
  type SessionUse,
  type StoreHealth,
} from './store.js';

/** Writes a client must not see acknowledged before this many replicas hold them. */
export interface ReplicaAck {
  replicas: number;
  /** How long to wait for them (WAIT's timeout); below the command timeout. */
  timeoutMs: number;
}

export interface RedisStoreOptions {
  target: RedisTarget;
  /** Prepended to every key and to the events channel. Default 'mcpgate:'. */
  keyPrefix?: string;
  /** A command without a reply after this long fails. Default 500. */
  commandTimeoutMs?: number;
  /** Wait for replicas after create() and terminate(). Default: do not. */
  replicaAck?: ReplicaAck;
  logger: Logger;
}

/** A rate-window counter outlives its window by this much (clock skew between replicas). */
const COUNTER_SLACK_MS = 1000;
/** Reconnection backoff: 100 ms doubling up to this, plus up to 100 ms of jitter. */
const MAX_RECONNECT_DELAY_MS = 2000;
/** list() reads the session hashes this many at a time. */
const LIST_BATCH = 500;
/** Sends of a script + WAIT pipeline that a cluster redirected, before giving up. */
const MAX_PIPELINE_ATTEMPTS = 3;
/** SCAN's COUNT in list(). */
const SCAN_COUNT = 1000;
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

const SCRIPTS = {
  claim: { command: 'mcpgateSessionClaim', lua: CLAIM_SCRIPT },
  create: { command: 'mcpgateSessionCreate', lua: CREATE_SCRIPT },
  load: { command: 'mcpgateSessionLoad', lua: LOAD_SCRIPT },
  record: { command: 'mcpgateSessionRecord', lua: RECORD_SCRIPT },
  count: { command: 'mcpgateSessionCount', lua: COUNT_SCRIPT },
  uncount: { command: 'mcpgateSessionUncount', lua: UNCOUNT_SCRIPT },
  terminate: { command: 'mcpgateSessionTerminate', lua: TERMINATE_SCRIPT },
  findings: { command: 'mcpgateSessionFindings', lua: FINDINGS_SCRIPT },
} as const;
type ScriptName = keyof typeof SCRIPTS;

type ScriptArg = string | number;
type ScriptCall = (numKeys: number, ...args: ScriptArg[]) => Promise<unknown>;

interface TerminatedMessage {
  type: 'terminated';
  id: string;
  reason: string;
  /** The store instance that published it; it has told its own listeners already. */
  origin: string;
}

type Role = 'commands' | 'events';

/** A rule with its place in the caller's list (rates and reasons are by that list). */
interface PlacedRule {
  rule: RateLimitRule;
  index: number;
}

/** Rate rules counted apart from the session's script: one user's, in one hash slot. */
interface CounterGroup {
  keys: string[];
  rules: PlacedRule[];
}

/** Reconnection delay after `times` failures. */
function backoff(times: number): number {
  return (
    Math.min(100 * 2 ** Math.min(times - 1, 10), MAX_RECONNECT_DELAY_MS) +
    Math.floor(Math.random() * 100)
  );
}

/**
 * A session id the store can key: every gateway id is (base64url), but a client may send
 * anything in Mcp-Session-Id. An id with "}" (or an empty one) would move the hash tag and
 * spread the session's keys over slots, so no session has such an id.
 */
function keyable(id: string): boolean {
  return id.length > 0 && !id.includes('}');
}

/** The hash tag of one user's counters and set of sessions (base64url: no braces). */
function userTag(principal: string): string {
  return `u.${createHash('sha256').update(principal).digest('base64url').slice(0, 22)}`;
}

export class RedisStore implements SessionStore {
  private readonly redis: Redis | Cluster;
  private sub: Redis;
  private readonly target: RedisTarget;
  private readonly common: RedisOptions;
  private readonly cluster: boolean;
  private readonly prefix: string;
  private readonly channel: string;
  private readonly timeoutMs: number;
  private readonly replicaAck: ReplicaAck | undefined;
  private readonly logger: Logger;
  /** How messages name Redis ("Redis at host:port", …); never with a password. */
  private readonly where: string;
  private readonly origin = randomUUID();
  private readonly listeners: Array<(id: string, reason: string) => void> = [];
  readonly approvals: RedisApprovals;
  /** Retries of held calls between replicas (redis/relay.ts). */
  readonly relay: RedisRelay;
  /** The relay's channel of this replica, once it serves (subscribed with `channel`). */
  private relayChannel: string | undefined;
  private readonly scripts: Record<ScriptName, ScriptCall>;
  /** Why each connection is not usable, while it is not (for messages and health). */
  private readonly problem: Partial<Record<Role, string>> = {};
  /** Cluster nodes whose failure was logged, with the cause (logged once per cause). */
  private readonly nodeProblems = new Map<string, string>();
  private readonly firstConnect: Promise<void>;
  private firstConnectSettled = false;
  private subscribed = false;
  /** Cluster: subscriber connections opened so far (picks the next node) and failed since the last success. */
  private subscriberAttempts = 0;
  private subscriberFailures = 0;
  private subscriberRetry: NodeJS.Timeout | undefined;
  /** Message of the last failed command, until a command succeeds again. */
  private commandFailure: string | undefined;
  private probing = false;
  private closed = false;

  constructor(options: RedisStoreOptions) {
    this.target = options.target;
    this.cluster = options.target.kind === 'cluster';
    this.prefix = options.keyPrefix ?? 'mcpgate:';
    this.channel = `${this.prefix}events`;
    this.timeoutMs = options.commandTimeoutMs ?? 500;
    this.replicaAck = options.replicaAck;
    if (this.replicaAck && !(this.replicaAck.timeoutMs < this.timeoutMs)) {
      throw new RangeError(
        `replicaAck.timeoutMs (${this.replicaAck.timeoutMs}) must be below the command timeout (${this.timeoutMs})`,
      );
    }
    this.logger = options.logger;
    this.where = describeTarget(options.target);
    this.common = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // A script sent before a connection broke may have run: never send it twice.
      autoResendUnfulfilledCommands: false,
      commandTimeout: this.timeoutMs,
      connectTimeout: Math.max(1000, 4 * this.timeoutMs),
      retryStrategy: backoff,
    };
    this.redis = commandClient(this.target, this.common, 'mcpgate-sessions');
    const scripts: Partial<Record<ScriptName, ScriptCall>> = {};
    for (const name of Object.keys(SCRIPTS) as ScriptName[]) scripts[name] = this.define(name);
    this.scripts = scripts as Record<ScriptName, ScriptCall>;
    this.approvals = new RedisApprovals({
      prefix: this.prefix,
      channel: this.channel,
      origin: this.origin,
      client: this.redis,
      run: (op) => this.run(op),
      primaries: () => (this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis]),
      userTag,
      logger: this.logger,
    });
    this.relay = new RedisRelay({
      prefix: this.prefix,
      client: this.redis,
      cluster: this.cluster,
      run: (op) => this.run(op),
      listen: (channel) => {
        this.relayChannel = channel;
        if (this.subscribed) this.subscribe();
      },
      ackMs: Math.max(1000, 4 * this.timeoutMs),
      logger: this.logger,
    });
    this.watch(this.redis, 'commands');
    if (this.redis instanceof Cluster) this.watchNodes(this.redis);
    this.sub = this.openSubscriber();
    this.firstConnect = this.redis.connect().then(
      () => undefined,
      () => undefined, // recorded by the 'error' listener; reconnection goes on by itself
    );
    void this.firstConnect.then(() => {
      this.firstConnectSettled = true;
    });
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
    if (!keyable(record.id)) {
      throw new RangeError(`session id must be non-empty and without "}", got ${record.id}`);
    }
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
    const args: ScriptArg[] = [keys.length, ...keys, Date.now(), idle, expiresAt, ...fields];
    const acked = await this.run(() => this.withReplicaAck('create', args));
    if (acked === undefined || acked >= (this.replicaAck?.replicas ?? 0)) {
      return { kind: 'created' };
    }
    // Not on enough replicas: a failover now could lose it, so it is not handed out.
    this.redis.del(...keys).catch(() => undefined);
    if (maxPerPrincipal !== undefined) await this.unclaim(record);
    throw this.notConfirmed('the new session', acked);
  }

  /**
   * Takes a place for the session in its principal's set: undefined once taken, else how
   * many sessions the principal has open. A full set is checked member by member (did the
   * session end?) and claimed again without the ended ones. A place whose create() then
   * fails stays until the set is next found full, and is dropped then.
   *
   * With replicaAck on a cluster, the claim is confirmed by WAIT on its own node (the
   * principal's slot is seldom on the session's node, whose WAIT after create() cannot
   * cover it); on one primary, create()'s WAIT on the same connection covers the claim too.
   * A failover could otherwise lose a claimed place and let the principal open one session
   * over the cap.
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
      const args: ScriptArg[] = [1, key, Date.now(), record.id, limit, ttlMs, graceMs, ...gone];
      let reply: unknown;
      const acked = await this.run(() =>
        this.cluster
          ? this.withReplicaAck('claim', args, (r) => {
              reply = r;
            })
          : this.scripts.claim(...(args as [number, ...ScriptArg[]])).then((r) => {
              reply = r;
              return undefined;
            }),
      );
      if (!isStringArray(reply) || reply.length === 0) throw this.malformed(record.id, 'claim');
      if (reply[0] === 'claimed') {
        if (acked === undefined || acked >= (this.replicaAck?.replicas ?? 0)) return undefined;
        await this.unclaim(record);
        throw this.notConfirmed("the new session's place among its user's sessions", acked);
      }
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

  /**
   * Gives back a place claimed for a session that is not opened after all (best effort: a
   * place left behind is dropped when the set is next found full).
   */
  private async unclaim(record: SessionRecord): Promise<void> {
    await this.redis.zrem(this.ownerKey(record.principal), record.id).catch(() => undefined);
  }

  private notConfirmed(what: string, acked: number): StoreUnavailableError {
    return new StoreUnavailableError(
      `${this.label()} is unavailable: ${what} was not confirmed by ${this.replicasNeeded()} within ${this.replicaAck?.timeoutMs} ms (${acked} confirmed); it was not opened`,
    );
  }

  async load(
    id: string,
    historyLimit: number,
    rateRules: RateLimitRule[],
    use?: SessionUse,
  ): Promise<LoadedSession | undefined> {
    checkRateRules(rateRules);
    if (!keyable(id)) return undefined;
    const now = Date.now();
    const { here, apart } = this.placeRules(id, rateRules, now);
    const keys = [
      ...this.sessionKeys(id),
      ...here.map(({ rule }) => this.counterKey(id, rule, now)),
    ];
    const [reply, , ...apartCounts] = await this.run(() =>
      Promise.all([
        this.scripts.load(keys.length, ...keys, now, Math.max(0, Math.floor(historyLimit))),
        // Sent alongside the script (on a cluster, to the principal's slot), so no extra
        // round trip: the set of the principal's sessions then lives longer than any of them
        // (each lives idleMs from its last use). Its failure does not fail the load: the set
        // is only the count of the cap.
        use === undefined
          ? undefined
          : this.redis
              .pexpire(this.ownerKey(use.principal), Math.ceil(use.idleMs) + OWNER_SET_SLACK_MS)
              .catch(() => undefined),
        // A user's counters, in the user's slot: read alongside, not after, the script.
        ...apart.map((group) => this.redis.mget(...group.keys)),
      ]),
    );
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
    for (const rule of rateRules) rates[rule.name] = 0;
    here.forEach(({ rule }, i) => {
      const count: unknown = counts[i];
      rates[rule.name] = typeof count === 'number' ? count : 0;
    });
    apart.forEach((group, g) => {
      const values = apartCounts[g];
      group.rules.forEach(({ rule }, i) => {
        const value: unknown = Array.isArray(values) ? values[i] : undefined;
        rates[rule.name] = typeof value === 'string' ? this.decodeCount(id, value) : 0;
      });
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
    const behaviour = this.decodeBehaviour(id, hash, minuteOf(now));
    if (behaviour !== undefined) loaded.behaviour = behaviour;
    return loaded;
  }

  async recordFindings(
    id: string,
    labels: readonly string[],
    counts: Readonly<Record<string, number>>,
    sketches: Readonly<Record<string, Uint8Array>> = {},
  ): Promise<boolean> {
    if (!keyable(id)) return false;
    const [key] = this.sessionKeys(id);
    const pairs = Object.entries(counts).flatMap(([type, n]) => [type, Math.floor(n)]);
    const sketchArgs = Object.entries(sketches).flatMap(([label, sketch]) => {
      if (sketch.length !== SKETCH_BYTES)
        throw new RangeError(`a sketch must be ${SKETCH_BYTES} bytes`);
      return [label, Buffer.from(sketch).toString('hex')];
    });
    let reply: unknown;
    await this.run(() =>
      this.withReplicaAck(
        'findings',
        [
          1,
          key,
          MAX_SESSION_LABELS,
          labels.length,
          ...labels,
          MAX_SESSION_SKETCHES,
          sketchArgs.length / 2,
          ...sketchArgs,
          ...pairs,
        ],
        (r) => {
          reply = r;
        },
      ),
    );
    return reply === 1;
  }

  /**
   * The session hash's behaviour fields: `bm0`..`bm9` ("minute count", RECORD_SCRIPT; those
   * of minutes older than the window are left out), `bn`, `bt` and `sk:<label>` (hex,
   * FINDINGS_SCRIPT). Undefined when the session has none yet.
   */
  private decodeBehaviour(
    id: string,
    hash: Record<string, string>,
    minute: number,
  ): SessionBehaviour | undefined {
    const minutes: Array<[number, number]> = [];
    const sketches: Record<string, Uint8Array> = {};
    let any = hash.bn !== undefined || hash.bt !== undefined;
    for (const field in hash) {
      if (/^bm\d$/.test(field)) {
        any = true;
        const held = /^(\d+) (\d+)$/.exec(hash[field] as string);
        if (!held) throw this.malformed(id, 'behaviour minute');
        const at = Number(held[1]);
        if (at > minute - BEHAVIOUR_MINUTES && at <= minute) minutes.push([at, Number(held[2])]);
      } else if (field.startsWith('sk:')) {
        any = true;
        const hex = hash[field] as string;
        if (hex.length !== SKETCH_BYTES * 2 || !/^[0-9a-f]*$/.test(hex)) {
          throw this.malformed(id, 'sketch');
        }
        sketches[field.slice(3)] = Uint8Array.from(Buffer.from(hex, 'hex'));
      }
    }
    if (!any) return undefined;
    minutes.sort((a, b) => a[0] - b[0]);
    return {
      minutes,
      novelNgrams: this.decodeCount(id, hash.bn),
      novelTools: this.decodeCount(id, hash.bt),
      sketches,
    };
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
    if (!keyable(id)) return { kind: 'gone' };
    const now = Date.now();
    const { here, apart } = this.placeRules(id, rules, now);
    const limitArgs = (placed: PlacedRule[]): number[] =>
      placed.flatMap(({ rule }) => [
        rule.limit,
        rateWindow(now, rule.windowMs).endsAt - now + COUNTER_SLACK_MS,
      ]);

    // On a cluster, a user's counters first, in the user's slot (none on one node).
    const counted: string[][] = [];
    for (const group of apart) {
      const full = await this.run(() =>
        this.scripts.count(group.keys.length, ...group.keys, ...limitArgs(group.rules)),
      );
      if (full !== 0) {
        await this.uncount(id, counted);
        const placed = typeof full === 'number' ? group.rules[full - 1] : undefined;
        if (!placed) throw this.malformed(id, 'count reply');
        return this.rateLimited(placed.rule, now);
      }
      counted.push(group.keys);
    }

    const keys = [
      ...this.sessionKeys(id),
      ...here.map(({ rule }) => this.counterKey(id, rule, now)),
    ];
    const entryJson = JSON.stringify({
      action: entry.action,
      target: entry.target,
      args_digest: entry.args_digest,
      allowed: entry.allowed,
      at_ns: entry.at_ns,
    } satisfies HistoryEntry);
    // If this fails, the script may have run: the user counters keep the call (counted, and
    // the call denied: the safe side).
    const reply = await this.run(() =>
      this.scripts.record(
        keys.length,
        ...keys,
        now,
        Math.ceil(options.idleMs),
        Math.max(0, Math.floor(options.historyLimit)),
        entryJson,
        entry.allowed ? '1' : '0',
        `${entry.action}\n${entry.target}`,
        BigInt(entry.at_ns).toString(),
        options.summaryLimit,
        options.behaviour === undefined ? '' : options.behaviour.minute,
        options.behaviour?.novelNgrams ?? 0,
        options.behaviour?.novelTools ?? 0,
        ...limitArgs(here),
      ),
    );
    if (!Array.isArray(reply)) throw this.malformed(id, 'record reply');
    const [kind, index] = reply as unknown[];
    if (kind === 'recorded') return { kind: 'recorded' };
    const placed =
      kind === 'rate_limited' && typeof index === 'number' ? here[index - 1] : undefined;
    if (kind !== 'gone' && !placed) throw this.malformed(id, 'record reply');
    await this.uncount(id, counted);
    return placed ? this.rateLimited(placed.rule, now) : { kind: 'gone' };
  }

  async terminate(id: string, reason: string): Promise<boolean> {
    if (!keyable(id)) return false;
    const message: TerminatedMessage = { type: 'terminated', id, reason, origin: this.origin };
    const keys = [...this.sessionKeys(id), this.endKey(id)];
    const end: SessionEnd = { at: Date.now(), reason };
    let existed: unknown;
    const acked = await this.run(() =>
      this.withReplicaAck(
        'terminate',
        [keys.length, ...keys, this.channel, JSON.stringify(message), JSON.stringify(end)],
        (reply) => {
          existed = reply;
        },
      ),
    );
    if (typeof existed !== 'string' && existed !== 1) return false;
    if (typeof existed === 'string') {
      // Its place among the principal's sessions is free now (a key of the principal's hash
      // slot, so a command of its own). If this fails, or a failover loses it, the place is
      // found free when the principal's set is next full.
      const owner = this.ownerKey(existed);
      await this.run(() => this.redis.zrem(owner, id)).catch(() => undefined);
    }
    if (acked !== undefined && acked < (this.replicaAck?.replicas ?? 0)) {
      // Ended here; only a failover before the replica catches up could bring it back.
      this.logger.warn('session store: a terminated session is not yet confirmed by a replica', {
        redis: this.where,
        session: id.slice(0, 8),
        needed: this.replicasNeeded(),
        confirmed: acked,
      });
    }
    // This replica's listeners hear it now, before terminate() resolves, whether or not the
    // subscriber connection is up; the published copy is for the other replicas.
    this.notify(id, reason);
    return true;
  }

  onTerminated(listener: (id: string, reason: string) => void): void {
    this.listeners.push(listener);
  }

  async noteEnd(id: string, end: SessionEnd, keepUntil: number): Promise<void> {
    if (!keyable(id))
      throw new RangeError(`session id must be non-empty and without "}", got ${id}`);
    const keepMs = Math.max(1, Math.ceil(keepUntil - Date.now()));
    await this.run(() => this.redis.set(this.endKey(id), JSON.stringify(end), 'PX', keepMs));
  }

  async claimOnce(token: string, keepUntil: number): Promise<boolean> {
    if (!keyable(token)) throw new RangeError(`a token must be non-empty and without "}"`);
    const keepMs = Math.max(1, Math.ceil(keepUntil - Date.now()));
    const reply = await this.run(() =>
      this.redis.set(`${this.prefix}n:{${token}}`, '1', 'PX', keepMs, 'NX'),
    );
    return reply === 'OK';
  }

  async endOf(id: string): Promise<SessionEnd | undefined> {
    if (!keyable(id)) return undefined;
    const raw = await this.run(() => this.redis.get(this.endKey(id)));
    if (raw === null) return undefined;
    const parsed = JSON.parse(raw) as Partial<SessionEnd>;
    if (typeof parsed.at !== 'number' || typeof parsed.reason !== 'string') {
      throw this.malformed(id, 'end note');
    }
    return { at: parsed.at, reason: parsed.reason };
  }

  async list(): Promise<ListedSession[]> {
    const ids = new Set<string>();
    const start = `${this.prefix}s:{`;
    const primaries = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis];
    if (primaries.length === 0) {
      // A cluster client knows its primaries once connected: none known is no listing.
      throw new StoreUnavailableError(
        `${this.label()} is unavailable: ${this.problem.commands ?? 'not connected yet'}`,
      );
    }
    for (const node of primaries) {
      let cursor = '0';
      do {
        const [next, keys] = await this.run(() =>
          node.scan(cursor, 'MATCH', `${start}*`, 'COUNT', SCAN_COUNT),
        );
        cursor = next;
        for (const key of keys) {
          if (key.startsWith(start) && key.endsWith('}')) ids.add(key.slice(start.length, -1));
        }
      } while (cursor !== '0');
    }
    const records: ListedSession[] = [];
    const all = [...ids];
    for (let at = 0; at < all.length; at += LIST_BATCH) {
      const batch = all.slice(at, at + LIST_BATCH);
      const hashes = await this.run(() =>
        Promise.all(batch.map((id) => this.redis.hgetall(this.sessionKeys(id)[0]))),
      );
      batch.forEach((id, i) => {
        const hash = hashes[i];
        // Gone between the scan and the read (expired or terminated): not listed.
        if (!hash || Object.keys(hash).length === 0) return;
        const record = this.decodeRecord(id, hash);
        // A session stored by a gateway that did not record lastUsedAt: its creation.
        const lastUsedAt = Number(hash.lastUsedAt);
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
    clearTimeout(this.subscriberRetry);
    this.relay.close();
    await Promise.all(
      [this.redis, this.sub].map(async (conn) => {
        if (conn.status === 'ready') {
          try {
            await conn.quit();
            // QUIT ends the connection but not what its connector holds (through Sentinel:
            // the subscriptions that watch for failovers); disconnect() ends those too.
            if (!(conn instanceof Cluster)) conn.disconnect();
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
    return `session store (${this.where})`;
  }

  private replicasNeeded(): string {
    const n = this.replicaAck?.replicas ?? 0;
    return n === 1 ? '1 replica' : `${n} replicas`;
  }

  private sessionKeys(id: string): [string, string, string] {
    return [`${this.prefix}s:{${id}}`, `${this.prefix}h:{${id}}`, `${this.prefix}t:{${id}}`];
  }

  /** A session's end note, in the session's hash slot. */
  private endKey(id: string): string {
    return `${this.prefix}e:{${id}}`;
  }

  /** The set of one principal's session ids (see the key list at the top). */
  private ownerKey(principal: string): string {
    return `${this.prefix}o:{${userTag(principal)}}`;
  }

  private counterKey(id: string, rule: RateLimitRule, now: number): string {
    const tag = rule.scope.kind === 'session' ? id : userTag(rule.scope.principal);
    return `${this.prefix}r:{${tag}}:${rule.windowMs}:${rateWindow(now, rule.windowMs).index}:${rule.key}`;
  }

  /**
   * Which rules the session's script counts (`here`: all of them on one node; on a cluster
   * those in the session's slot) and which are counted apart, one group per user's slot.
   */
  private placeRules(
    id: string,
    rules: RateLimitRule[],
    now: number,
  ): { here: PlacedRule[]; apart: CounterGroup[] } {
    const here: PlacedRule[] = [];
    const apart = new Map<string, CounterGroup>();
    rules.forEach((rule, index) => {
      if (!this.cluster || rule.scope.kind === 'session') {
        here.push({ rule, index });
        return;
      }
      const tag = userTag(rule.scope.principal);
      const group = apart.get(tag) ?? { keys: [], rules: [] };
      apart.set(tag, group);
      group.keys.push(this.counterKey(id, rule, now));
      group.rules.push({ rule, index });
    });
    return { here, apart: [...apart.values()] };
  }

  /** Gives the call back to user counters counted before the session's script refused it. */
  private async uncount(id: string, counted: string[][]): Promise<void> {
    for (const keys of counted) {
      try {
        await this.run(() => this.scripts.uncount(keys.length, ...keys));
      } catch (err) {
        // The call stays counted until its window ends: denied calls of that user may
        // be refused a little early (never one allowed too many).
        this.logger.warn('session store: could not take back a refused call from a rate counter', {
          redis: this.where,
          session: id.slice(0, 8),
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }

  private rateLimited(rule: RateLimitRule, now: number): RecordOutcome {
    return {
      kind: 'rate_limited',
      rule: rule.name,
      limit: rule.limit,
      windowMs: rule.windowMs,
      retryAfterMs: rateWindow(now, rule.windowMs).endsAt - now,
    };
  }

  private define(name: ScriptName): ScriptCall {
    const { command, lua } = SCRIPTS[name];
    this.redis.defineCommand(command, { lua });
    const fn: unknown = (this.redis as unknown as Record<string, unknown>)[command];
    if (typeof fn !== 'function') throw new Error(`ioredis did not define the command ${command}`);
    return (...args) => (fn as (...a: unknown[]) => Promise<unknown>).apply(this.redis, args);
  }

  /**
   * Runs a script; with replicaAck, WAIT follows it in one pipeline (so on the node that ran
   * it) and the number of replicas that confirmed is returned, else undefined.
   */
  private async withReplicaAck(
    name: ScriptName,
    args: ScriptArg[],
    onReply: (reply: unknown) => void = () => undefined,
  ): Promise<number | undefined> {
    if (!this.replicaAck) {
      onReply(await this.scripts[name](...(args as [number, ...ScriptArg[]])));
      return undefined;
    }
    for (let attempt = 1; ; attempt++) {
      const pipeline: ChainableCommander = this.redis.pipeline();
      const queue: unknown = (pipeline as unknown as Record<string, unknown>)[
        SCRIPTS[name].command
      ];
      if (typeof queue !== 'function')
        throw new Error(`ioredis did not define ${name} for pipelines`);
      (queue as (...a: ScriptArg[]) => unknown).apply(pipeline, args);
      pipeline.call('WAIT', this.replicaAck.replicas, this.replicaAck.timeoutMs);
      const results = await pipeline.exec();
      if (results === null) throw new Error('Connection is closed');
      const [[scriptError, reply] = [null, undefined], [waitError, acked] = [null, undefined]] =
        results;
      if (scriptError) {
        // ioredis follows a cluster's redirections for a pipeline only when the rest of it is
        // read-only, which WAIT is not. The script did not run: ask the cluster where the slot
        // is now, and send the pipeline again.
        if (
          this.redis instanceof Cluster &&
          attempt < MAX_PIPELINE_ATTEMPTS &&
          /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /.test(scriptError.message)
        ) {
          const cluster = this.redis;
          await new Promise<void>((resolve) => cluster.refreshSlotsCache(() => resolve()));
          continue;
        }
        throw scriptError;
      }
      onReply(reply);
      if (waitError) throw waitError;
      if (typeof acked !== 'number') throw new Error(`WAIT answered ${String(acked)}`);
      return acked;
    }
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
      const error = err instanceof StoreUnavailableError ? err : this.unavailable(err);
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

  private watch(conn: Redis | Cluster, role: Role): void {
    // A subscriber that has been replaced (cluster: moved to another node) speaks no more.
    const current = (): boolean => role === 'commands' || conn === this.sub;
    conn.on('error', (err: unknown) => {
      if (current()) this.connectionProblem(role, describeConnectionError(err));
    });
    conn.on('close', () => {
      if (!current()) return;
      if (role === 'events') this.subscribed = false;
      if (!this.closed && this.problem[role] === undefined)
        this.connectionProblem(role, 'connection lost');
    });
    conn.on('ready', () => {
      if (!current()) return;
      if (this.problem[role] !== undefined && !this.closed) {
        this.logger.info('session store: Redis connection restored', {
          redis: this.where,
          connection: role,
        });
      }
      delete this.problem[role];
      if (role === 'commands') this.commandFailure = undefined; // a fresh connection
      if (role === 'events') {
        this.subscriberFailures = 0;
        this.subscribe();
      }
    });
  }

  /** Cluster: a node failing while the others serve is logged once per node and cause. */
  private watchNodes(cluster: Cluster): void {
    cluster.on('node error', (err: unknown, node: unknown) => {
      const address = typeof node === 'string' ? node : 'a node';
      const cause = describeConnectionError(err);
      if (this.closed || this.nodeProblems.get(address) === cause) return;
      this.nodeProblems.set(address, cause);
      this.logger.warn('session store: a Redis Cluster node is unavailable', {
        redis: this.where,
        node: address,
        error: cause,
      });
    });
    // The node is back in (or newly in) the cluster's view: log its next failure again.
    cluster.on('+node', (_redis: unknown, address: unknown) => {
      if (typeof address === 'string') this.nodeProblems.delete(address);
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

  /**
   * The connection for termination events. On one node or through Sentinel it reconnects by
   * itself. On a cluster any node hears every PUBLISH, so when its node fails the store opens
   * a new one to the next node (the nodes the cluster client knows, then the configured
   * ones), after the same backoff.
   */
  private openSubscriber(): Redis {
    const candidates: HostPort[] = [];
    if (this.redis instanceof Cluster) {
      const seen = new Set<string>();
      const known: HostPort[] = [];
      for (const { options } of this.redis.nodes('all')) {
        if (options.host !== undefined && options.port !== undefined) {
          known.push({ host: options.host, port: options.port });
        }
      }
      for (const node of [...known, ...(this.target.kind === 'cluster' ? this.target.nodes : [])]) {
        const key = `${node.host}:${node.port}`;
        if (!seen.has(key)) candidates.push(node);
        seen.add(key);
      }
    }
    const sub = subscriberClient(
      this.target,
      this.common,
      'mcpgate-session-events',
      candidates,
      this.subscriberAttempts++,
    );
    this.sub = sub;
    this.subscribed = false;
    this.watch(sub, 'events');
    sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    if (this.cluster) {
      sub.once('end', () => {
        if (this.closed || sub !== this.sub) return;
        this.subscribed = false;
        if (this.problem.events === undefined) this.connectionProblem('events', 'connection lost');
        this.subscriberRetry = setTimeout(() => {
          if (!this.closed && sub === this.sub) this.openSubscriber();
        }, backoff(++this.subscriberFailures));
        this.subscriberRetry.unref();
      });
    }
    sub.connect().catch(() => undefined);
    return sub;
  }

  private subscribe(): void {
    const sub = this.sub;
    const channels =
      this.relayChannel === undefined ? [this.channel] : [this.channel, this.relayChannel];
    sub.subscribe(...channels).then(
      () => {
        if (sub !== this.sub) return;
        this.subscribed = true;
        delete this.problem.events;
      },
      (err: unknown) => {
        if (sub !== this.sub) return;
        this.connectionProblem('events', `subscribing failed: ${describeConnectionError(err)}`);
        // Still connected (e.g. Redis was slow): try again soon; otherwise the next
        // 'ready' after the reconnection does.
        if (!this.closed && sub.status === 'ready') {
          setTimeout(() => {
            if (!this.closed && !this.subscribed && sub === this.sub && sub.status === 'ready') {
              this.subscribe();
            }
          }, 1000).unref();
        }
      },
    );
  }

  private onMessage(channel: string, message: string): void {
    if (channel === this.relayChannel) {
      this.relay.heard(message);
      return;
    }
    if (channel !== this.channel) return;
    const value = parseJson(message);
    if (
      isPlainObject(value) &&
      value.type === 'approval' &&
      typeof value.id === 'string' &&
      typeof value.state === 'string'
    ) {
      this.approvals.heard(value.id, value.state, value.origin);
      return;
    }
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
    default: {
      const message = err instanceof Error ? err.message : String(err);
      // ioredis's own wording names retry delays that change at every attempt.
      if (message.startsWith('All sentinels are unreachable')) return 'no Sentinel answered';
      if (/None of startup nodes is available|Failed to refresh slots cache/.test(message)) {
        return 'no cluster node answered';
      }
      return message;
    }
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
