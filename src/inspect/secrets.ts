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
  opens(text: string, prescan?: Prescan): boolean;
} {
  const gates = names.flatMap((name) => SECRETLINT_GATES[name] ?? []);
  // Group 0: literals that open the gate on their own; then one group per gate with a
  // pattern, checked only where its literal occurs.
  const literals = gates.filter((g): g is string => typeof g === 'string');
  const checked = gates.filter((g) => typeof g !== 'string');
  const patterns = checked.map((g) => new RegExp(g.pattern, 'i'));
  const triggers = [literals, ...checked.map((g) => [g.literal])];
  let own: LiteralSet | undefined;
  return {
    triggers,
    opens(text: string, prescan?: Prescan): boolean {
      const { hits, firstGroup } = prescan ?? {
        hits: (own ??= new LiteralSet(triggers)).scan(text),
        firstGroup: 0,
      };
      if (hits.has(firstGroup)) return true;
      return patterns.some((pattern, i) => hits.has(firstGroup + 1 + i) && pattern.test(text));
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

/** What ends a line for `^` and `$` with the `m` flag. */
const LINE_BREAKS = ['\n', '\r', '\u2028', '\u2029'];

/**
 * Every ENV_LINE match, as a global search would find them: a match is one whole line
 * holding a `=`, so the pattern runs (sticky) at the start of each such line only, not at
 * every position. Line breaks and `=` are found with indexOf, each searched forward once.
 */
export function envLines(text: string): RegExpExecArray[] {
  const out: RegExpExecArray[] = [];
  const nextBreak = LINE_BREAKS.map((b) => text.indexOf(b));
  let lineStart = 0;
  for (let eq = text.indexOf('='); eq !== -1;) {
    // The line `eq` is on: move past every break before it.
    for (;;) {
      let first = -1;
      for (const at of nextBreak)
        if (at !== -1 && at < eq && (first === -1 || at < first)) first = at;
      if (first === -1) break;
      lineStart = first + 1;
      for (let b = 0; b < LINE_BREAKS.length; b++) {
        if (nextBreak[b] !== -1 && (nextBreak[b] as number) < lineStart) {
          nextBreak[b] = text.indexOf(LINE_BREAKS[b] as string, lineStart);
        }
      }
    }
    ENV_LINE.lastIndex = lineStart;
    const m = ENV_LINE.exec(text);
    if (m !== null) out.push(m);
    // One match at most per line: go on after the line's end.
    let lineEnd = text.length;
    for (const at of nextBreak) if (at !== -1 && at < lineEnd) lineEnd = at;
    eq = text.indexOf('=', lineEnd);
  }
  return out;
}
const QUOTED_VALUE =
  /(["']?)([A-Za-z][\w.-]{0,63})\1[ \t]*(?::|=)[ \t]*(["'])([^\s"'\\]{8,512})\3/y;
/** What every QUOTED_VALUE match holds: its `:` or `=`, then a quote. */
const QUOTED_SEPARATOR = /[:=][ \t]*["']/g;

const NAME_CHAR = /[\w.-]/;
const LETTER = /[A-Za-z]/;

/**
 * Every QUOTED_VALUE match, as a global search would find them, in linear time. The
 * pattern run from every position backtracks over up to 64 name characters at each (about
 * 200 µs per 10 KB of code); but a match's name ends right before its separator, so each
 * separator has one candidate start, the leftmost a global search could find there, and
 * the pattern runs (sticky) at that start only.
 */
export function quotedValues(text: string): RegExpExecArray[] {
  const out: RegExpExecArray[] = [];
  let searchedTo = 0; // where the previous match ended: no match starts before
  QUOTED_SEPARATOR.lastIndex = 0;
  for (let sep = QUOTED_SEPARATOR.exec(text); sep !== null; sep = QUOTED_SEPARATOR.exec(text)) {
    if (sep.index < searchedTo) continue;
    let nameEnd = sep.index;
    while (nameEnd > 0 && (text[nameEnd - 1] === ' ' || text[nameEnd - 1] === '\t')) nameEnd--;
    const last = text.charAt(nameEnd - 1);
    const quoted = last === '"' || last === "'";
    // A quoted name: the match starts at its opening quote, the same quote.
    if (quoted) nameEnd -= 1;
    let runStart = nameEnd;
    while (runStart > 0 && NAME_CHAR.test(text.charAt(runStart - 1))) runStart--;
    if (runStart === nameEnd) continue;
    let start: number;
    if (quoted) {
      start = runStart - 1;
      if (text.charAt(start) !== last || start < searchedTo) continue;
    } else {
      start = Math.max(runStart, nameEnd - 64, searchedTo);
      while (start < nameEnd && !LETTER.test(text.charAt(start))) start++;
      if (start === nameEnd) continue;
    }
    QUOTED_VALUE.lastIndex = start;
    const m = QUOTED_VALUE.exec(text);
    if (m === null) continue;
    out.push(m);
    searchedTo = m.index + m[0].length;
  }
  return out;
}

/**
 * The literals each part of generalSecrets needs (groups, in this order): `=` for a .env
 * line, a `:` or `=` then a quote for a quoted value, `eyJ` for a JWT, the scheme word
 * for a bearer credential. Without the walker's prescan, the text is searched for them.
 */
const ENV = 0;
const QUOTED = 1;
const JWT_PREFIX = 2;
const SCHEME = 3;
const GENERAL_TRIGGERS: readonly (readonly string[])[] = [
  ['='],
  [':"', ":'", '="', "='", ': "', ": '", '= "', "= '"],
  ['eyj'],
  ['bearer', 'basic', 'token'],
];
const GENERAL_LITERALS = new LiteralSet(GENERAL_TRIGGERS);

function assignmentMatches(text: string, fired: (group: number) => boolean): TextMatch[] {
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
  if (fired(ENV)) {
    for (const m of envLines(text)) {
      const [line, name = '', , value = ''] = m;
      add(name, value, m.index + line.lastIndexOf(value));
    }
  }
  if (fired(QUOTED)) {
    for (const m of quotedValues(text)) {
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
 * A run of the characters credentials are made of, 32 or more, not inside a longer run;
 * `=` only as base64 padding at its end, so `NAME=value` is two runs.
 */
const TOKEN_RUN = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,4096}={0,2}/y;
const MIN_TOKEN = 32;

/** The characters of TOKEN_RUN's class, by code unit. */
const TOKEN_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-') {
  TOKEN_CHAR[c.charCodeAt(0)] = 1;
}

/**
 * Every TOKEN_RUN match, as a global search would find them: one at the start of each run
 * of 32 or more token characters. Such a run holds one of every 32nd position, so only
 * those are looked at, and a run is measured only from one of them (about a quarter of
 * the characters of prose are read, instead of the pattern trying every position).
 */
export function tokenRuns(text: string): RegExpExecArray[] {
  const out: RegExpExecArray[] = [];
  const units = codeUnits(text);
  const isToken = (i: number): boolean => {
    const unit = units[i] as number;
    return unit < 128 && TOKEN_CHAR[unit] === 1;
  };
  for (let probe = MIN_TOKEN - 1; probe < units.length; probe += MIN_TOKEN) {
    if (!isToken(probe)) continue;
    let start = probe;
    while (start > 0 && isToken(start - 1)) start--;
    let end = probe + 1;
    while (end < units.length && isToken(end)) end++;
    if (end - start >= MIN_TOKEN) {
      TOKEN_RUN.lastIndex = start;
      const m = TOKEN_RUN.exec(text);
      if (m !== null) out.push(m);
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
  for (const m of tokenRuns(text)) {
    const value = m[0];
    if (!/[a-z]/.test(value) || !/[A-Z]/.test(value) || !/[0-9]/.test(value)) continue;
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
    scan(text: string, prescan?: Prescan): TextMatch[] {
      const { hits, firstGroup } = prescan ?? { hits: GENERAL_LITERALS.scan(text), firstGroup: 0 };
      const fired = (group: number): boolean => hits.has(firstGroup + group);
      return [
        ...assignmentMatches(text, fired),
        ...tokenMatches(text, fired),
        ...highEntropyMatches(text),
      ];
    },
  };
}
