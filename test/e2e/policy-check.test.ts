// `mcpgate policy check` runs the same profile validation as `policy build`, and syntax
// errors in data files are named at the line and column to fix: each case writes a broken
// profile into a copy of rego/ and runs the commands as a user does.
import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataFileProblems, placeProfileProblems } from '../../src/toolchain/data-files.js';
import { runCli, type CliResult } from './support/cli.js';

import { copyRego } from './support/rego-copy.js';

function cli(args: string[]): Promise<CliResult> {
  return runCli(args);
}

/** A copy of rego/ with one more profile, profiles/echo-demo/data.yaml. */
function withProfile(yaml: string): string {
  const rego = copyRego();
  mkdirSync(join(rego, 'profiles/echo-demo'));
  writeFileSync(join(rego, 'profiles/echo-demo/data.yaml'), yaml);
  return rego;
}

const UNCLOSED = `session:
  purpose: echo-demo
tools:
  everything.echo: { allowed: true
  everything.get-sum: { allowed: true }
`;

const MISSPELLED = `session:
  purpose: echo-demo
  ttl: 900
tools:
  everything.echo: { allowd: true }
`;

describe('mcpgate policy check', () => {
  it('passes the shipped policy, naming each step', async () => {
    const result = await cli(['policy', 'check']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        'data files (YAML, JSON): ok',
        'opa fmt: ok',
        'opa check --strict (with the input schema): ok',
        'build and profiles (loaded as the gateway loads them): ok',
        '',
      ].join('\n'),
    );
  });

  it('refuses a YAML syntax error at the line of the unclosed bracket, as build does', async () => {
    const rego = withProfile(UNCLOSED);
    const check = await cli(['policy', 'check', '--rego', rego]);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain(
      'profiles/echo-demo/data.yaml:4:20: "{" is never closed: add "}"',
    );
    const build = await cli(['policy', 'build', '--rego', rego, '--out', join(rego, 'b.tar.gz')]);
    expect(build.code).toBe(1);
    expect(build.stderr).toContain('profiles/echo-demo/data.yaml:4:20: "{" is never closed');
  });

  it('refuses a misspelled field, at its key, as build does', async () => {
    const rego = withProfile(MISSPELLED);
    const check = await cli(['policy', 'check', '--rego', rego]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('opa check --strict (with the input schema): ok');
    expect(check.stderr).toContain(
      'profiles/echo-demo/data.yaml:5:22: profile echo-demo is malformed: unknown field tools.everything.echo.allowd',
    );
    expect(check.stderr).toContain(
      'profiles/echo-demo/data.yaml:5:3: profile echo-demo is malformed: tools.everything.echo.allowed must be true or false',
    );
    const build = await cli(['policy', 'build', '--rego', rego, '--out', join(rego, 'b.tar.gz')]);
    expect(build.code).toBe(1);
    expect(build.stderr).toContain(
      'profiles/echo-demo/data.yaml:5:22: profile echo-demo is malformed: unknown field tools.everything.echo.allowd',
    );
  });

  it('checks the data files under tests/ too (opa test loads them)', async () => {
    const rego = copyRego();
    writeFileSync(join(rego, 'tests/extra.json'), '{\n  "cases": [\n    {"name": "x",}\n  ]\n}\n');
    const check = await cli(['policy', 'check', '--rego', rego]);
    expect(check.code).toBe(1);
    expect(check.stderr).toMatch(/tests\/extra\.json:3:18: /);
  });
});

describe('data file problems, placed where to fix them', () => {
  function problemsOf(name: string, text: string): string[] {
    const dir = mkdtempSync(join(tmpdir(), 'mcpgate-data-files-'));
    mkdirSync(join(dir, 'profiles/p'), { recursive: true });
    writeFileSync(join(dir, 'profiles/p', name), text);
    return dataFileProblems(dir, false);
  }

  it('an unclosed list, quote; a tab; a key listed twice; bad indentation', () => {
    expect(problemsOf('data.yaml', 'tools:\n  a.b: {allowed: true, exclude: ["x", "y"\n')).toEqual([
      'profiles/p/data.yaml:2:8: "{" is never closed: add "}"',
      'profiles/p/data.yaml:2:33: "[" is never closed: add "]"',
    ]);
    expect(problemsOf('data.yaml', 'session:\n  purpose: "echo\ntools: {}\n')).toEqual([
      'profiles/p/data.yaml:2:12: the string opened with " is never closed',
    ]);
    expect(problemsOf('data.yaml', 'session:\n\tpurpose: p\n')[0]).toMatch(
      /^profiles\/p\/data\.yaml:2:1: Tabs are not allowed as indentation/,
    );
    // OPA would keep the second entry silently; a tool listed twice is refused here.
    expect(
      problemsOf('data.yml', 'tools:\n  a.b: {allowed: false}\n  a.b: {allowed: true}\n'),
    ).toEqual(['profiles/p/data.yml:3:3: Map keys must be unique']);
    expect(problemsOf('data.yaml', 'session:\n  purpose: p\n   ttl: 3\n')[0]).toMatch(
      /^profiles\/p\/data\.yaml:2:\d+: .*\(the value starting here runs on to line 3\)$/,
    );
  });

  it('a JSON profile, at its line and column', () => {
    expect(problemsOf('data.json', '{\n  "session": {"purpose": "p",}\n}\n')).toEqual([
      expect.stringMatching(/^profiles\/p\/data\.json:2:30: /) as unknown as string,
    ]);
  });

  it('mcp/authz/prepare problems about a JSON profile or with no key to find keep the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpgate-data-files-'));
    mkdirSync(join(dir, 'profiles/j'), { recursive: true });
    writeFileSync(join(dir, 'profiles/j/data.json'), '{"session": {}}');
    expect(
      placeProfileProblems(
        dir,
        'policy refused by mcp/authz/prepare: profile j is malformed: session.purpose must be a non-empty string; profile gone is malformed: it must be an object with session and tools',
      ),
    ).toBe(
      'mcp/authz/prepare refuses the policy:\n' +
        '  profiles/j/data.json: profile j is malformed: session.purpose must be a non-empty string\n' +
        '  profile gone is malformed: it must be an object with session and tools',
    );
    expect(placeProfileProblems(dir, 'cannot instantiate policy: x')).toBe(
      'cannot instantiate policy: x',
    );
  });
});
