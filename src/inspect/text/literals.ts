// One pass over a text for many literals at once (an Aho-Corasick automaton over ASCII):
// the prefilter in front of the detectors. A detector whose every match contains one of
// its literals need not run on a text where none occurs, and most text holds none of
// them. One pass costs about 2 ns a character whatever the number of literals, where one
// regular expression per detector costs 1 to 15 µs per 10 KB each.
//
// Matching is as the phrase detectors read text (normalize.ts), for plain text: ASCII
// letters in either case, and any run of tab, line feed, carriage return and space as one
// space. A character outside those and printable ASCII (a control character, anything
// non-ASCII) matches no literal and makes the text not plain.

/** Characters the automaton reads: printable ASCII; everything else breaks a match. */
const ALPHABET = 128;
const SPACE = 0x20;

const isSpace = (unit: number): boolean =>
  unit === SPACE || unit === 0x09 || unit === 0x0a || unit === 0x0d;

/** Which groups of literals one text holds, and where (first start, last end). */
export class LiteralHits {
  constructor(
    /** No character but tab, line feed, carriage return and printable ASCII. */
    readonly plain: boolean,
    private readonly firstStart: Int32Array,
    private readonly lastEnd: Int32Array,
  ) {}

  /**
   * Whether a literal of `group` occurs, anywhere or overlapping [from, to). The range
   * test is by first and last occurrence: it may say yes for a range between two
   * occurrences, never no for a range that holds one.
   */
  has(group: number, from = 0, to = Number.MAX_SAFE_INTEGER): boolean {
    const last = this.lastEnd[group] ?? -1;
    return last > from && (this.firstStart[group] ?? 0) < to;
  }
}

export class LiteralSet {
  /**
   * table[row + char], row = state * ALPHABET: the automaton's transitions (failure links
   * resolved), as the next state's row, encoded -row - 1 when the next state ends a
   * literal or is BROKEN.
   */
  private readonly table: Int32Array;
  private readonly brokenRow: number;
  /** The groups a state ends a literal of (its own and its failure chain's). */
  private readonly ends: ReadonlyArray<readonly number[]>;
  /** Per state, the longest literal length it ends (for the start of an occurrence). */
  private readonly endLength: Int32Array;
  readonly groups: number;

  /**
   * `groups[g]`: the literals of group g, ASCII; letters match in either case, a space any
   * run of whitespace.
   */
  constructor(groups: readonly (readonly string[])[]) {
    this.groups = groups.length;
    const goto: Int32Array[] = [new Int32Array(ALPHABET).fill(-1)];
    const own: Array<Set<number>> = [new Set()];
    const ownLength: number[] = [0];
    groups.forEach((literals, group) => {
      for (const literal of literals) {
        if (literal.length === 0) throw new Error(`group ${group} has an empty literal`);
        let state = 0;
        for (const char of literal.toLowerCase()) {
          const unit = char.charCodeAt(0);
          if (unit >= 0x7f || (unit < SPACE && !isSpace(unit))) {
            throw new Error(`literal ${JSON.stringify(literal)} is not printable ASCII`);
          }
          const c = isSpace(unit) ? SPACE : unit;
          const row = goto[state] as Int32Array;
          if (row[c] === -1) {
            row[c] = goto.length;
            goto.push(new Int32Array(ALPHABET).fill(-1));
            own.push(new Set());
            ownLength.push(0);
          }
          state = row[c] as number;
        }
        (own[state] as Set<number>).add(group);
        ownLength[state] = Math.max(ownLength[state] ?? 0, literal.length);
      }
    });
    // One more state, BROKEN: where a control character or DEL leads. It goes on as the
    // root does, and its mark says the text is not plain.
    const broken = goto.length;
    const count = broken + 1;
    if (count > 0xffff) throw new Error('too many literals for one LiteralSet');
    const fail = new Int32Array(count);
    const ends: number[][] = Array.from({ length: count }, () => []);
    const endLength = new Int32Array(count);
    const next = new Uint16Array(count * ALPHABET);
    // Breadth first: a state's failure link is resolved before its children's.
    const queue: number[] = [0];
    for (let head = 0; head < queue.length; head += 1) {
      const state = queue[head] as number;
      const row = goto[state] as Int32Array;
      const groupsHere = new Set(own[state]);
      if (state !== 0) for (const g of ends[fail[state] as number] ?? []) groupsHere.add(g);
      ends[state] = [...groupsHere];
      endLength[state] = Math.max(
        ownLength[state] ?? 0,
        state === 0 ? 0 : (endLength[fail[state] as number] ?? 0),
      );
      for (let c = 0; c < ALPHABET; c += 1) {
        const child = row[c] as number;
        const viaFail = state === 0 ? 0 : (next[(fail[state] as number) * ALPHABET + c] as number);
        if (child === -1) {
          next[state * ALPHABET + c] = viaFail;
        } else {
          next[state * ALPHABET + c] = child;
          fail[child] = viaFail;
          queue.push(child);
        }
      }
    }
    for (let c = 0; c < ALPHABET; c += 1) next[broken * ALPHABET + c] = next[c] as number;
    const mark = new Uint8Array(count);
    for (let state = 0; state < broken; state += 1) {
      if ((ends[state] as number[]).length > 0) mark[state] = 1;
    }
    mark[broken] = 2;
    for (let state = 0; state < count; state += 1) {
      const row = state * ALPHABET;
      // Upper-case letters go where their lower-case letter goes; tab, line feed and
      // carriage return where a space goes.
      for (let c = 0x41; c <= 0x5a; c += 1) next[row + c] = next[row + c + 0x20] as number;
      for (const c of [0x09, 0x0a, 0x0d]) next[row + c] = next[row + SPACE] as number;
      // Control characters and DEL break any match and mark the text.
      for (let c = 0; c < SPACE; c += 1) if (!isSpace(c)) next[row + c] = broken;
      next[row + 0x7f] = broken;
    }
    // A whitespace run is one space: more whitespace after a space leaves the state as it
    // is. (Every state but the root is entered by one character; a space's states are the
    // ones a space leads to.)
    const afterSpace = new Set<number>();
    for (let state = 0; state < count; state += 1)
      afterSpace.add(next[state * ALPHABET + SPACE] as number);
    for (const state of afterSpace) {
      for (const c of [SPACE, 0x09, 0x0a, 0x0d]) next[state * ALPHABET + c] = state;
    }
    // The table the scan reads: the next state's row (state * ALPHABET), negative
    // (-row - 1) when that state is marked, so one load and one sign test per character.
    this.table = new Int32Array(next.length);
    for (let i = 0; i < next.length; i += 1) {
      const to = next[i] as number;
      this.table[i] = mark[to] === 0 ? to * ALPHABET : -(to * ALPHABET) - 1;
    }
    this.brokenRow = broken * ALPHABET;
    this.ends = ends;
    this.endLength = endLength;
  }

  /** One pass over `text`, in chunks that stay in the processor's cache. */
  scan(text: string): LiteralHits {
    const firstStart = new Int32Array(this.groups).fill(-1);
    const lastEnd = new Int32Array(this.groups).fill(-1);
    // [row, plain (1/0)]: carried from one chunk to the next.
    const carry = new Int32Array([0, 1]);
    for (let base = 0; base < text.length; base += CHUNK) {
      const chunk = base === 0 && text.length <= CHUNK ? text : text.slice(base, base + CHUNK);
      run(
        this.table,
        this.brokenRow,
        this.ends,
        this.endLength,
        codeUnits(chunk),
        base,
        carry,
        firstStart,
        lastEnd,
      );
    }
    return new LiteralHits(carry[1] === 1, firstStart, lastEnd);
  }
}

/** Code units scanned at a time: 128 KB of them. */
const CHUNK = 64 * 1024;

/**
 * The string's UTF-16 code units as a typed array, valid until the next call (one buffer
 * is reused: scans are synchronous). Loops read them from there, not with charCodeAt: in a
 * process that has subclassed String (ioredis does, for RESP3 verbatim strings), V8's
 * optimized charCodeAt loops were measured 4-7 times slower, typed-array reads not at all.
 * The copy costs about 1 µs per 10 KB.
 */
export function codeUnits(text: string): Uint16Array {
  const bytes = text.length * 2;
  if (bytes > SCRATCH_MAX) {
    const own = Buffer.from(text, 'utf16le');
    return new Uint16Array(own.buffer, own.byteOffset, own.length >> 1);
  }
  if (scratch.length < bytes) scratch = Buffer.allocUnsafeSlow(Math.max(bytes, scratch.length * 2));
  scratch.write(text, 0, 'utf16le');
  return new Uint16Array(scratch.buffer, scratch.byteOffset, text.length);
}

/**
 * Texts up to 4 M code units (the default guardrails.inspection.max_bytes of ASCII) share
 * one buffer, grown to the longest text seen; longer ones get their own.
 */
const SCRATCH_MAX = 8 * 1024 * 1024;
let scratch = Buffer.allocUnsafeSlow(64 * 1024);

/** The scan's loop, on its own so that it is optimized as one tight function. */
function run(
  table: Int32Array,
  brokenRow: number,
  ends: ReadonlyArray<readonly number[]>,
  endLength: Int32Array,
  units: Uint16Array,
  base: number,
  carry: Int32Array,
  firstStart: Int32Array,
  lastEnd: Int32Array,
): void {
  const length = units.length;
  let row = carry[0] as number;
  let plain = carry[1] === 1;
  for (let i = 0; i < length; i += 1) {
    const unit = units[i] as number;
    if (unit >= ALPHABET) {
      plain = false;
      row = 0;
      continue;
    }
    const to = table[row + unit] as number;
    if (to >= 0) {
      row = to;
      continue;
    }
    row = -to - 1;
    if (row === brokenRow) {
      plain = false;
      continue;
    }
    const state = row >> 7; // row / ALPHABET
    const end = base + i + 1;
    const start = Math.max(0, end - (endLength[state] as number));
    for (const g of ends[state] as readonly number[]) {
      if ((firstStart[g] as number) === -1) firstStart[g] = start;
      lastEnd[g] = end;
    }
  }
  carry[0] = row;
  carry[1] = plain ? 1 : 0;
}
