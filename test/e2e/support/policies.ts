// Compiles a fixture policy folder (test/fixtures/policies/<name>) to a wasm bundle with the
// real OPA CLI and the gateway's capabilities file, as `mcpgate policy build` does.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { opaBinary } from '../../../src/util/paths.js';
import { ROOT } from './gateway.js';

export function buildFixturePolicy(name: string): string {
  const out = join(mkdtempSync(join(tmpdir(), `mcpgate-policy-${name}-`)), 'bundle.tar.gz');
  const result = spawnSync(
    opaBinary(),
    [
      'build',
      '-t',
      'wasm',
      '-e',
      'mcp/authz/decision',
      '-e',
      'mcp/authz/visible',
      '--capabilities',
      join(ROOT, 'rego/capabilities.json'),
      '-o',
      out,
      '.',
    ],
    { cwd: join(ROOT, 'test/fixtures/policies', name), encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`opa build of fixture ${name} failed: ${result.stderr}`);
  return out;
}

export function labServer(env: Record<string, string> = {}): Record<string, unknown> {
  return {
    transport: 'stdio',
    command: process.execPath,
    args: [join(ROOT, 'dist/test/fixtures/servers/lab-server.js')],
    env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, { literal: v }])),
    restart: { initial_delay_ms: 100, max_delay_ms: 1000 },
  };
}
