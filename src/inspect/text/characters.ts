// Which code points are invisible or control characters, and the excerpt that shows a match
// safely: every such character written as an escape, so a logged excerpt cannot carry the
// hidden payload it reports.
import { EXCERPT_MAX } from './finding.js';

/** A kind of character a reader cannot see. */
export type InvisibleKind =
  | 'tag' // U+E0000–E007F: invisible copies of ASCII ("ASCII smuggling")
  | 'bidi_control' // embeddings, overrides, isolates: reorder what is shown ("Trojan Source")
  | 'bidi_mark' // LRM, RLM, ALM: common in right-to-left text
  | 'zero_width' // ZWSP, ZWNJ, ZWJ, word joiner, BOM inside text, Mongolian vowel separator
  | 'variation_selector' // FE00–FE0F, E0100–E01EF: can carry bytes after a visible character
  | 'soft_hyphen'
  | 'filler' // Hangul fillers: shown as nothing
  | 'format' // any other format character (general category Cf)
  | 'control'; // C0 (but tab, line feed, carriage return), DEL, C1: e.g. terminal escapes

const FORMAT = /^\p{Cf}$/u;

/** The kind of an invisible or control code point, undefined for a visible one. */
export function invisibleKind(cp: number): InvisibleKind | undefined {
  // The common case first: printable ASCII and most letters are none of these.
  if (cp >= 0x20 && cp < 0x7f) return undefined;
  if (cp < 0x20) return cp === 0x09 || cp === 0x0a || cp === 0x0d ? undefined : 'control';
  if (cp <= 0x9f) return 'control'; // DEL and C1
  if (cp === 0xad) return 'soft_hyphen';
  if (cp < 0x61c) return undefined;
  if (cp >= 0xe0000 && cp <= 0xe007f) return 'tag';
  if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) return 'bidi_control';
  if (cp === 0x200e || cp === 0x200f || cp === 0x61c) return 'bidi_mark';
  if ((cp >= 0x200b && cp <= 0x200d) || cp === 0x2060 || cp === 0xfeff || cp === 0x180e) {
    return 'zero_width';
  }
  if ((cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef)) {
    return 'variation_selector';
  }
  if (cp === 0x115f || cp === 0x1160 || cp === 0x3164 || cp === 0xffa0) return 'filler';
  if (FORMAT.test(String.fromCodePoint(cp))) return 'format';
  return undefined;
}

/** `\u{200B}`: how an invisible character is written in an excerpt. */
export function escapeCodePoint(cp: number): string {
  return `\\u{${cp.toString(16).toUpperCase().padStart(4, '0')}}`;
}

/** The visible text a run of tag characters spells (tags mirror ASCII 0x20–0x7E). */
export function decodeTags(text: string, start: number, end: number): string {
  let decoded = '';
  for (let i = start; i < end;) {
    const cp = text.codePointAt(i) ?? 0;
    const ascii = cp - 0xe0000;
    if (ascii >= 0x20 && ascii < 0x7f) decoded += String.fromCharCode(ascii);
    i += cp > 0xffff ? 2 : 1;
  }
  return decoded;
}

/** Characters of context shown on each side of a match. */
const CONTEXT = 24;

/** Moves an index off the low half of a surrogate pair, so no excerpt splits a character. */
function onBoundary(text: string, index: number): number {
  const unit = text.charCodeAt(index);
  return unit >= 0xdc00 && unit <= 0xdfff && index > 0 ? index - 1 : index;
}

/** Writes text[start, end) with invisible and control characters as escapes, within `max`. */
function render(text: string, start: number, end: number, max: number): string {
  let out = '';
  for (let i = start; i < end && out.length < max;) {
    const cp = text.codePointAt(i) ?? 0;
    const width = cp > 0xffff ? 2 : 1;
    if (cp === 0x0a || cp === 0x0d || cp === 0x09) out += ' ';
    else out += invisibleKind(cp) === undefined ? String.fromCodePoint(cp) : escapeCodePoint(cp);
    i += width;
  }
  return out.length > max ? out.slice(0, max) : out;
}

/**
 * The excerpt of a match at text[start, end): a little context on each side, invisible
 * characters escaped, `…` where text was cut, at most EXCERPT_MAX characters in all.
 * `suffix` (e.g. decoded hidden text) is appended inside the bound.
 */
export function excerpt(text: string, start: number, end: number, suffix = ''): string {
  const from = onBoundary(text, Math.max(0, start - CONTEXT));
  const to = onBoundary(text, Math.min(text.length, end + CONTEXT));
  const room = EXCERPT_MAX - suffix.length - 2;
  const before = render(text, from, start, CONTEXT * 2);
  const match = render(text, start, end, Math.max(16, room - before.length - CONTEXT));
  const after = render(text, end, to, CONTEXT * 2);
  let body = before + match + after;
  if (body.length > room) body = body.slice(0, room);
  const cutBefore = from > 0 ? '…' : '';
  const cutAfter = to < text.length || body.length < before.length + match.length + after.length;
  const shown = `${cutBefore}${body}${cutAfter ? '…' : ''}${suffix}`;
  return shown.length > EXCERPT_MAX ? shown.slice(0, EXCERPT_MAX - 1) + '…' : shown;
}
