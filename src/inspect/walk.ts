// Inspection of a whole value (a tool result, a resource read, a prompt, arguments): every
// string in it, at any depth, goes through every detector, and base64 data that holds text
// (an embedded resource's `blob`, a content block's `data`) is decoded and inspected too.
// The walk is iterative (no recursion however deep the value) and bounded: more text than
// `maxBytes`, deeper than `maxDepth`, more base64 text than `maxDecodedBytes`, text that is
// not valid Unicode, or a detector that throws stops it with an InspectionRefused, and the
// caller denies (fail closed): a result that cannot be inspected is not passed on.
import { McpgateError } from '../util/errors.js';
import { LiteralSet } from './text/literals.js';
import {
  masked,
  pointerToken,
  type LocatedFinding,
  type Prescan,
  type TextDetector,
  type TextMatch,
  type Severity,
} from './finding.js';

/** The value could not be inspected; the message says why and what to do. */
export class InspectionRefused extends McpgateError {
  static override readonly code = 'ERR_INSPECTION_REFUSED';
}

export interface WalkLimits {
  /** The most UTF-8 bytes of text (strings and decoded base64) one value may hold. */
  maxBytes: number;
  /** The deepest nesting of objects and arrays. */
  maxDepth: number;
  /** The most bytes of base64 data decoded as text in one value. */
  maxDecodedBytes: number;
  /** The most findings kept for one value (the first ones, by position). */
  maxFindings: number;
}

export const DEFAULT_WALK_LIMITS: Readonly<WalkLimits> = Object.freeze({
  maxBytes: 4 * 1024 * 1024,
  maxDepth: 128,
  maxDecodedBytes: 1024 * 1024,
  maxFindings: 100,
});

/** What one walk found, and how much. */
export interface WalkReport {
  findings: LocatedFinding[];
  /** Findings beyond maxFindings, not kept. */
  dropped: number;
  /** UTF-8 bytes of text inspected. */
  bytes: number;
}

/** Media types whose base64 data is text by declaration. */
const TEXTUAL =
  /^text\/|json|xml|yaml|javascript|ecmascript|x-sh|csv|markdown|toml|x-www-form-urlencoded/i;

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Whether decoded bytes are text: no NUL and no control characters other than tab, line
 * feed, carriage return and form feed, judged on a prefix (an image or archive shows its
 * binary header within the first bytes).
 */
function looksTextual(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 512);
  for (let i = 0; i < n; i++) {
    const b = bytes[i] as number;
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c) return false;
  }
  return true;
}

/** A string that is base64 data: an embedded resource's `blob`, a media block's `data`. */
function isBase64Field(parent: Record<string, unknown>, key: string): boolean {
  if (key === 'blob') return true;
  return key === 'data' && (parent.type === 'image' || parent.type === 'audio');
}

/** String.prototype.isWellFormed (Node 20; TypeScript's ES2023 library does not name it). */
function isWellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed();
}

interface Frame {
  value: unknown;
  pointer: string;
  depth: number;
}

const RANK: Readonly<Record<Severity, number>> = { low: 0, medium: 1, high: 2 };

/** Whether `o` lies over all of `m` and says at least as much (severity, then length). */
function covers(o: TextMatch, m: TextMatch): boolean {
  if (o.offset > m.offset || o.offset + o.length < m.offset + m.length) return false;
  // Personal data inside a secret (the user part of a connection string) is that secret.
  if (o.type !== m.type) return o.type === 'secret' && m.type === 'pii';
  return (
    RANK[o.severity] > RANK[m.severity] ||
    (RANK[o.severity] === RANK[m.severity] && o.length > m.length)
  );
}

/**
 * Of overlapping matches, the one that says most: a match inside another of its type and
 * at least its severity is dropped (the token inside a private key is that key), and so
 * is one that repeats another's span and severity (two detectors, one secret: the first
 * detector's id is kept).
 */
function withoutCovered(matches: TextMatch[]): TextMatch[] {
  if (matches.length < 2) return matches;
  return matches.filter(
    (m, i) =>
      !matches.some(
        (o, j) =>
          o !== m &&
          (covers(o, m) ||
            (j < i &&
              o.type === m.type &&
              o.offset === m.offset &&
              o.length === m.length &&
              o.severity === m.severity)),
      ),
  );
}

/** A text whose findings wait on an asynchronous detector, in the order the walk met it. */
interface PendingText {
  text: string;
  pointer: string;
  encoding: 'text' | 'base64';
  /**
   * Each detector's answer, in detector order (overlapping findings keep the first
   * detector's: the order matters), or undefined when none of them found anything.
   */
  answers: Answer[];
}

/** A detector's answer on one text (the synchronous ones before the first promise, as one). */
interface Answer {
  detector: string;
  found: TextMatch[] | Promise<TextMatch[]>;
}

/** One walk's state: the report, and the texts waiting on an asynchronous detector. */
interface WalkState {
  report: WalkReport;
  what: string;
  /** Once a text waits, every later text with findings queues behind it (order is kept). */
  queue: PendingText[] | undefined;
}

export class Walker {
  /** Every detector's triggers in one automaton, built once: one pass per string. */
  private readonly literals: LiteralSet | undefined;
  /**
   * Per detector, its prescan of the current text (undefined: it has no triggers): the
   * walker's shared hits and where the detector's groups start, made once.
   */
  private readonly prescans: ReadonlyArray<Prescan | undefined>;

  constructor(
    private readonly detectors: readonly TextDetector[],
    private readonly limits: WalkLimits = DEFAULT_WALK_LIMITS,
  ) {
    const groups: Array<readonly string[]> = [];
    const located: number[] = [];
    const firstGroups = detectors.map((detector) => {
      if (detector.triggers === undefined) return -1;
      const first = groups.length;
      groups.push(...detector.triggers);
      for (const g of detector.located ?? []) located.push(first + g);
      return first;
    });
    this.literals = groups.length > 0 ? new LiteralSet(groups, located) : undefined;
    const literals = this.literals;
    // The shared hits are one object, rewritten by each scan: a Prescan can be made once.
    const shared = literals?.scanShared('');
    this.prescans = firstGroups.map((firstGroup) =>
      shared === undefined || firstGroup < 0 ? undefined : { hits: shared, firstGroup },
    );
  }

  /**
   * Every finding in `value`; pointers start with `base` (`''` for a result, `/arguments`
   * for arguments). `what` names the value in refusals ("the result", "the arguments").
   */
  async inspect(value: unknown, base: string, what: string): Promise<WalkReport> {
    return this.inspectNow(value, base, what);
  }

  /**
   * As inspect, but synchronous when every detector answered synchronously (the built-in
   * ones do, but for secretlint on a text its gate opens): a report, or a promise of one
   * when a detector is still working. A refusal is thrown (synchronously, or by the promise).
   * The request path calls this one: a promise and a microtask per string were most of
   * what inspecting a small result cost.
   */
  inspectNow(value: unknown, base: string, what: string): WalkReport | Promise<WalkReport> {
    const walk: WalkState = {
      report: { findings: [], dropped: 0, bytes: 0 },
      what,
      queue: undefined,
    };
    let decoded = 0;
    /** Decoded base64 text, inspected after the walk in the order met. */
    let pending: Array<{ text: string; pointer: string }> | undefined;
    const stack: Frame[] = [{ value, pointer: base, depth: 0 }];
    while (stack.length > 0) {
      const { value: node, pointer, depth } = stack.pop() as Frame;
      if (typeof node === 'string') {
        this.text(node, pointer, 'text', walk);
        continue;
      }
      if (typeof node !== 'object' || node === null) continue;
      if (depth >= this.limits.maxDepth) {
        throw new InspectionRefused(
          `${what} nests objects and arrays deeper than ${this.limits.maxDepth} levels at ${pointer || '/'} (guardrails.inspection.max_depth), so it cannot be inspected; denied (fail closed)`,
        );
      }
      // Children are pushed last first, so they are taken in order.
      if (Array.isArray(node)) {
        for (let i = node.length - 1; i >= 0; i--) {
          stack.push({ value: node[i], pointer: `${pointer}/${i}`, depth: depth + 1 });
        }
        continue;
      }
      const fields = node as Record<string, unknown>;
      const keys = Object.keys(fields);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] as string;
        const child = fields[key];
        const childPointer = `${pointer}/${pointerToken(key)}`;
        if (typeof child === 'string' && isBase64Field(fields, key)) {
          const text = this.base64(child, fields.mimeType, childPointer, decoded, what);
          if (text !== undefined) {
            decoded += Buffer.byteLength(text, 'utf8');
            (pending ??= []).push({ text, pointer: childPointer });
          }
          continue;
        }
        stack.push({ value: child, pointer: childPointer, depth: depth + 1 });
      }
    }
    if (pending !== undefined) {
      for (const item of pending) this.text(item.text, item.pointer, 'base64', walk);
    }
    return this.finish(walk);
  }

  /** The report, or a promise of it when texts wait on an asynchronous detector. */
  private finish(walk: WalkState): WalkReport | Promise<WalkReport> {
    if (walk.queue === undefined) {
      walk.report.findings.forEach((f, i) => (f.id = `f${i + 1}`));
      return walk.report;
    }
    return this.settle(walk);
  }

  private async settle(walk: WalkState): Promise<WalkReport> {
    for (const item of walk.queue ?? []) {
      let matches: TextMatch[] = [];
      for (const answer of item.answers) {
        let found: TextMatch[];
        try {
          found = await answer.found;
        } catch (err) {
          throw this.failed(answer.detector, walk.what, item.pointer, err);
        }
        if (found.length > 0) matches = matches.length === 0 ? found : matches.concat(found);
      }
      this.add(walk.report, matches, item.text, item.pointer, item.encoding);
    }
    walk.report.findings.forEach((f, i) => (f.id = `f${i + 1}`));
    return walk.report;
  }

  private failed(detector: string, what: string, pointer: string, err: unknown): InspectionRefused {
    return new InspectionRefused(
      `the ${detector} detector failed on ${what} at ${pointer || '/'} (${err instanceof Error ? err.message : String(err)}); denied (fail closed)`,
    );
  }

  /** The text a base64 field holds; undefined for binary data (an image), not inspected. */
  private base64(
    data: string,
    mimeType: unknown,
    pointer: string,
    decodedSoFar: number,
    what: string,
  ): string | undefined {
    const declared = typeof mimeType === 'string' && TEXTUAL.test(mimeType);
    // Every 4 characters are 3 bytes: the prefix says whether the rest is worth decoding.
    const head = Buffer.from(data.slice(0, 684), 'base64');
    if (!declared && !looksTextual(head)) return undefined;
    const size = Math.floor((data.length * 3) / 4);
    if (decodedSoFar + size > this.limits.maxDecodedBytes) {
      throw new InspectionRefused(
        `${what} holds more than ${this.limits.maxDecodedBytes} bytes of base64-encoded text (at ${pointer}; guardrails.inspection.max_decoded_bytes), so it cannot be inspected; denied (fail closed)`,
      );
    }
    let text: string;
    try {
      text = STRICT_UTF8.decode(Buffer.from(data, 'base64'));
    } catch {
      throw new InspectionRefused(
        `${what} holds base64 data at ${pointer} that reads as text but is not valid UTF-8, so it cannot be inspected; denied (fail closed)`,
      );
    }
    return text;
  }

  private text(text: string, pointer: string, encoding: 'text' | 'base64', walk: WalkState): void {
    const { report, what } = walk;
    // A text of more characters than the limit has bytes is over it, unread; any other is
    // prescanned first, and plain text (ASCII) has as many bytes as characters.
    const hits =
      report.bytes + text.length > this.limits.maxBytes
        ? undefined
        : this.literals?.scanShared(text);
    report.bytes += hits?.plain === true ? text.length : Buffer.byteLength(text, 'utf8');
    if (report.bytes > this.limits.maxBytes) {
      throw new InspectionRefused(
        `${what} holds more than ${this.limits.maxBytes} bytes of text (guardrails.inspection.max_bytes), so it cannot be inspected; denied (fail closed). Ask for less at a time (a smaller range, a narrower query)`,
      );
    }
    if (!isWellFormed(text)) {
      throw new InspectionRefused(
        `${what} holds text that is not valid Unicode (an unpaired surrogate) at ${pointer || '/'}, so it cannot be inspected; denied (fail closed)`,
      );
    }
    if (text.length < 4) return;
    let matches: TextMatch[] = [];
    /** Set once a detector answers with a promise: the answers from there, in order. */
    let answers: Answer[] | undefined;
    for (let d = 0; d < this.detectors.length; d++) {
      const detector = this.detectors[d] as TextDetector;
      // The shared hits are this text's until the next scan: the detectors run now.
      const prescan = hits === undefined ? undefined : this.prescans[d];
      let found: TextMatch[] | Promise<TextMatch[]>;
      try {
        found = detector.scan(text, prescan);
      } catch (err) {
        throw this.failed(detector.name, what, pointer, err);
      }
      if (found instanceof Promise && answers === undefined) {
        // What the detectors before it found, concatenated in their order, comes first.
        answers = [{ detector: '', found: matches }];
      }
      if (answers !== undefined) {
        answers.push({ detector: detector.name, found });
        continue;
      }
      const sync = found as TextMatch[];
      if (sync.length > 0) matches = matches.length === 0 ? sync : matches.concat(sync);
    }
    if (answers !== undefined || walk.queue !== undefined) {
      if (answers === undefined && matches.length === 0) return;
      (walk.queue ??= []).push({
        text,
        pointer,
        encoding,
        answers: answers ?? [{ detector: '', found: matches }],
      });
      return;
    }
    if (matches.length > 0) this.add(report, matches, text, pointer, encoding);
  }

  /** A text's matches as findings, by position, while there is room for them. */
  private add(
    report: WalkReport,
    matches: TextMatch[],
    text: string,
    pointer: string,
    encoding: 'text' | 'base64',
  ): void {
    if (matches.length === 0) return;
    for (const m of withoutCovered(matches).sort((a, b) => a.offset - b.offset)) {
      if (report.findings.length >= this.limits.maxFindings) {
        report.dropped++;
        continue;
      }
      report.findings.push({
        id: '',
        type: m.type,
        detector: m.detector,
        severity: m.severity,
        pointer,
        excerpt: m.excerpt ?? masked(text.slice(m.offset, m.offset + m.length)),
        offset: m.offset,
        length: m.length,
        encoding,
      });
    }
  }
}
