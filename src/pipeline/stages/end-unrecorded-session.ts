// Stage (session/open): a session whose opening could not be recorded in the decision log
// is not handed out (the audit stage denied it), and the record the store already holds
// for it is ended at once instead of waiting for the idle timeout.
import type { Stage } from '../chain.js';
import type { RequestContext } from '../context.js';
import type { TerminateSession } from './terminate.js';

export function endUnrecordedSession(terminate: TerminateSession): Stage {
  return {
    name: 'end a session whose opening was not recorded',
    when: 'always',
    run(ctx: RequestContext) {
      if (ctx.denial?.unrecorded === true) {
        terminate(ctx.session.record.id, 'its opening could not be recorded in the decision log');
      }
      return undefined;
    },
  };
}
