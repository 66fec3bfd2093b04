// Two real gateway replicas sharing one real Redis, behind a round-robin in the test: a
// session opened on one continues on the other with its history, counters and limits; a
// kill through the admin API ends it on both; Redis going away denies requests with a
// clear reason (fail closed) and the gateway recovers by itself when Redis returns.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { callTool, rawPost, roundRobinClient, INITIALIZE, textOf } from './support/client.js';
import { BIN, startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { addToCodeReview, buildInto, copyRego, READS_HISTORY } from './support/rego-copy.js';

const run = promisify(execFile);

let redis: RedisServer;
let issuer: TestIssuer;
let a: GatewayProcess;
let b: GatewayProcess;
const AUDIENCE = 'http://mcpgate.test/mcp';

interface SessionFacts {
  id: string;
  counters: Record<string, number>;
  history: unknown[];
  summary: { tools: Record<string, { allowed: number; denied: number }> };
}

async function decisions(gateway: GatewayProcess): Promise<
  Array<{
    input: {
      action: string;
      session?: SessionFacts;
    };
  }>
> {
  return (await gateway.auditText())
    .trim()
    .split('\n')
    .filter(Boolean)
    .map(
      (l) =>
        JSON.parse(l) as {
          input: {
            action: string;
            session?: SessionFacts;
          };
        },
    );
}

beforeAll(async () => {
  redis = await startRedis();
  issuer = await startIssuer();
  // A policy that may read the recent history, so the gateway sends it and the decision log
  // shows what each replica loaded from Redis (the shipped policy never reads it).
  const rego = copyRego();
  addToCodeReview(rego, READS_HISTORY);
  const bundle = join(dirname(rego), 'bundle.tar.gz');
  buildInto(rego, bundle);
  const options = {
    issuer,
    bundle,
    // Both replicas are one service: one public URL, one token audience.
    gateway: { public_url: 'http://mcpgate.test' },
    sessions: {
      store: { type: 'redis', url: { literal: redis.url }, command_timeout_ms: 500 },
      rate_limits: { per_session: { limit: 6, window_s: 60 } },
    },
  };
  [a, b] = await Promise.all([startGatewayProcess(options), startGatewayProcess(options)]);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await issuer?.close();
  await redis?.stop();
});

const userToken = () => issuer.mint({ aud: AUDIENCE, groups: ['engineering'] });

describe('one session, two replicas', () => {
  it('continues on the other replica with its history and counters', async () => {
    const { client, hits } = await roundRobinClient(await userToken(), [a, b]);
    for (let i = 0; i < 4; i++) {
      expect(
        textOf(await callTool(client, 'everything__echo', { message: `call ${i}` })),
      ).toContain(`call ${i}`);
    }
    expect(hits[0]).toBeGreaterThan(1);
    expect(hits[1]).toBeGreaterThan(1);
    const calls = [...(await decisions(a)), ...(await decisions(b))].filter(
      (d) => d.input.action === 'tools/call',
    );
    const sessionId = calls[0]?.input.session?.id;
    const mine = calls.filter((d) => d.input.session?.id === sessionId);
    // Each replica decided some calls, and every decision saw all earlier calls of the session.
    expect(
      (await decisions(a)).some(
        (d) => d.input.session?.id === sessionId && d.input.action === 'tools/call',
      ),
    ).toBe(true);
    expect(
      (await decisions(b)).some(
        (d) => d.input.session?.id === sessionId && d.input.action === 'tools/call',
      ),
    ).toBe(true);
    const seen = mine.map((d) => d.input.session?.counters.calls ?? -1).sort((x, y) => x - y);
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(Math.max(...mine.map((d) => d.input.session?.history.length ?? 0))).toBe(3);
    // The last decision's summary holds the three earlier calls, whichever replica made them.
    const last = mine.find((d) => d.input.session?.counters.calls === 3);
    expect(Object.values(last?.input.session?.summary.tools ?? {})).toEqual([
      expect.objectContaining({ allowed: 3, denied: 0 }),
    ]);
    await client.close();
  });

  it('enforces the per-session rate limit across replicas, with a retry hint', async () => {
    const { client } = await roundRobinClient(await userToken(), [a, b]);
    const texts: string[] = [];
    for (let i = 0; i < 8; i++)
      texts.push(textOf(await callTool(client, 'everything__echo', { message: 'x' })));
    const limited = texts.filter((t) => t.includes('rate limit'));
    expect(texts.filter((t) => t.includes('Echo')).length).toBe(6);
    expect(limited.length).toBe(2);
    expect(limited[0]).toMatch(
      /rate limit "session" reached \(6 calls per 60 s\); retry after \d+ s/,
    );
    await client.close();
  });
});

describe('termination and the admin API', () => {
  it('kills a session everywhere; only the admin role may', async () => {
    const { client } = await roundRobinClient(await userToken(), [a, b]);
    await callTool(client, 'everything__echo', { message: 'alive' });
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId ?? '';
    const userOnly = await run(process.execPath, [
      BIN,
      'sessions',
      'kill',
      sessionId,
      '--url',
      a.url,
      '--token',
      await userToken(),
    ]).catch((err: { code: number; stderr: string }) => err);
    expect('code' in userOnly ? userOnly.code : 0).toBe(1);
    expect('stderr' in userOnly ? userOnly.stderr : '').toContain(
      'sessions admin needs the mcpgate.admin role',
    );

    const admin = await issuer.mint({ aud: AUDIENCE, sub: 'ops', roles: ['mcpgate.admin'] });
    const list = await run(process.execPath, [
      BIN,
      'sessions',
      'list',
      '--url',
      b.url,
      '--token',
      admin,
      '--json',
    ]);
    expect(
      (JSON.parse(list.stdout) as { sessions: Array<{ id: string }> }).sessions.map((s) => s.id),
    ).toContain(sessionId);
    const killed = await run(process.execPath, [
      BIN,
      'sessions',
      'kill',
      sessionId,
      '--url',
      a.url,
      '--token',
      admin,
    ]);
    expect(killed.stdout).toContain(`killed ${sessionId}`);
    // Both replicas refuse it at once (it is gone from the shared store).
    for (const replica of [a, b]) {
      const res = await rawPost(
        replica.mcpUrl,
        JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
        {
          authorization: `Bearer ${await userToken()}`,
          'mcp-session-id': sessionId,
          'mcp-protocol-version': '2025-11-25',
        },
      );
      expect(res.status).toBe(404);
    }
    await client.close().catch(() => undefined);
  });
});

describe('Redis faults', () => {
  it('denies with a clear reason while Redis is down, keeps serving, and recovers by itself', async () => {
    const { client } = await roundRobinClient(await userToken(), [a, b]);
    await callTool(client, 'everything__echo', { message: 'before' });
    await redis.stop();
    try {
      await expect(callTool(client, 'everything__echo', { message: 'during' })).rejects.toThrow(
        /session store .*unavailable/,
      );
      const opened = await rawPost(a.mcpUrl, INITIALIZE, {
        authorization: `Bearer ${await userToken()}`,
      });
      expect([403, 503]).toContain(opened.status);
      expect(opened.text).toMatch(/session store .*unavailable/);
      expect((await fetch(`${a.url}/healthz`)).status).toBe(200);
      const ready = await fetch(`${b.url}/readyz`);
      expect(ready.status).toBe(503);
    } finally {
      await redis.restart();
    }
    // Redis keeps no data across the restart here: a new session works on both replicas
    // once each has reconnected by itself.
    let recovered = false;
    for (let i = 0; i < 100 && !recovered; i++) {
      const statuses = await Promise.all(
        [a, b].map(
          async (replica) =>
            (
              await rawPost(replica.mcpUrl, INITIALIZE, {
                authorization: `Bearer ${await userToken()}`,
              })
            ).status,
        ),
      );
      recovered = statuses.every((s) => s === 200);
      if (!recovered) await new Promise((r) => setTimeout(r, 100));
    }
    expect(recovered).toBe(true);
    const fresh = await roundRobinClient(await userToken(), [a, b]);
    expect(
      textOf(await callTool(fresh.client, 'everything__echo', { message: 'after' })),
    ).toContain('after');
    await fresh.client.close();
    await client.close().catch(() => undefined);
  });
});
