// Hot reload: a new bundle file, or (dev mode) a changed rego/ folder, swaps in atomically
// while calls keep flowing; no call fails during the swap; every decision log line names
// the revision that decided it; a broken policy is refused and the old one keeps serving.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { callTool, connectEngineer, textOf } from './support/client.js';
import {
  POLICY_BUNDLE,
  scratchDir,
  startGatewayProcess,
  type GatewayProcess,
} from './support/gateway.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { addToCodeReview, buildInto, copyRego, DENY_ECHO } from './support/rego-copy.js';

let issuer: TestIssuer;

beforeAll(async () => {
  issuer = await startIssuer();
});

afterAll(async () => {
  await issuer?.close();
});

interface Readiness {
  policy: { revision?: string; last_refusal?: string; installs: number; refusals: number };
}

async function readiness(gateway: GatewayProcess): Promise<Readiness> {
  return (await (await fetch(`${gateway.url}/readyz`)).json()) as Readiness;
}

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 150; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Calls echo in a loop until stopped; records every outcome (a throw is a failure). */
function keepCalling(client: Client): {
  stop: () => Promise<{ ok: number; denied: number; failed: unknown[] }>;
} {
  let running = true;
  const outcome = { ok: 0, denied: 0, failed: [] as unknown[] };
  const loop = (async () => {
    while (running) {
      try {
        const result = await callTool(client, 'everything__echo', { message: 'during swap' });
        if (result.isError) outcome.denied++;
        else outcome.ok++;
      } catch (err) {
        outcome.failed.push(err);
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return outcome;
    },
  };
}

async function revisionsInLog(gateway: GatewayProcess): Promise<Set<string>> {
  return new Set(
    (await gateway.auditText())
      .trim()
      .split('\n')
      .map(
        (l) =>
          (JSON.parse(l) as { bundles: { mcpgate: { revision: string } } }).bundles.mcpgate
            .revision,
      ),
  );
}

describe('a new bundle file', () => {
  let gateway: GatewayProcess;
  let client: Client;
  let bundle: string;

  beforeAll(async () => {
    const dir = scratchDir();
    bundle = join(dir, 'policy.tar.gz');
    copyFileSync(POLICY_BUNDLE, bundle);
    gateway = await startGatewayProcess({ issuer, dir, bundle });
    client = await connectEngineer(gateway.mcpUrl, issuer);
  });

  afterAll(async () => {
    await client?.close();
    await gateway?.stop();
  });

  it('swaps in while calls flow, with no failed call, and the log names each revision', async () => {
    expect(textOf(await callTool(client, 'everything__echo', { message: 'before' }))).toContain(
      'before',
    );
    const before = (await readiness(gateway)).policy.revision;
    const rego = copyRego();
    addToCodeReview(rego, DENY_ECHO);
    const calls = keepCalling(client);
    await new Promise((r) => setTimeout(r, 200));
    const candidate = buildInto(rego, bundle);
    await waitFor(
      async () => ((await readiness(gateway)).policy.revision === candidate ? true : undefined),
      'the swap',
    );
    await new Promise((r) => setTimeout(r, 200));
    const outcome = await calls.stop();
    expect(outcome.failed).toEqual([]);
    expect(outcome.ok).toBeGreaterThan(0);
    expect(outcome.denied).toBeGreaterThan(0);
    const denied = await callTool(client, 'everything__echo', { message: 'after' });
    expect(textOf(denied)).toContain('withdrawn by the security team');
    expect(await revisionsInLog(gateway)).toEqual(new Set([before, candidate]));
  });

  it('refuses a broken bundle and keeps serving the current policy', async () => {
    const current = (await readiness(gateway)).policy.revision;
    writeFileSync(`${bundle}.tmp`, 'this is not a gzip tarball');
    copyFileSync(`${bundle}.tmp`, bundle);
    const status = await waitFor(
      async () => ((await readiness(gateway)).policy.refusals > 0 ? readiness(gateway) : undefined),
      'the refusal',
    );
    expect(status.policy.revision).toBe(current);
    expect(status.policy.last_refusal).toMatch(/gzip|tar/);
    expect(textOf(await callTool(client, 'everything__echo', { message: 'x' }))).toContain(
      'withdrawn',
    );
  });
});

describe('development mode: watch_rego', () => {
  let gateway: GatewayProcess;
  let client: Client;
  let rego: string;

  beforeAll(async () => {
    rego = copyRego();
    gateway = await startGatewayProcess({ issuer, extra: { policy: { watch_rego: rego } } });
    client = await connectEngineer(gateway.mcpUrl, issuer);
  });

  afterAll(async () => {
    await client?.close();
    await gateway?.stop();
  });

  it('rebuilds and swaps in when a rule changes', async () => {
    expect(textOf(await callTool(client, 'everything__echo', { message: 'hi' }))).toContain('hi');
    const before = (await readiness(gateway)).policy.revision;
    addToCodeReview(rego, DENY_ECHO);
    await waitFor(async () => {
      const r = await readiness(gateway);
      return r.policy.revision !== before ? true : undefined;
    }, 'the rebuild');
    expect(textOf(await callTool(client, 'everything__echo', { message: 'hi' }))).toContain(
      'withdrawn',
    );
  });

  it('refuses a rule that does not compile and keeps the last good policy', async () => {
    const current = (await readiness(gateway)).policy.revision;
    appendFileSync(join(rego, 'mcp/purposes/code_review.rego'), '\nthis is not rego {\n');
    const status = await waitFor(
      async () => ((await readiness(gateway)).policy.refusals > 0 ? readiness(gateway) : undefined),
      'the refusal',
    );
    expect(status.policy.revision).toBe(current);
    expect(status.policy.last_refusal).toContain('opa build failed');
    expect(textOf(await callTool(client, 'everything__echo', { message: 'x' }))).toContain(
      'withdrawn',
    );
  });
});
