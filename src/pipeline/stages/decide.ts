// Stage: the policy decides (mcp/authz/decision, one in-process evaluation through
// policy/decide.ts). A deny continues down the chain, so the call is still recorded and
// logged; a failed evaluation is a deny with its reason and an error in the gateway log.
import { decide } from '../../policy/decide.js';
import type { PolicyHolder } from '../../policy/holder.js';
import type { Logger } from '../../util/logger.js';
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';
import { SPAN } from '../../telemetry/span-names.js';

export function decideRequest(policy: PolicyHolder, logger: Logger): Stage {
  return {
    name: 'decide (mcp/authz/decision)',
    span: SPAN.policyEvaluate,
    when: 'allowed',
    run(ctx: RequestContext) {
      if (!ctx.input) throw new Error('decide ran before the input was built');
      const evaluation = decide(policy.current(), ctx.input);
      if (evaluation.error !== undefined) {
        logger.error('policy evaluation failed', {
          error: evaluation.error,
          revision: evaluation.revision,
        });
      }
      ctx.evaluation = evaluation;
      ctx.decision = evaluation.decision;
      ctx.obligations = evaluation.obligations;
      return undefined;
    },
  };
}
