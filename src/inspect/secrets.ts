// Secrets in text. Vendor credentials (cloud keys, tokens, private keys, credentials in
// connection strings) are found by secretlint's recommended rule set
// (@secretlint/secretlint-rule-preset-recommend), which its maintainers keep up with the
// vendors' token formats. Three kinds it does not look for are written here, each as one
// linear pattern: `.env`-style assignments of secret-looking names, JSON Web Tokens and
// bearer credentials, and long high-entropy tokens. docs/guardrails.md says why.
//
// secretlint costs about 20 µs per rule on a 10 KB text, whether or not there is anything
// to find, so it runs only on text where one of its rules could match: SECRETLINT_GATES
// holds, per rule of the preset, literals one of which every match of that rule contains
// (its fixed prefix or the name it looks for), found by the walker's one pass over the
// text (text/literals.ts). A test checks that every rule of the installed preset has a
// gate, so an upgrade that brings a new rule fails the tests until its gate is written.
import { lintSource } from '@secretlint/core';
import { rules as recommendedRules } from '@secretlint/secretlint-rule-preset-recommend';
import type { Prescan, TextDetector, TextMatch } from './finding.js';
import { codeUnits, LiteralSet } from './text/literals.js';

const RULE_PREFIX = '@secretlint/secretlint-rule-';

/**
 * A gate: a literal (either case) every match of the rule contains; with `pattern`, the
 * gate opens only where that pattern (case-insensitive) also matches the text.
 */
export type SecretlintGate = string | { readonly literal: string; readonly pattern: string };

/** `prefix` followed by each of `suffixes`: `gh` + `[pousr]_` as five literals. */
const each = (prefix: string, suffixes: readonly string[], after = ''): string[] =>
  suffixes.map((s) => `${prefix}${s}${after}`);

/** Per rule of the preset (by the name after RULE_PREFIX), its gates. */
export const SECRETLINT_GATES: Readonly<Record<string, readonly SecretlintGate[]>> = {
  aws: [
    { literal: 'a3t', pattern: 'A3T[A-Z0-9]' },
    ...['akia', 'agpa', 'aida', 'aroa', 'aipa', 'anpa', 'anva', 'asia'],
    ...each('secret', ['access', '_access'], 'key'),
    ...each('secret', ['access_', '_access_'], 'key'),
    { literal: 'account', pattern: String.raw`account[_a-z]{0,3}["']?\s*(?::|=)` },
  ],
  gcp: ['private_key', 'private key'],
  privatekey: ['private key'],
  npm: ['_authtoken', 'npm_'],
  basicauth: [{ literal: '://', pattern: String.raw`://[^\s/@]{1,513}@` }],
  slack: [...each('xox', ['b', 'p', 'a', 'o', 'r'], '-'), 'xapp-', 'hooks.slack.com'],
  sendgrid: ['sg.'],
  shopify: each('shp', ['pa', 'ca', 'at', 'ss'], '_'),
  github: [...each('gh', ['p', 'o', 'u', 's', 'r'], '_'), 'github_pat_', 'x-oauth-basic'],
  openai: ['sk-'],
  anthropic: ['sk-ant-'],
  linear: ['lin_api_'],
  '1password': ['ops_'],
  'database-connection-string': ['mongodb', 'mysql', 'postgres'],
  stripe: [...each('sk_', ['live', 'test'], '_'), ...each('rk_', ['live', 'test'], '_')],
  gitlab: ['glpat-'],
  grafana: ['glc_', 'glsa_'],
  groq: ['gsk_'],
  huggingface: ['hf_'],
  notion: ['ntn_'],
  'hashicorp-vault': each('hv', ['s', 'b', 'r'], '.'),
  vercel: each('vc', ['p', 'i', 'a', 'r', 'k'], '_'),
  databricks: ['dapi'],
  docker: ['dckr_pat_'],
  figma: ['figd_'],
  cloudflare: each('cf', ['k', 'ut', 'at'], '_'),
  tailscale: ['tskey-'],
};

/**
 * Left out on purpose: `filter-comments` lets the scanned text switch detection off with a
 * `secretlint-disable` comment, and the scanned text here is an upstream's answer.
 */
export const SECRETLINT_EXCLUDED = new Set(['filter-comments']);

/** The detector id of a secretlint rule: secret.aws, secret.private_key, … */
function secretlintDetector(ruleId: string): string {
  const name = ruleId.startsWith(RULE_PREFIX) ? ruleId.slice(RULE_PREFIX.length) : ruleId;
  if (name === 'privatekey') return 'secret.private_key';
  if (name === 'database-connection-string') return 'secret.database_url';
  return `secret.${name.replace(/[^a-z0-9]+/gi, '_')}`;
}

type LintOptions = Parameters<typeof lintSource>[0]['options'];

/**
 * The gate in front of secretlint: whether one of the included rules' gates opens on a
 * text (from the walker's prescan when given, else scanning for the literals here).
 */
export function secretlintGate(names: readonly string[] = Object.keys(SECRETLINT_GATES)): {
  triggers: readonly (readonly string[])[];
  located: readonly number[];
  opens(text: string, prescan?: Prescan): boolean;
} {
  const gates = names.flatMap((name) => SECRETLINT_GATES[name] ?? []);
  // Group 0: literals that open the gate on their own; then one group per gate with a
  // pattern, checked only where its literal occurs.
  const literals = gates.filter((g): g is string => typeof g === 'string');
  const checked = gates.filter((g) => typeof g !== 'string');
  for (const g of checked) {
    // The pattern is tried (sticky) where its literal starts: it must start with it.
    if (/\s/.test(g.literal) || !g.pattern.toLowerCase().startsWith(g.literal.toLowerCase())) {
      throw new Error(`the gate pattern ${g.pattern} does not start with its literal ${g.literal}`);
    }
  }
  const patterns = checked.map((g) => new RegExp(g.pattern, 'iy'));
  const triggers = [literals, ...checked.map((g) => [g.literal])];
  const located = checked.map((_, i) => 1 + i);
  let own: LiteralSet | undefined;
  /** Whether checked gate i's pattern matches where one of its literals starts. */
  const matchesAt = (i: number, ends: readonly number[], text: string): boolean => {
    const pattern = patterns[i] as RegExp;
    const length = (checked[i] as { literal: string }).literal.length;
    return ends.some((end) => {
      pattern.lastIndex = end - length;
      return pattern.test(text);
    });
  };
  return {
    triggers,
    located,
    opens(text: string, prescan?: Prescan): boolean {
      const { hits, firstGroup } = prescan ?? {
        hits: (own ??= new LiteralSet(triggers, located)).scan(text),
        firstGroup: 0,
      };
      if (hits.has(firstGroup)) return true;
      return checked.some((_, i) => {
        const group = firstGroup + 1 + i;
        if (!hits.has(group)) return false;
        const ends = hits.ends(group);
        if (ends !== undefined) return matchesAt(i, ends, text);
        // A prescan that did not locate the group: the pattern anywhere.
        return new RegExp((patterns[i] as RegExp).source, 'i').test(text);
      });
    },
  };
}

/** secretlint's recommended rules (but the excluded ones), behind their gates. */
export function secretlintRules(): TextDetector {
  const included = recommendedRules.filter(
    (rule) => !SECRETLINT_EXCLUDED.has(rule.meta.id.slice(RULE_PREFIX.length)),
  );
  const options: LintOptions = {
    config: { rules: included.map((rule) => ({ id: rule.meta.id, rule })) },
    maskSecrets: true,
    noPhysicFilePath: true,
  };
  const gate = secretlintGate(included.map((rule) => rule.meta.id.slice(RULE_PREFIX.length)));
  const triggers = gate.triggers;
  const open = (text: string, prescan: Prescan | undefined): boolean => gate.opens(text, prescan);
  return {
    name: 'secretlint (recommended rules)',
    triggers,
    located: gate.located,
    scan(text: string, prescan?: Prescan): TextMatch[] | Promise<TextMatch[]> {
      // Synchronous when closed: no promise to wait for on the common, clean text.
      return open(text, prescan) ? lint(text) : [];
    },
  };
  async function lint(text: string): Promise<TextMatch[]> {
    const result = await lintSource({
      source: { content: text, filePath: 'result.txt', ext: '.txt', contentType: 'text' },
      options,
    });
    return result.messages.map((m) => ({
      type: 'secret',
      detector: secretlintDetector(m.ruleId),
      severity: 'high',
      offset: m.range[0],
      length: m.range[1] - m.range[0],
    }));
  }
}

/** Names that say a value is a credential. */
const SECRET_NAME =
  /(?:pass(?:word|wd|phrase)?|secret|token|api_?key|access_?key|private_?key|credential|auth|client_?secret|signing_?key|encryption_?key|session_?key|pwd)/i;

/** Values that are not a credential but a placeholder, a reference or an expression. */
const PLACEHOLDER =
  /^(?:\$\{?|%|<|\{\{|process\.env|os\.environ|env\(|change_?me|changeit|example|placeholder|your[_-]|xxx|\*{3,}|null|none|true|false|undefined|todo|redacted)/i;

/**
 * `NAME=value` lines as .env files and shells write them (the name in upper case, as
 * environment variables are), and quoted values of secret-looking keys in JSON, YAML or
 * code (`"password": "…"`, `api_key = '…'`). A value must be a literal: `password =
 * getPassword()` and `password: string` are code, not secrets.
 */
const ENV_LINE =
  /^[ \t]*(?:export[ \t]+)?([A-Z][A-Z0-9_]*)[ \t]*=[ \t]*(["']?)([^\s"'#]{6,512})\2[ \t]*(?:#.*)?$/my;

/** Whether a code unit ends a line for `^` and `$` with the `m` flag. */
const isLineBreak = (unit: number | undefined): boolean =>
  unit === 0x0a || unit === 0x0d || unit === 0x2028 || unit === 0x2029;

/**
 * Every ENV_LINE match, as a global search would find them: a match is one whole line
 * holding a `=`, so the pattern runs (sticky) at the start of each such line only, not at
 * every position, and only when the line starts (after spaces and tabs) as a match must,
 * with `export` or an upper-case letter: most lines of code do not. A line's start is
 * found walking back from its first `=`; a `=` whose walk reaches the previous `=` is on
 * a line already looked at.
 */
export function envLines(text: string): RegExpExecArray[] {
  const out: RegExpExecArray[] = [];
  const units = codeUnits(text);
  let previous = -1;
  for (let eq = text.indexOf('='); eq !== -1; eq = text.indexOf('=', eq + 1)) {
    let at = eq - 1;
    while (at > previous && !isLineBreak(units[at])) at--;
    const sameLine = at === previous && previous !== -1;
    previous = eq;
    if (sameLine) continue;
    const lineStart = at + 1;
    let first = lineStart;
    while (units[first] === 0x20 || units[first] === 0x09) first++;
    const unit = units[first] ?? 0;
    if (unit !== 0x65 && (unit < 0x41 || unit > 0x5a)) continue;
    ENV_LINE.lastIndex = lineStart;
    const m = ENV_LINE.exec(text);
    if (m !== null) out.push(m);
  }
  return out;
}
const QUOTED_VALUE =
  /(["']?)([A-Za-z][\w.-]{0,63})\1[ \t]*(?::|=)[ \t]*(["'])([^\s"'\\]{8,512})\3/y;

/** Per ASCII code unit: 1 a letter, 2 another name character (`[\w.-]`). */
const NAME_CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z]/.test(ch)) NAME_CLASS[c] = 1;
  else if (/[\w.-]/.test(ch)) NAME_CLASS[c] = 2;
}
const nameClass = (unit: number | undefined): number =>
  unit !== undefined && unit < 128 ? (NAME_CLASS[unit] as number) : 0;

/** ASCII code units that end a quoted value (`[\s"'\\]`). */
const VALUE_END = new Uint8Array(128);
for (const c of [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x22, 0x27, 0x5c]) VALUE_END[c] = 1;

const isBlank = (unit: number | undefined): boolean => unit === 0x20 || unit === 0x09;

/**
 * Where a value that starts after the quote at `quote` ends, if it is QUOTED_VALUE's: at
 * the same quote, after 8 to 512 characters; -1 if it is not. Undefined when a character
 * outside ASCII comes first (only the pattern knows which of those are spaces).
 */
function valueEnd(units: Uint16Array, quote: number): number | undefined {
  const close = units[quote] as number;
  const length = units.length;
  let end = quote + 1;
  while (end < length) {
    const unit = units[end] as number;
    if (unit >= 128) return undefined;
    if (VALUE_END[unit] === 1) break;
    end++;
  }
  const count = end - quote - 1;
  return count >= 8 && count <= 512 && units[end] === close ? end : -1;
}

/**
 * Every QUOTED_VALUE match, as a global search would find them, in linear time. The
 * pattern run from every position backtracks over up to 64 name characters at each (about
 * 200 µs per 10 KB of code); but a match's name ends right before its separator, so each
 * separator has one candidate start, the leftmost a global search could find there, and
 * the pattern runs (sticky) at that start only, when the value after the separator fits.
 * The separators (`[:=][ \t]*["']`) are found from `quoteEnds`: where the prescan's
 * QUOTED literals end (at the quote), in order; without it, the text is scanned here.
 * With `named`, only the matches whose name it matches are returned; the others are
 * measured without running the pattern (an ASCII value ends at its closing quote), which
 * is all a later match needs of them.
 */
export function quotedValues(
  text: string,
  quoteEnds?: readonly number[],
  named?: RegExp,
): RegExpExecArray[] {
  const ends = quoteEnds ?? GENERAL_LITERALS.scan(text).ends(QUOTED) ?? [];
  const out: RegExpExecArray[] = [];
  if (ends.length === 0) return out;
  const units = codeUnits(text);
  let searchedTo = 0; // where the previous match ended: no match starts before
  for (const end of ends) {
    const quote = end - 1;
    let sep = quote - 1;
    while (isBlank(units[sep])) sep--;
    // The literal's space stands for any whitespace: only spaces and tabs are the pattern's.
    if (sep < searchedTo || (units[sep] !== 0x3a && units[sep] !== 0x3d)) continue;
    let nameEnd = sep;
    while (isBlank(units[nameEnd - 1])) nameEnd--;
    const last = units[nameEnd - 1];
    const quoted = last === 0x22 || last === 0x27;
    // A quoted name: the match starts at its opening quote, the same quote.
    if (quoted) nameEnd -= 1;
    let runStart = nameEnd;
    while (nameClass(units[runStart - 1]) !== 0) runStart--;
    if (runStart === nameEnd) continue;
    let start: number;
    if (quoted) {
      start = runStart - 1;
      if (units[start] !== last || start < searchedTo) continue;
    } else {
      start = Math.max(runStart, nameEnd - 64, searchedTo);
      while (start < nameEnd && nameClass(units[start]) !== 1) start++;
      if (start === nameEnd) continue;
    }
    const close = valueEnd(units, quote);
    if (close === -1) continue;
    if (close !== undefined && named !== undefined) {
      // The pattern matches from `start` to `close` exactly when a quoted name starts
      // with a letter and is at most 64 long (an unquoted one is, by its start).
      if (quoted && (nameClass(units[runStart]) !== 1 || nameEnd - runStart > 64)) continue;
      if (!named.test(text.slice(quoted ? runStart : start, nameEnd))) {
        searchedTo = close + 1;
        continue;
      }
    }
    QUOTED_VALUE.lastIndex = start;
    const m = QUOTED_VALUE.exec(text);
    if (m === null) continue;
    searchedTo = m.index + m[0].length;
    if (named === undefined || named.test(m[2] ?? '')) out.push(m);
  }
  return out;
}

/**
 * The literals each part of generalSecrets needs (groups, in this order): a `:` or `=`
 * then a quote for a quoted value, `eyJ` for a JWT, the scheme word for a bearer
 * credential. Without the walker's prescan, the text is searched for them. (A .env line
 * needs a `=`, which envLines looks for itself: as a literal, code's every `=` was a hit.)
 */
const QUOTED = 0;
const JWT_PREFIX = 1;
const SCHEME = 2;
const GENERAL_TRIGGERS: readonly (readonly string[])[] = [
  [':"', ":'", '="', "='", ': "', ": '", '= "', "= '"],
  ['eyj'],
  ['bearer', 'basic', 'token'],
];
/** Of those, the groups whose occurrences the searches start from. */
const GENERAL_LOCATED = [QUOTED];
const GENERAL_LITERALS = new LiteralSet(GENERAL_TRIGGERS, GENERAL_LOCATED);

function assignmentMatches(
  text: string,
  fired: (group: number) => boolean,
  quoteEnds: readonly number[] | undefined,
): TextMatch[] {
  const out: TextMatch[] = [];
  const add = (name: string, value: string, valueAt: number): void => {
    if (!SECRET_NAME.test(name) || PLACEHOLDER.test(value)) return;
    out.push({
      type: 'secret',
      detector: 'secret.env_assignment',
      severity: 'medium',
      offset: valueAt,
      length: value.length,
    });
  };
  if (text.includes('=')) {
    for (const m of envLines(text)) {
      const [line, name = '', , value = ''] = m;
      add(name, value, m.index + line.lastIndexOf(value));
    }
  }
  if (fired(QUOTED)) {
    for (const m of quotedValues(text, quoteEnds, SECRET_NAME)) {
      const [whole, , name = '', , value = ''] = m;
      add(name, value, m.index + whole.length - value.length - 1);
    }
  }
  return out;
}

const JWT = /(?<![\w-])eyJ[\w-]{8,4096}\.eyJ[\w-]{8,8192}\.[\w-]{8,4096}/g;
const BEARER = /\b(?:Bearer|Basic|token)[ \t]+([A-Za-z0-9._~+/=-]{20,4096})/g;

function tokenMatches(text: string, fired: (group: number) => boolean): TextMatch[] {
  const out: TextMatch[] = [];
  if (fired(JWT_PREFIX)) {
    for (const m of text.matchAll(JWT)) {
      out.push({
        type: 'secret',
        detector: 'secret.jwt',
        severity: 'high',
        offset: m.index,
        length: m[0].length,
      });
    }
  }
  if (fired(SCHEME)) {
    for (const m of text.matchAll(BEARER)) {
      const value = m[1] ?? '';
      if (!/[0-9]/.test(value) || !/[A-Za-z]/.test(value)) continue;
      out.push({
        type: 'secret',
        detector: 'secret.bearer_token',
        severity: 'high',
        offset: m.index + m[0].length - value.length,
        length: value.length,
      });
    }
  }
  return out;
}

/**
 * A token run: the characters credentials are made of, 32 or more, not inside a longer
 * run; `=` only as base64 padding at its end, so `NAME=value` is two runs. As a pattern
 * (what tokenRuns finds, as a global search finds it; the unit tests hold it to that):
 * /(?<![A-Za-z0-9+\/_-])[A-Za-z0-9+\/_-]{32,4096}={0,2}/g
 */
const MIN_TOKEN = 32;
const MAX_TOKEN = 4096;

/**
 * The characters of a token run, by code unit: the bit of their kind (LOWER, UPPER, DIGIT,
 * or OTHER for `+/_-`).
 */
const LOWER = 1;
const UPPER = 2;
const DIGIT = 4;
const OTHER = 8;
const TOKEN_CHAR = new Uint8Array(128);
for (let c = 0x61; c <= 0x7a; c++) TOKEN_CHAR[c] = LOWER;
for (let c = 0x41; c <= 0x5a; c++) TOKEN_CHAR[c] = UPPER;
for (let c = 0x30; c <= 0x39; c++) TOKEN_CHAR[c] = DIGIT;
for (const c of '+/_-') TOKEN_CHAR[c.charCodeAt(0)] = OTHER;

/** One token run: where it starts, what it is, and the kinds of character it holds. */
export interface TokenRun {
  readonly index: number;
  readonly value: string;
  /** LOWER | UPPER | DIGIT | OTHER, of the characters in `value`. */
  readonly kinds: number;
}

/**
 * Every token run, as a global search would find them: one at the start of each run of 32
 * or more token characters. Such a run holds one of every 32nd position, so only those are
 * looked at, and a run is measured only from one of them (about a quarter of the
 * characters of prose are read, instead of the pattern trying every position). The match
 * is the run's first 4,096 characters, with up to two `=` after a shorter run: what the
 * pattern matches at the run's start, without running it.
 */
export function tokenRuns(text: string): TokenRun[] {
  const out: TokenRun[] = [];
  const units = codeUnits(text);
  /** The kind bit of the character at i, 0 if it is not a token character. */
  const kind = (i: number): number => {
    const unit = units[i] as number;
    return unit < 128 ? (TOKEN_CHAR[unit] as number) : 0;
  };
  // The length read once (see text/literals.ts, run).
  const length = units.length;
  for (let probe = MIN_TOKEN - 1; probe < length; probe += MIN_TOKEN) {
    let kinds = kind(probe);
    // A run of 32 holding the probe holds the character 16 before it or 16 after it.
    if (kinds === 0 || (kind(probe - 16) === 0 && kind(probe + 16) === 0)) continue;
    let start = probe;
    for (let k = kind(start - 1); start > 0 && k !== 0; k = kind(start - 1)) {
      kinds |= k;
      start--;
    }
    let end = probe + 1;
    for (let k = kind(end); end < length && k !== 0; k = kind(end)) {
      kinds |= k;
      end++;
    }
    if (end - start >= MIN_TOKEN) {
      let matchEnd = Math.min(end, start + MAX_TOKEN);
      if (matchEnd === end) {
        for (let pad = 0; pad < 2 && units[matchEnd] === 0x3d; pad++) matchEnd++;
      } else {
        // Kinds of the first MAX_TOKEN characters only.
        kinds = 0;
        for (let i = start; i < matchEnd; i++) kinds |= kind(i);
      }
      out.push({ index: start, value: text.slice(start, matchEnd), kinds });
    }
    // The next probe past this run.
    while (probe + MIN_TOKEN <= end) probe += MIN_TOKEN;
  }
  return out;
}

/** Shannon entropy in bits per character. */
export function entropy(value: string): number {
  const counts = new Map<string, number>();
  for (const ch of value) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / value.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/**
 * Long random-looking tokens: upper and lower case letters and digits mixed, at least 4.3
 * bits of entropy per character. Hex digests (git ids, sha256), UUIDs and words joined by
 * `_` or `-` fail that; base64 in a `data:` URL (an inline image) is not looked at.
 */
function highEntropyMatches(text: string): TextMatch[] {
  const out: TextMatch[] = [];
  const mixed = LOWER | UPPER | DIGIT;
  for (const m of tokenRuns(text)) {
    const value = m.value;
    if ((m.kinds & mixed) !== mixed) continue;
    if (text.slice(Math.max(0, m.index - 8), m.index).endsWith('base64,')) continue;
    if (entropy(value) < 4.3) continue;
    out.push({
      type: 'secret',
      detector: 'secret.high_entropy',
      severity: 'low',
      offset: m.index,
      length: value.length,
    });
  }
  return out;
}

/** The secrets written here: assignments, tokens, high entropy. */
export function generalSecrets(): TextDetector {
  return {
    name: 'secrets (assignments, JWT and bearer tokens, high entropy)',
    triggers: GENERAL_TRIGGERS,
    located: GENERAL_LOCATED,
    scan(text: string, prescan?: Prescan): TextMatch[] {
      const { hits, firstGroup } = prescan ?? { hits: GENERAL_LITERALS.scan(text), firstGroup: 0 };
      const fired = (group: number): boolean => hits.has(firstGroup + group);
      return [
        ...assignmentMatches(text, fired, hits.ends(firstGroup + QUOTED)),
        ...tokenMatches(text, fired),
        ...highEntropyMatches(text),
      ];
    },
  };
}
