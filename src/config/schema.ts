// The configuration file's shape. Unknown keys are errors (a typo must not silently turn a
// control off). Defaults are the safe choice. See docs/configuration.md for every field.
import { z } from 'zod';
import { authSchema } from './auth-schema.js';
import { guardrailsSchema } from './guardrails.js';
import { auditSchema, policySchema } from './policy-schema.js';
import { sessionsSchema } from './sessions-schema.js';
import { alertsSchema } from './alerts.js';
import { approvalsSchema } from './approvals.js';
import { consoleSchema } from './console.js';
import { toolTrustSchema } from './tool-trust-schema.js';
import { telemetrySchema } from './telemetry-schema.js';
import { valueSource } from './value-source.js';
import { credentialSchema } from './credentials-schema.js';
import { parseHost } from '../util/host-name.js';

const SERVER_NAME = /^[A-Za-z0-9-]{1,32}$/;
/** Bodies nested 1,000 levels deep still pass every walker on the request path (tested). */
export const MAX_JSON_DEPTH_CEILING = 1000;
/** What goes in front of an upstream's tool and prompt names (exposed names are [A-Za-z0-9_-]). */
export const MAX_NAME_PREFIX = 40;
const NAME_PREFIX = new RegExp(`^[A-Za-z0-9_-]{0,${MAX_NAME_PREFIX}}$`);

/** `*` (any), `[*.]name[:port]` or `[v6][:port]`, as a Host header writes a name. */
const allowedHost = z
  .string()
  .refine(
    (entry) =>
      entry === '*' || parseHost(entry.startsWith('*.') ? entry.slice(2) : entry) !== undefined,
    'an allowed host is a name or address with an optional port (mcp.example.com, mcp.example.com:8443, *.example.com, 10.0.0.5:8080, [::1]:8080), or * for any',
  );

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
    .refine(
      (r) => r.initial_delay_ms <= r.max_delay_ms,
      'initial_delay_ms must not exceed max_delay_ms',
    )
    .default({ initial_delay_ms: 250, max_delay_ms: 30_000 }),
  /**
   * Readiness: an MCP ping every interval_s on the shared connection; no answer within
   * timeout_s makes /readyz not ready, naming the upstream (a hung server keeps its pipe
   * or socket open, so only a request shows it). interval_s 0 turns the probe off.
   */
  health_check: z
    .strictObject({
      interval_s: z.number().min(0).max(3600).default(10),
      timeout_s: z.number().positive().max(300).default(5),
    })
    .default({ interval_s: 10, timeout_s: 5 }),
  /** The credential calls to this upstream run with (default: none). */
  credential: credentialSchema.default({ type: 'none' }),
  /**
   * What the gateway answers the upstream's roots/list: these root URIs, or `client` (the
   * session's client is asked). Default: no roots, and the capability is not declared.
   */
  roots: z
    .union([
      z.literal('client'),
      z
        .array(
          z.string().regex(/^file:\/\/\S*$/, 'a root is a file:// URI (MCP roots are file URIs)'),
        )
        .max(64),
    ])
    .optional(),
  /** Put in front of the upstream's tool and prompt names; default `<name>__`, "" for none. */
  prefix: z
    .string()
    .regex(
      NAME_PREFIX,
      `a prefix is 0-${MAX_NAME_PREFIX} characters of A-Z a-z 0-9 _ - (the characters of an exposed name)`,
    )
    .optional(),
};

const stdioUpstream = z.strictObject({
  transport: z.literal('stdio'),
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  cwd: z.string().optional(),
  env: z
    .record(
      z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are [A-Za-z_][A-Za-z0-9_]*'),
      valueSource,
    )
    .default({}),
  ...upstreamCommon,
});

const httpFields = {
  url: z.url({ protocol: /^https?$/ }),
  headers: z
    .record(z.string().regex(/^[A-Za-z0-9-]+$/, 'header names are [A-Za-z0-9-]+'), valueSource)
    .default({}),
  ...upstreamCommon,
};

const httpUpstream = z.strictObject({ transport: z.literal('http'), ...httpFields });

/** The legacy HTTP+SSE transport (MCP 2024-11-05): `url` is the event stream's (GET) URL. */
const sseUpstream = z.strictObject({ transport: z.literal('sse'), ...httpFields });

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
      /** Host header values /mcp accepts besides the public URL and the listen address. */
      allowed_hosts: z.array(allowedHost).default([]),
      max_body_bytes: z
        .number()
        .int()
        .positive()
        .max(64 * 1024 * 1024)
        .default(1024 * 1024),
      /**
       * Deepest nesting of objects and arrays in a /mcp body; checked before anything walks
       * the body. The ceiling keeps every recursive walker on the request path far from
       * the stack limit.
       */
      max_json_depth: z.number().int().min(4).max(MAX_JSON_DEPTH_CEILING).default(64),
      /** Slow clients: a request's headers, and the whole request with its body, must arrive within these. */
      header_timeout_s: z.number().positive().max(300).default(10),
      request_timeout_s: z.number().positive().max(3600).default(30),
      /** An idle keep-alive connection is closed after this long without a request. */
      keep_alive_timeout_s: z.number().positive().max(3600).default(5),
      /** At SIGTERM/SIGINT: how long requests in progress may take to finish. */
      drain_timeout_s: z.number().min(0).max(3600).default(10),
    })
    .refine((g) => g.header_timeout_s <= g.request_timeout_s, {
      message:
        'header_timeout_s must not exceed request_timeout_s (the headers are part of the request)',
      path: ['header_timeout_s'],
    })
    .default({
      id: 'mcpgate',
      host: '127.0.0.1',
      port: 8080,
      allowed_origins: [],
      allowed_hosts: [],
      max_body_bytes: 1024 * 1024,
      max_json_depth: 64,
      header_timeout_s: 10,
      request_timeout_s: 30,
      keep_alive_timeout_s: 5,
      drain_timeout_s: 10,
    }),
  sessions: sessionsSchema,
  approvals: approvalsSchema,
  alerts: alertsSchema,
  console: consoleSchema,
  auth: authSchema,
  policy: policySchema,
  audit: auditSchema,
  guardrails: guardrailsSchema,
  telemetry: telemetrySchema,
  logging: z
    .strictObject({ level: z.enum(['error', 'warn', 'info', 'debug']).default('info') })
    .default({ level: 'info' }),
  tool_trust: toolTrustSchema,
  upstreams: z
    .record(
      z
        .string()
        .regex(
          SERVER_NAME,
          'upstream names are 1-32 characters of A-Z a-z 0-9 - (no "_": "__" separates server and tool)',
        ),
      z.discriminatedUnion('transport', [stdioUpstream, httpUpstream, sseUpstream]),
    )
    .refine((u) => Object.keys(u).length > 0, 'name at least one upstream MCP server'),
});

export type RawConfig = z.infer<typeof configSchema>;
export type { RawValueSource } from './value-source.js';
