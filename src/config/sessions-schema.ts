// The sessions section: limits, history, the store (memory for one process, Redis for
// several replicas) and rate limits.
import { z } from 'zod';
import { valueSource } from './value-source.js';

const window = z.strictObject({
  limit: z.number().int().positive(),
  window_s: z.number().min(0.001).max(86_400),
});

/** host:port, an IPv6 address in brackets ([::1]:6379). */
const hostPort = z
  .string()
  .regex(
    /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([1-9]\d{0,4})$/,
    'must be host:port (an IPv6 address in brackets, as [::1]:6379)',
  )
  .refine((value) => Number(value.slice(value.lastIndexOf(':') + 1)) <= 65_535, {
    message: 'the port must be 1-65535',
  });

/**
 * The Redis store in one of three forms: `url` (one Redis), `nodes` (a Redis Cluster) or
 * `sentinels` + `name` (the primary Redis Sentinel names).
 */
const redisStore = z
  .strictObject({
    type: z.literal('redis'),
    /** redis://[user:password@]host:port[/db] — by reference, since it may hold a password. */
    url: valueSource.optional(),
    /** Redis Cluster: some of its nodes (the others are discovered). */
    nodes: z.array(hostPort).min(1).max(64).optional(),
    /** Redis Sentinel: the Sentinels, and the name they know the primary by. */
    sentinels: z.array(hostPort).min(1).max(16).optional(),
    name: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 . _ -')
      .optional(),
    /** With nodes or sentinels: the ACL user and password of the data nodes. */
    username: z.string().min(1).max(256).optional(),
    password: valueSource.optional(),
    /** With sentinels: the Sentinels' own password (their requirepass). */
    sentinel_password: valueSource.optional(),
    key_prefix: z
      .string()
      .regex(/^[A-Za-z0-9:_-]{1,64}$/)
      .default('mcpgate:'),
    /** A Redis command slower than this fails (and the request is denied). */
    command_timeout_ms: z.number().int().positive().max(60_000).default(500),
    /** Replicas that must hold a new (or terminated) session before the client is told. */
    replica_ack: z
      .union([
        z.literal(false),
        z.strictObject({
          replicas: z.number().int().min(1).max(16),
          timeout_ms: z.number().int().positive().max(60_000),
        }),
      ])
      .optional(),
  })
  .superRefine((store, ctx) => {
    const forms = (['url', 'nodes', 'sentinels'] as const).filter(
      (key) => store[key] !== undefined,
    );
    if (forms.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          forms.length === 0
            ? 'name the Redis: url (one Redis), nodes (a Redis Cluster) or sentinels with name (Redis Sentinel)'
            : `give only one of url, nodes and sentinels, not ${forms.join(' and ')}`,
      });
    }
    const refuse = (key: string, message: string): void =>
      ctx.addIssue({ code: 'custom', path: [key], message });
    if (store.sentinels !== undefined && store.name === undefined) {
      refuse('name', 'required with sentinels: the name the Sentinels monitor the primary by');
    }
    if (store.name !== undefined && store.sentinels === undefined) {
      refuse('name', 'only with sentinels (the name of the primary they monitor)');
    }
    if (store.sentinel_password !== undefined && store.sentinels === undefined) {
      refuse('sentinel_password', 'only with sentinels');
    }
    if (store.url !== undefined) {
      for (const key of ['username', 'password'] as const) {
        if (store[key] !== undefined) refuse(key, `with url, the ${key} goes in the URL`);
      }
    }
    if (store.replica_ack && store.replica_ack.timeout_ms >= store.command_timeout_ms) {
      ctx.addIssue({
        code: 'custom',
        path: ['replica_ack', 'timeout_ms'],
        message: `must be below command_timeout_ms (${store.command_timeout_ms})`,
      });
    }
  });

export const sessionsSchema = z
  .strictObject({
    /** Live sessions this process holds at once (new ones get 503 beyond it). */
    max_sessions: z.number().int().positive().default(1000),
    /**
     * Sessions one user (issuer + subject) may have open at once, across every replica
     * sharing the store (new ones get 429 beyond it), so a few users cannot take every slot.
     */
    max_sessions_per_principal: z.number().int().positive().default(32),
    /**
     * Requests one session may have unanswered at once (in this process); more get 429,
     * so one client cannot start unbounded work.
     */
    max_requests_in_flight: z.number().int().positive().max(10_000).default(64),
    idle_timeout_s: z.number().positive().default(900),
    /** Most recent decided calls in input.session.history (sequence rules, argument drift). */
    history_limit: z.number().int().min(0).max(10_000).default(20),
    /** Most targets (tools, resources, prompts) in input.session.summary per session. */
    summary_limit: z.number().int().min(0).max(10_000).default(64),
    /** Purpose when the client names none (header Mcp-Purpose). */
    default_purpose: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'purposes are 1-64 characters of A-Z a-z 0-9 . _ -')
      .default('default'),
    store: z
      .discriminatedUnion('type', [z.strictObject({ type: z.literal('memory') }), redisStore])
      .default({ type: 'memory' }),
    /** Calls allowed per fixed window; over the limit a call is denied with a retry hint. */
    rate_limits: z
      .strictObject({
        per_session: window.optional(),
        per_user: window.optional(),
        /** Per user and tool. */
        per_tool: window.optional(),
      })
      .default({}),
  })
  .default({
    max_sessions: 1000,
    max_sessions_per_principal: 32,
    max_requests_in_flight: 64,
    idle_timeout_s: 900,
    history_limit: 20,
    summary_limit: 64,
    default_purpose: 'default',
    store: { type: 'memory' },
    rate_limits: {},
  });

export type RawSessions = z.infer<typeof sessionsSchema>;
