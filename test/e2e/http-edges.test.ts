// What clients see at the HTTP edge: authentication failures (401 + WWW-Authenticate),
// a foreign Host (421), Origin (403), body limits (413), malformed JSON (400), unknown or foreign sessions (404),
// DELETE, the session cap, health and metadata. After every refusal the gateway keeps serving.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:http';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { callTool, connectEngineer, INITIALIZE, rawPost, textOf } from './support/client.js';
import { startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { hs256Token, startIssuer, unsignedToken, type TestIssuer } from '../support/issuer.js';

let issuer: TestIssuer;
let gateway: GatewayProcess;
let healthy: Client;

beforeAll(async () => {
  issuer = await startIssuer();
  gateway = await startGatewayProcess({
    issuer,
    sessions: { max_sessions: 4 },
    gateway: {
      allowed_origins: ['https://app.example.com'],
      allowed_hosts: ['mcpgate.internal'],
      max_body_bytes: 4096,
    },
  });
  healthy = await connectEngineer(gateway.mcpUrl, issuer);
});

afterAll(async () => {
  await healthy?.close();
  await gateway?.stop();
  await issuer?.close();
});

async function stillServing(): Promise<void> {
  const result = await callTool(healthy, 'everything__echo', { message: 'still here' });
  expect(textOf(result)).toContain('still here');
}

async function initializeWith(
  token: string,
): Promise<{ status: number; headers: Headers; text: string }> {
  return rawPost(gateway.mcpUrl, INITIALIZE, { authorization: `Bearer ${token}` });
}

describe('authentication', () => {
  it('answers a request without a token with 401 and the resource metadata', async () => {
    const res = await rawPost(gateway.mcpUrl, INITIALIZE);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/mcp"`,
    );
    await stillServing();
  });

  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    [
      'a token for another audience',
      () => issuer.mint({ aud: 'https://other-api.example.com' }),
      /audience/,
    ],
    [
      'an expired token',
      () => issuer.mint({ aud: gateway.mcpUrl, exp: Math.floor(Date.now() / 1000) - 3600 }),
      /expired/,
    ],
    [
      'an unsigned alg:none token',
      () =>
        Promise.resolve(
          unsignedToken({
            iss: issuer.issuer,
            sub: 'alice',
            aud: gateway.mcpUrl,
            exp: Math.floor(Date.now() / 1000) + 600,
          }),
        ),
      /.+/,
    ],
    [
      'a token from an untrusted issuer',
      () => issuer.mint({ aud: gateway.mcpUrl, iss: 'https://evil.example.com' }),
      /issuer is not trusted/,
    ],
    ['a garbage token', () => Promise.resolve('not-a-jwt'), /well-formed/],
    [
      'an HS256 token (algorithm confusion)',
      () =>
        hs256Token(
          'a-shared-secret-an-attacker-chose-32b',
          { aud: gateway.mcpUrl, iss: issuer.issuer, sub: 'alice' },
          { kid: issuer.key.kid },
        ),
      /algorithm/,
    ],
    ['a token without a subject', () => issuer.mint({ aud: gateway.mcpUrl, sub: '' }), /.+/],
  ];
  it.each(cases)('refuses %s with 401 invalid_token', async (_name, token, reason) => {
    const res = await initializeWith(await token());
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(challenge).toContain('error="invalid_token"');
    expect(challenge).toMatch(reason);
    expect(JSON.parse(res.text)).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 } });
    await stillServing();
  });

  it('refuses a token in the query string', async () => {
    const token = await issuer.mint({ aud: gateway.mcpUrl });
    const res = await rawPost(`${gateway.mcpUrl}?access_token=${token}`, INITIALIZE);
    expect(res.status).toBe(401);
    expect(res.text).toContain('query string');
  });

  it('publishes protected resource metadata (RFC 9728)', async () => {
    const meta = (await (
      await fetch(`${gateway.url}/.well-known/oauth-protected-resource/mcp`)
    ).json()) as Record<string, unknown>;
    expect(meta).toMatchObject({
      resource: gateway.mcpUrl,
      authorization_servers: [issuer.issuer],
    });
  });
});

describe('request guards', () => {
  let token: string;
  beforeAll(async () => {
    token = await issuer.mint({ aud: gateway.mcpUrl, groups: ['engineering'] });
  });

  it('refuses a foreign Origin with 403 and allows a listed one', async () => {
    const bad = await rawPost(gateway.mcpUrl, INITIALIZE, {
      authorization: `Bearer ${token}`,
      origin: 'https://evil.example.com',
    });
    expect(bad.status).toBe(403);
    const good = await rawPost(gateway.mcpUrl, INITIALIZE, {
      authorization: `Bearer ${token}`,
      origin: 'https://app.example.com',
    });
    expect(good.status).toBe(200);
    await fetch(gateway.mcpUrl, {
      method: 'DELETE',
      headers: {
        authorization: `Bearer ${token}`,
        'mcp-session-id': good.headers.get('mcp-session-id') ?? '',
        origin: 'https://app.example.com',
      },
    });
  });

  /** initialize over a real connection to the gateway, with the Host header given. */
  const initializeAs = (
    host: string,
  ): Promise<{ status: number; body: string; session: string | undefined }> => {
    const url = new URL(gateway.mcpUrl);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: {
            host,
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
          },
        },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => {
            const session = res.headers['mcp-session-id'];
            resolve({
              status: res.statusCode ?? 0,
              body,
              session: typeof session === 'string' ? session : undefined,
            });
          });
        },
      );
      req.on('error', reject);
      req.end(INITIALIZE);
    });
  };

  const closeSession = async (session: string | undefined): Promise<void> => {
    await fetch(gateway.mcpUrl, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}`, 'mcp-session-id': session ?? '' },
    });
  };

  it('refuses a foreign Host with 421 (DNS rebinding), even with a valid token', async () => {
    const port = new URL(gateway.mcpUrl).port;
    const rebound = await initializeAs(`rebind.attacker.example:${port}`);
    expect(rebound.status).toBe(421);
    expect(JSON.parse(rebound.body)).toEqual({
      jsonrpc: '2.0',
      error: {
        code: -32600,
        message: `Host "rebind.attacker.example:${port}" is not a name of this gateway; use the gateway's URL (an operator can allow other names with gateway.allowed_hosts)`,
      },
      id: null,
    });
    expect(rebound.session).toBeUndefined();
    await stillServing();
  });

  it.each([
    ['the listen address', (port: string) => `127.0.0.1:${port}`],
    ['another loopback name', (port: string) => `localhost:${port}`],
    ['a name in gateway.allowed_hosts', () => 'mcpgate.internal'],
  ])('serves a Host that is %s', async (_what, host) => {
    const opened = await initializeAs(host(new URL(gateway.mcpUrl).port));
    expect(opened.status).toBe(200);
    expect(opened.session).toBeDefined();
    await closeSession(opened.session);
  });

  it('answers malformed JSON with 400 and a JSON-RPC parse error', async () => {
    const res = await rawPost(gateway.mcpUrl, '{"jsonrpc": "2.0", "id": 1, "method": ', {
      authorization: `Bearer ${token}`,
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toMatchObject({ error: { code: -32700 } });
    await stillServing();
  });

  it('answers an oversized body with 413', async () => {
    const big = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'ping',
      params: { pad: 'x'.repeat(10_000) },
    });
    const res = await rawPost(gateway.mcpUrl, big, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(413);
    expect(res.text).toContain('exceeds 4096 bytes');
    await stillServing();
  });

  it('answers a request without a session (not initialize) with 400', async () => {
    const res = await rawPost(
      gateway.mcpUrl,
      JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
      {
        authorization: `Bearer ${token}`,
      },
    );
    expect(res.status).toBe(400);
    expect(res.text).toContain('initialize');
  });

  it('answers an unknown session with 404', async () => {
    const res = await rawPost(
      gateway.mcpUrl,
      JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
      {
        authorization: `Bearer ${token}`,
        'mcp-session-id': 'no-such-session',
      },
    );
    expect(res.status).toBe(404);
    await stillServing();
  });
});

describe('sessions', () => {
  it('hides a session from another principal (404), even with a valid token', async () => {
    const alice = await initializeWith(
      await issuer.mint({ aud: gateway.mcpUrl, sub: 'alice-2', groups: ['engineering'] }),
    );
    const sessionId = alice.headers.get('mcp-session-id') ?? '';
    expect(sessionId.length).toBeGreaterThanOrEqual(43);
    const mallory = await issuer.mint({
      aud: gateway.mcpUrl,
      sub: 'mallory',
      groups: ['engineering'],
    });
    const res = await rawPost(
      gateway.mcpUrl,
      JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
      {
        authorization: `Bearer ${mallory}`,
        'mcp-session-id': sessionId,
        'mcp-protocol-version': '2025-11-25',
      },
    );
    expect(res.status).toBe(404);
    const cleanup = await issuer.mint({
      aud: gateway.mcpUrl,
      sub: 'alice-2',
      groups: ['engineering'],
    });
    await fetch(gateway.mcpUrl, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${cleanup}`, 'mcp-session-id': sessionId },
    });
  });

  it('ends a session on DELETE', async () => {
    const token = await issuer.mint({ aud: gateway.mcpUrl, groups: ['engineering'] });
    const opened = await initializeWith(token);
    const sessionId = opened.headers.get('mcp-session-id') ?? '';
    const del = await fetch(gateway.mcpUrl, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}`, 'mcp-session-id': sessionId },
    });
    expect(del.status).toBe(200);
    const after = await rawPost(
      gateway.mcpUrl,
      JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' }),
      {
        authorization: `Bearer ${token}`,
        'mcp-session-id': sessionId,
      },
    );
    expect(after.status).toBe(404);
  });

  it('refuses new sessions beyond the cap with 503 and keeps existing ones working', async () => {
    const token = await issuer.mint({ aud: gateway.mcpUrl, groups: ['engineering'] });
    const opened: string[] = [];
    let refused: { status: number; text: string } | undefined;
    for (let i = 0; i < 6 && !refused; i++) {
      const res = await initializeWith(token);
      if (res.status === 200) opened.push(res.headers.get('mcp-session-id') ?? '');
      else refused = res;
    }
    expect(refused?.status).toBe(503);
    expect(refused?.text).toContain('session limit');
    await stillServing();
    for (const id of opened) {
      await fetch(gateway.mcpUrl, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}`, 'mcp-session-id': id },
      });
    }
    const again = await initializeWith(token);
    expect(again.status).toBe(200);
  });
});

describe('health', () => {
  it('is healthy and ready once policy and upstreams are loaded', async () => {
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${gateway.url}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as {
      ready: boolean;
      policy: { revision: string };
      upstreams: Array<{ state: string }>;
    };
    expect(body.ready).toBe(true);
    expect(body.policy.revision).toMatch(/^rego-/);
    expect(body.upstreams.every((u) => u.state === 'ready')).toBe(true);
  });
});
