// The approvals section: how the gateway carries out the policy's require_approval
// obligation (how long a call may wait, how many approvals may wait at once, where the
// approval page is, who is told of a new one). docs/approvals.md explains each field.
import { z } from 'zod';
import { resolveWebhooks, webhookSchema, type WebhookConfig } from './webhooks.js';

export const approvalsSchema = z
  .strictObject({
    /** An obligation without timeout_s waits this long; one with a longer one is cut to max_timeout_s. */
    default_timeout_s: z.number().int().positive().max(86_400).default(300),
    max_timeout_s: z.number().int().positive().max(86_400).default(3600),
    /** Pending approvals one session, and one user over all sessions, may have at once. */
    max_pending_per_session: z.number().int().positive().max(1000).default(5),
    max_pending_per_user: z.number().int().positive().max(10_000).default(20),
    /** How often a held call with a progress token hears that it is still waiting. */
    progress_interval_s: z.number().positive().max(300).default(10),
    /** Arguments larger than this (as JSON) cannot be shown to an approver: the call is denied. */
    max_argument_bytes: z
      .number()
      .int()
      .positive()
      .max(1024 * 1024)
      .default(64 * 1024),
    /** Where approvers open an approval: `<base>/approvals/<id>`. Default `<public URL>/console`. */
    console_url: z.url({ protocol: /^https?$/ }).optional(),
    webhooks: z.array(webhookSchema).max(16).default([]),
  })
  .default({
    default_timeout_s: 300,
    max_timeout_s: 3600,
    max_pending_per_session: 5,
    max_pending_per_user: 20,
    progress_interval_s: 10,
    max_argument_bytes: 64 * 1024,
    webhooks: [],
  });

export type RawApprovals = z.infer<typeof approvalsSchema>;

/** A webhook told of every new pending approval. */
export type ApprovalWebhookConfig = WebhookConfig;

export interface ApprovalsConfig {
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  maxPendingPerSession: number;
  maxPendingPerUser: number;
  progressIntervalMs: number;
  maxArgumentBytes: number;
  /** undefined: `<gateway URL>/console`, known once the gateway listens. */
  consoleUrl: string | undefined;
  webhooks: ApprovalWebhookConfig[];
}

export function resolveApprovals(
  raw: RawApprovals,
  baseDir: string,
  problems: string[],
): ApprovalsConfig {
  return {
    // max_timeout_s caps every wait, the default's too.
    defaultTimeoutMs: Math.min(raw.default_timeout_s, raw.max_timeout_s) * 1000,
    maxTimeoutMs: raw.max_timeout_s * 1000,
    maxPendingPerSession: raw.max_pending_per_session,
    maxPendingPerUser: raw.max_pending_per_user,
    progressIntervalMs: Math.round(raw.progress_interval_s * 1000),
    maxArgumentBytes: raw.max_argument_bytes,
    consoleUrl: raw.console_url?.replace(/\/+$/, ''),
    webhooks: resolveWebhooks(raw.webhooks, 'approvals.webhooks', baseDir, problems),
  };
}
