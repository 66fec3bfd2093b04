// The Python MCP SDK (mcp 2.3.0 in .tools/python-mcp, scripts/install-python-client.sh)
// through mcpgate, as a platform team's Python agent would use it: test/python/client_check.py
// runs its checks (initialize, tools, resources, prompts, progress, sampling, elicitation,
// roots, logging, completion, subscriptions, a cancelled call followed by a clean exit)
// against the conformance fixture behind the gateway as one upstream with `prefix: ""`.
// Every check must pass except those listed in PYTHON_CLIENT_EXPECTED_FAILURES, and a listed
// one that passes fails this test too (delete its entry).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startFixture, type Fixture } from '../conformance/harness.js';
import { judge, PYTHON_CLIENT_EXPECTED_FAILURES } from '../conformance/expected-failures.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { ROOT, startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { buildFixturePolicy } from './support/policies.js';

const PYTHON = join(ROOT, '.tools/python-mcp/bin/python');
const SCRIPT = join(ROOT, 'test/python/client_check.py');

/** Every check the script must run: what the Python client is seen to do through mcpgate. */
const CHECKS = [
  'initialize',
  'tools',
  'resources',
  'prompts',
  'progress',
  'sampling',
  'elicitation',
  'roots',
  'logging',
  'completion',
  'subscriptions',
  'cancel-then-clean-exit',
];

interface CheckResult {
  check: string;
  passed: boolean;
  detail: string;
}

let fixture: Fixture | undefined;
let issuer: TestIssuer | undefined;
let gateway: GatewayProcess | undefined;
let results: CheckResult[] = [];

async function runClient(url: string, token: string): Promise<CheckResult[]> {
  const child = spawn(PYTHON, [SCRIPT, url], {
    // The token goes in the environment, not on a command line others can read.
    env: { PATH: process.env.PATH ?? '', MCPGATE_TOKEN: token, PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`client_check.py exited with ${String(code)}:\n${stderr}`);
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as CheckResult);
}

beforeAll(async () => {
  if (!existsSync(PYTHON)) {
    throw new Error(
      `${PYTHON} is missing: run \`bash scripts/install-python-client.sh\` (needs python3 >= 3.11 with venv)`,
    );
  }
  fixture = await startFixture();
  issuer = await startIssuer();
  gateway = await startGatewayProcess({
    issuer,
    bundle: buildFixturePolicy('allow-all'),
    // roots: client, so the fixture's roots/list reaches the Python client's callback.
    upstreams: { fixture: { transport: 'http', url: fixture.url, prefix: '', roots: 'client' } },
  });
  results = await runClient(gateway.mcpUrl, await issuer.mint({ aud: gateway.mcpUrl }));
}, 120_000);

afterAll(async () => {
  await gateway?.stop();
  await fixture?.stop();
  await issuer?.close();
});

const described = (names: string[]): string[] =>
  names.map((name) => `${name}: ${results.find((r) => r.check === name)?.detail ?? 'not run'}`);

describe('the Python MCP SDK through mcpgate', () => {
  it('runs every check', () => {
    expect(results.map((r) => r.check)).toEqual(CHECKS);
  });

  it('passes every check except the expected failures', () => {
    const { unexpected } = judge(
      new Map(results.map((r) => [r.check, r.passed])),
      PYTHON_CLIENT_EXPECTED_FAILURES,
    );
    expect(described(unexpected)).toEqual([]);
  });

  it('lists no expected failure that passes (delete its entry)', () => {
    const { stale } = judge(
      new Map(results.map((r) => [r.check, r.passed])),
      PYTHON_CLIENT_EXPECTED_FAILURES,
    );
    expect(described(stale)).toEqual([]);
  });
});
