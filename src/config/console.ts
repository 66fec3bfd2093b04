// The console section: the operator console at /console (approvals, sessions, recent
// decisions), its sign-in at the IdP (OpenID Connect, authorization code with PKCE) and its
// session cookie. docs/console.md explains each field.
import { z } from 'zod';
import { parseSecretRef, SecretError, type ValueSource } from './secrets.js';
import { valueSource } from './value-source.js';

export const consoleSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** The OpenID Provider people sign in at (its issuer URL; discovery finds the rest). */
    issuer: z.url({ protocol: /^https?$/ }).optional(),
    /** The console's client at that IdP: authorization code + PKCE, redirect <base>/callback. */
    client_id: z.string().min(1).max(256).optional(),
    /** For a confidential client (client_secret_post); a public client needs none. */
    client_secret: valueSource.optional(),
    /** Asked for besides openid; the access token must be for the gateway (its resource). */
    scopes: z.array(z.string().regex(/^\S+$/)).default([]),
    /**
     * Encrypts the console's cookies (32 bytes or more, by reference). Every replica needs the
     * same key; without one each process makes its own and a sign-in works on that process only.
     */
    cookie_key: valueSource.optional(),
    /** A sign-in lasts at most this long (and never longer than its access token). */
    session_ttl_s: z.number().int().positive().max(86_400).default(3600),
    /** Lets the console's IdP be plain http on loopback (the quickstart). Never in production. */
    allow_insecure_http: z.boolean().default(false),
  })
  .refine((c) => !c.enabled || (c.issuer !== undefined && c.client_id !== undefined), {
    message: 'an enabled console needs issuer and client_id',
  })
  .default({ enabled: false, scopes: [], session_ttl_s: 3600, allow_insecure_http: false });

export type RawConsole = z.infer<typeof consoleSchema>;

export interface ConsoleConfig {
  enabled: boolean;
  issuer: string;
  clientId: string;
  clientSecret: ValueSource | undefined;
  scopes: string[];
  cookieKey: ValueSource | undefined;
  sessionTtlMs: number;
  allowInsecureHttp: boolean;
}

export function resolveConsole(
  raw: RawConsole,
  baseDir: string,
  problems: string[],
): ConsoleConfig {
  const secret = (value: RawConsole['client_secret'], where: string): ValueSource | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'string') return { kind: 'literal', value: value.literal };
    try {
      return parseSecretRef(value, where, baseDir);
    } catch (err) {
      if (!(err instanceof SecretError)) throw err;
      problems.push(err.message);
      return undefined;
    }
  };
  if (raw.issuer?.startsWith('http:') && !raw.allow_insecure_http) {
    problems.push('console.issuer: http is refused unless console.allow_insecure_http is true');
  }
  return {
    enabled: raw.enabled,
    issuer: raw.issuer ?? '',
    clientId: raw.client_id ?? '',
    clientSecret: secret(raw.client_secret, 'console.client_secret'),
    scopes: raw.scopes,
    cookieKey: secret(raw.cookie_key, 'console.cookie_key'),
    sessionTtlMs: raw.session_ttl_s * 1000,
    allowInsecureHttp: raw.allow_insecure_http,
  };
}
