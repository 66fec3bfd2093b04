// Stage: the result decision goes to the decision log like every decision, with its own id
// and `parent_decision_id`, the id of the call's decision, so the two read as one call.
// The input holds the findings masked; the result itself is never logged. A denied result
// is answered with the result decision's id, which the user can quote. As for the call,
// nothing is served that is not recorded.
import type { DecisionLog } from '../../audit/decision-log.js';
import { DECISION_ENTRYPOINT } from '../../policy/engine.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';
import { recorded } from './audit.js';

export function auditResultDecision(decisionLog: DecisionLog): Stage {
  return {
    name: 'decision log (the result decision)',
    when: 'always',
    run(ctx: RequestContext) {
      const evaluation = ctx.resultEvaluation;
      if (!evaluation) return undefined;
      const logged = decisionLog.write(
        {
          path: DECISION_ENTRYPOINT,
          inputJson: evaluation.inputJson,
          result: evaluation.decision,
          revision: evaluation.revision,
          evalNs: evaluation.evalNs,
          reqId: ctx.requestId,
          sessionId: ctx.session.record.id,
          requestedBy: ctx.caller.remoteAddress,
          parentDecisionId: ctx.decisionId,
        },
        evaluation.engine,
      );
      ctx.resultDecisionId = logged.decisionId;
      if (!evaluation.decision.allow) ctx.decisionId = logged.decisionId;
      return recorded(logged, !ctx.denied);
    },
  };
}
