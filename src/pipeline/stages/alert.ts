// Stage: the alert obligation carried out: one warning line in the gateway's log with the
// reasons the policy gave and what they are about (session, purpose, user, action, target,
// decision id), and the same POSTed to each configured alert webhook (alerts.webhooks), in
// the background. Runs for denials too: a refused spike is worth an alert as much as a
// throttled one.
import type { WebhookConfig } from '../../config/webhooks.js';
import type { Logger } from '../../util/logger.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';
import { postWebhook, slackEscape } from '../webhooks.js';

export function alertWhenObliged(
  logger: Logger,
  webhooks: readonly WebhookConfig[],
  gatewayId: string,
): Stage {
  return {
    name: 'alert when obliged',
    when: 'always',
    run(ctx: RequestContext) {
      const reasons = ctx.obligations.alert;
      if (reasons.length === 0) return undefined;
      const alert = {
        reasons,
        session: ctx.session.record.id,
        purpose: ctx.session.record.purpose,
        subject: ctx.session.record.subject,
        action: ctx.action,
        target: ctx.target?.id,
        allowed: ctx.decision?.allow === true,
        decision_id: ctx.decisionId,
      };
      logger.warn('alert: the policy flagged a session', alert);
      for (const hook of webhooks) {
        const body =
          hook.format === 'slack'
            ? { text: slackEscape(slackText(alert)) }
            : { type: 'mcpgate.alert', gateway: gatewayId, alert };
        postWebhook(hook, body, 'alerts.webhooks', (error) =>
          logger.warn('alert webhook failed', { webhook: new URL(hook.url).origin, error }),
        );
      }
      return undefined;
    },
  };
}

function slackText(alert: {
  reasons: readonly string[];
  purpose: string;
  subject: string;
  target: string | undefined;
  allowed: boolean;
}): string {
  return (
    `mcpgate alert: ${alert.reasons.join('; ')} (user ${alert.subject}, purpose ${alert.purpose}, ` +
    `${alert.target ?? 'no target'}, ${alert.allowed ? 'allowed' : 'denied'})`
  );
}
