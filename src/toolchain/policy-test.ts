// `mcpgate policy test`: the policy's own `opa test` (OPA's Go evaluator), then every case
// of rego/tests/cases.json through the compiled wasm in Node, compared both with the case's
// expectation and with the Go evaluator's answer for the same input. The two evaluators
// must agree exactly; a difference is a failure even when both meet the expectation.
import { isDeepStrictEqual } from 'node:util';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MAX_BUNDLE_BYTES, readBundleFile } from '../policy/bundle/read.js';
import {
  DECISION_ENTRYPOINT,
  PolicyEngine,
  VISIBLE_ENTRYPOINT,
  describeThrown,
} from '../policy/engine.js';
import { buildWasmBundle, runOpa, ToolchainError, type RegoLayout } from './opa.js';
import { policyInputJson, type PolicyInput } from '../policy/input.js';

export interface PolicyCase {
  name: string;
  entrypoint?: string;
  input: Record<string, unknown>;
  expect: { allow?: boolean; reasons_include?: string[]; visible?: string[] };
}

interface Answers {
  decision: unknown;
  visible: unknown;
}

export interface CaseOutcome {
  name: string;
  problems: string[];
}

export function readCases(file: string): PolicyCase[] {
  let parsed: { cases?: unknown };
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as { cases?: unknown };
  } catch (err) {
    throw new ToolchainError(`cannot read policy cases ${file}: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed.cases)) throw new ToolchainError(`${file} must hold {"cases": [...]}`);
  return parsed.cases as PolicyCase[];
}

/** Sets come back as arrays from both evaluators; order them so comparison is by content. */
function normalise(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(normalise);
    return items.every((v) => typeof v === 'string') ? [...items].sort() : items;
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v)]));
  }
  return value;
}

/** Evaluates every case with OPA's Go evaluator in one `opa eval` run. */
export function goAnswers(layout: RegoLayout): Record<string, Answers> {
  // The mapping lives in a rule of rego/tests (cases_test.rego): `with` is not allowed in
  // an object literal of an ad-hoc query, and inside a query comprehension it is not applied.
  const query = 'answers := data.mcp.cases_test.answers';
  const result = runOpa([
    'eval',
    '--format',
    'json',
    '--ignore',
    'schema',
    '--ignore',
    'capabilities.json',
    '-d',
    layout.regoDir,
    query,
  ]);
  if (result.status !== 0)
    throw new ToolchainError(`opa eval of the cases failed:\n${result.stderr || result.stdout}`);
  const parsed = JSON.parse(result.stdout) as {
    result?: Array<{ bindings?: { answers?: Record<string, Answers> } }>;
  };
  const answers = parsed.result?.[0]?.bindings?.answers;
  if (!answers)
    throw new ToolchainError(
      'opa eval returned no answers for the cases (does rego/tests define data.mcp.cases_test.answers?)',
    );
  return answers;
}

/**
 * The wasm side gets the input as the gateway would send it, so without session.history
 * when the bundle says no rule reads it; the Go side always gets the whole input. A
 * history-reading rule the analysis missed would show up as a disagreement.
 */
export function wasmAnswers(engine: PolicyEngine, input: Record<string, unknown>): Answers {
  const json = policyInputJson(input as unknown as PolicyInput, engine.omitsHistory);
  return {
    decision: engine.evaluate(DECISION_ENTRYPOINT, json),
    visible: engine.evaluate(VISIBLE_ENTRYPOINT, json),
  };
}

export function checkCase(c: PolicyCase, wasm: Answers, go: Answers | undefined): string[] {
  const problems: string[] = [];
  if (!go) problems.push('the Go evaluator produced no answer for this case');
  else if (!isDeepStrictEqual(normalise(wasm), normalise(go))) {
    problems.push(
      `wasm and Go evaluators disagree:\n      wasm: ${JSON.stringify(wasm)}\n      go:   ${JSON.stringify(go)}`,
    );
  }
  const entrypoint = c.entrypoint ?? DECISION_ENTRYPOINT;
  if (entrypoint === DECISION_ENTRYPOINT) {
    const decision = wasm.decision as { allow?: unknown; reasons?: unknown } | undefined;
    if (c.expect.allow !== undefined && decision?.allow !== c.expect.allow) {
      problems.push(`expected allow=${String(c.expect.allow)}, got ${JSON.stringify(decision)}`);
    }
    const reasons = Array.isArray(decision?.reasons) ? (decision.reasons as string[]) : [];
    for (const fragment of c.expect.reasons_include ?? []) {
      if (!reasons.some((r) => r.includes(fragment))) {
        problems.push(`expected a reason containing "${fragment}", got ${JSON.stringify(reasons)}`);
      }
    }
  } else if (entrypoint === VISIBLE_ENTRYPOINT) {
    const visible = normalise(wasm.visible);
    if (c.expect.visible && !isDeepStrictEqual(visible, [...c.expect.visible].sort())) {
      problems.push(
        `expected visible ${JSON.stringify(c.expect.visible)}, got ${JSON.stringify(visible)}`,
      );
    }
  } else {
    problems.push(`unknown entrypoint ${entrypoint}`);
  }
  return problems;
}

/** What `opa test` said: the counts of its summary, and its output. */
export interface OpaTestResult {
  ok: boolean;
  /** Tests run, and those that passed (from the `PASS: n/total` line). */
  total: number;
  passed: number;
  /**
   * Verbose: every test, as `opa test -v` prints it. Quiet: the tests that failed or
   * errored, each run again with -v so its trace is there in full; empty when all passed.
   */
  output: string;
}

export interface PolicyTestReport {
  opaTest: OpaTestResult;
  /**
   * Line coverage of the policy files (tests/ excluded) by `opa test --coverage`; no
   * percent when a test failed (OPA then reports the failures instead of coverage).
   */
  coverage: { percent: number | undefined; uncovered: string[] };
  cases: CaseOutcome[];
}

/** The share of policy lines (not test lines) that `opa test` executes, and where it misses. */
export function policyCoverage(layout: RegoLayout, timeout: string): PolicyTestReport['coverage'] {
  const result = runOpa(['test', '--coverage', ...opaTestFlags(timeout), '.'], {
    cwd: layout.regoDir,
  });
  let report: {
    files?: Record<
      string,
      {
        covered_lines?: number;
        not_covered_lines?: number;
        not_covered?: Array<{ start: { row: number } }>;
      }
    >;
  };
  try {
    report = JSON.parse(result.stdout) as typeof report;
  } catch {
    if (/^(?:FAIL|ERROR): \d+\/\d+$/m.test(result.stdout))
      return { percent: undefined, uncovered: [] };
    // Tracing makes every test several times slower: one can pass the plain run and still
    // run out of time here, and opa then prints only the cancellation.
    if (result.stderr.includes('eval_cancel_error')) {
      throw new ToolchainError(
        `opa test --coverage: a test ran out of time (--timeout ${timeout}; tracing makes tests several times slower); give it more, e.g. --timeout 5m:\n${result.stderr.trim()}`,
      );
    }
    throw new ToolchainError(
      `opa test --coverage did not answer JSON:\n${result.stderr || result.stdout}`,
    );
  }
  let covered = 0;
  let total = 0;
  const uncovered: string[] = [];
  for (const [file, stats] of Object.entries(report.files ?? {})) {
    if (file.startsWith('tests/') || file.includes('/tests/')) continue;
    covered += stats.covered_lines ?? 0;
    total += (stats.covered_lines ?? 0) + (stats.not_covered_lines ?? 0);
    for (const range of stats.not_covered ?? []) uncovered.push(`${file}:${range.start.row}`);
  }
  return { percent: total === 0 ? 100 : (covered / total) * 100, uncovered };
}

/** What every `opa test` run gets: the non-policy entries left out, each test's time limit. */
function opaTestFlags(timeout: string): string[] {
  return ['--ignore', 'schema', '--ignore', 'capabilities.json', '--timeout', timeout];
}

/** The names of the tests `opa test` (not verbose) reports as FAIL or ERROR. */
function failedTests(output: string): string[] {
  return [...output.matchAll(/^(data\.\S+): (?:FAIL|ERROR) /gm)].map((m) => m[1] ?? '');
}

/**
 * `opa test` over the policy. Verbose prints every test; quiet runs without -v (tracing
 * every step makes evaluation about ten times slower) and runs only the failures again
 * with -v, so each is shown in full.
 */
export function opaTest(layout: RegoLayout, verbose: boolean, timeout: string): OpaTestResult {
  const flags = opaTestFlags(timeout);
  const run = runOpa(['test', ...flags, ...(verbose ? ['-v'] : []), layout.regoDir]);
  const output = run.stdout + run.stderr;
  const counts = /^(?:PASS|FAIL|ERROR|SKIPPED): (\d+)\/(\d+)$/m.exec(output);
  const total = Number(counts?.[2] ?? 0);
  const passed = Number(/^PASS: (\d+)\/\d+$/m.exec(output)?.[1] ?? 0);
  const ok = run.status === 0;
  if (verbose || ok) return { ok, total, passed, output: verbose ? output : '' };
  const failed = failedTests(output);
  if (failed.length === 0) return { ok, total, passed, output }; // a load or compile error
  const pattern = `^(${failed.map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`;
  const again = runOpa(['test', ...flags, '-v', '--run', pattern, layout.regoDir]);
  return { ok, total, passed, output: again.stdout + again.stderr };
}

export async function runPolicyTests(
  layout: RegoLayout,
  options: { verbose?: boolean; timeout: string },
): Promise<PolicyTestReport> {
  const goTests = opaTest(layout, options.verbose === true, options.timeout);
  const cases = readCases(layout.casesFile);
  const dir = mkdtempSync(join(tmpdir(), 'mcpgate-policy-test-'));
  try {
    const bundleFile = join(dir, 'bundle.tar.gz');
    buildWasmBundle(layout, bundleFile);
    const engine = PolicyEngine.load(
      await readBundleFile(bundleFile, { maxBytes: DEFAULT_MAX_BUNDLE_BYTES }),
      {
        initialPages: 5,
        maxPages: 1024,
      },
    );
    const go = goAnswers(layout);
    const outcomes = cases.map((c) => {
      try {
        return { name: c.name, problems: checkCase(c, wasmAnswers(engine, c.input), go[c.name]) };
      } catch (err) {
        return { name: c.name, problems: [`wasm evaluation failed: ${describeThrown(err)}`] };
      }
    });
    return {
      opaTest: goTests,
      // A failing test makes opa report failures instead of coverage: not measured.
      coverage: goTests.ok
        ? policyCoverage(layout, options.timeout)
        : { percent: undefined, uncovered: [] },
      cases: outcomes,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
