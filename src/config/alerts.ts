// The alerts section: where the policy's alert obligation is sent besides the gateway log
// (docs/continuous-verification.md#obligations).
import { z } from 'zod';
import { resolveWebhooks, webhookSchema, type WebhookConfig } from './webhooks.js';

export const alertsSchema = z
  .strictObject({ webhooks: z.array(webhookSchema).max(16).default([]) })
  .default({ webhooks: [] });

export interface AlertsConfig {
  /** Each alert is POSTed to every one of them (in the background). */
  webhooks: WebhookConfig[];
}

export function resolveAlerts(
  raw: z.infer<typeof alertsSchema>,
  baseDir: string,
  problems: string[],
): AlertsConfig {
  return { webhooks: resolveWebhooks(raw.webhooks, 'alerts.webhooks', baseDir, problems) };
}
