// The Python MCP SDK (mcp 2.3.0 in .tools/python-mcp, scripts/install-python-client.sh)
// through mcpgate, as a platform team's Python agent would use it: test/python/client_check.py
// runs its checks (initialize, tools, resources, prompts, progress, sampling, elicitation,
// roots, logging, completion, subscriptions, a cancelled call followed by a clean exit)
// against the conformance fixture behind the gateway as one upstream with `prefix: ""`.
// Both eras at once against one gateway: the client pinned to the handshake era
// (mode="legacy"), in its default mode (server/discover first: it speaks 2026-07-28 with
// the gateway), pinned to 2026-07-28, and the TypeScript SDK's client (2025-11-25 only) at
// the same time. Every check must pass except those listed in PYTHON_CLIENT_EXPECTED_FAILURES, and a listed
// one that passes fails this test too (delete its entry).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startFixture, type Fixture } from '../conformance/harness.js';
import { judge, PYTHON_CLIENT_EXPECTED_FAILURES } from '../conformance/expected-failures.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { connectClient } from './support/client.js';
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

/**
 * The checks a 2026-07-28 client runs. The fixture's sampling, elicitation and roots (asked
 * by an upstream of the handshake era) reach it as the gateway's own InputRequiredResult.
 * Not run: `logging` and `subscriptions` use logging/setLevel and resources/subscribe, which
 * the era removed (its subscriptions/listen is tested in stateless-upstream.test.ts)
 * (docs/mcp-compatibility.md#the-two-eras).
 */
const STATELESS_CHECKS = CHECKS.filter((check) => check !== 'logging' && check !== 'subscriptions');

interface CheckResult {
  check: string;
  passed: boolean;
  detail: string;
}

let fixture: Fixture | undefined;
let issuer: TestIssuer | undefined;
let gateway: GatewayProcess | undefined;
let results: CheckResult[] = [];
let autoResults: CheckResult[] = [];
let statelessResults: CheckResult[] = [];
let typescriptTools: string[] = [];

async function runClient(
  url: string,
  token: string,
  mode: 'legacy' | 'auto' | '2026-07-28',
  checks: string[] = CHECKS,
): Promise<CheckResult[]> {
  const only = checks.flatMap((check) => ['--check', check]);
  const child = spawn(PYTHON, [SCRIPT, '--mode', mode, ...only, url], {
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
  const token = await issuer.mint({ aud: gateway.mcpUrl });
  const url = gateway.mcpUrl;
  // One gateway, both eras at once.
  [results, autoResults, statelessResults, typescriptTools] = await Promise.all([
    runClient(url, token, 'legacy'),
    runClient(url, token, 'auto', ['initialize', 'tools']),
    runClient(url, token, '2026-07-28', STATELESS_CHECKS),
    (async () => {
      const client = await connectClient(url, token);
      const names: string[] = [];
      for (let i = 0; i < 5; i++) {
        names.push(...(await client.listTools()).tools.map((tool) => tool.name));
        await client.callTool({ name: 'test_simple_text', arguments: {} });
      }
      await client.close();
      return names;
    })(),
  ]);
}, 120_000);

afterAll(async () => {
  await gateway?.stop();
  await fixture?.stop();
  await issuer?.close();
});

const described = (names: string[], from: CheckResult[] = results): string[] =>
  names.map((name) => `${name}: ${from.find((r) => r.check === name)?.detail ?? 'not run'}`);

describe('the Python MCP SDK through mcpgate', () => {
  it('runs every check', () => {
    expect(results.map((r) => r.check)).toEqual(CHECKS);
  });

  it('speaks 2025-11-25 when pinned to the handshake era', () => {
    expect(results.find((r) => r.check === 'initialize')?.detail).toBe('protocol 2025-11-25');
  });

  it('speaks 2026-07-28 in its default mode (server/discover is answered)', () => {
    expect(autoResults).toEqual([
      { check: 'initialize', passed: true, detail: 'protocol 2026-07-28' },
      { check: 'tools', passed: true, detail: expect.stringMatching(/tools$/) },
    ]);
  });

  it('passes every check of a client pinned to 2026-07-28 (no initialize at all)', () => {
    expect(statelessResults.map((r) => r.check)).toEqual(STATELESS_CHECKS);
    expect(
      described(
        statelessResults.filter((r) => !r.passed).map((r) => r.check),
        statelessResults,
      ),
    ).toEqual([]);
    expect(statelessResults[0]?.detail).toBe('protocol 2026-07-28');
  });

  it('serves the TypeScript SDK client (2025-11-25) at the same time', () => {
    expect(typescriptTools.filter((name) => name === 'test_simple_text')).toHaveLength(5);
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
