// The text the phrase detectors read: invisible characters removed, compatibility forms
// folded (NFKC: fullwidth "ｉｇｎｏｒｅ" is "ignore"), lower case, whitespace runs as one
// space. Hiding a zero-width space inside "ig\u200Bnore" must not hide the phrase. Lower-casing
// here lets every pattern run without the `i` and `u` flags, about thirty times faster in
// V8. Each character keeps the index it came from, so a finding points into the original.
import { invisibleKind } from './characters.js';

export interface NormalizedText {
  readonly text: string;
  /**
   * origin[i]: where normalized character i starts in the original string; undefined when
   * every character stayed where it was (the text was plain: see PLAIN).
   */
  readonly origin: Int32Array | undefined;
  /** originEnd[i]: where normalized character i ends in the original string. */
  readonly originEnd: Int32Array | undefined;
  /**
   * For text normalized by normalizePlain, instead of origin: normalized character i,
   * in the segment k with segmentStart[k] <= i < segmentStart[k + 1], came from original
   * character segmentOrigin[k] + (i - segmentStart[k]), one for one.
   */
  readonly segmentStart?: Int32Array;
  readonly segmentOrigin?: Int32Array;
}

/**
 * Printable ASCII words separated by single spaces: normalizing only lower-cases such a
 * text, so no index moves and no map is needed. Most catalog texts are like this.
 */
const PLAIN = /^[\x21-\x7E]+(?: [\x21-\x7E]+)*$/;

const SPACE = /^\s$/u;

/** True for printable ASCII other than the space: copied as they are, in runs. */
const isPlain = (unit: number): boolean => unit > 0x20 && unit < 0x7f;

export function normalizeForMatching(original: string): NormalizedText {
  if (PLAIN.test(original)) {
    return { text: original.toLowerCase(), origin: undefined, originEnd: undefined };
  }
  // NFKC can lengthen a character (U+FB01 "ﬁ" is "fi"); the arrays grow when needed.
  let origin = new Int32Array(original.length + 8);
  let originEnd = new Int32Array(original.length + 8);
  const parts: string[] = [];
  let length = 0;
  let lastWasSpace = true; // no leading space
  const reserve = (extra: number): void => {
    if (length + extra <= origin.length) return;
    const grown = Math.max(origin.length * 2, length + extra);
    const o = new Int32Array(grown);
    o.set(origin);
    origin = o;
    const e = new Int32Array(grown);
    e.set(originEnd);
    originEnd = e;
  };
  for (let i = 0; i < original.length;) {
    const unit = original.charCodeAt(i);
    if (isPlain(unit)) {
      let j = i + 1;
      // A single space between plain characters stays in the run: most text is one run.
      for (;;) {
        const next = original.charCodeAt(j);
        if (isPlain(next)) j += 1;
        else if (next === 0x20 && isPlain(original.charCodeAt(j + 1))) j += 2;
        else break;
      }
      reserve(j - i);
      for (let k = i; k < j; k += 1) {
        origin[length] = k;
        originEnd[length] = k + 1;
        length += 1;
      }
      parts.push(original.slice(i, j).toLowerCase());
      lastWasSpace = false;
      i = j;
      continue;
    }
    if (unit === 0x20 || unit === 0x09 || unit === 0x0a || unit === 0x0d) {
      if (!lastWasSpace) {
        reserve(1);
        origin[length] = i;
        originEnd[length] = i + 1;
        length += 1;
        parts.push(' ');
      }
      lastWasSpace = true;
      i += 1;
      continue;
    }
    const cp = original.codePointAt(i) ?? unit;
    const width = cp > 0xffff ? 2 : 1;
    const char = String.fromCodePoint(cp);
    let piece = '';
    if (SPACE.test(char)) {
      if (!lastWasSpace) piece = ' ';
      lastWasSpace = true;
    } else if (invisibleKind(cp) === undefined) {
      piece = char.normalize('NFKC').toLowerCase();
      lastWasSpace = piece.length > 0 && SPACE.test(piece[piece.length - 1] ?? '');
    }
    if (piece.length > 0) {
      reserve(piece.length);
      for (let k = 0; k < piece.length; k += 1) {
        origin[length] = i;
        originEnd[length] = i + width;
        length += 1;
      }
      parts.push(piece);
    }
    i += width;
  }
  return {
    text: parts.join(''),
    origin: origin.subarray(0, length),
    originEnd: originEnd.subarray(0, length),
  };
}

/**
 * normalizeForMatching for text of tab, line feed, carriage return and printable ASCII
 * only (the caller knows: LiteralHits.plain), without looking at every character twice:
 * lower case, and each whitespace run other than a single space between words becomes
 * one space (none at the start). Same text and offsets as normalizeForMatching.
 */
export function normalizePlain(original: string): NormalizedText {
  const lower = original.toLowerCase();
  const starts: number[] = [0];
  const origins: number[] = [0];
  const parts: string[] = [];
  let copied = 0; // original index up to which lower is in parts
  let length = 0; // normalized length of parts
  OTHER_WHITESPACE.lastIndex = 0;
  for (let m = OTHER_WHITESPACE.exec(lower); m !== null; m = OTHER_WHITESPACE.exec(lower)) {
    const runStart = m.index;
    const runEnd = runStart + m[0].length;
    // A single space where the run starts: it stays, the rest of the run goes.
    const keepsSpace = runStart > 0;
    parts.push(lower.slice(copied, runStart));
    length += runStart - copied;
    if (keepsSpace) {
      parts.push(' ');
      starts.push(length);
      origins.push(runStart);
      length += 1;
    }
    starts.push(length);
    origins.push(runEnd);
    copied = runEnd;
  }
  if (copied === 0) return { text: lower, origin: undefined, originEnd: undefined };
  parts.push(lower.slice(copied));
  return {
    text: parts.join(''),
    origin: undefined,
    originEnd: undefined,
    segmentStart: Int32Array.from(starts),
    segmentOrigin: Int32Array.from(origins),
  };
}

/**
 * Whitespace normalizePlain changes, each run whole from its first character: two
 * characters or more, a lone tab, line feed or carriage return, or a space at the start.
 * A single space between words stays as it is. Linear: one class, no nesting.
 */
const OTHER_WHITESPACE = /[ \t\n\r]{2,}|[\t\n\r]|^ /g;

function fromSegment(normalized: NormalizedText, index: number): number {
  const starts = normalized.segmentStart as Int32Array;
  const origins = normalized.segmentOrigin as Int32Array;
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if ((starts[mid] as number) <= index) low = mid;
    else high = mid - 1;
  }
  return (origins[low] as number) + index - (starts[low] as number);
}

/** The original [start, end) of normalized [from, to). */
export function originalSpan(
  normalized: NormalizedText,
  from: number,
  to: number,
): [number, number] {
  if (normalized.segmentStart !== undefined) {
    const start = fromSegment(normalized, from);
    return [start, to > from ? fromSegment(normalized, to - 1) + 1 : start];
  }
  const { origin, originEnd } = normalized;
  if (origin === undefined || originEnd === undefined) return [from, to];
  const start = origin[from] ?? 0;
  const end = to > from ? (originEnd[to - 1] ?? start) : start;
  return [start, end];
}
