// Issuer profiles: which tokens an entry trusts (match) and how verified claims become the
// normalized identity (normalize). Configs come from parseConfig, so the resolution the
// gateway really does (trailing slashes, tenant case) is part of what is tested.
import { describe, expect, it } from '@jest/globals';
import type { JWTPayload } from 'jose';
import type { IssuerConfig } from '../../src/config/auth.js';
import { parseConfig } from '../../src/config/load.js';
import { AuthError } from '../../src/identity/errors.js';
import {
  createProfile,
  scopeList,
  stringList,
  type IssuerProfile,
} from '../../src/identity/profiles.js';
import { only, thrownBy } from './support/errors.js';

const BASE_DIR = '/srv/mcpgate/conf';
const OIDC_ISS = 'https://idp.example.com';
const OKTA_ISS = 'https://dev-123.okta.com/oauth2/default';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const OTHER_TENANT = '00000000-1111-2222-3333-444444444444';
const V2 = (tid: string): string => `https://login.microsoftonline.com/${tid}/v2.0`;
const V1 = (tid: string): string => `https://sts.windows.net/${tid}/`;
const OID = '9f8e7d6c-5b4a-3210-fedc-ba9876543210';

/** The claims an IdP may carry that must never become the stable user key. */
const MUTABLE_NAMES = {
  email: 'alice@example.com',
  upn: 'alice@contoso.onmicrosoft.com',
  preferred_username: 'alice@contoso.com',
  unique_name: 'alice@contoso.com',
  name: 'Alice',
};

/** One issuer entry, resolved exactly as the gateway resolves its config file. */
function issuerConfig(raw: Record<string, unknown>): IssuerConfig {
  const config = parseConfig(
    {
      auth: { issuers: [raw] },
      policy: { bundle: 'policy/bundle.tar.gz' },
      upstreams: { fs: { transport: 'stdio', command: 'node' } },
    },
    BASE_DIR,
  );
  return only(config.auth.issuers);
}

function profileFor(raw: Record<string, unknown>): IssuerProfile {
  return createProfile(issuerConfig(raw));
}

function oidc(extra: Record<string, unknown> = {}): IssuerProfile {
  return profileFor({ profile: 'oidc', issuer: OIDC_ISS, ...extra });
}

function okta(extra: Record<string, unknown> = {}): IssuerProfile {
  return profileFor({ profile: 'okta', issuer: OKTA_ISS, ...extra });
}

function entra(extra: Record<string, unknown> = {}): IssuerProfile {
  return profileFor({
    profile: 'entra',
    tenants: [TENANT],
    audiences: ['api://mcpgate'],
    ...extra,
  });
}

/** A delegated (user) Entra v2 access token's claims. */
function entraV2User(extra: JWTPayload = {}): JWTPayload {
  return {
    iss: V2(TENANT),
    aud: 'api://mcpgate',
    ver: '2.0',
    tid: TENANT,
    oid: OID,
    sub: 'pairwise-sub-for-this-app',
    azp: 'client-app-guid',
    azpacr: '1',
    scp: 'Files.Read mcp.call',
    roles: ['Reader'],
    groups: ['a0a0a0a0-0000-0000-0000-000000000001', 'b0b0b0b0-0000-0000-0000-000000000002'],
    ...MUTABLE_NAMES,
    ...extra,
  };
}

/** The claims with one left out (as the IdP would omit it). */
function without(claims: JWTPayload, name: string): JWTPayload {
  const copy = { ...claims };
  delete copy[name];
  return copy;
}

function authErrorFrom(fn: () => unknown): AuthError {
  const err = thrownBy(fn);
  expect(err).toBeInstanceOf(AuthError);
  return err as AuthError;
}

describe('scopeList / stringList', () => {
  it('splits a space-separated scope string and drops empty parts', () => {
    expect(scopeList('a  b c ')).toEqual(['a', 'b', 'c']);
    expect(scopeList('')).toEqual([]);
  });

  it('takes an array of scopes as is, dropping non-strings', () => {
    expect(scopeList(['a', 'b', 3, null])).toEqual(['a', 'b']);
  });

  it('reads a single string as a one-element list and anything else as empty', () => {
    expect(stringList('admins')).toEqual(['admins']);
    expect(stringList(['x', 1, 'y'])).toEqual(['x', 'y']);
    expect(stringList(undefined)).toEqual([]);
    expect(stringList('')).toEqual([]);
    expect(stringList({ a: 1 })).toEqual([]);
  });
});

describe('oidc profile', () => {
  it('matches only the exact configured issuer', () => {
    const profile = oidc();
    expect(profile.match({ iss: OIDC_ISS })).toBe(OIDC_ISS);
    expect(profile.match({ iss: `${OIDC_ISS}/` })).toBeUndefined();
    expect(profile.match({ iss: 'https://IDP.example.com' })).toBeUndefined();
    expect(profile.match({ iss: `${OIDC_ISS}/tenant` })).toBeUndefined();
    expect(profile.match({ iss: 'https://idp.example.com.evil.test' })).toBeUndefined();
    expect(profile.match({})).toBeUndefined();
  });

  it('requires the at+jwt type unless require_at_jwt is false', () => {
    expect(oidc().requiredTyp).toBe('at+jwt');
    expect(oidc({ require_at_jwt: false }).requiredTyp).toBeUndefined();
  });

  it('normalizes a user token: subject = sub, client_id, scopes, groups', () => {
    const claims: JWTPayload = {
      iss: OIDC_ISS,
      sub: 'user-248289761001',
      client_id: 's6BhdRkqt3',
      scope: 'openid files:read  files:write',
      groups: ['eng', 'oncall'],
      roles: ['admin'],
      amr: ['pwd', 'mfa'],
      acr: 'urn:example:loa:2',
      auth_time: 1_700_000_000,
      ...MUTABLE_NAMES,
    };
    expect(oidc().normalize(claims)).toEqual({
      issuer: OIDC_ISS,
      subject: 'user-248289761001',
      user_id: 'user-248289761001',
      client_id: 's6BhdRkqt3',
      scopes: ['openid', 'files:read', 'files:write'],
      roles: ['admin'],
      groups: ['eng', 'oncall'],
      groups_overage: false,
      token_type: 'user',
      amr: ['pwd', 'mfa'],
      acr: 'urn:example:loa:2',
      auth_time: 1_700_000_000,
      claims,
    });
  });

  it('takes client_id from azp when client_id is absent, and scp when scope is absent', () => {
    const identity = oidc().normalize({
      iss: OIDC_ISS,
      sub: 'u1',
      azp: 'agent-app',
      scp: ['a', 'b'],
    });
    expect(identity.client_id).toBe('agent-app');
    expect(identity.scopes).toEqual(['a', 'b']);
    expect(identity.token_type).toBe('user');
  });

  it('prefers client_id over azp', () => {
    expect(
      oidc().normalize({ iss: OIDC_ISS, sub: 'u1', client_id: 'cid', azp: 'azp' }).client_id,
    ).toBe('cid');
  });

  it('reads groups from the configured claim only', () => {
    const claims: JWTPayload = {
      iss: OIDC_ISS,
      sub: 'u1',
      groups: ['from-default-claim'],
      'https://example.com/groups': ['platform'],
    };
    expect(oidc({ groups_claim: 'https://example.com/groups' }).normalize(claims).groups).toEqual([
      'platform',
    ]);
    expect(oidc().normalize(claims).groups).toEqual(['from-default-claim']);
  });

  it('treats a token whose sub is the client (client credentials) as an app token', () => {
    const identity = oidc().normalize({
      iss: OIDC_ISS,
      sub: 'batch-job',
      client_id: 'batch-job',
      scope: 'reports:read',
    });
    expect(identity).toMatchObject({
      subject: 'batch-job',
      user_id: '',
      client_id: 'batch-job',
      token_type: 'app',
    });
  });

  it('treats a token without sub as an app token with no subject', () => {
    const identity = oidc().normalize({ iss: OIDC_ISS, client_id: 'svc', ...MUTABLE_NAMES });
    expect(identity).toMatchObject({ subject: '', user_id: '', token_type: 'app' });
  });

  it('has empty lists, not undefined, when the claims are missing', () => {
    const identity = oidc().normalize({ iss: OIDC_ISS, sub: 'u1' });
    expect(identity).toMatchObject({ scopes: [], roles: [], groups: [], amr: [], client_id: '' });
    expect(identity).not.toHaveProperty('acr');
    expect(identity).not.toHaveProperty('auth_time');
  });
});

describe('okta profile', () => {
  /** An Okta custom authorization server user access token (ver 1, cid, uid, scp array). */
  function oktaUser(extra: JWTPayload = {}): JWTPayload {
    return {
      ver: 1,
      jti: 'AT.abc',
      iss: OKTA_ISS,
      aud: 'api://default',
      cid: '0oa1clientid',
      uid: '00u1stableuserid',
      sub: 'alice@example.com',
      scp: ['openid', 'mcp.call'],
      groups: ['Everyone', 'Engineering'],
      ...MUTABLE_NAMES,
      ...extra,
    };
  }

  it('matches its issuer with or without a trailing slash, on either side', () => {
    const plain = okta();
    expect(plain.match({ iss: OKTA_ISS })).toBe(OKTA_ISS);
    expect(plain.match({ iss: `${OKTA_ISS}/` })).toBe(`${OKTA_ISS}/`);
    const slashed = okta({ issuer: `${OKTA_ISS}/` });
    expect(slashed.match({ iss: OKTA_ISS })).toBe(OKTA_ISS);
    expect(slashed.match({ iss: `${OKTA_ISS}/` })).toBe(`${OKTA_ISS}/`);
  });

  it('does not match the org server, another authorization server or a look-alike', () => {
    const profile = okta();
    expect(profile.match({ iss: 'https://dev-123.okta.com' })).toBeUndefined();
    expect(profile.match({ iss: 'https://dev-123.okta.com/oauth2/aus9other' })).toBeUndefined();
    expect(profile.match({ iss: `${OKTA_ISS}2` })).toBeUndefined();
    expect(profile.match({ iss: `${OKTA_ISS}//` })).toBeUndefined();
    expect(profile.match({})).toBeUndefined();
  });

  it('has no typ requirement (Okta tokens carry none)', () => {
    expect(okta().requiredTyp).toBeUndefined();
  });

  it('keys a user on uid, never on sub (the mutable login)', () => {
    const claims = oktaUser();
    const identity = okta().normalize(claims);
    expect(identity).toEqual({
      issuer: OKTA_ISS,
      subject: '00u1stableuserid',
      user_id: '00u1stableuserid',
      client_id: '0oa1clientid',
      scopes: ['openid', 'mcp.call'],
      roles: [],
      groups: ['Everyone', 'Engineering'],
      groups_overage: false,
      token_type: 'user',
      amr: [],
      claims,
    });
    expect(identity.subject).not.toBe(claims.sub);
  });

  it('reads groups from the configured groups claim', () => {
    const identity = okta({ groups_claim: 'okta_groups' }).normalize(
      oktaUser({ okta_groups: ['mcp-admins'] }),
    );
    expect(identity.groups).toEqual(['mcp-admins']);
  });

  it('treats a token without uid as an app token keyed on the client', () => {
    const identity = okta().normalize({
      ver: 1,
      iss: OKTA_ISS,
      cid: '0oa1service',
      sub: '0oa1service',
      scp: ['reports.read'],
    });
    expect(identity).toMatchObject({
      subject: '0oa1service',
      user_id: '',
      client_id: '0oa1service',
      scopes: ['reports.read'],
      token_type: 'app',
    });
  });

  it('does not fall back to sub or email when uid is missing', () => {
    const identity = okta().normalize({
      iss: OKTA_ISS,
      cid: '0oa1client',
      sub: 'alice@example.com',
      ...MUTABLE_NAMES,
    });
    expect(identity.subject).toBe('0oa1client');
    expect(identity.token_type).toBe('app');
  });
});

describe('entra profile: match', () => {
  it('matches a v2 token whose iss is the v2 template with its own tid', () => {
    expect(entra().match(entraV2User())).toBe(V2(TENANT));
  });

  it('matches a v1 token (sts.windows.net, trailing slash) when v1 is accepted', () => {
    const profile = entra({ versions: ['v1', 'v2'] });
    expect(profile.match({ iss: V1(TENANT), tid: TENANT })).toBe(V1(TENANT));
    expect(profile.match({ iss: V2(TENANT), tid: TENANT })).toBe(V2(TENANT));
  });

  it('does not match a version that is not accepted', () => {
    expect(entra().match({ iss: V1(TENANT), tid: TENANT })).toBeUndefined();
    expect(entra({ versions: ['v1'] }).match({ iss: V2(TENANT), tid: TENANT })).toBeUndefined();
  });

  it('refuses a token from a tenant not on the allow-list, naming the tenant', () => {
    const err = authErrorFrom(() => entra().match({ iss: V2(OTHER_TENANT), tid: OTHER_TENANT }));
    expect(err.message).toContain(OTHER_TENANT);
    expect(err.message).toMatch(/tenant .* not allowed/);
    expect(err.error).toBe('invalid_token');
  });

  it('does not match an iss that is not a template for the token tid', () => {
    const profile = entra();
    // Not a Microsoft issuer at all.
    expect(
      profile.match({ iss: `https://evil.example.com/${TENANT}/v2.0`, tid: TENANT }),
    ).toBeUndefined();
    // An allowed tenant's issuer, but the token's own tid is another tenant.
    expect(profile.match({ iss: V2(TENANT), tid: OTHER_TENANT })).toBeUndefined();
    // The token's tid is allowed, but the issuer names another tenant.
    expect(profile.match({ iss: V2(OTHER_TENANT), tid: TENANT })).toBeUndefined();
    // The template with a trailing slash added / the v1 one without it.
    expect(profile.match({ iss: `${V2(TENANT)}/`, tid: TENANT })).toBeUndefined();
    expect(
      entra({ versions: ['v1'] }).match({ iss: V1(TENANT).slice(0, -1), tid: TENANT }),
    ).toBeUndefined();
  });

  it('does not match a token without tid or iss', () => {
    expect(entra().match({ iss: V2(TENANT) })).toBeUndefined();
    expect(entra().match({ tid: TENANT })).toBeUndefined();
    expect(entra().match({ iss: V2(''), tid: '' })).toBeUndefined();
  });

  it('compares tenants case-insensitively (allow-list written in upper case)', () => {
    const profile = entra({ tenants: [TENANT.toUpperCase()] });
    expect(profile.match({ iss: V2(TENANT), tid: TENANT })).toBe(V2(TENANT));
  });

  it('uses configured issuer templates instead of Microsoft ones', () => {
    const profile = entra({
      versions: ['v2'],
      issuer_templates: { v2: 'https://login.example.test/{tid}/v2.0' },
    });
    expect(profile.match({ iss: `https://login.example.test/${TENANT}/v2.0`, tid: TENANT })).toBe(
      `https://login.example.test/${TENANT}/v2.0`,
    );
    expect(profile.match({ iss: V2(TENANT), tid: TENANT })).toBeUndefined();
  });

  it('has no typ requirement', () => {
    expect(entra().requiredTyp).toBeUndefined();
  });
});

describe('entra profile: normalize', () => {
  it('keys a v2 user on tid/oid, never on sub, email, upn or preferred_username', () => {
    const claims = entraV2User();
    const identity = entra().normalize(claims);
    expect(identity).toEqual({
      issuer: V2(TENANT),
      tenant: TENANT,
      subject: `${TENANT}/${OID}`,
      user_id: OID,
      client_id: 'client-app-guid',
      scopes: ['Files.Read', 'mcp.call'],
      roles: ['Reader'],
      groups: ['a0a0a0a0-0000-0000-0000-000000000001', 'b0b0b0b0-0000-0000-0000-000000000002'],
      groups_overage: false,
      token_type: 'user',
      amr: [],
      claims,
    });
    for (const name of [claims.sub, ...Object.values(MUTABLE_NAMES)]) {
      expect(identity.subject).not.toBe(name);
      expect(identity.user_id).not.toBe(name);
    }
  });

  it('takes the client from appid in a v1 token', () => {
    const identity = entra({ versions: ['v1'] }).normalize({
      iss: V1(TENANT),
      ver: '1.0',
      tid: TENANT,
      oid: OID,
      appid: 'v1-client-app',
      appidacr: '0',
      scp: 'user_impersonation',
      ...MUTABLE_NAMES,
    });
    expect(identity).toMatchObject({
      subject: `${TENANT}/${OID}`,
      user_id: OID,
      tenant: TENANT,
      client_id: 'v1-client-app',
      scopes: ['user_impersonation'],
      token_type: 'user',
    });
  });

  it('has no subject when oid is missing, even with upn/email present', () => {
    const identity = entra().normalize(without(entraV2User(), 'oid'));
    expect(identity.subject).toBe('');
    expect(identity.user_id).toBe('');
  });

  it('flags groups overage when groups is replaced by _claim_names', () => {
    const identity = entra().normalize({
      ...without(entraV2User(), 'groups'),
      _claim_names: { groups: 'src1' },
      _claim_sources: {
        src1: { endpoint: `https://graph.windows.net/${TENANT}/users/${OID}/getMemberObjects` },
      },
    });
    expect(identity.groups_overage).toBe(true);
    expect(identity.groups).toEqual([]);
    expect(identity.token_type).toBe('user');
  });

  it('does not flag overage when groups are present or _claim_names names something else', () => {
    expect(entra().normalize(entraV2User()).groups_overage).toBe(false);
    const rest = without(entraV2User(), 'groups');
    expect(entra().normalize({ ...rest, _claim_names: { roles: 'src1' } }).groups_overage).toBe(
      false,
    );
    expect(entra().normalize(rest).groups_overage).toBe(false);
  });

  it('treats idtyp=app as an app-only token with no user id', () => {
    const identity = entra().normalize({
      iss: V2(TENANT),
      tid: TENANT,
      oid: 'sp-object-id',
      sub: 'sp-object-id',
      azp: 'daemon-app',
      idtyp: 'app',
      roles: ['Reports.Read.All'],
    });
    expect(identity).toMatchObject({
      subject: `${TENANT}/sp-object-id`,
      user_id: '',
      client_id: 'daemon-app',
      roles: ['Reports.Read.All'],
      scopes: [],
      token_type: 'app',
    });
  });

  it('treats a token without scp (no delegated scopes) as app-only', () => {
    const identity = entra().normalize(without(entraV2User(), 'scp'));
    expect(identity.token_type).toBe('app');
    expect(identity.user_id).toBe('');
  });
});
