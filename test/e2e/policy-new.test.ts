// `mcpgate policy new <purpose>`, as a newcomer runs it on a copy of rego/: the profile, the
// Rego test and the cases it writes pass `policy check` and `policy test` as written, the
// cases are valid inputs, cases.json stays as prettier writes it, and it says what to do
// next. It refuses to overwrite or to claim a purpose twice.
import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { runCli, type CliResult } from './support/cli.js';
import { ROOT } from './support/gateway.js';
import { copyRego } from './support/rego-copy.js';

const run = promisify(execFile);

function cli(args: string[], cwd = ROOT): Promise<CliResult> {
  return runCli(args, { cwd });
}

interface Case {
  name: string;
  input: Record<string, unknown>;
  expect: { allow: boolean };
}

describe('mcpgate policy new', () => {
  it('scaffolds a profile, a Rego test and two cases that pass, and says what to edit', async () => {
    const rego = copyRego();
    const before = (
      JSON.parse(readFileSync(join(rego, 'tests/cases.json'), 'utf8')) as {
        cases: Case[];
      }
    ).cases.length;
    const made = await cli(['policy', 'new', 'echo-demo'], dirname(rego));
    expect(made.code).toBe(0);
    expect(made.stdout).toContain('created rego/profiles/echo-demo/data.yaml');
    expect(made.stdout).toContain('created rego/tests/echo_demo_test.rego');
    expect(made.stdout).toContain('added 2 cases to rego/tests/cases.json');
    expect(made.stdout).toContain('Next:\n  1. Edit rego/profiles/echo-demo/data.yaml');
    expect(made.stdout).toContain(
      'mcpgate eval --purpose echo-demo --groups engineering --tool everything.echo',
    );

    const profile = parse(
      readFileSync(join(rego, 'profiles/echo-demo/data.yaml'), 'utf8'),
    ) as unknown;
    expect(profile).toEqual({
      session: { purpose: 'echo-demo', ttl: 900, allowed_groups: ['engineering'] },
      tools: { 'everything.echo': { allowed: true } },
    });

    const cases = (
      JSON.parse(readFileSync(join(rego, 'tests/cases.json'), 'utf8')) as {
        cases: Case[];
      }
    ).cases;
    expect(cases).toHaveLength(before + 2);
    const added = cases.slice(-2);
    expect(added.map((c) => [c.name, c.expect.allow])).toEqual([
      ['echo-demo: a member calls everything.echo', true],
      ['echo-demo: a tool the profile does not list is refused', false],
    ]);
    // Valid inputs, as every case must be.
    const schema = JSON.parse(readFileSync(join(rego, 'schema/input.json'), 'utf8')) as object;
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    for (const c of added)
      expect({ name: c.name, valid: validate(c.input), errors: validate.errors }).toMatchObject({
        valid: true,
      });
    // Laid out as prettier lays out the repository's JSON, so format:check stays green.
    await run(
      join(ROOT, 'node_modules/.bin/prettier'),
      ['--config', join(ROOT, '.prettierrc.json'), '--check', join(rego, 'tests/cases.json')],
      { cwd: ROOT },
    );

    const check = await cli(['policy', 'check', '--rego', rego]);
    expect(check.code).toBe(0);
    const test = await cli(['policy', 'test', '--rego', rego]);
    expect(test.stderr).toBe('');
    expect(test.code).toBe(0);
    expect(test.stdout).toContain(
      `wasm cases (Node, compared with the Go evaluator): ${before + 2} passed, 0 failed`,
    );
  }, 300_000);

  it('writes a profile for roles only, several tools, another ttl', async () => {
    const rego = copyRego();
    const made = await cli([
      'policy',
      'new',
      'triage',
      '--rego',
      rego,
      '--groups',
      '',
      '--roles',
      'Triage.Run',
      '--tools',
      'everything.echo,everything.get-sum',
      '--ttl',
      '600',
    ]);
    expect(made.code).toBe(0);
    expect(made.stdout).toContain(
      'mcpgate eval --purpose triage --roles Triage.Run --tool everything.echo',
    );
    expect(parse(readFileSync(join(rego, 'profiles/triage/data.yaml'), 'utf8'))).toEqual({
      session: { purpose: 'triage', ttl: 600, allowed_roles: ['Triage.Run'] },
      tools: { 'everything.echo': { allowed: true }, 'everything.get-sum': { allowed: true } },
    });
    // opa test alone: the full `policy test` is exercised above.
    const opa = await run(join(ROOT, '.tools/bin/opa'), [
      'test',
      '--ignore',
      'schema',
      '--ignore',
      'capabilities.json',
      '--run',
      'triage_test',
      '-v',
      rego,
    ]);
    expect(opa.stdout).toContain('PASS: 4/4');
  }, 60_000);

  it('refuses a purpose that is taken, a name that is not a purpose, and bad tool ids', async () => {
    const rego = copyRego();
    const taken = await cli(['policy', 'new', 'code-review', '--rego', rego]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain(
      'purpose code-review is already claimed by profiles/code-review/data.yaml',
    );
    const twice = await cli(['policy', 'new', 'echo-demo', '--rego', rego]);
    expect(twice.code).toBe(0);
    expect((await cli(['policy', 'new', 'echo-demo', '--rego', rego])).code).toBe(1);
    const bad = await cli(['policy', 'new', 'two words', '--rego', rego]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"two words" is not a purpose: 1 to 64 of A-Z a-z 0-9 . _ -');
    const tool = await cli(['policy', 'new', 'x', '--rego', rego, '--tools', 'echo']);
    expect(tool.code).toBe(2);
    expect(tool.stderr).toContain('--tools: "echo" is not a tool id, server.tool');
    const missing = await cli(['policy', 'new', '--rego', rego]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('needs the purpose: mcpgate policy new PURPOSE');
  });
});
