// `mcpgate policy build|test|check`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dataFileProblems } from '../toolchain/data-files.js';
import { runPolicyTests } from '../toolchain/policy-test.js';
import { NON_POLICY_ENTRIES } from '../policy/sources/rego-dir.js';
import { buildWasmBundle, regoLayout, runOpa, ToolchainError } from '../toolchain/opa.js';
import { parseCommand, UsageError, type CommandSpec } from '../util/command-spec.js';

/** `mcpgate policy test` fails below this line coverage of the policy files. */
export const COVERAGE_THRESHOLD = 95;

/** Each `opa test` test's time limit unless `--timeout` says otherwise (opa's own is 5s). */
export const DEFAULT_OPA_TEST_TIMEOUT = '60s';

/** A duration as opa's --timeout reads it (Go's syntax), in the units a test limit needs. */
const OPA_DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;

const REGO_OPTION = {
  type: 'string',
  value: 'DIR',
  default: 'rego',
  help: 'the policy directory (Rego, profiles, tests/, schema/, capabilities.json)',
} as const;

export const POLICY_BUILD_SPEC = {
  name: 'policy build',
  summary: 'compile the policy to a WebAssembly OPA bundle the gateway loads',
  options: {
    rego: REGO_OPTION,
    out: {
      type: 'string',
      value: 'FILE',
      default: 'wasm/bundle.tar.gz',
      help: 'where to write the bundle (written whole, then renamed over the old one)',
    },
    revision: {
      type: 'string',
      value: 'R',
      defaultText: 'a digest of the policy sources, rego-<16 hex digits>',
      help: 'the revision recorded in the bundle and in every decision-log line',
    },
  },
  details: [
    'Runs `opa build -t wasm` with the built-ins of capabilities.json, then loads the bundle as the gateway would, so a policy the gateway would refuse (a malformed profile, say) fails here. A gateway whose policy.bundle is this file reloads it.',
  ],
  example: ['mcpgate policy build --rego rego --out wasm/bundle.tar.gz'],
} as const satisfies CommandSpec;

export const POLICY_CHECK_SPEC = {
  name: 'policy check',
  summary: 'check the policy, tests aside: data files, format, strict compile, profiles',
  options: { rego: REGO_OPTION },
  details: [
    'Parses every YAML and JSON data file (a syntax error is named by file, line and column), runs `opa fmt --list` and `opa check --strict` with the input schema, then builds the bundle into a scratch file and loads it as `policy build` does, so a malformed profile (a misspelled field, a wrong type) fails here too, at its line.',
  ],
  example: ['mcpgate policy check --rego rego'],
} as const satisfies CommandSpec;

export const POLICY_TEST_SPEC = {
  name: 'policy test',
  summary: "run the policy's tests and cases, in OPA's Go evaluator and in wasm",
  options: {
    rego: REGO_OPTION,
    verbose: {
      type: 'boolean',
      default: false,
      help: 'print every test as `opa test -v` does (slower: it traces every step)',
    },
    timeout: {
      type: 'string',
      value: 'DURATION',
      default: DEFAULT_OPA_TEST_TIMEOUT,
      help: 'how long each test may run before opa test fails it, as opa reads it: 90s, 2m, 1m30s',
    },
  },
  details: [
    `Runs \`opa test\`, requires at least ${COVERAGE_THRESHOLD}% line coverage of the policy files (everything outside tests/), then evaluates every case of tests/cases.json in the compiled wasm in Node and compares each answer with the expectation and with OPA's Go evaluator.`,
    'Prints a summary line per step, and every failure in full: a failing opa test is run again with -v for its trace, a failing case shows what was expected and both answers.',
    `Every opa test run (the tests, their coverage, a failure run again) gets --timeout: opa's own default, 5s a test, trips on a busy machine, where the coverage run (which traces every step) takes several times longer. A test that runs out of time fails with an eval_cancel_error.`,
  ],
  example: ['mcpgate policy test', 'mcpgate policy test --timeout 5m'],
} as const satisfies CommandSpec;

export function policyBuild(argv: string[]): number {
  const { values } = parseCommand(POLICY_BUILD_SPEC, argv);
  const rev = buildWasmBundle(
    regoLayout(resolve(values.rego)),
    resolve(values.out),
    values.revision,
  );
  console.log(`built ${values.out} (revision ${rev})`);
  return 0;
}

export function policyCheck(argv: string[]): number {
  const { values } = parseCommand(POLICY_CHECK_SPEC, argv);
  const layout = regoLayout(resolve(values.rego));
  let failed = false;
  const syntax = dataFileProblems(layout.regoDir, true);
  if (syntax.length > 0) {
    failed = true;
    console.error(`data files: OPA cannot load these:\n  ${syntax.join('\n  ')}`);
  } else {
    console.log('data files (YAML, JSON): ok');
  }
  const fmt = runOpa(['fmt', '--list', '--fail', layout.regoDir]);
  if (fmt.status !== 0) {
    failed = true;
    console.error(`opa fmt: these files need \`opa fmt -w\`:\n${fmt.stdout}${fmt.stderr}`);
  } else {
    console.log('opa fmt: ok');
  }
  const check = runOpa([
    'check',
    '--strict',
    '--capabilities',
    layout.capabilities,
    '--schema',
    layout.schemaDir,
    ...NON_POLICY_ENTRIES.flatMap((e) => ['--ignore', e]),
    layout.regoDir,
  ]);
  if (check.status !== 0) {
    failed = true;
    console.error(`opa check --strict:\n${check.stdout}${check.stderr}`);
  } else {
    console.log('opa check --strict (with the input schema): ok');
  }
  if (failed) {
    console.error('build and profiles: not checked until the problems above are fixed');
    return 1;
  }
  // The build's own checks, profiles included, on a scratch bundle.
  const scratch = mkdtempSync(join(tmpdir(), 'mcpgate-policy-check-'));
  try {
    buildWasmBundle(layout, join(scratch, 'bundle.tar.gz'));
    console.log('build and profiles (loaded as the gateway loads them): ok');
    return 0;
  } catch (err) {
    if (!(err instanceof ToolchainError)) throw err;
    console.error(`build and profiles: ${err.message}`);
    return 1;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export async function policyTest(argv: string[]): Promise<number> {
  const { values } = parseCommand(POLICY_TEST_SPEC, argv);
  if (!OPA_DURATION.test(values.timeout) || !/[1-9]/.test(values.timeout)) {
    throw new UsageError(
      POLICY_TEST_SPEC.name,
      `--timeout "${values.timeout}" is not a duration above zero: a number and a unit (ms, s, m, h), as in 90s or 2m`,
    );
  }
  const report = await runPolicyTests(regoLayout(resolve(values.rego)), {
    verbose: values.verbose,
    timeout: values.timeout,
  });
  const go = report.opaTest;
  // Failures in full (on stderr), every test only with --verbose.
  if (go.output.trim() !== '') {
    (go.ok ? console.log : console.error)(go.output.trimEnd());
  }
  console.log(
    `opa test (Go evaluator): ${go.passed} of ${go.total} tests passed${go.ok ? '' : ' - FAILED'}`,
  );
  let failed = 0;
  for (const outcome of report.cases) {
    if (outcome.problems.length === 0) continue;
    failed++;
    console.error(`FAIL ${outcome.name}\n${outcome.problems.map((p) => `    - ${p}`).join('\n')}`);
  }
  const { percent, uncovered } = report.coverage;
  const coverageOk = percent !== undefined && percent >= COVERAGE_THRESHOLD;
  console.log(
    percent === undefined
      ? 'coverage of policy files: not measured, because a test failed'
      : `coverage of policy files: ${percent.toFixed(2)}% (at least ${COVERAGE_THRESHOLD}% required)` +
          (uncovered.length > 0 ? `; not covered: ${uncovered.slice(0, 20).join(', ')}` : ''),
  );
  const passed = report.cases.length - failed;
  console.log(
    `wasm cases (Node, compared with the Go evaluator): ${passed} passed, ${failed} failed`,
  );
  return go.ok && coverageOk && failed === 0 ? 0 : 1;
}
