// TokenVerifier end to end: real RS256 tokens signed with keys whose JWKS is served on
// loopback, issuer entries resolved by parseConfig, every refusal an AuthError with a
// message the client can act on. Covers the oidc, okta and entra profiles, the classic
// JWT attacks (alg none, HS256 confusion, jku/x5u/jwk, foreign kid), Entra groups overage
// through a local membership endpoint, and readiness reporting.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { exportJWK, exportSPKI, importJWK, type JWTHeaderParameters, type JWTPayload } from 'jose';
import { parseConfig } from '../../src/config/load.js';
import { AuthError, TokenVerifier } from '../../src/identity/verifier.js';
import { silentLogger } from '../../src/util/logger.js';
import {
  hs256Token,
  jwks,
  newSigningKey,
  signToken as mint,
  unsignedToken,
  type SigningKey,
} from '../support/issuer.js';
import {
  json,
  startLoopbackServer,
  type LoopbackServer,
  type Route,
} from '../support/loopback-server.js';

const now = (): number => Math.floor(Date.now() / 1000);

/** The claims with one left out (as the IdP would omit it). */
function without(claims: JWTPayload, name: string): JWTPayload {
  const copy = { ...claims };
  delete copy[name];
  return copy;
}

// ---------------------------------------------------------------------------------------
// Issuers.

const RESOURCE = 'https://gw.example.com/mcp';
const OIDC_ISS = 'https://idp.example.com';
const OTHER_ISS = 'https://other-idp.example.com';
const OKTA_ISS = 'https://dev-123.okta.com/oauth2/default';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const TENANT_B = 'a1b2c3d4-0000-4000-8000-0123456789ab';
const FOREIGN_TENANT = '00000000-1111-2222-3333-444444444444';
const ENTRA_API = '6e74172b-be56-4843-9ff4-e66a39bb12e3';
const OID = '9f8e7d6c-5b4a-3210-fedc-ba9876543210';
const V2 = (tid: string): string => `https://login.microsoftonline.com/${tid}/v2.0`;
const V1 = (tid: string): string => `https://sts.windows.net/${tid}/`;
const DIRECTORY_TOKEN_ENV = 'MCPGATE_VERIFIER_TEST_DIRECTORY_TOKEN';

let idp: LoopbackServer;
let attacker: LoopbackServer;
let oidcKey: SigningKey;
let otherKey: SigningKey;
let oktaKey: SigningKey;
let entraKey: SigningKey;
let attackerKey: SigningKey;

function defaultRoutes(): void {
  idp.routes.clear();
  idp.routes.set('/oidc/keys', json(jwks(oidcKey)));
  idp.routes.set('/other/keys', json(jwks(otherKey)));
  idp.routes.set('/okta/keys', json(jwks(oktaKey)));
  idp.routes.set('/entra/keys', json(jwks(entraKey)));
}

beforeAll(async () => {
  [oidcKey, otherKey, oktaKey, entraKey, attackerKey] = await Promise.all([
    newSigningKey('oidc-1'),
    newSigningKey('other-1'),
    newSigningKey('okta-1'),
    newSigningKey('entra-1'),
    newSigningKey('attacker-1'),
  ]);
  [idp, attacker] = await Promise.all([startLoopbackServer(), startLoopbackServer()]);
  attacker.routes.set('/jwks', json(jwks(attackerKey)));
  attacker.routes.set('/cert.pem', () => ({ status: 200, body: 'not a certificate' }));
  process.env[DIRECTORY_TOKEN_ENV] = 'Bearer directory-token';
});

beforeEach(() => {
  defaultRoutes();
  idp.requests.length = 0;
  attacker.requests.length = 0;
});

afterAll(async () => {
  delete process.env[DIRECTORY_TOKEN_ENV];
  await Promise.all([idp.close(), attacker.close()]);
});

/** Issuer entries as written in the config file; keys from the local server, no cooldown. */
function oidcEntry(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    profile: 'oidc',
    issuer: OIDC_ISS,
    jwks_uri: `${idp.base}/oidc/keys`,
    allow_insecure_http: true,
    jwks_cooldown_s: 0,
    ...extra,
  };
}

function otherEntry(): Record<string, unknown> {
  return oidcEntry({ issuer: OTHER_ISS, jwks_uri: `${idp.base}/other/keys` });
}

function oktaEntry(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    profile: 'okta',
    issuer: OKTA_ISS,
    jwks_uri: `${idp.base}/okta/keys`,
    allow_insecure_http: true,
    jwks_cooldown_s: 0,
    ...extra,
  };
}

function entraEntry(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    profile: 'entra',
    tenants: [TENANT],
    versions: ['v1', 'v2'],
    audiences: [ENTRA_API, `api://${ENTRA_API}`],
    jwks_uri: `${idp.base}/entra/keys`,
    allow_insecure_http: true,
    jwks_cooldown_s: 0,
    ...extra,
  };
}

/** A verifier built from issuer entries exactly as the gateway builds it from its config. */
function verifierFor(...issuers: Array<Record<string, unknown>>): TokenVerifier {
  const config = parseConfig(
    {
      auth: { issuers },
      policy: { bundle: 'policy/bundle.tar.gz' },
      upstreams: { fs: { transport: 'stdio', command: 'node' } },
    },
    '/srv/mcpgate/conf',
  );
  return new TokenVerifier(
    config.auth.issuers,
    RESOURCE,
    config.auth.clockToleranceS,
    silentLogger,
    config.auth.maxTokenLifetimeS,
  );
}

/** The verifier of a gateway trusting one issuer of each profile. */
function gateway(): TokenVerifier {
  return verifierFor(oidcEntry(), oktaEntry(), entraEntry());
}

function oidcClaims(extra: JWTPayload = {}): JWTPayload {
  return {
    iss: OIDC_ISS,
    aud: RESOURCE,
    sub: 'user-248289761001',
    client_id: 'coding-agent',
    scope: 'mcp.call files:read',
    groups: ['eng'],
    jti: 'jti-oidc',
    email: 'alice@example.com',
    ...extra,
  };
}

const AT_JWT = { typ: 'at+jwt' } as const;

function oktaClaims(extra: JWTPayload = {}): JWTPayload {
  return {
    ver: 1,
    jti: 'AT.okta',
    iss: OKTA_ISS,
    aud: RESOURCE,
    cid: '0oa1agent',
    uid: '00u1alice',
    sub: 'alice@example.com',
    scp: ['mcp.call', 'files:read'],
    groups: ['Everyone', 'Engineering'],
    ...extra,
  };
}

function entraClaims(extra: JWTPayload = {}): JWTPayload {
  return {
    ver: '2.0',
    iss: V2(TENANT),
    aud: ENTRA_API,
    tid: TENANT,
    oid: OID,
    sub: 'pairwise-subject',
    azp: 'agent-app-guid',
    azpacr: '1',
    scp: 'mcp.call Files.Read',
    roles: ['Reader'],
    groups: ['a0a0a0a0-0000-0000-0000-000000000001'],
    preferred_username: 'alice@contoso.com',
    upn: 'alice@contoso.com',
    email: 'alice@contoso.com',
    ...extra,
  };
}

/** Entra claims for a user in too many groups: the list is replaced by a pointer. */
function overageClaims(extra: JWTPayload = {}): JWTPayload {
  return {
    ...without(entraClaims(), 'groups'),
    _claim_names: { groups: 'src1' },
    _claim_sources: {
      src1: { endpoint: `https://graph.windows.net/${TENANT}/users/${OID}/getMemberObjects` },
    },
    ...extra,
  };
}

/** The AuthError a token is refused with (any other outcome fails the test). */
async function refusal(verifier: TokenVerifier, token: string): Promise<AuthError> {
  try {
    await verifier.verify(token);
  } catch (err) {
    if (err instanceof AuthError) return err;
    throw err;
  }
  throw new Error('expected the token to be refused, but it was accepted');
}

async function refusedWith(verifier: TokenVerifier, token: string, reason: RegExp): Promise<void> {
  const err = await refusal(verifier, token);
  expect(err.message).toMatch(reason);
  expect(err.error).toBe('invalid_token');
  // The message is safe to return: it never echoes the token.
  if (token.length >= 20) expect(err.message).not.toContain(token.slice(0, 40));
}

// ---------------------------------------------------------------------------------------

describe('TokenVerifier: well-formed tokens', () => {
  it('accepts an oidc (RFC 9068) access token and normalizes it', async () => {
    const claims = oidcClaims();
    const identity = await gateway().verify(await mint(oidcKey, claims, AT_JWT));
    expect(identity).toMatchObject({
      issuer: OIDC_ISS,
      subject: 'user-248289761001',
      user_id: 'user-248289761001',
      client_id: 'coding-agent',
      scopes: ['mcp.call', 'files:read'],
      groups: ['eng'],
      groups_overage: false,
      token_type: 'user',
    });
    expect(identity.claims).toMatchObject(claims);
  });

  it('accepts an Okta token, keyed on uid (not the login in sub)', async () => {
    const identity = await gateway().verify(await mint(oktaKey, oktaClaims()));
    expect(identity).toMatchObject({
      issuer: OKTA_ISS,
      subject: '00u1alice',
      user_id: '00u1alice',
      client_id: '0oa1agent',
      scopes: ['mcp.call', 'files:read'],
      groups: ['Everyone', 'Engineering'],
      token_type: 'user',
    });
  });

  it('accepts an Okta token whose iss has a trailing slash', async () => {
    const identity = await gateway().verify(
      await mint(oktaKey, oktaClaims({ iss: `${OKTA_ISS}/` })),
    );
    expect(identity.subject).toBe('00u1alice');
  });

  it('accepts an Entra v2 token, keyed on tid/oid', async () => {
    const identity = await gateway().verify(await mint(entraKey, entraClaims()));
    expect(identity).toMatchObject({
      issuer: V2(TENANT),
      tenant: TENANT,
      subject: `${TENANT}/${OID}`,
      user_id: OID,
      client_id: 'agent-app-guid',
      scopes: ['mcp.call', 'Files.Read'],
      roles: ['Reader'],
      groups: ['a0a0a0a0-0000-0000-0000-000000000001'],
      groups_overage: false,
      token_type: 'user',
    });
  });

  it('accepts an Entra v1 token (sts.windows.net, App ID URI audience, appid)', async () => {
    const claims = without(entraClaims(), 'azp');
    const identity = await gateway().verify(
      await mint(entraKey, {
        ...claims,
        ver: '1.0',
        iss: V1(TENANT),
        aud: `api://${ENTRA_API}`,
        appid: 'v1-agent-app',
      }),
    );
    expect(identity).toMatchObject({
      issuer: V1(TENANT),
      subject: `${TENANT}/${OID}`,
      client_id: 'v1-agent-app',
    });
  });

  it('accepts an audience list that contains the gateway', async () => {
    const identity = await gateway().verify(
      await mint(oidcKey, oidcClaims({ aud: ['https://other.example.com', RESOURCE] }), AT_JWT),
    );
    expect(identity.subject).toBe('user-248289761001');
  });

  it('accepts configured audiences instead of the resource URI', async () => {
    const verifier = verifierFor(oidcEntry({ audiences: ['api://mcpgate'] }));
    await verifier.verify(await mint(oidcKey, oidcClaims({ aud: 'api://mcpgate' }), AT_JWT));
    await refusedWith(
      verifier,
      await mint(oidcKey, oidcClaims({ aud: RESOURCE }), AT_JWT),
      /audience/,
    );
  });

  it('tolerates clock skew within clock_tolerance_s', async () => {
    const identity = await gateway().verify(
      await mint(oidcKey, oidcClaims({ iat: now() - 600, exp: now() - 5 }), AT_JWT),
    );
    expect(identity.token_type).toBe('user');
    await gateway().verify(await mint(oidcKey, oidcClaims({ iat: now() + 5 }), AT_JWT));
  });

  it('accepts application/at+jwt as the at+jwt type', async () => {
    await gateway().verify(await mint(oidcKey, oidcClaims(), { typ: 'application/at+jwt' }));
  });

  it('accepts a token without typ when require_at_jwt is false', async () => {
    const verifier = verifierFor(oidcEntry({ require_at_jwt: false }));
    await verifier.verify(await mint(oidcKey, oidcClaims()));
  });
});

describe('TokenVerifier: refusals', () => {
  it('refuses a token for another audience', async () => {
    const verifier = gateway();
    await refusedWith(
      verifier,
      await mint(oidcKey, oidcClaims({ aud: 'https://other-api.example.com' }), AT_JWT),
      /audience is not this gateway/,
    );
    await refusedWith(
      verifier,
      await mint(entraKey, entraClaims({ aud: '00000003-0000-0000-c000-000000000000' })),
      /audience/,
    );
    await refusedWith(verifier, await mint(oktaKey, oktaClaims({ aud: 'api://default' })), /aud/);
  });

  it('refuses a token without an audience', async () => {
    await refusedWith(
      gateway(),
      await mint(oidcKey, without(oidcClaims(), 'aud'), AT_JWT),
      /audience/,
    );
  });

  it('refuses an expired token', async () => {
    await refusedWith(
      gateway(),
      await mint(oidcKey, oidcClaims({ iat: now() - 7200, exp: now() - 3600 }), AT_JWT),
      /expired/,
    );
  });

  it('refuses a token that is not valid yet (nbf in the future)', async () => {
    await refusedWith(
      gateway(),
      await mint(oidcKey, oidcClaims({ nbf: now() + 3600 }), AT_JWT),
      /not valid yet/,
    );
  });

  it('refuses a token issued far in the future', async () => {
    await refusedWith(
      gateway(),
      await mint(oidcKey, oidcClaims({ iat: now() + 3600, exp: now() + 7200 }), AT_JWT),
      /issued in the future/,
    );
  });

  it('refuses a token whose lifetime (exp - iat) is over auth.max_token_lifetime_s', async () => {
    const verifier = gateway();
    const tenYears = 10 * 365 * 86_400;
    await refusedWith(
      verifier,
      await mint(oidcKey, oidcClaims({ iat: now(), exp: now() + tenYears }), AT_JWT),
      /^token lifetime \(exp - iat\) of 315360000 s is over this gateway's limit of 86400 s; get a shorter-lived token from your IdP$/,
    );
    const day = await mint(oidcKey, oidcClaims({ iat: now(), exp: now() + 86_400 }), AT_JWT);
    await expect(verifier.verify(day)).resolves.toMatchObject({ subject: 'user-248289761001' });
  });

  it('refuses a token without exp or iat', async () => {
    const verifier = gateway();
    const noExp = await mint(oidcKey, oidcClaims({ exp: undefined }), AT_JWT);
    await refusedWith(verifier, noExp, /"exp"/);
    const noIat = await mint(oidcKey, oidcClaims({ iat: undefined }), AT_JWT);
    await refusedWith(verifier, noIat, /"iat"/);
  });

  it('refuses an unsigned token (alg none)', async () => {
    const claims = { ...oidcClaims(), iat: now(), exp: now() + 600 };
    const header = { alg: 'none', typ: 'at+jwt', kid: oidcKey.kid };
    await refusedWith(gateway(), unsignedToken(claims, header), /algorithm/);
    await refusedWith(gateway(), unsignedToken(claims, { ...header, alg: 'None' }), /algorithm/);
  });

  it('refuses HS256 "signed" with the issuer public key as the secret (algorithm confusion)', async () => {
    const pem = new TextEncoder().encode(await exportSPKI(oidcKey.publicKey));
    const jwkBytes = new TextEncoder().encode(JSON.stringify(oidcKey.jwk));
    for (const secret of [pem, jwkBytes]) {
      const token = await hs256Token(secret, oidcClaims(), { ...AT_JWT, kid: oidcKey.kid });
      await refusedWith(gateway(), token, /signing algorithm is not allowed/);
    }
  });

  it('refuses an algorithm the issuer is not pinned to, even with its own key', async () => {
    // The issuer's own RSA key material, used for PS256 instead of the pinned RS256.
    const pss = await importJWK(
      { ...(await exportJWK(oidcKey.privateKey)), alg: 'PS256' },
      'PS256',
    );
    const token = await mint({ kid: oidcKey.kid, privateKey: pss as CryptoKey }, oidcClaims(), {
      ...AT_JWT,
      alg: 'PS256',
    });
    await refusedWith(gateway(), token, /signing algorithm is not allowed/);
  });

  it('refuses a token signed with another trusted issuer key', async () => {
    const verifier = verifierFor(oidcEntry(), otherEntry());
    // Issuer B's key (and kid) with iss = A: A's key set has no such key.
    await refusedWith(
      verifier,
      await mint(otherKey, oidcClaims(), AT_JWT),
      /signing key is unknown to the issuer/,
    );
    // Issuer B's key under A's kid: the signature does not verify with A's key.
    await refusedWith(
      verifier,
      await mint(otherKey, oidcClaims(), { ...AT_JWT, kid: oidcKey.kid }),
      /signature is invalid/,
    );
    // Both issuers' own tokens verify.
    await verifier.verify(await mint(oidcKey, oidcClaims(), AT_JWT));
    await verifier.verify(await mint(otherKey, oidcClaims({ iss: OTHER_ISS }), AT_JWT));
  });

  it('refuses a token from an issuer that is not configured', async () => {
    const verifier = gateway();
    await refusedWith(
      verifier,
      await mint(oidcKey, oidcClaims({ iss: 'https://evil.example.com' }), AT_JWT),
      /issuer is not trusted/,
    );
    await refusedWith(
      verifier,
      await mint(oidcKey, oidcClaims({ iss: `${OIDC_ISS}/` }), AT_JWT),
      /issuer is not trusted/,
    );
    await refusedWith(
      verifier,
      await mint(oidcKey, without(oidcClaims(), 'iss'), AT_JWT),
      /issuer/,
    );
  });

  it("refuses an Okta org-server token (its access tokens are for Okta's own APIs)", async () => {
    await refusedWith(
      gateway(),
      await mint(oktaKey, oktaClaims({ iss: 'https://dev-123.okta.com' })),
      /issuer is not trusted/,
    );
  });

  it('refuses an Entra token from a tenant not on the allow-list, before fetching keys', async () => {
    const verifier = gateway();
    const err = await refusal(
      verifier,
      await mint(entraKey, entraClaims({ iss: V2(FOREIGN_TENANT), tid: FOREIGN_TENANT })),
    );
    expect(err.message).toContain(FOREIGN_TENANT);
    expect(err.message).toMatch(/tenant .* not allowed/);
    expect(idp.requests).toHaveLength(0);
  });

  it('refuses an Entra token whose iss does not match its own tid', async () => {
    await refusedWith(
      gateway(),
      await mint(entraKey, entraClaims({ iss: V2(TENANT), tid: FOREIGN_TENANT })),
      /issuer is not trusted/,
    );
  });

  it('refuses an Entra token version that is not accepted', async () => {
    const verifier = verifierFor(entraEntry({ versions: ['v2'] }));
    await refusedWith(
      verifier,
      await mint(entraKey, entraClaims({ iss: V1(TENANT), aud: `api://${ENTRA_API}` })),
      /issuer is not trusted/,
    );
  });

  it('refuses app-only tokens unless allow_app_tokens is set', async () => {
    const tokens = {
      oidc: await mint(
        oidcKey,
        oidcClaims({ sub: 'batch-job', client_id: 'batch-job', scope: 'reports.read' }),
        AT_JWT,
      ),
      okta: await mint(oktaKey, without(oktaClaims({ sub: '0oa1agent' }), 'uid')),
      entraIdtyp: await mint(entraKey, entraClaims({ idtyp: 'app', oid: 'sp-oid' })),
      entraNoScp: await mint(entraKey, without(entraClaims({ oid: 'sp-oid' }), 'scp')),
    };
    const strict = gateway();
    for (const token of Object.values(tokens)) {
      await refusedWith(strict, token, /app-only tokens are not accepted/);
    }
    const lenient = verifierFor(
      oidcEntry({ allow_app_tokens: true }),
      oktaEntry({ allow_app_tokens: true }),
      entraEntry({ allow_app_tokens: true }),
    );
    expect(await lenient.verify(tokens.oidc)).toMatchObject({
      subject: 'batch-job',
      user_id: '',
      token_type: 'app',
    });
    expect(await lenient.verify(tokens.okta)).toMatchObject({
      subject: '0oa1agent',
      user_id: '',
      token_type: 'app',
    });
    for (const token of [tokens.entraIdtyp, tokens.entraNoScp]) {
      expect(await lenient.verify(token)).toMatchObject({
        subject: `${TENANT}/sp-oid`,
        user_id: '',
        token_type: 'app',
      });
    }
  });

  it('refuses a token with no stable subject for its profile', async () => {
    const verifier = verifierFor(
      oidcEntry({ allow_app_tokens: true }),
      entraEntry({ allow_app_tokens: true }),
    );
    await refusedWith(
      verifier,
      await mint(oidcKey, without(without(oidcClaims(), 'sub'), 'client_id'), AT_JWT),
      /no stable subject/,
    );
    // upn/email/preferred_username are present but never stand in for oid.
    await refusedWith(verifier, await mint(entraKey, without(entraClaims(), 'oid')), /subject/);
  });

  it('refuses an oidc token without the at+jwt type when require_at_jwt is on', async () => {
    const verifier = gateway();
    await refusedWith(verifier, await mint(oidcKey, oidcClaims()), /typ must be at\+jwt/);
    await refusedWith(
      verifier,
      await mint(oidcKey, oidcClaims(), { typ: 'JWT' }),
      /typ must be at\+jwt/,
    );
  });

  it('ignores jku, x5u and jwk headers: attacker keys are never fetched or trusted', async () => {
    const verifier = gateway();
    const claims = oidcClaims();
    const headers: Array<Partial<JWTHeaderParameters>> = [
      { kid: attackerKey.kid, jku: `${attacker.base}/jwks` },
      { kid: oidcKey.kid, jku: `${attacker.base}/jwks` },
      { kid: attackerKey.kid, x5u: `${attacker.base}/cert.pem` },
      { kid: attackerKey.kid, jwk: attackerKey.jwk },
      { kid: oidcKey.kid, jwk: attackerKey.jwk },
    ];
    for (const header of headers) {
      await refusedWith(
        verifier,
        await mint(attackerKey, claims, { ...AT_JWT, ...header }),
        /signing key is unknown|signature is invalid/,
      );
    }
    const noKid = `${attacker.base}/jwks`;
    await refusal(
      verifier,
      await mint(attackerKey, claims, { ...AT_JWT, kid: undefined, jku: noKid }),
    );
    expect(attacker.requests).toHaveLength(0);
  });

  it.each<[string, (token: string) => string, RegExp]>([
    ['an arbitrary string', () => 'not-a-jwt', /well-formed/],
    ['an empty string', () => '', /well-formed/],
    ['three dots of nothing', () => '..', /well-formed/],
    ['base64 that is not JSON', () => 'YWJj.ZGVm.Z2hp', /well-formed/],
    ['a token cut in its payload', (t) => t.slice(0, t.indexOf('.') + 20), /well-formed/],
    ['a token cut in its signature', (t) => t.slice(0, -20), /signature is invalid/],
    [
      'a token with the signature removed',
      (t) => `${t.slice(0, t.lastIndexOf('.'))}.`,
      /signature is invalid/,
    ],
  ])('refuses %s', async (_name, damage, reason) => {
    const token = await mint(oidcKey, oidcClaims(), AT_JWT);
    await refusedWith(gateway(), damage(token), reason);
  });

  it('refuses a 100 KB token as too large, without fetching keys', async () => {
    const token = await mint(oidcKey, oidcClaims({ padding: 'x'.repeat(100 * 1024) }), AT_JWT);
    await refusedWith(gateway(), token, /too large/);
    expect(idp.requests).toHaveLength(0);
  });
});

describe('TokenVerifier: Entra groups overage', () => {
  const MEMBERSHIP = `/directory/${TENANT}/users/${OID}/groups`;

  function overageEntry(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return entraEntry({
      groups_overage: {
        endpoint: `${idp.base}/directory/{tid}/users/{oid}/groups`,
        headers: {
          Authorization: `env:${DIRECTORY_TOKEN_ENV}`,
          'X-Caller': { literal: 'mcpgate' },
        },
        ...extra,
      },
    });
  }

  it('reads the groups from the membership endpoint, with {tid}/{oid} and the headers', async () => {
    idp.routes.set(MEMBERSHIP, json({ value: [{ id: 'g1' }] }));
    const identity = await verifierFor(overageEntry()).verify(
      await mint(entraKey, overageClaims()),
    );
    expect(identity.groups).toEqual(['g1']);
    expect(identity.groups_overage).toBe(true);
    expect(identity.subject).toBe(`${TENANT}/${OID}`);
    const request = idp.requests.find((r) => r.path === MEMBERSHIP);
    expect(request?.headers.authorization).toBe('Bearer directory-token');
    expect(request?.headers['x-caller']).toBe('mcpgate');
  });

  it('accepts the {"groups": [...]} answer form and ignores non-string entries', async () => {
    idp.routes.set(MEMBERSHIP, json({ groups: ['Engineering', 7, 'On-call'] }));
    const identity = await verifierFor(overageEntry()).verify(
      await mint(entraKey, overageClaims()),
    );
    expect(identity.groups).toEqual(['Engineering', 'On-call']);
  });

  it('caches the groups: a second verification makes no second request', async () => {
    idp.routes.set(MEMBERSHIP, json({ value: [{ id: 'g1' }, { id: 'g2' }] }));
    const verifier = verifierFor(overageEntry());
    const first = await verifier.verify(await mint(entraKey, overageClaims()));
    const second = await verifier.verify(await mint(entraKey, overageClaims({ jti: 'again' })));
    expect(first.groups).toEqual(['g1', 'g2']);
    expect(second.groups).toEqual(['g1', 'g2']);
    expect(idp.hits(MEMBERSHIP)).toBe(1);
  });

  it('asks again for every token when cache_s is 0', async () => {
    idp.routes.set(MEMBERSHIP, json({ value: [{ id: 'g1' }] }));
    const verifier = verifierFor(overageEntry({ cache_s: 0 }));
    await verifier.verify(await mint(entraKey, overageClaims()));
    await verifier.verify(await mint(entraKey, overageClaims()));
    expect(idp.hits(MEMBERSHIP)).toBe(2);
  });

  it('resolves overage groups for every request, also for a cached token', async () => {
    idp.routes.set(MEMBERSHIP, json({ value: [{ id: 'g1' }] }));
    const verifier = verifierFor(overageEntry({ cache_s: 0 }));
    const token = await mint(entraKey, overageClaims());
    expect((await verifier.verify(token)).groups).toEqual(['g1']);
    idp.routes.set(MEMBERSHIP, json({ value: [{ id: 'g2' }] }));
    expect((await verifier.verify(token)).groups).toEqual(['g2']);
    expect(idp.hits(MEMBERSHIP)).toBe(2);
  });

  it.each<[string, Route]>([
    ['answers HTTP 500', json({ error: 'boom' }, 500)],
    ['answers neither value nor groups', json({ members: ['g1'] })],
    ['answers something that is not JSON', () => ({ status: 200, body: '<html>' })],
  ])('keeps groups [] and groups_overage true when the endpoint %s', async (_name, reply) => {
    idp.routes.set(MEMBERSHIP, reply);
    const identity = await verifierFor(overageEntry()).verify(
      await mint(entraKey, overageClaims()),
    );
    expect(identity.groups).toEqual([]);
    expect(identity.groups_overage).toBe(true);
    expect(idp.hits(MEMBERSHIP)).toBe(1);
  });

  it('does not cache a failure', async () => {
    idp.routes.set(MEMBERSHIP, json({}, 503));
    const verifier = verifierFor(overageEntry());
    expect((await verifier.verify(await mint(entraKey, overageClaims()))).groups).toEqual([]);
    idp.routes.set(MEMBERSHIP, json({ value: [{ id: 'g1' }] }));
    expect((await verifier.verify(await mint(entraKey, overageClaims()))).groups).toEqual(['g1']);
  });

  it('keeps groups [] without calling anything when a header secret cannot be read', async () => {
    idp.routes.set(MEMBERSHIP, json({ value: [{ id: 'g1' }] }));
    const verifier = verifierFor(
      overageEntry({ headers: { Authorization: 'env:MCPGATE_VERIFIER_TEST_UNSET_VARIABLE' } }),
    );
    const identity = await verifier.verify(await mint(entraKey, overageClaims()));
    expect(identity).toMatchObject({ groups: [], groups_overage: true });
    expect(idp.hits(MEMBERSHIP)).toBe(0);
  });

  // BUG (src/identity/verifier.ts:129, `identity.user_id || identity.subject`): for an
  // app-only token user_id is '' so the subject "{tid}/{oid}" is passed as the oid, and the
  // endpoint is called with {oid} = "{tid}%2F{oid}" (here /directory/<tid>/users/<tid>%2Fsp-oid/groups),
  // which cannot be the service principal's membership. Expected: {oid} is the token's oid.
  it('substitutes the oid (not tid/oid) for an app-only token with overage', async () => {
    const SP_MEMBERSHIP = `/directory/${TENANT}/users/sp-oid/groups`;
    idp.routes.set(SP_MEMBERSHIP, json({ value: [{ id: 'g-sp' }] }));
    const verifier = verifierFor(
      entraEntry({
        allow_app_tokens: true,
        groups_overage: { endpoint: `${idp.base}/directory/{tid}/users/{oid}/groups` },
      }),
    );
    const identity = await verifier.verify(
      await mint(entraKey, overageClaims({ idtyp: 'app', oid: 'sp-oid', scp: undefined })),
    );
    expect(identity.token_type).toBe('app');
    expect(idp.requests.map((r) => r.path)).toContain(SP_MEMBERSHIP);
    expect(identity.groups).toEqual(['g-sp']);
  });

  it('keeps groups [] and groups_overage true when no endpoint is configured', async () => {
    const identity = await gateway().verify(await mint(entraKey, overageClaims()));
    expect(identity).toMatchObject({ groups: [], groups_overage: true });
    expect(idp.requests.filter((r) => r.path !== '/entra/keys')).toHaveLength(0);
  });

  it('does not call the endpoint when the token carries its groups', async () => {
    idp.routes.set(MEMBERSHIP, json({ value: [{ id: 'g1' }] }));
    const identity = await verifierFor(overageEntry()).verify(await mint(entraKey, entraClaims()));
    expect(identity.groups).toEqual(['a0a0a0a0-0000-0000-0000-000000000001']);
    expect(identity.groups_overage).toBe(false);
    expect(idp.hits(MEMBERSHIP)).toBe(0);
  });
});

describe('TokenVerifier: readiness and status', () => {
  it('is not ready before the keys are fetched, and ready after warmUp', async () => {
    const verifier = gateway();
    expect(verifier.isReady()).toBe(false);
    expect(verifier.status()).toEqual([
      { issuer: OIDC_ISS, profile: 'oidc', jwks_uri: `${idp.base}/oidc/keys`, keys: 0 },
      { issuer: OKTA_ISS, profile: 'okta', jwks_uri: `${idp.base}/okta/keys`, keys: 0 },
      {
        issuer: `entra tenants ${TENANT}`,
        profile: 'entra',
        jwks_uri: `${idp.base}/entra/keys`,
        keys: 0,
      },
    ]);
    await verifier.warmUp();
    expect(verifier.isReady()).toBe(true);
    for (const status of verifier.status()) {
      expect(status.keys).toBe(1);
      expect(status.fetched_at).toEqual(expect.any(String));
      expect(status.last_error).toBeUndefined();
    }
    expect(verifier.resource).toBe(RESOURCE);
  });

  it('is not ready while one issuer has never had keys; the others keep working', async () => {
    idp.routes.set('/okta/keys', json({ error: 'down' }, 500));
    const verifier = gateway();
    await verifier.warmUp();
    expect(verifier.isReady()).toBe(false);
    const okta = verifier.status().find((s) => s.profile === 'okta');
    expect(okta).toMatchObject({ keys: 0, last_error: 'JWKS endpoint answered HTTP 500' });
    await refusedWith(
      verifier,
      await mint(oktaKey, oktaClaims()),
      /keys of the issuer are unavailable/,
    );
    await verifier.verify(await mint(oidcKey, oidcClaims(), AT_JWT));

    idp.routes.set('/okta/keys', json(jwks(oktaKey)));
    await verifier.verify(await mint(oktaKey, oktaClaims()));
    expect(verifier.isReady()).toBe(true);
    expect(verifier.status().find((s) => s.profile === 'okta')?.last_error).toBeUndefined();
  });

  it('stays ready on cached keys when the IdP goes down, showing the error', async () => {
    const verifier = gateway();
    await verifier.warmUp();
    idp.routes.set('/oidc/keys', json({}, 502));
    await verifier.warmUp();
    expect(verifier.isReady()).toBe(true);
    expect(verifier.status().find((s) => s.profile === 'oidc')).toMatchObject({
      keys: 1,
      last_error: 'JWKS endpoint answered HTTP 502',
    });
    await verifier.verify(await mint(oidcKey, oidcClaims(), AT_JWT));
  });
});

describe('TokenVerifier: several entries of one kind', () => {
  // BUG (src/identity/profiles.ts EntraProfile.match throws for a tenant not on ITS list;
  // src/identity/verifier.ts findIssuer stops at that throw): with two Entra entries (e.g.
  // different audiences or app-token settings per tenant), a token from the SECOND entry's
  // tenant is refused with "Entra tenant ... is not allowed" by the first entry instead of
  // being verified by the second. Expected: accepted by the entry that allows its tenant.
  it('verifies an Entra token with the entry that allows its tenant', async () => {
    const verifier = verifierFor(
      entraEntry({ tenants: [TENANT] }),
      entraEntry({ tenants: [TENANT_B], audiences: ['api://mcpgate-b'] }),
    );
    const identity = await verifier.verify(
      await mint(
        entraKey,
        entraClaims({ iss: V2(TENANT_B), tid: TENANT_B, aud: 'api://mcpgate-b' }),
      ),
    );
    expect(identity.tenant).toBe(TENANT_B);
    expect(identity.subject).toBe(`${TENANT_B}/${OID}`);
  });

  it('still refuses a tenant that no Entra entry allows', async () => {
    const verifier = verifierFor(
      entraEntry({ tenants: [TENANT] }),
      entraEntry({ tenants: [TENANT_B], audiences: ['api://mcpgate-b'] }),
    );
    await refusedWith(
      verifier,
      await mint(entraKey, entraClaims({ iss: V2(FOREIGN_TENANT), tid: FOREIGN_TENANT })),
      new RegExp(`${FOREIGN_TENANT}|not trusted`),
    );
  });
});

describe('TokenVerifier: keys found by discovery', () => {
  /** An Okta-like issuer on loopback: metadata issuer without a trailing slash. */
  function serveOktaDiscovery(): string {
    const issuer = `${idp.base}/oauth2/default`;
    idp.routes.set(
      '/oauth2/default/.well-known/openid-configuration',
      json({ issuer, jwks_uri: `${idp.base}/okta/keys` }),
    );
    return issuer;
  }

  it('verifies an oidc token with keys found through the issuer metadata', async () => {
    const issuer = `${idp.base}/oidc-discovered`;
    idp.routes.set(
      '/oidc-discovered/.well-known/openid-configuration',
      json({ issuer, jwks_uri: `${idp.base}/oidc/keys` }),
    );
    const verifier = verifierFor(oidcEntry({ issuer, jwks_uri: undefined }));
    const identity = await verifier.verify(
      await mint(oidcKey, oidcClaims({ iss: issuer }), AT_JWT),
    );
    expect(identity.issuer).toBe(issuer);
    expect(verifier.status()[0]?.jwks_uri).toBe(`${idp.base}/oidc/keys`);
  });

  it('verifies an Okta token with discovered keys', async () => {
    const issuer = serveOktaDiscovery();
    const verifier = verifierFor(oktaEntry({ issuer, jwks_uri: undefined }));
    const identity = await verifier.verify(await mint(oktaKey, oktaClaims({ iss: issuer })));
    expect(identity.subject).toBe('00u1alice');
  });

  // BUG (src/config/auth.ts resolveIssuer, okta case: `discoveryIssuer: raw.issuer`): the
  // issuer is normalized without its trailing slash for matching, but discovery runs on the
  // raw value. openid-client then requires the metadata issuer to equal ".../default/",
  // while Okta publishes ".../default", so discovery fails and no key is ever fetched:
  // every token is refused with "signing keys of the issuer are unavailable: discovered
  // metadata issuer does not match the expected issuer". Expected: same as without slash.
  it('verifies an Okta token when the issuer is configured with a trailing slash', async () => {
    const issuer = serveOktaDiscovery();
    const verifier = verifierFor(oktaEntry({ issuer: `${issuer}/`, jwks_uri: undefined }));
    const identity = await verifier.verify(await mint(oktaKey, oktaClaims({ iss: issuer })));
    expect(identity.subject).toBe('00u1alice');
  });
});

describe('TokenVerifier: verified-token cache', () => {
  it('verifies a repeated token once: the identity comes back without another key lookup', async () => {
    const verifier = verifierFor(oidcEntry());
    const token = await mint(oidcKey, oidcClaims(), AT_JWT);
    const first = await verifier.verify(token);
    // The IdP goes away: a second verification that needed keys would refetch and fail.
    idp.routes.set('/oidc/keys', json({ error: 'down' }, 500));
    const second = await verifier.verify(token);
    expect(second).toEqual(first);
    expect(idp.hits('/oidc/keys')).toBe(1);
  });

  it('stops accepting a cached token once its key is removed and max-age has passed', async () => {
    const verifier = verifierFor(oidcEntry({ jwks_max_age_s: 0.2 }));
    const token = await mint(oidcKey, oidcClaims(), AT_JWT);
    await verifier.verify(token);
    const replacement = await newSigningKey('oidc-2');
    idp.routes.set('/oidc/keys', json(jwks(replacement)));
    await new Promise((r) => setTimeout(r, 300));
    await refusedWith(verifier, token, /signing key is unknown/);
  });

  it('keeps verifying the signature of other tokens (the cache is per token)', async () => {
    const verifier = verifierFor(oidcEntry());
    await verifier.verify(await mint(oidcKey, oidcClaims(), AT_JWT));
    const forged = await mint(attackerKey, oidcClaims(), { ...AT_JWT, kid: oidcKey.kid });
    await refusedWith(verifier, forged, /signature is invalid/);
  });
});
