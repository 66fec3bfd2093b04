// Hidden Unicode: characters that change what a model reads without changing what a person
// sees. Consecutive characters of one kind are one finding.
import { decodeTags, excerpt, invisibleKind, type InvisibleKind } from './characters.js';
import type { Severity, TextFinding } from './finding.js';

interface KindRule {
  readonly detector: string;
  readonly severity: Severity;
  readonly describe: (count: number) => string;
}

const plural = (count: number, one: string, many = `${one}s`): string =>
  `${count} ${count === 1 ? one : many}`;

const RULES: Record<InvisibleKind, KindRule> = {
  tag: {
    detector: 'unicode.tag',
    severity: 'high',
    describe: (n) => `${plural(n, 'invisible Unicode tag character')} hiding text`,
  },
  bidi_control: {
    detector: 'unicode.bidi_control',
    severity: 'high',
    describe: (n) => `${plural(n, 'bidirectional control character')} that reorder shown text`,
  },
  bidi_mark: {
    detector: 'unicode.bidi_mark',
    severity: 'low',
    describe: (n) => plural(n, 'bidirectional mark'),
  },
  zero_width: {
    detector: 'unicode.zero_width',
    severity: 'medium',
    describe: (n) => plural(n, 'zero-width character'),
  },
  variation_selector: {
    detector: 'unicode.variation_run',
    severity: 'high',
    describe: (n) => `${n} variation selectors in a row (they can carry hidden bytes)`,
  },
  soft_hyphen: {
    detector: 'unicode.soft_hyphen',
    severity: 'low',
    describe: (n) => plural(n, 'soft hyphen'),
  },
  filler: {
    detector: 'unicode.filler',
    severity: 'medium',
    describe: (n) => plural(n, 'invisible filler character'),
  },
  format: {
    detector: 'unicode.format',
    severity: 'medium',
    describe: (n) => plural(n, 'invisible format character'),
  },
  control: {
    detector: 'unicode.control',
    severity: 'medium',
    describe: (n) => plural(n, 'control character'),
  },
};

const ZWNJ = 0x200c;
const ZWJ = 0x200d;
const BOM = 0xfeff;
/** The longest decoded hidden text an excerpt shows. */
const DECODED_MAX = 60;

/** True for a code point that joins letters of many scripts and emoji legitimately. */
function isJoinable(cp: number | undefined): boolean {
  return (
    cp !== undefined &&
    cp > 0x7f &&
    invisibleKind(cp) === undefined &&
    !/\s/u.test(String.fromCodePoint(cp))
  );
}

/** Whether a run is ordinary text rather than something hidden. */
function isBenign(
  text: string,
  kind: InvisibleKind,
  start: number,
  end: number,
  count: number,
): boolean {
  const first = text.codePointAt(start);
  if (kind === 'zero_width') {
    if (first === BOM && start === 0 && count === 1) return true; // a byte-order mark
    // One ZWJ or ZWNJ between two non-ASCII characters: emoji sequences, Indic and Persian.
    if (count === 1 && (first === ZWJ || first === ZWNJ)) {
      const before =
        start > 0 ? text.codePointAt(start - (isLowSurrogate(text, start - 1) ? 2 : 1)) : undefined;
      return isJoinable(before) && isJoinable(text.codePointAt(end));
    }
  }
  // One selector picks an emoji or ideograph form; only runs carry data.
  return kind === 'variation_selector' && count === 1;
}

function isLowSurrogate(text: string, index: number): boolean {
  const unit = text.charCodeAt(index);
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/** Every run of hidden or control characters in `text` that is not ordinary text. */
export function detectHiddenUnicode(text: string): TextFinding[] {
  const findings: TextFinding[] = [];
  let runKind: InvisibleKind | undefined;
  let runStart = 0;
  let runCount = 0;
  const close = (end: number): void => {
    if (runKind === undefined || isBenign(text, runKind, runStart, end, runCount)) return;
    const rule = RULES[runKind];
    let suffix = '';
    let message = rule.describe(runCount);
    if (runKind === 'tag') {
      const hidden = decodeTags(text, runStart, end);
      const shown = hidden.length > DECODED_MAX ? `${hidden.slice(0, DECODED_MAX)}…` : hidden;
      suffix = ` [hidden: ${JSON.stringify(shown)}]`;
      message = `${message}: ${JSON.stringify(shown)}`;
    } else if (runKind === 'control' && text.slice(runStart, end).includes('\u001b')) {
      message = `${message}, including a terminal escape (ESC)`;
    }
    findings.push({
      type: 'hidden_unicode',
      detector: rule.detector,
      severity: rule.severity,
      offset: runStart,
      length: end - runStart,
      excerpt: excerpt(text, runStart, end, suffix),
      message,
    });
  };
  for (let i = 0; i < text.length;) {
    const unit = text.charCodeAt(i);
    // Fast path: printable ASCII, tab, line feed and carriage return are never hidden.
    if ((unit >= 0x20 && unit < 0x7f) || unit === 0x0a || unit === 0x0d || unit === 0x09) {
      if (runKind !== undefined) {
        close(i);
        runKind = undefined;
      }
      i += 1;
      continue;
    }
    const cp = text.codePointAt(i) ?? unit;
    const kind = invisibleKind(cp);
    if (kind !== runKind) {
      close(i);
      runKind = kind;
      runStart = i;
      runCount = 0;
    }
    runCount += 1;
    i += cp > 0xffff ? 2 : 1;
  }
  close(text.length);
  return findings;
}
