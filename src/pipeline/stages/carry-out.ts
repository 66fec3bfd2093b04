// Stage (what an upstream asks of a client): the obligations an allow carries must be ones
// the gateway can carry out for such a request. A rate_limit, credential or label_session
// obligation applies to calls a session makes; on a question an upstream asks it could not be
// honoured, so the allow becomes a deny (fail closed) before it is logged.
import { denyWith, type Stage } from '../chain.js';
import type { RequestContext } from '../context.js';

export function obligationsCarriedOut(): Stage {
  return {
    name: 'obligations this request can carry out',
    when: 'allowed',
    run(ctx: RequestContext) {
      const refused: string[] = [];
      if (ctx.obligations.rateLimit !== undefined) refused.push('rate_limit');
      if (ctx.obligations.credential !== undefined) refused.push('credential');
      if (ctx.obligations.labels.length > 0) refused.push('label_session');
      if (refused.length === 0) return undefined;
      return denyWith(
        'obligation_unsupported',
        `the policy requires obligation(s) ${refused.join(', ')} on ${ctx.action}, which applies only to a session's own calls; denied`,
      );
    },
  };
}
