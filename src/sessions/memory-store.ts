// The session store of a single gateway process: plain Maps, nothing shared.
//
// Expiry is lazy: a session whose idle time or policy lifetime (expiresAt) is over is treated
// as gone by load() and recordCall() and removed then; a periodic sweep (an unref'd timer, so
// it never keeps the process alive) removes sessions nobody asks for again and the
// rate-limit windows that have ended. Every method body is synchronous, so recordCall() is
// atomic by construction: no other call can run between its checks and its updates.
import type { Logger } from '../util/logger.js';
import { MemoryApprovals } from './memory-approvals.js';
import type { HistoryEntry, SessionSummary, TargetSummary } from './session.js';
import type {
  ListedSession,
  CreateOutcome,
  LoadedSession,
  RateLimitRule,
  RecordOptions,
  RecordOutcome,
  SessionCounters,
  SessionEnd,
  SessionRecord,
  SessionStore,
  StoreHealth,
} from './store.js';
import {
  BEHAVIOUR_MINUTES,
  MAX_SESSION_LABELS,
  MAX_SESSION_SKETCHES,
  type BehaviourUpdate,
  type SessionBehaviour,
} from './store.js';
import {
  mergeSketch,
  packSketch,
  SKETCH_BYTES,
  unpackSketch,
  type StoredSketch,
} from '../inspect/provenance.js';

/** The fixed window of a rate rule that `now` falls in. Shared with the Redis store. */
export interface RateWindow {
  /** floor(now / windowMs): the same for every replica whose clock agrees. */
  index: number;
  /** Epoch ms at which this window ends (exclusive). */
  endsAt: number;
}

export function rateWindow(now: number, windowMs: number): RateWindow {
  const index = Math.floor(now / windowMs);
  return { index, endsAt: (index + 1) * windowMs };
}

/** Rejects rules that cannot be counted (a programming or configuration error). */
export function checkRateRules(rules: readonly RateLimitRule[]): void {
  for (const rule of rules) {
    if (!Number.isSafeInteger(rule.windowMs) || rule.windowMs <= 0) {
      throw new RangeError(
        `rate limit "${rule.name}": windowMs must be a positive integer, got ${rule.windowMs}`,
      );
    }
    if (!Number.isSafeInteger(rule.limit) || rule.limit < 0) {
      throw new RangeError(
        `rate limit "${rule.name}": limit must be a non-negative integer, got ${rule.limit}`,
      );
    }
  }
}

/** Rejects a limit that is not a non-negative integer. Shared with the Redis store. */
export function checkLimit(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
}

/** Rejects an idle timeout that would make a session vanish at once or never. */
export function checkIdleMs(idleMs: number): void {
  if (!Number.isFinite(idleMs) || idleMs <= 0) {
    throw new RangeError(`idleMs must be a positive number of milliseconds, got ${idleMs}`);
  }
}

/** One counter per (rule key, window length, window index); window length first so rules
 * with the same key but different windows never share a counter. */
function counterKey(rule: RateLimitRule, window: RateWindow): string {
  return `${rule.windowMs}:${window.index}:${rule.key}`;
}

interface StoredSession {
  record: SessionRecord;
  idleMs: number;
  lastUsedAt: number;
  /** Oldest first, at most the historyLimit of the last recordCall. */
  history: HistoryEntry[];
  /** action → target → summary; grows by one target per new (action, target). */
  summary: Map<string, Map<string, TargetSummary>>;
  /** Targets in summary, over all actions. */
  summarized: number;
  /** Calls of a new target once summary held summaryLimit targets. */
  untracked: number;
  counters: SessionCounters;
  /**
   * DLP labels, and finding counts by type (MAX_SESSION_LABELS of each at most); undefined
   * until the first finding (most sessions never have one: no empty Set and Map each).
   */
  labels: Set<string> | undefined;
  findingCounts: Map<string, number> | undefined;
  /** The behaviour state; undefined until the first call or sketch adds to it. */
  behaviour: StoredBehaviour | undefined;
}

/** SessionBehaviour with its sketches in their stored (often sparse) form. */
interface StoredBehaviour extends Omit<SessionBehaviour, 'sketches'> {
  sketches: Record<string, StoredSketch>;
}

/**
 * A copy of a session record that shares its strings (structuredClone would copy each
 * string again for every session); only the client's capabilities, an object the caller
 * built, are cloned.
 */
function copyRecord(record: SessionRecord): SessionRecord {
  return {
    ...record,
    clientInfo: record.clientInfo === null ? null : { ...record.clientInfo },
    clientCapabilities: structuredClone(record.clientCapabilities),
  };
}

/** Counts a call in its minute and adds its novelty (see SessionBehaviour). */
function addBehaviour(session: StoredSession, update: BehaviourUpdate): void {
  const state = (session.behaviour ??= emptyBehaviour());
  const minutes = state.minutes;
  const last = minutes[minutes.length - 1];
  if (last !== undefined && last[0] === update.minute) last[1]++;
  else {
    minutes.push([update.minute, 1]);
    // Minutes older than the window say nothing more.
    while (
      minutes.length > 0 &&
      (minutes[0] as [number, number])[0] <= update.minute - BEHAVIOUR_MINUTES
    ) {
      minutes.shift();
    }
  }
  state.novelNgrams += update.novelNgrams;
  state.novelTools += update.novelTools;
}

function emptyBehaviour(): StoredBehaviour {
  return { minutes: [], novelNgrams: 0, novelTools: 0, sketches: {} };
}

/** A copy that the caller may keep while later calls change the stored one. */
function behaviourOf(state: StoredBehaviour): SessionBehaviour {
  const sketches: Record<string, Uint8Array> = {};
  // Sketches are replaced, never changed in place, once a load has handed them out.
  for (const label in state.sketches) {
    sketches[label] = unpackSketch(state.sketches[label] as StoredSketch);
  }
  return {
    minutes: state.minutes.map(([minute, count]) => [minute, count]),
    novelNgrams: state.novelNgrams,
    novelTools: state.novelTools,
    sketches,
  };
}

/** Adds a decided call to the session's summary (see SessionStore.recordCall). */
function summarize(session: StoredSession, entry: HistoryEntry, summaryLimit: number): void {
  let target = session.summary.get(entry.action)?.get(entry.target);
  if (!target) {
    if (session.summarized >= summaryLimit) {
      session.untracked++;
      return;
    }
    target = { allowed: 0, denied: 0, last_ns: 0 };
    let byTarget = session.summary.get(entry.action);
    if (!byTarget) session.summary.set(entry.action, (byTarget = new Map<string, TargetSummary>()));
    byTarget.set(entry.target, target);
    session.summarized++;
  }
  if (entry.allowed) target.allowed++;
  else target.denied++;
  target.last_ns = entry.at_ns;
}

/** A copy of the session's summary as plain objects (any target string is an own key). */
function summaryOf(session: StoredSession): SessionSummary {
  const targets: SessionSummary['targets'] = {};
  for (const [action, byTarget] of session.summary) {
    const entries: Array<[string, TargetSummary]> = [];
    for (const [target, { allowed, denied, last_ns }] of byTarget) {
      entries.push([target, { allowed, denied, last_ns }]);
    }
    targets[action] = Object.fromEntries(entries);
  }
  return { targets, untracked: session.untracked };
}

/**
 * Freezes a value and everything in it. What load() hands out is the store's own frozen
 * record and history entries, not copies: a caller that tried to change them would throw
 * (ES modules are strict), where a copy per load cost CPU on every request.
 */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

interface RateCounter {
  count: number;
  /** When the window ends; the counter is useless from then on. */
  endsAt: number;
}

export interface MemoryStoreOptions {
  /** How often expired sessions and ended rate windows are removed (default 10 s). */
  sweepIntervalMs?: number;
  /** Where a throwing onTerminated listener is reported. */
  logger?: Logger;
}

export class MemoryStore implements SessionStore {
  private readonly sessions = new Map<string, StoredSession>();
  /** The ids of each principal's sessions (for maxPerPrincipal); pruned with the sessions. */
  private readonly byPrincipal = new Map<string, Set<string>>();
  private readonly counters = new Map<string, RateCounter>();
  /** End notes (noteEnd, terminate), each with when it may be forgotten. */
  private readonly ends = new Map<string, { end: SessionEnd; keepUntil: number }>();
  /** Tokens claimOnce took, each with when it may be forgotten. */
  private readonly claimed = new Map<string, number>();
  private readonly listeners: Array<(id: string, reason: string) => void> = [];
  private readonly sweeper: NodeJS.Timeout;
  private readonly logger: Logger | undefined;
  readonly approvals: MemoryApprovals;

  constructor(options: MemoryStoreOptions = {}) {
    this.logger = options.logger;
    this.approvals = new MemoryApprovals(options.logger);
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 10_000);
    this.sweeper.unref();
  }

  create(record: SessionRecord, idleMs: number, maxPerPrincipal?: number): Promise<CreateOutcome> {
    checkIdleMs(idleMs);
    if (maxPerPrincipal !== undefined) {
      checkLimit('maxPerPrincipal', maxPerPrincipal);
      const open = this.openSessions(record.principal, Date.now());
      if (open >= maxPerPrincipal) {
        return Promise.resolve({ kind: 'principal_full', open, limit: maxPerPrincipal });
      }
    }
    this.forget(record.id);
    let ids = this.byPrincipal.get(record.principal);
    if (!ids) this.byPrincipal.set(record.principal, (ids = new Set()));
    ids.add(record.id);
    this.sessions.set(record.id, {
      record: deepFreeze(copyRecord(record)),
      idleMs,
      lastUsedAt: Date.now(),
      history: [],
      summary: new Map(),
      summarized: 0,
      untracked: 0,
      counters: { calls: 0, denied: 0 },
      labels: undefined,
      findingCounts: undefined,
      behaviour: undefined,
    });
    return Promise.resolve({ kind: 'created' });
  }

  load(
    id: string,
    historyLimit: number,
    rateRules: RateLimitRule[],
  ): Promise<LoadedSession | undefined> {
    checkRateRules(rateRules);
    const now = Date.now();
    const session = this.live(id, now);
    if (!session) return Promise.resolve(undefined);
    // A session being read is in use: loading it restarts its idle time, as in Redis.
    session.lastUsedAt = now;
    const rates: Record<string, number> = {};
    for (const rule of rateRules) rates[rule.name] = this.count(rule, now);
    const loaded: LoadedSession = {
      record: session.record,
      history: historyLimit > 0 ? session.history.slice(-historyLimit) : [],
      summary: summaryOf(session),
      counters: { calls: session.counters.calls, denied: session.counters.denied },
      rates,
    };
    if (session.labels !== undefined || session.findingCounts !== undefined) {
      loaded.dlp = {
        labels: session.labels === undefined ? [] : [...session.labels].sort(),
        findingCounts:
          session.findingCounts === undefined ? {} : Object.fromEntries(session.findingCounts),
      };
    }
    if (session.behaviour !== undefined) loaded.behaviour = behaviourOf(session.behaviour);
    return Promise.resolve(loaded);
  }

  recordFindings(
    id: string,
    labels: readonly string[],
    counts: Readonly<Record<string, number>>,
    sketches: Readonly<Record<string, Uint8Array>> = {},
  ): Promise<boolean> {
    const now = Date.now();
    const session = this.live(id, now);
    if (!session) return Promise.resolve(false);
    session.lastUsedAt = now;
    for (const label of labels) {
      const held = (session.labels ??= new Set());
      if (held.size < MAX_SESSION_LABELS || held.has(label)) held.add(label);
    }
    for (const [type, n] of Object.entries(counts)) {
      const byType = (session.findingCounts ??= new Map());
      const current = byType.get(type);
      if (current !== undefined) byType.set(type, current + n);
      else if (byType.size < MAX_SESSION_LABELS) byType.set(type, n);
    }
    for (const [label, added] of Object.entries(sketches)) {
      if (added.length !== SKETCH_BYTES)
        throw new RangeError(`a sketch must be ${SKETCH_BYTES} bytes`);
      const state = (session.behaviour ??= emptyBehaviour());
      const current = state.sketches[label];
      if (current === undefined) {
        if (Object.keys(state.sketches).length < MAX_SESSION_SKETCHES) {
          state.sketches[label] = packSketch(added);
        }
      } else {
        const merged = Uint8Array.from(unpackSketch(current));
        if (mergeSketch(merged, added)) state.sketches[label] = packSketch(merged);
      }
    }
    return Promise.resolve(true);
  }

  recordCall(id: string, entry: HistoryEntry, options: RecordOptions): Promise<RecordOutcome> {
    checkIdleMs(options.idleMs);
    checkLimit('summaryLimit', options.summaryLimit);
    const rules = entry.allowed ? options.rateRules : [];
    checkRateRules(rules);
    const now = Date.now();
    const session = this.live(id, now);
    if (!session) return Promise.resolve({ kind: 'gone' });
    session.lastUsedAt = now;
    session.idleMs = options.idleMs;

    // All rules are checked before any is counted: a full one means nothing is counted.
    for (const rule of rules) {
      if (this.count(rule, now) + 1 > rule.limit) {
        return Promise.resolve({
          kind: 'rate_limited',
          rule: rule.name,
          limit: rule.limit,
          windowMs: rule.windowMs,
          retryAfterMs: rateWindow(now, rule.windowMs).endsAt - now,
        });
      }
    }
    const counted = rules.length > 1 ? new Set<string>() : undefined; // two rules on one counter count a call once
    for (const rule of rules) {
      const window = rateWindow(now, rule.windowMs);
      const key = counterKey(rule, window);
      if (counted?.has(key)) continue;
      counted?.add(key);
      const counter = this.counters.get(key);
      if (counter) counter.count++;
      else this.counters.set(key, { count: 1, endsAt: window.endsAt });
    }

    session.counters.calls++;
    if (!entry.allowed) session.counters.denied++;
    summarize(session, entry, options.summaryLimit);
    if (options.behaviour !== undefined) addBehaviour(session, options.behaviour);
    if (options.historyLimit > 0) {
      const { action, target, args_digest, allowed, at_ns } = entry;
      session.history.push(Object.freeze({ action, target, args_digest, allowed, at_ns }));
      if (session.history.length > options.historyLimit) {
        session.history.splice(0, session.history.length - options.historyLimit);
      }
    } else {
      session.history.length = 0;
    }
    return Promise.resolve({ kind: 'recorded' });
  }

  terminate(id: string, reason: string): Promise<boolean> {
    const now = Date.now();
    const session = this.live(id, now);
    const existed = session !== undefined;
    this.forget(id);
    if (session) {
      this.ends.set(id, { end: { at: now, reason }, keepUntil: now + session.idleMs });
      for (const listener of [...this.listeners]) {
        try {
          listener(id, reason);
        } catch (err) {
          // One failing listener must not keep the others from hearing about the session.
          this.logger?.error('session store: an onTerminated listener threw', {
            session: id,
            error: err instanceof Error ? err.message : String(err),
          });
        }
      }
    }
    return Promise.resolve(existed);
  }

  onTerminated(listener: (id: string, reason: string) => void): void {
    this.listeners.push(listener);
  }

  noteEnd(id: string, end: SessionEnd, keepUntil: number): Promise<void> {
    this.ends.set(id, { end: { ...end }, keepUntil });
    return Promise.resolve();
  }

  claimOnce(token: string, keepUntil: number): Promise<boolean> {
    const until = this.claimed.get(token);
    if (until !== undefined && until > Date.now()) return Promise.resolve(false);
    this.claimed.set(token, keepUntil);
    return Promise.resolve(true);
  }

  endOf(id: string): Promise<SessionEnd | undefined> {
    const note = this.ends.get(id);
    if (note && note.keepUntil <= Date.now()) this.ends.delete(id);
    else if (note) return Promise.resolve({ ...note.end });
    return Promise.resolve(undefined);
  }

  list(): Promise<ListedSession[]> {
    const now = Date.now();
    const records: ListedSession[] = [];
    for (const id of [...this.sessions.keys()]) {
      const session = this.live(id, now);
      if (session) {
        records.push({ ...structuredClone(session.record), lastUsedAt: session.lastUsedAt });
      }
    }
    records.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return Promise.resolve(records);
  }

  health(): StoreHealth {
    return { ok: true, backend: 'memory' };
  }

  close(): Promise<void> {
    clearInterval(this.sweeper);
    return Promise.resolve();
  }

  /** The session if it has neither idled out nor reached expiresAt; removes it otherwise. */
  private live(id: string, now: number): StoredSession | undefined {
    const session = this.sessions.get(id);
    if (!session) return undefined;
    const idleOver = now - session.lastUsedAt >= session.idleMs;
    const lifetimeOver = session.record.expiresAt !== null && now >= session.record.expiresAt;
    if (idleOver || lifetimeOver) {
      this.forget(id);
      return undefined;
    }
    return session;
  }

  /** How many sessions of this principal are live (ended ones are removed on the way). */
  private openSessions(principal: string, now: number): number {
    const ids = this.byPrincipal.get(principal);
    if (!ids) return 0;
    for (const id of ids) this.live(id, now);
    return ids.size;
  }

  /** Removes a session and its place in its principal's count. */
  private forget(id: string): void {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    const principal = session.record.principal;
    const ids = this.byPrincipal.get(principal);
    ids?.delete(id);
    if (ids?.size === 0) this.byPrincipal.delete(principal);
  }

  private count(rule: RateLimitRule, now: number): number {
    const counter = this.counters.get(counterKey(rule, rateWindow(now, rule.windowMs)));
    return counter ? counter.count : 0;
  }

  private sweep(): void {
    const now = Date.now();
    for (const id of [...this.sessions.keys()]) this.live(id, now);
    for (const [key, counter] of this.counters) {
      if (counter.endsAt <= now) this.counters.delete(key);
    }
    for (const [id, note] of this.ends) {
      if (note.keepUntil <= now) this.ends.delete(id);
    }
    for (const [token, until] of this.claimed) {
      if (until <= now) this.claimed.delete(token);
    }
  }
}
