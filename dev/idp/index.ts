// DEVELOPMENT AND TESTS ONLY. A local OpenID Provider built on the certified `oidc-provider`
// that serves several issuers from one HTTP server and mints real access tokens through their
// real token endpoints, shaped like Okta (custom and org authorization servers), Microsoft
// Entra ID (v2 and v1 tokens) or a generic RFC 9068 issuer. It also rotates and retires its
// signing keys and simulates outages, so the gateway's verifier can be tested against it, and
// exchanges user tokens for short-lived downstream tokens (RFC 8693 token exchange on okta
// and oidc issuers, Entra on-behalf-of on entra-v2 issuers) for the gateway client.
// oidc-provider is a devDependency and is only loaded when startDevIdp is called.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpgateError } from '../../src/util/errors.js';
import { DevStore } from './adapter.js';
import type { IssuerShape } from './claims.js';
import {
  ACCESS_TOKEN_TYPE,
  exchangePolicy,
  GATEWAY_CLIENT_ID,
  JWT_BEARER_GRANT,
  oboScopePrefix,
  TOKEN_EXCHANGE_GRANT,
} from './exchange.js';
import { generateSigningKey, loadOrCreateKeys, saveKeys, type SigningJwk } from './keys.js';
import {
  buildProvider,
  DEFAULT_APP_CLIENT_ID,
  exchangeGrantOf,
  DEFAULT_USER_CLIENT_ID,
  loadOidcProvider,
  MINTER_CLIENT_ID,
  resourceIndicator,
  USER_TOKEN_GRANT,
  type IssuerRuntime,
  type OidcModule,
  type ProviderSecrets,
} from './provider.js';
import {
  DEV_IDP_PROFILES,
  type AppTokenRequest,
  type DevIdp,
  type DevIdpIssuer,
  type DevIdpIssuerSpec,
  type DevIdpOptions,
  type ExchangeTokenRequest,
  type UserTokenRequest,
} from './types.js';

export type {
  AppTokenRequest,
  DevIdp,
  DevIdpIssuer,
  DevIdpIssuerSpec,
  DevIdpOptions,
  DevIdpProfile,
  DevUser,
  ExchangeTokenRequest,
  ExchangeUserRule,
  GatewayClientAuthMethod,
  UserTokenRequest,
} from './types.js';
export { DEV_IDP_PROFILES } from './types.js';
export {
  entraGroupId,
  entraPairwiseSub,
  entraServicePrincipalId,
  entraUserObjectId,
  oktaUserId,
} from './ids.js';
export { CONSOLE_CLIENT_ID, DEFAULT_APP_CLIENT_ID, DEFAULT_USER_CLIENT_ID } from './provider.js';
export {
  ACCESS_TOKEN_TYPE,
  DEFAULT_EXCHANGE_TTL_SECONDS,
  DEFAULT_STEP_UP_CLAIMS,
  GATEWAY_CLIENT_ID,
  JWT_BEARER_GRANT,
  TOKEN_EXCHANGE_GRANT,
} from './exchange.js';

/** The tid of the dev Entra tenant unless a spec names another. */
export const DEFAULT_ENTRA_TENANT = '5f0c7a3e-4b1d-4c2a-9e8f-6d3b2a1c0e9f';
export const DEFAULT_OKTA_AUTH_SERVER = 'aus_dev';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SEGMENT = /^[A-Za-z0-9._~-]+$/;

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

interface Host {
  info: DevIdpIssuer;
  runtime: IssuerRuntime;
  handler: Handler;
}

interface Layout {
  mountPath: string;
  issuer: string;
  tenant: string | undefined;
  routes: { token: string; jwks: string };
}

function layout(base: string, spec: DevIdpIssuerSpec): Layout {
  if (!DEV_IDP_PROFILES.includes(spec.profile)) {
    throw new Error(`dev IdP: unknown profile ${String(spec.profile)}`);
  }
  const entra = spec.profile === 'entra-v2' || spec.profile === 'entra-v1';
  const tenant = entra ? (spec.tenant ?? DEFAULT_ENTRA_TENANT).toLowerCase() : spec.tenant;
  if (entra && !GUID.test(tenant ?? '')) {
    throw new Error(`dev IdP: Entra tenant must be a GUID, got ${String(spec.tenant)}`);
  }
  if (!entra && tenant !== undefined && !SEGMENT.test(tenant)) {
    throw new Error(`dev IdP: tenant ${tenant} must be a single URL path segment`);
  }
  const defaults = { token: '/token', jwks: '/jwks' };
  switch (spec.profile) {
    case 'okta': {
      // A custom authorization server, with Okta's endpoint paths.
      const mountPath = `/oauth2/${tenant ?? DEFAULT_OKTA_AUTH_SERVER}`;
      return {
        mountPath,
        issuer: base + mountPath,
        tenant,
        routes: { token: '/v1/token', jwks: '/v1/keys' },
      };
    }
    case 'okta-org': {
      // An org authorization server: no /oauth2/ in the issuer.
      const mountPath = tenant === undefined ? '/okta-org' : `/okta-org/${tenant}`;
      return {
        mountPath,
        issuer: base + mountPath,
        tenant,
        routes: { token: '/oauth2/v1/token', jwks: '/oauth2/v1/keys' },
      };
    }
    case 'entra-v2': {
      const mountPath = `/${tenant}/v2.0`;
      return { mountPath, issuer: base + mountPath, tenant, routes: defaults };
    }
    case 'entra-v1': {
      // Like https://sts.windows.net/{tid}/ — the trailing slash is part of the issuer.
      const mountPath = `/sts/${tenant}`;
      return { mountPath, issuer: `${base}${mountPath}/`, tenant, routes: defaults };
    }
    case 'oidc': {
      const mountPath = tenant === undefined ? '/oidc' : `/oidc/${tenant}`;
      return { mountPath, issuer: base + mountPath, tenant, routes: defaults };
    }
  }
}

/** Raised by the IdP's helpers when its token endpoint answers with an error. */
export class DevIdpTokenError extends McpgateError {
  static override readonly code = 'ERR_DEV_IDP_TOKEN';

  constructor(
    message: string,
    /** The OAuth error code (`HTTP <status>` when the body had none). */
    readonly error: string,
    /** The whole JSON error body (suberror, claims, error_codes...). */
    readonly body: Record<string, unknown>,
  ) {
    super(message);
  }
}

async function tokenRequest(endpoint: string, body: URLSearchParams): Promise<string> {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body,
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // reported below
  }
  if (!res.ok || typeof json.access_token !== 'string') {
    const error = typeof json.error === 'string' ? json.error : `HTTP ${res.status}`;
    const description =
      typeof json.error_description === 'string' ? `: ${json.error_description}` : '';
    throw new DevIdpTokenError(
      `dev IdP token request to ${endpoint} failed: ${error}${description}`,
      error,
      json,
    );
  }
  return json.access_token;
}

function notFound(res: ServerResponse): void {
  res.statusCode = 404;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ error: 'not_found', error_description: 'no dev issuer here' }));
}

/**
 * Asks a dev issuer's token endpoint for a user token with the dev grant. Standalone, so
 * `mcpgate dev-token` can mint from another process with the secret the IdP saved.
 */
export function requestUserToken(
  tokenEndpoint: string,
  minterSecret: string,
  req: UserTokenRequest & { audience: string },
): Promise<string> {
  const body = new URLSearchParams({
    grant_type: USER_TOKEN_GRANT,
    client_id: MINTER_CLIENT_ID,
    client_secret: minterSecret,
    user: req.user,
    token_client_id: req.clientId ?? DEFAULT_USER_CLIENT_ID,
    audience: req.audience,
  });
  if (req.groups !== undefined) body.set('groups', JSON.stringify(req.groups));
  if (req.roles !== undefined) body.set('roles', JSON.stringify(req.roles));
  if (req.scopes !== undefined) body.set('scopes', JSON.stringify(req.scopes));
  if (req.groupsOverage === true) body.set('groups_overage', 'true');
  if (req.ttlSeconds !== undefined) body.set('ttl', String(req.ttlSeconds));
  if (req.extraClaims !== undefined) body.set('extra_claims', JSON.stringify(req.extraClaims));
  return tokenRequest(tokenEndpoint, body);
}

export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  if (options.issuers.length === 0) throw new Error('dev IdP: at least one issuer is required');
  const mod: OidcModule = await loadOidcProvider();
  let keys: SigningJwk[] = await loadOrCreateKeys(options.keyFile);
  const gatewayJwks = options.gatewayClientJwks;
  if (
    gatewayJwks !== undefined &&
    (!Array.isArray(gatewayJwks.keys) ||
      gatewayJwks.keys.length === 0 ||
      gatewayJwks.keys.some((k) => k.d !== undefined || k.k !== undefined))
  ) {
    throw new Error('dev IdP: gatewayClientJwks must hold public asymmetric keys only');
  }
  const secrets: ProviderSecrets = {
    minter: options.minterSecret ?? randomBytes(24).toString('base64url'),
    clients: randomBytes(24).toString('base64url'),
    gateway: options.gatewayClientSecret ?? randomBytes(24).toString('base64url'),
    gatewayJwks,
  };
  const exchange = exchangePolicy(options);
  const groupsClaim = options.groupsClaim ?? 'groups';
  let available = true;
  // Longest mount path first, so a request goes to the most specific issuer.
  let routing: Host[] = [];

  const server = createServer((req, res) => {
    if (!available) {
      req.socket.destroy();
      return;
    }
    const url = req.url ?? '/';
    const path = url.split('?')[0] ?? '/';
    const host = routing.find(
      (h) => path === h.runtime.mountPath || path.startsWith(`${h.runtime.mountPath}/`),
    );
    if (host === undefined) {
      notFound(res);
      return;
    }
    // Mounted like Express would: oidc-provider routes on req.url relative to its mount path
    // and builds its own URLs (discovery, jwks_uri) from req.originalUrl.
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = url;
    req.url = url.slice(host.runtime.mountPath.length) || '/';
    void host.handler(req, res);
  });
  const hostname = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, hostname, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`;

  const hosts: Host[] = [];
  try {
    for (const spec of options.issuers) {
      const l = layout(baseUrl, spec);
      if (hosts.some((h) => h.runtime.mountPath === l.mountPath)) {
        throw new Error(`dev IdP: two issuers at ${l.issuer}; give them different tenants`);
      }
      const shape: IssuerShape = {
        profile: spec.profile,
        issuer: l.issuer,
        tenant: l.tenant,
        groupsClaim,
        overageEndpoint: (_tid, oid) =>
          `${baseUrl}/graph/v1.0/users/${encodeURIComponent(oid)}/getMemberObjects`,
      };
      const runtime: IssuerRuntime = {
        shape,
        mountPath: l.mountPath,
        routes: l.routes,
        store: new DevStore(),
      };
      const prefix = baseUrl + l.mountPath;
      const info: DevIdpIssuer = {
        profile: spec.profile,
        issuer: l.issuer,
        jwksUri: prefix + l.routes.jwks,
        discoveryUrl: `${prefix}/.well-known/openid-configuration`,
        tokenEndpoint: prefix + l.routes.token,
      };
      if (l.tenant !== undefined) info.tenant = l.tenant;
      hosts.push({ info, runtime, handler: () => Promise.resolve() });
    }
  } catch (err) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw err;
  }

  /** (Re)build every issuer's provider with the current key list; the first key signs. */
  function install(): void {
    for (const host of hosts) {
      const provider = buildProvider({
        mod,
        runtime: host.runtime,
        keys,
        audience: options.audience,
        secrets,
        exchange,
        ...(options.console === undefined ? {} : { console: options.console }),
      });
      host.handler = provider.callback();
    }
    routing = [...hosts].sort((a, b) => b.runtime.mountPath.length - a.runtime.mountPath.length);
  }
  install();

  function resolveIssuer(issuerOrProfile: string): Host {
    const host =
      hosts.find((h) => h.info.issuer === issuerOrProfile) ??
      hosts.find((h) => h.info.profile === issuerOrProfile);
    if (host === undefined) throw new Error(`dev IdP: no issuer ${issuerOrProfile}`);
    return host;
  }

  const idp: DevIdp = {
    baseUrl,
    appClientSecret: secrets.clients,
    minterSecret: secrets.minter,
    gatewayClientId: GATEWAY_CLIENT_ID,
    gatewayClientSecret: secrets.gateway,
    gatewayClientAuthMethod: gatewayJwks === undefined ? 'client_secret_post' : 'private_key_jwt',
    issuers: hosts.map((h) => h.info),

    issuer(profile) {
      const host = hosts.find((h) => h.info.profile === profile);
      if (host === undefined) throw new Error(`dev IdP: no ${profile} issuer configured`);
      return host.info;
    },

    mintUserToken(issuer, req: UserTokenRequest) {
      const host = resolveIssuer(issuer);
      return requestUserToken(host.info.tokenEndpoint, secrets.minter, {
        ...req,
        audience: req.audience ?? options.audience,
      });
    },

    mintAppToken(issuer, req: AppTokenRequest) {
      const host = resolveIssuer(issuer);
      const body = new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: req.clientId ?? DEFAULT_APP_CLIENT_ID,
        client_secret: secrets.clients,
        resource: resourceIndicator(req.audience ?? options.audience),
      });
      if (req.scopes !== undefined && req.scopes.length > 0)
        body.set('scope', req.scopes.join(' '));
      if (req.roles !== undefined) body.set('roles', JSON.stringify(req.roles));
      return tokenRequest(host.info.tokenEndpoint, body);
    },

    exchangeToken(issuer, req: ExchangeTokenRequest) {
      const host = resolveIssuer(issuer);
      const grant = exchangeGrantOf(host.info.profile);
      if (grant === undefined) {
        return Promise.reject(new Error(`dev IdP: ${host.info.profile} issuers do not exchange`));
      }
      if (gatewayJwks !== undefined) {
        return Promise.reject(
          new Error('dev IdP: exchangeToken needs the gateway client secret (no private_key_jwt)'),
        );
      }
      const body = new URLSearchParams({
        grant_type: grant,
        client_id: GATEWAY_CLIENT_ID,
        client_secret: secrets.gateway,
      });
      if (grant === TOKEN_EXCHANGE_GRANT) {
        body.set('subject_token', req.subjectToken);
        body.set('subject_token_type', ACCESS_TOKEN_TYPE);
        body.set('audience', req.audience);
        const scopes = req.scopes ?? exchange.allowed(req.audience) ?? [];
        body.set('scope', scopes.join(' '));
      } else if (grant === JWT_BEARER_GRANT) {
        body.set('assertion', req.subjectToken);
        body.set('requested_token_use', 'on_behalf_of');
        const scopes = req.scopes ?? ['.default'];
        body.set('scope', scopes.map((s) => `${oboScopePrefix(req.audience)}${s}`).join(' '));
      }
      return tokenRequest(host.info.tokenEndpoint, body);
    },

    setConsent(user, audience, granted) {
      exchange.setConsent(user, audience, granted);
    },

    setStepUp(user, required, audience) {
      exchange.setStepUp(user, required, audience);
    },

    async rotateKeys() {
      keys = [await generateSigningKey(), ...keys];
      saveKeys(options.keyFile, keys);
      install();
    },

    retireOldKeys() {
      keys = keys.slice(0, 1);
      saveKeys(options.keyFile, keys);
      install();
      return Promise.resolve();
    },

    setAvailable(up) {
      available = up;
    },

    async stop() {
      available = false;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return idp;
}
