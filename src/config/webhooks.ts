// A webhook the gateway POSTs to (approvals to decide, alerts of the policy): where, in which
// format, with which headers (by reference: secrets are never in the config file), and how
// long one POST may take. One schema and one resolver for every section that has webhooks.
import { z } from 'zod';
import { parseSecretRef, SecretError, type ValueSource } from './secrets.js';
import { valueSource } from './value-source.js';

export const webhookSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  /** `json`: mcpgate's own event; `slack`: a Slack incoming-webhook message (`text`, `blocks`). */
  format: z.enum(['json', 'slack']).default('json'),
  /** Sent with every POST (an Authorization header, say), by reference. */
  headers: z
    .record(z.string().regex(/^[A-Za-z0-9-]+$/, 'header names are [A-Za-z0-9-]+'), valueSource)
    .default({}),
  timeout_s: z.number().positive().max(60).default(5),
});

export interface WebhookConfig {
  url: string;
  format: 'json' | 'slack';
  headers: Record<string, ValueSource>;
  timeoutMs: number;
}

/** The webhooks of one section (`where`: `approvals.webhooks`, `alerts.webhooks`). */
export function resolveWebhooks(
  raw: ReadonlyArray<z.infer<typeof webhookSchema>>,
  where: string,
  baseDir: string,
  problems: string[],
): WebhookConfig[] {
  return raw.map((hook, n) => {
    const headers: Record<string, ValueSource> = {};
    for (const [name, value] of Object.entries(hook.headers)) {
      if (typeof value !== 'string') {
        headers[name] = { kind: 'literal', value: value.literal };
        continue;
      }
      try {
        headers[name] = parseSecretRef(value, `${where}.${n}.headers.${name}`, baseDir);
      } catch (err) {
        if (!(err instanceof SecretError)) throw err;
        problems.push(err.message);
      }
    }
    return {
      url: hook.url,
      format: hook.format,
      headers,
      timeoutMs: Math.round(hook.timeout_s * 1000),
    };
  });
}
