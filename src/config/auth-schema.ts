// The auth section: token issuers by profile (okta | entra | oidc) and resource-server
// settings. Issuers are security controls, so every field is explicit and strict: a
// profile must be named, http is refused unless explicitly allowed for local testing.
import { z } from 'zod';
import { ASYMMETRIC_ALGORITHMS, valueSource } from './value-source.js';

const ALGORITHMS = [...ASYMMETRIC_ALGORITHMS, 'EdDSA'] as const;

const keyOptions = {
  /** JWKS location; when absent, OIDC discovery on the issuer finds it (Entra: Microsoft's common keys). */
  jwks_uri: z.url().optional(),
  algorithms: z.array(z.enum(ALGORITHMS)).min(1).default(['RS256']),
  /** Least seconds between JWKS refetches caused by an unknown key id (rotation pick-up). */
  jwks_cooldown_s: z.number().min(0).max(3600).default(30),
  /** Cached keys are refreshed after this long; keys the IdP removed stop working then. */
  jwks_max_age_s: z.number().positive().max(86_400).default(600),
  /** Accepted audiences; default: the gateway's resource URI. */
  audiences: z.array(z.string().min(1)).min(1).optional(),
  /** App-only tokens (no user behind them) are refused with 401 unless this is true. */
  allow_app_tokens: z.boolean().default(false),
  /** Lets tests and the quickstart use http on loopback. Never in production. */
  allow_insecure_http: z.boolean().default(false),
};

const OKTA_CUSTOM_SERVER = /\/oauth2\/[^/]+\/?$/;

const oidcIssuer = z.strictObject({
  profile: z.literal('oidc'),
  issuer: z.string().min(1),
  groups_claim: z.string().default('groups'),
  /** RFC 9068: require the `at+jwt` type header (access tokens, not ID tokens). */
  require_at_jwt: z.boolean().default(true),
  ...keyOptions,
});

const oktaIssuer = z.strictObject({
  profile: z.literal('okta'),
  issuer: z
    .string()
    .regex(
      OKTA_CUSTOM_SERVER,
      "must be an Okta custom authorization server (https://{domain}/oauth2/{id}); org-server tokens are for Okta's own APIs and are refused",
    ),
  /** The custom claim the authorization server puts group names in. */
  groups_claim: z.string().default('groups'),
  ...keyOptions,
});

const entraIssuer = z.strictObject({
  profile: z.literal('entra'),
  /** Allowed tenant ids (GUIDs); the issuer must equal the template with this tid. */
  tenants: z.array(z.string().regex(/^[0-9a-fA-F-]{36}$/, 'tenant ids are GUIDs')).min(1),
  /** Token versions accepted (set by the API app's accessTokenAcceptedVersion). */
  versions: z
    .array(z.enum(['v1', 'v2']))
    .min(1)
    .default(['v2']),
  /** Issuer templates with {tid}; default Microsoft's. Override only for tests. */
  issuer_templates: z
    .strictObject({
      v1: z.string().includes('{tid}').optional(),
      v2: z.string().includes('{tid}').optional(),
    })
    .default({}),
  /** Groups overage: where to read a user's groups when the token has too many to carry. */
  groups_overage: z
    .strictObject({
      /** URL with {tid} and {oid}; answers {"value": [{"id": ...}]} or {"groups": [...]}. */
      endpoint: z
        .string()
        .min(1)
        .refine(
          (e) => e.includes('{oid}'),
          'must contain {oid} (otherwise every user gets the same groups)',
        ),
      headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/), valueSource).default({}),
      cache_s: z.number().min(0).default(300),
    })
    .optional(),
  ...keyOptions,
  audiences: z.array(z.string().min(1)).min(1),
});

function httpsOnly(
  value: string | undefined,
  allowInsecure: boolean,
  path: string,
  ctx: z.RefinementCtx,
): void {
  if (value === undefined || allowInsecure || value.startsWith('https://')) return;
  ctx.addIssue({
    code: 'custom',
    path: [path],
    message: `${value} is not https (set allow_insecure_http: true only for local testing)`,
  });
}

export const issuerSchema = z
  .discriminatedUnion('profile', [oidcIssuer, oktaIssuer, entraIssuer])
  .superRefine((i, ctx) => {
    const insecure = i.allow_insecure_http;
    httpsOnly(i.jwks_uri, insecure, 'jwks_uri', ctx);
    if (i.profile === 'entra') {
      httpsOnly(i.issuer_templates.v1, insecure, 'issuer_templates', ctx);
      httpsOnly(i.issuer_templates.v2, insecure, 'issuer_templates', ctx);
      httpsOnly(i.groups_overage?.endpoint, insecure, 'groups_overage', ctx);
    } else {
      httpsOnly(i.issuer, insecure, 'issuer', ctx);
    }
  });

/** Longest accepted `exp - iat` of an incoming token unless auth.max_token_lifetime_s says. */
export const DEFAULT_MAX_TOKEN_LIFETIME_S = 86_400;

export const authSchema = z.strictObject({
  issuers: z.array(issuerSchema).default([]),
  clock_tolerance_s: z.number().min(0).max(300).default(30),
  /** A token whose exp - iat is longer is refused: a stolen long-lived token is worth less. */
  max_token_lifetime_s: z
    .number()
    .int()
    .min(60)
    .max(7 * 86_400)
    .default(DEFAULT_MAX_TOKEN_LIFETIME_S),
  /** Scopes every token must carry; missing ones get 403 insufficient_scope (step-up). */
  required_scopes: z.array(z.string().min(1)).default([]),
  /** Scopes advertised in protected-resource metadata; default: required_scopes. */
  scopes_supported: z.array(z.string().min(1)).optional(),
});

export type RawIssuer = z.infer<typeof issuerSchema>;
