// Stage: the decision as finally taken (after credential, rate limit and store) goes to
// the decision log, in OPA's decision-log format, with the input exactly as the policy saw
// it. Runs for every decided request, allowed or denied; the entry's id goes back to the
// client with a denial, so a user can quote it.
import type { DecisionLog } from '../../audit/decision-log.js';
import { DECISION_ENTRYPOINT, VISIBLE_ENTRYPOINT } from '../../policy/engine.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

export function auditDecision(decisionLog: DecisionLog): Stage {
  return {
    name: 'decision log',
    when: 'always',
    run(ctx: RequestContext) {
      const { evaluation, decision } = ctx;
      if (!evaluation || !decision) return undefined; // nothing was decided
      ctx.decisionId = decisionLog.write(
        {
          credential: decision.allow ? ctx.credential?.facts : undefined,
          path: DECISION_ENTRYPOINT,
          inputJson: evaluation.inputJson,
          result: decision,
          revision: evaluation.revision,
          evalNs: evaluation.evalNs,
          reqId: ctx.requestId,
          sessionId: ctx.session.record.id,
          requestedBy: ctx.caller.remoteAddress,
        },
        evaluation.engine,
      );
      return undefined;
    },
  };
}

export function auditVisible(decisionLog: DecisionLog): Stage {
  return {
    name: 'decision log',
    when: 'always',
    run(ctx: RequestContext) {
      const { visible } = ctx;
      if (!visible) return undefined;
      const id = decisionLog.write(
        {
          path: VISIBLE_ENTRYPOINT,
          inputJson: visible.inputJson,
          result:
            visible.error !== undefined
              ? { visible: [], error: visible.error }
              : [...visible.ids].sort(),
          revision: visible.revision,
          evalNs: visible.evalNs,
          reqId: ctx.requestId,
          sessionId: ctx.session.record.id,
          requestedBy: ctx.caller.remoteAddress,
        },
        visible.engine,
      );
      // At session/open the request's decision is the one logged before (its id stays).
      if (ctx.decisionId === '') ctx.decisionId = id;
      return undefined;
    },
  };
}
