// Tamper evidence for the decision log's stdout and file lines: every line ends with a
// `chain` member that links it to the line before it, so a line removed, reordered or
// changed breaks the chain where it happened (`mcpgate audit verify` finds it).
//
//   ...,"chain":{"seq":41,"prev":"<SHA-256 of line 40>"}}
//   ...,"chain":{"seq":42,"prev":"<SHA-256 of line 41>","hmac":"<HMAC-SHA256 of this line up to ,"hmac">"}}
//
// `prev` is the SHA-256 (hex) of the previous line's bytes, without its newline; `seq` counts
// the lines of the chain from 0. The first line of a chain has `prev: null`; the first line of
// a file that continues the chain of a rotated file also names that file (`continues`). With
// `audit.hmac_key`, each line also carries an HMAC over its own bytes up to the `,"hmac"`
// member (so over `seq` and `prev` too): without the key nobody can change a line, or
// re-link the lines after one they removed, without verify noticing.
//
// Cost per line: the event is encoded once, straight into the line's buffer, and the chain
// reads those bytes once (SHA-256), twice with a key (the HMAC); nothing is re-serialised.
import * as crypto from 'node:crypto';
import { createHash, createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';

/** Where a chain stands: the last line written (its seq, if it had one, and its hash). */
export interface ChainPosition {
  /** Undefined when the line before has no chain member (unchained or incomplete): seq restarts at 0. */
  seq: number | undefined;
  hash: string;
}

/** The `chain` member of a line, as verify reads it. */
export interface ChainMember {
  seq: number;
  prev: string | null;
  continues?: string;
  hmac?: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const HMAC_PREFIX = ',"hmac":"';
const LINE_END = '}}\n';
/** `,"hmac":"<64 hex>"}}`: how every signed line ends (the newline not counted). */
const HMAC_TAIL = /,"hmac":"([0-9a-f]{64})"\}\}$/;
const HMAC_TAIL_BYTES = HMAC_PREFIX.length + 64 + 3;

/**
 * One-shot hashing where Node has it (20.12+): about half the cost of a Hash object for a
 * line of a few KB, most of which is the object, not the hashing.
 */
const oneShot = (crypto as { hash?: typeof crypto.hash }).hash;

/** SHA-256 (hex) of one line's bytes, without its newline: what the next line's `prev` is. */
export function lineHash(line: Buffer): string {
  return oneShot ? oneShot('sha256', line, 'hex') : createHash('sha256').update(line).digest('hex');
}

/** The chain position after `line` (the last line already in a file, say). */
export function positionAfter(line: Buffer): ChainPosition {
  return { seq: chainOf(line)?.seq, hash: lineHash(line) };
}

/**
 * The `chain` member of a line (a JSON object), or undefined when it has none or it is not
 * well formed. Throws nothing: a line that is not JSON has no chain.
 */
export function chainOf(line: Buffer | string): ChainMember | undefined {
  return chainMember(jsonObjectOf(line)?.chain);
}

/** A line parsed as a JSON object; undefined when it is not one (never throws). */
export function jsonObjectOf(line: Buffer | string): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof line === 'string' ? line : line.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  return parsed as Record<string, unknown>;
}

/** The parsed `chain` value when it has the shape the writer gives it; undefined otherwise. */
export function chainMember(value: unknown): ChainMember | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { seq, prev, continues, hmac } = value as Record<string, unknown>;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return undefined;
  if (prev !== null && (typeof prev !== 'string' || !HEX64.test(prev))) return undefined;
  if (continues !== undefined && typeof continues !== 'string') return undefined;
  if (hmac !== undefined && (typeof hmac !== 'string' || !HEX64.test(hmac))) return undefined;
  const member: ChainMember = { seq, prev };
  if (continues !== undefined) member.continues = continues;
  if (hmac !== undefined) member.hmac = hmac;
  return member;
}

/**
 * Checks a line's HMAC with each key: true when one matches, false when none does, undefined
 * when the line is not signed (its bytes do not end with the `hmac` member).
 */
export function hmacMatches(line: Buffer, keys: readonly KeyObject[]): boolean | undefined {
  if (line.length < HMAC_TAIL_BYTES) return undefined;
  const tail = HMAC_TAIL.exec(line.toString('latin1', line.length - HMAC_TAIL_BYTES));
  if (!tail) return undefined;
  const given = Buffer.from(tail[1] as string, 'hex');
  const signed = line.subarray(0, line.length - HMAC_TAIL_BYTES);
  return keys.some((key) =>
    timingSafeEqual(createHmac('sha256', key).update(signed).digest(), given),
  );
}

/** Links the lines one destination writes, in the order it writes them. */
export class LineChain {
  private seq: number;
  private prev: string | null;
  private lastSeq: number | undefined;

  /**
   * @param after the last line already at the destination (a file being appended to), or
   *   undefined for a new chain (an empty file, stdout).
   * @param key signs every line (audit.hmac_key), or undefined.
   */
  constructor(
    after: ChainPosition | undefined,
    private readonly key: KeyObject | undefined,
  ) {
    this.seq = after?.seq === undefined ? 0 : after.seq + 1;
    this.prev = after?.hash ?? null;
    this.lastSeq = after?.seq;
  }

  /** The last line of the chain (or the line it follows): its seq and hash. */
  get last(): ChainPosition | undefined {
    return this.prev === null ? undefined : { seq: this.lastSeq, hash: this.prev };
  }

  /**
   * Encodes one event (a JSON object's text) into its line, chain member and newline
   * included, and advances the chain. `continues`: the first line of a file after rotation
   * names the file the chain continues from.
   */
  link(event: string, continues?: string): Buffer {
    const eventBytes = Buffer.byteLength(event);
    // The event's closing brace is overwritten: the chain member goes inside the object.
    const bodyBytes = eventBytes - 1;
    const member =
      `,"chain":{"seq":${this.seq},"prev":${this.prev === null ? 'null' : `"${this.prev}"`}` +
      (continues === undefined ? '' : `,"continues":${JSON.stringify(continues)}`);
    const memberBytes = Buffer.byteLength(member);
    const signedEnd = bodyBytes + memberBytes;
    // With a key: `,"hmac":"<64 hex>"}}`; without: `}}`; then the newline.
    const line = Buffer.allocUnsafe(signedEnd + (this.key ? HMAC_TAIL_BYTES : 2) + 1);
    line.write(event, 0, eventBytes, 'utf8');
    line.write(member, bodyBytes, memberBytes, 'utf8');
    if (this.key) {
      const mac = createHmac('sha256', this.key).update(line.subarray(0, signedEnd)).digest('hex');
      line.write(`${HMAC_PREFIX}${mac}"${LINE_END}`, signedEnd, 'latin1');
    } else {
      line.write(LINE_END, signedEnd, 'latin1');
    }
    this.prev = lineHash(line.subarray(0, line.length - 1));
    this.lastSeq = this.seq++;
    return line;
  }
}
