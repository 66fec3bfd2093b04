// What the guardrail detectors report, and how a finding is shown. A detector returns
// matches in one string (offset and length in UTF-16 code units); the structure walk
// (walk.ts) turns them into findings that say where in the result or arguments they are
// (a JSON pointer) and carry a masked excerpt. A finding never carries the matched text
// itself: findings go into the policy input and so into the decision log.

import type { LiteralHits } from './text/literals.js';

export type Severity = 'low' | 'medium' | 'high';

/** One match of a detector in one string. */
export interface TextMatch {
  /** The category the policy and the session labels use: secret, pii, injection, … */
  readonly type: string;
  /** A stable id, `<type>.<name>`: secret.aws, pii.card, injection.instruction.override. */
  readonly detector: string;
  readonly severity: Severity;
  readonly offset: number;
  readonly length: number;
  /**
   * An excerpt the detector vouches is safe to show (the injection detectors' context,
   * with invisible characters escaped). Absent: the excerpt is the masked match.
   */
  readonly excerpt?: string;
}

/**
 * The walker's one pass over a string for every detector's triggers (text/literals.ts):
 * `hits` for all of them, the detector's own groups from `firstGroup` on. The hits are
 * rewritten by the walker's next scan: an asynchronous detector reads them before it
 * returns its promise, never after.
 */
export interface Prescan {
  readonly hits: LiteralHits;
  readonly firstGroup: number;
}

/** A detector over one string. It may be asynchronous (secretlint is). */
export interface TextDetector {
  /** What `mcpgate start --explain` and error messages call it. */
  readonly name: string;
  /**
   * Groups of literals (ASCII, either case; a space stands for any whitespace run) the
   * detector's work depends on: the walker scans each string once for all detectors'
   * groups and passes the hits to `scan`, which skips what cannot match there.
   */
  readonly triggers?: readonly (readonly string[])[];
  /**
   * Indexes into `triggers` of the groups whose every occurrence `scan` reads
   * (LiteralHits.ends): a search that starts only where they are.
   */
  readonly located?: readonly number[];
  /** `prescan` is given when the detector has triggers and the walker scanned for them. */
  scan(text: string, prescan?: Prescan): TextMatch[] | Promise<TextMatch[]>;
}

/** A finding as the policy sees it (input.findings, input.result.findings). */
export interface Finding {
  /** `f1`, `f2`, …: unique within one request; the redact obligation names findings by it. */
  id: string;
  type: string;
  detector: string;
  severity: Severity;
  /** Where: a JSON pointer into the result, or into the input for arguments (/arguments/…). */
  pointer: string;
  /** The match masked (or the injection detectors' escaped context): never a secret. */
  excerpt: string;
}

/** A finding with what redaction needs; only the Finding part reaches the policy. */
export interface LocatedFinding extends Finding {
  offset: number;
  length: number;
  /** `base64`: the pointer names a base64 field, and offset/length are in its decoded text. */
  encoding: 'text' | 'base64';
}

/** The policy-facing part of a finding (the span stays in the gateway). */
export function findingFact(f: LocatedFinding): Finding {
  return {
    id: f.id,
    type: f.type,
    detector: f.detector,
    severity: f.severity,
    pointer: f.pointer,
    excerpt: f.excerpt,
  };
}

/**
 * A match shown without what it is: its first characters when it is long enough that they
 * say little (a key's public prefix such as `AKIA` or `ghp_`), then `*`, and its length.
 * `AKIAIOSFODNN7EXAMPLE` → `AKIA****… (20 chars)`.
 */
export function masked(text: string): string {
  const chars = [...text];
  const keep = chars.length >= 20 ? 4 : chars.length >= 10 ? 2 : 0;
  const shown = chars
    .slice(0, keep)
    .join('')
    .replace(/[^\x20-\x7e]/g, '?');
  return `${shown}${'*'.repeat(Math.min(8, chars.length - keep))}… (${chars.length} chars)`;
}

/** JSON pointer escaping of one reference token (RFC 6901). */
export function pointerToken(key: string | number): string {
  if (typeof key === 'number') return String(key);
  // Most keys need no escape: two searches instead of two replacements made per key.
  if (key.indexOf('~') < 0 && key.indexOf('/') < 0) return key;
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
