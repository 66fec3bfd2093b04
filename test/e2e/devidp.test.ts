// The dev OpenID Provider (dev/idp): real oidc-provider issuers on loopback whose token
// endpoints mint Okta-, Entra- (v2, v1) and RFC 9068-shaped access tokens. Each token is
// checked the way a relying party would: discovery with openid-client, then jose jwtVerify
// against the discovered JWKS with the exact issuer and audience. Also key rotation and
// retirement, outages, the key file and the dev grant's client restriction. Token exchange
// (RFC 8693, Okta and generic) and Entra on-behalf-of are driven with openid-client's
// genericGrantRequest, exactly as the gateway calls them, with every failure it must map.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyResult,
} from 'jose';
import {
  allowInsecureRequests,
  clientCredentialsGrant,
  ClientSecretPost,
  discovery,
  genericGrantRequest,
  PrivateKeyJwt,
  ResponseBodyError,
  type ClientAuth,
  type Configuration,
} from 'openid-client';
import {
  ACCESS_TOKEN_TYPE,
  DEFAULT_ENTRA_TENANT,
  DEFAULT_STEP_UP_CLAIMS,
  entraGroupId,
  entraPairwiseSub,
  GATEWAY_CLIENT_ID,
  JWT_BEARER_GRANT,
  TOKEN_EXCHANGE_GRANT,
  entraServicePrincipalId,
  entraUserObjectId,
  oktaUserId,
  startDevIdp,
  type DevIdp,
  type DevIdpIssuer,
  type DevIdpProfile,
  type UserTokenRequest,
} from '../../dev/idp/index.js';

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

// ---------------------------------------------------------------------------------------------
// Token exchange and on-behalf-of, through the real token endpoints, with openid-client.

const GITHUB = 'https://github.example/api';
const JIRA = 'api://jira-dev';
/** An App ID URI written with a trailing slash: its scopes are `api://wiki/<scope>`. */
const WIKI = 'api://wiki/';
const BOB = 'bob@example.com';
const CAROL = 'carol@example.com';
const GITHUB_SCOPES = ['repo:read', 'repo:comment', 'repo:merge'];

describe('token exchange and on-behalf-of', () => {
  let xidp: DevIdp;

  beforeAll(async () => {
    xidp = await startDevIdp({
      audience: AUDIENCE,
      issuers: [
        { profile: 'okta' },
        { profile: 'oidc' },
        { profile: 'entra-v2' },
        { profile: 'okta-org' },
      ],
      exchangeScopes: {
        [GITHUB]: GITHUB_SCOPES,
        [JIRA]: ['Issue.Read', 'Issue.Write'],
        [WIKI]: ['Page.Read'],
      },
      exchangeConsentMissing: [{ user: BOB, audience: GITHUB }],
      exchangeStepUp: [{ user: CAROL }],
    });
  });

  afterAll(async () => {
    await xidp?.stop();
  });

  /** The gateway's client configuration: discovery + client_secret_post, as in production. */
  async function gatewayConfig(
    profile: DevIdpProfile,
    auth: ClientAuth = ClientSecretPost(xidp.gatewayClientSecret),
    on: DevIdp = xidp,
  ): Promise<Configuration> {
    return discovery(new URL(on.issuer(profile).issuer), on.gatewayClientId, undefined, auth, {
      execute: [allowInsecureRequests],
    });
  }

  function exchange(
    config: Configuration,
    subjectToken: string,
    params: Record<string, string> = { audience: GITHUB, scope: 'repo:read' },
  ) {
    return genericGrantRequest(config, TOKEN_EXCHANGE_GRANT, {
      subject_token: subjectToken,
      subject_token_type: ACCESS_TOKEN_TYPE,
      ...params,
    });
  }

  function onBehalfOf(config: Configuration, assertion: string, scope: string) {
    return genericGrantRequest(config, JWT_BEARER_GRANT, {
      assertion,
      requested_token_use: 'on_behalf_of',
      scope,
    });
  }

  /** The OAuth error body the token endpoint answered with (openid-client's ResponseBodyError). */
  async function oauthError(attempt: Promise<unknown>): Promise<Record<string, unknown>> {
    try {
      await attempt;
    } catch (err) {
      expect(err).toBeInstanceOf(ResponseBodyError);
      const e = err as ResponseBodyError;
      expect(e.cause.error).toBe(e.error);
      return { status: e.status, ...e.cause };
    }
    throw new Error('the grant request succeeded');
  }

  /** Verifies a downstream token as the upstream API would: issuer, ITS audience, RS256. */
  async function verifyDownstream(token: string, profile: DevIdpProfile, audience = GITHUB) {
    const issuer = xidp.issuer(profile);
    const jwks = createRemoteJWKSet(new URL(issuer.jwksUri));
    const { payload } = await jwtVerify(token, jwks, {
      issuer: issuer.issuer,
      audience,
      algorithms: ['RS256'],
    });
    return payload;
  }

  function mint(profile: DevIdpProfile, user = USER, extra: Partial<UserTokenRequest> = {}) {
    return xidp.mintUserToken(profile, { user, scopes: ['mcp:tools'], ...extra });
  }

  describe('RFC 8693 token exchange (okta, oidc)', () => {
    it('okta: one audience, narrowed scopes, same user, the gateway as cid, no act, 300 s', async () => {
      const subjectToken = await mint('okta');
      const subject = decodeJwt(subjectToken);
      const res = await exchange(await gatewayConfig('okta'), subjectToken, {
        audience: GITHUB,
        scope: 'repo:read repo:comment',
      });
      expect(res.token_type.toLowerCase()).toBe('bearer');
      expect(res.issued_token_type).toBe(ACCESS_TOKEN_TYPE);
      expect(res.expires_in).toBe(300);
      expect(res.scope).toBe('repo:read repo:comment');
      expect(decodeProtectedHeader(res.access_token).typ).toBeUndefined();
      const c = await verifyDownstream(res.access_token, 'okta');
      expect(c).toMatchObject({
        ver: 1,
        aud: GITHUB,
        cid: GATEWAY_CLIENT_ID,
        uid: oktaUserId(USER),
        sub: USER,
        scp: ['repo:read', 'repo:comment'],
      });
      expect(c.exp).toBe((c.iat ?? 0) + 300);
      expect(c.jti).not.toBe(subject.jti);
      for (const absent of ['act', 'client_id', 'scope']) expect(c[absent]).toBeUndefined();
      // The downstream token is not a token for the gateway any more.
      await expect(verify(res.access_token, xidp.issuer('okta'))).rejects.toThrow(/aud/);
    });

    it('oidc: RFC 9068 token with act {sub: mcpgate-gateway}, nested prior actor', async () => {
      const config = await gatewayConfig('oidc');
      const res = await exchange(config, await mint('oidc'), {
        audience: JIRA,
        scope: 'Issue.Read',
      });
      expect(decodeProtectedHeader(res.access_token).typ).toBe('at+jwt');
      const c = await verifyDownstream(res.access_token, 'oidc', JIRA);
      expect(c).toMatchObject({
        sub: USER,
        aud: JIRA,
        client_id: GATEWAY_CLIENT_ID,
        scope: 'Issue.Read',
        act: { sub: GATEWAY_CLIENT_ID },
      });
      expect(c.exp).toBe((c.iat ?? 0) + 300);

      // A subject token that already names an actor: that actor becomes the prior one.
      const delegated = await mint('oidc', USER, { extraClaims: { act: { sub: 'agent-7' } } });
      const again = await exchange(config, delegated, { audience: GITHUB, scope: 'repo:read' });
      expect(decodeJwt(again.access_token).act).toEqual({
        sub: GATEWAY_CLIENT_ID,
        act: { sub: 'agent-7' },
      });
    });

    it('oidc: without scope every scope of the audience policy; okta requires scope', async () => {
      const res = await exchange(await gatewayConfig('oidc'), await mint('oidc'), {
        audience: GITHUB,
      });
      expect(decodeJwt(res.access_token).scope).toBe(GITHUB_SCOPES.join(' '));
      const e = await oauthError(
        exchange(await gatewayConfig('okta'), await mint('okta'), { audience: GITHUB }),
      );
      expect(e).toMatchObject({ status: 400, error: 'invalid_request' });
      expect(String(e.error_description)).toMatch(/scope/);
    });

    it('two users get two tokens, each about its own user', async () => {
      const config = await gatewayConfig('okta');
      const a = await exchange(config, await mint('okta', USER));
      const b = await exchange(config, await mint('okta', 'dave@example.com'));
      const ca = decodeJwt(a.access_token);
      const cb = decodeJwt(b.access_token);
      expect(ca.uid).toBe(oktaUserId(USER));
      expect(cb.uid).toBe(oktaUserId('dave@example.com'));
      expect(ca.jti).not.toBe(cb.jti);
    });

    it('invalid_scope: a requested scope outside the audience policy', async () => {
      for (const profile of ['okta', 'oidc'] as const) {
        const e = await oauthError(
          exchange(await gatewayConfig(profile), await mint(profile), {
            audience: GITHUB,
            scope: 'repo:read repo:admin',
          }),
        );
        expect(e).toMatchObject({ status: 400, error: 'invalid_scope', scope: 'repo:admin' });
      }
      // A scope of another audience is outside too.
      const e = await oauthError(
        exchange(await gatewayConfig('okta'), await mint('okta'), {
          audience: GITHUB,
          scope: 'Issue.Read',
        }),
      );
      expect(e.error).toBe('invalid_scope');
    });

    it('invalid_grant: expired, wrong audience, other issuer, forged, garbage or app-only', async () => {
      const config = await gatewayConfig('okta');
      const now = Math.floor(Date.now() / 1000);
      const cases: Record<string, Promise<string> | string> = {
        expired: mint('okta', USER, { extraClaims: { iat: now - 600, exp: now - 60 } }),
        'wrong audience': mint('okta', USER, { audience: 'https://elsewhere.example' }),
        'other issuer': mint('oidc'),
        'downstream token': xidp.exchangeToken('okta', {
          subjectToken: await mint('okta'),
          audience: GITHUB,
        }),
        app: xidp.mintAppToken('okta', { clientId: 'svc-batch', scopes: ['mcp:tools'] }),
        garbage: 'not-a-jwt',
      };
      const descriptions: Record<string, string> = {};
      for (const [name, token] of Object.entries(cases)) {
        const e = await oauthError(exchange(config, await token));
        expect({ name, error: e.error, status: e.status }).toEqual({
          name,
          error: 'invalid_grant',
          status: 400,
        });
        descriptions[name] = String(e.error_description);
      }
      expect(descriptions.expired).toMatch(/expired/);
      expect(descriptions['wrong audience']).toMatch(/audience/);
      expect(descriptions['other issuer']).toMatch(/issuer/);
      expect(descriptions['downstream token']).toMatch(/audience/);
      expect(descriptions.app).toMatch(/app-only/);

      // Forged: a valid token's payload re-signed by nobody (signature of another token).
      const [h, p] = (await mint('okta')).split('.');
      const [, , sig] = (await mint('okta', 'mallory@example.com')).split('.');
      const forged = await oauthError(exchange(config, `${h}.${p}.${sig}`));
      expect(forged.error).toBe('invalid_grant');
      expect(String(forged.error_description)).toMatch(/signature/);
    });

    it('invalid_target for an audience outside the policy; token types are checked', async () => {
      const config = await gatewayConfig('oidc');
      const token = await mint('oidc');
      expect(
        await oauthError(exchange(config, token, { audience: 'https://unknown.example/api' })),
      ).toMatchObject({ status: 400, error: 'invalid_target' });
      expect(
        await oauthError(
          exchange(config, token, {
            audience: GITHUB,
            subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
          }),
        ),
      ).toMatchObject({ error: 'invalid_request' });
      expect(
        await oauthError(
          exchange(config, token, {
            audience: GITHUB,
            requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token',
          }),
        ),
      ).toMatchObject({ error: 'invalid_request' });
    });

    it('consent_required: invalid_grant with suberror until consent is granted', async () => {
      const config = await gatewayConfig('okta');
      const token = await mint('okta', BOB);
      const e = await oauthError(exchange(config, token));
      expect(e).toMatchObject({
        status: 400,
        error: 'invalid_grant',
        suberror: 'consent_required',
      });
      // Consent is per audience: another one works.
      await expect(
        exchange(config, token, { audience: JIRA, scope: 'Issue.Read' }),
      ).resolves.toBeDefined();
      xidp.setConsent(BOB, GITHUB, true);
      try {
        await expect(exchange(config, token)).resolves.toBeDefined();
      } finally {
        xidp.setConsent(BOB, GITHUB, false);
      }
      expect((await oauthError(exchange(config, token))).suberror).toBe('consent_required');
    });

    it('interaction_required with a claims challenge until the subject token shows MFA', async () => {
      const config = await gatewayConfig('oidc');
      const e = await oauthError(exchange(config, await mint('oidc', CAROL)));
      expect(e).toMatchObject({
        status: 400,
        error: 'interaction_required',
        claims: DEFAULT_STEP_UP_CLAIMS,
      });
      expect(JSON.parse(String(e.claims))).toEqual({ access_token: { acr: { essential: true } } });
      const stepped = await mint('oidc', CAROL, { extraClaims: { amr: ['pwd', 'mfa'] } });
      await expect(exchange(config, stepped)).resolves.toBeDefined();
      // Switched at run time, for any user.
      xidp.setStepUp(USER, true, GITHUB);
      try {
        expect((await oauthError(exchange(config, await mint('oidc')))).error).toBe(
          'interaction_required',
        );
      } finally {
        xidp.setStepUp(USER, false, GITHUB);
      }
      await expect(exchange(config, await mint('oidc'))).resolves.toBeDefined();
    });

    it('only the authenticated gateway client may exchange; org servers offer no exchange', async () => {
      const token = await mint('okta');
      const wrongSecret = await oauthError(
        exchange(await gatewayConfig('okta', ClientSecretPost('wrong')), token),
      );
      expect(wrongSecret).toMatchObject({ status: 401, error: 'invalid_client' });
      const appClient = await discovery(
        new URL(xidp.issuer('okta').issuer),
        'svc-other',
        undefined,
        ClientSecretPost(xidp.appClientSecret),
        { execute: [allowInsecureRequests] },
      );
      expect((await oauthError(exchange(appClient, token))).error).toBe('invalid_request');
      const org = await oauthError(exchange(await gatewayConfig('okta-org'), token));
      expect(org.error).toBe('unsupported_grant_type');
      // The discovery document advertises the grant where it exists.
      const meta = (await gatewayConfig('okta')).serverMetadata();
      expect(meta.grant_types_supported).toContain(TOKEN_EXCHANGE_GRANT);
    });

    it('outage: the token endpoint is unreachable, then recovers', async () => {
      const config = await gatewayConfig('okta');
      const token = await mint('okta');
      xidp.setAvailable(false);
      try {
        const attempt = exchange(config, token);
        await expect(attempt).rejects.toThrow();
        await expect(attempt).rejects.not.toBeInstanceOf(ResponseBodyError);
      } finally {
        xidp.setAvailable(true);
      }
      await expect(exchange(config, token)).resolves.toBeDefined();
    });
  });

  describe('Entra on-behalf-of (entra-v2)', () => {
    const tid = DEFAULT_ENTRA_TENANT;

    it('<audience>/.default: every allowed scope; same tid/oid; azp the gateway', async () => {
      const assertion = await mint('entra-v2');
      const user = decodeJwt(assertion);
      const res = await onBehalfOf(
        await gatewayConfig('entra-v2'),
        assertion,
        `${GITHUB}/.default`,
      );
      expect(res.token_type.toLowerCase()).toBe('bearer');
      expect(res.expires_in).toBe(300);
      expect(res.ext_expires_in).toBe(300);
      expect(res.scope).toBe(GITHUB_SCOPES.map((s) => `${GITHUB}/${s}`).join(' '));
      const c = await verifyDownstream(res.access_token, 'entra-v2');
      expect(c).toMatchObject({
        ver: '2.0',
        aud: GITHUB,
        tid,
        oid: user.oid,
        azp: GATEWAY_CLIENT_ID,
        azpacr: '1',
        scp: GITHUB_SCOPES.join(' '),
        preferred_username: USER,
        sub: entraPairwiseSub(tid, GATEWAY_CLIENT_ID, String(user.oid)),
      });
      expect(c.oid).toBe(entraUserObjectId(tid, USER));
      expect(c.exp).toBe((c.iat ?? 0) + 300);
      for (const absent of ['idtyp', 'act', 'cid', 'groups', 'roles']) {
        expect(c[absent]).toBeUndefined();
      }
    });

    it('<audience>/<scope>: exactly those scopes; api:// audiences; OIDC scopes ignored', async () => {
      const config = await gatewayConfig('entra-v2');
      const assertion = await mint('entra-v2');
      const one = await onBehalfOf(config, assertion, `${GITHUB}/repo:read`);
      expect(decodeJwt(one.access_token).scp).toBe('repo:read');
      const jira = await onBehalfOf(config, assertion, `openid ${JIRA}/Issue.Read offline_access`);
      expect(decodeJwt(jira.access_token)).toMatchObject({ aud: JIRA, scp: 'Issue.Read' });
      const wiki = await onBehalfOf(config, assertion, 'api://wiki/.default');
      expect(wiki.scope).toBe('api://wiki/Page.Read');
      expect(decodeJwt(wiki.access_token)).toMatchObject({ aud: WIKI, scp: 'Page.Read' });
      // The helper takes the same path.
      const viaHelper = await xidp.exchangeToken('entra-v2', {
        subjectToken: assertion,
        audience: GITHUB,
        scopes: ['repo:comment'],
      });
      expect(decodeJwt(viaHelper)).toMatchObject({ aud: GITHUB, scp: 'repo:comment' });
    });

    it('refuses app-only assertions and invalid ones with invalid_grant', async () => {
      const config = await gatewayConfig('entra-v2');
      const app = await xidp.mintAppToken('entra-v2', { clientId: 'svc-x', roles: ['A.All'] });
      const e = await oauthError(onBehalfOf(config, app, `${GITHUB}/.default`));
      expect(e).toMatchObject({ status: 400, error: 'invalid_grant' });
      expect(String(e.error_description)).toMatch(/app-only/);
      const wrongAud = await mint('entra-v2', USER, { audience: GITHUB });
      expect((await oauthError(onBehalfOf(config, wrongAud, `${GITHUB}/.default`))).error).toBe(
        'invalid_grant',
      );
    });

    it('Entra errors: consent_required, interaction_required + claims, scope and resource', async () => {
      const config = await gatewayConfig('entra-v2');
      const consent = await oauthError(
        onBehalfOf(config, await mint('entra-v2', BOB), `${GITHUB}/.default`),
      );
      expect(consent).toMatchObject({
        status: 400,
        error: 'invalid_grant',
        suberror: 'consent_required',
        error_codes: [65001],
      });
      expect(String(consent.error_description)).toMatch(/^AADSTS65001/);

      const mfa = await oauthError(
        onBehalfOf(config, await mint('entra-v2', CAROL), `${GITHUB}/repo:read`),
      );
      expect(mfa).toMatchObject({
        status: 400,
        error: 'interaction_required',
        claims: '{"access_token":{"acr":{"essential":true}}}',
        error_codes: [50076],
      });
      const stepped = await mint('entra-v2', CAROL, { extraClaims: { amr: ['pwd', 'mfa'] } });
      await expect(onBehalfOf(config, stepped, `${GITHUB}/repo:read`)).resolves.toBeDefined();

      const assertion = await mint('entra-v2');
      const scope = await oauthError(onBehalfOf(config, assertion, `${GITHUB}/repo:admin`));
      expect(scope).toMatchObject({ status: 400, error: 'invalid_scope' });
      const mixed = await oauthError(
        onBehalfOf(config, assertion, `${GITHUB}/repo:read ${JIRA}/Issue.Read`),
      );
      expect(mixed.error).toBe('invalid_scope');
      const resource = await oauthError(
        onBehalfOf(config, assertion, 'https://unknown.example/api/.default'),
      );
      expect(resource).toMatchObject({ status: 400, error: 'invalid_resource' });
      const use = await oauthError(
        genericGrantRequest(config, JWT_BEARER_GRANT, {
          assertion,
          scope: `${GITHUB}/.default`,
          requested_token_use: 'something_else',
        }),
      );
      expect(use.error).toBe('invalid_request');
    });

    it('token exchange is not offered by Entra issuers, nor on-behalf-of by others', async () => {
      const entra = await gatewayConfig('entra-v2');
      expect((await oauthError(exchange(entra, await mint('entra-v2')))).error).toBe(
        'unsupported_grant_type',
      );
      const okta = await gatewayConfig('okta');
      expect(
        (await oauthError(onBehalfOf(okta, await mint('okta'), `${GITHUB}/.default`))).error,
      ).toBe('unsupported_grant_type');
    });
  });

  describe('private_key_jwt gateway client', () => {
    it('authenticates with a signed client assertion (azpacr 2); its secret is refused', async () => {
      const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
      const jwk = { ...(await exportJWK(publicKey)), kid: 'gw-1', alg: 'ES256', use: 'sig' };
      const pk = await startDevIdp({
        audience: AUDIENCE,
        issuers: [{ profile: 'entra-v2' }, { profile: 'okta' }],
        exchangeScopes: { [GITHUB]: GITHUB_SCOPES },
        exchangeTtlSeconds: 60,
        gatewayClientJwks: { keys: [jwk] },
      });
      try {
        expect(pk.gatewayClientAuthMethod).toBe('private_key_jwt');
        const keyAuth = PrivateKeyJwt({ key: privateKey, kid: 'gw-1' });
        const assertion = await pk.mintUserToken('entra-v2', { user: USER });
        const config = await gatewayConfig('entra-v2', keyAuth, pk);
        const res = await onBehalfOf(config, assertion, `${GITHUB}/repo:read`);
        expect(res.expires_in).toBe(60);
        const c = decodeJwt(res.access_token);
        expect(c).toMatchObject({ azp: GATEWAY_CLIENT_ID, azpacr: '2', scp: 'repo:read' });
        expect(c.exp).toBe((c.iat ?? 0) + 60);
        // RFC 8693 on Okta with the same key.
        const okta = await exchange(
          await gatewayConfig('okta', keyAuth, pk),
          await pk.mintUserToken('okta', { user: USER }),
        );
        expect(decodeJwt(okta.access_token).cid).toBe(GATEWAY_CLIENT_ID);
        // The secret no longer authenticates, and another key is refused.
        const secret = await oauthError(
          onBehalfOf(
            await gatewayConfig('entra-v2', ClientSecretPost(pk.gatewayClientSecret), pk),
            assertion,
            `${GITHUB}/repo:read`,
          ),
        );
        expect(secret).toMatchObject({ status: 401, error: 'invalid_client' });
        const other = await generateKeyPair('ES256');
        const forged = await oauthError(
          onBehalfOf(
            await gatewayConfig(
              'entra-v2',
              PrivateKeyJwt({ key: other.privateKey, kid: 'gw-1' }),
              pk,
            ),
            assertion,
            `${GITHUB}/repo:read`,
          ),
        );
        expect(forged.error).toBe('invalid_client');
        await expect(
          pk.exchangeToken('entra-v2', { subjectToken: assertion, audience: GITHUB }),
        ).rejects.toThrow(/private_key_jwt/);
      } finally {
        await pk.stop();
      }
    });

    it('rejects bad exchange options', async () => {
      await expect(
        startDevIdp({ audience: AUDIENCE, issuers: [{ profile: 'oidc' }], exchangeTtlSeconds: 0 }),
      ).rejects.toThrow(/exchangeTtlSeconds/);
      await expect(
        startDevIdp({
          audience: AUDIENCE,
          issuers: [{ profile: 'oidc' }],
          exchangeScopes: { [GITHUB]: ['two words'] },
        }),
      ).rejects.toThrow(/exchangeScopes/);
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      await expect(
        startDevIdp({
          audience: AUDIENCE,
          issuers: [{ profile: 'oidc' }],
          gatewayClientJwks: { keys: [await exportJWK(privateKey)] },
        }),
      ).rejects.toThrow(/public/);
    });
  });
});
