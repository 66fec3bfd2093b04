// Fail closed: with no policy, a policy that throws, an undefined decision or a malformed
// decision, every call is denied with a reason the user can act on, lists show nothing,
// and the gateway keeps serving.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import {
  callTool,
  connectClient,
  INITIALIZE,
  initializeRequest,
  rawPost,
  textOf,
} from './support/client.js';
import { startGatewayProcess, scratchDir, type GatewayProcess } from './support/gateway.js';
import { buildFixturePolicy, labServer } from './support/policies.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';

let issuer: TestIssuer;
const gateways: GatewayProcess[] = [];

beforeAll(async () => {
  issuer = await startIssuer();
});

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await issuer?.close();
});

async function gatewayWith(bundle: string): Promise<GatewayProcess> {
  const gateway = await startGatewayProcess({ issuer, bundle, upstreams: { lab: labServer() } });
  gateways.push(gateway);
  return gateway;
}

async function expectDeniedEcho(gateway: GatewayProcess, reason: RegExp): Promise<void> {
  const client = await connectClient(gateway.mcpUrl, await issuer.mint({ aud: gateway.mcpUrl }));
  try {
    // The fixtures' visible rule shows every tool; only the calls are refused.
    const { tools } = await client.listTools();
    expect(tools.length).toBeGreaterThan(0);
    for (let i = 0; i < 2; i++) {
      const result = await callTool(client, 'lab__echo', { text: 'hi' });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(reason);
    }
  } finally {
    await client.close();
  }
}

describe('fail closed', () => {
  it('denies everything when the policy bundle is missing, and is not ready', async () => {
    const gateway = await gatewayWith(join(scratchDir(), 'no-such-bundle.tar.gz'));
    // Not even a session opens: session/open is a policy decision too.
    const res = await rawPost(gateway.mcpUrl, INITIALIZE, {
      authorization: `Bearer ${await issuer.mint({ aud: gateway.mcpUrl })}`,
    });
    expect(res.status).toBe(403);
    expect(res.text).toContain('no policy is loaded');
    const ready = await fetch(`${gateway.url}/readyz`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { policy: { loaded: boolean; last_refusal: string } };
    expect(body.policy.loaded).toBe(false);
    expect(body.policy.last_refusal).toContain('no-such-bundle.tar.gz');
  });

  it('denies when the policy throws during evaluation', async () => {
    const gateway = await gatewayWith(buildFixturePolicy('throws'));
    await expectDeniedEcho(gateway, /policy evaluation failed: .*conflict/);
  });

  it('denies when the decision is undefined', async () => {
    const gateway = await gatewayWith(buildFixturePolicy('undefined'));
    await expectDeniedEcho(gateway, /decision is undefined/);
  });

  it('denies when the decision is malformed', async () => {
    const gateway = await gatewayWith(buildFixturePolicy('malformed'));
    await expectDeniedEcho(gateway, /malformed decision: "allow" must be true or false/);
  });
});

describe('obligations', () => {
  let gateway: GatewayProcess;
  beforeAll(async () => {
    gateway = await gatewayWith(buildFixturePolicy('allow-all'));
  });

  it('denies an allow whose obligation is malformed', async () => {
    const client = await connectClient(gateway.mcpUrl, await issuer.mint({ aud: gateway.mcpUrl }));
    const result = await callTool(client, 'lab__needs_approval', {});
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain(
      'the policy returned a malformed obligation: require_approval.reason must be a non-empty string',
    );
    await client.close();
  });

  it('ends the session when the decision says terminate_session', async () => {
    const client = await connectClient(gateway.mcpUrl, await issuer.mint({ aud: gateway.mcpUrl }));
    const result = await callTool(client, 'lab__self_destruct', {});
    expect(result.isError ?? false).toBe(false);
    // The session is gone: the next request on it is refused with 404 (session not found).
    await expect(callTool(client, 'lab__echo', { text: 'after' })).rejects.toThrow(
      /Session not found|404/,
    );
    await client.close().catch(() => undefined);
  });
});

describe('session/open: the policy decides who may open which purpose, and the TTL', () => {
  let gateway: GatewayProcess;
  beforeAll(async () => {
    gateway = await gatewayWith(buildFixturePolicy('allow-all'));
  });

  it('refuses to open a session the policy denies, with the reasons (403)', async () => {
    const token = await issuer.mint({ aud: gateway.mcpUrl });
    const res = await rawPost(gateway.mcpUrl, INITIALIZE, {
      authorization: `Bearer ${token}`,
      'mcp-purpose': 'forbidden-purpose',
    });
    expect(res.status).toBe(403);
    const body = JSON.parse(res.text) as {
      error: { code: number; message: string; data: { reasons: string[] } };
    };
    expect(body.error.code).toBe(-32010);
    expect(body.error.message).toBe(
      'Denied by policy: cannot open a session of purpose forbidden-purpose: purpose forbidden-purpose is not for anyone',
    );
    expect(body.error.data.reasons).toEqual(['purpose forbidden-purpose is not for anyone']);
    expect(res.headers.get('mcp-session-id')).toBeNull();
  });

  it('expires a session at the TTL the policy gave it, telling the client to re-authenticate', async () => {
    const client = await connectClient(gateway.mcpUrl, await issuer.mint({ aud: gateway.mcpUrl }), {
      'mcp-purpose': 'short-lived',
    });
    expect(textOf(await callTool(client, 'lab__echo', { text: 'x' }))).toContain('echo:x');
    await new Promise((r) => setTimeout(r, 1300));
    await expect(callTool(client, 'lab__echo', { text: 'y' })).rejects.toThrow(
      /expired|re-authenticate|Session not found|404/,
    );
    await client.close().catch(() => undefined);
    const lines = (await gateway.auditText()).trim().split('\n');
    const open = lines
      .map(
        (l) =>
          JSON.parse(l) as {
            input: { action: string; session: { purpose: string } };
            result: { obligations: { session_ttl_s: number } };
          },
      )
      .find((e) => e.input.action === 'session/open' && e.input.session.purpose === 'short-lived');
    expect(open?.result.obligations.session_ttl_s).toBe(1);
  });
});

describe('where the purpose comes from', () => {
  let gateway: GatewayProcess;
  beforeAll(async () => {
    gateway = await gatewayWith(buildFixturePolicy('allow-all'));
  });

  it('takes it from the initialize request _meta', async () => {
    const token = await issuer.mint({ aud: gateway.mcpUrl });
    const res = await rawPost(
      gateway.mcpUrl,
      initializeRequest({ 'mcpgate/purpose': 'forbidden-purpose' }),
      {
        authorization: `Bearer ${token}`,
      },
    );
    expect(res.status).toBe(403);
    expect(res.text).toContain('cannot open a session of purpose forbidden-purpose');
  });

  it('takes it from the token claim mcp_purpose when the client names none', async () => {
    const token = await issuer.mint({ aud: gateway.mcpUrl, mcp_purpose: 'forbidden-purpose' });
    const res = await rawPost(gateway.mcpUrl, INITIALIZE, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(403);
  });

  it('prefers the Mcp-Purpose header over _meta and the claim', async () => {
    const token = await issuer.mint({ aud: gateway.mcpUrl, mcp_purpose: 'forbidden-purpose' });
    const res = await rawPost(
      gateway.mcpUrl,
      initializeRequest({ 'mcpgate/purpose': 'forbidden-purpose' }),
      {
        authorization: `Bearer ${token}`,
        'mcp-purpose': 'code-review',
      },
    );
    expect(res.status).toBe(200);
  });
});
