// Gateway processes on a real Redis Cluster (six redis-servers: three primaries with a
// replica each) and through a real Redis Sentinel (a primary, its replica, three Sentinels),
// configured as users configure them (`nodes`, `sentinels` and `name`, passwords by
// reference). On the cluster, two replicas behind a round-robin share sessions, a user's
// rate limit and their cap on sessions; through Sentinel, killing the primary denies calls
// with the store's reason while the Sentinels fail over, and then the same session goes on,
// without a restart.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  startRedisCluster,
  startRedisSentinel,
  type RedisCluster,
  type RedisSentinelSetup,
} from '../support/redis.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import {
  callTool,
  connectClient,
  rawPost,
  roundRobinClient,
  INITIALIZE,
  textOf,
} from './support/client.js';
import { startGatewayProcess, type GatewayProcess } from './support/gateway.js';

let cluster: RedisCluster;
let sentinel: RedisSentinelSetup;
let issuer: TestIssuer;
let onClusterA: GatewayProcess;
let onClusterB: GatewayProcess;
let onSentinel: GatewayProcess;
const AUDIENCE = 'http://mcpgate.test/mcp';
/**
 * What a gateway through this Sentinel set-up says when the store cannot be used (its quotes
 * escaped where the client quotes the JSON body in its error).
 */
const SENTINEL_UNAVAILABLE =
  /session store \(Redis \\?"mcpgate\\?" via Sentinel at [^)]+\) is unavailable: /;

beforeAll(async () => {
  [cluster, sentinel, issuer] = await Promise.all([
    startRedisCluster(),
    startRedisSentinel(),
    startIssuer(),
  ]);
  const common = { issuer, gateway: { public_url: 'http://mcpgate.test' } };
  const clusterOptions = {
    ...common,
    sessions: {
      store: {
        type: 'redis',
        nodes: cluster.nodes.slice(0, 3).map(({ host, port }) => `${host}:${port}`),
        password: 'env:MCPGATE_REDIS_PASSWORD',
      },
      rate_limits: { per_user: { limit: 6, window_s: 3600 } },
      max_sessions_per_principal: 2,
    },
    env: { MCPGATE_REDIS_PASSWORD: cluster.password },
  };
  [onClusterA, onClusterB, onSentinel] = await Promise.all([
    startGatewayProcess(clusterOptions),
    startGatewayProcess(clusterOptions),
    startGatewayProcess({
      ...common,
      sessions: {
        store: {
          type: 'redis',
          sentinels: sentinel.sentinels.map(({ host, port }) => `${host}:${port}`),
          name: sentinel.name,
          password: 'env:MCPGATE_REDIS_PASSWORD',
          sentinel_password: 'env:MCPGATE_SENTINEL_PASSWORD',
        },
      },
      env: {
        MCPGATE_REDIS_PASSWORD: sentinel.password,
        MCPGATE_SENTINEL_PASSWORD: sentinel.sentinelPassword,
      },
    }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([onClusterA?.stop(), onClusterB?.stop(), onSentinel?.stop()]);
  await Promise.all([cluster?.stop(), sentinel?.stop(), issuer?.close()]);
});

const userToken = (sub = 'alice') => issuer.mint({ aud: AUDIENCE, sub, groups: ['engineering'] });

describe('two gateway replicas on a Redis Cluster', () => {
  it("continue each session on either replica and hold a user's limit over all their sessions", async () => {
    const token = await userToken('carol');
    const first = await roundRobinClient(token, [onClusterA, onClusterB]);
    const second = await roundRobinClient(token, [onClusterB, onClusterA]);
    const texts: string[] = [];
    for (let i = 0; i < 4; i++) {
      for (const { client } of [first, second]) {
        texts.push(textOf(await callTool(client, 'everything__echo', { message: `call ${i}` })));
      }
    }
    // 6 calls per user and hour over both sessions and both replicas; the user's counter is
    // in another hash slot than either session.
    expect(texts.filter((t) => t.includes('Echo: call'))).toHaveLength(6);
    const limited = texts.filter((t) => t.includes('rate limit'));
    expect(limited).toHaveLength(2);
    expect(limited[0]).toMatch(
      /rate limit "user" reached \(6 calls per 3600 s\); retry after \d+ s/,
    );
    for (const { hits } of [first, second]) expect(Math.min(...hits)).toBeGreaterThan(1);
    // Another user has a window of their own.
    const other = await roundRobinClient(await userToken('dave'), [onClusterA, onClusterB]);
    expect(textOf(await callTool(other.client, 'everything__echo', { message: 'x' }))).toContain(
      'Echo: x',
    );
    for (const { client } of [first, second, other]) await client.close();
    const ready = (await (await fetch(`${onClusterA.url}/readyz`)).json()) as {
      sessions?: { store?: unknown };
    };
    expect(ready.sessions?.store).toEqual({ ok: true, backend: 'redis' });
  });
});

describe('two gateway replicas on a Redis Cluster: sessions per user', () => {
  it("hold a user's cap over both replicas, and a DELETE on either frees a place", async () => {
    const auth = { authorization: `Bearer ${await userToken('erin')}` };
    const sessions: Array<Record<string, string>> = [];
    for (const gateway of [onClusterA, onClusterB]) {
      const opened = await rawPost(gateway.mcpUrl, INITIALIZE, auth);
      expect(opened.status).toBe(200);
      sessions.push({ ...auth, 'mcp-session-id': opened.headers.get('mcp-session-id') ?? '' });
    }
    // The count is in the user's hash slot, shared by both replicas.
    const refused = await rawPost(onClusterA.mcpUrl, INITIALIZE, auth);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('mcp-session-id')).toBeNull();
    expect(refused.text).toContain(
      'session limit per user reached: you have 2 sessions open and may have 2 (sessions.max_sessions_per_principal)',
    );
    // Closed through the replica that did not open it: the place is free at once.
    const closed = await fetch(onClusterB.mcpUrl, { method: 'DELETE', headers: sessions[0] });
    expect(closed.status).toBe(200);
    expect((await rawPost(onClusterA.mcpUrl, INITIALIZE, auth)).status).toBe(200);
  });
});

describe('a gateway through Redis Sentinel', () => {
  it('denies calls with the reason while the primary fails over, then goes on with the same session', async () => {
    const client = await connectClient(onSentinel.mcpUrl, await userToken());
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId;
    expect(textOf(await callTool(client, 'everything__echo', { message: 'before' }))).toContain(
      'Echo: before',
    );
    const killedAt = Date.now();
    const killed = await sentinel.killPrimary();

    const denials: string[] = [];
    let answer = '';
    while (!answer.includes('Echo: during')) {
      if (Date.now() - killedAt > 30_000)
        throw new Error(`no recovery; denials: ${denials.join(' | ')}`);
      // Refused before the decision (503 from loading the session) or after it (a tool error
      // from recording the call): either way, with the store's reason.
      answer = await callTool(client, 'everything__echo', { message: 'during' }).then(
        (result) => textOf(result),
        (err: unknown) => (err instanceof Error ? err.message : String(err)),
      );
      if (!answer.includes('Echo: during')) {
        denials.push(answer);
        await sleep(100);
      }
    }
    const servedAfter = Date.now() - killedAt;
    expect(denials.length).toBeGreaterThan(0);
    for (const denial of denials) expect(denial).toMatch(SENTINEL_UNAVAILABLE);
    // The same session, on the same gateway process.
    expect((client.transport as StreamableHTTPClientTransport).sessionId).toBe(sessionId);
    expect(onSentinel.child.exitCode).toBeNull();

    // The new primary has no replica yet: a new session is refused (replica_ack) ...
    const refused = await rawPost(onSentinel.mcpUrl, INITIALIZE, {
      authorization: `Bearer ${await userToken()}`,
    });
    expect(refused.status).toBe(503);
    expect(refused.text).toMatch(SENTINEL_UNAVAILABLE);
    expect(refused.text).toContain(
      'the new session was not confirmed by 1 replica within 250 ms (0 confirmed); it was not opened',
    );
    // ... until the old primary is back, as a replica of the new one.
    await sentinel.restartAsReplica(killed);
    const opened = await rawPost(onSentinel.mcpUrl, INITIALIZE, {
      authorization: `Bearer ${await userToken()}`,
    });
    expect(opened.status).toBe(200);
    expect((await fetch(`${onSentinel.url}/readyz`)).status).toBe(200);
    await client.close();
    console.log(
      `a gateway through Sentinel: the primary killed; calls served again after ${servedAfter} ms; ${denials.length} denied meanwhile, e.g. ${denials[0]}`,
    );
  });
});
