// POSTs one JSON body to a configured webhook in the background: the headers read from their
// references at send time (a rotated secret is picked up), no redirects, a timeout per POST.
// A failure is only reported (`onFailure`): a webhook never holds up or fails a request.
import { readValue } from '../config/secrets.js';
import type { WebhookConfig } from '../config/webhooks.js';

export function postWebhook(
  hook: WebhookConfig,
  body: unknown,
  where: string,
  onFailure: (error: string) => void,
): void {
  void (async () => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    for (const [name, source] of Object.entries(hook.headers)) {
      headers[name] = readValue(source, `${where} header ${name}`);
    }
    const res = await fetch(hook.url, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(hook.timeoutMs),
      redirect: 'error',
    });
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`answered HTTP ${res.status}`);
  })().catch((err: unknown) => onFailure(err instanceof Error ? err.message : String(err)));
}

/** Slack's mrkdwn treats &, < and > as markup. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
