// What every text detector returns. Pure data: the output inspection (issue 16) and the
// tool-description scan (issue 17) turn findings into policy facts each in their own way.

/** What a finding is about. */
export type TextFindingType =
  'hidden_unicode' | 'model_instruction' | 'exfiltration' | 'sensitive_path' | 'url';

/** How much a finding matters on its own; the policy decides what each one means. */
export type Severity = 'low' | 'medium' | 'high';

export const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high'];

export interface TextFinding {
  readonly type: TextFindingType;
  /** The detector's stable id, e.g. `unicode.tag` or `instruction.conceal`. */
  readonly detector: string;
  readonly severity: Severity;
  /** Where the match starts in the scanned string, in UTF-16 code units (a JS index). */
  readonly offset: number;
  /** How many UTF-16 code units of the scanned string the match covers. */
  readonly length: number;
  /**
   * The match with a little context, at most EXCERPT_MAX characters, safe to log and show:
   * invisible and control characters are written as `\u{…}` escapes (so the excerpt itself
   * cannot smuggle anything), and text hidden in Unicode tag characters is decoded.
   */
  readonly excerpt: string;
  /** One sentence a reviewer reads: what was found. */
  readonly message: string;
}

/** The longest excerpt a finding carries. */
export const EXCERPT_MAX = 160;

/** Orders findings by position, then by detector id, so reports are stable. */
export function byPosition(a: TextFinding, b: TextFinding): number {
  return a.offset - b.offset || (a.detector < b.detector ? -1 : a.detector > b.detector ? 1 : 0);
}

/** The more severe of two severities. */
export function maxSeverity(a: Severity, b: Severity): Severity {
  return SEVERITIES.indexOf(a) >= SEVERITIES.indexOf(b) ? a : b;
}
