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

/** The original [start, end) of normalized [from, to). */
export function originalSpan(
  normalized: NormalizedText,
  from: number,
  to: number,
): [number, number] {
  const { origin, originEnd } = normalized;
  if (origin === undefined || originEnd === undefined) return [from, to];
  const start = origin[from] ?? 0;
  const end = to > from ? (originEnd[to - 1] ?? start) : start;
  return [start, end];
}
