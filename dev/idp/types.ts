// Public types of the development OpenID Provider (see index.ts).
import type { JWK } from 'jose';

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
  /**
   * Token exchange / on-behalf-of policy: for each downstream audience (the upstream API, e.g.
   * `https://github.example/api`), the scopes the gateway client may obtain for it. An
   * audience missing here cannot be exchanged for (invalid_target / invalid_resource).
   */
  exchangeScopes?: Record<string, string[]>;
  /** Lifetime of exchanged tokens, default 300. */
  exchangeTtlSeconds?: number;
  /** The secret of the `mcpgate-gateway` client; default random per run. */
  gatewayClientSecret?: string;
  /**
   * PUBLIC keys of the `mcpgate-gateway` client. When given, that client authenticates with
   * private_key_jwt (a signed client assertion, like an Entra certificate credential) on every
   * issuer, and client_secret_post is refused (oidc-provider registers one method per client).
   */
  gatewayClientJwks?: { keys: JWK[] };
  /**
   * Users (logins, as given to mintUserToken; `*` for everyone) who have not consented to an
   * audience (`*` or omitted: every audience): their exchanges fail with
   * `{error: 'invalid_grant', suberror: 'consent_required'}`. Changeable with setConsent.
   */
  exchangeConsentMissing?: ExchangeUserRule[];
  /**
   * Users who must step up (MFA) before an exchange for an audience: unless their subject token
   * shows MFA (`amr` contains `mfa`, or an `acr` other than `0`/`1`) the exchange fails with
   * `{error: 'interaction_required', claims: <stepUpClaims>}`. Changeable with setStepUp.
   */
  exchangeStepUp?: ExchangeUserRule[];
  /** The claims challenge of interaction_required, default DEFAULT_STEP_UP_CLAIMS. */
  stepUpClaims?: string;
  /**
   * People who sign in interactively (the gateway's console): a public client
   * `mcpgate-console` using the authorization code flow with PKCE is registered with these
   * redirect URIs, and the IdP's sign-in page takes any login (any password). Their access
   * tokens carry the groups and roles `users` gives their login (none for another login).
   */
  console?: { redirectUris: string[]; users?: Record<string, DevUser> };
}

/** A person of the dev IdP's directory (interactive sign-in). */
export interface DevUser {
  groups?: string[];
  roles?: string[];
}

/** A user (login or `*`) and an audience (omitted or `*`: any). */
export interface ExchangeUserRule {
  user: string;
  audience?: string;
}

export type GatewayClientAuthMethod = 'client_secret_post' | 'private_key_jwt';

/** What DevIdp.exchangeToken asks for. */
export interface ExchangeTokenRequest {
  /** The user's access token (for the IdP's `audience`). */
  subjectToken: string;
  /** The downstream audience (a key of exchangeScopes). */
  audience: string;
  /** Default: every scope the policy allows for the audience (Entra: `<audience>/.default`). */
  scopes?: string[];
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
  /** The confidential client that may exchange tokens: `mcpgate-gateway`. */
  gatewayClientId: string;
  /** Its secret (client_secret_post), unless gatewayClientAuthMethod is private_key_jwt. */
  gatewayClientSecret: string;
  gatewayClientAuthMethod: GatewayClientAuthMethod;
  /**
   * Exchanges a user token through the issuer's real token endpoint as the gateway client
   * (client_secret_post): RFC 8693 on okta/oidc issuers, on-behalf-of on entra-v2 issuers.
   * Rejects with the token endpoint's error. For tests that need a downstream token.
   */
  exchangeToken(issuer: string, req: ExchangeTokenRequest): Promise<string>;
  /** Grants (true) or withdraws (false) a user's consent for an audience (`*`: any). */
  setConsent(user: string, audience: string, granted: boolean): void;
  /** Requires (true) or stops requiring (false) MFA step-up of a user for an audience. */
  setStepUp(user: string, required: boolean, audience?: string): void;
  rotateKeys(): Promise<void>;
  retireOldKeys(): Promise<void>;
  setAvailable(up: boolean): void;
  stop(): Promise<void>;
}
