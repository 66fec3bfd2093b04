// Behaviour signals: what the policy sees as input.behaviour for each decided call of a
// session, worked out from the session as loaded (its behaviour state, recent history and
// summary), the call, and the purpose's baseline in the policy bundle (data.baselines,
// written by `mcpgate baseline learn`). Everything is O(1) per call, or bounded by the
// session's fixed limits (history_limit entries, summary_limit targets, the sketches).
import { argumentProvenance, type ArgsFromResults } from '../inspect/provenance.js';
import type { HistoryEntry } from '../sessions/session.js';
import {
  BEHAVIOUR_MINUTES,
  minuteOf,
  type BehaviourUpdate,
  type LoadedSession,
} from '../sessions/store.js';
import { McpgateError } from '../util/errors.js';

/** Percentiles of one measure over the sessions of a purpose. */
export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

/** What a purpose's sessions normally look like (data.baselines.purposes[purpose]). */
export interface PurposeBaseline {
  /** How many sessions it was learnt from. */
  sessions: number;
  /** Decided calls per minute, over each session's busiest minutes. */
  rate_per_min: Percentiles;
  /** Seconds from a session's first call to its last. */
  duration_s: Percentiles;
  /** Every target (tool, resource, prompt id) the sessions used. */
  tools: string[];
  /** Every pair of consecutive targets, as "previous>next". */
  ngrams: string[];
}

/** The baselines of a bundle, with the lists as sets for O(1) lookups. */
export interface Baselines {
  readonly purposes: ReadonlyMap<
    string,
    PurposeBaseline & { toolSet: ReadonlySet<string>; ngramSet: ReadonlySet<string> }
  >;
}

export const NO_BASELINES: Baselines = Object.freeze({ purposes: new Map() });

/** data.baselines is not what `mcpgate baseline learn` writes. */
export class BaselinesError extends McpgateError {
  static override readonly code = 'ERR_BASELINES_INVALID';
}

function isPercentiles(value: unknown): value is Percentiles {
  if (typeof value !== 'object' || value === null) return false;
  const { p50, p95, p99 } = value as Record<string, unknown>;
  return [p50, p95, p99].every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0);
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/** The baselines in a bundle's data (data.baselines); none when it has none. */
export function parseBaselines(data: Record<string, unknown>, where: string): Baselines {
  const raw = data.baselines;
  if (raw === undefined) return NO_BASELINES;
  const purposes: unknown =
    typeof raw === 'object' && raw !== null ? (raw as { purposes?: unknown }).purposes : undefined;
  if (typeof purposes !== 'object' || purposes === null || Array.isArray(purposes)) {
    throw new BaselinesError(`${where}: data.baselines must be an object {purposes: {...}}`);
  }
  const parsed = new Map<
    string,
    PurposeBaseline & { toolSet: ReadonlySet<string>; ngramSet: ReadonlySet<string> }
  >();
  for (const [purpose, value] of Object.entries(purposes as Record<string, unknown>)) {
    const b = value as Partial<Record<keyof PurposeBaseline, unknown>> | null;
    if (
      typeof b !== 'object' ||
      b === null ||
      typeof b.sessions !== 'number' ||
      !isPercentiles(b.rate_per_min) ||
      !isPercentiles(b.duration_s) ||
      !isStringList(b.tools) ||
      !isStringList(b.ngrams)
    ) {
      throw new BaselinesError(
        `${where}: data.baselines.purposes[${JSON.stringify(purpose)}] must have sessions, rate_per_min and duration_s {p50, p95, p99}, tools and ngrams (lists of strings)`,
      );
    }
    const baseline: PurposeBaseline = {
      sessions: b.sessions,
      rate_per_min: b.rate_per_min,
      duration_s: b.duration_s,
      tools: b.tools,
      ngrams: b.ngrams,
    };
    parsed.set(purpose, { ...baseline, toolSet: new Set(b.tools), ngramSet: new Set(b.ngrams) });
  }
  return { purposes: parsed };
}

/** input.behaviour. */
export interface BehaviourFacts {
  /** Decided calls of this session in the last 60 s, this one included (sliding estimate). */
  calls_1m: number;
  /** Decided calls in this minute and the nine before it, this one included. */
  calls_10m: number;
  /** Whether the purpose has a baseline; the *_ratio and novelty facts need one. */
  baseline: boolean;
  /** calls_1m over the baseline's p95 calls per minute. */
  rate_ratio?: number;
  /** This call's pair of targets, "previous>this" ("" for a session's first call). */
  ngram: string;
  /** The baseline has ngrams and not this one. */
  ngram_novel: boolean;
  /** Calls so far (this one included) whose pair the baseline lacks. */
  novel_ngrams: number;
  /** Targets the session used (this one included) that the baseline lacks. */
  novel_tools: number;
  /** novel_tools over the distinct targets the session used. */
  tool_set_drift: number;
  /** The session's age over the baseline's p95 duration. */
  age_ratio?: number;
  /** Denied calls so far, and among the recent history. */
  denied: number;
  denied_recent: number;
  /** Recent calls with this target and these very arguments (a loop repeats them). */
  repeats: number;
  /** How much of the string arguments came from labelled results (inspect/provenance.ts). */
  args_from_results?: ArgsFromResults;
}

/** Round to three decimals: ratios are compared with thresholds, not printed exactly. */
function ratio(n: number, d: number): number {
  return Math.round((n / d) * 1000) / 1000;
}

/** The session's distinct targets over all actions (at most summary_limit). */
function distinctTargets(session: LoadedSession): number {
  let n = 0;
  const targets = session.summary?.targets ?? {};
  for (const action in targets) n += Object.keys(targets[action] ?? {}).length;
  return n;
}

function seen(session: LoadedSession, action: string, target: string): boolean {
  return session.summary?.targets[action]?.[target] !== undefined;
}

/**
 * The behaviour facts of one call and what it adds to the session's state. `argsDigest` is
 * the call's HistoryEntry.args_digest.
 */
export function behaviourOf(
  session: LoadedSession,
  call: { action: string; target: string; argsDigest: string; args: Record<string, unknown> },
  baselines: Baselines,
  nowMs: number,
): { facts: BehaviourFacts; update: BehaviourUpdate } {
  const minute = minuteOf(nowMs);
  const state = session.behaviour;
  let thisMinute = 0;
  let lastMinute = 0;
  let tenMinutes = 0;
  for (const [at, count] of state?.minutes ?? []) {
    if (at === minute) thisMinute = count;
    else if (at === minute - 1) lastMinute = count;
    if (at > minute - BEHAVIOUR_MINUTES && at <= minute) tenMinutes += count;
  }
  // The last 60 s: this minute so far, and the part of the last minute still inside them.
  const intoMinute = (nowMs % 60_000) / 60_000;
  const calls1m = Math.round(thisMinute + lastMinute * (1 - intoMinute)) + 1;

  const baseline = baselines.purposes.get(session.record.purpose);
  const history: readonly HistoryEntry[] = session.history;
  const previous = history[history.length - 1];
  const ngram = previous === undefined ? '' : `${previous.target}>${call.target}`;
  const ngramNovel =
    baseline !== undefined &&
    ngram !== '' &&
    baseline.ngramSet.size > 0 &&
    !baseline.ngramSet.has(ngram);
  const newTarget = !seen(session, call.action, call.target);
  const novelTool =
    baseline !== undefined && newTarget && !baseline.toolSet.has(call.target) ? 1 : 0;
  const novelTools = (state?.novelTools ?? 0) + novelTool;
  let deniedRecent = 0;
  let repeats = 0;
  for (const entry of history) {
    if (!entry.allowed) deniedRecent++;
    if (entry.target === call.target && entry.args_digest === call.argsDigest) repeats++;
  }
  const facts: BehaviourFacts = {
    calls_1m: calls1m,
    calls_10m: tenMinutes + 1,
    baseline: baseline !== undefined,
    ngram,
    ngram_novel: ngramNovel,
    novel_ngrams: (state?.novelNgrams ?? 0) + (ngramNovel ? 1 : 0),
    novel_tools: novelTools,
    tool_set_drift: ratio(novelTools, distinctTargets(session) + (newTarget ? 1 : 0)),
    denied: session.counters.denied,
    denied_recent: deniedRecent,
    repeats,
  };
  if (baseline !== undefined) {
    facts.rate_ratio = ratio(calls1m, Math.max(1, baseline.rate_per_min.p95));
    const ageS = Math.max(0, (nowMs - session.record.createdAt) / 1000);
    facts.age_ratio = ratio(ageS, Math.max(1, baseline.duration_s.p95));
  }
  const sketches = state?.sketches;
  if (sketches !== undefined) {
    const provenance = argumentProvenance(call.args, sketches);
    if (provenance !== undefined) facts.args_from_results = provenance;
  }
  return {
    facts,
    update: { minute, novelNgrams: ngramNovel ? 1 : 0, novelTools: novelTool },
  };
}
