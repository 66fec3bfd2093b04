// The scoped upstream fixture (test/fixtures/servers/scoped-upstream.ts) against the dev IdP:
// it refuses requests without a valid token for exactly its audience, checks the token on
// every HTTP request (so a session can switch tokens), runs a tool only when the token
// carries the tool's scope, and records which claims each call ran with.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt } from 'jose';
import { GATEWAY_CLIENT_ID, startDevIdp, type DevIdp } from '../../dev/idp/index.js';
import { startScopedUpstream, type ScopedUpstream } from '../fixtures/servers/scoped-upstream.js';
import {
  callTool,
  connectSwitching,
  INITIALIZE,
  rawPost,
  textOf,
  type SwitchingClient,
} from './support/client.js';

const GATEWAY_AUDIENCE = 'http://127.0.0.1:8080/mcp';
const GITHUB = 'https://github.example/api';
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const PR = { repo: 'acme/widgets', number: 42 };

let idp: DevIdp;
let upstream: ScopedUpstream;

beforeAll(async () => {
  idp = await startDevIdp({
    audience: GATEWAY_AUDIENCE,
    issuers: [{ profile: 'oidc' }, { profile: 'okta' }, { profile: 'entra-v2' }],
    exchangeScopes: { [GITHUB]: ['repo:read', 'repo:comment', 'repo:merge'] },
  });
  const oidc = idp.issuer('oidc');
  upstream = await startScopedUpstream({
    issuer: oidc.issuer,
    jwksUri: oidc.jwksUri,
    audience: GITHUB,
  });
});

afterAll(async () => {
  await upstream?.close();
  await idp?.stop();
});

/** A downstream token as the gateway would get it: the user's token exchanged at the IdP. */
async function scopedToken(user: string, scopes: string[], profile = 'oidc'): Promise<string> {
  const subjectToken = await idp.mintUserToken(profile, { user, scopes: ['mcp:tools'] });
  return idp.exchangeToken(profile, { subjectToken, audience: GITHUB, scopes });
}

/** An MCP client whose bearer token can change between requests, like the gateway's. */
function connect(url: string, initialToken: string): Promise<SwitchingClient> {
  return connectSwitching(url, initialToken, 'scoped-test');
}

describe('authentication of every HTTP request', () => {
  it('401 without a token, with garbage, or with a token that is not for this API', async () => {
    const before = upstream.refused.length;
    const attempt = (headers: Record<string, string>) => rawPost(upstream.url, INITIALIZE, headers);

    const none = await attempt({});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);

    const garbage = await attempt({ authorization: 'Bearer not.a.jwt' });
    expect(garbage.status).toBe(401);
    expect(garbage.headers.get('www-authenticate')).toContain('error="invalid_token"');

    // The user's token for the gateway: right issuer, wrong audience.
    const gatewayToken = await idp.mintUserToken('oidc', { user: ALICE });
    expect((await attempt({ authorization: `Bearer ${gatewayToken}` })).status).toBe(401);
    // For this audience but from another issuer (same keys, other iss).
    const oktaToken = await scopedToken(ALICE, ['repo:read'], 'okta');
    expect((await attempt({ authorization: `Bearer ${oktaToken}` })).status).toBe(401);
    // Expired.
    const now = Math.floor(Date.now() / 1000);
    const expired = await idp.mintUserToken('oidc', {
      user: ALICE,
      audience: GITHUB,
      extraClaims: { iat: now - 600, exp: now - 60 },
    });
    expect((await attempt({ authorization: `Bearer ${expired}` })).status).toBe(401);
    // Not Bearer.
    expect((await attempt({ authorization: `Basic ${btoa('a:b')}` })).status).toBe(401);

    expect(upstream.refused.slice(before).map((r) => r.reason)).toEqual([
      'no bearer token',
      expect.any(String),
      'aud claim invalid',
      'iss claim invalid',
      'token expired',
      'no bearer token',
    ]);
  });

  it('a valid exchanged token opens a session', async () => {
    const ok = await rawPost(upstream.url, INITIALIZE, {
      authorization: `Bearer ${await scopedToken(ALICE, ['repo:read'])}`,
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('mcp-session-id')).toBeTruthy();
  });

  it('the token is checked per request: a session dies with its token', async () => {
    const { client, setToken } = await connect(
      upstream.url,
      await scopedToken(ALICE, ['repo:read']),
    );
    try {
      expect((await callTool(client, 'get_pull_request', PR)).isError).toBeFalsy();
      setToken(await idp.mintUserToken('oidc', { user: ALICE }));
      await expect(callTool(client, 'get_pull_request', PR)).rejects.toThrow();
    } finally {
      await client.close();
    }
  });
});

describe('scopes', () => {
  it('lists the tools with readOnlyHint where they only read', async () => {
    const { client } = await connect(upstream.url, await scopedToken(ALICE, ['repo:read']));
    try {
      const { tools } = await client.listTools();
      const hints = Object.fromEntries(tools.map((t) => [t.name, t.annotations?.readOnlyHint]));
      expect(hints).toEqual({
        get_pull_request: true,
        create_comment: false,
        merge_pull_request: false,
        whoami: true,
      });
    } finally {
      await client.close();
    }
  });

  it('reads with repo:read but cannot merge without repo:merge, even if policy allowed it', async () => {
    const token = await scopedToken(ALICE, ['repo:read']);
    const { client, sessionId } = await connect(upstream.url, token);
    const before = upstream.seen.length;
    try {
      const read = await callTool(client, 'get_pull_request', PR);
      expect(read.isError).toBeFalsy();
      expect(JSON.parse(textOf(read))).toMatchObject({ ...PR, state: 'open' });

      const merge = await callTool(client, 'merge_pull_request', PR);
      expect(merge.isError).toBe(true);
      expect(textOf(merge)).toBe('insufficient scope: needs repo:merge');
      const comment = await callTool(client, 'create_comment', { ...PR, body: 'LGTM' });
      expect(textOf(comment)).toBe('insufficient scope: needs repo:comment');

      const calls = upstream.seen.slice(before);
      expect(calls.map((c) => [c.tool, c.allowed])).toEqual([
        ['get_pull_request', true],
        ['merge_pull_request', false],
        ['create_comment', false],
      ]);
      for (const call of calls) {
        expect(call).toMatchObject({
          sessionId: sessionId(),
          sub: ALICE,
          scopes: ['repo:read'],
          act: { sub: GATEWAY_CLIENT_ID },
          azp: GATEWAY_CLIENT_ID,
          jti: decodeJwt(token).jti,
        });
      }
    } finally {
      await client.close();
    }
  });

  it('one session, a narrower token per call: each call records the scopes it carried', async () => {
    const { client, setToken, sessionId } = await connect(
      upstream.url,
      await scopedToken(ALICE, ['repo:read']),
    );
    const before = upstream.seen.length;
    try {
      expect((await callTool(client, 'get_pull_request', PR)).isError).toBeFalsy();
      setToken(await scopedToken(ALICE, ['repo:merge']));
      const merged = await callTool(client, 'merge_pull_request', PR);
      expect(merged.isError).toBeFalsy();
      expect(JSON.parse(textOf(merged))).toMatchObject({ merged: true, merged_by: ALICE });
      // The merge token cannot read.
      expect(textOf(await callTool(client, 'get_pull_request', PR))).toBe(
        'insufficient scope: needs repo:read',
      );
      const calls = upstream.seen.slice(before);
      expect(calls.map((c) => [c.tool, c.scopes, c.allowed])).toEqual([
        ['get_pull_request', ['repo:read'], true],
        ['merge_pull_request', ['repo:merge'], true],
        ['get_pull_request', ['repo:merge'], false],
      ]);
      expect(new Set(calls.map((c) => c.sessionId))).toEqual(new Set([sessionId()]));
      expect(calls[0]?.jti).not.toBe(calls[1]?.jti);
    } finally {
      await client.close();
    }
  });

  it('whoami reports the verified subject, scopes, actor and client; users never share', async () => {
    const alice = await connect(upstream.url, await scopedToken(ALICE, ['repo:read']));
    const bob = await connect(upstream.url, await scopedToken(BOB, ['repo:comment']));
    const before = upstream.seen.length;
    try {
      const a = JSON.parse(textOf(await callTool(alice.client, 'whoami'))) as unknown;
      const b = JSON.parse(textOf(await callTool(bob.client, 'whoami'))) as unknown;
      expect(a).toEqual({
        sub: ALICE,
        scopes: ['repo:read'],
        act: { sub: GATEWAY_CLIENT_ID },
        azp: GATEWAY_CLIENT_ID,
      });
      expect(b).toMatchObject({ sub: BOB, scopes: ['repo:comment'] });
      const comment = await callTool(bob.client, 'create_comment', { ...PR, body: 'hi' });
      expect(JSON.parse(textOf(comment))).toMatchObject({ author: BOB, body: 'hi' });

      const calls = upstream.seen.slice(before);
      const bySession = new Map<string | undefined, Set<string | undefined>>();
      for (const c of calls)
        bySession.set(c.sessionId, (bySession.get(c.sessionId) ?? new Set()).add(c.sub));
      expect(bySession.get(alice.sessionId())).toEqual(new Set([ALICE]));
      expect(bySession.get(bob.sessionId())).toEqual(new Set([BOB]));
      const aliceJtis = new Set(calls.filter((c) => c.sub === ALICE).map((c) => c.jti));
      for (const c of calls.filter((c) => c.sub === BOB)) expect(aliceJtis.has(c.jti)).toBe(false);
    } finally {
      await alice.client.close();
      await bob.client.close();
    }
  });
});

describe('Entra on-behalf-of tokens', () => {
  it('an upstream trusting the Entra issuer reads scp strings and azp', async () => {
    const entra = idp.issuer('entra-v2');
    const api = await startScopedUpstream({
      issuer: entra.issuer,
      jwksUri: entra.jwksUri,
      audience: GITHUB,
    });
    try {
      const token = await scopedToken(ALICE, ['repo:read', 'repo:merge'], 'entra-v2');
      const { client } = await connect(api.url, token);
      try {
        expect((await callTool(client, 'merge_pull_request', PR)).isError).toBeFalsy();
        expect(textOf(await callTool(client, 'create_comment', { ...PR, body: 'x' }))).toBe(
          'insufficient scope: needs repo:comment',
        );
      } finally {
        await client.close();
      }
      expect(api.seen[0]).toMatchObject({
        tool: 'merge_pull_request',
        scopes: ['repo:read', 'repo:merge'],
        azp: GATEWAY_CLIENT_ID,
        act: undefined,
        allowed: true,
      });
      expect(api.seen[0]?.claims.tid).toBe(entra.tenant);
      // The oidc upstream refuses the Entra token: another issuer.
      const res = await rawPost(upstream.url, INITIALIZE, { authorization: `Bearer ${token}` });
      expect(res.status).toBe(401);
    } finally {
      await api.close();
    }
  });
});
