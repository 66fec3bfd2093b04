// The configuration file's shape. Unknown keys are errors (a typo must not silently turn a
// control off). Defaults are the safe choice. See docs/configuration.md for every field.
import { z } from 'zod';

const serverName = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,32}$/, 'upstream names are 1-32 characters of A-Z a-z 0-9 -');

/** A value that may be secret: a reference string (env:/file:) or an explicit literal. */
const valueSource = z.union([
  z.string().min(1),
  z.strictObject({ literal: z.string() }),
]);

const isolation = z.enum(['shared', 'per-session']).default('shared');

const upstreamCommon = {
  isolation,
  /** Upstream request timeout; progress notifications reset it. */
  timeout_s: z.number().positive().max(3600).default(60),
  /** Backoff for restarts after a crash or disconnect. */
  restart: z
    .strictObject({
      initial_delay_ms: z.number().int().positive().default(250),
      max_delay_ms: z.number().int().positive().default(30_000),
    })
    .default({ initial_delay_ms: 250, max_delay_ms: 30_000 }),
};

const stdioUpstream = z.strictObject({
  transport: z.literal('stdio'),
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  cwd: z.string().optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), valueSource).default({}),
  ...upstreamCommon,
});

const httpUpstream = z.strictObject({
  transport: z.literal('http'),
  url: z.url({ protocol: /^https?$/ }),
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/), valueSource).default({}),
  ...upstreamCommon,
});

const issuer = z.strictObject({
  issuer: z.string().min(1),
  /** JWKS location; when absent, OIDC discovery on the issuer finds it. */
  jwks_uri: z.url().optional(),
  algorithms: z
    .array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']))
    .min(1)
    .default(['RS256']),
  /** Accepted audiences; default: the gateway's resource URI. */
  audiences: z.array(z.string().min(1)).min(1).optional(),
  /** Claim holding groups (Okta: configurable; Entra: groups). */
  groups_claim: z.string().default('groups'),
  /** Lets the quickstart and tests use http issuers on loopback. Never in production. */
  allow_insecure_http: z.boolean().default(false),
});

export const configSchema = z.strictObject({
  gateway: z
    .strictObject({
      id: z.string().min(1).default('mcpgate'),
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
      /** Canonical external URL; the resource URI (token audience) is this + /mcp. */
      public_url: z.url().optional(),
      /** Browser Origins allowed to call /mcp; requests without Origin are not browser calls. */
      allowed_origins: z.array(z.string()).default([]),
      max_body_bytes: z.number().int().positive().max(64 * 1024 * 1024).default(1024 * 1024),
    })
    .default({
      id: 'mcpgate',
      host: '127.0.0.1',
      port: 8080,
      allowed_origins: [],
      max_body_bytes: 1024 * 1024,
    }),
  sessions: z
    .strictObject({
      max_sessions: z.number().int().positive().default(1000),
      idle_timeout_s: z.number().positive().default(900),
      history_limit: z.number().int().min(0).max(10_000).default(100),
      /** Purpose when the client names none (header Mcp-Purpose). */
      default_purpose: z.string().min(1).default('default'),
    })
    .default({ max_sessions: 1000, idle_timeout_s: 900, history_limit: 100, default_purpose: 'default' }),
  auth: z.strictObject({
    issuers: z.array(issuer).default([]),
    clock_tolerance_s: z.number().min(0).max(300).default(30),
    /** Quickstart only: a local signing key and JWKS served by the gateway itself. */
    dev_issuer: z
      .strictObject({
        enabled: z.boolean().default(false),
        key_file: z.string().default('.state/dev-issuer-key.json'),
      })
      .optional(),
  }),
  policy: z.strictObject({
    /** An OPA bundle tarball built by `mcpgate policy build` (policy.wasm + data). */
    bundle: z.string().min(1),
    memory: z
      .strictObject({
        initial_pages: z.number().int().positive().default(5),
        max_pages: z.number().int().positive().max(65536).default(1024),
      })
      .default({ initial_pages: 5, max_pages: 1024 }),
  }),
  audit: z
    .strictObject({
      destinations: z
        .array(
          z.discriminatedUnion('type', [
            z.strictObject({ type: z.literal('stdout') }),
            z.strictObject({ type: z.literal('file'), path: z.string().min(1) }),
          ]),
        )
        .min(1)
        .default([{ type: 'stdout' }]),
    })
    .default({ destinations: [{ type: 'stdout' }] }),
  logging: z
    .strictObject({ level: z.enum(['error', 'warn', 'info', 'debug']).default('info') })
    .default({ level: 'info' }),
  upstreams: z
    .record(serverName, z.discriminatedUnion('transport', [stdioUpstream, httpUpstream]))
    .refine((u) => Object.keys(u).length > 0, 'name at least one upstream MCP server'),
});

export type RawConfig = z.infer<typeof configSchema>;
export type RawValueSource = z.infer<typeof valueSource>;
