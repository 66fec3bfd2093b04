// The session store: everything about a session that must survive a replica (purpose,
// owner, lifetime, history, summary, counters, rate-limit windows), in one process (MemoryStore) or
// shared by several gateway replicas (RedisStore). Live parts (the MCP transport, upstream
// connections) stay in the process that holds them.
//
// Per call the gateway makes at most two store round trips: load() before the decision and
// recordCall() after it. Rate limits are checked and counted atomically inside recordCall().
import type { ReplicaRelay } from '../mcp/server/held-calls.js';
import type { ApprovalStore } from './approvals.js';
import type { HistoryEntry, SessionSummary } from './session.js';
import { McpgateError } from '../util/errors.js';

export interface SessionRecord {
  id: string;
  /** issuer + "\u0000" + stable subject: who may use this session. */
  principal: string;
  /** The user part of the principal, for per-user rate limits and admin listings. */
  subject: string;
  purpose: string;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms when the policy-given TTL ends; null: no TTL from policy. */
  expiresAt: number | null;
  /** What the client sent at initialize, so another replica can serve the session too. */
  protocolVersion: string;
  clientInfo: { name: string; version: string } | null;
  clientCapabilities: Record<string, unknown>;
}

/** A session as list() shows it: its record, and when it was last used. */
export interface ListedSession extends SessionRecord {
  /** Epoch ms of the last load or recorded call (its creation, before any). */
  lastUsedAt: number;
}

export interface SessionCounters {
  calls: number;
  denied: number;
}

/** What a decision needs about a session: one store round trip. */
export interface LoadedSession {
  record: SessionRecord;
  /** The most recent entries, oldest first, at most historyLimit. */
  history: HistoryEntry[];
  /**
   * The whole session's calls by action and target. The stores always fill it; it is absent
   * only from the LoadedSession of session/open, built before anything is stored (read as
   * empty).
   */
  summary?: SessionSummary;
  counters: SessionCounters;
  /** Current fixed-window counts of the rate limits that apply (by rule name). */
  rates: Record<string, number>;
  /** The session's DLP context: labels and finding counts (absent: none yet). */
  dlp?: SessionDlp;
  /** What the behaviour signals are computed from (absent: nothing recorded yet). */
  behaviour?: SessionBehaviour;
}

/** Minutes of call counts a session keeps: the behaviour signals look 10 minutes back. */
export const BEHAVIOUR_MINUTES = 10;
/** At most this many labelled result sketches per session (the first labels to come). */
export const MAX_SESSION_SKETCHES = 4;

/**
 * The state behind input.behaviour, kept with the session and updated in the same store
 * operations as the rest: bounded (BEHAVIOUR_MINUTES pairs, two counters, at most
 * MAX_SESSION_SKETCHES sketches of SKETCH_BYTES), O(1) per call.
 */
export interface SessionBehaviour {
  /** [minute (epoch ms / 60 000, floored), decided calls in it], at most BEHAVIOUR_MINUTES. */
  minutes: Array<[number, number]>;
  /** Calls whose tool-id pair (previous target, this target) the purpose's baseline lacks. */
  novelNgrams: number;
  /** Targets first used in this session that the purpose's baseline tool set lacks. */
  novelTools: number;
  /** Per label, the sketch of the result text that came with that label (inspect/provenance.ts). */
  sketches: Record<string, Uint8Array>;
}

/** What one decided call adds to the session's behaviour state. */
export interface BehaviourUpdate {
  /** The minute of the call: epoch ms / 60 000, floored. */
  minute: number;
  /** 1 when the call's tool-id pair is new to the baseline, else 0. */
  novelNgrams: number;
  /** 1 when the call's target is new to the session and to the baseline, else 0. */
  novelTools: number;
}

/** The minute of an epoch-ms time, as BehaviourUpdate.minute counts it. */
export function minuteOf(nowMs: number): number {
  return Math.floor(nowMs / 60_000);
}

/** What the guardrails found in a session so far, for every later decision. */
export interface SessionDlp {
  /** Sorted. */
  labels: string[];
  /** By finding type. */
  findingCounts: Record<string, number>;
}

/** At most this many labels and finding types per session: a policy bug cannot grow it. */
export const MAX_SESSION_LABELS = 64;

/**
 * Whose calls a rate-limit counter counts: those of the session being loaded or recorded,
 * or those of one user (principal) over all their sessions. The Redis store keeps each
 * counter in its owner's cluster hash slot (redis-store.ts).
 */
export type RateScope = { kind: 'session' } | { kind: 'user'; principal: string };

/** A fixed-window limit: at most `limit` counted calls per `windowMs` for one key. */
export interface RateLimitRule {
  /** Stable name shown to the policy and in reasons, e.g. "session", "user", "tool:fs.read". */
  name: string;
  /** What is counted: a session id, a user (subject), a user+tool pair... */
  key: string;
  scope: RateScope;
  limit: number;
  windowMs: number;
}

export interface RecordOptions {
  historyLimit: number;
  /** Most targets (over all actions) a session's summary holds. */
  summaryLimit: number;
  idleMs: number;
  rateRules: RateLimitRule[];
  /** The call's part of the behaviour state (absent: the call adds none). */
  behaviour?: BehaviourUpdate;
}

export type RecordOutcome =
  | { kind: 'recorded' }
  /** An allowed call that would exceed a limit: nothing was counted; the call must be denied. */
  | { kind: 'rate_limited'; rule: string; limit: number; windowMs: number; retryAfterMs: number }
  /** The session no longer exists (expired, terminated, deleted). */
  | { kind: 'gone' };

/** What create() did: created the session, or refused it because its principal is at the cap. */
export type CreateOutcome =
  | { kind: 'created' }
  /** The principal already has `open` sessions and may have at most `limit`: nothing stored. */
  | { kind: 'principal_full'; open: number; limit: number };

/**
 * How a session ends or ended: when, and why. Kept after the session is gone, so a request
 * that derives a session's id (a 2026-07-28 run, docs/sessions-2026.md) learns that its
 * session ended rather than opening a fresh one.
 */
export interface SessionEnd {
  /** Epoch ms. */
  at: number;
  reason: string;
}

/** Who is using a session as it is loaded, for the count of sessions per principal. */
export interface SessionUse {
  /** The caller's principal (issuer + subject). */
  principal: string;
  /** sessions.idle_timeout_s in ms: how long the principal's count must outlive this use. */
  idleMs: number;
}

export interface StoreHealth {
  ok: boolean;
  backend: 'memory' | 'redis';
  error?: string;
}

/** The store is unreachable or too slow: the request must be denied (fail closed). */
export class StoreUnavailableError extends McpgateError {
  static override readonly code = 'ERR_STORE_UNAVAILABLE';
}

export interface SessionStore {
  /** Approvals waiting for a person, shared like the sessions (approvals.ts). */
  readonly approvals: ApprovalStore;
  /**
   * Carries a retry of a held 2026-07-28 call to the replica that holds it (Redis); none
   * where one process holds every call (memory).
   */
  readonly relay?: ReplicaRelay | undefined;
  /**
   * Creates a session; it vanishes after idleMs without use, or at expiresAt. With
   * `maxPerPrincipal`, the session is created only while its principal has fewer sessions
   * open than that, counted across every replica that shares the store, atomically (two
   * opens at once cannot both take the last place); sessions that ended (terminated,
   * expired, idle) no longer count.
   */
  create(record: SessionRecord, idleMs: number, maxPerPrincipal?: number): Promise<CreateOutcome>;
  /**
   * One round trip: record, recent history, summary, counters and current rate windows. A
   * load is a use of the session; `use` names who uses it, so that the count of that
   * principal's open sessions lives as long as the sessions do.
   */
  load(
    id: string,
    historyLimit: number,
    rateRules: RateLimitRule[],
    use?: SessionUse,
  ): Promise<LoadedSession | undefined>;
  /**
   * One atomic round trip after a decision: appends the history entry (trimmed to
   * historyLimit), adds it to the summary of its action and target (a target not yet there
   * is added while the summary holds fewer than summaryLimit targets, else counted as
   * untracked), bumps counters, refreshes the idle expiry, and, for an allowed call,
   * checks every rate rule and counts it in all of them, or in none if any is full.
   */
  recordCall(id: string, entry: HistoryEntry, options: RecordOptions): Promise<RecordOutcome>;
  /**
   * Adds labels and finding counts to the session's DLP context, and ors result sketches
   * into the session's sketch of each label (one atomic round trip). Labels and types beyond
   * MAX_SESSION_LABELS, sketches beyond MAX_SESSION_SKETCHES, are not added. Returns false
   * when the session is gone.
   */
  recordFindings(
    id: string,
    labels: readonly string[],
    counts: Readonly<Record<string, number>>,
    sketches?: Readonly<Record<string, Uint8Array>>,
  ): Promise<boolean>;
  /**
   * Ends a session everywhere: removed from the store and announced to every replica. A
   * session that existed leaves an end note (endOf) for its idle timeout.
   */
  terminate(id: string, reason: string): Promise<boolean>;
  /** Keeps a note that session `id` ends (or ended) as `end` says, until `keepUntil` (epoch ms). */
  noteEnd(id: string, end: SessionEnd, keepUntil: number): Promise<void>;
  /** The end noted for `id` and still kept, whether or not its time has come. */
  endOf(id: string): Promise<SessionEnd | undefined>;
  /**
   * Takes `token` for good, across replicas: true the first time, false ever after (until
   * `keepUntil`, epoch ms, when nothing could use it anyway). For things used once, such as
   * the nonce of a requestState.
   */
  claimOnce(token: string, keepUntil: number): Promise<boolean>;
  /** Called (on every replica) when any replica terminates a session. */
  onTerminated(listener: (id: string, reason: string) => void): void;
  /** Every live session, oldest first. Listing is not a use: it leaves idle times alone. */
  list(): Promise<ListedSession[]>;
  health(): StoreHealth;
  close(): Promise<void>;
}
