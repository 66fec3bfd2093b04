// Secrets in text. Vendor credentials (cloud keys, tokens, private keys, credentials in
// connection strings) are found by secretlint's recommended rule set
// (@secretlint/secretlint-rule-preset-recommend), which its maintainers keep up with the
// vendors' token formats. Three kinds it does not look for are written here, each as one
// linear pattern: `.env`-style assignments of secret-looking names, JSON Web Tokens and
// bearer credentials, and long high-entropy tokens. docs/guardrails.md says why.
//
// secretlint costs about 20 µs per rule on a 10 KB text, whether or not there is anything
// to find, so it runs only on text where one of its rules could match: GATE holds, per rule
// of the preset, a cheap pattern that every match of that rule contains (its fixed prefix
// or the name it looks for). A test checks that every rule of the installed preset has one,
// so an upgrade that brings a new rule fails the tests until its gate is written.
import { lintSource } from '@secretlint/core';
import { rules as recommendedRules } from '@secretlint/secretlint-rule-preset-recommend';
import type { TextDetector, TextMatch } from './finding.js';

const RULE_PREFIX = '@secretlint/secretlint-rule-';

/**
 * Per rule of the preset (by the name after RULE_PREFIX), a pattern that every text the
 * rule reports contains. Matched case-insensitively, all at once.
 */
export const SECRETLINT_GATES: Readonly<Record<string, string>> = {
  aws: String.raw`A3T[A-Z0-9]|AKIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA|secret_?access_?key|account[_a-z]{0,3}["']?\s*(?::|=)`,
  gcp: String.raw`private_key|PRIVATE KEY`,
  privatekey: String.raw`PRIVATE KEY`,
  npm: String.raw`_authToken|npm_`,
  basicauth: String.raw`://[^\s/@]{1,513}@`,
  slack: String.raw`xox[bpaor]-|xapp-|hooks\.slack\.com`,
  sendgrid: String.raw`SG\.`,
  shopify: String.raw`shp(?:pa|ca|at|ss)_`,
  github: String.raw`gh[pousr]_|github_pat_|x-oauth-basic`,
  openai: String.raw`sk-`,
  anthropic: String.raw`sk-ant-`,
  linear: String.raw`lin_api_`,
  '1password': String.raw`ops_`,
  'database-connection-string': String.raw`(?:mongodb|mysql|postgres)`,
  stripe: String.raw`[sr]k_(?:live|test)_`,
  gitlab: String.raw`glpat-`,
  grafana: String.raw`gl(?:c|sa)_`,
  groq: String.raw`gsk_`,
  huggingface: String.raw`hf_`,
  notion: String.raw`ntn_`,
  'hashicorp-vault': String.raw`hv[sbr]\.`,
  vercel: String.raw`vc[piark]_`,
  databricks: String.raw`dapi`,
  docker: String.raw`dckr_pat_`,
  figma: String.raw`figd_`,
  cloudflare: String.raw`cf(?:k|ut|at)_`,
  tailscale: String.raw`tskey-`,
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

/** secretlint's recommended rules (but the excluded ones), behind the gate. */
export function secretlintRules(): TextDetector {
  const included = recommendedRules.filter(
    (rule) => !SECRETLINT_EXCLUDED.has(rule.meta.id.slice(RULE_PREFIX.length)),
  );
  const options: LintOptions = {
    config: { rules: included.map((rule) => ({ id: rule.meta.id, rule })) },
    maskSecrets: true,
    noPhysicFilePath: true,
  };
  const gate = new RegExp(
    included
      .map((rule) => SECRETLINT_GATES[rule.meta.id.slice(RULE_PREFIX.length)] ?? '')
      .join('|'),
    'i',
  );
  return {
    name: 'secretlint (recommended rules)',
    async scan(text: string): Promise<TextMatch[]> {
      if (!gate.test(text)) return [];
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
    },
  };
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
  /^[ \t]*(?:export[ \t]+)?([A-Z][A-Z0-9_]*)[ \t]*=[ \t]*(["']?)([^\s"'#]{6,512})\2[ \t]*(?:#.*)?$/gm;
const QUOTED_VALUE =
  /(["']?)([A-Za-z][\w.-]{0,63})\1[ \t]*(?::|=)[ \t]*(["'])([^\s"'\\]{8,512})\3/g;

function assignmentMatches(text: string): TextMatch[] {
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
    for (const m of text.matchAll(ENV_LINE)) {
      const [line, name = '', , value = ''] = m;
      add(name, value, m.index + line.lastIndexOf(value));
    }
  }
  if (text.includes('"') || text.includes("'")) {
    for (const m of text.matchAll(QUOTED_VALUE)) {
      const [whole, , name = '', , value = ''] = m;
      add(name, value, m.index + whole.length - value.length - 1);
    }
  }
  return out;
}

const JWT = /(?<![\w-])eyJ[\w-]{8,4096}\.eyJ[\w-]{8,8192}\.[\w-]{8,4096}/g;
const BEARER = /\b(?:Bearer|Basic|token)[ \t]+([A-Za-z0-9._~+/=-]{20,4096})/g;

function tokenMatches(text: string): TextMatch[] {
  const out: TextMatch[] = [];
  if (text.includes('eyJ')) {
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
  if (/Bearer|Basic|token/.test(text)) {
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
const TOKEN_RUN = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,4096}={0,2}/g;

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
  for (const m of text.matchAll(TOKEN_RUN)) {
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
    scan: (text) => [
      ...assignmentMatches(text),
      ...tokenMatches(text),
      ...highEntropyMatches(text),
    ],
  };
}
