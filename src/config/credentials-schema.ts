// How the gateway obtains the credential an upstream call runs with. The client's own token
// never goes upstream: the gateway exchanges it for one scoped to that upstream (and to the
// scopes the policy decided), or uses a static secret for upstreams that only take an API
// key. There is no fallback to a shared account when an exchange fails.
import { z } from 'zod';
import { valueSource } from './value-source.js';

const SCOPE = z
  .string()
  .regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'scopes are printable ASCII without spaces or quotes');

/** Credentials that depend on the user: every session gets its own upstream connection. */
const exchangeCommon = {
  client_id: z.string().min(1),
  /** client_secret_post; by reference. */
  client_secret: valueSource.optional(),
  /** private_key_jwt (PEM PKCS#8, by reference) instead of a client secret. */
  private_key: valueSource.optional(),
  private_key_alg: z.enum(['RS256', 'PS256', 'ES256']).default('RS256'),
  /** Scopes when the policy's credential obligation names none. */
  scopes: z.array(SCOPE).default([]),
  /** Renew an exchanged token this long before it expires. */
  refresh_before_s: z.number().min(0).max(600).default(30),
  /** An obtained token is used for at most this long, whatever the IdP's expires_in says. */
  max_token_lifetime_s: z.number().int().min(1).max(86_400).default(3600),
  /**
   * Issuers, besides this credential's own IdP, whose users' tokens may be sent to it as
   * subject tokens: the trusted issuer pairs (Okta: the server's "Trusted servers").
   */
  subject_issuers: z.array(z.string().min(1)).default([]),
  allow_insecure_http: z.boolean().default(false),
};

export const credentialSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('none') }),
    z.strictObject({
      type: z.literal('static-secret'),
      /** The secret, by reference (env: or file:; re-read at every use, so rotation needs no restart). */
      value: valueSource,
      /** HTTP upstreams: the header, and how the secret is written in it. */
      header: z
        .string()
        .regex(/^[A-Za-z0-9-]+$/)
        .default('Authorization'),
      format: z.string().includes('{secret}').default('Bearer {secret}'),
      /** stdio upstreams: the environment variable the child gets it in. */
      env_var: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
        .optional(),
    }),
    z.strictObject({
      /** RFC 8693 token exchange at the IdP (Okta custom authorization servers). */
      type: z.literal('token-exchange'),
      /** The IdP issuer (its token endpoint is found by OIDC discovery). */
      issuer: z.string().min(1),
      /** The upstream API the exchanged token is for. */
      audience: z.string().min(1),
      ...exchangeCommon,
    }),
    z.strictObject({
      /** Microsoft Entra ID on-behalf-of (jwt-bearer, requested_token_use=on_behalf_of). */
      type: z.literal('entra-obo'),
      tenant: z.string().regex(/^[0-9a-fA-F-]{36}$/, 'tenant ids are GUIDs'),
      /** The downstream API (resource) whose scopes are requested, e.g. api://github-proxy. */
      audience: z.string().min(1),
      /** Override only for tests: the token endpoint ({tid} is replaced). */
      token_endpoint: z
        .string()
        .min(1)
        .default('https://login.microsoftonline.com/{tid}/oauth2/v2.0/token'),
      ...exchangeCommon,
    }),
  ])
  .superRefine((c, ctx) => {
    if (c.type !== 'token-exchange' && c.type !== 'entra-obo') return;
    if ((c.client_secret === undefined) === (c.private_key === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'name exactly one of client_secret or private_key' });
    }
    const endpoint = c.type === 'token-exchange' ? c.issuer : c.token_endpoint;
    if (!c.allow_insecure_http && !endpoint.startsWith('https://')) {
      ctx.addIssue({
        code: 'custom',
        message: `${endpoint} is not https (set allow_insecure_http: true only for local testing)`,
      });
    }
  });

export type RawCredential = z.infer<typeof credentialSchema>;
