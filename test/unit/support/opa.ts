// Compiles the fixture policies under test/fixtures/unit/policies with the real OPA CLI.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DECISION_ENTRYPOINT, VISIBLE_ENTRYPOINT } from '../../../src/policy/engine.js';
import { opaBinary, PACKAGE_ROOT } from '../../../src/util/paths.js';

export const UNIT_FIXTURES = join(PACKAGE_ROOT, 'test/fixtures/unit');
export const POLICY_FIXTURES = join(UNIT_FIXTURES, 'policies');
export const CAPABILITIES = join(PACKAGE_ROOT, 'rego/capabilities.json');

export interface BuildOptions {
  entrypoints?: string[];
  revision?: string;
}

/** `opa build -t wasm` of one fixture folder into outFile; throws with OPA's output on failure. */
export function buildFixtureBundle(
  fixture: string,
  outFile: string,
  options: BuildOptions = {},
): void {
  const entrypoints = options.entrypoints ?? [DECISION_ENTRYPOINT, VISIBLE_ENTRYPOINT];
  const args = [
    'build',
    '-t',
    'wasm',
    ...entrypoints.flatMap((e) => ['-e', e]),
    '--capabilities',
    CAPABILITIES,
    ...(options.revision === undefined ? [] : ['--revision', options.revision]),
    '-o',
    outFile,
    '.',
  ];
  const result = spawnSync(opaBinary(), args, {
    cwd: join(POLICY_FIXTURES, fixture),
    encoding: 'utf8',
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`opa build of fixture ${fixture} failed:\n${result.stderr}${result.stdout}`);
  }
}
