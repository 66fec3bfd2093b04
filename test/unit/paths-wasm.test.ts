// The path tricks of rego/mcp/lib/paths.rego as the gateway evaluates them: in wasm. The
// control-character trick reads json.marshal's escapes, so it relies on the wasm evaluator
// escaping control characters as Go's does; opa test (Go) cannot show that.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
  mkdirSync(join(dir, 'mcp/lib'), { recursive: true });
  copyFileSync(join(PACKAGE_ROOT, 'rego/mcp/lib/paths.rego'), join(dir, 'mcp/lib/paths.rego'));
  writeFileSync(
    join(dir, 'authz.rego'),
    [
      'package mcp.authz',
      'import data.mcp.lib.paths',
      'decision := {"allow": true, "reasons": [], "obligations": {}, "tricks": tricks}',
      'tricks := [paths.tricks(p) | some p in input.paths]',
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
