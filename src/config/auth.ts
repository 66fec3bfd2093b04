// Resolved issuer configurations, one type per profile (see auth-schema.ts for the file form).
import type { RawIssuer } from './auth-schema.js';
import { parseSecretRef, type ValueSource } from './secrets.js';

export const ENTRA_ISSUER_TEMPLATES = {
  v2: 'https://login.microsoftonline.com/{tid}/v2.0',
  v1: 'https://sts.windows.net/{tid}/',
} as const;
export const ENTRA_COMMON_JWKS = 'https://login.microsoftonline.com/common/discovery/v2.0/keys';

interface IssuerBase {
  /** A readable name for logs and /readyz (the issuer, or the Entra tenant list). */
  label: string;
  jwksUri: string | undefined;
  /** Where discovery runs when jwksUri is not given. */
  discoveryIssuer: string | undefined;
  algorithms: string[];
  /** Empty: the gateway's own resource URI. */
  audiences: string[];
  jwksCooldownMs: number;
  jwksMaxAgeMs: number;
  allowAppTokens: boolean;
  allowInsecureHttp: boolean;
}

export interface OidcIssuerConfig extends IssuerBase {
  profile: 'oidc';
  issuer: string;
  groupsClaim: string;
  requireAtJwt: boolean;
}

export interface OktaIssuerConfig extends IssuerBase {
  profile: 'okta';
  issuer: string;
  groupsClaim: string;
}

export interface EntraIssuerConfig extends IssuerBase {
  profile: 'entra';
  tenants: string[];
  /** Issuer templates ({tid}) for the accepted token versions. */
  templates: Array<{ version: 'v1' | 'v2'; template: string }>;
  groupsOverage:
    { endpoint: string; headers: Record<string, ValueSource>; cacheMs: number } | undefined;
}

export type IssuerConfig = OidcIssuerConfig | OktaIssuerConfig | EntraIssuerConfig;

/** The issuer identifiers an entry trusts, for protected-resource metadata. */
export function authorizationServers(config: IssuerConfig): string[] {
  if (config.profile !== 'entra') return [config.issuer];
  return config.templates.flatMap(({ template }) =>
    config.tenants.map((tid) => template.replace('{tid}', tid)),
  );
}

export function resolveIssuer(raw: RawIssuer, baseDir: string, where: string): IssuerConfig {
  const base = {
    jwksUri: raw.jwks_uri,
    algorithms: raw.algorithms,
    audiences: raw.audiences ?? [],
    jwksCooldownMs: Math.round(raw.jwks_cooldown_s * 1000),
    jwksMaxAgeMs: Math.round(raw.jwks_max_age_s * 1000),
    allowAppTokens: raw.allow_app_tokens,
    allowInsecureHttp: raw.allow_insecure_http,
  };
  switch (raw.profile) {
    case 'oidc':
      return {
        ...base,
        profile: 'oidc',
        label: raw.issuer,
        discoveryIssuer: raw.issuer,
        issuer: raw.issuer,
        groupsClaim: raw.groups_claim,
        requireAtJwt: raw.require_at_jwt,
      };
    case 'okta':
      return {
        ...base,
        profile: 'okta',
        // Okta publishes its issuer without a trailing slash; one written with a slash is
        // the same server, and discovery must ask for the published form.
        label: raw.issuer.replace(/\/$/, ''),
        discoveryIssuer: raw.issuer.replace(/\/$/, ''),
        issuer: raw.issuer.replace(/\/$/, ''),
        groupsClaim: raw.groups_claim,
      };
    case 'entra': {
      const overage = raw.groups_overage;
      return {
        ...base,
        profile: 'entra',
        label: `entra tenants ${[...new Set(raw.tenants.map((t) => t.toLowerCase()))].sort().join(',')}`,
        jwksUri: raw.jwks_uri ?? ENTRA_COMMON_JWKS,
        discoveryIssuer: undefined,
        tenants: raw.tenants.map((t) => t.toLowerCase()),
        templates: raw.versions.map((version) => ({
          version,
          template: raw.issuer_templates[version] ?? ENTRA_ISSUER_TEMPLATES[version],
        })),
        groupsOverage: overage && {
          endpoint: overage.endpoint,
          cacheMs: Math.round(overage.cache_s * 1000),
          headers: Object.fromEntries(
            Object.entries(overage.headers).map(([name, value]) => [
              name,
              typeof value === 'string'
                ? parseSecretRef(value, `${where}.groups_overage.headers.${name}`, baseDir)
                : { kind: 'literal' as const, value: value.literal },
            ]),
          ),
        },
      };
    }
  }
}
