// One oidc-provider instance per dev issuer. Tokens come out of its real token endpoint:
// user tokens through a dev-only grant (only the pre-registered minter client may use it),
// app tokens through the standard client_credentials grant; both are JWT access tokens thanks
// to resource indicators, then shaped per profile by the JWT customizer.
import { randomBytes, randomUUID } from 'node:crypto';
import type * as OidcProviderModule from 'oidc-provider';
import type {
  AccessToken,
  ClientCredentials,
  Configuration,
  JWK,
  JWTStructured,
  KoaContextWithOIDC,
  ResourceServer,
} from 'oidc-provider';
import { devAdapterFactory, type DevStore } from './adapter.js';
import { shapeToken, type IssuerShape, type TokenSubject, type UserSubject } from './claims.js';
import type { SigningJwk } from './keys.js';

export type OidcModule = typeof OidcProviderModule;
export type OidcProvider = OidcProviderModule.default;

/** The dev-only grant type that mints a user's access token from the request parameters. */
export const USER_TOKEN_GRANT = 'urn:mcpgate:dev:user-token';
/** The only client allowed to use USER_TOKEN_GRANT. */
export const MINTER_CLIENT_ID = 'mcpgate-dev-minter';
export const DEFAULT_USER_CLIENT_ID = 'mcpgate-dev-client';
export const DEFAULT_APP_CLIENT_ID = 'mcpgate-dev-app';
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
}

export interface BuildProviderOptions {
  mod: OidcModule;
  runtime: IssuerRuntime;
  keys: SigningJwk[];
  audience: string;
  secrets: ProviderSecrets;
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
  const { mod, runtime, keys, audience, secrets } = options;
  const { InvalidRequest, UnauthorizedClient } = mod.errors;
  const currentKid = keys[0]?.kid;
  if (currentKid === undefined) throw new Error('dev IdP: no signing key');
  const users = new WeakMap<AccessToken, UserSubject>();

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
    const subject = token.kind === 'AccessToken' ? users.get(token) : appSubject(ctx, token);
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
    const ResourceServerClass = (
      provider as unknown as { ResourceServer: ResourceServerConstructor }
    ).ResourceServer;
    const scope = (subject.scopes ?? []).join(' ');
    const token = new provider.AccessToken({
      client: tokenClient,
      accountId: user,
      scope,
      grantId: randomUUID(),
      gty: USER_TOKEN_GRANT,
      resourceServer: new ResourceServerClass(
        resourceIndicator(aud),
        resourceServerInfo(aud, subject.scopes ?? [], ttl),
      ),
      expiresIn: ttl,
    });
    users.set(token, subject);
    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();
    ctx.body = {
      access_token: value,
      expires_in: token.expiration,
      token_type: token.tokenType,
      scope: scope || undefined,
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
    ],
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    routes: runtime.routes,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resourceIndicator(audience),
        getResourceServerInfo: (ctx, indicator) => {
          const scope = param(ctx.oidc.params, 'scope');
          return resourceServerInfo(
            audienceOf(indicator),
            scope === undefined ? [] : scope.split(' '),
            DEFAULT_TTL_SECONDS,
          );
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
  return provider;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
