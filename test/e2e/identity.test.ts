// Corporate identity end to end: a real OpenID Provider (oidc-provider, via the dev IdP)
// issuing Okta-, Entra v2-, Entra v1- and RFC 9068-shaped access tokens through its real
// token endpoint; the gateway verifying them and handing the policy the normalized identity;
// key rotation and an IdP outage; step-up (insufficient_scope); sessions bound to users.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { exportSPKI, importJWK, type JWK } from 'jose';
import {
  DEFAULT_ENTRA_TENANT,
  entraGroupId,
  startDevIdp,
  type DevIdp,
} from '../../dev/idp/index.js';
import { callTool, connectClient, INITIALIZE, rawPost, textOf } from './support/client.js';
import { startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { buildFixturePolicy, labServer } from './support/policies.js';
import { freePort } from './support/ports.js';
import {
  hs256Token,
  signToken,
  startIssuer,
  unsignedToken,
  type TestIssuer,
} from '../support/issuer.js';

const OTHER_TENANT = '0b6c2f0e-1111-4222-8333-944455556666';

let idp: DevIdp;
let gateway: GatewayProcess;
let membership: Server;
let membershipUrl: string;
const membershipCalls: string[] = [];

async function lastIdentity(): Promise<Record<string, unknown>> {
  const lines = (await gateway.auditText()).trim().split('\n');
  const event = JSON.parse(lines[lines.length - 1]!) as {
    input: { identity: Record<string, unknown> };
  };
  return event.input.identity;
}

async function echoAs(token: string): Promise<string> {
  const client = await connectClient(gateway.mcpUrl, token);
  try {
    return textOf(await callTool(client, 'lab__echo', { text: 'hi' }));
  } finally {
    await client.close();
  }
}

async function initialize(
  token: string,
): Promise<{ status: number; headers: Headers; text: string }> {
  return rawPost(gateway.mcpUrl, INITIALIZE, { authorization: `Bearer ${token}` });
}

beforeAll(async () => {
  // A membership endpoint for Entra groups overage (stands in for Microsoft Graph).
  membership = createServer((req, res) => {
    membershipCalls.push(`${req.url ?? ''} ${String(req.headers.authorization ?? '')}`);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ value: [{ id: entraGroupId(DEFAULT_ENTRA_TENANT, 'engineering') }] }));
  });
  await new Promise<void>((r) => membership.listen(0, '127.0.0.1', () => r()));
  membershipUrl = `http://127.0.0.1:${(membership.address() as AddressInfo).port}/users/{tid}/{oid}/groups`;

  const port = await freePort();
  const audience = `http://127.0.0.1:${port}/mcp`;
  idp = await startDevIdp({
    audience,
    issuers: [
      { profile: 'okta' },
      { profile: 'okta-org' },
      { profile: 'entra-v2' },
      { profile: 'entra-v1' },
      { profile: 'entra-v2', tenant: OTHER_TENANT },
      { profile: 'oidc' },
    ],
  });
  const okta = idp.issuer('okta');
  const entraV2 = idp.issuer('entra-v2');
  const entraV1 = idp.issuer('entra-v1');
  const oidc = idp.issuer('oidc');
  const fast = { allow_insecure_http: true, jwks_cooldown_s: 0, jwks_max_age_s: 1 };
  gateway = await startGatewayProcess({
    issuer: { issuer: oidc.issuer, jwksUri: oidc.jwksUri },
    bundle: buildFixturePolicy('allow-all'),
    upstreams: { lab: labServer() },
    gateway: { port },
    env: { MEMBERSHIP_TOKEN: 'Bearer graph-token-from-env' },
    extra: {
      auth: {
        required_scopes: ['mcp:tools'],
        scopes_supported: ['mcp:tools', 'mcp:admin'],
        issuers: [
          { profile: 'okta', issuer: okta.issuer, ...fast },
          {
            profile: 'entra',
            tenants: [DEFAULT_ENTRA_TENANT],
            versions: ['v2', 'v1'],
            issuer_templates: {
              v2: entraV2.issuer.replace(DEFAULT_ENTRA_TENANT, '{tid}'),
              v1: entraV1.issuer.replace(DEFAULT_ENTRA_TENANT, '{tid}'),
            },
            jwks_uri: entraV2.jwksUri,
            audiences: [audience],
            groups_overage: {
              endpoint: membershipUrl,
              headers: { Authorization: 'env:MEMBERSHIP_TOKEN' },
            },
            ...fast,
          },
          { profile: 'oidc', issuer: oidc.issuer, ...fast },
        ],
      },
    },
  });
});

afterAll(async () => {
  await gateway?.stop();
  await idp?.stop();
  await new Promise<void>((r) => (membership ? membership.close(() => r()) : r()));
});

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !condition(); i++) await new Promise((r) => setTimeout(r, 40));
  expect(condition()).toBe(true);
}

function kidOf(token: string): string {
  const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as {
    kid?: string;
  };
  return header.kid ?? '';
}

const user = (extra: Record<string, unknown> = {}) => ({
  user: 'alice@example.com',
  scopes: ['mcp:tools'],
  ...extra,
});

describe('issuer profiles: the policy sees the normalized identity', () => {
  it('Okta: uid is the subject (not the login), cid the client, scp an array, group names', async () => {
    const token = await idp.mintUserToken(
      'okta',
      user({ groups: ['engineering'], roles: ['Reader'] }),
    );
    expect(await echoAs(token)).toContain('echo:hi');
    const identity = await lastIdentity();
    expect(identity).toMatchObject({
      issuer: idp.issuer('okta').issuer,
      client_id: 'mcpgate-dev-client',
      scopes: ['mcp:tools'],
      groups: ['engineering'],
      roles: ['Reader'],
      token_type: 'user',
      groups_overage: false,
    });
    expect(String(identity.subject)).toMatch(/^00u/);
    expect(identity.subject).not.toBe('alice@example.com');
    expect(identity.user_id).toBe(identity.subject);
  });

  it('Entra v2: tid/oid is the subject (never the pairwise sub), scp string split, group GUIDs', async () => {
    const token = await idp.mintUserToken(
      'entra-v2',
      user({ groups: ['engineering'], roles: ['CodeReview.Run'] }),
    );
    expect(await echoAs(token)).toContain('echo:hi');
    const identity = await lastIdentity();
    expect(identity).toMatchObject({
      tenant: DEFAULT_ENTRA_TENANT,
      client_id: 'mcpgate-dev-client',
      scopes: ['mcp:tools'],
      groups: [entraGroupId(DEFAULT_ENTRA_TENANT, 'engineering')],
      roles: ['CodeReview.Run'],
      token_type: 'user',
    });
    const claims = identity.claims as Record<string, string>;
    expect(identity.subject).toBe(`${DEFAULT_ENTRA_TENANT}/${claims.oid}`);
    expect(identity.subject).not.toContain(claims.sub);
  });

  it('Entra v1: same user, same subject; appid is the client', async () => {
    const v2 = await idp.mintUserToken('entra-v2', user());
    await echoAs(v2);
    const subjectV2 = (await lastIdentity()).subject;
    const v1 = await idp.mintUserToken('entra-v1', user());
    await echoAs(v1);
    const identity = await lastIdentity();
    expect(identity.issuer).toBe(idp.issuer('entra-v1').issuer);
    expect(identity.subject).toBe(subjectV2);
    expect(identity.client_id).toBe('mcpgate-dev-client');
  });

  it('Entra groups overage: marked, and resolved from the membership endpoint with the configured header', async () => {
    const token = await idp.mintUserToken(
      'entra-v2',
      user({ user: 'overage@example.com', groupsOverage: true }),
    );
    await echoAs(token);
    const identity = await lastIdentity();
    expect(identity.groups_overage).toBe(true);
    expect(identity.groups).toEqual([entraGroupId(DEFAULT_ENTRA_TENANT, 'engineering')]);
    const call = membershipCalls[membershipCalls.length - 1] ?? '';
    expect(call).toContain(`/users/${DEFAULT_ENTRA_TENANT}/`);
    expect(call).toContain('Bearer graph-token-from-env');
  });

  it('generic OIDC (RFC 9068 at+jwt)', async () => {
    const token = await idp.mintUserToken('oidc', user({ groups: ['eng'] }));
    await echoAs(token);
    expect(await lastIdentity()).toMatchObject({
      subject: 'alice@example.com',
      client_id: 'mcpgate-dev-client',
      token_type: 'user',
    });
  });
});

describe('refused before the policy (401, logged)', () => {
  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    [
      'an Okta org-server token',
      () => idp.mintUserToken('okta-org', user()),
      /issuer is not trusted/,
    ],
    [
      'an Entra token of a tenant not on the allow-list',
      () => idp.mintUserToken(idp.issuers[4]!.issuer, user()),
      /tenant .* is not allowed/,
    ],
    [
      'an app-only Okta token',
      () => idp.mintAppToken('okta', { clientId: 'svc-1', scopes: ['mcp:tools'] }),
      /app-only/,
    ],
    [
      'an app-only Entra token',
      () => idp.mintAppToken('entra-v2', { clientId: 'svc-1', roles: ['Tools.Call'] }),
      /app-only/,
    ],
    [
      'a token for another API (confused deputy)',
      () => idp.mintUserToken('okta', user({ audience: 'https://graph.example.com' })),
      /audience/,
    ],
  ];
  it.each(cases)('%s', async (_name, mint, reason) => {
    const before = await gateway.auditText();
    const res = await initialize(await mint());
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate') ?? '').toMatch(reason);
    // Nothing reached the policy: no new decision was logged.
    expect(await gateway.auditText()).toBe(before);
    await waitUntil(() =>
      gateway.logs.some(
        (l) => l.message === 'authentication refused' && reason.test(String(l.reason)),
      ),
    );
  });
});

describe('JWT attack suite: each refused with 401, logged, never reaching the policy', () => {
  // An issuer the gateway does not trust, whose JWKS the attacks point at.
  let attacker: TestIssuer;

  beforeAll(async () => {
    attacker = await startIssuer({ kid: 'attacker-key' });
  });

  afterAll(async () => {
    await attacker?.close();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const oktaClaims = () => ({
    iss: idp.issuer('okta').issuer,
    aud: gateway.mcpUrl,
    uid: '00uattacker',
    cid: 'evil',
    scp: ['mcp:tools'],
    sub: 'mallory@example.com',
    iat: now(),
    exp: now() + 600,
  });

  const attacks: Array<[string, () => Promise<string>, RegExp]> = [
    ['alg none', () => Promise.resolve(unsignedToken(oktaClaims())), /invalid|not allowed/],
    [
      "HS256 signed with the IdP's RSA public key as the secret",
      async () => {
        const jwks = (await (await fetch(idp.issuer('okta').jwksUri)).json()) as { keys: JWK[] };
        const publicJwk = jwks.keys[0]!;
        const pem = await exportSPKI((await importJWK(publicJwk, 'RS256')) as CryptoKey);
        return hs256Token(pem, oktaClaims(), { kid: publicJwk.kid ?? '' });
      },
      /algorithm is not allowed/,
    ],
    [
      'kid of another issuer (signed with a key the Okta issuer never published)',
      () => signToken(attacker.key, oktaClaims()),
      /key is unknown/,
    ],
    [
      'jku, x5u and jwk headers pointing at / embedding an attacker key',
      () =>
        signToken(attacker.key, oktaClaims(), {
          jku: attacker.jwksUri,
          x5u: attacker.jwksUri,
          jwk: attacker.key.jwk,
        }),
      /key is unknown/,
    ],
    [
      'expired',
      () => idp.mintUserToken('okta', user({ extraClaims: { exp: now() - 3600 } })),
      /expired/,
    ],
    [
      'nbf in the future',
      () => idp.mintUserToken('okta', user({ extraClaims: { nbf: now() + 3600 } })),
      /not valid yet/,
    ],
    [
      'iat far in the future',
      () => idp.mintUserToken('okta', user({ extraClaims: { iat: now() + 86_400 } })),
      /issued in the future/,
    ],
    [
      'truncated',
      async () => (await idp.mintUserToken('okta', user())).slice(0, -20),
      /signature is invalid|well-formed/,
    ],
    ['garbage', () => Promise.resolve('eyJ.garbage.token'), /well-formed/],
    [
      '100 KB',
      async () => `${await idp.mintUserToken('okta', user())}${'A'.repeat(100 * 1024)}`,
      /too large/,
    ],
  ];

  it.each(attacks)('%s', async (_name, forge, reason) => {
    const before = await gateway.auditText();
    const refusedBefore = gateway.logs.filter((l) => l.message === 'authentication refused').length;
    const res = await initialize(await forge());
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate') ?? '').toContain('error="invalid_token"');
    expect(res.headers.get('www-authenticate') ?? '').toMatch(reason);
    expect(await gateway.auditText()).toBe(before);
    // The refusal is logged (the log line travels over the child's stderr: wait for it).
    await waitUntil(
      () =>
        gateway.logs.filter((l) => l.message === 'authentication refused').length > refusedBefore,
    );
    expect(attacker.server.requests).toHaveLength(0);
  });

  it('refuses a token in the query string', async () => {
    const token = await idp.mintUserToken('okta', user());
    const res = await rawPost(`${gateway.mcpUrl}?access_token=${token}`, INITIALIZE);
    expect(res.status).toBe(401);
  });
});

describe('MCP authorization: resource server metadata and step-up', () => {
  it('publishes RFC 9728 metadata with the issuers, scopes and the canonical resource', async () => {
    for (const path of [
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/mcp',
    ]) {
      const meta = (await (await fetch(`${gateway.url}${path}`)).json()) as Record<string, unknown>;
      expect(meta.resource).toBe(gateway.mcpUrl);
      expect(meta.scopes_supported).toEqual(['mcp:tools', 'mcp:admin']);
      expect(meta.authorization_servers).toEqual(
        expect.arrayContaining([
          idp.issuer('okta').issuer,
          idp.issuer('entra-v2').issuer,
          idp.issuer('entra-v1').issuer,
        ]),
      );
    }
  });

  it('challenges a missing token with resource_metadata and scope', async () => {
    const res = await rawPost(gateway.mcpUrl, INITIALIZE);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/mcp", scope="mcp:tools"`,
    );
  });

  it('answers 403 insufficient_scope when the token lacks a required scope', async () => {
    const res = await initialize(await idp.mintUserToken('okta', user({ scopes: ['openid'] })));
    expect(res.status).toBe(403);
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="mcp:tools"');
  });
});

describe('sessions are bound to the user', () => {
  it("another user's valid token cannot use a session (404), the owner's new token can", async () => {
    const alice = await idp.mintUserToken('okta', user());
    const opened = await initialize(alice);
    const sessionId = opened.headers.get('mcp-session-id') ?? '';
    const list = JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/list' });
    const headers = (token: string) => ({
      authorization: `Bearer ${token}`,
      'mcp-session-id': sessionId,
      'mcp-protocol-version': '2025-11-25',
    });
    const bob = await idp.mintUserToken('entra-v2', user({ user: 'bob@example.com' }));
    expect((await rawPost(gateway.mcpUrl, list, headers(bob))).status).toBe(404);
    const aliceAgain = await idp.mintUserToken('okta', user());
    expect((await rawPost(gateway.mcpUrl, list, headers(aliceAgain))).status).toBe(200);
    // A session id is never a substitute for a token.
    const noToken = await rawPost(gateway.mcpUrl, list, { 'mcp-session-id': sessionId });
    expect(noToken.status).toBe(401);
  });
});

describe('keys: rotation and outage', () => {
  it('accepts tokens of a rotated-in key at once and old-key tokens until the IdP removes the key', async () => {
    const before = await idp.mintUserToken('okta', user());
    await idp.rotateKeys();
    const after = await idp.mintUserToken('okta', user());
    expect(kidOf(after)).not.toBe(kidOf(before));
    expect(await echoAs(after)).toContain('echo:hi');
    expect(await echoAs(before)).toContain('echo:hi');
    await idp.retireOldKeys();
    // jwks_max_age_s is 1: past it the gateway refreshes and the retired key is gone.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await initialize(before)).status).toBe(401);
    expect(await echoAs(after)).toContain('echo:hi');
  });

  it('keeps verifying with cached keys while the IdP is down, refuses unknown keys with 401, and recovers', async () => {
    const token = await idp.mintUserToken('okta', user());
    await echoAs(token);
    idp.setAvailable(false);
    try {
      await new Promise((r) => setTimeout(r, 1200)); // past max-age: the refresh fails
      expect(await echoAs(token)).toContain('echo:hi');
      const ready = (await (await fetch(`${gateway.url}/readyz`)).json()) as {
        ready: boolean;
        issuers: Array<{ issuer: string; last_error?: string; keys: number }>;
      };
      const okta = ready.issuers.find((i) => i.issuer === idp.issuer('okta').issuer);
      expect(okta?.keys).toBeGreaterThan(0);
      expect(okta?.last_error).toBeDefined();
      expect(
        gateway.logs.some(
          (l) => l.message === 'issuer keys could not be fetched; cached keys stay in use',
        ),
      ).toBe(true);
    } finally {
      idp.setAvailable(true);
    }
    // A token with a key id nobody knows: 401, and the gateway keeps serving.
    const [header, payload, signature] = token.split('.');
    const forgedHeader = Buffer.from(JSON.stringify({ alg: 'RS256', kid: randomUUID() })).toString(
      'base64url',
    );
    expect((await initialize(`${forgedHeader}.${payload}.${signature}`)).status).toBe(401);
    expect(header).toBeDefined();
    await new Promise((r) => setTimeout(r, 1200));
    expect(await echoAs(await idp.mintUserToken('okta', user()))).toContain('echo:hi');
    const ready = (await (await fetch(`${gateway.url}/readyz`)).json()) as {
      issuers: Array<{ issuer: string; last_error?: string }>;
    };
    expect(
      ready.issuers.find((i) => i.issuer === idp.issuer('okta').issuer)?.last_error,
    ).toBeUndefined();
  });
});

describe('tokens never leak', () => {
  it('appear in neither the decision log nor the gateway log', async () => {
    const token = await idp.mintUserToken('okta', user());
    await echoAs(token);
    const signature = token.split('.')[2]!;
    expect(await gateway.auditText()).not.toContain(signature);
    expect(JSON.stringify(gateway.logs)).not.toContain(signature);
  });
});
