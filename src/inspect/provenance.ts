// Argument provenance: fixed-size sketches of the text that came back from labelled tools,
// and, per call, how much of each string argument is found in them.
//
// Text is normalised (lower case, every run of characters that are not letters or digits
// one space), cut into overlapping shingles of SHINGLE characters, and each shingle hashed
// (a rolling hash, 32 bits, mixed). Only one shingle in SAMPLE_EVERY is kept, chosen by its hash, so the
// same shingle is kept in a result and in an argument: a sketch then holds four times more
// text for the same false-positive rate. A sketch is a Bloom filter of SKETCH_BYTES with two
// bit positions per kept shingle, one per label (the labels of the result: `private`,
// `secret`, …). Adding a result costs O(its text), checking an argument O(its length); the
// sketch never grows. A sketch that is more than MAX_FILL full takes no more text (past
// that, false positives climb fast): what a session read first is what it keeps.

/** Bytes of one sketch (8192 bits): two of them keep an idle session under 10 KB. */
export const SKETCH_BYTES = 1024;
/** Characters per shingle, after normalisation. */
export const SHINGLE = 8;
/** One kept shingle in this many (by hash). */
const SAMPLE_EVERY = 4;
/** Characters of one result that go into a sketch (the rest is not remembered). */
export const MAX_SKETCHED_CHARS = 8192;
/** Characters of the arguments of one call that are checked (the rest is not). */
export const MAX_CHECKED_CHARS = 16_384;
/** A sketch with this share of its bits set takes no more text. */
const MAX_FILL = 0.5;
/** An argument needs this many kept shingles for its fraction to mean anything. */
export const MIN_SHINGLES = 2;
const BITS = SKETCH_BYTES * 8;

/** Lower case, every run of non-letters and non-digits one space. */
export function normalizeText(text: string): string {
  return text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ');
}

/** The rolling hash's base, and its SHINGLE-th power (what leaves the window). */
const BASE = 0x01000193;
const BASE_OUT = (() => {
  let power = 1;
  for (let i = 0; i < SHINGLE; i++) power = Math.imul(power, BASE);
  return power;
})();

/**
 * Appends the hash of every kept shingle of an already normalised text to `out`: a rolling
 * hash over the window (O(1) per character), mixed (murmur3's finaliser) so that its bits
 * are even, kept when its low bits say so.
 */
function keptShingles(text: string, out: number[]): void {
  let rolling = 0;
  for (let i = 0; i < text.length; i++) {
    rolling = (Math.imul(rolling, BASE) + text.charCodeAt(i)) | 0;
    if (i < SHINGLE - 1) continue;
    if (i >= SHINGLE) rolling = (rolling - Math.imul(text.charCodeAt(i - SHINGLE), BASE_OUT)) | 0;
    let x = rolling ^ (rolling >>> 16);
    x = Math.imul(x, 0x85ebca6b);
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35);
    x = (x ^ (x >>> 16)) >>> 0;
    if (x % SAMPLE_EVERY === 0) out.push(x);
  }
}

/** The first bit position of a kept shingle's hash. */
function firstBit(hash: number): number {
  return (hash >>> 2) % BITS;
}

/** The second bit position, from the hash mixed again. */
function secondBit(hash: number): number {
  const second = Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d) >>> 0;
  return ((second ^ (second >>> 12)) >>> 0) % BITS;
}

function setBit(sketch: Uint8Array, bit: number): void {
  sketch[bit >>> 3] = (sketch[bit >>> 3] as number) | (1 << (bit & 7));
}

function hasBit(sketch: Uint8Array, bit: number): boolean {
  return ((sketch[bit >>> 3] as number) & (1 << (bit & 7))) !== 0;
}

/** Share of a sketch's bits that are set. */
export function sketchFill(sketch: Uint8Array): number {
  let set = 0;
  for (const byte of sketch) {
    let b = byte;
    while (b !== 0) {
      b &= b - 1;
      set++;
    }
  }
  return set / BITS;
}

/** Whether a sketch is too full to take more text (false positives would climb). */
export function sketchIsFull(sketch: Uint8Array): boolean {
  return sketchFill(sketch) >= MAX_FILL;
}

/** A new sketch of these texts (at most MAX_SKETCHED_CHARS of them, in order). */
export function sketchOf(texts: readonly string[]): Uint8Array {
  const sketch = new Uint8Array(SKETCH_BYTES);
  let left = MAX_SKETCHED_CHARS;
  for (const text of texts) {
    if (left <= 0) break;
    const part = normalizeText(text.length > left ? text.slice(0, left) : text);
    left -= part.length;
    const hashes: number[] = [];
    keptShingles(part, hashes);
    for (const hash of hashes) {
      setBit(sketch, firstBit(hash));
      setBit(sketch, secondBit(hash));
    }
  }
  return sketch;
}

/**
 * A sketch as the memory store keeps it: while few of its bits are set (a short result), the
 * sorted positions of those bits, at most SPARSE_MAX_BITS of them (2 bytes each, against
 * SKETCH_BYTES for the bytes); else the bytes themselves. An idle session's sketch of a
 * short result then costs tens of bytes, not a kilobyte (docs/performance.md, memory).
 */
export type StoredSketch = Uint8Array | Uint16Array;

/** Above this many set bits the positions would take half the bytes: keep the bytes. */
const SPARSE_MAX_BITS = SKETCH_BYTES / 4;

/** A copy of `sketch` in its smaller stored form. */
export function packSketch(sketch: Uint8Array): StoredSketch {
  let set = 0;
  for (let i = 0; i < sketch.length; i++) {
    let b = sketch[i] as number;
    while (b !== 0) {
      b &= b - 1;
      set++;
    }
  }
  if (set > SPARSE_MAX_BITS) return Uint8Array.from(sketch);
  const positions = new Uint16Array(set);
  let at = 0;
  for (let i = 0; i < sketch.length; i++) {
    const b = sketch[i] as number;
    if (b === 0) continue;
    for (let bit = 0; bit < 8; bit++) if ((b & (1 << bit)) !== 0) positions[at++] = i * 8 + bit;
  }
  return positions;
}

/** The sketch's bytes; a stored byte form is returned as it is (never changed in place). */
export function unpackSketch(stored: StoredSketch): Uint8Array {
  if (stored instanceof Uint8Array) return stored;
  const sketch = new Uint8Array(SKETCH_BYTES);
  for (let i = 0; i < stored.length; i++) setBit(sketch, stored[i] as number);
  return sketch;
}

/**
 * Ors `added` into `into` unless `into` is already MAX_FILL full; returns whether it took
 * it. The stores merge a result's sketch into the session's one this way.
 */
export function mergeSketch(into: Uint8Array, added: Uint8Array): boolean {
  if (sketchIsFull(into)) return false;
  for (let i = 0; i < into.length; i++) {
    into[i] = (into[i] as number) | (added[i] as number);
  }
  return true;
}

/** input.behaviour.args_from_results: how much of the arguments came from labelled results. */
export interface ArgsFromResults {
  /** The largest share, over the string arguments and labels, of kept shingles found. */
  fraction: number;
  /** Kept shingles of that argument found in that label's sketch. */
  matched: number;
  /** JSON pointer of that argument (`/query`). */
  argument: string;
  /** Labels whose sketch holds at least half of some argument (sorted). */
  labels: string[];
  /** Per label, its largest share over the arguments. */
  by_label: Record<string, number>;
}

/** The string leaves of the arguments with their pointers, at most MAX_CHECKED_CHARS in all. */
function stringArguments(args: Record<string, unknown>): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  let left = MAX_CHECKED_CHARS;
  const stack: Array<[string, unknown, number]> = [['', args, 0]];
  while (stack.length > 0 && left > 0) {
    const [pointer, value, depth] = stack.pop() as [string, unknown, number];
    if (typeof value === 'string') {
      const text = value.length > left ? value.slice(0, left) : value;
      left -= text.length;
      found.push([pointer, text]);
    } else if (typeof value === 'object' && value !== null && depth < 16) {
      for (const [key, child] of Object.entries(value)) {
        stack.push([
          `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`,
          child,
          depth + 1,
        ]);
      }
    }
  }
  return found;
}

/**
 * How much of each string argument is found in each labelled sketch; undefined when there
 * is no sketch or no argument long enough to tell (fewer than MIN_SHINGLES kept shingles).
 */
export function argumentProvenance(
  args: Record<string, unknown>,
  sketches: Readonly<Record<string, Uint8Array>>,
): ArgsFromResults | undefined {
  const labels = Object.keys(sketches);
  if (labels.length === 0) return undefined;
  let best: ArgsFromResults | undefined;
  const byLabel: Record<string, number> = {};
  const strong = new Set<string>();
  for (const [pointer, text] of stringArguments(args)) {
    const hashes: number[] = [];
    keptShingles(normalizeText(text), hashes);
    if (hashes.length < MIN_SHINGLES) continue;
    for (const label of labels) {
      const sketch = sketches[label] as Uint8Array;
      let matched = 0;
      for (const hash of hashes) {
        if (hasBit(sketch, firstBit(hash)) && hasBit(sketch, secondBit(hash))) matched++;
      }
      const fraction = Math.round((matched / hashes.length) * 1000) / 1000;
      if (fraction > (byLabel[label] ?? 0)) byLabel[label] = fraction;
      if (fraction >= 0.5) strong.add(label);
      if (best === undefined || fraction > best.fraction) {
        best = { fraction, matched, argument: pointer, labels: [], by_label: byLabel };
      }
    }
  }
  if (best === undefined) return undefined;
  for (const label of labels) byLabel[label] ??= 0;
  best.labels = [...strong].sort();
  return best;
}

/** Every string of a result (text blocks, structured content, resource text), in order. */
export function resultTexts(result: unknown): string[] {
  const texts: string[] = [];
  let chars = 0;
  const stack: Array<[unknown, number]> = [[result, 0]];
  while (stack.length > 0 && chars < MAX_SKETCHED_CHARS) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (typeof value === 'string') {
      texts.push(value);
      chars += value.length;
    } else if (typeof value === 'object' && value !== null && depth < 32) {
      // Reversed onto the stack, so that strings come out in document order.
      const children = Object.entries(value).filter(([key]) => key !== '_meta' && key !== 'type');
      for (let i = children.length - 1; i >= 0; i--) stack.push([children[i]?.[1], depth + 1]);
    }
  }
  return texts;
}
