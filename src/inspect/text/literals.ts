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
    public plain: boolean,
    /** Per group its first occurrence's start, then per group its last one's end; -1: none. */
    private readonly bounds: Int32Array,
    private readonly groups: number,
    /** Per located group, where each of its occurrences ends, in order. */
    private readonly located: ReadonlyArray<readonly number[] | undefined>,
  ) {}

  /**
   * Whether a literal of `group` occurs, anywhere or overlapping [from, to). The range
   * test is by first and last occurrence: it may say yes for a range between two
   * occurrences, never no for a range that holds one.
   */
  has(group: number, from = 0, to = Number.MAX_SAFE_INTEGER): boolean {
    if (group < 0 || group >= this.groups) return false;
    const last = this.bounds[this.groups + group] as number;
    return last > from && (this.bounds[group] as number) < to;
  }

  /**
   * Where every occurrence of a literal of `group` ends (the index after its last
   * character), in increasing order; undefined for a group the set does not locate.
   */
  ends(group: number): readonly number[] | undefined {
    return this.located[group];
  }
}

export class LiteralSet {
  /**
   * table[row + char], row = state * ALPHABET: the automaton's transitions (failure links
   * resolved), as the next state's row, encoded -row - 1 when the next state ends a
   * literal or is BROKEN.
   */
  readonly table: Int32Array;
  /** The row of the BROKEN state (see the constructor). */
  readonly brokenRow: number;
  /** The groups a state ends a literal of (its own and its failure chain's). */
  /**
   * The groups a state ends a literal of (its own and its failure chain's), flat: state
   * s's are endGroups[endFrom[s]] to endGroups[endFrom[s + 1] - 1]; the located ones
   * likewise in locatedGroupsFlat from locatedFrom.
   */
  private readonly endFrom: Int32Array;
  private readonly endGroups: Int32Array;
  private readonly locatedFrom: Int32Array;
  private readonly locatedGroupsFlat: Int32Array;
  /** Per state, the longest literal length it ends (for the start of an occurrence). */
  private readonly endLength: Int32Array;
  private readonly locatedGroups: readonly number[];
  readonly groups: number;

  /**
   * `groups[g]`: the literals of group g, ASCII; letters match in either case, a space any
   * run of whitespace. For the groups in `located`, every occurrence's end is recorded
   * (LiteralHits.ends), so a search can start where they are instead of at every position.
   */
  constructor(groups: readonly (readonly string[])[], located: Iterable<number> = []) {
    this.groups = groups.length;
    const locatedSet = new Set(located);
    for (const g of locatedSet) {
      if (!Number.isInteger(g) || g < 0 || g >= groups.length) {
        throw new Error(`located group ${g} is not one of the ${groups.length} groups`);
      }
    }
    this.locatedGroups = [...locatedSet].sort((a, b) => a - b);
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
    this.endLength = endLength;
    [this.endFrom, this.endGroups] = flatten(ends);
    [this.locatedFrom, this.locatedGroupsFlat] = flatten(
      ends.map((groupsHere) => groupsHere.filter((g) => locatedSet.has(g))),
    );
  }

  /** One pass over `text`, in chunks that stay in the processor's cache. */
  scan(text: string): LiteralHits {
    // firstStart for each group, then lastEnd for each group.
    const bounds = new Int32Array(2 * this.groups).fill(-1);
    const located: Array<number[] | undefined> = new Array<number[] | undefined>(this.groups);
    for (const g of this.locatedGroups) located[g] = [];
    const hits = new LiteralHits(true, bounds, this.groups, located);
    this.scanInto(text, hits, bounds, located);
    return hits;
  }

  /**
   * The same pass, into one LiteralHits the set keeps and hands out again at its next
   * scanShared: for a caller that is done with the hits before it scans again (the
   * inspection walk, which scans every string of every result; a fresh set of arrays a
   * string was a third of what inspecting a small result allocated).
   */
  scanShared(text: string): LiteralHits {
    const shared = (this.shared ??= this.sharedHits());
    shared.bounds.fill(-1);
    for (const g of this.locatedGroups) (shared.located[g] as number[]).length = 0;
    this.scanInto(text, shared.hits, shared.bounds, shared.located);
    return shared.hits;
  }

  private shared:
    { hits: LiteralHits; bounds: Int32Array; located: Array<number[] | undefined> } | undefined;

  private sharedHits(): NonNullable<LiteralSet['shared']> {
    const bounds = new Int32Array(2 * this.groups);
    const located: Array<number[] | undefined> = new Array<number[] | undefined>(this.groups);
    for (const g of this.locatedGroups) located[g] = [];
    return { hits: new LiteralHits(true, bounds, this.groups, located), bounds, located };
  }

  private scanInto(
    text: string,
    hits: LiteralHits,
    bounds: Int32Array,
    located: ReadonlyArray<number[] | undefined>,
  ): void {
    const state = scanState;
    state.row = 0;
    state.plain = true;
    for (let base = 0; base < text.length; base += CHUNK) {
      const chunk = base === 0 && text.length <= CHUNK ? text : text.slice(base, base + CHUNK);
      run(this, codeUnits(chunk, true), base, state, bounds, located);
    }
    hits.plain = state.plain;
  }

  /** A hit: `state` ends literals at `end` (the index after their last character). */
  record(
    state: number,
    end: number,
    bounds: Int32Array,
    located: ReadonlyArray<number[] | undefined>,
  ): void {
    const start = Math.max(0, end - (this.endLength[state] as number));
    const groups = this.groups;
    const { endFrom, endGroups, locatedFrom, locatedGroupsFlat } = this;
    for (let k = endFrom[state] as number, to = endFrom[state + 1] as number; k < to; k += 1) {
      const g = endGroups[k] as number;
      if ((bounds[g] as number) === -1) bounds[g] = start;
      bounds[groups + g] = end;
    }
    for (
      let k = locatedFrom[state] as number, to = locatedFrom[state + 1] as number;
      k < to;
      k += 1
    ) {
      located[locatedGroupsFlat[k] as number]?.push(end);
    }
  }
}

/** The two passes' hits, kept from one scan to the next. */
const hitBuffers: [Int32Array, Int32Array] = [new Int32Array(512), new Int32Array(512)];
/** The longest hit buffer kept (64 K entries, 256 KB). */
const HIT_BUFFER_KEPT = 1 << 16;

/** A buffer twice as long, with the same start. */
function grown(buffer: Int32Array): Int32Array {
  const bigger = new Int32Array(buffer.length * 2);
  bigger.set(buffer);
  return bigger;
}

/** Lists of numbers as one array and where each starts (one more entry: the end). */
function flatten(lists: readonly (readonly number[])[]): [Int32Array, Int32Array] {
  const from = new Int32Array(lists.length + 1);
  const flat = new Int32Array(lists.reduce((n, list) => n + list.length, 0));
  let at = 0;
  lists.forEach((list, i) => {
    from[i] = at;
    flat.set(list, at);
    at += list.length;
  });
  from[lists.length] = at;
  return [from, flat];
}

/** What the scan carries from one chunk to the next. */
interface ScanState {
  row: number;
  plain: boolean;
}

/** The scan's state between chunks: one object, as scans are synchronous. */
const scanState: ScanState = { row: 0, plain: true };

/** Code units scanned at a time: 128 KB of them. */
const CHUNK = 64 * 1024;

/**
 * The string's UTF-16 code units as a typed array, valid until the next call (one buffer
 * is reused: scans are synchronous). Loops read them from there, not with charCodeAt: in a
 * process that has subclassed String (ioredis does, for RESP3 verbatim strings), V8's
 * optimized charCodeAt loops were measured 4-7 times slower, typed-array reads not at all.
 * The copy costs about 1 µs per 10 KB.
 */
export function codeUnits(text: string, fresh = false): Uint16Array {
  const bytes = text.length * 2;
  if (bytes > SCRATCH_MAX) {
    const own = Buffer.from(text, 'utf16le');
    return new Uint16Array(own.buffer, own.byteOffset, own.length >> 1);
  }
  // The detectors after the prescan ask for the same text again: it is still there. (The
  // prescan, first on every text, copies it afresh: a text seen again is rare.)
  if (!fresh && text === scratchText)
    return new Uint16Array(scratch.buffer, scratch.byteOffset, text.length);
  if (scratch.length < bytes) scratch = Buffer.allocUnsafeSlow(Math.max(bytes, scratch.length * 2));
  scratch.write(text, 0, 'utf16le');
  scratchText = text;
  return new Uint16Array(scratch.buffer, scratch.byteOffset, text.length);
}

/**
 * Texts up to 4 M code units (the default guardrails.inspection.max_bytes of ASCII) share
 * one buffer, grown to the longest text seen; longer ones get their own.
 */
const SCRATCH_MAX = 8 * 1024 * 1024;
let scratch = Buffer.allocUnsafeSlow(64 * 1024);
/** The text whose code units `scratch` holds. */
let scratchText: string | undefined;

/** Texts shorter than this are read in one pass; longer ones in two halves at once. */
const SPLIT_MIN = 512;
/** How many characters before the middle the second half's pass starts reading. */
const WARM_UP = 64;

/**
 * The scan's loop: the two halves of `units` read at once, interleaved. One pass is a
 * chain of dependent loads (each state's row is the next load's address) and waits on
 * each; two independent chains keep the processor busy (measured 22 → 14 µs per 10 KB).
 * The second pass starts WARM_UP characters before the middle, at the root: there, it is
 * in the state the first pass is in unless a literal's prefix reaches further back (a
 * long whitespace run inside one), which the states themselves tell. When they agree at
 * the middle, the first pass's hits are the ones before it and the second's the ones
 * after; when they do not, the first pass reads on to the end alone.
 *
 * The length is read once: in a process where a length-tracking typed array was ever made
 * (Node's own modules make them), V8 re-reads a typed array's length on every iteration
 * of a loop that tests `i < units.length`, which was measured 4 times slower.
 */
function run(
  set: LiteralSet,
  units: Uint16Array,
  base: number,
  state: ScanState,
  bounds: Int32Array,
  located: ReadonlyArray<number[] | undefined>,
): void {
  const length = units.length;
  if (length < SPLIT_MIN) {
    runFrom(set, units, 0, length, base, state, bounds, located);
    return;
  }
  const { table, brokenRow } = set;
  const half = length >> 1;
  const startB = half - WARM_UP;
  let rowA = state.row;
  let plainA = state.plain;
  let rowB = 0;
  let plainB = true;
  /** The second pass's row after the character before the middle. */
  let rowBAtMiddle = -1;
  // Each pass's hits as (row, end) pairs, reported after the loop (no call inside it), in
  // buffers kept from one scan to the next (a scan is synchronous).
  let pendingA = hitBuffers[0];
  let pendingB = hitBuffers[1];
  let countA = 0;
  let countB = 0;
  // Two loops: in the first, the second pass reads its warm-up (hits there are the first
  // pass's); in the second, it reads its own half. The step is written out once per pass,
  // on purpose: the two independent chains in one loop body are the point, and a shared
  // function would leave that to the inliner.
  for (let phase = 0, i = 0; phase < 2; phase += 1) {
    const stop = phase === 0 ? WARM_UP : half;
    const keepB = phase === 1;
    for (; i < stop; i += 1) {
      const unitA = units[i] as number;
      if (unitA >= ALPHABET) {
        plainA = false;
        rowA = 0;
      } else {
        const to = table[rowA + unitA] as number;
        if (to >= 0) rowA = to;
        else {
          rowA = -to - 1;
          if (rowA === brokenRow) plainA = false;
          else {
            if (countA + 2 > pendingA.length) pendingA = hitBuffers[0] = grown(pendingA);
            pendingA[countA] = rowA;
            pendingA[countA + 1] = base + i + 1;
            countA += 2;
          }
        }
      }
      const unitB = units[startB + i] as number;
      if (unitB >= ALPHABET) {
        plainB = false;
        rowB = 0;
      } else {
        const to = table[rowB + unitB] as number;
        if (to >= 0) rowB = to;
        else {
          rowB = -to - 1;
          if (rowB === brokenRow) plainB = false;
          else if (keepB) {
            if (countB + 2 > pendingB.length) pendingB = hitBuffers[1] = grown(pendingB);
            pendingB[countB] = rowB;
            pendingB[countB + 1] = base + startB + i + 1;
            countB += 2;
          }
        }
      }
    }
    if (phase === 0) rowBAtMiddle = rowB;
  }
  for (let k = 0; k < countA; k += 2) {
    set.record((pendingA[k] as number) >> 7, pendingA[k + 1] as number, bounds, located);
  }
  // A long text with many hits leaves no large buffer behind.
  if (pendingA.length > HIT_BUFFER_KEPT) hitBuffers[0] = new Int32Array(512);
  if (pendingB.length > HIT_BUFFER_KEPT) hitBuffers[1] = new Int32Array(512);
  if (rowA !== rowBAtMiddle) {
    const first: ScanState = { row: rowA, plain: plainA };
    runFrom(set, units, half, length, base, first, bounds, located);
    state.row = first.row;
    state.plain = first.plain;
    return;
  }
  for (let k = 0; k < countB; k += 2) {
    set.record((pendingB[k] as number) >> 7, pendingB[k + 1] as number, bounds, located);
  }
  const second: ScanState = { row: rowB, plain: plainA && plainB };
  runFrom(set, units, startB + half, length, base, second, bounds, located);
  state.row = second.row;
  state.plain = second.plain;
}

/** One pass over units[from, to), hits reported. */
function runFrom(
  set: LiteralSet,
  units: Uint16Array,
  from: number,
  to: number,
  base: number,
  state: ScanState,
  bounds: Int32Array,
  located: ReadonlyArray<number[] | undefined>,
): void {
  const { table, brokenRow } = set;
  let row = state.row;
  let plain = state.plain;
  for (let i = from; i < to; i += 1) {
    const unit = units[i] as number;
    if (unit >= ALPHABET) {
      plain = false;
      row = 0;
      continue;
    }
    const next = table[row + unit] as number;
    if (next >= 0) {
      row = next;
      continue;
    }
    row = -next - 1;
    if (row === brokenRow) {
      plain = false;
      continue;
    }
    set.record(row >> 7, base + i + 1, bounds, located); // row / ALPHABET
  }
  state.row = row;
  state.plain = plain;
}
