// `mcpgate policy build|test|check` and `mcpgate eval`.
import { resolve } from 'node:path';
import { runPolicyTests } from '../toolchain/policy-test.js';
import { NON_POLICY_ENTRIES } from '../policy/sources/rego-dir.js';
import { buildWasmBundle, regoLayout, runOpa } from '../toolchain/opa.js';

/** `mcpgate policy test` fails below this line coverage of the policy files. */
export const COVERAGE_THRESHOLD = 95;

export function policyBuild(regoDir: string, outFile: string, revision?: string): number {
  const rev = buildWasmBundle(regoLayout(resolve(regoDir)), resolve(outFile), revision);
  console.log(`built ${outFile} (revision ${rev})`);
  return 0;
}

export function policyCheck(regoDir: string): number {
  const layout = regoLayout(resolve(regoDir));
  let failed = false;
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
  return failed ? 1 : 0;
}

export async function policyTest(regoDir: string): Promise<number> {
  const report = await runPolicyTests(regoLayout(resolve(regoDir)));
  console.log(report.opaTest.output.trimEnd());
  console.log(`opa test (Go evaluator): ${report.opaTest.ok ? 'ok' : 'FAILED'}`);
  let failed = 0;
  for (const outcome of report.cases) {
    if (outcome.problems.length === 0) continue;
    failed++;
    console.error(`FAIL ${outcome.name}\n${outcome.problems.map((p) => `    - ${p}`).join('\n')}`);
  }
  const coverageOk = report.coverage.percent >= COVERAGE_THRESHOLD;
  console.log(
    `coverage of policy files: ${report.coverage.percent.toFixed(2)}% (at least ${COVERAGE_THRESHOLD}% required)` +
      (report.coverage.uncovered.length > 0
        ? `; not covered: ${report.coverage.uncovered.slice(0, 20).join(', ')}`
        : ''),
  );
  const passed = report.cases.length - failed;
  console.log(
    `wasm cases (Node, compared with the Go evaluator): ${passed} passed, ${failed} failed`,
  );
  return report.opaTest.ok && coverageOk && failed === 0 ? 0 : 1;
}
