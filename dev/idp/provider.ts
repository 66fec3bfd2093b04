// One oidc-provider instance per dev issuer. Tokens come out of its real token endpoint:
// user tokens through a dev-only grant (only the pre-registered minter client may use it),
// app tokens through the standard client_credentials grant, exchanged tokens through RFC 8693
// token exchange (okta, oidc) or Entra's on-behalf-of grant (entra-v2), which only the
// gateway client may use; all are JWT access tokens thanks to resource indicators, then
// shaped per profile by the JWT customizer.
import { randomBytes, randomUUID } from 'node:crypto';
import type * as OidcProviderModule from 'oidc-provider';
import type { JWK as JoseJwk } from 'jose';
import type {
  AccessToken,
  Client,
  ClientCredentials,
  ClientMetadata,
  Configuration,
  JWK,
  JWTStructured,
  KoaContextWithOIDC,
  ResourceServer,
} from 'oidc-provider';
import { devAdapterFactory, type DevStore } from './adapter.js';
import {
  shapeToken,
  type DelegatedSubject,
  type IssuerShape,
  type TokenSubject,
  type UserSubject,
} from './claims.js';
import {
  ACCESS_TOKEN_TYPE,
  errorExtrasOf,
  GATEWAY_CLIENT_ID,
  JWT_BEARER_GRANT,
  JWT_BEARER_PARAMS,
  oboScopePrefix,
  resolveOboScopes,
  scopeList,
  setErrorExtras,
  subjectIdentity,
  subjectVerifier,
  TOKEN_EXCHANGE_GRANT,
  TOKEN_EXCHANGE_PARAMS,
  type ExchangePolicy,
  type SubjectIdentity,
} from './exchange.js';
import type { SigningJwk } from './keys.js';
import type { DevUser } from './types.js';

export type OidcModule = typeof OidcProviderModule;
export type OidcProvider = OidcProviderModule.default;

/** The dev-only grant type that mints a user's access token from the request parameters. */
export const USER_TOKEN_GRANT = 'urn:mcpgate:dev:user-token';
/** The only client allowed to use USER_TOKEN_GRANT. */
export const MINTER_CLIENT_ID = 'mcpgate-dev-minter';
export const DEFAULT_USER_CLIENT_ID = 'mcpgate-dev-client';
export const DEFAULT_APP_CLIENT_ID = 'mcpgate-dev-app';
/** The public client people sign in to the gateway's console with (code + PKCE). */
export const CONSOLE_CLIENT_ID = 'mcpgate-console';
export const DEFAULT_TTL_SECONDS = 3600;
const MAX_TTL_SECONDS = 7 * 24 * 3600;

/** Parameters of USER_TOKEN_GRANT (lists and objects are JSON-encoded). */
export const USER_TOKEN_PARAMS = [
  'user',
  'token_client_id',
  'groups',
  'roles',
  'scopes',
  'groups_overage',
  'audience',
  'ttl',
  'extra_claims',
] as const;

export async function loadOidcProvider(): Promise<OidcModule> {
  try {
    return await import('oidc-provider');
  } catch (err) {
    throw new Error(
      "mcpgate's dev IdP needs its devDependencies (oidc-provider): run `npm install` " +
        `in the mcpgate checkout (${(err as Error).message})`,
      { cause: err },
    );
  }
}

export interface IssuerRuntime {
  shape: IssuerShape;
  /** Path prefix on the dev IdP's server, without trailing slash. */
  mountPath: string;
  routes: { token: string; jwks: string };
  store: DevStore;
}

export interface ProviderSecrets {
  minter: string;
  clients: string;
  /** The gateway client's secret (client_secret_post), unless gatewayJwks is set. */
  gateway: string;
  /** The gateway client's public keys: it then authenticates with private_key_jwt. */
  gatewayJwks: { keys: JoseJwk[] } | undefined;
}

export interface BuildProviderOptions {
  mod: OidcModule;
  runtime: IssuerRuntime;
  keys: SigningJwk[];
  audience: string;
  secrets: ProviderSecrets;
  exchange: ExchangePolicy;
  /** Interactive sign-in for the console (DevIdpOptions.console). */
  console?: { redirectUris: string[]; users?: Record<string, DevUser> };
}

/** The exchange grant an issuer of this profile offers the gateway client, if any. */
export function exchangeGrantOf(profile: IssuerShape['profile']): string | undefined {
  switch (profile) {
    case 'okta':
    case 'oidc':
      return TOKEN_EXCHANGE_GRANT;
    case 'entra-v2':
      return JWT_BEARER_GRANT;
    default:
      return undefined;
  }
}

type ResourceServerConstructor = new (identifier: string, info: ResourceServer) => ResourceServer;

// Resource indicators must be absolute URIs; an audience that is not one (an Entra
// application id GUID, say) travels as a URN and is unwrapped again.
const AUDIENCE_URN = 'urn:mcpgate:dev:audience:';

export function resourceIndicator(audience: string): string {
  try {
    new URL(audience);
    return audience;
  } catch {
    return `${AUDIENCE_URN}${encodeURIComponent(audience)}`;
  }
}

function audienceOf(indicator: string): string {
  return indicator.startsWith(AUDIENCE_URN)
    ? decodeURIComponent(indicator.slice(AUDIENCE_URN.length))
    : indicator;
}

function param(params: Record<string, unknown> | undefined, name: string): string | undefined {
  const value = params?.[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export function buildProvider(options: BuildProviderOptions): OidcProvider {
  const { mod, runtime, keys, audience, secrets, exchange, console: consoleOptions } = options;
  const {
    InteractionRequired,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OIDCProviderError,
    UnauthorizedClient,
  } = mod.errors;
  const currentKid = keys[0]?.kid;
  if (currentKid === undefined) throw new Error('dev IdP: no signing key');
  const users = new WeakMap<AccessToken, UserSubject | DelegatedSubject>();
  const entra = runtime.shape.profile === 'entra-v2' || runtime.shape.profile === 'entra-v1';
  const subjects = subjectVerifier(runtime.shape.issuer, audience, keys);
  const exchangeGrant = exchangeGrantOf(runtime.shape.profile);

  function jsonParam<T>(
    params: Record<string, unknown> | undefined,
    name: string,
    check: (v: unknown) => v is T,
  ): T | undefined {
    const raw = param(params, name);
    if (raw === undefined) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new InvalidRequest(`${name} must be JSON`);
    }
    if (!check(value)) throw new InvalidRequest(`${name} has the wrong shape`);
    return value;
  }

  function resourceServerInfo(aud: string, scopes: string[], ttl: number): ResourceServer {
    return {
      scope: scopes.join(' '),
      audience: aud,
      accessTokenTTL: ttl,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'RS256', kid: currentKid } },
    };
  }

  function appSubject(ctx: KoaContextWithOIDC, token: ClientCredentials): TokenSubject {
    // client_credentials keeps only its own parameters in ctx.oidc.params; the dev-only
    // `roles` (JSON array) is read from the raw form body.
    const roles = jsonParam(ctx.oidc.body, 'roles', isStringArray);
    return {
      kind: 'app',
      clientId: token.clientId ?? '',
      roles,
      scopes: token.scope ? token.scope.split(' ') : [],
    };
  }

  function customizeJwt(
    ctx: KoaContextWithOIDC,
    token: AccessToken | ClientCredentials,
    parts: JWTStructured,
  ): JWTStructured {
    const subject =
      token.kind === 'AccessToken'
        ? (users.get(token) ?? signedInSubject(token))
        : appSubject(ctx, token);
    if (subject === undefined) throw new Error('dev IdP: access token without a dev subject');
    const { jti, iat, exp, aud } = parts.payload;
    if (typeof jti !== 'string' || typeof iat !== 'number' || typeof exp !== 'number') {
      throw new Error('dev IdP: unexpected oidc-provider token payload');
    }
    const shaped = shapeToken(runtime.shape, subject, {
      jti,
      iat,
      exp,
      aud: aud as string | string[],
    });
    // oidc-provider spreads this header over its own { alg, typ: 'at+jwt', kid }, so
    // typ: undefined removes the at+jwt type where the profile sends none.
    parts.header = { typ: shaped.typ };
    parts.payload = shaped.payload;
    return parts;
  }

  /** A person who signed in at the sign-in page (code flow): groups and roles by login. */
  function signedInSubject(token: AccessToken): UserSubject | undefined {
    if (consoleOptions === undefined || token.accountId === undefined) return undefined;
    const person = consoleOptions.users?.[token.accountId] ?? {};
    return {
      kind: 'user',
      clientId: token.clientId ?? CONSOLE_CLIENT_ID,
      user: token.accountId,
      groups: person.groups ?? [],
      roles: person.roles ?? [],
      scopes: [],
      groupsOverage: false,
      extraClaims: undefined,
    };
  }

  async function userTokenGrant(ctx: KoaContextWithOIDC, next: () => Promise<void>) {
    const { client, params, provider } = ctx.oidc;
    if (client?.clientId !== MINTER_CLIENT_ID) {
      throw new UnauthorizedClient('only the dev minter client may use this grant');
    }
    const user = param(params, 'user');
    if (user === undefined) throw new InvalidRequest('missing user');
    const clientId = param(params, 'token_client_id') ?? DEFAULT_USER_CLIENT_ID;
    const aud = param(params, 'audience') ?? audience;
    const ttlRaw = param(params, 'ttl');
    const ttl = ttlRaw === undefined ? DEFAULT_TTL_SECONDS : Number(ttlRaw);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
      throw new InvalidRequest(`ttl must be an integer between 1 and ${MAX_TTL_SECONDS}`);
    }
    const subject: UserSubject = {
      kind: 'user',
      clientId,
      user,
      groups: jsonParam(params, 'groups', isStringArray),
      roles: jsonParam(params, 'roles', isStringArray),
      scopes: jsonParam(params, 'scopes', isStringArray),
      groupsOverage: param(params, 'groups_overage') === 'true',
      extraClaims: jsonParam(params, 'extra_claims', isPlainObject),
    };
    const tokenClient = await provider.Client.find(clientId);
    if (tokenClient === undefined) throw new InvalidRequest('unknown token_client_id');
    const scopes = subject.scopes ?? [];
    const { value, token } = await issue(ctx, {
      client: tokenClient,
      accountId: user,
      subject,
      aud,
      scopes,
      ttl,
      gty: USER_TOKEN_GRANT,
    });
    ctx.body = {
      access_token: value,
      expires_in: token.expiration,
      token_type: token.tokenType,
      scope: scopes.join(' ') || undefined,
    };
    await next();
  }

  /** Mints a JWT access token for `aud` through oidc-provider's AccessToken model. */
  async function issue(
    ctx: KoaContextWithOIDC,
    req: {
      client: Client;
      accountId: string;
      subject: UserSubject | DelegatedSubject;
      aud: string;
      scopes: string[];
      ttl: number;
      gty: string;
    },
  ): Promise<{ value: string; token: AccessToken }> {
    const { provider } = ctx.oidc;
    const ResourceServerClass = (
      provider as unknown as { ResourceServer: ResourceServerConstructor }
    ).ResourceServer;
    const token = new provider.AccessToken({
      client: req.client,
      accountId: req.accountId,
      scope: req.scopes.join(' '),
      grantId: randomUUID(),
      gty: req.gty,
      resourceServer: new ResourceServerClass(
        resourceIndicator(req.aud),
        resourceServerInfo(req.aud, req.scopes, req.ttl),
      ),
      expiresIn: req.ttl,
    });
    users.set(token, req.subject);
    ctx.oidc.entity('AccessToken', token);
    return { value: await token.save(), token };
  }

  /** The exchanging client: only the gateway client may use the exchange grants. */
  function gatewayClient(ctx: KoaContextWithOIDC): Client {
    const { client } = ctx.oidc;
    if (client?.clientId !== GATEWAY_CLIENT_ID) {
      throw new UnauthorizedClient(`only ${GATEWAY_CLIENT_ID} may exchange tokens`);
    }
    return client;
  }

  function invalidGrant(
    ctx: KoaContextWithOIDC,
    description: string,
    extras?: Record<string, unknown>,
  ): Error {
    const err = new InvalidGrant(description);
    err.error_description = description;
    if (extras !== undefined) setErrorExtras(ctx, extras);
    return err;
  }

  /** The verified user behind a subject token / assertion, or invalid_grant. */
  async function verifiedSubject(
    ctx: KoaContextWithOIDC,
    token: string,
    what: string,
  ): Promise<{ claims: Record<string, unknown>; identity: SubjectIdentity }> {
    const verified = await subjects.verify(token);
    if ('refused' in verified) {
      throw invalidGrant(
        ctx,
        entra
          ? `The assertion failed validation: ${verified.refused}.`
          : `${what} is invalid: ${verified.refused}`,
      );
    }
    const identity = subjectIdentity(runtime.shape, verified.claims);
    if (identity === undefined || identity.app) {
      throw invalidGrant(
        ctx,
        entra
          ? 'The assertion is an app-only token; on-behalf-of needs a token issued to a user.'
          : `${what} must be a user's access token, not an app-only token`,
      );
    }
    return { claims: verified.claims, identity };
  }

  /** The exchange policy's consent and MFA step-up checks, with Entra's error shapes. */
  function checkUserPolicy(ctx: KoaContextWithOIDC, identity: SubjectIdentity, aud: string) {
    if (exchange.lacksConsent(identity.is, aud)) {
      throw invalidGrant(
        ctx,
        entra
          ? `AADSTS65001: The user or administrator has not consented to use the application with ID '${GATEWAY_CLIENT_ID}' for ${aud}. Send an interactive authorization request for this user and resource.`
          : `the user has not consented to ${GATEWAY_CLIENT_ID} acting for them at ${aud}`,
        { suberror: 'consent_required', ...(entra ? { error_codes: [65001] } : {}) },
      );
    }
    if (exchange.needsStepUp(identity.is, aud) && !identity.mfa) {
      const err = new InteractionRequired(
        entra
          ? `AADSTS50076: Due to a configuration change made by your administrator, you must use multi-factor authentication to access '${aud}'.`
          : `multi-factor authentication is required to access ${aud}`,
      );
      setErrorExtras(ctx, {
        claims: exchange.stepUpClaims,
        ...(entra ? { error_codes: [50076] } : {}),
      });
      throw err;
    }
  }

  function required(ctx: KoaContextWithOIDC, name: string): string {
    const value = param(ctx.oidc.params, name);
    if (value === undefined) throw new InvalidRequest(`missing required parameter '${name}'`);
    return value;
  }

  /** RFC 8693 token exchange (okta: Okta's flavour, which requires `scope` and adds no act). */
  async function tokenExchangeGrant(ctx: KoaContextWithOIDC, next: () => Promise<void>) {
    const client = gatewayClient(ctx);
    const { params } = ctx.oidc;
    const subjectToken = required(ctx, 'subject_token');
    if (required(ctx, 'subject_token_type') !== ACCESS_TOKEN_TYPE) {
      throw new InvalidRequest(`unsupported subject_token_type (only ${ACCESS_TOKEN_TYPE})`);
    }
    const requestedType = param(params, 'requested_token_type');
    if (requestedType !== undefined && requestedType !== ACCESS_TOKEN_TYPE) {
      throw new InvalidRequest(`unsupported requested_token_type (only ${ACCESS_TOKEN_TYPE})`);
    }
    if (param(params, 'actor_token') !== undefined) {
      throw new InvalidRequest('actor_token is not supported: the client is the actor');
    }
    const aud = required(ctx, 'audience');
    const scope =
      runtime.shape.profile === 'okta' ? required(ctx, 'scope') : param(params, 'scope');
    const { claims, identity } = await verifiedSubject(ctx, subjectToken, 'subject_token');
    const allowed = exchange.allowed(aud);
    if (allowed === undefined) {
      throw new InvalidTarget(`audience ${aud} is not a token exchange target of this issuer`);
    }
    const scopes = scope === undefined ? [...allowed] : scopeList(scope);
    const outside = scopes.filter((s) => !allowed.includes(s));
    if (outside.length > 0) {
      throw new InvalidScope(
        `scope ${outside.join(' ')} is not allowed for ${aud}`,
        outside.join(' '),
      );
    }
    if (scopes.length === 0) throw new InvalidScope(`no scope is allowed for ${aud}`, '');
    checkUserPolicy(ctx, identity, aud);
    const { value, token } = await issue(ctx, {
      client,
      accountId: identity.accountId,
      subject: {
        kind: 'delegated',
        clientId: client.clientId,
        clientAuth: '1',
        subject: claims,
        scopes,
      },
      aud,
      scopes,
      ttl: exchange.ttlSeconds,
      gty: TOKEN_EXCHANGE_GRANT,
    });
    ctx.body = {
      access_token: value,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: token.tokenType,
      expires_in: token.expiration,
      scope: scopes.join(' '),
    };
    await next();
  }

  /** Microsoft Entra's on-behalf-of flow (jwt-bearer with requested_token_use). */
  async function onBehalfOfGrant(ctx: KoaContextWithOIDC, next: () => Promise<void>) {
    const client = gatewayClient(ctx);
    const assertion = required(ctx, 'assertion');
    if (required(ctx, 'requested_token_use') !== 'on_behalf_of') {
      throw new InvalidRequest("requested_token_use must be 'on_behalf_of'");
    }
    const scope = required(ctx, 'scope');
    const { claims, identity } = await verifiedSubject(ctx, assertion, 'assertion');
    const resolved = resolveOboScopes(exchange, scope);
    if ('error' in resolved) {
      const err = new OIDCProviderError(400, resolved.error);
      err.error_description = resolved.description;
      throw err;
    }
    const { audience: aud, scopes } = resolved;
    if (scopes.length === 0) {
      throw new InvalidScope(`AADSTS70011: no scope is granted for ${aud}.`, scope);
    }
    checkUserPolicy(ctx, identity, aud);
    const clientAuth = client.clientAuthMethod === 'private_key_jwt' ? '2' : '1';
    const { value, token } = await issue(ctx, {
      client,
      accountId: identity.accountId,
      subject: {
        kind: 'delegated',
        clientId: client.clientId,
        clientAuth,
        subject: claims,
        scopes,
      },
      aud,
      scopes,
      ttl: exchange.ttlSeconds,
      gty: JWT_BEARER_GRANT,
    });
    ctx.body = {
      token_type: token.tokenType,
      scope: scopes.map((s) => `${oboScopePrefix(aud)}${s}`).join(' '),
      expires_in: token.expiration,
      ext_expires_in: token.expiration,
      access_token: value,
    };
    await next();
  }

  const ttl = (_ctx: KoaContextWithOIDC, token: AccessToken | ClientCredentials): number =>
    token.resourceServer?.accessTokenTTL ?? DEFAULT_TTL_SECONDS;

  const configuration: Configuration = {
    adapter: devAdapterFactory(runtime.store, secrets.clients),
    // oidc-provider's JWK type is its own; these are RSA private JWKs with kid/alg/use.
    jwks: { keys: keys as unknown as JWK[] },
    clients: [
      {
        client_id: MINTER_CLIENT_ID,
        client_secret: secrets.minter,
        grant_types: [USER_TOKEN_GRANT],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_post',
      },
      gatewayClientMetadata(secrets, exchangeGrant),
      ...(consoleOptions === undefined
        ? []
        : [
            {
              client_id: CONSOLE_CLIENT_ID,
              token_endpoint_auth_method: 'none',
              grant_types: ['authorization_code'],
              response_types: ['code'],
              redirect_uris: consoleOptions.redirectUris,
            } satisfies ClientMetadata,
          ]),
    ],
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    routes: runtime.routes,
    features: {
      // The built-in sign-in page (any login, any password): dev only, and only for the console.
      devInteractions: { enabled: consoleOptions !== undefined },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // Entra names the resource of a client_credentials request by scope ("<api>/.default"),
        // not by a resource parameter; the other profiles use RFC 8707 resource indicators.
        defaultResource: (ctx) => {
          const scope = param(ctx.oidc.params, 'scope');
          const dotDefault = scope === undefined ? undefined : /^(\S+)\/\.default$/.exec(scope);
          return runtime.shape.profile.startsWith('entra') && dotDefault?.[1]
            ? resourceIndicator(dotDefault[1])
            : resourceIndicator(audience);
        },
        getResourceServerInfo: (ctx, indicator) => {
          const scope = param(ctx.oidc.params, 'scope');
          const scopes =
            scope === undefined || scope.endsWith('/.default')
              ? []
              : scope.split(' ').filter((s) => s !== 'openid');
          return resourceServerInfo(audienceOf(indicator), scopes, DEFAULT_TTL_SECONDS);
        },
        useGrantedResource: () => true,
      },
    },
    ttl: { AccessToken: ttl, ClientCredentials: ttl },
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
    clientBasedCORS: () => false,
    formats: { customizers: { jwt: customizeJwt } },
  };

  const provider = new mod.default(runtime.shape.issuer, configuration);
  provider.registerGrantType(USER_TOKEN_GRANT, userTokenGrant, [...USER_TOKEN_PARAMS]);
  if (exchangeGrant === TOKEN_EXCHANGE_GRANT) {
    provider.registerGrantType(TOKEN_EXCHANGE_GRANT, tokenExchangeGrant, [
      ...TOKEN_EXCHANGE_PARAMS,
    ]);
  } else if (exchangeGrant === JWT_BEARER_GRANT) {
    provider.registerGrantType(JWT_BEARER_GRANT, onBehalfOfGrant, [...JWT_BEARER_PARAMS]);
  }
  // Entra's error members (suberror, claims, error_codes) on top of the rendered error.
  provider.use(async (ctx, next) => {
    await next();
    const extras = errorExtrasOf(ctx);
    if (extras !== undefined && isPlainObject(ctx.body) && typeof ctx.body.error === 'string') {
      ctx.body = { ...ctx.body, ...extras };
    }
  });
  return provider;
}

function gatewayClientMetadata(
  secrets: ProviderSecrets,
  exchangeGrant: string | undefined,
): ClientMetadata {
  const base: ClientMetadata = {
    client_id: GATEWAY_CLIENT_ID,
    grant_types:
      exchangeGrant === undefined ? ['client_credentials'] : ['client_credentials', exchangeGrant],
    response_types: [],
    redirect_uris: [],
  };
  if (secrets.gatewayJwks !== undefined) {
    return {
      ...base,
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: secrets.gatewayJwks,
    };
  }
  return {
    ...base,
    client_secret: secrets.gateway,
    token_endpoint_auth_method: 'client_secret_post',
  };
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
