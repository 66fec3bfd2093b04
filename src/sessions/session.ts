// Session facts shared by the store and the pipeline. The session itself lives in the
// session store (store.ts); a request works on the LoadedSession it read at its start.
import type { Identity } from '../identity/identity.js';

/** Hex digits of sha256 kept in HistoryEntry.args_digest: 32 = 128 bits. */
export const ARGS_DIGEST_HEX = 32;

/** One decided call, as the policy sees it in input.session.history. */
export interface HistoryEntry {
  action: string;
  /** Tool or prompt id (server.name) or resource id (server:uri). */
  target: string;
  /** The first ARGS_DIGEST_HEX hex digits of the sha256 of the canonical JSON arguments. */
  args_digest: string;
  allowed: boolean;
  /** Unix time of the decision in ns (the request.time_ns the policy decided at). */
  at_ns: number;
}

/** The whole session's decided calls of one target. */
export interface TargetSummary {
  allowed: number;
  denied: number;
  /** at_ns of the last decided call of this target. */
  last_ns: number;
}

/**
 * The whole session's decided calls by action, then target: maintained by the store as
 * calls are recorded, never trimmed, at most summaryLimit targets in all.
 */
export interface SessionSummary {
  targets: Record<string, Record<string, TargetSummary>>;
  /** Calls of a new target made once `targets` already held summaryLimit targets. */
  untracked: number;
}

export function emptySummary(): SessionSummary {
  return { targets: {}, untracked: 0 };
}

/** Sessions are bound to this key: the issuer plus the stable subject. */
export function sessionPrincipal(identity: Identity): string {
  return `${identity.issuer}\u0000${identity.subject}`;
}
