// Stage (after the answer): the policy's terminate_session obligation ends the session
// everywhere once this request has been answered, whether the request was allowed, denied
// or failed on the way.
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

/** Ends a session everywhere (every replica), after the current answer is on its way. */
export type TerminateSession = (sessionId: string, reason: string) => void;

export function terminateWhenObliged(terminate: TerminateSession): Stage {
  return {
    name: 'terminate the session when the policy says so',
    when: 'finally',
    run(ctx: RequestContext) {
      if (
        ctx.decision?.obligations.terminate_session === true ||
        ctx.resultEvaluation?.decision.obligations.terminate_session === true
      ) {
        terminate(ctx.session.record.id, 'terminated by policy obligation');
      }
      return undefined;
    },
  };
}
