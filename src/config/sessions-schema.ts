// The sessions section: limits, history, the store (memory for one process, Redis for
// several replicas) and rate limits.
import { z } from 'zod';
import { valueSource } from './value-source.js';

const window = z.strictObject({
  limit: z.number().int().positive(),
  window_s: z.number().min(0.001).max(86_400),
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
      .discriminatedUnion('type', [
        z.strictObject({ type: z.literal('memory') }),
        z.strictObject({
          type: z.literal('redis'),
          /** redis://[user:password@]host:port[/db] — by reference, since it may hold a password. */
          url: valueSource,
          key_prefix: z
            .string()
            .regex(/^[A-Za-z0-9:_-]{1,64}$/)
            .default('mcpgate:'),
          /** A Redis command slower than this fails (and the request is denied). */
          command_timeout_ms: z.number().int().positive().max(60_000).default(500),
        }),
      ])
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
