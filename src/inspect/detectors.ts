// The built-in detectors the guardrails run on arguments and results: secrets (secretlint's
// recommended rules and the ones written here), personal data, and injected instructions
// from the shared text detectors (text/: phrasing addressed to a model, exfiltration
// instructions, hidden Unicode).
import type { TextDetector, TextMatch } from './finding.js';
import { personalData, type NationalIdRule } from './pii.js';
import { generalSecrets, secretlintRules } from './secrets.js';
import { scanText, type TextFindingType } from './text/index.js';

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

/** Injected instructions and hidden Unicode, as findings of type `injection`. */
export function injectedInstructions(): TextDetector {
  return {
    name: 'injected instructions and hidden Unicode',
    scan(text: string): TextMatch[] {
      const out: TextMatch[] = [];
      for (const f of scanText(text)) {
        if (!INJECTION_TYPES.has(f.type)) continue;
        out.push({
          type: 'injection',
          detector: `injection.${f.detector}`,
          severity: f.severity,
          offset: f.offset,
          length: f.length,
          excerpt: f.excerpt,
        });
      }
      return out;
    },
  };
}

export function builtInDetectors(nationalIds: readonly NationalIdRule[] = []): TextDetector[] {
  return [secretlintRules(), generalSecrets(), personalData(nationalIds), injectedInstructions()];
}
