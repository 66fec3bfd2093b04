// Stage: the alert obligation carried out: one warning line in the gateway's log with the
// reasons the policy gave and what they are about (session, purpose, user, action, target,
// decision id), for a person or a log pipeline to act on. Runs for denials too: a refused
// spike is worth an alert as much as a throttled one.
import type { Logger } from '../../util/logger.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

export function alertWhenObliged(logger: Logger): Stage {
  return {
    name: 'alert when obliged',
    when: 'always',
    run(ctx: RequestContext) {
      const reasons = ctx.obligations.alert;
      if (reasons.length === 0) return undefined;
      logger.warn('alert: the policy flagged a session', {
        reasons,
        session: ctx.session.record.id,
        purpose: ctx.session.record.purpose,
        subject: ctx.session.record.subject,
        action: ctx.action,
        target: ctx.target?.id,
        allowed: ctx.decision?.allow === true,
        decision_id: ctx.decisionId,
      });
      return undefined;
    },
  };
}
