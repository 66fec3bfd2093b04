// The dev OpenID Provider (src/devidp): real oidc-provider issuers on loopback whose token
// endpoints mint Okta-, Entra- (v2, v1) and RFC 9068-shaped access tokens. Each token is
// checked the way a relying party would: discovery with openid-client, then jose jwtVerify
// against the discovered JWKS with the exact issuer and audience. Also key rotation and
// retirement, outages, the key file and the dev grant's client restriction.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyResult,
} from 'jose';
import {
  allowInsecureRequests,
  clientCredentialsGrant,
  ClientSecretPost,
  discovery,
} from 'openid-client';
import {
  DEFAULT_ENTRA_TENANT,
  entraGroupId,
  entraServicePrincipalId,
  entraUserObjectId,
  oktaUserId,
  startDevIdp,
  type DevIdp,
  type DevIdpIssuer,
  type DevIdpProfile,
} from '../../src/devidp/index.js';

const AUDIENCE = 'http://127.0.0.1:8080/mcp';
const USER = 'alice@example.com';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let idp: DevIdp;

beforeAll(async () => {
  idp = await startDevIdp({
    audience: AUDIENCE,
    groupsClaim: 'mcp_groups',
    issuers: [
      { profile: 'okta' },
      { profile: 'okta-org' },
      { profile: 'entra-v2' },
      { profile: 'entra-v1' },
      { profile: 'oidc' },
    ],
  });
});

afterAll(async () => {
  await idp?.stop();
});

/** The jwks_uri as a relying party finds it: OpenID discovery from the issuer identifier. */
async function discoverJwksUri(issuer: string): Promise<string> {
  const config = await discovery(new URL(issuer), 'mcpgate-test', undefined, undefined, {
    execute: [allowInsecureRequests],
  });
  const { jwks_uri: jwksUri, issuer: discovered } = config.serverMetadata();
  expect(discovered).toBe(issuer);
  expect(typeof jwksUri).toBe('string');
  return jwksUri ?? '';
}

/** Verifies like the gateway: a fresh remote JWKS, exact issuer and audience, RS256 only. */
async function verify(token: string, issuer: DevIdpIssuer): Promise<JWTVerifyResult> {
  const jwks = createRemoteJWKSet(new URL(await discoverJwksUri(issuer.issuer)));
  return jwtVerify(token, jwks, {
    issuer: issuer.issuer,
    audience: AUDIENCE,
    algorithms: ['RS256'],
  });
}

async function userToken(
  profile: DevIdpProfile,
  extra: Partial<Parameters<DevIdp['mintUserToken']>[1]> = {},
): Promise<{ token: string; result: JWTVerifyResult }> {
  const issuer = idp.issuer(profile);
  const token = await idp.mintUserToken(issuer.issuer, {
    user: USER,
    groups: ['eng', 'Platform Team'],
    roles: ['Tools.Read'],
    scopes: ['mcp:tools', 'mcp:resources'],
    clientId: 'client-a',
    ...extra,
  });
  return { token, result: await verify(token, issuer) };
}

function claims(result: JWTVerifyResult): JWTPayload {
  return result.payload;
}

describe('issuers and discovery', () => {
  it('serves every issuer from one server, with exact issuer strings', () => {
    const base = idp.baseUrl;
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(idp.issuer('okta').issuer).toBe(`${base}/oauth2/aus_dev`);
    expect(idp.issuer('okta-org').issuer).not.toContain('/oauth2/');
    expect(idp.issuer('entra-v2').issuer).toBe(`${base}/${DEFAULT_ENTRA_TENANT}/v2.0`);
    expect(idp.issuer('entra-v1').issuer).toBe(`${base}/sts/${DEFAULT_ENTRA_TENANT}/`);
    expect(idp.issuer('entra-v2').tenant).toBe(DEFAULT_ENTRA_TENANT);
    expect(idp.issuers.map((i) => i.profile)).toEqual([
      'okta',
      'okta-org',
      'entra-v2',
      'entra-v1',
      'oidc',
    ]);
  });

  it.each(['okta', 'okta-org', 'entra-v2', 'entra-v1', 'oidc'] as const)(
    '%s: discovery finds the JWKS and the token endpoint',
    async (profile) => {
      const issuer = idp.issuer(profile);
      expect(await discoverJwksUri(issuer.issuer)).toBe(issuer.jwksUri);
      const meta = (await (await fetch(issuer.discoveryUrl)).json()) as Record<string, unknown>;
      expect(meta.token_endpoint).toBe(issuer.tokenEndpoint);
      const jwks = (await (await fetch(issuer.jwksUri)).json()) as { keys: { d?: string }[] };
      expect(jwks.keys).toHaveLength(1);
      expect(jwks.keys[0]?.d).toBeUndefined();
    },
  );
});

describe('okta', () => {
  it('user token: RS256 + kid, no typ; ver, uid, cid, scp array, groups claim', async () => {
    const { token, result } = await userToken('okta');
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', kid: expect.any(String) });
    const c = claims(result);
    expect(c).toMatchObject({
      ver: 1,
      iss: idp.issuer('okta').issuer,
      aud: AUDIENCE,
      cid: 'client-a',
      uid: oktaUserId(USER),
      sub: USER,
      scp: ['mcp:tools', 'mcp:resources'],
      mcp_groups: ['eng', 'Platform Team'],
    });
    expect(c.uid).toMatch(/^00u[0-9A-Za-z]{17}$/);
    expect(typeof c.jti).toBe('string');
    expect(typeof c.iat).toBe('number');
    expect(c.exp).toBe((c.iat ?? 0) + 3600);
    for (const absent of ['scope', 'client_id', 'groups', 'azp']) expect(c[absent]).toBeUndefined();
  });

  it('app token: sub is the client id, no uid', async () => {
    const issuer = idp.issuer('okta');
    const token = await idp.mintAppToken(issuer.issuer, {
      clientId: 'svc-reporter',
      scopes: ['mcp:tools'],
    });
    const c = claims(await verify(token, issuer));
    expect(decodeProtectedHeader(token).typ).toBeUndefined();
    expect(c).toMatchObject({
      ver: 1,
      cid: 'svc-reporter',
      sub: 'svc-reporter',
      scp: ['mcp:tools'],
    });
    expect(c.uid).toBeUndefined();
    expect(c.client_id).toBeUndefined();
    expect(c.scope).toBeUndefined();
  });

  it('org authorization server: same claim shape, issuer without /oauth2/', async () => {
    const { result } = await userToken('okta-org');
    const c = claims(result);
    expect(c.iss).toBe(idp.issuer('okta-org').issuer);
    expect(c).toMatchObject({ ver: 1, uid: oktaUserId(USER), cid: 'client-a', sub: USER });
  });
});

describe('entra-v2', () => {
  const tid = DEFAULT_ENTRA_TENANT;

  it('user token: tid, oid, pairwise sub, azp/azpacr, scp string, roles, group GUIDs', async () => {
    const { token, result } = await userToken('entra-v2');
    expect(decodeProtectedHeader(token).typ).not.toBe('at+jwt');
    const c = claims(result);
    expect(c).toMatchObject({
      ver: '2.0',
      tid,
      oid: entraUserObjectId(tid, USER),
      azp: 'client-a',
      azpacr: '1',
      scp: 'mcp:tools mcp:resources',
      roles: ['Tools.Read'],
      groups: [entraGroupId(tid, 'eng'), entraGroupId(tid, 'Platform Team')],
      aud: AUDIENCE,
    });
    expect(c.oid).toMatch(GUID);
    for (const g of c.groups as string[]) expect(g).toMatch(GUID);
    expect(c.nbf).toBe(c.iat);
    expect(typeof c.exp).toBe('number');
    expect(c.sub).not.toBe(c.oid);
    for (const absent of ['scope', 'client_id', 'appid', 'idtyp', 'cid']) {
      expect(c[absent]).toBeUndefined();
    }
  });

  it('sub is pairwise: another client gets another sub for the same oid', async () => {
    const a = claims((await userToken('entra-v2', { clientId: 'client-a' })).result);
    const b = claims((await userToken('entra-v2', { clientId: 'client-b' })).result);
    expect(a.oid).toBe(b.oid);
    expect(a.sub).not.toBe(b.sub);
    expect(b.azp).toBe('client-b');
  });

  it('groups overage: no groups, a _claim_names/_claim_sources pointer instead', async () => {
    const c = claims((await userToken('entra-v2', { groupsOverage: true })).result);
    expect(c.groups).toBeUndefined();
    expect(c._claim_names).toEqual({ groups: 'src1' });
    const sources = c._claim_sources as { src1: { endpoint: string } };
    expect(sources.src1.endpoint).toContain(String(c.oid));
  });

  it('app token: idtyp app, roles, service principal oid = sub, no scp', async () => {
    const issuer = idp.issuer('entra-v2');
    const token = await idp.mintAppToken(issuer.issuer, {
      clientId: 'svc-indexer',
      roles: ['Tools.Call.All'],
    });
    const c = claims(await verify(token, issuer));
    expect(c).toMatchObject({
      ver: '2.0',
      tid,
      idtyp: 'app',
      azp: 'svc-indexer',
      roles: ['Tools.Call.All'],
      oid: entraServicePrincipalId(tid, 'svc-indexer'),
      sub: entraServicePrincipalId(tid, 'svc-indexer'),
    });
    expect(c.scp).toBeUndefined();
    expect(c.scope).toBeUndefined();
  });

  it('another tenant: its own issuer, tid and object ids', async () => {
    const other = '0b5c1d2e-3f4a-4b6c-8d7e-9f0a1b2c3d4e';
    const second = await startDevIdp({
      audience: AUDIENCE,
      issuers: [{ profile: 'entra-v2', tenant: other }],
    });
    try {
      const issuer = second.issuer('entra-v2');
      expect(issuer.issuer).toBe(`${second.baseUrl}/${other}/v2.0`);
      const token = await second.mintUserToken('entra-v2', { user: USER, groups: ['eng'] });
      const c = claims(await verify(token, issuer));
      expect(c.tid).toBe(other);
      expect(c.oid).toBe(entraUserObjectId(other, USER));
      expect(c.oid).not.toBe(entraUserObjectId(tid, USER));
      expect(c.scp).toBe('access_as_user');
    } finally {
      await second.stop();
    }
  });
});

describe('entra-v1', () => {
  it('user token: issuer with trailing slash, appid/appidacr, ver 1.0', async () => {
    const { result } = await userToken('entra-v1');
    const c = claims(result);
    expect(c.iss).toBe(idp.issuer('entra-v1').issuer);
    expect(c.iss?.endsWith('/')).toBe(true);
    expect(c).toMatchObject({
      ver: '1.0',
      appid: 'client-a',
      appidacr: '1',
      tid: DEFAULT_ENTRA_TENANT,
      oid: entraUserObjectId(DEFAULT_ENTRA_TENANT, USER),
      scp: 'mcp:tools mcp:resources',
    });
    expect(c.azp).toBeUndefined();
    expect(c.azpacr).toBeUndefined();
  });

  it('app token: appid and idtyp app', async () => {
    const issuer = idp.issuer('entra-v1');
    const token = await idp.mintAppToken(issuer.issuer, { clientId: 'svc-v1', roles: ['A'] });
    const c = claims(await verify(token, issuer));
    expect(c).toMatchObject({ ver: '1.0', appid: 'svc-v1', idtyp: 'app', roles: ['A'] });
    expect(c.scp).toBeUndefined();
  });
});

describe('oidc (RFC 9068)', () => {
  it('user token: typ at+jwt; iss, exp, aud, sub, client_id, iat, jti, scope string', async () => {
    const { token, result } = await userToken('oidc');
    expect(decodeProtectedHeader(token).typ).toBe('at+jwt');
    const c = claims(result);
    expect(c).toMatchObject({
      sub: USER,
      client_id: 'client-a',
      scope: 'mcp:tools mcp:resources',
      groups: ['eng', 'Platform Team'],
      roles: ['Tools.Read'],
    });
    for (const required of ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti']) {
      expect(c[required]).toBeDefined();
    }
    // jose enforces the media type too.
    const jwks = createRemoteJWKSet(new URL(idp.issuer('oidc').jwksUri));
    await expect(jwtVerify(token, jwks, { typ: 'at+jwt' })).resolves.toBeDefined();
  });

  it('app token: sub = client_id', async () => {
    const issuer = idp.issuer('oidc');
    const token = await idp.mintAppToken(issuer.issuer, { clientId: 'svc-x', scopes: ['a', 'b'] });
    const c = claims(await verify(token, issuer));
    expect(c).toMatchObject({ sub: 'svc-x', client_id: 'svc-x', scope: 'a b' });
  });
});

describe('token requests', () => {
  it('honours ttl, audience and extra claims (null removes a claim)', async () => {
    const issuer = idp.issuer('okta');
    const token = await idp.mintUserToken(issuer.issuer, {
      user: USER,
      ttlSeconds: 120,
      audience: 'api://other-resource',
      extraClaims: { uid: null, amr: ['pwd', 'mfa'] },
    });
    const c = decodeJwt(token);
    expect(c.exp).toBe((c.iat ?? 0) + 120);
    expect(c.aud).toBe('api://other-resource');
    expect(c.uid).toBeUndefined();
    expect(c.amr).toEqual(['pwd', 'mfa']);
    await expect(verify(token, issuer)).rejects.toThrow(/aud/);
  });

  it('client_credentials works from a real client library (openid-client)', async () => {
    const issuer = idp.issuer('entra-v2');
    const config = await discovery(
      new URL(issuer.issuer),
      'svc-openid-client',
      undefined,
      ClientSecretPost(idp.appClientSecret),
      { execute: [allowInsecureRequests] },
    );
    const response = await clientCredentialsGrant(config, { resource: AUDIENCE });
    expect(response.token_type.toLowerCase()).toBe('bearer');
    const c = claims(await verify(response.access_token, issuer));
    expect(c).toMatchObject({ idtyp: 'app', azp: 'svc-openid-client' });
  });

  it('the dev grant is refused to anyone but the minter client', async () => {
    const issuer = idp.issuer('oidc');
    const attempt = async (clientId: string, secret: string): Promise<Record<string, unknown>> => {
      const res = await fetch(issuer.tokenEndpoint, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'urn:mcpgate:dev:user-token',
          client_id: clientId,
          client_secret: secret,
          user: 'mallory',
        }),
      });
      expect(res.status).toBeGreaterThanOrEqual(400);
      return (await res.json()) as Record<string, unknown>;
    };
    expect((await attempt('mcpgate-dev-minter', 'wrong')).error).toBe('invalid_client');
    expect((await attempt('svc-x', 'wrong')).error).toBe('invalid_client');
    // An authenticated app client may only use client_credentials.
    const refused = await attempt('svc-x', idp.appClientSecret);
    expect(refused).toMatchObject({
      error: 'invalid_request',
      error_description: 'requested grant type is not allowed for this client',
    });
  });

  it('reports token endpoint errors', async () => {
    await expect(idp.mintUserToken('oidc', { user: USER, ttlSeconds: -5 })).rejects.toThrow(
      /invalid_request.*ttl/,
    );
  });
});

describe('key rotation and outages', () => {
  it('rotateKeys: new kid for new tokens, old tokens still verify; retireOldKeys drops them', async () => {
    const issuer = idp.issuer('entra-v2');
    const oldToken = await idp.mintUserToken(issuer.issuer, { user: USER });
    const oldKid = decodeProtectedHeader(oldToken).kid;

    await idp.rotateKeys();
    const newToken = await idp.mintUserToken(issuer.issuer, { user: USER });
    const newKid = decodeProtectedHeader(newToken).kid;
    expect(newKid).toBeDefined();
    expect(newKid).not.toBe(oldKid);
    const published = (await (await fetch(issuer.jwksUri)).json()) as { keys: { kid: string }[] };
    expect(published.keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
    await expect(verify(oldToken, issuer)).resolves.toBeDefined();
    await expect(verify(newToken, issuer)).resolves.toBeDefined();
    // Every issuer of the IdP rotated.
    const okta = await idp.mintUserToken('okta', { user: USER });
    expect(decodeProtectedHeader(okta).kid).toBe(newKid);

    await idp.retireOldKeys();
    const after = (await (await fetch(issuer.jwksUri)).json()) as { keys: { kid: string }[] };
    expect(after.keys.map((k) => k.kid)).toEqual([newKid]);
    await expect(verify(oldToken, issuer)).rejects.toThrow(/no applicable key/i);
    await expect(verify(newToken, issuer)).resolves.toBeDefined();
  });

  it('setAvailable(false) fails every request; setAvailable(true) restores it', async () => {
    const issuer = idp.issuer('okta');
    const token = await idp.mintUserToken(issuer.issuer, { user: USER });
    const jwks = createRemoteJWKSet(new URL(issuer.jwksUri));
    // Warm a keep-alive connection first: it must fail too.
    expect((await fetch(issuer.jwksUri)).status).toBe(200);

    idp.setAvailable(false);
    try {
      await expect(fetch(issuer.jwksUri)).rejects.toThrow();
      await expect(jwtVerify(token, jwks, { issuer: issuer.issuer })).rejects.toThrow();
      await expect(idp.mintUserToken(issuer.issuer, { user: USER })).rejects.toThrow();
    } finally {
      idp.setAvailable(true);
    }

    expect((await fetch(issuer.jwksUri)).status).toBe(200);
    const fresh = createRemoteJWKSet(new URL(issuer.jwksUri));
    await expect(jwtVerify(token, fresh, { issuer: issuer.issuer })).resolves.toBeDefined();
  });
});

describe('key file', () => {
  it('persists the private JWKS (0600), reuses it on restart and records rotations', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpgate-devidp-'));
    const keyFile = join(dir, 'keys', 'dev-idp.jwks.json');
    try {
      const first = await startDevIdp({
        audience: AUDIENCE,
        keyFile,
        issuers: [{ profile: 'oidc' }],
      });
      const kid = decodeProtectedHeader(await first.mintUserToken('oidc', { user: USER })).kid;
      await first.stop();
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);

      const second = await startDevIdp({
        audience: AUDIENCE,
        keyFile,
        issuers: [{ profile: 'oidc' }],
      });
      try {
        expect(decodeProtectedHeader(await second.mintUserToken('oidc', { user: USER })).kid).toBe(
          kid,
        );
        await second.rotateKeys();
        const saved = JSON.parse(readFileSync(keyFile, 'utf8')) as { keys: { kid: string }[] };
        expect(saved.keys).toHaveLength(2);
        expect(saved.keys[1]?.kid).toBe(kid);
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects duplicate issuers and malformed tenants', async () => {
    await expect(
      startDevIdp({ audience: AUDIENCE, issuers: [{ profile: 'okta' }, { profile: 'okta' }] }),
    ).rejects.toThrow(/two issuers/);
    await expect(
      startDevIdp({ audience: AUDIENCE, issuers: [{ profile: 'entra-v2', tenant: 'contoso' }] }),
    ).rejects.toThrow(/GUID/);
  });
});
