// The built-in detectors the guardrails run on arguments and results: secrets (secretlint's
// recommended rules and the ones written here), personal data, and injected instructions
// from the shared text detectors (text/: phrasing addressed to a model, exfiltration
// instructions, hidden Unicode).
import type { Prescan, TextDetector, TextMatch } from './finding.js';
import { personalData, type NationalIdRule } from './pii.js';
import { generalSecrets, secretlintRules } from './secrets.js';
import {
  PHRASE_LOCATED,
  PHRASE_TRIGGERS,
  scanText,
  type ScanTextOptions,
  type TextFindingType,
} from './text/index.js';

/**
 * The text detectors' types that are injections in a result. `sensitive_path` and `url`
 * alone are not: a directory listing names `.env`, documentation links to sites; a path or
 * URL inside an instruction is part of that instruction's finding.
 */
const INJECTION_TYPES: ReadonlySet<TextFindingType> = new Set([
  'hidden_unicode',
  'model_instruction',
  'exfiltration',
]);

/**
 * The text detectors' cost grows faster than the text (measured: 20 times the time for 10
 * times the text at 100 KB), so long text is scanned in windows of WINDOW characters, each
 * reaching OVERLAP further so that a phrase across a boundary is still seen whole (their
 * patterns span a few hundred characters at most). A finding belongs to the window it
 * starts in; the window's overlap only completes it.
 */
const WINDOW = 8192;
const OVERLAP = 1024;

/** A boundary moved off the middle of a surrogate pair. */
function boundary(text: string, at: number): number {
  const code = text.charCodeAt(at);
  return code >= 0xdc00 && code <= 0xdfff ? at + 1 : at;
}

/** Injected instructions and hidden Unicode, as findings of type `injection`. */
export function injectedInstructions(): TextDetector {
  /** The options of a whole (unwindowed) text, per prescan: the walker's are made once. */
  const wholeText = new WeakMap<Prescan, ScanTextOptions>();
  const NO_PRESCAN: ScanTextOptions = { types: INJECTION_TYPES };
  const optionsOf = (prescan: Prescan | undefined, from: number, to: number): ScanTextOptions => {
    if (prescan === undefined) return NO_PRESCAN;
    if (to === Infinity) {
      let options = wholeText.get(prescan);
      if (options === undefined) {
        options = { types: INJECTION_TYPES, prescan };
        wholeText.set(prescan, options);
      }
      return options;
    }
    return { types: INJECTION_TYPES, prescan: { ...prescan, from, to } };
  };
  const add = (
    out: TextMatch[],
    text: string,
    base: number,
    limit: number,
    prescan: Prescan | undefined,
  ): void => {
    // A whole text is the prescanned one: no range to narrow the prescan's hits to.
    const options = optionsOf(prescan, base, limit === Infinity ? Infinity : base + text.length);
    for (const f of scanText(text, options)) {
      if (f.offset >= limit) continue;
      out.push({
        type: 'injection',
        detector: `injection.${f.detector}`,
        severity: f.severity,
        offset: base + f.offset,
        length: f.length,
        excerpt: f.excerpt,
      });
    }
  };
  return {
    name: 'injected instructions and hidden Unicode',
    triggers: PHRASE_TRIGGERS,
    located: PHRASE_LOCATED,
    scan(text: string, prescan?: Prescan): TextMatch[] {
      const out: TextMatch[] = [];
      if (text.length <= WINDOW + OVERLAP) {
        add(out, text, 0, Infinity, prescan);
        return out;
      }
      for (let start = 0; start < text.length;) {
        const end = boundary(text, Math.min(text.length, start + WINDOW));
        const reach = boundary(text, Math.min(text.length, end + OVERLAP));
        add(out, text.slice(start, reach), start, end - start, prescan);
        start = end;
      }
      return out;
    },
  };
}

export function builtInDetectors(nationalIds: readonly NationalIdRule[] = []): TextDetector[] {
  return [secretlintRules(), generalSecrets(), personalData(nationalIds), injectedInstructions()];
}
