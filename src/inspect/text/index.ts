// The shared text detectors: pure functions over one string, no I/O. Used by the output
// inspection and by the tool-description scan; each turns findings into facts its own way.
import { byPosition, SEVERITIES, type TextFinding, type TextFindingType } from './finding.js';
import { detectHiddenUnicode } from './hidden-unicode.js';
import { detectPhrases, PHRASE_RULES, type PhrasePrescan } from './phrases.js';

export { excerpt } from './characters.js';
export { detectHiddenUnicode } from './hidden-unicode.js';
export {
  detectPhrases,
  PHRASE_LOCATED,
  PHRASE_RULES,
  PHRASE_TRIGGERS,
  type PhrasePrescan,
} from './phrases.js';
export { LiteralHits, LiteralSet } from './literals.js';
export { normalizeForMatching } from './normalize.js';
export {
  byPosition,
  EXCERPT_MAX,
  maxSeverity,
  SEVERITIES,
  type Severity,
  type TextFinding,
  type TextFindingType,
} from './finding.js';

export interface ScanTextOptions {
  /** At most this many findings from one detector (default 20): a flood is one fact. */
  readonly perDetector?: number;
  /** At most this many findings in all (default 100), the first by position. */
  readonly maxFindings?: number;
  /**
   * The caller's one-pass prescan of the text (or of the text it is a slice of), with
   * PHRASE_TRIGGERS among its groups: a plain text has no hidden Unicode, and phrase rules
   * whose triggers do not occur are not run.
   */
  readonly prescan?: PhrasePrescan;
  /**
   * Only findings of these types are returned (the others still count towards the limits,
   * as without this option, but get no excerpt).
   */
  readonly types?: ReadonlySet<TextFindingType>;
}

/**
 * Every detector over `text`: hidden Unicode, instruction phrasing, secret files,
 * exfiltration and URLs, ordered by position.
 */
export function scanText(text: string, options: ScanTextOptions = {}): TextFinding[] {
  const perDetector = options.perDetector ?? 20;
  const maxFindings = options.maxFindings ?? 100;
  const plain = options.prescan?.hits.plain === true;
  const found = plain ? [] : detectHiddenUnicode(text);
  const types = options.types;
  const only = types === undefined ? undefined : onlyTypes(types);
  // The rules of types not asked for count only towards maxFindings, with at most
  // perDetector findings each: when the asked ones leave room for all of those, they
  // cannot change what is returned and are not run (URLs, for the guardrails).
  let phrases =
    only === undefined
      ? undefined
      : detectPhrases(text, perDetector, options.prescan, only.asked, only.asked);
  const unasked = only === undefined ? 0 : only.unaskedRules;
  if (
    phrases === undefined ||
    found.length + phrases.length + unasked * perDetector > maxFindings
  ) {
    phrases = detectPhrases(text, perDetector, options.prescan, only?.asked);
  }
  // Most texts have nothing: no sorting or dedup to pay for.
  if (found.length === 0 && phrases.length === 0) return [];
  const hidden = limitPerDetector(found, perDetector);
  // Coverage is within one type, so when the limit cannot cut, the types not asked for
  // (URLs, for the guardrails) are left out before it is worked out, not after.
  if (types !== undefined && hidden.length + phrases.length <= maxFindings) {
    const wanted = [...hidden, ...phrases].filter((f) => types.has(f.type));
    return wanted.length === 0 ? [] : withoutCovered(wanted).sort(byPosition);
  }
  const all = withoutCovered([...hidden, ...phrases]).sort(byPosition);
  const kept = all.length > maxFindings ? all.slice(0, maxFindings) : all;
  return types === undefined ? kept : kept.filter((f) => types.has(f.type));
}

/** What a set of asked types means for the phrase rules, worked out once per set. */
interface OnlyTypes {
  asked: (type: TextFindingType) => boolean;
  /** How many phrase rules are of a type not asked for. */
  unaskedRules: number;
}

const ONLY_TYPES = new WeakMap<ReadonlySet<TextFindingType>, OnlyTypes>();

function onlyTypes(types: ReadonlySet<TextFindingType>): OnlyTypes {
  let only = ONLY_TYPES.get(types);
  if (only === undefined) {
    const asked = (type: TextFindingType): boolean => types.has(type);
    only = { asked, unaskedRules: PHRASE_RULES.filter((rule) => !asked(rule.type)).length };
    ONLY_TYPES.set(types, only);
  }
  return only;
}

/**
 * Drops a finding that lies inside another of the same type and at least its severity
 * (the secret file inside "read ~/.ssh/id_rsa" is that instruction, not a second fact).
 */
function withoutCovered(findings: TextFinding[]): TextFinding[] {
  const rank = (f: TextFinding): number => SEVERITIES.indexOf(f.severity);
  return findings.filter(
    (f) =>
      !findings.some(
        (g) =>
          g !== f &&
          g.type === f.type &&
          rank(g) >= rank(f) &&
          g.offset <= f.offset &&
          g.offset + g.length >= f.offset + f.length &&
          (g.length > f.length || rank(g) > rank(f)),
      ),
  );
}

function limitPerDetector(findings: TextFinding[], limit: number): TextFinding[] {
  const counts = new Map<string, number>();
  return findings.filter((f) => {
    const seen = counts.get(f.detector) ?? 0;
    counts.set(f.detector, seen + 1);
    return seen < limit;
  });
}
