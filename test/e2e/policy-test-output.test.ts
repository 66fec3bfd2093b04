// `mcpgate policy test` is quiet by default: a summary line per step and every failure in
// full; `--verbose` prints every test as `opa test -v` does. Run on a small policy written
// here (the shipped one takes long under tracing), with one test that passes and, in the
// failing case, one that fails.
import { describe, expect, it } from '@jest/globals';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from './support/cli.js';
import { ROOT } from './support/gateway.js';

function cli(args: string[]): Promise<CliResult> {
  return runCli(args);
}

const AUTHZ = `package mcp.authz

default decision := {"allow": false, "reasons": ["only echo"], "obligations": {}}

decision := {"allow": true, "reasons": ["echo"], "obligations": {}} if input.tool.id == "everything.echo"

visible contains item.id if {
	some item in input.catalog
	item.id == "everything.echo"
}
`;

const CASES_TEST = `package mcp.cases_test

answers[c.name] := {"decision": d, "visible": v} if {
	some c in data.tests.cases
	d := data.mcp.authz.decision with input as c.input
	v := data.mcp.authz.visible with input as c.input
}
`;

const TESTS = `package mcp.authz_test

test_echo_allowed if {
	data.mcp.authz.decision.allow with input as {"tool": {"id": "everything.echo"}}
}

test_other_denied if {
	not data.mcp.authz.decision.allow with input as {"tool": {"id": "everything.add"}}
}

test_list_shows_echo if {
	data.mcp.authz.visible == {"everything.echo"} with input as {"catalog": [{"id": "everything.echo"}, {"id": "x.y"}]}
}
`;

const FAILING = `package mcp.failing_test

test_deliberately_wrong if {
	data.mcp.authz.decision.allow with input as {"tool": {"id": "everything.add"}}
}
`;

// Tens of milliseconds in opa's Go evaluator: well inside the default limit, far over 1ms.
const SLOW = `package mcp.slow_test

test_counts_a_long_range if {
	count([x | some x in numbers.range(1, 300000); x % 7 == 0]) == 42857
}
`;

function smallPolicy(failing: boolean, slow = false): string {
  const rego = join(mkdtempSync(join(tmpdir(), 'mcpgate-policy-test-')), 'rego');
  mkdirSync(join(rego, 'mcp/authz'), { recursive: true });
  mkdirSync(join(rego, 'tests'));
  cpSync(join(ROOT, 'rego/capabilities.json'), join(rego, 'capabilities.json'));
  cpSync(join(ROOT, 'rego/schema'), join(rego, 'schema'), { recursive: true });
  writeFileSync(join(rego, 'mcp/authz/authz.rego'), AUTHZ);
  writeFileSync(join(rego, 'tests/cases_test.rego'), CASES_TEST);
  writeFileSync(join(rego, 'tests/authz_test.rego'), TESTS);
  if (failing) writeFileSync(join(rego, 'tests/failing_test.rego'), FAILING);
  if (slow) writeFileSync(join(rego, 'tests/slow_test.rego'), SLOW);
  writeFileSync(
    join(rego, 'tests/cases.json'),
    JSON.stringify({
      cases: [
        {
          name: 'echo is allowed',
          entrypoint: 'mcp/authz/decision',
          input: { tool: { id: 'everything.echo' } },
          expect: { allow: true },
        },
      ],
    }),
  );
  return rego;
}

describe('mcpgate policy test output', () => {
  it('is a summary line per step when everything passes', async () => {
    const result = await cli(['policy', 'test', '--rego', smallPolicy(false)]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(
      [
        'opa test (Go evaluator): 3 of 3 tests passed',
        'coverage of policy files: 100.00% (at least 95% required)',
        'wasm cases (Node, compared with the Go evaluator): 1 passed, 0 failed',
        '',
      ].join('\n'),
    );
  });

  it('shows a failing test in full, with its trace, and no passing one', async () => {
    const result = await cli(['policy', 'test', '--rego', smallPolicy(true)]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('opa test (Go evaluator): 3 of 4 tests passed - FAILED\n');
    expect(result.stdout).toContain(
      'coverage of policy files: not measured, because a test failed',
    );
    expect(result.stderr).toContain('data.mcp.failing_test.test_deliberately_wrong: FAIL');
    // The trace of the failure: where it entered the test and what failed.
    expect(result.stderr).toMatch(/failing_test\.rego:3\s+\| Enter data\.mcp\.failing_test/);
    expect(result.stderr).not.toContain('test_echo_allowed');
  });

  it('--verbose prints every test', async () => {
    const result = await cli(['policy', 'test', '--rego', smallPolicy(false), '--verbose']);
    expect(result.code).toBe(0);
    for (const name of ['test_echo_allowed', 'test_other_denied', 'test_list_shows_echo']) {
      expect(result.stdout).toMatch(new RegExp(`data\\.mcp\\.authz_test\\.${name}: PASS`));
    }
    expect(result.stdout).toContain('opa test (Go evaluator): 3 of 3 tests passed\n');
  });

  it('gives each opa test the --timeout limit, and refuses a limit that is not a duration', async () => {
    const rego = smallPolicy(false, true);
    const generous = await cli(['policy', 'test', '--rego', rego]);
    expect(generous.code).toBe(0);
    expect(generous.stdout).toContain('opa test (Go evaluator): 4 of 4 tests passed\n');

    const short = await cli(['policy', 'test', '--rego', rego, '--timeout', '1ms']);
    expect(short.code).toBe(1);
    // The slow test always runs out of its 1 ms; on a busy machine a quick one can too.
    expect(short.stdout).toMatch(/opa test \(Go evaluator\): [0-3] of 4 tests passed - FAILED\n/);
    expect(short.stderr).toContain('data.mcp.slow_test.test_counts_a_long_range: ERROR');
    expect(short.stderr).toContain('eval_cancel_error');
    expect(short.stdout).toContain('coverage of policy files: not measured, because a test failed');

    for (const value of ['soon', '0s', '60']) {
      const refused = await cli(['policy', 'test', '--rego', rego, '--timeout', value]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(
        `mcpgate policy test: --timeout "${value}" is not a duration`,
      );
    }
  });
});
