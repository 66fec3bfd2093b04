// The path tricks of rego/mcp/lib/paths.rego as the gateway evaluates them: in wasm. The
// control-character trick reads json.marshal's escapes, so it relies on the wasm evaluator
// escaping control characters as Go's does; opa test (Go) cannot show that. The
// compatibility-character trick reads a table (rego/mcp/lib/nfkc/data.json) that must hold
// exactly what NFKC changes, and splits a path into characters as Go does.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBundleFile } from '../../src/policy/bundle/read.js';
import { DECISION_ENTRYPOINT, PolicyEngine } from '../../src/policy/engine.js';
import { runOpa } from '../../src/toolchain/opa.js';
import { PACKAGE_ROOT } from '../../src/util/paths.js';

const CONTROL = 'contains a NUL or other control character';
// The characters the trick is about, [\x00-\x1f\x7f], without a regex literal of them.
const isControl = (c: string): boolean => {
  const code = c.codePointAt(0) ?? -1;
  return code < 0x20 || code === 0x7f;
};
let dir: string;
let engine: PolicyEngine;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpgate-paths-wasm-'));
  mkdirSync(join(dir, 'mcp/lib/nfkc'), { recursive: true });
  for (const file of ['paths.rego', 'text.rego', 'nfkc/data.json']) {
    copyFileSync(join(PACKAGE_ROOT, 'rego/mcp/lib', file), join(dir, 'mcp/lib', file));
  }
  writeFileSync(
    join(dir, 'authz.rego'),
    [
      'package mcp.authz',
      'import data.mcp.lib.paths',
      'decision := {"allow": true, "reasons": [], "obligations": {}, "tricks": tricks, "targets": targets}',
      'tricks := [paths.tricks(p) | some p in input.paths]',
      'targets := [paths.target_tricks(p, []) | some p in input.targets]',
      'visible := set()',
      '',
    ].join('\n'),
  );
  const out = join(dir, 'bundle.tar.gz');
  const built = runOpa(
    ['build', '-t', 'wasm', '-e', 'mcp/authz/decision', '-e', 'mcp/authz/visible', '-o', out, '.'],
    { cwd: dir },
  );
  expect(built.stderr).toBe('');
  engine = PolicyEngine.load(readBundleFile(out), { initialPages: 5, maxPages: 1024 });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('paths.tricks in wasm', () => {
  it('finds a control character exactly where [\\x00-\\x1f\\x7f] does', () => {
    const characters = [...Array(0x250).keys(), 0x2028, 0x2029, 0xfeff, 0xfffd, 0x1f600].map((cp) =>
      String.fromCodePoint(cp),
    );
    const paths = characters.flatMap((c) => [c, `src/a${c}.ts`, `\\${c}`, `\\\\${c}`, `${c}\\`]);
    paths.push('\\u0000', '\\\\u0001', 'a\\b', '\\n', '<>&', 'src/a.ts');
    const answer = engine.evaluate(DECISION_ENTRYPOINT, JSON.stringify({ paths })) as {
      tricks: string[][];
    };
    expect(answer.tricks).toHaveLength(paths.length);
    const wrong = paths.filter(
      (p, i) => answer.tricks[i]!.includes(CONTROL) !== [...p].some(isControl),
    );
    expect(wrong).toEqual([]);
    expect(paths.filter((_, i) => answer.tricks[i]!.includes(CONTROL)).length).toBe(33 * 5);
  });
});

/** Every character (no surrogates) and what Node's ICU makes of it under NFKC. */
function nfkcChanges(): Map<string, { code: string; nfkc: string }> {
  const changes = new Map<string, { code: string; nfkc: string }>();
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const c = String.fromCodePoint(cp);
    const nfkc = c.normalize('NFKC');
    if (nfkc !== c)
      changes.set(c, { code: `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`, nfkc });
  }
  return changes;
}

/** -1, 0 or 1 as Unicode version a is older than, equal to or newer than b ("15.1"). */
function compareVersions(a: string, b: string): number {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number));
  for (let i = 0; i < Math.max(x!.length, y!.length); i++) {
    const d = (x![i] ?? 0) - (y![i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

describe('the compatibility characters (NFKC) of paths.target_tricks', () => {
  const NFKC = 'in Unicode compatibility form (NFKC)';
  const changes = nfkcChanges();

  it('has a table of exactly the characters NFKC changes, as scripts/gen-nfkc.mjs writes it', () => {
    const table = JSON.parse(
      readFileSync(join(PACKAGE_ROOT, 'rego/mcp/lib/nfkc/data.json'), 'utf8'),
    ) as { unicode_version: string; compatibility: Record<string, string> };
    const expected = Object.fromEntries(
      [...changes].map(([c, { code, nfkc }]) => [c, `${code} ${nfkc}`]),
    );
    const running = process.versions.unicode ?? '0';
    const order = compareVersions(running, table.unicode_version);
    if (order > 0) {
      throw new Error(
        `this Node knows Unicode ${running}, the table ${table.unicode_version}: run node scripts/gen-nfkc.mjs`,
      );
    }
    if (order === 0) expect(table.compatibility).toEqual(expected);
    // An older Node knows fewer characters: each it knows must be there, alike.
    else expect(table.compatibility).toMatchObject(expected);
  });

  it('refuses every character NFKC changes, and no other character outside ASCII', () => {
    const others: string[] = [];
    for (let cp = 0x80; cp <= 0xffff; cp++) {
      const c = String.fromCodePoint(cp);
      if ((cp < 0xd800 || cp > 0xdfff) && !changes.has(c)) others.push(c);
    }
    others.push('\u{1f600}', '\u{10000}', '\u{2f800}'.normalize('NFKC'));
    const changed = [...changes.keys()];
    const targets = [...changed, ...others].map((c) => `src/a${c}b.ts`);
    // In parts: the wasm heap is only reset between evaluations.
    const answers: string[][] = [];
    for (let from = 0; from < targets.length; from += 4000) {
      const part = targets.slice(from, from + 4000);
      const answer = engine.evaluate(
        DECISION_ENTRYPOINT,
        JSON.stringify({ paths: [], targets: part }),
      ) as { targets: string[][] };
      answers.push(...answer.targets);
    }
    expect(answers).toHaveLength(targets.length);
    const reasons = (i: number): string[] => answers[i]!;
    // A look-alike of /, \ or . keeps its own reason; every other one names its code point
    // and its form, quoted as reasons quote (text.quote: \ and " escaped).
    const quoted = (t: string): string => JSON.stringify(t);
    const missed = changed.filter((c, i) => {
      const { code, nfkc } = changes.get(c)!;
      const [reason, ...more] = reasons(i);
      const lookAlike =
        reason?.startsWith(`contains ${code} `) && reason.includes('which looks like');
      const named = reason === `contains ${code}, which reads as ${quoted(nfkc)} ${NFKC}`;
      return more.length > 0 || !(lookAlike || named);
    });
    expect(missed).toEqual([]);
    const refused = others.filter((_, i) => reasons(changed.length + i).length > 0);
    // U+2215 and the other look-alikes NFKC leaves alone are refused on their own account.
    expect(refused.map((c) => c.codePointAt(0)!.toString(16)).sort()).toEqual(
      ['2044', '2215', '2216', '2571', '29f8', '29f9'].sort(),
    );
  });
});
