// Public types of the development OpenID Provider (see index.ts).

export type DevIdpProfile = 'okta' | 'okta-org' | 'entra-v2' | 'entra-v1' | 'oidc';

export const DEV_IDP_PROFILES: readonly DevIdpProfile[] = [
  'okta',
  'okta-org',
  'entra-v2',
  'entra-v1',
  'oidc',
];

export interface DevIdpIssuerSpec {
  profile: DevIdpProfile;
  /**
   * entra-v2 / entra-v1: the tenant id (tid) GUID, default DEFAULT_ENTRA_TENANT.
   * okta: the authorization server id in `/oauth2/{id}`, default `aus_dev`.
   * okta-org / oidc: an extra path segment, so that several such issuers can coexist.
   */
  tenant?: string;
}

export interface DevIdpOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (the OS picks a free port). */
  port?: number;
  /** Several issuers served by one HTTP server on different paths. */
  issuers: DevIdpIssuerSpec[];
  /** The resource the access tokens are for (the gateway's resource URI); Entra's aud too. */
  audience: string;
  /** The Okta groups claim name, default `groups`. */
  groupsClaim?: string;
  /** Persist the private JWKS here (quickstart); otherwise keys live in memory only. */
  keyFile?: string;
  /** The dev grant's client secret; default random per run (the CLI keeps it in a state file). */
  minterSecret?: string;
}

export interface DevIdpIssuer {
  profile: DevIdpProfile;
  issuer: string;
  jwksUri: string;
  discoveryUrl: string;
  tokenEndpoint: string;
  /** Entra profiles: the tid. Other profiles: the tenant/path segment, when one was given. */
  tenant?: string;
}

export interface UserTokenRequest {
  /** The login (e.g. alice@example.com). Okta: sub; Entra: the oid is derived from it. */
  user: string;
  /** Group NAMES. Okta/oidc put them in the token as is; Entra as stable GUIDs (entraGroupId). */
  groups?: string[];
  roles?: string[];
  /**
   * Delegated scopes. When omitted: none, except Entra, whose user tokens always carry `scp`
   * (default `access_as_user`). Pass [] explicitly for an Entra user token without `scp`.
   */
  scopes?: string[];
  /** The client (application) the token was issued to, default `mcpgate-dev-client`. */
  clientId?: string;
  /** Entra only: replace `groups` with the overage pointer (_claim_names/_claim_sources). */
  groupsOverage?: boolean;
  /** Default: the IdP's audience option. */
  audience?: string;
  /** Lifetime, default 3600. */
  ttlSeconds?: number;
  /**
   * Claims merged into the payload last, overriding the profile's (a null value removes the
   * claim) — for tests that need a deliberately odd token.
   */
  extraClaims?: Record<string, unknown>;
}

export interface AppTokenRequest {
  /** Default `mcpgate-dev-app`. */
  clientId?: string;
  /** Entra application roles (app permissions); other profiles add `roles` when given. */
  roles?: string[];
  scopes?: string[];
  /** Default: the IdP's audience option. */
  audience?: string;
}

export interface DevIdp {
  baseUrl: string;
  /**
   * The secret every app client (any client id) authenticates with at the token endpoints
   * (client_secret_post), for callers that run client_credentials themselves, e.g. with
   * openid-client. App clients may only use client_credentials.
   */
  appClientSecret: string;
  /** The secret of the dev-grant client (see requestUserToken). */
  minterSecret: string;
  issuers: DevIdpIssuer[];
  /** The first issuer of that profile (throws when there is none). */
  issuer(profile: DevIdpProfile): DevIdpIssuer;
  /** `issuer`: an issuer URL of this IdP, or a profile name (its first issuer). */
  mintUserToken(issuer: string, req: UserTokenRequest): Promise<string>;
  mintAppToken(issuer: string, req: AppTokenRequest): Promise<string>;
  rotateKeys(): Promise<void>;
  retireOldKeys(): Promise<void>;
  setAvailable(up: boolean): void;
  stop(): Promise<void>;
}
